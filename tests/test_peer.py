"""The benchmark's peers in a process of their own (``rnnexp.bench.peer``): the child process, its
protocol, and its errors. No timing is asserted."""
import importlib.util
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rnnexp.bench import peer

HAVE_TORCH = importlib.util.find_spec("torch") is not None


def _serve(*commands):
    out = io.StringIO()
    peer.serve(io.StringIO("".join(json.dumps(c) + "\n" for c in commands)), out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_protocol_builds_runs_and_drops_timers_and_answers_errors_without_stopping():
    replies = _serve({"new": ["matmul_floor_timer", [20, 2, 4, 8]]}, {"new": ["matmul_floor_timer", [20, 1, 4, 8]]},
                     {"run": [1, 3]}, {"drop": 0}, {"run": [0, 1]}, {"new": ["PerSampleLoop", [0]]}, {"nonsense": 1},
                     {"status": None}, {"drop": 7})
    assert [r.get("ok") for r in replies[:2]] == [0, 1]  # each timer its own number
    assert replies[2]["ok"] > 0 and replies[3] == {"ok": None}
    assert replies[4]["error"] == "KeyError: 'no timer 0 in the peer process (never built, or dropped)'"
    assert replies[5]["error"].startswith("ValueError: no peer named 'PerSampleLoop'")
    assert replies[6]["error"].startswith("ValueError: unknown command")
    assert replies[7]["ok"]["pid"] == os.getpid()  # served here, in-process
    assert replies[8]["error"] == "KeyError: 'no timer 7 in the peer process (never built, or dropped)'"


def test_a_peer_runs_in_a_process_of_its_own_without_rnnexps_allocator_setting():
    """The child is another process, and rnnexp's allocator setting (which the benchmark applies to
    its own process) is not applied there; a timer built there runs there, and a dropped one is gone,
    with one clear error line, while the child goes on serving."""
    peers = peer.Peers()
    try:
        floor = peers.timer("matmul_floor_timer", 20, 2, 4, 8)
        seconds = floor(2)
        assert np.isfinite(seconds) and seconds > 0
        status = peers.status()
        assert status["pid"] != os.getpid() and status["allocator_applied"] is False
        floor.drop()
        with pytest.raises(peer.PeerError, match="no timer 0 in the peer process"):
            floor(1)
        with pytest.raises(peer.PeerError, match="no peer named 'nope'"):
            peers.timer("nope")
        torch = peers.timer("torch_long_timer", "lstm", 4, 5, "adding")
        assert (torch is not None) == HAVE_TORCH  # None, as in-process, without torch
        if torch is not None:
            assert torch(1) > 0 and peers.status()["torch"] not in (None, "not loaded")
    finally:
        peers.close()
    assert peers._proc is None


def test_a_peer_process_that_dies_is_a_clear_error_and_a_dead_one_is_started_again(monkeypatch):
    peers = peer.Peers()
    try:
        first = peers.status()["pid"]
        peers._proc.kill()
        peers._proc.wait()
        assert peers.status()["pid"] != first  # a child found dead before a command: another one
    finally:
        peers.close()
    # a child that dies during a command (here: it reads the command and exits with status 3)
    monkeypatch.setattr(peer.Peers, "_start", lambda self: subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.readline(); sys.exit(3)"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True))
    peers = peer.Peers()
    try:
        with pytest.raises(peer.PeerError, match=r"^the peer process exited with status 3 \(its error is above\)$"):
            peers.status()
    finally:
        peers.close()
