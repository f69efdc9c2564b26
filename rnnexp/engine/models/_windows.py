"""One layer over a window of steps, and truncated BPTT run window by window from checkpoints, so
that a truncated training step holds memory for about ``k`` steps of the recurrence, not ``T``
(issue 15, target 3).

With ``bptt.truncate=k`` step t's loss reaches the states of steps t-k..t (``Stack.backward``), so
the forward cache of step s is needed only by the losses of steps s..s+k. A truncated step
(``forward`` here, then ``truncated``) therefore:

1. runs the forward pass window by window (``window_size`` steps), keeping only the states entering
   each window (the ``Checkpoints``) and handing each window's top-layer outputs to the output layer
   (``emit``): the per-step caches (``(T, R, B, G*H)`` gates and their derivatives) of one window
   exist at a time;
2. goes through the windows from the last to the first, running each one's forward pass again from
   its checkpoint (the last window's is kept from step 1), and does the lags ``j = 0..k`` of
   truncated BPTT over that window's steps. Lag j at the window's last step needs lag j-1 at the
   first step of the window after it: those ``k`` state gradients (``edges``: layers x states x
   ``(R, B, H)`` each) are all that passes from one window to the one before, so no step is
   processed twice and the numbers are those of running every lag over all T steps at once (up to
   the rounding of sums over time split by window).

Memory per step of the recurrence held at once: one window's caches and its lags' arrays, and the
``k`` edges, whatever T is; held for all T steps only the inputs, the logits and their gradients
(the output layer's ``(T, R, B, O)``) and one checkpoint per window. The cost: the forward pass
runs twice (but for the last window, so a step with T <= window runs it once, as before), and each
window's lags run the cell backwards ``k + 1`` times over the steps a loss reaches (``truncated``: a
task scored at some steps only skips the windows more than ``k`` steps before them, and runs each lag
over the steps it reaches, one on ``adding``).

The state-gradient profile (full BPTT from the last step's loss) and ``state_before`` work on the
checkpoints too: they run windows again as they need them (``Checkpoints.windows``,
``Checkpoints.state_before``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

import numpy as np

from . import _fused, _ops
from ._ops import T_, at_steps, bias_grad, outer_sum, project

MIN_WINDOW = 64  # steps: the smallest window (see window_size)


def window_size(k: int) -> int:
    """Steps per window for ``bptt.truncate=k``: ``max(k, MIN_WINDOW)``.

    Why not smaller: the ``k`` edges carried between windows make memory O(k) steps whatever the
    window, so a window below k would not lower the bound's order, while every window costs ``k + 1``
    calls of the cell's ``back`` per layer (one per lag): windows of W steps make ``(k + 1) T / W``
    calls, at most about ``2T`` with ``W >= k`` (full BPTT makes ``T``). ``MIN_WINDOW`` keeps each
    call over enough steps that NumPy's per-call cost stays small for a small k (0, 1, 2...), at a
    fixed cost of 64 steps of caches. Why not larger: memory grows with it."""
    return max(int(k), MIN_WINDOW)


# ---- one layer over a window of steps ----

def layer_forward(cell, spec, lp, inp, s0) -> dict:
    """One layer over all steps: ``inp: (T, R, B, n)`` -> cache (``cache["h"][1:]`` is its output)."""
    run_inputs = getattr(cell, "run_inputs", None)  # a cell's optional shortcut (as back_layer below)
    c = run_inputs(spec, lp, inp, s0) if run_inputs is not None else None
    if c is None:  # the usual way: the input projections for all steps at once, then the cell
        xw = project(inp, lp["Wxh"])  # (T, R, B, G*H)
        if "bh" in lp:
            xw += lp["bh"]
        c = cell.run(spec, lp, xw, s0)
    c["inp"] = inp
    return c


def layer_back(cell, spec, lp, c, dout, dS=None, record=None, spend=False, top=None):
    """Full BPTT through one layer from ``dout = dL/dh_t`` (from above or the output layer),
    ``(T, R, B, H)`` -> ``dL/da_t`` ``(T, R, B, G*H)`` and dL/d(states before step 0). ``dS``: the
    gradient that arrives at the states after the last step from later steps (a window's; default
    zero). ``record(t, dS)`` sees the gradient that step t+1 sends back to the states after step t
    (before ``dout[t]`` is added). ``spend``: the layer's cache is not read again, so a cell's own
    loop may write ``dL/da`` over the arrays it no longer needs (``lstm.Cell.back_layer``). ``top =
    (dz, Why)`` instead of ``dout`` (a top layer whose cell ``takes_output_grads``): ``dout = dz Why^T``,
    which the cell's own loop adds step by step, and the generic loop computes first."""
    if record is None and getattr(cell, "back_layer", None) is not None:
        done = cell.back_layer(spec, lp, c, dout, dS, spend, top)  # the cell's own loop over the steps, if it has one
        if done is not None:
            return done
    if top is not None:
        dout = project(top[0], T_(top[1]))
    cell.prepare(spec, lp, c)
    T, R, B, _ = dout.shape
    dpre = _ops.empty(T, R, B, cell.gates * spec.hidden, dout.dtype)  # replica-major: layer_grads reads it as rows
    if dS is None:
        dS = tuple(np.zeros_like(dout[0]) for _ in cell.states)
    for t in range(T - 1, -1, -1):
        if record is not None:
            record(t, dS)
        dS[0][...] += dout[t]  # h_t feeds both the layer above / output and step t+1 (dS is ours: in place)
        _, dS = cell.back(spec, lp, c, t, dS, out=dpre[t])
    return dpre, dS


