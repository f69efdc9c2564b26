"""Scores of a trained network on a set of problems, per replica.

- ``bit_acc``: fraction of correct output bits (per-bit accuracy).
- ``sum_acc``: fraction of problems whose whole sum is exactly right.
- ``seed_acc``: seed 001's own metric, kept exactly as it was written: a problem counts as an
  error only if the *signed* sum of (predicted bit - true bit) over its bits exceeds 0.1. It is not
  an accuracy in any usual sense (an all-zeros prediction scores 100 %); it is here to explain the
  seed's "84 %".
"""
from __future__ import annotations

import numpy as np

from . import network


def seed001_accuracy(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``pred, y: (T, R, N)`` -> ``(R,)``: 1 - the fraction with ``sum_t (pred - y) > 0.1``."""
    signed = (pred - y).sum(axis=0)  # (R, N)
    return 1.0 - (signed > 0.1).mean(axis=-1)


def evaluate(spec: network.NetSpec, params, x, y, *, max_elems: int = 2**15) -> dict[str, np.ndarray]:
    """Loss per bit, per-bit, per-position and whole-sum accuracy on ``x: (T, N, 2)`` or ``(T, R, N, 2)``.

    Problems are processed in chunks so memory stays bounded for large sets, hidden sizes and
    replica counts. Returns ``{"loss", "bit_acc", "sum_acc": (R,), "pos_acc": (R, T)}``.
    """
    R = next(iter(params.values())).shape[0]
    T, N = x.shape[0], x.shape[-2]
    if x.ndim == 3:  # one problem set for every replica
        x, y = x[:, None], y[:, None]
    width = spec.module.top_size(spec)
    chunk = max(1, min(N, max_elems // max(1, R * width)))
    loss = np.zeros(R)
    bits_right = np.zeros((R, T))
    sums_right = np.zeros(R)
    with np.errstate(all="ignore"):
        for lo in range(0, N, chunk):
            xc = np.broadcast_to(x[:, :, lo : lo + chunk], (T, R) + x[:, :, lo : lo + chunk].shape[2:])
            yc = np.broadcast_to(y[:, :, lo : lo + chunk], (T, R) + y[:, :, lo : lo + chunk].shape[2:])
            z, _ = network.forward(spec, params, xc)
            elem, _ = network.step_losses(spec, z, yc)
            loss += elem.sum(axis=(0, 2))
            right = network.predict(spec, z) == yc  # (T, R, n)
            bits_right += right.sum(axis=2).T
            sums_right += right.all(axis=0).sum(axis=-1)
    scale = 1.0 / (N * T)  # reported per bit, whatever the training objective's time_reduction
    pos_acc = bits_right / N
    return {"loss": loss * scale, "bit_acc": pos_acc.mean(axis=1), "sum_acc": sums_right / N, "pos_acc": pos_acc}
