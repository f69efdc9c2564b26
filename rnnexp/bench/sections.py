"""Benchmarks: ``python -m rnnexp.bench [SECTION ...] [--quick] [--out DIR]``.

Measures rnnexp against the peers in ``rnnexp.bench_baselines`` (written fresh there: the seeds'
per-sample loop, PyTorch CPU, the matmul floor) and against the targets of issue 6. Every
comparison is timed side by side in the same run, interleaved in a rotating order (so drift, load
and warm-up hit every variant alike), and reported as the median over repeats of the per-repeat
ratio. The run prints one table per section and a ``targets`` table (every ratio with its goal),
and writes them as CSV and markdown, with a description of the machine, into ``--out``
(default ``runs/bench/<date>_<time>``). ``--quick`` shrinks every section to a smoke test of a few
seconds: its numbers are not the targets' measurements.

BLAS runs on one thread unless ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``
are set (as in sweep workers, where the joblib launcher sets them to 1; PyTorch is set to one
thread too). The end-to-end section runs the commands as a user would, with the caller's
environment.

Sections (each a function in ``SECTIONS`` returning its table and its rows of the targets table):

- ``solve`` (target 1): wall time to solve seed 002's task, rnnexp's default configuration vs the
  per-sample loop. See ``solve_section`` for how "time to solve" is counted.
- ``step`` (target 2): time per training step, one replica, hidden 16, batch 32, 8 bits, vs PyTorch.
- ``replicas`` (target 3): time per step of 10 replicas vs 1.
- ``floor`` (target 4): time per step at hidden 256, batch 256, 32 bits vs the matmul floor.
- ``e2e`` (target 5): the example sweep and the seed 001 order reproduction, wall time.
- ``scaling`` (target 6): time per step against bits and replicas; peak memory of the largest case.
- ``models``: time per step of every model relative to the Elman RNN.
"""
from __future__ import annotations

import os

_CALLER_ENV = dict(os.environ)  # the end-to-end commands run with the caller's environment
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads BLAS; no effect if NumPy is already loaded

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import bench_baselines as baselines  # noqa: E402
from . import config, data, gradients, metrics, models, network, optim, train  # noqa: E402

# model variants of the "models" section: (label, model, its settings)
MODEL_VARIANTS = [
    ("rnn", "rnn", {}),
    ("birnn", "birnn", {}),
    ("lstm", "lstm", {}),
    ("gru", "gru", {}),
    ("rnn layers=2", "rnn", {"layers": 2}),
    ("lstm layers=2", "lstm", {"layers": 2}),
]

# the end-to-end commands of target 5: (name, overrides, overrides in --quick mode, limit in seconds)
E2E_COMMANDS = [
    ("example sweep", ["hidden=4,8,16", "order=lsb,msb"], ["hidden=4", "order=lsb,msb", "steps=20", "replicas=2"], 30.0),
    ("seed 001 order reproduction", ["+experiment=order"], ["+experiment=order", "train_size=64", "epochs=1",
                                                             "replicas=2"], 180.0),
]


# ---- timing ----

def _config(model: str = "rnn", settings: dict | None = None, **values) -> config.Config:
    cfg = config.Config()
    cfg.model = models.conf_class(model)(name=model, **(settings or {}))
    for key, value in values.items():
        if key == "optimizer":
            cfg.optimizer = dataclasses.replace(cfg.optimizer, name=value)
        else:
            setattr(cfg, key, value)
    config.check(cfg)
    return cfg


def step_timer(cfg: config.Config):
    """A function ``run(n) -> seconds`` that does n training steps as ``train.train`` does them
    (draw a batch, forward, BPTT, gradient norm, clipping, optimizer step), without evaluation."""
    spec = config.net_spec(cfg)
    init_rngs, data_rngs = train.replica_rngs(cfg.seed, np.arange(cfg.replicas))
    state = {"params": network.init_params(spec, init_rngs), "s": 0}
    batches = data.Batches(data_rngs, cfg.bits, cfg.order, cfg.batch, cfg.train_size)
    opt = optim.make(cfg.optimizer.name, state["params"], momentum=cfg.optimizer.momentum,
                     beta1=cfg.optimizer.beta1, beta2=cfg.optimizer.beta2, eps=cfg.optimizer.eps)
    lr = np.full(cfg.replicas, float(cfg.lr))
    active = np.ones(cfg.replicas, bool)

    def run(n: int) -> float:
        t0 = time.perf_counter()
        with np.errstate(all="ignore"):
            for _ in range(n):
                x, y = batches.next(state["s"])
                _, grads, _, _ = network.loss_and_grads(spec, state["params"], x, y)
                norm = gradients.global_norm(grads)
                gradients.clip(grads, cfg.clip.name, cfg.clip.threshold, norm)
                state["params"] = opt.step(state["params"], grads, lr, active)
                state["s"] += 1
        return time.perf_counter() - t0

    return run


