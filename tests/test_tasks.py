"""The tasks (rnnexp/tasks): heads and masked losses against central differences, each task's exact
reference scores (computed here independently), a hand-built solution reaching "solved", data
reproducible per replica, and bad task settings refused in one line."""
import itertools
import math

import numpy as np
import pytest
from gradcheck import max_relative_error

from rnnexp import config, tasks, train
from rnnexp.engine import losses, network
from rnnexp.engine.models import _windows
from rnnexp.tasks import adding, copy
from rnnexp.tasks.addition import data, metrics

R, B, T, H = 2, 3, 4, 3


def _problem(spec, head, masked, seed=0):
    rngs = [np.random.default_rng([seed, r]) for r in range(R)]
    params = network.init_params(spec, rngs)
    rng = np.random.default_rng(seed + 7)
    for k in params:  # non-zero biases: every term of the gradient is exercised
        if k.startswith("b"):
            params[k] += 0.3 * rng.normal(size=params[k].shape)
    x = rng.normal(size=(T, R, B, spec.n_in))
    k = losses.get(head).n_out
    y = rng.integers(0, k, (T, R, B)).astype(float) if head.startswith("softmax") else rng.normal(size=(T, R, B))
    h0 = 0.5 * np.abs(rng.normal(size=spec.impl.initial_state(spec, R, B).shape))
    mask = None
    if masked:  # some steps carry no target; every replica keeps at least one
        mask = rng.random((T, R, B)) < 0.5
        mask[-1] = True
    return params, x, y, h0, mask


@pytest.mark.parametrize("head,model,masked,truncate", [
    *itertools.product(["squared", "softmax10"], ["rnn", "lstm", "gru", "birnn"], [False, True], [None]),
    ("squared", "rnn", True, 1), ("softmax10", "lstm", True, 2), ("bce", "gru", True, None),
    ("softmax", "rnn", True, 1), ("mse", "lstm", True, None)])
def test_heads_and_masks_match_central_differences(head, model, masked, truncate):
    n_in = 10 if head == "softmax10" else 2
    spec = network.NetSpec(hidden=H, loss=head, model=model, init="normal", scale=1.1, n_in=n_in,
                           truncate=None if model == "birnn" else truncate)
    params, x, y, h0, mask = _problem(spec, head, masked)
    if head in ("bce", "mse", "softmax"):
        y = (y > 0).astype(float)
    h0 = None if model == "birnn" else h0
    assert max_relative_error(spec, params, x, y, h0, mask=mask) < 1e-6


def test_a_step_without_a_target_sends_no_gradient():
    spec = network.NetSpec(hidden=H, loss="squared", init="normal")
    params, x, y, h0, _ = _problem(spec, "squared", False)
    mask = np.zeros((T, 1, 1), bool)
    mask[-1] = True
    loss, g, _, _ = network.loss_and_grads(spec, params, x, y, h0, mask=mask)
    y2 = y.copy()
    y2[:-1] = 1e6  # targets at masked steps do not matter, even huge ones
    loss2, g2, _, _ = network.loss_and_grads(spec, params, x, y2, h0, mask=mask)
    np.testing.assert_array_equal(loss, loss2)
    for k in g:
        np.testing.assert_array_equal(g[k], g2[k])
    full, gf, _, _ = network.loss_and_grads(spec, params, x, y, h0, mask=np.ones((T, 1, 1), bool))
    plain, gp, _, _ = network.loss_and_grads(spec, params, x, y, h0)
    np.testing.assert_allclose(full, plain, rtol=1e-13)


