"""The Hydra entry point: ``rnnexp [-m] [key=value ...]`` (the console script; ``python -m rnnexp``
is the same). Config in, ``runs.job.run`` out."""
from __future__ import annotations

import io
import os
import shlex
import signal
import sys

# One BLAS thread per process unless the environment says otherwise: a step's matrices are small
# (batch x hidden), and a second OpenBLAS thread made a single run several times slower here
# (README: Performance); a sweep's workers get one each from joblib anyway. Set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def _interrupted_early(*_) -> None:
    print(f"rnnexp: interrupted before any job started; nothing was trained; start it again with: "
          f"python -m rnnexp {shlex.join(sys.argv[1:])}".rstrip(), file=sys.stderr, flush=True)
    raise SystemExit(130)


# Ctrl-C while the libraries load: one line, not an import traceback (an ignored SIGINT stays
# ignored: a shell starts background commands so)
if (__name__ == "__main__" or sys.argv[0].endswith("rnnexp")) and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
    signal.signal(signal.SIGINT, _interrupted_early)

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from . import cli, completion, config, helptext  # noqa: E402
from .engine import allocator  # noqa: E402
from .runs import combine, job, objective, progress, results, sweepdir, workers  # noqa: E402


helptext.register()  # ${rnnexp_settings:} in the help template (conf/hydra/help/rnnexp.yaml)


@hydra.main(version_base="1.3", config_path=str(config.conf_dir()), config_name="config")
def app(cfg: DictConfig) -> float:
    """One job; returns its ``objective`` (a float: what an optimizing sweeper such as Optuna's reads)."""
    hc = HydraConfig.get()
    multirun = hc.mode.name == "MULTIRUN"
    try:  # cache_dir: from the launch dir; a sweep's jobs show no bar (the launcher shows the sweep's line)
        result = job.run(cfg, hc.runtime.output_dir, base_dir=hc.runtime.cwd, display="sweep" if multirun else "run")
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
    if multirun:  # workers: a pipe buffers; on a terminal, the sweep's live line is erased first
        print(f"{progress.clear_line()}[job {hc.job.num}] {' '.join(hc.overrides.task)}: {line}", flush=True)
    else:
        print(combine.format_overview(s, keys=[]))
        print(f"rnnexp: {line}\nresults: {hc.runtime.output_dir}")
    return score


def main() -> None:
    """Check the command line, give it a folder of its own, run it; Ctrl-C ends it with one line (exit 130)."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # whole lines on stderr: write-through, print() writes a line and its newline separately, and a
    # sweep worker's line on the same pipe could land between them (the progress lines, the one-line
    # Ctrl-C); line-buffered, each line is one write
    if isinstance(sys.stderr, io.TextIOWrapper) and sys.stderr.write_through:
        sys.stderr.reconfigure(write_through=False, line_buffering=True)
    argv, plan = sys.argv[1:], None
    # Hydra names the program after argv[0] where it says how to install completion: `python -m
    # rnnexp` gives .../rnnexp/__main__.py, which cannot run as a file (relative imports): name the
    # console script instead
    sys.argv[0] = "rnnexp" if sys.argv[0].endswith("__main__.py") else sys.argv[0]
    answered = completion.answer(argv)  # <TAB>: bash asks `rnnexp -sc query=bash`
    if answered is not None:
        sys.exit(answered)
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
        allocator.keep_freed_memory()  # a step's large arrays reuse the last step's pages
        app()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the line short
        progress.stop_all()  # a sweep's live line ends (is erased) before the one line
        progress.say(sweepdir.interrupted(plan, argv), sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
