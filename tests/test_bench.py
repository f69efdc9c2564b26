"""The benchmark runs in --quick mode and reports every section and every target (the fast suite: every
section but the end-to-end one, in-process; the slow suite: ``--quick`` whole).

No timing is asserted (the machines are shared and noisy); the test checks that every row is there,
that the end-to-end commands succeeded, and that the baselines measure what they claim to.
"""
import importlib.util
import re

import numpy as np
import pandas as pd
import pytest

from rnnexp import config, tasks
from rnnexp.bench import baselines as bench_baselines
from rnnexp.bench import cli, long, measure, sections

HAVE_TORCH = importlib.util.find_spec("torch") is not None

TARGETS = ["1 solve seed 002's task"] * 2 + ["2 step vs PyTorch", "3 replicas", "4 large sizes"] + \
          ["5 end to end"] * 2 + ["6 scaling"] * 2 + \
          ["L1 long vs PyTorch"] * 2 + ["L2 long matmul floor"] * 2 + ["L3 long peak memory"]  # --quick: rnn, lstm


@pytest.mark.slow
def test_quick_benchmark_has_every_section_and_target(tmp_path):
    quick_run = tmp_path
    assert list(sections.SECTIONS) == ["solve", "step", "replicas", "floor", "e2e", "scaling", "models", "long"]
    assert cli.main(["--quick", "--out", str(quick_run)]) == 0
    targets = pd.read_csv(quick_run / "targets.csv", keep_default_na=False, na_values=[""])  # "n/a" is a word here
    assert targets["target"].tolist() == TARGETS
    assert set(targets["met"]) <= {"yes", "no", "n/a"}
    assert ((targets["met"] == "n/a") == ~np.isfinite(targets["value"])).all()  # not measured: not "no"
    assert targets["goal"].str.match(r"^(>=|<=) [0-9.]+$").all()
    for name in sections.SECTIONS:
        assert len(pd.read_csv(quick_run / f"{name}.csv")) > 0, name
    # the rows that quick mode measures for real (target 1 needs the loop to solve: not in seconds)
    assert np.isfinite(targets[targets["target"].str[0].isin(list("3456"))]["value"]).all()
    assert np.isfinite(targets[targets["target"].str.startswith(("L2", "L3"))]["value"]).all()
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


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_long_section_quick_measures_every_case_and_says_when_pytorch_is_absent(capsys):
    args = cli._arguments(["long", "--quick"])
    table, targets = long.long_section(args)
    assert table[["model", "hidden", "T", "task"]].values.tolist() == [["rnn", 16, 20, "adding"], ["lstm", 16, 20, "adding"]]
    assert (table[["rnnexp_f32_ms", "rnnexp_f64_ms"]] > 0).all().all()
    rows = pd.DataFrame(targets)
    assert rows["target"].tolist() == TARGETS[-5:]
    l1 = rows[rows["target"] == "L1 long vs PyTorch"]
    if HAVE_TORCH:
        assert np.isfinite(l1["value"]).all() and (table["torch_ms_per_network"] > 0).all()
    else:  # a clear 'n/a', never a crash or a made-up number
        assert l1["value"].isna().all() and l1["note"].str.startswith("n/a: torch is not installed").all()
        assert l1["met"].eq("n/a").all()
    assert "truncate=5" in rows["measured"].iloc[-1] and "MB full BPTT" in rows["note"].iloc[-1]


class StandIn:
    """A stand-in for a PyTorch peer in its own process (``peer.OwnTimer``): 2 ms a step."""

    dropped = 0

    def __call__(self, n):
        return 0.002 * n

    def drop(self):
        StandIn.dropped += 1


