"""Study 5, does clipping help and which kind (``experiments/clipping``); also seed 000's sweep.

Section ``clipping``: divergence rate, success rate and steps to solve per clipping kind and
threshold (``clip=none`` ignores the threshold: runs differing only in it are counted once).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ...runs import results  # outside the report: writing a table file
from .. import intervals, layout
from ..layout import fmt
from ._common import Context, Section, config_groups, grid_figure, legend, log2_x, md_table, outcome, sci

HEADING = "Clipping"
CLIP_KEYS = ("clip", "clip.threshold")


def dedupe_unclipped(summary: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, int, bool]:
    """``clip=none`` ignores ``clip.threshold``: runs that differ only in it are one training.

    Returns the summary with one such run kept (its threshold shown as NaN), how many runs were
    dropped, and whether the dropped runs' numbers equalled the kept one's (they should, same seed).
    """
    if "clip" not in summary or "clip.threshold" not in keys:
        return summary, 0, True
    s = summary.copy()
    none = s["clip"] == "none"
    others = [k for k in keys if k != "clip.threshold"]
    jobs = s[none].drop_duplicates("job")
    keep = jobs.groupby(others, dropna=False, sort=False)["job"].first() if others else jobs["job"].iloc[:1]
    drop = set(jobs["job"]) - set(keep)
    same = True
    for job in drop:
        j = s[s["job"] == job]
        vals = j.iloc[0][others] if others else None
        k = s[s["job"].isin(keep) & ((s[others] == vals).all(axis=1) if others else True)]
        same &= np.array_equal(j.sort_values("replica")["bit_acc"].to_numpy(), k.sort_values("replica")["bit_acc"].to_numpy(),
                               equal_nan=True)
    s = s[~s["job"].isin(drop)].copy()
    s.loc[s["clip"] == "none", "clip.threshold"] = np.nan
    return s, len(drop), same


def clipping(ctx: Context) -> list[str]:
    """Divergence, success and steps to solve per clipping kind and threshold."""
    keys = [k for k in ctx.keys if k in ctx.unpaired or k in CLIP_KEYS]  # clip and clip.threshold even when paired
    return _section(ctx.summary, ctx.history, keys, ctx.lay, ctx.fig_dir, ctx.sub).markdown(ctx.fig_dir.name)


def _section(summary, history, keys, lay, fig_dir: Path, sub: str) -> Section:
    s, dropped, same = dedupe_unclipped(summary, keys)
    h = history[history["job"].isin(s["job"]) & (history["step"] > 0)]
    frac = h.groupby(["job", "replica"])["clip_frac"].mean()  # share of training steps clipped
    gmax = h.groupby(["job", "replica"])["grad_norm_max"].max()
    s = s.join(frac.rename("_clip_frac"), on=["job", "replica"]).join(gmax.rename("_gmax"), on=["job", "replica"])
    s["_kind"] = outcome(s)
    table = []
    for vals, g in config_groups(s, keys):
        solved = g["solved"].astype(bool)
        n = len(g)
        table.append({**{k: ("–" if k == "clip.threshold" and vals.get("clip") == "none" else fmt(v))
                         for k, v in vals.items()},
                      "replicas": n,
                      "diverged": f"{int(g['diverged'].sum())}/{n} {intervals.text(int(g['diverged'].sum()), n)}",
                      "solved": f"{int(solved.sum())}/{n} {intervals.text(int(solved.sum()), n)}",
                      "failed, finite": f"{int((g['_kind'] == 'never').sum())}/{n}",
                      "median steps to solve": f"{g.loc[solved, 'steps_to_solve'].median():g}" if solved.any() else "never",
                      "final per-bit acc": f"{g['bit_acc'].mean():.3f}",
                      "steps clipped": f"{100 * g['_clip_frac'].mean():.0f} %" if g["_clip_frac"].notna().any() else "n/a",
                      "max grad norm (median)": sci(float(np.nanmedian(np.where(layout.overflowed(g["_gmax"]),
                                                                                    np.inf, g["_gmax"]))))})
    table = pd.DataFrame(table)
    results.write_table(table, fig_dir.parent / "report_clipping.csv")

    # figure: success / divergence rate and steps to solve against threshold, one column per other setting
    others = [k for k in keys if k not in CLIP_KEYS]
    s["_col"] = [", ".join(f"{k}={fmt(v)}" for k, v in zip(others, vals)) for vals in s[others].itertuples(index=False)] \
        if others else ""
    cols = list(dict.fromkeys(s.sort_values(others)["_col"])) if others else [""]
    clip_lay = layout.Layout.make(s, "clip", None, []) if "clip" in s else None
    metrics = (("success", "solved (fraction)"), ("diverged", "diverged (fraction)"), ("steps", "median steps to solve"))
    fig, side, axes = grid_figure(3, len(cols), f"Clipping: outcome by kind and threshold\n{sub}", sharey="row")
    steps_end = float(s["steps"].max()) if "steps" in s else np.nan
    kinds = layout.value_order(s["clip"]) if "clip" in s else ["all"]
    clipped = [k for k in kinds if k != "none"]
    for j, c in enumerate(cols):
        d = s[s["_col"] == c]
        for kind in layout.value_order(d["clip"]) if "clip" in d else ["all"]:
            e = d[d["clip"] == kind] if "clip" in d else d
            colour = clip_lay.palette[kind] if clip_lay else "0.3"
            agg = e.assign(_ok=e["solved"].astype(bool), _dv=e["diverged"].astype(bool)).groupby(
                "clip.threshold", dropna=False).agg(success=("_ok", "mean"), diverged=("_dv", "mean"),
                                                    n_ok=("_ok", "sum"), n_dv=("_dv", "sum"), n=("_ok", "size"),
                                                    steps=("steps_to_solve", "median")).reset_index()
            k = clipped.index(kind) if kind in clipped else 0
            shift = 2 ** ((k - (len(clipped) - 1) / 2) * 0.12)  # kinds side by side: none hides another
            marker = layout.MARKERS[kinds.index(kind) % len(layout.MARKERS)]
            for i, (m, label) in enumerate(metrics):
                ax = axes[i][j]
                if kind == "none" or agg["clip.threshold"].isna().all():
                    v = agg[m].iloc[0]
                    if np.isfinite(v):
                        ax.axhline(v, color=colour, ls="--", lw=1.5)
                    if m != "steps":  # the unclipped rate's interval as a band
                        lo, hi = intervals.wilson(int(agg[f"n_{'ok' if m == 'success' else 'dv'}"].iloc[0]),
                                                  int(agg["n"].iloc[0]))
                        ax.axhspan(lo, hi, color=colour, alpha=0.12, lw=0)
                else:
                    a = agg.dropna(subset=["clip.threshold"]).sort_values("clip.threshold")
                    x = a["clip.threshold"] * shift
                    if m == "steps":
                        ax.plot(x, a[m], marker=marker, ms=4.5, lw=1.5, color=colour, markeredgecolor="black",
                                markeredgewidth=0.4)
                    else:
                        lo, hi = intervals.wilson(a[f"n_{'ok' if m == 'success' else 'dv'}"].to_numpy(), a["n"].to_numpy())
                        ax.errorbar(x, a[m], yerr=[a[m] - lo, hi - a[m]], marker=marker, ms=4.5, lw=1.5, color=colour,
                                    elinewidth=1, capsize=2, markeredgecolor="black", markeredgewidth=0.4)
        for i, (m, label) in enumerate(metrics):
            ax = axes[i][j]
            log2_x(ax, sorted(s["clip.threshold"].dropna().unique()) if "clip.threshold" in s else None)
            if m != "steps":
                ax.set_ylim(-0.04, 1.04)
            elif np.isfinite(steps_end):
                ax.set_ylim(0, steps_end * 1.05)
            ax.set_title(c if i == 0 else "", fontsize=9)
            ax.tick_params(labelsize=8)
            if j == 0:
                ax.set_ylabel(label, fontsize=9)
            if i == 2:
                ax.set_xlabel("clip.threshold (log)", fontsize=9)
    handles = [Line2D([], [], ls="", label="clip")]
    for kind in (clip_lay.hue_order if clip_lay else []):
        ls = "--" if kind == "none" else "-"
        handles.append(Line2D([], [], color=clip_lay.palette[kind], ls=ls, lw=1.5, markeredgecolor="black",
                              marker=None if kind == "none" else layout.MARKERS[kinds.index(kind) % len(layout.MARKERS)],
                              markeredgewidth=0.4, ms=4.5, label=kind + (" (no threshold)" if kind == "none" else "")))
    handles.append(Line2D([], [], color="0.4", marker="|", ls="", label=f"bars (band for none):\n{intervals.NAME}"))
    handles.append(Line2D([], [], ls="", label="kinds side by side at\neach threshold"))
    handles.append(Line2D([], [], ls="", label="steps to solve: over the\nreplicas that solved\n(missing: none did)"))
    legend(side, handles)
    layout.save(fig, fig_dir / "clipping.png")

    notes = []
    if dropped:
        notes.append(f"`clip=none` does not use `clip.threshold`: {dropped} run(s) that differ from another "
                     "`clip=none` run only in the threshold are the same training and are counted once here "
                     + ("(their numbers are identical)." if same else "(**their numbers differ**: the training is "
                        "not deterministic)."))
    return Section(
        HEADING,
        "Per clipping kind, threshold and the other swept settings: replicas that diverged (loss or weights NaN/inf), "
        f"that reached 100 % whole-sum accuracy, and that did neither (k/n [{intervals.NAME}]); steps to solve; the "
        "share of training steps "
        "on which clipping fired; and the largest gradient norm before clipping (median over replicas of each "
        "replica's maximum; `inf` when it overflowed). The numbers are in `report_clipping.csv`.",
        md_table(table, len(keys)),
        [("clipping", "Clipping: outcome by kind and threshold",
          f"Fraction of replicas that solved (top) and diverged (middle), with its {intervals.NAME}, and the median "
          "steps to solve over the replicas that solved (bottom), against the clipping threshold; `clip=none` as a "
          "dashed line (its interval as a band). The kinds sit side by side at each threshold, so that equal values "
          "stay visible.")],
        notes)


