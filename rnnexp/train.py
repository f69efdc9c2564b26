"""The training loop. Trains ``replicas`` independent networks at once and records what happened.

Never raises on divergence: a replica whose loss or weights become NaN/inf is frozen at its last
finite weights and recorded (``diverged``, ``diverged_step``); the others go on.

Plain values in, tables out: ``train`` takes a ``config.Config`` and knows nothing of Hydra, folders
or the cache (``rnnexp.runs.job`` runs it for a Hydra job). May import ``config``, ``engine`` and
``tasks`` only.

Whoever runs it may watch it through an ``Observer`` (progress, logs, the history so far on disk:
``rnnexp.runs.progress``) and keep its ``Snapshot`` (the whole state between two steps) to resume a
killed training where it stopped (``rnnexp.runs.checkpoint``): ``train(cfg, resume=snapshot)``
continues with the same weights, optimizer state, data streams and bookkeeping, so the result is
the one an uninterrupted training gives, bit for bit (wall time aside).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import config, memory, tasks
from .engine import gradients, network, optim


@dataclass
class Result:
    """Long tables, one row per observation (no config columns yet)."""

    summary: pd.DataFrame  # one row per replica: final metrics, steps_to_solve, divergence
    history: pd.DataFrame  # one row per (evaluation step, replica)
    profile: pd.DataFrame  # one row per (evaluation step, replica, state, t): ||dL_T/dh_t||
    positions: pd.DataFrame  # one row per (replica, position): final per-bit accuracy (addition; else empty)
    lengths: pd.DataFrame  # one row per (replica, bits_scored): the final model scored at each length
    #   (addition's eval_bits; another task: its training length, bits_scored = its steps)
    wall_time: float
    cached: bool = False  # loaded from the cache of finished trainings (rnnexp.runs.cache), not trained now


class Observer:
    """What ``train`` tells whoever watches it. Every hook does nothing here: override what you need.
    A hook must not change the training's state; it sees plain values only."""

    def started(self, step: int, steps: int, history: pd.DataFrame | None) -> None:
        """Training starts at ``step`` (0, or where a resumed snapshot stopped) of ``steps``;
        ``history``: the evaluations recorded before ``step`` (None when starting afresh)."""

    def evaluated(self, step: int, rows: pd.DataFrame) -> None:
        """The evaluation at ``step``: its ``history`` rows, one per replica."""

    def stepped(self, done: int, snapshot) -> None:
        """``done`` steps are trained. ``snapshot()`` gives the state to resume from here, a
        ``Snapshot`` referring to the live arrays: pickle it before this hook returns."""


@dataclass
class Snapshot:
    """The whole state of a training between two steps: what ``train(cfg, resume=...)`` needs to
    continue exactly as if never stopped. ``batches`` holds every replica's data generators (their
    ``bit_generator`` states) and any batches drawn ahead; ``opt`` its moments and step counts."""

    step: int  # the next step to train
    replicas: np.ndarray  # the replica ids trained
    params: dict
    opt: object
    batches: object
    lr: np.ndarray  # (R,) each replica's learning rate now
    active: np.ndarray  # (R,) not diverged
    diverged_step: np.ndarray
    solved_step: np.ndarray
    last_check: np.ndarray  # halve_on_rise: the loss at the last "did it rise?" check
    window: tuple  # the running means since the last evaluation: (loss, clipped, max norm, n)
    history: pd.DataFrame  # the evaluations so far
    profile: pd.DataFrame
    train_cols: list
    elapsed: float  # seconds trained before this snapshot


