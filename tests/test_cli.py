"""The command line: ``python -m rnnexp`` in a subprocess, and the pre-launch check of overrides."""
import json
import os
import shutil
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
    # every float setting is finite (one check over the schema's float fields, models' own included)
    "lr=inf": "lr=inf is not allowed: lr must be a finite number > 0",
    "lr=1e309": "lr=inf is not allowed: lr must be a finite number > 0",
    "lr=-inf": "lr must be a finite number > 0",
    "lr=nan": "lr must be a finite number > 0",
    "init.scale=inf": "init.scale must be a finite number >= 0",
    "init.input_scale=1e309": "init.input_scale must be a finite number > 0",
    "optimizer.eps=inf": "optimizer.eps must be a finite number > 0",
    "clip.threshold=inf": "clip.threshold must be a finite number > 0",
    "optimizer.momentum=-inf": "optimizer.momentum must be a finite number in [0, 1)",
    "optimizer.beta2=nan": "optimizer.beta2 must be a finite number in [0, 1)",
    # integers stay within int64 (numpy arrays and table columns), sizes within memory
    "steps=100000000000000000000": "steps must be an integer >= 1, at most 9223372036854775807",
    "seed=9223372036854775808": "seed must be an integer >= 0, at most 9223372036854775807",
    "eval_every=100000000000000000000": "eval_every must be an integer >= 1, at most",
    "bptt.truncate=100000000000000000000": "bptt.truncate must be null (full BPTT) or an integer >= 0, at most",
    "hidden=1000000000": "hidden=1000000000 replicas=10 batch=32 bits=8 would not fit in memory",
    "replicas=10000000": "replicas=10000000 batch=32 bits=8 would not fit in memory",
    "batch=1000000000": "batch=1000000000 bits=8 would not fit in memory",
    "model.layers=1000000": "model.layers=1000000 hidden=16 replicas=10 batch=32 bits=8 would not fit in memory",
    "train_size=1000000000000": "train_size=1000000000000 would not fit in memory",
    # overrides Hydra cannot read, or that remove a setting
    "~hidden": "~hidden is not allowed: a setting cannot be deleted, only changed (e.g. hidden=16)",
    "model=": "model= is not allowed: model must be one of birnn, gru, lstm, rnn",
    "hidden=\uff18": "hidden=\\uff18 is not allowed: U+FF18 FULLWIDTH DIGIT EIGHT is not an ASCII digit; write hidden=8",
    "hid\u200bden=8": "contains an invisible character (U+200B ZERO WIDTH SPACE)",
    "hidden=8\u200b": "contains an invisible character (U+200B ZERO WIDTH SPACE)",
    "cache_dir=/tmp/r\u00e9sum\u00e9": "outside quotes an override is ASCII only; quote the value",
    "hidden": "hidden has no value: write hidden=VALUE (e.g. hidden=16)",
    "hidden==4": "hidden==4 is not allowed: write one '=' between the setting and its value, e.g. hidden=4",
    "hidden=4,": "hidden=4, ends with a comma",
    "eval_bits=[16,32": "eval_bits=[16,32 is not allowed: a '[' is not closed",
    "=4": "=4 names no setting: write SETTING=VALUE",
    # folders rnnexp must write into (a file, or a place nobody may write to, root included)
    "hydra.run.dir=/proc/rnnexp-run": "hydra.run.dir must be a folder rnnexp can write into (cannot write into /proc",
    f"hydra.run.dir={ROOT / 'README.md'}": "hydra.run.dir must be a folder rnnexp can write into (",
    "cache_dir=/proc/rnnexp-cache": "cache_dir must be a folder rnnexp can write into (cannot write into /proc",
    "cache_dir=/sys/rnnexp-cache": "cache_dir must be a folder rnnexp can write into (cannot write into /sys",
    f"cache_dir={ROOT / 'README.md'}/cache": "README.md is a file, not a folder",
}

