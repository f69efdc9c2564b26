import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# the suite's matrices are tiny: extra BLAS threads only spin (sweep workers and the benchmark run
# one thread too). Set before NumPy loads; a value in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# the test helpers (tests/gradcheck.py) import as plain modules
sys.path.insert(0, str(Path(__file__).parent))

from rnnexp import config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cfg():
    """A small, fast plain config (``config.Config``); tests change what they need."""
    c = config.Config()
    c.hidden, c.replicas, c.steps, c.eval_every = 8, 3, 60, 20
    return c


# Reports are the suite's most expensive products (~3 s each): the ones several tests read are built
# once per session. Tests only read them (a test that changes files works on a copy).

@pytest.fixture(scope="session")
def one_key_report(tmp_path_factory) -> Path:
    """A sweep over hidden (2, 4), trained, then collected and reported by ``report.build`` alone."""
    from test_report import build_quietly, make_sweep

    root = make_sweep(tmp_path_factory.mktemp("one_key"), {"hidden": [2, 4]}, collect_now=False)
    assert not (root / "summary.csv").exists()
    build_quietly(root)  # collects first
    return root


@pytest.fixture(scope="session")
def diverged_report(tmp_path_factory) -> Path:
    """A sweep over hidden (2, 4) where every replica diverges, collected and reported."""
    from test_report import DIVERGE, build_quietly, make_sweep

    root = make_sweep(tmp_path_factory.mktemp("diverged"), {"hidden": [2, 4]}, fixed=DIVERGE)
    build_quietly(root, sections=["blowup"])
    return root


# test_report.TINY (4 bits, 3 replicas) on test_report_seeds.FIXED_SET (a fixed set of 16 problems,
# 3 epochs: seed 001's metric is recorded), also scored at 6 bits (the lengths table and figure)
TWO_KEY = ["hidden=2,4", "order=lsb,msb", "bits=4", "replicas=3", "train_size=16", "batch=4", "epochs=3",
           "eval_every=4", "eval_bits=[6]", "report.sections=[seed_metric,tolerance]"]


class _Sweep:
    """``python -m rnnexp -m TWO_KEY`` started in the background (its output in files: no pipe to fill)."""

    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="rnnexp-two-key-"))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"}
        self.args = [sys.executable, "-m", "rnnexp", "-m", *TWO_KEY, f"hydra.sweep.dir={self.tmp / 'sweep'}",
                     f"cache_dir={self.tmp / 'cache'}"]
        with open(self.tmp / "stdout", "w") as out, open(self.tmp / "stderr", "w") as err:
            self.proc = subprocess.Popen(self.args, cwd=self.tmp, env=env, stdout=out, stderr=err,
                                         start_new_session=True)  # its own group: stopped with its workers

    def result(self) -> subprocess.CompletedProcess:
        try:
            code = self.proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        return subprocess.CompletedProcess(self.args, code, (self.tmp / "stdout").read_text(),
                                           (self.tmp / "stderr").read_text())

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


_SWEEPS: list[_Sweep] = []


@pytest.hookimpl(trylast=True)  # after -m / -k have deselected
def pytest_collection_modifyitems(session, config, items):
    """Start the shared sweep as soon as a selected test needs it: the sweep (mostly its report) runs
    on a second core while the tests before the first reader run on the first."""
    if not config.option.collectonly and any("two_key_sweep" in getattr(i, "fixturenames", ()) for i in items):
        _SWEEPS.append(_Sweep())


def pytest_sessionfinish(session, exitstatus):
    while _SWEEPS:
        _SWEEPS.pop().stop()


@pytest.fixture(scope="session")
def two_key_sweep():
    """``python -m rnnexp -m TWO_KEY`` in a subprocess, as a user runs a sweep (the default launcher,
    then the collect-and-report callback), with every Python warning shown (PYTHONWARNINGS=default).
    Read by the CLI, report and report-section tests: (sweep dir, completed process)."""
    if not _SWEEPS:  # not started at collection (a plugin changed the selection): start it now
        _SWEEPS.append(_Sweep())
    sweep = _SWEEPS[0]
    r = sweep.result()
    assert r.returncode == 0, r.stderr[-3000:]
    return sweep.tmp / "sweep", r
