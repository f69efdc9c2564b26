"""Timing tools of the benchmark: a training step as ``train.train`` does it, side-by-side repeats,
peak memory, and a description of the machine."""
from __future__ import annotations

import dataclasses
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np

from .. import config, tasks, train
from ..engine import gradients, models, network, optim
from ..engine.models import _fused
from ..tasks.addition import data, metrics


def _config(model: str = "rnn", settings: dict | None = None, task: str = "addition", length: int | None = None,
            **values) -> config.Config:
    """A checked configuration: ``model`` with its ``settings``, ``task`` (with ``task.length``), ``values``."""
    cfg = config.Config()
    cfg.model = models.conf_class(model)(name=model, **(settings or {}))
    cfg.task = tasks.conf_class(task)(name=task, **({} if length is None else {"length": length}))
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
    task = tasks.make(cfg)
    spec = config.net_spec(cfg, task)
    init_rngs, data_rngs = train.replica_rngs(cfg.seed, np.arange(cfg.replicas))
    state = {"params": network.init_params(spec, init_rngs), "s": 0}
    batches = task.batches(data_rngs, cfg.batch, cfg.train_size)
    opt = optim.make(cfg.optimizer.name, state["params"], momentum=cfg.optimizer.momentum,
                     beta1=cfg.optimizer.beta1, beta2=cfg.optimizer.beta2, eps=cfg.optimizer.eps)
    lr = np.full(cfg.replicas, float(cfg.lr))
    active = np.ones(cfg.replicas, bool)
    if _fused.use(spec.dtype):  # numba and the float32 kernels loaded now: neither a timing nor a
        _fused.compile_all()  # tracemalloc peak of the steps counts them

    def run(n: int) -> float:
        t0 = time.perf_counter()
        with np.errstate(all="ignore"):
            for _ in range(n):
                x, y, mask = batches.next(state["s"])
                _, grads, _, _ = network.loss_and_grads(spec, state["params"], x, y, mask=mask, keep_cache=False)
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
            "met": ("yes" if met else "no") if np.isfinite(value) else "n/a", "note": note}  # n/a: not measured


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


def peak_step_memory(cfg: config.Config, steps: int = 1) -> int:
    """Peak bytes allocated during ``steps`` training steps of ``cfg`` (``tracemalloc``: NumPy reports
    its arrays to it): what the steps allocate, not the parameters and optimizer state they start from
    (with two, the second step runs beside the first's cache)."""
    run = step_timer(cfg)
    tracemalloc.start()
    try:
        run(steps)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


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
