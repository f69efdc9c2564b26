import sys
from pathlib import Path

import pytest

# the test helpers (tests/gradcheck.py) import as plain modules
sys.path.insert(0, str(Path(__file__).parent))

from rnnexp import config  # noqa: E402


@pytest.fixture
def cfg():
    """A small, fast plain config (``config.Config``); tests change what they need."""
    c = config.Config()
    c.hidden, c.replicas, c.steps, c.eval_every = 8, 3, 60, 20
    return c
