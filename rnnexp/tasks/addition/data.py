"""Binary addition as a sequence task, one bit per time step.

Operands ``a, b`` are uniform in ``[0, 2**(bits-1))`` so that ``a + b`` fits in ``bits`` bits.
Numbers are handled as bit arrays (least significant bit first, last axis), never as integers,
so any length works (``bits=64`` included).

``order`` says which end the sequence starts from: ``lsb`` (the carry is known when each bit is
emitted) or ``msb`` (the natural array order; inputs *and* targets are reversed together).
Sequences are time-major: ``x: (T, ..., 2)`` with the two operand bits per step, ``y: (T, ...)``.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import SHARED_SET_TAG, Replayable, shared_set_rng  # noqa: F401  (the shared training set's generator: every task's)

ORDERS = ("lsb", "msb")
EXHAUSTIVE_MAX_BITS = 9  # at most 2**16 = 65,536 problems: evaluate on all of them
HELDOUT_SIZE = 10_000
HELDOUT_SEED = 20_260_001  # fixed: every run at a given length is scored on the same problems
TRAIN_SETS = ("per_replica", "shared")  # who draws a fixed training set: each replica, or one for all


def sample_operands(rng: np.random.Generator, shape: tuple[int, ...], bits: int) -> np.ndarray:
    """Uniform operands in ``[0, 2**(bits-1))`` as bits: ``shape + (bits,)``, lsb first, int8."""
    low = rng.integers(0, 2, size=shape + (bits - 1,), dtype=np.int8)
    return np.concatenate([low, np.zeros(shape + (1,), np.int8)], axis=-1)


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum bits of two lsb-first bit arrays, by ripple carry (loops over bits only)."""
    out = np.empty_like(a)
    carry = np.zeros(a.shape[:-1], np.int8)
    for k in range(a.shape[-1]):
        s = a[..., k] + b[..., k] + carry
        out[..., k] = s & 1
        carry = s >> 1
    return out


def encode(a: np.ndarray, b: np.ndarray, order: str) -> tuple[np.ndarray, np.ndarray]:
    """Operand bits ``(..., bits)`` -> ``x: (T, ..., 2)`` float64 and ``y: (T, ...)`` float64."""
    if order not in ORDERS:
        raise ValueError(f"order={order!r}: allowed values are {', '.join(ORDERS)}")
    c = add(a, b)
    x = np.stack([np.moveaxis(a, -1, 0), np.moveaxis(b, -1, 0)], axis=-1)  # (T, ..., 2), still int8
    y = np.moveaxis(c, -1, 0)  # (T, ...)
    if order == "msb":
        x, y = x[::-1], y[::-1]
    # rearranged as int8 above, converted in one contiguous pass here (8x less memory to shuffle)
    return np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64)


def decode(bits_seq: np.ndarray, order: str) -> np.ndarray:
    """Time-major bit sequence ``(T, ...)`` in ``order`` -> unsigned integers (``bits <= 64``)."""
    lsb_first = bits_seq if order == "lsb" else bits_seq[::-1]
    weights = np.left_shift(np.uint64(1), np.arange(lsb_first.shape[0], dtype=np.uint64))
    return np.tensordot(weights, lsb_first.astype(np.uint64), axes=(0, 0))


