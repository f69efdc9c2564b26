"""Build a sweep's report: ``python -m rnnexp.report DIR [--hue KEY] [--col KEY] [--row KEY ...] [--sections a,b]``.

Writes ``DIR/report.md`` (summary table, figures, notes), ``DIR/report_summary.csv`` (the summary
table's numbers) and PNG figures in ``DIR/figures/``, all from the combined tables
(``DIR/{summary,history,profile,positions}.csv``; collected first when missing or older than a run).
DIR may also be a single run's folder. Every multirun ends with this report (``rnnexp.runs.callbacks``).

Every sweep gets the generic report; study sections (``rnnexp.report.studies``) only when declared:
the sweep's ``report.sections``, read from what Hydra recorded of the composed config
(``DIR/multirun.yaml`` for a sweep, ``DIR/.hydra/config.yaml`` for a single run), so a report
rebuilt later shows the same sections; ``--sections`` replaces them.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..runs import combine as collect, results  # outside the report: the runs' folders and tables, how they combine
from . import figures, layout, studies
from .studies._common import Context

FIGURES = "figures"
NEEDED = ("summary", "history", "profile", "positions")  # the combined tables the report reads
OPTIONAL = ("lengths",)  # read when present: the final models scored at other lengths (eval_bits)
SUMMARY_CSV = "report_summary.csv"
# columns the combined tables add beside each run's config and measurements
NOT_CONFIG = ("job",)


@dataclass
class Tables:
    summary: pd.DataFrame
    history: pd.DataFrame
    profile: pd.DataFrame
    positions: pd.DataFrame
    config_columns: list[str]
    lengths: pd.DataFrame | None = None


def _stale(root: Path, runs: list[Path]) -> bool:
    paths = [root / f"{n}.csv" for n in NEEDED]
    if not all(p.is_file() for p in paths):
        return True
    built = min(p.stat().st_mtime for p in paths)
    return any((r / results.MARKER).stat().st_mtime > built for r in runs)


def load(root: Path, quiet: bool = True) -> Tables:
    """The combined tables of ``root`` (a sweep dir or a run); collects them when needed."""
    root = Path(root)
    runs = collect.find_runs(root)
    if (root / results.MARKER).exists() or (runs and _stale(root, runs)):
        tables = collect.collect(root, quiet=quiet)
    elif all((root / f"{n}.csv").is_file() for n in NEEDED):
        tables = {n: pd.read_csv(root / f"{n}.csv") for n in (*NEEDED, *OPTIONAL) if (root / f"{n}.csv").is_file()}
    else:
        raise FileNotFoundError(f"no combined tables and no completed runs in {root}")
    return Tables(**{n: tables[n] for n in NEEDED}, config_columns=config_columns(tables["summary"], runs),
                  lengths=tables.get("lengths"))


def from_collected(root: Path, tables: dict[str, pd.DataFrame]) -> Tables:
    """``Tables`` from what ``collect.collect`` returned (no second read of the files)."""
    return Tables(**{n: tables[n] for n in NEEDED},
                  config_columns=config_columns(tables["summary"], collect.find_runs(Path(root))),
                  lengths=tables.get("lengths"))


def config_columns(summary: pd.DataFrame, runs: list[Path]) -> list[str]:
    """The config columns, from the runs' ``run.json``; from the table's column order if there are none."""
    cols = list(summary.attrs.get("config_columns") or [])
    if not cols:
        for r in runs:
            try:
                cols += [c for c in results.read_meta(r)["config_columns"] if c not in cols]
            except results.CorruptRun:  # not collected either (named when it was)
                continue
    if not cols:  # config columns come first in every table, before "replica"
        names = list(summary.columns)
        cols = names[: names.index("replica")] if "replica" in names else []
    return [c for c in cols if c in summary.columns and c not in NOT_CONFIG]


def choose_layout(summary: pd.DataFrame, keys: list[str], hue=None, col=None, row=None) -> layout.Layout:
    """Colour, columns, rows: what the user asked for, the rest from the swept keys.

    Colour goes to the swept key with most values, columns to the next, rows to the rest; ``order``
    (where the msb reference lines apply) is preferred as a panel key over colour. A key whose values
    follow one-to-one from an earlier key's (``collect.paired_keys``) gets no role of its own.
    """
    chosen = [k for k in (hue, col, *(row or [])) if k]
    for k in chosen:
        if k not in summary.columns:
            raise ValueError(f"{k}: not a column of the summary table; swept keys: {', '.join(keys) or 'none'}")
    if len(set(chosen)) < len(chosen):
        raise ValueError(f"each key may be used once: --hue {hue} --col {col} --row {' '.join(row or [])}")
    paired = collect.paired_keys(summary, keys)  # e.g. bptt.truncate set by model: no panel or colour of its own
    rest = sorted((k for k in keys if k not in chosen and k not in paired),
                  key=lambda k: (-summary[k].nunique(dropna=False), keys.index(k)))
    if hue is None and "order" in rest and len(rest) > 1 and rest[0] == "order":
        rest[0], rest[1] = rest[1], rest[0]
    if hue is None and rest:
        hue = rest.pop(0)
    if col is None and rest:
        col = rest.pop(0)
    return layout.Layout.make(summary, hue, col, list(row or []) + rest)


# the tasks' result columns shown in the summary table (README: Results): addition's per-bit and
# whole-sum accuracy; another task's loss and measures
MEASURES = {"bit_acc": "per-bit acc", "sum_acc": "whole-sum acc", "eval_loss": "eval loss", "acc": "acc",
            "exact": "exact", "copy_acc": "copied-symbol acc"}


def measures(summary: pd.DataFrame) -> list[str]:
    """The measure columns of ``summary``'s tasks (eval_loss: only beside a task other than addition)."""
    other = any(c in summary for c in ("acc", "exact", "copy_acc"))
    return [c for c in MEASURES if c in summary and (c != "eval_loss" or other)]


