"""The ``precision`` setting: float32 runs every array of a training step in float32, refuses other
floats in one line, and trains like float64 within stated tolerances.

Tolerances (float32 against float64, the same configuration and seed): the same replicas solved, at
the same evaluation step; final evaluation loss within 1e-4 (absolute; measured: at most 3e-6 on the
example sweep) and accuracy within 1e-3 (measured: identical). Gradient checks stay float64 (the
default ``NetSpec``), tests/test_gradients.py and tests/test_models.py.
"""
import numpy as np
import pytest

from rnnexp import config, tasks, train
from rnnexp.engine import gradients, network, optim
from rnnexp.engine.models import _windows

pytestmark = pytest.mark.usefixtures("compiled_kernels")  # float32 steps: the kernels compiled in the background

LOSS_ATOL, ACC_ATOL = 1e-4, 1e-3


def test_precision_is_refused_in_one_line_unless_float64_or_float32():
    with pytest.raises(config.ConfigError) as e:
        config.Config(precision="float16")
    assert str(e.value) == "precision=float16 is not allowed: precision must be one of float64, float32"
    assert config.Config().precision == "float64"  # the default: what every table so far was made with
    with pytest.raises(ValueError, match="precision='half'"):
        network.NetSpec(precision="half").dtype


def step_inputs(model, task, precision, *, layers=1, truncate=None, length=12, **settings):
    """A training step's spec, initial weights and first batch (2 replicas, batch 4) for ``task``
    (its sequence length ``length`` unless it is addition)."""
    cfg = config.Config(task=task, model=model, replicas=2, precision=precision, **settings)
    cfg.model.layers = layers
    cfg.bptt.truncate = truncate
    if task != "addition":
        cfg.task.length = length
    config.check(cfg)
    task_ = tasks.make(cfg)
    spec = config.net_spec(cfg, task_)
    init_rngs, data_rngs = train.replica_rngs(0, [0, 1])
    return spec, network.init_params(spec, init_rngs), task_.batches(data_rngs, 4, 0).next(0)


@pytest.mark.parametrize("model,layers,truncate", [("rnn", 1, None), ("rnn", 2, 2), ("gru", 1, None), ("gru", 1, 2),
                                                   ("lstm", 2, None), ("lstm", 1, 2), ("birnn", 1, None)])
@pytest.mark.parametrize("task", ["addition", "adding", "copy"])
def test_float32_keeps_every_array_of_a_step_in_float32(model, layers, truncate, task, monkeypatch):
    """Parameters, states, gradients, the state-gradient profile's inputs and both optimizers' new
    weights: nothing is promoted to float64 on the way (a float64 batch or learning rate would).
    A truncated step's cache is its checkpoints (windows of 2 steps here): theirs and a window's run
    again."""
    monkeypatch.setattr(_windows, "MIN_WINDOW", 2)
    spec, params, (x, y, mask) = step_inputs(model, task, "float32", layers=layers, truncate=truncate, length=9)
    # a task's batch, which the engine converts (copy's one-hot inputs are float32: exact in either)
    assert x.dtype == (np.float32 if task == "copy" else np.float64)
    loss, grads, z, cache = network.loss_and_grads(spec, params, x, y, mask=mask)
    arrays = {**{f"param {k}": v for k, v in params.items()}, **{f"grad {k}": v for k, v in grads.items()},
              "logits": z}
    if isinstance(cache, _windows.Checkpoints):
        assert truncate is not None and len(cache.states) > 1
        arrays.update({f"checkpoint {i} {l} {j}": s for i, w in enumerate(cache.states) for l, layer in enumerate(w)
                       for j, s in enumerate(layer)}, inputs=cache.x)
        layers = next(iter(cache.windows()))[1]
    else:
        arrays["top"] = cache["top"]
        layers = None if model == "birnn" else cache["layers"]
    if layers is not None:
        arrays.update({f"cache {k}": v for k, v in layers[0].items() if isinstance(v, np.ndarray)})
    lr, active = np.full(2, 0.01), np.ones(2, bool)
    for name, opt in (("adam", optim.make("adam", params)), ("sgd", optim.make("sgd", params, momentum=0.9))):
        arrays.update({f"{name} {k}": v for k, v in opt.step(params, grads, lr, active).items()})
    wrong = {k: v.dtype for k, v in arrays.items() if v.dtype != np.float32}
    assert not wrong, wrong
    assert np.isfinite(loss).all() and np.isfinite(gradients.global_norm(grads)).all()
    profile = network.state_grad_profile(spec, params, cache, z, y, mask)
    assert all(np.isfinite(v).all() for v in profile.values())


def _agree(a, b):
    assert (a["solved"] == b["solved"]).all(), (a["solved"], b["solved"])
    np.testing.assert_array_equal(a["steps_to_solve"], b["steps_to_solve"])
    np.testing.assert_allclose(b["eval_loss"], a["eval_loss"], rtol=0, atol=LOSS_ATOL)
    acc = [c for c in ("bit_acc", "acc") if c in a][0]
    np.testing.assert_allclose(b[acc], a[acc], rtol=0, atol=ACC_ATOL)


def test_float32_trains_like_float64():
    """A short run of the default configuration: the same replicas solve, at the same step."""
    runs = [train.train(config.Config(hidden=8, replicas=4, steps=300, precision=p)).summary
            for p in ("float64", "float32")]
    assert runs[0]["solved"].any()  # the comparison sees solved replicas, not only failures
    _agree(*runs)
    assert not np.array_equal(runs[0]["eval_loss"], runs[1]["eval_loss"])  # float32 did run in float32


@pytest.mark.slow
@pytest.mark.parametrize("hidden", [4, 8, 16])
@pytest.mark.parametrize("order", ["lsb", "msb"])
def test_float32_agrees_on_the_example_sweep(hidden, order):
    """The README's example sweep (``hidden=4,8,16 order=lsb,msb``, 10 replicas, 1000 steps) in both
    precisions: the same replicas solved at the same steps, final losses within ``LOSS_ATOL``."""
    _agree(*[train.train(config.Config(hidden=hidden, order=order, precision=p)).summary
             for p in ("float64", "float32")])


@pytest.mark.slow
@pytest.mark.parametrize("model", ["rnn", "gru", "lstm"])
def test_float32_agrees_on_a_long_task(model):
    """adding, 60 steps per sequence, 150 training steps: losses close all along the history."""
    runs = []
    for p in ("float64", "float32"):
        cfg = config.Config(task="adding", model=model, hidden=16, replicas=3, steps=150, eval_every=50, precision=p)
        cfg.task.length = 60
        config.check(cfg)
        runs.append(train.train(cfg).history)
    np.testing.assert_allclose(runs[1]["eval_loss"], runs[0]["eval_loss"], rtol=0, atol=LOSS_ATOL)
