"""The copying memory task (Arjovsky, Shah & Bengio 2016).

K = 10 symbols (``task.symbols``) drawn from 8 categories (1..8), then ``T - 1`` blanks (0), a
delimiter (9), then K more blanks during which the model must output the K symbols, one per step:
``T + 2K`` steps (``task.length`` is T). Arjovsky et al.'s task is K = 10; a smaller K asks less
memory at the same distance (the first symbol is recalled T + K steps after it is read). Inputs are one-hot over the 10 classes; the output is a 10-class softmax
at every step with cross-entropy, the target blank everywhere but the last 10 steps.

Measures: ``eval_loss`` (cross-entropy per step), ``acc`` (right outputs per step), ``exact``
(sequences right at every step) and ``copy_acc`` (right symbols among the K copied). Solved:
every copied symbol right on the evaluation set (``copy_acc == 1``), a fixed held-out sample of
1,000 sequences. Reference, from the definition: the memoryless strategy (blank, then a uniform
guess over the 8 categories for the last K steps) scores ``K log(8) / (T + 2K)`` per step,
``copy_acc`` 1/8.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import TaskConf
from ._sequence import SequenceTask

CATEGORIES = 8
BLANK, DELIMITER = 0, CATEGORIES + 1
CLASSES = CATEGORIES + 2  # blank, 8 categories, delimiter


@dataclass
class Conf(TaskConf):
    name: str = "copy"
    length: int = 100  # T: blanks between the symbols and the delimiter, plus one; T + 2K steps
    symbols: int = 10  # K: symbols to copy (Arjovsky et al.: 10)


RULES = {"task.length": (lambda v: 1 <= v <= 100_000, "an integer from 1 to 100000"),
         "task.symbols": (lambda v: 1 <= v <= 100, "an integer from 1 to 100")}


class Copy(SequenceTask):
    name = "copy"
    n_in = CLASSES
    head = f"softmax{CLASSES}"
    columns = ("acc", "exact", "copy_acc")
    steps = None  # every step carries a target (blank but at the end)

    def __init__(self, length: int, symbols: int = 10):
        self.K = symbols
        self.T = length + 2 * symbols
        self.per_sequence = {"acc": self.T, "exact": 1, "copy_acc": symbols}

    def sample(self, rng, n: int):
        """``x: (T+2K, n, 10)`` one-hot, ``y: (T+2K, n)`` class indices (float).

        ``x`` is float32: 0 and 1 are exact in every float, so a float64 run sees the same numbers,
        and a float32 run (``precision``) no longer converts 10 numbers a step (measured at hidden
        16, T = 1000: drawing and converting the batches took 13 of a step's 190 ms). The ones are
        written into zeros, not gathered from an identity matrix by each step's class (0.09 against
        0.46 ms a batch of 32 at T = 1000: 4 ms of a 10-replica step)."""
        K, T = self.K, self.T
        sym = rng.integers(1, CATEGORIES + 1, (K, n))
        x = np.zeros((T, n, CLASSES), np.float32)
        np.put_along_axis(x[:K], sym[..., None], 1.0, axis=-1)  # the symbols
        x[K:, :, BLANK] = 1.0
        x[T - K - 1, :, BLANK], x[T - K - 1, :, DELIMITER] = 0.0, 1.0
        y = np.full((T, n), float(BLANK))
        y[-K:] = sym
        return x, y

    def tally(self, pred, y):
        right = pred == y  # (T, R, n)
        return {"acc": right.sum(axis=(0, 2)), "exact": right.all(axis=0).sum(axis=-1),
                "copy_acc": right[-self.K:].sum(axis=(0, 2))}

    def solved(self, ev):
        return ev["copy_acc"] == 1.0

    def references(self):
        T, K = self.T, self.K
        return {"memoryless": {"eval_loss": K * float(np.log(CATEGORIES)) / T,
                               "acc": (T - K + K / CATEGORIES) / T,
                               "exact": float(CATEGORIES) ** -K, "copy_acc": 1 / CATEGORIES}}


def make(cfg) -> Copy:
    return Copy(cfg.task.length, cfg.task.symbols)
