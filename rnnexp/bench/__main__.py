"""``python -m rnnexp.bench [SECTION ...] [--quick] [--out DIR]`` (see ``rnnexp.bench``)."""
import sys

from . import main

sys.exit(main())
