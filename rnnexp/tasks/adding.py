"""The adding problem (Hochreiter & Schmidhuber 1997, in the version of Le, Jaitly & Hinton 2015).

``T`` steps (``task.length``); each step's input is (a value uniform in [0, 1), a marker). Exactly
two steps are marked, one in each half (the first uniform in ``[0, T//2)``, the second in
``[T//2, T)``). The target, the sum of the two marked values, is read at the last step only (the
other steps carry none: a mask); the output is linear with squared error (``squared``), so
``eval_loss`` is the MSE.

Measures: ``eval_loss`` (the MSE) and ``acc``: the fraction of sequences answered within 0.04
(Hochreiter & Schmidhuber's criterion). Solved: evaluation MSE below 0.01. Evaluation: a fixed
held-out sample of 1,000 sequences. Reference scores, from the definition: a constant predictor's
best is E[sum] = 1 with MSE Var(sum) = 2/12 = 1/6 (and acc P(|U1 + U2 - 1| < 0.04) = 1 - 0.96^2);
a memoryless one sees only the last step: when it is marked (probability 1/(T - T//2)) it answers
its value + 1/2 (MSE 1/12), else 1 (MSE 1/6).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import TaskConf
from ._sequence import SequenceTask

TOLERANCE = 0.04  # Hochreiter & Schmidhuber: an answer within 0.04 of the sum is right
SOLVED_MSE = 0.01


@dataclass
class Conf(TaskConf):
    name: str = "adding"
    length: int = 100  # T: steps per sequence; the two marked values are about T/2 apart on average


RULES = {"task.length": (lambda v: 2 <= v <= 100_000, "an integer from 2 to 100000")}


class Adding(SequenceTask):
    name = "adding"
    n_in = 2
    head = "squared"
    columns = ("acc",)
    per_sequence = {"acc": 1}

    def __init__(self, length: int):
        self.T = length
        self.steps = np.arange(length) == length - 1  # the last step only

    def sample(self, rng, n: int):
        """``x: (T, n, 2)`` (value, marker), ``y: (T, n)`` (the sum at the last step, 0 elsewhere)."""
        T, half = self.T, self.T // 2
        values = rng.random((T, n))
        first = rng.integers(0, half, n)
        second = rng.integers(half, T, n)
        marker = np.zeros((T, n))
        cols = np.arange(n)
        marker[first, cols] = marker[second, cols] = 1.0
        y = np.zeros((T, n))
        y[-1] = values[first, cols] + values[second, cols]
        return np.stack([values, marker], axis=-1), y

    def tally(self, pred, y):
        return {"acc": (np.abs(pred[-1] - y[-1]) < TOLERANCE).sum(axis=-1)}  # (R,)

    def solved(self, ev):
        return ev["loss"] < SOLVED_MSE

    def references(self):
        p_last = 1.0 / (self.T - self.T // 2)  # the last step is the second marker
        return {"constant": {"eval_loss": 1 / 6, "acc": 1 - (1 - TOLERANCE) ** 2},
                "memoryless": {"eval_loss": (1 - p_last) / 6 + p_last / 12}}


def make(cfg) -> Adding:
    return Adding(cfg.task.length)
