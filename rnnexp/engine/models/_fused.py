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
import weakref

import numpy as np

from ._ops import T_

PROJECT_IN_KERNEL = 16  # layers with at most this many inputs (a task's own) project them in the kernels
ACT = {"tanh": 0, "sigmoid": 1, "relu": 2, "identity": 3}
KERNELS = ("act_add", "lstm_forward", "lstm_forward_in", "lstm_backward", "lstm_backward_into", "gru_gates",
           "gru_output", "gru_gates_in", "gru_output_in", "gru_backward_zn", "gru_backward_r", "gru_backward_zn_into",
           "gru_backward_r_into", "softmax_xent")


def code(act) -> int:
    """The kernels' number for an ``activations.Activation``."""
    return ACT[act.name]


@functools.lru_cache(maxsize=None)
def kernels():
    """The compiled kernels (``_kernels``, ``_kernels_lstm``, ``_kernels_gru``), imported on first
    use: ``{name: function}``."""
    from . import _kernels, _kernels_gru, _kernels_lstm

    found = {}
    for module in (_kernels, _kernels_lstm, _kernels_gru):
        found.update({name: getattr(module, name) for name in KERNELS if hasattr(module, name)})
    return found


def compile_all() -> None:
    """Compile (or load) every kernel now, for the argument types the cells pass (C-contiguous
    4-D float32 arrays, a step index, an activation code): what the first float32 step would do."""
    z = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    k = kernels()
    k["act_add"](z(1, 1, 1, 2), z(1, 1, 1, 2), 0, 0)
    k["lstm_forward"](z(1, 1, 1, 8), z(1, 1, 1, 8), 0, z(1, 2, 1, 2), z(1, 1, 1, 2), z(1, 2, 1, 2), 0)
    k["lstm_backward"](z(1, 1, 1, 8), z(1, 2, 1, 2), z(1, 1, 1, 2), 0, z(1, 1, 1, 2), z(1, 1, 1, 2), z(1, 1, 1, 8),
                       z(1, 1, 1, 2), 0)
    k["lstm_forward_in"](z(1, 1, 1, 8), z(1, 1, 1, 2), z(1, 2, 8), z(1, 1, 8), True, 0, z(1, 2, 1, 2), z(1, 1, 1, 2),
                         z(1, 2, 1, 2), 0)
    k["lstm_backward_into"](z(1, 1, 1, 8), z(1, 2, 1, 2), z(1, 1, 1, 2), 0, z(1, 1, 2), z(1, 1, 2), 0,
                            *input_sums({}, 8), *output_grads(None, None, (1, 1, 1, 2)))
    k["gru_gates"](z(1, 1, 4), z(1, 1, 1, 6), 0, z(1, 2, 1, 2), z(1, 1, 1, 6), z(1, 1, 1, 2))
    k["gru_output"](z(1, 1, 2), z(1, 1, 1, 6), 0, z(1, 2, 1, 2), z(1, 1, 1, 6), 0)
    k["gru_gates_in"](z(1, 1, 4), z(1, 1, 1, 2), z(1, 2, 6), z(1, 1, 6), True, 0, z(1, 2, 1, 2), z(1, 1, 1, 6),
                      z(1, 1, 1, 2))
    k["gru_output_in"](z(1, 1, 2), z(1, 1, 1, 2), z(1, 2, 6), z(1, 1, 6), True, 0, z(1, 2, 1, 2), z(1, 1, 1, 6), 0)
    k["gru_backward_zn"](z(1, 1, 1, 6), z(1, 1, 1, 2), z(1, 1, 1, 2), z(1, 1, 1, 6), 0)
    k["gru_backward_r"](z(1, 1, 1, 6), z(1, 1, 1, 2), z(1, 1, 1, 2), z(1, 1, 1, 2), z(1, 1, 1, 6), z(1, 1, 1, 2))
    k["gru_backward_zn_into"](z(1, 1, 1, 6), z(1, 2, 1, 2), 0, z(1, 1, 2), z(1, 1, 1, 6), 0)
    k["gru_backward_r_into"](z(1, 1, 1, 6), z(1, 2, 1, 2), 0, z(1, 1, 2), z(1, 1, 2), z(1, 1, 1, 6), z(1, 1, 2))
    k["softmax_xent"](z(1, 1, 1, 3), z(1, 1, 1), z(1, 1, 1), z(1, 1, 1, 3))


def use(dtype) -> bool:
    """Whether a step in ``dtype`` runs the compiled kernels (float32) or NumPy (float64)."""
    return dtype == np.float32


def projection_inputs(lp: dict, inp: np.ndarray):
    """What a forward kernel that projects a layer's inputs itself takes (``x, Wxh, bh, skip_zeros``:
    C-contiguous; ``bh`` zeros without a bias; skipping inputs of 0 only while every weight is finite,
    since ``0 * inf`` is NaN), or None: not float32, or more than ``PROJECT_IN_KERNEL`` inputs."""
    if not use(inp.dtype) or inp.shape[-1] > PROJECT_IN_KERNEL:
        return None
    Wxh = lp["Wxh"]
    bh = lp["bh"] if "bh" in lp else np.zeros((Wxh.shape[0], 1, Wxh.shape[-1]), Wxh.dtype)
    return (np.ascontiguousarray(inp), np.ascontiguousarray(Wxh), np.ascontiguousarray(bh),
            bool(np.isfinite(Wxh).all()))