def to_bits(n: np.ndarray, bits: int) -> np.ndarray:
    """Non-negative integers -> lsb-first bits ``(..., bits)`` int8."""
    n = np.asarray(n, dtype=np.uint64)
    return ((n[..., None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)).astype(np.int8)


def all_problems(bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(a, b)`` with ``a, b < 2**(bits-1)``, as bits ``(N, bits)``; N = 4**(bits-1)."""
    n = 2 ** (bits - 1)
    a, b = np.divmod(np.arange(n * n, dtype=np.uint64), np.uint64(n))
    return to_bits(a, bits), to_bits(b, bits)


@functools.lru_cache(maxsize=8)
def eval_set(bits: int, order: str) -> tuple[np.ndarray, np.ndarray]:
    """The evaluation problems: all of them for ``bits <= 9``, else a fixed sample of 10,000.

    Returns ``x: (T, N, 2)`` and ``y: (T, N)``, read-only and built once per ``(bits, order)``
    (``metrics.evaluate`` keeps its prefix tree of them).
    """
    if bits <= EXHAUSTIVE_MAX_BITS:
        a, b = all_problems(bits)
    else:
        rng = np.random.default_rng([HELDOUT_SEED, bits])
        a = sample_operands(rng, (HELDOUT_SIZE,), bits)
        b = sample_operands(rng, (HELDOUT_SIZE,), bits)
    x, y = encode(a, b, order)
    x.flags.writeable = y.flags.writeable = False
    return x, y


class Batches(Replayable):
    """Training batches for R replicas, each drawn from the replica's own generator.

    ``train_size == 0``: a fresh random batch every step. ``train_size == N``: each replica draws a
    fixed set of N problems once and iterates over it in the same order every epoch (seed 001).
    With ``shared_rng`` the fixed set is drawn once from that generator instead and every replica
    trains on it (seed 001's own protocol: one data file, only the init varies); it is kept once,
    ``train_x: (T, N, 2)``, and broadcast over the replicas (a view, never R copies).
    Fresh batches are drawn a chunk of steps at a time; the chunk length depends only on the
    sequence length and batch size, so a replica's stream never depends on how many replicas run.
    Pickled, it keeps its generators' states, not the chunk drawn ahead (``Replayable``).
    """

    def __init__(self, rngs: list[np.random.Generator], bits: int, order: str, batch: int, train_size: int = 0,
                 shared_rng: np.random.Generator | None = None):
        if shared_rng is not None and not train_size:
            raise ValueError("a shared training set needs train_size >= 1 (fresh batches are per replica)")
        self.rngs, self.bits, self.order, self.batch = rngs, bits, order, batch
        self.train_size = train_size
        self.shared = shared_rng is not None
        self.chunk = int(np.clip(2**16 // (bits * batch), 1, 64))
        self._buf: tuple[np.ndarray, np.ndarray] | None = None
        self._pos = 0
        if self.shared:
            a = sample_operands(shared_rng, (train_size,), bits)  # (N, bits)
            b = sample_operands(shared_rng, (train_size,), bits)
            self.train_x, self.train_y = encode(a, b, order)  # (T, N, 2), (T, N): one copy for every replica
            # read-only: nothing may change the replicas' common data, and metrics.evaluate keeps the
            # prefix tree it builds for the epoch loss (the set is scored once per epoch)
            self.train_x.flags.writeable = self.train_y.flags.writeable = False
        elif train_size:
            a, b = self._draw((train_size,))  # (R, N, bits) each
            self.train_x, self.train_y = encode(a, b, order)  # (T, R, N, 2), (T, R, N)

    def _draw(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        # one call per replica per chunk: the only loop over replicas, amortised over many steps
        ab = [(sample_operands(g, shape, self.bits), sample_operands(g, shape, self.bits)) for g in self.rngs]
        return np.stack([p[0] for p in ab]), np.stack([p[1] for p in ab])

    def batch_at(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Fixed-set batch for 0-based ``step``: ``x: (T, R, B, 2)``, ``y: (T, R, B)``."""
        lo = step * self.batch % self.train_size
        if lo + self.batch <= self.train_size:  # a view, no copy
            return self.problems(slice(lo, lo + self.batch))
        return self.problems((lo + np.arange(self.batch)) % self.train_size)  # wraps around the end of the set

    def problems(self, which) -> tuple[np.ndarray, np.ndarray]:
        """Fixed-set problems ``which`` (a slice or indices) of every replica: ``x: (T, R, n, 2)``,
        ``y: (T, R, n)``; for a shared set a read-only broadcast view over the replicas."""
        if not self.shared:
            return self.train_x[:, :, which], self.train_y[:, :, which]
        x, y = self.train_x[:, which], self.train_y[:, which]  # (T, n, 2), (T, n)
        R = len(self.rngs)
        return (np.broadcast_to(x[:, None], (x.shape[0], R) + x.shape[1:]),
                np.broadcast_to(y[:, None], (y.shape[0], R) + y.shape[1:]))

    def _fill(self) -> None:
        a, b = self._draw((self.chunk, self.batch))  # (R, C, B, bits)
        x, y = encode(a, b, self.order)  # (T, R, C, B, 2), (T, R, C, B)
        self._buf = (np.moveaxis(x, 2, 0).copy(), np.moveaxis(y, 2, 0).copy())  # (C, T, R, B, ...)

    def next(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """The batch for 0-based training ``step`` (fresh batches must be asked for in order)."""
        if self.train_size:
            return self.batch_at(step)
        if self._buf is None or self._pos == self.chunk:
            self._refill()
            self._pos = 0
        x, y = self._buf[0][self._pos], self._buf[1][self._pos]
        self._pos += 1
        return x, y
