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

The arithmetic they record is that of an AVX2 host: OpenBLAS's AVX2 kernels (its ``Haswell``
core; the ``Zen`` core of the AMD host that recorded them runs the same kernels) and NumPy's AVX2
loops. On a host with AVX-512, OpenBLAS picks its ``SkylakeX`` kernels and NumPy its AVX-512 loops,
which round differently: the last digit of many cells, and a near-tie in training can then go the
other way (seed000's ``eval_loss`` 0.2498 against 0.2248 on one replica). So every command runs
with ``OPENBLAS_CORETYPE=Haswell`` and NumPy's AVX-512 targets switched off
(``NPY_DISABLE_CPU_FEATURES``) on an x86-64 host with AVX2 (``environment``), unless the
environment sets either itself: what the comparison sees is the engine's code, on the arithmetic
the tables were recorded with. Measured on an AVX-512 host (AMD EPYC, Zen 4): with both, all eight
commands give the tables recorded on the AVX2 host, cell for cell; with the BLAS core alone, four
of them differ in last digits (NumPy's loops), and with neither, all eight.
"""
from __future__ import annotations

import argparse
import gzip
import io
import os
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


BLAS_CORE = "Haswell"  # OpenBLAS's kernels whose arithmetic the tables record


def _numpy_cpu() -> tuple[dict, list]:
    try:
        from numpy._core import _multiarray_umath as m
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as m
    return m.__cpu_features__, list(m.__cpu_dispatch__)


def environment(env: dict | None = None, cpu: tuple | None = None) -> dict:
    """The commands' environment: ``env`` (this process's) with, on a host with AVX2,
    ``OPENBLAS_CORETYPE=BLAS_CORE`` and ``NPY_DISABLE_CPU_FEATURES`` naming NumPy's AVX-512 dispatch
    targets (``X86_V4``, ``AVX512_*``), each unless ``env`` sets it already (see the module's
    docstring). ``cpu``: ``(features, dispatch targets)`` as NumPy reports them (default: this host's)."""
    env = dict(os.environ if env is None else env)
    features, targets = _numpy_cpu() if cpu is None else cpu
    if features.get("AVX2"):
        env.setdefault("OPENBLAS_CORETYPE", BLAS_CORE)
        wide = [t for t in targets if t == "X86_V4" or t.startswith("AVX512")]
        if wide:
            env.setdefault("NPY_DISABLE_CPU_FEATURES", " ".join(wide))
    return env


def run(name: str, tmp: Path) -> Path:
    """Run ``COMMANDS[name]`` through the CLI into ``tmp`` (sweep dir and cache); the sweep dir."""
    sweep = tmp / "sweep"
    cmd = [sys.executable, "-m", "rnnexp", "-m", *COMMANDS[name],
           f"hydra.sweep.dir={sweep}", f"cache_dir={tmp / 'cache'}"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900, env=environment())
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
