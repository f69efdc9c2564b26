"""The GRU's compiled float32 kernels (``_kernels``' conventions; ``gru.Cell`` calls them): the
two halves of a step around its second recurrent matmul, with the input projections precomputed or
done here, and the two halves of a step backwards."""
from __future__ import annotations

import numpy as np

from ._kernels import _projection_row, act, dact, f32, jit, sigmoid


@jit(inline="always")
def _gru_gates_row(zrr, xr, gr, hp, rhr, H):
    for j in range(2 * H):
        gr[j] = sigmoid(zrr[j] + xr[j])
    rg = gr[H : 2 * H]
    for j in range(H):
        rhr[j] = rg[j] * hp[j]


@jit(inline="always")
def _gru_output_row(pr, xr, gr, hp, hn, H, c):
    z, n = gr[:H], gr[2 * H :]
    for j in range(H):
        n[j] = act(pr[j] + xr[j], c)
    for j in range(H):
        hn[j] = n[j] + z[j] * (hp[j] - n[j])


@jit
def gru_gates(zr, xw, t, h, gates, rh):
    """GRU step ``t``, after ``h_t Whh[:, :2H]`` (``zr: (R, B, 2H)``): ``z, r = sigmoid(zr + xw[:2H])``
    into ``gates[t, :2H]``, ``rh_t = r h_t`` (what ``Whh[:, 2H:]`` multiplies next). ``gates: (T, R,
    B, 3H)``; in replica-major memory ``xw: (R, T, B, 3H)``, ``h: (R, T+1, B, H)``, ``rh: (R, T, B, H)``."""
    R, B, H2 = zr.shape
    for r in range(R):
        for b in range(B):
            _gru_gates_row(zr[r, b], xw[r, t, b], gates[t, r, b], h[r, t, b], rh[r, t, b], H2 // 2)


@jit
def gru_output(pre_n, xw, t, h, gates, c):
    """GRU step ``t``, after ``rh_t Whh[:, 2H:]`` (``pre_n: (R, B, H)``): ``n = act(pre_n + xw[2H:])``
    into ``gates[t, 2H:]``, ``h_{t+1} = n + z (h_t - n)`` (arrays as in ``gru_gates``)."""
    R, B, H = pre_n.shape
    for r in range(R):
        for b in range(B):
            xr = xw[r, t, b, 2 * H :]
            if c == 0:
                _gru_output_row(pre_n[r, b], xr, gates[t, r, b], h[r, t, b], h[r, t + 1, b], H, 0)
            else:
                _gru_output_row(pre_n[r, b], xr, gates[t, r, b], h[r, t, b], h[r, t + 1, b], H, c)


@jit
def gru_gates_in(zr, x, Wxh, bh, skip_zeros, t, h, gates, rh):
    """``gru_gates`` with the input projection done here (``x: (T, R, B, I)``, ``Wxh: (R, I, 3H)``,
    ``bh: (R, 1, 3H)``; see ``lstm_forward_in``)."""
    R, B, H2 = zr.shape
    xp = np.empty(H2, np.float32)
    for r in range(R):
        for b in range(B):
            _projection_row(xp, x[t, r, b], Wxh[r], bh[r, 0], 0, skip_zeros)
            _gru_gates_row(zr[r, b], xp, gates[t, r, b], h[r, t, b], rh[r, t, b], H2 // 2)


@jit
def gru_output_in(pre_n, x, Wxh, bh, skip_zeros, t, h, gates, c):
    """``gru_output`` with the input projection done here (see ``gru_gates_in``)."""
    R, B, H = pre_n.shape
    xp = np.empty(H, np.float32)
    for r in range(R):
        for b in range(B):
            _projection_row(xp, x[t, r, b], Wxh[r], bh[r, 0], 2 * H, skip_zeros)
            if c == 0:
                _gru_output_row(pre_n[r, b], xp, gates[t, r, b], h[r, t, b], h[r, t + 1, b], H, 0)
            else:
                _gru_output_row(pre_n[r, b], xp, gates[t, r, b], h[r, t, b], h[r, t + 1, b], H, c)


@jit(inline="always")
def _gru_backward_zn_row(gr, hp, dhr, dp, H, c):
    """One problem's ``gru_backward_zn``; each gate's block a slice of its own (as in the LSTM's)."""
    z, n, dz, dn = gr[:H], gr[2 * H :], dp[:H], dp[2 * H :]
    for j in range(H):
        dz[j] = dhr[j] * (hp[j] - n[j]) * (z[j] * (f32(1.0) - z[j]))
        dn[j] = dhr[j] * (f32(1.0) - z[j]) * dact(n[j], c)


@jit(inline="always")
def _gru_backward_r_row(gr, hp, dhr, drr, dp, dhp, H):
    """One problem's ``gru_backward_r``."""
    z, rg, dr = gr[:H], gr[H : 2 * H], dp[H : 2 * H]
    for j in range(H):
        dr[j] = drr[j] * hp[j] * (rg[j] * (f32(1.0) - rg[j]))
        dhp[j] = dhr[j] * z[j] + drr[j] * rg[j]


@jit
def gru_backward_zn(g, h_prev, dh, dpre, c):
    """GRU backwards, part 1: ``dpre`` through z, ``dh (h_prev - n) z'``, and through n,
    ``dh (1 - z) n'``."""
    n_, R, B, G = g.shape
    H = G // 3
    for s in range(n_):
        for r in range(R):
            for b in range(B):
                if c == 0:
                    _gru_backward_zn_row(g[s, r, b], h_prev[s, r, b], dh[s, r, b], dpre[s, r, b], H, 0)
                else:
                    _gru_backward_zn_row(g[s, r, b], h_prev[s, r, b], dh[s, r, b], dpre[s, r, b], H, c)


@jit
def gru_backward_r(g, h_prev, dh, drh, dpre, dh_prev):
    """GRU backwards, part 2, given ``drh = dL/d(r h_prev)``: ``dpre`` through r, ``drh h_prev r'``,
    and ``dh_prev = dh z + drh r`` (the caller adds ``dpre[:2H] Whh[:, :2H]^T``)."""
    n_, R, B, G = g.shape
    H = G // 3
    for s in range(n_):
        for r in range(R):
            for b in range(B):
                _gru_backward_r_row(g[s, r, b], h_prev[s, r, b], dh[s, r, b], drh[s, r, b], dpre[s, r, b],
                                    dh_prev[s, r, b], H)


@jit
def gru_backward_zn_into(g, h, t, dh, dpre, c):
    """Step ``t`` of a layer's BPTT (``gru.Cell.back_layer``): ``gru_backward_zn`` on the layer's whole
    caches (``g: (T, R, B, 3H)``; ``h: (R, T+1, B, H)``, replica-major memory), ``dh: (R, B, H)``,
    writing straight into the replica-major ``dpre: (R, T, B, 3H)``."""
    _, R, B, G = g.shape
    H = G // 3
    for r in range(R):
        for b in range(B):
            if c == 0:
                _gru_backward_zn_row(g[t, r, b], h[r, t, b], dh[r, b], dpre[r, t, b], H, 0)
            else:
                _gru_backward_zn_row(g[t, r, b], h[r, t, b], dh[r, b], dpre[r, t, b], H, c)


@jit
def gru_backward_r_into(g, h, t, dh, drh, dpre, dh_prev):
    """Step ``t``'s ``gru_backward_r`` on the whole caches (see ``gru_backward_zn_into``); ``drh,
    dh_prev: (R, B, H)``."""
    _, R, B, G = g.shape
    H = G // 3
    for r in range(R):
        for b in range(B):
            _gru_backward_r_row(g[t, r, b], h[r, t, b], dh[r, b], drh[r, b], dpre[r, t, b], dh_prev[r, b], H)
