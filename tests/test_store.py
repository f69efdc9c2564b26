"""What rnnexp stores and reads back can be trusted: the cache of trainings (rnnexp.cache) never
serves a damaged entry and never loses one, collecting names and skips any malformed run, and
every file written respects the umask."""
import functools
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnexp import train
from rnnexp.report import generic as report
from rnnexp.runs import cache, combine as collect, job, results
from test_resume import TINY, compose_all, write_sweep

ROOT = Path(__file__).resolve().parents[1]


def tables(d: Path) -> dict[str, pd.DataFrame]:
    """A run's tables without its wall time."""
    return {n: pd.read_csv(d / f"{n}.csv").drop(columns=["wall_time"], errors="ignore") for n in results.TABLES}


def assert_same_tables(a: Path, b: Path) -> None:
    ta, tb = tables(a), tables(b)
    for name in results.TABLES:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True, obj=name)


@functools.lru_cache(maxsize=None)
def configs(*argv: str) -> list:
    """The configurations of a command line (composing takes Hydra ~0.5 s each: once per module)."""
    return compose_all([*argv, *TINY, "cache_dir=cache"])


def run(tmp_path: Path, name: str, *argv: str) -> list[bool]:
    """Like ``test_resume.sweep`` (jobs in ``tmp_path/name/<i>``, cache in ``tmp_path/cache``):
    which jobs were loaded from the cache."""
    return [job.run(c, tmp_path / name / str(i), base_dir=tmp_path).cached for i, c in enumerate(configs(*argv))]


def cli(tmp_path: Path, *argv: str, package: Path = ROOT) -> subprocess.CompletedProcess:
    """``python -m rnnexp ARGV`` (tiny, cache in ``tmp_path/cache``) with the package found in ``package``."""
    out = subprocess.run([sys.executable, "-m", "rnnexp", *argv, *TINY, "cache_dir=cache"], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(package)}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out


def entry_of(tmp_path: Path, *argv: str) -> Path:
    (c,) = configs(*argv)
    return cache.entry_path(tmp_path / "cache", cache.settings(c), cache.engine_version())


# --- the cache: a damaged entry is never used --------------------------------------------------

@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_flipped_bytes_in_an_entry_are_named_and_trained_again(tmp_path, capsys):
    assert run(tmp_path, "clean", "hidden=4") == [False]
    (entry,) = cache.entries(tmp_path / "cache")
    assert entry == entry_of(tmp_path, "hidden=4")
    for seed in range(6):
        rng = np.random.default_rng(seed)
        raw = bytearray(entry.read_bytes())
        head = raw.index(b"\n") + 1
        # even seeds: in the header (format, key, checksum); odd seeds: in the pickled result
        lo, hi = (0, head) if seed % 2 == 0 else (head, len(raw))
        for pos in rng.choice(np.arange(lo, hi), size=1 + seed % 3, replace=False):
            raw[pos] ^= int(rng.integers(1, 256))
        entry.write_bytes(bytes(raw))
        capsys.readouterr()

        assert run(tmp_path, f"again{seed}", "hidden=4") == [False], seed  # not used: trained again
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"rnnexp: cache entry {entry} " in err and "training again" in err, err
        assert_same_tables(tmp_path / "clean" / "0", tmp_path / f"again{seed}" / "0")
        # the good result replaced the bad one, and is served from now on
        assert run(tmp_path, f"served{seed}", "hidden=4") == [True]
        assert capsys.readouterr().err == ""
        served, trained = (tmp_path / d / "0" / "summary.csv" for d in (f"served{seed}", f"again{seed}"))
        assert served.read_bytes() == trained.read_bytes()


