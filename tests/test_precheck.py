"""The pre-launch check (``cli.precheck``) for every sweep syntax and sweeper, a researcher's own
configs (``--config-dir``, ``--config-name``, ``hydra.searchpath``), and large sweeps.

The configurations the check accepted are captured where it checks their memory (``check_memory``
gets every one), and Hydra compositions are counted: a sweep of value settings is composed once,
not once per combination. No test times anything.
"""
import math

import pytest

from rnnexp import cli

# a sweeper other than the basic one: the check reads its _target_, nothing instantiates it here
FAKE_SWEEPER = "_target_: tests.not.a.Sweeper\nparams: null\n"
MINE = "# @package _global_\nhidden: 4\nhydra:\n  sweeper:\n    params:\n      lr: 0.01,0.1\n"


@pytest.fixture
def checked(monkeypatch):
    """``run(argv)``: precheck ``argv``; returns (the configurations checked, compositions made)."""
    def run(argv):
        cfgs, composed = [], []
        real_compose = cli.compose
        monkeypatch.setattr(cli, "check_memory", lambda c, *a: cfgs.extend(c))
        monkeypatch.setattr(cli, "compose", lambda *a, **k: composed.append(a) or real_compose(*a, **k))
        cli.precheck(argv)
        return cfgs, len(composed)
    return run


@pytest.fixture
def own_configs(tmp_path):
    """A researcher's config folder outside the package: a preset, a bad preset, a primary config
    and a sweeper."""
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text(MINE)
    (tmp_path / "experiment" / "broken.yaml").write_text("# @package _global_\nhidden: 0\n")
    (tmp_path / "experiment" / "linked.yaml").write_text("# @package _global_\nhidden: ${bits}\n")
    (tmp_path / "mine_config.yaml").write_text("defaults:\n  - config\n  - _self_\n\nhidden: 3\n")
    (tmp_path / "hydra" / "sweeper").mkdir(parents=True)
    (tmp_path / "hydra" / "sweeper" / "fake.yaml").write_text(FAKE_SWEEPER)
    return tmp_path


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_a_glob_of_groups_checks_every_option(checked):
    cfgs, composed = checked(["-m", "model=glob(*)"])  # crashed: "ConfigLoader is not set"
    assert sorted(c.model.name for c in cfgs) == ["birnn", "gru", "lstm", "rnn"]
    assert composed == 1 + 4  # Hydra's master config, then one per model
    with pytest.raises(cli.UsageError, match=r"^model=glob\(x\*\) matches no option: model must be one of birnn"):
        cli.precheck(["-m", "model=glob(x*)"])


@pytest.mark.slow  # the fast suite's budget
def test_values_are_composed_once_per_combination_of_groups(checked):
    cfgs, composed = checked(["-m", "model=rnn,lstm", "hidden=range(1,6)", "lr=0.001,0.01,0.1", "batch=1,2"])
    assert len(cfgs) == 60 and composed == 1 + 2  # the master config, then one per model
    assert {(c.model.name, c.hidden, c.lr, c.batch) for c in cfgs} == {
        (m, h, lr, b) for m in ("rnn", "lstm") for h in range(1, 6) for lr in (0.001, 0.01, 0.1) for b in (1, 2)}


@pytest.mark.slow
def test_a_thousand_combinations_are_composed_once(checked):
    lrs = ",".join(f"0.00{i}" for i in range(1, 10)) + ",0.01"
    cfgs, composed = checked(["-m", "hidden=range(1,11)", f"lr={lrs}", "batch=range(1,11)"])
    assert len(cfgs) == 1000 and composed == 1
    assert {(c.hidden, c.lr, c.batch) for c in cfgs} == {(h, l, b) for h in range(1, 11) for b in range(1, 11)
                                                         for l in map(float, lrs.split(","))}


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_each_combination_is_checked_with_its_relations(checked):
    with pytest.raises(cli.UsageError, match="bits=300 is not allowed"):  # ${bits} resolved per combination
        cli.precheck(["-m", "bits=4,300", "hidden=${bits}"])
    cfgs, _ = checked(["-m", "epochs=3", "train_size=32,64"])  # the master config alone would be refused
    assert [c.train_size for c in cfgs] == [32, 64]


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_an_optimizing_sweeper_gets_its_bounds_checked(checked, own_configs):
    d = ["--config-dir", str(own_configs), "-m", "hydra/sweeper=fake"]
    cfgs, _ = checked([*d, "lr=tag(log,interval(0.001,0.1))", "hidden=range(4,8,2)"])
    assert {c.lr for c in cfgs} == {0.001, math.nextafter(0.1, 0)}  # a float interval is open at its end
    assert {c.hidden for c in cfgs} == {4, 6, 8}  # Optuna draws a range's stop too
    with pytest.raises(cli.UsageError, match=r"^bits=8.0 is not allowed: .*interval\(8,300\) draws floats, 8 <= value "
                                             r"< 300; an integer setting takes range\(start,stop\) or a list\)$"):
        cli.precheck([*d, "bits=interval(8,300)"])


