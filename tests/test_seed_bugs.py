"""The seeds' BPTT bugs, injected into a copy of the Elman backward pass, against the gradient check.

- Seed 000: the activation's derivative was applied only to the error from the output, not to the
  error coming back from the future step. A proper check (>= 3 steps, a non-zero initial state,
  every activation) fails on it.
- Seed 004 (hanbt/learn_dl ``rnn.py``): its delta recursion multiplies by the *state* of the next
  step (``np.diag(state_list[k+1])``) instead of the activation's derivative. Its published check
  (2 steps from a zero state, the identity activation, only ``W``'s gradient) passes on that code;
  the proper check fails.

``elman_backward`` is written out here, step by step, so a bug can be put in one line; with
``bug=None`` it must agree with the oracle like the engine does, so the failures below are the bugs'.
"""
import numpy as np
import pytest
from gradcheck import max_relative_error

from rnnexp.engine import activations, network
from rnnexp.engine.models._ops import T_

R, B, H = 2, 3, 5
PROPER_T = 4  # >= 3 steps
OK, BROKEN = 1e-6, 1e-2  # relative error of a correct gradient / of a wrong one


def problem(activation: str, T: int, zero_state: bool, seed: int = 0):
    spec = network.NetSpec(hidden=H, activation=activation, loss="bce", bias=True, init="normal", scale=1.2)
    rngs = [np.random.default_rng([seed, r]) for r in range(R)]
    params = network.init_params(spec, rngs)
    rng = np.random.default_rng(seed + 1)
    for k in ("bh", "by"):  # non-zero biases: every term of the gradient is exercised
        params[k] = params[k] + 0.3 * rng.normal(size=params[k].shape)
    x = rng.integers(0, 2, (T, R, B, 2)).astype(float)
    y = rng.integers(0, 2, (T, R, B)).astype(float)
    h0 = np.zeros((R, B, H)) if zero_state else 0.5 * rng.normal(size=(R, B, H))
    if activation in ("sigmoid", "relu"):
        h0 = np.abs(h0)  # a state this activation can produce
    return spec, params, x, y, h0


def elman_backward(spec, params, x, y, h0, bug=None):
    """Full BPTT for a one-layer Elman RNN, ``h_t = act(x_t Wxh + h_{t-1} Whh + bh)``; the gradient
    of the same objective as ``network.loss_and_grads``. ``bug``: None, ``"seed000"`` or ``"seed004"``."""
    T, _, Bn, _ = x.shape
    z, cache = network.forward(spec, params, x, h0)
    h = cache["h"]  # (T+1, R, B, H), h[0] = h0
    _, dz = network.step_losses(spec, z, y)
    dz = dz * network.objective_scale(spec, T, Bn)  # (T, R, B, O)
    df = spec.act.df(h[1:])  # f'(a_t) from the outputs, (T, R, B, H)
    g = {k: np.zeros_like(v) for k, v in params.items()}
    da_next = np.zeros((R, Bn, H))  # dL/da_{t+1}
    for t in range(T - 1, -1, -1):
        from_out = dz[t] @ T_(params["Why"])  # (R, B, H): dL/dh_t through step t's output
        from_future = da_next @ T_(params["Whh"])  # (R, B, H): dL/dh_t through step t+1
        if bug is None:
            da = (from_out + from_future) * df[t]
        elif bug == "seed000":  # the derivative only on the output's error
            da = from_out * df[t] + from_future
        elif bug == "seed004":  # the future's error times the next step's state, not f'(a_t)
            da = from_out * df[t] + (from_future * h[t + 2] if t + 1 < T else 0.0)
        else:
            raise ValueError(bug)
        g["Wxh"] += T_(x[t]) @ da
        g["Whh"] += T_(h[t]) @ da
        g["bh"] += da.sum(axis=1, keepdims=True)
        g["Why"] += T_(h[t + 1]) @ dz[t]
        g["by"] += dz[t].sum(axis=1, keepdims=True)
        da_next = da
    return g


def check(activation, T, zero_state, bug, names=None) -> float:
    spec, params, x, y, h0 = problem(activation, T, zero_state)
    grads = elman_backward(spec, params, x, y, h0, bug)
    return max_relative_error(spec, params, x, y, h0, grads=grads, names=names)


@pytest.mark.parametrize("activation", activations.ACTIVATIONS)
def test_the_copy_without_a_bug_passes_the_proper_check(activation):
    spec, params, x, y, h0 = problem(activation, PROPER_T, zero_state=False)
    mine = elman_backward(spec, params, x, y, h0)
    _, engine, _, _ = network.loss_and_grads(spec, params, x, y, h0)
    for k in engine:
        np.testing.assert_allclose(mine[k], engine[k], rtol=1e-10, atol=1e-12)
    assert max_relative_error(spec, params, x, y, h0, grads=mine) < OK


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_seed000_bug_fails_the_proper_check(activation):
    assert check(activation, PROPER_T, zero_state=False, bug="seed000") > BROKEN


def test_seed000_bug_fails_at_three_steps_from_a_zero_state():
    assert check("sigmoid", 3, zero_state=True, bug="seed000") > BROKEN


def test_identity_hides_seed000_bug():
    """f' = 1: the missing derivative changes nothing, so a check with the identity only cannot see it."""
    assert check("identity", PROPER_T, zero_state=False, bug="seed000") < OK


def test_seed004_check_passes_on_seed004_bug():
    """2 steps, zero state, identity, only W (= Whh) checked: seed 004's published check passes."""
    assert check("identity", 2, zero_state=True, bug="seed004", names=["Whh"]) < OK


def test_seed004_check_would_also_pass_on_seed000_bug():
    assert check("sigmoid", 2, zero_state=True, bug="seed000", names=["Whh"]) < OK


@pytest.mark.parametrize("activation", activations.ACTIVATIONS)
def test_seed004_bug_fails_the_proper_check(activation):
    """>= 3 steps, a non-zero state, every activation, every parameter."""
    assert check(activation, PROPER_T, zero_state=False, bug="seed004") > BROKEN


@pytest.mark.parametrize("T,zero_state", [(3, True), (2, False)])
def test_each_missing_ingredient_alone_catches_seed004_bug(T, zero_state):
    """A third step, or a non-zero initial state, is enough to expose it even on W alone."""
    assert check("identity", T, zero_state, bug="seed004", names=["Whh"]) > BROKEN
