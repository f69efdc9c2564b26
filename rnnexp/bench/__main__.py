"""``python -m rnnexp.bench [SECTION ...] [--quick] [--out DIR]`` (see ``rnnexp.bench``)."""
import sys

from .cli import main

sys.exit(main())
