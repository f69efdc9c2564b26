"""Truncated BPTT runs window by window from checkpoints (issue 15, target 3): a truncated step gives
the numbers of the full-cache algorithm (``reference_step`` below: the step as it was before, its
forward cache held for all T steps), and its peak memory grows far less than T."""
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from rnnexp import config, tasks, train
from rnnexp.engine import network
from rnnexp.engine.models import _stack, _windows
from rnnexp.engine.models._ops import T_, bias_grad, outer_sum, project

pytestmark = pytest.mark.usefixtures("compiled_kernels")  # float32 steps: the kernels compiled in the background


def _old_truncated(cell, spec, lps, layers, dtop, k):
    """``Stack._truncated`` as it was before checkpointing (one lag at a time over all T steps)."""
    from rnnexp.engine.models import _ops

    L, T = len(layers), dtop.shape[0]
    for l in range(L):
        cell.prepare(spec, lps[l], layers[l])
    acc = [_ops.zeros(*dtop.shape[:-1], cell.gates * spec.hidden, dtop.dtype) for _ in range(L)]
    buf = _ops.empty(*dtop.shape[:-1], cell.gates * spec.hidden, dtop.dtype)
    prev = [None] * L
    for j in range(k + 1):
        n = T - j
        carry = dtop[:n] if j == 0 else None
        for l in range(L - 1, -1, -1):
            if j == 0:
                dS = (carry,) + tuple(np.zeros_like(carry) for _ in cell.states[1:])
            else:
                dS = tuple(a[1:] for a in prev[l])
                if carry is not None:
                    dS = (dS[0] + carry,) + dS[1:]
            dpre, prev[l] = cell.back(spec, lps[l], layers[l], slice(0, n), dS, out=buf[:n])
            acc[l][:n] += dpre
            carry = project(dpre, T_(lps[l]["Wxh"])) if l else None
    return acc


def reference_step(spec, params, x, y, h0=None, mask=None):
    """Loss, gradients and logits of a step computed the way they were before checkpointing: the
    full forward cache (``network.forward``), then the lag-by-lag truncated BPTT over all steps."""
    T, R, B, _ = x.shape
    z, cache = network.forward(spec, params, x, h0)
    elem, dz = network.step_losses(spec, z, y, mask)
    c = network.objective_scale(spec, T, B, mask, R)
    loss = elem.sum(axis=(0, 2)) * c
    dz = dz * (c if mask is None else c[:, None, None].astype(dz.dtype))
    k, cell, layers = spec.truncate, spec.impl.cell, cache["layers"]
    lps = [_stack.layer_params(params, l) for l in range(len(layers))]
    dtop = project(dz, T_(params["Why"]))
    if k is None or k >= T - 1:
        grads = network.backward(spec, params, cache, dz)
    else:
        dpres = _old_truncated(cell, spec, lps, layers, dtop, k)
        grads = {}
        for l, lp in enumerate(lps):
            grads.update({_stack.pname(n, l): g for n, g in _stack.layer_grads(cell, lp, layers[l], dpres[l]).items()})
        grads["Why"] = outer_sum(cache["top"], dz)
        if "by" in params:
            grads["by"] = bias_grad(dz)
    return loss, grads, z, cache


