"""End to end: a sweep killed with SIGKILL (launcher and workers) and re-run finishes with the same
tables as an uninterrupted one; re-running and extending a sweep trains only what is missing."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from rnnexp.runs import combine as collect, results

ROOT = Path(__file__).resolve().parents[1]
# long enough per job (~1-2 s) that a kill lands mid-sweep
SWEEP = ["-m", "hidden=4,8,16", "order=lsb,msb", "steps=1500", "eval_every=250", "replicas=4"]


def start(args, cwd: Path) -> subprocess.Popen:
    """``python -m rnnexp`` in its own process group, so that the launcher and its workers die together."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "rnnexp", *args], cwd=cwd, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(p: subprocess.Popen) -> str:
    out, _ = p.communicate(timeout=600)
    assert p.returncode == 0, out
    return out


def entries(cache: Path) -> int:
    return len(list(cache.rglob("output.pkl")))  # joblib renames a finished entry into place


def kill_group(p: subprocess.Popen) -> None:
    assert p.poll() is None, "the sweep finished before it could be interrupted"
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=60)
    for _ in range(100):  # every process of the group (the loky workers too) is gone
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail("workers of the killed sweep are still running")


def tables(d: Path) -> dict[str, pd.DataFrame]:
    """The combined tables without the wall-time columns, in a fixed row order."""
    out = {}
    for name in results.TABLES:
        df = pd.read_csv(d / f"{name}.csv")
        df = df.drop(columns=[c for c in df.columns if "wall_time" in c])
        out[name] = df.sort_values(list(df.columns)).reset_index(drop=True)
    return out


def assert_same(a: dict, b: dict) -> None:
    for name in results.TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.mark.slow
def test_a_sweep_killed_again_and_again_finishes_with_the_same_tables(tmp_path):
    cache = tmp_path / "cache"
    reference = tmp_path / "reference"
    finish(start([*SWEEP, f"hydra.sweep.dir={reference}", f"cache_dir={tmp_path / 'ref-cache'}"], tmp_path))
    ref = tables(reference)

    # kill the launcher and its workers: during start-up, then after 2 and after 4 finished jobs
    def after_seconds(s):
        t0 = time.time()
        return lambda: time.time() - t0 > s

    interruptions = [after_seconds(1.5), lambda: entries(cache) >= 2, lambda: entries(cache) >= 4]
    for i, moment in enumerate(interruptions):
        before = entries(cache)
        p = start([*SWEEP, f"hydra.sweep.dir={tmp_path / f'killed{i}'}", f"cache_dir={cache}"], tmp_path)
        while not moment():
            assert p.poll() is None, "the sweep finished before it could be interrupted"
            time.sleep(0.05)
        kill_group(p)
        assert not (tmp_path / f"killed{i}" / "summary.csv").exists()
        assert entries(cache) >= before
        # what a killed sweep left is either a complete run, equal to the reference, or named as incomplete
        if any((tmp_path / f"killed{i}").rglob("run.json")):
            collect.collect(tmp_path / f"killed{i}", quiet=True)
            part = tables(tmp_path / f"killed{i}")
            assert_same(part, {n: df[df.job.isin(part[n].job)].reset_index(drop=True) for n, df in ref.items()})

    assert entries(cache) >= 4
    out = finish(start([*SWEEP, f"hydra.sweep.dir={tmp_path / 'resumed'}", f"cache_dir={cache}"], tmp_path))
    job_lines = [l for l in out.splitlines() if l.startswith("[job ")]
    assert len(job_lines) == 6
    cached = sum("cached (trained earlier" in l for l in job_lines)
    assert 4 <= cached < 6  # the finished ones were reused, the rest trained
    assert_same(tables(tmp_path / "resumed"), ref)


@pytest.mark.slow
def test_rerun_extend_and_force_from_the_command_line(tmp_path):
    tiny = ["steps=20", "eval_every=10", "replicas=2", f"cache_dir={tmp_path / 'cache'}"]

    def sweep(name, *args):
        out = finish(start(["-m", *args, *tiny, f"hydra.sweep.dir={tmp_path / name}"], tmp_path))
        return {" ".join(l.split()[:3]): "cached (trained earlier" in l for l in out.splitlines() if l.startswith("[job ")}

    assert not any(sweep("a", "hidden=4,8,16").values())
    assert sweep("b", "hidden=4,8,16,32") == {"[job 0] hidden=4": True, "[job 1] hidden=8": True,
                                              "[job 2] hidden=16": True, "[job 3] hidden=32": False}
    assert not any(sweep("c", "hidden=4,8", "cache=false").values())
    assert_same(tables(tmp_path / "a"), {n: df[df.hidden != 32].reset_index(drop=True)
                                         for n, df in tables(tmp_path / "b").items()})
