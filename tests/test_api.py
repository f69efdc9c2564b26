"""The Python API (README: Python API): ``rnnexp.configure`` checks like the command line,
``rnnexp.run`` gives the command line's tables, ``rnnexp.draw`` draws the report's figures into a
given Axes and writes nothing, and the example under ``examples/`` runs."""
import dataclasses
import os
import runpy
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: the example's figure needs no display

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

import rnnexp  # noqa: E402
from rnnexp import cli, config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(hidden=2, bits=4, replicas=2, steps=8, eval_every=4)


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_settings_have_the_command_lines_names():
    cfg = rnnexp.configure(model="lstm", clip="norm", hidden=np.int64(8), eval_bits=(16, 32),
                           **{"clip.threshold": 0.5, "model.forget_bias": 0.0, "init.scale": 2})
    assert isinstance(cfg, rnnexp.Config)
    assert (cfg.model.name, cfg.model.forget_bias, cfg.clip.name, cfg.clip.threshold) == ("lstm", 0.0, "norm", 0.5)
    assert (cfg.hidden, cfg.eval_bits, cfg.init.scale) == (8, [16, 32], 2.0)
    # command-line strings, values read as Hydra reads them; keywords win
    cfg = rnnexp.configure("task=adding", "task.length=50", "bptt.truncate=null", "lr=1e-3", lr=0.5)
    assert (cfg.task.name, cfg.task.length, cfg.bptt.truncate, cfg.lr) == ("adding", 50, None, 0.5)
    assert rnnexp.configure() == config.Config()


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_a_group_option_has_the_values_its_config_file_sets():
    """``clip="norm"`` is the command line's ``clip=norm``: conf/clip/norm.yaml's values."""
    for path in sorted(config.conf_dir().glob("*/*.yaml")):
        group = path.parent.name
        if group in ("arm", "span", "experiment", "hydra"):  # global bundles of a study, not settings
            continue
        on_disk = OmegaConf.to_container(OmegaConf.load(path))
        on_disk.pop("defaults", None)
        node = dataclasses.asdict(getattr(config.Config(**{group: path.stem}), group))
        assert {k: node[k] for k in on_disk} == on_disk, path
    for group, option in (("clip", "norm"), ("model", "lstm"), ("task", "copy")):  # configure builds the same
        assert rnnexp.configure(**{group: option}) == config.Config(**{group: option})


@pytest.mark.parametrize("argv, settings", [
    (["clip.threshold=-1"], {"clip.threshold": -1}),
    pytest.param(["hiden=4"], dict(hiden=4), marks=pytest.mark.slow),
    pytest.param(["model=birnn", "bptt.truncate=2"], {"model": "birnn", "bptt.truncate": 2}, marks=pytest.mark.slow),
    pytest.param(["hidden=0"], dict(hidden=0), marks=pytest.mark.slow),
])
def test_a_bad_setting_gets_the_command_lines_line(argv, settings):
    with pytest.raises(cli.UsageError) as on_cli:
        cli.precheck(argv)
    with pytest.raises(rnnexp.ConfigError) as in_python:
        rnnexp.configure(**settings)
    assert str(in_python.value) == str(on_cli.value)
    assert "\n" not in str(in_python.value)


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_other_mistakes_get_one_line():
    for bad, says in [(dict(clip=5), "clip=5 is not allowed: clip must be one of none, norm, value"),
                      ({"clip": "norm", "clip.threshold": 2, "clip.threshold.x": 1}, "clip.threshold is set to 2"),
                      ({"task": "adding", "task.delay": 3}, "task.delay is not a setting of task=adding"),
                      (dict(hidden="8"), "hidden='8' is not allowed"), (dict(lr=float("nan")), "finite"),
                      (dict(model="nope"), "model must be one of birnn, gru, lstm, rnn")]:
        with pytest.raises(rnnexp.ConfigError, match=says):
            rnnexp.configure(**bad)
    with pytest.raises(rnnexp.ConfigError, match="write a setting as key=value"):
        rnnexp.configure("+experiment=order")
    with pytest.raises(TypeError):
        rnnexp.run(rnnexp.configure(), hidden=3)


