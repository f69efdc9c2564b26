"""What the sequence tasks other than addition share: batches drawn per replica, a fixed held-out
evaluation set, and a chunked, masked evaluation.

A ``SequenceTask`` subclass gives ``sample(rng, n) -> (x: (T, n, n_in), y: (T, n))``, its per-step
target mask ``steps`` (``(T,)`` bool, or None: every step carries a target), and ``tally(pred, y)``:
the counts its measures are made of, with ``per_sequence``: what one sequence adds to each count at
most (the denominator per sequence).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..engine import network
from . import Replayable

HELDOUT_SEED = 20_260_012  # fixed: every run of a task at a given length is scored on the same sequences


class Batches(Replayable):
    """Training batches for R replicas, replica r's drawn from ``rngs[r]`` alone.

    ``train_size == 0``: fresh sequences every step, drawn a chunk of steps at a time (the chunk
    depends on T and the batch only, so a replica's stream never depends on how many replicas
    run). ``train_size == N``: each replica draws N sequences once (or one set from ``shared_rng``
    for every replica) and iterates over them in order. Pickled, it keeps its generators' states,
    not the chunk drawn ahead (``Replayable``).
    """

    def __init__(self, task, rngs, batch: int, train_size: int = 0, shared_rng=None):
        self.task, self.rngs, self.batch, self.train_size = task, rngs, batch, train_size
        self.chunk = int(np.clip(2**16 // (task.T * batch), 1, 64))
        self._buf, self._pos = None, 0
        if shared_rng is not None:
            x, y = task.sample(shared_rng, train_size)  # (T, N, I), (T, N)
            R = len(rngs)
            self.train_x = np.broadcast_to(x[:, None], (x.shape[0], R) + x.shape[1:])
            self.train_y = np.broadcast_to(y[:, None], (y.shape[0], R) + y.shape[1:])
        elif train_size:
            self.train_x, self.train_y = self._draw(train_size)

    def _draw(self, n):
        xs, ys = zip(*(self.task.sample(g, n) for g in self.rngs))
        return np.stack(xs, axis=1), np.stack(ys, axis=1)  # (T, R, n, I), (T, R, n)

    def problems(self, which):
        return self.train_x[:, :, which], self.train_y[:, :, which], self.task.mask

    def train_set(self):
        return self.train_x, self.train_y, self.task.mask

    def _fill(self):
        self._buf = self._draw(self.chunk * self.batch)

    def next(self, step: int):
        if self.train_size:
            lo = step * self.batch % self.train_size
            return self.problems((lo + np.arange(self.batch)) % self.train_size)
        if self._buf is None or self._pos == self.chunk:
            self._refill()
            self._pos = 0
        sl = slice(self._pos * self.batch, (self._pos + 1) * self.batch)
        self._pos += 1
        return self._buf[0][:, :, sl], self._buf[1][:, :, sl], self.task.mask


class SequenceTask:
    """The shared half of a task; see the module docstring for what a subclass gives."""

    name = ""
    steps: np.ndarray | None = None
    EVAL_SIZE = 1000  # held-out sequences, drawn once from a fixed seed

    def __getstate__(self):  # pickled without its evaluation set (drawn again from its fixed seed)
        return {k: v for k, v in self.__dict__.items() if k != "_eval"}

    @property
    def mask(self):
        return None if self.steps is None else self.steps[:, None, None]

    def batches(self, rngs, batch: int, train_size: int = 0, shared_rng=None):
        return Batches(self, rngs, batch, train_size, shared_rng)

    def eval_set(self):
        if not hasattr(self, "_eval"):
            rng = np.random.default_rng([HELDOUT_SEED, sum(map(ord, self.name)), self.T])
            x, y = self.sample(rng, self.EVAL_SIZE)
            x.flags.writeable = y.flags.writeable = False
            self._eval = (x, y, self.mask)
        return self._eval

    def evaluate(self, spec, params, x, y, mask=None, *, max_elems: int = 2**15) -> dict[str, np.ndarray]:
        """The loss per target and the task's measures, per replica, in chunks of sequences."""
        R = next(iter(params.values())).shape[0]
        if x.ndim == 3:  # one set for every replica
            x, y = x[:, None], y[:, None]
        T, N = x.shape[0], x.shape[2]
        chunk = max(1, min(N, max_elems // max(1, R * spec.impl.top_size(spec))))
        loss = np.zeros(R)
        counts: dict[str, np.ndarray] = {}
        with np.errstate(all="ignore"):
            for lo in range(0, N, chunk):
                xc = np.broadcast_to(np.ascontiguousarray(x[:, :, lo:lo + chunk]), (T, R) + x[:, :, lo:lo + chunk].shape[2:])
                yc = np.broadcast_to(y[:, :, lo:lo + chunk], (T, R) + y[:, :, lo:lo + chunk].shape[2:])
                z, _ = network.forward(spec, params, xc)
                elem, _ = network.step_losses(spec, z, yc, mask)
                loss += elem.sum(axis=(0, 2))
                for k, v in self.tally(network.predict(spec, z), yc).items():
                    counts[k] = counts.get(k, 0) + v
        targets = T if self.steps is None else int(self.steps.sum())
        out = {"loss": loss / (N * targets)}
        out.update({k: counts[k] / (N * self.per_sequence[k]) for k in self.columns})
        return out

    def positions(self, ev, ids) -> pd.DataFrame:
        """No per-position table (addition's bit positions): an empty one, same columns."""
        return pd.DataFrame({"replica": [], "t": [], "bit": [], "bit_acc": []})

    def lengths(self, spec, params, ids, eval_bits, ev) -> pd.DataFrame:
        """The final model at its training length only (``eval_bits`` is addition's)."""
        return pd.DataFrame({"replica": ids, "bits_scored": self.T, "eval_loss": ev["loss"],
                             **{k: ev[k] for k in self.columns}})

    def train_measures(self, spec, params, batches) -> dict[str, np.ndarray]:
        return {}

    def train_set_loss(self, spec, params, batches) -> np.ndarray:
        return self.evaluate(spec, params, *batches.train_set())["loss"]
