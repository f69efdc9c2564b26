"""The new studies' presets (conf/experiment/{gradients,clipping,length,models,memory}.yaml), each run through
the CLI exactly as its README says, shrunk (fewer steps, replicas and grid values) to keep it working.

Slow: each runs a small multirun in a subprocess (well under a minute on 2 cores).
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from presets import BLOWUP, TOLERANCE, run_preset, study_sections

from rnnexp.engine import activations

pytestmark = pytest.mark.slow


def read(sweep: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(sweep / f"{name}.csv")


def test_gradients_preset(tmp_path):
    sweep = run_preset(tmp_path, "gradients", "activation=sigmoid,tanh", "init.scale=0.5,4",
                       "steps=20", "eval_every=10", "replicas=2", "hidden=8")
    s, h, p = read(sweep, "summary"), read(sweep, "history"), read(sweep, "profile")
    assert (s["init"] == "orthogonal").all() and (s["bits"] == 32).all() and len(s) == 8
    # orthogonal Whh times init.scale: every singular value is init.scale at step 0
    h0 = h[h["step"] == 0]
    np.testing.assert_allclose(h0["sigma_max"], h0["init.scale"], rtol=1e-12)
    # Pascanu's bound, at every evaluation: ||dL_T/dh_1|| <= (gamma * sigma_max)^(T-1) ||dL_T/dh_T||
    ph = p[p["state"] == "h"]
    first = ph[ph["t"] == 1].set_index(["job", "step", "replica"])["grad_norm"]
    last = ph[ph["t"] == 32].set_index(["job", "step", "replica"])["grad_norm"]
    hh = h.set_index(["job", "step", "replica"])
    gamma = hh["activation"].map(lambda a: activations.ACTIVATIONS[a].gamma)
    bound = (gamma * hh["sigma_max"]) ** 31 * last
    assert (first <= bound * (1 + 1e-9) + 1e-300).all()
    g = pd.read_csv(sweep / "report_gradients.csv")
    # sigmoid (1/gamma = 4) at 0.5 and 4, tanh (1/gamma = 1) at 0.5 and 4
    assert g["side"].tolist() == ["below", "at", "below", "above"]
    md = (sweep / "report.md").read_text()
    assert study_sections(sweep) == ["Gradients across the 1/γ boundary", TOLERANCE]  # as declared
    for fig in ("gradient_ratio", "success_by_sigma"):
        assert (sweep / "figures" / f"{fig}.png").stat().st_size > 5000 and f"(figures/{fig}.png)" in md


def test_clipping_preset(tmp_path):
    sweep = run_preset(tmp_path, "clipping", "lr=3", "arm=clip_none,clip_norm_0.01,clip_value_1", "steps=30",
                       "eval_every=10", "replicas=2")
    s, h = read(sweep, "summary"), read(sweep, "history")
    assert s["job"].nunique() == 3 and (s["optimizer"] == "sgd").all() and (s["activation"] == "relu").all()
    got = s.drop_duplicates("job").set_index("clip")["clip.threshold"].to_dict()
    assert got == {"none": 1.0, "norm": 0.01, "value": 1.0}  # each arm sets clip and its threshold together
    c = pd.read_csv(sweep / "report_clipping.csv")
    assert c[["clip", "clip.threshold"]].astype(str).values.tolist() == [["none", "–"], ["norm", "0.01"], ["value", "1"]]
    # a threshold of 0.01 on the global norm fires on (almost) every step; the norm is recorded before clipping
    tight = h[(h["clip"] == "norm") & (h["step"] > 0)]
    assert tight["clip_frac"].mean() > 0.9 and (tight["grad_norm_max"] > 0.01).all()
    assert (h.loc[h["clip"] == "none", "clip_frac"] == 0).all()
    md = (sweep / "report.md").read_text()
    assert study_sections(sweep) == ["Clipping", TOLERANCE, BLOWUP]  # as declared
    assert "(figures/clipping.png)" in md


def test_length_preset(tmp_path):
    sweep = run_preset(tmp_path, "length", "model=rnn", "activation=tanh", "hidden=16", "steps=400",
                       "eval_every=100", "replicas=2")
    L = read(sweep, "lengths")
    assert sorted(L["bits_scored"].unique()) == [8, 16, 32, 64] and (L["bits"] == 8).all()
    assert L.groupby("replica").size().eq(4).all()
    md = (sweep / "report.md").read_text()
    assert study_sections(sweep) == ["Did it learn the rule? (other lengths)", TOLERANCE]  # as declared
    assert "(figures/lengths.png)" in md
    assert "100 % at every length |" in md
    # scored at the training length, the lengths table repeats the final evaluation
    s = read(sweep, "summary").set_index(["job", "replica"])
    at8 = L[L["bits_scored"] == 8].set_index(["job", "replica"])
    np.testing.assert_allclose(at8["sum_acc"], s.loc[at8.index, "sum_acc"], rtol=0, atol=0)


def test_models_preset(tmp_path):
    sweep = run_preset(tmp_path, "models", "model=rnn,gru", "bits=8,16,32", "steps=30", "eval_every=10",
                       "replicas=2")
    s = read(sweep, "summary")
    assert sorted(s.groupby(["model", "bits"]).size().index.tolist()) == \
        sorted((m, b) for m in ("rnn", "gru") for b in (8, 16, 32))
    md = (sweep / "report.md").read_text()
    assert study_sections(sweep) == ["Outcome against sequence length", TOLERANCE]  # as declared
    assert "(figures/by_bits.png)" in md
    table = md.split("## Outcome against sequence length")[1]
    assert "| model | 8 bits | 16 bits | 32 bits |" in table


def test_memory_preset(tmp_path):
    sweep = run_preset(tmp_path, "memory", "arm=memory_irnn,memory_gru", "span=adding_25,adding_12,addition_msb_6,"
                       "addition_msb_12", "steps=20", "eval_every=10", "replicas=2", "hidden=4")
    s = read(sweep, "summary").drop_duplicates("job")
    arms = {(r["model"], r["activation"], r["init"], r["clip"]): r["clip.threshold"] for _, r in s.iterrows()}
    assert arms == {("rnn", "relu", "identity", "norm"): 1.0, ("gru", "tanh", "xavier", "none"): 1.0}
    points = set(zip(s["task"], s["task.length"].fillna(0), s["task.delay"].fillna(0), s["bits"], s["order"]))
    assert points == {("adding", 25, 0, 8, "lsb"), ("adding", 12, 0, 8, "lsb"),
                      ("addition", 0, 6, 4, "msb"), ("addition", 0, 12, 4, "msb")}
    assert study_sections(sweep) == ["Where each model stops learning long dependencies"]  # as declared
    r = pd.read_csv(sweep / "memory_rates.csv")
    assert set(r["variant"]) == {"IRNN + clip norm 1", "gru"} and set(r["length"]) == {6, 12, 25}
    assert (r["n"] == 2).all()
    md = (sweep / "report.md").read_text()
    for fig in ("memory_success", "memory_gradients"):
        assert (sweep / "figures" / f"{fig}.png").stat().st_size > 5000 and f"(figures/{fig}.png)" in md
