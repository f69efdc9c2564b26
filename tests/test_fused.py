"""The compiled float32 kernels (``rnnexp/engine/models/_fused.py``) against the NumPy cells.

A float32 step of rnn, birnn, gru and lstm runs its element-wise work in numba kernels with a
rational ``tanh``; float64 stays on NumPy. So the kernels are checked by what a user gets: a float32
step (loss, every gradient, the state-gradient profile) equals the float64 NumPy step on the same
weights and batch within float32 rounding, for every activation, with and without truncated BPTT,
on every task; NaN and infinity come out as NaN and infinity (a diverged run stays recorded as one);
and float32 gated models train like float64 ones.
"""
import weakref

import numpy as np
import pytest

from rnnexp import config, train
from rnnexp.engine import activations, network
from rnnexp.engine.models import _fused
from test_precision import _agree, step_inputs
from test_tasks import check_the_output_layer_at_scored_steps

pytestmark = pytest.mark.usefixtures("compiled_kernels")  # float32 steps: the kernels compiled in the background

STEP_RTOL = 1e-4  # float32 step / float64 step, relative to each array's largest entry (measured: at most 6e-6)


def _step(model, task, precision, act, truncate, layers=1, hidden=8):
    spec, params, (x, y, mask) = step_inputs(model, task, precision, layers=layers, truncate=truncate,
                                             hidden=hidden, activation=act)
    loss, grads, z, cache = network.loss_and_grads(spec, params, x, y, mask=mask)
    return {"loss": loss, **{f"grad {k}": v for k, v in grads.items()},
            **{f"profile {k}": v for k, v in network.state_grad_profile(spec, params, cache, z, y, mask).items()}}


