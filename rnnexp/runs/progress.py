"""Feedback while work runs: progress on the terminal or in the log, and the story of each job.

One job (``Watch``, the ``train.Observer`` that ``job.run`` hands the training):

- a single run on a terminal: a tqdm bar on stderr (step, rate, time left, the last evaluation's
  loss and accuracy), cleared when the run ends; output that is no terminal (a pipe, a log file,
  CI, SLURM): a plain line on stderr every ``progress_seconds`` (default 30; the first one after
  that long, so a short run prints none);
- every job: each evaluation's rows appended to ``history.partial.csv`` in its folder (config
  columns included: it plots like ``history.csv``), so a killed run leaves its curves. The name
  marks it unfinished: only ``run.json`` makes a run complete, and collecting never reads this
  file (``combine.scan`` names the folder as unfinished). It is removed once the run is written;
- every job: its state in ``STATUS`` (``.rnnexp-progress.json``: running / failed / interrupted,
  step and steps), rewritten at most every second, which the sweep's launcher reads;
- every job: its story through Python logging (Hydra's job log file, ``<job dir>/__main__.log``):
  its settings, a resume or a cache hit, each evaluation, the end.

A sweep (``SweepProgress``, a Hydra callback): a thread in the launcher polls the sweep dir once
a second (the jobs' ``run.json`` and ``STATUS`` files, so it works for any launcher whose jobs
write to a shared disk) and shows one live line on a terminal: jobs done / cached / failed /
running and the time left; elsewhere a plain line every ``progress_seconds``. A sweep's jobs show
no bars of their own. ``stop_all`` ends the line before the Ctrl-C message is printed.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import pandas as pd
from hydra.experimental.callback import Callback
from tqdm import tqdm

from .. import train
from . import results
from .combine import PARTIAL

STATUS = ".rnnexp-progress.json"
log = logging.getLogger(__name__)


def interactive(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced
        return False


def say(line: str, stream) -> None:
    """``line`` and its newline in one write: print() writes them separately on a write-through
    stderr, and a worker's ``[job N]`` line landing between the two would be cut in the middle."""
    stream.write(line + "\n")
    stream.flush()


def clear_line() -> str:
    """What to print before a line on stdout so that it does not land inside a live progress line
    on the same terminal: carriage return and erase-line when both outputs are a terminal."""
    return "\r\x1b[K" if interactive(sys.stdout) and interactive(sys.stderr) else ""


def measures(rows: pd.DataFrame) -> dict[str, float]:
    """An evaluation's headline numbers, means over replicas: the loss and the task's accuracies."""
    cols = ["eval_loss"] + [c for c in ("bit_acc", "sum_acc", "acc", "exact", "copy_acc") if c in rows.columns]
    return {c: float(rows[c].mean()) for c in cols}