def _whole_steps(scored):
    mask = np.zeros((T, 1, 1), bool)
    mask[list(scored)] = True
    return mask


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru", "birnn"])
@pytest.mark.parametrize("scored", [(T - 1,), (1, 2), (0, 2)])  # a step, consecutive steps, steps apart
def test_a_mask_of_whole_steps_matches_central_differences(model, scored):
    """A mask that scores whole steps runs the output layer at those steps only (``scored_steps``):
    the gradients against the oracle, which computes every step's logits and masks them."""
    spec = network.NetSpec(hidden=H, loss="squared", model=model, init="normal", scale=1.1)
    params, x, y, h0, _ = _problem(spec, "squared", False)
    assert network.scored_steps(_whole_steps(scored), T) is not None
    assert max_relative_error(spec, params, x, y, None if model == "birnn" else h0, mask=_whole_steps(scored)) < 1e-6


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("scored", [(T - 1,), (0, 2)])
def test_a_truncated_step_scored_at_whole_steps_matches_central_differences(model, scored, monkeypatch):
    """The same in windows (``bptt.truncate``): windows of 2 steps, the first without a target when
    only the last step is scored; against the truncated objective's central differences."""
    monkeypatch.setattr(_windows, "MIN_WINDOW", 2)
    spec = network.NetSpec(hidden=H, loss="squared", model=model, init="normal", scale=1.1, truncate=1)
    params, x, y, h0, _ = _problem(spec, "squared", False)
    assert network.truncated(spec, T)
    assert max_relative_error(spec, params, x, y, h0, mask=_whole_steps(scored)) < 1e-6


def check_the_output_layer_at_scored_steps(model, precision, layers, monkeypatch, truncate=None):
    """The same loss and gradients as the output layer at every step with the unscored steps masked
    (the engine before ``scored_steps``), float64 to rounding and float32 to float32's; the logits
    returned are the scored steps'. (``test_fused`` runs it in float32.) ``truncate``: in windows of
    2 steps, one of them without a target when only the last step is scored."""
    monkeypatch.setattr(_windows, "MIN_WINDOW", 2)
    spec = network.NetSpec(hidden=4, loss="squared", model=model, init="normal", precision=precision,
                           options={"layers": layers}, truncate=truncate)
    assert network.truncated(spec, T) == (truncate is not None)
    params, x, y, h0, _ = _problem(spec, "squared", False)
    params = {k: v.astype(spec.dtype) for k, v in params.items()}
    x, cases = x.astype(spec.dtype), [(T - 1,), (0, 2)]
    runs = {}
    for every in (False, True):
        if every:
            monkeypatch.setattr(network, "scored_steps", lambda mask, T: None)
        for scored in cases:
            runs[every, scored] = network.loss_and_grads(spec, params, x, y, mask=_whole_steps(scored))
    tol = 1e-12 if spec.dtype == np.float64 else 1e-5
    for scored in cases:
        (loss, grads, z, _), (loss0, grads0, z0, _) = runs[False, scored], runs[True, scored]
        np.testing.assert_allclose(loss, loss0, rtol=tol)
        for k in grads0:
            np.testing.assert_allclose(grads[k], grads0[k], rtol=tol, atol=tol * np.abs(grads0[k]).max())
        assert z.shape[0] == len(scored) and z0.shape[0] == T
        np.testing.assert_allclose(z, z0[list(scored)], rtol=tol)


@pytest.mark.parametrize("model,layers,truncate", [("rnn", 1, None), ("lstm", 1, None), ("gru", 1, None),
                                                   ("birnn", 1, None), ("lstm", 2, None), ("rnn", 1, 1), ("gru", 2, 1)])
def test_the_output_layer_runs_at_the_scored_steps_only(model, layers, truncate, monkeypatch):
    check_the_output_layer_at_scored_steps(model, "float64", layers, monkeypatch, truncate)


def test_scored_steps_are_whole_steps_some_left_out():
    assert network.scored_steps(_whole_steps([T - 1]), T) == slice(T - 1, T)
    assert network.scored_steps(_whole_steps([1, 2]), T) == slice(1, 3)
    np.testing.assert_array_equal(network.scored_steps(_whole_steps([0, 2]), T), [0, 2])
    assert network.scored_steps(_whole_steps(range(T)), T) is None  # every step: the plain path
    assert network.scored_steps(_whole_steps([]), T) is None
    assert network.scored_steps(None, T) is None
    assert network.scored_steps(np.ones((T, R, B), bool), T) is None  # differs between problems
    assert network.scored_steps(_whole_steps([T - 1]), T + 1) is None  # not this sequence's mask


# --- reference scores, computed here from the definitions ----------------------------------------

