"""Stacked recurrent layers built from a *cell*: ``Stack(cell)`` is the model (forward, BPTT full or
truncated, the state-gradient profile, the state layout) of ``rnn``, ``lstm`` and ``gru``; ``birnn``
uses the layer functions below in both directions.

A cell is a small class in its model's module that knows one layer's step:

- ``gates``: G; the layer's pre-activations ``a_t = inp_t Wxh + state Whh (+ bh)`` are ``G * H`` wide.
- ``states``: names of the state arrays a step carries, ``"h"`` first (``("h", "c")`` for an LSTM).
- ``init_bias(spec, R, H) -> (R, 1, G*H)``.
- ``run(spec, lp, xw, s0) -> cache``: every step, given the input projections ``xw = inp Wxh + bh``
  ``(T, R, B, G*H)`` and the initial states ``s0`` (a tuple of ``(R, B, H)``). The cache holds each
  state's sequence ``name -> (T+1, R, B, H)`` and the per-step arrays backward needs, all with a
  leading time axis.
- ``prepare(spec, lp, cache)``: derivatives for backward, computed once for all steps.
- ``back(spec, lp, cache, t, dS, out=None) -> (dpre, dS_prev)``: one step backwards. ``dS`` is
  dL/d(states after step t); returns dL/da_t (written into ``out`` when given) and dL/d(states
  before step t), as new arrays. ``t`` is a step or a slice of
  steps: truncated BPTT runs every step of one lag at once, so ``back`` uses only element-wise
  operations and broadcasting matmuls.
- ``grad_Whh(lp, cache, dpre) -> (R, H, G*H)``.
- ``state_grads(spec, lp, cache, t, dS) -> {name: array}``: what the profile measures.

Layer l's parameters are ``Wxh, Whh, bh`` (layer 0) and ``Wxh_l1, Whh_l1, bh_l1``, ... (birnn's
backward direction adds ``_b`` before the layer suffix). ``lp`` is one layer's parameters under the
plain names.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import init
from . import _ops
from ._ops import T_, bias_grad, outer_sum, project

BASE = ("Wxh", "Whh", "bh")


def n_layers(spec) -> int:
    return int(spec.options.get("layers", 1))


def pname(base: str, layer: int, tag: str = "") -> str:
    """Parameter name of ``base`` for ``layer`` (and direction ``tag``)."""
    return f"{base}{tag}" + (f"_l{layer}" if layer else "")


@functools.lru_cache(maxsize=None)
def _layer_names(layer: int, tag: str) -> tuple[tuple[str, str], ...]:
    return tuple((b, pname(b, layer, tag)) for b in BASE)


def layer_params(params, layer: int, tag: str = "") -> dict[str, np.ndarray]:
    return {b: params[name] for b, name in _layer_names(layer, tag) if name in params}


def gate_weights(rngs, scheme: str, n_in: int, H: int, G: int, *, recurrent=False, scale=1.0) -> np.ndarray:
    """``(R, n_in, G*H)``: one ``(n_in, H)`` block per gate, each drawn by ``scheme``, so an
    orthogonal recurrent init makes every gate's block orthogonal and an identity init makes every
    gate's block ``scale * I`` (``Whh = scale * [I, ..., I]``: its largest singular value is then
    ``scale * sqrt(G)``). G = 1 draws exactly as the plain Elman RNN does."""
    return np.concatenate([init.weights(rngs, scheme, (n_in, H), recurrent=recurrent, scale=scale)
                           for _ in range(G)], axis=-1)


def init_params(cell, spec, rngs, *, tag: str = "", n_in: int | None = None, n_upper: int | None = None):
    """Every layer's ``Wxh, Whh, bh``; layer 0 reads ``n_in`` features, the others ``n_upper``."""
    H, G, R = spec.hidden, cell.gates, len(rngs)
    n_in = spec.n_in if n_in is None else n_in
    n_upper = H if n_upper is None else n_upper
    p = {}
    for l in range(n_layers(spec)):
        p[pname("Wxh", l, tag)] = gate_weights(rngs, spec.init, n_in if l == 0 else n_upper, H, G,
                                               scale=spec.input_scale)
        p[pname("Whh", l, tag)] = gate_weights(rngs, spec.init, H, H, G, recurrent=True, scale=spec.scale)
        if spec.bias:
            p[pname("bh", l, tag)] = cell.init_bias(spec, R, H)
    return p


