"""The Hydra entry point: ``python -m rnnexp [-m] [key=value ...]``. Config in, ``runs.job.run`` out."""
from __future__ import annotations

import shlex
import signal
import sys


def _interrupted_early(*_) -> None:
    print(f"rnnexp: interrupted before any job started; nothing was trained; start it again with: "
          f"python -m rnnexp {shlex.join(sys.argv[1:])}".rstrip(), file=sys.stderr, flush=True)
    raise SystemExit(130)


# Ctrl-C while the libraries load: one line, not an import traceback (an ignored SIGINT stays
# ignored: a shell starts background commands so)
if __name__ == "__main__" and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
    signal.signal(signal.SIGINT, _interrupted_early)

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from . import cli, config  # noqa: E402
from .runs import combine, job, objective, results, sweepdir, workers  # noqa: E402


@hydra.main(version_base="1.3", config_path=str(config.conf_dir()), config_name="config")
def app(cfg: DictConfig) -> float:
    """One job; returns its ``objective`` (a float: what an optimizing sweeper such as Optuna's reads)."""
    hc = HydraConfig.get()
    try:
        result = job.run(cfg, hc.runtime.output_dir, base_dir=hc.runtime.cwd)  # cache_dir: from the launch dir
    except results.DifferentRun as e:  # another command's finished run is in this job's folder: kept
        raise sweepdir.Refused(f"rnnexp: error: {e}") from None
    s = result.summary
    solved = int(s["solved"].sum())
    took = f"cached (trained earlier in {result.wall_time:.1f} s)" if result.cached else f"{result.wall_time:.1f} s"
    names = {"bit_acc": "per-bit acc", "sum_acc": "whole-sum acc", "acc": "acc", "exact": "exact",
             "copy_acc": "copied-symbol acc"}  # the task's measures (README: Results), as they appear
    measures = "".join(f"{names[c]} {s[c].mean():.4f}, " for c in names if c in s.columns)
    if "bit_acc" not in s.columns:  # another task than addition: its loss too (adding: the MSE)
        measures = f"eval loss {s['eval_loss'].mean():.4g}, " + measures
    score = objective.value(cfg.objective, s, cfg.eval_every)
    line = (f"solved {solved}/{len(s)} replicas, {measures}diverged {int(s['diverged'].sum())}, "
            f"{cfg.objective} objective {score:.6g}, {took}")
    if hc.mode.name == "MULTIRUN":
        print(f"[job {hc.job.num}] {' '.join(hc.overrides.task)}: {line}", flush=True)  # workers: a pipe buffers
    else:
        print(combine.format_overview(s, keys=[]))
        print(f"rnnexp: {line}\nresults: {hc.runtime.output_dir}")
    return score


def main() -> None:
    """Check the command line, give it a folder of its own, run it; Ctrl-C ends it with one line (exit 130)."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    argv, plan = sys.argv[1:], None
    try:
        cli.run_precheck(argv)
        try:
            plan = sweepdir.prepare(argv)
        except sweepdir.UsageError as e:
            print(f"rnnexp: error: {e}", file=sys.stderr)
            sys.exit(2)
        if plan is not None:
            sys.argv = [sys.argv[0], *plan.argv]  # the reserved dir, named for Hydra
        workers.use()  # a sweep's workers leave Ctrl-C to this process
        app()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the line short
        print(sweepdir.interrupted(plan, argv), file=sys.stderr, flush=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
