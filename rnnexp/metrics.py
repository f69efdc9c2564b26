"""Scores of a trained network on a set of problems, per replica.

- ``bit_acc``: fraction of correct output bits (per-bit accuracy).
- ``sum_acc``: fraction of problems whose whole sum is exactly right.
- ``seed_acc``: seed 001's own metric, kept exactly as it was written: a problem counts as an
  error only if the *signed* sum of (predicted bit - true bit) over its bits exceeds 0.1. It is not
  an accuracy in any usual sense (an all-zeros prediction scores 100 %); it is here to explain the
  seed's "84 %".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import network

TREE_MAX_ELEMS = 2**23  # largest tree level x replicas x state width evaluated at once (64 MB per array)


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
    width = spec.module.top_size(spec)
    causal = hasattr(spec.module, "state_before")  # it can restart from its state at any step
    if x.ndim == 3 and causal and N * R * width <= TREE_MAX_ELEMS:
        return _evaluate_tree(spec, params, prefix_tree(x, y), R)
    if x.ndim == 3:  # one problem set for every replica
        x, y = x[:, None], y[:, None]
    chunk = max(1, min(N, max_elems // max(1, R * width)))
    loss = np.zeros(R)
    bits_right = np.zeros((R, T))
    sums_right = np.zeros(R)
    with np.errstate(all="ignore"):
        for lo in range(0, N, chunk):
            xc = np.ascontiguousarray(x[:, :, lo : lo + chunk])  # contiguous, so the broadcast needs no copy
            yc = y[:, :, lo : lo + chunk]
            xc = np.broadcast_to(xc, (T, R) + xc.shape[2:])
            yc = np.broadcast_to(yc, (T, R) + yc.shape[2:])
            z, _ = network.forward(spec, params, xc)
            elem, _ = network.step_losses(spec, z, yc)
            loss += elem.sum(axis=(0, 2))
            right = network.predict(spec, z) == yc  # (T, R, n)
            bits_right += right.sum(axis=2).T
            sums_right += right.all(axis=0).sum(axis=-1)
    scale = 1.0 / (N * T)  # reported per bit, whatever the training objective's time_reduction
    pos_acc = bits_right / N
    return {"loss": loss * scale, "bit_acc": pos_acc.mean(axis=1), "sum_acc": sums_right / N, "pos_acc": pos_acc}


@dataclass(frozen=True)
class Level:
    """The nodes of a prefix tree at one step: each is a distinct (inputs, targets) prefix."""

    parent: np.ndarray  # (n,) the node at the previous step that each node extends
    x: np.ndarray  # (n, I) the input at this step
    y: np.ndarray  # (n,) the target at this step
    count: np.ndarray  # (n,) float: how many problems share this prefix


_TREES: dict = {}  # (id(x), id(y)) -> (x, y, tree), for read-only problem sets (data.eval_set's)


def prefix_tree(x: np.ndarray, y: np.ndarray) -> list[Level]:
    """``x: (T, N, I)``, ``y: (T, N)`` as a tree of shared prefixes, one ``Level`` per step.

    A causal model's state and output at step t depend only on the inputs up to t, so problems
    that agree on their first t+1 (input, target) pairs can share one computation: for all 16,384
    8-bit problems that is 38,228 steps in lsb order instead of 131,072 (the targets are part of
    the prefix so that whole-sum accuracy can be followed down the tree). Built once per read-only
    problem set.
    """
    key = (id(x), id(y))
    if key in _TREES and _TREES[key][0] is x and _TREES[key][1] is y:
        return _TREES[key][2]
    T, N = y.shape
    bits = np.concatenate([x, y[..., None]], axis=-1).astype(np.int64)  # (T, N, I+1): inputs and targets are bits
    symbol = bits @ (1 << np.arange(bits.shape[-1]))  # (T, N): one integer per step
    node = np.zeros(N, np.int64)  # every problem starts at the root
    tree = []
    for t in range(T):
        code = node << bits.shape[-1] | symbol[t]  # a node is (parent, input, target)
        _, first, inverse, count = np.unique(code, return_index=True, return_inverse=True, return_counts=True)
        tree.append(Level(node[first], x[t, first], y[t, first], count.astype(np.float64)))
        node = inverse
    if not (x.flags.writeable or y.flags.writeable):
        if len(_TREES) >= 8:
            _TREES.pop(next(iter(_TREES)))
        _TREES[key] = (x, y, tree)
    return tree


def _evaluate_tree(spec, params, tree: list[Level], R: int) -> dict[str, np.ndarray]:
    """``evaluate`` one step at a time over the nodes of a prefix tree (causal models only)."""
    T, N = len(tree), tree[0].count.sum()
    loss = np.zeros(R)
    bits_right = np.zeros((R, T))
    ok = np.ones((R, 1), bool)  # (R, nodes): every bit right so far
    state = None  # the initial (zero) state
    with np.errstate(all="ignore"):
        for t, lv in enumerate(tree):
            n = len(lv.count)
            h0 = None if state is None else np.take(state, lv.parent, axis=-2)  # (..., R, n, H)
            z, cache = network.forward(spec, params, np.broadcast_to(lv.x, (1, R) + lv.x.shape), h0)
            state = spec.module.state_before(spec, cache, 1)  # the state after this step
            elem, _ = network.step_losses(spec, z, np.broadcast_to(lv.y, (1, R, n)))
            loss += elem[0] @ lv.count
            right = network.predict(spec, z)[0] == lv.y  # (R, n)
            bits_right[:, t] = right @ lv.count
            ok = ok[:, lv.parent] & right
    pos_acc = bits_right / N
    return {"loss": loss / (N * T), "bit_acc": pos_acc.mean(axis=1), "sum_acc": (ok @ tree[-1].count) / N,
            "pos_acc": pos_acc}
