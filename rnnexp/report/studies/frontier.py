"""The frontier search (``experiments/frontier``; ``hydra/sweeper=frontier``).

Section ``frontier``: per configuration, the largest length at which enough replicas solved and the
smallest at which too few did, read from the sweeper's ``frontier.csv`` in the sweep dir; the
bracket is drawn as an interval over every length tried, coloured by its success rate. Success is
stochastic: the table gives the rates on both sides of each frontier, and names the lengths whose
outcome disagrees with the bracket.
"""
from __future__ import annotations

import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .. import layout
from ._common import Context, Section, grid_figure, legend, md_table, not_drawn

HEADING = "Frontier: the longest length solved"
CSV = "frontier.csv"  # written by the sweeper (hydra_plugins/rnnexp_frontier_sweeper)


def frontier(ctx: Context) -> list[str]:
    """Each configuration's frontier, with the success rates on both sides of it."""
    path = ctx.fig_dir.parent / CSV
    if not path.is_file():
        return not_drawn(HEADING, f"there is no {CSV} in the sweep dir: it is written by a sweep run with "
                                  "hydra/sweeper=frontier")
    df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    return _section(df, ctx).markdown(ctx.fig_dir.name)


def tried(row) -> list[tuple[int, int, int]]:
    """``"8:4/4 16:1/4"`` -> ``[(8, 4, 4), (16, 1, 4)]`` (length, solved, replicas), in the order tried."""
    out = []
    for item in str(row["tried"]).split():
        length, frac = item.split(":")
        a, n = frac.split("/")
        out.append((int(length), int(a), int(n)))
    return out


def _value(v) -> str:
    return "–" if pd.isna(v) else f"{int(v)}"


def sureness(row) -> str:
    """How sure the frontier is, in words, from the rates on its two sides."""
    lo, hi = row["rate_largest_solved"], row["rate_smallest_failed"]
    if pd.isna(lo) or pd.isna(hi):
        return "one-sided: " + ("no length tried failed" if pd.isna(hi) else "no length tried was solved")
    words = "clear" if lo == 1 and hi == 0 else "noisy" if lo - hi <= 0.5 else "fair"
    if isinstance(row.get("contradictions"), str) and row["contradictions"].strip():
        words += f"; disagreeing: {row['contradictions']}"
    return words


def _section(df: pd.DataFrame, ctx: Context) -> Section:
    table = pd.DataFrame({
        "configuration": df["config"],
        "setting": df["key"],
        "largest solved": [f"{_value(v)} ({s})" if not pd.isna(v) else "none" for v, s in
                           zip(df["largest_solved"], df["solved_there"])],
        "smallest failed": [f"{_value(v)} ({s})" if not pd.isna(v) else "none" for v, s in
                            zip(df["smallest_failed"], df["solved_at_failed"])],
        "how sure": [sureness(r) for _, r in df.iterrows()],
        "trainings": df["trainings"],
        "tried (solved/replicas)": df["tried"].str.replace(" ", ", "),
    })
    figure(df, ctx)
    need = df["min_success"].iloc[0]
    notes = [f"{len(df)} configurations, {int(df['trainings'].sum())} trainings in all."]
    if (df["status"] != "bracketed").any():
        notes.append("A frontier with no smallest failed length was solved up to `hydra.sweeper.max`; one with no "
                     "largest solved failed down to `hydra.sweeper.min`: widen the bounds to bracket it.")
    return Section(
        HEADING,
        f"Per configuration, the largest length at which at least {need:g} of the replicas solved and the smallest "
        "at which fewer did, found by doubling the length until it failed, then bisecting (`hydra/sweeper=frontier`; "
        "in brackets: replicas solved / replicas there). *How sure*: clear when every replica solved on one side "
        "and none on the other; noisy when the two rates differ by 0.5 or less (another draw of replicas may move "
        "the frontier); lengths whose outcome disagrees with the bracket (solved above it or failed below it) are "
        "named. Every length tried is in the last column, in the order tried.",
        md_table(table, 2), [("frontier", "Frontier per configuration",
                              "Each row a configuration: dots are the lengths tried, coloured by the fraction of "
                              "replicas that solved; the bar spans the bracket [largest solved, smallest failed] "
                              "in which the frontier lies; an arrow: beyond the lengths tried.")], notes)


def figure(df: pd.DataFrame, ctx: Context) -> None:
    keys = list(dict.fromkeys(df["key"]))
    fig, side, axes = grid_figure(1, len(keys), f"Frontier per configuration\n{ctx.sub}", legend_width=2.6,
                                  h=max(2.0, 0.45 * len(df) + 1.0), sharey=False, sharex=False)
    cmap, norm = colormaps["RdYlGn"], Normalize(0, 1)
    for ax, key in zip(axes[0], keys):
        d = df[df["key"] == key].reset_index(drop=True)
        points = [p for _, r in d.iterrows() for p in tried(r)]
        lengths = [p[0] for p in points]
        log = min(lengths) > 0 and max(lengths) / min(lengths) >= 8
        top = max(lengths)
        for y, (_, r) in enumerate(d.iterrows()):
            lo, hi = r["largest_solved"], r["smallest_failed"]
            left = lo if not pd.isna(lo) else (min(lengths) / 2 if log else 0)
            right = hi if not pd.isna(hi) else top * (1.5 if log else 1.1)
            ax.plot([left, right], [y, y], color="0.3", lw=5, alpha=0.35, solid_capstyle="butt", zorder=1)
            if pd.isna(hi) or pd.isna(lo):  # one-sided: the frontier lies beyond the lengths tried
                tip, tail = (right, left) if pd.isna(hi) else (left, right)
                ax.annotate("", xy=(tip, y), xytext=(tail, y), arrowprops=dict(arrowstyle="->", color="0.3"))
            for length, a, n in tried(r):
                ax.scatter([length], [y], s=36, color=cmap(norm(a / n)), edgecolors="black", linewidths=0.5, zorder=3)
        ax.set_yticks(range(len(d)), [c.replace(", ", "\n") for c in d["config"]], fontsize=8)
        ax.set_ylim(len(d) - 0.5, -0.5)
        if log:
            ax.set_xscale("log", base=2)
        ticks = sorted(set(lengths))
        if len(ticks) <= 14:  # the lengths tried, as integers
            ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=7)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.minorticks_off()
        ax.set_xlabel(f"{key} (log scale)" if log else key, fontsize=9)
        ax.set_title(f"frontier in {key}", fontsize=9)
        ax.grid(axis="x", color="0.9", lw=0.5)
    need = df["min_success"].iloc[0]
    handles = [Line2D([], [], ls="", marker="o", color=cmap(norm(v)), markeredgecolor="black", label=lab)
               for v, lab in ((1.0, "all replicas solved"), (0.75, "3/4 solved"), (0.5, "half solved"),
                              (0.25, "1/4 solved"), (0.0, "none solved"))]
    handles += [Line2D([], [], color="0.3", lw=5, alpha=0.35, label=f"bracket: solved (>= {need:g})\nto failed")]
    legend(side, handles)
    layout.save(fig, ctx.fig_dir / "frontier.png")