# several overrides -> words the one-line message must contain
BAD_COMMANDS = [
    (["-m", "lr=interval(0.1,1)"], "lr=interval(0.1,1) is not allowed: the basic sweeper runs lists of values"),
    (["-m", "hidden=4,"], "hidden=4, ends with a comma"),
    (["-m", "lr=0.1,inf"], "lr=inf is not allowed: lr must be a finite number > 0"),
    (["-m", "clip=norm", "clip.threshold=1,1e309"], "clip.threshold must be a finite number > 0"),
    (["model=lstm", "model.forget_bias=inf"], "model.forget_bias=inf is not allowed: model.forget_bias must be a finite number"),
    (["-m", "hidden=4,1000000000"], "hidden=1000000000 replicas=10 batch=32 bits=8 would not fit in memory"),
    (["-m", "seed=0,1", f"hydra.sweep.dir={ROOT / 'README.md'}"], "hydra.sweep.dir must be a folder rnnexp can write into"),
    (["-m", "seed=0,1", "hydra.sweep.dir=/proc/rnnexp-sweep"], "hydra.sweep.dir must be a folder rnnexp can write into"),
    (["-m", "seed=0,1", "cache_dir=/proc/rnnexp-cache,/tmp"], "cache_dir=/proc/rnnexp-cache is not allowed"),
]


# one of each kind of mistake: wrong type (int, float, bool, choice, group), out of range, a
# relation between settings, an unknown key at the top and inside a group, a missing launcher
REPRESENTATIVE = ["hidden=abc", "lr=fast", "bias=maybe", "model=123", "hidden=0", "order=foo",
                  "clip=bogus", "epochs=3", "hiden=4", "clip.treshold=2", "hydra/launcher=bogus"]


FEW = ["hidden=abc", "hiden=4", "epochs=3", "model=123",  # the fast suite's share
       "lr=inf", "hidden=1000000000", "~hidden", "hidden=4,"]
REPRESENTATIVE += FEW[4:] + ["hidden=\uff18", "hidden", "eval_bits=[16,32", "model=", "optimizer.eps=1e309"]
REPRESENTATIVE.remove("bias=maybe")  # the fast suite's budget: a bool is a type like hidden=abc's int
# the fast suite's share of the overrides (the slow suite runs every one, and REPRESENTATIVE as
# commands): lr=fast is a type like hidden=abc's; clip=bogus a group like model=123; clip.treshold=2
# a misspelt key like hiden=4; optimizer.eps=1e309 an infinity like lr=inf; model= an empty value;
# hidden=\uff18 (a full-width digit) a type like hidden=abc's; order=foo a choice like model=123;
# eval_bits=[16,32 unparsable like hidden=4,
FAST_SHARE = [o for o in REPRESENTATIVE if o not in ("lr=fast", "clip=bogus", "clip.treshold=2",
                                                     "optimizer.eps=1e309", "model=", "hidden=\uff18",
                                                     "order=foo", "eval_bits=[16,32")]


# the fast suite checks one of each kind of mistake (FAST_SHARE); the slow suite every entry (each
# costs one Hydra composition, ~0.2 s)
@pytest.mark.parametrize("override,message", [
    pytest.param(o, m, marks=() if o in FAST_SHARE else pytest.mark.slow) for o, m in BAD.items()])
def test_bad_override_is_one_clear_line(override, message):
    with pytest.raises(cli.UsageError) as e:
        cli.precheck([override])
    assert message in str(e.value)
    assert "\n" not in str(e.value)


# the fast suite: a sweep of non-finite values, a model's own setting, the interval sweep (the slow
# suite: every command; too large for memory: hidden=1000000000 among the overrides above)
FAST_COMMANDS = ("-m lr=0.1,inf", "model=lstm model.forget_bias=inf", "-m lr=interval(0.1,1)")


@pytest.mark.parametrize("argv,message", [
    pytest.param(a, m, marks=() if " ".join(a) in FAST_COMMANDS else pytest.mark.slow) for a, m in BAD_COMMANDS],
    ids=[" ".join(a) for a, _ in BAD_COMMANDS])
def test_bad_command_is_one_clear_line(argv, message):
    with pytest.raises(cli.UsageError) as e:
        cli.precheck(argv)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a mode 0500 folder (tested with /proc and /sys)")
