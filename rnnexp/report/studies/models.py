"""Study 7, vanilla vs gated over sequence length (``experiments/models``).

Section ``bits``: success rate, steps to solve and the training time of each run against the
sequence length ``bits``, one colour per model (or the report's colour key).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .. import intervals, layout
from ..layout import fmt
from ._common import Context, Section, colour_handles, colour_layout, config_groups, grid_figure, legend, md_table

HEADING = "Outcome against sequence length"


def bits(ctx: Context) -> list[str]:
    """Success rate, steps to solve and wall time against sequence length (``bits``)."""
    return _section(ctx.summary, ctx.unpaired, ctx.lay, ctx.fig_dir, ctx.sub).markdown(ctx.fig_dir.name)


def _section(summary, keys, lay, fig_dir: Path, sub: str) -> Section:
    others = [k for k in keys if k != "bits"]
    colour = lay.hue if lay.hue != "bits" else (lay.col if lay.col in others else (others[0] if others else None))
    rows = [k for k in others if k != colour]
    col_lay = colour_layout(summary, lay, colour)
    s = summary.copy()
    s["_hue"] = s[colour].map(fmt) if colour else "all"
    s["_row"] = [", ".join(f"{k}={fmt(v)}" for k, v in zip(rows, vals)) for vals in s[rows].itertuples(index=False)] \
        if rows else ""
    row_order = list(dict.fromkeys(s.sort_values(rows)["_row"])) if rows else [""]

    # table: colour (and rows) down, bits across; cells "solved/n, median steps"
    table = []
    for vals, g in config_groups(s, others):
        row = {k: fmt(v) for k, v in vals.items()}
        for b, e in g.groupby("bits"):
            solved = e["solved"].astype(bool)
            med = f", {e.loc[solved, 'steps_to_solve'].median():g}" if solved.any() else ""
            row[f"{b} bits"] = f"{int(solved.sum())}/{len(e)} {intervals.text(int(solved.sum()), len(e))}{med}" + \
                (f" ({int(e['diverged'].sum())} div.)" if e["diverged"].any() else "")
        table.append(row)
    table = pd.DataFrame(table)

    fig, side, axes = grid_figure(len(row_order), 3, f"Outcome against sequence length\n{sub}", sharey=False)
    rng = np.random.default_rng(0)
    present = set(s["_hue"])
    hues = [h for h in col_lay.hue_order if h in present] or ["all"]
    for i, row in enumerate(row_order):
        d = s[s["_row"] == row]
        ax0, ax1, ax2 = axes[i]
        for k, hue in enumerate(hues):
            e = d[d["_hue"] == hue]
            colour_ = col_lay.palette.get(hue, "0.3")
            marker = col_lay.marker(hue)
            shift = 2 ** ((k - (len(hues) - 1) / 2) * 0.08)  # side by side on the log-2 axis: no series hides another
            a = e.assign(_ok=e["solved"].astype(bool)).groupby("bits").agg(k=("_ok", "sum"), n=("_ok", "size")).reset_index()
            lo, hi = intervals.wilson(a["k"].to_numpy(), a["n"].to_numpy())
            rate = a["k"] / a["n"]
            ax0.errorbar(a["bits"] * shift, rate, yerr=[rate - lo, hi - rate], marker=marker, ms=4.5, lw=1.5,
                         color=colour_, elinewidth=1, capsize=2, markeredgecolor="black", markeredgewidth=0.4)
            ok = e[e["solved"].astype(bool)]
            ax1.scatter(ok["bits"] * shift * 2 ** rng.uniform(-0.025, 0.025, len(ok)), ok["steps_to_solve"], s=14,
                        color=colour_, edgecolors="black", linewidths=0.3, alpha=0.7, zorder=3)
            med = ok.groupby("bits")["steps_to_solve"].median()
            ax1.plot(med.index * shift, med.to_numpy(), color=colour_, lw=1.5)
            wall = e.groupby("bits")["wall_time"].first() if "wall_time" in e else pd.Series(dtype=float)
            ax2.plot(wall.index, wall.to_numpy(), marker=marker, ms=4.5, lw=1.5, color=colour_, markeredgecolor="black",
                     markeredgewidth=0.4)
        for ax in (ax0, ax1, ax2):
            ax.set_xscale("log", base=2)
            ticks = sorted(s["bits"].unique())
            ax.set_xticks(ticks, [str(int(t)) for t in ticks])
            ax.minorticks_off()
            ax.tick_params(labelsize=8)
            if i == len(row_order) - 1:
                ax.set_xlabel("bits (sequence length, log scale)", fontsize=9)
        ax0.set_ylim(-0.04, 1.04)
        ax0.set_xlim(min(s["bits"]) / 2 ** 0.4, max(s["bits"]) * 2 ** 0.4)
        ax0.set_ylabel("solved (fraction of replicas)", fontsize=9)
        ax1.set_ylabel("steps to solve", fontsize=9)
        if "steps" in s:
            ax1.set_ylim(0, float(s["steps"].max()) * 1.05)
        ax0.set_title(" | ".join(x for x in ("success rate", row) if x), fontsize=9)
        ax1.set_title(" | ".join(x for x in ("steps to solve (replicas that solved)", row) if x), fontsize=9)
        ax2.set_yscale("log")
        ax2.set_ylabel("training time of the run (s, log)", fontsize=9)
        ax2.set_title(" | ".join(x for x in ("cost: wall time per run", row) if x), fontsize=9)
    handles = colour_handles(col_lay, lines=True) if colour else []
    handles += [Line2D([], [], color="0.4", marker="|", ls="", label=f"left: bars, {intervals.NAME}"),
                Line2D([], [], ls="", label="left, middle: colours side by\nside at each length"),
                Line2D([], [], ls="", label="middle: dots are replicas,\nline the median")]
    legend(side, handles)
    layout.save(fig, fig_dir / "by_bits.png")
    return Section(
        HEADING,
        f"Replicas reaching 100 % whole-sum accuracy / replicas [its {intervals.NAME}], and the median steps to solve "
        "over those that did, "
        "per sequence length (`bits`). Evaluation: every problem for bits <= 9, else a fixed sample of 10,000.",
        md_table(table, len(others)),
        [("by_bits", "Outcome against sequence length",
          f"Left: fraction of replicas that solved, with its {intervals.NAME}; the colours sit side by side at each "
          "length, so that equal rates stay visible. Middle: steps to "
          "solve of each replica that solved, and their median (resolution: the evaluation interval). Right: the "
          "training time of each run (all its replicas, evaluations included; measured, so it depends on the "
          "machine's load).")],
        [])


