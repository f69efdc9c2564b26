"""The reproductions' report sections (rnnexp/report/studies: order, classic, seed000) and the swept-key helpers
they rely on."""
import shutil

import numpy as np
import pytest
import pandas as pd
from PIL import Image
from test_report import build_quietly, make_sweep

from rnnexp.report import figures
from rnnexp.report import generic as report
from rnnexp.report.studies import classic, order
from rnnexp.runs import combine as collect
from rnnexp.tasks.addition import data

FIXED_SET = ["train_size=16", "batch=4", "epochs=3", "eval_every=4"]  # seed_acc is recorded


def test_swept_keys_count_null_as_a_value():
    s = pd.DataFrame({"model": ["rnn", "rnn", "birnn"], "bptt.truncate": [2.0, 2.0, np.nan],
                      "order": ["lsb", "msb", "msb"], "hidden": [8, 8, 8]})
    assert collect.swept_keys(s, list(s.columns)) == ["model", "bptt.truncate", "order"]
    assert collect.paired_keys(s, ["model", "bptt.truncate", "order"]) == ["bptt.truncate"]
    # not one-to-one: model=rnn goes with both orders
    assert collect.paired_keys(s, ["model", "order"]) == []


def test_layout_gives_a_paired_key_no_role():
    s = pd.DataFrame({"model": ["rnn", "rnn", "birnn"], "bptt.truncate": [2.0, 2.0, np.nan],
                      "order": ["lsb", "msb", "msb"]})
    lay = report.choose_layout(s, ["model", "bptt.truncate", "order"])
    assert (lay.hue, lay.col, lay.row) == ("model", "order", [])


def test_all_zeros_predictor_scores():
    """Independently: the seed's metric never counts a 0 as an error; one problem (0 + 0) is all zeros."""
    a, b = data.all_problems(8)
    sums = data.add(a, b)  # (N, 8) bits
    z = order.all_zeros_scores(8, "msb")
    assert z["seed_acc"] == 1.0
    assert z["bit_acc"] == (sums == 0).mean()
    assert z["sum_acc"] == 1 / 16384


def test_steps_to_tolerance_first_crossing():
    h = pd.DataFrame({"job": "0", "replica": [0, 0, 0, 1, 1, 1], "step": [0, 10, 20] * 2,
                      "eval_loss": [0.5, 0.05, 0.2, 0.5, 0.5, 0.009]})
    st = classic.steps_to_tolerance(h, (0.1, 0.01))
    got = st.set_index(["tolerance", "replica"])["step"]
    assert got[(0.1, 0)] == 10 and got[(0.1, 1)] == 20  # first time at or under, even if it rises again
    assert np.isnan(got[(0.01, 0)]) and got[(0.01, 1)] == 20


def test_seed_metric_and_tolerance_sections(two_key_sweep):
    root, _ = two_key_sweep  # hidden x order on FIXED_SET, through the CLI (conftest.TWO_KEY)
    text = (root / "report.md").read_text()
    assert "## Seed 001's metric against the honest ones" in text
    assert "## Steps to reach a loss tolerance (seed 003's view)" in text
    for name in ("seed_metric", "epoch_curves"):
        img = Image.open(root / "figures" / f"{name}.png")
        assert img.size[0] > 300 and len(img.getcolors(256 * 256) or []) > 20  # a real picture
    table = pd.read_csv(root / "report_seed_metric.csv")
    s = pd.read_csv(root / "summary.csv")
    for h in (2, 4):
        msb = s[(s["order"] == "msb") & (s["hidden"] == h)]
        row = table[table["configuration"] == f"hidden={h}, order=msb"].iloc[0]
        assert row["seed 001's metric, mean [min–max]"].startswith(f"{msb['seed_acc'].mean():.3f} [")
    epochs = pd.read_csv(root / "report_epoch_loss.csv")
    assert list(epochs["epoch"]) == [0, 1, 2, 3]


def test_a_sweep_that_declares_no_section_gets_the_generic_report_only(one_key_report):
    text = (one_key_report / "report.md").read_text()  # hidden 2, 4, fresh problems (conftest.py)
    assert "Seed 001's metric" not in text
    assert "Steps to reach a loss tolerance" not in text  # a study section only where a preset declares it


@pytest.mark.slow
def test_a_declared_seed_metric_without_a_fixed_set_says_why(one_key_report, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(one_key_report, root)  # the session's report is read by other tests: work on a copy
    text = build_quietly(root, sections=["seed_metric", "tolerance"]).read_text()
    assert "## Seed 001's metric against the honest ones\n\nNot drawn: the runs recorded no `seed_acc`" in text
    assert not (root / "report_seed_metric.csv").exists()
    assert "## Steps to reach a loss tolerance" in text


def test_blowup_section_when_a_replica_diverges(diverged_report):
    root = diverged_report  # hidden 2, 4 with test_report.DIVERGE (conftest.py)
    text = (root / "report.md").read_text()  # built with sections=["blowup"] (conftest.py)
    assert "## Weights and gradients blowing up" in text and "or a replica diverged. Per configuration" in text
    assert (root / "figures" / "blowup.png").is_file()
    table = pd.read_csv(root / "report_blowup.csv")
    s = pd.read_csv(root / "summary.csv")
    assert [int(x.split("/")[0]) for x in table["diverged"]] == s.groupby("hidden")["diverged"].sum().tolist()


def test_xor_predictor_is_the_msb_limit():
    """a XOR b reaches exactly the best causal scores in msb order (figures' closed forms)."""
    for bits in (4, 8):
        z = order.xor_scores(bits)
        assert z["bit_acc"] == pytest.approx(figures.msb_per_bit_limit(bits), abs=1e-12)
        assert z["sum_acc"] == pytest.approx(figures.msb_sum_limit(bits), abs=1e-12)
        assert 0 < z["seed_acc"] < 1


@pytest.mark.slow
def test_a_declared_blowup_says_when_nothing_blew_up(tmp_path):
    root = make_sweep(tmp_path, {"hidden": [2]})
    text = build_quietly(root, sections=["blowup"]).read_text()
    assert "No replica's gradient norm grew 100-fold over its start, and none diverged." in text
    assert "Some replica's gradient norm grew" not in text
