"""The worker processes of a local sweep ignore Ctrl-C: the launcher alone answers it.

A terminal's Ctrl-C reaches every process of the foreground group, the joblib (loky) workers
too. A worker hit between two jobs (in loky's own loop, where nothing catches it) printed a
traceback of its own beside the launcher's one-line message. With SIGINT ignored in the workers,
the launcher gets the ``KeyboardInterrupt``, joblib stops and kills its workers, and what
finished stays finished (results are written atomically).

Hydra's joblib launcher hard-codes ``backend="loky"``, so the launcher process registers, under
that name, loky's backend with an initializer for its workers (``use()``, called by
``python -m rnnexp`` before Hydra starts).
"""
from __future__ import annotations

import signal

import joblib
from joblib._parallel_backends import LokyBackend  # joblib's own class; registered again under its name

from ..engine import allocator


def ignore_ctrl_c() -> None:
    """A worker's initializer: SIGINT ignored for the worker's life (and its freed memory kept for
    the next step's arrays: ``engine.allocator``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    allocator.keep_freed_memory()


class CtrlCInLauncherOnly(LokyBackend):
    """loky whose workers start with ``ignore_ctrl_c`` (unless the caller names an initializer)."""

    def configure(self, *args, **kwargs):
        kwargs.setdefault("initializer", ignore_ctrl_c)
        return super().configure(*args, **kwargs)


def use() -> None:
    """From now on, in this process, ``backend="loky"`` (Hydra's joblib launcher) starts such workers."""
    joblib.register_parallel_backend("loky", CtrlCInLauncherOnly)
