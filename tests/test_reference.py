"""Behaviour unchanged: the example sweep and every study preset (shrunk as the slow tests shrink them),
run through the CLI now, give the tables recorded in tests/reference/ (``make.py`` there records
them), cell by cell as CSV text, ``wall_time`` aside, on the arithmetic they were recorded with
(``make.environment``: OpenBLAS's and NumPy's AVX2 code, also on a host with AVX-512). Config columns added since the recording
(``NEW_CONFIG``: the task group) may appear beside them, holding their defaults only.

Slow: eight small multiruns in subprocesses (about 10 minutes on 2 busy cores).
"""
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent / "reference"
_spec = importlib.util.spec_from_file_location("reference_make", HERE / "make.py")
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)


# config columns added after the recording -> the value every recorded run has (its default)
NEW_CONFIG = {"task": "addition", "task.delay": "0", "precision": "float64"}


def same_table(got: pd.DataFrame, want: pd.DataFrame, obj: str) -> None:
    """``got`` is ``want`` cell for cell (columns in the same order), plus ``NEW_CONFIG`` columns at their defaults."""
    extra = [c for c in got.columns if c not in want.columns]
    assert set(extra) <= set(NEW_CONFIG), f"{obj}: columns not in the reference: {extra}"
    for c in extra:
        assert (got[c] == NEW_CONFIG[c]).all(), f"{obj}: {c} is not {NEW_CONFIG[c]} everywhere"
    # exact: the same columns in the same order, the same rows, every cell the same text
    pd.testing.assert_frame_equal(got.drop(columns=extra), want, check_exact=True, obj=obj)


@pytest.mark.parametrize("name", list(make.COMMANDS))
def test_tables_equal_the_reference(name, tmp_path):
    sweep = make.run(name, tmp_path)
    for table in make.TABLES:
        want = make.read(HERE / name / f"{table}.csv.gz")
        got = make.read(sweep / f"{table}.csv")
        same_table(got, want, f"{name}/{table}")


def test_the_commands_run_on_the_arithmetic_the_tables_record():
    """On a host with AVX2: OpenBLAS's AVX2 kernels and NumPy without its AVX-512 loops (both round
    differently), never over a setting the environment has; nothing set on a host without AVX2."""
    avx512 = ({"AVX2": True, "AVX512F": True}, ["AVX2", "X86_V4", "AVX512_ICL", "AVX512_SPR"])
    assert make.environment({"A": "1"}, cpu=avx512) == {
        "A": "1", "OPENBLAS_CORETYPE": "Haswell", "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}
    numpy1 = ({"AVX2": True}, ["AVX2", "AVX512F", "AVX512_SKX"])  # NumPy 1.x's names
    assert make.environment({}, cpu=numpy1)["NPY_DISABLE_CPU_FEATURES"] == "AVX512F AVX512_SKX"
    assert make.environment({"OPENBLAS_CORETYPE": "Zen", "NPY_DISABLE_CPU_FEATURES": ""}, cpu=avx512) == {
        "OPENBLAS_CORETYPE": "Zen", "NPY_DISABLE_CPU_FEATURES": ""}
    assert make.environment({}, cpu=({"AVX2": True}, ["AVX2"])) == {"OPENBLAS_CORETYPE": "Haswell"}
    assert make.environment({"A": "1"}, cpu=({"AVX2": False}, [])) == {"A": "1"}
    assert "PATH" in make.environment()  # this process's environment, on this host's CPU


def test_new_config_columns_must_hold_their_defaults():
    """The allowance is narrow: a new column with another value, or any other new column, fails."""
    want = make.read(HERE / "classic" / "summary.csv.gz")
    got = want.copy()
    got.insert(1, "task", "addition")
    got.insert(2, "task.delay", "0")
    same_table(got, want, "ok")
    for col, value in (("task.delay", "3"), ("hidden2", "1")):
        bad = got.copy()
        bad[col] = value
        with pytest.raises(AssertionError):
            same_table(bad, want, "bad")


def test_the_comparison_sees_a_changed_cell():
    """A table that differs in one digit of one cell fails the comparison (wall_time does not count)."""
    want = make.read(HERE / "classic" / "summary.csv.gz")
    raw = pd.read_csv(HERE / "classic" / "summary.csv.gz", dtype=str, keep_default_na=False)
    raw.loc[0, "wall_time"] = "123.0"
    pd.testing.assert_frame_equal(raw.drop(columns="wall_time"), want, check_exact=True)
    changed = want.copy()
    changed.loc[0, "eval_loss"] = changed.loc[0, "eval_loss"][:-1] + ("1" if changed.loc[0, "eval_loss"][-1] != "1" else "2")
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(changed, want, check_exact=True)
