"""Sequence models. Each model is one module in this package, found by its name.

A model module provides (every array carries a leading replica axis R):

- ``init_params(spec, rngs) -> dict``: its own weights, ``(R, ...)`` each.
- ``forward(spec, params, x, h0=None) -> (top, cache)``: ``x: (T, R, B, I)`` to the per-step
  features the output layer reads, ``top: (T, R, B, spec.top_size)``.
- ``backward(spec, params, cache, dtop, truncate=None) -> grads``: BPTT from ``dL/dtop``;
  ``truncate=k`` lets each step's loss reach back at most k earlier steps.
- ``state_grad_profile(spec, params, cache, dtop_last) -> {name: (R, T)}``: ``||dL_T / dh_t||`` for
  t = 1..T when only the last step's loss is back-propagated (full BPTT).
- ``recurrent_weights(params) -> (R, H, H)``: the matrix whose largest singular value is tracked.
- ``top_size(spec) -> int`` and ``initial_state(spec, R, B) -> array``.

The output layer (``Why``, ``by``) and the loss are shared by every model (``rnnexp.network``).
Adding a model means adding a module here and a file in ``conf/model/``.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def names() -> list[str]:
    """Every model in this package, by module name."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def get(name: str) -> ModuleType:
    if name not in names():
        raise ValueError(f"model={name!r}: allowed values are {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}")