def block_diag(mats: list[np.ndarray]) -> np.ndarray:
    """``[(R, P_i, Q_i)] -> (R, sum P, sum Q)`` with the matrices on the diagonal."""
    if len(mats) == 1:
        return mats[0]
    R = mats[0].shape[0]
    out = np.zeros((R, sum(m.shape[1] for m in mats), sum(m.shape[2] for m in mats)))
    i = j = 0
    for m in mats:
        out[:, i : i + m.shape[1], j : j + m.shape[2]] = m
        i, j = i + m.shape[1], j + m.shape[2]
    return out


def recurrent_weights(params) -> np.ndarray:
    """Every ``Whh*`` matrix, block-diagonally: its largest singular value is the largest of theirs."""
    return block_diag([params[k] for k in sorted(params) if k.startswith("Whh")])


# ---- state layout: (K, R, B, H), K = layers x states, squeezed to (R, B, H) when K = 1 ----

def initial_state(cell, spec, R: int, B: int) -> np.ndarray:
    K = n_layers(spec) * len(cell.states)
    shape = (R, B, spec.hidden) if K == 1 else (K, R, B, spec.hidden)
    return np.zeros(shape)


def split_state(cell, spec, h0, R: int, B: int) -> list[tuple[np.ndarray, ...]]:
    """The state array -> one tuple of ``(R, B, H)`` states per layer."""
    L, S = n_layers(spec), len(cell.states)
    if h0 is None:
        zero = np.zeros((R, B, spec.hidden))  # read only: every initial state can share it
        return [(zero,) * S for _ in range(L)]
    h0 = np.reshape(h0, (L * S, R, B, spec.hidden))
    return [tuple(h0[l * S + i] for i in range(S)) for l in range(L)]


def join_state(states: list[tuple[np.ndarray, ...]]) -> np.ndarray:
    flat = [s for layer in states for s in layer]
    return flat[0] if len(flat) == 1 else np.stack(flat)


def state_before(cell, cache, s: int) -> np.ndarray:
    """The state entering step ``s`` (all layers), in the layout of ``initial_state``."""
    return join_state([tuple(c[name][s] for name in cell.states) for c in cache["layers"]])


# ---- one layer ----

def layer_forward(cell, spec, lp, inp, s0) -> dict:
    """One layer over all steps: ``inp: (T, R, B, n)`` -> cache (``cache["h"][1:]`` is its output)."""
    xw = project(inp, lp["Wxh"])  # (T, R, B, G*H): input projections for all steps at once
    if "bh" in lp:
        xw += lp["bh"]
    c = cell.run(spec, lp, xw, s0)
    c["inp"] = inp
    return c


def layer_backward(cell, spec, lp, c, dout, record=None) -> np.ndarray:
    """Full BPTT through one layer from ``dout = dL/dh_t`` (from above or the output layer),
    ``(T, R, B, H)`` -> ``dL/da_t`` ``(T, R, B, G*H)``. ``record(t, dS)`` sees the gradient that
    step t+1 sends back to the states after step t (before ``dout[t]`` is added)."""
    cell.prepare(spec, lp, c)
    T, R, B, _ = dout.shape
    dpre = _ops.empty(T, R, B, cell.gates * spec.hidden, dout.dtype)  # replica-major: layer_grads reads it as rows
    dS = tuple(np.zeros_like(dout[0]) for _ in cell.states)
    for t in range(T - 1, -1, -1):
        if record is not None:
            record(t, dS)
        dS[0][...] += dout[t]  # h_t feeds both the layer above / output and step t+1 (dS is ours: in place)
        _, dS = cell.back(spec, lp, c, t, dS, out=dpre[t])
    return dpre


def layer_grads(cell, lp, c, dpre) -> dict[str, np.ndarray]:
    dpre = _ops.replica_major(dpre)  # copied once: the sums below read it as rows without copying
    g = {"Wxh": outer_sum(c["inp"], dpre), "Whh": cell.grad_Whh(lp, c, dpre)}
    if "bh" in lp:
        g["bh"] = bias_grad(dpre)
    return g


# ---- the model: a stack of layers of one kind of cell ----