def test_adding_references_are_exact():
    task = adding.Adding(10)
    ref = task.references()
    # the sum of two U[0,1) has the triangular density 1 - |s - 1| on [0, 2]: integrate numerically
    s = np.linspace(0, 2, 2_000_001)
    dens = 1 - np.abs(s - 1)
    var = np.trapezoid((s - 1) ** 2 * dens, s)
    assert ref["constant"]["eval_loss"] == pytest.approx(var, abs=1e-9)
    within = np.trapezoid(dens * (np.abs(s - 1) < 0.04), s)
    assert ref["constant"]["acc"] == pytest.approx(within, abs=1e-5)
    # memoryless: the last step is marked with probability 1/5 (second marker uniform on 5..9)
    x, y, _ = task.eval_set()
    assert ref["memoryless"]["eval_loss"] == pytest.approx(0.8 * var + 0.2 * var / 2, abs=1e-12)
    # and a constant-1 predictor scored by the task's own evaluation lands near 1/6 on its held-out set
    spec = network.NetSpec(hidden=1, loss="squared", activation="identity", n_in=2, init="normal")
    params = {k: np.zeros_like(v) for k, v in network.init_params(spec, [np.random.default_rng(0)]).items()}
    params["by"][:] = 1.0
    ev = task.evaluate(spec, params, x, y, task.mask)
    assert ev["loss"][0] == pytest.approx(np.mean((y[-1] - 1) ** 2))
    assert abs(ev["loss"][0] - 1 / 6) < 0.02


@pytest.mark.parametrize("K", [10, 3])
def test_copy_references_are_exact(K):
    Tb = 7
    task = copy.Copy(Tb, symbols=K)
    x, y, _ = task.eval_set()
    n = x.shape[0]
    assert n == Tb + 2 * K
    assert (y[:n - K] == copy.BLANK).all() and (y[n - K:] >= 1).all() and (x[:K, :, 1:9].sum(-1) == 1).all()
    assert (x[n - K - 1].argmax(-1) == copy.DELIMITER).all()
    # the memoryless strategy: blank with certainty, then uniform over the 8 categories
    p = np.zeros((n, copy.CLASSES))
    p[: n - K, copy.BLANK] = 1.0
    p[n - K:, 1:9] = 1 / 8
    ce = -np.log(p[np.arange(n)[:, None], y.astype(int)]).mean()
    assert task.references()["memoryless"]["eval_loss"] == pytest.approx(ce, rel=1e-12)
    assert task.references()["memoryless"]["eval_loss"] == pytest.approx(K * math.log(8) / (Tb + 2 * K))


@pytest.mark.parametrize("T,K", [(1, 1), (7, 3), (100, 10)])
def test_a_copy_batch_is_the_one_hot_sequence_its_targets_imply(T, K):
    """Symbols, blanks, the delimiter, then blanks while the symbols are due: each step one-hot."""
    task = copy.Copy(T, symbols=K)
    x, y = task.sample(np.random.default_rng(3), 5)
    n = T + 2 * K
    seq = np.full((n, 5), copy.BLANK)
    seq[:K] = y[n - K:]
    seq[n - K - 1] = copy.DELIMITER
    assert x.shape == (n, 5, copy.CLASSES) and x.dtype == np.float32 and y.dtype == np.float64
    np.testing.assert_array_equal(x, np.eye(copy.CLASSES, dtype=np.float32)[seq])
    assert (y[: n - K] == copy.BLANK).all() and ((y[n - K:] >= 1) & (y[n - K:] <= copy.CATEGORIES)).all()


