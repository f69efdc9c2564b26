"""Scores of a trained network on a set of problems, per replica.

- ``bit_acc``: fraction of correct output bits (per-bit accuracy).
- ``sum_acc``: fraction of problems whose whole sum is exactly right.
- ``seed_acc``: seed 001's own metric, kept exactly as it was written: a problem counts as an
  error only if the *signed* sum of (predicted bit - true bit) over its bits exceeds 0.1. It is not
  an accuracy in any usual sense (an all-zeros prediction scores 100 %); it is here to explain the
  seed's "84 %".
- ``msb_bit_limits``, ``msb_per_bit_limit``, ``msb_sum_limit``: the best scores a causal model can
  reach on msb order (it emits each sum bit before seeing the carry into it), the reference lines
  of the report.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...engine import network


# --- reference values for a causal model reading msb first (REFERENCE.md) ------------------------

def msb_bit_limits(bits: int) -> np.ndarray:
    """Best per-position accuracy on msb order, indexed by bit (0 = least significant).

    The carry into bit k is 1 with probability 1/2 - 2^-(k+1) and has not been seen yet, so the best
    guess is a_k XOR b_k: right with probability 1/2 + 2^-(k+1).
    """
    return 0.5 + 2.0 ** -(np.arange(bits) + 1.0)


def msb_per_bit_limit(bits: int) -> float:
    return float(msb_bit_limits(bits).mean())  # 0.6245 for 8 bits


def msb_sum_limit(bits: int) -> float:
    return 0.75 ** (bits - 1)  # no carry anywhere: 0.1335 for 8 bits


def causal_bit_limits(bits: int, order: str, delay: int = 0) -> np.ndarray:
    """Best accuracy of a causal model for each sum bit (index 0 = least significant), ``delay``
    steps after its operand bits were read.

    lsb order: every carry is known in time (1 everywhere). msb order: when sum bit k is emitted
    the model has read operand bits k..m, m = max(0, k - delay). Its carry c_k is known unless
    bits m..k-1 all propagate (a XOR b = 1; probability 2^-(k-m)), when c_k = c_m, unseen, 1 with
    probability 1/2 - 2^-(m+1): the best guess (no carry) is right with 1/2 + 2^-(m+1).
    ``delay=0`` gives ``msb_bit_limits``; ``delay >= bits - 1`` gives 1 everywhere.
    """
    k = np.arange(bits)
    if order == "lsb":
        return np.ones(bits)
    m = np.maximum(0, k - delay)
    unseen = np.where(m == 0, 0.0, 2.0 ** -(k - m))  # P(the carry into bit k is not determined yet)
    return 1.0 - unseen * (0.5 - 2.0 ** -(m + 1.0))


def causal_sum_limit(bits: int, order: str, delay: int = 0) -> float:
    """Whole-sum accuracy of the causal predictor of ``causal_bit_limits`` (no carry where unseen).

    Bit k is wrong iff a carry reaches it from a generate (a = b = 1) at g < k - delay through
    propagates g+1..k-1: a chain of age k - g > delay. A dynamic programme over the bits, lsb
    first, on the age of the carry entering each bit (0: no carry; ages > delay lumped together),
    keeping only the problems right so far. ``delay=0`` gives ``msb_sum_limit``.
    """
    if order == "lsb":
        return 1.0
    A = delay + 2  # ages 0..delay+1 (delay+1: "older than delay")
    p = np.zeros(A)
    p[0] = 1.0  # no carry into bit 0
    for k in range(bits):
        p[delay + 1:] = 0.0  # bit k is wrong for these: drop them
        if k == bits - 1:
            break
        new = np.zeros(A)
        total = p.sum()
        new[1] += 0.25 * total  # generate: a carry of age 1
        new[0] += 0.25 * total + 0.5 * p[0]  # kill; or propagate with no carry
        new[2:] += 0.5 * p[1:-1]  # propagate a carry: one step older
        new[-1] += 0.5 * p[-1]
        p = new
    return float(p.sum())


def seed001_accuracy(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``pred, y: (T, R, N)`` -> ``(R,)``: 1 - the fraction with ``sum_t (pred - y) > 0.1``."""
    signed = (pred - y).sum(axis=0)  # (R, N)
    return 1.0 - (signed > 0.1).mean(axis=-1)


def evaluate(spec: network.NetSpec, params, x, y, *, steps=None, max_elems: int = 2**15) -> dict[str, np.ndarray]:
    """Loss per bit, per-bit, per-position and whole-sum accuracy on ``x: (T, N, 2)`` or ``(T, R, N, 2)``.

    ``steps``: ``(T,)`` bool, the steps that carry a sum bit (``task.delay``: the first ``delay``
    steps carry none), or None (every step). Problems are processed in chunks so memory stays
    bounded for large sets, hidden sizes and replica counts. Returns ``{"loss", "bit_acc",
    "sum_acc": (R,), "pos_acc": (R, bits)}`` (positions: the steps that carry a sum bit).
    """
    if steps is not None:
        out = _evaluate(spec, params, x, y, max_elems, np.asarray(steps, bool))
        T, bits = len(steps), int(np.sum(steps))
        out["loss"] = out["loss"] * T / bits  # per bit scored, not per step
        out["pos_acc"] = out["pos_acc"][:, np.asarray(steps, bool)]
        out["bit_acc"] = out["pos_acc"].mean(axis=1)
        return out
    return _evaluate(spec, params, x, y, max_elems, None)


