"""Report sections that appear when a sweep's data calls for them (the studies in ``experiments/``).

Each section is a table (markdown in ``report.md`` and a CSV beside it) and, for most, a figure:

- ``gradients``: the recurrent matrix's largest singular value varies between runs (``init.scale``
  or ``init`` swept). How far the last step's error signal survives going back to t = 1,
  ``||dL_T/dh_1|| / ||dL_T/dh_T||``, against ``sigma_max(Whh)``, with Pascanu's ``1/gamma`` line per
  activation, at the first and the last evaluation; and the success rate on each side of the line.
- ``clipping``: ``clip`` or ``clip.threshold`` swept. Divergence rate, success rate and steps to
  solve per clipping kind and threshold (``clip=none`` ignores the threshold: counted once).
- ``lengths``: the final models were scored at other lengths (``eval_bits``). Which configurations
  stay at 100 % at every length (learned the carry rule).
- ``bits``: ``bits`` swept over 3 or more lengths. Success rate and steps to solve against length.

``sections`` returns the markdown of every section that applies; ``rnnexp.report`` places it before
the list of tables. Figures are drawn like ``rnnexp.figures`` (Agg, no pyplot, 256-colour PNGs).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

from . import activations, collect, figures, results
from .figures import fmt

SIGMA_KEYS = ("init.scale", "init", "init.input_scale")  # settings that move sigma_max at step 0
CLIP_KEYS = ("clip", "clip.threshold")
SOLVED_MARK = {"solved": ("o", 26), "never": ("X", 34), "diverged": ("v", 34)}


@dataclass
class Section:
    heading: str
    intro: str
    table_md: str
    figures: list[tuple[str, str, str]]  # (file name, title, caption)
    notes: list[str]

    def markdown(self, fig_dir: str) -> list[str]:
        out = [f"## {self.heading}", "", self.intro, "", self.table_md, ""]
        out += [f"- {n}" for n in self.notes] + ([""] if self.notes else [])
        for name, title, caption in self.figures:
            out += [f"### {title}", "", f"![{title}]({fig_dir}/{name}.png)", "", caption, ""]
        return out


# --- helpers -------------------------------------------------------------------------------------

def _md_table(df: pd.DataFrame, right_from: int) -> str:
    """A markdown table of ``df``'s cells as they are (strings); columns from ``right_from`` right-aligned."""
    head = list(df.columns)
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---" if i < right_from else "---:" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _configs(summary: pd.DataFrame, keys: list[str]) -> list[tuple[dict, pd.DataFrame]]:
    """(values, replica rows) per configuration, in the report's value order (numbers ascending)."""
    if not keys:
        return [({}, summary)]
    rank = {k: {v: i for i, v in enumerate(figures.value_order(summary[k]))} for k in keys}
    groups = [(dict(zip(keys, v if isinstance(v, tuple) else (v,))), g)
              for v, g in summary.groupby(keys, dropna=False, sort=False)]
    return sorted(groups, key=lambda x: tuple(rank[k][fmt(x[0][k])] for k in keys))


def _kind(summary: pd.DataFrame) -> pd.Series:
    return pd.Series(np.where(summary["solved"].astype(bool), "solved",
                              np.where(summary["diverged"].astype(bool), "diverged", "never")), index=summary.index)


def _sci(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:.2g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.1e}"


def _new_figure(nr: int, nc: int, title: str, legend_width: float = 2.3, w=figures.PANEL_W, h=figures.PANEL_H,
                sharey=True, sharex=True):
    main_w = max(w * nc, 0.075 * max(map(len, title.splitlines())))  # the title fits above the panels
    fig = Figure(figsize=(main_w + legend_width, h * nr + 0.8), dpi=figures.DPI, layout="constrained")
    FigureCanvasAgg(fig)
    main, side = fig.subfigures(1, 2, width_ratios=[main_w, legend_width], wspace=0)
    axes = main.subplots(nr, nc, squeeze=False, sharex=sharex, sharey=sharey)
    main.suptitle(title, fontsize=10)
    return fig, side, axes


