"""Report sections for the seed reproductions (``experiments/order``, ``classic``, ``seed000``).

Each appears when the data calls for it, whatever the sweep:

- ``seed_metric``: the runs trained on a fixed set, so seed 001's own metric (``seed_acc``) was
  recorded. Its value beside the honest per-bit and whole-sum accuracy on every problem, the msb
  limits of a causal model, and what an all-zeros predictor scores on each (computed here); the
  loss and the seed's metric after every epoch.
- ``tolerance``: any run with an evaluation loss (seed 003's view). Training steps needed to bring
  the evaluation loss under 1e-1, 1e-2, 1e-3 and 1e-4, per configuration.
- ``blowup``: a replica diverged, or its gradient norm grew 100-fold over its start (seed 000's
  symptom). Every replica's largest singular value of ``Whh`` and gradient norm against training step.

``sections`` returns the markdown; ``rnnexp.report`` places it before the list of tables. Figures
are drawn like ``rnnexp.figures`` (Agg canvas, no pyplot, 256-colour PNGs).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from . import collect, data, figures, metrics, results
from .figures import fmt

TOLERANCES = (1e-1, 1e-2, 1e-3, 1e-4)  # seed 003's stopping tolerances
BLOWUP_FACTOR = 100.0  # a replica's gradient norm this many times its start counts as blowing up
METRIC_NAMES = {"seed_acc": "seed 001's metric\n(first 1,000 training pairs)",
                "bit_acc": "per-bit accuracy\n(every problem)", "sum_acc": "whole-sum accuracy\n(every problem)"}
METRIC_COLOURS = {"seed_acc": "#c8553d", "bit_acc": "#3d7ea6", "sum_acc": "#5b8e4f"}


# --- helpers -------------------------------------------------------------------------------------

def configurations(summary: pd.DataFrame, keys: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """``(label, replica rows)`` per configuration in the report's value order; label ``k=v, ...``."""
    keys = [k for k in keys if k not in collect.paired_keys(summary, keys)]  # in the report's table
    if not keys:
        return [("all runs", summary)]
    rank = {k: {v: i for i, v in enumerate(figures.value_order(summary[k]))} for k in keys}
    groups = [(v if isinstance(v, tuple) else (v,), g) for v, g in summary.groupby(keys, dropna=False, sort=False)]
    groups.sort(key=lambda x: tuple(rank[k][fmt(v)] for k, v in zip(keys, x[0])))
    return [(", ".join(f"{k}={fmt(v)}" for k, v in zip(keys, vals)), g) for vals, g in groups]


def _short(label: str) -> str:
    """A configuration label on several lines, for a tick label."""
    return label.replace(", ", "\n")


def _md(df: pd.DataFrame, left: int = 1) -> str:
    head = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---" if i < left else "---:" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _range(x: pd.Series, f="{:.3f}") -> str:
    x = x.dropna()
    if not len(x):
        return "n/a"
    if len(x) == 1:
        return f.format(x.iloc[0])
    return f"{f.format(x.mean())} [{f.format(x.min())}–{f.format(x.max())}]"


def _figure(w: float, h: float, ncols: int = 1, legend_width: float = 2.4):
    fig = Figure(figsize=(w * ncols + legend_width, h), dpi=figures.DPI, layout="constrained")
    FigureCanvasAgg(fig)
    main, side = fig.subfigures(1, 2, width_ratios=[w * ncols, legend_width], wspace=0)
    return fig, main, side


def _wrap(text: str, width: int = 80) -> str:
    import textwrap

    return "\n".join(textwrap.fill(line, width) for line in text.splitlines())


def _palette(labels: list[str]) -> dict[str, tuple]:
    import seaborn as sns

    cb = sns.color_palette("colorblind", 10)
    cols = [cb[i] for i in (0, 1, 2, 4, 3, 5, 9, 7, 8, 6)]
    return {lab: cols[i % len(cols)] for i, lab in enumerate(labels)}


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


# --- seed 001: its metric against the honest ones -------------------------------------------------

def wants_seed_metric(summary: pd.DataFrame) -> bool:
    return "seed_acc" in summary and summary["seed_acc"].notna().any()


