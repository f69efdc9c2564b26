"""The benchmark's sections, one function each (``SECTIONS``), returning its table and its rows of
the targets table (see ``rnnexp.bench``)."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from . import CALLER_ENV
from . import baselines, peer
from .. import config, train
from ..tasks.addition import data, metrics
from .long import long_section
from .measure import _config, _peak_memory, _step_and_eval_seconds, _target, interleaved, step_timer

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


def step_section(args):
    """Target 2: one training step, one replica, hidden 16, batch 32, 8 bits: PyTorch / rnnexp.
    Both use SGD; rnnexp's step includes drawing its batch, PyTorch's batches are made beforehand.
    PyTorch runs in a process of its own, as its users run it (``peer``)."""
    run_torch = peer.own_process("torch_step_timer", 16, 32, 8)
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
    run_torch.drop()
    table["ratio_pytorch_over_this"] = [np.median(times[:, 2] / times[:, k]) for k in range(3)]
    return table, [_target("2 step vs PyTorch", "pytorch / rnnexp time per step (sgd)", ratio, ">= 3",
                           f"torch {peer.status()['torch']}, float32, 1 thread, in a process of its own; rnnexp float64")]


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
    (the same matmuls, nothing else: ``baselines.matmul_floor_shapes``)."""
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
    env = dict(CALLER_ENV)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH")]))

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


def model_configs(args) -> list:
    """``[(label, checked configuration)]`` of the models section's variants (``--models``; the
    Elman RNN first, the reference); a bad ``--bits`` etc. raises ``config.ConfigError``."""
    variants = [v for v in MODEL_VARIANTS if not args.models or v[0].split()[0] in args.models]
    if variants[0][0] != "rnn":
        variants.insert(0, MODEL_VARIANTS[0])
    return [(label, _config(model, settings, hidden=args.hidden, batch=args.batch, replicas=args.replicas,
                            bits=args.bits)) for label, model, settings in variants]


def models_section(args):
    """Time per training step of every model relative to the Elman RNN (hidden 16, batch 32,
    10 replicas, 8 bits): each variant's median time per step and the median over repeats of its
    ratio to the RNN timed in the same repeat."""
    variants, configs = zip(*model_configs(args))
    times = interleaved([step_timer(cfg) for cfg in configs], args.steps, args.repeats)
    ratios = times / times[:, :1]  # per repeat, relative to the rnn timed in the same repeat
    return pd.DataFrame({
        "model": list(variants),
        "us_per_step": np.median(times, axis=0) * 1e6,
        "ratio_to_rnn": np.median(ratios, axis=0),
        "ratio_min": ratios.min(axis=0),
        "ratio_max": ratios.max(axis=0),
    }), []


SECTIONS = {"solve": solve_section, "step": step_section, "replicas": replicas_section, "floor": floor_section,
            "e2e": e2e_section, "scaling": scaling_section, "models": models_section, "long": long_section}
