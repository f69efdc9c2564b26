"""Binary addition as a ``Task`` (``rnnexp.tasks``): its settings, its head and the delay.

``task.delay = D`` (default 0): the sum bit of input position k is expected D steps after that
position is read. The operands are padded with D zero steps at the end (``T = bits + D``) and the
first D steps carry no target (a mask). With ``D >= bits - 1`` a model reading msb first has seen
every bit before it must answer: msb becomes learnable by a causal model that can carry information
across up to ``bits + D`` steps. ``delay=0`` is the task as it always was: the same arrays, no mask.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import TaskConf
from . import data, metrics


@dataclass
class Conf(TaskConf):
    name: str = "addition"
    delay: int = 0  # steps between reading an operand bit and emitting its sum bit (inputs padded at the end)


RULES = {"task.delay": (lambda v: 0 <= v <= 256, "an integer from 0 to 256")}


def _pad(x, y, delay: int):
    """``x: (T, ..., 2)``, ``y: (T, ...)`` -> inputs with ``delay`` zero steps after them, targets
    ``delay`` steps later (zero, and masked out, before)."""
    zx = np.zeros((delay,) + x.shape[1:])
    zy = np.zeros((delay,) + y.shape[1:])
    return np.concatenate([x, zx]), np.concatenate([zy, y])


@functools.lru_cache(maxsize=8)
def _padded_eval_set(bits: int, order: str, delay: int):
    x, y = _pad(*data.eval_set(bits, order), delay)
    x.flags.writeable = y.flags.writeable = False  # read-only: metrics.evaluate keeps its prefix tree
    return x, y


class Addition:
    """Binary addition, one bit per step (``data``, ``metrics``): a binary head (the ``loss`` setting)."""

    n_in = 2
    columns = ("bit_acc", "sum_acc")

    def __init__(self, bits: int, order: str, delay: int = 0, loss: str = "bce"):
        self.bits, self.order, self.delay, self.head = bits, order, delay, loss
        self.T = bits + delay
        self.steps = None if not delay else np.arange(self.T) >= delay  # (T,): the steps with a sum bit
        self.mask = None if not delay else self.steps[:, None, None]

    def batches(self, rngs, batch: int, train_size: int = 0, shared_rng=None):
        b = data.Batches(rngs, self.bits, self.order, batch, train_size, shared_rng)
        return _Batches(b, self)

    def eval_set(self, bits: int | None = None):
        bits = self.bits if bits is None else bits
        if not self.delay:
            return (*data.eval_set(bits, self.order), None)
        return (*_padded_eval_set(bits, self.order, self.delay), self._mask_for(bits))

    def _mask_for(self, bits: int):
        return None if not self.delay else (np.arange(bits + self.delay) >= self.delay)[:, None, None]

    def evaluate(self, spec, params, x, y, mask=None):
        steps = None if mask is None else np.asarray(mask).reshape(len(mask))
        return metrics.evaluate(spec, params, x, y, steps=steps)

    def solved(self, ev) -> np.ndarray:
        return ev["sum_acc"] == 1.0

    def references(self) -> dict[str, dict[str, float]]:
        lim = metrics.causal_bit_limits(self.bits, self.order, self.delay)
        return {"causal": {"bit_acc": float(lim.mean()),
                           "sum_acc": metrics.causal_sum_limit(self.bits, self.order, self.delay)}}

    def positions(self, ev, ids) -> pd.DataFrame:
        """Final per-bit accuracy by output step ``t`` (1-based) and bit (0 = least significant)."""
        pos = ev["pos_acc"]  # (R, bits)
        R, n = pos.shape
        t = np.arange(1, n + 1) + self.delay
        bit = np.arange(n) if self.order == "lsb" else np.arange(n)[::-1]
        return pd.DataFrame({"replica": np.repeat(ids, n), "t": np.tile(t, R), "bit": np.tile(bit, R),
                             "bit_acc": pos.ravel()})

    def lengths(self, spec, params, ids, eval_bits, ev) -> pd.DataFrame:
        """The trained networks (weights are shared over time) scored at every length of ``eval_bits``
        and the training length (``ev``: its evaluation, already known)."""
        rows = []
        for b in sorted({self.bits, *eval_bits}):
            e = ev if b == self.bits else None
            if e is None:
                with np.errstate(all="ignore"):
                    e = self.evaluate(spec, params, *self.eval_set(b))
            rows.append(pd.DataFrame({"replica": ids, "bits_scored": b, "eval_loss": e["loss"],
                                      "bit_acc": e["bit_acc"], "sum_acc": e["sum_acc"]}))
        return pd.concat(rows, ignore_index=True)

    def train_measures(self, spec, params, batches, n: int = 1000) -> dict[str, np.ndarray]:
        """Seed 001's metric on each replica's first 1,000 training problems (with a fixed set)."""
        from ...engine import network
        x, y, mask = batches.problems(slice(0, n))
        z, _ = network.forward(spec, params, x)
        if mask is not None:
            z, y = z[self.delay:], y[self.delay:]
        return {"seed_acc": metrics.seed001_accuracy(network.predict(spec, z), y)}

    def train_set_loss(self, spec, params, batches) -> np.ndarray:
        x, y, mask = batches.train_set()
        return self.evaluate(spec, params, x, y, mask)["loss"]


class _Batches:
    """``data.Batches`` giving ``(x, y, mask)``, padded by the delay (none: the arrays as they are)."""

    def __init__(self, inner: data.Batches, task: Addition):
        self.inner, self.task = inner, task

    def _out(self, x, y):
        if not self.task.delay:
            return x, y, None
        return (*_pad(x, y, self.task.delay), self.task.mask)

    def next(self, step):
        return self._out(*self.inner.next(step))

    def problems(self, which):
        return self._out(*self.inner.problems(which))

    def train_set(self):
        if not self.task.delay:
            return self.inner.train_x, self.inner.train_y, None
        key = "_padded"
        if not hasattr(self, key):  # read-only, built once: metrics.evaluate keeps its prefix tree
            x, y = _pad(self.inner.train_x, self.inner.train_y, self.task.delay)
            x.flags.writeable = y.flags.writeable = False
            setattr(self, key, (x, y))
        return (*getattr(self, key), self.task.mask)


def make(cfg) -> Addition:
    return Addition(cfg.bits, cfg.order, cfg.task.delay, cfg.loss)
