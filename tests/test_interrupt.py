"""End to end: a sweep killed with SIGKILL (launcher and workers) and re-run finishes with the same
tables as an uninterrupted one; re-running and extending a sweep trains only what is missing; Ctrl-C
(SIGINT) ends a sweep or a run with one line that says what finished and how to resume."""
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import rnnexp.runs.cache
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
    return len(rnnexp.runs.cache.entries(cache))  # an entry is renamed into place once complete


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


def interrupt(args, cwd: Path, group: bool, started) -> tuple[int, list[str], list[str]]:
    """Start ``python -m rnnexp ARGS``, read its output until ``started(line)``, then send SIGINT as a
    terminal's Ctrl-C does (to the process group) or as ``kill -INT`` does (to the launcher alone).
    Returns the exit code, the lines up to the trigger and the lines after it."""
    p = start(args, cwd)
    before = []
    for line in p.stdout:
        before.append(line.rstrip("\n"))
        if started(line):
            break
    assert p.poll() is None, "the command ended before it could be interrupted:\n" + "\n".join(before)
    os.killpg(p.pid, signal.SIGINT) if group else os.kill(p.pid, signal.SIGINT)
    after = p.stdout.read().splitlines()
    p.wait(timeout=120)
    for _ in range(100):  # nothing of it is left running (the loky workers included)
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(p.pid, signal.SIGKILL)
        pytest.fail("processes of the interrupted command are still running")
    return p.returncode, before, after


def resume(line: str, cwd: Path) -> str:
    """Run the command the interruption line names (``python`` being this interpreter)."""
    cmd = shlex.split(line.split("resume with: ", 1)[1])
    assert cmd[:3] == ["python", "-m", "rnnexp"], cmd
    return finish(start(cmd[3:], cwd))


@pytest.mark.slow
@pytest.mark.parametrize("group", [True, False], ids=["ctrl-c", "kill-int"])
def test_ctrl_c_ends_a_sweep_with_one_line_and_the_command_that_resumes_it(tmp_path, group):
    # jobs of a few seconds; the sweep dir is named by the defaults (time-stamped): the line must name it
    rc, before, after = interrupt([*SWEEP, f"cache_dir={tmp_path / 'cache'}"], tmp_path, group,
                                  lambda line: line.startswith("[job "))
    jobs_after = [l for l in after if l.startswith("[job ")]  # a job may end while the sweep stops
    rest = [l for l in after if not l.startswith("[job ")]
    assert rc == 130 and len(rest) == 1, "\n".join(before + after)
    assert not any("Traceback" in l or "Error" in l for l in before + after)
    line = rest[0]
    m = re.fullmatch(r"rnnexp: interrupted: (\d) of 6 jobs finished \(([\d,-]+)\), (\d) did not \(([\d,-]+)\); "
                     r"resume with: python -m rnnexp -m hidden=4,8,16 order=lsb,msb steps=1500 eval_every=250 "
                     r"replicas=4 cache_dir=\S+ hydra.sweep.dir=(runs/sweeps/\S+)", line)
    assert m, line
    done = {int(j) for part in m.group(2).split(",") for j in range(int(part.split("-")[0]), int(part.split("-")[-1]) + 1)}
    printed = {int(l.split("]")[0][5:]) for l in before + jobs_after if l.startswith("[job ")}
    assert printed and printed <= done and len(done) == int(m.group(1)) and int(m.group(1)) + int(m.group(3)) == 6
    sweep = tmp_path / m.group(5)
    assert {d.name for d in sweep.iterdir() if (d / "run.json").exists()} == {str(j) for j in done}
    assert not (sweep / "summary.csv").exists()

    # the printed command finishes the sweep in the same dir, reusing every finished job
    out = resume(line, tmp_path)
    job_lines = [l for l in out.splitlines() if l.startswith("[job ")]
    cached = {int(l.split("]")[0][5:]) for l in job_lines if "cached (trained earlier" in l}
    assert len(job_lines) == 6 and done <= cached, out
    assert len(pd.read_csv(sweep / "summary.csv")) == 6 * 4 and f"tables: {m.group(5)}/" in out


@pytest.mark.slow
def test_ctrl_c_ends_a_single_run_with_one_line(tmp_path):
    # a run that would take minutes; interrupted once Hydra has started it (its .hydra folder is written)
    p = start(["steps=200000", "eval_every=100000", "replicas=2", f"cache_dir={tmp_path / 'cache'}"], tmp_path)
    while not list(tmp_path.glob("runs/*/*/.hydra/overrides.yaml")):
        assert p.poll() is None, p.stdout.read()
        time.sleep(0.1)
    time.sleep(0.5)  # into the training loop (the line must be the same wherever it lands)
    os.killpg(p.pid, signal.SIGINT)
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 130 and out.count("\n") == 1 and "Traceback" not in out, out
    run_dir = next(tmp_path.glob("runs/*/*/.hydra")).parent.relative_to(tmp_path)
    assert out == (f"rnnexp: interrupted: the run did not finish; run it again with: python -m rnnexp steps=200000 "
                   f"eval_every=100000 replicas=2 cache_dir={tmp_path / 'cache'} hydra.run.dir={run_dir}\n")
    assert not (tmp_path / run_dir / "run.json").exists()


def test_a_sweeps_workers_leave_ctrl_c_to_the_launcher():
    # what Hydra's joblib launcher asks for (backend="loky"), once `python -m rnnexp` has called workers.use()
    import joblib
    from joblib._parallel_backends import LokyBackend

    from rnnexp.runs import workers

    def in_worker():  # two workers (one would run in this process)
        return joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(signal.getsignal)(signal.SIGINT) for _ in range(4))

    try:
        assert in_worker() == [signal.default_int_handler] * 4  # loky as joblib has it: a Ctrl-C hits the workers
        workers.use()
        assert in_worker() == [signal.SIG_IGN] * 4
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the launcher still answers it
    finally:
        joblib.register_parallel_backend("loky", LokyBackend)
        from joblib.externals.loky import get_reusable_executor
        get_reusable_executor().shutdown(wait=True)
