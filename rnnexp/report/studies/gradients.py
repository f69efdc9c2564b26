"""Study 4, where gradients vanish and explode (``experiments/gradients``); also seed 000's sweep.

Section ``gradients``: how far the last step's error signal survives going back to t = 1,
``||dL_T/dh_1|| / ||dL_T/dh_T||``, against the recurrent matrix's largest singular value
``sigma_max(Whh)``, with Pascanu's ``1/gamma`` line per activation, at the first and the last
evaluation; and the training outcome on each side of the line.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ...engine import activations
from ...runs import results  # outside the report: the engine's activations (gamma); a table file
from .. import figures, intervals, layout
from ..layout import fmt
from ._common import (Context, Section, colour_handles, colour_layout, config_groups, grid_figure, legend, log2_x,
                      md_table, not_drawn, outcome, sci)

HEADING = "Gradients across the 1/γ boundary"
SIGMA_KEYS = ("init.scale", "init", "init.input_scale")  # settings that move sigma_max at step 0
SOLVED_MARK = {"solved": ("o", 26), "never": ("X", 34), "diverged": ("v", 34)}


# --- 1/gamma: Pascanu et al.'s boundary ----------------------------------------------------------

def _inv_gamma(df: pd.DataFrame) -> dict[float, list[str]]:
    """1/gamma of each activation used by a plain (not gated) model: {1/gamma: [activations]}."""
    plain = df[~df["model"].isin(figures.GATED)] if "model" in df else df
    out: dict[float, list[str]] = {}
    for act in sorted(plain["activation"].unique()) if "activation" in plain else []:
        if act in activations.ACTIVATIONS:
            out.setdefault(1.0 / activations.ACTIVATIONS[act].gamma, []).append(act)
    return out


def _side(sigma: float, inv: dict[float, list[str]]) -> str:
    """Where ``sigma`` lies with respect to the 1/gamma line(s): below, at or above."""
    if not inv or not np.isfinite(sigma):
        return ""
    if any(np.isclose(sigma, v, rtol=1e-6) for v in inv):
        return "at"
    return "below" if sigma < min(inv) else "above" if sigma > max(inv) else "between"


def _gamma_lines(ax, inv: dict[float, list[str]], vertical: bool) -> None:
    for v, acts in sorted(inv.items()):
        style = figures.GAMMA_STYLES.get(v, "--")
        if vertical:
            ax.axvline(v, color=layout.REF_COLOR, ls=style, lw=1)
            ax.text(v * 1.04, 0.99, f"1/γ {'/'.join(acts)}", transform=ax.get_xaxis_transform(), ha="left", va="top",
                    fontsize=7, color=layout.REF_COLOR, rotation=90)
        else:
            ax.axhline(v, color=layout.REF_COLOR, ls=style, lw=1)


def _gamma_handles(inv: dict[float, list[str]]) -> list[Line2D]:
    return [Line2D([], [], color=layout.REF_COLOR, ls=figures.GAMMA_STYLES.get(v, "--"), lw=1,
                   label=f"1/γ = {v:g} ({', '.join(acts)})") for v, acts in sorted(inv.items())]




# --- gradients: the ratio ||dL_T/dh_1|| / ||dL_T/dh_T|| against sigma_max ---------------------------

def gradient_ratios(history: pd.DataFrame, profile: pd.DataFrame) -> pd.DataFrame:
    """Per job x replica x phase (start = first evaluation, end = last): ``sigma_max`` and
    ``ratio = ||dL_T/dh_1|| / ||dL_T/dh_T||`` (state h), with the evaluation ``step``."""
    p = profile[profile["state"].astype(str) == "h"]
    T = p.groupby("job")["t"].transform("max")
    first = p[p["t"] == 1].set_index(["job", "step", "replica"])["grad_norm"]
    last = p[p["t"] == T].set_index(["job", "step", "replica"])["grad_norm"]
    with np.errstate(all="ignore"):
        ratio = (first / last).rename("ratio")
    h = history.set_index(["job", "step", "replica"])
    out = h[["sigma_max"]].join(ratio, how="inner").reset_index()
    lo = out.groupby("job")["step"].transform("min")
    hi = out.groupby("job")["step"].transform("max")
    out["phase"] = np.where(out["step"] == lo, "start", np.where(out["step"] == hi, "end", ""))
    out = out[out["phase"] != ""]
    return out.assign(T=out["job"].map(p.groupby("job")["t"].max()))


def gradients(ctx: Context) -> list[str]:
    """The gradient reaching t = 1 against sigma_max(Whh), at the first and the last evaluation."""
    p = ctx.profile
    if p is None or not len(p) or p["t"].max() < 2:
        return not_drawn(HEADING, "the runs recorded no gradient profile over two or more time steps")
    return _section(ctx.summary, ctx.history, p, ctx.unpaired, ctx.lay, ctx.fig_dir, ctx.sub).markdown(ctx.fig_dir.name)


def _section(summary, history, profile, keys, lay, fig_dir: Path, sub: str) -> Section:
    r = gradient_ratios(history, profile)
    cfg_cols = [k for k in keys if k in summary]
    reps = summary[["job", "replica", *cfg_cols, "solved", "diverged"]].copy()
    reps["_kind"] = outcome(summary)
    r = r.merge(reps, on=["job", "replica"], how="left")
    colour = next((k for k in ("activation", "model") if k in keys), None)
    if colour is None and lay.hue not in SIGMA_KEYS:
        colour = lay.hue
    rows = [k for k in keys if k not in SIGMA_KEYS and k != colour]
    col_lay = colour_layout(summary, lay, colour)
    r["_hue"] = r[colour].map(fmt) if colour else "all"
    r["_row"] = [", ".join(f"{k}={fmt(v)}" for k, v in zip(rows, vals)) for vals in r[rows].itertuples(index=False)] \
        if rows else ""
    row_order = list(dict.fromkeys(r.sort_values(rows)["_row"])) if rows else [""]
    inv_all = _inv_gamma(summary)

    # table: one row per configuration
    table = []
    for vals, g in config_groups(summary, keys):
        rr = r[r["job"].isin(g["job"])]
        st, en = rr[rr["phase"] == "start"], rr[rr["phase"] == "end"]
        inv = _inv_gamma(g)
        s0 = float(st["sigma_max"].median()) if len(st) else np.nan
        line = {**{k: fmt(v) for k, v in vals.items()},
                "σ_max at start": sci(s0),
                "1/γ": ", ".join(f"{v:g}" for v in inv) or "none (gated)",
                "side": _side(s0, inv),
                "ratio at start (median)": sci(float(st["ratio"].median())) if len(st) else "n/a",
                "σ_max at end": sci(float(en["sigma_max"].median())) if len(en) else "n/a",
                "ratio at end (median)": sci(float(en["ratio"].median())) if len(en) else "n/a",
                "solved": f"{int(g['solved'].sum())}/{len(g)}",
                "diverged": f"{int(g['diverged'].sum())}/{len(g)}"}
        table.append(line)
    table = pd.DataFrame(table)
    results.write_table(table, fig_dir.parent / "report_gradients.csv")

    # figure 1: the ratio against sigma_max, start and end
    fig, side, axes = grid_figure(len(row_order), 2, f"Gradient reaching t = 1 against σ_max(Whh)\n{sub}")
    bad = 0
    for i, row in enumerate(row_order):
        for j, phase in enumerate(("start", "end")):
            ax = axes[i][j]
            d = r[(r["_row"] == row) & (r["phase"] == phase)]
            ok = d[np.isfinite(d["ratio"]) & (d["ratio"] > 0) & np.isfinite(d["sigma_max"]) & (d["sigma_max"] > 0)
                   & ~layout.overflowed(d["ratio"]) & ~layout.overflowed(d["sigma_max"])]
            bad += len(d) - len(ok)
            for kind, (marker, size) in SOLVED_MARK.items():
                k = ok[ok["_kind"] == kind]
                if len(k):
                    ax.scatter(k["sigma_max"], k["ratio"], c=[col_lay.palette[x] for x in k["_hue"]], marker=marker,
                               s=size, edgecolors="black", linewidths=0.4, alpha=0.8, zorder=3)
            ax.axhline(1.0, color="0.6", lw=0.8)
            _gamma_lines(ax, _inv_gamma(d) if len(d) else {}, vertical=True)
            steps = sorted(d["step"].unique())
            ax.set_title(" | ".join(x for x in (f"{phase} (step {', '.join(fmt(s) for s in steps)})", row) if x),
                         fontsize=9)
            log2_x(ax)
            ax.set_yscale("log")
            ax.tick_params(labelsize=8)
            if i == len(row_order) - 1:
                ax.set_xlabel("largest singular value of Whh (log)", fontsize=9)
            if j == 0:
                T = int(r["T"].max())
                ax.set_ylabel(f"||dL_T/dh_1|| / ||dL_T/dh_T||\n(T = {T}, log)", fontsize=9)
    handles = colour_handles(col_lay, markers=False) + [Line2D([], [], ls="", label="training outcome")] + [
        Line2D([], [], ls="", marker=m, color="0.6", markeredgecolor="black", label=k)
        for k, (m, _) in SOLVED_MARK.items()] + _gamma_handles(inv_all) + [
        Line2D([], [], color="0.6", lw=0.8, label="ratio 1: no loss\nor gain over T-1 steps")]
    if bad:
        handles.append(Line2D([], [], ls="", label=f"{bad} point(s) not shown:\nratio 0, NaN or overflow"))
    legend(side, handles)
    layout.save(fig, fig_dir / "gradient_ratio.png")

    # figure 2: outcome against sigma_max at the start, per colour
    st = r[r["phase"] == "start"].merge(summary[["job", "replica", "bit_acc"]], on=["job", "replica"], how="left")
    cfg = st.groupby([*(c for c in cfg_cols), "_hue", "_row"], dropna=False).agg(
        sigma=("sigma_max", "median"), success=("solved", "mean"), bit_acc=("bit_acc", "mean"),
        diverged=("diverged", "mean"), n=("solved", "size"), n_success=("solved", "sum"),
        n_diverged=("diverged", "sum")).reset_index()
    panels = [("success", "replicas solving 100 %", "fraction of replicas", (-0.04, 1.04)),
              ("bit_acc", "final per-bit accuracy (mean)", "per-bit accuracy", (0.45, 1.02))]
    if summary["diverged"].astype(bool).any():
        panels.append(("diverged", "replicas diverged", "fraction of replicas", (-0.04, 1.04)))
    fig, side, axes = grid_figure(len(row_order), len(panels), f"Training outcome by σ_max(Whh) at the start\n{sub}",
                                  sharey=False)
    for i, row in enumerate(row_order):
        for j, (metric, label, ylabel, ylim) in enumerate(panels):
            ax = axes[i][j]
            d = cfg[cfg["_row"] == row]
            present = set(d["_hue"])
            hues = [h for h in col_lay.hue_order if h in present] or ["all"]
            for k, hue in enumerate(hues):
                e = d[d["_hue"] == hue].sort_values("sigma")
                e = e[np.isfinite(e["sigma"]) & (e["sigma"] > 0)]
                x = e["sigma"] * 2 ** ((k - (len(hues) - 1) / 2) * 0.06)  # side by side: no colour hides another
                style = dict(marker=col_lay.marker(hue), ms=4.5, color=col_lay.palette.get(hue, "0.3"), lw=1.5,
                             markeredgecolor="black", markeredgewidth=0.4)
                if metric in ("success", "diverged"):  # a fraction of replicas: its Wilson interval
                    lo, hi = intervals.wilson(e[f"n_{metric}"].astype(float).to_numpy(), e["n"].to_numpy())
                    ax.errorbar(x, e[metric], yerr=[e[metric] - lo, hi - e[metric]], elinewidth=1, capsize=2, **style)
                else:
                    ax.plot(x, e[metric], **style)
            _gamma_lines(ax, _inv_gamma(summary[summary["job"].isin(r.loc[r["_row"] == row, "job"])]), vertical=True)
            log2_x(ax)
            ax.set_ylim(*ylim)
            ax.set_title(" | ".join(x for x in (label, row) if x), fontsize=9)
            ax.tick_params(labelsize=8)
            if i == len(row_order) - 1:
                ax.set_xlabel("σ_max(Whh) at step 0 (log)", fontsize=9)
            ax.set_ylabel(ylabel, fontsize=9)
    handles = colour_handles(col_lay, lines=True)
    handles.append(Line2D([], [], color="0.4", marker="|", ls="", label=f"bars: {intervals.NAME}"))
    legend(side, handles + _gamma_handles(inv_all))
    layout.save(fig, fig_dir / "success_by_sigma.png")

    notes = []
    if bad:
        notes.append(f"{bad} (replica, phase) point(s) have a ratio that is 0, NaN or overflowed (a dead or "
                     "diverged network) and are left out of the scatter; the medians in the table include them.")
    return Section(
        HEADING,
        "Per configuration: the largest singular value of Whh and how much of the last step's error signal "
        "reaches the first step, `||dL_T/dh_1|| / ||dL_T/dh_T||` (one batch, medians over replicas), at the first "
        "and the last evaluation. Pascanu et al. (2013): below 1/γ the ratio must shrink geometrically with T; "
        "above it, it can grow. `side`: σ_max at the start below or above 1/γ. The numbers are in "
        "`report_gradients.csv`.",
        md_table(table, len(keys)),
        [("gradient_ratio", "Gradient reaching t = 1 against σ_max(Whh)",
          "Each point is a replica: x its Whh's largest singular value, y the fraction of the last step's error "
          "signal that reaches the first step (one batch), at the first evaluation (left) and the last (right); "
          "the marker is how its training ended. Vertical lines: 1/γ of each activation (below it, long-range "
          "gradients must vanish)."),
         ("success_by_sigma", "Training outcome by σ_max(Whh) at the start",
          "Per configuration, against the median largest singular value of Whh at step 0: the fraction of "
          f"replicas that reached 100 % whole-sum accuracy, the final per-bit accuracy (0.5: chance), and, when "
          f"any replica diverged, the fraction that did; fractions with their {intervals.NAME}.")],
        notes)


