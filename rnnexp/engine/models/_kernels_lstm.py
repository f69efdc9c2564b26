"""The LSTM's compiled float32 kernels (``_kernels``' conventions; ``lstm.Cell`` calls them):
the step after its recurrent matmul, with the input projections precomputed or done here, and a
step backwards, per step of a whole layer (``_into``) or on slices of steps (truncated BPTT)."""
from __future__ import annotations

import numpy as np

from ._kernels import _add_row_product, _input_grads_block, _projection_row, act, dact, f32, jit, sigmoid, tanh


@jit(inline="always")
def _lstm_step_block(A, X, S, cp, cn, k, h, H, c):
    """One replica's LSTM step (see ``lstm_forward``): ``A: (B, 4H)``, the pre-activations less
    ``X: (B, 4H)``, becomes the gates; ``cp, cn, k, h: (B, H)``; ``S``: ``s`` of each of a problem's
    4H gates. ``c`` is a literal where this is called (``lstm_forward``).

    One problem at a time, its gates then its cell, while its row is in L1: a loop over 4H numbers
    vectorises at any hidden size (LLVM vectorises 32 numbers at a time and does the rest one by
    one, so separate loops of H = 16 numbers ran unvectorised). Measured against loops over the
    replica's whole block with ``S`` for every problem (``B * 4H`` numbers): the kernel 98 -> 86 us
    a step at hidden 64, 31 -> 27 us at hidden 16 (T = 1000, 10 replicas, batch 32)."""
    G = 4 * H
    for b in range(A.shape[0]):
        ar, xr = A[b], X[b]
        if c == 0:
            for j in range(G):
                v = S[j]
                ar[j] = v * tanh(v * (ar[j] + xr[j])) + (f32(1.0) - v)
        else:
            for j in range(3 * H):
                ar[j] = sigmoid(ar[j] + xr[j])
            for j in range(3 * H, G):
                ar[j] = act(ar[j] + xr[j], c)
        gi, gf, go, gg = ar[:H], ar[H : 2 * H], ar[2 * H : 3 * H], ar[3 * H :]
        cpr, cnr, kr, hr = cp[b], cn[b], k[b], h[b]
        for j in range(H):
            cc = gf[j] * cpr[j] + gi[j] * gg[j]
            cnr[j] = cc
            kk = act(cc, c)
            kr[j] = kk
            hr[j] = go[j] * kk


