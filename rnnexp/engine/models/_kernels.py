"""The compiled kernels of ``_fused`` (numba; imported by ``_fused.kernels()`` on a float32 run's
first step, so that numba is never imported otherwise): the element-wise functions every kernel
inlines, the Elman step and the softmax loss; the gated cells' kernels are in ``_kernels_lstm`` and
``_kernels_gru``. ``_fused``'s docstring says what they do and why.

Conventions: float32 arrays, C-contiguous (numba vectorises a loop only when it knows the stride is
1: ``_fused.call`` copies what is not); an array indexed ``[r, t, b]`` is in replica-major memory
``(R, T, B, X)`` (``_ops.empty``, what ``_ops.project`` makes), one indexed ``[t, r, b]`` time-major;
a kernel given ``t`` works on step t of whole arrays, one given ``(n, R, B, X)`` slices on n steps.
The innermost loops run along X, contiguous, so LLVM vectorises them; a loop over one problem's H
numbers is short at small H (LLVM vectorises 32 numbers at a time and does the rest one by one), so
the LSTM's forward kernel loops over a problem's 4H gates at once. What LLVM does around each such
loop matters as much at hidden 64 (``_kernels_lstm``: an activation code tested outside the loops,
rows updated in place so that no run-time overlap checks are needed). Compiled once per machine:
``cache=True`` keeps the machine code in ``__pycache__`` beside these files.
"""
from __future__ import annotations

import functools

import numba
import numpy as np
from numba.extending import intrinsic

# no nnan/ninf flags: a diverged run's NaN and infinity must come out as NaN and infinity
jit = functools.partial(numba.njit, cache=True, error_model="numpy",
                        fastmath={"contract", "arcp", "afn", "reassoc"})
# the element-wise functions are inlined where the kernels call them (measured: the LSTM forward kernel
# 2.2x faster than with calls; compiling all fourteen kernels takes about 22 s once per machine, a run
# compiles only those it uses)
f32 = np.float32
CLAMP = f32(7.90531110763549805)


@jit(inline="always")
def tanh(x):
    if x != x:  # NaN stays NaN (so would it through the clamp below, whose min and max return their
        return x  # first argument when a comparison is false; without this test no faster in the kernels)
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


@jit(inline="always")
def _add_row_product(out, xr, W, lo, skip_zeros):
    """``out += xr W[:, lo:lo+n]`` (n = len(out)) for one problem, skipping the entries of ``xr`` that
    are 0 when ``skip_zeros`` (the caller's to allow: only while every weight is finite)."""
    n = out.shape[0]
    for i in range(xr.shape[0]):
        xi = xr[i]
        if skip_zeros and xi == f32(0.0):
            continue
        w = W[i, lo : lo + n]
        for j in range(n):
            out[j] += xi * w[j]


@jit(inline="always")
def _projection_row(out, xr, W, b, lo, skip_zeros):
    """``out = b[lo:lo+n] + xr W[:, lo:lo+n]`` (n = len(out)): one problem's input projection of a
    block of gates, skipping inputs of 0 when ``skip_zeros`` (see ``_kernels_lstm.lstm_forward_in``)."""
    n = out.shape[0]
    bb = b[lo : lo + n]
    for j in range(n):
        out[j] = bb[j]
    _add_row_product(out, xr, W, lo, skip_zeros)


