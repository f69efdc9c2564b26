"""``python -m rnnexp.report DIR [DIR2 ...] [--out DIR] [--format svg|pdf] [--hue KEY] [--col KEY] [--row KEY ...]
[--sections a,b]``: (re)build a report, or one comparing several sweeps."""
import sys

from .generic import main

sys.exit(main())
