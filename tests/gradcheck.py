"""Central-difference oracle for BPTT gradients, full or truncated (shared by the gradient tests)."""
from __future__ import annotations

import numpy as np

from rnnexp.engine import network


def truncated_objective(spec, params, x, y, h0, h_ref, mask=None):
    """The objective whose exact gradient truncated BPTT computes.

    Step t's loss is recomputed from the *fixed* reference state ``h_ref[t-k]`` (the state entering
    step t-k, in the model's state layout) through steps t-k..t with the given parameters; with
    ``k = None`` it is the plain objective.
    ``mask``: the steps that carry a target (``network.loss_and_grads``). Returns the objective per
    replica ``(R,)``.
    """
    T, R, B, _ = x.shape
    c = network.objective_scale(spec, T, B, mask, R)
    k = spec.truncate
    if k is None or k >= T - 1:
        z, _ = network.forward(spec, params, x, h0)
        return network.step_losses(spec, z, y, mask)[0].sum(axis=(0, 2)) * c
    total = 0.0
    for t in range(T):
        s = max(0, t - k)
        start = h0 if s == 0 else h_ref[s]
        z, _ = network.forward(spec, params, x[s : t + 1], start)
        m = None if mask is None else np.broadcast_to(mask, y.shape)[t : t + 1]
        total = total + network.step_losses(spec, z[-1:], y[t : t + 1], m)[0].sum(axis=(0, 2)) * c
    return total


def reference_states(spec, cache, T):
    """The state entering each step s = 0..T-1: the model's ``state_before``, else ``cache["h"][s]``."""
    before = getattr(spec.impl, "state_before", None)
    return [before(spec, cache, s) if before else cache["h"][s] for s in range(T)]


def _copies(a, K, axis):
    """``a`` repeated K times along its replica axis: replica r of copy k is replica ``k * R + r``."""
    if a is None:
        return None
    axis %= a.ndim
    shape = a.shape[:axis] + (K,) + a.shape[axis:]
    merged = a.shape[:axis] + (K * a.shape[axis],) + a.shape[axis + 1:]
    return np.broadcast_to(np.expand_dims(a, axis), shape).reshape(merged)


def numeric_gradient(spec, params, name, x, y, h0, h_ref=None, eps=1e-6, mask=None):
    """Central differences of the (truncated) objective w.r.t. every element of ``params[name]``.

    Each perturbed network is one more replica: the engine's replicas are independent (the
    objective of replica r depends only on replica r's parameters and data), so all 2 x n
    perturbations of a parameter with n elements per replica run as one forward pass over
    ``2 n R`` replicas, each replica's arithmetic exactly the one of a separate call.
    """
    p = params[name]
    R, n = p.shape[0], p[0].size
    K = 2 * n  # copies: first n with +eps on element j, then n with -eps on element j
    big = {k: _copies(v, K, 0) for k, v in params.items()}
    big[name] = big[name].copy()
    view = big[name].reshape(2, n, R, n)  # (sign, element perturbed, replica, element)
    j = np.arange(n)
    view[0, j, :, j] += eps
    view[1, j, :, j] -= eps
    refs = None if h_ref is None else [_copies(h, K, -3) for h in h_ref]
    big_mask = None if mask is None else _copies(np.broadcast_to(mask, y.shape), K, 1)
    obj = truncated_objective(spec, big, _copies(x, K, 1), _copies(y, K, 1), _copies(h0, K, -3), refs, big_mask)
    up, down = np.asarray(obj).reshape(2, n, R)
    return ((up - down) / (2 * eps)).T.reshape(p.shape)


def max_relative_error(spec, params, x, y, h0, eps=1e-6, grads=None, names=None, mask=None):
    """Largest ``||analytic - numeric|| / max(||analytic||, ||numeric||)`` over parameters and replicas.

    ``grads``: analytic gradients to check (default: the engine's, ``network.loss_and_grads``);
    ``names``: check only these parameters (default: all).
    """
    truncated = spec.truncate is not None and spec.truncate < x.shape[0] - 1
    if grads is None or truncated:
        _, engine, _, cache = network.loss_and_grads(spec, params, x, y, h0, mask=mask)
        grads = engine if grads is None else grads
    h_ref = reference_states(spec, cache, x.shape[0]) if truncated else None
    worst = 0.0
    for name, p in params.items():
        if names is not None and name not in names:
            continue
        num = numeric_gradient(spec, params, name, x, y, h0, h_ref, eps, mask)
        a = grads[name].reshape(p.shape[0], -1)
        n = num.reshape(p.shape[0], -1)
        denom = np.maximum(np.maximum(np.linalg.norm(a, axis=1), np.linalg.norm(n, axis=1)), 1e-12)
        worst = max(worst, float((np.linalg.norm(a - n, axis=1) / denom).max()))
    return worst


def random_problem(spec, R, B, T, seed=0):
    """Parameters with non-zero biases, random inputs and targets, and a non-zero initial state."""
    rngs = [np.random.default_rng([seed, r]) for r in range(R)]
    params = network.init_params(spec, rngs)
    rng = np.random.default_rng(seed + 100)
    for k in params:  # non-zero biases, so every term of the gradient is exercised
        if k.startswith("b"):
            params[k] += 0.3 * rng.normal(size=params[k].shape)
    x = rng.integers(0, 2, (T, R, B, 2)).astype(float)
    y = rng.integers(0, 2, (T, R, B)).astype(float)
    h0 = 0.5 * rng.normal(size=spec.impl.initial_state(spec, R, B).shape)  # every state slice non-zero
    if spec.activation in ("sigmoid", "relu"):
        h0 = np.abs(h0)  # a state this activation can produce
    return params, x, y, h0
