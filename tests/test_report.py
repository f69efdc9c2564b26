"""Reports built from small real runs: every figure written, the summary table's numbers right, no warnings."""
import itertools
import logging
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from PIL import Image

from rnnexp import config
from rnnexp.report import figures, layout
from rnnexp.report import generic as report
from rnnexp.runs import callbacks, job
from rnnexp.runs import combine as collect

FIGURES = ["convergence_loss", "convergence_sum_acc", "convergence_bit_acc", "outcome_success", "outcome_bit_acc",
           "steps_to_solve", "positions", "gradient_profile", "grad_norm", "sigma_max"]
TINY = ["bits=4", "hidden=3", "replicas=3", "steps=30", "eval_every=10"]  # 64 problems, 4 evaluations
# a linear RNN pushed by a huge step: every replica overflows within a few steps
DIVERGE = ["activation=identity", "init.scale=3", "lr=100", "optimizer=sgd"]


def make_sweep(root: Path, grid: dict[str, list], fixed=(), collect_now=True) -> Path:
    """Train every combination of ``grid`` into ``root/<job>``, as a multirun would, and collect."""
    config.register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config.conf_dir()), version_base="1.3"):
        for i, vals in enumerate(itertools.product(*grid.values())):
            overrides = [*TINY, *fixed, *(f"{k}={v}" for k, v in zip(grid, vals))]
            job.run(compose(config_name="config", overrides=overrides), root / str(i))
    if collect_now:
        collect.collect(root, quiet=True)
    return root


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def build_quietly(root: Path, **kw) -> Path:
    """``report.build`` where any warning fails, and so does any INFO record of matplotlib or seaborn
    (Hydra prints INFO records during a multirun)."""
    records, top = _Records(), logging.getLogger()
    level = top.level
    top.addHandler(records)
    top.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # any warning while building fails the test
            path = report.build(root, **kw)
    finally:
        top.removeHandler(records)
        top.setLevel(level)
    logged = [r.getMessage() for r in records.records if r.name.startswith(("matplotlib", "seaborn"))]
    assert not logged, logged
    return path


def make_report(kind: str, root: Path) -> None:
    """The reports several tests read, made once per session (conftest.py runs this in a fresh process)."""
    root = Path(root)
    if kind == "one_key":  # collected and reported by report.build alone
        make_sweep(root, {"hidden": [2, 4]}, collect_now=False)
        assert not (root / "summary.csv").exists()
        build_quietly(root)  # collects first
    elif kind == "diverged":  # every replica diverges
        make_sweep(root, {"hidden": [2, 4]}, fixed=DIVERGE)
        build_quietly(root, sections=["blowup"])
    else:
        raise ValueError(kind)


def wilson_roots(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson interval as the two roots p of (k/n - p)^2 = z^2 p (1 - p) / n (its definition, solved as
    a quadratic: independent of the closed form in rnnexp.report.intervals)."""
    ph = k / n
    a, b, c = 1 + z * z / n, -(2 * ph + z * z / n), ph * ph
    root = np.sqrt(b * b - 4 * a * c)
    return float(max((-b - root) / (2 * a), 0.0)), float(min((-b + root) / (2 * a), 1.0))


def expected_table(summary: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The summary table, computed directly from the replica rows (independently of the report's code)."""
    rows = []
    for vals, g in (summary.groupby(keys, sort=True) if keys else [((), summary)]):
        solved = g["solved"].astype(bool)
        rows.append({**dict(zip(keys, vals if isinstance(vals, tuple) else (vals,))),
                     "replicas": len(g), "solved": solved.sum(), "success_rate": solved.mean(),
                     **dict(zip(("success_lo", "success_hi"), wilson_roots(solved.sum(), len(g)))),
                     "bit_acc_mean": g["bit_acc"].mean(), "bit_acc_std": g["bit_acc"].std(ddof=1),
                     "sum_acc_mean": g["sum_acc"].mean(), "sum_acc_std": g["sum_acc"].std(ddof=1),
                     "median_steps_to_solve": g["steps_to_solve"].dropna().median(),
                     "diverged": g["diverged"].astype(bool).sum(),
                     "wall_time": (g.drop_duplicates("job") if "job" in g else g.iloc[:1])["wall_time"].sum()})
    return pd.DataFrame(rows)


def check_report(root: Path, keys: list[str]) -> tuple[pd.DataFrame, str]:
    """Every figure exists as a non-empty PNG, report.md shows each, the table matches the replica rows."""
    md = (root / "report.md").read_text()
    for name in FIGURES:
        png = root / "figures" / f"{name}.png"
        assert png.is_file() and png.stat().st_size > 2000, name
        with Image.open(png) as im:  # a real picture: not blank, not a sliver
            assert im.format == "PNG" and min(im.size) > 250, name
            assert len(im.convert("RGB").getcolors(1 << 16) or range(1 << 16)) > 20, name
        assert f"(figures/{name}.png)" in md, name
    for link in re.findall(r"\]\((figures/[^)]+)\)", md):
        assert (root / link).is_file(), link
    summary = pd.read_csv(root / "summary.csv")
    got = pd.read_csv(root / report.SUMMARY_CSV)
    want = expected_table(summary, keys)
    got = got.sort_values(keys).reset_index(drop=True) if keys else got
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=False, rtol=1e-12, atol=0)
    for r in want.to_dict("records"):  # the markdown table shows the same numbers
        assert f"| {int(r['solved'])}/{int(r['replicas'])} |" in md and f"| {int(r['diverged'])} |" in md
        assert f"{r['bit_acc_mean']:.4f}" in md and f"{r['sum_acc_mean']:.4f}" in md
    return got, md


