"""Feedback while it runs: a progress line every progress_seconds in output that is no terminal, a
bar on a terminal, the sweep's line from its jobs' folders, and each job's story in the log."""
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnexp import train
from rnnexp.runs import job, progress, results
from test_checkpoint import configs

ROOT = Path(__file__).resolve().parents[1]
LINE = (r"rnnexp: step [\d,]+/[\d,]+ \(\d+%\), [\d,.]+ steps/s, [\d:?]+ left"
        r"(; at step [\d,]+: eval_loss [\d.e+-]+, bit_acc [\d.e+-]+, sum_acc [\d.e+-]+)?")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_output_that_is_no_terminal_gets_a_plain_line_every_progress_seconds(tmp_path, cfg):
    cfg.bits = 4
    out = io.StringIO()
    watch = progress.Watch(tmp_path, {"hidden": 8}, display="run", seconds=1e-9, stream=out)
    train.train(cfg, observer=watch)
    lines = out.getvalue().splitlines()
    assert len(lines) == cfg.steps  # here after every step; by default every 30 s, the first after 30 s
    assert all(re.fullmatch(LINE, l) for l in lines), lines[:3]
    assert lines[-1].startswith(f"rnnexp: step {cfg.steps}/{cfg.steps} (100%)") and "at step 40:" in lines[-1]
    assert "\r" not in out.getvalue()
    # progress_seconds=0: no lines; a sweep's job: none either (the launcher has the sweep's line)
    rows = train.train(cfg).history.query("step == 0")
    for display, seconds in (("run", 0), ("sweep", 1e-9), ("none", 1e-9)):
        quiet = io.StringIO()
        w = progress.Watch(tmp_path / display, {}, display=display, seconds=seconds, stream=quiet)
        w.started(0, 10, None)
        w.evaluated(0, rows)
        for step in range(1, 11):
            w.stepped(step, None)
        w.finished()
        assert quiet.getvalue() == ""


def test_a_terminal_gets_a_bar_with_the_last_evaluation_cleared_at_the_end(tmp_path, cfg, monkeypatch):
    cfg.bits = 4
    monkeypatch.setattr(progress.Watch, "redraw", 0)  # every step drawn (by default at most every 0.1 s)
    term = Terminal()
    watch = progress.Watch(tmp_path, {}, display="run", seconds=1e-9, stream=term)
    train.train(cfg, observer=watch)
    text = term.getvalue()
    assert re.search(rf" [1-9]\d*/{cfg.steps} \[", text) and "step/s" in text and "eval_loss" in text and "bit_acc" in text
    assert "rnnexp: step" not in text  # a bar, not lines
    watch.close()
    assert text != term.getvalue() and term.getvalue().endswith("\r")  # erased: the results follow on a clean line


def test_the_job_log_tells_the_story_and_the_partial_history_grows_at_each_evaluation(tmp_path, caplog):
    cfg = configs()["cache", True]
    seen = []
    real = progress.Watch.evaluated

    def evaluated(self, step, rows):
        real(self, step, rows)
        seen.append(len(Path(self.dir, progress.PARTIAL).read_text().splitlines()))
    with caplog.at_level(logging.INFO, logger="rnnexp"):
        progress.Watch.evaluated = evaluated
        try:
            job.run(cfg, tmp_path / "a", base_dir=tmp_path)
        finally:
            progress.Watch.evaluated = real
        job.run(cfg, tmp_path / "b", base_dir=tmp_path)
    assert seen == [3, 5, 7, 9, 11]  # a header, then 2 replicas per evaluation (steps 0, 10, ..., 40)
    story = [r.getMessage() for r in caplog.records]
    assert story[0].startswith("settings: task=addition,") and "steps=40" in story[0]
    assert story[1] == "training from step 0 of 40"
    assert [m.split(":")[0] for m in story[2:7]] == [f"step {s}/40" for s in (0, 10, 20, 30, 40)]
    assert story[7].startswith("trained in ") and story[8].startswith("done: solved ")
    assert story[9].startswith("settings: ") and story[10] == "loaded from the cache (trained earlier in %.1f s)" % json.loads(
        (tmp_path / "a" / results.MARKER).read_text())["wall_time"]
    assert not (tmp_path / "a" / progress.PARTIAL).exists() and not (tmp_path / "a" / progress.STATUS).exists()


def job_dir(root: Path, name: str, run_json=None, status=None, age=0.0) -> None:
    d = root / name
    (d / ".hydra").mkdir(parents=True)
    if run_json is not None:
        (d / results.MARKER).write_text(json.dumps(run_json))
    if status is not None:
        (d / progress.STATUS).write_text(json.dumps(status))
        t = time.time() - age
        os.utime(d / progress.STATUS, (t, t))


