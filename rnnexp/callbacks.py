"""Hydra callbacks: what happens when a sweep ends."""
from __future__ import annotations

from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from . import collect


class CollectResults(Callback):
    """When a multirun ends, combine its jobs' tables in the sweep dir and print an overview."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            tables = collect.collect(sweep_dir)
        except FileNotFoundError as e:
            print(f"rnnexp: {e}")
            return
        print(collect.format_overview(tables["summary"]))
        print(f"tables: {sweep_dir}/{{summary,history,profile,positions}}.csv")
