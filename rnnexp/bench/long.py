"""The ``long`` section (issue 15): long sequences, per network, against PyTorch float32.

Every case (model x hidden x T x task) times one training step of rnnexp with 10 replicas (the
default) in float32, and in float64 at T = 100 (a float64 step at T = 1000 takes tens of seconds),
against one PyTorch network's step (``baselines.torch_long_timer``: float32, one thread, Adam, the
same model, output layer and loss), side by side in one run. The ratio is what a researcher who
trains 10 seeds gets: PyTorch's time x 10 / rnnexp's time for the 10 replicas (> 1: rnnexp faster).
PyTorch is timed twice, side by side: in a process of its own, as its users run it (``peer``:
``torch_ms_per_network``, the ratios and the targets), and in the benchmark's process, which has
rnnexp's allocator setting (``torch_kept_ms``, ``ratio_kept``: PyTorch given that setting too; until
issue 15's tenth round this was the only peer, up to twice as fast as PyTorch in its own process).

Shapes: ``python -m rnnexp.bench long`` (the section named) runs the issue's whole grid: rnn, gru,
lstm x hidden 16, 64, 128 x T = 100, 500, 1000 x adding, copy (minutes); run with every section it
keeps to T = 100, hidden 16 and 64, adding (seconds), and ``--quick`` to a smoke test.

Targets: L1 the ratio (the smallest over the cases of a model) >= 1.5 at hidden <= 64 and >= 1 at
hidden 128; L2 at hidden 128, T = 500 a step within 1.5x of its own matmul floor (the same products
at the same shapes and precision, ``baselines.matmul_floor_shapes`` with the cell's gates, less the
products its compiled kernels do instead of BLAS: ``_kernel_products``); L3 the
peak memory of a step at T = 1000, hidden 128, 10 replicas, reported, and with ``bptt.truncate``
set no larger than with full BPTT. L1's note gives, for the smallest ratio, its range over the
repeats (how far the host's noise moves it) and the ratio of that case's matmul floor alone
(``_ceiling``): how far any cell code could go at those shapes with this BLAS.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import baselines, peer
from .. import config, tasks
from ..config import BpttConf
from ..engine import models as engine_models
from ..engine.models import _fused
from .measure import _config, _target, interleaved, peak_step_memory, step_timer

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
NO_TORCH = "n/a: torch is not installed (pip install torch==2.13.0, the CPU build; never a dependency of rnnexp)"


def _grid(args):
    """(models, hiddens, lengths, tasks), the floor's (hidden, T) and the memory case's (hidden, T,
    truncate); ``--long-models``, ``--long-hidden``, ``--long-lengths``, ``--long-tasks`` narrow the cases."""
    grid = list(_default_grid(args))
    for i, given in enumerate((args.long_models, args.long_hidden, args.long_lengths, args.long_tasks)):
        if given:
            grid[i] = given
    return grid


def _default_grid(args):
    if args.quick:
        return ["rnn", "lstm"], [16], [20], ["adding"], (16, 20), (16, 20, 5)
    if "long" in args.sections:
        return list(GATES), [16, 64, 128], [100, 500, 1000], ["adding", "copy"], (128, 500), (128, 1000, 50)
    return list(GATES), [16, 64], [100], ["adding"], (64, 100), (64, 100, 20)


def configs(args) -> list:
    """The checked float32 configurations of the section's grid (``_grid``): a bad ``--long-hidden``
    or ``--long-lengths`` raises ``config.ConfigError`` here, before anything is timed."""
    models, hiddens, lengths, task_names = _grid(args)[:4]
    return [_cfg(m, H, T, task, "float32") for m in models for H in hiddens for T in lengths for task in task_names]


def _cfg(model, hidden, T, task, precision, **values):
    return _config(model, task=task, length=T, hidden=hidden, replicas=10, precision=precision, **values)


def _kernel_products(model: str, hidden: int, n_in: int, n_out: int) -> dict:
    """``matmul_floor_shapes``' flags for a float32 step of a one-layer ``model``: False for each
    product its compiled kernels do instead of BLAS (left out of the floor). The input projection
    when the cell projects its inputs itself (``run_inputs``, at most ``_fused.PROJECT_IN_KERNEL``
    inputs), ``Wxh``'s gradient when its backward kernel sums that too (``sums_input_grads``), and
    ``dz @ Why^T`` when the top layer's kernel adds it (``takes_output_grads``). ``tests/test_bench.py``
    checks these against the products a step calls."""
    cell = engine_models.get(model).cell
    projects = hasattr(cell, "run_inputs") and n_in <= _fused.PROJECT_IN_KERNEL
    takes = getattr(cell, "takes_output_grads", None)
    return {"inputs": not projects, "input_grads": not (projects and getattr(cell, "sums_input_grads", False)),
            "output_grads": not (takes is not None and takes(hidden, n_out))}


def _floor_timer(cfg, model: str):
    """The matmul floor of ``cfg``'s float32 step (``baselines.matmul_floor_timer``): its products at
    its shapes (copy: T + 2K steps, 10 inputs and outputs), less those its kernels do."""
    task = tasks.make(cfg)
    spec = config.net_spec(cfg, task)
    I, O = spec.n_in, spec.loss_fn.n_out
    return baselines.matmul_floor_timer(task.T, cfg.replicas, cfg.batch, cfg.hidden, I, O, G=GATES[model],
                                        dtype=np.float32, **_kernel_products(model, cfg.hidden, I, O))


def _ceiling(model, case, steps, repeats) -> float:
    """PyTorch x 10 / the matmul floor of ``case`` (``_floor_timer``: the products of an rnnexp step
    at its shapes, nothing else), side by side: the ratio a step made of its matmuls alone would
    reach, the most any cell code could get at those shapes."""
    H, T, task = int(case["hidden"]), int(case["T"]), case["task"]
    floor = _floor_timer(_cfg(model, H, T, task, "float32"), model)
    torch = peer.own_process("torch_long_timer", model, H, T, task)
    times = interleaved([floor, torch], steps, repeats)
    torch.drop()
    return float(np.median(10 * times[:, 1] / times[:, 0]))


def _kept_note(cases) -> str:
    """The smallest ratio of ``cases`` against PyTorch timed in the benchmark's process (given
    rnnexp's allocator setting: ``peer`` says why that is not how its users run it)."""
    kept = cases.loc[cases["ratio_kept"].idxmin()]
    return (f"against PyTorch in the benchmark's process (rnnexp's allocator setting applied to it too): "
            f"{kept['ratio_kept']:.2f} smallest, at hidden {kept['hidden']}, T {kept['T']}, {kept['task']}")


