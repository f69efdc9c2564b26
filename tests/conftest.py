import logging
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


@pytest.fixture(autouse=True)
def _no_stray_log_handlers():
    """A test that runs Hydra in-process (``python -m rnnexp --help``) leaves Hydra's console handler
    on the root logger, at INFO, writing into that test's captured stdout, closed afterwards; a later
    job's log records (``rnnexp.runs.job``) would then print logging errors. Removed after each test
    (pytest's own handlers are subclasses, kept)."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for h in root.handlers[:]:
        if type(h) is logging.StreamHandler and h not in before:
            root.removeHandler(h)
    root.setLevel(level)


@pytest.fixture(autouse=True)
def loky_as_joblib_has_it():
    """An in-process ``rnnexp.__main__.main()`` (--help, completion tests) registers loky with an initializer (``runs.workers.use``) for the rest of
    the process: put joblib's own back, as other tests expect it."""
    yield
    import joblib
    from joblib._parallel_backends import LokyBackend

    joblib.register_parallel_backend("loky", LokyBackend)


@pytest.fixture
def cfg():
    """A small, fast plain config (``config.Config``); tests change what they need."""
    c = config.Config()
    c.hidden, c.replicas, c.steps, c.eval_every = 8, 3, 60, 20
    return c


# The suite's most expensive products, a CLI sweep and the reports several tests read (~3 s each),
# are made once per session, in background processes started at collection: they run on the second
# core while the tests before their first reader run on the first. Tests only read them (a test
# that changes files works on a copy).

# test_report.TINY (4 bits, 3 replicas) on test_report_seeds.FIXED_SET (a fixed set of 16 problems,
# 3 epochs: seed 001's metric is recorded), also scored at 6 bits (the lengths table and figure)
TWO_KEY = ["hidden=2,4", "order=lsb,msb", "bits=4", "replicas=3", "train_size=16", "batch=4", "epochs=3",
           "eval_every=4", "eval_bits=[6]", "report.sections=[seed_metric,tolerance]"]


def _two_key_sweep(tmp: Path) -> tuple[list[str], dict]:
    """``python -m rnnexp -m TWO_KEY``, as a user runs a sweep (the default launcher, then the
    collect-and-report callback), with every Python warning shown."""
    return ([sys.executable, "-m", "rnnexp", "-m", *TWO_KEY, f"hydra.sweep.dir={tmp / 'sweep'}",
             f"cache_dir={tmp / 'cache'}"], {"PYTHONWARNINGS": "default"})


def _report(kind: str):
    """``test_report.make_report(kind)`` in a fresh process, warnings raised as under pytest."""
    def command(tmp: Path) -> tuple[list[str], dict]:
        code = "import sys, test_report; test_report.make_report(sys.argv[1], sys.argv[2])"
        return [sys.executable, "-W", "error::RuntimeWarning", "-c", code, kind, str(tmp / "sweep")], {}
    return command


def _compiled_kernels(tmp: Path) -> tuple[list[str], dict]:
    """The float32 cells' numba kernels compiled into their on-disk cache (~22 s on a fresh clone),
    so that the tests running float32 steps load them instead of compiling them on the first core."""
    return [sys.executable, "-c", "from rnnexp.engine.models import _fused; _fused.compile_all()"], {}


# fixture name -> the command that makes it, in a fresh temporary folder
_COMMANDS = {"two_key_sweep": _two_key_sweep, "one_key_report": _report("one_key"),
             "diverged_report": _report("diverged"), "compiled_kernels": _compiled_kernels}


def _lower_priority():
    """In the child: nice 10, so that the tests keep their core and the background uses what is left."""
    os.nice(10)


class _Background:
    """A command running in the background (its output in files: no pipe to fill), in its own process
    group (stopped with any workers it started)."""

    def __init__(self, name: str):
        self.tmp = Path(tempfile.mkdtemp(prefix=f"rnnexp-{name}-"))
        self.args, extra = _COMMANDS[name](self.tmp)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), **extra}
        with open(self.tmp / "stdout", "w") as out, open(self.tmp / "stderr", "w") as err:
            self.proc = subprocess.Popen(self.args, cwd=self.tmp, env=env, stdout=out, stderr=err,
                                         start_new_session=True, preexec_fn=_lower_priority)

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


_STARTED: dict[str, _Background] = {}


@pytest.hookimpl(trylast=True)  # after -m / -k have deselected
def pytest_collection_modifyitems(session, config, items):
    """Start each background product that a selected test reads, and run the tests that read one
    last (in their order otherwise), so that the products are ready by then instead of waited for."""
    if config.option.collectonly:
        return
    for name in _COMMANDS:
        if name not in _STARTED and any(name in getattr(item, "fixturenames", ()) for item in items):
            _STARTED[name] = _Background(name)
    items.sort(key=lambda item: any(name in getattr(item, "fixturenames", ()) for name in _COMMANDS))


def pytest_sessionfinish(session, exitstatus):
    while _STARTED:
        _STARTED.popitem()[1].stop()


def _finished(name: str) -> tuple[Path, subprocess.CompletedProcess]:
    if name not in _STARTED:  # not started at collection (a plugin changed the selection): start it now
        _STARTED[name] = _Background(name)
    job = _STARTED[name]
    r = job.result()
    assert r.returncode == 0, f"{' '.join(map(str, r.args))} failed:\n{r.stderr[-3000:]}"
    return job.tmp / "sweep", r


@pytest.fixture(scope="session")
def two_key_sweep() -> tuple[Path, subprocess.CompletedProcess]:
    """``python -m rnnexp -m TWO_KEY`` (see ``_two_key_sweep``), read by the CLI, report and
    report-section tests: (sweep dir, completed process)."""
    return _finished("two_key_sweep")


@pytest.fixture(scope="session")
def one_key_report() -> Path:
    """A sweep over hidden (2, 4), trained, then collected and reported by ``report.build`` alone
    (``test_report.make_report("one_key")``)."""
    return _finished("one_key_report")[0]


@pytest.fixture(scope="session")
def compiled_kernels() -> None:
    """The float32 kernels compiled into numba's cache in the background (``_compiled_kernels``);
    the modules that run float32 steps use it (``pytestmark``), so they run last and load them."""
    _finished("compiled_kernels")


@pytest.fixture(scope="session")
def diverged_report() -> Path:
    """A sweep over hidden (2, 4) where every replica diverges, collected and reported
    (``test_report.make_report("diverged")``)."""
    return _finished("diverged_report")[0]
