"""Evaluation on the prefix tree of the problem set gives the same scores as problem by problem."""
import numpy as np
import pytest

from rnnexp.engine import losses, network
from rnnexp.tasks.addition import data, metrics

R, H = 3, 5


def _params(spec, seed=0):
    rngs = [np.random.default_rng([seed, r]) for r in range(R)]
    params = network.init_params(spec, rngs)
    for k in params:  # large weights: predictions far from constant, every accuracy in play
        params[k] = 2.5 * params[k] + (0.3 if k.startswith("b") else 0.0)
    return params


@pytest.mark.parametrize("model,layers", [("rnn", 1), ("rnn", 2), ("lstm", 1), ("gru", 2)])
@pytest.mark.parametrize("order", ["lsb", "msb"])
@pytest.mark.parametrize("loss", list(losses.LOSSES))
def test_tree_evaluation_equals_problem_by_problem(model, layers, order, loss, monkeypatch):
    spec = network.NetSpec(hidden=H, model=model, loss=loss, options={"layers": layers})
    params = _params(spec)
    x, y = data.eval_set(6, order)  # 1,024 problems
    tree = metrics.evaluate(spec, params, x, y, max_elems=2**9)  # pieces of 34 nodes: many of them
    monkeypatch.delattr(type(spec.impl), "state_before")  # not restartable: scored problem by problem
    plain = metrics.evaluate(spec, params, x, y, max_elems=2**10)
    np.testing.assert_allclose(tree["loss"], plain["loss"], rtol=1e-12)
    for key in ("bit_acc", "sum_acc", "pos_acc"):
        np.testing.assert_array_equal(tree[key], plain[key])
    assert 0 < plain["sum_acc"].max() or 0 < plain["bit_acc"].min() < 1  # not a trivial score


def test_prefix_tree_shares_prefixes_and_counts_every_problem():
    x, y = data.eval_set(8, "lsb")
    tree = metrics.prefix_tree(x, y)
    assert [len(level.count) for level in tree] == [4, 16, 64, 256, 1024, 4096, 16384, 16384]
    assert all(level.count.sum() == 16384 for level in tree)
    assert metrics.prefix_tree(x, y) is tree  # read-only sets: built once


def test_bidirectional_model_is_scored_problem_by_problem():
    spec = network.NetSpec(hidden=H, model="birnn")
    x, y = data.eval_set(5, "msb")
    ev = metrics.evaluate(spec, _params(spec), x, y)
    assert ev["pos_acc"].shape == (R, 5)
