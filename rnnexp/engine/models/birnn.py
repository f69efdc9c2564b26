"""Bidirectional Elman RNN (Schuster & Paliwal 1997; seed 004): a forward pass over t = 1..T and a
backward pass over t = T..1 with separate weights, combined per step:

    hf_t = act(x_t Wxh   + hf_{t-1} Whh   + bh)
    hb_t = act(x_t Wxh_b + hb_{t+1} Whh_b + bh_b)
    top_t = [hf_t, hb_t]  (model.merge=concat: the output layer has its own weights for each
                           direction, seed 004's o_t = g(V hf_t + V' hb_t))
          or hf_t + hb_t  (model.merge=sum: one shared output weight)

With ``model.layers > 1``, layer l reads the combined states of layer l-1. Not causal: step t's
output sees the whole sequence, so on msb order it can reach 100 % (the carry comes from later
steps). Truncated BPTT is refused by ``check``: it limits how far back in time a loss reaches, and
the backward direction carries information from the future. The state is ``(2L, R, B, H)``: per
layer, the forward direction's h_0 and the backward direction's h_{T+1}.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import ModelConf, _stack
from ._ops import T_
from .rnn import Cell

MERGES = ("concat", "sum")


@dataclass
class Conf(ModelConf):
    name: str = "birnn"
    merge: str = "concat"  # concat | sum: how the two directions' states combine per step


RULES = {"model.merge": (lambda v: v in MERGES, "one of " + ", ".join(MERGES))}


def check(get):
    if get("bptt.truncate") is not None:
        return (f"model=birnn with bptt.truncate={get('bptt.truncate')} is not allowed: truncated BPTT "
                "needs a causal model (birnn's backward pass reads the future); use bptt.truncate=null")
    return None


def _merge(spec) -> str:
    return spec.options.get("merge", Conf.merge)


def _split(spec, d):
    """dL/dtop -> (dL/dhf, dL/dhb), both in real time order."""
    H = spec.hidden
    return (d[..., :H], d[..., H:]) if _merge(spec) == "concat" else (d, d)


class BiRNN:
    """The ``Model`` protocol (``rnnexp.engine.models``) for the bidirectional RNN: two stacks of the
    Elman cell (``rnn.Cell``), one per direction, driven through ``_stack``'s layer functions."""

    def top_size(self, spec) -> int:
        return 2 * spec.hidden if _merge(spec) == "concat" else spec.hidden

    def initial_state(self, spec, R: int, B: int) -> np.ndarray:
        return np.zeros((2 * _stack.n_layers(spec), R, B, spec.hidden))

    def init_params(self, spec, rngs) -> dict[str, np.ndarray]:
        n_upper = self.top_size(spec)
        p = _stack.init_params(Cell, spec, rngs, n_upper=n_upper)
        p.update(_stack.init_params(Cell, spec, rngs, tag="_b", n_upper=n_upper))
        return p

    def recurrent_weights(self, params) -> np.ndarray:
        """Both directions' ``Whh`` of every layer, block-diagonally."""
        return _stack.recurrent_weights(params)

    def forward(self, spec, params, x, h0=None):
        T, R, B, _ = x.shape
        L, H = _stack.n_layers(spec), spec.hidden
        s0 = np.zeros((2 * L, R, B, H)) if h0 is None else np.reshape(h0, (2 * L, R, B, H))
        inp, layers = x, []
        for l in range(L):
            cf = _stack.layer_forward(Cell, spec, _stack.layer_params(params, l), inp, (s0[2 * l],))
            cb = _stack.layer_forward(Cell, spec, _stack.layer_params(params, l, "_b"), inp[::-1], (s0[2 * l + 1],))
            hf, hb = cf["h"][1:], cb["h"][1:][::-1]  # (T, R, B, H) each, both in real time order
            inp = np.concatenate([hf, hb], axis=-1) if _merge(spec) == "concat" else hf + hb
            layers.append((cf, cb))
        return inp, {"x": x, "layers": layers}

    def backward(self, spec, params, cache, dtop, truncate=None):
        T = dtop.shape[0]
        if truncate is not None and truncate < T - 1:
            raise ValueError("model=birnn: truncated BPTT is not defined for a bidirectional model")
        grads, dout = {}, dtop
        for l in range(len(cache["layers"]) - 1, -1, -1):
            cf, cb = cache["layers"][l]
            lpf, lpb = _stack.layer_params(params, l), _stack.layer_params(params, l, "_b")
            dof, dob = _split(spec, dout)
            dpf = _stack.layer_backward(Cell, spec, lpf, cf, dof)
            dpb = _stack.layer_backward(Cell, spec, lpb, cb, dob[::-1])  # in the backward pass's own order
            grads.update({_stack.pname(k, l): v for k, v in _stack.layer_grads(Cell, lpf, cf, dpf).items()})
            grads.update({_stack.pname(k, l, "_b"): v for k, v in _stack.layer_grads(Cell, lpb, cb, dpb).items()})
            if l:
                dout = dpf @ T_(lpf["Wxh"]) + (dpb @ T_(lpb["Wxh"]))[::-1]
        return grads

    def state_grad_profile(self, spec, params, cache, dtop_last):
        """``||dL_T/dh_t||`` over both directions' states (and all layers), t = 1..T: ``{"h": (R, T)}``.

        As for the causal models, ``h_t`` is what each direction carries to its next step, with partial
        derivatives; the backward direction carries hb_t to step t-1, whose outputs are not L_T's, so
        below t = T the profile is the forward direction's. At t = T it is ``||dL_T/dtop_T||``.
        """
        T, R = cache["x"].shape[0], dtop_last.shape[0]
        sq = np.zeros((R, T))
        dout = np.zeros((T,) + dtop_last.shape, dtop_last.dtype)
        dout[-1] = dtop_last

        def record(to_real):
            def rec(t, dS):
                sq[:, to_real(t)] += (dS[0] * dS[0]).sum(axis=(1, 2))
            return rec

        for l in range(len(cache["layers"]) - 1, -1, -1):
            cf, cb = cache["layers"][l]
            lpf, lpb = _stack.layer_params(params, l), _stack.layer_params(params, l, "_b")
            dof, dob = _split(spec, dout)
            dpf = _stack.layer_backward(Cell, spec, lpf, cf, dof, record(lambda t: t))
            dpb = _stack.layer_backward(Cell, spec, lpb, cb, dob[::-1], record(lambda u: T - 1 - u))
            if l:
                dout = dpf @ T_(lpf["Wxh"]) + (dpb @ T_(lpb["Wxh"]))[::-1]
        sq[:, T - 1] += (dtop_last * dtop_last).sum(axis=(1, 2))
        return {"h": np.sqrt(sq)}


MODEL = BiRNN()
