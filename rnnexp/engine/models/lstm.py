"""LSTM (Hochreiter & Schmidhuber 1997, with a forget gate: Gers et al. 2000), optionally stacked.

    [i, f, o] = sigmoid(x_t Wxh + h_{t-1} Whh + bh)[:3H]      input, forget, output gates
    g_t       = act(...)[3H:]                                 candidate
    c_t       = f * c_{t-1} + i * g_t                         cell state
    h_t       = o * act(c_t)

``act`` is the ``activation`` setting (tanh by default), applied to the candidate and to the cell
output like Keras' ``activation`` argument; the gates are always sigmoid. Shapes: ``Wxh: (R, I, 4H)``,
``Whh: (R, H, 4H)``, ``bh: (R, 1, 4H)``, gate blocks in the order i, f, o, g. The state is
``(2L, R, B, H)``: h and c of each layer. ``bh``'s forget block starts at ``model.forget_bias``
(Jozefowicz et al. 2015: 1.0 keeps the cell's memory early in training).

``state_grad_profile`` gives ``{"h", "c": (R, T)}``: partial derivatives of the carried state
(h_t, c_t); c_T reaches L_T only through h_T, so the c profile is 0 at t = T.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import init
from ..activations import sigmoid
from . import ModelConf, _fused, _ops, _stack
from ._ops import T_, outer_sum


@dataclass
class Conf(ModelConf):
    name: str = "lstm"
    forget_bias: float = 1.0  # initial forget-gate bias (only with bias=true)


RULES = {"model.forget_bias": (lambda v: math.isfinite(v), "a finite number")}


class Cell:
    # a float32 step runs as one replica group up to this many bytes a replica (hidden 64, T = 1000
    # is 8.4 MB): the per-step products gain more from NumPy's matmul over replicas than the
    # caches lose (measured in ``network``'s note on replica groups)
    fused_group_min_bytes = 12 * 2**20
    gates = 4
    states = ("h", "c")
    # float32: back_layer's kernel sums the input-weight and bias gradients of a layer whose inputs
    # run_inputs projected in the kernel (no BLAS product for them; the benchmark's floor reads this)
    sums_input_grads = True

    @staticmethod
    def takes_output_grads(hidden: int, outputs: int) -> bool:
        """Whether ``back_layer`` of the top layer should take ``top = (dz, Why)`` and add ``dz_t Why^T``
        in its float32 kernel rather than be given ``dL/dtop``. Yes but for several outputs at a hidden
        size below 32: the kernel's loop over a problem's H numbers runs unvectorised there (LLVM
        vectorises 32 at a time). Measured on the backward pass alone at T = 1000, 10 replicas, batch 32
        (the kernel with the sum, against NumPy's product plus the kernel): hidden 64, 10 outputs 80
        against 89 ms; hidden 64, 1 output (scored at one step) 65 against 88; hidden 16, 10 outputs
        45 against 41."""
        return hidden >= 32 or outputs == 1

    @staticmethod
    def init_bias(spec, R, H):
        b = init.zeros(R, 4 * H)
        b[..., H : 2 * H] = float(spec.options.get("forget_bias", Conf.forget_bias))
        return b

    @staticmethod
    def run(spec, lp, xw, s0):
        if _fused.use(xw.dtype):  # float32: the element-wise work compiled, one pass per step
            return _run_fused(spec, lp, s0, xw.shape, "lstm_forward", _fused.replica_rows(xw))
        T, R, B, G = xw.shape
        H = G // 4
        act, Whh = spec.act.f, lp["Whh"]
        gates = np.empty((T, R, B, G), xw.dtype)  # post-activation i, f, o, g
        h = np.empty((T + 1, R, B, H), xw.dtype)
        c = np.empty((T + 1, R, B, H), xw.dtype)
        k = np.empty((T, R, B, H), xw.dtype)  # act(c_t)
        h[0], c[0] = s0
        for t in range(T):
            a = np.matmul(h[t], Whh, out=gates[t])  # (R, B, 4H)
            a += xw[t]
            sigmoid(a[..., : 3 * H], out=a[..., : 3 * H])
            act(a[..., 3 * H :], out=a[..., 3 * H :])
            np.multiply(a[..., H : 2 * H], c[t], out=c[t + 1])  # f * c_{t-1}
            c[t + 1] += np.multiply(a[..., :H], a[..., 3 * H :], out=k[t])  # + i * g (k[t] as scratch)
            act(c[t + 1], out=k[t])
            np.multiply(a[..., 2 * H : 3 * H], k[t], out=h[t + 1])  # o * act(c_t)
        return {"h": h, "c": c, "h_prev": h[:-1], "c_prev": c[:-1], "gates": gates, "k": k}

    @staticmethod
    def run_inputs(spec, lp, inp, s0):
        """``run`` from the layer's inputs ``(T, R, B, I)`` instead of their projections, when the
        kernel projects them itself (float32, ``I <= _fused.PROJECT_IN_KERNEL``: a task's own inputs); else
        None (``_windows.layer_forward`` projects them and calls ``run``).

        Why: at T = 1000 the projections ``(T, R, B, 4H)`` are written, have the bias added and are
        read back, three passes over memory for 2 numbers a step (``adding``); a kernel does the
        product from the inputs in the registers (measured: a step 12-23 % faster at T = 1000), and
        skips the inputs that are 0 (a one-hot input of 10 numbers costs one product, not ten)."""
        inputs = _fused.projection_inputs(lp, inp)
        if inputs is None:
            return None
        c = _run_fused(spec, lp, s0, inp.shape[:3] + (lp["Wxh"].shape[-1],), "lstm_forward_in", *inputs)
        c["projected"] = inputs[0]  # the inputs, C-contiguous: back_layer's kernel sums their gradients
        return c

    @staticmethod
    def prepare(spec, lp, c):
        if "dgates" not in c and not _fused.use(c["gates"].dtype):  # the kernels take them per element
            g = c["gates"]
            H = g.shape[-1] // 4
            d = np.empty_like(g)  # d(gate)/d(pre-activation), from the cached outputs
            s = g[..., : 3 * H]
            np.multiply(s, 1.0 - s, out=d[..., : 3 * H])
            d[..., 3 * H :] = spec.act.df(g[..., 3 * H :])
            c["dgates"] = d
            c["dk"] = spec.act.df(c["k"])  # act'(c_t), (T, R, B, H)

    @staticmethod
    def back(spec, lp, c, t, dS, out=None):
        dh, dc_next = dS
        g = c["gates"][t]
        if _fused.use(g.dtype):  # the kernel reads the caches in place from the steps' index
            steps = range(c["gates"].shape[0])[t]
            t0 = steps if isinstance(steps, int) else steps.start
            assert isinstance(steps, int) or steps.step == 1, "a slice of consecutive steps"
            d, dc = _fused.scratch(g, out), np.empty(dh.shape, g.dtype)
            gm, cm, km = (_ops.memory(c[name]) for name in ("gates", "c", "k"))
            _fused.call("lstm_backward", gm, cm, km, t0, dh, dc_next, d, dc, _fused.code(spec.act))
            return _fused.written(d, out), (d @ T_(lp["Whh"]), dc)
        H = g.shape[-1] // 4
        i, f, o, gg = g[..., :H], g[..., H : 2 * H], g[..., 2 * H : 3 * H], g[..., 3 * H :]
        dc = np.multiply(dh, o)  # c_t reaches the loss through h_t and through c_{t+1}:
        dc *= c["dk"][t]
        dc += dc_next  # dc = dc_next + dh * o * act'(c_t), in one new array
        dpre = np.empty(g.shape, g.dtype) if out is None else out
        np.multiply(dc, gg, out=dpre[..., :H])  # dL/di
        np.multiply(dc, c["c_prev"][t], out=dpre[..., H : 2 * H])  # dL/df
        np.multiply(dh, c["k"][t], out=dpre[..., 2 * H : 3 * H])  # dL/do
        np.multiply(dc, i, out=dpre[..., 3 * H :])  # dL/dg
        dpre *= c["dgates"][t]  # through the nonlinearities: dL/da_t, (.., R, B, 4H)
        dc *= f  # dc is this step's own array: scaled in place
        return dpre, (dpre @ T_(lp["Whh"]), dc)

    @staticmethod
    def back_layer(spec, lp, c, dout, dS=None, spend=False, top=None):
        """Full BPTT through the layer in float32 (``_windows.layer_back``'s loop, for the compiled
        kernels), or None (float64: the generic loop over ``back``).

        Per step one kernel call and one matmul, with nothing copied: the kernel turns step t's
        gates into ``dL/da_t`` in place (``_kernels_lstm._lstm_backward_row`` says why), reading the
        other caches in place; ``dc`` is updated in place, the matmul writes ``dL/dh_{t-1}`` over
        ``dh`` and multiplies by a C-contiguous copy of ``Whh^T`` (a transposed view made BLAS 1.6x
        slower at hidden 64). ``spend``: the cache is not read again (a training step's), so the
        gates themselves become ``dL/da`` and leave the cache; otherwise a copy of them does (one
        pass over memory, what writing a new array costs anyway). ``top = (dz, Why)`` (the top layer;
        ``dout`` is then None): the kernel adds ``dL/dh_t = dz_t Why^T`` itself, per problem."""
        g = c["gates"]
        if not _fused.use(g.dtype):
            return None
        T, R, B, G = g.shape
        if spend:
            dpre = c.pop("gates")
        else:
            dpre = _ops.empty(T, R, B, G, g.dtype)
            np.copyto(_ops.memory(dpre), _ops.memory(g))
        dh, dc = _ops.carried(dS, 2, (R, B, G // 4), g.dtype)  # the kernel and the matmul write them in place
        WhhT = np.ascontiguousarray(T_(lp["Whh"]))
        rm, cm, km = (_ops.memory(a) for a in (dpre, c["c"], c["k"]))
        step, code = _fused.kernel("lstm_backward_into"), _fused.code(spec.act)
        sums = _fused.input_sums(c, G)  # the bias and input-weight gradients, summed in the kernel
        outs = _fused.output_grads(*(top or (None, None)), (T, R, B, G // 4))  # dL/dh_t from dz_t, in the kernel
        for t in range(T - 1, -1, -1):
            if top is None:
                dh += dout[t]
            step(rm, cm, km, t, dh, dc, code, *sums, *outs)
            np.matmul(dpre[t], WhhT, out=dh)
        _fused.keep_input_grads(c, dpre, sums)
        return dpre, (dh, dc)

    @staticmethod
    def grad_Whh(lp, c, dpre):
        return outer_sum(c["h_prev"], dpre)

    @staticmethod
    def state_grads(spec, lp, c, t, dS):
        return {"h": dS[0], "c": dS[1]}


def _run_fused(spec, lp, s0, shape, kernel, *inputs):
    """``Cell.run`` in float32: per step the recurrent matmul, then ``kernel`` (``_kernels``) on
    ``inputs`` (the projections, or the inputs and ``Wxh, bh``) for the rest of the step."""
    T, R, B, G = shape
    H, dtype = G // 4, lp["Whh"].dtype
    # the gates (post-activation i, f, o, g), h, c, k in replica-major memory: the kernels index it
    # whole, BPTT's gradient sums read h and dL/da (written over the gates) as rows without a copy
    gates = _ops.empty(T, R, B, G, dtype)
    h, c, k = (_ops.empty(n, R, B, H, dtype) for n in (T + 1, T + 1, T))
    h[0], c[0] = s0
    gm, hm, cm, km = (_ops.memory(a) for a in (gates, h, c, k))
    step, code, Whh = _fused.kernel(kernel), _fused.code(spec.act), lp["Whh"]
    for t in range(T):
        np.matmul(h[t], Whh, out=gates[t])
        step(gm, *inputs, t, cm, km, hm, code)
    return {"h": h, "c": c, "h_prev": h[:-1], "c_prev": c[:-1], "gates": gates, "k": k}


MODEL = _stack.Stack(Cell)  # the model: stacked layers of this cell (the Model protocol, rnnexp.engine.models)
