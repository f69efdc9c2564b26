"""One Hydra job: check the config, train through the cache, write the run's tables into its folder.

The only place below the entry point that sees a Hydra ``DictConfig``; everything it calls gets
plain values (``config.Config``). Training (``rnnexp.train``) never imports this module, so the
dependency goes one way: job -> cache -> train.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from omegaconf import OmegaConf

from .. import __version__, config, train
from . import cache, results


def run(cfg, out_dir, base_dir=None) -> train.Result:
    """Check ``cfg`` (a Hydra ``DictConfig``), train, and write the run's tables into ``out_dir``.

    With ``cfg.cache`` a finished training of the same settings and engine code is loaded instead
    of trained again (``rnnexp.runs.cache``); a relative ``cfg.cache_dir`` is taken from ``base_dir``
    (default: the current folder). ``cache=false`` trains again and replaces the stored result.
    """
    config.check(cfg)
    plain = OmegaConf.to_object(cfg)  # a config.Config: no Hydra below this line
    store = Path(base_dir or ".") / plain.cache_dir  # an absolute cache_dir stays as it is
    result, cached = cache.train_cached(cfg, store, reuse=plain.cache)
    result = dataclasses.replace(result, cached=cached)
    columns = results.config_columns(cfg)
    columns["steps"] = config.effective_steps(plain)
    tables = {"summary": result.summary.drop(columns=["steps"]), "history": result.history,
              "profile": result.profile, "positions": result.positions, "lengths": result.lengths}
    meta = {"status": "complete", "wall_time": result.wall_time, "cached": cached,
            "engine_version": cache.engine_version(), "rnnexp_version": __version__}
    results.write_run(out_dir, tables, columns, meta)
    return result
