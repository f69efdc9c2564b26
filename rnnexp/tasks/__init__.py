"""Tasks: what a network is trained on and how it is scored, one module or subpackage per task, found
by name the way models are (``rnnexp.engine.models``). Adding a task = one module here + one config
file ``conf/task/<name>.yaml``; the training loop, the network and the reports name no task.

A task module defines, at module level:

- ``Conf``: a dataclass extending ``TaskConf`` with the task's own settings (``task.delay``,
  ``task.length``...); its config file names it as ``/task_<name>_schema@_here_``.
- ``RULES``: ``{"task.<field>": (test, what is allowed)}`` and optionally ``check(get) -> str | None``
  (a one-line problem with a combination of settings; ``get(key)`` reads any setting).
- ``make(cfg) -> Task``: the task for a checked ``config.Config`` (plain values).

The ``Task`` object (protocol below) owns its input size and output head, which steps carry a
target (a mask), how a replica draws a batch from its own generator, its evaluation set, its
measures (the result columns besides ``eval_loss``), its solved criterion and its exact reference
scores, computed from its definition.

Result columns, one vocabulary across tasks (README: Results): ``eval_loss`` (the task's loss per
target), ``acc`` (accuracy per target), ``exact`` (every target of a sequence right), plus a task's
extras. Binary addition keeps its historical names: ``bit_acc`` is its ``acc``, ``sum_acc`` its
``exact``.

May import: ``rnnexp.engine`` (to run a network on the task's problems) and numpy; never the
training loop, configuration, storage, reporting or the command line above it.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

import numpy as np

DEFAULT = "addition"
SHARED_SET_TAG = 20_260_013  # mixed with the run's seed for the shared training set's own generator


def shared_set_rng(seed: int) -> np.random.Generator:
    """The generator of the training set every replica shares (``train_set=shared``), any task.

    Seeded from ``[SHARED_SET_TAG, seed]``: a stream of its own, apart from every replica's init and
    data streams (``SeedSequence(seed)``'s children, ``train.replica_rngs``) and from the held-out
    set, so the set depends on ``seed`` only, never on the replicas or how many run.
    """
    return np.random.default_rng([SHARED_SET_TAG, seed])


def generators_at(rngs, states) -> list[np.random.Generator]:
    """New generators of the kinds of ``rngs``, at ``states`` (``bit_generator.state`` dicts): they
    draw again what ``rngs`` drew from there, and leave ``rngs`` where they are."""
    out = []
    for g, state in zip(rngs, states):
        h = np.random.Generator(type(g.bit_generator)())
        h.bit_generator.state = state
        out.append(h)
    return out


class Replayable:
    """Batches drawn ahead, pickled as their generators' states rather than as arrays (a training's
    checkpoint, ``rnnexp.train.Snapshot``): a subclass keeps ``_buf``, drawn by ``_fill()`` from
    ``rngs``, and ``_drawn_from``, the generators' states just before that draw; unpickled, the same
    batches are drawn again from those states."""

    _buf = None
    _drawn_from = None

    def _refill(self):
        self._drawn_from = [g.bit_generator.state for g in self.rngs]
        self._fill()

    def __getstate__(self):
        return dict(self.__dict__, _buf=None)

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._drawn_from is not None:
            rngs, self.rngs = self.rngs, generators_at(self.rngs, self._drawn_from)
            try:
                self._fill()
            finally:
                self.rngs = rngs


@dataclass
class TaskConf:
    """Settings every task has; a task's ``Conf`` extends it with its own."""

    name: str = DEFAULT  # the task: a module or package in rnnexp/tasks


class Task(Protocol):
    """What the training loop (``rnnexp.train``) calls on a task."""

    n_in: int  # inputs per step
    head: str  # the output head: a loss of ``engine.losses`` (binary: the ``loss`` setting;
    #            ``squared``: a real value; ``softmax<k>``: k classes)
    columns: tuple[str, ...]  # the measures ``evaluate`` returns besides ``loss``, in table order
    T: int  # steps per sequence

    def batches(self, rngs, batch: int, train_size: int, shared_rng=None):
        """An object whose ``next(step) -> (x: (T, R, B, n_in), y: (T, R, B), mask)`` gives replica
        r's batch from ``rngs[r]`` alone (``mask``: None, every step carries a target, or a bool array
        broadcastable to ``(T, R, B)``)."""

    def eval_set(self) -> tuple:
        """``(x: (T, N, n_in), y: (T, N), mask)``: every problem when few, else a fixed held-out sample."""

    def evaluate(self, spec, params, x, y, mask) -> dict[str, np.ndarray]:
        """``{"loss": (R,), column: (R,) for each of columns}`` (addition adds ``"pos_acc": (R, bits)``)."""

    def solved(self, ev: dict) -> np.ndarray:
        """``(R,)`` bool: the replicas whose evaluation meets the task's criterion."""

    def references(self) -> dict[str, dict[str, float]]:
        """The best a reference predictor scores, by name (``constant``, ``memoryless``, ``causal``):
        ``{name: {column: value}}``, computed from the task's definition."""

    def positions(self, ev: dict, ids) -> "pd.DataFrame":
        """The ``positions`` table (addition: final accuracy per bit; another task: empty, same columns)."""

    def lengths(self, spec, params, ids, eval_bits, ev: dict) -> "pd.DataFrame":
        """The ``lengths`` table: the final model at its training length (``ev``) and, for addition,
        at each of ``eval_bits``."""

    def train_measures(self, spec, params, batches) -> dict[str, np.ndarray]:
        """Measures on a fixed training set, recorded with it (addition: seed 001's ``seed_acc``)."""

    def train_set_loss(self, spec, params, batches) -> np.ndarray:
        """``(R,)``: the loss on the fixed training set (``lr_schedule=halve_on_rise`` per epoch)."""


def names() -> list[str]:
    """Every task in this package, by name."""
    return list(_names())


@functools.lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    # the package's folder read once per process: the settings' checks and --help ask hundreds of
    # times (measured: a bad setting's one-line error 1.28 -> 1.21 s, the fast suite 48-50 -> 41-47 s)
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


def module(name: str) -> ModuleType:
    """The module (or package) of task ``name``: its ``Conf``, ``RULES``, ``check`` and ``make``."""
    if name not in names():
        raise ValueError(f"task={name!r}: allowed values are {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}")


get = module  # the task's package, e.g. ``rnnexp.tasks.addition``


def conf_class(name: str) -> type:
    """The settings dataclass of a task: its ``Conf``, else ``TaskConf``."""
    return getattr(module(name), "Conf", TaskConf)


def make(cfg) -> Task:
    """The task of a checked configuration (``cfg.task.name``)."""
    return module(cfg.task.name).make(cfg)
