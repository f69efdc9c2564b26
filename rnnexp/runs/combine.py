"""Gather every run below a sweep dir into combined tables (``python -m rnnexp.collect DIR``).

Writes ``summary.csv``, ``history.csv``, ``profile.csv`` and ``positions.csv`` into DIR: the runs'
tables concatenated, with a ``job`` column (the run's folder relative to DIR). Read one with
``pandas.read_csv("DIR/summary.csv")``. A run counts once its ``run.json`` exists and every table
matches the checksum recorded there (a training's ``history.partial.csv``, its curves so far, never
counts). Nothing is dropped silently: every folder that looks like a run
but cannot be collected (a corrupt or foreign file, a ``run.json`` not shaped as rnnexp writes it
(``results.read_meta``), a folder name that is not UTF-8, or a job without ``run.json``:
interrupted, failed or still running) is named on stderr with the reason (names that are not UTF-8
with backslash escapes), and the report line counts it.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from . import results

PARTIAL = "history.partial.csv"  # written by a training at each evaluation (runs.progress), until run.json


def _job_order(root: Path):
    def key(p: Path):
        return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in p.relative_to(root).parts)
    return key


def scan(root: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Run folders below ``root`` (or ``root`` itself) in job order, and folders that look like runs
    but are not complete, each with the reason. Hidden folders (``.hydra``, ``.submitit``, a cache)
    are not searched."""
    root = Path(root)
    runs, incomplete = [], []
    tables = {f"{n}.csv" for n in results.TABLES}
    for here, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        here = Path(here)
        if results.MARKER in files:
            runs.append(here)
        elif here == root or "multirun.yaml" in files:  # a sweep dir: its combined tables are ours
            continue
        elif PARTIAL in files:  # a killed or running training's curves so far: never a result
            incomplete.append((here, f"is unfinished (no {results.MARKER}; its history so far is in {PARTIAL}): "
                                     "interrupted, failed or still running"))
        elif (here / ".hydra").is_dir():
            incomplete.append((here, f"has no {results.MARKER}: interrupted, failed or still running"))
        elif tables & set(files):
            name = sorted(tables & set(files))[0]
            incomplete.append((here / name, f"has no {results.MARKER} beside it: a foreign or partial run"))
    order = _job_order(root)
    return sorted(runs, key=order), sorted(incomplete, key=lambda x: order(x[0]))


def find_runs(root: Path) -> list[Path]:
    """Folders below ``root`` (or ``root`` itself) holding a completed run, in job order."""
    return scan(root)[0]


def collect(root: Path, write: bool = True, quiet: bool = False) -> dict[str, pd.DataFrame]:
    """Combined tables of every run below ``root``; written into ``root`` unless it is itself a run."""
    root = Path(root)
    frames: dict[str, list[pd.DataFrame]] = {n: [] for n in results.TABLES}
    config_cols: list[str] = []
    run_dirs, incomplete = scan(root)
    skipped = list(incomplete)
    for run_dir in run_dirs:
        job = run_dir.relative_to(root).as_posix() if run_dir != root else "."
        if results.printable(job) != job:  # the job column is text: a name that is not UTF-8 cannot be in it
            skipped.append((run_dir, "folder name is not valid UTF-8 (shown with backslash escapes): rename it"))
            continue
        try:
            meta, tables = results.read_run(run_dir)
        except results.CorruptRun as e:  # a corrupt or foreign file: name it and go on
            skipped.append((run_dir / e.file, e.why))
            continue
        for name, df in tables.items():
            df.insert(0, "job", job)
            frames.setdefault(name, []).append(df)
        config_cols += [c for c in meta["config_columns"] if c not in config_cols]
    for path, why in skipped:
        print(f"rnnexp.collect: skipped {results.printable(path)}: {why}", file=sys.stderr)
    found = len(run_dirs) + len(incomplete)
    if not frames["summary"]:
        raise FileNotFoundError(f"no completed runs (folders with {results.MARKER}) below "
                                f"{results.printable(root)}"
                                + (f"; {len(skipped)} skipped (named above)" if skipped else ""))
    combined = {n: pd.concat(f, ignore_index=True) for n, f in frames.items() if f}
    n_runs = len(frames["summary"])
    combined["summary"].attrs.update(config_columns=config_cols, skipped=len(skipped),
                                     skipped_paths=[str(p) for p, _ in skipped], runs_found=found)
    if write and not (root / results.MARKER).exists():
        for name, df in combined.items():
            results.write_table(df, root / f"{name}.csv")
    if not quiet:
        print(f"rnnexp: collected {n_runs} of {found} run(s) ({len(combined['summary'])} replicas) in "
              f"{results.printable(root)}"
              + (f"; skipped {len(skipped)} (named above)" if skipped else ""))
    return combined


