"""The copying memory task (Arjovsky, Shah & Bengio 2016).

10 symbols drawn from 8 categories (1..8), then ``T - 1`` blanks (0), a delimiter (9), then 10
more blanks during which the model must output the 10 symbols, one per step: ``T + 20`` steps
(``task.length`` is T). Inputs are one-hot over the 10 classes; the output is a 10-class softmax
at every step with cross-entropy, the target blank everywhere but the last 10 steps.

Measures: ``eval_loss`` (cross-entropy per step), ``acc`` (right outputs per step), ``exact``
(sequences right at every step) and ``copy_acc`` (right symbols among the 10 copied). Solved:
every copied symbol right on the evaluation set (``copy_acc == 1``), a fixed held-out sample of
1,000 sequences. Reference, from the definition: the memoryless strategy (blank, then a uniform
guess over the 8 categories for the last 10 steps) scores ``10 log(8) / (T + 20)`` per step,
``copy_acc`` 1/8.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import TaskConf
from ._sequence import SequenceTask

SYMBOLS, CATEGORIES = 10, 8
BLANK, DELIMITER = 0, CATEGORIES + 1
CLASSES = CATEGORIES + 2  # blank, 8 categories, delimiter


@dataclass
class Conf(TaskConf):
    name: str = "copy"
    length: int = 100  # T: blanks between the symbols and the delimiter, plus one; T + 20 steps


RULES = {"task.length": (lambda v: 1 <= v <= 100_000, "an integer from 1 to 100000")}


class Copy(SequenceTask):
    name = "copy"
    n_in = CLASSES
    head = f"softmax{CLASSES}"
    columns = ("acc", "exact", "copy_acc")
    steps = None  # every step carries a target (blank but at the end)

    def __init__(self, length: int):
        self.T = length + 2 * SYMBOLS
        self.per_sequence = {"acc": self.T, "exact": 1, "copy_acc": SYMBOLS}

    def sample(self, rng, n: int):
        """``x: (T+20, n, 10)`` one-hot, ``y: (T+20, n)`` class indices (float)."""
        sym = rng.integers(1, CATEGORIES + 1, (SYMBOLS, n))
        seq = np.full((self.T, n), BLANK)
        seq[:SYMBOLS] = sym
        seq[self.T - SYMBOLS - 1] = DELIMITER
        y = np.full((self.T, n), float(BLANK))
        y[-SYMBOLS:] = sym
        return np.eye(CLASSES)[seq], y

    def tally(self, pred, y):
        right = pred == y  # (T, R, n)
        return {"acc": right.sum(axis=(0, 2)), "exact": right.all(axis=0).sum(axis=-1),
                "copy_acc": right[-SYMBOLS:].sum(axis=(0, 2))}

    def solved(self, ev):
        return ev["copy_acc"] == 1.0

    def references(self):
        T = self.T
        return {"memoryless": {"eval_loss": SYMBOLS * float(np.log(CATEGORIES)) / T,
                               "acc": (T - SYMBOLS + SYMBOLS / CATEGORIES) / T,
                               "exact": CATEGORIES ** -SYMBOLS, "copy_acc": 1 / CATEGORIES}}


def make(cfg) -> Copy:
    return Copy(cfg.task.length)
