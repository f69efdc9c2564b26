"""What the report says in words: its title, the command that made the runs, the summary table
(numbers, markdown) and the notes under it.

Success rates carry their 95 % Wilson interval (``intervals``): ``success_lo``, ``success_hi`` in
``report_summary.csv``, ``90 % [60–98 %]`` in the markdown table. A key with many values (a
sampled search, ``hidden=range(1,200)``) is named in the title by its count and range, not value by
value.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..tasks.addition.metrics import causal_bit_limits, causal_sum_limit  # the task's causal limits
from . import intervals, layout, roles

TITLE_VALUES = 8  # a key with more values is named by its count and range in the title


# the tasks' result columns shown in the summary table (README: Results): addition's per-bit and
# whole-sum accuracy; another task's loss and measures
MEASURES = {"bit_acc": "per-bit acc", "sum_acc": "whole-sum acc", "eval_loss": "eval loss", "acc": "acc",
            "exact": "exact", "copy_acc": "copied-symbol acc"}


def measures(summary: pd.DataFrame) -> list[str]:
    """The measure columns of ``summary``'s tasks (eval_loss: only beside a task other than addition)."""
    other = any(c in summary for c in ("acc", "exact", "copy_acc"))
    return [c for c in MEASURES if c in summary and (c != "eval_loss" or other)]


