"""Small array helpers shared by the models.

Arrays are indexed time-major, ``(T, R, B, P)``, but the ones the engine allocates keep their
*memory* replica-major, ``(R, T, B, P)`` (``empty``, ``zeros``): ``a[t]`` is still every replica's
step t, while each replica's whole sequence is one block, so ``rows(a)`` is a free view and the
per-replica matmuls of ``project`` and ``outer_sum`` are one BLAS call per replica over all steps
at once, with no copy. Any layout works (NumPy copies when a view is impossible); this one is fast.
"""
from __future__ import annotations

import numpy as np


def empty(T: int, R: int, B: int, P: int, dtype=np.float64) -> np.ndarray:
    """An uninitialised ``(T, R, B, P)`` array with replica-major memory."""
    return np.empty((R, T, B, P), dtype).transpose(1, 0, 2, 3)


def zeros(T: int, R: int, B: int, P: int, dtype=np.float64) -> np.ndarray:
    """A zero ``(T, R, B, P)`` array with replica-major memory."""
    return np.zeros((R, T, B, P), dtype).transpose(1, 0, 2, 3)


def memory(a: np.ndarray) -> np.ndarray:
    """The ``(R, T, B, P)`` C-contiguous memory of a replica-major array (``empty``, ``zeros``): what a
    compiled kernel takes, to index ``[r, t, b]`` itself."""
    m = a.transpose(1, 0, 2, 3)
    if not m.flags.c_contiguous:
        raise ValueError("not a replica-major array")
    return m


def carried(dS, n: int, shape: tuple, dtype) -> list[np.ndarray]:
    """The ``n`` state gradients a cell's own BPTT loop (``back_layer``) carries from step to step:
    C-contiguous arrays of its own that it updates in place, ``dS`` copied, or zeros without it."""
    if dS is None:
        return [np.zeros(shape, dtype) for _ in range(n)]
    return [np.array(s, dtype, order="C") for s in dS]


def at_steps(a: np.ndarray, steps, T: int) -> np.ndarray:
    """``a``, an array of some ``steps`` (a slice or indices along its first axis), as one of all
    ``T`` steps, 0 at the others."""
    full = np.zeros((T,) + a.shape[1:], a.dtype)
    full[steps] = a
    return full


def replica_major(a: np.ndarray) -> np.ndarray:
    """``a`` (time-major indexing) copied into replica-major memory, unless it already is."""
    return np.ascontiguousarray(a.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)


def rows(a: np.ndarray) -> np.ndarray:
    """``(T, R, B, P) -> (R, T*B, P)``: each replica's steps and problems as rows (a view when the
    memory is replica-major, else a copy)."""
    T, R, B, P = a.shape
    return a.transpose(1, 0, 2, 3).reshape(R, T * B, P)


def project(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``(T, R, B, P) @ (R, P, Q) -> (T, R, B, Q)`` (replica-major memory): one matmul per replica
    over every step, instead of one tiny matmul per step and replica."""
    T, R, B, P = a.shape
    if P == 1:  # an outer product: broadcasting beats a BLAS call with an inner size of 1
        return a * w
    return (rows(a) @ w).reshape(R, T, B, -1).transpose(1, 0, 2, 3)


def outer_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum over time and batch of ``a^T b`` per replica: ``(T, R, B, P), (T, R, B, Q) -> (R, P, Q)``."""
    return T_(rows(a)) @ rows(b)  # BLAS reads the transposed view directly


def bias_grad(d: np.ndarray) -> np.ndarray:
    """Sum over time and batch: ``(T, R, B, P) -> (R, 1, P)``, the shape biases are kept in."""
    R, TB = d.shape[1], d.shape[0] * d.shape[2]
    return np.ones((R, 1, TB), d.dtype) @ rows(d)  # a sum as a matmul: BLAS beats NumPy's reduction over middle axes


def T_(w: np.ndarray) -> np.ndarray:
    """Transpose the last two axes of a per-replica matrix ``(R, P, Q) -> (R, Q, P)``."""
    return w.swapaxes(-1, -2)
