"""GRU (Cho et al. 2014, the original form: the reset gate acts before the recurrent matmul),
optionally stacked.

    [z, r] = sigmoid(x_t Wxh + h_{t-1} Whh + bh)[:2H]                 update, reset gates
    n_t    = act(x_t Wxh[:, 2H:] + (r * h_{t-1}) Whh[:, 2H:] + bh[2H:])  candidate
    h_t    = (1 - z) * n_t + z * h_{t-1}

``act`` is the ``activation`` setting (tanh by default), applied to the candidate like Keras'
``activation`` argument; the gates are always sigmoid. Shapes: ``Wxh: (R, I, 3H)``,
``Whh: (R, H, 3H)``, ``bh: (R, 1, 3H)``, gate blocks in the order z, r, n. The state is h only.
"""
from __future__ import annotations

import numpy as np

from .. import init
from ..activations import sigmoid
from . import _fused, _ops, _stack
from ._ops import T_, outer_sum


class Cell:
    # a float32 step runs as one replica group up to this many bytes a replica (hidden 64, T = 1000
    # is 8.4 MB): the per-step products gain more from NumPy's matmul over replicas than the
    # caches lose (measured in ``network``'s note on replica groups)
    fused_group_min_bytes = 12 * 2**20
    gates = 3
    states = ("h",)

    @staticmethod
    def init_bias(spec, R, H):
        return init.zeros(R, 3 * H)

    @staticmethod
    def run(spec, lp, xw, s0):
        if _fused.use(xw.dtype):  # float32: the element-wise work compiled, one pass per product
            return _run_fused(spec, lp, s0, xw.shape, "", _fused.replica_rows(xw))
        T, R, B, G = xw.shape
        H = G // 3
        act = spec.act.f
        Wzr = np.ascontiguousarray(lp["Whh"][..., : 2 * H])  # (R, H, 2H)
        Wn = np.ascontiguousarray(lp["Whh"][..., 2 * H :])  # (R, H, H)
        h = np.empty((T + 1, R, B, H), xw.dtype)
        gates = np.empty((T, R, B, G), xw.dtype)  # post-activation z, r, n
        rh = np.empty((T, R, B, H), xw.dtype)  # r * h_{t-1}: what Whh[:, 2H:] multiplies
        h[0] = s0[0]
        zr, pre_n = np.empty((R, B, 2 * H), xw.dtype), np.empty((R, B, H), xw.dtype)  # reused every step
        for t in range(T):
            a = gates[t]
            np.matmul(h[t], Wzr, out=zr)
            zr += xw[t, ..., : 2 * H]
            sigmoid(zr, out=a[..., : 2 * H])
            np.multiply(a[..., H : 2 * H], h[t], out=rh[t])
            np.matmul(rh[t], Wn, out=pre_n)
            pre_n += xw[t, ..., 2 * H :]
            act(pre_n, out=a[..., 2 * H :])
            n = a[..., 2 * H :]
            np.subtract(h[t], n, out=h[t + 1])
            h[t + 1] *= a[..., :H]
            h[t + 1] += n  # n + z * (h_{t-1} - n)
        return {"h": h, "h_prev": h[:-1], "gates": gates, "rh": rh}

    @staticmethod
    def run_inputs(spec, lp, inp, s0):
        """``run`` from the layer's inputs, projected inside the kernels (float32, at most
        ``_fused.PROJECT_IN_KERNEL`` inputs; see ``lstm.Cell.run_inputs``), or None."""
        inputs = _fused.projection_inputs(lp, inp)
        if inputs is None:
            return None
        return _run_fused(spec, lp, s0, inp.shape[:3] + (lp["Wxh"].shape[-1],), "_in", *inputs)

    @staticmethod
    def prepare(spec, lp, c):
        if "dgates" not in c and not _fused.use(c["gates"].dtype):  # the kernels take them per element
            g = c["gates"]
            H = g.shape[-1] // 3
            d = np.empty_like(g)
            s = g[..., : 2 * H]
            np.multiply(s, 1.0 - s, out=d[..., : 2 * H])
            d[..., 2 * H :] = spec.act.df(g[..., 2 * H :])
            c["dgates"] = d

    @staticmethod
    def back(spec, lp, c, t, dS, out=None):
        dh = dS[0]
        g, hp = c["gates"][t], c["h_prev"][t]
        H = g.shape[-1] // 3
        Whh = lp["Whh"]
        if _fused.use(g.dtype):
            d, dh_prev = _fused.scratch(g, out), np.empty(dh.shape, dh.dtype)
            _fused.call("gru_backward_zn", g, hp, dh, d, _fused.code(spec.act))
            drh = d[..., 2 * H :] @ T_(Whh[..., 2 * H :])
            _fused.call("gru_backward_r", g, hp, dh, drh, d, dh_prev)
            dh_prev += d[..., : 2 * H] @ T_(Whh[..., : 2 * H])
            return _fused.written(d, out), (dh_prev,)
        dpre = np.empty(g.shape, g.dtype) if out is None else out
        dg = c["dgates"][t]
        z, r, n = g[..., :H], g[..., H : 2 * H], g[..., 2 * H :]
        tmp = np.subtract(hp, n)  # one scratch array for the products below
        tmp *= dh
        np.multiply(tmp, dg[..., :H], out=dpre[..., :H])  # through z: dh * (h_{t-1} - n) * z'
        np.subtract(1.0, z, out=tmp)
        tmp *= dh
        np.multiply(tmp, dg[..., 2 * H :], out=dpre[..., 2 * H :])  # through n: dh * (1 - z) * n'
        drh = dpre[..., 2 * H :] @ T_(Whh[..., 2 * H :])  # dL/d(r * h_{t-1})
        np.multiply(drh, hp, out=tmp)
        np.multiply(tmp, dg[..., H : 2 * H], out=dpre[..., H : 2 * H])  # through r: drh * h_{t-1} * r'
        dh_prev = np.multiply(dh, z)  # dh * z + drh * r + dpre[:2H] Whh[:2H]^T, summed in that order
        drh *= r
        dh_prev += drh
        dh_prev += dpre[..., : 2 * H] @ T_(Whh[..., : 2 * H])
        return dpre, (dh_prev,)

    @staticmethod
    def back_layer(spec, lp, c, dout, dS=None, spend=False, top=None):
        """Full BPTT through the layer in float32 (``_windows.layer_back``'s loop), or None (float64).
        As the LSTM's (``lstm.Cell.back_layer``): per step two kernel calls and two matmuls into
        arrays of its own, ``dL/da_t`` written straight into the replica-major result, the weights'
        transposes C-contiguous; the arithmetic of ``back``, in its order. ``spend`` (the cache is not
        read again) changes nothing here: the GRU's kernels write ``dL/da`` into an array of its own;
        ``top`` is never given (no ``takes_output_grads``)."""
        g = c["gates"]
        if not _fused.use(g.dtype):
            return None
        T, R, B, G = g.shape
        H, h = G // 3, _ops.memory(c["h"])
        dpre = _ops.empty(T, R, B, G, g.dtype)
        rm = _ops.memory(dpre)
        (dh,) = _ops.carried(dS, 1, (R, B, H), g.dtype)
        drh, dh_prev = np.empty((R, B, H), g.dtype), np.empty((R, B, H), g.dtype)
        WzrT = np.ascontiguousarray(T_(lp["Whh"][..., : 2 * H]))  # (R, 2H, H)
        WnT = np.ascontiguousarray(T_(lp["Whh"][..., 2 * H :]))  # (R, H, H)
        zn, rk, code = _fused.kernel("gru_backward_zn_into"), _fused.kernel("gru_backward_r_into"), _fused.code(spec.act)
        for t in range(T - 1, -1, -1):
            dh += dout[t]
            zn(g, h, t, dh, rm, code)
            np.matmul(dpre[t, ..., 2 * H :], WnT, out=drh)  # dL/d(r * h_{t-1})
            rk(g, h, t, dh, drh, rm, dh_prev)  # dh_prev = dh * z + drh * r
            np.matmul(dpre[t, ..., : 2 * H], WzrT, out=dh)
            dh += dh_prev
        return dpre, (dh,)

    @staticmethod
    def grad_Whh(lp, c, dpre):
        H = dpre.shape[-1] // 3
        return np.concatenate([outer_sum(c["h_prev"], dpre[..., : 2 * H]),
                               outer_sum(c["rh"], dpre[..., 2 * H :])], axis=-1)

    @staticmethod
    def state_grads(spec, lp, c, t, dS):
        return {"h": dS[0]}