def input_sums(c: dict, G: int) -> tuple:
    """What a backward kernel that sums the bias and input-weight gradients takes (``x, dW, db,
    sums``): for a layer whose forward kernels projected its inputs (``c["projected"]``, set by a
    cell's ``run_inputs``), its inputs ``x: (T, R, B, I)`` and zeroed float64 sums ``dW: (R, I, G)``,
    ``db: (R, G)``; otherwise empty arrays and ``sums=False``.

    Why: ``_windows.layer_grads`` would otherwise read ``dL/da`` ``(T, R, B, G)`` from memory twice
    more, once for a BLAS product with an inner size of at most 16 inputs, slow at that shape. The
    kernel adds each replica's step of it while that is in the cache, skipping inputs of 0. Measured at 10 replicas,
    batch 32, copy: the two sums took 40 ms of a 430 ms step at hidden 64, T = 500, and 19 of 210 ms
    at hidden 16, T = 1000."""
    x = c.get("projected")
    if x is None:
        return np.zeros((1, 1, 1, 0), np.float32), np.zeros((1, 0, G)), np.zeros((1, G)), False
    T, R, B, I = x.shape
    return x, np.zeros((R, I, G)), np.zeros((R, G)), True


def output_grads(dz, Why, shape: tuple) -> tuple:
    """What ``lstm_backward_into`` takes to add the top layer's ``dL/dh_t = dz_t Why^T`` itself
    (``dz, WyT, skip``): ``dz`` ``(T, R, B, O)`` in replica-major memory (C-contiguous ``(R, T, B, O)``),
    ``Why^T`` C-contiguous, and whether entries of ``dz`` that are 0 may be skipped (every weight
    finite: ``0 * inf`` is NaN). Without ``dz`` (a layer below the top; ``shape``: the layer's
    ``(T, R, B, H)``): an empty ``dz`` with no outputs, so the kernel adds nothing."""
    if dz is None:
        T, R, B, H = shape
        return np.zeros((R, T, B, 0), np.float32), np.zeros((R, 0, H), np.float32), False
    return replica_rows(dz), np.ascontiguousarray(T_(Why)), bool(np.isfinite(Why).all())


def keep_input_grads(c: dict, dpre: np.ndarray, sums: tuple) -> None:
    """Keeps a backward kernel's sums (``input_sums``) in the cache ``c`` for ``input_grads``, when
    they are exact: skipping an input of 0 is right only while every ``dL/da`` is finite (``0 * inf``
    is NaN), and any that is not makes ``db`` non-finite; then ``layer_grads`` sums with BLAS."""
    _, dW, db, on = sums
    if on and np.isfinite(db).all():  # a weak reference: the cache must not keep dpre alive (a replica
        # group's cache outlives its backward pass: 560 MB more at hidden 128, T = 1000)
        c["input_grads"] = (weakref.ref(dpre), dW.astype(dpre.dtype), db[:, None].astype(dpre.dtype))


def input_grads(c: dict, dpre: np.ndarray):
    """``(dL/dWxh, dL/dbh)`` that the backward kernel summed for exactly this ``dpre`` (taken from the
    cache: used once), or None."""
    kept = c.pop("input_grads", None)
    return kept[1:] if kept is not None and kept[0]() is dpre else None


def replica_rows(xw: np.ndarray) -> np.ndarray:
    """A ``(T, R, B, X)`` array (the input projections, the logits' gradients) as the kernels read it:
    its replica-major memory ``(R, T, B, X)``, C-contiguous (a view of what ``_ops.project`` and the
    softmax kernel return; else a copy)."""
    return np.ascontiguousarray(xw.transpose(1, 0, 2, 3))


def kernel(name: str):
    """The compiled kernel ``name``: for a caller whose arrays are 4-D and C-contiguous already
    (a time loop over its own arrays, ``a[t:t+1]``), without ``call``'s checks."""
    return kernels()[name]


def scratch(like: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """Where a kernel writes a result shaped like ``like``: ``out`` itself when it is C-contiguous,
    else a new C-contiguous array (``written`` then copies it into ``out``)."""
    return out if out is not None and out.flags.c_contiguous else np.empty(like.shape, like.dtype)


def written(d: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """The result ``d`` a kernel wrote, copied into ``out`` when it was a scratch array; returns the
    array ``back`` returns (``out`` when given)."""
    if out is None or d is out:
        return d
    out[...] = d
    return out


def call(name: str, *args):
    """Run kernel ``name`` on ``args`` (arrays; a step's ``(R, B, X)`` made ``(1, R, B, X)``; the
    activation code, if any, last).

    Every array reaches the kernel C-contiguous: numba vectorises the innermost loops only when it
    knows they have unit stride (a C array; any other layout compiles to a scalar loop, 2-4x slower).
    So a non-contiguous input (a slice of the replica-major ``dL/dh`` in truncated BPTT) is copied;
    the arrays a kernel writes must be C-contiguous already (``scratch``)."""
    args = [a[None] if isinstance(a, np.ndarray) and a.ndim == 3 else a for a in args]
    kernels()[name](*[np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a for a in args])
