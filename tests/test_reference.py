"""Behaviour unchanged: the example sweep and every study preset (shrunk as the slow tests shrink them),
run through the CLI now, give the tables recorded in tests/reference/ (``make.py`` there records
them), cell by cell as CSV text, ``wall_time`` aside.

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


@pytest.mark.parametrize("name", list(make.COMMANDS))
def test_tables_equal_the_reference(name, tmp_path):
    sweep = make.run(name, tmp_path)
    for table in make.TABLES:
        want = make.read(HERE / name / f"{table}.csv.gz")
        got = make.read(sweep / f"{table}.csv")
        # exact: the same columns in the same order, the same rows, every cell the same text
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=f"{name}/{table}")


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
