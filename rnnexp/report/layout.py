"""How the report's figures are laid out and drawn: labels, panels, colours, legends, PNGs.

Every figure is laid out by a ``Layout``: colour for one swept key (``hue``), panel columns for
another (``col``), panel rows for the rest (``row``); which key gets which role, and the bounds that
keep a figure readable, are ``roles``'. A key value has the same colour in every figure. A numeric
colour key with more values than a legend can show (``MAX_COLOURS``) is *continuous*: a colour map
over its values and a colour bar, lines without bands; a categorical one keeps ``MAX_COLOURS - 1``
colours and shows the rest as one grey "other". No PNG side exceeds ``files.MAX_SIDE_PX`` (``save``). Figures are drawn on a plain ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot,
no global state, no display needed). The helpers here (``figure``, ``subset``, ``lines``,
``finish``, ...) are shared by the generic figures (``rnnexp.report.figures``) and the study
sections (``rnnexp.report.studies``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter
from . import intervals
from .files import MAX_SIDE_PX, VECTOR, VECTOR_FORMATS, save  # noqa: F401  (figures are saved through layout)


PANEL_W, PANEL_H, DPI = 3.3, 2.5, 100
WRAP = 4  # panels per line when only one key makes panels
N_BOOT = 1000
BOOT_MAX = 100  # more values: the normal interval of the mean (ci95)
MAX_COLOURS = 10  # colours a legend shows readably (the colourblind palette's ten)
MAX_PANEL_VALUES = 8  # a key with more values never makes panels (roles.choose_layout)
MAX_PANELS = 24  # panels of one figure at most (rows x columns; roles.choose_layout)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")  # one per colour: series drawn on top of each other stay visible


def ci95(values) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the mean over replicas (seaborn's ``("ci", 95)``, vectorised).

    seaborn resamples in a Python loop, one mean per resample: seconds per figure for long histories.
    Beyond ``BOOT_MAX`` values (replicas pooled over many runs) the normal interval, mean ± 1.96 SE,
    which the bootstrap's equals there within its own resampling noise, at a thousandth of the cost.
    """
    x = np.asarray(values, float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return (np.nan, np.nan)
    if len(x) > BOOT_MAX:
        half = 1.959963984540054 * x.std(ddof=1) / np.sqrt(len(x))
        return float(x.mean() - half), float(x.mean() + half)
    means = x[np.random.default_rng(0).integers(0, len(x), (N_BOOT, len(x)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


BAND = ci95  # mean with a 95 % bootstrap confidence band over replicas
RATE_BAND = intervals.band  # a fraction of replicas (0/1 values): the Wilson interval
REF_COLOR, CLIP_COLOR = "0.15", "0.35"
DIVERGED_MARK = dict(marker="v", s=34, edgecolors="black", linewidths=0.6, zorder=5, clip_on=False)

# --- labels and layout ---------------------------------------------------------------------------

def fmt(v) -> str:
    """A config value as it is written on the command line."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower()
    if v is None or (isinstance(v, (float, np.floating)) and math.isnan(v)):
        return "null"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


def labels(series: pd.Series) -> pd.Series:
    """``fmt`` of every value, computed once per distinct value (tables of 10^5 rows)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    return pd.Series(np.array([fmt(u) for u in uniques], dtype=object)[codes], index=series.index)


def value_order(series: pd.Series) -> list[str]:
    """Distinct values as labels: numbers ascending, anything else in the order of the runs."""
    vals = series.drop_duplicates().tolist()
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        vals = sorted(vals, key=lambda v: (math.isnan(v), v))
    return list(dict.fromkeys(fmt(v) for v in vals))


@dataclass
class Layout:
    hue: str | None
    col: str | None
    row: list[str]
    hue_order: list[str] = field(default_factory=list)
    col_order: list[str] = field(default_factory=list)
    row_order: list[str] = field(default_factory=list)
    palette: dict[str, tuple] = field(default_factory=dict)
    continuous: bool = False  # a numeric colour key with many values: colour map and colour bar
    norm: Normalize | None = None  # continuous: value -> [0, 1] of the colour map (log for wide positive ranges)
    cmap: ListedColormap | None = None
    lumped: list[str] = field(default_factory=list)  # categorical values beyond MAX_COLOURS - 1: drawn as "other"
    unplaced: list[str] = field(default_factory=list)  # swept keys with no role (too many values for panels)

    @classmethod
    def make(cls, summary: pd.DataFrame, hue: str | None, col: str | None, row: list[str]) -> "Layout":
        lay = cls(hue, col, list(row))
        values = value_order(summary[hue]) if hue else ["all"]
        numeric = hue and is_numeric(summary[hue])
        n = len(values)
        cmap = sns.color_palette("viridis", as_cmap=True)  # ordered values, ordered colours; stop before
        cmap = ListedColormap(cmap(np.linspace(0.0, 0.85, 256)))  # viridis' pale yellow end
        if numeric and n > MAX_COLOURS:
            x = summary[hue].astype(float)
            x = x[np.isfinite(x)]
            wide = len(x) and x.min() > 0 and x.max() / x.min() > 30
            lay.continuous, lay.cmap = True, cmap
            lay.norm = LogNorm(x.min(), x.max()) if wide else Normalize(x.min(), x.max())
            lay.hue_order = values
            by_label = {fmt(v): v for v in summary[hue].drop_duplicates()}
            lay.palette = {h: (tuple(cmap(lay.norm(float(by_label[h])))[:3]) if np.isfinite(float(by_label[h]))
                               else (0.6, 0.6, 0.6)) for h in values}
        else:
            if n > MAX_COLOURS:  # categorical: the first values keep a colour, the rest are one grey "other"
                lay.lumped = values[MAX_COLOURS - 1:]
                values = values[:MAX_COLOURS - 1] + [lay.other]
            lay.hue_order = values
            if numeric and n > 1:
                colors = [tuple(cmap(x)[:3]) for x in np.linspace(0.0, 0.94, n)]
            else:
                cb = sns.color_palette("colorblind", 10)  # reordered: orange and vermillion are not neighbours
                colors = [cb[i] for i in (0, 1, 2, 4, 3, 5, 9, 7, 8, 6)][:len(values)]
            lay.palette = dict(zip(values, colors))
            if lay.lumped:
                lay.palette[lay.other] = (0.6, 0.6, 0.6)
        t = lay.label(summary)
        lay.col_order = value_order(summary[col]) if col else []
        lay.row_order = list(dict.fromkeys(t.sort_values("_row_rank")["_row"])) if row else []
        return lay

    @property
    def other(self) -> str:
        return f"other ({len(self.lumped)} values)"

    def marker(self, hue: str) -> str:
        """The marker of a colour's series (a continuous colour has one marker)."""
        return "o" if self.continuous or hue not in self.hue_order else MARKERS[self.hue_order.index(hue) % len(MARKERS)]

    def label(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with the string columns ``_hue``, ``_col``, ``_row`` the figures group by."""
        df = df.copy()
        df["_hue"] = labels(df[self.hue]) if self.hue else "all"
        if self.lumped:
            df.loc[df["_hue"].isin(self.lumped), "_hue"] = self.other
        df["_col"] = labels(df[self.col]) if self.col else ""
        if self.row:
            parts = {k: labels(df[k]) for k in self.row}
            df["_row"] = [", ".join(vals) for vals in zip(*(f"{k}=" + parts[k] for k in self.row))]
            # rows sort key by key, each key in its own order (numbers ascending)
            orders = {k: {v: i for i, v in enumerate(value_order(df[k]))} for k in self.row}
            df["_row_rank"] = list(zip(*(parts[k].map(orders[k]) for k in self.row)))
        else:
            df["_row"], df["_row_rank"] = "", [()] * len(df)
        return df

    def describe(self) -> str:
        parts = [f"colour: {self.hue}" + (" (continuous)" if self.continuous else
                                          f" ({len(self.lumped)} values as 'other')" if self.lumped else "")
                 if self.hue else None, f"columns: {self.col}" if self.col else None,
                 f"rows: {', '.join(self.row)}" if self.row else None,
                 f"pooled in the panels (too many values): {', '.join(self.unplaced)}" if self.unplaced else None]
        return "; ".join(p for p in parts if p)


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def panels(lay: Layout, extra: list[tuple[str, object]] | None = None):
    """Panel specs ``(title, row_label, col_label, extra_value)`` and the grid shape."""
    extra = extra or [("", None)]
    rows = [(e, r) for e in extra for r in (lay.row_order or [""])]
    cols = lay.col_order or [""]
    def title(*parts):
        parts = [x for x in parts if x]
        line = " | ".join(parts)
        return line if len(line) <= 34 or len(parts) < 2 else parts[0] + "\n" + " | ".join(parts[1:])

    specs = [(title(e[0], r, f"{lay.col}={c}" if lay.col else ""), r, c, e[1]) for e, r in rows for c in cols]
    if len(rows) == 1 and len(cols) > WRAP:
        return specs, (math.ceil(len(cols) / WRAP), WRAP)
    return specs, (len(rows), len(cols))


def figure(lay, title, extra=None, sharey=True, legend_width=2.1):
    specs, (nr, nc) = panels(lay, extra)
    main_w = max(PANEL_W * nc, 0.075 * max(map(len, title.splitlines())))  # the title fits above the panels
    fig = Figure(figsize=(main_w + legend_width, PANEL_H * nr + 0.7), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    # panels and title on the left, the legend in its own strip on the right: they never overlap
    main, side = fig.subfigures(1, 2, width_ratios=[main_w, legend_width], wspace=0)
    axes = main.subplots(nr, nc, squeeze=False, sharex=True, sharey=sharey).ravel()
    for ax in axes[len(specs):]:
        main.delaxes(ax)
    main.suptitle(title, fontsize=10)
    fig.side = side
    return fig, list(zip(axes, specs))


def subset(df: pd.DataFrame, spec, extra_col: str | None = None) -> pd.DataFrame:
    _, r, c, e = spec
    m = (df["_row"] == r) & (df["_col"] == c)
    if extra_col is not None:
        m &= df[extra_col] == e
    return df[m]


def empty(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8, color="0.4", wrap=True)


def filled(axes, df: pd.DataFrame, extra_col: str | None = None):
    """``(ax, spec, rows)`` for every panel that has rows of ``df``; an empty panel says so instead."""
    for ax, spec in axes:
        sub = subset(df, spec, extra_col)
        if sub.empty:
            empty(ax, "no run with this combination")
            continue
        yield ax, spec, sub


def hue_handles(lay: Layout, markers: bool = False) -> list[Line2D]:
    if not lay.hue or lay.continuous:  # a continuous colour: the colour bar (colour_bar)
        return []
    return [Line2D([], [], color=lay.palette[v], lw=2, label=v, marker=lay.marker(v) if markers else None, ms=5)
            for v in lay.hue_order]


def colour_bar(side, lay: Layout) -> None:
    """A continuous colour's bar, in the top half of the legend strip."""
    cax = side.add_axes((0.06, 0.56, 0.07, 0.36))
    bar = side.colorbar(ScalarMappable(norm=lay.norm, cmap=lay.cmap), cax=cax)
    bar.set_label(lay.hue, fontsize=8)
    cax.tick_params(labelsize=7)
    plain_numbers(cax.yaxis)


def plain_numbers(axis) -> None:
    """Tick labels as numbers are written (``0.01``, ``100``), not powers (``10^-2``), on a log axis too."""
    if axis.get_scale() == "log":
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def finish(fig, axes_specs, lay, path: Path, extra_handles=(), hue_title=None):
    for ax, spec in axes_specs:
        note = getattr(ax, "diverged_note", "")
        ax.set_title(" | ".join(x for x in (spec[0], note) if x), fontsize=9)
        ax.tick_params(labelsize=8)
        ax.xaxis.label.set_size(9)
        ax.yaxis.label.set_size(9)
        grid = ax.get_subplotspec()
        if not grid.is_first_col():  # axes are shared: one label per row and column is enough
            ax.set_ylabel("")
        if not grid.is_last_row():
            ax.set_xlabel("")
    handles = hue_handles(lay, markers=getattr(fig, "hue_markers", False))
    if handles:
        handles = [Line2D([], [], ls="", label=hue_title or lay.hue)] + handles  # the key, as a heading
    handles += list(extra_handles)
    if lay.continuous:  # no band per value: say what the lines are instead
        handles = [h for h in handles if not h.get_label().startswith("95 % CI")]
        if getattr(fig, "thin_lines", False):
            handles.append(Line2D([], [], color="0.4", lw=0.8, label="one line per value:\nmean over replicas"))
        colour_bar(fig.side, lay)
    if handles:
        where = dict(loc="upper left", bbox_to_anchor=(0, 0.5)) if lay.continuous else dict(loc="center left")
        fig.side.legend(handles=handles, fontsize=8, frameon=False, borderaxespad=0, **where)
    save(fig, path)
    return fig


def mark_diverged(ax, summary_sub: pd.DataFrame, lay: Layout) -> bool:
    """Triangles on the top edge at each diverged replica's step; a count in the corner."""
    d = summary_sub[summary_sub["diverged"].astype(bool)]
    if d.empty:
        return False
    ax.scatter(d["diverged_step"], np.full(len(d), 1.0), transform=ax.get_xaxis_transform(),
               c=[lay.palette.get(h, "0.6") for h in d["_hue"]], **DIVERGED_MARK)
    ax.diverged_note = f"{len(d)}/{len(summary_sub)} replicas diverged"  # shown in the panel title
    return True


DIVERGED_HANDLE = Line2D([], [], ls="", marker="v", color="0.6", markeredgecolor="black",
                         label="a replica diverged\n(at this step)")


OVERFLOW = 1e100  # beyond this a value is an overflow in all but name: its mean and axis limits overflow too
NONFINITE_HANDLE = Line2D([], [], ls="", marker="x", color="0.3", markeredgewidth=1.2,
                          label=f"a replica's value is NaN, inf\nor > {OVERFLOW:.0e} (overflow): left\nout of the mean at this step")


def overflowed(values) -> np.ndarray:
    """Values the figures cannot average or scale: NaN, inf, or beyond ``OVERFLOW``."""
    v = np.asarray(values, float)
    with np.errstate(invalid="ignore"):
        return ~(np.abs(v) <= OVERFLOW)


def lines(ax, df, x, y, lay, band=BAND, **kw) -> bool:
    """Mean and band per colour; steps where a replica's value is not finite get an x near the top.

    Few x values: a marker per colour (``Layout.marker``), so that equal curves stay visible. A
    continuous colour: one thin line per value, no band (``_thin_lines``). Returns whether any
    value was not finite.
    """
    vals = df[y].astype(float)
    bad = pd.Series(overflowed(vals), index=df.index)
    if (~bad).any() and lay.continuous:
        _thin_lines(ax, df.assign(**{y: vals.where(~bad)}), x, y, lay, kw)
    elif (~bad).any():
        present = set(df["_hue"])
        hues = [h for h in lay.hue_order if h in present]
        if df[x].nunique() <= 25 and "style" not in kw:  # a lone finite point still shows; a marker per colour
            size = kw.pop("markersize", 3)
            kw.pop("marker", None)
            kw = {**kw, "style": "_hue", "style_order": hues, "markers": {h: lay.marker(h) for h in hues},
                  "dashes": False, "markersize": size + 1, "markeredgewidth": 0}
            ax.get_figure(root=True).hue_markers = True
        sns.lineplot(data=df.assign(**{y: vals.where(~bad)}), x=x, y=y, hue="_hue", palette=lay.palette,
                     hue_order=hues, errorbar=band, legend=False, ax=ax, **kw)
    else:
        empty(ax, "no value to plot: every replica's\nvalue overflowed here (x)")
    if bad.any():
        b = df[bad].drop_duplicates(["_hue", x])
        ax.scatter(b[x], np.full(len(b), 0.93), transform=ax.get_xaxis_transform(), marker="x", s=24,
                   linewidths=1.2, c=[lay.palette.get(h, "0.6") for h in b["_hue"]], zorder=5, clip_on=False)
    return bool(bad.any())


def _thin_lines(ax, df, x, y, lay, kw) -> None:
    """The mean over replicas per colour value as one thin line (a band per value would be unreadable);
    one ``LineCollection`` for all of them (hundreds of ``plot`` calls take seconds)."""
    style = kw.get("style")
    dashes = kw.get("dashes") or {}
    keys = ["_hue", *([style] if style else [])]
    means = df.groupby([*keys, x], sort=True)[y].mean()
    segments, colours, styles = [], [], []
    rank = {h: i for i, h in enumerate(lay.hue_order)}  # drawn in the key's order: the largest value on top
    for k, s in sorted(means.groupby(level=list(range(len(keys)))),
                       key=lambda g: rank.get(g[0][0] if isinstance(g[0], tuple) else g[0], -1)):
        k = k if isinstance(k, tuple) else (k,)
        segments.append(np.column_stack([s.index.get_level_values(-1).to_numpy(float), s.to_numpy(float)]))
        colours.append(lay.palette.get(k[0], (0.6, 0.6, 0.6)))
        styles.append((0, dashes[k[1]]) if style and dashes.get(k[1]) else "solid")
    ax.add_collection(LineCollection(segments, colors=colours, linestyles=styles, linewidths=0.8, alpha=0.8))
    ax.autoscale_view()
    ax.get_figure(root=True).thin_lines = True


def step_xlim(axes, df) -> None:
    """Every training-step axis spans the whole training, even where values stop being finite."""
    top = float(df["step"].max()) if len(df) else 1.0
    axes[0][0].set_xlim(-0.03 * top - 0.5, 1.03 * top + 0.5)  # axes share x


def log_scale(axes) -> None:
    """Log y axes, set only after every panel is drawn: seaborn averages in the axis' scale, so a
    panel drawn on an already-log (shared) axis would show geometric means, the others arithmetic."""
    for ax, _ in axes:
        ax.set_yscale("log", nonpositive="mask")


def log_if_wide(ax, values: pd.Series, ratio=30.0) -> None:
    v = values[~overflowed(values) & (values > 0)]
    if len(v) and v.max() / v.min() > ratio:
        ax.set_yscale("log", nonpositive="mask")
