"""Gradient measurements and clipping, per replica.

Clipping is a separate step after backward; the norm is always measured *before* clipping, and
whether clipping fired is returned, so exploding gradients stay visible in the results.
"""
from __future__ import annotations

import numpy as np

CLIPS = ("none", "norm", "value")


def param_norms(grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """L2 norm of each parameter's gradient, per replica: ``{name: (R,)}``."""
    return {k: np.sqrt((g * g).reshape(g.shape[0], -1).sum(axis=1)) for k, g in grads.items()}


def global_norm(grads: dict[str, np.ndarray]) -> np.ndarray:
    """L2 norm over all parameters, per replica: ``(R,)``.

    Finite gradients always have a finite norm (up to float max): where the sum of squares
    overflows (an entry above ~1e154), the norm is taken again of the gradient divided by its
    largest entry, so that norm clipping scales it to the threshold instead of multiplying it by
    threshold / inf = 0. A NaN or inf entry gives a NaN or inf norm (the replica diverges).
    """
    flat = np.concatenate([g.reshape(g.shape[0], -1) for g in grads.values()], axis=1)  # (R, P)
    with np.errstate(over="ignore"):
        norm = np.sqrt(np.einsum("rp,rp->r", flat, flat))
    over = np.isinf(norm) & np.isfinite(flat).all(axis=1)
    if over.any():
        big = np.abs(flat[over]).max(axis=1, keepdims=True)
        scaled = flat[over] / big
        norm[over] = big[:, 0] * np.sqrt(np.einsum("rp,rp->r", scaled, scaled))
    return norm


def clip(grads: dict[str, np.ndarray], kind: str, threshold: float, norm: np.ndarray) -> np.ndarray:
    """Clip ``grads`` in place; returns whether clipping fired, per replica ``(R,)`` bool.

    - ``norm``: rescale every replica whose global norm exceeds ``threshold`` to that norm
      (Pascanu et al., 2013).
    - ``value``: clamp every element to ``[-threshold, threshold]``.
    """
    if kind == "none":
        return np.zeros(norm.shape, bool)
    if kind == "norm":
        fired = norm > threshold
        factor = np.where(fired, threshold / np.where(fired, norm, 1.0), 1.0)[:, None, None]
        for g in grads.values():
            g *= factor
        return fired
    if kind == "value":
        fired = np.zeros(norm.shape, bool)
        for g in grads.values():
            fired |= (np.abs(g) > threshold).reshape(g.shape[0], -1).any(axis=1)
            np.clip(g, -threshold, threshold, out=g)
        return fired
    raise ValueError(f"clip={kind!r}: allowed values are {', '.join(CLIPS)}")


def largest_singular_value(w: np.ndarray) -> np.ndarray:
    """Largest singular value of each replica's matrix ``(R, H, H) -> (R,)``."""
    with np.errstate(all="ignore"):
        if not np.isfinite(w).all():
            out = np.full(w.shape[0], np.nan)
            ok = np.isfinite(w).reshape(w.shape[0], -1).all(axis=1)
            if ok.any():
                out[ok] = np.linalg.svd(w[ok], compute_uv=False)[:, 0]
            return out
        return np.linalg.svd(w, compute_uv=False)[:, 0]