def seed_metric_section(summary, history, keys, fig_dir: Path, sub: str) -> list[str]:
    confs = [(lab, g) for lab, g in configurations(summary, keys) if g["seed_acc"].notna().any()]
    labels = [lab for lab, _ in confs]
    colours = _palette(labels)
    zero_keys = sorted({int(b) for b in summary["bits"]})  # the order does not change what all zeros score
    zeros = {b: all_zeros_scores(b, "lsb") for b in zero_keys}
    msb_bits = sorted({int(b) for b in summary.loc[summary["order"] == "msb", "bits"] if b <= data.EXHAUSTIVE_MAX_BITS})
    xors = {b: xor_scores(b) for b in msb_bits}
    sub = _wrap(sub)

    # table 1: the three metrics per configuration, and the all-zeros predictor
    rows = []
    for lab, g in confs:
        rows.append({"configuration": lab, "replicas": len(g),
                     "seed 001's metric, mean [min–max]": _range(g["seed_acc"]),
                     "median": f"{g['seed_acc'].median():.3f}",
                     "per-bit acc": _range(g["bit_acc"], "{:.4f}"), "whole-sum acc": _range(g["sum_acc"], "{:.4f}"),
                     "final loss per bit": _range(g["eval_loss"], "{:.4f}")})
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
        "## Seed 001's metric against the honest ones", "",
        "The runs trained on a fixed set, so seed 001's own accuracy was recorded as its code computes it: a "
        "problem counts as an error only if the *signed* sum of (predicted bit - true bit) over its bits exceeds "
        "0.1, scored on the first 1,000 training pairs. Predicting a 0 where the answer has a 1 is never an error, "
        "so a model that always answers 0 scores 100 % (computed on every problem, below the runs); for msb runs, "
        "the last rows score the best causal model (it answers a XOR b, the carry unseen). Beside it: per-bit "
        "and whole-sum accuracy on every problem, mean [min–max] over replicas. The numbers are in "
        "`report_seed_metric.csv`.", "",
        _md(table), "",
        "Loss per bit on every problem after each epoch (epoch 0: before training), mean over replicas "
        "(`report_epoch_loss.csv`):", "",
        _md(per_epoch), "",
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
    fig, main, side = _figure(max(5.0, 1.35 * n + 1.0), 4.4, legend_width=2.9)
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
                ax.hlines(ref, x - width * 0.6, x + width * 0.6, color=figures.REF_COLOR, ls="--", lw=1.4, zorder=6)
                ax.text(x + width * 0.62, ref, f"{ref:.4f}", fontsize=6.5, va="center", ha="left",
                        color=figures.REF_COLOR, zorder=6)
            msb_lines.add(bits)
    ax.set_xticks(range(n), [_short(lab) for lab, _ in groups], fontsize=7)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("fraction", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", color="0.9", zorder=0)
    handles = [Patch(facecolor=METRIC_COLOURS[m], edgecolor=METRIC_COLOURS[m], label=METRIC_NAMES[m])
               for m in METRIC_NAMES]
    handles.append(Line2D([], [], ls="", marker="o", ms=3, color="black", label="one replica"))
    if msb_lines:
        handles.append(Line2D([], [], color=figures.REF_COLOR, ls="--", lw=1.4,
                              label="best causal model, msb order\n(per bit; whole sum)"))
    handles.append(Patch(facecolor="0.8", edgecolor="0.4", hatch="//", label="a model that always\nanswers 0"))
    if xors:
        handles.append(Patch(facecolor="0.8", edgecolor="0.4", hatch="..", label="best causal model, msb:\nanswers a XOR b"))
    side.legend(handles=handles, loc="center left", fontsize=8, frameon=False, borderaxespad=0)
    figures.save(fig, path)


def _epoch_curves(confs, h: pd.DataFrame, colours, path: Path, sub: str) -> None:
    fig, main, side = _figure(3.8, 3.4, ncols=2, legend_width=2.7)
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
    handles = [Line2D([], [], color=colours[lab], lw=2, marker="o", ms=3, label=_short(lab)) for lab, _ in confs]
    handles += [Patch(facecolor="0.5", alpha=0.25, label="left: range over replicas"),
                Line2D([], [], color="0.5", lw=0.6, label="right: one replica")]
    side.legend(handles=handles, loc="center left", fontsize=8, frameon=False, borderaxespad=0)
    figures.save(fig, path)


# --- seed 003: steps to reach each loss tolerance -------------------------------------------------

def wants_tolerance(history: pd.DataFrame) -> bool:
    return "eval_loss" in history and history["step"].nunique() > 1


def steps_to_tolerance(history: pd.DataFrame, tolerances=TOLERANCES) -> pd.DataFrame:
    """Per job x replica x tolerance: the first evaluation step with ``eval_loss <= tol`` (NaN: never)."""
    h = history[["job", "replica", "step", "eval_loss"]]
    out = []
    for tol in tolerances:
        hit = h[h["eval_loss"] <= tol].groupby(["job", "replica"])["step"].min()
        reps = h.groupby(["job", "replica"]).size().index
        out.append(pd.DataFrame({"tolerance": tol, "step": hit.reindex(reps)}).reset_index())
    return pd.concat(out, ignore_index=True)


def tolerance_section(summary, history, keys) -> list[str]:
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
        "## Steps to reach a loss tolerance (seed 003's view)", "",
        "Training steps until the evaluation loss (per bit) first fell to each tolerance: replicas that got there / "
        "replicas, then the median [min–max] step over those that did. Resolution: the evaluation interval"
        + (f" ({', '.join(map(str, res))} steps)" if res else "") + ".", "",
        _md(table), ""]


