"""Reuse finished trainings: a content-addressed store of ``train.train`` results (``joblib.Memory``).

A training is identified by everything that can change its numbers and nothing else:

- the resolved settings, without Hydra's node and without the run-time settings ``RUNTIME``
  (``cache``, ``cache_dir``: how to run, not what to train), and
- ``engine_version()``: a hash of the source of the numerical modules (every module of the
  package except ``NOT_ENGINE``, so a new model file counts automatically) and of the numpy and
  pandas versions.

``joblib.Memory`` hashes both into the key, writes each result under a temporary name and renames
it (a killed job never leaves a half-written entry), and recomputes when an entry cannot be read.
Re-running a sweep (even into a new sweep dir) therefore trains only configurations that are new
or changed; ``cache=false`` trains again and replaces the stored result.
"""
from __future__ import annotations

import fnmatch
import functools
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Memory
from omegaconf import OmegaConf

from . import config, train

# modules that only launch, check, store or show runs: editing them does not change any number
# (patterns: every figures*/report* module of the report side counts as display code)
NOT_ENGINE = ("__main__.py", "cli.py", "cache.py", "results.py", "collect.py", "callbacks.py",
              "report*.py", "figures*.py", "bench*.py")


def is_engine(path: Path) -> bool:
    """Whether a module of the package can change the numbers a training produces."""
    package = Path(__file__).resolve().parent
    if package / "report" in Path(path).parents:  # the report room (rnnexp/report/): display code only
        return False
    return not (path.parent == package and any(fnmatch.fnmatch(path.name, p) for p in NOT_ENGINE))


@functools.lru_cache(maxsize=1)
def engine_version() -> str:
    """Hash of the numerical code: the package's engine modules plus the numpy and pandas versions."""
    package = Path(__file__).resolve().parent
    h = hashlib.sha256(f"numpy {np.__version__} pandas {pd.__version__}\n".encode())
    for path in sorted(package.rglob("*.py")):
        if not is_engine(path):
            continue
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def settings(cfg) -> dict:
    """What identifies a training: the resolved config without ``hydra`` and the run-time settings."""
    tree = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else \
        OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
    tree.pop("hydra", None)
    for key in config.RUNTIME:
        tree.pop(key, None)
    return tree


def _train(settings: dict, engine: str, plain) -> train.Result:
    """The cached computation. The key is ``settings`` and ``engine``; ``plain`` (the same settings
    as a ``config.Config``, with the chosen model's own settings class) is what trains."""
    return train.train(plain)


@functools.lru_cache(maxsize=None)
def _memorized(location: str):
    return Memory(location=location, verbose=0).cache(_train, ignore=["plain"])


def train_cached(cfg, location, reuse: bool = True) -> tuple[train.Result, bool]:
    """Train ``cfg`` (a ``DictConfig`` or ``config.Config``) or load its stored result.

    Returns ``(result, cached)``. With ``reuse=False`` it trains again and replaces the stored
    result (forced recomputation).
    """
    fn = _memorized(str(Path(location).resolve()))
    plain = OmegaConf.to_object(cfg) if OmegaConf.is_config(cfg) else cfg
    key = (settings(cfg), engine_version(), plain)
    if reuse and fn.check_call_in_cache(*key):
        try:
            return fn.call_and_shelve(*key).get(), True
        except Exception as e:  # an unreadable entry is trained again, never trusted
            print(f"rnnexp: cached result unreadable ({type(e).__name__}), training again", file=sys.stderr)
    result, _ = fn.call(*key)
    return result, False