def layer_backward(cell, spec, lp, c, dout, record=None, spend=False, top=None) -> np.ndarray:
    """``layer_back`` over a whole sequence: ``dL/da_t`` only."""
    return layer_back(cell, spec, lp, c, dout, None, record, spend, top)[0]


def layer_grads(cell, lp, c, dpre) -> dict[str, np.ndarray]:
    summed = _fused.input_grads(c, dpre)  # the bias and input-weight gradients a backward kernel summed
    dpre = _ops.replica_major(dpre)  # copied once: the sums below read it as rows without copying
    g = {"Wxh": outer_sum(c["inp"], dpre) if summed is None else summed[0], "Whh": cell.grad_Whh(lp, c, dpre)}
    if "bh" in lp:
        g["bh"] = bias_grad(dpre) if summed is None else summed[1]
    return g


def run_window(cell, spec, lps, x, s0) -> list[dict]:
    """Every layer's cache over the steps of ``x``, from the states ``s0[l]`` entering them."""
    inp, layers = x, []
    for lp, s in zip(lps, s0):
        layers.append(layer_forward(cell, spec, lp, inp, s))
        inp = layers[-1]["h"][1:]  # (T, R, B, H): this layer's output is the next one's input
    return layers


def final_states(cell, c) -> tuple[np.ndarray, ...]:
    """The states after a layer cache's last step, copied (a view would keep the whole cache alive)."""
    return tuple(c[name][-1].copy() for name in cell.states)


# ---- the checkpointed forward pass ----