def summary_table(summary: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per configuration, every number computed from the summary table's replica rows."""
    rows = []
    groups = summary.groupby(keys, dropna=False, sort=False) if keys else [((), summary)]
    for vals, g in groups:
        vals = vals if isinstance(vals, tuple) else (vals,)
        solved = g["solved"].astype(bool)
        rows.append({
            **dict(zip(keys, vals)),
            "replicas": len(g),
            "solved": int(solved.sum()),
            "success_rate": float(solved.mean()),
            **dict(zip(("success_lo", "success_hi"), intervals.wilson(int(solved.sum()), len(g)))),
            **{f"{c}_{f}": getattr(g[c], f)() for c in measures(summary) for f in ("mean", "std")},
            "median_steps_to_solve": g.loc[solved, "steps_to_solve"].median() if solved.any() else np.nan,
            "diverged": int(g["diverged"].astype(bool).sum()),
            "wall_time": g.groupby("job")["wall_time"].first().sum(),  # one training per job
        })
    out = pd.DataFrame(rows)
    if keys:
        rank = {k: {v: i for i, v in enumerate(layout.value_order(summary[k]))} for k in keys}
        out = out.iloc[sorted(range(len(out)), key=lambda i: tuple(rank[k][layout.fmt(out[k].iloc[i])] for k in keys))]
    return out.reset_index(drop=True)


def _pm(mean, std) -> str:
    if np.isnan(mean):
        return "n/a"
    return f"{mean:.4f}" if np.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def markdown_table(table: pd.DataFrame, keys: list[str]) -> str:
    shown = [c for c in MEASURES if f"{c}_mean" in table]
    head = [*keys, "replicas", "solved", f"success rate [{intervals.NAME}]", *(MEASURES[c] for c in shown),
            "median steps to solve", "diverged", "wall time (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i < len(keys) else "---:" for i in range(len(head))) + "|"]
    for r in table.to_dict("records"):  # per row, each value keeps its column's type
        cells = [layout.fmt(r[k]) for k in keys] + [
            f"{r['replicas']:d}", f"{r['solved']:d}/{r['replicas']:d}", f"{100 * r['success_rate']:.0f} % {intervals.text(r['solved'], r['replicas'], percent=True)}",
            *(_pm(r[f"{c}_mean"], r[f"{c}_std"]) for c in shown),
            "never" if np.isnan(r["median_steps_to_solve"]) else f"{r['median_steps_to_solve']:g}",
            f"{r['diverged']:d}", f"{r['wall_time']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)




def command(root: Path) -> str | None:
    """The command line that made the runs, from Hydra's saved overrides."""
    from omegaconf import OmegaConf

    try:
        if (root / "multirun.yaml").is_file():
            task = OmegaConf.load(root / "multirun.yaml").hydra.overrides.task
            return "python -m rnnexp -m " + " ".join(task)
        if (root / ".hydra" / "overrides.yaml").is_file():
            return "python -m rnnexp " + " ".join(OmegaConf.load(root / ".hydra" / "overrides.yaml"))
    except Exception:  # a hand-edited or foreign file: the report does without the command
        return None
    return None


def notes(t, table: pd.DataFrame, keys: list[str]) -> list[str]:
    s = t.summary
    notes = []
    n_div = int(s["diverged"].astype(bool).sum())
    if n_div:
        notes.append(f"{n_div} of {len(s)} replicas diverged (loss or weights became NaN/inf). They are kept "
                     "in every figure and statistic at their last finite weights; triangles on the top edge "
                     "of the training curves mark the step at which each one diverged.")
    if not s["solved"].astype(bool).any():
        what = "100 % whole-sum accuracy" if "acc" not in s else "its task's solved criterion"
        notes.append(f"No replica reached {what}: the steps-to-solve figure shows every "
                     "replica on its 'never' line.")
    if "order" in s and (s["order"] == "msb").any():
        msb = s[s["order"] == "msb"]
        if "task.name" in msb:
            msb = msb[msb["task.name"] == "addition"]
        delays = msb["task.delay"].fillna(0).astype(int) if "task.delay" in msb else pd.Series(0, index=msb.index)
        limits = {(b, d): causal_bit_limits(b, "msb", d).mean() for b, d in set(zip(msb["bits"], delays))}
        limit = pd.Series([limits[(b, d)] for b, d in zip(msb["bits"], delays)], index=msb.index)
        over = msb[msb["bit_acc"] > limit + 1e-12]
        pairs = sorted(set(zip(msb["bits"], delays)))
        lim = ", ".join(f"{causal_bit_limits(b, 'msb', d).mean():.4f} per bit and "
                        f"{causal_sum_limit(b, 'msb', d):.4f} whole-sum "
                        f"for {b} bits" + (f" (task.delay={d})" if d else "") for b, d in pairs)
        note = f"msb order: a causal model can reach at most {lim} (dashed lines); a causal model above them would point to a bug"
        if len(over):
            where = []
            for vals, g in over.groupby(keys, sort=False, dropna=False) if keys else [((), over)]:
                vals = vals if isinstance(vals, tuple) else (vals,)
                n = (msb[keys].map(layout.fmt) == [layout.fmt(v) for v in vals]).all(axis=1).sum() if keys else len(msb)
                where.append(", ".join(f"{k}={layout.fmt(v)}" for k, v in zip(keys, vals)) + f"{': ' if keys else ''}{len(g)}/{n}")
            note += (". **Replicas above the per-bit limit** (" + "; ".join(where) + " replicas): expected only for "
                     "a model that is not causal, such as a bidirectional one.")
        notes.append(note if len(over) else note + ".")
    return notes


def title(t, keys: list[str]) -> str:
    s = t.summary
    if not keys:
        return "single configuration"
    paired = roles.paired(s, keys)
    return "sweep over " + " × ".join(f"{k} ({values(s[k])})" for k in keys if k not in paired) \
        + (f" (+ {', '.join(paired)})" if paired else "")  # keys set by another key's value


def values(series: pd.Series) -> str:
    """A key's values for the title: all of them, or for many their count and range (``199 values, 1–199``)."""
    vals = layout.value_order(series)
    if len(vals) <= TITLE_VALUES:
        return ", ".join(vals)
    if layout.is_numeric(series):
        return f"{len(vals)} values, {series.min():.3g}–{series.max():.3g}"
    return f"{len(vals)} values: {', '.join(vals[:3])}, ..."
