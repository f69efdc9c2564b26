"""Benchmarks: ``python -m rnnexp.bench [SECTION ...] [--quick] [--out DIR]``.

Measures rnnexp against the peers in ``rnnexp.bench.baselines`` (written fresh there: the seeds'
per-sample loop, PyTorch CPU, the matmul floor) and against the targets of issue 6. Every
comparison is timed side by side in the same run, interleaved in a rotating order (so drift, load
and warm-up hit every variant alike), and reported as the median over repeats of the per-repeat
ratio. The run prints one table per section and a ``targets`` table (every ratio with its goal),
and writes them as CSV and markdown, with a description of the machine, into ``--out``
(default ``runs/bench/<date>_<time>``). ``--quick`` shrinks every section to a smoke test (seconds
each; the two end-to-end commands take most of its ~30 s of CPU): its numbers are not the targets'
measurements, and a target it cannot measure is ``n/a``.

BLAS runs on one thread unless ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``
are set (as in sweep workers, where the joblib launcher sets them to 1; PyTorch is set to one
thread too). The end-to-end section runs the commands as a user would, with the caller's
environment.

Sections (each a function in ``SECTIONS`` returning its table and its rows of the targets table):

- ``solve`` (target 1): wall time to solve seed 002's task, rnnexp's default configuration vs the
  per-sample loop. See ``solve_section`` for how "time to solve" is counted.
- ``step`` (target 2): time per training step, one replica, hidden 16, batch 32, 8 bits, vs PyTorch.
- ``replicas`` (target 3): time per step of 10 replicas vs 1.
- ``floor`` (target 4): time per step at hidden 256, batch 256, 32 bits vs the matmul floor.
- ``e2e`` (target 5): the example sweep and the seed 001 order reproduction, wall time.
- ``scaling`` (target 6): time per step against bits and replicas; peak memory of the largest case.
- ``models``: time per step of every model relative to the Elman RNN.
- ``long`` (issue 15's targets L1-L3, module ``long``): long sequences (rnn, gru, lstm on adding and
  copy, up to T = 1000, hidden 128), 10 replicas against one PyTorch float32 network; the matmul
  floor of a gated cell; peak memory with and without ``bptt.truncate``. Named alone it runs the
  issue's whole grid (``--long-*`` narrow it); with every section, a short grid.

Modules: ``measure`` (timing a training step, interleaved repeats, peak memory, the machine),
``sections`` (one function per section; ``long``: the long section), ``cli`` (arguments, the output tables), ``baselines``
(the peers), ``peer`` (PyTorch's peers built and timed in a process of their own, as their users
run them; ``python -m rnnexp.bench.peer`` is that process); ``cli.main`` is the command. May import everything below it (``config``, ``train``,
``engine``, ``tasks``); nothing imports the benchmark.
"""
from __future__ import annotations

import os

CALLER_ENV = dict(os.environ)  # the end-to-end commands run with the caller's environment
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads BLAS; no effect if NumPy is already loaded