def long_section(args):
    models, hiddens, lengths, task_names, (fH, fT), (mH, mT, k) = _grid(args)
    steps, repeats = 1, args.long_repeats
    rows, have_torch, spread = [], True, {}
    for model in models:
        for H in hiddens:
            for T in lengths:
                for task in task_names:
                    timers = {"float32": step_timer(_cfg(model, H, T, task, "float32"))}
                    if T <= 100:
                        timers["float64"] = step_timer(_cfg(model, H, T, task, "float64"))
                    own = peer.own_process("torch_long_timer", model, H, T, task)  # as its users run it
                    have_torch = own is not None
                    if have_torch:
                        timers["torch"] = own
                        timers["torch_kept"] = baselines.torch_long_timer(model, H, T, task)  # here
                    times = dict(zip(timers, interleaved(list(timers.values()), steps, repeats).T))
                    if have_torch:
                        own.drop()
                    row = {"model": model, "hidden": H, "T": T, "task": task,
                           "rnnexp_f32_ms": np.median(times["float32"]) * 1e3,
                           "rnnexp_f64_ms": np.median(times["float64"]) * 1e3 if "float64" in times else np.nan,
                           "torch_ms_per_network": np.median(times["torch"]) * 1e3 if have_torch else np.nan,
                           "torch_kept_ms": np.median(times["torch_kept"]) * 1e3 if have_torch else np.nan}
                    for p in ("float32", "float64"):  # per repeat, then the median: drift hits both alike
                        row[f"ratio_{p}"] = np.median(10 * times["torch"] / times[p]) if have_torch and p in times else np.nan
                    row["ratio_kept"] = np.median(10 * times["torch_kept"] / times["float32"]) if have_torch else np.nan
                    if have_torch:  # the float32 ratio's range over the repeats: how far the host's noise moves it
                        per_repeat = 10 * times["torch"] / times["float32"]
                        spread[model, H, T, task] = f"{per_repeat.min():.2f}-{per_repeat.max():.2f}"
                    rows.append(row)
                    print(f"long: {model} hidden {H} T {T} {task}: " + ", ".join(
                        f"{k_} {v:.3g}" for k_, v in row.items() if k_.startswith(("ratio", "rnnexp", "torch"))), flush=True)
    table = pd.DataFrame(rows)
    targets = []
    for model in models:
        for label, sel, goal in (("hidden <= 64", table["hidden"] <= 64, ">= 1.5"), ("hidden 128", table["hidden"] == 128, ">= 1")):
            cases = table[(table["model"] == model) & sel]
            if cases.empty:
                continue
            worst = cases.loc[cases["ratio_float32"].idxmin()] if have_torch else None
            note = NO_TORCH if not have_torch else (
                f"smallest of {len(cases)} cases (T {sorted(set(cases['T']))}, {'/'.join(sorted(set(cases['task'])))}) "
                f"at hidden {worst['hidden']}, T {worst['T']}, {worst['task']} (its {repeats} repeats: "
                f"{spread[model, worst['hidden'], worst['T'], worst['task']]}); largest "
                f"{cases['ratio_float32'].max():.2f}; float64 at T = 100: {cases['ratio_float64'].min():.2f} smallest; "
                f"the ratio of that case's matmul floor alone: {_ceiling(model, worst, steps, repeats):.2f}; "
                f"{_kept_note(cases)}")
            targets.append(_target("L1 long vs PyTorch", f"{model}, {label}: PyTorch x 10 / rnnexp 10 replicas (float32)",
                                   cases["ratio_float32"].min() if have_torch else np.nan, goal, note))
    for model in models:
        cfg = _cfg(model, fH, fT, "adding", "float32")
        times = interleaved([step_timer(cfg), _floor_timer(cfg, model)], steps, repeats)
        targets.append(_target("L2 long matmul floor", f"{model}, hidden {fH}, T {fT}, 10 replicas, float32: step / matmul floor",
                               np.median(times[:, 0] / times[:, 1]), "<= 1.5"))
    full, cut = (peak_step_memory(_cfg("lstm", mH, mT, "adding", "float32", **t)) / 2**20
                 for t in ({}, {"bptt": BpttConf(truncate=k)}))
    targets.append(_target("L3 long peak memory", f"lstm, hidden {mH}, T {mT}, 10 replicas, float32: peak of a step "
                           f"with bptt.truncate={k} / full BPTT", cut / full, "<= 1",
                           f"peak of a training step (tracemalloc): {full:.0f} MB full BPTT, {cut:.0f} MB truncated"))
    return table, targets

