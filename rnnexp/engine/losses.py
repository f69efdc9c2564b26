"""Per-step output losses. Each maps logits ``z: (T, R, B, O)`` and target bits ``y: (T, R, B)``
to the per-element loss ``(T, R, B)`` and its gradient ``dL/dz`` (same shape as ``z``).

- ``bce``: one sigmoid output, binary cross-entropy.
- ``mse``: one sigmoid output, squared error ``0.5 * (o - y)**2`` (seed 002's rule:
  the output delta is ``(o - y) * o * (1 - o)``).
- ``softmax``: two logits, softmax with cross-entropy (seed 001).

Task heads (chosen by a task, never by the ``loss`` setting; ``get`` finds them too):

- ``squared``: one linear output, squared error ``(z - y)**2`` (a real target: the adding problem;
  no 1/2, so the mean loss is the task's MSE).
- ``softmax<k>`` (k >= 2, e.g. ``softmax10``): k logits, softmax with cross-entropy; the target
  ``y`` is the class index (as a float, like every target). ``softmax2`` is ``softmax``'s arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .activations import sigmoid
from .models import _fused, _ops


@dataclass(frozen=True)
class Loss:
    name: str
    n_out: int  # logits per step
    loss_and_grad: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    predict: Callable[[np.ndarray], np.ndarray]  # logits -> predicted bits, classes or values (T, R, B)


def softplus(z: np.ndarray) -> np.ndarray:
    """``log(1 + exp(z))``, stable for any z; a few times faster than ``np.logaddexp(0, z)``."""
    out = np.abs(z)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    out += np.maximum(z, 0.0)  # log(1 + e^z) = max(z, 0) + log(1 + e^-|z|)
    return out


def _bce(z, y):
    z0 = z[..., 0]
    loss = softplus(z0) - y * z0  # softplus(z) - y z
    return loss, (sigmoid(z0) - y)[..., None]


def _mse(z, y):
    o = sigmoid(z[..., 0])
    err = o - y
    return 0.5 * err * err, (err * o * (1.0 - o))[..., None]


def _softmax(z, y):
    # two classes: softmax cross-entropy is the logistic loss of the difference d = z1 - z0,
    # log(e^z0 + e^z1) - z_y = softplus(d) - y d, and dL/dz1 = -dL/dz0 = sigmoid(d) - y
    d = z[..., 1] - z[..., 0]
    g = sigmoid(d) - y
    return softplus(d) - y * d, np.stack([-g, g], axis=-1)


LOSSES: dict[str, Loss] = {
    "bce": Loss("bce", 1, _bce, lambda z: (z[..., 0] > 0.0).astype(np.int8)),
    "mse": Loss("mse", 1, _mse, lambda z: (z[..., 0] > 0.0).astype(np.int8)),
    "softmax": Loss("softmax", 2, _softmax, lambda z: (z[..., 1] > z[..., 0]).astype(np.int8)),
}


def _squared(z, y):
    err = z[..., 0] - y
    return err * err, (2.0 * err)[..., None]


def _softmax_k(z, y):
    """k-class softmax cross-entropy: ``logsumexp(z) - z_y``; gradient ``softmax(z) - onehot(y)``.
    In float32 a compiled kernel does it (``models._kernels.softmax_xent``)."""
    if _fused.use(z.dtype):  # in replica-major memory, as the output layer writes z and reads p
        T, R, B, K = z.shape
        loss, p = np.empty((T, R, B), z.dtype), _ops.empty(T, R, B, K, z.dtype)
        _fused.kernel("softmax_xent")(_ops.memory(_ops.replica_major(z)), np.ascontiguousarray(y, dtype=z.dtype),
                                      loss, _ops.memory(p))
        return loss, p
    m = z.max(axis=-1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=-1, keepdims=True)
    p = e / s
    idx = y.astype(np.intp)[..., None]
    loss = (np.log(s) + m - np.take_along_axis(z, idx, axis=-1))[..., 0]
    np.put_along_axis(p, idx, np.take_along_axis(p, idx, axis=-1) - 1.0, axis=-1)
    return loss, p


HEADS: dict[str, Loss] = {"squared": Loss("squared", 1, _squared, lambda z: z[..., 0])}


def classes(k: int) -> Loss:
    """The k-class softmax head ``softmax<k>``; predictions are class indices (int64)."""
    return Loss(f"softmax{k}", k, _softmax_k, lambda z: z.argmax(axis=-1))


def get(name: str) -> Loss:
    """A binary loss (``LOSSES``, the ``loss`` setting) or a task head (``squared``, ``softmax<k>``)."""
    if name in LOSSES:
        return LOSSES[name]
    if name in HEADS:
        return HEADS[name]
    if name.startswith("softmax") and name[7:].isdigit() and int(name[7:]) >= 2:
        return classes(int(name[7:]))
    raise ValueError(f"loss={name!r}: allowed values are {', '.join(LOSSES)}")