def _run_fused(spec, lp, s0, shape, variant, *inputs):
    """``Cell.run`` in float32: per step the two recurrent matmuls, each followed by a kernel
    (``gru_gates``, ``gru_output``, or their ``_in`` variants that project the inputs themselves)."""
    T, R, B, G = shape
    H, dtype = G // 3, lp["Whh"].dtype
    Wzr = np.ascontiguousarray(lp["Whh"][..., : 2 * H])  # (R, H, 2H)
    Wn = np.ascontiguousarray(lp["Whh"][..., 2 * H :])  # (R, H, H)
    gates = np.empty(shape, dtype)  # post-activation z, r, n
    h, rh = _ops.empty(T + 1, R, B, H, dtype), _ops.empty(T, R, B, H, dtype)  # replica-major: rows for the sums
    h[0] = s0[0]
    hm, rhm = _ops.memory(h), _ops.memory(rh)
    zr, pre_n = np.empty((R, B, 2 * H), dtype), np.empty((R, B, H), dtype)  # reused every step
    gates_, output, code = _fused.kernel("gru_gates" + variant), _fused.kernel("gru_output" + variant), _fused.code(spec.act)
    for t in range(T):
        np.matmul(h[t], Wzr, out=zr)
        gates_(zr, *inputs, t, hm, gates, rhm)
        np.matmul(rh[t], Wn, out=pre_n)
        output(pre_n, *inputs, t, hm, gates, code)
    return {"h": h, "h_prev": h[:-1], "gates": gates, "rh": rh}


MODEL = _stack.Stack(Cell)  # the model: stacked layers of this cell (the Model protocol, rnnexp.engine.models)
