"""Reuse of finished trainings (rnnexp.runs.cache), forced recomputation, and collecting damaged sweep dirs."""
import json
from pathlib import Path

import pytest
import pandas as pd
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from rnnexp import cli, config
from rnnexp.runs import cache, results
from rnnexp.runs.job import run as run_job
from rnnexp.runs import combine as collect

TINY = ["steps=20", "eval_every=10", "replicas=2", "bits=4"]  # 4 bits: 64 problems to score


def compose_all(argv: list[str]):
    """Every configuration a command line stands for, composed the way the CLI does."""
    combos = cli.combinations(argv, multirun=True)
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config.conf_dir()), version_base="1.3"):
        cfgs = [compose("config", overrides=c) for c in combos]
    GlobalHydra.instance().clear()
    return cfgs


def sweep(tmp_path: Path, name: str, argv: list[str]) -> list[bool]:
    """Run every configuration into ``tmp_path/name/<job>`` with the cache in ``tmp_path/cache``;
    returns which jobs were loaded from the cache."""
    cfgs = compose_all([*argv, *TINY, "cache_dir=cache"])
    return [run_job(c, tmp_path / name / str(i), base_dir=tmp_path).cached for i, c in enumerate(cfgs)]


def read(d: Path, name="summary", drop=("wall_time",)) -> pd.DataFrame:
    return pd.read_csv(d / f"{name}.csv").drop(columns=[c for c in drop if c], errors="ignore")


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_rerun_reuses_every_finished_configuration(tmp_path):
    assert sweep(tmp_path, "a", ["hidden=4,8"]) == [False, False]
    assert sweep(tmp_path, "b", ["hidden=4,8"]) == [True, True]
    for job in ("0", "1"):  # the stored result is the trained one, byte for byte (wall_time included)
        for name in results.TABLES:
            assert (tmp_path / "a" / job / f"{name}.csv").read_bytes() == (tmp_path / "b" / job / f"{name}.csv").read_bytes()
        meta = json.loads((tmp_path / "b" / job / "run.json").read_text())
        assert meta["cached"] is True and meta["engine_version"] == cache.engine_version()


@pytest.mark.slow
def test_extending_a_sweep_trains_only_the_new_values(tmp_path):
    assert sweep(tmp_path, "a", ["hidden=4,8"]) == [False, False]
    assert sweep(tmp_path, "b", ["hidden=4,8,16"]) == [True, True, False]
    # a changed setting is a new configuration
    assert sweep(tmp_path, "c", ["hidden=4,8", "lr=0.02"]) == [False, False]


def test_cache_false_forces_recomputation_and_replaces_the_stored_result(tmp_path):
    sweep(tmp_path, "a", ["hidden=4"])
    assert sweep(tmp_path, "b", ["hidden=4", "cache=false"]) == [False]
    pd.testing.assert_frame_equal(read(tmp_path / "a" / "0"), read(tmp_path / "b" / "0"))
    assert read(tmp_path / "a" / "0", drop=()).wall_time[0] != read(tmp_path / "b" / "0", drop=()).wall_time[0]
    # the forced result is the one stored now
    assert sweep(tmp_path, "c", ["hidden=4"]) == [True]
    assert read(tmp_path / "c" / "0", drop=()).wall_time[0] == read(tmp_path / "b" / "0", drop=()).wall_time[0]


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_a_model_with_its_own_settings_is_trained_cached_and_keyed_on_them(tmp_path):
    # the model's settings class (here birnn's merge) comes through the cache intact
    assert sweep(tmp_path, "a", ["model=birnn", "model.merge=concat,sum"]) == [False, False]
    assert sweep(tmp_path, "b", ["model=birnn", "model.merge=sum,concat"]) == [True, True]
    a, b = read(tmp_path / "a" / "1"), read(tmp_path / "b" / "0")
    assert set(a["model.merge"]) == {"sum"}
    pd.testing.assert_frame_equal(a, b)


