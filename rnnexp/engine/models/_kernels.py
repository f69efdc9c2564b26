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


@jit(inline="always")
def _lstm_step_block(A, X, S, cp, cn, k, h, H, c):
    """One replica's LSTM step (see ``lstm_forward``): ``A: (B, 4H)``, the pre-activations less
    ``X: (B, 4H)``, becomes the gates; ``cp, cn, k, h: (B, H)``; ``S``: ``s`` of every gate of every
    problem, ``(B * 4H,)``.

    The loops that need no gate of the same problem run over the replica's whole block (``B * 4H`` or
    ``B * H`` numbers) rather than problem by problem: LLVM vectorises a loop 32 numbers at a time and
    does the rest one by one, so a loop of H = 16 numbers ran unvectorised (the kernel 1.9x faster at
    hidden 16, 1.1x at 64)."""
    B = A.shape[0]
    G = 4 * H
    if c == 0:
        Af, Xf = A.reshape(B * G), X.reshape(B * G)
        for i in range(B * G):
            v = S[i]
            Af[i] = v * tanh(v * (Af[i] + Xf[i])) + (f32(1.0) - v)
    else:
        for b in range(B):
            ar, xr = A[b], X[b]
            for j in range(3 * H):
                ar[j] = sigmoid(ar[j] + xr[j])
            for j in range(3 * H, G):
                ar[j] = act(ar[j] + xr[j], c)
    for b in range(B):
        ar, cpr, cnr = A[b], cp[b], cn[b]
        gi, gf, gg = ar[:H], ar[H : 2 * H], ar[3 * H :]
        for j in range(H):
            cnr[j] = gf[j] * cpr[j] + gi[j] * gg[j]
    cf, kf = cn.reshape(B * H), k.reshape(B * H)
    for i in range(B * H):
        kf[i] = act(cf[i], c)
    for b in range(B):
        go, kr, hr = A[b, 2 * H : 3 * H], k[b], h[b]
        for j in range(H):
            hr[j] = go[j] * kr[j]


