"""Seed 001's "100 % vs 84 %" bit-order study (``experiments/order``): its own metric against honest ones.

Section ``seed_metric``: the runs trained on a fixed set, so seed 001's own metric (``seed_acc``)
was recorded. Its value beside the honest per-bit and whole-sum accuracy on every problem, the msb
limits of a causal model, and what an all-zeros predictor and a XOR b score on each (computed
here); the loss and the seed's metric after every epoch.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ...runs import results
from ...tasks.addition import data, metrics  # outside the report: the task's problems and measures; table files
from .. import figures, layout
from ._common import Context, bare_figure, configurations, md_table, not_drawn, palette, short, span, wrap

HEADING = "Seed 001's metric against the honest ones"
METRIC_NAMES = {"seed_acc": "seed 001's metric\n(first 1,000 training pairs)",
                "bit_acc": "per-bit accuracy\n(every problem)", "sum_acc": "whole-sum accuracy\n(every problem)"}
METRIC_COLOURS = {"seed_acc": "#c8553d", "bit_acc": "#3d7ea6", "sum_acc": "#5b8e4f"}


# --- reference predictors ------------------------------------------------------------------------

def all_zeros_scores(bits: int, order: str) -> dict[str, float]:
    """What a model that always answers 0 scores on every ``bits``-bit problem in ``order``."""
    _, y = data.eval_set(bits, order)  # (T, N)
    zeros = np.zeros_like(y)
    return {"seed_acc": float(metrics.seed001_accuracy(zeros[:, None], y[:, None])[0]),
            "bit_acc": float((zeros == y).mean()), "sum_acc": float((zeros == y).all(axis=0).mean())}


def xor_scores(bits: int) -> dict[str, float]:
    """What the best causal model in msb order scores: it answers a_k XOR b_k (the carry unseen)."""
    a, b = data.all_problems(bits)  # (N, bits), lsb first; the scores do not depend on the order
    y = data.add(a, b).T[:, None].astype(np.float64)  # (T, 1, N)
    pred = (a ^ b).T[:, None].astype(np.float64)
    return {"seed_acc": float(metrics.seed001_accuracy(pred, y)[0]), "bit_acc": float((pred == y).mean()),
            "sum_acc": float((pred == y).all(axis=0).mean())}


# --- the section ---------------------------------------------------------------------------------

def seed_metric(ctx: Context) -> list[str]:
    """Seed 001's metric beside per-bit and whole-sum accuracy, the all-zeros and a XOR b predictors."""
    summary, history, keys, fig_dir, sub = ctx.summary, ctx.history, ctx.keys, ctx.fig_dir, ctx.sub
    if "seed_acc" not in summary or not summary["seed_acc"].notna().any():
        return not_drawn(HEADING, "the runs recorded no `seed_acc` (seed 001's metric is recorded only when training "
                                  "on a fixed set, `train_size` > 0)")
    confs = [(lab, g) for lab, g in configurations(summary, keys) if g["seed_acc"].notna().any()]
    labels = [lab for lab, _ in confs]
    colours = palette(labels)
    zero_keys = sorted({int(b) for b in summary["bits"]})  # the order does not change what all zeros score
    zeros = {b: all_zeros_scores(b, "lsb") for b in zero_keys}
    msb_bits = sorted({int(b) for b in summary.loc[summary["order"] == "msb", "bits"] if b <= data.EXHAUSTIVE_MAX_BITS})
    xors = {b: xor_scores(b) for b in msb_bits}
    sub = wrap(sub)

    # table 1: the three metrics per configuration, and the all-zeros predictor
    rows = []
    for lab, g in confs:
        rows.append({"configuration": lab, "replicas": len(g),
                     "seed 001's metric, mean [min–max]": span(g["seed_acc"]),
                     "median": f"{g['seed_acc'].median():.3f}",
                     "per-bit acc": span(g["bit_acc"], "{:.4f}"), "whole-sum acc": span(g["sum_acc"], "{:.4f}"),
                     "final loss per bit": span(g["eval_loss"], "{:.4f}")})
    for b, z in zeros.items():
        rows.append({"configuration": f"all-zeros predictor ({b} bits, either order)", "replicas": "–",
                     "seed 001's metric, mean [min–max]": f"{z['seed_acc']:.3f}", "median": "–",
                     "per-bit acc": f"{z['bit_acc']:.4f}", "whole-sum acc": f"{z['sum_acc']:.6f}",
                     "final loss per bit": "–"})
    for b, z in xors.items():
        rows.append({"configuration": f"best causal model, msb: a XOR b ({b} bits)", "replicas": "–",
                     "seed 001's metric, mean [min–max]": f"{z['seed_acc']:.3f}", "median": "–",
                     "per-bit acc": f"{z['bit_acc']:.4f}", "whole-sum acc": f"{z['sum_acc']:.4f}",
                     "final loss per bit": "–"})
    table = pd.DataFrame(rows)
    results.write_table(table, fig_dir.parent / "report_seed_metric.csv")

    # table 2: loss after each epoch (mean over replicas), one column per configuration
    h = history[history["epoch"].notna()] if "epoch" in history else history.iloc[:0]
    epochs = sorted(h["epoch"].unique())
    per_epoch = pd.DataFrame({"epoch": [f"{e:g}" for e in epochs]})
    for lab, g in confs:
        e = h[h["job"].isin(g["job"])].groupby("epoch")["eval_loss"].mean().reindex(epochs)
        per_epoch[lab] = [f"{v:.4f}" for v in e]
    results.write_table(per_epoch, fig_dir.parent / "report_epoch_loss.csv")

    _seed_metric_bars(confs, zeros, xors, colours, fig_dir / "seed_metric.png", sub)
    _epoch_curves(confs, h, colours, fig_dir / "epoch_curves.png", sub)

    limits = sorted({int(b) for b in summary.loc[summary["order"] == "msb", "bits"]})
    lim = "; ".join(f"{b} bits: {figures.msb_per_bit_limit(b):.4f} per bit, {figures.msb_sum_limit(b):.4f} whole-sum"
                    for b in limits)
    return [
        f"## {HEADING}", "",
        "The runs trained on a fixed set, so seed 001's own accuracy was recorded as its code computes it: a "
        "problem counts as an error only if the *signed* sum of (predicted bit - true bit) over its bits exceeds "
        "0.1, scored on the first 1,000 training pairs. Predicting a 0 where the answer has a 1 is never an error, "
        "so a model that always answers 0 scores 100 % (computed on every problem, below the runs); for msb runs, "
        "the last rows score the best causal model (it answers a XOR b, the carry unseen). Beside it: per-bit "
        "and whole-sum accuracy on every problem, mean [min–max] over replicas. The numbers are in "
        "`report_seed_metric.csv`.", "",
        md_table(table), "",
        "Loss per bit on every problem after each epoch (epoch 0: before training), mean over replicas "
        "(`report_epoch_loss.csv`):", "",
        md_table(per_epoch), "",
        "### Seed 001's metric vs per-bit and whole-sum accuracy", "",
        "![Seed 001's metric vs per-bit and whole-sum accuracy](figures/seed_metric.png)", "",
        "Bars: mean over replicas; dots: replicas. " + (f"Dashed lines: the best a causal model can do in msb order "
                                                          f"({lim}). " if limits else "")
        + "Grey bars: a model that always answers 0, and (msb) the best causal model, a XOR b.", "",
        "### Loss and seed 001's metric after each epoch", "",
        "![Loss and seed 001's metric after each epoch](figures/epoch_curves.png)", "",
        "Left: loss per bit on every problem (log), mean and range over replicas. Right: seed 001's metric; "
        "thin lines are replicas, thick the mean.", ""]


