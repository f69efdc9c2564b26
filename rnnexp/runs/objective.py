"""The number a run returns to a Hydra sweeper (``objective=``), computed from its summary table.

A sweeper that optimises (Optuna's) needs one float per job; rnnexp's runs train several replicas,
so the objective summarises them. It is computed from the finished run's summary alone: choosing
another objective never trains again (``objective`` is a run-time setting, ``config.RUNTIME``: in
neither the cache key nor the result tables nor a sweep dir's identity).

- ``eval_loss`` (minimize): the mean over replicas of the final evaluation loss; a replica whose loss
  is not finite makes it ``inf`` (the worst value, which Optuna records as a completed trial).
- ``success`` (maximize): the fraction of replicas solved.
- ``steps_to_solve`` (minimize): the median over replicas of the step at which a replica was first
  solved, an unsolved replica counted as ``steps + eval_every``, the next evaluation had training gone
  on: finite (every sampler and storage takes it) and worse than any replica that solved.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

# objective -> the direction a sweeper must optimise it in (hydra.sweeper.direction)
DIRECTIONS = {"eval_loss": "minimize", "success": "maximize", "steps_to_solve": "minimize"}


def value(name: str, summary: pd.DataFrame, eval_every: int) -> float:
    """The objective ``name`` of a run whose summary (one row per replica, with its ``steps``) is given."""
    if name == "eval_loss":
        losses = summary["eval_loss"].to_numpy(float)
        return float(losses.mean()) if np.isfinite(losses).all() else math.inf
    if name == "success":
        return float(summary["solved"].to_numpy(bool).mean())
    if name == "steps_to_solve":
        unsolved = int(summary["steps"].max()) + int(eval_every)
        steps = np.where(summary["solved"].to_numpy(bool), summary["steps_to_solve"].to_numpy(float), unsolved)
        return float(np.median(steps))
    raise ValueError(f"objective={name} is not allowed: objective must be one of {', '.join(DIRECTIONS)}")
