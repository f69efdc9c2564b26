"""The command line: ``python -m rnnexp`` in a subprocess, and the pre-launch check of overrides."""
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from rnnexp import cli, config
from rnnexp.engine import models
from rnnexp.runs import combine as collect

ROOT = Path(__file__).resolve().parents[1]
TINY = ["steps=20", "eval_every=10", "replicas=2"]


def run_cli(*args, cwd=ROOT):
    """``python -m rnnexp *args``; a fresh cache unless ``cache_dir=`` is given, so it really trains."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not any(a.startswith("cache_dir=") for a in args) and "--help" not in args:
        args = (*args, f"cache_dir={tempfile.mkdtemp(prefix='rnnexp-cache-')}")
    return subprocess.run([sys.executable, "-m", "rnnexp", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


# override -> words the one-line message must contain
BAD = {
    "hidden=abc": "hidden must be an integer >= 1",
    "hidden=0": "hidden must be an integer >= 1",
    "hidden=-4": "hidden must be an integer >= 1",
    "hidden=1.5": "hidden must be an integer",
    "order=foo": "order must be one of lsb, msb",
    "activation=bogus": "activation must be one of sigmoid, tanh, relu, identity",
    "loss=hinge": "loss must be one of bce, mse, softmax",
    "lr=-1": "lr must be a number > 0",
    "lr=0": "lr must be a number > 0",
    "lr=fast": "lr must be a number > 0",
    "bits=1": "bits must be an integer from 2 to 256",
    "replicas=0": "replicas must be an integer >= 1",
    "clip.threshold=-3": "clip.threshold must be a number > 0",
    "clip=bogus": "clip must be one of none, norm, value",
    "init=bogus": "init must be one of",
    "optimizer=rmsprop": "optimizer must be one of adam, sgd",
    "init.scale=-1": "init.scale must be a number >= 0",
    "bptt.truncate=-2": "bptt.truncate must be null (full BPTT) or an integer >= 0",
    "batch=0": "batch must be an integer >= 1",
    "steps=0": "steps must be an integer >= 1",
    "eval_every=0": "eval_every must be an integer >= 1",
    "seed=-1": "seed must be an integer >= 0",
    "bias=maybe": "bias must be true or false",
    "optimizer.momentum=1.5": "optimizer.momentum must be a number in [0, 1)",
    "lr_schedule=cosine": "lr_schedule must be one of constant, halve_on_rise",
    "time_reduction=max": "time_reduction must be one of mean, sum",
    "epochs=3": "epochs=3 needs a fixed training set",
    "train_size=10": "train_size=10 is not allowed: it must be a multiple of batch=32",
    "hiden=4": "there is no such setting (did you mean 'hidden'?)",
    "+hiden=4": "hiden",
    "clip.treshold=2": "did you mean 'clip.threshold'",
    "model=transformer": "model must be one of",
    "model=123": "model must be one of",
    "init=1.5": "init must be one of",
    "cache=maybe": "cache must be true or false",
    "cache_dir=''": "cache_dir must be a folder path",
    "bptt.truncate=abc": "bptt.truncate must be null (full BPTT) or an integer >= 0",
    "epochs=1.5": "epochs must be null or an integer >= 1",
    "hydra/launcher=bogus": "hydra/launcher must be one of",
}


@pytest.mark.parametrize("override,message", BAD.items())
def test_bad_override_is_one_clear_line(override, message):
    with pytest.raises(cli.UsageError) as e:
        cli.precheck([override])
    assert message in str(e.value)
    assert "\n" not in str(e.value)


# a value of the wrong type for a setting whose default is of this type
WRONG_TYPE = {bool: "maybe", int: "abc", float: "fast", str: "[1,2]", list: "abc", type(None): "abc"}


def public_settings() -> list[tuple[list[str], str, object]]:
    """(overrides that select the model, key, default) for every setting of every model."""
    GlobalHydra.instance().clear()
    out, seen = [], set()
    with initialize_config_dir(str(config.conf_dir()), version_base="1.3"):
        for name in models.names():
            select = [] if name == "rnn" else [f"model={name}"]
            cfg = compose("config", overrides=select)
            for key in config.flat_keys(cfg):
                if key not in seen:
                    seen.add(key)
                    value = OmegaConf.select(cfg, key)
                    out.append((select, key, OmegaConf.to_object(value) if OmegaConf.is_config(value) else value))
    GlobalHydra.instance().clear()
    return out


def test_a_wrong_type_for_every_public_setting_is_one_clear_line():
    settings = public_settings()
    assert len(settings) >= 30
    for select, key, default in settings:
        name = config.OVERRIDE_NAME.get(key, key)  # model.name is set as model=...
        override = f"{name}={WRONG_TYPE[type(default)]}"
        with pytest.raises(cli.UsageError) as e:
            cli.precheck([*select, override])
        msg = str(e.value)
        assert "\n" not in msg and f"{name}=" in msg and "must be" in msg, (override, msg)


def test_every_combination_of_a_sweep_is_checked():
    with pytest.raises(cli.UsageError, match="hidden=0 is not allowed"):
        cli.precheck(["-m", "hidden=4,8,0", "order=lsb,msb"])
    with pytest.raises(cli.UsageError, match="train_size=48 is not allowed"):
        cli.precheck(["-m", "batch=16,32", "train_size=48"])
    cli.precheck(["-m", "hidden=4,8,16", "order=lsb,msb", "clip=none,norm", "clip.threshold=0.5,5"])


def test_a_list_without_multirun_is_refused():
    with pytest.raises(cli.UsageError, match="add -m"):
        cli.precheck(["hidden=4,8"])


def test_bad_override_exits_nonzero_before_any_work(tmp_path):
    for override in ("hidden=abc", "hiden=4"):
        r = run_cli(override, f"hydra.run.dir={tmp_path}/run")
        assert r.returncode == 2
        assert r.stderr.strip().count("\n") == 0 and "rnnexp: error:" in r.stderr
    r = run_cli("-m", "hidden=4,0", f"hydra.sweep.dir={tmp_path}/sweep")
    assert r.returncode == 2 and "hidden=0" in r.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()


# one of each kind of mistake: wrong type (int, float, bool, choice, group), out of range, a
# relation between settings, an unknown key at the top and inside a group, a missing launcher
REPRESENTATIVE = ["hidden=abc", "lr=fast", "bias=maybe", "model=123", "hidden=0", "order=foo",
                  "clip=bogus", "optimizer.momentum=1.5", "epochs=3", "hiden=4", "clip.treshold=2",
                  "cache=maybe", "hydra/launcher=bogus"]


FEW = ["hidden=abc", "order=foo", "hiden=4", "epochs=3", "model=123"]  # the fast suite's share


@pytest.mark.parametrize("overrides", [FEW, pytest.param(REPRESENTATIVE, marks=pytest.mark.slow, id="all")],
                         ids=["few", "all"])
@pytest.mark.parametrize("mode", ["single", "multirun"])
def test_bad_input_fails_before_any_work_in_a_subprocess(tmp_path, mode, overrides):
    def attempt(i_override):
        i, override = i_override
        cwd = tmp_path / str(i)
        cwd.mkdir()
        sweep = ["-m", "seed=0,1"] if mode == "multirun" else []
        return cwd, override, run_cli(*sweep, override, "cache_dir=cache", *TINY, cwd=cwd)

    with ThreadPoolExecutor(2) as pool:
        for cwd, override, r in pool.map(attempt, enumerate(overrides)):
            assert r.returncode == 2, (override, r.stdout, r.stderr)
            assert r.stderr.startswith("rnnexp: error: ") and r.stderr.count("\n") == 1, (override, r.stderr)
            assert r.stdout == ""
            assert list(cwd.iterdir()) == [], f"{override}: wrote {list(cwd.iterdir())}"  # no runs/, no cache


def test_single_run_writes_its_tables(tmp_path):
    r = run_cli(*TINY, "hidden=4", f"hydra.run.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    assert "solved" in r.stdout and str(tmp_path) in r.stdout
    for name in ("summary", "history", "profile", "positions"):
        df = pd.read_csv(tmp_path / f"{name}.csv")
        assert len(df) and {"hidden", "order", "init", "init.scale", "clip", "replica"} <= set(df.columns)
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["status"] == "complete" and "hidden" in meta["config_columns"]
    assert pd.read_csv(tmp_path / "summary.csv")["hidden"].eq(4).all()


def check_sweep(sweep: Path, replicas: int):
    s = pd.read_csv(sweep / "summary.csv")
    assert len(s) == 6 * replicas
    assert s.groupby(["hidden", "order"]).size().to_dict() == {
        (h, o): replicas for h in (4, 8, 16) for o in ("lsb", "msb")}
    assert s["job"].nunique() == 6
    h = pd.read_csv(sweep / "history.csv")
    assert set(h["hidden"]) == {4, 8, 16} and set(h["order"]) == {"lsb", "msb"}
    return s


def test_example_sweep_small(tmp_path):
    r = run_cli("-m", "hidden=4,8,16", "order=lsb,msb", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    check_sweep(tmp_path, 2)
    assert "collected 6 of 6 run(s) (12 replicas)" in r.stdout
    # collect works as a command too, on any sweep dir
    (tmp_path / "summary.csv").unlink()
    tables = collect.collect(tmp_path, quiet=True)
    assert collect.swept_keys(tables["summary"]) == ["hidden", "order"]
    assert (tmp_path / "summary.csv").exists()


@pytest.mark.slow
def test_example_sweep_exactly_as_the_readme_says(tmp_path):
    r = run_cli("-m", "hidden=4,8,16", "order=lsb,msb", f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    s = check_sweep(tmp_path, 10)
    lsb16 = s[(s.hidden == 16) & (s.order == "lsb")]
    assert lsb16["solved"].mean() >= 0.8
    # the causal limit for msb, exactly: bit 0 always right, bit k right with 1/2 + 2^-(k+1)
    limit = (1 + sum(0.5 + 2.0 ** -(k + 1) for k in range(1, 8))) / 8  # 0.62451171875 (~0.6245)
    assert s.loc[s.order == "msb", "bit_acc"].max() <= limit + 1e-12


def test_help_lists_groups_and_settings():
    r = run_cli("--help")
    assert r.returncode == 0
    for word in ("clip: none, norm, value", "optimizer: adam, sgd", "init:", "model: birnn, gru, lstm, rnn", "hidden: 16", "order: lsb"):
        assert word in r.stdout


def test_collect_command_reports_missing_runs(tmp_path):
    assert collect.main([str(tmp_path)]) == 1


@pytest.mark.slow
def test_a_sweep_where_some_configurations_diverge_finishes_and_reports_them(tmp_path):
    # a linear RNN over 32 steps: lr=10 blows up, lr=0.01 does not
    r = run_cli("-m", "lr=0.01,10", "activation=identity", "init=normal", "init.scale=0.5", "optimizer=sgd",
                "bits=32", "hidden=8", "steps=40", "eval_every=20", "replicas=2", f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    s = pd.read_csv(tmp_path / "summary.csv")
    assert s.groupby("lr")["diverged"].sum().to_dict() == {0.01: 0, 10.0: 2}
    assert s.loc[s.diverged, "diverged_step"].ge(1).all()
    overview = [l.split() for l in r.stdout.splitlines() if l.split()[:1] in (["0.01"], ["10.0"], ["10"])]
    assert [row[0] for row in overview] == ["0.01", "10"] and [row[-1] for row in overview] == ["0", "2"]


def test_a_presets_own_sweep_is_checked_too():
    """+experiment=order sweeps its arms (rnn lsb/msb with truncation, birnn msb without) from
    hydra.sweeper.params: a command-line override that breaks one arm is caught before launch."""
    with pytest.raises(cli.UsageError, match="birnn"):
        cli.precheck(["-m", "+experiment=order", "bptt.truncate=3"])
    cli.precheck(["-m", "+experiment=order"])
    cli.precheck(["-m", "+experiment=order", "arm=order_rnn_lsb", "bptt.truncate=3"])  # the command line wins
