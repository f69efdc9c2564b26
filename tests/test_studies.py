"""The reproductions' presets (conf/experiment/{order,classic,seed000}.yaml), each run through the CLI
as its README says, shrunk (fewer steps, problems and replicas) to keep them working.

Slow: each runs a small multirun in a subprocess (well under a minute on 2 cores).
"""
import numpy as np
import pandas as pd
import pytest
from presets import BLOWUP, TOLERANCE, run_preset, study_sections

pytestmark = pytest.mark.slow


def test_order_preset(tmp_path):
    sweep = run_preset(tmp_path, "order", "train_size=400", "eval_every=400", "epochs=2", "replicas=2")
    s, h = pd.read_csv(sweep / "summary.csv"), pd.read_csv(sweep / "history.csv")
    arms = s.drop_duplicates("job").set_index(["model", "order", "train_set"])["bptt.truncate"]
    assert sorted(arms.index) == [("birnn", "msb", "per_replica"), ("rnn", "lsb", "per_replica"),
                                  ("rnn", "msb", "per_replica"), ("rnn", "msb", "shared")]
    assert arms[("rnn", "lsb", "per_replica")] == 2 and arms[("rnn", "msb", "per_replica")] == 2
    assert arms[("rnn", "msb", "shared")] == 2 and np.isnan(arms[("birnn", "msb", "per_replica")])
    assert (s["hidden"] == 16).all() and (~s["bias"]).all() and (s["loss"] == "softmax").all()
    assert (s["lr_schedule"] == "halve_on_rise").all() and (s["time_reduction"] == "sum").all()
    assert s["seed_acc"].between(0, 1).all()
    assert sorted(h["epoch"].unique()) == [0, 1, 2]
    lsb = h[(h["order"] == "lsb")].groupby("epoch")["eval_loss"].mean()
    assert lsb[2] < lsb[0]  # it learns
    assert study_sections(sweep) == ["Seed 001's metric against the honest ones", TOLERANCE]  # as declared
    assert (sweep / "figures" / "seed_metric.png").is_file() and (sweep / "figures" / "epoch_curves.png").is_file()
    table = pd.read_csv(sweep / "report_seed_metric.csv")
    assert "all-zeros predictor (8 bits, either order)" in set(table["configuration"])
    assert {"model=rnn, order=msb, train_set=per_replica", "model=rnn, order=msb, train_set=shared"} <= \
        set(table["configuration"])  # both data protocols side by side (experiments/order/README.md)


def test_classic_preset(tmp_path):
    sweep = run_preset(tmp_path, "classic", "steps=600", "replicas=3")
    s = pd.read_csv(sweep / "summary.csv")
    assert len(s) == 3 and (s["activation"] == "sigmoid").all() and (s["loss"] == "mse").all()
    assert (s["init"] == "uniform").all() and (s["batch"] == 1).all() and (~s["bias"]).all()
    text = (sweep / "report.md").read_text()
    assert study_sections(sweep) == [TOLERANCE]  # as declared
    assert "| configuration | loss ≤ 0.1 | loss ≤ 0.01 | loss ≤ 0.001 | loss ≤ 0.0001 |" in text
    assert "| all runs | " in text
    h = pd.read_csv(sweep / "history.csv")
    loss = h.groupby("step")["eval_loss"].mean()
    assert loss.iloc[-1] < loss.iloc[0]  # it learns


def test_seed000_preset(tmp_path):
    sweep = run_preset(tmp_path, "seed000", "steps=300", "replicas=3")
    s, h = pd.read_csv(sweep / "summary.csv"), pd.read_csv(sweep / "history.csv")
    assert s["job"].nunique() == 6 and set(s["clip"]) == {"none", "norm"}
    # init.scale multiplies Whh: sigma_max at step 0 in proportion (same draws for every scale)
    sig0 = h[h["step"] == 0].groupby("init.scale")["sigma_max"].median()
    assert sig0[2.0] / sig0[0.25] == pytest.approx(8.0, rel=1e-9)
    assert study_sections(sweep) == ["Gradients across the 1/γ boundary", "Clipping", TOLERANCE, BLOWUP]
    assert (sweep / "figures" / "blowup.png").is_file()
