"""Long steps run in groups of replicas (``network.replica_group_size``: cache-sized groups); every
replica's loss, gradients, logits and gradient profile are those of the step run in one group, and
a training gives the same tables either way."""
import numpy as np
import pandas as pd
import pytest

from rnnexp import config, tasks, train
from rnnexp.engine import network


def _one_group(monkeypatch):
    monkeypatch.setattr(network, "GROUP_MIN_BYTES", 2**62)


def _small_groups(monkeypatch, T, B=32, H=8):
    """Groups of 3 replicas at a small shape (the thresholds scaled down: the same code runs)."""
    per = T * B * H * 8
    monkeypatch.setattr(network, "GROUP_MIN_BYTES", per - 1)
    monkeypatch.setattr(network, "GROUP_BYTES", 3 * per)


@pytest.mark.parametrize("model", ["rnn", "gru", "lstm", "birnn"])
@pytest.mark.parametrize("task", ["adding", "copy"])
def test_a_step_in_replica_groups_equals_the_step_in_one(model, task, monkeypatch):
    cfg = config.Config(task=task, model=model, hidden=8, replicas=7, batch=32)
    cfg.task.length = 12
    config.check(cfg)
    task_ = tasks.make(cfg)
    _small_groups(monkeypatch, task_.T)
    spec = config.net_spec(cfg, task_)
    assert network.replica_group_size(spec, task_.T, 7, 32) == 3
    init_rngs, data_rngs = train.replica_rngs(0, range(7))
    params = network.init_params(spec, init_rngs)
    x, y, mask = task_.batches(data_rngs, 32, 0).next(0)
    loss, grads, z, cache = network.loss_and_grads(spec, params, x, y, mask=mask)
    assert isinstance(cache, network.ReplicaGroups) and len(cache) == 3
    profile = network.state_grad_profile(spec, params, cache, z, y, mask)
    _one_group(monkeypatch)
    loss1, grads1, z1, cache1 = network.loss_and_grads(spec, params, x, y, mask=mask)
    assert not isinstance(cache1, network.ReplicaGroups)
    profile1 = network.state_grad_profile(spec, params, cache1, z1, y, mask)
    np.testing.assert_allclose(loss, loss1, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(z, z1)
    assert list(grads) == list(grads1)
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads1[k], err_msg=k)
    for k in profile1:
        np.testing.assert_array_equal(profile[k], profile1[k], err_msg=k)


def test_group_sizes():
    """The seeds' shapes, the scaling section's largest case and every reference table: one group;
    long sequences: groups of about 2 MB per (T, B, hidden) array, at least one replica."""
    spec = network.NetSpec(hidden=16)
    assert network.replica_group_size(spec, 64, 100, 32) == 100
    assert network.replica_group_size(network.NetSpec(hidden=8), 300, 7, 32) == 3  # 614 KB a replica
    assert network.replica_group_size(network.NetSpec(hidden=128, precision="float32"), 1000, 10, 32) == 1
    assert network.replica_group_size(network.NetSpec(hidden=16, precision="float32"), 100, 10, 32) == 10
    # float32 at 8.4 MB a replica (hidden 64, copy at T = 1000): the Elman RNN in groups of one, the
    # gated cells in one group (network's note on replica groups); at 16.7 MB all in groups of one
    for model, at_64, at_128 in (("rnn", 1, 1), ("gru", 10, 1), ("lstm", 10, 1)):
        for hidden, want in ((64, at_64), (128, at_128)):
            spec = network.NetSpec(model=model, hidden=hidden, precision="float32")
            assert network.replica_group_size(spec, 1020, 10, 32) == want, (model, hidden)


def test_training_in_replica_groups_gives_the_same_tables(monkeypatch):
    cfg = config.Config(task="adding", model="lstm", hidden=8, replicas=5, steps=4, eval_every=2)
    cfg.task.length = 12
    config.check(cfg)
    _small_groups(monkeypatch, 12)
    grouped = train.train(cfg)
    _one_group(monkeypatch)
    single = train.train(cfg)
    for name in ("summary", "history", "profile"):
        a, b = (getattr(r, name).drop(columns=["wall_time"], errors="ignore") for r in (grouped, single))
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, obj=name)
