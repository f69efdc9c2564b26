"""Sequence models, one module per model, found by name: ``get(name)`` is the model, an object with
the methods of the ``Model`` protocol below (every array carries a leading replica axis R).

A model module ends with ``MODEL = ...``: for a stack of one kind of cell (``rnn``, ``lstm``,
``gru``) that is ``_stack.Stack(Cell)`` (the cell is all the module writes, ``Stack``'s methods run
it); ``birnn`` writes its own class. Besides ``MODEL`` a module may define, at module level (found
through ``module(name)``):

- ``Conf``: a dataclass extending ``ModelConf`` with the model's own settings (its config file
  ``conf/model/<name>.yaml`` names it in its defaults list as ``/model_<name>_schema@_here_``).
- ``RULES``: ``{"model.<field>": (test, what is allowed)}`` for those settings, and
  ``check(get) -> str | None``: a one-line problem with a combination of settings (``get(key)``
  reads any setting), or ``None``. ``rnnexp.config.check`` applies both before training.

State layout: a model's state is ``(K, R, B, H)`` with K state slices (one per layer and state
kind, e.g. ``h`` and ``c`` for an LSTM, layer by layer); when K = 1 it is just ``(R, B, H)``.

The output layer (``Why``, ``by``) and the loss are shared by every model (``engine.network``).
Adding a model means adding a module here and a file in ``conf/model/``; the training loop does
not change.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

import numpy as np


@dataclass
class ModelConf:
    """Settings every model has; a model's ``Conf`` extends it with its own."""

    name: str = "rnn"  # the sequence model: a module in rnnexp/engine/models
    layers: int = 1  # stacked recurrent layers; layer l > 1 reads layer l-1's states


class Model(Protocol):
    """What the network (``engine.network``) and the measures (``tasks``) call on a model.

    ``spec`` is the ``network.NetSpec`` (``spec.hidden``, ``spec.act``, ``spec.options`` for the
    model's own settings such as ``layers``).
    """

    def top_size(self, spec) -> int:
        """Width of the per-step features the output layer reads."""

    def initial_state(self, spec, R: int, B: int) -> np.ndarray:
        """The zero state, in the model's state layout."""

    def init_params(self, spec, rngs) -> dict[str, np.ndarray]:
        """Its own weights, ``(R, ...)`` each, replica r drawn from ``rngs[r]``."""

    def recurrent_weights(self, params) -> np.ndarray:
        """``(R, P, Q)``: the matrix whose largest singular value is tracked (``Whh`` for the Elman
        RNN; with several layers, directions or gates, every recurrent matrix block-diagonally)."""

    def forward(self, spec, params, x, h0=None) -> tuple[np.ndarray, dict]:
        """``x: (T, R, B, I)`` -> ``top: (T, R, B, top_size)`` and the cache for ``backward``."""

    def backward(self, spec, params, cache, dtop, truncate=None) -> dict[str, np.ndarray]:
        """BPTT from ``dL/dtop``; ``truncate=k``: each step's loss reaches back at most k steps."""

    def state_grad_profile(self, spec, params, cache, dtop_last) -> dict[str, np.ndarray]:
        """``||dL_T / dh_t||`` for t = 1..T, ``{name: (R, T)}``, when only the last step's loss is
        back-propagated (full BPTT); gated models add their other states (LSTM: ``"c"``). With
        several layers (or directions) the norm is over all of them."""

    # Optional (causal models): ``state_before(spec, cache, s) -> array``, the state entering step
    # ``s`` (``s = 0``: the initial state) in the layout of ``initial_state``, so a computation can
    # restart from it (the prefix-tree evaluation and the truncated gradient check do).
    # Optional: ``forward_windows`` and ``backward_windows`` (``_stack.Stack``): a truncated training
    # step in windows from checkpoints (``network.truncated``); its cache is then the checkpoints,
    # which the model's ``state_grad_profile`` and ``state_before`` also accept.
    # Optional: ``backward_from_output(spec, params, cache, dz) -> grads | None``: ``backward`` from
    # the logits' gradients ``dz`` instead of ``dL/dtop = dz Why^T`` (``_stack.Stack``: the LSTM's
    # float32 kernel adds it itself), None when it does not apply. A cache that
    # ``network.loss_and_grads(keep_cache=False)`` marks ``"spend"`` may be used up by ``backward``
    # (then marked ``"spent"``: ``network.state_grad_profile`` refuses it).


def names() -> list[str]:
    """Every model in this package, by module name."""
    return list(_names())


@functools.lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    # the package's folder read once per process: the settings' checks and --help ask hundreds of
    # times (measured: a bad setting's one-line error 1.28 -> 1.21 s, the fast suite 48-50 -> 41-47 s)
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


def module(name: str) -> ModuleType:
    """The module of model ``name``: its ``MODEL`` and its settings (``Conf``, ``RULES``, ``check``)."""
    if name not in names():
        raise ValueError(f"model={name!r}: allowed values are {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}")


def get(name: str) -> Model:
    """The model ``name`` (its module's ``MODEL``)."""
    return module(name).MODEL


def conf_class(name: str) -> type:
    """The settings dataclass of a model: its ``Conf``, else ``ModelConf``."""
    return getattr(module(name), "Conf", ModelConf)
