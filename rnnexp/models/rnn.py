"""Elman RNN: ``h_t = act(x_t Wxh + h_{t-1} Whh + bh)``.

Shapes: ``x: (T, R, B, I)``, states ``h: (T+1, R, B, H)`` with ``h[0]`` the initial state,
``Wxh: (R, I, H)``, ``Whh: (R, H, H)``, ``bh: (R, 1, H)``.
"""
from __future__ import annotations

import numpy as np

from .. import init
from ._ops import T_, bias_grad, outer_sum


def top_size(spec) -> int:
    return spec.hidden


def initial_state(spec, R: int, B: int) -> np.ndarray:
    return np.zeros((R, B, spec.hidden))


def init_params(spec, rngs) -> dict[str, np.ndarray]:
    p = {
        "Wxh": init.weights(rngs, spec.init, (spec.n_in, spec.hidden), scale=spec.input_scale),
        "Whh": init.weights(rngs, spec.init, (spec.hidden, spec.hidden), recurrent=True, scale=spec.scale),
    }
    if spec.bias:
        p["bh"] = init.zeros(len(rngs), spec.hidden)
    return p


def recurrent_weights(params) -> np.ndarray:
    return params["Whh"]


def forward(spec, params, x, h0=None):
    T, R, B, _ = x.shape
    f = spec.act.f
    xw = x @ params["Wxh"]  # (T, R, B, H): input projections for all steps at once
    if "bh" in params:
        xw += params["bh"]
    h = np.empty((T + 1, R, B, spec.hidden))
    h[0] = initial_state(spec, R, B) if h0 is None else h0
    Whh = params["Whh"]
    for t in range(T):
        a = np.matmul(h[t], Whh, out=h[t + 1])  # (R, B, H), computed in place: no allocation per step
        a += xw[t]
        f(a, out=a)
    return h[1:], {"x": x, "h": h}


def backward(spec, params, cache, dtop, truncate=None):
    x, h = cache["x"], cache["h"]
    T = x.shape[0]
    dfh = spec.act.df(h[1:])  # f'(a_t) from the cached outputs, (T, R, B, H)
    WhhT = T_(params["Whh"])
    if truncate is None or truncate >= T - 1:
        da = np.empty_like(dtop)  # dL/da_t, (T, R, B, H)
        dh_next = np.zeros_like(dtop[0])  # dL/dh_t carried from step t+1
        for t in range(T - 1, -1, -1):
            da[t] = (dtop[t] + dh_next) * dfh[t]  # the derivative applies to both paths (seed 000's bug)
            dh_next = da[t] @ WhhT
    else:
        # Truncated BPTT, one lag at a time over all steps: d[s] = dL_{s+j}/da_s for lag j.
        d = dtop * dfh
        da = d.copy()
        for j in range(1, truncate + 1):
            d = (d[1:] @ WhhT) * dfh[: T - j]  # (T-j, R, B, H)
            da[: T - j] += d
    g = {"Wxh": outer_sum(x, da), "Whh": outer_sum(h[:-1], da)}
    if "bh" in params:
        g["bh"] = bias_grad(da)
    return g


def state_grad_profile(spec, params, cache, dtop_last):
    """``||dL_T/dh_t||`` over batch and hidden units, t = 1..T: ``{"h": (R, T)}``."""
    h = cache["h"]
    T = h.shape[0] - 1
    WhhT = T_(params["Whh"])
    norms = np.empty((h.shape[1], T))
    dh = dtop_last  # dL_T/dh_T, (R, B, H)
    for t in range(T, 0, -1):
        norms[:, t - 1] = np.sqrt((dh * dh).sum(axis=(1, 2)))
        dh = (dh * spec.act.df(h[t])) @ WhhT  # dL_T/dh_{t-1}
    return {"h": norms}
