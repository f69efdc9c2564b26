"""Elman RNN: ``h_t = act(x_t Wxh + h_{t-1} Whh + bh)``, optionally stacked (``model.layers``).

Shapes: ``x: (T, R, B, I)``, states ``h: (T+1, R, B, H)`` with ``h[0]`` the initial state,
``Wxh: (R, I, H)``, ``Whh: (R, H, H)``, ``bh: (R, 1, H)``. Layer l > 0 reads layer l-1's states
(``Wxh_l1: (R, H, H)``, ...); the output layer reads the top layer. The stacking, truncated BPTT
and the gradient profile are ``_stack.Stack``'s methods; this module is the cell.
"""
from __future__ import annotations

import numpy as np

from .. import init
from . import _fused, _ops, _stack
from ._ops import T_, outer_sum


class Cell:
    gates = 1
    states = ("h",)

    @staticmethod
    def init_bias(spec, R, H):
        return init.zeros(R, H)

    @staticmethod
    def run(spec, lp, xw, s0):
        T, R, B, H = xw.shape
        f, Whh = spec.act.f, lp["Whh"]
        h = np.empty((T + 1, R, B, H), xw.dtype)
        h[0] = s0[0]
        if _fused.use(xw.dtype):  # float32: act(a + xw) compiled, in place
            code, xr = _fused.code(spec.act), _fused.replica_rows(xw)
            step = _fused.kernel("act_add")  # h and xw are C-contiguous: called directly
            for t in range(T):
                np.matmul(h[t], Whh, out=h[t + 1])
                step(h[t + 1 : t + 2], xr, t, code)
            return {"h": h, "h_prev": h[:-1]}
        for t in range(T):
            a = np.matmul(h[t], Whh, out=h[t + 1])  # (R, B, H), computed in place: no allocation per step
            a += xw[t]
            f(a, out=a)
        return {"h": h, "h_prev": h[:-1]}

    @staticmethod
    def prepare(spec, lp, c):
        if "dfh" not in c:
            c["dfh"] = spec.act.df(c["h"][1:])  # f'(a_t) from the cached outputs, (T, R, B, H)

    @staticmethod
    def back(spec, lp, c, t, dS, out=None):
        da = np.multiply(dS[0], c["dfh"][t], out=out)  # the derivative applies to both paths (seed 000's bug)
        return da, (da @ T_(lp["Whh"]),)

    @staticmethod
    def back_layer(spec, lp, c, dout, dS=None, spend=False, top=None):
        """Full BPTT through the layer in float32 (``_windows.layer_back``'s loop), or None (float64,
        whose numbers stay those of ``back`` bit for bit): ``back``'s arithmetic with the products
        written into arrays of its own and ``Whh^T`` C-contiguous (a transposed view made the
        product 1.6x slower at hidden 64). ``spend`` changes nothing here; ``top`` is never given
        (no ``takes_output_grads``)."""
        if not _fused.use(c["h"].dtype):
            return None
        Cell.prepare(spec, lp, c)
        T, R, B, H = dout.shape
        dpre = _ops.empty(T, R, B, H, dout.dtype)
        (dh,) = _ops.carried(dS, 1, (R, B, H), dout.dtype)
        WhhT, dfh = np.ascontiguousarray(T_(lp["Whh"])), c["dfh"]
        for t in range(T - 1, -1, -1):
            dh += dout[t]
            np.multiply(dh, dfh[t], out=dpre[t])
            np.matmul(dpre[t], WhhT, out=dh)
        return dpre, (dh,)

    @staticmethod
    def grad_Whh(lp, c, dpre):
        return outer_sum(c["h_prev"], dpre)

    @staticmethod
    def state_grads(spec, lp, c, t, dS):
        return {"h": dS[0]}


MODEL = _stack.Stack(Cell)  # the model: stacked layers of this cell (the Model protocol, rnnexp.engine.models)
