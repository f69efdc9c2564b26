"""A sequence model plus the shared per-step output layer and loss.

``logits_t = top_t Why + by``; the training objective per replica is the per-step loss averaged
over the batch and then averaged (``time_reduction="mean"``) or summed (``"sum"``, seed 002) over
the T steps. A ``mask`` (broadcastable to ``(T, R, B)``, true where a step carries a target) drops
the other steps: they add no loss and no gradient, and "mean" averages over the steps that carry
one (a task scored only at its last step has the last step's loss as its objective). Replicas are independent: the gradient of replica r's objective only touches
replica r's parameters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Optional

import numpy as np

from . import activations, init, losses, models
from .models import _fused
from .models._ops import T_, at_steps, bias_grad, empty, outer_sum, project

TIME_REDUCTIONS = ("mean", "sum")
PRECISIONS = ("float64", "float32")  # the float of parameters, states and data; gradient checks use float64


@dataclass(frozen=True)
class NetSpec:
    """Everything that fixes the network's arithmetic (plain values, no Hydra)."""

    hidden: int = 16
    activation: str = "tanh"
    loss: str = "bce"
    bias: bool = True
    model: str = "rnn"
    init: str = "xavier"
    scale: float = 1.0  # multiplies the recurrent matrix
    input_scale: float = 1.0  # multiplies every other weight matrix
    truncate: Optional[int] = None  # None: full BPTT
    time_reduction: str = "mean"
    n_in: int = 2  # inputs per step (the task's)
    precision: str = "float64"  # PRECISIONS: the parameters' float; states and data follow the parameters
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)  # model-specific

    @cached_property
    def dtype(self) -> np.dtype:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r}: allowed values are {', '.join(PRECISIONS)}")
        return np.dtype(self.precision)

    @cached_property
    def act(self) -> activations.Activation:
        return activations.get(self.activation)

    @cached_property
    def loss_fn(self) -> losses.Loss:
        return losses.get(self.loss)

    @cached_property
    def impl(self) -> models.Model:
        """The model object (``models.get(self.model)``) whose methods run the recurrence."""
        return models.get(self.model)


def init_params(spec: NetSpec, rngs: list[np.random.Generator]) -> dict[str, np.ndarray]:
    params = spec.impl.init_params(spec, rngs)
    n_out = spec.loss_fn.n_out
    params["Why"] = init.weights(rngs, spec.init, (spec.impl.top_size(spec), n_out), scale=spec.input_scale)
    if spec.bias:
        params["by"] = init.zeros(len(rngs), n_out)
    # drawn in float64 whatever the precision (replica r's weights are float64's, rounded)
    return {k: v.astype(spec.dtype, copy=False) for k, v in params.items()}


def forward(spec: NetSpec, params, x, h0=None, steps=None):
    """``x: (T, R, B, I)`` -> logits ``(T, R, B, O)`` and the cache for ``backward``; with ``steps``
    (``scored_steps``) the logits of those steps only, ``(S, R, B, O)``.

    Everything runs in the parameters' float: ``x`` (a task's batch, float64) is converted to it here,
    the one place every forward pass goes through (a no-op in float64)."""
    x = _in_float(params, x)
    top, cache = spec.impl.forward(spec, params, x, h0)
    cache["top"] = top
    return logits(params, top if steps is None else top[steps]), cache


def _in_float(params, x) -> np.ndarray:
    """``x`` in the parameters' float (a task's batch is float64): a no-op in float64."""
    return np.asarray(x).astype(params["Why"].dtype, copy=False)


def logits(params, top) -> np.ndarray:
    """The output layer: ``top: (T, R, B, H)`` -> ``(T, R, B, O)``."""
    z = project(top, params["Why"])
    if "by" in params:
        z += params["by"]
    return z


def step_losses(spec: NetSpec, z, y, mask=None):
    """Per-element loss ``(T, R, B)`` and its gradient ``(T, R, B, O)``; zero where ``mask`` is false."""
    elem, dz = spec.loss_fn.loss_and_grad(z, np.asarray(y).astype(z.dtype, copy=False))
    if mask is None:
        return elem, dz
    mask = np.broadcast_to(mask, elem.shape)
    # where, not a product: a diverged output's inf/NaN at a step without a target must not leak in
    return np.where(mask, elem, 0.0), np.where(mask[..., None], dz, 0.0)


