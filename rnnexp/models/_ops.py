"""Small array helpers shared by the models."""
from __future__ import annotations

import numpy as np


def outer_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum over time and batch of ``a^T b`` per replica: ``(T, R, B, P), (T, R, B, Q) -> (R, P, Q)``."""
    T, R, B, P = a.shape
    a2 = a.transpose(1, 3, 0, 2).reshape(R, P, T * B)
    b2 = b.transpose(1, 0, 2, 3).reshape(R, T * B, b.shape[-1])
    return a2 @ b2


def bias_grad(d: np.ndarray) -> np.ndarray:
    """Sum over time and batch: ``(T, R, B, P) -> (R, 1, P)``, the shape biases are kept in."""
    return d.sum(axis=(0, 2))[:, None, :]


def T_(w: np.ndarray) -> np.ndarray:
    """Transpose the last two axes of a per-replica matrix ``(R, P, Q) -> (R, Q, P)``."""
    return np.swapaxes(w, -1, -2)
