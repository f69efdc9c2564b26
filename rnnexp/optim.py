"""Optimizers over dicts of per-replica parameters ``(R, ...)``, with a per-replica learning rate.

A per-replica ``lr: (R,)`` lets the "halve the learning rate when the loss rose" schedule act on
each replica separately. ``step`` returns the proposed new parameters and leaves the old ones
intact, so the caller can refuse the step for a replica that diverged.
"""
from __future__ import annotations

import numpy as np

OPTIMIZERS = ("sgd", "adam")


class SGD:
    """Plain SGD, optionally with (heavy-ball) momentum: ``v = mu v - lr g; p = p + v``."""

    def __init__(self, params, momentum: float = 0.0):
        self.momentum = momentum
        self.v = {k: np.zeros_like(p) for k, p in params.items()} if momentum else None

    def step(self, params, grads, lr, active):
        lr = lr[:, None, None]
        if self.v is None:
            return {k: p - lr * grads[k] for k, p in params.items()}
        new = {}
        for k, p in params.items():
            v = self.momentum * self.v[k] - lr * grads[k]
            self.v[k] = np.where(active[:, None, None], v, self.v[k])
            new[k] = p + v
        return new


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction; the step count is per replica."""

    def __init__(self, params, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.b1, self.b2, self.eps = beta1, beta2, eps
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.s = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = np.zeros(next(iter(params.values())).shape[0])

    def step(self, params, grads, lr, active):
        self.t = self.t + active
        t = np.maximum(self.t, 1)[:, None, None]
        keep = active[:, None, None]
        c1, c2 = 1 - self.b1**t, 1 - self.b2**t
        lr = lr[:, None, None]
        new = {}
        for k, p in params.items():
            g = grads[k]
            m = self.b1 * self.m[k] + (1 - self.b1) * g
            s = self.b2 * self.s[k] + (1 - self.b2) * g * g
            self.m[k] = np.where(keep, m, self.m[k])
            self.s[k] = np.where(keep, s, self.s[k])
            new[k] = p - lr * (m / c1) / (np.sqrt(s / c2) + self.eps)
        return new


def make(name: str, params, *, momentum: float = 0.0, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
    if name == "sgd":
        return SGD(params, momentum)
    if name == "adam":
        return Adam(params, beta1, beta2, eps)
    raise ValueError(f"optimizer={name!r}: allowed values are {', '.join(OPTIMIZERS)}")