def swept_keys(summary: pd.DataFrame, config_cols: list[str] | None = None) -> list[str]:
    """Config columns whose value differs between runs (null counts as a value: ``bptt.truncate=2,null``)."""
    cols = config_cols or summary.attrs.get("config_columns") or []
    return [c for c in cols if c in summary.columns and summary[c].nunique(dropna=False) > 1]


def paired_keys(summary: pd.DataFrame, keys: list[str]) -> list[str]:
    """Keys whose value follows from another key's (``model=rnn`` always with ``bptt.truncate=2``,
    ``model=birnn`` always with ``null``; a model's own setting such as ``model.forget_bias``, null
    for every model but ``lstm``): they add no information to a layout. Of two keys that map
    one-to-one, the later one is the paired one."""
    out: list[str] = []
    for i, k in enumerate(keys):
        for j in keys:
            if j == k or j in out:
                continue
            pairs = summary[[j, k]].astype(object).where(summary[[j, k]].notna(), "null").drop_duplicates()
            if pairs[j].is_unique and (j in keys[:i] or not pairs[k].is_unique):  # k is a function of j
                out.append(k)
                break
    return out


def overview(summary: pd.DataFrame, keys: list[str] | None = None) -> pd.DataFrame:
    """One row per configuration: replicas, solved, median steps to solve, accuracies, diverged."""
    keys = swept_keys(summary) if keys is None else keys
    g = summary.groupby(keys, dropna=False, sort=False) if keys else summary.groupby(np.zeros(len(summary)))
    measures = [c for c in ("bit_acc", "sum_acc", "eval_loss", "acc", "exact", "copy_acc") if c in summary.columns
                and (c != "eval_loss" or "bit_acc" not in summary.columns)]  # the tasks' measures (README: Results)
    out = g.agg(
        replicas=("replica", "size"),
        solved=("solved", "sum"),
        median_steps_to_solve=("steps_to_solve", "median"),
        **{c: (c, "mean") for c in measures},
        diverged=("diverged", "sum"),
    )
    out["solved"] = out["solved"].astype(int).astype(str) + "/" + out["replicas"].astype(str)
    return out.drop(columns="replicas").reset_index(drop=not keys)


def format_overview(summary: pd.DataFrame, keys: list[str] | None = None) -> str:
    return overview(summary, keys).to_string(index=False, float_format=lambda v: f"{v:.4g}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rnnexp.collect", description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path, help="a sweep dir (or any folder holding runs)")
    args = ap.parse_args(argv)
    problem = results.not_a_folder(args.dir)
    if problem:
        print(f"rnnexp.collect: error: {problem}", file=sys.stderr)
        return 2
    try:
        tables = collect(args.dir)
    except FileNotFoundError as e:
        print(f"rnnexp.collect: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a sweep dir one may read but not write (a colleague's, on a shared filesystem)
        print(f"rnnexp.collect: error: cannot write the combined tables into {results.printable(args.dir)}: "
              f"{e.strerror}", file=sys.stderr)
        return 1
    print(format_overview(tables["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