@pytest.mark.slow  # seconds, as above
def test_the_long_targets_give_the_worst_cases_range_over_its_repeats(monkeypatch):
    """With peers (stand-ins for PyTorch here, whether torch is installed or not: 2 ms a step in a
    process of its own, 1 ms in the benchmark's), L1's note gives the smallest case's ratio over its
    repeats, lowest to highest, around the median it reports, and the smallest ratio against the
    peer in the benchmark's process: half of it, as each of its steps takes half the time. Each
    peer built in the other process is dropped there after its case."""
    monkeypatch.setattr(long.peer, "own_process", lambda *a: StandIn())
    monkeypatch.setattr(long.baselines, "torch_long_timer", lambda *a, **k: lambda n: 0.001 * n)
    StandIn.dropped = 0
    args = cli._arguments(["long", "--quick", "--repeats", "3"])
    table, targets = long.long_section(args)
    assert np.allclose(table["ratio_kept"], table["ratio_float32"] / 2)
    assert np.allclose(table["torch_ms_per_network"], 2) and np.allclose(table["torch_kept_ms"], 1)
    l1 = pd.DataFrame(targets).query("target == 'L1 long vs PyTorch'")
    for value, note in zip(l1["value"], l1["note"]):
        found = re.search(r"\(its 3 repeats: ([0-9.]+)-([0-9.]+)\)", note)
        assert found, note
        lo, hi = map(float, found.groups())
        assert lo <= round(value, 2) <= hi and lo > 0
        kept = re.search(r"rnnexp's allocator setting applied to it too\): ([0-9.]+) smallest", note)
        assert kept and abs(float(kept.group(1)) - value / 2) <= 0.01, note
    assert StandIn.dropped == len(table) + len(l1)  # one a case, one a floor's ratio (_ceiling)


def test_the_long_section_takes_the_repeats_asked_for():
    """Three repeats by default (its cases take seconds a step), two with --quick, and exactly what
    --repeats asks otherwise (it was silently held to three before)."""
    assert cli._arguments(["long"]).long_repeats == 3
    assert cli._arguments(["long", "--quick"]).long_repeats == 2
    assert cli._arguments(["long", "--repeats", "9"]).long_repeats == 9
    assert cli._arguments(["long", "--repeats", "9"]).repeats == 9 and cli._arguments([]).repeats == 7


