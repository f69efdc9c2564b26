"""The memory estimate against tracemalloc's measured peak, and the refusal of what would not fit."""
import gc
import tracemalloc

import pytest

from rnnexp import cli, config, memory, train
from rnnexp.bench import measure
from rnnexp.engine import models
from rnnexp.engine.models import _fused
from rnnexp.tasks.addition import data, metrics

pytestmark = pytest.mark.usefixtures("compiled_kernels")  # float32 steps: the kernels compiled in the background


def small(model="rnn", layers=1, **kw):
    settings = dict(bits=6, batch=128, replicas=4, hidden=32, steps=1, eval_every=1) | kw
    return config.Config(model=models.conf_class(model)(name=model, layers=layers), **settings)


def measured_peak(cfg) -> int:
    """Peak bytes allocated by ``train.train(cfg)`` (numpy's arrays included), evaluation sets too."""
    data.eval_set.cache_clear()
    metrics._TREES.clear()
    if cfg.precision == "float32":
        _fused.compile_all()  # numba and its kernels loaded before: the training's arrays are measured, not them
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        train.train(cfg)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


# a training step dominates (rnn, lstm, a 2-layer birnn), the parameters (hidden 128, sgd), the
# data buffer (64 replicas), the evaluation sets (8 bits: all 16,384 problems and their tree)
CASES = {
    "rnn": small("rnn"),
    "lstm": small("lstm"),
    "birnn 2 layers": small("birnn", 2),
    "rnn hidden 128 sgd": small("rnn", hidden=128, batch=4, optimizer="sgd"),
    "gru 64 replicas 8 bits": small("gru", hidden=8, batch=8, replicas=64, bits=8),
}

def small_task(task, length, model="rnn"):
    cfg = small(model, bits=8)
    cfg.task = config.tasks.conf_class(task)()
    cfg.task.length = length
    config.check(cfg)
    return cfg


# the other tasks: whole-sequence evaluation while the step's arrays are held (adding: a mask)
CASES.update({"adding birnn": small_task("adding", 60, "birnn"), "copy rnn": small_task("copy", 5),
              "adding rnn": small_task("adding", 60), "copy lstm": small_task("copy", 30, "lstm")})


def _with(cfg, truncate=None, **kw):
    cfg.bptt.truncate = truncate
    for key, value in kw.items():
        setattr(cfg, key, value)
    config.check(cfg)
    return cfg


# float32 (the step, parameters and evaluation in 4-byte floats) and truncated BPTT (a step in windows
# from checkpoints: addition's 6 steps are one window; adding's 300 are five, beside the evaluation)
CASES.update({"lstm float32": small("lstm", precision="float32"), "gru 2 layers float32": small("gru", 2, precision="float32"),
              "lstm truncated": _with(small("lstm"), 2),
              "rnn 2 layers truncated float32": _with(small("rnn", 2), 1, precision="float32"),
              "adding lstm truncated float32": _with(small_task("adding", 300, "lstm"), 5, batch=32, replicas=2,
                                                     precision="float32"),
              "copy gru truncated": _with(small_task("copy", 60, "gru"), 3, batch=32, replicas=2)})
SLOW = ("rnn hidden 128 sgd", "gru 64 replicas 8 bits", "adding rnn", "copy lstm", "adding birnn",
        "adding lstm truncated float32", "copy gru truncated", "gru 2 layers float32", "lstm truncated")  # many small pieces: tracemalloc makes them slow


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CASES])
def test_the_estimate_is_within_its_factor_of_the_measured_peak(name):
    cfg = CASES[name]
    peak, est = measured_peak(cfg), memory.estimate(cfg).total
    assert peak <= est <= memory.FACTOR * peak, f"{name}: measured {peak / 1e6:.1f} MB, estimated {est / 1e6:.1f} MB"


def _two_steps_peak(cfg) -> int:
    """Peak bytes of two training steps (the second beside the first's cache), batches drawn included."""
    return measure.peak_step_memory(cfg, steps=2)


@pytest.mark.parametrize("model,precision", [
    pytest.param(m, p, marks=() if (m, p) in {("rnn", "float64"), ("lstm", "float32")} else pytest.mark.slow)
    for m in ("rnn", "gru", "lstm") for p in ("float64", "float32")])
