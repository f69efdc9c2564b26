"""Long jobs do not lose their work: a training resumed from its checkpoint ends with exactly the
tables of an uninterrupted one (every task, fresh and fixed training sets, halve_on_rise,
divergence, a chunk of batches drawn ahead), a killed job leaves its curves marked unfinished and
never collected, and the same command resumes it (in-process here; with a real SIGKILL of
``python -m rnnexp`` in the slow test)."""
import functools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnexp import config, train
from rnnexp.runs import cache, checkpoint, combine, job, progress, results
from rnnexp.tasks import _sequence
from test_cluster import tables as run_tables  # a run's tables without the wall-time columns
from test_resume import compose_all

ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=None)
def configs() -> dict:
    """Tiny jobs, checkpointed after every step, by (cache_dir, cache); composed once (Hydra takes ~0.5 s)."""
    cfgs = compose_all(["steps=40", "eval_every=10", "replicas=2", "bits=4", "checkpoint_seconds=0",
                        "cache_dir=ref-cache,cache", "cache=true,false"])
    return {(c.cache_dir, c.cache): c for c in cfgs}


def same(a: train.Result, b: train.Result) -> None:
    for name in ("summary", "history", "profile", "positions", "lengths"):
        x, y = getattr(a, name), getattr(b, name)
        x, y = (d.drop(columns=[c for c in d.columns if "wall_time" in c]) for d in (x, y))
        pd.testing.assert_frame_equal(x, y, check_exact=True, obj=name)


class StopAt(train.Observer):
    """Writes the checkpoint (the real file format) after step ``at``, then stops the training as a kill would."""

    def __init__(self, path: Path, at: int):
        self.path, self.at = path, at

    def stepped(self, done, snapshot):
        if done == self.at:
            checkpoint.save(self.path, "k", snapshot())
            raise KeyboardInterrupt


CASES = {  # name: (settings, where to stop)
    "addition": (dict(bits=4, steps=70, eval_every=30), 66),  # after the first chunk of 64 batches drawn ahead
    "adding": (dict(task="adding", steps=12, eval_every=5), 7),
    "copy": (dict(task="copy", steps=12, eval_every=5), 7),
    "fixed set, epochs, halve_on_rise": (dict(bits=4, train_size=12, batch=4, epochs=6, lr_schedule="halve_on_rise",
                                              eval_every=5), 8),
    "shared set, sgd momentum": (dict(bits=4, train_size=12, batch=4, epochs=4, train_set="shared",
                                      optimizer="sgd", lr=0.5, eval_every=4), 5),
    # replica 3 of 4 diverges at step 7: stopped after it (its frozen weights, the others' packed ones)
    "diverged": (dict(replicas=4, bits=4, steps=12, eval_every=4, activation="identity", init="normal",
                      optimizer="sgd", lr=4.0), 9),
}


@pytest.mark.parametrize("name", CASES)
def test_a_resumed_training_ends_exactly_as_an_uninterrupted_one(name, tmp_path, monkeypatch):
    monkeypatch.setattr(_sequence.SequenceTask, "EVAL_SIZE", 40)  # adding, copy: a cheap evaluation
    settings, at = CASES[name]
    cfg = config.Config(**{"hidden": 4, "replicas": 2, **settings})
    if cfg.task.name != "addition":
        cfg.task.length = 6
    reference = train.train(cfg)
    if name == "diverged":
        assert list(reference.summary.diverged_step.fillna(-1)) == [-1, -1, -1, 7], reference.summary
    with pytest.raises(KeyboardInterrupt):
        train.train(cfg, observer=StopAt(tmp_path / "c", at))
    snap = checkpoint.load(tmp_path / "c", "k")
    assert snap.step == at and len(snap.history) and snap.history.step.max() < at
    drawn = getattr(snap.batches, "inner", snap.batches)._buf  # batches drawn ahead: drawn again, not stored
    if drawn is not None:
        assert (tmp_path / "c").stat().st_size < sum(a.nbytes for a in drawn)
    same(train.train(cfg, resume=snap), reference)


def test_a_snapshot_of_another_training_is_refused(tmp_path, cfg):
    with pytest.raises(KeyboardInterrupt):
        train.train(cfg, observer=StopAt(tmp_path / "c", 5))
    cfg.steps = 4
    with pytest.raises(ValueError, match="not of this training"):
        train.train(cfg, resume=checkpoint.load(tmp_path / "c", "k"))


def test_a_damaged_checkpoint_is_named_and_not_used(tmp_path, cfg, capsys):
    with pytest.raises(KeyboardInterrupt):
        train.train(cfg, observer=StopAt(tmp_path / "c", 5))
    raw = bytearray((tmp_path / "c").read_bytes())
    raw[-10] ^= 1
    (tmp_path / "c").write_bytes(bytes(raw))
    assert checkpoint.load(tmp_path / "c", "k") is None
    assert "does not match its key and checksum" in capsys.readouterr().err
    assert checkpoint.load(tmp_path / "c", "other key") is None  # another training's: not used either


def test_checkpoints_are_written_at_most_every_checkpoint_seconds(tmp_path):
    now = [0.0]
    keeper = checkpoint.Keeper(tmp_path / "c", "k", 10.0, clock=lambda: now[0])
    calls = []
    keeper.started(0, 100, None)
    for step in range(1, 40):
        now[0] += 1.0
        keeper.stepped(step, lambda: calls.append(step) or train.Snapshot(*[None] * 15))
    assert calls == [10, 20, 30] and keeper.saved == 3 and (tmp_path / "c").exists()
    keeper.remove()
    assert not (tmp_path / "c").exists()


