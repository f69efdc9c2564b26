"""The files a run writes, and how they are read back.

Every run (a single run, or one job of a sweep) writes into its own folder:

- ``summary.csv``   one row per replica: final metrics, ``solved``, ``steps_to_solve``, ``diverged``
- ``history.csv``   one row per (evaluation step, replica): eval_loss, accuracies, gradient norms
- ``profile.csv``   one row per (evaluation step, replica, state, t): ``||dL_T / dh_t||``
- ``positions.csv`` one row per (replica, position): final per-bit accuracy at each step
- ``lengths.csv``   one row per (replica, bits_scored): the final model scored at its training
                    length and at every length in ``eval_bits``
- ``run.json``      written last: the run's config columns, wall time and status

Every table carries the run's resolved config as columns (``hidden``, ``order``, ``init``,
``init.scale``, ``clip``, ``clip.threshold``, ...: named like the overrides), so tables from many
runs concatenate into tidy tables that plot straight away. A measurement whose name is also a setting
is renamed (``RENAMED``): the evaluation loss is ``eval_loss`` (the setting ``loss`` names the
loss function), the current learning rate ``lr_now``. Files are written under a temporary
name and renamed, so a half-written file is never read as a result; ``run.json`` records each
table's SHA-256, and ``read_run`` refuses a table that does not match (``CorruptRun``).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ..config import RUNTIME

TABLES = ("summary", "history", "profile", "positions", "lengths")
MARKER = "run.json"


class CorruptRun(ValueError):
    """A run folder whose files are not what its ``run.json`` says: ``file`` (its name) and ``why``."""

    def __init__(self, file: str, why: str):
        super().__init__(f"{file} {why}")
        self.file, self.why = file, why


def config_columns(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config flattened to ``{column: value}``; a group's ``name`` becomes the group."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    tree.pop("hydra", None)
    for key in RUNTIME:  # how to run (cache, cache_dir), not what was trained
        tree.pop(key, None)
    out: dict[str, Any] = {}

    def walk(node, prefix):
        for k, v in node.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(v, key + ".")
            else:
                v = str(v) if isinstance(v, list) else v  # e.g. eval_bits: one cell, "[16, 32]"
                out[key[: -len(".name")] if key.endswith(".name") else key] = v

    walk(tree, "")
    return out


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(df: pd.DataFrame, path: Path) -> str:
    """Write ``df`` as CSV atomically; returns the SHA-256 of what was written."""
    text = df.to_csv(index=False)
    atomic_write_text(path, text)
    return hashlib.sha256(text.encode()).hexdigest()


# a measurement named like a setting (the metric ``loss`` vs the setting ``loss=bce``): the setting
# keeps the name, the measurement is renamed rather than dropped
RENAMED = {"loss": "eval_loss", "lr": "lr_now"}


def with_config(df: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    """Config columns first, then the table's own (renamed by ``RENAMED`` where names clash)."""
    conf = pd.DataFrame({k: [v] * len(df) for k, v in columns.items()}, index=df.index)
    df = df.rename(columns={c: RENAMED.get(c, f"{c}_measured") for c in df.columns if c in columns})
    return pd.concat([conf, df], axis=1)


def write_run(out_dir: Path, tables: dict[str, pd.DataFrame], columns: dict[str, Any], meta: dict) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sha256 = {f"{name}.csv": write_table(with_config(tables[name], columns), out_dir / f"{name}.csv")
              for name in TABLES}
    meta = {**meta, "config_columns": list(columns), "tables": list(sha256), "sha256": sha256}
    atomic_write_text(out_dir / MARKER, json.dumps(meta, indent=2, default=str))  # last: marks the run complete


def read_run(run_dir: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    """A completed run's ``run.json`` and tables; ``CorruptRun`` names the file that is wrong."""
    run_dir = Path(run_dir)
    try:
        meta = json.loads((run_dir / MARKER).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CorruptRun(MARKER, f"is not readable JSON ({type(e).__name__})") from None
    if not isinstance(meta, dict) or meta.get("status") != "complete" or "config_columns" not in meta:
        raise CorruptRun(MARKER, "was not written by rnnexp (no status, config_columns): a foreign file")
    names = meta.get("tables") or [f"{n}.csv" for n in TABLES]
    if not isinstance(names, list) or not all(isinstance(n, str) and Path(n).name == n and n.endswith(".csv")
                                              for n in names):
        raise CorruptRun(MARKER, "lists tables that are not CSV files beside it: a foreign file")
    tables = {}
    for name in names:
        path = run_dir / name
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise CorruptRun(name, f"is missing or unreadable ({type(e).__name__})") from None
        expected = (meta.get("sha256") or {}).get(name)  # runs written before the checksums: none
        if expected and hashlib.sha256(raw).hexdigest() != expected:
            raise CorruptRun(name, f"does not match its checksum in {MARKER}: changed or corrupt")
        try:
            tables[name[: -len(".csv")]] = pd.read_csv(io.BytesIO(raw))
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
            raise CorruptRun(name, f"is not a readable table ({type(e).__name__})") from None
    if "summary" not in tables:
        raise CorruptRun(MARKER, "lists no summary.csv")
    return meta, tables