class Watch(train.Observer):
    """One job's progress: display (``display``: ``run``, ``sweep`` or ``none``), status file, partial
    history and log."""

    redraw = 0.1  # seconds between redraws of the bar at most (tqdm's mininterval)

    def __init__(self, out_dir, columns: dict, display: str = "none", seconds: float = 30.0, stream=None):
        self.dir, self.columns, self.seconds = Path(out_dir), columns, seconds
        self.stream = stream or sys.stderr
        self.display = display
        self.bar = None
        self.steps = self.start = self.done = 0
        self.t0 = self.last_line = self.last_status = time.monotonic()
        self.last_eval: tuple[int, dict] | None = None

    # --- train.Observer ---
    def started(self, step, steps, history):
        self.steps, self.start, self.done = steps, step, step
        self.t0 = self.last_line = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        partial = self.dir / PARTIAL
        if history is not None:  # resumed: the history so far replaces whatever a killed run left
            results.atomic_write_text(partial, results.with_config(history, self.columns).to_csv(index=False))
        else:
            partial.unlink(missing_ok=True)
        log.info("training from step %d of %d", step, steps)
        self.status("running")
        if self.display == "run" and interactive(self.stream):
            self.bar = tqdm(total=steps, initial=step, unit="step", file=self.stream, leave=False,
                            dynamic_ncols=True, smoothing=0.1, mininterval=self.redraw)

    def evaluated(self, step, rows):
        partial = self.dir / PARTIAL
        text = results.with_config(rows, self.columns).to_csv(index=False, header=not partial.exists())
        fd = os.open(partial, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, text.encode())  # one write per evaluation: a kill leaves whole lines
        finally:
            os.close(fd)
        m = measures(rows)
        self.last_eval = (step, m)
        log.info("step %d/%d: %s, diverged %d of %d", step, self.steps, ", ".join(f"{k} {v:.4g}" for k, v in m.items()),
                 int(rows["diverged"].sum()), len(rows))
        if self.bar is not None:
            self.bar.set_postfix_str(", ".join(f"{k} {v:.3g}" for k, v in m.items()), refresh=False)

    def stepped(self, done, snapshot):
        self.done = done
        if self.bar is not None:
            self.bar.update(1)
        now = time.monotonic()
        if now - self.last_status >= 1.0:
            self.status("running")
        if self.display == "run" and self.bar is None and self.seconds > 0 and now - self.last_line >= self.seconds:
            self.last_line = now
            say(self.line(now), self.stream)

    # --- the rest ---
    def line(self, now: float) -> str:
        """The plain progress line: steps, rate, time left, the last evaluation."""
        rate = (self.done - self.start) / max(now - self.t0, 1e-9)
        left = tqdm.format_interval((self.steps - self.done) / rate) if rate > 0 else "?"
        out = (f"rnnexp: step {self.done:,}/{self.steps:,} ({100 * self.done / max(self.steps, 1):.0f}%), "
               f"{rate:,.1f} steps/s, {left} left")
        if self.last_eval is not None:
            step, m = self.last_eval
            out += f"; at step {step:,}: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items())
        return out

    def status(self, state: str) -> None:
        self.last_status = time.monotonic()
        body = {"status": state, "step": self.done, "steps": self.steps, "pid": os.getpid()}
        try:
            results.atomic_write_text(self.dir / STATUS, json.dumps(body))
        except OSError:  # progress is a courtesy: never a reason to stop training
            pass

    def close(self, state: str | None = None) -> None:
        """End the display; ``state`` (failed, interrupted) is recorded for the launcher."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if state is not None and self.dir.is_dir():
            self.status(state)

    def finished(self) -> None:
        """The run is written: the partial history and the status file are no longer needed."""
        self.close()
        for name in (PARTIAL, STATUS):
            (self.dir / name).unlink(missing_ok=True)


class Both(train.Observer):
    """Several observers, told in order."""

    def __init__(self, *observers):
        self.observers = observers

    def started(self, step, steps, history):
        for o in self.observers:
            o.started(step, steps, history)

    def evaluated(self, step, rows):
        for o in self.observers:
            o.evaluated(step, rows)

    def stepped(self, done, snapshot):
        for o in self.observers:
            o.stepped(done, snapshot)


# --- a sweep: one line in the launcher ---

def scan(sweep_dir: Path, since: float, done: dict) -> dict:
    """Counts of a sweep's jobs from its folder: ``done`` caches each finished job's ``cached`` flag
    (a run.json never changes); status files older than ``since`` (a previous, killed attempt) are
    not counted."""
    counts = {"done": 0, "cached": 0, "failed": 0, "running": 0, "fraction": 0.0}
    for here, dirs, files in os.walk(sweep_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if results.MARKER in files:
            if here not in done:
                try:
                    done[here] = bool(json.loads((Path(here) / results.MARKER).read_text()).get("cached"))
                except (OSError, ValueError, AttributeError):
                    continue  # being written, or foreign: looked at again next time
            counts["cached" if done[here] else "done"] += 1
        elif STATUS in files:
            try:
                path = Path(here) / STATUS
                if path.stat().st_mtime < since:
                    continue
                st = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if st.get("status") == "running":
                counts["running"] += 1
                counts["fraction"] += min(1.0, st["step"] / max(st["steps"], 1))
            elif st.get("status") in ("failed", "interrupted"):
                counts["failed"] += 1
    return counts


def describe(c: dict, total: int | None, elapsed: float) -> tuple[str, float | None]:
    """``(text, seconds left)`` for counts ``c``: time left from the work trained so far (cached jobs
    take none) and the jobs not finished."""
    finished = c["done"] + c["cached"] + c["failed"]
    work = c["done"] + c["fraction"]
    left = None
    if total and work > 0:
        left = max(0.0, total - finished - c["fraction"]) * elapsed / work
    of = f"/{total}" if total else ""
    text = (f"{finished}{of} jobs done ({c['done']} trained, {c['cached']} cached, {c['failed']} failed), "
            f"{c['running']} running, " + (f"{tqdm.format_interval(left)} left" if left is not None else "time left ?"))
    return text, left


class SweepLine:
    """The launcher's thread: polls ``sweep_dir`` every ``poll`` seconds and shows the sweep's line."""

    def __init__(self, sweep_dir, total: int | None, seconds: float = 30.0, stream=None, poll: float = 1.0):
        self.dir, self.total, self.seconds, self.poll = Path(sweep_dir), total, seconds, poll
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self.since = time.time() - 1.0
        self.done: dict = {}
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.bar = None
        if interactive(self.stream):
            self.bar = tqdm(total=total, file=self.stream, leave=False, dynamic_ncols=True,
                            bar_format="sweep {percentage:3.0f}%|{bar:16}| {desc}" if total else "sweep: {desc}")
        self.thread = threading.Thread(target=self.run, name="rnnexp-sweep-progress", daemon=True)
        self.thread.start()

    def run(self) -> None:
        last_line = time.monotonic()
        while not self.stopping.wait(self.poll):
            c = scan(self.dir, self.since, self.done)
            now = time.monotonic()
            text, _ = describe(c, self.total, now - self.t0)
            with self.lock:
                if self.stopping.is_set():
                    return
                if self.bar is not None:
                    self.bar.n = c["done"] + c["cached"] + c["failed"] + c["fraction"]
                    self.bar.set_description_str(text, refresh=False)
                    self.bar.refresh()
                elif self.seconds > 0 and now - last_line >= self.seconds:
                    last_line = now
                    say(f"rnnexp: sweep: {text}", self.stream)

    def stop(self) -> None:
        """End the line (a live one is cleared); nothing is printed after this returns."""
        with self.lock:
            self.stopping.set()
            if self.bar is not None:
                self.bar.close()
                self.bar = None


_ACTIVE: list[SweepLine] = []  # module-level: the callback object is pickled to the workers, a thread cannot be


def stop_all() -> None:
    while _ACTIVE:
        _ACTIVE.pop().stop()


class SweepProgress(Callback):
    """Hydra callback: the sweep's line from the first job to the end (``SweepLine``)."""

    def on_multirun_start(self, config, **kwargs) -> None:
        from . import sweepdir  # Hydra's sweeper internals: loaded only for a sweep

        try:
            total = len(sweepdir.jobs(list(config.hydra.overrides.task), config.hydra.sweeper.get("params")))
        except Exception:  # a sweeper rnnexp cannot count for: the line goes on without a total
            total = None
        _ACTIVE.append(SweepLine(config.hydra.sweep.dir, total, float(config.get("progress_seconds", 30.0))))

    def on_multirun_end(self, config, **kwargs) -> None:
        stop_all()
