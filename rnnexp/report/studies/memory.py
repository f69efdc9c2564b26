"""Study 8, where each model stops carrying information (``experiments/memory``).

Section ``memory``: success rate against the dependency length of each task (one panel per task,
one line per model variant), each variant's breaking point, the long-range gradient ratio
``||dL_T/dh_1|| / ||dL_T/dh_T||`` at the first and the last evaluation, and the memoryless
references beside rnnexp's losses.

The dependency length of a run is its task's own length setting: ``task.length`` for ``adding``
(T: the answer at step T needs a value read in the first half) and ``copy`` (T: the symbols are
recalled T + K steps after they are read), ``task.delay`` for ``addition`` (D: with msb first, the
sum's top bit is due D steps after it is read). A variant is everything else that was swept
(model, activation, init, clipping).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .. import figures, intervals, layout
from ..layout import fmt
from ._common import Context, Section, grid_figure, legend, log2_x, md_table, not_drawn, palette
from .gradients import gradient_ratios

HEADING = "Where each model stops learning long dependencies"
LENGTH_OF = {"adding": "task.length", "copy": "task.length", "addition": "task.delay"}  # task -> its length setting
X_LABEL = {"adding": "T (steps)", "copy": "T (recall T + K steps later)", "addition": "delay D (steps)"}
TASK_KEYS = ("task", "task.length", "task.delay", "task.symbols", "bits", "order", "loss")
SOLVED_AT = 0.5  # a length counts as learnt when at least this fraction of replicas solved it


def with_length(summary: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The summary with ``_length`` (the task's dependency length) and ``_variant`` (the rest swept)."""
    s = summary[summary["task"].isin(LENGTH_OF)].copy()
    s["_length"] = [row[LENGTH_OF[t]] for t, (_, row) in zip(s["task"], s.iterrows())]
    s = s[s["_length"].notna()]
    s["_length"] = s["_length"].astype(int)
    rest = [k for k in keys if k not in TASK_KEYS and k not in VARIANT_KEYS and k in s]
    s["_variant"] = [variant_name(row, rest) for _, row in s.iterrows()]
    return s


VARIANT_KEYS = ("model", "activation", "init", "init.scale", "clip", "clip.threshold")


def variant_name(row: pd.Series, rest: list[str]) -> str:
    """A variant as a reader says it: "lstm", "rnn tanh", "IRNN" (relu, Whh = I), "+ clip norm 1",
    then any other swept setting as key=value."""
    model = row.get("model", "rnn")
    if model in figures.GATED:
        words = [model]
    elif row.get("init") == "identity" and row.get("activation") == "relu":
        words = ["IRNN" if model == "rnn" else f"{model} relu identity"]
    else:
        words = [f"{model} {row.get('activation', '')}".strip()]
    if row.get("init") not in (None, "identity", "xavier") and not pd.isna(row.get("init")):
        words.append(f"init={row['init']}")
    if "clip" in row and row["clip"] != "none":
        words.append(f"+ clip {row['clip']} {fmt(row['clip.threshold'])}")
    words += [f"{k}={fmt(row[k])}" for k in rest]
    return " ".join(words)


def rates(s: pd.DataFrame) -> pd.DataFrame:
    """Per task x variant x length: replicas solved, replicas, rate, Wilson interval, median steps to solve."""
    g = s.groupby(["task", "_variant", "_length"])
    out = g.agg(k=("solved", "sum"), n=("solved", "size"), steps=("steps_to_solve", "median"),
                loss=("eval_loss", "median"), batch=("batch", "first")).reset_index()
    out["k"] = out["k"].astype(int)
    out["rate"] = out["k"] / out["n"]
    out["lo"], out["hi"] = intervals.wilson(out["k"].to_numpy(), out["n"].to_numpy())
    return out


def breaking_points(r: pd.DataFrame) -> pd.DataFrame:
    """Per task x variant: the longest length learnt (rate >= SOLVED_AT) below the first one that
    was not, and that first failure (None where every length tried was learnt / none was)."""
    rows = []
    for (task, variant), g in r.groupby(["task", "_variant"], sort=False):
        g = g.sort_values("_length")
        ok = g["rate"] >= SOLVED_AT
        first_fail = g.loc[~ok, "_length"].min() if (~ok).any() else None
        learnt = g.loc[ok & (g["_length"] < first_fail if first_fail is not None else ok), "_length"]
        rows.append({"task": task, "_variant": variant, "learnt": learnt.max() if len(learnt) else None,
                     "failed": first_fail, "tried": len(g),
                     "later": bool(first_fail is not None and (ok & (g["_length"] > first_fail)).any())})
    return pd.DataFrame(rows)


