"""Stacked recurrent layers built from a *cell*: ``Stack(cell)`` is the model (forward, BPTT full or
truncated, the state-gradient profile, the state layout) of ``rnn``, ``lstm`` and ``gru``; ``birnn``
uses the layer functions (``layer_forward``, ``layer_backward``, ``layer_grads``, from ``_windows``)
in both directions. A truncated training step runs in windows from checkpoints (``_windows``:
``forward_windows``, ``backward_windows``), so its memory is bounded by the truncation, not by T.

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

Two optional shortcuts, for a cell whose float32 step runs compiled kernels (``_fused``); each
returns None when it does not apply, and the generic path runs:

- ``run_inputs(spec, lp, inp, s0) -> cache | None``: ``run`` from the layer's inputs rather than
  their projections (the LSTM projects a few inputs inside its kernel).
- ``back_layer(spec, lp, cache, dout, dS, spend, top) -> (dpre, dS_prev) | None``: full BPTT through
  the layer (``_windows.layer_back`` without a ``record``), the cell's own loop over the steps. With
  ``spend`` the cache is not read again (``Stack.backward`` of a cache marked ``"spend"``), and the
  loop may write ``dL/da`` over what it no longer needs. ``top = (dz, Why)`` replaces ``dout`` only
  for a cell with ``takes_output_grads(hidden, outputs) -> bool`` saying yes (``Stack.backward_from_output``).

And an optional attribute, ``fused_group_min_bytes``: a float32 step of at most this many bytes per
replica's ``(T, B, hidden)`` array runs all replicas as one group (``network.replica_group_size``;
``Stack`` passes it on to the network).

Layer l's parameters are ``Wxh, Whh, bh`` (layer 0) and ``Wxh_l1, Whh_l1, bh_l1``, ... (birnn's
backward direction adds ``_b`` before the layer suffix). ``lp`` is one layer's parameters under the
plain names.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import init
from . import _fused, _windows
from ._ops import T_, project
from ._windows import layer_backward, layer_forward, layer_grads  # noqa: F401 (birnn's too)

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
        zero = np.zeros((R, B, spec.hidden), spec.dtype)  # read only: every initial state can share it
        return [(zero,) * S for _ in range(L)]
    h0 = np.reshape(h0, (L * S, R, B, spec.hidden))
    return [tuple(h0[l * S + i] for i in range(S)) for l in range(L)]


def join_state(states: list[tuple[np.ndarray, ...]]) -> np.ndarray:
    flat = [s for layer in states for s in layer]
    return flat[0] if len(flat) == 1 else np.stack(flat)


def state_before(cell, cache, s: int) -> np.ndarray:
    """The state entering step ``s`` (all layers), in the layout of ``initial_state``."""
    return join_state([tuple(c[name][s] for name in cell.states) for c in cache["layers"]])


# ---- the model: a stack of layers of one kind of cell ----

class Stack:
    """The ``Model`` protocol (``rnnexp.engine.models``) for stacked layers of ``cell``.

    A cell-based model module ends with ``MODEL = _stack.Stack(Cell)``: the cell is all it writes,
    and these methods are the code that runs it.
    """

    def __init__(self, cell):
        self.cell = cell
        # optional (``network.replica_group_size``): a float32 step of at most this many bytes per
        # replica's (T, B, hidden) array runs all replicas as one group
        self.fused_group_min_bytes = getattr(cell, "fused_group_min_bytes", 0)

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
        if isinstance(cache, _windows.Checkpoints):  # a truncated step's: runs to step s from a checkpoint
            return join_state(cache.state_before(s))
        return state_before(self.cell, cache, s)

    def forward(self, spec, params, x, h0=None):
        cell = self.cell
        T, R, B, _ = x.shape
        lps = [layer_params(params, l) for l in range(n_layers(spec))]
        layers = _windows.run_window(cell, spec, lps, x, split_state(cell, spec, h0, R, B))
        return layers[-1]["h"][1:], {"x": x, "h": layers[-1]["h"], "layers": layers}

    def forward_windows(self, spec, params, x, h0, emit) -> _windows.Checkpoints:
        """The forward pass of a truncated step (``spec.truncate < T - 1``) in windows, keeping only
        the states entering each (``_windows``): ``emit(a, top)`` receives the top layer's outputs of
        each window (steps from ``a``), in order. The checkpoints are the cache for
        ``backward_windows``, ``state_grad_profile`` and ``state_before``."""
        T, R, B, _ = x.shape
        lps = [layer_params(params, l) for l in range(n_layers(spec))]
        return _windows.forward(self.cell, spec, lps, x, split_state(self.cell, spec, h0, R, B),
                                _windows.window_size(spec.truncate), emit)

    def backward_windows(self, spec, params, cache: _windows.Checkpoints, dtop_of) -> dict[str, np.ndarray]:
        """Truncated BPTT (``spec.truncate``) window by window from the last, each window's forward
        pass run again from its checkpoint; ``dtop_of(a, top) -> dL/dtop`` of a window's steps."""
        lps = [layer_params(params, l) for l in range(len(cache.lps))]
        per_layer = _windows.truncated(self.cell, spec, lps, cache.windows(), cache.T, spec.truncate, dtop_of)
        return {pname(k, l): v for l, g in enumerate(per_layer) for k, v in g.items()}

    def backward(self, spec, params, cache, dtop, truncate=None):
        """BPTT from a whole sequence's cache (``forward``). Truncated BPTT (``truncate=k``): step t's
        loss reaches the states of steps t-k..t of *every* layer (the window is anchored at the
        loss, as in the gradient oracle), one lag at a time (``_windows.truncated``, the whole
        sequence as one window; a training step runs it in windows: ``backward_windows``)."""
        cell, layers = self.cell, cache["layers"]
        L, T = len(layers), dtop.shape[0]
        lps = [layer_params(params, l) for l in range(L)]
        if truncate is not None and truncate < T - 1:
            per_layer = _windows.truncated(cell, spec, lps, [(0, layers)], T, truncate, lambda a, top: dtop)
            return {pname(k, l): v for l, g in enumerate(per_layer) for k, v in g.items()}
        return self._full(spec, lps, cache, dtop)

    def backward_from_output(self, spec, params, cache, dz):
        """``backward`` (full BPTT) from the logits' gradients ``dz: (T, R, B, O)`` rather than from
        ``dL/dtop = dz Why^T``, when the top layer's cell adds ``dz_t Why^T`` in its own loop
        (its ``takes_output_grads(hidden, outputs)`` says yes: the LSTM's float32 kernel, so that
        ``dL/dtop`` is never written out); else None, and the caller projects ``dz`` and calls
        ``backward``."""
        T, takes = dz.shape[0], getattr(self.cell, "takes_output_grads", None)
        if (takes is None or not _fused.use(dz.dtype) or not takes(spec.hidden, dz.shape[-1])
                or (spec.truncate is not None and spec.truncate < T - 1)):
            return None
        lps = [layer_params(params, l) for l in range(len(cache["layers"]))]
        return self._full(spec, lps, cache, None, (dz, params["Why"]))

    def _full(self, spec, lps, cache, dtop, top=None):
        """Full BPTT through every layer from ``dtop`` (or the top layer's ``top = (dz, Why)``)."""
        cell, layers = self.cell, cache["layers"]
        L = len(layers)
        spend = cache.pop("spend", False)  # network.loss_and_grads(keep_cache=False): read once, here
        cache["spent"] = spend
        dpres, dout = [None] * L, dtop
        for l in range(L - 1, -1, -1):
            dpres[l] = layer_backward(cell, spec, lps[l], layers[l], dout, spend=spend, top=top if l == L - 1 else None)
            if l:
                dout = project(dpres[l], T_(lps[l]["Wxh"]))  # dL/d(outputs of layer l-1)
        grads = {}
        for l in range(L):
            grads.update({pname(k, l): v for k, v in layer_grads(cell, lps[l], layers[l], dpres[l]).items()})
        return grads

    def state_grad_profile(self, spec, params, cache, dtop_last):
        """``||dL_T/d state_t||`` over batch, units and layers, t = 1..T: ``{name: (R, T)}``.

        ``state_t`` is what the network carries from step t to step t+1 (every layer's states; what
        ``state_before(t + 1)`` returns), and the derivatives are partial: each state slice moves
        alone. At t = T only the top layer's h reaches L_T (through the output layer), so the other
        slices (an LSTM's c_T, lower layers' h_T) count 0 there. From a truncated step's checkpoints
        the windows are run again one at a time (``_windows.profile``).
        """
        if isinstance(cache, _windows.Checkpoints):
            windows, T = cache.windows(), cache.T
        else:
            windows, T = [(0, cache["layers"])], cache["layers"][0]["h"].shape[0] - 1
        lps = [layer_params(params, l) for l in range(n_layers(spec))]
        return _windows.profile(self.cell, spec, lps, windows, T, dtop_last)
