"""Hidden-state activations, with derivatives written in terms of the cached output.

Each entry maps a pre-activation ``a`` to ``h = f(a)`` and gives ``f'(a)`` as a function of ``h``
only, so the backward pass needs nothing but the stored states (scikit-learn's convention).
``gamma`` bounds ``|f'|``; Pascanu et al. (2013) show long-range gradients vanish when the largest
singular value of ``Whh`` is below ``1 / gamma``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Activation:
    name: str
    f: Callable[..., np.ndarray]  # f(a, out=None): writes into out when given
    df: Callable[[np.ndarray], np.ndarray]  # derivative, as a function of the output h = f(a)
    gamma: float  # sup |f'(a)|


def sigmoid(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    # tanh form: never overflows in exp, unlike 1 / (1 + exp(-a))
    out = np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def _tanh(a, out=None):
    return np.tanh(a, out=out)


def _relu(a, out=None):
    return np.maximum(a, 0.0, out=out)


def _identity(a, out=None):
    if out is None:
        return a.copy()
    out[...] = a
    return out


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, lambda h: h * (1.0 - h), 0.25),
    "tanh": Activation("tanh", _tanh, lambda h: 1.0 - h * h, 1.0),
    "relu": Activation("relu", _relu, lambda h: (h > 0.0).astype(h.dtype), 1.0),
    # linear RNN; seed 004's published gradient check uses it
    "identity": Activation("identity", _identity, lambda h: np.ones_like(h), 1.0),
}


def get(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"activation={name!r}: allowed values are {', '.join(ACTIVATIONS)}") from None
