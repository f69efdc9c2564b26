"""Sweeps that optimise: the number a run returns (``objective=``) and Hydra's Optuna sweeper.

The Optuna sweep itself needs the ``search`` extra: it is skipped without it, and ``.ci/run``
installs it and sets RNNEXP_REQUIRE_SEARCH=1 so that it cannot be skipped there.
"""
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

from rnnexp import cli, config
from rnnexp.runs import cache, objective, results, sweepdir
from rnnexp.runs.job import run as run_job

ROOT = Path(__file__).resolve().parents[1]
TINY = ["steps=20", "eval_every=10", "replicas=2", "bits=4"]


def summary(solved, steps_to_solve, eval_loss, steps=500):
    return pd.DataFrame({"replica": range(len(solved)), "solved": solved, "steps_to_solve": steps_to_solve,
                         "eval_loss": eval_loss, "steps": steps})


def test_each_objective_is_computed_from_the_summary():
    s = summary([True, True, False, False], [100, 300, math.nan, math.nan], [0.1, 0.2, 0.3, 0.4])
    assert objective.value("eval_loss", s, eval_every=100) == pytest.approx(0.25)
    assert objective.value("success", s, eval_every=100) == 0.5
    # the unsolved count as steps + eval_every (600): the median of 100, 300, 600, 600
    assert objective.value("steps_to_solve", s, eval_every=100) == 450
    none = summary([False] * 3, [math.nan] * 3, [0.5, math.inf, 0.5], steps=200)
    assert objective.value("steps_to_solve", none, eval_every=50) == 250  # worse than any that solved
    assert objective.value("eval_loss", none, eval_every=50) == math.inf  # a non-finite loss: the worst
    assert objective.value("success", none, eval_every=50) == 0.0
    assert all(isinstance(objective.value(n, s, 100), float) for n in config.OBJECTIVES)
    assert set(objective.DIRECTIONS) == set(config.OBJECTIVES)


def test_a_bad_objective_is_one_line_before_any_work():
    message = "objective=loss is not allowed: objective must be one of eval_loss, success, steps_to_solve"
    with pytest.raises(cli.UsageError) as e:
        cli.precheck(["objective=loss"])
    assert str(e.value) == message
    with pytest.raises(config.ConfigError, match=f"^{message}$"):
        config.Config(objective="loss")


def composed(overrides, with_hydra=False):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config.conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=with_hydra)
    GlobalHydra.instance().clear()
    return cfg


def test_another_objective_reuses_the_training_and_the_run(tmp_path):
    """The objective only scores a finished run: not in the cache key, the tables or a sweep dir's
    identity, so the same run re-scored with another objective is neither trained again nor refused."""
    a = composed([*TINY, "cache_dir=cache", "objective=eval_loss"])
    b = composed([*TINY, "cache_dir=cache", "objective=success"])
    assert cache.settings(a) == cache.settings(b)
    assert "objective" not in results.config_columns(b)
    assert sweepdir.identity(True, [["hidden=4", "objective=success"]], "x") == \
        sweepdir.identity(True, [["hidden=4"]], "x")
    assert run_job(a, tmp_path / "run", base_dir=tmp_path).cached is False
    assert run_job(b, tmp_path / "run", base_dir=tmp_path).cached is True  # same folder: not a DifferentRun


def test_the_app_returns_its_objective(tmp_path, capsys):
    from rnnexp.__main__ import app

    overrides = [*TINY, f"cache_dir={tmp_path / 'cache'}", "objective=steps_to_solve"]
    full = composed(overrides, with_hydra=True)
    with open_dict(full):
        full.hydra.runtime.output_dir, full.hydra.runtime.cwd = str(tmp_path / "run"), str(tmp_path)
        full.hydra.mode = RunMode.RUN
    HydraConfig.instance().set_config(full)
    returned = app.__wrapped__(composed(overrides))  # the task function as Hydra calls it
    s = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert isinstance(returned, float)
    assert returned == objective.value("steps_to_solve", s.assign(steps=20), eval_every=10)
    assert f"steps_to_solve objective {returned:.6g}" in capsys.readouterr().out


def optuna_or_skip():
    if os.environ.get("RNNEXP_REQUIRE_SEARCH"):  # CI installs the extra: a missing one is a failure there
        import hydra_plugins.hydra_optuna_sweeper  # noqa: F401
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="needs the search extra: pip install '.[search]'")


def rnnexp_cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "rnnexp", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_an_optuna_search_runs_end_to_end_and_resumes_from_its_storage(tmp_path):
    """The README's search (a few trials): the check passes interval/tag sweeps, every trial gets its
    run's objective as a float, each trial is a job folder whose tables are combined, and a study kept in
    SQLite storage goes on in a second command."""
    optuna_or_skip()
    import optuna

    study = ["hydra.sweeper.storage=sqlite:///study.db", "hydra.sweeper.study_name=t", "hydra.sweeper.sampler.seed=0"]
    argv = ["-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=4", "objective=success",
            "hydra.sweeper.direction=maximize", "lr=tag(log,interval(0.001,0.1))", "init.scale=interval(0.25,2)",
            *TINY, "cache_dir=cache", *study]
    r = rnnexp_cli(*argv, "hydra.sweep.dir=s1", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "float-castable" not in r.stdout + r.stderr and "Traceback" not in r.stderr
    combined = pd.read_csv(tmp_path / "s1" / "summary.csv")
    assert combined["job"].nunique() == 4 and (tmp_path / "s1" / "report.md").is_file()
    per_trial = [objective.value("success", pd.read_csv(tmp_path / "s1" / str(i) / "summary.csv").assign(steps=20), 10)
                 for i in range(4)]
    best = OmegaConf.load(tmp_path / "s1" / "optimization_results.yaml")
    assert best.best_value == max(per_trial)
    trials = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'study.db'}").trials
    assert sorted(t.value for t in trials) == sorted(per_trial)  # what each job returned
    r = rnnexp_cli(*argv, "hydra.sweep.dir=s2", cwd=tmp_path)  # the same study, a new sweep dir
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'study.db'}").trials) == 8


@pytest.mark.slow
def test_a_preset_outside_the_package_runs_and_a_sweep_preset_without_multirun_says_so(tmp_path):
    """``--config-dir DIR +experiment=mine`` is checked and run (it was refused as an unknown
    option); its own sweep, run without -m, runs once after one warning line."""
    (tmp_path / "mine" / "experiment").mkdir(parents=True)
    (tmp_path / "mine" / "experiment" / "mine.yaml").write_text(
        "# @package _global_\nhidden: 4\nhydra:\n  sweeper:\n    params:\n      lr: 0.02,0.1\n")
    r = rnnexp_cli("--config-dir", "mine", "+experiment=mine", *TINY, "cache_dir=cache", "hydra.run.dir=run",
                   cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    warning = [line for line in r.stderr.splitlines() if line.startswith("rnnexp: warning:")]
    assert len(warning) == 1 and "runs one configuration only" in warning[0]
    assert "to run the sweep: python -m rnnexp -m --config-dir mine +experiment=mine" in warning[0]
    ran = pd.read_csv(tmp_path / "run" / "summary.csv")[["hidden", "lr"]].drop_duplicates()
    assert ran.values.tolist() == [[4, 0.01]]  # the preset's hidden, the default lr
    r = rnnexp_cli("-m", "--config-dir", "mine", "+experiment=mine", *TINY, "cache_dir=cache", "hydra.sweep.dir=sweep",
                   cwd=tmp_path)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert sorted(pd.read_csv(tmp_path / "sweep" / "summary.csv")["lr"].unique()) == [0.02, 0.1]
