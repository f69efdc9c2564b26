"""Peers timed in a Python process of their own, as their users run them: ``python -m
rnnexp.bench.peer`` is that process, and ``own_process`` the benchmark's handle on it.

Why: ``python -m rnnexp.bench`` applies rnnexp's allocator setting to its own process before it
times anything (``engine.allocator``: glibc's malloc keeps the memory it frees, as ``python -m
rnnexp`` does for every training), and a PyTorch peer timed in that process got the setting too.
A PyTorch user's process does not have it: glibc returns each freed block above its mmap threshold
(at most 32 MB) to the system, and every new one costs a page fault and a zeroed page per 4 KB.
Measured on 2 cores (AMD EPYC, AVX-512; torch 2.13.0 CPU, one thread; medians of 9 steps), the LSTM
of the ``long`` section, one network, in the benchmark's process against a process of its own:
hidden 64, T = 1000, adding 66 against 140 ms a step, copy 78 against 157; T = 500 33 against 55;
hidden 128, T = 1000 182 against 341; T = 100 6.6 against 6.1 (small arrays stay on the heap).
Until issue 15's tenth round the benchmark timed PyTorch only in the benchmark's process: its peer
ran up to twice as fast as PyTorch runs for its users.

The benchmark now times a PyTorch peer in a process of its own (the targets' peer) and, in the
``long`` section, also in the benchmark's process (``torch_kept_ms``: PyTorch given rnnexp's
allocator setting), side by side. Seconds are measured in the child around the steps alone.

The protocol: one line of JSON per command on the child's stdin and one in reply, ``{"ok": value}``
or ``{"error": text}`` (raised in the parent as ``PeerError``):

- ``{"new": [name, args]}``: builds ``baselines.<name>(*args)``; replies its number, or null when
  that is None (torch is not installed);
- ``{"run": [k, n]}``: runs timer k for n steps; replies the seconds;
- ``{"drop": k}``: forgets timer k;
- ``{"status": null}``: the child's pid, whether rnnexp's allocator setting was applied there
  (never: nothing the child imports applies it) and torch's version (null without torch).
"""
from __future__ import annotations

import atexit
import importlib.util
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

from . import baselines


class PeerError(RuntimeError):
    """The peer process failed a command, or exited."""


class OwnTimer:
    """``run(n) -> seconds`` of a timer living in the peer process; ``drop()`` frees it there."""

    def __init__(self, peers: "Peers", number: int):
        self.peers, self.number = peers, number

    def __call__(self, n: int) -> float:
        return float(self.peers.ask({"run": [self.number, int(n)]}))

    def drop(self) -> None:
        self.peers.ask({"drop": self.number})


class Peers:
    """One child process, started on first use, holding the timers built there."""

    def __init__(self):
        self._proc = None

    def _start(self):
        env = dict(os.environ)  # the same rnnexp as this process's, and whatever finds torch here
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        return subprocess.Popen([sys.executable, "-m", "rnnexp.bench.peer"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, command: dict):
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise PeerError(f"the peer process exited with status {self._proc.wait()} (its error is above)")
        reply = json.loads(line)
        if "error" in reply:
            raise PeerError(reply["error"])
        return reply["ok"]

    def timer(self, name: str, *args) -> OwnTimer | None:
        number = self.ask({"new": [name, list(args)]})
        return None if number is None else OwnTimer(self, number)

    def status(self) -> dict:
        return self.ask({"status": None})

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None


_PEERS = Peers()
atexit.register(_PEERS.close)


def own_process(name: str, *args) -> OwnTimer | None:
    """``baselines.<name>(*args)`` built and timed in the peer process (None where it is None)."""
    return _PEERS.timer(name, *args)


def status() -> dict:
    return _PEERS.status()


def _built(timers: dict, number):
    if number not in timers:
        raise KeyError(f"no timer {number} in the peer process (never built, or dropped)")
    return number


def _reply(command: dict, timers: dict, numbers):
    """The reply to one command; ``timers`` (number -> timer) and ``numbers`` (unused numbers) are the
    child's state."""
    if "new" in command:
        name, args = command["new"]
        if not name.startswith("torch_") and name != "matmul_floor_timer":
            raise ValueError(f"no peer named {name!r}: the peers are baselines' torch_* timers and matmul_floor_timer")
        run = getattr(baselines, name)(*args)
        if run is None:
            return None
        number = next(numbers)
        timers[number] = run
        return number
    if "run" in command:
        number, n = command["run"]
        return timers[_built(timers, number)](n)
    if "drop" in command:
        del timers[_built(timers, command["drop"])]
        return None
    if "status" in command:
        allocator = sys.modules.get("rnnexp.engine.allocator")
        applied = allocator is not None and allocator.keep_freed_memory.cache_info().currsize > 0
        torch = sys.modules.get("torch")
        version = torch.__version__ if torch else (None if importlib.util.find_spec("torch") is None else "not loaded")
        return {"pid": os.getpid(), "allocator_applied": applied, "torch": version}
    raise ValueError(f"unknown command {command!r}")


def serve(inp=sys.stdin, out=sys.stdout) -> None:
    """The child's loop: a reply for each command until its input closes."""
    timers, numbers = {}, itertools.count()
    for line in inp:
        try:
            reply = {"ok": _reply(json.loads(line), timers, numbers)}
        except Exception as e:  # the parent raises it; the child keeps serving
            reply = {"error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()
