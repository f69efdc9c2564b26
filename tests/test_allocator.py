"""``engine.allocator.keep_freed_memory``: a training process reuses the pages of the arrays it
freed instead of faulting in fresh ones every step (measured in a fresh process, by its minor page
faults); the entry point and a sweep's workers apply it."""
import subprocess
import sys

import pytest

from rnnexp.engine import allocator
from rnnexp.runs import workers

PROBE = """
import resource, sys
import numpy as np
from rnnexp.engine import allocator
if sys.argv[1] == "keep":
    assert allocator.keep_freed_memory()
for i in range(3):  # a step's large array, allocated, written and freed three times
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.empty(64 * 2**20 // 8)
    a[:] = 1.0
    del a
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(faults)  # in the third round
"""


def _third_round_faults(mode):
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.slow  # two fresh processes: the fast suite's budget
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_a_freed_large_array_is_reused_without_page_faults():
    fresh, kept = _third_round_faults("default"), _third_round_faults("keep")
    assert fresh >= 32  # a fresh mmap every round: a fault per page (per 2 MB one with huge pages)
    assert kept <= fresh // 10, (fresh, kept)  # the heap's pages, mapped already (measured: 544 and 0)


def test_the_entry_point_and_the_workers_apply_it(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1))
    monkeypatch.setattr(workers.signal, "signal", lambda *a: None)
    workers.ignore_ctrl_c()
    assert calls == [1]
    import rnnexp.__main__ as entry  # noqa: PLC0415
    assert "allocator.keep_freed_memory()" in open(entry.__file__).read()