def _close(a, b, what, rtol=1e-12):
    """Equal up to rounding: every element within ``rtol`` of the largest (gradients cancel)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (what, a.shape, b.shape, a.dtype, b.dtype)
    scale = max(float(np.abs(b).max()), np.finfo(b.dtype).tiny)
    assert float(np.abs(a - b).max()) <= rtol * scale, (what, float(np.abs(a - b).max()) / scale)


def _problem(model, layers, task, k, T=13, R=3, B=4, H=5, precision="float64", seed=0):
    cfg = config.Config(task=task, model=model, hidden=H, replicas=R, batch=B, precision=precision)
    cfg.model.layers = layers
    if task == "addition":
        cfg.bits = T
    else:
        cfg.task.length = T
    config.check(cfg)
    task_ = tasks.make(cfg)
    T = task_.T
    cfg.bptt.truncate = max(0, T + k) if k < 0 else k  # k < 0: counted from T (-1: full BPTT, -2: the largest cut)
    spec = config.net_spec(cfg, task_)
    init_rngs, data_rngs = train.replica_rngs(seed, range(R))
    params = network.init_params(spec, init_rngs)
    rng = np.random.default_rng(seed)
    for name in params:  # non-zero biases: every term of the gradient is exercised
        if name.startswith("b"):
            params[name] = params[name] + (0.3 * rng.normal(size=params[name].shape)).astype(params[name].dtype)
    x, y, mask = task_.batches(data_rngs, B, 0).next(0)
    return spec, params, x, y, mask


def _small_windows(monkeypatch, floor=3):
    """Windows of max(k, floor) steps: short sequences get many (the same code runs)."""
    monkeypatch.setattr(_windows, "MIN_WINDOW", floor)


def _check_step(spec, params, x, y, mask, h0=None, rtol=1e-12):
    loss, grads, z, cache = network.loss_and_grads(spec, params, x, y, h0, mask=mask)
    loss1, grads1, z1, cache1 = reference_step(spec, params, x, y, h0, mask)
    _close(loss, loss1, "loss", rtol)
    steps = network.scored_steps(mask, x.shape[0])  # the logits of the steps with a target (adding: the last)
    _close(z, z1 if steps is None else z1[steps], "logits", rtol)
    assert list(grads) == list(grads1)
    for name in grads:
        _close(grads[name], grads1[name], name, rtol)
    return cache, cache1, z, y


# every k on copy (a mask), some on adding (a mask at the last step) and addition (none)
KS = {"copy": [0, 1, 4, -2, -1], "adding": [1, 4], "addition": [0, -2]}


STRUCTURES = [("rnn", 1), ("rnn", 2), ("lstm", 1), ("lstm", 2), ("gru", 1), ("gru", 2)]


def _fast(model, layers, task, k):
    """The fast suite's share: every k on copy for a 2-layer lstm, every structure at the k that does
    not divide T, one case of each other task; the slow suite runs every combination."""
    return ((model, layers) == ("lstm", 2) and task == "copy") or (task == "copy" and k == 4) or \
        (model, layers, task, k) in {("gru", 1, "adding", 1), ("rnn", 2, "addition", -2)}


@pytest.mark.parametrize("model,layers,task,k", [
    pytest.param(m, layers, task, k, marks=() if _fast(m, layers, task, k) else pytest.mark.slow)
    for m, layers in STRUCTURES for task, ks in KS.items() for k in ks])
def test_a_truncated_step_gives_the_numbers_of_the_full_cache(model, layers, task, k, monkeypatch):
    """Windows of max(k, 3) steps (k = 4 does not divide T; T - 2 is the largest cut, T - 1 full
    BPTT): loss, logits, every gradient, the state-gradient profile and the states a restart reads."""
    _small_windows(monkeypatch)
    spec, params, x, y, mask = _problem(model, layers, task, k)
    cache, cache1, z, y = _check_step(spec, params, x, y, mask)
    prof = network.state_grad_profile(spec, params, cache, z, y, mask)
    prof1 = network.state_grad_profile(spec, params, cache1, z, y, mask)
    assert list(prof) == list(prof1)
    for name in prof:
        _close(prof[name], prof1[name], f"profile {name}")
    for s in range(x.shape[0]):
        _close(spec.impl.state_before(spec, cache, s), spec.impl.state_before(spec, cache1, s), f"state before {s}")


@pytest.mark.parametrize("model,layers,k", [("lstm", 2, 50), ("gru", 1, 5), ("rnn", 2, 0)])
def test_the_real_window_size_on_a_longer_sequence(model, layers, k):
    """The window floor as shipped (k = 50: windows of 64, 64 and 22 steps on T = 150), with a
    non-zero initial state."""
    spec, params, x, y, mask = _problem(model, layers, "adding", k, T=150, R=2, B=3, H=4)
    h0 = 0.5 * np.random.default_rng(1).normal(size=spec.impl.initial_state(spec, 2, 3).shape)
    cache, cache1, z, y = _check_step(spec, params, x, y, mask, h0)
    for s in (0, 1, 63, 64, 65, 127, 128, 149):
        _close(spec.impl.state_before(spec, cache, s), spec.impl.state_before(spec, cache1, s), f"state before {s}")


def test_replica_groups_and_float32_run_windowed_truncation(monkeypatch):
    _small_windows(monkeypatch)
    spec, params, x, y, mask = _problem("lstm", 2, "copy", 2, R=7)
    T = x.shape[0]
    per = T * 4 * spec.hidden * 8  # groups of 3 replicas (test_replica_groups' scaling)
    monkeypatch.setattr(network, "GROUP_MIN_BYTES", per - 1)
    monkeypatch.setattr(network, "GROUP_BYTES", 3 * per)
    cache, cache1, z, y = _check_step(spec, params, x, y, mask)
    assert isinstance(cache, network.ReplicaGroups) and len(cache) == 3
    prof, prof1 = (network.state_grad_profile(spec, params, c, z, y, mask) for c in (cache, cache1))
    for name in prof:
        _close(prof[name], prof1[name], f"profile {name}")
    spec32, params32, x, y, mask = _problem("gru", 2, "adding", 3, precision="float32")
    _check_step(spec32, params32, x, y, mask, rtol=1e-5)


@pytest.mark.parametrize("model,layers,k", [("rnn", 1, 1), ("lstm", 2, 2), ("gru", 1, 4)])
def test_the_windows_no_loss_reaches_are_skipped_with_the_same_numbers(model, layers, k, monkeypatch):
    """``adding`` (scored at its last step), windows of 3: only the windows within k steps of the end
    run their lags (``_windows._unreached``), and the step's numbers are the reference's."""
    _small_windows(monkeypatch)
    calls = []
    lags = _windows._window_lags
    monkeypatch.setattr(_windows, "_window_lags", lambda *a, **kw: calls.append(1) or lags(*a, **kw))
    spec, params, x, y, mask = _problem(model, layers, "adding", k, T=20)
    _check_step(spec, params, x, y, mask)
    W = max(k, 3)  # the windows that hold the steps the last step's loss reaches, 19 - k to 19
    assert len(calls) == 19 // W - (19 - k) // W + 1 < -(-20 // W)
    ran = []  # the steps each lag runs back (_windows._reached): on adding, one step a lag and layer
    back = spec.impl.cell.back
    monkeypatch.setattr(spec.impl.cell, "back", lambda *a, **kw: ran.append(len(range(20)[a[3]])) or back(*a, **kw))
    network.loss_and_grads(spec, params, x, y, mask=mask)
    monkeypatch.setattr(spec.impl.cell, "back", back)
    assert ran == [1] * (k + 1) * layers
    calls.clear()  # and a target at step 6 too: a window that runs its lags after windows skipped
    mask = np.zeros((20, 1, 1), bool)
    mask[[6, 19]] = True
    _check_step(spec, params, x, y, mask)
    assert len(calls) == 19 // W - (19 - k) // W + 1 + 6 // W - (6 - k) // W + 1


def test_a_window_no_loss_reaches_is_not_skipped_when_not_finite(monkeypatch):
    """An infinite input at step 3, which no loss reaches: the tanh keeps the states finite, but the
    input weights' gradient is ``inf * 0 = NaN`` there, as in the reference, not 0."""
    _small_windows(monkeypatch)
    spec, params, x, y, mask = _problem("rnn", 1, "adding", 1, T=20)
    x = x.copy()
    x[3, 0, 0, 0] = np.inf  # replica 0, problem 0
    with np.errstate(all="ignore"):
        loss, grads, _, _ = network.loss_and_grads(spec, params, x, y, mask=mask)
        loss1, grads1, _, _ = reference_step(spec, params, x, y, mask=mask)
    assert np.isfinite(loss).all() and np.isnan(grads1["Wxh"][0]).any() and np.isfinite(grads1["Whh"]).all()
    for name in grads:
        np.testing.assert_array_equal(np.isnan(grads[name]), np.isnan(grads1[name]), err_msg=name)
        ok = np.isfinite(grads1[name])
        np.testing.assert_allclose(grads[name][ok], grads1[name][ok], rtol=1e-12, atol=1e-15)