def _evaluate(spec, params, x, y, max_elems, steps) -> dict[str, np.ndarray]:
    """``evaluate`` per step (loss scaled by 1/(N T)); steps outside ``steps`` score nothing."""
    R = next(iter(params.values())).shape[0]
    T, N = x.shape[0], x.shape[-2]
    width = spec.impl.top_size(spec)
    causal = hasattr(spec.impl, "state_before")  # it can restart from its state at any step
    if x.ndim == 3 and causal:
        return _evaluate_tree(spec, params, prefix_tree(x, y), R, max(1, max_elems // (R * width)), steps)
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
            mask = None if steps is None else steps[:, None, None]
            elem, _ = network.step_losses(spec, z, yc, mask)
            loss += elem.sum(axis=(0, 2))
            right = network.predict(spec, z) == yc  # (T, R, n)
            if mask is not None:
                right = right | ~mask  # a step without a sum bit is never wrong
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
    k = x.shape[-1] + 1  # bits per step: the inputs and the target
    symbol = y.astype(np.int64) << (k - 1)  # (T, N): the step's bits as one integer (inputs, targets are bits)
    for j in range(k - 1):
        symbol |= x[..., j].astype(np.int64) << j
    node, n = np.zeros(N, np.int64), 1  # every problem starts at the root
    tree = []
    for t in range(T):
        code = node << k | symbol[t]  # a node is (parent, step symbol): its code, < n * 2**k
        count = np.bincount(code, minlength=n << k)
        used = np.flatnonzero(count)  # the nodes of this level, sorted by code, hence by parent
        rank = np.cumsum(count > 0) - 1  # code -> node index
        sym = used & ((1 << k) - 1)
        step_bits = (sym[:, None] >> np.arange(k)) & 1
        tree.append(Level(used >> k, step_bits[:, :-1].astype(x.dtype), step_bits[:, -1].astype(y.dtype),
                          count[used].astype(np.float64)))
        node, n = rank[code], len(used)
    if not (x.flags.writeable or y.flags.writeable):
        if len(_TREES) >= 8:
            _TREES.pop(next(iter(_TREES)))
        _TREES[key] = (x, y, tree)
    return tree


def _evaluate_tree(spec, params, tree: list[Level], R: int, chunk: int, steps=None) -> dict[str, np.ndarray]:
    """``evaluate`` over the nodes of a prefix tree (causal models only), one step at a time.

    Depth first, in pieces of at most ``chunk`` nodes: a piece of level t is one forward step from
    its parents' states, then its children (a contiguous range of level t+1: every level is sorted
    by parent) are taken piece by piece. The arrays in flight stay small enough for the CPU's
    caches, and memory stays bounded whatever the number of problems.
    """
    T, N = len(tree), tree[0].count.sum()
    loss, bits_right, sums_right = np.zeros(R), np.zeros((R, T)), np.zeros(R)

    def descend(t: int, lo: int, hi: int, p_lo: int, state, ok) -> None:
        """Nodes ``lo:hi`` of level t; ``state`` and ``ok`` (every bit right so far) belong to the
        nodes of level t-1 from ``p_lo`` on (``state`` None: the initial zero state)."""
        nonlocal sums_right
        lv, nodes = tree[t], slice(lo, hi)
        parent, count, y = lv.parent[nodes] - p_lo, lv.count[nodes], lv.y[nodes]
        h0 = None if state is None else np.take(state, parent, axis=-2)  # (..., R, n, H)
        z, cache = network.forward(spec, params, np.broadcast_to(lv.x[nodes], (1, R) + lv.x[nodes].shape), h0)
        right = network.predict(spec, z)[0] == y  # (R, n)
        if steps is None or steps[t]:
            elem, _ = network.step_losses(spec, z, np.broadcast_to(y, (1, R, hi - lo)))
            loss[:] += elem[0] @ count
        else:  # no sum bit at this step: no loss, never wrong
            right = np.ones_like(right)
        bits_right[:, t] += right @ count
        ok = np.take(ok, parent, axis=1) & right
        if t == T - 1:
            sums_right += ok @ count
            return
        state = spec.impl.state_before(spec, cache, 1)  # the state after this step
        c_lo, c_hi = np.searchsorted(tree[t + 1].parent, [lo, hi])  # the children of these nodes
        for c in range(c_lo, c_hi, chunk):
            descend(t + 1, c, min(c + chunk, c_hi), lo, state, ok)

    with np.errstate(all="ignore"):
        for lo in range(0, len(tree[0].count), chunk):
            descend(0, lo, min(lo + chunk, len(tree[0].count)), 0, None, np.ones((R, 1), bool))
    pos_acc = bits_right / N
    return {"loss": loss / (N * T), "bit_acc": pos_acc.mean(axis=1), "sum_acc": sums_right / N, "pos_acc": pos_acc}
