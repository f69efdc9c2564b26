"""Optimizers over dicts of per-replica parameters ``(R, ...)``, with a per-replica learning rate.
Every step runs in the parameters' float (``precision``): learning rates and bias corrections are
converted to it.

A per-replica ``lr: (R,)`` lets the "halve the learning rate when the loss rose" schedule act on
each replica separately. ``step`` returns the proposed new parameters of every replica and leaves
the old ones intact, so the caller can refuse the step for a replica that diverged (the training
loop keeps the old weights of every replica that is not ``active``).

Gradients are paired with parameters **by name**, never by position: an optimizer fixes the
order of the names when it is made (the order of the ``params`` it is given) and packs both the
parameters and the gradients of every step in that order, whatever order their dicts were built
in (a model's backward pass may build its gradients top layer first). A gradient name that is
missing or extra, or a gradient whose shape is not its parameter's, is a ``ValueError`` naming
it. Optimizer state (velocity, moments) is laid out in the same order, so it stays attached to
the same parameter on every step.

The update is element-wise, so it runs once on every parameter packed side by side, ``(R, P)``
(``pack``), instead of once per parameter array: a dozen NumPy calls per step instead of five
dozen, which is most of the optimizer's cost at the sizes studied here. The new parameters are
views into one packed array.

A training step (``rnnexp.train``), per replica: backward; the global gradient norm, measured
*before* clipping (what ``grad_norm`` records); clipping (``rnnexp.gradients.clip``); then the
optimizer step. ``clip=norm`` rescales all of a replica's gradients by ``threshold / norm`` when
its norm (global over every parameter, output layer included) is greater than ``threshold``, and
leaves them as they are otherwise; ``clip=value`` clamps every element to
``[-threshold, threshold]``.

The formulas, per replica r, with its own learning rate ``lr_r`` (element-wise over all weights;
``g`` is the gradient after clipping):

- ``sgd``, ``momentum = mu``: ``v = mu*v - lr_r*g; p = p + v`` with ``v`` starting at 0 (the
  learning rate inside the velocity, as in Sutskever et al. 2013). PyTorch's ``torch.optim.SGD``
  uses ``v = mu*v + g; p = p - lr*v``. The two give the same weights while ``lr`` is constant
  (ours is ``-lr`` times PyTorch's velocity), and differ once it changes (``lr_schedule=
  halve_on_rise``, per replica): here a halved ``lr`` only scales the new gradients, and the
  velocity built under the old ``lr`` decays by ``mu`` per step, so the step size shrinks over
  about ``1/(1-mu)`` steps; in PyTorch the whole step halves at once. ``mu = 0``: ``p = p - lr_r*g``.
- ``adam`` (Kingma & Ba 2015, the same formula as ``torch.optim.Adam``): per replica a step
  count ``t_r`` (counting the steps that replica took), then
  ``m = b1*m + (1-b1)*g; s = b2*s + (1-b2)*g*g;
  p = p - lr_r * (m / (1 - b1**t_r)) / (sqrt(s / (1 - b2**t_r)) + eps)``:
  bias correction with the replica's own step count, and ``eps`` added *outside* the square root
  of the corrected second moment.
- A replica that is not ``active`` (frozen after it diverged) keeps its velocity, its moments and
  its step count; the parameters proposed for it are not used.
"""
from __future__ import annotations

import numpy as np

OPTIMIZERS = ("sgd", "adam")


def pack(arrays: dict[str, np.ndarray], names) -> np.ndarray:
    """``{name: (R, ...)}`` -> ``(R, P)``: the arrays called ``names``, in that order, side by side
    per replica. Every caller says the order, so two packed arrays line up by name."""
    return np.concatenate([arrays[k].reshape(arrays[k].shape[0], -1) for k in names], axis=1)


def unpack(flat: np.ndarray, like: dict[str, np.ndarray], names) -> dict[str, np.ndarray]:
    """The inverse of ``pack(like, names)``: views into ``flat`` with the names and shapes of ``like``."""
    out, i = {}, 0
    for k in names:
        a = like[k]
        n = a[0].size
        out[k] = flat[:, i : i + n].reshape(a.shape)
        i += n
    return out