def memory(ctx: Context) -> list[str]:
    """Success rate against dependency length per task and model variant; breaking points; gradients."""
    s = ctx.summary
    if "task" not in s or not s["task"].isin(LENGTH_OF).any():
        return not_drawn(HEADING, "no run of a task with a dependency length (adding, copy, addition)")
    s = with_length(s, ctx.unpaired)
    if s.groupby("task")["_length"].nunique().max() < 2:
        return not_drawn(HEADING, "each task was run at one length only (sweep `task.length` or `task.delay`)")
    return _section(ctx, s).markdown(ctx.fig_dir.name)


def _section(ctx: Context, s: pd.DataFrame) -> Section:
    r = rates(s)
    variants = list(dict.fromkeys(s.sort_values("job")["_variant"]))
    tasks = [t for t in LENGTH_OF if t in set(s["task"])]
    colours = palette(variants)
    ratios = _ratios(ctx, s)
    reps = s.groupby("job")["replica"].nunique()
    sub = (f"{len(variants)} variants × {len(tasks)} tasks × {r.groupby('task')['_length'].nunique().max()} lengths, "
           f"{reps.min()}{'' if reps.min() == reps.max() else f'–{reps.max()}'} replicas per run")
    _success_figure(r, tasks, variants, colours, ctx.fig_dir / "memory_success.png", sub)
    drawn = []
    if ratios is not None and len(ratios):
        _ratio_figure(ratios, tasks, variants, colours, ctx.fig_dir / "memory_gradients.png", sub)
        drawn = [("memory_gradients", "The long-range gradient at the start and the end of training",
                  "Median over replicas of `||dL_T/dh_1|| / ||dL_T/dh_T||`, the part of the last step's error "
                  "signal that reaches the first step (one evaluation batch), at the first evaluation (hollow, "
                  "dashed) and the last (filled, solid). Far below 1, the first steps get almost no share of the "
                  "gradient: what must be carried from them is not learnt. Variants that differ only in "
                  "clipping start from the same weights: their first-evaluation points coincide.")]
    bp = breaking_points(r)
    table = _breaking_table(bp, r, tasks, variants)
    per_task = [_rate_table(r, t, variants) for t in tasks]
    refs = _reference_lines(s, r, tasks)
    r.rename(columns={"_variant": "variant", "_length": "length"}).to_csv(ctx.fig_dir.parent / "memory_rates.csv",
                                                                         index=False)
    notes = [f"{t}: {line}" for t, line in refs]
    notes += [f"{t}: a variant learnt a longer length after failing a shorter one (`later`): the rate is "
              "noisy at this replica count" for t in sorted(set(bp.loc[bp["later"], "task"]))]
    return Section(
        HEADING,
        "The longest dependency each variant learnt (at least "
        f"{SOLVED_AT:.0%} of its replicas solved) and the first length at which it did not, per task "
        "(`adding`, `copy`: T; `addition`: the delay D, msb first). `≥ L`: every length tried was learnt; "
        "`< L`: none was. Success counts per length below the table; rates with Wilson 95 % intervals in "
        "the figure; `memory_rates.csv` beside this report has every number.",
        table + "\n\n" + "\n\n".join(per_task),
        [("memory_success", "Success rate against dependency length",
          "Fraction of replicas solving (the task's criterion, README: Tasks) at each length, with Wilson 95 % "
          "intervals (a small count leaves wide intervals: 0/4 is [0, 0.49]); variants are nudged sideways "
          "so that none hides another.")] + drawn,
        notes)


def _breaking_table(bp, r, tasks, variants) -> str:
    rows = []
    for v in variants:
        row = {"variant": v}
        for t in tasks:
            b = bp[(bp["task"] == t) & (bp["_variant"] == v)]
            if not len(b):
                row[t] = "–"
                continue
            b = b.iloc[0]
            lengths = sorted(r.loc[(r["task"] == t) & (r["_variant"] == v), "_length"])
            if b["failed"] is None or (isinstance(b["failed"], float) and math.isnan(b["failed"])):
                row[t] = f"≥ {lengths[-1]}"
            elif b["learnt"] is None or (isinstance(b["learnt"], float) and math.isnan(b["learnt"])):
                row[t] = f"< {int(b['failed'])}"
            else:
                row[t] = f"{int(b['learnt'])} (fails at {int(b['failed'])})"
        rows.append(row)
    return md_table(pd.DataFrame(rows), 1)


def _rate_table(r, task, variants) -> str:
    sub = r[r["task"] == task]
    lengths = sorted(sub["_length"].unique())
    name = LENGTH_OF[task].split(".")[-1]
    rows = []
    for v in variants:
        g = sub[sub["_variant"] == v].set_index("_length")
        if not len(g):
            continue
        row = {f"{task}: variant": v}
        for L in lengths:
            if L in g.index:
                x = g.loc[L]
                steps = "" if not np.isfinite(x["steps"]) else f" ({int(x['steps'])})"
                row[f"{name} {L}"] = f"{int(x['k'])}/{int(x['n'])}{steps}"
            else:
                row[f"{name} {L}"] = "–"
        rows.append(row)
    return ("Replicas solved / trained, median steps to solve of those that did in brackets:\n\n"
            + md_table(pd.DataFrame(rows), 1))