def scored_steps(mask, T: int):
    """The steps a ``mask`` scores when it scores whole steps and leaves some out (a ``(T, 1, 1)``
    mask, as a task's ``steps`` make it: ``adding`` scores its last step, a delayed ``addition`` the
    steps after its delay): a slice when they are consecutive, else their indices; None for every
    step, for none, and for a mask that differs between problems.

    A training step runs the output layer at those steps only (``_loss_and_grads``): the logits,
    the loss and ``Why``'s gradient of a step without a target are never needed, as a PyTorch user
    scores ``out(h[-1])``. At T = 1000, hidden 64, 10 replicas, the logits and ``Why``'s gradient of
    every step read the top layer's states twice (12-13 ms timed alone); an LSTM step on ``adding``
    took 626 against 634 ms, a GRU step 596 against 620 (medians, side by side)."""
    if mask is None or np.ndim(mask) != 3 or np.shape(mask)[1:] != (1, 1) or np.shape(mask)[0] != T:
        return None
    idx = np.flatnonzero(np.asarray(mask)[:, 0, 0])
    if len(idx) in (0, T):
        return None
    if idx[-1] - idx[0] + 1 == len(idx):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def objective_scale(spec: NetSpec, T: int, B: int, mask=None, R: int = 1):
    """Factor that turns summed per-element losses into the objective: a number, or with a ``mask``
    ``(R,)`` (mean: one over the targets a replica's batch carries; sum: 1/B)."""
    if mask is None:
        return 1.0 / (B * (T if spec.time_reduction == "mean" else 1))
    if spec.time_reduction == "sum":
        return np.full(R, 1.0 / B)
    targets = np.broadcast_to(mask, (T, R, B)).sum(axis=(0, 2))  # (R,)
    return 1.0 / np.maximum(targets, 1)


# Replica groups: every array of a step is (T, R, B, ...); on long sequences the R replicas' arrays
# together outgrow the CPU's caches and every step's element-wise work waits on memory (measured:
# a step of 10 replicas at T = 500, hidden 64 ran 1.7-2.2x faster one or five replicas at a time).
# So a step whose per-replica (T, B, hidden) array exceeds GROUP_MIN_BYTES runs in groups of replicas
# of about GROUP_BYTES each; smaller steps (the seeds' shapes, every reference table) run as one.
GROUP_MIN_BYTES = 512 * 2**10
GROUP_BYTES = 2 * 2**20
# A float32 step's element-wise work runs compiled, row by row (engine/models/_fused.py), and no
# longer sweeps whole arrays; there groups pay only on far larger steps, and cost a Python-level
# time loop each. Measured side by side (10 replicas, batch 32, copy, median of 4 steps each):
# the Elman RNN at 8.4 MB a replica (hidden 64, T = 1000; hidden 128, T = 500) 353 / 431 ms a step
# in groups of one against 391 / 475 ms in one group; the gated cells, whose per-step products
# gain most from NumPy's batched matmul over replicas, the other way: at hidden 64, T = 1000 the lstm
# 854 ms in one group against 982 in groups of one, the gru 677 against 802; at 16.7 MB a replica
# (hidden 128, T = 1000) they are indifferent (lstm 2482 / 2532 ms, gru 2108 / 2093). So a model
# may raise the threshold (a cell's ``fused_group_min_bytes``, ``models._stack``).
FUSED_GROUP_MIN_BYTES = 4 * 2**20
FUSED_GROUP_BYTES = 8 * 2**20


class ReplicaGroups(list):
    """The cache of a step run in replica groups: ``[(replica slice, that group's cache), ...]``."""


