"""Study 6, did it learn the rule? (``experiments/length``): the final models scored at other lengths.

Section ``lengths``: the final models were scored at other lengths (``eval_bits``); which
configurations stay at 100 % at every length (computed the carry rule, not a pattern of the
training length). The mean accuracy per length is the generic report's *Length generalisation*.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.lines import Line2D

from .. import intervals, layout
from ..layout import fmt
from ._common import Context, Section, config_groups, log2_x, md_table, not_drawn

HEADING = "Did it learn the rule? (other lengths)"


def exact_by_length(lengths, lay: layout.Layout, path: Path, title: str):
    """Fraction of replicas exactly at 100 % whole-sum accuracy at each length scored (the report's layout)."""
    df = lay.label(lengths).assign(_exact=lambda d: (d["sum_acc"] >= 1.0).astype(float))
    fig, axes = layout.figure(lay, title)
    for ax, _, sub in layout.filled(axes, df):
        layout.lines(ax, sub, "bits_scored", "_exact", lay, band=layout.RATE_BAND, marker="o", markersize=3.5)
        ax.set_ylim(-0.04, 1.04)
        ax.set_xlabel("length of the sum (bits, log scale)")
        ax.set_ylabel("replicas exactly at 100 %\n(fraction)")
    ticks = sorted(lengths["bits_scored"].unique())
    for ax, _ in axes:
        log2_x(ax, ticks)
    extra = [Line2D([], [], color="0.5", lw=6, alpha=0.3, label=intervals.NAME)]
    return layout.finish(fig, axes, lay, path, extra)


def lengths(ctx: Context) -> list[str]:
    """Which configurations stay at 100 % at every length scored (learned the carry rule)."""
    L = ctx.lengths
    if L is None or not len(L) or L.groupby("job")["bits_scored"].nunique().max() < 2:
        return not_drawn(HEADING, "the final models were scored at their training length only (set `eval_bits`, "
                                  "e.g. `eval_bits=[16,32,64]`)")
    return _section(ctx.summary, L, ctx.unpaired, ctx.lay, ctx.fig_dir, ctx.sub).markdown(ctx.fig_dir.name)


def _section(summary, lengths, keys, lay, fig_dir: Path, sub: str) -> Section:
    L = lengths
    exact_by_length(L, lay, fig_dir / "lengths_exact.png", f"Length generalisation: replicas exactly at 100 %\n{sub}")
    scored = sorted(L["bits_scored"].unique())
    table = []
    for vals, g in config_groups(summary, keys):
        sub = L[L["job"].isin(g["job"])]
        exact = sub.assign(_ok=sub["sum_acc"] >= 1.0).pivot_table(index=["job", "replica"], columns="bits_scored",
                                                                  values="_ok", aggfunc="first")
        n = len(exact)
        row = {**{k: fmt(v) for k, v in vals.items()}}
        for b in scored:
            if b in exact:
                acc = sub.loc[sub["bits_scored"] == b, "sum_acc"]
                row[f"{b} bits"] = f"{acc.mean():.4f} ({int(exact[b].fillna(False).sum())}/{exact[b].notna().sum()})"
            else:
                row[f"{b} bits"] = "–"
        row["100 % at every length"] = f"{int(exact.fillna(False).all(axis=1).sum())}/{n}"
        table.append(row)
    table = pd.DataFrame(table)
    return Section(
        HEADING,
        "Whole-sum accuracy of the final models at each length scored (mean over replicas; in brackets the "
        "replicas exactly at 100 %), and the replicas at 100 % at every length: those computed the carry rule, "
        "not a pattern of the training length. Lengths up to 9 bits are scored on every problem, longer ones on "
        "a fixed sample of 10,000. The mean accuracy is in the figure *Length generalisation* above.",
        md_table(table, len(keys)),
        [("lengths_exact", "Length generalisation: replicas exactly at 100 %",
          "Fraction of replicas whose final model gets every evaluation problem of that length right: a replica "
          f"that learned the carry rule stays at 1 on every length; the band is its {intervals.NAME}.")], [])