def summary_table(summary: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per configuration, every number computed from the summary table's replica rows."""
    rows = []
    groups = summary.groupby(keys, dropna=False, sort=False) if keys else [((), summary)]
    for vals, g in groups:
        vals = vals if isinstance(vals, tuple) else (vals,)
        solved = g["solved"].astype(bool)
        rows.append({
            **dict(zip(keys, vals)),
            "replicas": len(g),
            "solved": int(solved.sum()),
            "success_rate": float(solved.mean()),
            **{f"{c}_{f}": getattr(g[c], f)() for c in measures(summary) for f in ("mean", "std")},
            "median_steps_to_solve": g.loc[solved, "steps_to_solve"].median() if solved.any() else np.nan,
            "diverged": int(g["diverged"].astype(bool).sum()),
            "wall_time": g.groupby("job")["wall_time"].first().sum(),  # one training per job
        })
    out = pd.DataFrame(rows)
    if keys:
        rank = {k: {v: i for i, v in enumerate(layout.value_order(summary[k]))} for k in keys}
        out = out.iloc[sorted(range(len(out)), key=lambda i: tuple(rank[k][layout.fmt(out[k].iloc[i])] for k in keys))]
    return out.reset_index(drop=True)


def _pm(mean, std) -> str:
    if np.isnan(mean):
        return "n/a"
    return f"{mean:.4f}" if np.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def markdown_table(table: pd.DataFrame, keys: list[str]) -> str:
    shown = [c for c in MEASURES if f"{c}_mean" in table]
    head = [*keys, "replicas", "solved", "success rate", *(MEASURES[c] for c in shown),
            "median steps to solve", "diverged", "wall time (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i < len(keys) else "---:" for i in range(len(head))) + "|"]
    for r in table.to_dict("records"):  # per row, each value keeps its column's type
        cells = [layout.fmt(r[k]) for k in keys] + [
            f"{r['replicas']:d}", f"{r['solved']:d}/{r['replicas']:d}", f"{100 * r['success_rate']:.0f} %",
            *(_pm(r[f"{c}_mean"], r[f"{c}_std"]) for c in shown),
            "never" if np.isnan(r["median_steps_to_solve"]) else f"{r['median_steps_to_solve']:g}",
            f"{r['diverged']:d}", f"{r['wall_time']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def recorded_sections(root: Path) -> list[str]:
    """The study sections the sweep (or run) in ``root`` declared: ``report.sections`` of the config
    Hydra recorded (the sweep's ``multirun.yaml``; a run's ``.hydra/config.yaml``; else the first
    job's, for a sweeper that writes no ``multirun.yaml``); none when it recorded none."""
    from omegaconf import OmegaConf

    root = Path(root)
    jobs = [r / ".hydra" / "config.yaml" for r in collect.find_runs(root)[:1]]
    for path in (root / "multirun.yaml", root / ".hydra" / "config.yaml", *jobs):
        if path.is_file():
            sections = OmegaConf.select(OmegaConf.load(path), "report.sections", default=None)
            return [str(s) for s in sections] if sections is not None else []
    return []


def check_sections(names: list[str], source: str) -> list[str]:
    """``names`` without repeats; ``ValueError`` (one line) naming the first unknown one and the allowed ones."""
    for name in names:
        if name not in studies.SECTIONS:
            raise ValueError(f"{source}: there is no report section {name!r}; allowed: {', '.join(studies.names())}")
    return list(dict.fromkeys(names))


def _command(root: Path) -> str | None:
    """The command line that made the runs, from Hydra's saved overrides."""
    from omegaconf import OmegaConf

    try:
        if (root / "multirun.yaml").is_file():
            task = OmegaConf.load(root / "multirun.yaml").hydra.overrides.task
            return "python -m rnnexp -m " + " ".join(task)
        if (root / ".hydra" / "overrides.yaml").is_file():
            return "python -m rnnexp " + " ".join(OmegaConf.load(root / ".hydra" / "overrides.yaml"))
    except Exception:  # a hand-edited or foreign file: the report does without the command
        return None
    return None


def _notes(t: Tables, table: pd.DataFrame, keys: list[str]) -> list[str]:
    s = t.summary
    notes = []
    n_div = int(s["diverged"].astype(bool).sum())
    if n_div:
        notes.append(f"{n_div} of {len(s)} replicas diverged (loss or weights became NaN/inf). They are kept "
                     "in every figure and statistic at their last finite weights; triangles on the top edge "
                     "of the training curves mark the step at which each one diverged.")
    if not s["solved"].astype(bool).any():
        what = "100 % whole-sum accuracy" if "acc" not in s else "its task's solved criterion"
        notes.append(f"No replica reached {what}: the steps-to-solve figure shows every "
                     "replica on its 'never' line.")
    if "order" in s and (s["order"] == "msb").any():
        msb = s[s["order"] == "msb"]
        if "task.name" in msb:
            msb = msb[msb["task.name"] == "addition"]
        delays = msb["task.delay"].fillna(0).astype(int) if "task.delay" in msb else pd.Series(0, index=msb.index)
        limit = pd.Series([figures.causal_bit_limits(b, "msb", d).mean() for b, d in zip(msb["bits"], delays)],
                          index=msb.index)
        over = msb[msb["bit_acc"] > limit + 1e-12]
        pairs = sorted(set(zip(msb["bits"], delays)))
        lim = ", ".join(f"{figures.causal_bit_limits(b, 'msb', d).mean():.4f} per bit and "
                        f"{figures.causal_sum_limit(b, 'msb', d):.4f} whole-sum "
                        f"for {b} bits" + (f" (task.delay={d})" if d else "") for b, d in pairs)
        note = f"msb order: a causal model can reach at most {lim} (dashed lines); a causal model above them would point to a bug"
        if len(over):
            where = []
            for vals, g in over.groupby(keys, sort=False, dropna=False) if keys else [((), over)]:
                vals = vals if isinstance(vals, tuple) else (vals,)
                n = (msb[keys].map(layout.fmt) == [layout.fmt(v) for v in vals]).all(axis=1).sum() if keys else len(msb)
                where.append(", ".join(f"{k}={layout.fmt(v)}" for k, v in zip(keys, vals)) + f"{': ' if keys else ''}{len(g)}/{n}")
            note += (". **Replicas above the per-bit limit** (" + "; ".join(where) + " replicas): expected only for "
                     "a model that is not causal, such as a bidirectional one.")
        notes.append(note if len(over) else note + ".")
    return notes


def _title(t: Tables, keys: list[str]) -> str:
    s = t.summary
    if not keys:
        return "single configuration"
    paired = collect.paired_keys(s, keys)
    return "sweep over " + " × ".join(f"{k} ({', '.join(layout.value_order(s[k]))})" for k in keys if k not in paired) \
        + (f" (+ {', '.join(paired)})" if paired else "")  # keys set by another key's value


def build(root: Path, tables: Tables | None = None, hue: str | None = None, col: str | None = None,
          row: list[str] | None = None, sections: list[str] | None = None) -> Path:
    """Write ``report.md``, ``report_summary.csv`` and ``figures/*.png`` into ``root``; returns report.md.

    ``sections``: the study sections to add, in this order; ``None``: those the sweep recorded.
    """
    root = Path(root)
    sections = check_sections(recorded_sections(root) if sections is None else sections,
                              "--sections" if sections is not None else f"report.sections recorded in {root}")
    t = tables or load(root)
    keys = collect.swept_keys(t.summary, t.config_columns)
    lay = choose_layout(t.summary, keys, hue, col, row)
    table = summary_table(t.summary, keys)
    results.write_table(table, root / SUMMARY_CSV)

    fig_dir = root / FIGURES
    fig_dir.mkdir(exist_ok=True)
    s, h, p, pos = (lay.label(d) for d in (t.summary, t.history, t.profile, t.positions))
    what = _title(t, keys)
    reps = t.summary.groupby("job").size()
    per = f"{reps.iloc[0]} replicas" if reps.nunique() == 1 else f"{reps.min()}-{reps.max()} replicas"
    sub = f"{what}, {per} per run"
    made: dict[str, tuple[str, str]] = {}

    def fig(name, caption, fn, *args, title):
        fn(*args, lay, fig_dir / f"{name}.png", f"{title}\n{sub}")
        made[name] = (title, caption)

    if "eval_loss" in h:
        fig("convergence_loss", "Loss per output bit on the evaluation set (every problem for bits <= 9, "
            "else a fixed held-out sample), mean and 95 % band over replicas, log scale.", figures.convergence, h, s, "eval_loss", title="Convergence: loss")
    else:  # tables written before the evaluation loss was kept (rnnexp.runs.results.RENAMED)
        fig("convergence_loss", "Training loss, mean over the steps since the previous evaluation (these "
            "tables carry no evaluation loss), mean and 95 % band over replicas, log scale.",
            figures.convergence, h, s, "train_loss", title="Convergence: training loss")
    for metric, caption, title in (  # the measures of the sweep's tasks (README: Results)
            ("sum_acc", "Fraction of problems whose whole sum is exactly right.", "Convergence: whole-sum accuracy"),
            ("bit_acc", "Fraction of correct output bits.", "Convergence: per-bit accuracy"),
            ("acc", "Accuracy per target (adding: answers within 0.04 of the sum).", "Convergence: accuracy per target"),
            ("exact", "Fraction of sequences right at every step.", "Convergence: exact sequences"),
            ("copy_acc", "Fraction of the copied symbols that are right (copy).", "Convergence: copied symbols")):
        if metric in h and h[metric].notna().any():
            fig(f"convergence_{metric}", caption, figures.convergence, h, s, metric, title=title)
    addition = "bit_acc" in s and s["bit_acc"].notna().any()
    for metric, title, caption in (
            ("success", "Success rate: replicas reaching 100 % whole-sum accuracy" if "acc" not in s else
             "Success rate: replicas meeting their task's solved criterion",
             "Each cell: replicas that reached 100 % whole-sum accuracy at some evaluation / replicas." if "acc" not in s
             else "Each cell: replicas that met their task's solved criterion (README: Tasks) at some evaluation / replicas."),
            ("bit_acc" if addition else "acc", "Final per-bit accuracy" if addition else "Final accuracy per target",
             "Each cell: the accuracy at the end of training, mean over "
             "replicas (diverged ones included at their last finite weights).")):
        if metric != "success" and not (metric in s and s[metric].notna().any()):
            continue
        figures.outcome_heatmap(s, lay, metric, fig_dir / f"outcome_{metric}.png", f"{title}\n{sub}")
        made[f"outcome_{metric}"] = (title, caption)
    fig("steps_to_solve", "Each point is a replica: the first evaluation step at which it got every evaluation problem "
        "right (resolution: the evaluation interval). Replicas that never did sit on the 'never' line; "
        "the black bar is the median over the ones that solved.", figures.steps_to_solve, s,
        title="Steps to solve")
    if len(pos):  # addition's bit positions (another task writes an empty table)
        fig("positions", "Accuracy at each bit position of the sum at the end of training.",
            figures.positions, pos, title="Final accuracy per bit position")
    if t.lengths is not None and len(t.lengths) and t.lengths.groupby("job")["bits_scored"].nunique().max() > 1:
        fig("lengths", "The final models scored on sums of other lengths (`eval_bits`) without retraining: a "
            "model that learned the carry rule keeps its accuracy on longer sums.", figures.lengths,
            lay.label(t.lengths), title="Length generalisation: whole-sum accuracy by length")
    fig("gradient_profile", "How the last step's error signal shrinks (vanishing) or grows (exploding) going "
        "back in time: the norm of dL_T/dh_t for t = T ... 1, on one batch, at the first and the last "
        "evaluation. At step 0 runs that differ only in how they train (lr, optimizer, clipping) share their "
        "weights, so their curves coincide.", figures.gradient_profile, p, title="Vanishing / exploding gradients: ||dL_T / dh_t||")
    fig("grad_norm", "Global gradient norm (all parameters) measured before clipping: the largest value in "
        "each window between evaluations.", figures.grad_norm, h, s, title="Gradient norm during training")
    fig("sigma_max", "Largest singular value of the recurrent matrix Whh. Below 1/gamma (gamma bounds the "
        "activation's derivative) long-range gradients must vanish; above it they can explode "
        "(Pascanu et al., 2013).", figures.sigma_max, h, s, title="Largest singular value of Whh")

    ctx = Context(t.summary, t.history, t.profile, t.lengths, keys, lay, fig_dir, sub)
    declared = [line for name in sections for line in studies.get(name)(ctx)]
    text = _markdown(root, t, keys, lay, table, made, declared)
    results.atomic_write_text(root / "report.md", text)
    return root / "report.md"


def _markdown(root, t: Tables, keys, lay, table, made, declared=()) -> str:
    s = t.summary
    fixed = [c for c in t.config_columns if c not in keys]
    cmd = _command(root)
    out = [f"# Report: {_title(t, keys)}", "",
           f"{s['job'].nunique()} run(s), {len(s)} replicas; built {datetime.datetime.now():%Y-%m-%d %H:%M}"
           f" by `python -m rnnexp.report {root}`" + (f" ({lay.describe()})." if lay.describe() else "."), ""]
    if cmd:
        out += ["Command:", "", f"    {cmd}", ""]
    if fixed:
        out += ["Settings shared by every run: " + ", ".join(f"`{c}={layout.fmt(s[c].iloc[0])}`" for c in fixed), ""]
    out += ["## Summary", "", markdown_table(table, keys), "",
            "solved: replicas that reached 100 % whole-sum accuracy on the evaluation set at some evaluation; "
            "accuracies: at the end of training, mean ± std over replicas (diverged replicas included); "
            "median steps to solve: over the replicas that solved; wall time: training time of the run(s).",
            f"The numbers are in `{SUMMARY_CSV}`.", ""]
    notes = _notes(t, table, keys)
    if notes:
        out += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    sections = {"Convergence": ["convergence_loss", "convergence_sum_acc", "convergence_bit_acc", "convergence_acc",
                                "convergence_exact", "convergence_copy_acc"],
                "Outcomes": ["outcome_success", "outcome_bit_acc", "outcome_acc", "steps_to_solve", "positions", "lengths"],
                "Gradients": ["gradient_profile", "grad_norm", "sigma_max"]}
    for sec, names in sections.items():
        out += [f"## {sec}", ""]
        for n in (n for n in names if n in made):
            title, caption = made[n]
            out += [f"### {title}", "", f"![{title}]({FIGURES}/{n}.png)", "", caption, ""]
    out += list(declared)  # the study sections the sweep declared (rnnexp.report.studies)
    out += ["## Tables", "", "`summary.csv` (one row per replica), `history.csv` (per evaluation), "
            "`profile.csv` (||dL_T/dh_t|| per evaluation), `positions.csv` (final accuracy per bit), "
            "all with the config as columns; read one with `pandas.read_csv`.", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rnnexp.report", description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path, help="a sweep dir (or a single run's folder)")
    ap.add_argument("--hue", help="key shown as colour (default: the swept key with most values)")
    ap.add_argument("--col", help="key shown as panel columns (default: the next swept key)")
    ap.add_argument("--row", nargs="+", help="key(s) shown as panel rows (default: the remaining swept keys)")
    ap.add_argument("--sections", metavar="A,B", help="study sections to add, comma-separated, replacing the ones the "
                    f"sweep declared ('' for none); one of: {', '.join(studies.names())}")
    args = ap.parse_args(argv)
    if not args.dir.is_dir():
        print(f"rnnexp.report: error: {args.dir} is not a folder", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        sections = None if args.sections is None else [s.strip() for s in args.sections.split(",") if s.strip()]
        path = build(args.dir, hue=args.hue, col=args.col, row=args.row, sections=sections)
    except (FileNotFoundError, ValueError) as e:
        print(f"rnnexp.report: error: {e}", file=sys.stderr)
        return 1
    print(f"rnnexp: report {path} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
