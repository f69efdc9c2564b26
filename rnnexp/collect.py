"""``python -m rnnexp.collect DIR``: combine every run below DIR into tables and print an overview.

The command only; the logic (scanning, combining, the overview) is ``rnnexp.runs.combine``.
"""
from __future__ import annotations

import sys

from .runs.combine import main

if __name__ == "__main__":
    sys.exit(main())
