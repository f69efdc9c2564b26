"""The sweeper's config (``hydra/sweeper=frontier``) and class; the work is in ``_core``."""
# no "from __future__ import annotations": Hydra runs this module before it is in sys.modules, where
# dataclasses look string annotations up

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class FrontierSweeperConf:
    _target_: str = "hydra_plugins.rnnexp_frontier_sweeper.frontier_sweeper.FrontierSweeper"
    key: Optional[str] = None  # the length setting searched: bits, task.length, task.delay
    start: int = 8  # the first length tried (for every configuration)
    min: int = 2  # if start fails, halve down to this length at most
    max: int = 256  # grow (doubling) up to this length at most (bits and task.delay allow 256)
    resolution: int = 1  # bisect until smallest failed - largest solved <= resolution
    min_success: float = 0.5  # a length is solved when at least this fraction of the replicas solve
    params: Optional[Dict[str, str]] = None  # the other swept settings (basic sweeper syntax), as the basic sweeper's


ConfigStore.instance().store(group="hydra/sweeper", name="frontier", node=FrontierSweeperConf, provider="rnnexp")


class FrontierSweeper(Sweeper):
    """For each combination of the swept settings, the largest ``key`` at which enough replicas solve."""

    def __init__(self, key: Optional[str], start: int, min: int, max: int, resolution: int,
                 min_success: float, params: Optional[Dict[str, str]] = None) -> None:
        self.settings = dict(key=key, start=start, min=min, max=max, resolution=resolution, min_success=min_success)
        self.params = dict(params or {})
        self.hydra_context: Optional[HydraContext] = None
        self.config: Optional[DictConfig] = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Any:
        from . import _core  # rnnexp and pandas: only when a sweep starts

        return _core.sweep(self, arguments)