@pytest.mark.parametrize("bits,delay", [(3, 0), (4, 1), (5, 2), (5, 4), (6, 3)])
def test_causal_limits_of_delayed_msb_addition_are_exact(bits, delay):
    """The best causal predictor, found by brute force: for each output step, group the problems by
    everything read so far and answer the majority sum bit of each group."""
    a, b = data.all_problems(bits)  # (N, bits) lsb first
    c = data.add(a, b)
    per_bit = np.zeros(bits)
    right_all = np.ones(len(a), bool)
    for k in range(bits):  # sum bit k, msb order: emitted when operand bits >= max(0, k - delay) were read
        m = max(0, k - delay)
        seen = np.concatenate([a[:, m:], b[:, m:]], axis=1)
        key = seen @ (1 << np.arange(seen.shape[1]))
        ones = np.bincount(key, weights=c[:, k], minlength=key.max() + 1)
        tot = np.bincount(key, minlength=key.max() + 1)
        guess = (2 * ones > tot).astype(int)  # ties (never here) would go to 0
        right = guess[key] == c[:, k]
        per_bit[k] = right.mean()
        right_all &= right
    np.testing.assert_allclose(metrics.causal_bit_limits(bits, "msb", delay), per_bit, rtol=0, atol=1e-12)
    assert metrics.causal_sum_limit(bits, "msb", delay) == pytest.approx(right_all.mean(), abs=1e-12)
    assert metrics.causal_sum_limit(bits, "lsb", delay) == 1.0


# --- hand-built solutions reach "solved" ---------------------------------------------------------

def test_a_hand_set_relu_rnn_solves_adding():
    """Unit 0 = relu(v + m - 1): the value at a marked step, else 0 (v < 1); unit 1 = relu(h0 + h1)
    of the previous step: the running sum. The output h0 + h1 at the last step is the sum."""
    task = adding.Adding(30)
    spec = network.NetSpec(hidden=2, activation="relu", loss="squared", n_in=2, init="normal")
    params = {"Wxh": np.array([[[1.0, 0.0], [1.0, 0.0]]]),  # unit 0: v + m - 1 (bias) -> the marked value
              "Whh": np.array([[[0.0, 1.0], [0.0, 1.0]]]),  # unit 1: h1 + h0 (running sum)
              "bh": np.array([[-1.0, 0.0]]), "Why": np.array([[[1.0], [1.0]]]), "by": np.array([[0.0]])}
    ev = task.evaluate(spec, params, *task.eval_set())
    assert ev["loss"][0] < 1e-20 and ev["acc"][0] == 1.0
    assert task.solved(ev).all()


def test_a_shift_register_solves_copy():
    """A linear RNN holding the last T + 11 inputs (one-hot) copies perfectly: logits read the input
    T + 10 steps back; a small blank bias wins where that slot is empty."""
    Tb = 3
    task = copy.Copy(Tb)
    K, D = copy.CLASSES, Tb + 10  # the symbol at step i is due at step i + D
    Hs = K * (D + 1)
    spec = network.NetSpec(hidden=Hs, activation="identity", loss=task.head, n_in=K, init="normal")
    Wxh = np.zeros((1, K, Hs))
    Wxh[0, :, :K] = np.eye(K)  # slot 0: this step's input
    Whh = np.zeros((1, Hs, Hs))
    for s in range(D):  # slot s -> slot s + 1
        Whh[0, s * K:(s + 1) * K, (s + 1) * K:(s + 2) * K] = np.eye(K)
    Why = np.zeros((1, Hs, K))
    Why[0, D * K:, :] = 10 * np.eye(K)
    Why[0, D * K + copy.BLANK, :] = 0.0  # a blank or delimiter read D steps ago: fall back to the bias
    Why[0, D * K + copy.DELIMITER, :] = 0.0
    by = np.zeros((1, K))
    by[0, copy.BLANK] = 1.0
    params = {"Wxh": Wxh, "Whh": Whh, "bh": np.zeros((1, Hs)), "Why": Why, "by": by}
    ev = task.evaluate(spec, params, *task.eval_set())
    assert ev["copy_acc"][0] == 1.0 and ev["exact"][0] == 1.0 and ev["acc"][0] == 1.0
    assert task.solved(ev).all()
    params["Why"] = Why[:, :, ::-1].copy()  # a wrong network is not solved
    assert not task.solved(task.evaluate(spec, params, *task.eval_set())).any()


# --- data per replica ----------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [dict(task="adding"), dict(task="copy"),
                                      dict(order="msb", task=config.tasks.conf_class("addition")(delay=3))])