def _reference_lines(s, r, tasks) -> list[tuple[str, str]]:
    """The memoryless references (from the task's definition) beside the best median loss at each length."""
    out = []
    for t in tasks:
        sub = s[s["task"] == t]
        parts = []
        for L, g in sub.groupby("_length"):
            refs = figures.task_references(g.head(1))
            ref = next((vals["eval_loss"] for label, vals in refs if "eval_loss" in vals), None)
            best = r[(r["task"] == t) & (r["_length"] == L)].sort_values("loss").iloc[0]
            if ref is not None:
                parts.append(f"{L}: best median eval loss {best['loss']:.3g} ({best['_variant']}) vs the "
                             f"{'constant' if t == 'adding' else 'memoryless'} predictor's {ref:.3g}")
        if parts:
            out.append((t, "; ".join(parts)))
    return out


def _ratios(ctx: Context, s: pd.DataFrame) -> pd.DataFrame | None:
    p = ctx.profile
    if p is None or not len(p) or p["t"].max() < 2:
        return None
    r = gradient_ratios(ctx.history, p)
    r = r.merge(s[["job", "replica", "task", "_length", "_variant"]].drop_duplicates(), on=["job", "replica"])
    return r.groupby(["task", "_variant", "_length", "phase"])["ratio"].median().reset_index()


def _offsets(variants) -> dict[str, float]:
    """A multiplicative nudge per variant along a log x axis, so that no series hides another."""
    n = len(variants)
    return {v: 2 ** (0.06 * (i - (n - 1) / 2)) for i, v in enumerate(variants)}


def _success_figure(r, tasks, variants, colours, path: Path, sub: str):
    fig, side, axes = grid_figure(1, len(tasks), f"Success rate against dependency length\n{sub}", sharex=False,
                                  legend_width=2.8)
    nudge = _offsets(variants)
    for ax, t in zip(axes[0], tasks):
        d = r[r["task"] == t]
        for v in variants:
            g = d[d["_variant"] == v].sort_values("_length")
            if not len(g):
                continue
            x = g["_length"] * nudge[v]
            ax.errorbar(x, g["rate"], yerr=[g["rate"] - g["lo"], g["hi"] - g["rate"]], color=colours[v],
                        marker="o", markersize=4, lw=1.4, capsize=2, elinewidth=0.8)
        ax.axhline(SOLVED_AT, color=layout.REF_COLOR, ls=":", lw=1)
        ax.set_ylim(-0.04, 1.04)
        ax.set_title(t, fontsize=9)
        ax.set_xlabel(X_LABEL[t])
        log2_x(ax, sorted(d["_length"].unique()))
    axes[0][0].set_ylabel("replicas solved (fraction)")
    handles = [Line2D([], [], color=colours[v], marker="o", label=v) for v in variants]
    handles.append(Line2D([], [], color=layout.REF_COLOR, ls=":", label=f"learnt: ≥ {SOLVED_AT:.0%} solved"))
    legend(side, handles)
    layout.save(fig, path)


def _ratio_figure(q, tasks, variants, colours, path: Path, sub: str):
    fig, side, axes = grid_figure(1, len(tasks), f"Long-range gradient ||dL_T/dh_1|| / ||dL_T/dh_T||\n{sub}",
                                  sharex=False, legend_width=2.8)
    for ax, t in zip(axes[0], tasks):
        d = q[q["task"] == t]
        for v in variants:
            for phase, ls, face in (("start", "--", "white"), ("end", "-", None)):
                g = d[(d["_variant"] == v) & (d["phase"] == phase)].sort_values("_length")
                g = g[np.isfinite(g["ratio"]) & (g["ratio"] > 0)]
                if len(g):
                    ax.plot(g["_length"], g["ratio"], ls=ls, marker="o", markersize=4, color=colours[v],
                            markerfacecolor=face or colours[v], lw=1.2)
        ax.set_yscale("log")
        ax.set_title(t, fontsize=9)
        ax.set_xlabel(X_LABEL[t])
        if len(d):
            log2_x(ax, sorted(d["_length"].unique()))
    axes[0][0].set_ylabel("gradient ratio (median)")
    handles = [Line2D([], [], color=colours[v], marker="o", label=v) for v in variants]
    handles += [Line2D([], [], color="0.4", ls="--", marker="o", markerfacecolor="white", label="first evaluation"),
                Line2D([], [], color="0.4", ls="-", marker="o", label="last evaluation")]
    legend(side, handles)
    layout.save(fig, path)
