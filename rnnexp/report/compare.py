"""One report over several sweep dirs: ``python -m rnnexp.report DIR1 DIR2 ... [--out DIR]``.

Each dir's combined tables carry their settings as columns, so the dirs' tables stack into one set
of tables; the settings that differ between the dirs become swept keys like any other, and the
layout follows. Two dirs' tables compare only when they have the same setting columns (a table made
by an rnnexp with another set of settings cannot say what it had for the missing ones): otherwise
the report is refused, in one line. A configuration present in more than one dir stays apart: a
``sweep`` column (the dir) is then added as a setting, so that no replica is counted twice.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

SWEEP = "sweep"  # the setting added when two dirs hold the same configuration


def labels(dirs: list[Path]) -> list[str]:
    """Short names for the dirs: their last two path parts (``2026-11-29/10-32-32``), or the whole path
    when those repeat."""
    short = ["/".join(Path(d).resolve().parts[-2:]) for d in dirs]
    return short if len(set(short)) == len(short) else [str(d) for d in dirs]


def check(columns: list[list[str]], dirs: list[Path]) -> None:
    """``ValueError`` (one line) when a dir's setting columns are not the first dir's."""
    first = set(columns[0])
    for cols, d in zip(columns[1:], dirs[1:]):
        missing, extra = sorted(first - set(cols)), sorted(set(cols) - first)
        if missing or extra:
            what = "lack" if missing else "have"
            raise ValueError(f"{d} cannot be compared with {dirs[0]}: its tables {what} the settings "
                             f"{', '.join(missing or extra)} (made by another version of rnnexp?)")


def combine(tables: list[dict[str, pd.DataFrame]], columns: list[list[str]],
            dirs: list[Path]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The dirs' tables stacked (``{name: DataFrame}``, jobs renamed ``<dir index>:<job>``) and their
    config columns (with ``sweep`` first when a configuration repeats across dirs)."""
    check(columns, dirs)
    cols = list(columns[0])
    names = labels(dirs)
    configs = [set(t["summary"][cols].astype(str).itertuples(index=False, name=None)) for t in tables]
    repeated = any(configs[i] & configs[j] for i in range(len(configs)) for j in range(i + 1, len(configs)))
    out: dict[str, pd.DataFrame] = {}
    for name in tables[0]:
        parts = []
        for i, t in enumerate(tables):
            if name in t and t[name] is not None:
                df = t[name].copy()
                df["job"] = f"{i}:" + df["job"].astype(str)
                if repeated:
                    df.insert(1, SWEEP, names[i])
                parts.append(df)
        if parts:
            out[name] = pd.concat(parts, ignore_index=True)
    return out, ([SWEEP] if repeated else []) + cols