@pytest.mark.parametrize("argv, words", [
    (["--repeats", "0"], "argument --repeats: must be an integer >= 1, not '0'"),
    (["step", "--steps", "x"], "argument --steps: must be an integer >= 1, not 'x'"),
    (["models", "--bits", "1"], "models section (--hidden, --batch, --replicas, --bits): bits=1 is not allowed"),
    (["models", "--models", "foo"], "argument --models: invalid choice: 'foo'"),
    (["long", "--long-hidden", "0"], "argument --long-hidden: must be an integer >= 1, not '0'"),
    (["long", "--long-lengths", "100", "1"], "long section (--long-hidden, --long-lengths): task.length=1 is not allowed"),
    (["--quick", "--long-lengths", "1"], "long section (--long-hidden, --long-lengths): task.length=1"),
])
def test_a_bad_argument_is_one_line_before_any_work(tmp_path, monkeypatch, capsys, argv, words):
    """Exit status 2 and one error line naming the argument and what is allowed, before any section
    runs or any folder is made (``--bits 1`` crashed a models run with a traceback, ``--steps 0``
    divided by zero after the warm-up, ``--repeats 0`` reported NaN)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "SECTIONS", {name: None for name in sections.SECTIONS})  # none may run
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err.splitlines()
    assert e.value.code == 2 and err[-1].startswith("python -m rnnexp.bench: error: ") and words in err[-1], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("task", ["adding", "copy"])
def test_the_peers_long_batches_follow_the_task_definitions(task):
    """The PyTorch peer's batches (written fresh in baselines) have rnnexp's tasks' shapes and
    structure: adding's target is the sum of the two marked values, one mark per half; copy's
    inputs carry the delimiter where rnnexp's do and its targets are the first 10 symbols."""
    T, B = 12, 5
    x, y = bench_baselines.long_task_batch(task, T, B, np.random.default_rng(0))
    cfg = config.Config(task=task)
    cfg.task.length = T
    ours_x, ours_y = tasks.make(cfg).sample(np.random.default_rng(0), B)
    assert x.shape == ours_x.shape
    if task == "adding":
        marks = x[..., 1]
        assert (marks[: T // 2].sum(axis=0) == 1).all() and (marks[T // 2 :].sum(axis=0) == 1).all()
        np.testing.assert_allclose(y, (x[..., 0] * marks).sum(axis=0))
    else:
        assert y.shape == ours_y.shape
        np.testing.assert_array_equal(x.argmax(-1) == 9, ours_x.argmax(-1) == 9)  # the delimiter's step
        np.testing.assert_array_equal(y[-10:], x.argmax(-1)[:10])
        assert (y[:-10] == 0).all()


def test_matmul_floor_of_a_gated_cell_has_its_products():
    """G gates: the recurrent products are (B, H) @ (H, G*H) forward and (B, G*H) @ (G*H, H) backward."""
    shapes = bench_baselines.matmul_floor_shapes(3, 2, 4, 5, G=4)
    assert shapes.count(((2, 4, 5), (2, 5, 20), False)) == 3 and shapes.count(((2, 4, 20), (2, 20, 5), False)) == 3
    assert bench_baselines.matmul_floor_shapes(3, 2, 4, 5) == bench_baselines.matmul_floor_shapes(3, 2, 4, 5, G=1)
    run = bench_baselines.matmul_floor_timer(3, 2, 4, 5, G=3, dtype=np.float32)
    assert run(1) > 0


def test_the_floor_leaves_out_exactly_the_products_done_in_kernels():
    """Each flag drops its one product: the input projection, Wxh's gradient, dz @ Why^T (O > 1)."""
    full = bench_baselines.matmul_floor_shapes(3, 2, 4, 5, I=7, O=6, G=4)
    dropped = {"inputs": ((2, 12, 7), (2, 7, 20), False), "input_grads": ((2, 7, 12), (2, 12, 20), True),
               "output_grads": ((2, 12, 6), (2, 6, 5), False)}
    for flag, product in dropped.items():
        fewer = bench_baselines.matmul_floor_shapes(3, 2, 4, 5, I=7, O=6, G=4, **{flag: False})
        assert product in full and product not in fewer and len(fewer) == len(full) - 1, flag
    assert bench_baselines.matmul_floor_shapes(3, 2, 4, 5, O=1, output_grads=False) == \
        bench_baselines.matmul_floor_shapes(3, 2, 4, 5, O=1)  # one output: a broadcast, never a product


@pytest.mark.usefixtures("compiled_kernels")  # float32 steps
@pytest.mark.parametrize("model", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("hidden", [16, 64])
@pytest.mark.parametrize("task", ["adding", "copy"])
def test_the_floors_products_are_the_ones_a_step_calls(monkeypatch, model, hidden, task):
    """What ``long._kernel_products`` leaves out of the floor is what a float32 step of that model
    really does without BLAS: the engine's product helpers, watched through one training step, see
    the input projection, Wxh's gradient and dz @ Why^T exactly when the floor keeps them."""
    from rnnexp.engine import network
    from rnnexp.engine.models import _ops, _stack, _windows

    calls = []

    def watch(name):
        real = getattr(_ops, name)

        def watched(a, b):
            calls.append((name, a.shape[-1], b.shape[-1]))
            return real(a, b)
        return watched

    for module in (network, _windows, _stack):
        for name in ("project", "outer_sum"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, watch(name))
    cfg = measure._config(model, task=task, length=6, hidden=hidden, replicas=2, batch=4, precision="float32")
    spec = config.net_spec(cfg, tasks.make(cfg))
    I, O, GH = spec.n_in, spec.loss_fn.n_out, long.GATES[model] * hidden
    measure.step_timer(cfg)(1)
    flags = long._kernel_products(model, hidden, I, O)
    assert flags["inputs"] == (("project", I, GH) in calls), calls
    assert flags["input_grads"] == (("outer_sum", I, GH) in calls), calls
    if O > 1:
        assert flags["output_grads"] == (("project", O, hidden) in calls), calls
    assert ("outer_sum", hidden, O) in calls  # Why's gradient: the watch sees the step's products
