"""Record the reference tables: the example sweep and every study preset, shrunk, through the CLI.

Run from the repo root (any checkout whose ``rnnexp`` is first on the path):

    python tests/reference/make.py            # writes tests/reference/<name>/<table>.csv.gz
    python tests/reference/make.py --only order classic   # just these
    python tests/reference/make.py --out DIR  # somewhere else (e.g. from an older checkout)

Each command (``COMMANDS``) runs ``python -m rnnexp -m ...`` in a subprocess into a temporary sweep
dir and a fresh cache (so every configuration trains), exactly as a user types it; the presets are
shrunk exactly as the slow tests shrink them (tests/test_studies.py, tests/test_new_studies.py), so
a reference costs seconds, not hours. The sweep's combined tables (``summary``, ``history``,
``profile``, ``positions``, ``lengths``) are stored gzipped (``mtime=0``: the same tables give the
same bytes). ``tests/test_reference.py`` (slow) runs the same commands with the current code and
checks every table cell by cell against these files, ``wall_time`` aside.

Regenerate them whenever a change is *meant* to change results (and say so in the commit); a
change that only moves or renames code must leave them untouched.
"""
from __future__ import annotations

import argparse
import gzip
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TABLES = ("summary", "history", "profile", "positions", "lengths")
IGNORED = ("wall_time",)  # columns that differ between two runs of the same code

# name -> the overrides after ``python -m rnnexp -m`` (the slow tests' shrinking, verbatim)
COMMANDS: dict[str, tuple[str, ...]] = {
    "example": ("hidden=4,8,16", "order=lsb,msb"),  # the README's example sweep, unshrunk
    "order": ("+experiment=order", "train_size=400", "eval_every=400", "epochs=2", "replicas=2"),
    "classic": ("+experiment=classic", "steps=600", "replicas=3"),
    "seed000": ("+experiment=seed000", "steps=300", "replicas=3"),
    "gradients": ("+experiment=gradients", "activation=sigmoid,tanh", "init.scale=0.5,4", "steps=20",
                  "eval_every=10", "replicas=2", "hidden=8"),
    "clipping": ("+experiment=clipping", "lr=3", "arm=clip_none,clip_norm_0.01,clip_value_1", "steps=30",
                 "eval_every=10", "replicas=2"),
    "length": ("+experiment=length", "model=rnn", "activation=tanh", "hidden=16", "steps=400",
               "eval_every=100", "replicas=2"),
    "models": ("+experiment=models", "model=rnn,gru", "bits=8,16,32", "steps=30", "eval_every=10", "replicas=2"),
}


def run(name: str, tmp: Path) -> Path:
    """Run ``COMMANDS[name]`` through the CLI into ``tmp`` (sweep dir and cache); the sweep dir."""
    sweep = tmp / "sweep"
    cmd = [sys.executable, "-m", "rnnexp", "-m", *COMMANDS[name],
           f"hydra.sweep.dir={sweep}", f"cache_dir={tmp / 'cache'}"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    if r.returncode != 0 or not (sweep / "summary.csv").is_file():
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return sweep


def read(path: Path) -> pd.DataFrame:
    """A table as text, cell by cell (no parsing of numbers: equality is equality of the CSV text),
    without the ``IGNORED`` columns."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return df.drop(columns=[c for c in IGNORED if c in df.columns])


def store(sweep: Path, out: Path) -> int:
    """Gzip the sweep's combined tables into ``out``; the bytes written."""
    out.mkdir(parents=True, exist_ok=True)
    size = 0
    for table in TABLES:
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as f:
            f.write((sweep / f"{table}.csv").read_bytes())
        (out / f"{table}.csv.gz").write_bytes(buf.getvalue())
        size += len(buf.getvalue())
    return size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tests/reference/make.py", description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=sorted(COMMANDS), help="record just these (default: all)")
    ap.add_argument("--out", type=Path, default=HERE, help="where the <name>/ folders go (default: %(default)s)")
    args = ap.parse_args(argv)
    total = 0
    for name in args.only or COMMANDS:
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"rnnexp-ref-{name}-") as tmp:
            size = store(run(name, Path(tmp)), args.out / name)
        total += size
        print(f"{name}: {size / 1024:.1f} KiB in {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"total: {total / 1024:.1f} KiB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
