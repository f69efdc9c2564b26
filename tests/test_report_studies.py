"""The report's study sections (rnnexp/report/studies: gradients, clipping, length, models): the numbers they
show, and what a declared section says when the tables cannot fill it."""
import pytest
import numpy as np
import pandas as pd

from test_report import build_quietly, make_sweep

from rnnexp.report import generic as report
from rnnexp.report.studies import clipping, gradients
from rnnexp.report.studies._common import Context
from rnnexp.runs import combine as collect


def tiny_profile():
    """Two jobs x 2 replicas x evaluations at steps 0, 10, 20, T = 3; grad_norm = 10^(t - 3) * (1 + job)."""
    rows = []
    for job in (0, 1):
        for step in (0, 10, 20):
            for rep in (0, 1):
                for t in (1, 2, 3):
                    rows.append({"job": str(job), "step": step, "replica": rep, "state": "h", "t": t,
                                 "grad_norm": 10.0 ** (t - 3) * (1 + job) * (1 + step)})
                    rows.append({"job": str(job), "step": step, "replica": rep, "state": "c", "t": t,
                                 "grad_norm": 5.0})  # an LSTM's cell state: not the ratio's state
    return pd.DataFrame(rows)


def tiny_history():
    return pd.DataFrame([{"job": str(j), "step": s, "replica": r, "sigma_max": 0.5 * (1 + j) + s / 100}
                         for j in (0, 1) for s in (0, 10, 20) for r in (0, 1)])


def test_gradient_ratio_is_first_over_last_state_h_at_the_first_and_last_evaluation():
    r = gradients.gradient_ratios(tiny_history(), tiny_profile())
    assert sorted(r["phase"].unique()) == ["end", "start"] and len(r) == 2 * 2 * 2
    assert set(r.loc[r["phase"] == "start", "step"]) == {0} and set(r.loc[r["phase"] == "end", "step"]) == {20}
    np.testing.assert_allclose(r["ratio"], 1e-2)  # 10^(1-3) / 10^0, whatever the scale
    np.testing.assert_allclose(r["sigma_max"], 0.5 * (1 + r["job"].astype(int)) + r["step"] / 100)
    assert (r["T"] == 3).all()




def test_unclipped_runs_differing_only_in_the_threshold_are_counted_once():
    rows = []
    for job, (clip, th, lr) in enumerate([("none", 0.1, 1), ("none", 1.0, 1), ("norm", 0.1, 1), ("norm", 1.0, 1),
                                          ("none", 0.1, 3), ("none", 1.0, 3)]):
        for rep in (0, 1):
            rows.append({"job": str(job), "replica": rep, "clip": clip, "clip.threshold": th, "lr": lr,
                         "bit_acc": 0.5 + 0.1 * rep + (lr == 3) * 0.2})
    s = pd.DataFrame(rows)
    out, dropped, same = clipping.dedupe_unclipped(s, ["clip", "clip.threshold", "lr"])
    assert dropped == 2 and same
    assert sorted(out["job"].unique()) == ["0", "2", "3", "4"]
    assert out.loc[out["clip"] == "none", "clip.threshold"].isna().all()
    assert out.loc[out["clip"] == "norm", "clip.threshold"].tolist() == [0.1, 0.1, 1.0, 1.0]
    s.loc[(s["job"] == "1") & (s["replica"] == 0), "bit_acc"] = 0.9  # a run that is not the same training
    assert clipping.dedupe_unclipped(s, ["clip", "clip.threshold", "lr"])[2] is False
    assert clipping.dedupe_unclipped(s, ["clip", "lr"])[1] == 0  # threshold not swept: nothing to merge


@pytest.mark.slow
def test_declared_sections_the_tables_cannot_fill_say_why(tmp_path):
    root = make_sweep(tmp_path, {"hidden": [2, 3]})  # no eval_bits: scored at the training length only
    md = build_quietly(root, sections=["lengths", "clipping", "bits"]).read_text()
    assert "## Did it learn the rule? (other lengths)\n\nNot drawn: the final models were scored at their " \
           "training length only (set `eval_bits`" in md
    # clipping and bits need no swept key of their own: declared, they are drawn from what there is
    assert "## Clipping\n" in md and "(figures/clipping.png)" in md
    assert "## Outcome against sequence length\n" in md and "(figures/by_bits.png)" in md
    # a gradient profile over one time step has no ratio of the first step's gradient to the last's
    t = report.load(root)
    keys = collect.swept_keys(t.summary, t.config_columns)
    ctx = Context(t.summary, t.history, t.profile[t.profile["t"] == 1], None, keys,
                  report.choose_layout(t.summary, keys), root / "figures", "test")
    why = "Not drawn: the runs recorded no gradient profile over two or more time steps."
    assert gradients.gradients(ctx) == ["## Gradients across the 1/γ boundary", "", why, ""]


def test_a_models_own_setting_is_paired_with_the_model_in_either_order():
    # model=rnn,gru,lstm: model.forget_bias is null for rnn and gru, 1 for lstm; hidden is crossed with both
    s = pd.DataFrame({"model": ["rnn", "gru", "lstm"] * 2, "model.forget_bias": [np.nan, np.nan, 1.0] * 2,
                      "hidden": [4] * 3 + [16] * 3})
    assert collect.paired_keys(s, ["model", "model.forget_bias", "hidden"]) == ["model.forget_bias"]
    assert collect.paired_keys(s, ["model.forget_bias", "model", "hidden"]) == ["model.forget_bias"]
    assert collect.paired_keys(s, ["model", "hidden"]) == []
