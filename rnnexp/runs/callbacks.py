"""Hydra callbacks: what happens when a sweep ends."""
from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from . import combine, results


class CollectResults(Callback):
    """When a multirun ends, combine its jobs' tables in the sweep dir, print an overview, build the report.

    The tables are written before the report is started, so a report that fails (named on stderr
    with its traceback) loses nothing: ``python -m rnnexp.report DIR`` rebuilds it.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            tables = combine.collect(sweep_dir)
        except FileNotFoundError as e:
            print(f"rnnexp: {e}")
            return
        print(combine.format_overview(tables["summary"]))
        print(f"tables: {sweep_dir}/{{{','.join(results.TABLES)}}}.csv")
        try:
            from ..report import generic as report  # the plotting libraries load only when a report is built

            t0 = time.perf_counter()
            path = report.build(sweep_dir, report.from_collected(sweep_dir, tables))
            print(f"report: {path} ({time.perf_counter() - t0:.1f} s)")
        except Exception:  # the tables are safe on disk; say what failed and how to retry
            traceback.print_exc()
            print(f"rnnexp: the report failed (tables kept); rebuild it with: python -m rnnexp.report {sweep_dir}",
                  file=sys.stderr)