def replica_group_size(spec: NetSpec, T: int, R: int, B: int) -> int:
    """Replicas per group for a step of ``T`` steps and batch ``B`` (``R``: one group)."""
    per = T * B * spec.hidden * spec.dtype.itemsize  # one (T, B, hidden) array of one replica
    if _fused.use(spec.dtype):
        least = max(FUSED_GROUP_MIN_BYTES, getattr(spec.impl, "fused_group_min_bytes", 0))
        size = max(FUSED_GROUP_BYTES, least)
    else:
        least, size = GROUP_MIN_BYTES, GROUP_BYTES
    return R if per <= least else int(np.clip(size // per, 1, R))


def _replicas(a, sl, R):
    """``a``'s replicas ``sl`` (axis 1) when it has a replica axis, else ``a`` (a mask ``(T, 1, 1)``)."""
    return a if a is None or np.ndim(a) < 2 or np.shape(a)[1] != R else a[:, sl]


def loss_and_grads(spec: NetSpec, params, x, y, h0=None, mask=None, keep_cache=True):
    """Objective per replica ``(R,)``, its gradients, and the logits and cache for diagnostics.

    Replicas are independent, so a long step runs in replica groups (``replica_group_size``; the
    cache is then a ``ReplicaGroups``): every replica's numbers are the same, up to rounding in the
    loss's sum. ``keep_cache=False``: the caller will not compute ``state_grad_profile`` from the
    cache, so BPTT may write its gradients over cached arrays it no longer needs (the LSTM's float32
    gates: no new array of the gates' size, and a faster kernel); the numbers are the same."""
    T, R, B, _ = x.shape
    G = R if h0 is not None else replica_group_size(spec, T, R, B)
    if G >= R:
        return _loss_and_grads(spec, params, x, y, h0, mask, keep_cache)
    parts, cache = [], ReplicaGroups()
    for lo in range(0, R, G):
        sl = slice(lo, lo + G)
        out = _loss_and_grads(spec, {k: v[sl] for k, v in params.items()}, x[:, sl], _replicas(y, sl, R),
                              None, _replicas(mask, sl, R), keep_cache)
        parts.append(out)
        cache.append((sl, out[3]))
    grads = {k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]}
    return (np.concatenate([p[0] for p in parts]), grads, np.concatenate([p[2] for p in parts], axis=1), cache)


def _loss_and_grads(spec: NetSpec, params, x, y, h0=None, mask=None, keep_cache=True):
    T, R, B, _ = x.shape
    windows = truncated(spec, T)
    steps = scored_steps(mask, T)  # the output layer at the steps with a target only
    z, cache = (_forward_windows if windows else forward)(spec, params, x, h0, steps)
    if not keep_cache and isinstance(cache, dict):
        cache["spend"] = True  # read by a model's backward (``_stack.Stack.backward``), which marks it "spent"
    # every step of z carries a target when it holds the scored steps only
    elem, dz = step_losses(spec, z, y, mask) if steps is None else step_losses(spec, z, np.asarray(y)[steps])
    c = objective_scale(spec, T, B, mask, R)
    loss = elem.sum(axis=(0, 2)) * c  # (R,)
    dz *= c if mask is None else c[:, None, None].astype(dz.dtype)  # in place: every loss returns a new dz
    grads = (_backward_windows if windows else backward)(spec, params, cache, dz, steps)
    return loss, grads, z, cache


def truncated(spec: NetSpec, T: int) -> bool:
    """Whether a step of ``T`` steps runs truncated BPTT in windows from checkpoints (the model's
    ``forward_windows``, ``models._windows``): its memory is then bounded by ``bptt.truncate``, not
    by T, and its cache is the checkpoints, not the forward cache."""
    return spec.truncate is not None and spec.truncate < T - 1 and hasattr(spec.impl, "forward_windows")


def _rows_of_steps(steps, T: int):
    """Each step's row in the arrays of the scored ``steps`` (``scored_steps``), -1 for a step left
    out: ``(T,)``; None for every step."""
    if steps is None:
        return None
    rows = np.full(T, -1)
    rows[steps] = np.arange(len(rows[steps]))
    return rows


def _forward_windows(spec: NetSpec, params, x, h0=None, steps=None):
    """``forward`` of a truncated step: the logits computed window by window (of the scored ``steps``
    only when given), the checkpoints as cache."""
    x = _in_float(params, x)
    T, R, B, _ = x.shape
    rows = _rows_of_steps(steps, T)
    z = empty(T if rows is None else int((rows >= 0).sum()), R, B, params["Why"].shape[-1], x.dtype)

    def emit(a, top):
        if rows is None:
            z[a : a + top.shape[0]] = logits(params, top)
            return
        at = rows[a : a + top.shape[0]]
        scored = np.flatnonzero(at >= 0)  # the window's scored steps
        if len(scored):
            z[at[scored]] = logits(params, top[scored])

    return z, spec.impl.forward_windows(spec, params, x, h0, emit)


def _backward_windows(spec: NetSpec, params, cache, dz, steps=None):
    """``backward`` of a truncated step: the output layer's part window by window, as the model asks;
    with ``steps``, ``dz`` is that of the scored steps (``backward``)."""
    Why, out = params["Why"], {}
    rows = _rows_of_steps(steps, cache.T)

    def dtop_of(a, top):
        W = top.shape[0]
        if rows is None:
            d, scored = dz[a : a + W], slice(None)
        else:
            at = rows[a : a + W]
            scored = np.flatnonzero(at >= 0)
            d = at_steps(dz[at[scored]], scored, W)  # 0 at the window's steps without a target
        g = outer_sum(top[scored], d[scored])
        out["Why"] = out["Why"] + g if "Why" in out else g
        return project(d, T_(Why))  # (W, R, B, top)

    grads = spec.impl.backward_windows(spec, params, cache, dtop_of)
    grads["Why"] = out["Why"]
    if "by" in params:
        grads["by"] = bias_grad(dz)
    return grads


def backward(spec: NetSpec, params, cache, dz, steps=None):
    """The gradients from the logits' ``dz: (T, R, B, O)``, or with ``steps`` (``scored_steps``) from
    those steps' ``dz: (S, R, B, O)``, every other step's being 0."""
    top = cache["top"]

    def every_step(a):  # a gradient of the scored steps as one of all T steps, 0 at the others
        return a if steps is None else at_steps(a, steps, top.shape[0])

    from_output = getattr(spec.impl, "backward_from_output", None)  # a model that takes dz itself
    grads = from_output(spec, params, cache, every_step(dz)) if from_output is not None else None
    if grads is None:
        dtop = every_step(project(dz, T_(params["Why"])))  # (T, R, B, top)
        grads = spec.impl.backward(spec, params, cache, dtop, spec.truncate)
    grads["Why"] = outer_sum(top if steps is None else top[steps], dz)
    if "by" in params:
        grads["by"] = bias_grad(dz)
    return grads


def state_grad_profile(spec: NetSpec, params, cache, z, y, mask=None):
    """``||dL_T/dh_t||`` for t = 1..T, L_T = last step's loss averaged over the batch: ``{name: (R, T)}``.

    Every task carries a target at its last step; on one scored only there (adding) this is exactly
    the long-range signal the loss sends back."""
    if isinstance(cache, ReplicaGroups):  # one group of replicas at a time, as the step ran
        R = z.shape[1]
        parts = [state_grad_profile(spec, {k: v[sl] for k, v in params.items()}, c, z[:, sl], _replicas(y, sl, R),
                                    _replicas(mask, sl, R)) for sl, c in cache]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if isinstance(cache, dict) and cache.get("spent"):
        raise ValueError("this cache was used up by its backward pass: call loss_and_grads with keep_cache=True "
                         "to compute the state-gradient profile from it")
    B = y.shape[2]
    last = None if mask is None else np.broadcast_to(mask, y.shape)[-1:]
    _, dz_last = step_losses(spec, z[-1:], y[-1:], last)
    dtop_last = (dz_last[0] / B) @ T_(params["Why"])  # (R, B, top)
    return spec.impl.state_grad_profile(spec, params, cache, dtop_last)


def predict(spec: NetSpec, z) -> np.ndarray:
    return spec.loss_fn.predict(z)
