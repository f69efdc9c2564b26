"""Analytic BPTT against central differences, for every activation x loss x bias x truncation.

>= 3 time steps, a non-zero initial state, batch > 1 and replicas > 1, float64.
"""
import itertools

import numpy as np
import pytest
from gradcheck import max_relative_error, random_problem

from rnnexp.engine import activations, gradients, losses, network

R, B, T, H = 3, 4, 5, 6


def _problem(spec, seed=0):
    return random_problem(spec, R, B, T, seed)


CASES = list(itertools.product(activations.ACTIVATIONS, losses.LOSSES, [True, False], [None, 1, 2],
                               network.TIME_REDUCTIONS))


@pytest.mark.parametrize("activation,loss,bias,truncate,time_reduction", CASES)
def test_bptt_matches_central_differences(activation, loss, bias, truncate, time_reduction):
    spec = network.NetSpec(hidden=H, activation=activation, loss=loss, bias=bias, truncate=truncate,
                           time_reduction=time_reduction, init="normal", scale=1.2)
    params, x, y, h0 = _problem(spec)
    assert max_relative_error(spec, params, x, y, h0) < 1e-6


def test_check_detects_a_wrong_gradient():
    """The oracle is not vacuous: truncated gradients are not the gradient of the full objective."""
    spec = network.NetSpec(hidden=H, activation="tanh", truncate=1, init="normal", scale=1.2)
    params, x, y, h0 = _problem(spec)
    _, truncated, _, _ = network.loss_and_grads(spec, params, x, y, h0)
    full = network.NetSpec(hidden=H, activation="tanh", truncate=None, init="normal", scale=1.2)
    _, exact, _, _ = network.loss_and_grads(full, params, x, y, h0)
    err = np.linalg.norm(truncated["Whh"] - exact["Whh"]) / np.linalg.norm(exact["Whh"])
    assert err > 1e-3
    assert max_relative_error(full, params, x, y, h0) < 1e-6


def test_truncation_at_or_beyond_length_is_full_bptt():
    spec = network.NetSpec(hidden=H, truncate=T - 1, init="normal")
    params, x, y, h0 = _problem(spec)
    _, a, _, _ = network.loss_and_grads(spec, params, x, y, h0)
    _, b, _, _ = network.loss_and_grads(network.NetSpec(hidden=H, init="normal"), params, x, y, h0)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-14)


def test_state_gradient_profile_matches_finite_differences():
    """||dL_T/dh_t||: perturb h_t and watch only the last step's batch-mean loss."""
    spec = network.NetSpec(hidden=H, activation="tanh", init="normal", scale=1.3)
    params, x, y, h0 = _problem(spec)
    z, cache = network.forward(spec, params, x, h0)
    prof = network.state_grad_profile(spec, params, cache, z, y)["h"]  # (R, T)
    h = cache["h"]
    eps = 1e-6

    def last_loss(t, hs):  # restart the recursion from state h_t = hs
        if t < T:
            zz = network.forward(spec, params, x[t:], hs)[0][-1:]
        else:  # h_T feeds the last output directly
            zz = (hs @ params["Why"] + params["by"])[None]
        return network.step_losses(spec, zz, y[-1:])[0].mean(axis=(0, 2))  # (R,)

    for t in (1, 3, T):
        g = np.zeros_like(h[t])
        for idx in np.ndindex(h[t].shape[1:]):
            up, down = h[t].copy(), h[t].copy()
            up[(slice(None),) + idx] += eps
            down[(slice(None),) + idx] -= eps
            g[(slice(None),) + idx] = (last_loss(t, up) - last_loss(t, down)) / (2 * eps)
        np.testing.assert_allclose(prof[:, t - 1], np.sqrt((g * g).sum(axis=(1, 2))), rtol=1e-6)


def test_norm_clipping_rescales_only_replicas_above_threshold():
    g = {"W": np.array([[[3.0, 4.0]], [[0.3, 0.4]]])}  # norms 5 and 0.5
    norm = gradients.global_norm(g)
    fired = gradients.clip(g, "norm", 1.0, norm)
    assert fired.tolist() == [True, False]
    np.testing.assert_allclose(gradients.global_norm(g), [1.0, 0.5])


def test_norm_clipping_of_a_gradient_whose_squares_overflow_scales_it_to_the_threshold():
    # (3e200, 4e200): its squares overflow; its norm, 5e200, does not. It used to be inf and the update 0.
    g = {"W": np.array([[[3e200, 4e200]], [[0.3, 0.4]], [[np.nan, 1.0]]]), "b": np.array([[[1e200]], [[0.0]], [[0.0]]])}
    norm = gradients.global_norm(g)
    np.testing.assert_allclose(norm[:2], [np.sqrt(26) * 1e200, 0.5], rtol=1e-14)
    assert np.isnan(norm[2])  # a NaN gradient stays visible (that replica diverges)
    fired = gradients.clip(g, "norm", 1.0, norm)
    assert fired.tolist() == [True, False, False]
    np.testing.assert_allclose(g["W"][0, 0], np.array([3, 4]) / np.sqrt(26), rtol=1e-14)
    np.testing.assert_allclose(gradients.global_norm(g)[:2], [1.0, 0.5], rtol=1e-14)


def test_value_clipping_clamps_elements():
    g = {"W": np.array([[[3.0, -0.5]], [[0.3, 0.4]]])}
    fired = gradients.clip(g, "value", 1.0, gradients.global_norm(g))
    assert fired.tolist() == [True, False]
    np.testing.assert_array_equal(g["W"], [[[1.0, -0.5]], [[0.3, 0.4]]])


def test_largest_singular_value():
    w = np.stack([np.diag([3.0, 1.0]), 2 * np.eye(2)])
    np.testing.assert_allclose(gradients.largest_singular_value(w), [3.0, 2.0])
    w[1, 0, 0] = np.nan
    out = gradients.largest_singular_value(w)
    assert out[0] == pytest.approx(3.0) and np.isnan(out[1])


@pytest.mark.parametrize("name,dtype", [(n, d) for n in [*losses.LOSSES, "squared", "softmax2", "softmax10"]
                                        for d in (np.float64, np.float32)])
def test_every_loss_returns_a_gradient_of_its_own(name, dtype, compiled_kernels):
    """``network._loss_and_grads`` scales ``dz`` in place: it must not be a view of the logits.
    (float32's softmax is a compiled kernel: ``compiled_kernels`` runs this after their compilation.)"""
    loss = losses.get(name)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, 2, 4, loss.n_out)).astype(dtype)
    y = rng.integers(0, max(2, loss.n_out), (3, 2, 4)).astype(dtype)
    before = z.copy()
    _, dz = loss.loss_and_grad(z, y)
    assert dz.flags.writeable and not np.shares_memory(dz, z) and not np.shares_memory(dz, y)
    dz *= 2.0
    np.testing.assert_array_equal(z, before)