def test_a_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    for argv in ([f"cache_dir={ro}/cache"], [f"hydra.run.dir={ro}/run"], ["-m", "seed=0,1", f"hydra.sweep.dir={ro}"]):
        with pytest.raises(cli.UsageError, match="must be a folder rnnexp can write into .*Permission denied"):
            cli.precheck(argv)
    locked = tmp_path / "locked"  # not even to be entered (another user's mode 0700 home): test below
    locked.mkdir(mode=0o600)
    for argv in ([f"cache_dir={locked}/cache"], [f"hydra.run.dir={locked}/run"]):
        with pytest.raises(cli.UsageError, match="must be a folder rnnexp can write into .*Permission denied"):
            cli.precheck(argv)


def test_a_folder_inside_one_that_cannot_be_entered_is_one_clear_line(tmp_path, monkeypatch):
    """``cache_dir=/root/cache`` for anyone but root: whether the folder exists cannot even be asked
    (``stat``: Permission denied, as in a colleague's mode 0700 folder). One line, not a traceback.
    Root enters every folder, so here the refusal is simulated; the test above meets it for real."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_stat = Path.stat

    def stat(self, *args, **kwargs):
        if str(self).startswith(f"{locked}{os.sep}"):
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    with pytest.raises(cli.UsageError) as e:  # one composition (the fast suite's budget); the run and
        cli.precheck([f"cache_dir={locked}/cache"])  # sweep dirs go through the same folder_problem
    msg = str(e.value)
    assert msg.startswith(f"cache_dir={locked}/cache is not allowed: cache_dir must be a folder rnnexp can write "
                          f"into (cannot reach {locked}/cache: Permission denied)") and "\n" not in msg, msg
    assert cli.limits.folder_problem(f"{locked}/a/run") == f"cannot reach {locked}/a/run: Permission denied"
    assert list(locked.iterdir()) == []


def test_checking_the_folders_writes_nothing(tmp_path):
    cli.precheck([f"cache_dir={tmp_path}/cache", f"hydra.run.dir={tmp_path}/run"])
    cli.precheck(["-m", "seed=0,1", f"cache_dir={tmp_path}", f"hydra.sweep.dir={tmp_path}/sweep"])
    assert list(tmp_path.iterdir()) == []


# the Python API: config.Config(...) and train.train say what the command line says
API = [({"hidden": 0}, "hidden=0"), ({"lr": float("inf")}, "lr=inf"), ({"clip": "bogus"}, "clip=bogus"),
       ({"model": "transformer"}, "model=transformer"), ({"init": config.InitConf(scale=float("inf"))}, "init.scale=inf"),
       ({"seed": 2**63}, f"seed={2**63}"), ({"epochs": 3}, "epochs=3"), ({"train_size": 10}, "train_size=10")]


@pytest.mark.parametrize("kw,override", [pytest.param(k, o, marks=() if o in ("hidden=0", "lr=inf", "epochs=3") else pytest.mark.slow)
                                         for k, o in API], ids=[o for _, o in API])
def test_the_python_api_refuses_what_the_command_line_refuses(kw, override):
    with pytest.raises(cli.UsageError) as cli_error:
        cli.precheck([override])
    with pytest.raises(config.ConfigError) as api_error:
        config.Config(**kw)
    assert str(api_error.value) == str(cli_error.value)


def test_train_checks_a_changed_config_before_any_work(monkeypatch):
    from rnnexp import train

    monkeypatch.setattr(train.network, "init_params", lambda *a: pytest.fail("training started"))
    cfg = config.Config()
    cfg.hidden = 0  # changed after it was made: train.train checks again
    with pytest.raises(config.ConfigError, match="^hidden=0 is not allowed: hidden must be an integer >= 1$"):
        train.train(cfg)
    cfg.hidden, cfg.clip = 16, 5
    with pytest.raises(config.ConfigError, match="^clip=5 is not allowed: clip must be one of none, norm, value$"):
        train.train(cfg)
    cfg.clip, cfg.replicas = config.ClipConf(), 10**7
    with pytest.raises(config.ConfigError, match="would not fit in memory"):
        train.train(cfg)


def test_the_python_api_takes_a_group_by_its_option_name():
    c = config.Config(clip="norm", init="orthogonal", optimizer="sgd", model="lstm")
    assert c.clip == config.ClipConf(name="norm") and c.init == config.InitConf(name="orthogonal")
    assert c.optimizer == config.OptimizerConf(name="sgd")
    assert c.model == models.conf_class("lstm")(name="lstm")  # the model's own settings, with defaults
    assert config.Config(model=models.ModelConf(name="lstm", layers=2)).model.forget_bias == 1.0
    with pytest.raises(config.ConfigError, match="^hiden: there is no such setting .did you mean 'hidden'.?"):
        c.hiden = 4
        config.check(c)


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


def _wrong_type_is_one_clear_line(settings):
    for select, key, default in settings:
        name = config.OVERRIDE_NAME.get(key, key)  # model.name is set as model=...
        override = f"{name}={WRONG_TYPE[type(default)]}"
        with pytest.raises(cli.UsageError) as e:
            cli.precheck([*select, override])
        msg = str(e.value)
        assert "\n" not in msg and f"{name}=" in msg and "must be" in msg, (override, msg)


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_a_wrong_type_for_one_setting_of_each_type_is_one_clear_line():
    """The fast suite: one setting per type (int, float, bool, str, list, a group, a model's own);
    the slow test below tries every public setting of every model."""
    settings = public_settings()
    picked, types = [], set()
    for select, key, default in settings:
        kind = (type(default), key in config.OVERRIDE_NAME, bool(select))
        if kind not in types:
            types.add(kind)
            picked.append((select, key, default))
    assert len(picked) >= 6
    _wrong_type_is_one_clear_line(picked)


@pytest.mark.slow
def test_a_wrong_type_for_every_public_setting_is_one_clear_line():
    settings = public_settings()
    assert len(settings) >= 30
    _wrong_type_is_one_clear_line(settings)


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_every_combination_of_a_sweep_is_checked():
    with pytest.raises(cli.UsageError, match="hidden=0 is not allowed"):
        cli.precheck(["-m", "hidden=4,0", "order=lsb,msb"])  # the third combination
    with pytest.raises(cli.UsageError, match="train_size=48 is not allowed"):
        cli.precheck(["-m", "batch=16,32", "train_size=48"])
    cli.precheck(["-m", "order=lsb,msb", "clip=none,norm"])  # 4 good combinations


def test_a_list_without_multirun_is_refused():
    with pytest.raises(cli.UsageError, match="add -m"):
        cli.precheck(["hidden=4,8"])


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_bad_override_exits_nonzero_before_any_work(tmp_path):
    """The command: exit status 2, one line on stderr, nothing on stdout and nothing written (no run
    or sweep dir, given or default, no cache), for a single run and for a sweep."""
    def attempt(i_case):
        i, (args, words) = i_case
        cwd = tmp_path / str(i)
        cwd.mkdir()
        return cwd, args, words, run_cli(*args, "cache_dir=cache", *TINY, cwd=cwd)

    cases = [(["hiden=4", "hydra.run.dir=run"], "did you mean 'hidden'"), (["-m", "hidden=4,0"], "hidden=0 is not allowed")]
    with ThreadPoolExecutor(2) as pool:  # side by side
        done = list(pool.map(attempt, enumerate(cases)))
    for cwd, args, words, r in done:
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("rnnexp: error: ") and r.stderr.count("\n") == 1 and words in r.stderr
        assert r.stdout == ""
        assert list(cwd.iterdir()) == [], f"{args}: wrote {list(cwd.iterdir())}"


@pytest.mark.parametrize("mode", ["single", pytest.param("multirun", marks=pytest.mark.slow)])  # the fast suite's budget
def test_bad_input_fails_before_any_work(tmp_path, monkeypatch, capsys, mode):
    """``python -m rnnexp``'s entry point, in-process (the command itself: the test above, and the
    slow one below for every kind of mistake)."""
    from rnnexp import __main__ as entry

    for i, override in enumerate(FEW):
        cwd = tmp_path / str(i)
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        sweep = ["-m", "seed=0,1"] if mode == "multirun" else []
        monkeypatch.setattr(sys, "argv", ["rnnexp", *sweep, override, "cache_dir=cache", *TINY])
        with pytest.raises(SystemExit) as e:
            entry.main()
        out, err = capsys.readouterr()
        assert e.value.code == 2, (override, out, err)
        assert err.startswith("rnnexp: error: ") and err.count("\n") == 1, (override, err)
        assert out == ""
        assert list(cwd.iterdir()) == [], f"{override}: wrote {list(cwd.iterdir())}"  # no runs/, no cache


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["single", "multirun"])
def test_bad_input_fails_before_any_work_in_a_subprocess(tmp_path, mode):
    def attempt(i_override):
        i, override = i_override
        cwd = tmp_path / str(i)
        cwd.mkdir()
        sweep = ["-m", "seed=0,1"] if mode == "multirun" else []
        return cwd, override, run_cli(*sweep, override, "cache_dir=cache", *TINY, cwd=cwd)

    with ThreadPoolExecutor(2) as pool:
        for cwd, override, r in pool.map(attempt, enumerate(REPRESENTATIVE)):
            assert r.returncode == 2, (override, r.stdout, r.stderr)
            assert r.stderr.startswith("rnnexp: error: ") and r.stderr.count("\n") == 1, (override, r.stderr)
            assert r.stdout == ""
            assert list(cwd.iterdir()) == [], f"{override}: wrote {list(cwd.iterdir())}"  # no runs/, no cache


@pytest.mark.slow
def test_an_unwritable_folder_fails_before_any_work(tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    for args in ([f"hydra.run.dir={tmp_path}/run", "cache_dir=/proc/rnnexp-cache"],
                 ["-m", "seed=0,1", f"hydra.sweep.dir={file}", f"cache_dir={tmp_path}/cache"]):
        r = run_cli(*args, *TINY, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.startswith("rnnexp: error: ") and r.stderr.count("\n") == 1, r.stderr
        assert "must be a folder rnnexp can write into" in r.stderr and r.stdout == ""
        assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.slow
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


def check_sweep(sweep: Path, replicas: int, hidden=(4, 8, 16)):
    s = pd.read_csv(sweep / "summary.csv")
    n = 2 * len(hidden)
    assert len(s) == n * replicas
    assert s.groupby(["hidden", "order"]).size().to_dict() == {
        (h, o): replicas for h in hidden for o in ("lsb", "msb")}
    assert s["job"].nunique() == n
    h = pd.read_csv(sweep / "history.csv")
    assert set(h["hidden"]) == set(hidden) and set(h["order"]) == {"lsb", "msb"}
    return s


def test_example_sweep_small(two_key_sweep, tmp_path):
    sweep, r = two_key_sweep  # python -m rnnexp -m hidden=2,4 order=lsb,msb ... (conftest.TWO_KEY)
    check_sweep(sweep, 3, hidden=(2, 4))
    assert "collected 4 of 4 run(s) (12 replicas)" in r.stdout
    # collect works as a command too, on any sweep dir (here a copy: the sweep is shared)
    copy = shutil.copytree(sweep, tmp_path / "sweep")
    (copy / "summary.csv").unlink()
    tables = collect.collect(copy, quiet=True)
    assert collect.swept_keys(tables["summary"]) == ["hidden", "order"]
    assert (copy / "summary.csv").exists()


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


# --help: tests/test_help.py (every setting with its meaning and allowed values, the presets)


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


@pytest.mark.slow
def test_a_presets_own_sweep_is_checked_too():
    """+experiment=order sweeps its arms (rnn lsb/msb with truncation, birnn msb without) from
    hydra.sweeper.params: a command-line override that breaks one arm is caught before launch."""
    with pytest.raises(cli.UsageError, match="birnn"):
        cli.precheck(["-m", "+experiment=order", "bptt.truncate=3"])
    cli.precheck(["-m", "+experiment=order"])
    cli.precheck(["-m", "+experiment=order", "arm=order_rnn_lsb", "bptt.truncate=3"])  # the command line wins


@pytest.mark.slow  # two interpreters loading numpy and Hydra
@pytest.mark.parametrize("env, want", [({}, "1"), ({"OPENBLAS_NUM_THREADS": "2"}, "2")])
def test_the_entry_point_runs_one_blas_thread_unless_told_otherwise(env, want):
    """A second OpenBLAS thread made single runs several times slower (README: Performance): the
    entry point sets one before numpy loads, and leaves a value the user set."""
    base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    code = ("import sys, rnnexp.__main__, os; assert 'numpy' in sys.modules; "
            "print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])")
    r = subprocess.run([sys.executable, "-c", code], env={**base, **env, "PYTHONPATH": str(ROOT)},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [want, "1"]
