"""The generic report's figures: one function per figure, from the combined tables to a PNG (returns the Figure).

Laid out and drawn with ``rnnexp.report.layout``. Diverged replicas stay in every figure: their
curves are part of the mean, and the step at which each one diverged is marked with a triangle on
the top edge. Accuracy figures of msb runs carry the best a causal model can do (the reference
values below).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .. import config  # a run's task settings from its config columns (task_references)
from .. import tasks  # the tasks' reference scores, computed from their definitions
from ..engine import activations  # outside the report: the engine's activations (their gamma, for the 1/gamma lines)
from ..tasks.addition.metrics import (causal_bit_limits, causal_sum_limit, msb_bit_limits, msb_per_bit_limit,  # the
                                      msb_sum_limit)  # task's causal limits
from . import outcomes
from .layout import (CLIP_COLOR, DIVERGED_HANDLE, NONFINITE_HANDLE, REF_COLOR, empty, figure, filled, finish, fmt,
                     lines, log_if_wide, log_scale, mark_diverged, overflowed, plain_numbers, step_xlim, subset)

GATED = ("lstm", "gru")  # Pascanu's 1/gamma condition is about a plain h = f(Wxh x + Whh h) recurrence
GAMMA_STYLES = {v: ("--", ":", "-.")[i % 3]  # one line style per distinct 1/gamma
                for i, v in enumerate(sorted({1.0 / a.gamma for a in activations.ACTIVATIONS.values()}))}


# --- the figures ---------------------------------------------------------------------------------

REF_STYLES = {"constant": ":", "memoryless": "-.", "causal": "--"}


def task_references(rows: pd.DataFrame) -> list[tuple[str, dict]]:
    """``(label, {column: value})`` for each reference predictor of the tasks other than addition in
    ``rows`` (a table with the config columns ``task`` and the task's own ``task.*``; addition's msb
    limits are drawn on their own), from ``Task.references()`` of the task with those settings."""
    if "task" not in rows:
        return []
    out = []
    cols = ["task"] + [c for c in rows if c.startswith("task.")]
    for vals in rows[cols].drop_duplicates().itertuples(index=False):
        name = vals[0]
        if name == "addition" or name not in tasks.names():
            continue
        own = config.setting_types(task=name)
        settings = {"name": name}
        for col, v in zip(cols[1:], vals[1:]):
            if col in own and not pd.isna(v):
                settings[col.split(".", 1)[1]] = int(v) if float(v).is_integer() else float(v)
        task = tasks.make(config.structured({"task": settings}))
        shown = ", ".join(f"{'T' if k == 'length' else k}={v}" for k, v in settings.items() if k != "name")
        out += [(f"{ref} predictor\n({name}{', ' + shown if shown else ''})", values)
                for ref, values in task.references().items()]
    return out


def convergence(history, summary, metric, lay, path, title):
    """Loss or accuracy against training step: mean and 95 % band over replicas."""
    ylabel = {"eval_loss": "evaluation loss (per bit, log)" if "bit_acc" in history else "evaluation loss (per target, log)",
              "train_loss": "training loss (window mean, log)",
              "bit_acc": "per-bit accuracy (fraction)", "sum_acc": "whole-sum accuracy (fraction)",
              "acc": "accuracy per target (fraction)", "exact": "sequences exactly right (fraction)",
              "copy_acc": "copied symbols right (fraction)"}[metric]
    h = history
    fig, axes = figure(lay, title)
    extra, diverged, bad = [], False, False
    for ax, spec, sub in filled(axes, h):
        bad |= lines(ax, sub, "step", metric, lay)
        diverged |= mark_diverged(ax, subset(summary, spec), lay)
        if metric in ("bit_acc", "sum_acc") and "order" in sub and (sub["order"] == "msb").any():
            msb = sub[sub["order"] == "msb"]
            for bits, delay in sorted(set(zip(msb["bits"], msb["task.delay"] if "task.delay" in msb else [0] * len(msb)))):
                delay = 0 if pd.isna(delay) else int(delay)
                ref = causal_bit_limits(bits, "msb", delay).mean() if metric == "bit_acc" else causal_sum_limit(bits, "msb", delay)
                ax.axhline(ref, color=REF_COLOR, ls="--", lw=1)
                label = f"best causal model,\nmsb order ({ref:.4f})"
                if label not in [e.get_label() for e in extra]:
                    extra.append(Line2D([], [], color=REF_COLOR, ls="--", lw=1, label=label))
        for label, values in task_references(sub):  # adding, copy: the constant and memoryless scores
            if metric in values:
                ls = REF_STYLES.get(label.split()[0], "--")
                ax.axhline(values[metric], color=REF_COLOR, ls=ls, lw=1)
                label = f"{label} {values[metric]:.4g}"
                if label not in [e.get_label() for e in extra]:
                    extra.append(Line2D([], [], color=REF_COLOR, ls=ls, lw=1, label=label))
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
    if metric.endswith("loss"):
        log_scale(axes)
    step_xlim(axes, h)
    extra.append(Line2D([], [], color="0.5", lw=6, alpha=0.3, label="95 % CI of the mean\nover replicas"))
    return finish(fig, axes, lay, path, extra + [DIVERGED_HANDLE] * diverged + [NONFINITE_HANDLE] * bad)


def steps_to_solve(summary, lay, path, title):
    """Each replica's steps to reach 100 %; the ones that never did sit on a 'never' line above."""
    s = summary.copy()
    end = float(s["steps"].max()) if "steps" in s else float(np.nanmax(s["steps_to_solve"]))
    never = end * 1.12
    s["_y"] = np.where(s["solved"].astype(bool), s["steps_to_solve"], never)
    s["_kind"] = np.where(s["solved"].astype(bool), "solved",
                          np.where(s["diverged"].astype(bool), "diverged", "never"))
    fig, axes = figure(lay, title)
    marks = {"solved": dict(marker="o", s=22), "never": dict(marker="X", s=32), "diverged": dict(marker="v", s=32)}
    jitter = np.random.default_rng(0).uniform(-0.25, 0.25, len(s))  # a strip plot, drawn by hand: numeric x
    s["_jit"] = jitter
    along = lay.continuous or bool(lay.lumped)  # x: the colour key's own value (points, no per-value strip)
    if along:
        x, labels, log = outcomes.x_positions(s[lay.hue])
        s["_xv"] = x
        if len(s) > 200:
            marks = {k: {**m, "s": m["s"] * 0.5} for k, m in marks.items()}
    for ax, spec in axes:
        sub = subset(s, spec)
        present = set(sub["_hue"])
        order = [h for h in lay.hue_order if h in present] or lay.hue_order
        if sub.empty:
            empty(ax, "no run with this combination")
        for kind, mk in marks.items():
            k = sub[sub["_kind"] == kind]
            if len(k):
                kx = k["_xv"] if along else k["_hue"].map({h: i for i, h in enumerate(order)}) + k["_jit"]
                ax.scatter(kx, k["_y"], c=[lay.palette.get(h, "0.6") for h in k["_hue"]], edgecolors="black",
                           linewidths=0.5, alpha=0.85, zorder=3, **mk)
        if along:
            ax.axhline(end, color="0.6", lw=0.8, ls=":")
            ax.set_ylim(0, never * 1.14)
            if log:
                ax.set_xscale("log")
                plain_numbers(ax.xaxis)
            if labels is not None:
                ax.set_xticks(range(len(labels)), labels, rotation=90)
            ax.set_xlabel(lay.hue + (" (log)" if log else ""))
            ax.set_ylabel("steps to solve (training steps)")
            continue
        for i, h in enumerate(order):
            g = sub[sub["_hue"] == h]
            if len(g) and g["solved"].any():
                ax.hlines(g.loc[g["solved"].astype(bool), "steps_to_solve"].median(), i - 0.35, i + 0.35,
                          color="black", lw=2, zorder=6)
            if len(g):
                ax.text(i, never * 1.06, f"{int(g['solved'].sum())}/{len(g)}", ha="center", fontsize=7)
        ax.axhline(end, color="0.6", lw=0.8, ls=":")
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.set_xticks(range(len(order)), order)
        ax.set_ylim(0, never * 1.14)
        ax.set_xlabel(lay.hue or "")
        ax.set_ylabel("steps to solve (training steps)")
        if not lay.hue:
            ax.set_xticks([])
    for ax, _ in axes:
        ticks = [t for t in ax.get_yticks() if 0 <= t <= end * 1.001]
        ax.set_yticks(ticks + [never], [f"{t:g}" for t in ticks] + ["never"])
    extra = [] if along else [Line2D([], [], color="black", lw=2, label="median of the\nreplicas that solved")]
    extra += [Line2D([], [], ls="", marker="o", color="0.6", markeredgecolor="black", label="solved"),
             Line2D([], [], ls="", marker="X", color="0.6", markeredgecolor="black", label="never solved")]
    if (s["_kind"] == "diverged").any():
        extra.append(Line2D([], [], ls="", marker="v", color="0.6", markeredgecolor="black", label="diverged"))
    extra += [Line2D([], [], color="0.6", lw=0.8, ls=":", label="end of training")]
    if not along:
        extra.append(Line2D([], [], ls="", label="k/n: solved / replicas"))
    return finish(fig, axes, lay, path, extra)