class Bomb:
    """Unpickling this runs code (touches a file): the store must never unpickle an unverified entry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_an_entry_is_verified_before_it_is_unpickled(tmp_path, capsys):
    marker, path, k = tmp_path / "unpickled", tmp_path / "store" / "e" / "k.result", "0" * 64
    path.parent.mkdir(parents=True)
    payload = pickle.dumps(Bomb(marker))
    path.write_bytes(cache.header(k, payload + b"x") + payload)  # the checksum of other bytes
    assert cache.load(path, k) is None and not marker.exists()
    assert "does not match its key and checksum" in capsys.readouterr().err
    path.write_bytes(cache.header("1" * 64, payload) + payload)  # another key's entry, moved here
    assert cache.load(path, k) is None and not marker.exists()
    path.write_bytes(cache.header(k, payload) + payload)  # verified: only then unpickled (not a Result)
    assert cache.load(path, k) is None and marker.exists()
    assert "holds a NoneType, not a training result" in capsys.readouterr().err


@pytest.mark.slow
def test_garbage_in_the_store_is_ignored(tmp_path, capsys):
    assert run(tmp_path, "a", "hidden=4") == [False]
    store = tmp_path / "cache"
    keep = set(cache.entries(store))
    others = [p for p in store.rglob("*") if p.is_file() and p not in keep]
    for p in others:  # every file of the store but the entry: not UTF-8 any more
        p.write_bytes(b"\xff\xfe\x00 not utf-8 \x80\n")
    for d in [store, *(p for p in store.rglob("*") if p.is_dir())]:
        (d / "func_code.py").write_bytes(b"\xff\xfe# not utf-8 \x80\n")
        (d / f"{'0' * 64}{cache.SUFFIX}").write_bytes(b"\x80\x04garbage")
        (d / "metadata.json").write_bytes(b"\xc3\x28")
        (d / "a folder").mkdir()
    (store / os.fsdecode(b"not-utf8-\xff")).mkdir()
    assert run(tmp_path, "b", "hidden=4") == [True]
    assert capsys.readouterr().err == ""
    assert_same_tables(tmp_path / "a" / "0", tmp_path / "b" / "0")
    out = cli(tmp_path, "hidden=4", f"hydra.run.dir={tmp_path / 'c'}")  # and in a new process
    assert "cached (trained earlier" in out.stdout and "rnnexp: cache entry" not in out.stderr, out.stderr
    assert_same_tables(tmp_path / "a" / "0", tmp_path / "c")


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_changing_other_files_of_the_store_keeps_every_other_entry(tmp_path, capsys):
    assert run(tmp_path, "a", "hidden=4,8,16") == [False, False, False]
    store = tmp_path / "cache"
    damaged, *kept = (entry_of(tmp_path, f"hidden={h}") for h in (4, 8, 16))
    assert set(cache.entries(store)) == {damaged, *kept}
    for p in store.rglob("*"):  # a line appended to every file but the entries kept
        if p.is_file() and p not in kept:
            with p.open("ab") as f:
                f.write(b"\n# edited\n")
    capsys.readouterr()
    assert run(tmp_path, "b", "hidden=4,8,16") == [False, True, True]
    err = capsys.readouterr().err
    assert err.count("rnnexp: cache entry") == 1 and str(damaged) in err
    for job in ("0", "1", "2"):
        assert_same_tables(tmp_path / "a" / job, tmp_path / "b" / job)


@pytest.mark.slow
def test_results_survive_a_change_of_the_code_that_calls_them(tmp_path):
    """The package copied with its storing code edited (every one-line ``def`` of cache.py gets a
    comment): an edit outside the engine keeps the engine version, and the stored result is served."""
    assert run(tmp_path, "a", "hidden=4") == [False]
    pkg = tmp_path / "edited"
    shutil.copytree(ROOT / "rnnexp", pkg / "rnnexp", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "conf", pkg / "conf")
    code = pkg / "rnnexp" / "runs" / "cache.py"
    text, n = re.subn(r"^(\s*def .*\):|\s*def .*-> .*:)$", r"\1  # edited", code.read_text(), flags=re.M)
    assert n >= 3
    code.write_text(text)
    out = cli(tmp_path, "hidden=4", f"hydra.run.dir={tmp_path / 'b'}", package=pkg)
    assert "cached (trained earlier" in out.stdout, out.stdout + out.stderr
    meta = json.loads((tmp_path / "b" / "run.json").read_text())
    assert meta["cached"] is True and meta["engine_version"] == cache.engine_version()
    assert_same_tables(tmp_path / "a" / "0", tmp_path / "b")


def tiny_result(i: int) -> train.Result:
    df = pd.DataFrame({"replica": [0], "value": [float(i)]})
    return train.Result(df, df, df, df, df, wall_time=float(i))


def test_jobs_storing_the_same_key_at_once_always_leave_a_whole_entry(tmp_path, capsys):
    path, k = tmp_path / "store" / "e" / f"{'a' * 64}{cache.SUFFIX}", "a" * 64
    cache.save(path, k, tiny_result(0))

    def writer(w):
        for i in range(25):
            cache.save(path, k, tiny_result(100 * w + i))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):  # a reader at any moment finds a whole, verified entry
        assert cache.load(path, k) is not None
    for t in threads:
        t.join()
    assert cache.load(path, k).wall_time in {100 * w + 24 for w in range(4)}
    assert capsys.readouterr().err == ""
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_a_store_that_cannot_be_written_still_writes_the_run(tmp_path, capsys):
    (c,) = configs("hidden=4")
    path = cache.entry_path(tmp_path / "cache", cache.settings(c), cache.engine_version())
    path.mkdir(parents=True)  # a folder where the entry would go
    assert job.run(c, tmp_path / "a", base_dir=tmp_path).cached is False
    err = capsys.readouterr().err
    assert "is unreadable (IsADirectoryError)" in err and "could not store the result" in err
    assert results.read_run(tmp_path / "a")[1]["summary"].shape[0] == 2


# --- collect: a malformed run.json is named, counted and skipped --------------------------------

MALFORMED = {  # what is wrong with a run.json -> the record, changed so
    "sha256 a list": lambda m: {**m, "sha256": list(m["sha256"])},
    "sha256 a string": lambda m: {**m, "sha256": "abc"},
    "sha256 a number": lambda m: {**m, "sha256": 5},
    "sha256 not hex": lambda m: {**m, "sha256": {**m["sha256"], "summary.csv": 5}},
    "sha256 a table short": lambda m: {**m, "sha256": {k: v for k, v in m["sha256"].items() if k != "history.csv"}},
    "config_columns a string": lambda m: {**m, "config_columns": "hidden"},
    "config_columns a mapping": lambda m: {**m, "config_columns": {"hidden": 4}},
    "config_columns numbers": lambda m: {**m, "config_columns": [1, 2]},
    "tables a string": lambda m: {**m, "tables": "summary.csv"},
    "tables foreign": lambda m: {**m, "tables": ["summary.csv", "../notes.csv"]},
    "tables twice": lambda m: {**m, "tables": ["summary.csv", "summary.csv"]},
    "status a list": lambda m: {**m, "status": ["complete"]},
    "status running": lambda m: {**m, "status": "running"},
    "wall_time a string": lambda m: {**m, "wall_time": "1.5 s"},
    "wall_time negative": lambda m: {**m, "wall_time": -1},
    "cached a string": lambda m: {**m, "cached": "yes"},
    "engine_version a number": lambda m: {**m, "engine_version": 5},
    "a list": lambda m: list(m),
    "null": lambda m: None,
}


def test_collect_names_counts_and_skips_every_malformed_run(tmp_path, capsys):
    root = write_sweep(tmp_path, n=2)
    good = collect.collect(root, write=False, quiet=True)["summary"]
    bad = []
    for i, (what, change) in enumerate(MALFORMED.items()):
        d = root / f"bad{i}"
        shutil.copytree(root / "0", d)
        (d / "run.json").write_text(json.dumps(change(json.loads((d / "run.json").read_text()))))
        bad.append((d / "run.json", what))
    deep = root / "deep"  # nested beyond the JSON reader's recursion limit
    shutil.copytree(root / "0", deep)
    (deep / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    undecodable = root / os.fsdecode(b"job-\xff")  # a folder name that is not UTF-8
    shutil.copytree(root / "1", undecodable)
    capsys.readouterr()

    assert collect.main([str(root)]) == 0  # the combined tables are written, from the good runs only
    out, err = capsys.readouterr()
    n_bad = len(MALFORMED) + 2
    assert f"collected 2 of {2 + n_bad} run(s) (4 replicas)" in out and f"skipped {n_bad}" in out
    lines = err.splitlines()
    assert len(lines) == n_bad and all(l.startswith("rnnexp.collect: skipped ") for l in lines)
    for path, what in bad:
        assert any(f"skipped {path}: " in l for l in lines), (what, err)
    assert any(f"skipped {deep / 'run.json'}: is not readable JSON (RecursionError)" in l for l in lines)
    assert any(f"skipped {root}/job-\\xff: folder name is not valid UTF-8" in l for l in lines), err
    s = pd.read_csv(root / "summary.csv")
    assert sorted(s.job.astype(str).unique()) == ["0", "1"]
    pd.testing.assert_frame_equal(s.drop(columns="job"), good.drop(columns="job"), check_like=True)
    # and a report of the combined tables (config columns from the runs' run.json) skips them too
    assert "hidden" in report.config_columns(s, collect.find_runs(root))


def _refuse_writes_into(root: Path, monkeypatch) -> None:
    """Every (atomic) write into ``root`` fails as in a folder one may read but not write."""
    real = results.atomic_write_bytes

    def refuse(path, data):
        if Path(path).parent == root:
            raise PermissionError(13, "Permission denied", str(Path(path).with_name(f".{Path(path).name}.0.tmp")))
        return real(path, data)

    monkeypatch.setattr(results, "atomic_write_bytes", refuse)


def test_collect_and_report_say_in_one_line_that_a_sweep_dir_cannot_be_written(tmp_path, monkeypatch, capsys):
    """A colleague's sweep dir on the shared filesystem: readable, not writable (or not even to be
    entered). ``python -m rnnexp.collect`` and ``python -m rnnexp.report`` say so in one line (the
    report: use --out), not with a PermissionError traceback. Root writes anywhere, so the refusal is
    simulated here; the test below meets it for real as any other user."""
    root = write_sweep(tmp_path, n=1)
    collect.collect(root, quiet=True)  # its combined tables, as the sweep left them
    before = sorted(p.name for p in root.iterdir())
    _refuse_writes_into(root, monkeypatch)
    capsys.readouterr()
    assert collect.main([str(root)]) == 1
    assert capsys.readouterr().err == (f"rnnexp.collect: error: cannot write the combined tables into {root}: "
                                       "Permission denied\n")
    assert report.main([str(root)]) == 1
    assert capsys.readouterr().err == (f"rnnexp.report: error: cannot write the report into {root}: Permission "
                                       "denied; give --out a folder you can write into\n")
    assert sorted(p.name for p in root.iterdir()) == before
    real_stat = Path.stat

    def stat(self, *args, **kwargs):  # the sweep dir lies in a folder that may not be entered
        if self == root:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    for main, prog in ((collect.main, "rnnexp.collect"), (report.main, "rnnexp.report")):
        assert main([str(root)]) == 2
        assert capsys.readouterr().err == f"{prog}: error: cannot reach {root}: Permission denied\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a mode 0555 folder (simulated in the test above)")
def test_a_read_only_sweep_dir_is_one_line_for_collect_and_report(tmp_path, capsys):
    root = write_sweep(tmp_path, n=1)
    collect.collect(root, quiet=True)
    root.chmod(0o555)
    try:
        capsys.readouterr()
        assert collect.main([str(root)]) == 1 and report.main([str(root)]) == 1
        err = capsys.readouterr().err.splitlines()
        assert err == [f"rnnexp.collect: error: cannot write the combined tables into {root}: Permission denied",
                       f"rnnexp.report: error: cannot write the report into {root}: Permission denied; give --out "
                       "a folder you can write into"], err
    finally:
        root.chmod(0o755)


# --- every file written respects the umask ----------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, pytest.param(0o002, marks=pytest.mark.slow)])  # the fast suite's budget
def test_every_file_written_respects_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        run(tmp_path, "sweep", "hidden=4,8")  # the runs' tables and run.json, the cache entries
        collect.collect(tmp_path / "sweep", quiet=True)  # the combined tables
        results.atomic_write_text(tmp_path / "sweep" / "report.md", "# report\n")  # as report.build writes it
        reference = tmp_path / "by-open"
        reference.write_text("")  # as Python's open (and Hydra) create a file
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    modes = {oct(p.stat().st_mode & 0o777) for p in files}
    assert modes == {oct(0o666 & ~umask)} == {oct(reference.stat().st_mode & 0o777)}, modes
    assert len(cache.entries(tmp_path / "cache")) == 2 and len(files) == 2 * 6 + 5 + 2 + 1 + 1


@pytest.mark.slow
def test_a_sweep_from_the_command_line_writes_files_as_hydra_does(tmp_path):
    """Every file of a sweep dir (Hydra's, the runs', the combined tables, the report and its
    figures) and of the cache gets the same mode, the one the umask gives (0664 under 002)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(["sh", "-c", 'umask 002 && exec "$@"', "sh", sys.executable, "-m", "rnnexp", "-m",
                          "hidden=4,8", *TINY, "cache_dir=cache", "hydra.sweep.dir=sweep"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.relative_to(tmp_path).as_posix() for p in files}
    assert {"sweep/multirun.yaml", "sweep/0/.hydra/config.yaml", "sweep/0/run.json", "sweep/summary.csv",
            "sweep/report.md", "sweep/figures/convergence_sum_acc.png"} <= names, names
    assert len(cache.entries(tmp_path / "cache")) == 2
    modes = {p.relative_to(tmp_path).as_posix(): oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {oct(0o664)}, modes
