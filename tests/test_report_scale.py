"""Reports that scale and stay honest: bounded figures for sweeps of hundreds of jobs and for sampled
(Optuna) values, binomial intervals for success rates, several sweep dirs in one report, vector
figures, and the committed example report kept current.

The big sweeps are fake: the README example's reference tables (tests/reference/example), each of
its 6 jobs copied into 200 jobs that get new settings. Nothing is trained.
"""
import functools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from omegaconf import OmegaConf
from PIL import Image
from test_report import wilson_roots

from rnnexp import config
from rnnexp.report import compare, figures, files, intervals, layout, outcomes, roles
from rnnexp.report import generic as report
from rnnexp.runs import results

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference" / "example"
EXAMPLE = ROOT / "experiments" / "example_sweep"
EXAMPLE_COMMAND = ["hidden=4,8,16", "order=lsb,msb"]  # the README's example sweep (tests/reference/make.py)
DRAWN = ("convergence", "steps_to_solve", "positions", "lengths", "gradient_profile", "grad_norm", "sigma_max")



@functools.cache
def _reference(name: str) -> pd.DataFrame:
    """A recorded table with the config columns added since the recording (``task``, ``task.delay``, any new
    setting), at today's defaults and in today's column order: what the same sweep writes today."""
    df = pd.read_csv(REFERENCE / f"{name}.csv.gz")
    today = results.config_columns(OmegaConf.structured(config.Config()))  # {column: default}, in table order
    for i, (col, value) in enumerate(today.items()):
        if col not in df.columns:
            df.insert(1 + i, col, value)
    return df


def reference_tables() -> dict[str, pd.DataFrame]:
    """The example sweep's combined tables as a sweep writes them today (the task columns after ``job``)."""
    return {name: _reference(name).copy() for name in ("summary", "history", "profile", "positions", "lengths")}