def test_one_key_sweep_collected_by_the_report(one_key_report):
    root = one_key_report  # built by report.build from the job folders alone (make_report, via conftest.py)
    assert all((root / f"{n}.csv").is_file() for n in report.NEEDED)
    _, md = check_report(root, ["hidden"])
    assert md.startswith("# Report: sweep over hidden (2, 4)")


LENGTHS = hasattr(config.Config(), "eval_bits")  # the core's eval_bits setting: score other lengths too


def test_two_key_sweep_with_msb_reference_lines(two_key_sweep):
    root, run = two_key_sweep  # python -m rnnexp -m hidden=2,4 order=lsb,msb ... (conftest.TWO_KEY)
    # the report was built by the sweep's callback: no Python warning (all shown), and nothing
    # logged by matplotlib or seaborn (Hydra's log lines name their logger: [name][LEVEL])
    assert "Warning" not in run.stderr, run.stderr[-3000:]
    assert not [l for l in (run.stdout + run.stderr).splitlines() if "[matplotlib" in l or "[seaborn" in l]
    _, md = check_report(root, ["hidden", "order"])
    assert "at most 0.7344 per bit and 0.4219 whole-sum for 4 bits" in md  # msb limits for 4 bits
    if LENGTHS:  # the length-generalisation figure appears when other lengths were scored
        assert (root / "figures" / "lengths.png").stat().st_size > 2000 and "(figures/lengths.png)" in md
    else:
        assert "lengths.png" not in md


@pytest.mark.slow
def test_three_key_sweep_and_key_choice(tmp_path):
    root = make_sweep(tmp_path, {"hidden": [2, 4], "order": ["lsb", "msb"], "lr": [0.01, 0.1, 0.3]})
    build_quietly(root)
    check_report(root, ["hidden", "lr", "order"])
    t = report.load(root)
    lay = report.choose_layout(t.summary, ["hidden", "order", "lr"])
    assert (lay.hue, lay.col, lay.row) == ("lr", "hidden", ["order"])  # most values -> colour
    assert lay.hue_order == ["0.01", "0.1", "0.3"] and len(set(lay.palette.values())) == 3
    assert lay.row_order == ["order=lsb", "order=msb"]
    lay = report.choose_layout(t.summary, ["hidden", "order", "lr"], hue="order", col="lr")
    assert (lay.hue, lay.col, lay.row) == ("order", "lr", ["hidden"])
    with pytest.raises(ValueError, match="not a column"):
        report.choose_layout(t.summary, ["hidden"], hue="nope")


@pytest.mark.slow
def test_single_run_report_in_the_run_folder(tmp_path):
    config.register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config.conf_dir()), version_base="1.3"):
        job.run(compose(config_name="config", overrides=TINY), tmp_path)
    build_quietly(tmp_path)
    _, md = check_report(tmp_path, [])
    assert md.startswith("# Report: single configuration")


def test_all_diverged_sweep_is_reported_not_dropped(diverged_report):
    root = diverged_report  # hidden 2, 4 with DIVERGE, reported (make_report, via conftest.py)
    summary = pd.read_csv(root / "summary.csv")
    assert summary["diverged"].all(), "this setup should make every replica diverge"
    history = pd.read_csv(root / "history.csv")  # values past any plotting range, as a long run writes
    assert (history["sigma_max"] > layout.OVERFLOW).any() and (history["grad_norm_max"] > layout.OVERFLOW).any()
    got, md = check_report(root, ["hidden"])
    assert (got["diverged"] == got["replicas"]).all()
    assert f"{len(summary)} of {len(summary)} replicas diverged" in md
    assert "No replica reached 100 %" in md


def test_cli_rejects_unknown_keys_and_missing_folders(tmp_path, capsys):
    root = make_sweep(tmp_path, {"hidden": [2, 4]})
    assert report.main([str(root), "--hue", "nope"]) == 1
    assert report.main([str(root), "--hue", "hidden", "--col", "hidden"]) == 1
    err = capsys.readouterr().err
    assert "nope: not a column" in err and "each key may be used once" in err
    assert report.main([str(tmp_path / "missing")]) == 2
    assert not (root / "report.md").exists()