# --- seed 000: weights and gradients blowing up ---------------------------------------------------

def blowup_replicas(history: pd.DataFrame) -> pd.DataFrame:
    """Per job x replica: gradient norm at the first evaluation, the largest before clipping (inf if
    it overflowed), and ``sigma_max`` at the start and at its largest."""
    h = history.sort_values("step")
    g = h.groupby(["job", "replica"])
    gmax = h.assign(_g=np.where(figures.overflowed(h["grad_norm_max"]), np.inf, h["grad_norm_max"])).groupby(
        ["job", "replica"])["_g"].max()
    smax = h.assign(_s=np.where(figures.overflowed(h["sigma_max"]), np.inf, h["sigma_max"])).groupby(
        ["job", "replica"])["_s"].max()
    return pd.DataFrame({"grad_start": g["grad_norm"].first(), "grad_max": gmax,
                         "sigma_start": g["sigma_max"].first(), "sigma_max": smax}).reset_index()


def wants_blowup(summary: pd.DataFrame, history: pd.DataFrame) -> bool:
    if summary["diverged"].astype(bool).any():
        return True
    b = blowup_replicas(history)
    with np.errstate(all="ignore"):
        return bool((b["grad_max"] >= BLOWUP_FACTOR * b["grad_start"]).any())


def blowup_section(summary, history, keys, lay, fig_dir: Path, sub: str) -> list[str]:
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
    return [
        "## Weights and gradients blowing up (seed 000's symptom)", "",
        f"Some replica's gradient norm grew {BLOWUP_FACTOR:g}-fold or more over its start, or a replica diverged. "
        "Per configuration: the largest singular value of the recurrent matrix (a measure of the weights' size) and "
        "the global gradient norm before clipping, at the start and at their largest; replicas whose gradient grew "
        f"{BLOWUP_FACTOR:g}-fold; diverged and solved replicas (`report_blowup.csv`).", "",
        _md(table), "",
        "### Every replica's weights and gradient over training", "",
        "![Every replica's weights and gradient over training](figures/blowup.png)", "",
        "Top: largest singular value of Whh; bottom: largest gradient norm (before clipping) in each evaluation "
        "window; both log scale, one line per replica. Triangles: a replica diverged at that step.", ""]


def _blowup_figure(summary, history, lay, path: Path, sub: str) -> None:
    sub = _wrap(sub)
    quantities = [("σ_max(Whh)", "sigma_max"), ("gradient norm", "grad_norm_max")]
    h, s = lay.label(history), lay.label(summary)
    fig, axes = figures._figure(lay, f"Weights and gradients over training\n{sub}", extra=quantities, sharey="row")
    for ax, spec in axes:
        col = spec[3]
        d = figures._subset(h, spec)
        if d.empty:
            figures._empty(ax, "no run with this combination")
            continue
        for (_, _, hue), r in d.groupby(["job", "replica", "_hue"]):
            v = r[col].astype(float).where(~figures.overflowed(r[col]))
            ax.plot(r["step"], v, color=lay.palette[hue], lw=0.8, alpha=0.6)
        figures._mark_diverged(ax, figures._subset(s, spec), lay)
        ax.set_yscale("log", nonpositive="mask")
        ax.set_xlabel("training step")
        ax.set_ylabel("largest singular value of Whh (log)" if col == "sigma_max"
                      else "gradient norm, max in window (log)")
    figures._step_xlim(axes, h)
    extra = [Line2D([], [], color="0.4", lw=0.8, label="one replica")]
    if summary["diverged"].astype(bool).any():
        extra.append(figures.DIVERGED_HANDLE)
    figures._finish(fig, axes, lay, path, extra)


# --- entry point ---------------------------------------------------------------------------------

def sections(summary, history, profile, lengths, keys, lay, fig_dir: Path, sub: str) -> list[str]:
    """Markdown lines of every section the data calls for (figures written into ``fig_dir``)."""
    out: list[str] = []
    if wants_seed_metric(summary):
        out += seed_metric_section(summary, history, keys, fig_dir, sub)
    if wants_tolerance(history):
        out += tolerance_section(summary, history, keys)
    if wants_blowup(summary, history):
        out += blowup_section(summary, history, keys, lay, fig_dir, sub)
    return out
