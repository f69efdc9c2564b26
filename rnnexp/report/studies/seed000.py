"""Seed 000's "why does my RNN not learn?" (``experiments/seed000``): weights and gradients blowing up.

Section ``blowup``: per configuration, the largest singular value of ``Whh`` and the global gradient
norm at the start and at their largest, the replicas whose gradient grew 100-fold, diverged or
solved; every replica's ``sigma_max`` and gradient norm against training step.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ...runs import results  # outside the report: writing a table file
from .. import layout
from ._common import Context, configurations, md_table, wrap

HEADING = "Weights and gradients blowing up (seed 000's symptom)"
BLOWUP_FACTOR = 100.0  # a replica's gradient norm this many times its start counts as blowing up


def blowup_replicas(history: pd.DataFrame) -> pd.DataFrame:
    """Per job x replica: gradient norm at the first evaluation, the largest before clipping (inf if
    it overflowed), and ``sigma_max`` at the start and at its largest."""
    h = history.sort_values("step")
    g = h.groupby(["job", "replica"])
    gmax = h.assign(_g=np.where(layout.overflowed(h["grad_norm_max"]), np.inf, h["grad_norm_max"])).groupby(
        ["job", "replica"])["_g"].max()
    smax = h.assign(_s=np.where(layout.overflowed(h["sigma_max"]), np.inf, h["sigma_max"])).groupby(
        ["job", "replica"])["_s"].max()
    return pd.DataFrame({"grad_start": g["grad_norm"].first(), "grad_max": gmax,
                         "sigma_start": g["sigma_max"].first(), "sigma_max": smax}).reset_index()


def blowup(ctx: Context) -> list[str]:
    """Per configuration: sigma_max(Whh) and the gradient norm at the start and at their largest."""
    summary, history, keys, lay, fig_dir, sub = ctx.summary, ctx.history, ctx.keys, ctx.lay, ctx.fig_dir, ctx.sub
    b = blowup_replicas(history).merge(summary[["job", "replica", "solved", "diverged"]], on=["job", "replica"])
    with np.errstate(all="ignore"):
        b["grew"] = b["grad_max"] / b["grad_start"]
    rows = []
    for lab, g in configurations(summary, keys):
        d = b[b["job"].isin(g["job"])]
        rows.append({"configuration": lab,
                     "σ_max(Whh) start, median": f"{d['sigma_start'].median():.3g}",
                     "σ_max(Whh) largest, median [max]": f"{d['sigma_max'].median():.3g} [{d['sigma_max'].max():.3g}]",
                     "grad norm start, median": f"{d['grad_start'].median():.3g}",
                     "grad norm largest, median [max]": f"{d['grad_max'].median():.3g} [{d['grad_max'].max():.3g}]",
                     f"grew ≥ {BLOWUP_FACTOR:g}x": f"{int((d['grew'] >= BLOWUP_FACTOR).sum())}/{len(d)}",
                     "diverged": f"{int(d['diverged'].sum())}/{len(d)}",
                     "solved": f"{int(d['solved'].sum())}/{len(d)}"})
    table = pd.DataFrame(rows)
    results.write_table(table, fig_dir.parent / "report_blowup.csv")
    _blowup_figure(summary, history, lay, fig_dir / "blowup.png", sub)
    with np.errstate(all="ignore"):
        grew = bool((b["grad_max"] >= BLOWUP_FACTOR * b["grad_start"]).any() or summary["diverged"].astype(bool).any())
    return [
        f"## {HEADING}", "",
        (f"Some replica's gradient norm grew {BLOWUP_FACTOR:g}-fold or more over its start, or a replica diverged. "
         if grew else f"No replica's gradient norm grew {BLOWUP_FACTOR:g}-fold over its start, and none diverged. ")
        + "Per configuration: the largest singular value of the recurrent matrix (a measure of the weights' size) and "
        "the global gradient norm before clipping, at the start and at their largest; replicas whose gradient grew "
        f"{BLOWUP_FACTOR:g}-fold; diverged and solved replicas (`report_blowup.csv`).", "",
        md_table(table), "",
        "### Every replica's weights and gradient over training", "",
        "![Every replica's weights and gradient over training](figures/blowup.png)", "",
        "Top: largest singular value of Whh; bottom: largest gradient norm (before clipping) in each evaluation "
        "window; both log scale, one line per replica. Triangles: a replica diverged at that step.", ""]


def _blowup_figure(summary, history, lay, path: Path, sub: str) -> None:
    sub = wrap(sub)
    quantities = [("σ_max(Whh)", "sigma_max"), ("gradient norm", "grad_norm_max")]
    h, s = lay.label(history), lay.label(summary)
    fig, axes = layout.figure(lay, f"Weights and gradients over training\n{sub}", extra=quantities, sharey="row")
    for ax, spec, d in layout.filled(axes, h):
        col = spec[3]
        for (_, _, hue), r in d.groupby(["job", "replica", "_hue"]):
            v = r[col].astype(float).where(~layout.overflowed(r[col]))
            ax.plot(r["step"], v, color=lay.palette[hue], lw=0.8, alpha=0.6)
        layout.mark_diverged(ax, layout.subset(s, spec), lay)
        ax.set_yscale("log", nonpositive="mask")
        ax.set_xlabel("training step")
        ax.set_ylabel("largest singular value of Whh (log)" if col == "sigma_max"
                      else "gradient norm, max in window (log)")
    layout.step_xlim(axes, h)
    extra = [Line2D([], [], color="0.4", lw=0.8, label="one replica")]
    if summary["diverged"].astype(bool).any():
        extra.append(layout.DIVERGED_HANDLE)
    layout.finish(fig, axes, lay, path, extra)


