"""Weight initialisation schemes, vectorised over replicas.

Every scheme draws one matrix per replica from that replica's own generator, so replica r gets
the same weights however many replicas are drawn beside it.

- ``uniform``:    U[-1, 1)                                  (seeds 000 and 002)
- ``fan_in``:     U(-sqrt(1/fan_in), +sqrt(1/fan_in))       (seed 001)
- ``xavier``:     U(-sqrt(6/(fan_in+fan_out)), +...)        (Glorot & Bengio)
- ``normal``:     N(0, 1/fan_in); for a square matrix the spectral radius is then ~1
- ``orthogonal``: the recurrent matrix is a random orthogonal matrix (all singular values 1);
                  the other matrices use ``xavier``.
- ``identity``:   the recurrent matrix is the identity, so ``Whh = scale * I`` (with ``activation=relu``
                  this is the IRNN of Le, Jaitly & Hinton 2015: through the active units a zero input
                  carries the state, and the gradient, unchanged); gated models get ``scale * I`` in
                  every gate's block. The other matrices use ``normal``, N(0, 1/fan_in), times
                  ``input_scale``: a stated choice (Keras' reproduction of the paper draws them from
                  N(0, 0.001^2); on addition's 2 inputs weights that small learn far more slowly, see
                  the README). Nothing random is drawn for ``Whh``, so replica r's weights still
                  depend on its own generator only.

``scale`` multiplies the recurrent matrix (``Whh``) so a sweep can move its spectral radius;
``input_scale`` multiplies every other weight matrix. Biases start at zero.
"""
from __future__ import annotations

import numpy as np

SCHEMES = ("uniform", "fan_in", "xavier", "normal", "orthogonal", "identity")


def _draw(rng: np.random.Generator, scheme: str, shape: tuple[int, int], recurrent: bool) -> np.ndarray:
    fan_in, fan_out = shape
    if scheme == "uniform":
        return rng.uniform(-1.0, 1.0, shape)
    if scheme == "fan_in":
        lim = np.sqrt(1.0 / fan_in)
        return rng.uniform(-lim, lim, shape)
    if scheme == "identity" and recurrent:
        return np.eye(fan_in, fan_out)  # one (H, H) block: gated models call this once per gate
    if scheme in ("normal", "identity"):
        return rng.normal(0.0, np.sqrt(1.0 / fan_in), shape)
    if scheme == "orthogonal" and recurrent:
        q, r = np.linalg.qr(rng.normal(size=shape))
        return q * np.sign(np.diag(r))  # sign fix makes the distribution uniform (Haar)
    if scheme in ("xavier", "orthogonal"):
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-lim, lim, shape)
    raise ValueError(f"init={scheme!r}: allowed values are {', '.join(SCHEMES)}")


def weights(rngs: list[np.random.Generator], scheme: str, shape: tuple[int, int], *,
            recurrent: bool = False, scale: float = 1.0) -> np.ndarray:
    """One ``shape`` matrix per replica: ``(R, fan_in, fan_out)``."""
    return scale * np.stack([_draw(rng, scheme, shape, recurrent) for rng in rngs])


def zeros(n_replicas: int, size: int) -> np.ndarray:
    """A bias row per replica: ``(R, 1, size)`` (broadcasts over the batch axis)."""
    return np.zeros((n_replicas, 1, size))
