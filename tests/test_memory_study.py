"""The memory study's section (rnnexp/report/studies/memory.py): success rates with Wilson intervals,
breaking points per task and variant, the dependency length of each task, and the section drawn from
tables of three tasks."""
import math

import numpy as np
import pandas as pd
import pytest

from rnnexp.report import intervals
from rnnexp.report.layout import Layout
from rnnexp.report.studies import _common, memory


def rates(task, variant, by_length):
    return pd.DataFrame([{"task": task, "_variant": variant, "_length": L, "rate": r} for L, r in by_length.items()])


def test_breaking_points():
    r = pd.concat([rates("adding", "lstm", {10: 1, 20: 1, 40: 0.75, 80: 0.25}),
                   rates("adding", "rnn tanh", {10: 0.5, 20: 0.0, 40: 0.5, 80: 0}),  # a lucky 40 after a failed 20
                   rates("adding", "gru", {10: 1, 20: 1, 40: 1, 80: 1}),
                   rates("copy", "lstm", {5: 0, 10: 0})])
    bp = memory.breaking_points(r).set_index(["task", "_variant"])
    assert (bp.loc[("adding", "lstm"), "learnt"], bp.loc[("adding", "lstm"), "failed"]) == (40, 80)
    assert (bp.loc[("adding", "rnn tanh"), "learnt"], bp.loc[("adding", "rnn tanh"), "failed"]) == (10, 20)
    assert bp.loc[("adding", "rnn tanh"), "later"] and not bp.loc[("adding", "lstm"), "later"]
    assert bp.loc[("adding", "gru"), "learnt"] == 80 and pd.isna(bp.loc[("adding", "gru"), "failed"])
    assert pd.isna(bp.loc[("copy", "lstm"), "learnt"]) and bp.loc[("copy", "lstm"), "failed"] == 5


def fake_study(rng):
    """Summary, history and profile of 2 variants x 3 tasks x 2 lengths, 4 replicas each."""
    rows, hist, prof, job = [], [], [], 0
    variants = [dict(model="rnn", activation="tanh", init="xavier", clip="none"),
                dict(model="lstm", activation="tanh", init="xavier", clip="none")]
    points = [("adding", "task.length", 10), ("adding", "task.length", 40), ("copy", "task.length", 5),
              ("copy", "task.length", 20), ("addition", "task.delay", 6), ("addition", "task.delay", 24)]
    for task, key, L in points:
        for v in variants:
            long_ok = v["model"] == "lstm"
            for rep in range(4):
                solved = L <= 10 or (long_ok and rep < 3)
                rows.append({"job": job, "replica": rep, "task": task, "task.length": L if key == "task.length" else np.nan,
                             "task.delay": L if key == "task.delay" else np.nan, **v, "clip.threshold": 1.0,
                             "batch": 32, "steps": 100, "solved": solved, "diverged": False,
                             "steps_to_solve": 50.0 if solved else np.nan, "eval_loss": 0.01 if solved else 0.2,
                             "bits": 4 if task == "addition" else 8, "order": "msb" if task == "addition" else "lsb"})
                for step in (0, 100):
                    hist.append({"job": job, "replica": rep, "step": step, "sigma_max": 1.0})
                    T = L + 3
                    for t in (1, T):
                        prof.append({"job": job, "replica": rep, "step": step, "state": "h", "t": t,
                                     "grad_norm": 1.0 if t == T else (0.5 ** L) * (1 + step / 100)})
            job += 1
    return pd.DataFrame(rows), pd.DataFrame(hist), pd.DataFrame(prof)


@pytest.mark.slow  # two figures: seconds
def test_the_section_from_three_tasks(tmp_path):
    s, h, p = fake_study(np.random.default_rng(0))
    keys = ["task", "task.length", "task.delay", "model"]
    fig_dir = tmp_path / "figures"
    fig_dir.mkdir()
    ctx = _common.Context(summary=s, history=h, profile=p, lengths=None, keys=keys,
                          lay=Layout.make(s, "model", None, []), fig_dir=fig_dir, sub="test")
    md = "\n".join(memory.memory(ctx))
    assert "| rnn tanh | 10 (fails at 40) | 5 (fails at 20) | 6 (fails at 24) |" in md
    assert "| lstm | ≥ 40 | ≥ 20 | ≥ 24 |" in md
    assert "| rnn tanh | 4/4 (50) | 0/4 |" in md  # adding: per-length counts with the median steps
    assert (fig_dir / "memory_success.png").stat().st_size > 0 and (fig_dir / "memory_gradients.png").exists()
    table = pd.read_csv(tmp_path / "memory_rates.csv")
    row = table[(table.task == "copy") & (table.variant == "lstm") & (table.length == 20)].iloc[0]
    assert (row.k, row.n) == (3, 4) and row.lo == pytest.approx(intervals.wilson(3, 4)[0])
    # the constant / memoryless references of each length are quoted beside the losses
    assert "constant predictor's 0.167" in md
    assert f"memoryless predictor's {10 * math.log(8) / 25:.3g}" in md  # copy T=5, K=10 (the default)


def test_a_sweep_without_lengths_says_why(tmp_path):
    s, h, p = fake_study(np.random.default_rng(0))
    s = s[s["task.length"].isin([10, 5]) | s["task.delay"].eq(6)]
    ctx = _common.Context(summary=s, history=h, profile=p, lengths=None, keys=["task", "model"],
                          lay=Layout.make(s, "model", None, []), fig_dir=tmp_path, sub="")
    assert "Not drawn: each task was run at one length only" in "\n".join(memory.memory(ctx))