def _legend(side, handles):
    side.legend(handles=handles, loc="center left", fontsize=8, frameon=False, borderaxespad=0)


def _colour(summary: pd.DataFrame, lay: figures.Layout, key: str | None) -> figures.Layout:
    """A layout colouring by ``key``: the report's own palette when ``key`` is its colour key."""
    if key is not None and key == lay.hue:
        return lay
    return figures.Layout.make(summary, key, None, [])


def _colour_handles(col_lay: figures.Layout) -> list[Line2D]:
    if not col_lay.hue:
        return []
    return [Line2D([], [], ls="", label=col_lay.hue)] + [
        Line2D([], [], ls="", marker="o", color=col_lay.palette[v], markeredgecolor="black", label=v)
        for v in col_lay.hue_order]


def _log2_x(ax, ticks=None) -> None:
    """Log x axis labelled with plain numbers: at ``ticks`` if given, else at powers of 2."""
    ax.set_xscale("log")
    if ticks is not None:
        ax.set_xticks(list(ticks))
    else:
        ax.xaxis.set_major_locator(LogLocator(base=2.0, numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


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
            ax.axvline(v, color=figures.REF_COLOR, ls=style, lw=1)
            ax.text(v * 1.04, 0.99, f"1/γ {'/'.join(acts)}", transform=ax.get_xaxis_transform(), ha="left", va="top",
                    fontsize=7, color=figures.REF_COLOR, rotation=90)
        else:
            ax.axhline(v, color=figures.REF_COLOR, ls=style, lw=1)


def _gamma_handles(inv: dict[float, list[str]]) -> list[Line2D]:
    return [Line2D([], [], color=figures.REF_COLOR, ls=figures.GAMMA_STYLES.get(v, "--"), lw=1,
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


def wants_gradients(summary, history, profile, keys) -> bool:
    if profile is None or not len(profile) or profile["t"].max() < 2:
        return False
    if any(k in keys for k in SIGMA_KEYS):
        return True
    start = history[history["step"] == history.groupby("job")["step"].transform("min")]
    s = start.groupby("job")["sigma_max"].median()
    s = s[np.isfinite(s) & (s > 0)]
    return len(s) > 1 and s.max() / s.min() >= 2.0


def gradients_section(summary, history, profile, keys, lay, fig_dir: Path, sub: str) -> Section:
    r = gradient_ratios(history, profile)
    cfg_cols = [k for k in keys if k in summary]
    reps = summary[["job", "replica", *cfg_cols, "solved", "diverged"]].copy()
    reps["_kind"] = _kind(summary)
    r = r.merge(reps, on=["job", "replica"], how="left")
    colour = next((k for k in ("activation", "model") if k in keys), None)
    if colour is None and lay.hue not in SIGMA_KEYS:
        colour = lay.hue
    rows = [k for k in keys if k not in SIGMA_KEYS and k != colour]
    col_lay = _colour(summary, lay, colour)
    r["_hue"] = r[colour].map(fmt) if colour else "all"
    r["_row"] = [", ".join(f"{k}={fmt(v)}" for k, v in zip(rows, vals)) for vals in r[rows].itertuples(index=False)] \
        if rows else ""
    row_order = list(dict.fromkeys(r.sort_values(rows)["_row"])) if rows else [""]
    inv_all = _inv_gamma(summary)

    # table: one row per configuration
    table = []
    for vals, g in _configs(summary, keys):
        rr = r[r["job"].isin(g["job"])]
        st, en = rr[rr["phase"] == "start"], rr[rr["phase"] == "end"]
        inv = _inv_gamma(g)
        s0 = float(st["sigma_max"].median()) if len(st) else np.nan
        line = {**{k: fmt(v) for k, v in vals.items()},
                "σ_max at start": _sci(s0),
                "1/γ": ", ".join(f"{v:g}" for v in inv) or "none (gated)",
                "side": _side(s0, inv),
                "ratio at start (median)": _sci(float(st["ratio"].median())) if len(st) else "n/a",
                "σ_max at end": _sci(float(en["sigma_max"].median())) if len(en) else "n/a",
                "ratio at end (median)": _sci(float(en["ratio"].median())) if len(en) else "n/a",
                "solved": f"{int(g['solved'].sum())}/{len(g)}",
                "diverged": f"{int(g['diverged'].sum())}/{len(g)}"}
        table.append(line)
    table = pd.DataFrame(table)
    results.write_table(table, fig_dir.parent / "report_gradients.csv")

    # figure 1: the ratio against sigma_max, start and end
    fig, side, axes = _new_figure(len(row_order), 2, f"Gradient reaching t = 1 against σ_max(Whh)\n{sub}")
    bad = 0
    for i, row in enumerate(row_order):
        for j, phase in enumerate(("start", "end")):
            ax = axes[i][j]
            d = r[(r["_row"] == row) & (r["phase"] == phase)]
            ok = d[np.isfinite(d["ratio"]) & (d["ratio"] > 0) & np.isfinite(d["sigma_max"]) & (d["sigma_max"] > 0)
                   & ~figures.overflowed(d["ratio"]) & ~figures.overflowed(d["sigma_max"])]
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
            _log2_x(ax)
            ax.set_yscale("log")
            ax.tick_params(labelsize=8)
            if i == len(row_order) - 1:
                ax.set_xlabel("largest singular value of Whh (log)", fontsize=9)
            if j == 0:
                T = int(r["T"].max())
                ax.set_ylabel(f"||dL_T/dh_1|| / ||dL_T/dh_T||\n(T = {T}, log)", fontsize=9)
    handles = _colour_handles(col_lay) + [Line2D([], [], ls="", label="training outcome")] + [
        Line2D([], [], ls="", marker=m, color="0.6", markeredgecolor="black", label=k)
        for k, (m, _) in SOLVED_MARK.items()] + _gamma_handles(inv_all) + [
        Line2D([], [], color="0.6", lw=0.8, label="ratio 1: no loss\nor gain over T-1 steps")]
    if bad:
        handles.append(Line2D([], [], ls="", label=f"{bad} point(s) not shown:\nratio 0, NaN or overflow"))
    _legend(side, handles)
    figures.save(fig, fig_dir / "gradient_ratio.png")

    # figure 2: outcome against sigma_max at the start, per colour
    st = r[r["phase"] == "start"].merge(summary[["job", "replica", "bit_acc"]], on=["job", "replica"], how="left")
    cfg = st.groupby([*(c for c in cfg_cols), "_hue", "_row"], dropna=False).agg(
        sigma=("sigma_max", "median"), success=("solved", "mean"), bit_acc=("bit_acc", "mean"),
        diverged=("diverged", "mean")).reset_index()
    panels = [("success", "replicas solving 100 %", "fraction of replicas", (-0.04, 1.04)),
              ("bit_acc", "final per-bit accuracy (mean)", "per-bit accuracy", (0.45, 1.02))]
    if summary["diverged"].astype(bool).any():
        panels.append(("diverged", "replicas diverged", "fraction of replicas", (-0.04, 1.04)))
    fig, side, axes = _new_figure(len(row_order), len(panels), f"Training outcome by σ_max(Whh) at the start\n{sub}",
                                  sharey=False)
    for i, row in enumerate(row_order):
        for j, (metric, label, ylabel, ylim) in enumerate(panels):
            ax = axes[i][j]
            d = cfg[cfg["_row"] == row]
            for hue in [h for h in col_lay.hue_order if h in set(d["_hue"])] or ["all"]:
                e = d[d["_hue"] == hue].sort_values("sigma")
                e = e[np.isfinite(e["sigma"]) & (e["sigma"] > 0)]
                ax.plot(e["sigma"], e[metric], marker="o", ms=4, color=col_lay.palette.get(hue, "0.3"), lw=1.5)
            _gamma_lines(ax, _inv_gamma(summary[summary["job"].isin(r.loc[r["_row"] == row, "job"])]), vertical=True)
            _log2_x(ax)
            ax.set_ylim(*ylim)
            ax.set_title(" | ".join(x for x in (label, row) if x), fontsize=9)
            ax.tick_params(labelsize=8)
            if i == len(row_order) - 1:
                ax.set_xlabel("σ_max(Whh) at step 0 (log)", fontsize=9)
            ax.set_ylabel(ylabel, fontsize=9)
    handles = [Line2D([], [], ls="", label=col_lay.hue)] + [
        Line2D([], [], color=col_lay.palette[v], lw=2, marker="o", ms=4, label=v) for v in col_lay.hue_order] \
        if col_lay.hue else []
    _legend(side, handles + _gamma_handles(inv_all))
    figures.save(fig, fig_dir / "success_by_sigma.png")

    notes = []
    if bad:
        notes.append(f"{bad} (replica, phase) point(s) have a ratio that is 0, NaN or overflowed (a dead or "
                     "diverged network) and are left out of the scatter; the medians in the table include them.")
    return Section(
        "Gradients across the 1/γ boundary",
        "Per configuration: the largest singular value of Whh and how much of the last step's error signal "
        "reaches the first step, `||dL_T/dh_1|| / ||dL_T/dh_T||` (one batch, medians over replicas), at the first "
        "and the last evaluation. Pascanu et al. (2013): below 1/γ the ratio must shrink geometrically with T; "
        "above it, it can grow. `side`: σ_max at the start below or above 1/γ. The numbers are in "
        "`report_gradients.csv`.",
        _md_table(table, len(keys)),
        [("gradient_ratio", "Gradient reaching t = 1 against σ_max(Whh)",
          "Each point is a replica: x its Whh's largest singular value, y the fraction of the last step's error "
          "signal that reaches the first step (one batch), at the first evaluation (left) and the last (right); "
          "the marker is how its training ended. Vertical lines: 1/γ of each activation (below it, long-range "
          "gradients must vanish)."),
         ("success_by_sigma", "Training outcome by σ_max(Whh) at the start",
          "Per configuration, against the median largest singular value of Whh at step 0: the fraction of "
          "replicas that reached 100 % whole-sum accuracy, the final per-bit accuracy (0.5: chance), and, when "
          "any replica diverged, the fraction that did.")],
        notes)


# --- clipping ------------------------------------------------------------------------------------

def wants_clipping(keys) -> bool:
    return any(k in keys for k in CLIP_KEYS)


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


def clipping_section(summary, history, keys, lay, fig_dir: Path, sub: str) -> Section:
    s, dropped, same = dedupe_unclipped(summary, keys)
    h = history[history["job"].isin(s["job"]) & (history["step"] > 0)]
    frac = h.groupby(["job", "replica"])["clip_frac"].mean()  # share of training steps clipped
    gmax = h.groupby(["job", "replica"])["grad_norm_max"].max()
    s = s.join(frac.rename("_clip_frac"), on=["job", "replica"]).join(gmax.rename("_gmax"), on=["job", "replica"])
    s["_kind"] = _kind(s)
    table = []
    for vals, g in _configs(s, keys):
        solved = g["solved"].astype(bool)
        n = len(g)
        table.append({**{k: ("–" if k == "clip.threshold" and vals.get("clip") == "none" else fmt(v))
                         for k, v in vals.items()},
                      "replicas": n,
                      "diverged": f"{int(g['diverged'].sum())}/{n}",
                      "solved": f"{int(solved.sum())}/{n}",
                      "failed, finite": f"{int((g['_kind'] == 'never').sum())}/{n}",
                      "median steps to solve": f"{g.loc[solved, 'steps_to_solve'].median():g}" if solved.any() else "never",
                      "final per-bit acc": f"{g['bit_acc'].mean():.3f}",
                      "steps clipped": f"{100 * g['_clip_frac'].mean():.0f} %" if g["_clip_frac"].notna().any() else "n/a",
                      "max grad norm (median)": _sci(float(np.nanmedian(np.where(figures.overflowed(g["_gmax"]),
                                                                                    np.inf, g["_gmax"]))))})
    table = pd.DataFrame(table)
    results.write_table(table, fig_dir.parent / "report_clipping.csv")

    # figure: success / divergence rate and steps to solve against threshold, one column per other setting
    others = [k for k in keys if k not in CLIP_KEYS]
    s["_col"] = [", ".join(f"{k}={fmt(v)}" for k, v in zip(others, vals)) for vals in s[others].itertuples(index=False)] \
        if others else ""
    cols = list(dict.fromkeys(s.sort_values(others)["_col"])) if others else [""]
    clip_lay = figures.Layout.make(s, "clip", None, []) if "clip" in s else None
    metrics = (("success", "solved (fraction)"), ("diverged", "diverged (fraction)"), ("steps", "median steps to solve"))
    fig, side, axes = _new_figure(3, len(cols), f"Clipping: outcome by kind and threshold\n{sub}", sharey="row")
    steps_end = float(s["steps"].max()) if "steps" in s else np.nan
    for j, c in enumerate(cols):
        d = s[s["_col"] == c]
        for kind in figures.value_order(d["clip"]) if "clip" in d else ["all"]:
            e = d[d["clip"] == kind] if "clip" in d else d
            colour = clip_lay.palette[kind] if clip_lay else "0.3"
            agg = e.groupby("clip.threshold", dropna=False).agg(
                success=("solved", "mean"), diverged=("diverged", "mean"),
                steps=("steps_to_solve", "median")).reset_index()
            for i, (m, label) in enumerate(metrics):
                ax = axes[i][j]
                if kind == "none" or agg["clip.threshold"].isna().all():
                    v = agg[m].iloc[0]
                    if np.isfinite(v):
                        ax.axhline(v, color=colour, ls="--", lw=1.5)
                else:
                    a = agg.dropna(subset=["clip.threshold"]).sort_values("clip.threshold")
                    ax.plot(a["clip.threshold"], a[m], marker="o", ms=4, lw=1.5, color=colour)
        for i, (m, label) in enumerate(metrics):
            ax = axes[i][j]
            _log2_x(ax, sorted(s["clip.threshold"].dropna().unique()) if "clip.threshold" in s else None)
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
        handles.append(Line2D([], [], color=clip_lay.palette[kind], ls=ls, lw=1.5, marker=None if kind == "none" else "o",
                              ms=4, label=kind + (" (no threshold)" if kind == "none" else "")))
    handles.append(Line2D([], [], ls="", label="steps to solve: over the\nreplicas that solved\n(missing: none did)"))
    _legend(side, handles)
    figures.save(fig, fig_dir / "clipping.png")

    notes = []
    if dropped:
        notes.append(f"`clip=none` does not use `clip.threshold`: {dropped} run(s) that differ from another "
                     "`clip=none` run only in the threshold are the same training and are counted once here "
                     + ("(their numbers are identical)." if same else "(**their numbers differ**: the training is "
                        "not deterministic)."))
    return Section(
        "Clipping",
        "Per clipping kind, threshold and the other swept settings: replicas that diverged (loss or weights NaN/inf), "
        "that reached 100 % whole-sum accuracy, and that did neither; steps to solve; the share of training steps "
        "on which clipping fired; and the largest gradient norm before clipping (median over replicas of each "
        "replica's maximum; `inf` when it overflowed). The numbers are in `report_clipping.csv`.",
        _md_table(table, len(keys)),
        [("clipping", "Clipping: outcome by kind and threshold",
          "Fraction of replicas that solved (top) and diverged (middle), and the median steps to solve over the "
          "replicas that solved (bottom), against the clipping threshold; `clip=none` as a dashed line.")],
        notes)


# --- lengths: did it learn the rule? --------------------------------------------------------------

def wants_lengths(lengths) -> bool:
    return lengths is not None and len(lengths) > 0 and lengths.groupby("job")["bits_scored"].nunique().max() > 1


def exact_by_length(lengths, lay: figures.Layout, path: Path, title: str):
    """Fraction of replicas exactly at 100 % whole-sum accuracy at each length scored (the report's layout)."""
    df = lay.label(lengths).assign(_exact=lambda d: (d["sum_acc"] >= 1.0).astype(float))
    fig, axes = figures._figure(lay, title)
    for ax, spec in axes:
        sub = figures._subset(df, spec)
        if sub.empty:
            figures._empty(ax, "no run with this combination")
            continue
        figures._lines(ax, sub, "bits_scored", "_exact", lay, marker="o", markersize=3.5)
        ax.set_ylim(-0.04, 1.04)
        ax.set_xlabel("length of the sum (bits, log scale)")
        ax.set_ylabel("replicas exactly at 100 %\n(fraction)")
    ticks = sorted(lengths["bits_scored"].unique())
    for ax, _ in axes:
        _log2_x(ax, ticks)
    extra = [Line2D([], [], color="0.5", lw=6, alpha=0.3, label="95 % CI over replicas")]
    return figures._finish(fig, axes, lay, path, extra)


def lengths_section(summary, lengths, keys, lay, fig_dir: Path, sub: str) -> Section:
    L = lengths
    exact_by_length(L, lay, fig_dir / "lengths_exact.png", f"Length generalisation: replicas exactly at 100 %\n{sub}")
    scored = sorted(L["bits_scored"].unique())
    table = []
    for vals, g in _configs(summary, keys):
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
        "Did it learn the rule? (other lengths)",
        "Whole-sum accuracy of the final models at each length scored (mean over replicas; in brackets the "
        "replicas exactly at 100 %), and the replicas at 100 % at every length: those computed the carry rule, "
        "not a pattern of the training length. Lengths up to 9 bits are scored on every problem, longer ones on "
        "a fixed sample of 10,000. The mean accuracy is in the figure *Length generalisation* above.",
        _md_table(table, len(keys)),
        [("lengths_exact", "Length generalisation: replicas exactly at 100 %",
          "Fraction of replicas whose final model gets every evaluation problem of that length right: a replica "
          "that learned the carry rule stays at 1 on every length; mean and 95 % band over replicas.")], [])


# --- bits: outcome against sequence length ----------------------------------------------------------

def wants_bits(keys, summary) -> bool:
    return "bits" in keys and summary["bits"].nunique() >= 3


def bits_section(summary, keys, lay, fig_dir: Path, sub: str) -> Section:
    others = [k for k in keys if k != "bits"]
    colour = lay.hue if lay.hue != "bits" else (lay.col if lay.col in others else (others[0] if others else None))
    rows = [k for k in others if k != colour]
    col_lay = _colour(summary, lay, colour)
    s = summary.copy()
    s["_hue"] = s[colour].map(fmt) if colour else "all"
    s["_row"] = [", ".join(f"{k}={fmt(v)}" for k, v in zip(rows, vals)) for vals in s[rows].itertuples(index=False)] \
        if rows else ""
    row_order = list(dict.fromkeys(s.sort_values(rows)["_row"])) if rows else [""]

    # table: colour (and rows) down, bits across; cells "solved/n, median steps"
    table = []
    for vals, g in _configs(s, others):
        row = {k: fmt(v) for k, v in vals.items()}
        for b, e in g.groupby("bits"):
            solved = e["solved"].astype(bool)
            med = f", {e.loc[solved, 'steps_to_solve'].median():g}" if solved.any() else ""
            row[f"{b} bits"] = f"{int(solved.sum())}/{len(e)}{med}" + (f" ({int(e['diverged'].sum())} div.)" if e["diverged"].any() else "")
        table.append(row)
    table = pd.DataFrame(table)

    fig, side, axes = _new_figure(len(row_order), 3, f"Outcome against sequence length\n{sub}", sharey=False)
    rng = np.random.default_rng(0)
    hues = [h for h in col_lay.hue_order if h in set(s["_hue"])] or ["all"]
    for i, row in enumerate(row_order):
        d = s[s["_row"] == row]
        ax0, ax1, ax2 = axes[i]
        for k, hue in enumerate(hues):
            e = d[d["_hue"] == hue]
            colour_ = col_lay.palette.get(hue, "0.3")
            a = e.groupby("bits").agg(success=("solved", "mean")).reset_index()
            ax0.plot(a["bits"], a["success"], marker="o", ms=4, lw=1.5, color=colour_)
            ok = e[e["solved"].astype(bool)]
            shift = 2 ** ((k - (len(hues) - 1) / 2) * 0.08)  # side by side on the log-2 axis
            ax1.scatter(ok["bits"] * shift * 2 ** rng.uniform(-0.025, 0.025, len(ok)), ok["steps_to_solve"], s=14,
                        color=colour_, edgecolors="black", linewidths=0.3, alpha=0.7, zorder=3)
            med = ok.groupby("bits")["steps_to_solve"].median()
            ax1.plot(med.index * shift, med.to_numpy(), color=colour_, lw=1.5)
            wall = e.groupby("bits")["wall_time"].first() if "wall_time" in e else pd.Series(dtype=float)
            ax2.plot(wall.index, wall.to_numpy(), marker="o", ms=4, lw=1.5, color=colour_)
        for ax in (ax0, ax1, ax2):
            ax.set_xscale("log", base=2)
            ticks = sorted(s["bits"].unique())
            ax.set_xticks(ticks, [str(int(t)) for t in ticks])
            ax.minorticks_off()
            ax.tick_params(labelsize=8)
            if i == len(row_order) - 1:
                ax.set_xlabel("bits (sequence length, log scale)", fontsize=9)
        ax0.set_ylim(-0.04, 1.04)
        ax0.set_ylabel("solved (fraction of replicas)", fontsize=9)
        ax1.set_ylabel("steps to solve", fontsize=9)
        if "steps" in s:
            ax1.set_ylim(0, float(s["steps"].max()) * 1.05)
        ax0.set_title(" | ".join(x for x in ("success rate", row) if x), fontsize=9)
        ax1.set_title(" | ".join(x for x in ("steps to solve (replicas that solved)", row) if x), fontsize=9)
        ax2.set_yscale("log")
        ax2.set_ylabel("training time of the run (s, log)", fontsize=9)
        ax2.set_title(" | ".join(x for x in ("cost: wall time per run", row) if x), fontsize=9)
    handles = ([Line2D([], [], ls="", label=colour)] if colour else []) + [
        Line2D([], [], color=col_lay.palette.get(v, "0.3"), lw=1.5, marker="o", ms=4, label=v) for v in hues]
    handles += [Line2D([], [], ls="", label="middle: dots are replicas,\nline the median")]
    _legend(side, handles)
    figures.save(fig, fig_dir / "by_bits.png")
    return Section(
        "Outcome against sequence length",
        "Replicas reaching 100 % whole-sum accuracy / replicas, and the median steps to solve over those that did, "
        "per sequence length (`bits`). Evaluation: every problem for bits <= 9, else a fixed sample of 10,000.",
        _md_table(table, len(others)),
        [("by_bits", "Outcome against sequence length",
          "Left: fraction of replicas that solved (lines at the same value hide each other). Middle: steps to "
          "solve of each replica that solved, and their median (resolution: the evaluation interval). Right: the "
          "training time of each run (all its replicas, evaluations included; measured, so it depends on the "
          "machine's load).")],
        [])


# --- entry point ---------------------------------------------------------------------------------

def sections(summary, history, profile, lengths, keys, lay, fig_dir: Path, sub: str) -> list[str]:
    """Markdown lines of every section the data calls for (figures written into ``fig_dir``)."""
    swept = list(keys)
    keys = [k for k in keys if k not in collect.paired_keys(summary, keys)]  # e.g. model.forget_bias, set by model
    out: list[Section] = []
    if wants_gradients(summary, history, profile, keys):
        out.append(gradients_section(summary, history, profile, keys, lay, fig_dir, sub))
    if wants_clipping(swept):  # the clipping table shows clip and clip.threshold even when one follows from the other
        out.append(clipping_section(summary, history, [k for k in swept if k in keys or k in CLIP_KEYS], lay,
                                    fig_dir, sub))
    if wants_lengths(lengths):
        out.append(lengths_section(summary, lengths, keys, lay, fig_dir, sub))
    if wants_bits(keys, summary):
        out.append(bits_section(summary, keys, lay, fig_dir, sub))
    return [line for sec in out for line in sec.markdown(fig_dir.name)]
