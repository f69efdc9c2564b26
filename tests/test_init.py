"""``init=identity``: ``Whh = init.scale * I`` in every model, layer, direction and gate block; with
``activation=relu`` the IRNN of Le, Jaitly & Hinton 2015. The scheme registry's other promises too:
every scheme has its config file and the pre-launch check takes it."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnexp import cli, config, train
from rnnexp.engine import gradients, init, models, network

ROOT = Path(__file__).resolve().parents[1]
R, H = 3, 5
GATES = {"rnn": 1, "birnn": 1, "lstm": 4, "gru": 3}


def _params(model, layers=2, scale=0.7, input_scale=1.0, seed=0):
    spec = network.NetSpec(hidden=H, model=model, init="identity", scale=scale, input_scale=input_scale,
                           options={"layers": layers})
    return spec, network.init_params(spec, [np.random.default_rng(seed + r) for r in range(R)])


def test_every_scheme_has_its_config_file():
    for name in init.SCHEMES:
        text = (ROOT / "conf" / "init" / f"{name}.yaml").read_text()
        assert f"name: {name}\n" in text
    assert sorted(p.stem for p in (ROOT / "conf" / "init").glob("*.yaml")) == sorted(init.SCHEMES)


@pytest.mark.parametrize("model", models.names())
def test_every_recurrent_block_is_scale_times_identity(model):
    spec, p = _params(model)
    G = GATES[model]
    names = sorted(k for k in p if k.startswith("Whh"))
    # two layers, and birnn's backward direction: Whh, Whh_l1 (+ Whh_b, Whh_b_l1)
    assert names == (["Whh", "Whh_b", "Whh_b_l1", "Whh_l1"] if model == "birnn" else ["Whh", "Whh_l1"])
    for k in names:
        assert p[k].shape == (R, H, G * H)
        for g in range(G):  # each gate's block, every replica: exactly 0.7 * I
            np.testing.assert_array_equal(p[k][:, :, g * H:(g + 1) * H], np.broadcast_to(0.7 * np.eye(H), (R, H, H)))


@pytest.mark.parametrize("model", models.names())
def test_sigma_max_at_the_start_is_the_scale(model):
    """sigma_max is ``init.scale`` for one block per layer (rnn, birnn); a gated layer's
    ``Whh = s [I, ..., I]`` (G blocks side by side) has ``Whh Whh^T = G s^2 I``: s * sqrt(G)."""
    spec, p = _params(model, scale=0.7)
    sigma = gradients.largest_singular_value(spec.impl.recurrent_weights(p))
    np.testing.assert_allclose(sigma, 0.7 * np.sqrt(GATES[model]), rtol=1e-12)


def test_the_other_matrices_are_normal_times_input_scale():
    """Input and output weights: N(0, 1/fan_in) times ``init.input_scale``, drawn as ``init=normal``
    draws them (the identity draws nothing, so the generator positions are the same)."""
    spec, p = _params("rnn", layers=1, input_scale=0.5)
    rngs = [np.random.default_rng(r) for r in range(R)]
    np.testing.assert_array_equal(p["Wxh"], init.weights(rngs, "normal", (2, H), scale=0.5))
    np.testing.assert_array_equal(p["Why"], init.weights(rngs, "normal", (H, 1), scale=0.5))
    assert not p["bh"].any() and not p["by"].any()
    big = init.weights([np.random.default_rng(r) for r in range(4)], "identity", (400, 300))  # not recurrent
    assert abs(big.std() - np.sqrt(1 / 400)) < 0.02 * np.sqrt(1 / 400) and abs(big.mean()) < 1e-3


def test_replica_weights_do_not_depend_on_how_many_are_drawn():
    spec = network.NetSpec(hidden=H, model="lstm", init="identity", options={"layers": 2})
    seqs = np.random.SeedSequence(0).spawn(4)
    four = network.init_params(spec, [np.random.default_rng(s) for s in seqs])
    one = network.init_params(spec, [np.random.default_rng(seqs[2])])
    for k in four:
        np.testing.assert_array_equal(four[k][2], one[k][0])


def test_a_linear_identity_rnn_passes_the_gradient_back_unchanged():
    """With ``activation=identity`` and ``Whh = s I``, ``dh_{t+1}/dh_t = s I`` exactly: the profile
    ``||dL_T/dh_t||`` is ``s^(T-t) ||dL_T/dh_T||``; s = 1 neither vanishes nor explodes."""
    T, B = 6, 4
    for s in (1.0, 0.5):
        spec = network.NetSpec(hidden=H, activation="identity", init="identity", scale=s)
        params = network.init_params(spec, [np.random.default_rng(r) for r in range(R)])
        rng = np.random.default_rng(9)
        x = rng.integers(0, 2, (T, R, B, 2)).astype(float)
        y = rng.integers(0, 2, (T, R, B)).astype(float)
        z, cache = network.forward(spec, params, x)
        prof = network.state_grad_profile(spec, params, cache, z, y)["h"]  # (R, T), t = 1..T
        np.testing.assert_allclose(prof, prof[:, -1:] * s ** np.arange(T - 1, -1, -1), rtol=1e-12)
        assert (prof > 0).all()


@pytest.mark.slow
def test_the_pre_launch_check_accepts_identity_with_every_model():
    cli.precheck(["init=identity", "activation=relu"])
    cli.precheck(["-m", "init=identity", "activation=relu", "model=rnn,birnn,lstm,gru", "init.scale=0",
                  "init.input_scale=0.1", "model.layers=2"])
    c = config.Config(init="identity", activation="relu")
    assert c.init == config.InitConf(name="identity") and config.net_spec(c).init == "identity"
    with pytest.raises(cli.UsageError, match="init=identiy is not allowed: init must be one of fan_in, identity, "):
        cli.precheck(["init=identiy"])


@pytest.mark.slow
def test_an_irnn_learns_lsb_addition():
    """``activation=relu init=identity``, every other setting the default (lsb addition, 8 bits,
    hidden 16, Adam lr 0.01, batch 32, 1000 steps, 10 replicas): measured 8 of 10 replicas solved
    (steps_to_solve 400 to 1000), the other two at bit accuracy 0.89 and 0.85, none diverged. Slower
    than relu with xavier (9/10 solved, by step 200-300): an identity recurrence keeps everything it
    has read, while the carry needs one step of memory."""
    res = train.train(config.Config(activation="relu", init="identity"))
    s, h = res.summary, res.history
    start = h[h["step"] == 0]
    np.testing.assert_allclose(start["sigma_max"], 1.0, rtol=1e-12)  # Whh = I at step 0
    assert start["bit_acc"].max() < 0.75  # it starts knowing nothing ...
    assert s["solved"].sum() >= 7 and s["bit_acc"].mean() > 0.95 and not s["diverged"].any()  # ... and learns


@pytest.mark.slow
def test_the_command_line_runs_an_irnn(tmp_path):
    """``python -m rnnexp activation=relu init=identity init.scale=0.7 model.layers=2``: the config
    file composes, the run records init=identity, and sigma_max at step 0 is 0.7."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cache = tempfile.mkdtemp(prefix="rnnexp-cache-")
    r = subprocess.run([sys.executable, "-m", "rnnexp", "activation=relu", "init=identity", "init.scale=0.7",
                        "model.layers=2", "steps=20", "eval_every=10", "replicas=2", f"cache_dir={cache}",
                        f"hydra.run.dir={tmp_path}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    h = pd.read_csv(tmp_path / "history.csv")
    assert (h["init"] == "identity").all() and (h["activation"] == "relu").all()
    np.testing.assert_allclose(h.loc[h["step"] == 0, "sigma_max"], 0.7, rtol=1e-12)