@jit(inline="always")
def _gate_scales(G):
    """``s`` of ``lstm_forward`` for a problem's 4H gates: 1/2 on i, f, o, 1 on g."""
    S = np.full(G, f32(1.0))
    S[: 3 * (G // 4)] = f32(0.5)
    return S


@jit
def lstm_forward(a, xw, t, c, k, h, code):
    """Step ``t`` of the LSTM after its matmul: step t of ``a`` (pre-activations less ``xw``) becomes
    the gates ``i, f, o, g`` in place; ``c_{t+1} = f c_t + i g``, ``k_t = act(c_{t+1})``, ``h_{t+1} = o k_t``.
    All in replica-major memory: ``a, xw: (R, T, B, 4H)``, ``c, h: (R, T+1, B, H)``, ``k: (R, T, B, H)``.

    With ``act = tanh`` the four gates are one loop: ``sigmoid(x) = tanh(x / 2) / 2 + 1 / 2``, so every
    gate is ``s tanh(s x) + 1 - s`` with ``s = 1/2`` on ``i, f, o`` and ``1`` on ``g`` (the same
    operations as ``sigmoid`` and ``tanh``, so the same numbers): one loop instead of two (measured:
    the kernel 30-40 % faster at hidden 16-128). Each gate's block is a slice of its own
    (``ar[H:2H]``...): indexing one array at four offsets in one loop defeated vectorisation (the
    backward kernel was 3x slower so at hidden 64)."""
    R, _, B, G = a.shape
    H = G // 4
    S = _gate_scales(G)
    if code == 0:  # outside the loops, as in lstm_backward_into
        for r in range(R):
            _lstm_step_block(a[r, t], xw[r, t], S, c[r, t], c[r, t + 1], k[r, t], h[r, t + 1], H, 0)
    else:
        for r in range(R):
            _lstm_step_block(a[r, t], xw[r, t], S, c[r, t], c[r, t + 1], k[r, t], h[r, t + 1], H, code)


@jit
def lstm_forward_in(a, x, Wxh, bh, skip_zeros, t, c, k, h, code):
    """``lstm_forward`` with the input projection done here: ``xw_t = x_t Wxh + bh`` per problem
    (``x: (T, R, B, I)``, ``Wxh: (R, I, 4H)``, ``bh: (R, 1, 4H)``), for layers with few inputs
    (``lstm.Cell.run_inputs``), so that the ``(T, R, B, 4H)`` projections are never written to memory
    and read back. ``skip_zeros``: an input of 0 adds nothing (one-hot and 0/1 inputs: most are 0);
    the caller sets it only when every weight is finite (``0 * inf`` is NaN, which must not be lost)."""
    R, _, B, G = a.shape
    H = G // 4
    S = _gate_scales(G)
    X = np.empty((B, G), np.float32)  # one replica's projections at a time
    for r in range(R):
        for b in range(B):
            _projection_row(X[b], x[t, r, b], Wxh[r], bh[r, 0], 0, skip_zeros)
        if code == 0:
            _lstm_step_block(a[r, t], X, S, c[r, t], c[r, t + 1], k[r, t], h[r, t + 1], H, 0)
        else:
            _lstm_step_block(a[r, t], X, S, c[r, t], c[r, t + 1], k[r, t], h[r, t + 1], H, code)


@jit(inline="always")
def _lstm_backward_row(gd, cp, kr, dhr, dcr, H, c):
    """One problem's LSTM step backwards, in place: ``gd`` holds its gates ``i, f, o, g`` and becomes
    ``dL/da``, ``dcr`` holds ``dL/dc_t`` (through step t+1) and becomes ``dL/dc_{t-1}``; ``cp = c_{t-1}``,
    ``kr = act(c_t)``, ``dhr = dL/dh_t``.

    In place because LLVM then vectorises the loop without checking at run time, on every call, that
    none of its nine arrays overlaps another (its stores go where its loads came from): with
    separate outputs those checks cost more than the loop at hidden 64 (measured: a layer's
    backward kernel 52 -> 39 us a step at hidden 64, T = 1000, 10 replicas), and a training step's
    BPTT writes ``dL/da`` over the gates, which it no longer needs, instead of into a new array."""
    gi, gf, go, gg = gd[:H], gd[H : 2 * H], gd[2 * H : 3 * H], gd[3 * H :]
    for j in range(H):
        i, f, o, g, kk = gi[j], gf[j], go[j], gg[j], kr[j]
        dc = dhr[j] * o * dact(kk, c) + dcr[j]
        gi[j] = dc * g * (i * (f32(1.0) - i))
        gf[j] = dc * cp[j] * (f * (f32(1.0) - f))
        go[j] = dhr[j] * kk * (o * (f32(1.0) - o))
        gg[j] = dc * i * dact(g, c)
        dcr[j] = dc * f


@jit(inline="always")
def _backward_steps(g, c, k, t0, dh, dc_next, dpre, dc_prev, H, code):
    """``lstm_backward`` for one ``code`` (a literal where it is called)."""
    n, R, B, G = dpre.shape
    for s in range(n):
        t = t0 + s
        for r in range(R):
            for b in range(B):
                dp, dcp, gr, dcn = dpre[s, r, b], dc_prev[s, r, b], g[r, t, b], dc_next[s, r, b]
                for j in range(G):
                    dp[j] = gr[j]
                for j in range(H):
                    dcp[j] = dcn[j]
                _lstm_backward_row(dp, c[r, t, b], k[r, t, b], dh[s, r, b], dcp, H, code)


@jit
def lstm_backward(g, c, k, t0, dh, dc_next, dpre, dc_prev, code):
    """Steps ``t0 .. t0+n-1`` backwards (the NumPy cell's ``back`` per element; truncated BPTT's lags
    and the generic loop over steps): ``dpre = dL/da: (n, R, B, 4H)`` and ``dc_prev = dL/dc_{t-1}``
    from ``dh = dL/dh_t``, ``dc_next = dL/dc_t`` (through step t+1), ``(n, R, B, H)``; the layer's
    caches read in place, in replica-major memory: ``g: (R, T, B, 4H)`` (the gates), ``c: (R, T+1, B, H)``,
    ``k: (R, T, B, H)``. Each problem's gates and ``dL/dc_t`` are copied into its rows of the results,
    which ``_lstm_backward_row`` then turns into the gradients in place."""
    H = g.shape[3] // 4
    if code == 0:  # outside the loops (see lstm_backward_into)
        _backward_steps(g, c, k, t0, dh, dc_next, dpre, dc_prev, H, 0)
    else:
        _backward_steps(g, c, k, t0, dh, dc_next, dpre, dc_prev, H, code)


@jit(inline="always")
def _backward_step(g, c, k, t, dh, dc, x, dW, db, sums, dz, WyT, skip, H, code):
    """``lstm_backward_into``'s step for one ``code`` (a literal where it is called)."""
    R, _, B, G = g.shape
    for r in range(R):
        for b in range(B):
            dhr = dh[r, b]
            _add_row_product(dhr, dz[r, t, b], WyT[r], 0, skip)  # nothing when dz has no outputs
            _lstm_backward_row(g[r, t, b], c[r, t, b], k[r, t, b], dhr, dc[r, b], H, code)
    if sums:  # a loop of its own (in the one above it cost the rows 10 %); the step's dL/da is in L2
        pW, pb, used = np.empty((x.shape[-1], G), np.float32), np.empty(G, np.float32), np.empty(x.shape[-1], np.bool_)
        for r in range(R):
            _input_grads_block(g[r, t], x[t, r], dW[r], db[r], pW, pb, used)


@jit
def lstm_backward_into(g, c, k, t, dh, dc, code, x, dW, db, sums, dz, WyT, skip):
    """Step ``t`` of a layer's BPTT (``lstm.Cell.back_layer``), in place on the layer's whole arrays in
    replica-major memory: ``g: (R, T, B, 4H)`` holds the gates, and step t's become ``dL/da_t``; ``c:
    (R, T+1, B, H)``, ``k: (R, T, B, H)``; ``dc: (R, B, H)`` holds dL/dc_t and becomes dL/dc_{t-1};
    ``dh: (R, B, H)`` holds the gradient reaching h_t through step t+1 and becomes junk (the caller's
    matmul writes dL/dh_{t-1} there).

    - The top layer's ``dL/dh_t`` from the output layer, ``dz_t Why^T``, is added here per problem
      from ``dz: (R, T, B, O)`` (the logits' gradients) and ``WyT: (R, O, H)``, skipping entries of
      ``dz`` that are 0 when ``skip`` (every weight finite): no ``(T, R, B, H)`` array of it is
      written and read back, and a task scored at one step adds one row. A layer below passes
      ``dz`` with ``O = 0`` and adds its ``dL/dh_t`` to ``dh`` itself.
    - With ``sums`` (``_fused.input_sums``) it also adds each row of ``dL/da_t`` to ``db: (R, 4H)``
      and, times the layer's inputs ``x: (T, R, B, I)``, to ``dW: (R, I, 4H)`` while each replica's
      step of it is in the cache (``_kernels._input_grads_block``).

    ``code`` is tested once, outside the loops: with its two branches inside them (even per
    replica), LLVM kept the rows' vectorised loop but spent more around each call of it than the
    loop itself takes at hidden 64 (measured: the kernel 98 -> 71 us a step with the sums at hidden
    64, T = 1000, 10 replicas)."""
    H = g.shape[3] // 4
    if code == 0:
        _backward_step(g, c, k, t, dh, dc, x, dW, db, sums, dz, WyT, skip, H, 0)
    else:
        _backward_step(g, c, k, t, dh, dc, x, dW, db, sums, dz, WyT, skip, H, code)