@dataclass(eq=False, repr=False)
class Checkpoints:
    """The cache of a truncated training step: what runs any window of its forward pass again.

    Not the forward cache (no ``"layers"``, ``"top"``): a model's ``state_grad_profile`` and
    ``state_before`` accept it and run the windows they need."""

    cell: Any
    spec: Any
    x: np.ndarray  # (T, R, B, I): the inputs, in the parameters' float
    lps: list  # each layer's parameters (plain names) the forward pass ran with
    window: int  # steps per window (window_size)
    states: list  # states[i][l]: layer l's states (a tuple of (R, B, H)) entering window i
    last: Optional[list] = None  # the last window's caches until the backward pass takes them

    @property
    def T(self) -> int:
        return self.x.shape[0]

    def __repr__(self) -> str:
        return f"Checkpoints(T={self.T}, window={self.window}, {len(self.states)} windows, {len(self.lps)} layers)"

    def __getitem__(self, key):
        raise TypeError(f"a truncated step's cache holds checkpoints, not the forward cache ({key!r}): "
                        "use the model's state_grad_profile / state_before, or network.forward for the full cache")

    def windows(self) -> Iterable[tuple[int, list[dict]]]:
        """``(first step, every layer's cache)`` of each window from the last to the first, each run
        again from its checkpoint when asked for (the last one taken from the forward pass if held)."""
        for i in reversed(range(len(self.states))):
            a = i * self.window
            if self.last is not None:
                layers, self.last = self.last, None
                yield a, layers
                del layers
            else:
                yield a, run_window(self.cell, self.spec, self.lps, self.x[a : a + self.window], self.states[i])

    def state_before(self, s: int) -> list[tuple[np.ndarray, ...]]:
        """Every layer's states entering step ``s`` (``s = T``: after the last step)."""
        i = min(s // self.window, len(self.states) - 1)
        a = i * self.window
        if s == a:
            return self.states[i]
        return [final_states(self.cell, c) for c in run_window(self.cell, self.spec, self.lps, self.x[a:s], self.states[i])]


def forward(cell, spec, lps, x, s0, window: int, emit: Callable) -> Checkpoints:
    """The forward pass over ``x: (T, R, B, I)`` from the states ``s0[l]``, one window at a time;
    ``emit(a, top)`` receives each window's top-layer outputs ``(W, R, B, H)`` (steps from ``a``)."""
    states, layers = [], None
    for a in range(0, x.shape[0], window):
        states.append(s0)
        layers = None  # the previous window's caches go before this one's are made
        layers = run_window(cell, spec, lps, x[a : a + window], s0)
        emit(a, layers[-1]["h"][1:])
        s0 = [final_states(cell, c) for c in layers]
    return Checkpoints(cell, spec, x, lps, window, states, last=layers)


# ---- truncated BPTT, window by window ----

def _window_lags(cell, spec, lps, layers, dtop, k, left, edges, keep_edges):
    """Lags ``j = 0..k`` over one window's steps (``left``: steps from its first to the sequence's
    end): at lag j, ``dS[l][s]`` is dL_{s+j}/d(states of layer l after step s); it comes from lag
    j-1 at step s+1 (through time; ``edges[l][j-1]`` for the window's last step, from the window
    after) and from layer l+1 at lag j (upwards). Returns dL/da summed over the lags, per layer,
    and this window's edges (lag j at its first step, j < k) for the window before. Each lag runs
    the cell back over the steps a loss reaches (``_reached``) when the window is finite; the
    others add 0 and pass zeros on."""
    L, n = len(layers), dtop.shape[0]
    for l in range(L):
        cell.prepare(spec, lps[l], layers[l])
    shape = dtop.shape[1:-1] + (cell.gates * spec.hidden, dtop.dtype)
    acc = [_ops.zeros(n, *shape) for _ in range(L)]
    buf = _ops.empty(n, *shape)  # every lag's dL/da, reused
    prev, mine = [None] * L, [[None] * k for _ in range(L)]
    finite = None  # whether the window is finite (_finite), asked when a lag first reaches only some steps
    for j in range(min(k, left - 1) + 1):
        m = min(n, left - j)  # the window's steps s with s + j inside the sequence
        carry = dtop[:m] if j == 0 else None  # the output layer feeds lag 0 only
        for l in range(L - 1, -1, -1):
            if j == 0:
                dS = (carry,) + tuple(np.zeros_like(carry) for _ in cell.states[1:])
            else:
                if prev[l][0].shape[0] > m:  # lag j-1 reached one step further in this window
                    dS = tuple(a[1 : m + 1] for a in prev[l])
                else:  # the last step's comes from the window after
                    dS = tuple(np.concatenate((a[1:], e[None])) for a, e in zip(prev[l], edges[l][j - 1]))
                if carry is not None:
                    dS = (dS[0] + carry,) + dS[1:]
            lo, hi = _reached(dS)
            if (lo, hi) != (0, m):
                finite = _finite(lps, layers) if finite is None else finite
                if not finite:  # 0 * inf is NaN: every step runs back
                    lo, hi = 0, m
            if lo == hi:  # no loss reaches this lag's steps: it adds 0 and passes zeros on
                prev[l] = tuple(np.zeros_like(a) for a in dS)
                carry = np.zeros((m,) + dS[0].shape[1:-1] + (lps[l]["Wxh"].shape[-2],), dS[0].dtype) if l else None
            else:
                dpre, part = cell.back(spec, lps[l], layers[l], slice(lo, hi), tuple(a[lo:hi] for a in dS),
                                       out=buf[lo:hi])
                acc[l][lo:hi] += dpre
                prev[l] = _padded(part, lo, m)
                carry = _padded((project(dpre, T_(lps[l]["Wxh"])),), lo, m)[0] if l else None
            if keep_edges and j < k:
                mine[l][j] = tuple(a[0].copy() for a in prev[l])
    return acc, mine


def _reached(dS) -> tuple[int, int]:
    """The first step and one past the last whose state gradients ``dS`` (a lag's, ``(m, R, B, H)``
    each) are not all 0: the steps a loss reaches at that lag; ``(0, 0)`` for none. On ``adding``
    (scored at its last step) one step a lag: a window's lags then run the cell back over that step
    alone, not over the window (exact when the window is finite: ``_finite``)."""
    m = dS[0].shape[0]
    if any(a[0].any() for a in dS) and any(a[m - 1].any() for a in dS):  # every step of copy's lags
        return 0, m
    reached = np.logical_or.reduce([a.any(axis=tuple(range(1, a.ndim))) for a in dS])
    steps = np.flatnonzero(reached)
    return (int(steps[0]), int(steps[-1]) + 1) if len(steps) else (0, 0)


def _padded(arrays, lo: int, m: int) -> tuple:
    """Arrays of the steps ``lo..`` of a lag as arrays of its ``m`` steps, 0 at the others."""
    if lo == 0 and arrays[0].shape[0] == m:
        return tuple(arrays)
    return tuple(at_steps(a, slice(lo, lo + a.shape[0]), m) for a in arrays)


def _unreached(dtop, edges) -> bool:
    """Whether no loss reaches a window's states: its ``dL/dtop`` is 0, and so is every lag arriving
    from the window after it (``edges``; None: none arrives)."""
    return not dtop.any() and (edges is None or not any(a.any() for layer in edges for lag in layer
                                                          if lag is not None for a in lag))


def _finite(lps, layers) -> bool:
    """Whether every weight and every array of a window's caches is finite: a gradient of 0 then stays
    exactly 0 through the window (``0 * inf`` would be NaN, which a skipped window must not lose)."""
    return all(np.isfinite(v).all() for lp in lps for v in lp.values()) and \
        all(np.isfinite(v).all() for c in layers for v in c.values() if isinstance(v, np.ndarray))


def truncated(cell, spec, lps, windows: Iterable, T: int, k: int, dtop_of: Callable) -> list[dict]:
    """Truncated BPTT (``Stack.backward``'s definition) over ``windows``: ``(first step, every
    layer's cache)`` from the last window to the first (a whole sequence's cache is one window).
    ``dtop_of(a, top) -> dL/dtop`` of the window's steps, from its top-layer outputs. Returns each
    layer's gradients (plain names).

    A window that no loss reaches (``_unreached``: no target in it, and the lags from the windows
    after it spent) adds exactly 0 when it is finite (``_finite``), so its ``k + 1`` lags are skipped:
    on a task scored at its last step only (``adding``) every window more than ``k`` steps before the
    end. Within a window each lag runs the cell backwards over the steps a loss reaches at that lag
    only (``_window_lags``, ``_reached``): where every step is scored (``copy``) all of them, so a
    truncated step does about ``k + 1`` times the backward work of full BPTT; on ``adding`` one step
    a lag. Measured at T = 1000, ``bptt.truncate=50``, hidden 64, 10 replicas, float32, an LSTM step
    on ``adding``: 17.6 s with every window's lags over every step, 1.79-1.86 s skipping the 15 of 16
    windows no loss reaches, 0.70-0.74 s running each lag over its reached step only (full BPTT:
    0.63 s); the rnn 4.15, 0.49 and 0.32 s; the gru at T = 500, ``bptt.truncate=20``, 3.94, 0.51 and
    0.24 s (each pair side by side, alternating)."""
    grads, edges = [None] * len(lps), None
    for a, layers in windows:
        dtop = dtop_of(a, layers[-1]["h"][1:])
        if grads[0] is not None and _unreached(dtop, edges) and _finite(lps, layers):
            edges = None  # every lag's gradient is 0 through this window: it adds nothing, sends nothing back
            del layers, dtop
            continue
        if edges is None and grads[0] is not None:  # after windows that sent nothing back
            zero = tuple(np.zeros(dtop.shape[1:-1] + (spec.hidden,), dtop.dtype) for _ in cell.states)
            edges = [[zero] * k for _ in lps]
        acc, edges = _window_lags(cell, spec, lps, layers, dtop, k, T - a, edges, a > 0)
        for l, lp in enumerate(lps):
            g = layer_grads(cell, lp, layers[l], acc[l])
            if grads[l] is None:
                grads[l] = g
            else:
                for name, v in g.items():
                    grads[l][name] += v
        del layers, dtop, acc  # before the next window is made
    return grads


def profile(cell, spec, lps, windows: Iterable, T: int, dtop_last) -> dict[str, np.ndarray]:
    """``Stack.state_grad_profile`` over ``windows`` (as for ``truncated``): full BPTT from the last
    step's loss, each layer's state gradient carried from one window to the one before."""
    L, R = len(lps), dtop_last.shape[0]
    sq = {name: np.zeros((R, T)) for name in cell.states}
    carried = [None] * L
    for a, layers in windows:
        n = layers[0]["h"].shape[0] - 1
        dout = np.zeros((n,) + dtop_last.shape, dtop_last.dtype)
        if a + n == T:
            dout[-1] = dtop_last
        for l in range(L - 1, -1, -1):
            lp = lps[l]

            def record(t, dS, lp=lp, c=layers[l]):
                for name, g in cell.state_grads(spec, lp, c, t, dS).items():
                    sq[name][:, a + t] += (g * g).sum(axis=(1, 2))

            dpre, carried[l] = layer_back(cell, spec, lp, layers[l], dout, carried[l], record)
            if l:
                dout = project(dpre, T_(lp["Wxh"]))
        del layers, dout, dpre, record  # before the next window is made
    sq[cell.states[0]][:, T - 1] += (dtop_last * dtop_last).sum(axis=(1, 2))  # h_T of the top layer
    return {k: np.sqrt(v) for k, v in sq.items()}