@jit(inline="always")
def _gate_scales(B, G):
    """``s`` of ``lstm_forward`` for each of B problems' 4H gates: 1/2 on i, f, o, 1 on g."""
    S = np.full(B * G, f32(1.0))
    for b in range(B):
        S[b * G : b * G + 3 * (G // 4)] = f32(0.5)
    return S


@jit
def lstm_forward(a, xw, t, c, k, h, code):
    """Step ``t`` of the LSTM after its matmul: ``a[t]`` (pre-activations less ``xw``) becomes the
    gates ``i, f, o, g`` in place; ``c_{t+1} = f c_t + i g``, ``k_t = act(c_{t+1})``, ``h_{t+1} = o k_t``.
    ``a: (T, R, B, 4H)``; the others in replica-major memory: ``xw: (R, T, B, 4H)``, ``c, h: (R, T+1, B, H)``,
    ``k: (R, T, B, H)``.

    With ``act = tanh`` the four gates are one loop: ``sigmoid(x) = tanh(x / 2) / 2 + 1 / 2``, so every
    gate is ``s tanh(s x) + 1 - s`` with ``s = 1/2`` on ``i, f, o`` and ``1`` on ``g`` (the same
    operations as ``sigmoid`` and ``tanh``, so the same numbers): one loop instead of two (measured:
    the kernel 30-40 % faster at hidden 16-128). Each gate's block is a slice of its own
    (``ar[H:2H]``...): indexing one array at four offsets in one loop defeated vectorisation (the
    backward kernel was 3x slower so at hidden 64)."""
    _, R, B, G = a.shape
    H = G // 4
    S = _gate_scales(B, G)
    for r in range(R):
        A, X, cp, cn, kr, hr = a[t, r], xw[r, t], c[r, t], c[r, t + 1], k[r, t], h[r, t + 1]
        if code == 0:  # the activation known when compiling: loops without a branch per number
            _lstm_step_block(A, X, S, cp, cn, kr, hr, H, 0)
        else:
            _lstm_step_block(A, X, S, cp, cn, kr, hr, H, code)


@jit
def lstm_forward_in(a, x, Wxh, bh, skip_zeros, t, c, k, h, code):
    """``lstm_forward`` with the input projection done here: ``xw_t = x_t Wxh + bh`` per problem
    (``x: (T, R, B, I)``, ``Wxh: (R, I, 4H)``, ``bh: (R, 1, 4H)``), for layers with few inputs
    (``lstm.Cell.run_inputs``), so that the ``(T, R, B, 4H)`` projections are never written to memory
    and read back. ``skip_zeros``: an input of 0 adds nothing (one-hot and 0/1 inputs: most are 0);
    the caller sets it only when every weight is finite (``0 * inf`` is NaN, which must not be lost)."""
    _, R, B, G = a.shape
    H, I = G // 4, x.shape[3]
    S = _gate_scales(B, G)
    zero = np.zeros((B, G), np.float32)  # the projections are in A already
    for r in range(R):
        A, br = a[t, r], bh[r, 0]
        for b in range(B):
            ar, xr = A[b], x[t, r, b]
            for j in range(G):
                ar[j] += br[j]
            for i in range(I):
                xi, wi = xr[i], Wxh[r, i]
                if skip_zeros and xi == f32(0.0):
                    continue
                for j in range(G):
                    ar[j] += xi * wi[j]
        cp, cn, kr, hr = c[r, t], c[r, t + 1], k[r, t], h[r, t + 1]
        if code == 0:
            _lstm_step_block(A, zero, S, cp, cn, kr, hr, H, 0)
        else:
            _lstm_step_block(A, zero, S, cp, cn, kr, hr, H, code)


@jit(inline="always")
def _lstm_backward_row(gr, cp, kr, dhr, dcn, dp, dcp, H, c):
    """One problem's LSTM step backwards (see ``lstm_backward``); ``dcn`` and ``dcp`` may be one array."""
    gi, gf, go, gg = gr[:H], gr[H : 2 * H], gr[2 * H : 3 * H], gr[3 * H :]
    di, df, do, dg = dp[:H], dp[H : 2 * H], dp[2 * H : 3 * H], dp[3 * H :]
    for j in range(H):
        i, f, o, g, kk = gi[j], gf[j], go[j], gg[j], kr[j]
        dc = dhr[j] * o * dact(kk, c) + dcn[j]
        di[j] = dc * g * (i * (f32(1.0) - i))
        df[j] = dc * cp[j] * (f * (f32(1.0) - f))
        do[j] = dhr[j] * kk * (o * (f32(1.0) - o))
        dg[j] = dc * i * dact(g, c)
        dcp[j] = dc * f


@jit
def lstm_backward(g, c_prev, k, dh, dc_next, dpre, dc_prev, c):
    """One LSTM step backwards (the NumPy cell's ``back`` per element): ``dpre = dL/da`` and
    ``dc_prev = dL/dc_{t-1}`` from ``dh = dL/dh_t``, ``dc_next = dL/dc_t`` (through step t+1)."""
    n, R, B, G = g.shape
    H = G // 4
    for s in range(n):
        for r in range(R):
            for b in range(B):
                gr, cp, kr, dhr, dcn, dp, dcp = (g[s, r, b], c_prev[s, r, b], k[s, r, b], dh[s, r, b],
                                                 dc_next[s, r, b], dpre[s, r, b], dc_prev[s, r, b])
                if c == 0:
                    _lstm_backward_row(gr, cp, kr, dhr, dcn, dp, dcp, H, 0)
                else:
                    _lstm_backward_row(gr, cp, kr, dhr, dcn, dp, dcp, H, c)


@jit
def lstm_backward_into(g, c, k, t, dh, dc, dpre, code):
    """Step ``t`` of a layer's BPTT (``lstm.Cell.back_layer``): ``lstm_backward`` on the layer's whole
    caches (``g: (T, R, B, 4H)``; in replica-major memory ``c: (R, T+1, B, H)``, ``k: (R, T, B, H)``),
    writing ``dL/da_t`` straight into the replica-major ``dpre: (R, T, B, 4H)`` and ``dc: (R, B, H)`` in place (dL/dc_t in,
    dL/dc_{t-1} out); ``dh = dL/dh_t``."""
    _, R, B, G = g.shape
    H = G // 4
    for r in range(R):
        for b in range(B):
            gr, cp, kr, dhr, dcr, dp = g[t, r, b], c[r, t, b], k[r, t, b], dh[r, b], dc[r, b], dpre[r, t, b]
            if code == 0:
                _lstm_backward_row(gr, cp, kr, dhr, dcr, dp, dcr, H, 0)
            else:
                _lstm_backward_row(gr, cp, kr, dhr, dcr, dp, dcr, H, code)


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
    caches (``g: (T, R, B, 3H)``, ``h: (T+1, R, B, H)``), ``dh: (R, B, H)``, writing straight into the
    replica-major ``dpre: (R, T, B, 3H)``."""
    _, R, B, G = g.shape
    H = G // 3
    for r in range(R):
        for b in range(B):
            if c == 0:
                _gru_backward_zn_row(g[t, r, b], h[t, r, b], dh[r, b], dpre[r, t, b], H, 0)
            else:
                _gru_backward_zn_row(g[t, r, b], h[t, r, b], dh[r, b], dpre[r, t, b], H, c)


@jit
def gru_backward_r_into(g, h, t, dh, drh, dpre, dh_prev):
    """Step ``t``'s ``gru_backward_r`` on the whole caches (see ``gru_backward_zn_into``); ``drh,
    dh_prev: (R, B, H)``."""
    _, R, B, G = g.shape
    H = G // 3
    for r in range(R):
        for b in range(B):
            _gru_backward_r_row(g[t, r, b], h[t, r, b], dh[r, b], drh[r, b], dpre[r, t, b], dh_prev[r, b], H)


@jit
def softmax_xent(z, y, loss, p):
    """k-class softmax cross-entropy per problem (``losses._softmax_k`` in float32): ``loss =
    logsumexp(z) - z_y`` and ``p = softmax(z) - onehot(y)``; ``z, p: (T, R, B, K)``, ``y, loss: (T, R, B)``.
    NumPy's reductions over a last axis of 10 dominated a copy task's loss (40 ms a step at T = 1000;
    here 16 ms). A NaN or infinite logit gives a NaN loss, as in NumPy."""
    T, R, B, K = z.shape
    for t in range(T):
        for r in range(R):
            for b in range(B):
                zr, pr = z[t, r, b], p[t, r, b]
                m = zr[0]
                for j in range(1, K):
                    m = max(m, zr[j])
                s = f32(0.0)
                for j in range(K):
                    e = np.exp(zr[j] - m)
                    pr[j] = e
                    s += e
                inv = f32(1.0) / s
                for j in range(K):
                    pr[j] *= inv
                yi = int(y[t, r, b])
                loss[t, r, b] = np.log(s) + m - zr[yi]
                pr[yi] -= f32(1.0)