def interleaved(timers: list, steps: int, repeats: int) -> np.ndarray:
    """Seconds per step, ``(repeats, len(timers))``: every repeat runs each timer for ``steps``
    steps, in an order rotated by one each repeat, after one warm-up call each."""
    for run in timers:
        run(max(1, steps // 5))  # warm-up: first-touch allocations, caches
    times = np.empty((repeats, len(timers)))
    for r in range(repeats):
        for k in np.roll(np.arange(len(timers)), r):
            times[r, k] = timers[k](steps) / steps
    return times


def _target(target: str, what: str, value: float, goal: str, note: str = "", unit: str = "x") -> dict:
    """One row of the targets table; ``goal`` is ``">= v"`` or ``"<= v"``."""
    op, limit = goal.split()
    met = bool(np.isfinite(value) and (value >= float(limit) if op == ">=" else value <= float(limit)))
    return {"target": target, "measured": what, "value": value, "unit": unit, "goal": goal,
            "met": "yes" if met else "no", "note": note}


# ---- sections ----

def solve_section(args):
    """Target 1: wall time to solve seed 002's task (hidden 16, lsb, 100 % of all 16,384 problems).

    Time to solve = wall time from the start of training to the end of the evaluation that first
    finds every problem right, counting every training step and every evaluation on the way (with
    evaluation sets and their prefix trees built afresh). For rnnexp that is ``train.train`` of the
    default configuration stopped at the evaluation that found the solution (``steps`` = the
    ``steps_to_solve`` of a full default run; the trajectory up to there is the same). The loop
    is checked every 100 iterations like rnnexp's default ``eval_every``, but only its training
    iterations are timed, not the checks: that favours the loop.

    Rows of the targets table: one network at a time (the default configuration trained with one
    replica: replica r alone, which gives the same result as in the 10-replica run), and per
    network in the default 10-replica run (its time until every replica solved, divided by 10).
    """
    cfg = config.Config()  # rnnexp's default configuration: hidden 16, tanh, adam, batch 32, lsb
    n = args.solve_networks
    if args.quick:
        cfg = dataclasses.replace(cfg, steps=400)  # enough for replica 0
    full = train.train(dataclasses.replace(cfg, replicas=max(n, cfg.replicas) if not args.quick else n))
    solve_at = full.summary["steps_to_solve"].to_numpy()

    def fresh():  # nothing carried over between timed runs
        data.eval_set.cache_clear()
        metrics._TREES.clear()

    rows = []
    for i in range(n):  # interleaved: loop seed i, then rnnexp replica i alone
        secs, its, ok = baselines.loop_time_to_solve(i, max_iterations=args.loop_max_iterations)
        rows.append({"who": "per-sample loop (seed 002)", "network": i, "steps_or_iterations": its,
                     "solved": ok, "seconds": secs})
        S = solve_at[i]
        if np.isfinite(S):
            fresh()
            t0 = time.perf_counter()
            res = train.train(dataclasses.replace(cfg, steps=int(S), replicas=1), replica_ids=[i])
            secs = time.perf_counter() - t0
            ok = bool(res.summary["solved"].all())
        else:
            secs, ok = np.nan, False
        rows.append({"who": "rnnexp, one replica", "network": i, "steps_or_iterations": S, "solved": ok,
                     "seconds": secs})
    R = len(solve_at) if args.quick else cfg.replicas
    S_all = np.nanmax(solve_at[:R]) if np.isfinite(solve_at[:R]).all() else np.nan
    if np.isfinite(S_all):
        fresh()
        t0 = time.perf_counter()
        res = train.train(dataclasses.replace(cfg, steps=int(S_all), replicas=R))
        all_secs = time.perf_counter() - t0
        ok = bool(res.summary["solved"].all())
    else:
        all_secs, ok = np.nan, False
    rows.append({"who": f"rnnexp, {R} replicas (until all solved)", "network": -1, "steps_or_iterations": S_all,
                 "solved": ok, "seconds": all_secs})
    table = pd.DataFrame(rows)
    # where rnnexp's time goes: its training steps and its evaluations, each timed on its own
    for R_, who in ((1, "rnnexp, one replica"), (R, f"rnnexp, {R} replicas (until all solved)")):
        step_s, eval_s = _step_and_eval_seconds(dataclasses.replace(cfg, replicas=R_))
        mine = table["who"] == who
        S_ = table.loc[mine, "steps_or_iterations"]
        table.loc[mine, "train_steps_s"] = S_ * step_s
        table.loc[mine, "evaluations_s"] = (S_ // cfg.eval_every + 1) * eval_s
        table.loc[mine, "rest_s"] = table.loc[mine, "seconds"] - table.loc[mine, "train_steps_s"] - \
            table.loc[mine, "evaluations_s"]
    loop = table[table["who"].str.startswith("per-sample")]
    loop_s = loop["seconds"].median() if loop["solved"].all() else np.nan
    alone = table[table["who"] == "rnnexp, one replica"]["seconds"].median()
    how = "median over networks; the loop's checks are not timed, rnnexp's evaluations are"
    targets = [
        _target("1 solve seed 002's task", "loop s / rnnexp s, one network at a time", loop_s / alone, ">= 30", how),
        _target("1 solve seed 002's task", f"loop s / (rnnexp {R}-replica run s / {R}), per network",
                loop_s / (all_secs / R), ">= 30", f"default run until all {R} solved: {all_secs:.2f} s"),
    ]
    return table, targets


def _step_and_eval_seconds(cfg: config.Config, repeats: int = 3) -> tuple[float, float]:
    """Median seconds of one training step and of one evaluation on the evaluation set."""
    run = step_timer(cfg)
    run(20)
    step = np.median([run(50) / 50 for _ in range(repeats)])
    spec = config.net_spec(cfg)
    params = network.init_params(spec, train.replica_rngs(cfg.seed, np.arange(cfg.replicas))[0])
    ex, ey = data.eval_set(cfg.bits, cfg.order)
    metrics.evaluate(spec, params, ex, ey)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        metrics.evaluate(spec, params, ex, ey)
        times.append(time.perf_counter() - t0)
    return step, float(np.median(times))


def step_section(args):
    """Target 2: one training step, one replica, hidden 16, batch 32, 8 bits: PyTorch / rnnexp.
    Both use SGD; rnnexp's step includes drawing its batch, PyTorch's batches are made beforehand."""
    run_torch = baselines.torch_step_timer(16, 32, 8)
    timers = {"rnnexp (sgd)": step_timer(_config(replicas=1, optimizer="sgd")),
              "rnnexp (adam, the default)": step_timer(_config(replicas=1))}
    if run_torch is not None:
        timers["pytorch (sgd, 1 thread)"] = run_torch
    times = interleaved(list(timers.values()), args.steps, args.repeats)
    table = pd.DataFrame({"variant": list(timers), "us_per_step": np.median(times, axis=0) * 1e6})
    if run_torch is None:
        note = "torch is not installed: pip install torch (CPU wheel) to measure this row"
        return table, [_target("2 step vs PyTorch", "pytorch / rnnexp time per step", np.nan, ">= 3", note)]
    ratio = np.median(times[:, 2] / times[:, 0])
    import torch

    table["ratio_pytorch_over_this"] = [np.median(times[:, 2] / times[:, k]) for k in range(3)]
    return table, [_target("2 step vs PyTorch", "pytorch / rnnexp time per step (sgd)", ratio, ">= 3",
                           f"torch {torch.__version__}, float32, 1 thread; rnnexp float64")]


def replicas_section(args):
    """Target 3: time per step of 10 replicas / 1 replica (hidden 16, batch 32, 8 bits), with the
    matmul floor at both counts beside it: what an extra replica costs in arithmetic alone."""
    counts = [1, 10]
    timers = [step_timer(_config(replicas=r)) for r in counts] + [baselines.matmul_floor_timer(8, r, 32, 16) for r in counts]
    times = interleaved(timers, args.steps, args.repeats)
    med = np.median(times, axis=0) * 1e6
    ratio = np.median(times[:, 1] / times[:, 0])
    table = pd.DataFrame({"replicas": counts, "us_per_step": med[:2], "us_per_replica_step": med[:2] / np.array(counts),
                          "matmul_floor_us": med[2:],
                          "ratio_to_1_replica": [1.0, ratio], "floor_ratio_to_1_replica": [1.0, np.median(times[:, 3] / times[:, 2])]})
    extra = (med[1] - med[0]) / 9
    extra_floor = (med[3] - med[2]) / 9
    return table, [_target("3 replicas", "time per step, 10 replicas / 1", ratio, "<= 3",
                           f"each extra replica costs {extra:.0f} us per step, {extra_floor:.0f} us of it in matmuls")]


def floor_section(args):
    """Target 4: time per step at hidden 256, batch 256, 32 bits, one replica / the matmul floor
    (the same matmuls, nothing else: ``bench_baselines.matmul_floor_shapes``)."""
    H, B, T = (64, 64, 16) if args.quick else (256, 256, 32)
    steps = max(2, args.steps // 10)
    times = interleaved([step_timer(_config(hidden=H, batch=B, bits=T, replicas=1)),
                         baselines.matmul_floor_timer(T, 1, B, H)], steps, args.repeats)
    ratio = np.median(times[:, 0] / times[:, 1])
    table = pd.DataFrame({"variant": ["rnnexp step (adam)", "matmul floor"], "ms_per_step": np.median(times, axis=0) * 1e3,
                          "matmuls": [np.nan, len(baselines.matmul_floor_shapes(T, 1, B, H))]})
    return table, [_target("4 large sizes", f"step / matmul floor, hidden {H}, batch {B}, {T} bits", ratio, "<= 2")]


def e2e_section(args):
    """Target 5: wall time of whole commands, report included, run as a user would (a fresh
    process, ``cache=false`` so nothing is reused, sweep and cache dirs in a temporary folder)."""
    env = dict(_CALLER_ENV)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")]))

    def run(overrides):
        with tempfile.TemporaryDirectory(prefix="rnnexp-bench-") as tmp:
            cmd = [sys.executable, "-m", "rnnexp", "-m", *overrides, "cache=false", f"cache_dir={tmp}/cache",
                   f"hydra.sweep.dir={tmp}/sweep"]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=1800)
            return proc, time.perf_counter() - t0, (Path(tmp) / "sweep" / "report.md").is_file()

    commands = [quick if args.quick else full for _, full, quick, _ in E2E_COMMANDS]
    if args.quick:  # side by side: a smoke test of both commands in the time of one
        with ThreadPoolExecutor(len(commands)) as pool:
            outcomes = list(pool.map(run, commands))
    else:  # one after the other: each command has the machine to itself
        outcomes = [run(c) for c in commands]
    rows, targets = [], []
    for (name, _, _, limit), overrides, (proc, secs, report) in zip(E2E_COMMANDS, commands, outcomes):
        ok = proc.returncode == 0 and report
        if not ok:
            print(f"rnnexp.bench: {name} failed (exit {proc.returncode}, report: {report}):\n{proc.stderr[-2000:]}",
                  file=sys.stderr)
        shown = "python -m rnnexp -m " + " ".join(overrides)
        rows.append({"command": shown, "seconds": secs, "ok": ok, "limit_s": limit})
        targets.append(_target("5 end to end", f"{name}: {shown}", secs if ok else np.nan, f"<= {limit:g}",
                               "wall time incl. report, cache=false", unit="s"))
    return pd.DataFrame(rows), targets


def scaling_section(args):
    """Target 6: time per step against sequence length (one replica) and replicas (8 bits), hidden
    16, batch 32, timed side by side; peak memory (``tracemalloc``: NumPy reports its arrays to it)
    of a training step and of an evaluation at the largest case."""
    bits_list, reps_list = ([8, 16], [1, 2, 4]) if args.quick else ([8, 16, 32, 64], [1, 10, 30, 100])
    cases = [(b, 1) for b in bits_list] + [(bits_list[0], r) for r in reps_list[1:]] + [(bits_list[-1], reps_list[-1])]
    times = interleaved([step_timer(_config(bits=b, replicas=r)) for b, r in cases], max(2, args.steps // 4), args.repeats)
    med = np.median(times, axis=0)
    table = pd.DataFrame({"bits": [c[0] for c in cases], "replicas": [c[1] for c in cases], "us_per_step": med * 1e6})
    table["us_per_step_bit_replica"] = table["us_per_step"] / (table["bits"] * table["replicas"])
    b_max, r_max = cases[-1]
    table["peak_MB_step"], table["peak_MB_eval"] = np.nan, np.nan
    peaks = _peak_memory(_config(bits=b_max, replicas=r_max))
    table.loc[len(cases) - 1, ["peak_MB_step", "peak_MB_eval"]] = [p / 2**20 for p in peaks]
    b0, bn = bits_list[0], bits_list[-1]
    by_bits = np.median(times[:, len(bits_list) - 1] / times[:, 0])
    i10 = len(bits_list)  # (bits_list[0], reps_list[1])
    by_reps = np.median(times[:, len(bits_list) + len(reps_list) - 2] / times[:, i10])
    f_bits, f_reps = bn / b0, reps_list[-1] / reps_list[1]
    note = "growth over linear growth: 1 = linear, < 1 sublinear (fixed costs amortised); goal: at most 25 % above"
    return table, [
        _target("6 scaling", f"time per step, ({bn} bits / {b0} bits) / {f_bits:g} (1 replica)", by_bits / f_bits,
                "<= 1.25", note),
        _target("6 scaling", f"time per step, ({reps_list[-1]} replicas / {reps_list[1]}) / {f_reps:g} ({b0} bits)",
                by_reps / f_reps, "<= 1.25", f"peak memory at {b_max} bits x {r_max} replicas (tracemalloc): "
                f"{peaks[0] / 2**20:.0f} MB in a training step, {peaks[1] / 2**20:.0f} MB in an evaluation"),
    ]


def _peak_memory(cfg: config.Config) -> tuple[int, int]:
    """Peak bytes allocated during two training steps, and during one evaluation, of ``cfg``."""
    run = step_timer(cfg)
    spec = config.net_spec(cfg)
    params = network.init_params(spec, train.replica_rngs(cfg.seed, np.arange(cfg.replicas))[0])
    ex, ey = data.eval_set(cfg.bits, cfg.order)
    peaks = []
    for work in (lambda: run(2), lambda: metrics.evaluate(spec, params, ex, ey)):
        tracemalloc.start()
        try:
            with np.errstate(all="ignore"):
                work()
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return peaks[0], peaks[1]


def models_section(args):
    """Time per training step of every model relative to the Elman RNN (hidden 16, batch 32,
    10 replicas, 8 bits): each variant's median time per step and the median over repeats of its
    ratio to the RNN timed in the same repeat."""
    variants = [v for v in MODEL_VARIANTS if not args.models or v[0].split()[0] in args.models]
    if variants[0][0] != "rnn":
        variants.insert(0, MODEL_VARIANTS[0])  # the reference
    timers = [step_timer(_config(model, settings, hidden=args.hidden, batch=args.batch, replicas=args.replicas,
                                 bits=args.bits)) for _, model, settings in variants]
    times = interleaved(timers, args.steps, args.repeats)
    ratios = times / times[:, :1]  # per repeat, relative to the rnn timed in the same repeat
    return pd.DataFrame({
        "model": [v[0] for v in variants],
        "us_per_step": np.median(times, axis=0) * 1e6,
        "ratio_to_rnn": np.median(ratios, axis=0),
        "ratio_min": ratios.min(axis=0),
        "ratio_max": ratios.max(axis=0),
    }), []


SECTIONS = {"solve": solve_section, "step": step_section, "replicas": replicas_section, "floor": floor_section,
            "e2e": e2e_section, "scaling": scaling_section, "models": models_section}


# ---- the machine, the output ----

def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "unknown"
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{info.get('name')} {info.get('version')}"
    except Exception:  # the layout of show_config differs between NumPy versions
        pass
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(), "numpy": np.__version__,
            "blas": blas, "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"), "torch": torch_version,
            "platform": platform.platform()}


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "nan" if not np.isfinite(v) else (f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}")
    return str(v)


def _markdown(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _arguments(argv):
    ap = argparse.ArgumentParser(prog="python -m rnnexp.bench", description=__doc__.splitlines()[0])
    ap.add_argument("sections", nargs="*", default=[], help=f"sections to run (default: all): {', '.join(SECTIONS)}")
    ap.add_argument("--quick", action="store_true", help="a smoke test of every section in seconds (not the targets' numbers)")
    ap.add_argument("--out", default=None, help="folder for the CSV and markdown tables (default runs/bench/<date>_<time>)")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per variant, medians over them (default 7; quick 2)")
    ap.add_argument("--steps", type=int, default=None, help="training steps per timed repeat (default 40; quick 4)")
    ap.add_argument("--solve-networks", type=int, default=None, help="solve: networks (loop seeds / rnnexp replicas) timed (default 5; quick 1)")
    ap.add_argument("--loop-max-iterations", type=int, default=None, help="solve: the loop gives up after this many iterations (default 20000; quick 200)")
    ap.add_argument("--hidden", type=int, default=16, help="models section")
    ap.add_argument("--batch", type=int, default=32, help="models section")
    ap.add_argument("--replicas", type=int, default=10, help="models section")
    ap.add_argument("--bits", type=int, default=8, help="models section: sequence length")
    ap.add_argument("--models", nargs="*", default=[], help="models section: only these (the rnn is always timed)")
    args = ap.parse_args(argv)
    for name in args.sections:
        if name not in SECTIONS:
            ap.error(f"no section {name!r}: sections are {', '.join(SECTIONS)}")
    defaults = {"repeats": (7, 2), "steps": (40, 4), "solve_networks": (5, 1), "loop_max_iterations": (20_000, 200)}
    for key, (full, quick) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
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


if __name__ == "__main__":
    sys.exit(main())
