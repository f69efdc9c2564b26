"""One Hydra job: check the config, train through the cache, write the run's tables into its folder.

The only place below the entry point that sees a Hydra ``DictConfig``; everything it calls gets
plain values (``config.Config``). Training (``rnnexp.train``) never imports this module, so the
dependency goes one way: job -> cache -> train. While it trains, the job shows its progress and
writes its history so far (``progress.Watch``) and checkpoints the training (``checkpoint.Keeper``);
its story goes to Python logging (Hydra's job log, ``<job dir>/__main__.log``).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from omegaconf import OmegaConf

from .. import __version__, config, train
from . import cache, checkpoint, progress, results

log = logging.getLogger(__name__)


def run(cfg, out_dir, base_dir=None, display: str = "none") -> train.Result:
    """Check ``cfg`` (a Hydra ``DictConfig``), train, and write the run's tables into ``out_dir``.

    With ``cfg.cache`` a finished training of the same settings and engine code is loaded instead
    of trained again (``rnnexp.runs.cache``), and a killed one resumes from its checkpoint
    (``rnnexp.runs.checkpoint``); a relative ``cfg.cache_dir`` is taken from ``base_dir`` (default:
    the current folder). ``cache=false`` trains again from step 0 and replaces the stored result.
    ``display``: ``run`` (a progress bar on a terminal, else a line every ``progress_seconds``),
    ``sweep`` (none: the launcher shows the sweep's line) or ``none``.
    """
    config.check(cfg)
    plain = OmegaConf.to_object(cfg)  # a config.Config: no Hydra below this line
    store = Path(base_dir or ".") / plain.cache_dir  # an absolute cache_dir stays as it is
    columns = results.config_columns(cfg)
    columns["steps"] = config.effective_steps(plain)
    results.check_same_run(out_dir, columns)  # another configuration's finished run: refused before any work
    log.info("settings: %s", ", ".join(f"{k}={v}" for k, v in columns.items()))
    settings = cache.settings(cfg)
    keeper = checkpoint.Keeper(checkpoint.path_for(store, settings), cache.key(settings, cache.engine_version()),
                               plain.checkpoint_seconds)
    watch = progress.Watch(out_dir, columns, display, plain.progress_seconds)

    def trainer(p: config.Config) -> train.Result:
        resume = keeper.load() if plain.cache else None  # cache=false: from step 0
        return train.train(p, observer=progress.Both(watch, keeper), resume=resume)

    try:
        result, cached = cache.train_cached(cfg, store, reuse=plain.cache, trainer=trainer)
        watch.close()
        if cached:
            log.info("loaded from the cache (trained earlier in %.1f s)", result.wall_time)
        else:
            log.info("trained in %.1f s (%d checkpoint(s) written)", result.wall_time, keeper.saved)
            if cache.entry_path(store, settings, cache.engine_version()).exists():
                keeper.remove()  # the stored result answers a re-run now
        result = dataclasses.replace(result, cached=cached)
        tables = {"summary": result.summary.drop(columns=["steps"]), "history": result.history,
                  "profile": result.profile, "positions": result.positions, "lengths": result.lengths}
        meta = {"status": "complete", "wall_time": result.wall_time, "cached": cached,
                "engine_version": cache.engine_version(), "rnnexp_version": __version__}
        results.write_run(out_dir, tables, columns, meta)
    except BaseException as e:
        stop = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
        watch.close(stop)
        log.error("%s: %s", stop, type(e).__name__ if stop == "interrupted" else f"{type(e).__name__}: {e}")
        raise
    watch.finished()
    s = result.summary
    log.info("done: solved %d/%d replicas, diverged %d; tables in %s", int(s["solved"].sum()), len(s),
             int(s["diverged"].sum()), results.printable(out_dir))
    return result
