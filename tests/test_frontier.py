"""The frontier sweeper (``hydra/sweeper=frontier``): its search on a fake success function, its
settings' refusals, and end to end on a task whose boundary is known exactly, through the CLI."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from hydra_plugins.rnnexp_frontier_sweeper import _core
from hydra_plugins.rnnexp_frontier_sweeper._search import Search

ROOT = Path(__file__).resolve().parents[1]


def search_with(boundary, start=8, lo=2, hi=256, resolution=1, rate=None):
    """Run a search where a length passes when it is at most ``boundary`` (or as ``rate`` says)."""
    s = Search(start, lo, hi, resolution, 0.5)
    while (v := s.next()) is not None:
        solved = rate(v) if rate else (4 if v <= boundary else 0)
        s.record(v, solved, 4)
        assert len(s.tried) < 40, "the search does not end"
    return s


@pytest.mark.parametrize("boundary", [2, 3, 5, 7, 8, 9, 13, 16, 17, 100, 255])
def test_the_search_brackets_a_monotone_boundary(boundary):
    s = search_with(boundary)
    assert (s.lo, s.hi, s.status) == (boundary, boundary + 1, "bracketed")
    assert s.contradictions() == []
    # doubling to the first failure, then bisecting: about 2 log2 of the boundary trainings
    assert len(s.tried) <= 2 * (boundary.bit_length() + 1) + 1


def test_the_search_grows_by_doubling_then_bisects():
    s = search_with(20, start=4)
    assert list(s.tried) == [4, 8, 16, 32, 24, 20, 22, 21]
    assert [v for v, (a, _) in s.tried.items() if a] == [4, 8, 16, 20]


def test_a_failing_start_halves_down_to_min():
    s = search_with(3, start=16)
    assert list(s.tried)[:4] == [16, 8, 4, 2] and (s.lo, s.hi) == (3, 4)
    none = search_with(1, start=16, lo=2)
    assert (none.lo, none.hi, none.status) == (None, 2, "failed down to min (2)")


def test_the_search_stops_at_max_and_at_the_resolution():
    s = search_with(10_000, start=8, hi=100)
    assert (s.lo, s.hi) == (100, None) and list(s.tried) == [8, 16, 32, 64, 100]
    assert s.status == "solved up to max (100)"
    coarse = search_with(37, start=8, resolution=8)
    assert coarse.lo <= 37 < coarse.hi and coarse.hi - coarse.lo <= 8
    assert len(coarse.tried) < len(search_with(37, start=8).tried)


def test_a_delay_of_zero_grows():
    s = search_with(5, start=0, lo=0)
    assert list(s.tried)[:4] == [0, 1, 2, 4] and (s.lo, s.hi) == (5, 6)


def test_min_success_is_a_fraction_of_the_replicas():
    s = Search(8, 2, 64, 1, 0.75)
    s.record(8, 3, 4)  # 0.75: passes
    assert s.lo == 8
    s.record(16, 2, 4)  # 0.5: fails
    assert s.hi == 16


def test_noisy_outcomes_are_named():
    """A length below the bracket that failed (non-monotone success) is listed, the bracket kept."""
    rates = {8: 4, 16: 4, 32: 0, 24: 1, 20: 4, 22: 0, 21: 4}
    s = search_with(None, start=8, rate=lambda v: rates[v])
    assert (s.lo, s.hi) == (21, 22) and s.contradictions() == []
    noisy = Search(8, 2, 64)
    for v, a in ((8, 4), (16, 0), (12, 4), (14, 4), (15, 4)):
        noisy.record(v, a, 4)
    noisy.tried[10] = (0, 4)  # as if a rerun at 10 had failed
    assert noisy.contradictions() == [10]


def test_a_length_not_asked_for_is_refused():
    s = Search(8, 2, 64)
    with pytest.raises(ValueError, match="not the one the search asked for"):
        s.record(16, 4, 4)


@pytest.mark.parametrize("change, words", [
    (dict(key=None), "hydra.sweeper.key is not set"),
    (dict(start=1), "0 <= min <= start <= max"),
    (dict(max=4), "0 <= min <= start <= max"),
    (dict(resolution=0), "hydra.sweeper.resolution=0 is not allowed"),
    (dict(min_success=0), "hydra.sweeper.min_success=0 is not allowed"),
    (dict(min_success=1.5), "hydra.sweeper.min_success=1.5 is not allowed"),
])
def test_bad_sweeper_settings_are_refused_in_one_line(change, words):
    settings = dict(key="task.length", start=8, min=2, max=256, resolution=1, min_success=0.5)
    with pytest.raises(_core.Refused, match=words.replace(".", r"\.")) as e:
        _core.check_settings({**settings, **change})
    assert "\n" not in str(e.value)


def test_the_table_says_how_each_search_ended():
    a, b = search_with(5), search_with(10_000, hi=16)
    df = _core.frontier_table([["model=rnn"], ["model=lstm"]], [a, b], "task.length")
    assert list(df["model"]) == ["rnn", "lstm"] and list(df["config"]) == ["model=rnn", "model=lstm"]
    assert df.loc[0, ["largest_solved", "smallest_failed", "solved_there", "solved_at_failed"]].tolist() == [5, 6, "4/4", "0/4"]
    assert df.loc[0, "tried"] == "8:0/4 4:4/4 6:0/4 5:4/4"
    assert pd.isna(df.loc[1, "smallest_failed"]) and df.loc[1, "status"] == "solved up to max (16)"


def run_cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "rnnexp", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


# msb addition with task.delay=D: the sum bit of position k is due D steps after it is read, so a
# causal model has seen every less significant bit in time if and only if bits <= D + 1. With D = 2,
# bits 2 and 3 are learnable, and from 4 bits on no causal model can get every sum right.
KNOWN = ["task=addition", "order=msb", "task.delay=2", "hidden=8", "steps=600", "eval_every=50", "replicas=2"]


@pytest.mark.slow
def test_the_frontier_sweeper_finds_a_known_boundary(tmp_path):
    """Through the CLI and the default (joblib) launcher: two configurations, grow then bisect, rounds
    of two jobs; every round's job in its own folder, every run collected, frontier.csv and the
    report's section."""
    sweep = tmp_path / "sweep"
    p = run_cli("-m", "hydra/sweeper=frontier", "hydra.sweeper.key=bits", "hydra.sweeper.start=2",
                *KNOWN, "seed=0,1", f"hydra.sweep.dir={sweep}", f"cache_dir={tmp_path / 'cache'}",
                "report.sections=[frontier]", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    df = pd.read_csv(sweep / "frontier.csv")
    assert list(df["seed"]) == [0, 1]
    assert list(df["largest_solved"]) == [3, 3] and list(df["smallest_failed"]) == [4, 4], df.to_string()
    assert list(df["tried"].str.split().map(lambda t: [x.split(":")[0] for x in t])) == [["2", "4", "3"]] * 2
    summary = pd.read_csv(sweep / "summary.csv")  # the sweep-end collect: 3 rounds x 2 jobs
    assert sorted(summary["job"].astype(str).unique()) == ["0", "1", "2", "3", "4", "5"]
    assert sorted(zip(summary.drop_duplicates("job")["seed"], summary.drop_duplicates("job")["bits"])) == \
        [(0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4)]
    assert "frontier: 6 trainings in 3 rounds" in p.stdout
    report = (sweep / "report.md").read_text()
    assert "## Frontier: the longest length solved" in report and (sweep / "figures" / "frontier.png").is_file()
    # run again: the same command resumes from the cache, the same jobs in the same folders
    again = run_cli("-m", "hydra/sweeper=frontier", "hydra.sweeper.key=bits", "hydra.sweeper.start=2",
                    *KNOWN, "seed=0,1", f"hydra.sweep.dir={sweep}", f"cache_dir={tmp_path / 'cache'}",
                    "report.sections=[frontier]", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert pd.read_csv(sweep / "frontier.csv").equals(df)
    assert "cached" in again.stdout


@pytest.mark.slow
@pytest.mark.parametrize("args, words", [
    (["hydra.sweeper.key=bits", "bits=4,8"], "bits=4,8 is not allowed with hydra/sweeper=frontier: the sweeper searches bits"),
    (["hydra.sweeper.key=bits", "hydra.sweeper.max=512"], "bits=512 is not allowed: bits must be an integer from 2 to 256"),
    (["hydra.sweeper.key=task.length"], "task.length is not a setting of the chosen task"),
    ([], "hydra.sweeper.key is not set"),
])
def test_bad_frontier_commands_fail_in_one_line_before_any_training(tmp_path, args, words):
    p = run_cli("-m", "hydra/sweeper=frontier", *args, f"hydra.sweep.dir={tmp_path / 's'}",
                f"cache_dir={tempfile.mkdtemp(prefix='rnnexp-cache-')}", cwd=tmp_path)
    assert p.returncode == 2, (p.stdout[-2000:], p.stderr[-2000:])
    assert p.stderr.strip().splitlines() == [f"rnnexp: error: {p.stderr.split('rnnexp: error: ')[-1].strip()}"]
    assert words in p.stderr, p.stderr
    assert not list((tmp_path / "s").glob("*/run.json"))


@pytest.mark.slow
def test_the_frontier_preset_runs_as_its_readme_says(tmp_path):
    """``+experiment=frontier``, shrunk (two arms, a few steps, lengths 4 to 8): one row per arm in
    frontier.csv, every job collected, the report's frontier section."""
    sys.path.insert(0, str(Path(__file__).parent))
    from presets import run_preset, study_sections

    sweep = run_preset(tmp_path, "frontier", "steps=20", "eval_every=10", "replicas=2", "arm=memory_rnn,memory_lstm",
                       "hydra.sweeper.start=4", "hydra.sweeper.max=8")
    df = pd.read_csv(sweep / "frontier.csv")
    assert list(df["arm"]) == ["memory_rnn", "memory_lstm"] and set(df["key"]) == {"task.length"}
    summary = pd.read_csv(sweep / "summary.csv")
    assert summary["job"].nunique() == df["trainings"].sum()
    assert study_sections(sweep) == ["Frontier: the longest length solved"]


def test_the_report_section_draws_each_bracket_and_says_how_sure(tmp_path):
    """From a frontier.csv: one row per configuration with the rates on both sides, one-sided
    searches and disagreeing lengths named; without one, the section says why it is not drawn."""
    from types import SimpleNamespace

    from rnnexp.report.studies import frontier as section

    fig_dir = tmp_path / "figures"
    fig_dir.mkdir()
    ctx = SimpleNamespace(fig_dir=fig_dir, sub="sweep over arm")
    assert "Not drawn: there is no frontier.csv" in "\n".join(section.frontier(ctx))
    clear, beyond = search_with(12), search_with(10_000, hi=64)
    noisy = Search(8, 2, 64)
    for v, a in ((8, 3), (16, 1), (12, 2), (14, 1), (13, 1)):
        noisy.record(v, a, 4)
    _core.frontier_table([["arm=a"], ["arm=b"], ["arm=c"]], [clear, beyond, noisy], "task.length").to_csv(
        tmp_path / "frontier.csv", index=False)
    md = "\n".join(section.frontier(ctx))
    rows = [line for line in md.splitlines() if line.startswith("| arm=")]
    assert rows[0].startswith("| arm=a | task.length | 12 (4/4) | 13 (0/4) | clear |")
    assert rows[1].startswith("| arm=b | task.length | 64 (4/4) | none | one-sided: no length tried failed |")
    assert rows[2].startswith("| arm=c | task.length | 12 (2/4) | 13 (1/4) | noisy |")
    assert (fig_dir / "frontier.png").is_file()