@pytest.mark.slow
def test_an_optimizing_sweepers_ranges_and_open_intervals(checked, own_configs):
    d = ["--config-dir", str(own_configs), "-m", "hydra/sweeper=fake"]
    with pytest.raises(cli.UsageError, match="^lr=0.0 is not allowed: lr must be a number > 0$"):
        cli.precheck([*d, "lr=interval(0,0.1)"])
    with pytest.raises(cli.UsageError, match=r"glob\(\) chooses options of a config group, and hidden is a setting"):
        cli.precheck(["-m", "hidden=glob(*)"])
    with pytest.raises(cli.UsageError, match=r"^bits=264 is not allowed"):  # the stop, which Optuna may draw
        cli.precheck([*d, "bits=range(240,264,8)"])
    checked(["-m", "bits=range(240,264,8)"])  # the basic sweeper stops before it
    checked([*d, "optimizer=sgd", "optimizer.momentum=interval(0.5,1.0)"])  # [0.5, 1): allowed
    with pytest.raises(cli.UsageError, match="the basic sweeper runs lists of values"):
        cli.precheck(["-m", "lr=interval(0.001,0.1)"])


def test_a_missing_sweeper_names_the_extra(monkeypatch):
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    with pytest.raises(cli.UsageError, match="^hydra/sweeper=optunaa is not available: hydra/sweeper must be one of"):
        cli.precheck(["-m", "hydra/sweeper=optunaa", "lr=interval(0.001,0.1)"])
    real = ConfigLoaderImpl.get_group_options  # as on a machine without the extra
    monkeypatch.setattr(ConfigLoaderImpl, "get_group_options", lambda self, group, *a, **k:
                        ["basic"] if group == "hydra/sweeper" else real(self, group, *a, **k))
    with pytest.raises(cli.UsageError, match=r"hydra/sweeper=optuna is not available: .*'rnnexp\[search\]'$"):
        cli.precheck(["-m", "hydra/sweeper=optuna", "lr=interval(0.001,0.1)"])


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_a_preset_outside_the_package_is_checked_with_config_dir_or_searchpath(checked, own_configs):
    cfgs, _ = checked(["-m", "--config-dir", str(own_configs), "+experiment=mine"])
    assert sorted((c.hidden, c.lr) for c in cfgs) == [(4, 0.01), (4, 0.1)]  # its own sweep too
    cfgs, _ = checked(["-m", "--config-dir", str(own_configs), "+experiment=linked", "bits=4,6"])
    assert [(c.bits, c.hidden) for c in cfgs] == [(4, 4), (6, 6)]  # hidden: ${bits}, per combination


@pytest.mark.slow
def test_every_way_to_a_researchers_own_configs(checked, own_configs):
    for where in (["--config-dir", str(own_configs)], [f"hydra.searchpath=[file://{own_configs}]"]):
        cfgs, _ = checked(["-m", *where, "+experiment=mine"])
        assert sorted((c.hidden, c.lr) for c in cfgs) == [(4, 0.01), (4, 0.1)]
        with pytest.raises(cli.UsageError, match="^hidden=0 is not allowed"):
            cli.precheck([*where, "+experiment=broken"])
    with pytest.raises(cli.UsageError, match="experiment=mine is not allowed: experiment must be one of"):
        cli.precheck(["+experiment=mine"])  # not found without them
    cfgs, _ = checked(["--config-dir", str(own_configs), "--config-name", "mine_config"])
    assert [c.hidden for c in cfgs] == [3]
    with pytest.raises(cli.UsageError, match="--config-dir .* is not allowed: it must be a folder of configs"):
        cli.precheck(["--config-dir", str(own_configs / "nowhere"), "hidden=4"])


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_a_sweep_preset_without_multirun_is_one_warning(own_configs, monkeypatch, capsys):
    argv = ["--config-dir", str(own_configs), "+experiment=mine"]
    cfgs = []
    monkeypatch.setattr(cli, "check_memory", lambda c, *a: cfgs.extend(c))
    cli.run_precheck(argv)
    assert [(c.hidden, c.lr) for c in cfgs] == [(4, 0.01)]  # the preset's defaults: one configuration
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("rnnexp: warning: ") and "runs one configuration only" in err[0]
    assert err[0].endswith(f"to run the sweep: python -m rnnexp -m --config-dir {own_configs} +experiment=mine")
