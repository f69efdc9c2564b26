"""Tasks: what a network is trained on and how it is scored, one subpackage per task, found by name.

A task provides its problems (``ORDERS``, ``Batches``, ``eval_set``) and its own measures
(``evaluate``, and whatever a study needs, e.g. ``seed001_accuracy`` and the msb limits of binary
addition). Binary addition (``addition``) is the first and, for now, only task.

May import: ``rnnexp.engine`` (to run a network on the task's problems) and numpy; never the
training loop, configuration, storage, reporting or the command line above it.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def names() -> list[str]:
    """Every task in this package, by name."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def get(name: str) -> ModuleType:
    """The task ``name`` (its package, e.g. ``rnnexp.tasks.addition``)."""
    if name not in names():
        raise ValueError(f"task={name!r}: allowed values are {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}")