def test_run_gives_the_tables_a_command_line_job_writes(two_key_sweep):
    """The same settings through ``rnnexp.run`` and through ``python -m rnnexp``: the same tables,
    cell for cell (wall times aside), settings as the same columns."""
    sweep, _ = two_key_sweep
    job = next(d for d in sorted(sweep.iterdir()) if (d / "run.json").is_file()
               and (s := pd.read_csv(d / "summary.csv"))["hidden"].iloc[0] == 2 and s["order"].iloc[0] == "lsb")
    res = rnnexp.run(rnnexp.configure(hidden=2, order="lsb", bits=4, replicas=3, train_size=16, batch=4, epochs=3,
                                      eval_every=4, eval_bits=[6], cache_dir=str(sweep.parent / "cache"),
                                      **{"report.sections": ["seed_metric", "tolerance"]}))
    for name in ("summary", "history", "profile", "positions", "lengths"):
        mine = getattr(res, name)
        assert mine.attrs["config_columns"] == list(mine.columns[: len(mine.attrs["config_columns"])])
        mine = pd.read_csv(pd.io.common.StringIO(mine.to_csv(index=False)))  # as written
        cli_table = pd.read_csv(job / f"{name}.csv")
        assert list(mine.columns) == list(cli_table.columns), name
        keep = [c for c in mine.columns if c != "wall_time"]
        pd.testing.assert_frame_equal(mine[keep], cli_table[keep], check_exact=True, obj=name)


@pytest.fixture(scope="module")
def two_runs():
    res = [rnnexp.run(**TINY, order=o) for o in ("lsb", "msb")]
    return {n: pd.concat([getattr(r, n) for r in res], ignore_index=True) for n in ("summary", "history", "profile")}


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_figures_draw_into_the_given_axes_and_write_nothing(two_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fig = Figure()
    a, b, c = fig.subplots(1, 3)
    assert rnnexp.draw.learning_curve(two_runs["history"], "eval_loss", summary=two_runs["summary"], ax=a) is a
    assert rnnexp.draw.success_rate(two_runs["summary"], ax=b) is b
    assert rnnexp.draw.gradient_profile(two_runs["profile"], ax=c) is c
    assert list(tmp_path.iterdir()) == []
    for ax in (a, c):  # colour: the setting that differs, one line per value, mean of both replicas
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lsb", "msb"]
        assert ax.get_yscale() == "log"
    lsb = two_runs["history"].query("order == 'lsb'").groupby("step")["eval_loss"].mean()
    line = a.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), lsb.to_numpy())
    assert [t.get_text() for t in b.get_xticklabels()] == ["lsb", "msb"]
    counts = sorted(t.get_text() for t in b.texts)
    solved = two_runs["summary"].groupby("order")["solved"].sum()
    assert counts == sorted(f"{int(k)}/2" for k in solved)
    with pytest.raises(ValueError, match="hue='nope': not a column"):
        rnnexp.draw.learning_curve(two_runs["history"], hue="nope", ax=a)


def example(monkeypatch, *args):
    """``python examples/notebook_api.py --steps 8 --replicas 2 ARGS``, in this process."""
    monkeypatch.setattr(sys, "argv", ["notebook_api.py", "--steps", "8", "--replicas", "2", *args])
    runpy.run_path(str(ROOT / "examples" / "notebook_api.py"), run_name="__main__")


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_the_example_runs(monkeypatch, capsys):
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    example(monkeypatch)
    assert "lsb" in capsys.readouterr().out
    (fig,) = shown
    assert [ax.get_xlabel() for ax in fig.axes] == ["training step", "order", "time step t (T = last step)"]
    assert all(ax.has_data() for ax in fig.axes)
    plt.close(fig)


@pytest.mark.slow
def test_the_example_writes_its_figure(tmp_path, monkeypatch, capsys):
    out = tmp_path / "order.png"
    example(monkeypatch, "--out", str(out))
    assert out.stat().st_size > 10_000 and f"figure: {out}" in capsys.readouterr().out


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_importing_the_package_loads_no_library():
    """``import rnnexp`` stays light (sweep workers, the command line): the API loads on first use."""
    code = ("import sys, rnnexp; assert not {'hydra', 'matplotlib', 'pandas', 'rnnexp.api'} & set(sys.modules); "
            "rnnexp.configure; assert 'rnnexp.api' in sys.modules")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
