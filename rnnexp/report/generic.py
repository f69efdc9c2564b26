"""Build a sweep's report: ``python -m rnnexp.report DIR [DIR2 ...] [--out DIR] [--format svg] [--hue KEY] ...``.

Writes ``DIR/report.md`` (summary table, figures, notes), ``DIR/report_summary.csv`` (the summary
table's numbers) and PNG figures in ``DIR/figures/``, all from the combined tables
(``DIR/{summary,history,profile,positions}.csv``; collected first when missing or older than a run).
DIR may also be a single run's folder. Every multirun ends with this report (``rnnexp.runs.callbacks``).
Several dirs make one report comparing them (``compare``), written into ``--out``. ``--format svg``
(or ``pdf``; the sweep setting ``report.format``) also writes every figure as a vector file beside
its PNG; report.md shows the PNGs.

Every sweep gets the generic report; study sections (``rnnexp.report.studies``) only when declared:
the sweep's ``report.sections``, read from what Hydra recorded of the composed config
(``DIR/multirun.yaml`` for a sweep, ``DIR/.hydra/config.yaml`` for a single run), so a report
rebuilt later shows the same sections (and the same ``report.format``); ``--sections`` replaces them.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..runs import combine as collect, results  # outside the report: the runs' folders and tables, how they combine
from . import compare, describe, figures, intervals, layout, outcomes, roles, studies
from .describe import summary_table
from .roles import choose_layout  # noqa: F401  (the report's API)
from .studies._common import Context

FIGURES = "figures"
FORMATS = ("png", *layout.VECTOR_FORMATS)  # report.format: png alone, or png and a vector copy
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


def recorded(root: Path, key: str, default=None):
    """Setting ``key`` of the config Hydra recorded for the sweep (or run) in ``root`` (the sweep's
    ``multirun.yaml``; a run's ``.hydra/config.yaml``; else the first job's, for a sweeper that writes
    no ``multirun.yaml``); ``default`` when it recorded none."""
    from omegaconf import OmegaConf

    root = Path(root)
    jobs = [r / ".hydra" / "config.yaml" for r in collect.find_runs(root)[:1]]
    for path in (root / "multirun.yaml", root / ".hydra" / "config.yaml", *jobs):
        if path.is_file():
            value = OmegaConf.select(OmegaConf.load(path), key, default=None)
            return default if value is None else value
    return default


def recorded_sections(root: Path) -> list[str]:
    """The study sections the sweep (or run) in ``root`` declared (``report.sections``); none when it recorded none."""
    return [str(s) for s in recorded(root, "report.sections", [])]


def check_format(value: str, source: str) -> str:
    if value not in FORMATS:
        raise ValueError(f"{source}: {value!r} is not a figure format; allowed: {', '.join(FORMATS)}")
    return value


def check_sections(names: list[str], source: str) -> list[str]:
    """``names`` without repeats; ``ValueError`` (one line) naming the first unknown one and the allowed ones."""
    for name in names:
        if name not in studies.SECTIONS:
            raise ValueError(f"{source}: there is no report section {name!r}; allowed: {', '.join(studies.names())}")
    return list(dict.fromkeys(names))


def build(root: Path, tables: Tables | None = None, hue: str | None = None, col: str | None = None,
          row: list[str] | None = None, sections: list[str] | None = None, fmt: str | None = None,
          sources: list[Path] | None = None) -> Path:
    """Write ``report.md``, ``report_summary.csv`` and ``figures/*.png`` into ``root``; returns report.md.

    ``sections``: the study sections to add, in this order; ``None``: those the sweep recorded.
    ``fmt``: ``svg`` / ``pdf`` also writes each figure as a vector file; ``None``: the recorded
    ``report.format``. ``sources``: the sweep dirs ``tables`` combine (``compare``), named in the report.
    """
    root = Path(root)
    origin = Path(sources[0]) if sources else root  # where the settings were recorded
    sections = check_sections(recorded_sections(origin) if sections is None else sections,
                              "--sections" if sections is not None else f"report.sections recorded in {origin}")
    fmt = check_format(str(recorded(origin, "report.format", "png")) if fmt is None else fmt,
                       "--format" if fmt is not None else f"report.format recorded in {origin}")
    token = layout.VECTOR.set(fmt if fmt != "png" else None)
    try:
        return _build(root, tables or load(root), hue, col, row, sections, fmt, sources)
    finally:
        layout.VECTOR.reset(token)


def _build(root: Path, t: Tables, hue, col, row, sections, fmt, sources) -> Path:
    keys = collect.swept_keys(t.summary, t.config_columns)
    lay = choose_layout(t.summary, keys, hue, col, row)
    table = summary_table(t.summary, keys)
    results.write_table(table, root / SUMMARY_CSV)

    fig_dir = root / FIGURES
    fig_dir.mkdir(exist_ok=True)
    s, h, p, pos = (lay.label(d) for d in (t.summary, t.history, t.profile, t.positions))
    what = describe.title(t, keys)
    reps = t.summary.groupby("job").size()
    per = f"{reps.iloc[0]} replicas" if reps.nunique() == 1 else f"{reps.min()}-{reps.max()} replicas"
    sub = textwrap.fill(f"{what}, {per} per run", 100)
    made: dict[str, tuple[str, str]] = {}

    def fig(name, caption, fn, *args, title, args_after=()):
        fn(*args, lay, *args_after, fig_dir / f"{name}.png", f"{title}\n{sub}")
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
    unpaired = [k for k in keys if k not in roles.paired(t.summary, keys)]
    sampled = roles.sampled(lay)  # keys the panels cannot show value by value: points, not heatmap cells
    final = "bit_acc" if addition else "acc" if "acc" in s and s["acc"].notna().any() else None
    criterion = "100 % whole-sum accuracy" if "acc" not in s else "their task's solved criterion (README: Tasks)"
    for metric, title, caption in (
            ("success", "Success rate: replicas reaching 100 % whole-sum accuracy" if "acc" not in s else
             "Success rate: replicas meeting their task's solved criterion",
             f"Each cell: replicas that reached {criterion} at some evaluation / replicas, and the "
             f"{intervals.NAME} of the success rate."),
            (final, "Final per-bit accuracy" if addition else "Final accuracy per target",
             "Each cell: the accuracy at the end of training, mean over "
             "replicas (diverged ones included at their last finite weights).")):
        if metric is None:
            continue
        path, head = fig_dir / f"outcome_{metric}.png", f"{title}\n{sub}"
        if sampled:
            outcomes.against(s, lay, metric, unpaired, path, head)
            caption = (f"One point per configuration against {lay.hue}, with its {intervals.NAME} (success) or the 95 % "
                       "bootstrap CI of the mean over replicas; points at the same value side by side.")
        else:
            outcomes.heatmap(s, lay, metric, path, head)
        made[f"outcome_{metric}"] = (title, caption)
    if sampled or lay.unplaced:
        fig("outcome_by_setting", "Every configuration's outcome against each swept setting (one column per setting): "
            "the view of a search whose values are sampled, where no two configurations share a value. Success rate "
            f"with its {intervals.NAME}; the final measure with the 95 % CI of the mean over replicas.",
            outcomes.by_setting, s, title="Outcome against each swept setting",
            args_after=(unpaired, ["success", *([final] if final else [])]))
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
    text = _markdown(root, t, keys, lay, table, made, declared, fmt, sources)
    results.atomic_write_text(root / "report.md", text)
    return root / "report.md"


def _markdown(root, t: Tables, keys, lay, table, made, declared=(), fmt="png", sources=None) -> str:
    s = t.summary
    fixed = [c for c in t.config_columns if c not in keys]
    sources = [Path(d) for d in sources or []]
    by = f"python -m rnnexp.report {' '.join(map(str, sources or [root]))}" + (f" --out {root}" if sources else "")
    out = [f"# Report: {describe.title(t, keys)}", "",
           f"{s['job'].nunique()} run(s), {len(s)} replicas; built {datetime.datetime.now():%Y-%m-%d %H:%M}"
           f" by `{by}`" + (f" ({lay.describe()})." if lay.describe() else "."), ""]
    if len(sources) > 1:
        out += ["Sweeps compared (each dir's tables, stacked; the settings that differ are the swept keys):", ""]
        out += [f"- `{d}`" + (f": `{describe.command(d)}`" if describe.command(d) else "") for d in sources] + [""]
    elif describe.command(sources[0] if sources else root):
        out += ["Command:", "", f"    {describe.command(sources[0] if sources else root)}", ""]
    if fixed:
        out += ["Settings shared by every run: " + ", ".join(f"`{c}={layout.fmt(s[c].iloc[0])}`" for c in fixed), ""]
    if fmt != "png":
        out += [f"Every figure is also a vector file: `{FIGURES}/<name>.{fmt}` beside the PNG shown here.", ""]
    out += ["## Summary", "", describe.markdown_table(table, keys), "",
            "solved: replicas that reached 100 % whole-sum accuracy on the evaluation set at some evaluation; "
            f"success rate: with its {intervals.NAME} (a binomial interval: never zero-width at 0/n or n/n); "
            "accuracies: at the end of training, mean ± std over replicas (diverged replicas included); "
            "median steps to solve: over the replicas that solved; wall time: training time of the run(s).",
            f"The numbers are in `{SUMMARY_CSV}`.", ""]
    notes = describe.notes(t, table, keys)
    if notes:
        out += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    sections = {"Convergence": ["convergence_loss", "convergence_sum_acc", "convergence_bit_acc", "convergence_acc",
                                "convergence_exact", "convergence_copy_acc"],
                "Outcomes": ["outcome_success", "outcome_bit_acc", "outcome_acc", "outcome_by_setting",
                             "steps_to_solve", "positions", "lengths"],
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


_notes = describe.notes  # the notes under the summary table (tests read them)


def load_many(dirs: list[Path], out: Path) -> Tables:
    """The tables of several sweep dirs, stacked (``compare``) and written into ``out`` (where the report
    goes: ``python -m rnnexp.report OUT`` rebuilds it); ``ValueError`` if they cannot be compared."""
    loaded = [load(d) for d in dirs]
    frames = [{n: getattr(t, n) for n in (*NEEDED, *OPTIONAL)} for t in loaded]
    tables, cols = compare.combine(frames, [t.config_columns for t in loaded], dirs)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        results.write_table(df, out / f"{name}.csv")
    return Tables(**{n: tables[n] for n in NEEDED}, config_columns=cols, lengths=tables.get("lengths"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rnnexp.report", description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path, nargs="+", help="a sweep dir (or a single run's folder); several: one report "
                    "comparing them (the settings that differ become the layout)")
    ap.add_argument("--out", type=Path, help="where report.md and figures/ go (default: the dir itself; for several "
                    "dirs runs/compare/<date>/<time>, with their stacked tables)")
    ap.add_argument("--format", choices=FORMATS, help="also write every figure as a vector file (svg or pdf) beside "
                    "its PNG (default: the sweep's report.format, png)")
    ap.add_argument("--hue", help="key shown as colour (default: the swept key with most values)")
    ap.add_argument("--col", help="key shown as panel columns (default: the next swept key)")
    ap.add_argument("--row", nargs="+", help="key(s) shown as panel rows (default: the remaining swept keys)")
    ap.add_argument("--sections", metavar="A,B", help="study sections to add, comma-separated, replacing the ones the "
                    f"sweep declared ('' for none); one of: {', '.join(studies.names())}")
    args = ap.parse_args(argv)
    for d in args.dir:
        problem = results.not_a_folder(d)
        if problem:
            print(f"rnnexp.report: error: {problem}", file=sys.stderr)
            return 2
    if len({d.resolve() for d in args.dir}) < len(args.dir):
        print("rnnexp.report: error: a dir is named twice", file=sys.stderr)
        return 2
    out = args.out or (args.dir[0] if len(args.dir) == 1 else
                       Path("runs/compare") / f"{datetime.datetime.now():%Y-%m-%d/%H-%M-%S}")
    if out.resolve() != args.dir[0].resolve() and out.is_dir() and collect.find_runs(out):
        print(f"rnnexp.report: error: --out {out} holds a sweep's runs (its report would be replaced); "
              "choose a new folder", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    in_place = out.resolve() == args.dir[0].resolve()
    try:
        sections = None if args.sections is None else [s.strip() for s in args.sections.split(",") if s.strip()]
        tables = None if in_place else load(args.dir[0]) if len(args.dir) == 1 else load_many(args.dir, out)
        out.mkdir(parents=True, exist_ok=True)
        path = build(out, tables, hue=args.hue, col=args.col, row=args.row, sections=sections, fmt=args.format,
                     sources=None if in_place else args.dir)
    except (FileNotFoundError, ValueError) as e:
        print(f"rnnexp.report: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a sweep dir one may read but not write (a colleague's, on a shared filesystem)
        where = Path(e.filename or out).resolve()
        if where == out.resolve() or out.resolve() in where.parents:
            print(f"rnnexp.report: error: cannot write the report into {out}: {e.strerror}; give --out a folder "
                  "you can write into", file=sys.stderr)
        else:
            print(f"rnnexp.report: error: cannot read {results.printable(e.filename)}: {e.strerror}", file=sys.stderr)
        return 1
    print(f"rnnexp: report {path} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