def test_a_truncated_steps_estimate_follows_its_measured_peak(model, precision):
    """A step of 300 steps truncated at 5 (five windows of 64) and the batches it draws: the step's
    estimate within FACTOR of the measured peak, and far below full BPTT's."""
    cfg = measure._config(model, task="adding", length=300, hidden=16, replicas=2, batch=16, precision=precision,
                          bptt=config.BpttConf(truncate=5))
    est = memory.estimate(cfg)
    peak = _two_steps_peak(cfg)
    assert peak <= est.step + est.held["training data"] <= memory.FACTOR * peak, (peak, est)
    full = memory.estimate(_with(cfg, None))
    assert est.step < 0.35 * full.step


def test_float32_and_truncation_lower_the_estimate():
    """Half the bytes in float32 (a run float64 cannot fit is accepted); with bptt.truncate the step
    grows with T only through what it keeps of every step (inputs, logits, one checkpoint a window)."""
    f64 = memory.estimate(config.Config(model="lstm", hidden=64, replicas=10))
    f32 = memory.estimate(config.Config(model="lstm", hidden=64, replicas=10, precision="float32"))
    assert f32.step == pytest.approx(0.5 * f64.step, rel=0.05) and f32.step < f64.step
    budget = (int(1.2 * f32.total / (1 - memory.MARGIN)), "a test's budget")
    memory.check(config.Config(model="lstm", hidden=64, replicas=10, precision="float32"), free=budget)
    with pytest.raises(config.ConfigError, match="would not fit in memory"):
        memory.check(config.Config(model="lstm", hidden=64, replicas=10), free=budget)

    def step(T, k=None):
        return memory.estimate(_with(small_task("adding", T, "lstm"), k, hidden=128, replicas=10)).step

    assert step(2000) == pytest.approx(2 * step(1000), rel=0.01)  # full BPTT: linear in T
    assert step(1000, 50) < 0.1 * step(1000)
    assert step(2000, 50) - step(1000, 50) < 0.05 * (step(2000) - step(1000))  # checkpoints, inputs, logits
    assert step(1000, 50) < step(1000, 200) < step(1000, 900)  # bounded by k


def test_the_estimate_grows_with_every_size():
    base = memory.estimate(config.Config()).total
    for kw in ({"hidden": 32}, {"replicas": 20}, {"batch": 64}, {"bits": 16}, {"train_size": 10_000, "batch": 8},
               {"eval_bits": [64]}, {"steps": 10**6}, {"model": models.conf_class("rnn")(layers=2)},
               {"model": "lstm"}, {"model": "gru"}, {"model": "birnn", "batch": 64}):
        assert memory.estimate(config.Config(**kw)).total > base, kw


def test_what_does_not_fit_is_refused_in_one_line_naming_the_settings():
    budget = (10**8, "a test's budget")  # 100 MB
    memory.check(config.Config(), free=budget)  # the default: a few tens of MB
    with pytest.raises(config.ConfigError) as e:
        memory.check(config.Config(replicas=1000), free=budget)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("model=rnn model.layers=1 hidden=16 replicas=1000 batch=32 bits=8 would not fit in memory: about ")
    assert "100.0 MB is available (a test's budget; 10% of it is kept free)" in msg
    # a parallel sweep's jobs run at once: each fits alone, not all together
    memory.check(config.Config(replicas=40), free=budget, worker=False)
    with pytest.raises(config.ConfigError, match="2 jobs at once, each about"):
        memory.check(config.Config(replicas=40), jobs=2, free=budget)


def test_train_refuses_what_does_not_fit_before_any_work(monkeypatch):
    monkeypatch.setattr(train.network, "init_params", lambda *a: pytest.fail("training started"))
    for kw in ({"hidden": 10**9}, {"replicas": 10**7}, {"batch": 10**9}, {"model": models.ModelConf(layers=10**6)}):
        with pytest.raises(config.ConfigError, match="would not fit in memory"):
            train.train(config.Config(**kw))


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_a_parallel_sweep_is_checked_for_its_jobs_together(monkeypatch):
    one = memory.estimate(config.Config(replicas=300)).total + memory.WORKER
    monkeypatch.setattr(memory, "available", lambda: (int(1.5 * one / (1 - memory.MARGIN)), "a test's budget"))
    argv = ["-m", "seed=0,1", "replicas=300"]
    with pytest.raises(cli.UsageError, match="2 jobs at once"):
        cli.precheck([*argv, "hydra.launcher.n_jobs=2"])
    cli.precheck([*argv, "hydra.launcher.n_jobs=1"])  # one after another: fits
    cli.precheck([*argv, "hydra/launcher=basic"])


def test_the_memory_available_is_read_from_the_machine():
    have, source = memory.available()
    total = next(int(line.split()[1]) * 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
    assert 0 < have <= total and source
