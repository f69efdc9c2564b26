"""``python -m rnnexp.report DIR [--hue KEY] [--col KEY] [--row KEY ...] [--sections a,b]``: (re)build a report."""
import sys

from .generic import main

sys.exit(main())