def write(root: Path, tables: dict[str, pd.DataFrame], command=None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(root / f"{name}.csv", index=False)
    if command:  # what Hydra records in a sweep dir: the command's overrides
        OmegaConf.save({"hydra": {"overrides": {"task": command}}}, root / "multirun.yaml")
    return root


def fake_sweep(n_jobs: int, settings, names=None) -> dict[str, pd.DataFrame]:
    """``n_jobs`` jobs made of the reference's 6 (job i copies job i % 6); ``settings(i)`` -> job i's settings."""
    per_job = pd.DataFrame([settings(i) for i in range(n_jobs)])
    out = {}
    for name, df in reference_tables().items():
        if names and name not in names:
            continue
        rows = {j: np.flatnonzero(df["job"].to_numpy() == j) for j in range(6)}
        idx = np.concatenate([rows[i % 6] for i in range(n_jobs)])
        job = np.repeat(np.arange(n_jobs), [len(rows[i % 6]) for i in range(n_jobs)])
        big = df.iloc[idx].reset_index(drop=True).assign(job=job)
        for k in per_job:
            big[k] = per_job[k].to_numpy()[job]
        out[name] = big
    return out


RNG = np.random.default_rng(0)
LR, SCALE = 10 ** RNG.uniform(-3, -1, 200), RNG.uniform(0.25, 2, 200)
GRID = lambda i: {"hidden": i // 2 + 1, "order": ("lsb", "msb")[i % 2]}  # noqa: E731  hidden=range(1,101) x order
SAMPLED = lambda i: {"lr": LR[i], "init.scale": SCALE[i], "hidden": 8, "order": "lsb"}  # noqa: E731  an Optuna search


# --- binomial intervals --------------------------------------------------------------------------

def test_wilson_interval_is_the_quadratics_roots_and_never_zero_width():
    assert intervals.wilson(10, 10) == (pytest.approx(0.7225, abs=5e-5), 1.0)  # Clopper-Pearson: [0.69, 1]
    assert intervals.wilson(0, 10) == (0.0, pytest.approx(0.2775, abs=5e-5))
    for k, n in [(0, 3), (1, 3), (9, 10), (5, 10), (37, 50), (1, 1)]:
        lo, hi = intervals.wilson(k, n)
        assert (lo, hi) == pytest.approx(wilson_roots(k, n), abs=1e-12)
        assert hi - lo > 0.05 and lo <= k / n <= hi
    lo, hi = intervals.wilson(np.array([0, 10]), np.array([10, 10]))
    assert lo.tolist() == [0.0, pytest.approx(0.7225, abs=5e-5)] and hi.tolist()[1] == 1.0
    assert intervals.band([1.0, 1.0, np.nan, 1.0]) == intervals.wilson(3, 3)
    assert intervals.text(10, 10) == "[0.72, 1]" and intervals.text(0, 10, percent=True) == "[0–28 %]"
    # a bootstrap of 0/1 outcomes is what the rates no longer use: zero width at 10/10
    assert layout.ci95(np.ones(10)) == (1.0, 1.0)


# --- layout roles and bounds ---------------------------------------------------------------------

def test_many_values_get_a_continuous_colour_or_other_never_a_panel_per_value():
    grid = fake_sweep(200, GRID, ["summary"])["summary"]
    lay = roles.choose_layout(grid, ["hidden", "order"])
    assert (lay.hue, lay.col, lay.row, lay.continuous) == ("hidden", "order", [], True)
    assert layout.hue_handles(lay) == []  # a colour bar, not a 100-entry legend
    with pytest.raises(ValueError, match="--col hidden: 100 values, a panel key may have at most 8"):
        roles.choose_layout(grid, ["hidden", "order"], hue="order", col="hidden")
    # every value sampled once: no key is "set by" another, both keep a role or are shown against the outcome
    sampled = fake_sweep(200, SAMPLED, ["summary"])["summary"]
    assert roles.paired(sampled, ["lr", "init.scale"]) == []
    lay = roles.choose_layout(sampled, ["init.scale", "lr"])
    assert lay.continuous and lay.unplaced == ["lr"] and roles.sampled(lay) == ["init.scale", "lr"]
    # a categorical key with more values than colours: the first ones keep a colour, the rest are one grey
    cat = grid.assign(activation=[f"act{j % 15}" for j in grid["job"]])
    lay = roles.choose_layout(cat, ["activation", "order"])
    assert lay.hue == "activation" and len(lay.hue_order) == layout.MAX_COLOURS and lay.hue_order[-1] == "other (6 values)"
    assert set(lay.label(cat)["_hue"]) == set(lay.hue_order)
    # panels stay bounded: with a colour and a column key, a third key of 8 values fits, a fourth does not
    many = grid.assign(a=grid["job"] // 3 % 8, b=grid["job"] // 5 % 7)  # neither set by another key
    lay = roles.choose_layout(many, ["hidden", "order", "a", "b"])
    assert lay.col == "a" and lay.row == ["order"] and lay.unplaced == ["b"]
    assert len(lay.col_order) * len(lay.row_order) <= layout.MAX_PANELS


def test_a_figure_larger_than_the_cap_is_written_smaller_and_as_svg_on_request(tmp_path):
    fig = Figure(figsize=(80, 12), dpi=100)
    fig.subplots().plot([0, 1], [1, 0])
    token = files.VECTOR.set("svg")
    try:
        files.save(fig, tmp_path / "big.png")
    finally:
        files.VECTOR.reset(token)
    with Image.open(tmp_path / "big.png") as im:
        assert max(im.size) <= files.MAX_SIDE_PX and im.size[0] > 2900
    assert (tmp_path / "big.svg").read_text().lstrip().startswith("<?xml")
    files.save(fig, tmp_path / "again.png")  # VECTOR unset again: PNG only
    assert not (tmp_path / "again.svg").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["grid", "sampled"])
def test_a_200_job_sweep_gets_bounded_figures(kind, tmp_path):
    root = write(tmp_path, fake_sweep(200, GRID if kind == "grid" else SAMPLED))
    md = report.build(root).read_text()
    pngs = sorted((root / "figures").glob("*.png"))
    assert len(pngs) >= 11 and (root / "figures" / "outcome_by_setting.png").is_file()
    for png in pngs:  # the layout bounds them (two panels at most here), well before the backstop
        with Image.open(png) as im:
            assert im.size[0] <= 1300 and im.size[1] <= 700, (png.name, im.size)
    title = md.splitlines()[0]
    assert len(title) < 120 and ("hidden (100 values, 1–100)" in title if kind == "grid" else "200 values" in title)
    assert "(figures/outcome_by_setting.png)" in md
    assert md.count("\n| ") == 1 + 200  # the summary table keeps every configuration


# --- several dirs, one report --------------------------------------------------------------------

def split(tables, jobs):
    return {n: df[df["job"].isin(jobs)] for n, df in tables.items()}


def test_dirs_with_other_settings_are_refused_in_one_line(tmp_path, capsys):
    t = reference_tables()
    a = write(tmp_path / "a", split(t, [0, 1]))
    b = write(tmp_path / "b", {n: df.drop(columns="task.delay") for n, df in split(t, [2, 3]).items()})
    assert report.main([str(a), str(b), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err == (f"rnnexp.report: error: {b} cannot be compared with {a}: its tables lack the settings task.delay "
                   "(made by another version of rnnexp?)\n")
    assert not (tmp_path / "out" / "report.md").exists()


def test_stacking_dirs_keeps_repeated_configurations_apart():
    t = reference_tables()
    cols = list(t["summary"].columns[1:t["summary"].columns.get_loc("replica")])
    parts = [split(t, [0, 1, 2, 3]), split(t, [2, 3, 4, 5])]  # hidden 4, 8 and hidden 8, 16: hidden=8 in both
    tables, keys = compare.combine(parts, [cols, cols], [Path("runs/sweeps/d1/a"), Path("runs/sweeps/d2/b")])
    assert keys[0] == compare.SWEEP and tables["summary"]["job"].nunique() == 8
    assert sorted(set(tables["summary"][compare.SWEEP])) == ["d1/a", "d2/b"]
    tables, keys = compare.combine([split(t, [0, 1]), split(t, [4, 5])], [cols, cols], [Path("a"), Path("b")])
    assert keys == cols and len(tables["summary"]) == 40  # nothing repeats: no sweep column


@pytest.mark.slow
def test_several_sweep_dirs_make_one_report(tmp_path):
    t = reference_tables()
    a = write(tmp_path / "a", split(t, [0, 1, 2, 3]), EXAMPLE_COMMAND)  # hidden 4, 8
    b = write(tmp_path / "b", split(t, [4, 5]), ["hidden=16", "order=lsb,msb"])
    out = tmp_path / "both"
    assert report.main([str(a), str(b), "--out", str(out), "--format", "pdf"]) == 0
    md = (out / "report.md").read_text()
    assert md.startswith("# Report: sweep over hidden (4, 8, 16) × order (lsb, msb)")
    assert f"- `{b}`: `python -m rnnexp -m hidden=16 order=lsb,msb`" in md
    assert len(pd.read_csv(out / report.SUMMARY_CSV)) == 6 and (out / "summary.csv").is_file()
    assert (out / "figures" / "outcome_success.pdf").read_bytes()[:4] == b"%PDF"
    assert not (a / "report.md").exists()  # the compared dirs are read, not written
    # a sweep's report.format (what the sweep recorded): a vector copy of each figure, report.md shows the PNGs
    OmegaConf.save({"hydra": {"overrides": {"task": EXAMPLE_COMMAND}}, "report": {"format": "svg"}}, a / "multirun.yaml")
    assert report.main([str(a)]) == 0
    assert (a / "figures" / "sigma_max.svg").is_file() and "(figures/sigma_max.png)" in (a / "report.md").read_text()


# --- the committed example report ----------------------------------------------------------------

def masked(md: str) -> str:
    """report.md without what changes between two builds of the same tables: the build's date and command,
    and the measured wall times (the summary table's last column)."""
    md = re.sub(r"built \d{4}-\d\d-\d\d \d\d:\d\d by `[^`]*`", "built <date> by <command>", md)
    return re.sub(r"\| [0-9.]+ \|$", "| <s> |", md, flags=re.M)


def test_the_committed_example_report_is_current(tmp_path, monkeypatch):
    """experiments/example_sweep/report.md is what the code writes today for the README's example sweep
    (its recorded tables, tests/reference/example). Regenerate it when this fails (README: Reports)."""
    root = write(tmp_path / "sweep", reference_tables(), EXAMPLE_COMMAND)
    # the markdown is compared, not the pictures: no figure is drawn (drawing them takes seconds)
    for module, names in ((figures, DRAWN), (outcomes, ("heatmap", "against", "by_setting"))):
        for name in names:
            monkeypatch.setattr(module, name, lambda *a, **k: None)
    got = masked(report.build(root).read_text())
    want = masked((EXAMPLE / "report.md").read_text())
    assert got == want, "experiments/example_sweep/report.md is stale: regenerate it (README: Reports)"
    for link in re.findall(r"\]\((figures/[^)]+)\)", want):
        assert (EXAMPLE / link).is_file(), link