class Stack:
    """The ``Model`` protocol (``rnnexp.engine.models``) for stacked layers of ``cell``.

    A cell-based model module ends with ``MODEL = _stack.Stack(Cell)``: the cell is all it writes,
    and these methods are the code that runs it.
    """

    def __init__(self, cell):
        self.cell = cell

    def __repr__(self) -> str:
        return f"Stack({self.cell.__module__}.{self.cell.__qualname__})"

    def top_size(self, spec) -> int:
        return spec.hidden

    def initial_state(self, spec, R: int, B: int) -> np.ndarray:
        return initial_state(self.cell, spec, R, B)

    def init_params(self, spec, rngs) -> dict[str, np.ndarray]:
        return init_params(self.cell, spec, rngs)

    def recurrent_weights(self, params) -> np.ndarray:
        return recurrent_weights(params)

    def state_before(self, spec, cache, s: int) -> np.ndarray:
        return state_before(self.cell, cache, s)

    def forward(self, spec, params, x, h0=None):
        cell = self.cell
        T, R, B, _ = x.shape
        s0 = split_state(cell, spec, h0, R, B)
        inp, layers = x, []
        for l in range(n_layers(spec)):
            c = layer_forward(cell, spec, layer_params(params, l), inp, s0[l])
            layers.append(c)
            inp = c["h"][1:]  # (T, R, B, H): this layer's output is the next one's input
        return inp, {"x": x, "h": layers[-1]["h"], "layers": layers}

    def backward(self, spec, params, cache, dtop, truncate=None):
        cell, layers = self.cell, cache["layers"]
        L, T = len(layers), dtop.shape[0]
        lps = [layer_params(params, l) for l in range(L)]
        if truncate is None or truncate >= T - 1:
            dpres, dout = [None] * L, dtop
            for l in range(L - 1, -1, -1):
                dpres[l] = layer_backward(cell, spec, lps[l], layers[l], dout)
                if l:
                    dout = project(dpres[l], T_(lps[l]["Wxh"]))  # dL/d(outputs of layer l-1)
        else:
            dpres = self._truncated(spec, lps, layers, dtop, truncate)
        grads = {}
        for l in range(L):
            grads.update({pname(k, l): v for k, v in layer_grads(cell, lps[l], layers[l], dpres[l]).items()})
        return grads

    def _truncated(self, spec, lps, layers, dtop, k):
        """Truncated BPTT, one lag j = 0..k at a time over all steps and layers.

        Step t's loss reaches the states of steps t-k..t of *every* layer (the window is anchored at
        the loss, as in the gradient oracle): at lag j, ``dS[l][s]`` is dL_{s+j}/d(states of layer l
        after step s); it comes from lag j-1 at step s+1 (through time) and from layer l+1 at lag j
        (upwards).
        """
        cell = self.cell
        L, T = len(layers), dtop.shape[0]
        for l in range(L):
            cell.prepare(spec, lps[l], layers[l])
        acc = [_ops.zeros(*dtop.shape[:-1], cell.gates * spec.hidden, dtop.dtype) for _ in range(L)]
        buf = _ops.empty(*dtop.shape[:-1], cell.gates * spec.hidden, dtop.dtype)  # every lag's dL/da, reused
        prev = [None] * L  # dL/d(states before step s) at the previous lag, s = 0..T-j
        for j in range(k + 1):
            n = T - j
            carry = dtop[:n] if j == 0 else None  # the output layer feeds lag 0 only
            for l in range(L - 1, -1, -1):
                if j == 0:
                    dS = (carry,) + tuple(np.zeros_like(carry) for _ in cell.states[1:])
                else:
                    dS = tuple(a[1:] for a in prev[l])
                    if carry is not None:
                        dS = (dS[0] + carry,) + dS[1:]
                dpre, prev[l] = cell.back(spec, lps[l], layers[l], slice(0, n), dS, out=buf[:n])
                acc[l][:n] += dpre
                carry = project(dpre, T_(lps[l]["Wxh"])) if l else None
        return acc

    def state_grad_profile(self, spec, params, cache, dtop_last):
        """``||dL_T/d state_t||`` over batch, units and layers, t = 1..T: ``{name: (R, T)}``.

        ``state_t`` is what the network carries from step t to step t+1 (every layer's states; what
        ``state_before(t + 1)`` returns), and the derivatives are partial: each state slice moves
        alone. At t = T only the top layer's h reaches L_T (through the output layer), so the other
        slices (an LSTM's c_T, lower layers' h_T) count 0 there.
        """
        cell, layers = self.cell, cache["layers"]
        L = len(layers)
        T, R = layers[0]["h"].shape[0] - 1, dtop_last.shape[0]
        sq = {name: np.zeros((R, T)) for name in cell.states}
        dout = np.zeros((T,) + dtop_last.shape, dtop_last.dtype)
        dout[-1] = dtop_last
        for l in range(L - 1, -1, -1):
            lp = layer_params(params, l)

            def record(t, dS, lp=lp, c=layers[l]):
                for name, g in cell.state_grads(spec, lp, c, t, dS).items():
                    sq[name][:, t] += (g * g).sum(axis=(1, 2))

            dpre = layer_backward(cell, spec, lp, layers[l], dout, record)
            if l:
                dout = project(dpre, T_(lp["Wxh"]))
        sq[cell.states[0]][:, T - 1] += (dtop_last * dtop_last).sum(axis=(1, 2))  # h_T of the top layer
        return {k: np.sqrt(v) for k, v in sq.items()}
