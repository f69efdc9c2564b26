"""Reuse finished trainings: a content-addressed store of ``train.train`` results.

A training is identified by everything that can change its numbers and nothing else:

- the resolved settings, without Hydra's node and without the run-time settings ``RUNTIME``
  (``cache``, ``cache_dir``: how to run, not what to train), and
- ``engine_version()``: a hash of the source of the modules that compute results (``ENGINE``:
  ``engine/``, ``tasks/``, ``train.py`` and ``config.py``, whose ``net_spec`` and
  ``effective_steps`` turn settings into the arithmetic; a new model or task file counts
  automatically) and of the numpy, pandas and numba versions. What only launches, stores or shows runs
  (the entry point, ``cli``, ``runs/``, ``report/``, ``bench/``) is not in it.

Each result is one file, ``<cache_dir>/<engine version>/<key>.result``, where ``key`` is the SHA-256
of the settings and the engine version (``key``). The file is a one-line header, ``rnnexp-cache 1
<key> <SHA-256 of the payload>``, followed by the payload, the pickled ``train.Result``. Why so:

- The key depends on nothing else, in particular not on the code that calls the store: editing
  this module, the CLI or a wrapper keeps every stored result (``joblib.Memory``, used before,
  deleted all of a function's results whenever its recorded source changed).
- A result is checked before it is unpickled: an entry whose header is not exactly the expected
  one (key and checksum) is named on stderr, never used, and trained again; the new result
  replaces it. Files in the store other than the entry asked for are never read.
- An entry is written under a temporary name and renamed (``results.atomic_write_bytes``): a killed
  job never leaves a half-written entry, and jobs storing the same key at once each leave a
  complete one (the last rename wins).
- rnnexp never deletes an entry; ``cache=false`` trains again and replaces it. Results of an older
  engine stay in their own folder, which can be deleted to reclaim the space.

Re-running a sweep (even into a new sweep dir) therefore trains only configurations that are new
or changed.
"""
from __future__ import annotations

import functools
import hashlib
import json
import pickle
from importlib import metadata
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from .. import config, train
from . import results

# the modules that compute results, relative to the package (a folder: every module below it)
ENGINE = ("engine", "tasks", "train.py", "config.py")

MAGIC = b"rnnexp-cache 1"  # format of an entry's header; another format is another store
SUFFIX = ".result"


def is_engine(path: Path) -> bool:
    """Whether a module of the package can change the numbers a training produces."""
    rel = path.resolve().relative_to(Path(__file__).resolve().parents[1])
    return rel.parts[0] in ENGINE


@functools.lru_cache(maxsize=1)
def engine_version() -> str:
    """Hash of the numerical code: the package's engine modules plus the numpy, pandas and numba
    versions (numba compiles float32 steps: ``engine/models/_fused.py``; read without importing it)."""
    package = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(f"numpy {np.__version__} pandas {pd.__version__} numba {metadata.version('numba')}\n".encode())
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


def key(settings: dict, engine: str) -> str:
    """The entry's name: SHA-256 of the settings (canonical JSON: sorted keys, ``1`` is not ``1.0``
    nor ``true``) and the engine version."""
    text = json.dumps([settings, engine], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def entry_path(location, settings: dict, engine: str) -> Path:
    """Where the result of ``settings`` trained by ``engine`` is stored below ``location``."""
    return Path(location) / engine / f"{key(settings, engine)}{SUFFIX}"


def entries(location) -> list[Path]:
    """Every stored entry below ``location`` (of any engine version; temporary files excluded)."""
    return sorted(p for p in Path(location).glob(f"*/*{SUFFIX}") if not p.name.startswith("."))


def header(k: str, payload: bytes, magic: bytes = MAGIC) -> bytes:
    return b"%s %s %s\n" % (magic, k.encode(), hashlib.sha256(payload).hexdigest().encode())


def read_verified(path: Path, k: str, kind: type, magic: bytes = MAGIC,
                  noun: str = "cache entry", what: str = "training result"):
    """``(obj, None)``: the ``kind`` stored at ``path`` under key ``k`` (a ``magic`` header line with
    the key and the payload's SHA-256, then the pickle); ``(None, why)`` when it is bad; ``(None,
    None)`` when there is none. Nothing is unpickled before its checksum matches. Shared by the
    cache's entries and the checkpoints (``runs/checkpoint.py``)."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except OSError as e:
        return None, f"is unreadable ({type(e).__name__})"
    head, newline, payload = raw.partition(b"\n")
    if not newline or not head.startswith(magic + b" "):
        return None, f"is not an rnnexp {noun} (no header)"
    if head + newline != header(k, payload, magic):
        return None, "does not match its key and checksum: corrupt or cut"
    try:
        obj = pickle.loads(payload)
    except Exception as e:  # checksummed, yet not loadable here (e.g. written by another Python)
        return None, f"is not loadable ({type(e).__name__})"
    if not isinstance(obj, kind):
        return None, f"holds a {type(obj).__name__}, not a {what}"
    return obj, None


def load(path: Path, k: str) -> train.Result | None:
    """The verified result stored at ``path`` under key ``k``; ``None`` if there is none or it is bad
    (a bad entry is named on stderr, one line)."""
    result, why = read_verified(path, k, train.Result)
    if why is not None:
        print(f"rnnexp: cache entry {results.printable(path)} {why}: not used, training again", file=sys.stderr)
    return result


def save(path: Path, k: str, result: train.Result) -> None:
    """Store ``result`` at ``path`` (atomically, replacing what was there). A store that cannot be
    written is named on stderr: the training is done and its run is still written."""
    payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        results.atomic_write_bytes(path, header(k, payload) + payload)
    except OSError as e:
        print(f"rnnexp: could not store the result in the cache ({results.printable(path)}: {type(e).__name__}); "
              "the run is written, a re-run trains it again", file=sys.stderr)


def train_cached(cfg, location, reuse: bool = True, trainer=None) -> tuple[train.Result, bool]:
    """Train ``cfg`` (a ``DictConfig`` or ``config.Config``) or load its stored result.

    Returns ``(result, cached)``. With ``reuse=False`` it trains again and replaces the stored
    result (forced recomputation). ``trainer(plain config) -> Result`` trains (default
    ``train.train``; ``job.run`` passes one that watches and checkpoints the training).
    """
    plain = OmegaConf.to_object(cfg) if OmegaConf.is_config(cfg) else cfg
    engine = engine_version()
    tree = settings(cfg)
    k, path = key(tree, engine), entry_path(location, tree, engine)
    if reuse:
        result = load(path, k)
        if result is not None:
            return result, True
    result = (trainer or train.train)(plain)
    save(path, k, result)
    return result, False
