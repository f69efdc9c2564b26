"""Checkpoints: a killed training, started again by the same command, resumes where it stopped and
ends with the result an uninterrupted training gives (wall time aside).

- What: a ``train.Snapshot``, the whole state between two steps: weights, optimizer state
  (moments, step counts, velocity), every replica's data generators (their ``bit_generator``
  states; batches drawn ahead are drawn again from the states before the draw, not stored), the
  step, the history and gradient profiles so far, the divergence and solved bookkeeping, each
  replica's learning rate and the ``halve_on_rise`` reference loss.
- Where: beside the training's cache entry and keyed like it, ``<cache_dir>/<engine version>/<key>
  .checkpoint`` (``rnnexp.runs.cache``): the same settings and engine code find it whatever run
  or sweep dir the command writes into (a re-run into a fresh time-stamped dir resumes too), and
  a change of the numerical code or of a setting never resumes another training's state.
- When: at a step boundary, once ``checkpoint_seconds`` (default 60) have passed since the
  training started or since the last checkpoint; ``0``: after every step. A job shorter than
  that writes none. Written whole under a temporary name and renamed
  (``results.atomic_write_bytes``): a kill leaves the previous checkpoint or the new one.
- Checked before it is used, as a cache entry is: a one-line header ``rnnexp-checkpoint 1 <key>
  <SHA-256 of the payload>``, then the pickled snapshot. One that does not match is named on
  stderr, not used, and the training starts from step 0 (and overwrites it).
- Removed once the finished result is stored in the cache (then the cache answers a re-run).
  ``cache=false`` (train again) starts from step 0 and ignores a checkpoint.
"""
from __future__ import annotations

import logging
import pickle
import sys
import time
from pathlib import Path

from .. import train
from . import cache, results

MAGIC = b"rnnexp-checkpoint 1"
SUFFIX = ".checkpoint"
log = logging.getLogger(__name__)


def path_for(location, settings: dict) -> Path:
    """The checkpoint of the training of ``settings`` (by this engine) in the cache at ``location``."""
    return cache.entry_path(location, settings, cache.engine_version()).with_suffix(SUFFIX)


def header(k: str, payload: bytes) -> bytes:
    return cache.header(k, payload, MAGIC)


def save(path: Path, k: str, snapshot: train.Snapshot) -> None:
    payload = pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL)
    path.parent.mkdir(parents=True, exist_ok=True)
    results.atomic_write_bytes(path, header(k, payload) + payload)


def load(path: Path, k: str) -> train.Snapshot | None:
    """The verified snapshot at ``path``; ``None`` when there is none or it is bad (named on stderr)."""
    snap, why = cache.read_verified(path, k, train.Snapshot, MAGIC, "checkpoint", "training state")
    if why is not None:
        print(f"rnnexp: checkpoint {results.printable(path)} {why}: not used, training from step 0", file=sys.stderr)
        log.warning("checkpoint %s %s: not used, training from step 0", results.printable(path), why)
    return snap


class Keeper(train.Observer):
    """Saves the training's snapshot to ``path`` at most every ``seconds``; loads and removes it."""

    def __init__(self, path: Path, k: str, seconds: float, clock=time.monotonic):
        self.path, self.key, self.seconds, self.clock = Path(path), k, seconds, clock
        self.last = clock()
        self.saved, self.step, self.failed = 0, None, False

    def load(self) -> train.Snapshot | None:
        snap = load(self.path, self.key)
        if snap is not None:
            log.info("resuming from the checkpoint at step %d (%s)", snap.step, results.printable(self.path))
        return snap

    def started(self, step, steps, history):
        self.last = self.clock()

    def stepped(self, done, snapshot):
        if self.failed or self.clock() - self.last < self.seconds:
            return
        try:
            save(self.path, self.key, snapshot())
        except OSError as e:  # the training goes on; only its resumability is lost
            self.failed = True
            print(f"rnnexp: could not write the checkpoint {results.printable(self.path)} ({type(e).__name__}); "
                  "training goes on without checkpoints", file=sys.stderr)
            return
        self.saved, self.step, self.last = self.saved + 1, done, self.clock()
        log.debug("checkpoint at step %d", done)

    def remove(self) -> None:
        """Delete the checkpoint: the finished result is stored."""
        self.path.unlink(missing_ok=True)