class Killed(Exception):
    pass


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_a_killed_job_leaves_its_curves_unfinished_and_the_same_command_resumes_it(tmp_path, monkeypatch, caplog):
    ref_cfg, cfg = configs()["ref-cache", True], configs()["cache", True]
    job.run(ref_cfg, tmp_path / "reference", base_dir=tmp_path)

    real = checkpoint.Keeper.stepped

    def killed_after_25(self, done, snapshot):  # the process dies right after the checkpoint of step 25
        real(self, done, snapshot)
        if done == 25:
            raise Killed

    monkeypatch.setattr(checkpoint.Keeper, "stepped", killed_after_25)
    run_dir = tmp_path / "run"
    with pytest.raises(Killed):
        job.run(cfg, run_dir, base_dir=tmp_path)
    monkeypatch.undo()
    # what the killed job left: its curves so far with the config columns, marked unfinished, never collected
    partial = pd.read_csv(run_dir / progress.PARTIAL)
    assert sorted(set(partial.step)) == [0, 10, 20] and set(partial.hidden) == {16} and len(partial) == 6
    assert not (run_dir / results.MARKER).exists() and not (run_dir / "history.csv").exists()
    assert json.loads((run_dir / progress.STATUS).read_text())["status"] == "failed"
    runs, incomplete = combine.scan(tmp_path)
    assert run_dir not in runs and [p for p, why in incomplete if "unfinished" in why] == [run_dir]
    ckpt = checkpoint.path_for(tmp_path / "cache", cache.settings(cfg))
    assert ckpt.exists() and not cache.entries(tmp_path / "cache")

    with caplog.at_level(logging.INFO, logger="rnnexp"):
        job.run(cfg, run_dir, base_dir=tmp_path)
    assert "resuming from the checkpoint at step 25" in caplog.text
    ta = {n: pd.read_csv(tmp_path / "reference" / f"{n}.csv").drop(columns="wall_time", errors="ignore")
          for n in results.TABLES}
    tb = {n: pd.read_csv(run_dir / f"{n}.csv").drop(columns="wall_time", errors="ignore") for n in results.TABLES}
    for n in results.TABLES:
        pd.testing.assert_frame_equal(ta[n], tb[n], check_exact=True, obj=n)
    # finished: the result is stored, the checkpoint, the partial history and the status file are gone
    assert not ckpt.exists() and len(cache.entries(tmp_path / "cache")) == 1
    assert not (run_dir / progress.PARTIAL).exists() and not (run_dir / progress.STATUS).exists()
    assert combine.scan(tmp_path)[1] == []


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_cache_false_starts_from_step_0(tmp_path, monkeypatch):
    cfg = configs()["cache", False]
    seen = []
    monkeypatch.setattr(train, "train", lambda p, observer=None, resume=None, _t=train.train: seen.append(resume) or
                        _t(p, observer=observer, resume=resume))
    path = checkpoint.path_for(tmp_path / "cache", cache.settings(cfg))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"anything")
    job.run(cfg, tmp_path / "run", base_dir=tmp_path)
    assert seen == [None]


# --- the real thing: python -m rnnexp killed with SIGKILL, then the same command again ---

def start(args, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "rnnexp", *args], cwd=cwd, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
# the adding run: 600 epochs of 8 batches (60 were 480 steps, over before the kill on an AVX-512 host)
@pytest.mark.parametrize("extra", [[], ["task=adding", "task.length=20", "train_size=64", "batch=8", "epochs=600",
                                        "lr_schedule=halve_on_rise"]], ids=["addition", "adding-fixed-set"])
def test_sigkill_mid_run_then_the_same_command_resumes_to_identical_tables(tmp_path, extra):
    args = ["steps=3000", "eval_every=100", "replicas=3", "hidden=8", "checkpoint_seconds=0.3", *extra]
    ref = start([*args, f"cache_dir={tmp_path / 'ref-cache'}", f"hydra.run.dir={tmp_path / 'reference'}"], tmp_path)
    assert ref.wait(timeout=600) == 0, ref.stderr.read()
    cmd = [*args, f"cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}"]
    p = start(cmd, tmp_path)
    ckpts = lambda: list((tmp_path / "cache").glob("*/*.checkpoint"))  # noqa: E731
    deadline = time.time() + 300
    while not (ckpts() and (tmp_path / "run" / progress.PARTIAL).exists() and
               len(pd.read_csv(tmp_path / "run" / progress.PARTIAL)) >= 9):  # past step 200
        assert p.poll() is None, "the run finished before it could be killed:\n" + p.stderr.read()
        assert time.time() < deadline
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=60)
    assert not (tmp_path / "run" / results.MARKER).exists()
    killed_at = checkpoint.load(ckpts()[0], Path(ckpts()[0]).stem).step
    assert 0 < killed_at < 3000
    partial = pd.read_csv(tmp_path / "run" / progress.PARTIAL)
    assert partial.step.max() >= 200 and {"hidden", "eval_loss"} <= set(partial.columns)
    with pytest.raises(FileNotFoundError, match="no completed runs"):
        combine.collect(tmp_path / "run", write=False, quiet=True)

    again = start(cmd, tmp_path)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert f"resuming from the checkpoint at step {killed_at}" in (tmp_path / "run" / "__main__.log").read_text()
    a, b = run_tables(tmp_path / "reference"), run_tables(tmp_path / "run")
    for n in results.TABLES:
        pd.testing.assert_frame_equal(a[n], b[n], check_exact=True, obj=n)
    assert not ckpts() and not (tmp_path / "run" / progress.PARTIAL).exists()
    assert np.isclose(json.loads((tmp_path / "run" / results.MARKER).read_text())["wall_time"],
                      pd.read_csv(tmp_path / "run" / "summary.csv").wall_time[0])
