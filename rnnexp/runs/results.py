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
table's SHA-256, and ``read_run`` refuses a table that does not match, or a ``run.json`` not shaped
as rnnexp writes it (``read_meta``), with ``CorruptRun``.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import secrets
from pathlib import Path
from typing import Any, Callable

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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name beside it, then rename: a reader sees the old
    file or the new one, never half of one. The temporary file is created like any file (``open``
    with mode 0666, less the umask, default ACLs applying: 0644 under umask 022, as Hydra's own
    files), not 0600 as ``tempfile.mkstemp`` makes it."""
    path = Path(path)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            f = open(tmp, "xb")  # O_CREAT | O_EXCL: never another writer's temporary file
        except FileExistsError:
            continue
        break
    try:
        with f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """``text`` as UTF-8, written atomically (``atomic_write_bytes``)."""
    atomic_write_bytes(path, text.encode())


def printable(path) -> str:
    """A path as text that can always be printed: bytes that are not UTF-8 as backslash escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def not_a_folder(path: Path) -> str | None:
    """Why ``path`` cannot be read as a folder of runs (one line, printable), or None when it can:
    not a folder, or below a folder that may not be entered (``/root/...``, a colleague's 0700 home)."""
    try:
        if path.is_dir():
            return None
    except OSError as e:
        return f"cannot reach {printable(path)}: {e.strerror}"
    return f"{printable(path)} is not a folder"


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


class DifferentRun(ValueError):
    """``write_run`` found, in its folder, a completed run it cannot show to be of the same configuration."""


def check_same_run(out_dir: Path, columns: dict[str, Any]) -> None:
    """Raise ``DifferentRun`` unless ``out_dir`` holds no ``run.json`` or a run of exactly ``columns``.

    The last guard against one command's job overwriting another's finished result (two sweeps
    in one folder): a run is replaced only by a run of the same configuration (a resumed or forced
    re-run). A run whose files cannot be read is not replaced either: nothing says what it holds.
    """
    out_dir = Path(out_dir)
    if not (out_dir / MARKER).exists():
        return
    try:
        meta, tables = read_run(out_dir)
    except CorruptRun as e:
        raise DifferentRun(f"{out_dir / e.file} {e.why}, so this job will not replace the run there: "
                           "move the folder away to run it") from None
    keys = meta["config_columns"]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise DifferentRun(f"{out_dir / MARKER} does not list its config columns, so this job will not replace "
                           "the run there: move the folder away to run it")
    old = tables["summary"]
    new = pd.read_csv(io.StringIO(with_config(pd.DataFrame(index=[0]), columns).to_csv(index=False)))
    differ = [k for k in dict.fromkeys(keys + list(columns))
              if k not in keys or k not in columns or k not in old.columns
              or old[k].iloc[:1].to_csv(index=False) != new[k].to_csv(index=False)]  # as read from the CSV
    if differ:
        k = differ[0]
        was = f"{k}={old[k].iloc[0]}" if k in keys and k in old.columns else f"no {k}"
        now = f"{k}={columns[k]}" if k in columns else f"no {k}"
        raise DifferentRun(f"{out_dir} holds a finished run of another configuration ({was}; this job: {now}): "
                           "it is not replaced; give this job a folder of its own")


def write_run(out_dir: Path, tables: dict[str, pd.DataFrame], columns: dict[str, Any], meta: dict) -> None:
    """Write a run's tables, then ``run.json`` (which marks it complete); ``DifferentRun``, with
    nothing written, if the folder holds a finished run of another configuration."""
    out_dir = Path(out_dir)
    check_same_run(out_dir, columns)
    out_dir.mkdir(parents=True, exist_ok=True)
    sha256 = {f"{name}.csv": write_table(with_config(tables[name], columns), out_dir / f"{name}.csv")
              for name in TABLES}
    meta = {**meta, "config_columns": list(columns), "tables": list(sha256), "sha256": sha256}
    atomic_write_text(out_dir / MARKER, json.dumps(meta, indent=2, default=str))  # last: marks the run complete


HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
# what each field of a run.json must be (the ones a reader relies on; others are kept as they are)
META_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "status": (lambda v: v == "complete", "'complete'"),
    "config_columns": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of column names"),
    "tables": (lambda v: isinstance(v, list) and len(set(v)) == len(v) and set(v) <= {f"{n}.csv" for n in TABLES},
               f"a list of distinct table files out of {', '.join(f'{n}.csv' for n in TABLES)}"),
    "sha256": (lambda v: isinstance(v, dict) and all(isinstance(h, str) and HEX_DIGEST.fullmatch(h) for h in v.values()),
               "a mapping of table file to SHA-256 hex digest"),
    "wall_time": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0,
                  "a number of seconds"),
    "cached": (lambda v: isinstance(v, bool), "true or false"),
    "engine_version": (lambda v: isinstance(v, str), "a string"),
    "rnnexp_version": (lambda v: isinstance(v, str), "a string"),
}


def read_meta(run_dir: Path) -> dict:
    """A run's ``run.json``, checked field by field (``META_FIELDS``): the one place that says what a
    completed run's record is. ``CorruptRun`` says what is wrong with it."""
    try:
        meta = json.loads((Path(run_dir) / MARKER).read_bytes())
    except (OSError, ValueError, RecursionError) as e:  # ValueError: not UTF-8 or not JSON
        raise CorruptRun(MARKER, f"is not readable JSON ({type(e).__name__})") from None
    if not isinstance(meta, dict) or "status" not in meta or "config_columns" not in meta:
        raise CorruptRun(MARKER, "was not written by rnnexp (no status, config_columns): a foreign file")
    for field, (ok, what) in META_FIELDS.items():
        if field in meta and not ok(meta[field]):
            raise CorruptRun(MARKER, f"has a {field} that is not {what}: a foreign or damaged file")
    meta.setdefault("tables", [f"{n}.csv" for n in TABLES])  # runs written before the list: every table
    if "sha256" in meta and set(meta["sha256"]) != set(meta["tables"]):  # runs before the checksums: none
        raise CorruptRun(MARKER, "has no checksum for every table it lists (or one for a table it does not)")
    if "summary.csv" not in meta["tables"]:
        raise CorruptRun(MARKER, "lists no summary.csv")
    return meta


def read_run(run_dir: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    """A completed run's ``run.json`` (``read_meta``) and tables; ``CorruptRun`` names the file that is wrong."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    tables = {}
    for name in meta["tables"]:
        path = run_dir / name
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise CorruptRun(name, f"is missing or unreadable ({type(e).__name__})") from None
        expected = meta.get("sha256", {}).get(name)
        if expected and hashlib.sha256(raw).hexdigest() != expected:
            raise CorruptRun(name, f"does not match its checksum in {MARKER}: changed or corrupt")
        try:
            tables[name[: -len(".csv")]] = pd.read_csv(io.BytesIO(raw))
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
            raise CorruptRun(name, f"is not a readable table ({type(e).__name__})") from None
    return meta, tables
