"""What the study sections share: the tables they read (``Context``), configurations in the report's
order, markdown tables, figure frames and legends."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

from .. import roles
from ..layout import DPI, PANEL_H, PANEL_W, Layout, fmt, value_order


@dataclass
class Context:
    """Everything a section may read: the combined tables, the swept keys, the report's layout."""

    summary: pd.DataFrame
    history: pd.DataFrame
    profile: pd.DataFrame | None
    lengths: pd.DataFrame | None
    keys: list[str]  # every swept key, those set by another key's value (``roles.paired``) included
    lay: Layout
    fig_dir: Path  # figures go here, CSV tables into its parent (the report's folder)
    sub: str  # the figures' subtitle: what was swept, replicas per run

    @property
    def unpaired(self) -> list[str]:
        """The swept keys without those set by another key's value (e.g. model.forget_bias by model)."""
        return [k for k in self.keys if k not in roles.paired(self.summary, self.keys)]


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


def not_drawn(heading: str, why: str) -> list[str]:
    """A declared section the tables cannot fill: its heading and why (never a silent gap)."""
    return [f"## {heading}", "", f"Not drawn: {why}.", ""]


# --- configurations and tables -------------------------------------------------------------------

def config_groups(summary: pd.DataFrame, keys: list[str]) -> list[tuple[dict, pd.DataFrame]]:
    """(values, replica rows) per configuration, in the report's value order (numbers ascending)."""
    if not keys:
        return [({}, summary)]
    rank = {k: {v: i for i, v in enumerate(value_order(summary[k]))} for k in keys}
    groups = [(dict(zip(keys, v if isinstance(v, tuple) else (v,))), g)
              for v, g in summary.groupby(keys, dropna=False, sort=False)]
    return sorted(groups, key=lambda x: tuple(rank[k][fmt(x[0][k])] for k in keys))


def configurations(summary: pd.DataFrame, keys: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """``(label, replica rows)`` per configuration in the report's value order; label ``k=v, ...``."""
    keys = [k for k in keys if k not in roles.paired(summary, keys)]  # in the report's table
    if not keys:
        return [("all runs", summary)]
    return [(", ".join(f"{k}={fmt(v)}" for k, v in vals.items()), g) for vals, g in config_groups(summary, keys)]


def md_table(df: pd.DataFrame, right_from: int = 1) -> str:
    """A markdown table of ``df``'s cells as they are (strings); columns from ``right_from`` right-aligned."""
    head = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---" if i < right_from else "---:" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def outcome(summary: pd.DataFrame) -> pd.Series:
    """How each replica's training ended: solved, diverged or never (solved)."""
    return pd.Series(np.where(summary["solved"].astype(bool), "solved",
                              np.where(summary["diverged"].astype(bool), "diverged", "never")), index=summary.index)


def sci(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:.2g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.1e}"


def span(x: pd.Series, f="{:.3f}") -> str:
    """Mean [min–max] of the values (the one value if there is one)."""
    x = x.dropna()
    if not len(x):
        return "n/a"
    if len(x) == 1:
        return f.format(x.iloc[0])
    return f"{f.format(x.mean())} [{f.format(x.min())}–{f.format(x.max())}]"


def short(label: str) -> str:
    """A configuration label on several lines, for a tick label."""
    return label.replace(", ", "\n")


def wrap(text: str, width: int = 80) -> str:
    return "\n".join(textwrap.fill(line, width) for line in text.splitlines())


# --- figure frames, colours, legends -------------------------------------------------------------

def bare_figure(w: float, h: float, ncols: int = 1, legend_width: float = 2.4):
    """A figure with a main area of ``ncols`` panels of ``w`` x ``h`` and a legend strip on the right."""
    fig = Figure(figsize=(w * ncols + legend_width, h), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    main, side = fig.subfigures(1, 2, width_ratios=[w * ncols, legend_width], wspace=0)
    return fig, main, side


def grid_figure(nr: int, nc: int, title: str, legend_width: float = 2.3, w=PANEL_W, h=PANEL_H,
                sharey=True, sharex=True):
    """An ``nr`` x ``nc`` grid of panels under ``title``, the legend strip on the right."""
    main_w = max(w * nc, 0.075 * max(map(len, title.splitlines())))  # the title fits above the panels
    fig = Figure(figsize=(main_w + legend_width, h * nr + 0.8), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    main, side = fig.subfigures(1, 2, width_ratios=[main_w, legend_width], wspace=0)
    axes = main.subplots(nr, nc, squeeze=False, sharex=sharex, sharey=sharey)
    main.suptitle(title, fontsize=10)
    return fig, side, axes


def legend(side, handles):
    side.legend(handles=handles, loc="center left", fontsize=8, frameon=False, borderaxespad=0)


def palette(labels: list[str]) -> dict[str, tuple]:
    cb = sns.color_palette("colorblind", 10)
    cols = [cb[i] for i in (0, 1, 2, 4, 3, 5, 9, 7, 8, 6)]
    return {lab: cols[i % len(cols)] for i, lab in enumerate(labels)}


def colour_layout(summary: pd.DataFrame, lay: Layout, key: str | None) -> Layout:
    """A layout colouring by ``key``: the report's own palette when ``key`` is its colour key."""
    if key is not None and key == lay.hue:
        return lay
    return Layout.make(summary, key, None, [])


def colour_handles(col_lay: Layout, lines: bool = False, markers: bool = True) -> list[Line2D]:
    """The colour key's legend entries, a marker each (``lines``: with a line; ``markers=False``: circles, where
    the marker means something else); a continuous colour key
    (hundreds of values) gets one entry saying how its colours run, never one per value."""
    if not col_lay.hue:
        return []
    if col_lay.continuous:
        lo, hi = col_lay.hue_order[0], col_lay.hue_order[-1]
        return [Line2D([], [], ls="", label=f"{col_lay.hue}: colour from\n{lo} (dark) to {hi} (light)")]
    return [Line2D([], [], ls="", label=col_lay.hue)] + [
        Line2D([], [], ls="-" if lines else "", lw=1.5, marker=col_lay.marker(v) if markers else "o", ms=4.5,
               color=col_lay.palette[v],
               markeredgecolor="black", markeredgewidth=0.4, label=v) for v in col_lay.hue_order]


def log2_x(ax, ticks=None) -> None:
    """Log x axis labelled with plain numbers: at ``ticks`` if given, else at powers of 2."""
    ax.set_xscale("log")
    if ticks is not None:
        ax.set_xticks(list(ticks))
    else:
        ax.xaxis.set_major_locator(LogLocator(base=2.0, numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