def test_the_sweep_line_counts_jobs_from_their_folders(tmp_path):
    job_dir(tmp_path, "0", run_json={"status": "complete", "cached": False})
    job_dir(tmp_path, "1", run_json={"status": "complete", "cached": True})
    job_dir(tmp_path, "2", status={"status": "running", "step": 250, "steps": 1000})
    job_dir(tmp_path, "3", status={"status": "failed", "step": 10, "steps": 1000})
    job_dir(tmp_path, "4", status={"status": "running", "step": 500, "steps": 1000}, age=3600)  # a killed attempt's
    job_dir(tmp_path, "5")  # not started
    c = progress.scan(tmp_path, since=time.time() - 60, done={})
    assert c == {"done": 1, "cached": 1, "failed": 1, "running": 1, "fraction": 0.25}
    text, left = progress.describe(c, total=6, elapsed=50.0)
    # 1.25 jobs trained in 50 s; 6 - 3 finished - 0.25 under way = 2.75 jobs to go: 110 s
    assert left == pytest.approx(110.0)
    assert text == "3/6 jobs done (1 trained, 1 cached, 1 failed), 1 running, 01:50 left"

    out = io.StringIO()  # no terminal: a plain line every progress_seconds, nothing once stopped
    line = progress.SweepLine(tmp_path, 6, seconds=1e-9, stream=out, poll=0.01)
    while not out.getvalue():
        time.sleep(0.01)
    line.stop()
    line.thread.join()
    printed = out.getvalue()
    time.sleep(0.05)
    assert out.getvalue() == printed and printed.splitlines()[0].startswith("rnnexp: sweep: 3/6 jobs done (1 trained")

    term = Terminal()  # a terminal: one live line, erased when stopped
    line = progress.SweepLine(tmp_path, 6, stream=term, poll=0.01)
    while "3/6 jobs done" not in term.getvalue():
        time.sleep(0.01)
    progress._ACTIVE.append(line)
    progress.stop_all()  # as python -m rnnexp does on Ctrl-C, before its one line
    assert term.getvalue().endswith("\r") and "\n" not in term.getvalue() and not progress._ACTIVE


@pytest.mark.slow
def test_progress_lines_on_stderr_of_a_run_and_a_sweep_leave_stdout_as_it_was(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = ["steps=4000", "eval_every=1000", "replicas=2", "progress_seconds=0.5", f"cache_dir={tmp_path / 'cache'}"]
    r = subprocess.run([sys.executable, "-m", "rnnexp", *common, "hidden=4", f"hydra.run.dir={tmp_path / 'run'}"],
                       cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines and all(re.fullmatch(LINE, l) for l in lines), r.stderr
    assert r.stdout.splitlines()[-2].startswith("rnnexp: solved 2/2 replicas") and "rnnexp: step" not in r.stdout
    log = (tmp_path / "run" / "__main__.log").read_text()
    assert "step 4000/4000: eval_loss" in log and "done: solved" in log

    r = subprocess.run([sys.executable, "-m", "rnnexp", "-m", "hidden=4,5", *common, f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                       cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    sweep_lines = [l for l in r.stderr.splitlines() if l.startswith("rnnexp: sweep: ")]
    assert sweep_lines and re.fullmatch(r"rnnexp: sweep: \d/2 jobs done \(\d trained, \d cached, 0 failed\), "
                                        r"\d running, ([\d:]+ left|time left \?)", sweep_lines[-1]), r.stderr
    assert "rnnexp: step" not in r.stderr  # a sweep's jobs draw nothing of their own
    assert len([l for l in r.stdout.splitlines() if l.startswith("[job ")]) == 2


def test_a_line_and_its_newline_go_out_in_one_write(tmp_path):
    """On a write-through stderr (Python's, when not a terminal) print() makes two writes, and a sweep
    worker's [job N] line on the same pipe can land between them; say() makes one."""
    import io

    writes = []

    class Raw(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            writes.append(bytes(b))
            return len(b)

    stream = io.TextIOWrapper(Raw(), write_through=True)
    print("rnnexp: sweep: 1 of 6 jobs done", file=stream, flush=True)
    assert len(writes) == 2  # what print() does: the reason for say()
    writes.clear()
    progress.say("rnnexp: sweep: 1 of 6 jobs done", stream)
    assert writes == [b"rnnexp: sweep: 1 of 6 jobs done\n"]