def test_replica_data_do_not_depend_on_how_many_run(settings):
    cfg = config.Config(**settings, batch=4)
    if cfg.task.name != "addition":
        cfg.task.length = 12
    task = tasks.make(cfg)
    _, all3 = train.replica_rngs(0, [0, 1, 2])
    _, only2 = train.replica_rngs(0, [2])
    b3, b1 = task.batches(all3, 4), task.batches(only2, 4)
    for s in range(70):  # past a chunk boundary
        x3, y3, m3 = b3.next(s)
        x1, y1, m1 = b1.next(s)
        np.testing.assert_array_equal(x3[:, 2], x1[:, 0])
        np.testing.assert_array_equal(y3[:, 2], y1[:, 0])
    assert x3.shape == (task.T, 3, 4, task.n_in)


def test_delay_zero_is_the_task_as_it_was():
    cfg = config.Config(order="msb", bits=5)
    task = tasks.make(cfg)
    x, y, mask = task.eval_set()
    ex, ey = data.eval_set(5, "msb")
    assert x is ex and y is ey and mask is None


def test_delayed_addition_pads_inputs_and_shifts_targets():
    cfg = config.Config(bits=4, task=tasks.conf_class("addition")(delay=2))
    task = tasks.make(cfg)
    x, y, mask = task.eval_set()
    ex, ey = data.eval_set(4, "lsb")
    np.testing.assert_array_equal(x[:4], ex)
    assert not x[4:].any() and not y[:2].any()
    np.testing.assert_array_equal(y[2:], ey)
    assert mask[:, 0, 0].tolist() == [False, False, True, True, True, True]


# --- settings ------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings,message", [
    (dict(task="adding", bits=5), "bits=5 is not allowed with task=adding: it is a setting of task=addition"),
    (dict(task="copy", loss="mse"), "loss=mse is not allowed with task=copy: task=copy has its own output and loss"),
    (dict(task="copy", eval_bits=[16]), "eval_bits=[16] is not allowed with task=copy"),
    (dict(task="nope"), "task=nope is not allowed: task must be one of adding, addition, copy"),
])
def test_bad_task_settings_are_refused_in_one_line(settings, message):
    with pytest.raises(config.ConfigError) as e:
        config.Config(**settings)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_task_length_out_of_range_is_refused():
    cfg = config.Config(task="adding")
    cfg.task.length = 1
    with pytest.raises(config.ConfigError, match="task.length=1 is not allowed: task.length must be an integer from 2"):
        config.check(cfg)
    cfg = config.Config(task=tasks.conf_class("addition")())
    cfg.task.delay = -1
    with pytest.raises(config.ConfigError, match="task.delay=-1 is not allowed"):
        config.check(cfg)


