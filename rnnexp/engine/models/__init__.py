"""Sequence models. Each model is one module in this package, found by its name.

A model module provides (every array carries a leading replica axis R):

- ``init_params(spec, rngs) -> dict``: its own weights, ``(R, ...)`` each.
- ``forward(spec, params, x, h0=None) -> (top, cache)``: ``x: (T, R, B, I)`` to the per-step
  features the output layer reads, ``top: (T, R, B, spec.top_size)``.
- ``backward(spec, params, cache, dtop, truncate=None) -> grads``: BPTT from ``dL/dtop``;
  ``truncate=k`` lets each step's loss reach back at most k earlier steps.
- ``state_grad_profile(spec, params, cache, dtop_last) -> {name: (R, T)}``: ``||dL_T / dh_t||`` for
  t = 1..T when only the last step's loss is back-propagated (full BPTT); gated models add their
  other states (LSTM: ``"c"``). With several layers (or directions) the norm is over all of them.
- ``recurrent_weights(params) -> (R, P, Q)``: the matrix whose largest singular value is tracked
  (``Whh`` for the Elman RNN; with several layers, directions or gates, every recurrent matrix
  placed block-diagonally, so the value is the largest over them).
- ``top_size(spec) -> int`` and ``initial_state(spec, R, B) -> array``.

Optional:

- ``state_before(spec, cache, s) -> array``: the state entering step ``s`` (``s = 0``: the initial
  state), in the layout of ``initial_state``, so a computation can restart from it (the truncated
  gradient check does). Models that support truncated BPTT provide it.
- ``Conf``: a dataclass extending ``ModelConf`` with the model's own settings (its config file
  ``conf/model/<name>.yaml`` names it in its defaults list as ``/model_<name>_schema@_here_``).
- ``RULES``: ``{"model.<field>": (test, what is allowed)}`` for those settings, and
  ``check(get) -> str | None``: a one-line problem with a combination of settings (``get(key)``
  reads any setting), or ``None``. ``rnnexp.config.check`` applies both before training.

State layout: a model's state is ``(K, R, B, H)`` with K state slices (one per layer and state
kind, e.g. ``h`` and ``c`` for an LSTM, layer by layer); when K = 1 it is just ``(R, B, H)``.

The output layer (``Why``, ``by``) and the loss are shared by every model (``rnnexp.network``).
Adding a model means adding a module here and a file in ``conf/model/``; the training loop does
not change.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType


@dataclass
class ModelConf:
    """Settings every model has; a model's ``Conf`` extends it with its own."""

    name: str = "rnn"  # the sequence model: a module in rnnexp/models
    layers: int = 1  # stacked recurrent layers; layer l > 1 reads layer l-1's states


def names() -> list[str]:
    """Every model in this package, by module name."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def get(name: str) -> ModuleType:
    if name not in names():
        raise ValueError(f"model={name!r}: allowed values are {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}")


def conf_class(name: str) -> type:
    """The settings dataclass of a model: its ``Conf``, else ``ModelConf``."""
    return getattr(get(name), "Conf", ModelConf)
