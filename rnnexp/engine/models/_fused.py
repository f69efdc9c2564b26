"""The cells' element-wise work in float32, compiled: one pass per step instead of a dozen NumPy calls.

Why a compiler (numba) earns its place: on long sequences a gated cell's step is a matmul and then
element-wise work on ``(R, B, G*H)`` arrays, and in NumPy that work cost more than the matmul.
Measured on this project's 2-core AVX2 machine (10 replicas, batch 32, hidden 128, float32): the
LSTM forward step's matmul 0.72 ms, its element-wise work 1.23 ms, of which ``np.tanh`` alone takes
3.5 ns per number (0.57 ms for the gates); PyTorch's ``torch.tanh`` is no faster (0.55 ms). The
kernels below do a step's element-wise work in one compiled loop nest, with ``tanh`` as the
rational approximation Eigen and TensorFlow use for float32 (a [13/6] odd/even polynomial ratio on
``[-7.905, 7.905]``, clamped outside: at most 2.6e-7 from the exact value, about 2 ulp; ``tanh``
vectorises as multiply-adds and one division, 0.38 ns per number here) and ``sigmoid(x) =
(1 + tanh(x / 2)) / 2`` as everywhere else in rnnexp. The mathematics of each cell (which product
goes where, the derivatives from the cached outputs) is the same as in its NumPy module, written
out per element; float64 never comes here (it stays on NumPy, bit for bit what it was, and every
gradient check runs in it). ``tests/test_fused.py`` checks every kernel against the NumPy cell in
float64 on the same inputs, NaN and infinity included.

Arrays are 4-D ``(n, R, B, X)`` (a step is ``a[t:t+1]``, truncated BPTT's lag a slice of steps) of
any strides; the innermost axis is the contiguous one the loops vectorise over. ``ACT`` numbers the
activations a kernel applies to a candidate / cell output (the gates are always sigmoid).

numba is imported on first use (a float32 run of a cell model), so every other run starts as fast
as before; compiled kernels are cached on disk next to this file (``cache=True``).
"""
from __future__ import annotations

import functools

import numpy as np

ACT = {"tanh": 0, "sigmoid": 1, "relu": 2, "identity": 3}


def code(act) -> int:
    """The kernels' number for an ``activations.Activation``."""
    return ACT[act.name]


@functools.lru_cache(maxsize=None)
def kernels():
    """Compile (or load from numba's cache) the kernels: ``{name: function}``."""
    import numba

    # no nnan/ninf flags: a diverged run's NaN and infinity must come out as NaN and infinity
    jit = functools.partial(numba.njit, cache=True, error_model="numpy",
                            fastmath={"contract", "arcp", "afn", "reassoc"})
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
    def act_add(a, xw, c):
        """``a = act(a + xw)`` in place: the Elman step after its matmul."""
        n, R, B, H = a.shape
        for s in range(n):
            for r in range(R):
                for b in range(B):
                    ar, xr = a[s, r, b], xw[s, r, b]
                    for j in range(H):
                        ar[j] = act(ar[j] + xr[j], c)

    @jit
    def lstm_forward(a, xw, c_prev, c_new, k, h_new, c):
        """The LSTM step after its matmul: ``a`` (pre-activations less ``xw``) becomes the gates
        ``i, f, o, g`` in place; ``c_new = f c_prev + i g``, ``k = act(c_new)``, ``h_new = o k``."""
        n, R, B, G = a.shape
        H = G // 4
        for s in range(n):
            for r in range(R):
                for b in range(B):
                    ar, xr = a[s, r, b], xw[s, r, b]
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
    def gru_gates(zr, xw, h_prev, gates, rh):
        """GRU, after ``h_prev Whh[:, :2H]``: ``z, r = sigmoid(zr + xw[:2H])`` into ``gates[:2H]``,
        ``rh = r h_prev`` (what ``Whh[:, 2H:]`` multiplies next)."""
        n, R, B, H2 = zr.shape
        H = H2 // 2
        for s in range(n):
            for r in range(R):
                for b in range(B):
                    zrr, xr, gr, hp, rhr = zr[s, r, b], xw[s, r, b], gates[s, r, b], h_prev[s, r, b], rh[s, r, b]
                    for j in range(H2):
                        gr[j] = sigmoid(zrr[j] + xr[j])
                    for j in range(H):
                        rhr[j] = gr[H + j] * hp[j]

    @jit
    def gru_output(pre_n, xw, h_prev, gates, h_new, c):
        """GRU, after ``(r h_prev) Whh[:, 2H:]``: ``n = act(pre_n + xw[2H:])`` into ``gates[2H:]``,
        ``h_new = n + z (h_prev - n)``."""
        n_, R, B, H = pre_n.shape
        for s in range(n_):
            for r in range(R):
                for b in range(B):
                    pr, xr, gr, hp, hn = pre_n[s, r, b], xw[s, r, b], gates[s, r, b], h_prev[s, r, b], h_new[s, r, b]
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

    return {"act_add": act_add, "lstm_forward": lstm_forward, "lstm_backward": lstm_backward,
            "gru_gates": gru_gates, "gru_output": gru_output, "gru_backward_zn": gru_backward_zn,
            "gru_backward_r": gru_backward_r}


def use(dtype) -> bool:
    """Whether a step in ``dtype`` runs the compiled kernels (float32) or NumPy (float64)."""
    return dtype == np.float32


def kernel(name: str):
    """The compiled kernel ``name``: for a caller whose arrays are 4-D and C-contiguous already
    (a time loop over its own arrays, ``a[t:t+1]``), without ``call``'s checks."""
    return kernels()[name]


def call(name: str, *args, outs: tuple[int, ...] = ()):
    """Run kernel ``name`` on ``args`` (arrays; a step's ``(R, B, X)`` made ``(1, R, B, X)``; the
    activation code, if any, last); ``outs`` are the positions of the arrays it writes.

    Every array reaches the kernel C-contiguous: numba vectorises the innermost loops only when it
    knows they have unit stride (a C array; any other layout compiles to a scalar loop, 2-4x slower).
    So a non-contiguous array (a replica-major buffer, a slice of one) is copied, and an output
    copied back after the kernel: NumPy copies, far cheaper than the scalar loop."""
    args = list(args)
    back = []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            if a.ndim == 3:
                a = args[i] = a[None]
            if not a.flags.c_contiguous:
                args[i] = np.ascontiguousarray(a)  # a copy (an output may also be read: keep its values)
                if i in outs:
                    back.append((a, args[i]))
    kernels()[name](*args)
    for dest, scratch in back:
        dest[...] = scratch
