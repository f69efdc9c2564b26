"""The benchmark runs in --quick mode and reports every section and every target (the fast suite: every
section but the end-to-end one, in-process; the slow suite: ``--quick`` whole).

No timing is asserted (the machines are shared and noisy); the test checks that every row is there,
that the end-to-end commands succeeded, and that the baselines measure what they claim to.
"""
import numpy as np
import pandas as pd
import pytest

from rnnexp import config
from rnnexp.bench import baselines as bench_baselines
from rnnexp.bench import cli, measure, sections

TARGETS = ["1 solve seed 002's task"] * 2 + ["2 step vs PyTorch", "3 replicas", "4 large sizes"] + \
          ["5 end to end"] * 2 + ["6 scaling"] * 2


@pytest.mark.slow
def test_quick_benchmark_has_every_section_and_target(tmp_path):
    quick_run = tmp_path
    assert list(sections.SECTIONS) == ["solve", "step", "replicas", "floor", "e2e", "scaling", "models"]
    assert cli.main(["--quick", "--out", str(quick_run)]) == 0
    targets = pd.read_csv(quick_run / "targets.csv")
    assert targets["target"].tolist() == TARGETS
    assert set(targets["met"]) <= {"yes", "no", "n/a"}
    assert ((targets["met"] == "n/a") == ~np.isfinite(targets["value"])).all()  # not measured: not "no"
    assert targets["goal"].str.match(r"^(>=|<=) [0-9.]+$").all()
    for name in sections.SECTIONS:
        assert len(pd.read_csv(quick_run / f"{name}.csv")) > 0, name
    # the rows that quick mode measures for real (target 1 needs the loop to solve: not in seconds)
    assert np.isfinite(targets[targets["target"].str[0].isin(list("3456"))]["value"]).all()
    e2e = pd.read_csv(quick_run / "e2e.csv")
    assert e2e["ok"].all(), e2e  # both commands ran, and wrote their report
    solve = pd.read_csv(quick_run / "solve.csv")
    assert solve[solve["who"] == "rnnexp, one replica"]["solved"].all()
    scaling = pd.read_csv(quick_run / "scaling.csv")
    assert scaling["peak_MB_step"].iloc[-1] > 0 and scaling["peak_MB_eval"].iloc[-1] > 0
    solve_rows = solve[solve["who"].str.startswith("rnnexp")]
    assert np.isfinite(solve_rows[["train_steps_s", "evaluations_s", "rest_s"]].to_numpy()).all()
    md = (quick_run / "bench.md").read_text()
    for word in ("cpu", "cores", "numpy", "blas", "load_average", "## targets", "## models"):
        assert word in md


def test_matmul_floor_counts_the_engine_matmuls():
    """Two matmuls per step (recurrent forward and backward) plus five: input and output layer
    forward, the three weight gradients (one output: dz @ Why^T is a broadcast, not a matmul)."""
    assert len(bench_baselines.matmul_floor_shapes(8, 1, 32, 16)) == 2 * 8 + 5
    assert len(bench_baselines.matmul_floor_shapes(8, 1, 32, 16, O=2)) == 2 * 8 + 6
    run = bench_baselines.matmul_floor_timer(4, 2, 3, 5)
    assert run(2) > 0


@pytest.mark.slow
def test_per_sample_loop_learns_and_its_check_is_exact():
    loop = bench_baselines.PerSampleLoop(2, hidden=16, bits=4)
    assert not loop.solved()  # random weights do not add
    secs, its, ok = bench_baselines.loop_time_to_solve(2, max_iterations=20_000, bits=4)  # seed 2: 10,000 its
    assert ok and secs > 0 and its % 100 == 0


def test_rnnexp_step_timer_trains():
    cfg = config.Config(replicas=2, steps=50)
    run = measure.step_timer(cfg)
    assert run(3) > 0


def test_a_target_that_was_not_measured_is_n_a_not_unmet():
    """``--quick`` cannot measure target 1 (the loop does not solve in seconds), nor target 2
    without torch: "n/a", where "no" said the goal was missed."""
    assert measure._target("2 step vs PyTorch", "x", np.nan, ">= 3")["met"] == "n/a"
    assert measure._target("3 replicas", "x", 4.0, "<= 3")["met"] == "no"
    assert measure._target("3 replicas", "x", 2.0, "<= 3")["met"] == "yes"
