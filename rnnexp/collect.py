"""Gather every run below a sweep dir into combined tables (``python -m rnnexp.collect DIR``).

Writes ``summary.csv``, ``history.csv``, ``profile.csv`` and ``positions.csv`` into DIR: the runs'
tables concatenated, with a ``job`` column (the run's folder relative to DIR). Read one with
``pandas.read_csv("DIR/summary.csv")``. A run counts once its ``run.json`` exists; a folder whose
files cannot be read is named on stderr and skipped, and the count of skipped runs is reported.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from . import results


def find_runs(root: Path) -> list[Path]:
    """Folders below ``root`` (or ``root`` itself) holding a completed run, in job order."""
    root = Path(root)
    dirs = [p.parent for p in root.rglob(results.MARKER)]

    def key(p: Path):
        rel = p.relative_to(root).parts
        return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in rel)

    return sorted(dirs, key=key)


def collect(root: Path, write: bool = True, quiet: bool = False) -> dict[str, pd.DataFrame]:
    """Combined tables of every run below ``root``; written into ``root`` unless it is itself a run."""
    root = Path(root)
    frames: dict[str, list[pd.DataFrame]] = {n: [] for n in results.TABLES}
    config_cols: list[str] = []
    skipped = 0
    for run_dir in find_runs(root):
        try:
            meta, tables = results.read_run(run_dir)
        except Exception as e:  # a corrupt or foreign file: name it and go on
            skipped += 1
            print(f"rnnexp.collect: skipped {run_dir}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        job = run_dir.relative_to(root).as_posix() if run_dir != root else "."
        for name, df in tables.items():
            df.insert(0, "job", job)
            frames[name].append(df)
        config_cols += [c for c in meta.get("config_columns", []) if c not in config_cols]
    if not frames["summary"]:
        raise FileNotFoundError(f"no completed runs (folders with {results.MARKER}) below {root}")
    combined = {n: pd.concat(f, ignore_index=True) for n, f in frames.items()}
    combined["summary"].attrs.update(config_columns=config_cols, skipped=skipped)
    if write and not (root / results.MARKER).exists():
        for name, df in combined.items():
            results.write_table(df, root / f"{name}.csv")
    if not quiet:
        n_runs = combined["summary"]["job"].nunique()
        print(f"rnnexp: {n_runs} run(s), {len(combined['summary'])} replicas collected in {root}"
              + (f" ({skipped} unreadable run(s) skipped)" if skipped else ""))
    return combined


def swept_keys(summary: pd.DataFrame, config_cols: list[str] | None = None) -> list[str]:
    """Config columns whose value differs between runs."""
    cols = config_cols or summary.attrs.get("config_columns") or []
    return [c for c in cols if c in summary.columns and summary[c].astype(str).nunique() > 1]


def overview(summary: pd.DataFrame, keys: list[str] | None = None) -> pd.DataFrame:
    """One row per configuration: replicas, solved, median steps to solve, accuracies, diverged."""
    keys = swept_keys(summary) if keys is None else keys
    g = summary.groupby(keys, dropna=False, sort=False) if keys else summary.groupby(np.zeros(len(summary)))
    out = g.agg(
        replicas=("replica", "size"),
        solved=("solved", "sum"),
        median_steps_to_solve=("steps_to_solve", "median"),
        bit_acc=("bit_acc", "mean"),
        sum_acc=("sum_acc", "mean"),
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
    if not args.dir.is_dir():
        print(f"rnnexp.collect: error: {args.dir} is not a folder", file=sys.stderr)
        return 2
    try:
        tables = collect(args.dir)
    except FileNotFoundError as e:
        print(f"rnnexp.collect: error: {e}", file=sys.stderr)
        return 1
    print(format_overview(tables["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
