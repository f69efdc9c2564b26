"""How much memory a training needs, estimated from its settings before any work, and the refusal
of one that would not fit.

Sizes have no upper bound of their own (``hidden``, ``replicas``, ``batch``, ``model.layers``,
``train_size``...): what bounds them is the machine. ``estimate`` adds up the arrays a training
holds at its peak, from the shapes the code allocates; the factors (how many arrays of each shape
are alive at once) were measured with ``tracemalloc`` on small cases (tests/test_memory.py checks
that the estimate stays within ``FACTOR`` of the measured peak). ``check`` refuses, in one line,
a configuration whose estimate does not fit in the memory available (``MemAvailable`` of
``/proc/meminfo``, or a cgroup's limit if lower) less a margin.

Counted (``Part``):

- ``step``: one training step: the forward cache, BPTT, the state-gradient profile, the packed
  optimizer update: ``T x R x B x H`` per layer and direction times a per-model factor; with
  several recurrent matrices also their block-diagonal copy whose singular value is tracked. With
  ``bptt.truncate=k`` (a causal model, k < T - 1) the step runs in windows from checkpoints
  (``engine.models._windows``): one window of ``max(k, 64)`` steps of one replica group, the k lags'
  edge gradients, and per step of all T only the inputs, logits and losses with their gradients.
  Arrays of the step and the parameters are in the ``precision``'s float (float32: 4 bytes).
- ``parameters``: weights, gradients, optimizer state (Adam: 2 moments; SGD with momentum: 1) and
  the update's temporaries, ``R x P``.
- ``data``: the buffered batches (``data.Batches``: a chunk of steps at once), or the fixed
  training set of ``train_size`` problems per replica.
- ``evaluation``: the evaluation sets (all problems up to 9 bits, else 10,000; one per scored
  length) with their prefix trees, and the pieces in flight (``metrics.evaluate``).
- ``tables``: the history and gradient-profile rows recorded at every evaluation.

Numerical code never sees Hydra: ``estimate`` reads plain values through ``get(key)``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from . import config, tasks
from .engine import losses, network
from .engine.models import _windows
from .tasks.addition import data

GATES = {"rnn": 1, "birnn": 1, "gru": 3, "lstm": 4}  # G: the cell's pre-activations are G*H wide
STATES = {"lstm": 2}  # state arrays carried per layer (h, and c for an LSTM)
# bytes per element of T x R x B x H x layers x directions alive at a training step's peak (float64
# arrays: forward cache, BPTT and the profile, the previous step's cache): measured with tracemalloc
# (tests/test_memory.py), then raised to cover the growth of the resident memory (ru_maxrss, which
# also counts BLAS/LAPACK buffers and the allocator's slack) at hidden 256, batch 256, 10 replicas
STEP_FACTOR = {"rnn": 70, "birnn": 62, "gru": 195, "lstm": 290}
# a truncated step holds one window's caches and lags, and no previous step's cache beside them (that
# is its checkpoints): this share of STEP_FACTOR per element of window x replica group x B x H x
# layers (measured with tracemalloc at hidden 32: rnn 26-42, gru 70-93, lstm 95-127 bytes in float64,
# the edges included; the share keeps STEP_FACTOR's margin for the resident memory's growth)
WINDOW_SHARE = 0.75
# bytes per T x R x B element held for all T steps of a truncated step, per number of inputs and
# outputs: the inputs, logits, losses and their gradients (measured: 17-33 bytes on adding, 1 output;
# 140-190 on copy, 10 outputs; some of them float64 whatever the precision, so counted at 8 bytes)
PER_STEP = 8.0
# the whole-sequence evaluation's pieces (adding, copy) beside a truncated step, against EVAL_FACTOR's
# count in float64 (measured with tracemalloc: rnn 0.56, gru 1.14, lstm 1.04 of it; tests/test_memory.py)
SEQUENCE_EVAL = {"rnn": 0.8, "gru": 1.25, "lstm": 1.25}
STEP_PARAM_COPIES = 6  # R x P arrays a step adds: gradients, packed copies, the update's
OPTIMIZER_STATE = {"adam": 2}  # R x P arrays an optimizer keeps (Adam's two moments; SGD: momentum)
TABLE_ROW = 160  # bytes per recorded table row, config columns and the final concatenation included
EVAL_FACTOR = 14  # bytes per element of bits x piece x R x H x (G + S) x layers x directions
EVAL_PIECE = 2**15  # metrics.evaluate's max_elems: nodes x R x width per piece
FACTOR = 2.0  # the estimate is at least the measured peak and at most FACTOR times it
MARGIN = 0.10  # of the available memory kept free: the interpreter, libraries, other programs
WORKER = 100e6  # a worker process's interpreter and libraries (ru_maxrss after importing rnnexp: 83 MB)


@dataclass
class Estimate:
    """Peak bytes of one training, by part. ``held`` parts live through the whole training; a
    training step and an evaluation come one after the other, so only the larger counts."""

    held: dict[str, float]  # parameters and optimizer state, data, evaluation sets, tables
    step: float  # a training step's arrays
    evaluation: float  # an evaluation's pieces in flight

    @property
    def total(self) -> float:
        return sum(self.held.values()) + max(self.step, self.evaluation)

    @property
    def largest(self) -> str:
        parts = {**self.held, "a training step": self.step, "an evaluation": self.evaluation}
        return max(parts, key=parts.get)


def _n_params(model: str, G: int, H: int, L: int, D: int, top: int, n_out: int, bias: bool, n_in: int = 2) -> int:
    """Parameters per replica: every layer's ``Wxh, Whh, bh`` (per direction) and the output layer."""
    upper = top if model == "birnn" else H  # what layer l > 0 reads
    per_dir = n_in * G * H + H * G * H + (G * H if bias else 0)  # layer 0 reads the task's inputs
    per_dir += (L - 1) * (upper * G * H + H * G * H + (G * H if bias else 0))
    return D * per_dir + top * n_out + (n_out if bias else 0)