def positions(pos, lay, path, title):
    """Final accuracy at each bit position of the sum, with the msb limit per position."""
    fig, axes = figure(lay, title)
    extra = []
    for ax, spec, sub in filled(axes, pos):
        lines(ax, sub, "bit", "bit_acc", lay, marker="o", markersize=3.5)
        if "order" in sub and (sub["order"] == "msb").any():
            msb = sub[sub["order"] == "msb"]
            for bits, delay in sorted(set(zip(msb["bits"], msb["task.delay"] if "task.delay" in msb else [0] * len(msb)))):
                delay = 0 if pd.isna(delay) else int(delay)  # task.delay: later answers, higher limits
                ax.plot(np.arange(bits), causal_bit_limits(bits, "msb", delay), color=REF_COLOR, ls="--", lw=1)
            if not extra:
                extra.append(Line2D([], [], color=REF_COLOR, ls="--", lw=1, label="best causal model,\nmsb order"))
        ax.set_xlabel("bit of the sum (0 = least significant)")
        ax.set_ylabel("per-bit accuracy (fraction)")
    extra.append(Line2D([], [], color="0.5", lw=6, alpha=0.3, label="95 % CI of the mean\nover replicas"))
    return finish(fig, axes, lay, path, extra)


def lengths(lengths_df, lay, path, title):
    """Whole-sum accuracy of the final models at each length scored, with the msb limit per length."""
    fig, axes = figure(lay, title)
    extra, bad = [], False
    for ax, spec, sub in filled(axes, lengths_df):
        bad |= lines(ax, sub, "bits_scored", "sum_acc", lay, marker="o", markersize=3.5)
        if "order" in sub and (sub["order"] == "msb").any():
            msb = sub[sub["order"] == "msb"]
            for delay in sorted(set(msb["task.delay"].fillna(0).astype(int))) if "task.delay" in msb else [0]:
                n = np.array(sorted(msb.loc[(msb["task.delay"].fillna(0) == delay) if "task.delay" in msb else msb.index,
                                            "bits_scored"].unique()))
                ax.plot(n, [causal_sum_limit(b, "msb", delay) for b in n], color=REF_COLOR, ls="--", lw=1)
            if not extra:
                extra.append(Line2D([], [], color=REF_COLOR, ls="--", lw=1, label="best causal model,\nmsb order"))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("length of the sum (bits, log scale)")
        ax.set_ylabel("whole-sum accuracy (fraction)")
    ticks = sorted(lengths_df["bits_scored"].unique())
    axes[0][0].set_xticks(ticks, [str(int(b)) for b in ticks])
    for ax, _ in axes:
        ax.minorticks_off()
    extra.append(Line2D([], [], color="0.5", lw=6, alpha=0.3, label="95 % CI of the mean\nover replicas"))
    return finish(fig, axes, lay, path, extra + [NONFINITE_HANDLE] * bad)


