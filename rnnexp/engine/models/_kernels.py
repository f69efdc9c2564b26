"""The compiled kernels of ``_fused`` (numba; imported by ``_fused.kernels()`` on a float32 run's
first step, so that numba is never imported otherwise). ``_fused``'s docstring says what they do and why.

Every kernel takes 4-D ``(n, R, B, X)`` float32 arrays, C-contiguous (``_fused.call`` sees to it),
and loops over steps, replicas and problems; the forward kernels read the input projections ``xw``
of step ``t + s`` from their replica-major memory ``(R, T, B, X)`` (how ``_ops.project`` makes them:
no copy); the innermost loops run along X, contiguous, so LLVM
vectorises them. Compiled once per machine: ``cache=True`` keeps the machine code in
``__pycache__`` beside this file.
"""
from __future__ import annotations

import functools

import numba
import numpy as np

# no nnan/ninf flags: a diverged run's NaN and infinity must come out as NaN and infinity
jit = functools.partial(numba.njit, cache=True, error_model="numpy",
                        fastmath={"contract", "arcp", "afn", "reassoc"})
# the element-wise functions are inlined where the kernels call them (measured: the LSTM forward kernel
# 2.2x faster than with calls; compiling every kernel takes about 4 s once per machine)
f32 = np.float32
CLAMP = f32(7.90531110763549805)


@jit(inline="always")
def tanh(x):
    if x != x:  # NaN stays NaN (the clamp below would make it a number)
        return x
    y = min(max(x, -CLAMP), CLAMP)
    y2 = y * y
    p = y2 * f32(-2.76076847742355e-16) + f32(2.00018790482477e-13)
    p = y2 * p + f32(-8.60467152213735e-11)
    p = y2 * p + f32(5.12229709037114e-08)
    p = y2 * p + f32(1.48572235717979e-05)
    p = y2 * p + f32(6.37261928875436e-04)
    p = y2 * p + f32(4.89352455891786e-03)
    q = y2 * f32(1.19825839466702e-06) + f32(1.18534705686654e-04)
    q = y2 * q + f32(2.26843463243900e-03)
    q = y2 * q + f32(4.89352518554385e-03)
    return y * p / q


@jit(inline="always")
def sigmoid(x):
    return f32(0.5) * tanh(f32(0.5) * x) + f32(0.5)


@jit(inline="always")
def act(x, c):
    if c == 0:
        return tanh(x)
    if c == 1:
        return sigmoid(x)
    if c == 2:
        return max(x, f32(0.0)) if x == x else x
    return x


@jit(inline="always")
def dact(y, c):
    """act'(a) from the output y = act(a), as ``activations`` defines it."""
    if c == 0:
        return f32(1.0) - y * y
    if c == 1:
        return y * (f32(1.0) - y)
    if c == 2:
        return f32(1.0) if y > f32(0.0) else f32(0.0)
    return f32(1.0)


@jit
def act_add(a, xw, t, c):
    """``a = act(a + xw[t])`` in place: the Elman step after its matmul."""
    n, R, B, H = a.shape
    for s in range(n):
        for r in range(R):
            for b in range(B):
                ar, xr = a[s, r, b], xw[r, t + s, b]
                for j in range(H):
                    ar[j] = act(ar[j] + xr[j], c)


@jit
def lstm_forward(a, xw, t, c_prev, c_new, k, h_new, c):
    """The LSTM step after its matmul: ``a`` (pre-activations less ``xw``) becomes the gates
    ``i, f, o, g`` in place; ``c_new = f c_prev + i g``, ``k = act(c_new)``, ``h_new = o k``."""
    n, R, B, G = a.shape
    H = G // 4
    for s in range(n):
        for r in range(R):
            for b in range(B):
                ar, xr = a[s, r, b], xw[r, t + s, b]
                for j in range(3 * H):
                    ar[j] = sigmoid(ar[j] + xr[j])
                for j in range(3 * H, G):
                    ar[j] = act(ar[j] + xr[j], c)
                cp, cn, kr, hr = c_prev[s, r, b], c_new[s, r, b], k[s, r, b], h_new[s, r, b]
                for j in range(H):
                    cn[j] = ar[H + j] * cp[j] + ar[j] * ar[3 * H + j]
                for j in range(H):
                    kr[j] = act(cn[j], c)
                for j in range(H):
                    hr[j] = ar[2 * H + j] * kr[j]


