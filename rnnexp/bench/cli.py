"""``python -m rnnexp.bench``'s arguments and output: the tables as CSV and markdown, with the machine."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config
from ..engine import allocator
from . import __doc__ as DOC
from . import long
from .measure import machine
from .sections import MODEL_VARIANTS, SECTIONS, model_configs


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "nan" if not np.isfinite(v) else (f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}")
    return str(v)


def _markdown(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _count(text: str) -> int:
    """An argument that counts something: an integer >= 1 (argparse's ``type``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, not {text!r}")
    return value


def _check_configs(ap, args) -> None:
    """Every configuration the chosen sections will time, built and checked now (``config.check``),
    so that a bad ``--bits`` or ``--long-lengths`` is one line before any section runs."""
    chosen = args.sections or list(SECTIONS)
    checks = [("models", "--hidden, --batch, --replicas, --bits", model_configs),
              ("long", "--long-hidden, --long-lengths", long.configs)]
    for name, options, configs in checks:
        if name in chosen:
            try:
                configs(args)
            except config.ConfigError as e:
                ap.error(f"{name} section ({options}): {e}")


def _arguments(argv):
    ap = argparse.ArgumentParser(prog="python -m rnnexp.bench", description=DOC.splitlines()[0])
    ap.add_argument("sections", nargs="*", default=[], help=f"sections to run (default: all): {', '.join(SECTIONS)}")
    ap.add_argument("--quick", action="store_true", help="a smoke test of every section, not the targets' numbers (~30 s of CPU; n/a: not measured)")
    ap.add_argument("--out", default=None, help="folder for the CSV and markdown tables (default runs/bench/<date>_<time>)")
    ap.add_argument("--repeats", type=_count, default=None, help="timed repeats per variant, medians over them (default 7, the long section 3; quick 2)")
    ap.add_argument("--steps", type=_count, default=None, help="training steps per timed repeat (default 40; quick 4)")
    ap.add_argument("--solve-networks", type=_count, default=None, help="solve: networks (loop seeds / rnnexp replicas) timed (default 5; quick 1)")
    ap.add_argument("--loop-max-iterations", type=_count, default=None, help="solve: the loop gives up after this many iterations (default 20000; quick 200)")
    ap.add_argument("--hidden", type=_count, default=16, help="models section")
    ap.add_argument("--batch", type=_count, default=32, help="models section")
    ap.add_argument("--replicas", type=_count, default=10, help="models section")
    ap.add_argument("--bits", type=_count, default=8, help="models section: sequence length")
    ap.add_argument("--models", nargs="*", default=[], choices=sorted({v[0].split()[0] for v in MODEL_VARIANTS}), help="models section: only these (the rnn is always timed)")
    ap.add_argument("--long-models", nargs="*", default=None, choices=["rnn", "gru", "lstm"], help="long section: only these models (rnn, gru, lstm)")
    ap.add_argument("--long-hidden", nargs="*", type=_count, default=None, help="long section: only these hidden sizes")
    ap.add_argument("--long-lengths", nargs="*", type=_count, default=None, help="long section: only these T")
    ap.add_argument("--long-tasks", nargs="*", default=None, choices=["adding", "copy"], help="long section: only these tasks (adding, copy)")
    args = ap.parse_args(argv)
    for name in args.sections:
        if name not in SECTIONS:
            ap.error(f"no section {name!r}: sections are {', '.join(SECTIONS)}")
    # the long section's cases take seconds a step: 3 repeats unless --repeats says otherwise
    args.long_repeats = args.repeats if args.repeats is not None else (2 if args.quick else 3)
    defaults = {"repeats": (7, 2), "steps": (40, 4), "solve_networks": (5, 1), "loop_max_iterations": (20_000, 200)}
    for key, (full, quick) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    _check_configs(ap, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    allocator.keep_freed_memory()  # as in python -m rnnexp and its workers
    out = Path(args.out or Path("runs") / "bench" / time.strftime("%Y-%m-%d_%H-%M-%S"))
    out.mkdir(parents=True, exist_ok=True)
    info = machine()
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    tables, targets = {}, []
    for name in args.sections or list(SECTIONS):
        table, rows = SECTIONS[name](args)
        tables[name] = table
        targets += rows
        table.to_csv(out / f"{name}.csv", index=False)
        print(f"== {name} ==\n{table.to_string(index=False, float_format=_fmt)}\n", flush=True)
    info["load_average"] = f"{load_before[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (1-minute)"
    info["duration"] = f"{time.perf_counter() - t0:.0f} s" + (" (--quick: smoke test, not the targets' numbers)" if args.quick else "")
    target_table = pd.DataFrame(targets, columns=["target", "measured", "value", "unit", "goal", "met", "note"])
    target_table.to_csv(out / "targets.csv", index=False)
    print(f"== targets ==\n{target_table.drop(columns=['note']).to_string(index=False, float_format=_fmt)}\n")
    print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()))
    md = ["# rnnexp benchmark", "", "`python -m rnnexp.bench " + " ".join(sys.argv[1:] if argv is None else argv) + "`", "",
          "| machine | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in info.items()]
    md += ["", "## targets", "", _markdown(target_table)]
    for name, table in tables.items():
        md += ["", f"## {name}", "", _markdown(table)]
    (out / "bench.md").write_text("\n".join(md) + "\n")
    pd.Series(info).to_csv(out / "machine.csv", header=["value"], index_label="key")
    print(f"tables: {out}/{{targets,{','.join(tables)}}}.csv, {out}/bench.md")
    return 0
