"""Benchmarks: ``python -m rnnexp.bench [SECTION ...] [--repeats N] [--hidden H] ...``.

Each section is a function in ``SECTIONS`` that takes the parsed arguments and returns a table
(a ``pandas.DataFrame``); the command prints one table per section. Add a section by writing such a
function and registering it in ``SECTIONS`` (and its options in ``_arguments`` if it needs any).

Sections:

- ``models``: time per training step of every model relative to the Elman RNN at the same hidden
  size, batch, sequence length and replicas. The variants are timed side by side, interleaved
  within each repeat (in a rotating order, so drift and warm-up hit all of them alike); the table
  gives each variant's median time per step and the median over repeats of its ratio to the RNN.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from . import config, data, gradients, models, network, optim, train

# model variants of the "models" section: (label, model, its settings)
MODEL_VARIANTS = [
    ("rnn", "rnn", {}),
    ("birnn", "birnn", {}),
    ("lstm", "lstm", {}),
    ("gru", "gru", {}),
    ("rnn layers=2", "rnn", {"layers": 2}),
    ("lstm layers=2", "lstm", {"layers": 2}),
]


def _config(args, model: str, settings: dict) -> config.Config:
    cfg = config.Config()
    cfg.model = models.conf_class(model)(name=model, **settings)
    cfg.hidden, cfg.batch, cfg.replicas, cfg.bits = args.hidden, args.batch, args.replicas, args.bits
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


def models_section(args) -> pd.DataFrame:
    variants = [v for v in MODEL_VARIANTS if not args.models or v[0].split()[0] in args.models]
    if variants[0][0] != "rnn":
        variants.insert(0, MODEL_VARIANTS[0])  # the reference
    timers = [step_timer(_config(args, model, settings)) for _, model, settings in variants]
    for run in timers:
        run(max(2, args.steps // 5))  # warm-up: first-touch allocations, caches
    times = np.empty((args.repeats, len(variants)))  # seconds per step
    for r in range(args.repeats):
        for k in np.roll(np.arange(len(variants)), r):  # rotate the order every repeat
            times[r, k] = timers[k](args.steps) / args.steps
    ratios = times / times[:, :1]  # per repeat, relative to the rnn timed in the same repeat
    return pd.DataFrame({
        "model": [v[0] for v in variants],
        "us_per_step": np.median(times, axis=0) * 1e6,
        "ratio_to_rnn": np.median(ratios, axis=0),
        "ratio_min": ratios.min(axis=0),
        "ratio_max": ratios.max(axis=0),
    })


SECTIONS = {"models": models_section}


def _arguments(argv):
    ap = argparse.ArgumentParser(prog="python -m rnnexp.bench", description=__doc__.splitlines()[0])
    ap.add_argument("sections", nargs="*", default=[], help=f"sections to run (default: all): {', '.join(SECTIONS)}")
    ap.add_argument("--repeats", type=int, default=7, help="timed repeats per variant (medians over them)")
    ap.add_argument("--steps", type=int, default=40, help="training steps per timed repeat")
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--replicas", type=int, default=10)
    ap.add_argument("--bits", type=int, default=8, help="sequence length")
    ap.add_argument("--models", nargs="*", default=[], help="models section: only these (the rnn is always timed)")
    args = ap.parse_args(argv)
    for name in args.sections:
        if name not in SECTIONS:
            ap.error(f"no section {name!r}: sections are {', '.join(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    for name in args.sections or list(SECTIONS):
        table = SECTIONS[name](args)
        print(f"== {name}: hidden={args.hidden} batch={args.batch} replicas={args.replicas} bits={args.bits}, "
              f"median of {args.repeats} repeats x {args.steps} steps ==")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