def replica_rngs(seed: int, replica_ids) -> tuple[list, list]:
    """Init and data generators of each replica: replica r uses ``SeedSequence(seed).spawn(n)[r]``."""
    seqs = [np.random.SeedSequence(seed, spawn_key=(int(r),)) for r in replica_ids]
    pairs = [[np.random.default_rng(s) for s in q.spawn(2)] for q in seqs]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def train(cfg: config.Config, replica_ids=None, observer: Observer | None = None,
          resume: Snapshot | None = None) -> Result:
    """Train; ``replica_ids`` picks which replicas of the seed to train (default ``range(replicas)``).

    ``cfg`` is checked first, like on the command line (``config.ConfigError``, one line): a plain
    ``Config`` may have been changed since it was made, and it must fit in memory. ``observer`` is
    told of the start, each evaluation and each step (``Observer``); ``resume``, a ``Snapshot`` of
    this very training (same settings, replicas and engine), continues it from its step (its
    optimizer and batches go on from their state: resume from a fresh copy, e.g. unpickled).
    """
    config.check(cfg)
    memory.check(cfg)
    t0 = time.perf_counter()
    ids = np.arange(cfg.replicas) if replica_ids is None else np.asarray(replica_ids)
    R = len(ids)
    task = tasks.make(cfg)  # the training loop names no task: it asks this object
    spec = config.net_spec(cfg, task)
    init_rngs, data_rngs = replica_rngs(cfg.seed, ids)
    params = network.init_params(spec, init_rngs)
    shared = tasks.shared_set_rng(cfg.seed) if cfg.train_set == "shared" else None  # one set for every replica
    batches = task.batches(data_rngs, cfg.batch, cfg.train_size, shared)
    ex, ey, emask = task.eval_set()
    opt = optim.make(cfg.optimizer.name, params, momentum=cfg.optimizer.momentum, beta1=cfg.optimizer.beta1,
                     beta2=cfg.optimizer.beta2, eps=cfg.optimizer.eps)
    steps = config.effective_steps(cfg)
    steps_per_epoch = cfg.train_size // cfg.batch if cfg.train_size else 0
    halve = cfg.lr_schedule == "halve_on_rise"

    lr = np.full(R, float(cfg.lr))
    active = np.ones(R, bool)
    diverged_step = np.full(R, -1)
    solved_step = np.full(R, -1)
    last_check = np.full(R, np.inf)  # loss at the last "did it rise?" check
    win_loss, win_clip, win_gmax, win_n = np.zeros(R), np.zeros(R), np.zeros(R), 0
    hist, prof, train_cols = [], [], []
    evaluation = None

    start, s = 0, 0
    if resume is not None:
        if not np.array_equal(resume.replicas, ids) or not 0 < resume.step <= steps:
            raise ValueError(f"the snapshot to resume (replicas {list(resume.replicas)}, step {resume.step}) is not "
                             f"of this training (replicas {list(ids)}, {steps} steps)")
        start, opt, batches, lr, active = resume.step, resume.opt, resume.batches, resume.lr, resume.active.copy()
        diverged_step, solved_step, last_check = resume.diverged_step.copy(), resume.solved_step.copy(), resume.last_check
        win_loss, win_clip, win_gmax, win_n = resume.window
        hist, prof, train_cols = [resume.history], [resume.profile], list(resume.train_cols)
        t0 -= resume.elapsed
        # the weights laid out as the optimizer leaves them (views into one packed array; after a
        # divergence, arrays of their own), so that every later operation sees the same memory layout
        params = optim.unpack(optim.pack(resume.params, opt.names), resume.params, opt.names) \
            if active.all() else resume.params

    def snapshot() -> Snapshot:
        return Snapshot(s + 1, ids, params, opt, batches, lr, active, diverged_step, solved_step, last_check,
                        (win_loss, win_clip, win_gmax, win_n), pd.concat(hist, ignore_index=True),
                        pd.concat(prof, ignore_index=True), train_cols, time.perf_counter() - t0)

    watch = observer or Observer()
    watch.started(start, steps, hist[0] if resume is not None else None)
    with np.errstate(all="ignore"):  # overflow in a diverging replica is a result, not a warning
        for s in range(start, steps + 1):
            if halve and steps_per_epoch and s % steps_per_epoch == 0 and s < steps:
                epoch_loss = task.train_set_loss(spec, params, batches)
                lr = np.where(epoch_loss > last_check, lr / 2, lr)
                last_check = epoch_loss
            x, y, mask = batches.next(s)  # at s == steps: a diagnostic batch only, never trained on
            is_eval = s % cfg.eval_every == 0 or s == steps  # the cache is kept for the profile only then
            loss, grads, z, cache = network.loss_and_grads(spec, params, x, y, mask=mask, keep_cache=is_eval)
            norm = gradients.global_norm(grads)
            if is_eval:
                pnorms = gradients.param_norms(grads)
                profiles = network.state_grad_profile(spec, params, cache, z, y, mask)
            fired = gradients.clip(grads, cfg.clip.name, cfg.clip.threshold, norm)
            # per target (per bit): a "sum" objective is divided by the targets a sequence carries
            win_loss += loss if spec.time_reduction == "mean" else loss / (x.shape[0] if mask is None else
                                                                           np.broadcast_to(mask, y.shape)[:, 0, 0].sum())
            win_clip += fired
            win_gmax = np.fmax(win_gmax, norm)
            win_n += 1

            if is_eval:
                evaluation = task.evaluate(spec, params, ex, ey, emask)
                if halve and not steps_per_epoch and s > 0:
                    lr = np.where(evaluation["loss"] > last_check, lr / 2, lr)
                if halve and not steps_per_epoch:
                    last_check = evaluation["loss"]
                newly = (solved_step < 0) & active & task.solved(evaluation)
                solved_step[newly] = s
                row = {
                    "step": np.full(R, s), "replica": ids, "eval_loss": evaluation["loss"],
                    **{c: evaluation[c] for c in task.columns},
                    "train_loss": win_loss / win_n, "grad_norm": norm, "grad_norm_max": win_gmax,
                    "clipped": fired, "clip_frac": win_clip / win_n,
                    "sigma_max": gradients.largest_singular_value(spec.impl.recurrent_weights(params)),
                    "lr_now": lr.copy(), "diverged": ~active,
                }
                if steps_per_epoch:
                    row["epoch"] = np.full(R, s / steps_per_epoch)
                    measured = task.train_measures(spec, params, batches)  # seed 001's metric (addition)
                    row.update(measured)
                    train_cols = list(measured)
                row.update({f"grad_norm_{k}": v for k, v in pnorms.items()})
                rows = pd.DataFrame(row)
                hist.append(rows)
                T = profiles[next(iter(profiles))].shape[1]
                for state, norms in profiles.items():  # (R, T)
                    prof.append(pd.DataFrame({
                        "step": s, "replica": np.repeat(ids, T), "state": state,
                        "t": np.tile(np.arange(1, T + 1), R), "grad_norm": norms.ravel(),
                    }))
                win_loss, win_clip, win_gmax, win_n = np.zeros(R), np.zeros(R), np.zeros(R), 0
                watch.evaluated(s, rows)
            if s == steps:
                break

            new = opt.step(params, grads, lr, active)
            ok = np.isfinite(loss) & np.isfinite(optim.pack(new, opt.names)).all(axis=1)  # every new weight, per replica
            if ok.all() and active.all():
                params = new
            else:
                diverged_step[active & ~ok] = s + 1
                active &= ok
                keep = active[:, None, None]
                params = {k: np.where(keep, new[k], params[k]) for k in params}
            watch.stepped(s + 1, snapshot)

    wall = time.perf_counter() - t0
    history = pd.concat(hist, ignore_index=True)
    final = history[history["step"] == steps].set_index("replica").loc[ids]
    summary = pd.DataFrame({
        "replica": ids,
        "solved": solved_step >= 0,
        "steps_to_solve": np.where(solved_step >= 0, solved_step, np.nan),
        "diverged": ~active,
        "diverged_step": np.where(diverged_step >= 0, diverged_step, np.nan),
        "eval_loss": final["eval_loss"].to_numpy(), **{c: final[c].to_numpy() for c in task.columns},
        "train_loss": final["train_loss"].to_numpy(),
        "grad_norm": final["grad_norm"].to_numpy(), "sigma_max": final["sigma_max"].to_numpy(),
        "lr_final": lr, "steps": steps, "wall_time": wall,
    })
    for c in train_cols:  # a task's measures on the training set (seed 001's metric), final values
        summary[c] = final[c].to_numpy()
    positions = task.positions(evaluation, ids)  # at the final evaluation
    lengths = task.lengths(spec, params, ids, cfg.eval_bits, evaluation)  # the last evaluation is the training length's
    return Result(summary, history, pd.concat(prof, ignore_index=True), positions, lengths, wall)