def test_run_time_settings_are_not_part_of_the_key_or_the_tables(tmp_path):
    a, b = compose_all(["cache=true", "cache_dir=x"])[0], compose_all(["cache=false", "cache_dir=y"])[0]
    assert cache.settings(a) == cache.settings(b)
    assert not {"cache", "cache_dir"} & set(cache.settings(a))
    assert not {"cache", "cache_dir"} & set(results.config_columns(a))
    assert cache.settings(a) != cache.settings(compose_all(["seed=1"])[0])


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_an_unreadable_cache_entry_is_trained_again(tmp_path, capsys):
    sweep(tmp_path, "a", ["hidden=4"])
    (entry,) = cache.entries(tmp_path / "cache")
    entry.write_bytes(b"not a pickle")
    assert sweep(tmp_path, "b", ["hidden=4"]) == [False]
    assert f"cache entry {entry} is not an rnnexp cache entry" in capsys.readouterr().err
    pd.testing.assert_frame_equal(read(tmp_path / "a" / "0"), read(tmp_path / "b" / "0"))
    assert sweep(tmp_path, "c", ["hidden=4"]) == [True]  # and stored again


def write_sweep(tmp_path: Path, n=3) -> Path:
    root = tmp_path / "sweep"
    for i, c in enumerate(compose_all([f"hidden={','.join(str(4 * (k + 1)) for k in range(n))}", *TINY,
                                       "cache_dir=cache"])):
        run_job(c, root / str(i), base_dir=tmp_path)
        (root / str(i) / ".hydra").mkdir()  # as Hydra leaves it in every job folder
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_collect_names_and_counts_corrupt_and_foreign_files(tmp_path, capsys):
    root = write_sweep(tmp_path, n=6)
    good = collect.collect(root, write=False, quiet=True)["summary"]
    capsys.readouterr()
    # 0: garbage in a table; 1: a table cut short; 2: run.json not JSON; 3: a foreign run.json
    (root / "0" / "summary.csv").write_bytes(b"\x00\xff garbage")
    text = (root / "1" / "history.csv").read_text()
    (root / "1" / "history.csv").write_text(text[: len(text) // 2])
    (root / "2" / "run.json").write_text("{not json")
    (root / "3" / "run.json").write_text(json.dumps({"model": "resnet", "accuracy": 0.9}))
    # 6: a job killed before it finished; 7: a foreign results folder without run.json
    (root / "6" / ".hydra").mkdir(parents=True)
    (root / "6" / "summary.csv").write_text("replica,solved\n0,True\n")
    (root / "other").mkdir()
    (root / "other" / "summary.csv").write_text("a,b\n1,2\n")
    (root / "notes.txt").write_text("not a run")  # not a result file: no reason to mention it

    tables = collect.collect(root)
    out, err = capsys.readouterr()
    assert "collected 2 of 8 run(s) (4 replicas)" in out and "skipped 6" in out
    for path, why in [("0/summary.csv", "checksum"), ("1/history.csv", "checksum"), ("2/run.json", "not readable JSON"),
                      ("3/run.json", "foreign"), ("6:", "no run.json"), ("other/summary.csv", "no run.json")]:
        assert any(str(root / path.rstrip(":")) in line and why in line for line in err.splitlines()), (path, err)
    assert err.count("rnnexp.collect: skipped") == 6
    s = tables["summary"]
    assert s.attrs["skipped"] == 6 and s.attrs["runs_found"] == 8
    assert sorted(s["job"].unique()) == ["4", "5"]
    expect = good[good.job.isin(["4", "5"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(s.reset_index(drop=True), expect, check_like=True)
    # and from the command line
    assert collect.main([str(root)]) == 0
    assert "skipped 6" in capsys.readouterr().out


def test_collect_with_nothing_readable_says_so(tmp_path, capsys):
    root = write_sweep(tmp_path, n=1)
    (root / "0" / "run.json").write_text("[]")
    assert collect.main([str(root)]) == 1
    err = capsys.readouterr().err
    assert "skipped" in err and "run.json" in err and "no completed runs" in err


def test_a_half_written_table_is_never_read(tmp_path):
    # write_run leaves no temporary file behind and writes run.json last; a stray temporary file
    # (a writer killed mid-write) is not a table
    root = write_sweep(tmp_path, n=1)
    assert not list(root.rglob("*.tmp"))
    (root / "0" / ".summary.csv.abc.tmp").write_text("replica\n")
    s = collect.collect(root, write=False, quiet=True)["summary"]
    assert len(s) == 2 and s.attrs["skipped"] == 0