@pytest.mark.slow
def test_cli_rebuilds_with_chosen_keys(tmp_path):
    root = make_sweep(tmp_path, {"hidden": [2, 4], "order": ["lsb", "msb"]})
    assert report.main([str(root), "--hue", "order", "--col", "hidden"]) == 0
    assert "colour: order; columns: hidden" in (root / "report.md").read_text()
    check_report(root, ["hidden", "order"])


def test_a_failing_report_keeps_the_collected_tables(tmp_path, monkeypatch, capsys):
    make_sweep(tmp_path, {"hidden": [2, 4]})
    for name in report.NEEDED:
        (tmp_path / f"{name}.csv").unlink()

    def broken(*a, **k):
        raise RuntimeError("figure code broke")

    monkeypatch.setattr(report, "build", broken)
    callbacks.CollectResults().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    err = capsys.readouterr().err
    assert "figure code broke" in err and "python -m rnnexp.report" in err
    assert all((tmp_path / f"{n}.csv").stat().st_size > 0 for n in report.NEEDED)


def test_msb_limits_equal_the_best_causal_predictor_by_enumeration():
    for bits in (4, 8):
        n = 2 ** (bits - 1)
        a, b = np.meshgrid(np.arange(n), np.arange(n))
        s = a + b
        k = np.arange(bits)[:, None, None]
        xor = ((a >> k) ^ (b >> k)) & 1  # the best guess for bit k before the lower bits are seen
        right = xor == ((s >> k) & 1)  # (bits, n, n)
        np.testing.assert_allclose(figures.msb_bit_limits(bits), right.mean(axis=(1, 2)), atol=1e-15)
        assert figures.msb_per_bit_limit(bits) == pytest.approx(right.mean(), abs=1e-15)
        assert figures.msb_sum_limit(bits) == pytest.approx(right.all(axis=0).mean(), abs=1e-15)
    assert round(figures.msb_per_bit_limit(8), 4) == 0.6245 and round(figures.msb_sum_limit(8), 4) == 0.1335


def test_ci95_brackets_the_mean_and_is_deterministic():
    x = np.array([0.1, 0.5, 0.9, 0.2, 0.4])
    lo, hi = layout.ci95(x)
    assert lo < x.mean() < hi and x.min() <= lo and hi <= x.max()
    assert layout.ci95(x) == (lo, hi)
    assert np.isnan(layout.ci95([0.3])).all()


@pytest.mark.slow
def test_every_multirun_ends_with_a_report(tmp_path):
    cmd = [sys.executable, "-m", "rnnexp", "-m", *TINY, "hidden=2,4", "order=lsb,msb",
           f"hydra.sweep.dir={tmp_path}", "hydra/launcher=basic"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=300)
    assert out.returncode == 0, out.stderr
    assert "report:" in out.stdout and "Warning" not in out.stderr
    check_report(tmp_path, ["hidden", "order"])



def test_overflowed_flags_what_cannot_be_averaged():
    v = np.array([1.0, 1e99, 1e101, np.inf, -np.inf, np.nan, 0.0])
    assert layout.overflowed(v).tolist() == [False, False, True, True, True, True, False]


def test_every_panel_of_a_log_figure_shows_the_arithmetic_mean(two_key_sweep, tmp_path):
    # seaborn averages in the axis' scale: a panel drawn on an already-log shared axis would show
    # geometric means; every panel must show the same statistic
    root, _ = two_key_sweep  # hidden x order (conftest.TWO_KEY): a panel per order, both hiddens in it
    t = report.load(root)
    lay = report.choose_layout(t.summary, ["order"], col="order")  # two panels sharing a log y axis
    assert lay.hue is None
    p = lay.label(t.profile)
    fig = figures.gradient_profile(p, lay, tmp_path / "g.png", "test")
    last = p[p["step"] == p["step"].max()]
    panels = [ax for ax in fig.axes if ax.get_title().startswith("end")]
    assert len(panels) == 2
    for ax in panels:
        order = ax.get_title().split("order=")[1]
        want = last[last["order"] == order].groupby("t")["grad_norm"].mean()
        np.testing.assert_allclose(ax.lines[0].get_ydata(), want.to_numpy(), rtol=1e-12)


def test_msb_replicas_above_the_causal_limit_are_named():
    s = pd.DataFrame({"job": ["0"] * 3 + ["1"] * 3, "hidden": [2] * 3 + [4] * 3, "order": "msb", "bits": 4,
                      "bit_acc": [0.70, 0.80, 0.73, 0.70, 0.71, 0.72], "sum_acc": 0.1, "solved": False,
                      "diverged": False})
    t = report.Tables(s, s, s, s, ["hidden", "order", "bits"])
    [note] = [n for n in report._notes(t, None, ["hidden"]) if n.startswith("msb order")]
    assert "(hidden=2: 1/3 replicas)" in note  # 0.80 > 0.7344, the 4-bit limit
    s["bit_acc"] = 0.7
    [note] = [n for n in report._notes(t, None, ["hidden"]) if n.startswith("msb order")]
    assert "Replicas above" not in note and "0.7344 per bit" in note
