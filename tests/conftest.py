import os
import sys
from pathlib import Path

import pytest

# the suite's matrices are tiny: extra BLAS threads only spin (sweep workers and the benchmark run
# one thread too). Set before NumPy loads; a value in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# the test helpers (tests/gradcheck.py) import as plain modules
sys.path.insert(0, str(Path(__file__).parent))

from rnnexp import config  # noqa: E402


@pytest.fixture
def cfg():
    """A small, fast plain config (``config.Config``); tests change what they need."""
    c = config.Config()
    c.hidden, c.replicas, c.steps, c.eval_every = 8, 3, 60, 20
    return c


# Reports are the suite's most expensive products (~3 s each): the ones several tests read are built
# once per session. Tests only read them.

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
    build_quietly(root)
    return root


@pytest.fixture(scope="session")
def two_key_report(tmp_path_factory) -> Path:
    """hidden (2, 4) x order (lsb, msb) on a fixed training set (so seed 001's metric is recorded),
    also scored at 6 bits; collected and reported."""
    from test_figures_seeds import FIXED_SET
    from test_report import build_quietly, make_sweep

    root = make_sweep(tmp_path_factory.mktemp("two_key"), {"hidden": [2, 4], "order": ["lsb", "msb"]},
                      fixed=[*FIXED_SET, "eval_bits=[6]"])
    build_quietly(root)
    return root