@jit(inline="always")
def _input_grads_block(d, x, dW, db, pW, pb, used):
    """Adds one replica's step ``d = dL/da_t: (B, n)`` to the bias and input-weight gradients,
    ``db += sum_b d[b]``, ``dW += x^T d`` (``x: (B, I)``; ``dW: (I, n)``, ``db: (n,)`` float64),
    while ``d`` is in the cache, skipping inputs of 0: a one-hot input of 10 numbers adds one row,
    not ten. ``0 * d`` is 0 only while ``d`` is finite, so the caller keeps the sums only when ``db``
    is (``_fused.keep_input_grads``). The step's B rows are summed in float32 (``pW, pb``, scratch),
    then added to the float64 sums over all steps: the rounding of a sum over T * B rows stays about
    that of B (float64 row by row was slower). Only the rows of ``pW`` of inputs that are nonzero
    somewhere in the step (``used``, scratch) are written and added: on most of a copy task's steps
    every problem sees the same symbol, one row of ten."""
    B, n = d.shape
    used[:] = False
    pb[...] = f32(0.0)
    for b in range(B):
        row, xr = d[b], x[b]
        for j in range(n):
            pb[j] += row[j]
        for i in range(xr.shape[0]):
            xi = xr[i]
            if xi == f32(0.0):
                continue
            w = pW[i]
            if used[i]:
                for j in range(n):
                    w[j] += xi * row[j]
            else:
                used[i] = True
                for j in range(n):
                    w[j] = xi * row[j]
    for i in range(pW.shape[0]):
        if used[i]:
            w, p = dW[i], pW[i]
            for j in range(n):
                w[j] += p[j]
    for j in range(n):
        db[j] += pb[j]


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


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float32 whose bits are the int32 ``bits``: one LLVM bitcast (so ``exp``'s loops vectorise)."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(numba.types.float32))
    return numba.types.float32(numba.types.int32), codegen


@jit(inline="always")
def exp(x):
    """``e^x`` in float32 (Cephes' ``expf``: ``2^n e^r``, ``|r| <= ln(2)/2``, a degree-7 polynomial;
    within 2 ulp of ``np.exp`` on ``[-87.3, 88]``): written out so that loops over it vectorise, where
    numba calls the C library's ``expf`` one number at a time. Clamped to ``[-87.3, 88]``: below,
    about 1e-38 instead of 0 (a softmax's share of an impossible class); NaN stays NaN."""
    if x != x:
        return x
    x = min(max(x, f32(-87.33654)), f32(88.0))
    n = np.floor(x * f32(1.44269504088896341) + f32(0.5))
    r = x - n * f32(0.693359375) - n * f32(-2.12194440e-4)  # x - n ln(2), ln(2) in two parts
    p = r * f32(1.9875691500e-4) + f32(1.3981999507e-3)
    p = p * r + f32(8.3334519073e-3)
    p = p * r + f32(4.1665795894e-2)
    p = p * r + f32(1.6666665459e-1)
    p = p * r + f32(5.0000001201e-1)
    return (p * r * r + r + f32(1.0)) * _float_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))


@jit
def softmax_xent(z, y, loss, p):
    """k-class softmax cross-entropy per problem (``losses._softmax_k`` in float32): ``loss =
    logsumexp(z) - z_y`` and ``p = softmax(z) - onehot(y)``; ``z, p: (R, T, B, K)`` (replica-major
    memory, as the output layer writes the logits), ``y, loss: (T, R, B)``. A NaN or infinite logit
    gives a NaN loss, as in NumPy.

    NumPy's reductions over a last axis of 10 took 40 ms of a copy step at T = 1000 (10 replicas,
    batch 32); a kernel calling the C library's ``expf`` per number on a time-major copy of ``z``
    18 ms; this one, with ``exp`` vectorised over a replica's whole block of ``B * K`` numbers (each
    less its problem's maximum), 9 ms, and ``p`` in replica-major memory spares the output layer
    three copies of it (measured side by side)."""
    R, T, B, K = z.shape
    M = np.empty(B * K, np.float32)  # each number's problem's maximum
    for r in range(R):
        for t in range(T):
            zb, pb = z[r, t], p[r, t]
            for b in range(B):
                zr = zb[b]
                m = zr[0]
                for j in range(1, K):
                    m = max(m, zr[j])
                for j in range(K):
                    M[b * K + j] = m
            zf, pf = zb.reshape(B * K), pb.reshape(B * K)
            for i in range(B * K):
                pf[i] = exp(zf[i] - M[i])
            for b in range(B):
                pr = pb[b]
                s = f32(0.0)
                for j in range(K):
                    s += pr[j]
                inv = f32(1.0) / s
                for j in range(K):
                    pr[j] *= inv
                yi = int(y[t, r, b])
                loss[t, r, b] = np.log(s) + M[b * K] - zb[b, yi]
                pr[yi] -= f32(1.0)
