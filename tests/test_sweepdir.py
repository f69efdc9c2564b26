"""One folder per command: time-stamped dirs are reserved once, a dir holding another command's jobs
is refused before any job, job subdirs must differ, and a finished run of another configuration is
never replaced (rnnexp.sweepdir, results.write_run)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf
from hydra.core.override_parser.overrides_parser import OverridesParser

from rnnexp.runs import cache, results, sweepdir

ROOT = Path(__file__).resolve().parents[1]
TINY = ["steps=20", "eval_every=10", "replicas=2"]
SAME_SECOND = "${now:%Y}"  # the same name for every command this year: a forced same timestamp


def run_cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "rnnexp", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def refusal(argv) -> str:
    with pytest.raises(sweepdir.UsageError) as e:
        sweepdir.prepare(argv)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_time_stamped_dirs_are_reserved_once_per_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = sweepdir.prepare(["-m", "hidden=4,8", *TINY, f"hydra.sweep.dir=sweeps/{SAME_SECOND}"])
    b = sweepdir.prepare(["-m", "order=lsb,msb", "hidden=32", *TINY, f"hydra.sweep.dir=sweeps/{SAME_SECOND}"])
    year = a.dir.name
    assert (a.dir, b.dir) == (Path("sweeps") / year, Path("sweeps") / f"{year}_2")
    assert a.auto and b.auto and a.multirun
    # Hydra is handed the reserved dir, in place of the time-stamped setting
    assert b.argv == ["-m", "order=lsb,msb", "hidden=32", *TINY, f"hydra.sweep.dir=sweeps/{year}_2"]
    assert a.subdirs == ["0", "1"] and b.subdirs == ["0", "1"]
    for plan in (a, b):
        rec = json.loads((plan.dir / sweepdir.RECORD).read_text())
        assert rec["command"] == plan.command and rec["command"].endswith(f"hydra.sweep.dir={plan.dir}")
    # single runs too, and the defaults (named to the second) never give two commands one dir
    r1, r2 = (sweepdir.prepare(["hidden=4", f"hydra.run.dir=one/{SAME_SECOND}"]) for _ in range(2))
    assert r2.dir == Path("one") / f"{r1.dir.name}_2" and not r1.multirun and r1.key == "hydra.run.dir"
    d1, d2 = (sweepdir.prepare(["-m", "hidden=4,8"]).dir for _ in range(2))
    assert d1 != d2 and d1.parts[:2] == ("runs", "sweeps") and d1.is_dir() and d2.is_dir()


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_a_dir_holding_another_command_is_refused_and_the_same_command_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    named = "hydra.sweep.dir=shared"
    first = sweepdir.prepare(["-m", "hidden=4,8", "order=lsb,msb", *TINY, named])
    assert not first.auto and first.dir == Path("shared") and first.subdirs == ["0", "1", "2", "3"]
    for other in (["-m", "hidden=4,8,16", "order=lsb,msb", *TINY],  # one more value
                  ["-m", "order=lsb,msb", "hidden=4,8", *TINY],  # the same runs, other job folders
                  ["-m", "hidden=4,8", "order=lsb,msb", *TINY, "hydra.sweep.subdir=j${hydra.job.num}"],
                  ["hidden=4", "order=lsb", *TINY, "hydra.run.dir=shared"]):  # a single run
        msg = refusal([*other, named] if other[0] == "-m" else other)
        assert msg.startswith("hydra.") and "already holds another sweep (python -m rnnexp -m hidden=4,8 " in msg
    # the same command (also with run-time settings: how to run, not what) is how a sweep resumes
    for same in ([], ["cache=false"], ["cache_dir=elsewhere"]):
        assert sweepdir.prepare(["-m", "hidden=4,8", "order=lsb,msb", *TINY, *same, named]).dir == first.dir
    # a single run's dir likewise
    sweepdir.prepare(["hidden=4", "hydra.run.dir=single"])
    assert "already holds another run (python -m rnnexp hidden=4 " in refusal(["hidden=8", "hydra.run.dir=single"])
    assert sweepdir.prepare(["hidden=4", "hydra.run.dir=single"]).dir == Path("single")


@pytest.mark.slow
def test_job_subdirs_must_differ_per_job_and_stay_inside(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = refusal(["-m", "hidden=4,8,16", "hydra.sweep.subdir=same", "hydra.sweep.dir=s"])
    assert msg.startswith("hydra.sweep.subdir=same puts 3 jobs into the same folder (s/same)")
    assert "2 jobs" in refusal(["-m", "hidden=4,8", "order=lsb,msb", "hydra.sweep.subdir=h${hidden}", "hydra.sweep.dir=s"])
    assert "outside the sweep dir" in refusal(["-m", "hidden=4,8", "hydra.sweep.subdir=../x/${hydra.job.num}",
                                               "hydra.sweep.dir=s"])
    assert not Path("s").exists()  # refused before anything was made
    # distinct by any means Hydra offers: job number, the overrides, a setting that is swept
    for i, (subdir, expect) in enumerate([("${hydra.job.num}", ["0", "1"]), ("h${hidden}", ["h4", "h8"]),
                                          ("${hydra.job.override_dirname}", ["hidden=4", "hidden=8"])]):
        plan = sweepdir.prepare(["-m", "hidden=4,8", f"hydra.sweep.subdir={subdir}", f"hydra.sweep.dir=d{i}"])
        assert plan.subdirs == expect
    # one job may use the sweep dir itself
    assert sweepdir.prepare(["-m", "hidden=4", "hydra.sweep.subdir=.", "hydra.sweep.dir=one"]).subdirs == ["."]


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_a_dir_from_before_the_record_is_judged_by_hydras_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = sweepdir.prepare(["-m", "hidden=4,8", "+experiment=order", "hydra.sweep.dir=old"])
    (plan.dir / sweepdir.RECORD).unlink()
    # what Hydra's sweeper writes at the start of a sweep: the master config, with the overrides
    OmegaConf.save(OmegaConf.create({"hydra": {
        "overrides": {"task": ["hidden=4,8", "+experiment=order"], "hydra": ["hydra.mode=MULTIRUN"]},
        "sweeper": {"params": {"arm": "order_rnn_lsb,order_rnn_msb,order_birnn_msb,order_rnn_msb_shared"}},
        "sweep": {"dir": "old", "subdir": "${hydra.job.num}"}}}), plan.dir / "multirun.yaml")
    assert "another sweep (python -m rnnexp -m hidden=4,8 +experiment=order)" in refusal(
        ["-m", "hidden=4,16", "+experiment=order", "hydra.sweep.dir=old"])
    assert len(sweepdir.prepare(["-m", "hidden=4,8", "+experiment=order", "hydra.sweep.dir=old"]).subdirs) == 8
    assert (plan.dir / sweepdir.RECORD).exists()  # recorded from now on
    # runs that nothing records (copied in by hand, or an old single run's tables) are not mixed in
    write(tmp_path / "loose" / "a", {"hidden": 4})
    assert "holds 1 run folder(s) that no rnnexp command recorded" in refusal(["-m", "hidden=4,8", "hydra.sweep.dir=loose"])


def test_the_folder_logic_is_not_engine_code():
    # editing how folders are chosen must not change the engine version (every stored result kept)
    assert not cache.is_engine(Path(sweepdir.__file__))


def test_override_values_parse_back_to_the_folder_name():
    for name in ["runs/sweeps/2026-11-29/07-46-36", "/tmp/pytest-of-x/test_a0/s_2", "074636", "null", "a b", "a,b",
                 "it's", "back\\slash\\", "x${y}", "ü/ß", "1e5"]:
        value = sweepdir.hydra_value(name)
        parsed = OverridesParser.create().parse_override(f"hydra.sweep.dir={value}").value()
        assert OmegaConf.create({"d": parsed}).d == name, (name, value)


def write(d: Path, columns: dict) -> None:
    t = pd.DataFrame({"replica": [0, 1], "bit_acc": [0.5, 1.0]})
    results.write_run(d, {n: t for n in results.TABLES}, {"hidden": 16, "order": "lsb", "lr": 0.01,
                                                           "bptt.truncate": None, **columns}, {"status": "complete"})


def test_write_run_never_replaces_a_finished_run_of_another_configuration(tmp_path):
    write(tmp_path, {"hidden": 4})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for other in ({"hidden": 8}, {"lr": 0.1}, {"order": "msb"}, {"bptt.truncate": 2}, {"seed": 0}):
        with pytest.raises(results.DifferentRun, match="another configuration"):
            write(tmp_path, {"hidden": 4, **other})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # not a byte changed, nothing added
    write(tmp_path, {"hidden": 4})  # the same configuration again (a resumed or forced re-run) replaces it
    # a run that cannot be read says nothing about what it holds: kept too
    (tmp_path / "summary.csv").write_text("garbage\n")
    with pytest.raises(results.DifferentRun, match="move the folder away"):
        write(tmp_path, {"hidden": 4})


@pytest.mark.slow
def test_two_sweeps_started_in_the_same_second_keep_their_own_tables(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sweeps = {"a": ["-m", "hidden=4,8,16"], "b": ["-m", "order=lsb,msb", "hidden=32"]}
    procs = {k: subprocess.Popen([sys.executable, "-m", "rnnexp", *argv, *TINY, f"hydra.sweep.dir=s/{SAME_SECOND}",
                                  "hydra/launcher=basic"], cwd=tmp_path, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for k, argv in sweeps.items()}
    out = {k: p.communicate(timeout=600)[0] for k, p in procs.items()}
    assert all(p.returncode == 0 for p in procs.values()), out
    dirs = sorted((tmp_path / "s").iterdir())
    assert len(dirs) == 2 and dirs[1].name == f"{dirs[0].name}_2"
    seen = set()
    for d in dirs:
        s = pd.read_csv(d / "summary.csv")
        key = "a" if set(s.hidden) == {4, 8, 16} else "b"
        assert set(s.hidden) == ({4, 8, 16} if key == "a" else {32})
        assert set(s.order) == ({"lsb"} if key == "a" else {"lsb", "msb"}) and s.job.nunique() == len(s) // 2
        assert f"tables: {d.relative_to(tmp_path)}/" in out[key]
        seen.add(key)
    assert seen == {"a", "b"}


@pytest.mark.slow
def test_a_second_sweep_into_a_named_dir_is_refused_before_any_job(tmp_path):
    first = ["-m", "hidden=4,8,16", *TINY, "hydra.sweep.dir=shared", "hydra/launcher=basic"]
    assert run_cli(*first, cwd=tmp_path).returncode == 0
    before = {p: p.read_bytes() for p in (tmp_path / "shared").rglob("*") if p.is_file()}
    r = run_cli("-m", "order=lsb,msb", "hidden=32", *TINY, "hydra.sweep.dir=shared", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("rnnexp: error: hydra.sweep.dir=shared already holds another sweep")
    assert {p: p.read_bytes() for p in (tmp_path / "shared").rglob("*") if p.is_file()} == before
    # the same command again resumes into it, every job from the cache
    r = run_cli(*first, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.count("cached (trained earlier") == 3, r.stdout + r.stderr
    assert len(pd.read_csv(tmp_path / "shared" / "summary.csv")) == 6
