"""Seed 002's classic per-sample RNN (``experiments/classic``) and seed 003's view of it.

Section ``tolerance``: training steps needed to bring the evaluation loss under 1e-1, 1e-2, 1e-3
and 1e-4, per configuration (seed 003's stopping tolerances).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import Context, configurations, md_table, not_drawn

HEADING = "Steps to reach a loss tolerance (seed 003's view)"
TOLERANCES = (1e-1, 1e-2, 1e-3, 1e-4)  # seed 003's stopping tolerances


def steps_to_tolerance(history: pd.DataFrame, tolerances=TOLERANCES) -> pd.DataFrame:
    """Per job x replica x tolerance: the first evaluation step with ``eval_loss <= tol`` (NaN: never)."""
    h = history[["job", "replica", "step", "eval_loss"]]
    out = []
    for tol in tolerances:
        hit = h[h["eval_loss"] <= tol].groupby(["job", "replica"])["step"].min()
        reps = h.groupby(["job", "replica"]).size().index
        out.append(pd.DataFrame({"tolerance": tol, "step": hit.reindex(reps)}).reset_index())
    return pd.concat(out, ignore_index=True)


def tolerance(ctx: Context) -> list[str]:
    """Per configuration: replicas under each tolerance, and the median [min–max] step they got there."""
    summary, history, keys = ctx.summary, ctx.history, ctx.keys
    if "eval_loss" not in history or history["step"].nunique() < 2:
        return not_drawn(HEADING, "the runs recorded no evaluation loss at two or more evaluations")
    st = steps_to_tolerance(history)
    every = history.groupby("job")["step"].apply(lambda s: np.diff(np.sort(s.unique())).min() if s.nunique() > 1 else 0)
    rows = []
    for lab, g in configurations(summary, keys):
        row = {"configuration": lab}
        for tol in TOLERANCES:
            d = st[(st["tolerance"] == tol) & st["job"].isin(g["job"])]
            hit = d["step"].dropna()
            cell = f"{len(hit)}/{len(d)}"
            if len(hit):
                cell += f": {hit.median():g}" + (f" [{hit.min():g}–{hit.max():g}]" if len(hit) > 1 else "")
            row[f"loss ≤ {tol:g}"] = cell
        row["final loss, median"] = f"{g['eval_loss'].median():.2e}"
        rows.append(row)
    table = pd.DataFrame(rows)
    res = sorted({int(v) for v in every if v})
    return [
        f"## {HEADING}", "",
        "Training steps until the evaluation loss (per bit) first fell to each tolerance: replicas that got there / "
        "replicas, then the median [min–max] step over those that did. Resolution: the evaluation interval"
        + (f" ({', '.join(map(str, res))} steps)" if res else "") + ".", "",
        md_table(table), ""]


