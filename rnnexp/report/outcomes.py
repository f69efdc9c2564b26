"""The report's outcome figures: how each configuration ended (success rate, final accuracy).

A small grid gets annotated heatmaps (``heatmap``: colour key down, column key across, one panel
per row value). A sweep whose colour key is continuous or has more values than colours (hundreds of
widths, an Optuna search's sampled values) gets points instead (``against``): one point per
configuration against the colour key's value, with its interval. ``by_setting`` plots the outcome
against *each* swept setting, one column per setting: the view of a search whose every value is
new, where no two configurations share a cell. Success rates carry the Wilson interval
(``intervals``), means the bootstrap interval over replicas (``layout.ci95``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..tasks.addition.metrics import causal_bit_limits  # the task's causal limits (msb reference lines)
from . import intervals
from .layout import (DPI, PANEL_H, PANEL_W, ci95, colour_bar, empty, figure, finish, fmt, is_numeric, plain_numbers, save,
                     value_order)

HEAT_WRAP = 4  # heatmap panels per line
COLOUR_LABEL = {"success": "fraction of replicas solving 100 %", "bit_acc": "final per-bit accuracy",
                "acc": "final accuracy per target"}


def configurations(summary: pd.DataFrame, keys: list[str], metric: str) -> pd.DataFrame:
    """One row per configuration of ``keys``: ``_y`` the success rate or the metric's mean, ``_lo``/``_hi``
    its interval (Wilson for a success rate, bootstrap of the mean otherwise), the layout labels."""
    s = summary.assign(_ok=summary["solved"].astype(bool).astype(int), _dv=summary["diverged"].astype(bool).astype(int),
                       _one=0)
    g = s.groupby(keys or ["_one"], dropna=False, sort=False)
    out = g.agg(_hue=("_hue", "first"), _col=("_col", "first"), _row=("_row", "first"), _n=("_ok", "size"),
                _k=("_ok", "sum"), _div=("_dv", "sum"), **({} if metric == "success" else {"_y": (metric, "mean")}))
    if metric == "success":
        out["_y"] = out["_k"] / out["_n"]
        out["_lo"], out["_hi"] = intervals.wilson(out["_k"].to_numpy(), out["_n"].to_numpy())
    else:
        ci = g[metric].agg(lambda v: ci95(v))
        out["_lo"], out["_hi"] = [c[0] for c in ci], [c[1] for c in ci]
    return out.reset_index(drop=not keys)


def heatmap(summary, lay, metric, path, title):
    """Success rate (``k/n`` and its Wilson interval) or final accuracy per configuration, as annotated cells."""
    s = summary.copy()
    s["_x"] = s["_col"] if lay.col else "all"
    xs = lay.col_order or ["all"]
    panels = lay.row_order or [""]
    nc = min(len(panels), HEAT_WRAP)
    nr = math.ceil(len(panels) / nc)
    width = max((0.9 * len(xs) + 2.0) * nc + 0.4, 0.085 * max(map(len, title.splitlines())) + 0.3)
    cell_h = 0.62 if metric == "success" else 0.45
    fig = Figure(figsize=(width, (cell_h * len(lay.hue_order) + 1.2) * nr + 1.0), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nr, nc, squeeze=False).ravel()
    for ax in axes[len(panels):]:
        fig.delaxes(ax)
    fig.suptitle(title, fontsize=11)
    for i, (ax, row) in enumerate(zip(axes, panels)):
        sub = s[s["_row"] == row]
        g = sub.groupby(["_hue", "_x"])
        n, div = g.size(), g["diverged"].sum()
        if metric == "success":
            val, solved = g["solved"].mean(), g["solved"].sum()
            text = {k: f"{solved[k]}/{n[k]}\n{intervals.text(solved[k], n[k])}" for k in n.index}
            vmin, vmax, clabel = 0.0, 1.0, COLOUR_LABEL[metric] + "\n(cells: k/n, " + intervals.NAME + ")"
        else:
            val = g[metric].mean()
            text = {k: f"{val[k]:.3f}" for k in n.index}
            vmin, vmax = (0.5 if metric == "bit_acc" else 0.0), 1.0
            clabel = COLOUR_LABEL[metric] + "\n(mean over replicas)"
        text = {k: t + (f"\n{div[k]} diverged" if div[k] else "") for k, t in text.items()}
        grid = val.reindex(pd.MultiIndex.from_product([lay.hue_order, xs])).unstack()[xs].reindex(lay.hue_order)
        annot = np.array([[text.get((h, x), "no run") for x in xs] for h in lay.hue_order], dtype=object)
        last = i == len(panels) - 1
        sns.heatmap(grid.astype(float), annot=annot, fmt="", vmin=vmin, vmax=vmax, cmap="viridis", ax=ax,
                    cbar=last, cbar_kws={"label": clabel}, linewidths=0.5, linecolor="white",
                    annot_kws={"fontsize": 8 if metric == "success" else 9})
        if metric == "bit_acc" and last and "order" in s and (s["order"] == "msb").any():
            cax = ax.collections[0].colorbar.ax
            msb = s[s["order"] == "msb"]
            for bits, delay in sorted(set(zip(msb["bits"], msb["task.delay"] if "task.delay" in msb else [0] * len(msb)))):
                ref = causal_bit_limits(bits, "msb", 0 if pd.isna(delay) else int(delay)).mean()
                cax.axhline(ref, color="white", lw=3)
                cax.axhline(ref, color="black", lw=1.5, ls="--")
            cax.set_ylabel(clabel + "\ndashed: best causal model, msb order", fontsize=8)
        ax.set_xlabel(lay.col or "")
        ax.set_ylabel(lay.hue or "")
        ax.set_title(row, fontsize=9)
        ax.tick_params(labelsize=8, rotation=0)
        for t in ax.get_yticklabels():
            if lay.hue and t.get_text() in lay.palette:
                t.set_color(tuple(0.75 * c for c in lay.palette[t.get_text()][:3]))  # darker: readable as text
                t.set_fontweight("bold")
    save(fig, path)
    return fig


# --- points: one per configuration, against a setting's value -------------------------------------

def x_positions(values: pd.Series) -> tuple[np.ndarray, list | None, bool]:
    """Where each value goes on the x axis: numbers at their value (``log``: a wide positive range),
    anything else at 0, 1, ... in the report's order (then the tick labels)."""
    if is_numeric(values):
        v = values.astype(float).to_numpy()
        ok = v[np.isfinite(v)]
        log = bool(len(ok) and ok.min() > 0 and ok.max() / ok.min() > 30)
        return v, None, log
    order = value_order(values)
    return values.map(fmt).map({o: i for i, o in enumerate(order)}).to_numpy(float), order, False