def _seed_metric_bars(confs, zeros, xors, colours, path: Path, sub: str) -> None:
    groups = [(lab, g) for lab, g in confs] + [(f"always answers 0\n({b} bits)", z) for b, z in zeros.items()]
    groups += [(f"best causal, msb:\na XOR b ({b} bits)", {**z, "_hatch": ".."}) for b, z in xors.items()]
    n = len(groups)
    fig, main, side = bare_figure(max(5.0, 1.35 * n + 1.0), 4.4, legend_width=2.9)
    ax = main.subplots()
    main.suptitle(f"Seed 001's metric vs per-bit and whole-sum accuracy\n{sub}", fontsize=10)
    width = 0.26
    rng = np.random.default_rng(0)
    msb_lines = set()
    for i, (lab, g) in enumerate(groups):
        is_zero = isinstance(g, dict)
        for j, m in enumerate(("seed_acc", "bit_acc", "sum_acc")):
            x = i + (j - 1) * width
            vals = np.array([g[m]]) if is_zero else g[m].dropna().to_numpy(float)
            mean = float(vals.mean())
            ax.bar(x, mean, width * 0.92, color="0.8" if is_zero else METRIC_COLOURS[m],
                   edgecolor=METRIC_COLOURS[m], hatch=g.get("_hatch", "//") if is_zero else None, lw=1.2, zorder=2)
            if not is_zero and len(vals) > 1:
                ax.scatter(x + rng.uniform(-0.07, 0.07, len(vals)), vals, s=9, color="black", alpha=0.7, zorder=4,
                           linewidths=0)
            ax.text(x, min(mean, 1.0) + 0.015, f"{mean:.2f}" if mean >= 0.01 or mean == 0 else f"{mean:.0e}",
                    ha="center", va="bottom", fontsize=7, zorder=5)
        if not is_zero and (g["order"] == "msb").any():
            bits = int(g["bits"].iloc[0])
            for j, (m, ref) in enumerate((("bit_acc", figures.msb_per_bit_limit(bits)),
                                          ("sum_acc", figures.msb_sum_limit(bits)))):
                x = i + j * width
                ax.hlines(ref, x - width * 0.6, x + width * 0.6, color=layout.REF_COLOR, ls="--", lw=1.4, zorder=6)
                ax.text(x + width * 0.62, ref, f"{ref:.4f}", fontsize=6.5, va="center", ha="left",
                        color=layout.REF_COLOR, zorder=6)
            msb_lines.add(bits)
    ax.set_xticks(range(n), [short(lab) for lab, _ in groups], fontsize=7)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("fraction", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", color="0.9", zorder=0)
    handles = [Patch(facecolor=METRIC_COLOURS[m], edgecolor=METRIC_COLOURS[m], label=METRIC_NAMES[m])
               for m in METRIC_NAMES]
    handles.append(Line2D([], [], ls="", marker="o", ms=3, color="black", label="one replica"))
    if msb_lines:
        handles.append(Line2D([], [], color=layout.REF_COLOR, ls="--", lw=1.4,
                              label="best causal model, msb order\n(per bit; whole sum)"))
    handles.append(Patch(facecolor="0.8", edgecolor="0.4", hatch="//", label="a model that always\nanswers 0"))
    if xors:
        handles.append(Patch(facecolor="0.8", edgecolor="0.4", hatch="..", label="best causal model, msb:\nanswers a XOR b"))
    side.legend(handles=handles, loc="center left", fontsize=8, frameon=False, borderaxespad=0)
    layout.save(fig, path)


def _epoch_curves(confs, h: pd.DataFrame, colours, path: Path, sub: str) -> None:
    fig, main, side = bare_figure(3.8, 3.4, ncols=2, legend_width=2.7)
    ax_loss, ax_seed = main.subplots(1, 2)
    main.suptitle(f"Loss and seed 001's metric after each epoch\n{sub}", fontsize=10)
    for lab, g in confs:
        d = h[h["job"].isin(g["job"])]
        c = colours[lab]
        loss = d.groupby("epoch")["eval_loss"].agg(["mean", "min", "max"])
        ax_loss.plot(loss.index, loss["mean"], color=c, marker="o", ms=3, lw=1.8)
        ax_loss.fill_between(loss.index, loss["min"], loss["max"], color=c, alpha=0.2, lw=0)
        for _, r in d.groupby(["job", "replica"]):
            ax_seed.plot(r["epoch"], r["seed_acc"], color=c, lw=0.6, alpha=0.45)
        ax_seed.plot(d.groupby("epoch")["seed_acc"].mean(), color=c, lw=2.2, marker="o", ms=3)
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("loss per bit, every problem (log)", fontsize=9)
    ax_seed.set_ylabel("seed 001's metric", fontsize=9)
    ax_seed.set_ylim(-0.02, 1.05)
    for ax in (ax_loss, ax_seed):
        ax.set_xlabel("epoch (0: before training)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(color="0.92")
    handles = [Line2D([], [], color=colours[lab], lw=2, marker="o", ms=3, label=short(lab)) for lab, _ in confs]
    handles += [Patch(facecolor="0.5", alpha=0.25, label="left: range over replicas"),
                Line2D([], [], color="0.5", lw=0.6, label="right: one replica")]
    side.legend(handles=handles, loc="center left", fontsize=8, frameon=False, borderaxespad=0)
    layout.save(fig, path)