def gradient_profile(profile, lay, path, title):
    """``||dL_T / dh_t||`` against t (log), at the first and the last evaluation of each run."""
    p = profile
    first = p.groupby("job")["step"].transform("min")
    last = p.groupby("job")["step"].transform("max")
    p["_phase"] = np.where(p["step"] == first, "start", np.where(p["step"] == last, "end", ""))
    p = p[p["_phase"] != ""]
    steps = {ph: sorted(p.loc[p["_phase"] == ph, "step"].unique()) for ph in ("start", "end")}
    names = {ph: f"{ph} (step {', '.join(fmt(s) for s in steps[ph])})" for ph in steps}
    fig, axes = figure(lay, title, extra=[(names["start"], "start"), (names["end"], "end")])
    states = list(dict.fromkeys(p["state"].astype(str)))
    dash_styles = ["", (4, 2), (1, 1.5), (6, 2, 1, 2)]
    dashes = {st: dash_styles[i % len(dash_styles)] for i, st in enumerate(states)}
    bad = False
    for ax, spec, sub in filled(axes, p, "_phase"):
        kw = dict(style="state", style_order=states, dashes=dashes) if len(states) > 1 else {}
        bad |= lines(ax, sub, "t", "grad_norm", lay, **kw)
        ax.set_xlabel("time step t (T = last step)")
        ax.set_ylabel("||dL_T / dh_t|| (log)")
    log_scale(axes)
    T = int(p["t"].max()) if len(p) else 1
    for ax, _ in axes:
        ax.set_xticks(range(1, T + 1) if T <= 16 else sorted({1, T // 4, T // 2, 3 * T // 4, T}))
    extra = [Line2D([], [], color="0.3", dashes=dashes[s] or (None, None), label=f"state {s}") for s in states] \
        if len(states) > 1 else []
    extra.append(Line2D([], [], color="0.5", lw=6, alpha=0.3, label="95 % CI of the mean\nover replicas"))
    return finish(fig, axes, lay, path, extra + [NONFINITE_HANDLE] * bad)


def grad_norm(history, summary, lay, path, title):
    """Largest global gradient norm (before clipping) in each evaluation window; clipping marked."""
    h = history
    fig, axes = figure(lay, title)
    extra, diverged, thresholds, fired, bad = [], False, False, False, False
    for ax, spec, sub in filled(axes, h):
        bad |= lines(ax, sub, "step", "grad_norm_max", lay)
        diverged |= mark_diverged(ax, subset(summary, spec), lay)
        if "clip" in sub:
            for th in sorted(sub.loc[sub["clip"] == "norm", "clip.threshold"].unique()):
                ax.axhline(th, color=CLIP_COLOR, ls=":", lw=1.2)
                thresholds = True
            ok = sub[(sub["clip_frac"] > 0) & ~overflowed(sub["grad_norm_max"])]
            c = ok.groupby(["_hue", "step"], as_index=False).agg(frac=("clip_frac", "mean"), y=("grad_norm_max", "mean"))
            if len(c):
                fired = True
                ax.scatter(c["step"], c["y"], s=8 + 50 * c["frac"], c=[lay.palette[x] for x in c["_hue"]],
                           edgecolors="black", linewidths=0.6, zorder=4)
        ax.set_xlabel("training step")
        ax.set_ylabel("gradient norm before clipping\n(max over window, log)")
    log_scale(axes)
    if thresholds:
        extra.append(Line2D([], [], color=CLIP_COLOR, ls=":", lw=1.2, label="clip=norm threshold"))
    if fired:
        extra.append(Line2D([], [], ls="", marker="o", color="0.6", markeredgecolor="black",
                            label="clipping fired in the window\n(size: fraction of steps)"))
    elif "clip" in h and (h["clip"] == "none").all():
        extra.append(Line2D([], [], ls="", label="no clipping (clip=none)"))
    else:
        extra.append(Line2D([], [], ls="", label="clipping never fired"))
    step_xlim(axes, h)
    extra.append(Line2D([], [], color="0.5", lw=6, alpha=0.3, label="95 % CI of the mean\nover replicas"))
    return finish(fig, axes, lay, path, extra + [DIVERGED_HANDLE] * diverged + [NONFINITE_HANDLE] * bad)


def sigma_max(history, summary, lay, path, title):
    """Largest singular value of the recurrent matrix, with Pascanu's 1/gamma boundary."""
    h = history
    fig, axes = figure(lay, title)
    extra, diverged, bad, gated = {}, False, False, False
    for ax, spec, sub in filled(axes, h):
        bad |= lines(ax, sub, "step", "sigma_max", lay)
        diverged |= mark_diverged(ax, subset(summary, spec), lay)
        plain = sub[~sub["model"].isin(GATED)] if "model" in sub else sub
        gated |= len(plain) < len(sub)
        for act in sorted(plain["activation"].unique()) if "activation" in plain else []:
            if act not in activations.ACTIVATIONS:
                continue
            inv = 1.0 / activations.ACTIVATIONS[act].gamma
            ax.axhline(inv, color=REF_COLOR, ls=GAMMA_STYLES[inv], lw=1)
            ax.text(0.01, inv, f"1/γ, {act}", transform=ax.get_yaxis_transform(), ha="left", va="bottom",
                    fontsize=7, color=REF_COLOR)
            extra.setdefault(inv, set()).add(act)
        ax.set_xlabel("training step")
        ax.set_ylabel("largest singular value of Whh")
    handles = [Line2D([], [], color=REF_COLOR, ls=GAMMA_STYLES[inv], lw=1,
                      label=f"1/γ = {inv:g} ({', '.join(sorted(acts))}):\nbelow it, long-range\ngradients vanish")
               for inv, acts in sorted(extra.items())]
    if gated:
        handles.append(Line2D([], [], ls="", label=f"no 1/γ line for {'/'.join(GATED)}:\nthe bound is for a\nplain recurrence"))
    log_if_wide(axes[0][0], h["sigma_max"].astype(float))
    step_xlim(axes, h)
    handles.append(Line2D([], [], color="0.5", lw=6, alpha=0.3, label="95 % CI of the mean\nover replicas"))
    return finish(fig, axes, lay, path, handles + [DIVERGED_HANDLE] * diverged + [NONFINITE_HANDLE] * bad)