def _peak(work) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_peak_memory_of_a_truncated_step_is_bounded_by_the_truncation():
    """Doubling T with k fixed: the step's peak (and the profile's, read from the step's cache)
    grows far less than 2x, and is a fraction of full BPTT's."""
    peaks, profiles, full = {}, {}, {}
    for T in (250, 500):
        spec, params, x, y, mask = _problem("lstm", 1, "adding", 8, T=T, R=2, B=8, H=16)
        out = []
        peaks[T] = _peak(lambda: out.append(network.loss_and_grads(spec, params, x, y, mask=mask)))
        _, _, z, cache = out.pop()
        profiles[T] = _peak(lambda: network.state_grad_profile(spec, params, cache, z, y, mask))
        del cache
        spec_full, *_ = _problem("lstm", 1, "adding", -1, T=T, R=2, B=8, H=16)
        full[T] = _peak(lambda: network.loss_and_grads(spec_full, params, x, y, mask=mask))
    assert peaks[500] < 1.3 * peaks[250], peaks
    assert profiles[500] < 1.3 * profiles[250], profiles
    assert peaks[500] < 0.3 * full[500], (peaks, full)


@pytest.mark.slow
def test_a_truncated_training_gives_the_same_tables_in_windows(monkeypatch):
    """What the user gets: history, profile and summary of a truncated training in windows of 3
    steps are those of one window over the whole sequence (the lag-by-lag algorithm over all T
    steps at once, operation for operation), up to rounding."""
    cfg = config.Config(task="adding", model="lstm", hidden=6, replicas=3, steps=4, eval_every=2)
    cfg.task.length = 20
    cfg.model.layers = 2
    cfg.bptt.truncate = 2
    config.check(cfg)
    _small_windows(monkeypatch)
    cut = train.train(cfg)
    _small_windows(monkeypatch, 10**9)
    whole = train.train(cfg)
    for name in ("summary", "history", "profile"):
        a, b = (getattr(r, name).drop(columns=["wall_time"], errors="ignore") for r in (cut, whole))
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=1e-15, obj=name)