def dodge(x: np.ndarray, log: bool, width: float = 0.35) -> np.ndarray:
    """Points at the same x spread side by side (within ``width`` of the gap to the next x value), so no
    point hides another."""
    u = np.log10(x) if log else x.astype(float)
    out = u.copy()
    distinct = np.unique(u[np.isfinite(u)])
    gap = np.diff(distinct).min() if len(distinct) > 1 else 1.0
    for v in distinct:
        idx = np.flatnonzero(u == v)
        if len(idx) > 1:
            out[idx] = v + np.linspace(-width, width, len(idx)) * gap
    return 10 ** out if log else out


def points(ax, conf: pd.DataFrame, key: str, lay) -> None:
    """Each configuration's ``_y`` with its interval against ``key``, coloured and marked by the layout."""
    x, labels, log = x_positions(conf[key])
    conf = conf.assign(_x=x).sort_values(["_x", "_hue"])
    x = dodge(conf["_x"].to_numpy(), log)
    colours = [lay.palette.get(h, (0.6, 0.6, 0.6)) for h in conf["_hue"]]
    ax.errorbar(x, conf["_y"], yerr=[conf["_y"] - conf["_lo"], conf["_hi"] - conf["_y"]], fmt="none",
                ecolor="0.55", elinewidth=0.8, capsize=0, zorder=2)
    for m in dict.fromkeys(lay.marker(h) for h in conf["_hue"]):
        sel = np.array([lay.marker(h) == m for h in conf["_hue"]])
        ax.scatter(x[sel], conf["_y"][sel], c=[c for c, s_ in zip(colours, sel) if s_], marker=m,
                   s=22 if len(conf) < 60 else 12, edgecolors="black", linewidths=0.4, zorder=3)
    if log:
        ax.set_xscale("log")
        plain_numbers(ax.xaxis)
    if labels is not None:
        ax.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 6 else 0)
    ax.set_xlabel(key + (" (log)" if log else ""))