def _eval_set_bytes(bits: int, causal: bool, delay: int = 0) -> float:
    """One evaluation set of addition (x, y float64) and, for a causal model, its prefix tree (~40
    bytes a node plus the build's temporaries)."""
    n = 4 ** (bits - 1) if bits <= data.EXHAUSTIVE_MAX_BITS else data.HELDOUT_SIZE
    out = 24.0 * n * (bits + delay) * (2 if delay else 1)  # with a delay: the padded copy too
    if causal:
        nodes = sum(min(n, 8 ** (t + 1)) for t in range(bits))
        out += 40.0 * nodes + 48.0 * n
    return out


def estimate(cfg) -> Estimate:
    """The peak memory of one training, from its settings (a ``Config`` or ``DictConfig`` that
    passed ``config.check``)."""
    def get(key):
        return config.select(cfg, key)

    model = get("model.name")
    task = tasks.make(cfg)  # the sequence length, inputs and outputs are the task's
    addition = get("task.name") == "addition"
    T, R, B, H = int(task.T), int(get("replicas")), int(get("batch")), int(get("hidden"))
    L = int(get("model.layers"))
    D = 2 if model == "birnn" else 1
    G, S = GATES.get(model, 4), STATES.get(model, 1)
    concat = model == "birnn" and get("model.merge") == "concat"
    top = 2 * H if concat else H
    n_out, n_in = losses.get(task.head).n_out, int(task.n_in)
    causal = model != "birnn"
    P = _n_params(model, G, H, L, D, top, n_out, bool(get("bias")), n_in)

    precision = str(get("precision"))
    size = float(np.dtype(precision).itemsize)  # bytes per number of the step and the parameters
    factor = float(STEP_FACTOR.get(model, max(STEP_FACTOR.values()))) * size / 8  # measured in float64
    k = get("bptt.truncate")
    spec = network.NetSpec(hidden=H, model=model, truncate=k, precision=precision)
    windowed = network.truncated(spec, T)
    if windowed:  # windows from checkpoints: bounded by k, not T (but in what all T hold)
        k, W = int(k), min(T, _windows.window_size(int(k)))
        group = network.replica_group_size(spec, T, R, B)  # one replica group's window at a time
        step = WINDOW_SHARE * factor * W * group * B * H * L + size * 2 * k * S * group * B * H * L  # + edges
        step += size * 2 * -(-T // W) * S * R * B * H * L  # checkpoints: this step's and the previous one's
        step += PER_STEP * (n_in + 2 * n_out + 1) * T * R * B
    else:
        step = factor * T * R * B * H * L * D
    if L * D > 1:  # recurrent_weights: every Whh block-diagonally, (R, L*D*H, L*D*G*H), and its SVD
        step += 8.0 * 2 * R * (L * D * H) * (L * D * G * H)
    step += size * STEP_PARAM_COPIES * R * P
    state = OPTIMIZER_STATE.get(get("optimizer.name"), 0) or (1 if get("optimizer.momentum") else 0)
    parameters = size * (1 + state) * R * P  # the weights and the optimizer's state, held throughout

    train_size = int(get("train_size"))
    per = 16.0 * (n_in + 1)  # x (n_in), y float64 per step, and their temporaries: 48 for addition
    if train_size:
        sample = per * T * R * train_size
    else:
        chunk = max(1, min(64, 2**16 // (T * B)))
        sample = per * chunk * T * R * B  # (C, T, R, B, n_in) and (C, T, R, B), drawn and moved

    piece = max(1, EVAL_PIECE // (R * top))  # problems (tree nodes) per piece
    if addition:
        delay = int(get("task.delay"))
        lengths = sorted({int(get("bits")), *[int(b) for b in get("eval_bits")]})
        eval_sets = sum(_eval_set_bytes(b, causal, delay) for b in lengths)
        longest = max(lengths) + delay
    else:  # a fixed held-out sample, no prefix tree; the logits of a piece (k classes) on top
        lengths, longest = [T], T
        eval_sets = 8.0 * (n_in + 1) * T * task.EVAL_SIZE
    # a causal model keeps one step's arrays per level of the tree it descends; birnn runs a whole
    # piece of problems through every step: either way about bits x piece x R x H per layer
    in_flight = EVAL_FACTOR * longest * piece * R * max(H * (G + S) * L * D, 2 * n_out)
    if addition:  # the pieces' states in the precision's float (EVAL_FACTOR: measured in float64)
        in_flight *= size / 8
    if not addition and windowed:  # whole sequences, in the precision's float, beside a truncated step's
        in_flight *= SEQUENCE_EVAL.get(model, 1.25) * size / 8  # small cache (its checkpoints): the pieces alone
    elif not addition:  # whole sequences through every step (no prefix tree) while the training step's cache
        eval_sets += 0.5 * in_flight  # is still held: half the pieces on top of the step (measured with
        in_flight = 0.0  # tracemalloc for rnn, gru, lstm, birnn on adding and copy: tests/test_memory.py)

    steps, every = config.effective_steps(cfg), int(get("eval_every"))
    evaluations = steps // every + 2
    rows = evaluations * R * (T * S * (L * D if model == "birnn" else 1) + 1) + R * (T + len(lengths))
    tables = float(TABLE_ROW) * rows
    return Estimate({"parameters and optimizer state": parameters, "training data": sample,
                     "evaluation sets": eval_sets, "recorded tables": tables}, step, in_flight)


def available() -> tuple[int, str]:
    """Bytes of memory this process can still use, and where the number comes from."""
    found: list[tuple[int, str]] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append((int(line.split()[1]) * 1024, "MemAvailable"))
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        try:
            found.append((os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "free memory"))
        except (ValueError, OSError, AttributeError):
            pass
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            lim, used = Path(limit).read_text().strip(), int(Path(usage).read_text())
        except (OSError, ValueError):
            continue
        if lim.isdigit() and int(lim) < 2**60:
            found.append((int(lim) - used, "the cgroup's memory limit"))
    return min(found) if found else (2**63, "no limit found")


# the settings an estimate depends on, named in a refusal (those that differ from 1 or matter)
SHOWN = ("task.name", "task.length", "task.delay", "model.name", "model.layers", "hidden", "replicas", "batch", "bits",
         "train_size", "eval_bits",
         "steps", "eval_every")


def describe(cfg) -> str:
    """The settings the estimate depends on (the tables' only when they are large)."""
    def get(key):
        return config.select(cfg, key)

    parts = []
    addition = get("task.name") == "addition"
    own = ("task.delay", "bits") if addition else ("task.name", "task.length")  # the task's, shown for it only
    for key in SHOWN:
        if key.startswith("task.") or key == "bits":
            if key not in own:
                continue
        v = get(key)
        if key == "train_size" and not v or key == "eval_bits" and not v or key == "task.delay" and not v:
            continue
        if key in ("steps", "eval_every") and config.effective_steps(cfg) // int(get("eval_every")) < 10_000:
            continue  # the tables are small: not worth naming
        name = config.OVERRIDE_NAME.get(key, key)
        parts.append(f"{name}={list(v) if key == 'eval_bits' else v}")
    return " ".join(parts)


# what each part grows with, named in a refusal
GROWS = {"a training step": "replicas x batch x bits x hidden x layers", "an evaluation": "replicas x hidden x layers",
         "parameters and optimizer state": "replicas x hidden^2 x layers", "training data": "replicas x batch (or train_size) x bits",
         "evaluation sets": "bits and eval_bits", "recorded tables": "steps / eval_every x replicas x bits"}


def human(n: float) -> str:
    if n >= 1e15:
        return f"{n / 1e12:,.0f} TB"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 1e3:.1f} kB"


def check(cfg, jobs: int = 1, free: Optional[tuple[int, str]] = None, worker: bool = False) -> Estimate:
    """Raise ``config.ConfigError`` (one line) if ``cfg`` would not fit in memory (``free``: bytes
    available and where that number comes from; default ``available()``). ``jobs`` trainings like
    it run at once, each in a new ``worker`` process when true (a sweep's jobs: the interpreter and
    libraries, ``WORKER``, come on top). ``cfg`` has passed ``config.check``."""
    est = estimate(cfg)
    have, source = available() if free is None else free
    need = jobs * (est.total + (WORKER if worker else 0))
    if need > have * (1 - MARGIN):
        times = f"{jobs} jobs at once, each " if jobs > 1 else ""
        raise config.ConfigError(
            f"{describe(cfg)} would not fit in memory: {times}about {human(need / jobs)} "
            f"(most for {est.largest}: {GROWS[est.largest]}), {human(have)} is available "
            f"({source}; {MARGIN:.0%} of it is kept free)")
    return est