@pytest.mark.parametrize("argv,message", [
    (["task=adding", "task.delay=3"], "task.delay is not a setting of the chosen task: it is one of task=addition's"),
    pytest.param(["task=adding", "task.lenght=3"], "task.lenght: there is no such setting (did you mean 'task.length'?)",
                 marks=pytest.mark.slow),
    pytest.param(["-m", "task=adding,copy", "order=msb"], "order=msb is not allowed with task=adding",
                 marks=pytest.mark.slow),
    (["-m", "task=adding,copy", "task.length=4"], "write it as a sweep of one value: task.length=choice(4)"),
])
def test_the_command_line_refuses_bad_task_settings_before_any_work(argv, message, tmp_path):
    from rnnexp import cli

    with pytest.raises(cli.UsageError) as e:
        cli.precheck(argv + [f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/sweep"])
    assert message in str(e.value) and "\n" not in str(e.value).strip()
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()


# --- slow: a trained solution, and the README's commands -----------------------------------------

@pytest.mark.slow
def test_a_trained_lstm_solves_adding_at_small_length():
    """Measured: lstm (hidden 16, Adam 0.01, batch 32) on adding T = 10: every replica under MSE 0.01
    by step 300 (4 of 4; the plain rnn by step 600-900)."""
    cfg = config.Config(task="adding", model="lstm", steps=400, eval_every=100, replicas=2, cache=False)
    cfg.task.length = 10
    s = train.train(cfg).summary
    assert s["solved"].all(), s[["eval_loss", "acc"]]
    assert (s["eval_loss"] < adding.SOLVED_MSE).all()


def _readme_task_commands():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Tasks", 1)[1].split("\n## ", 1)[0]
    return [line.split("#")[0].split()[3:] for line in section.splitlines() if line.startswith("    python -m rnnexp ")]


@pytest.mark.slow
def test_the_readme_task_commands_run(tmp_path):
    """Each command of the README's Tasks section, shrunk (fewer steps and replicas), trains and
    writes its tables; their run ends with the one-line summary."""
    import subprocess
    import sys
    from pathlib import Path

    commands = _readme_task_commands()
    assert [c[0] for c in commands] == ["task=adding", "task=copy", "task=addition"]
    root = Path(__file__).resolve().parents[1]
    for i, args in enumerate(commands):
        run = subprocess.run([sys.executable, "-m", "rnnexp", *args, "steps=20", "eval_every=10", "replicas=2",
                              f"cache_dir={tmp_path}/cache", f"hydra.run.dir={tmp_path}/run{i}"],
                             cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(root)},
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]
        assert "rnnexp: solved" in run.stdout and "/2 replicas" in run.stdout, run.stdout[-2000:]
        assert (tmp_path / f"run{i}" / "summary.csv").is_file()


def test_the_report_draws_each_task_s_reference_scores():
    import pandas as pd

    from rnnexp.report import figures

    rows = pd.DataFrame({"task": ["adding", "copy", "addition"], "task.length": [10, 7, None]})
    refs = dict(figures.task_references(rows))
    assert refs["constant predictor\n(adding, T=10)"]["eval_loss"] == pytest.approx(1 / 6)
    assert refs["memoryless predictor\n(copy, T=7)"]["eval_loss"] == pytest.approx(10 * math.log(8) / 27)
    assert not any("addition" in k for k in refs)  # addition's msb limits are drawn on their own


@pytest.mark.slow
def test_a_sweep_over_the_new_tasks_collects_and_reports(tmp_path):
    """collect and the generic report on adding and copy: the task's figures, no addition-only ones."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-m", "rnnexp", "-m", "task=adding,copy", "task.length=choice(4)",
                          "steps=10", "eval_every=5", "replicas=2", "model=rnn,lstm", f"cache_dir={tmp_path}/c",
                          f"hydra.sweep.dir={tmp_path}/s"], cwd=tmp_path, capture_output=True, text=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(root)}, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    report = (tmp_path / "s" / "report.md").read_text()
    figs = {p.stem for p in (tmp_path / "s" / "figures").glob("*.png")}
    assert {"convergence_loss", "convergence_acc", "convergence_copy_acc", "outcome_acc", "gradient_profile"} <= figs
    assert not {"positions", "convergence_bit_acc", "outcome_bit_acc"} & figs
    assert "copied-symbol acc" in report and "eval loss" in report


@pytest.mark.parametrize("task,model", [
    pytest.param(t, m, marks=[pytest.mark.slow] if t != "addition" and m in ("lstm", "gru") else [])
    for t, m in itertools.product(["adding", "copy", "addition"], ["rnn", "birnn", "lstm", "gru"])])
def test_every_model_trains_on_every_task_with_clipping_and_truncation(task, model):
    """A few steps of each (clipping, truncated BPTT where the model allows it, two layers): every
    table is filled, the gradient profile has one row per step, and nothing is NaN."""
    cfg = config.Config(task=task, model=models_conf(model), steps=4, eval_every=2, replicas=2, batch=4,
                        hidden=3, clip="norm", **({} if task != "addition" else {"order": "msb", "bits": 4}))
    if task == "addition":
        cfg.task.delay = 3
    else:
        cfg.task.length = 6
    if model != "birnn":
        cfg.bptt.truncate = 2
    config.check(cfg)
    r = train.train(cfg)
    T = tasks.make(cfg).T
    assert r.summary["eval_loss"].notna().all() and len(r.summary) == 2
    assert r.profile.groupby(["step", "replica", "state"]).size().eq(T).all()
    assert r.history["sigma_max"].notna().all()
    assert r.summary["diverged"].eq(False).all()


def models_conf(model):
    from rnnexp.engine import models

    return models.conf_class(model)(name=model, layers=2)