YLABEL = {"success": "solved (fraction of replicas)", "bit_acc": "final per-bit accuracy",
          "acc": "final accuracy per target", "eval_loss": "final evaluation loss"}


def interval_handles(metric: str) -> list[Line2D]:
    what = intervals.NAME if metric == "success" else "95 % CI of the mean\nover replicas"
    return [Line2D([], [], color="0.55", lw=0.8, marker="|", label=f"bar: {what}")]


def against(summary, lay, metric, keys, path, title):
    """The outcome per configuration against the colour key's value, one panel per column / row value."""
    conf = configurations(summary, keys, metric)
    fig, axes = figure(lay, title, sharey=True)
    for ax, spec in axes:
        sub = conf[(conf["_row"] == spec[1]) & (conf["_col"] == spec[2])]
        if sub.empty:
            empty(ax, "no run with this combination")
            continue
        points(ax, sub, lay.hue, lay)
        ax.set_ylabel(YLABEL.get(metric, metric))
        if metric == "success":
            ax.set_ylim(-0.04, 1.04)
    return finish(fig, axes, lay, path, interval_handles(metric))


def by_setting(summary, lay, keys, metrics, path, title):
    """The outcome of every configuration against each swept setting: one column per setting, one row
    per measure (success rate first). Coloured by the report's colour key."""
    n = len(keys)
    nc = min(n, 4)
    rows = [(m, k) for m in metrics for k in keys]
    nr = math.ceil(len(keys) / nc) * len(metrics)
    main_w = max(PANEL_W * nc, 0.075 * max(map(len, title.splitlines())))  # the title fits above the panels
    fig = Figure(figsize=(main_w + 2.1, PANEL_H * nr + 0.8), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    main, side = fig.subfigures(1, 2, width_ratios=[main_w, 2.1], wspace=0)
    axes = main.subplots(nr, nc, squeeze=False)
    main.suptitle(title, fontsize=10)
    per_metric = math.ceil(n / nc)
    confs = {m: configurations(summary, keys, m) for m in metrics}
    for i, (m, k) in enumerate(rows):
        r, c = divmod(i % n, nc)
        ax = axes[metrics.index(m) * per_metric + r][c]
        points(ax, confs[m], k, lay)
        ax.set_ylabel(YLABEL.get(m, m), fontsize=9)
        ax.tick_params(labelsize=8)
        ax.xaxis.label.set_size(9)
        if m == "success":
            ax.set_ylim(-0.04, 1.04)
        elif m == "eval_loss" and (confs[m]["_y"] > 0).all() and confs[m]["_y"].max() / confs[m]["_y"].min() > 30:
            ax.set_yscale("log")
    for ax in axes.ravel():
        if not ax.has_data():
            main.delaxes(ax)
    handles = []
    if lay.hue and not lay.continuous:
        handles = [Line2D([], [], ls="", label=lay.hue)] + [
            Line2D([], [], ls="", marker=lay.marker(v), color=lay.palette[v], markeredgecolor="black", label=v)
            for v in lay.hue_order]
    elif lay.continuous:
        colour_bar(side, lay)
    handles += interval_handles("success") + ([] if metrics == ["success"] else interval_handles("mean"))
    handles.append(Line2D([], [], ls="", label="one point per configuration;\nat the same x: side by side"))
    side.legend(handles=handles, fontsize=8, frameon=False, borderaxespad=0,
                **(dict(loc="upper left", bbox_to_anchor=(0, 0.5)) if lay.continuous else dict(loc="center left")))
    save(fig, path)
    return fig