@jit
def lstm_backward(g, c_prev, k, dh, dc_next, dpre, dc_prev, c):
    """One LSTM step backwards (the NumPy cell's ``back`` per element): ``dpre = dL/da`` and
    ``dc_prev = dL/dc_{t-1}`` from ``dh = dL/dh_t``, ``dc_next = dL/dc_t`` (through step t+1)."""
    n, R, B, G = g.shape
    H = G // 4
    for s in range(n):
        for r in range(R):
            for b in range(B):
                gr, cp, kr = g[s, r, b], c_prev[s, r, b], k[s, r, b]
                dhr, dcn, dp, dcp = dh[s, r, b], dc_next[s, r, b], dpre[s, r, b], dc_prev[s, r, b]
                for j in range(H):
                    i, f, o, gg, kk = gr[j], gr[H + j], gr[2 * H + j], gr[3 * H + j], kr[j]
                    dc = dhr[j] * o * dact(kk, c) + dcn[j]
                    dp[j] = dc * gg * (i * (f32(1.0) - i))
                    dp[H + j] = dc * cp[j] * (f * (f32(1.0) - f))
                    dp[2 * H + j] = dhr[j] * kk * (o * (f32(1.0) - o))
                    dp[3 * H + j] = dc * i * dact(gg, c)
                    dcp[j] = dc * f


@jit
def gru_gates(zr, xw, t, h_prev, gates, rh):
    """GRU, after ``h_prev Whh[:, :2H]``: ``z, r = sigmoid(zr + xw[:2H])`` into ``gates[:2H]``,
    ``rh = r h_prev`` (what ``Whh[:, 2H:]`` multiplies next)."""
    n, R, B, H2 = zr.shape
    H = H2 // 2
    for s in range(n):
        for r in range(R):
            for b in range(B):
                zrr, xr, gr, hp, rhr = zr[s, r, b], xw[r, t + s, b], gates[s, r, b], h_prev[s, r, b], rh[s, r, b]
                for j in range(H2):
                    gr[j] = sigmoid(zrr[j] + xr[j])
                for j in range(H):
                    rhr[j] = gr[H + j] * hp[j]


@jit
def gru_output(pre_n, xw, t, h_prev, gates, h_new, c):
    """GRU, after ``(r h_prev) Whh[:, 2H:]``: ``n = act(pre_n + xw[2H:])`` into ``gates[2H:]``,
    ``h_new = n + z (h_prev - n)``."""
    n_, R, B, H = pre_n.shape
    for s in range(n_):
        for r in range(R):
            for b in range(B):
                pr, xr, gr, hp, hn = pre_n[s, r, b], xw[r, t + s, b], gates[s, r, b], h_prev[s, r, b], h_new[s, r, b]
                for j in range(H):
                    nn = act(pr[j] + xr[2 * H + j], c)
                    gr[2 * H + j] = nn
                    hn[j] = nn + gr[j] * (hp[j] - nn)


@jit
def gru_backward_zn(g, h_prev, dh, dpre, c):
    """GRU backwards, part 1: ``dpre`` through z, ``dh (h_prev - n) z'``, and through n,
    ``dh (1 - z) n'``."""
    n_, R, B, G = g.shape
    H = G // 3
    for s in range(n_):
        for r in range(R):
            for b in range(B):
                gr, hp, dhr, dp = g[s, r, b], h_prev[s, r, b], dh[s, r, b], dpre[s, r, b]
                for j in range(H):
                    z, nn = gr[j], gr[2 * H + j]
                    dp[j] = dhr[j] * (hp[j] - nn) * (z * (f32(1.0) - z))
                    dp[2 * H + j] = dhr[j] * (f32(1.0) - z) * dact(nn, c)


@jit
def gru_backward_r(g, h_prev, dh, drh, dpre, dh_prev):
    """GRU backwards, part 2, given ``drh = dL/d(r h_prev)``: ``dpre`` through r, ``drh h_prev r'``,
    and ``dh_prev = dh z + drh r`` (the caller adds ``dpre[:2H] Whh[:, :2H]^T``)."""
    n_, R, B, G = g.shape
    H = G // 3
    for s in range(n_):
        for r in range(R):
            for b in range(B):
                gr, hp, dhr, drr, dp, dhp = g[s, r, b], h_prev[s, r, b], dh[s, r, b], drh[s, r, b], dpre[s, r, b], dh_prev[s, r, b]
                for j in range(H):
                    rr = gr[H + j]
                    dp[H + j] = drr[j] * hp[j] * (rr * (f32(1.0) - rr))
                    dhp[j] = dhr[j] * gr[j] + drr[j] * rr