def _close(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert not k.startswith("grad") or b[k].dtype == np.float32, k  # loss and profile are summed in float64
        scale = max(np.abs(a[k]).max(), 1e-12)
        assert np.abs(b[k] - a[k]).max() <= STEP_RTOL * scale, (k, np.abs(b[k] - a[k]).max() / scale)


# every kernel in every structure with tanh (the default); every other activation in each cell, 1 layer
CASES = [(m, layers, t, "tanh") for m in ("rnn", "gru", "lstm") for layers, t in ((1, None), (2, None), (1, 3))]
CASES += [(m, 1, None, act) for m in ("rnn", "gru", "lstm", "birnn") for act in activations.ACTIVATIONS if act != "tanh"]
CASES += [("birnn", 2, None, "tanh")]
FAST = {c for c in CASES if c[3] == "tanh" and c[0] != "birnn"} | {("gru", 1, None, "relu"), ("lstm", 1, None, "relu")}


@pytest.mark.parametrize("model,layers,truncate,act", [
    pytest.param(*c, marks=() if c in FAST else pytest.mark.slow) for c in CASES])
def test_a_float32_step_equals_the_float64_numpy_step(model, layers, truncate, act):
    for task in ("adding", "copy", "addition"):
        _close(_step(model, task, "float64", act, truncate, layers), _step(model, task, "float32", act, truncate, layers))


@pytest.mark.parametrize("layers", [1, 2])
def test_an_lstm_whose_kernel_takes_the_logits_gradient_equals_the_float64_step(monkeypatch, layers):
    """At hidden 32 the LSTM's top layer takes ``dz`` and ``Why`` and adds ``dz_t Why^T`` in its
    backward kernel (``Stack.backward_from_output``; at hidden 8 only a task with one output does):
    the float32 step, profile included, equals the float64 NumPy step on every task."""
    from rnnexp.engine import models

    taken = []
    fused = models.get("lstm").backward_from_output
    monkeypatch.setattr(models.get("lstm"), "backward_from_output", lambda *a: taken.append(fused(*a)) or taken[-1])
    for task in ("adding", "copy", "addition"):
        _close(_step("lstm", task, "float64", "tanh", None, layers, 32), _step("lstm", task, "float32", "tanh", None, layers, 32))
    assert [g is not None for g in taken] == [False, True] * 3  # float64 never, float32 on every task


@pytest.mark.parametrize("model,layers", [("lstm", 1), ("lstm", 2), ("gru", 1), ("gru", 2), ("rnn", 2)])
def test_the_cells_own_loops_equal_the_generic_ones(monkeypatch, model, layers):
    """A float32 cell's two shortcuts against the generic code: projecting a layer's inputs in the
    forward kernels (``run_inputs``; every layer here, hidden 8) against ``run`` on the projections,
    and its own BPTT loop (``back_layer``) against ``_windows.layer_back``'s loop over ``back``."""
    from rnnexp.engine import models

    cell = models.get(model).cell
    for task in ("adding", "copy"):
        fast = _step(model, task, "float32", "tanh", None, layers)
        monkeypatch.setattr(_fused, "PROJECT_IN_KERNEL", 0)
        monkeypatch.setattr(cell, "back_layer", staticmethod(lambda *a: None))
        _close(fast, _step(model, task, "float32", "tanh", None, layers))
        monkeypatch.undo()


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn"])
def test_a_cells_own_loop_takes_the_gradient_arriving_from_later_steps(monkeypatch, model):
    """``back_layer`` given ``dS`` (a window's gradient from the steps after it; the protocol of
    ``_windows.layer_back``) gives the generic loop's ``dL/da`` and state gradients, and leaves the
    caller's ``dS`` alone."""
    from rnnexp.engine import models
    from rnnexp.engine.models import _stack, _windows

    spec, params, (x, y, mask) = step_inputs(model, "adding", "float32", hidden=8)
    cell, lp = models.get(model).cell, _stack.layer_params(params, 0)
    c = _windows.layer_forward(cell, spec, lp, network._in_float(params, x), [np.zeros((2, 4, 8), np.float32)] * 2)
    rng = np.random.default_rng(1)
    dout = rng.normal(size=c["h"][1:].shape).astype(np.float32)
    dS = tuple(rng.normal(size=(2, 4, 8)).astype(np.float32) for _ in cell.states)
    given = tuple(s.copy() for s in dS)
    own = _windows.layer_back(cell, spec, lp, c, dout, dS)
    for a, b in zip(dS, given):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(cell, "back_layer", staticmethod(lambda *a: None))
    generic = _windows.layer_back(cell, spec, lp, c, dout, given)
    for a, b in zip([own[0], *own[1]], [generic[0], *generic[1]]):
        np.testing.assert_allclose(a, b, rtol=0, atol=STEP_RTOL * np.abs(b).max())


@pytest.mark.parametrize("model,layers", [("lstm", 1), ("lstm", 2), ("gru", 1)])
def test_a_step_that_spends_its_cache_gives_the_same_numbers(monkeypatch, model, layers):
    """``loss_and_grads(keep_cache=False)`` (what a training step that computes no profile asks) lets
    the LSTM's BPTT write ``dL/da`` over its gates: the loss, logits and every gradient are those of a
    step that keeps its cache, bit for bit, in one replica group and in two. A kept cache is left
    as the forward pass made it (its profile is that of a cache no backward pass has seen), and a
    profile asked of a spent cache is refused, not computed from overwritten gates."""
    spec, params, (x, y, mask) = step_inputs(model, "copy", "float32", layers=layers, hidden=8)
    z0, fresh = network.forward(spec, params, x)
    unseen = network.state_grad_profile(spec, params, fresh, z0, y, mask)
    loss, grads, z, cache = network.loss_and_grads(spec, params, x, y, mask=mask)
    for k, v in network.state_grad_profile(spec, params, cache, z, y, mask).items():
        np.testing.assert_array_equal(v, unseen[k], err_msg=k)
    for groups in (1, 2):
        monkeypatch.setattr(network, "replica_group_size", lambda spec, T, R, B, n=len(params["Why"]) // groups: n)
        loss1, grads1, z1, spent = network.loss_and_grads(spec, params, x, y, mask=mask, keep_cache=False)
        assert isinstance(spent, network.ReplicaGroups) == (groups == 2)
        np.testing.assert_allclose(loss1, loss, rtol=0 if groups == 1 else 1e-6, atol=0)  # float32 sums by group
        np.testing.assert_array_equal(z1, z)
        for k in grads:
            np.testing.assert_array_equal(grads1[k], grads[k], err_msg=k)
        if model == "lstm":  # the gates became dL/da and left the cache
            caches = [c for _, c in spent] if groups == 2 else [spent]
            assert all("gates" not in lc for c in caches for lc in c["layers"])
            assert all("gates" in lc for lc in cache["layers"])
        with pytest.raises(ValueError, match="keep_cache=True"):
            network.state_grad_profile(spec, params, spent, z1, y, mask)


def test_the_backward_kernel_sums_the_input_and_bias_gradients_and_keeps_nan():
    """The LSTM's backward kernel sums ``dL/dWxh`` and ``dL/dbh`` of a layer whose inputs it projected
    (``_fused.input_sums``), skipping inputs of 0: the sums equal BLAS's, and ``layer_grads`` uses
    them. A NaN in one problem's ``dL/da`` at step 0 must make every input's weight gradient NaN, as
    BLAS's ``0 * NaN`` does, not only the one input that is 1 there: then the sums are not used."""
    from rnnexp.engine import models
    from rnnexp.engine.models import _ops, _stack, _windows

    spec, params, (x, y, mask) = step_inputs("lstm", "copy", "float32", hidden=8)
    cell, lp = models.get("lstm").cell, _stack.layer_params(params, 0)
    x = network._in_float(params, x)
    rng = np.random.default_rng(2)
    for poison in (False, True):
        c = _windows.layer_forward(cell, spec, lp, x, [np.zeros((2, 4, 8), np.float32)] * 2)
        dout = rng.normal(size=c["h"][1:].shape).astype(np.float32)
        if poison:
            dout[0, 0, 0, 0] = np.nan  # replica 0, problem 0, step 0: x there is one-hot
        dpre = _windows.layer_back(cell, spec, lp, c, dout)[0]
        assert ("input_grads" in c) != poison
        blas = {"Wxh": _ops.outer_sum(x, dpre), "bh": _ops.bias_grad(dpre)}
        got = _windows.layer_grads(cell, lp, c, dpre)
        assert "input_grads" not in c  # used once
        for k in blas:
            np.testing.assert_array_equal(np.isnan(got[k]), np.isnan(blas[k]), err_msg=k)
            ok = ~np.isnan(blas[k])
            np.testing.assert_allclose(got[k][ok], blas[k][ok], rtol=0, atol=1e-5 * np.abs(blas[k][ok]).max())
        if poison:
            assert np.isnan(blas["Wxh"][0]).any(axis=-1).all() and np.isfinite(blas["Wxh"][1]).all()  # every input
    # the cache does not keep dL/da alive (a replica group's cache outlives its backward pass)
    c = _windows.layer_forward(cell, spec, lp, x, [np.zeros((2, 4, 8), np.float32)] * 2)
    dpre = weakref.ref(_windows.layer_back(cell, spec, lp, c, rng.normal(size=c["h"][1:].shape).astype(np.float32))[0])
    assert "input_grads" in c and dpre() is None


@pytest.mark.parametrize("model", ["lstm", "gru"])
def test_an_infinite_input_weight_gives_nan_where_float64_does(model):
    """The in-kernel projection skips inputs of 0, but ``0 * inf`` is NaN: with an infinite weight on
    a one-hot input the float32 loss is NaN for the replica whose weight it is, as in float64
    (NumPy's product), and finite for the other."""
    losses = {}
    for precision in ("float64", "float32"):
        spec, params, (x, y, mask) = step_inputs(model, "copy", precision, hidden=8)
        params["Wxh"][0, 3, 5] = np.inf  # replica 0, the weight of input class 3 (0 in most steps)
        with np.errstate(all="ignore"):
            losses[precision] = network.loss_and_grads(spec, params, x, y, mask=mask)[0]
    assert np.isnan(losses["float64"][0]) and np.isfinite(losses["float64"][1])
    np.testing.assert_array_equal(np.isnan(losses["float32"]), np.isnan(losses["float64"]))


def test_the_top_layers_kernel_adds_the_output_gradient_as_numpy_does_and_keeps_nan():
    """The LSTM's backward kernel adds the top layer's ``dL/dh_t = dz_t Why^T`` itself (``top``),
    skipping entries of ``dz`` that are 0 only while every output weight is finite: it gives the
    generic loop's ``dL/da`` from ``dz Why^T`` computed by NumPy, and with an infinite output weight
    ``0 * inf`` makes NaN at every step, as NumPy's product does, not only where ``dz`` is nonzero."""
    from rnnexp.engine import models
    from rnnexp.engine.models import _ops, _stack, _windows

    spec, params, (x, y, mask) = step_inputs("lstm", "adding", "float32", hidden=8)
    cell, lp = models.get("lstm").cell, _stack.layer_params(params, 0)
    x = network._in_float(params, x)
    rng = np.random.default_rng(3)
    s0 = [np.zeros((2, 4, 8), np.float32)] * 2
    dz = _ops.zeros(12, 2, 4, 1, np.float32)
    dz[0] = rng.normal(size=dz[0].shape)  # one step scored, the first: dz is 0 at the steps after it
    for poison in (False, True):
        Why = params["Why"].copy()
        if poison:
            Why[0, 2, 0] = np.inf  # replica 0, hidden unit 2
        with np.errstate(all="ignore"):
            own = _windows.layer_back(cell, spec, lp, _windows.layer_forward(cell, spec, lp, x, s0), None, top=(dz, Why))
            generic = _windows.layer_back(cell, spec, lp, _windows.layer_forward(cell, spec, lp, x, s0),
                                          _ops.project(dz, _ops.T_(Why)))
        for a, b in zip([own[0], *own[1]], [generic[0], *generic[1]]):
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
            ok = np.isfinite(b)
            np.testing.assert_allclose(a[ok], b[ok], rtol=0, atol=STEP_RTOL * np.abs(b[ok]).max())
        assert np.isnan(own[0][1:, 0]).any() == poison  # at the steps where dz is 0 too


@pytest.mark.parametrize("model,layers,truncate", [("rnn", 1, None), ("gru", 1, None), ("lstm", 1, None), ("lstm", 2, None),
                                                   ("lstm", 1, 1)])
def test_a_float32_step_scored_at_some_steps_runs_the_output_layer_there_only(model, layers, truncate, monkeypatch):
    """``network.scored_steps`` in float32 (the LSTM's top-layer kernel takes ``dz`` at every step,
    0 at the steps left out), also in windows: as the output layer at every step, masked."""
    check_the_output_layer_at_scored_steps(model, "float32", layers, monkeypatch, truncate)


def test_the_float32_softmax_kernel_equals_numpy_in_float64():
    from rnnexp.engine import losses

    rng = np.random.default_rng(0)
    z = rng.normal(0, 30, (5, 3, 4, 10))  # large logits: the max is subtracted before exp
    y = rng.integers(0, 10, (5, 3, 4)).astype(float)
    loss64, p64 = losses._softmax_k(z, y)
    loss32, p32 = losses._softmax_k(z.astype(np.float32), y.astype(np.float32))
    assert loss32.dtype == p32.dtype == np.float32
    np.testing.assert_allclose(loss32, loss64, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(p32, p64, rtol=0, atol=1e-6)
    z[0, 0, 0, 3], z[0, 0, 1, 0], z[0, 0, 2, 5] = np.nan, np.inf, -np.inf  # a diverged run's logits
    y[0, 0, 3] = 5  # and a target whose logit is -inf: an infinite loss
    z[0, 0, 3, 5] = -np.inf
    with np.errstate(all="ignore"):
        loss64, p64 = losses._softmax_k(z, y)
        loss32, p32 = losses._softmax_k(z.astype(np.float32), y.astype(np.float32))
    for a, b in ((loss32, loss64), (p32, p64)):  # NaN and infinity where NumPy has them, nowhere else
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_array_equal(np.isinf(a), np.isinf(b))
    assert np.isnan(loss32[0, 0, :2]).all() and np.isinf(loss32[0, 0, 3]) and np.isfinite(loss32.ravel()[4:]).all()
    # the kernel's own exp (Cephes' expf, vectorised) is accurate relatively, not only next to 1:
    # softmax([x, 0])_0 = 1 / (1 + e^-x) down to x = -80 (3e-35)
    x = np.linspace(-80, 0, 100_001)
    z = np.stack([x, np.zeros_like(x)], -1).reshape(1, 1, -1, 2).astype(np.float32)
    _, p = losses._softmax_k(z, np.ones(z.shape[:-1], np.float32))
    want = 1 / (1 + np.exp(-z[..., 0].astype(np.float64)))
    assert (np.abs(p[..., 0] - want) / want).max() <= 5e-7


def test_the_kernels_run_for_float32_only():
    assert _fused.use(np.dtype(np.float32)) and not _fused.use(np.dtype(np.float64))
    assert set(_fused.ACT) == set(activations.ACTIVATIONS)  # every activation has a kernel code


def _act_kernel(x, name):
    """``act(x)`` through the Elman kernel (``a = act(a + 0)``)."""
    a = np.array(x, np.float32).reshape(1, 1, 1, -1)
    _fused.kernel("act_add")(a, np.zeros_like(a), 0, _fused.code(activations.get(name)))
    return a.ravel()


def test_the_rational_tanh_is_within_3e_7_of_tanh_and_keeps_nan_and_infinity():
    x = np.linspace(-30, 30, 600_001).astype(np.float32)
    t = _act_kernel(x, "tanh")
    assert np.abs(t - np.tanh(x.astype(np.float64))).max() <= 3e-7
    assert (np.abs(t) <= 1).all() and (np.diff(t) >= -4e-7).all()  # bounded; monotone up to its error (measured dip: 3.6e-7)
    s = _act_kernel(x, "sigmoid")
    assert np.abs(s - 1 / (1 + np.exp(-x.astype(np.float64)))).max() <= 3e-7
    edge = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30], np.float32)
    for name, want in (("tanh", [np.nan, 1, -1, 0, 0, 1, -1]), ("sigmoid", [np.nan, 1, 0, 0.5, 0.5, 1, 0]),
                       ("relu", [np.nan, np.inf, 0, 0, 0, 1e30, 0]), ("identity", edge)):
        # NaN stays NaN; infinity gives the limit (tanh: within the approximation's 2.4e-7 at its clamp)
        np.testing.assert_allclose(_act_kernel(edge, name), np.array(want, np.float32), rtol=0, atol=3e-7, err_msg=name)


@pytest.mark.parametrize("model", ["gru", "lstm"])
def test_a_diverging_float32_run_is_recorded_not_hidden(model):
    """An unbounded cell (``activation=identity``) with SGD at lr 100 overflows within a few steps: the
    infinity and NaN go through the kernels (a clamp could have turned them into numbers), and the
    training records each replica's divergence instead of crashing or carrying on."""
    cfg = config.Config(model=model, hidden=8, replicas=3, steps=30, eval_every=10, precision="float32",
                        optimizer="sgd", lr=100.0, activation="identity", init="normal")
    with np.errstate(all="ignore"):
        s = train.train(cfg).summary
    assert s["diverged"].all(), s  # measured: every replica by step 4
    assert (s["diverged_step"] <= 10).all(), s


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gru", "lstm"])
def test_float32_gated_models_train_like_float64(model):
    """The default task, 300 steps, 4 replicas: the same replicas solved at the same evaluation,
    final losses within tests/test_precision.py's tolerance."""
    runs = [train.train(config.Config(model=model, hidden=8, replicas=4, steps=300, precision=p)).summary
            for p in ("float64", "float32")]
    assert runs[0]["solved"].any()
    _agree(*runs)
