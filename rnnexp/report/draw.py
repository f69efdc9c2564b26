"""The report's generic figures drawn into a matplotlib ``Axes`` you give: for notebooks and papers.

Nothing is written. The tables are the ones a run or sweep writes, or ``rnnexp.run`` returns (any
concatenation of them): the settings are columns, and one of them gives the colours (``hue``;
default: the setting with most values among those that differ). Curves are the report's own:
mean and 95 % bootstrap band over replicas, the same colour for a value as in the report
(``layout.Layout``), an x where a replica's value was not finite, a triangle where a replica
diverged. Each function returns the ``Axes``; without one it draws into pyplot's current Axes.

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(12, 3))
    draw.learning_curve(history, "sum_acc", ax=a); draw.success_rate(summary, ax=b)
    draw.gradient_profile(profile, ax=c)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import intervals, layout

LABELS = {"eval_loss": "evaluation loss (log)", "train_loss": "training loss (window mean, log)",
          "bit_acc": "per-bit accuracy", "sum_acc": "whole-sum accuracy", "acc": "accuracy per target",
          "exact": "sequences exactly right", "copy_acc": "copied symbols right",
          "grad_norm": "gradient norm before clipping (log)", "grad_norm_max": "largest gradient norm (log)",
          "sigma_max": "largest singular value of Whh"}
LOG = ("eval_loss", "train_loss", "grad_norm", "grad_norm_max")
NOT_SETTINGS = ("job", "replica", "step", "t", "state", "bit", "bits_scored", "epoch")


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt  # only when no Axes is given: a notebook's current figure

        ax = plt.gca()
    return ax


def settings_of(df: pd.DataFrame) -> list[str]:
    """The table's setting columns: ``attrs["config_columns"]`` (``rnnexp.run``), else the columns
    before ``replica`` (every table a run writes starts with them)."""
    cols = list(df.attrs.get("config_columns") or [])
    if not cols and "replica" in df:
        cols = list(df.columns[: list(df.columns).index("replica")])
    return [c for c in cols if c in df and c not in NOT_SETTINGS]


def _hue(df: pd.DataFrame, hue: str | None, role: str = "hue", taken: tuple = ()) -> str | None:
    """``hue`` checked, or the setting with most values (``taken`` excluded); ``None`` if none differs."""
    if hue is not None:
        if hue not in df:
            raise ValueError(f"{role}={hue!r}: not a column of the table; its settings: {', '.join(settings_of(df))}")
        return hue
    varying = [c for c in settings_of(df) if c not in taken and df[c].nunique(dropna=False) > 1]
    return max(varying, key=lambda c: df[c].nunique(dropna=False)) if varying else None


def _legend(ax, lay: layout.Layout, extra=()) -> None:
    handles = layout.hue_handles(lay) + list(extra)
    if handles:
        ax.legend(handles=handles, title=lay.hue, fontsize=8, title_fontsize=8)


def learning_curve(history: pd.DataFrame, metric: str | None = None, *, hue: str | None = None,
                   summary: pd.DataFrame | None = None, ax=None):
    """``metric`` (a column of ``history``; default the whole-sequence accuracy) against training
    step: mean and 95 % band over replicas per value of ``hue``; with ``summary``, where replicas diverged."""
    ax = _axes(ax)
    metric = metric or ("sum_acc" if "sum_acc" in history else "exact")
    if metric not in history:
        raise ValueError(f"metric={metric!r}: not a column of the history table")
    lay = layout.Layout.make(history, _hue(history, hue), None, [])
    bad = layout.lines(ax, lay.label(history), "step", metric, lay)
    diverged = summary is not None and layout.mark_diverged(ax, lay.label(summary), lay)
    if metric in LOG:  # after drawing: seaborn averages in the axis' scale
        ax.set_yscale("log", nonpositive="mask")
    ax.set_xlabel("training step")
    ax.set_ylabel(LABELS.get(metric, metric))
    _legend(ax, lay, [layout.NONFINITE_HANDLE] * bad + [layout.DIVERGED_HANDLE] * diverged)
    return ax


def success_rate(summary: pd.DataFrame, x: str | None = None, *, hue: str | None = None, ax=None):
    """Fraction of replicas that solved the task per value of ``x`` (default: the setting with most
    values) and ``hue``, with 95 % Wilson intervals and the counts (``9/10``); series side by side."""
    ax = _axes(ax)
    x = _hue(summary, x, "x")
    hue = _hue(summary, hue, taken=(x,))
    lay = layout.Layout.make(summary, hue, x, [])
    s = lay.label(summary)
    xs = lay.col_order or [""]
    hues = [h for h in lay.hue_order if h in set(s["_hue"])]
    width = 0.8 / max(1, len(hues))
    for j, h in enumerate(hues):
        g = s[s["_hue"] == h].groupby("_col")["solved"]
        k, n = g.sum().reindex(xs), g.size().reindex(xs)
        pos = np.arange(len(xs)) + (j - (len(hues) - 1) / 2) * width  # dodged: no series hides another
        ok = n.notna().to_numpy()
        rate = (k / n).to_numpy(float)
        lo_hi = np.array([intervals.wilson(int(a), int(b)) if b == b else (np.nan, np.nan) for a, b in zip(k, n)])
        ax.errorbar(pos[ok], rate[ok], yerr=[rate[ok] - lo_hi[ok, 0], lo_hi[ok, 1] - rate[ok]], fmt="o",
                    color=lay.palette[h], capsize=3, ms=5)
        for p_, r_, a, b in zip(pos[ok], rate[ok], k[ok], n[ok]):
            ax.annotate(f"{int(a)}/{int(b)}", (p_, r_), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xticks(range(len(xs)), xs)
    ax.set_xlim(-0.6, len(xs) - 0.4)
    ax.set_ylim(-0.05, 1.08)
    ax.set_xlabel(x or "")
    ax.set_ylabel("replicas solving (fraction, 95 % Wilson)")
    _legend(ax, lay)
    return ax


def gradient_profile(profile: pd.DataFrame, *, phase: str = "end", hue: str | None = None, ax=None):
    """``||dL_T / dh_t||`` against t (log) at the first (``phase="start"``) or last (``"end"``)
    evaluation of each run: mean and 95 % band over replicas; an LSTM's cell state dashed."""
    if phase not in ("start", "end"):
        raise ValueError(f"phase={phase!r}: 'start' or 'end'")
    ax = _axes(ax)
    runs = [c for c in ("job", *settings_of(profile)) if c in profile] or None
    step = profile.groupby(runs, dropna=False)["step"].transform("min" if phase == "start" else "max") \
        if runs else profile["step"].agg("min" if phase == "start" else "max")
    p = profile[profile["step"] == step]
    lay = layout.Layout.make(p, _hue(p, hue), None, [])
    states = list(dict.fromkeys(p["state"].astype(str)))
    kw = dict(style="state", style_order=states, dashes={s: d for s, d in zip(states, ["", (4, 2), (1, 1.5)])}) \
        if len(states) > 1 else {}
    bad = layout.lines(ax, lay.label(p), "t", "grad_norm", lay, **kw)
    ax.set_yscale("log", nonpositive="mask")
    ax.set_xlabel("time step t (T = last step)")
    ax.set_ylabel(f"||dL_T / dh_t|| at the {phase} (log)")
    _legend(ax, lay, [layout.NONFINITE_HANDLE] * bad)
    return ax