def check_names(arrays: dict[str, np.ndarray], names: frozenset, what: str) -> None:
    """A ``ValueError`` naming every missing and extra name unless ``arrays`` has exactly ``names``."""
    if arrays.keys() != names:
        missing, extra = sorted(names - arrays.keys()), sorted(arrays.keys() - names)
        raise ValueError(f"optimizer: {what} do not match the parameters by name: "
                         f"missing {missing}, extra {extra}")


class Optimizer:
    """What every optimizer shares: the parameter names, fixed at construction, and pairing by name."""

    def __init__(self, params):
        self.names = tuple(params)  # the packing order of parameters, gradients and state
        self._names = frozenset(self.names)

    def _pack(self, params, grads) -> tuple[np.ndarray, np.ndarray]:
        """Parameters and gradients packed ``(R, P)`` in the optimizer's order of names."""
        check_names(params, self._names, "parameters")
        check_names(grads, self._names, "gradients")
        for k in self.names:
            if grads[k].shape != params[k].shape:
                raise ValueError(f"optimizer: the gradient of {k!r} has shape {grads[k].shape}, "
                                 f"the parameter {params[k].shape}")
        return pack(params, self.names), pack(grads, self.names)

    def _unpack(self, flat, params) -> dict[str, np.ndarray]:
        return unpack(flat, params, self.names)


class SGD(Optimizer):
    """Plain SGD, optionally with (heavy-ball) momentum: ``v = mu*v - lr*g; p = p + v`` (the
    learning rate inside the velocity; see the module docstring for how this differs from
    PyTorch's ``v = mu*v + g; p = p - lr*v`` once the learning rate changes)."""

    def __init__(self, params, momentum: float = 0.0):
        super().__init__(params)
        self.momentum = momentum
        self.v = np.zeros_like(pack(params, self.names)) if momentum else None  # (R, P)

    def step(self, params, grads, lr, active):
        (p, g), lr = self._pack(params, grads), lr[:, None].astype(params[self.names[0]].dtype)
        if self.v is None:
            return self._unpack(p - lr * g, params)
        v = self.momentum * self.v - lr * g
        self.v = v if active.all() else np.where(active[:, None], v, self.v)  # a frozen replica keeps v
        return self._unpack(p + v, params)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction; the step count is per replica:
    ``p = p - lr * (m / (1 - b1**t)) / (sqrt(s / (1 - b2**t)) + eps)``."""

    def __init__(self, params, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(params)
        self.b1, self.b2, self.eps = beta1, beta2, eps
        self.m = np.zeros_like(pack(params, self.names))  # (R, P)
        self.s = np.zeros_like(self.m)
        self.t = np.zeros(self.m.shape[0])  # (R,): steps taken by each replica

    def step(self, params, grads, lr, active):
        (p, g), lr = self._pack(params, grads), lr[:, None].astype(params[self.names[0]].dtype)
        self.t = self.t + active
        t = np.maximum(self.t, 1)[:, None]
        c1, c2 = (1 - self.b1**t).astype(p.dtype), (1 - self.b2**t).astype(p.dtype)
        m = self.b1 * self.m + (1 - self.b1) * g
        s = self.b2 * self.s + (1 - self.b2) * g * g
        if active.all():
            self.m, self.s = m, s
        else:  # a frozen (diverged) replica keeps its moments
            keep = active[:, None]
            self.m, self.s = np.where(keep, m, self.m), np.where(keep, s, self.s)
        return self._unpack(p - lr * (m / c1) / (np.sqrt(s / c2) + self.eps), params)


def make(name: str, params, *, momentum: float = 0.0, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
    if name == "sgd":
        return SGD(params, momentum)
    if name == "adam":
        return Adam(params, beta1, beta2, eps)
    raise ValueError(f"optimizer={name!r}: allowed values are {', '.join(OPTIMIZERS)}")
