"""The frontier search of one configuration: grow, then bisect (no Hydra, no rnnexp: a fake success
function drives it in the tests).

``Search`` answers "which length next?" from the results so far:

- grow: try ``start``; while it passes, double (``max`` at most) until a length fails or ``max`` passes;
- shrink: if ``start`` fails, halve (``min`` at least) until a length passes or ``min`` fails;
- bisect: between the last length that passed (``lo``) and the first that failed (``hi``), try the
  middle, until ``hi - lo <= resolution``.

A length passes when the fraction of replicas that solved is at least ``min_success``. Success is
stochastic, so the bracket is only as sure as the rates on its two sides; lengths tried that
contradict it (passed above ``hi`` or failed below ``lo``) are listed by ``contradictions``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Search:
    start: int
    min: int
    max: int
    resolution: int = 1
    min_success: float = 0.5
    tried: dict[int, tuple[int, int]] = field(default_factory=dict)  # length -> (replicas solved, replicas), in order
    lo: Optional[int] = None  # the largest length that passed (on the search's path)
    hi: Optional[int] = None  # the smallest length that failed

    def passes(self, length: int) -> bool:
        solved, n = self.tried[length]
        return n > 0 and solved / n >= self.min_success

    def next(self) -> Optional[int]:
        """The next length to try, or ``None`` when the frontier is bracketed (or beyond a bound)."""
        if not self.tried:
            return self.start
        if self.hi is None:  # every length so far passed: grow
            return None if self.lo >= self.max else min(max(2 * self.lo, self.lo + 1), self.max)
        if self.lo is None:  # every length so far failed: shrink
            return None if self.hi <= self.min else max(self.hi // 2, self.min)
        if self.hi - self.lo <= self.resolution:
            return None
        return (self.lo + self.hi) // 2

    def record(self, length: int, solved: int, n: int) -> None:
        """The result at ``length``, the length ``next`` asked for: it becomes ``lo`` if it passed,
        ``hi`` if it failed (every length ``next`` proposes lies between the two)."""
        if length != self.next():
            raise ValueError(f"length {length} is not the one the search asked for ({self.next()})")
        self.tried[length] = (int(solved), int(n))
        if self.passes(length):
            self.lo = length
        else:
            self.hi = length

    @property
    def done(self) -> bool:
        return bool(self.tried) and self.next() is None

    @property
    def status(self) -> str:
        if not self.done:
            return "searching"
        if self.hi is None:
            return f"solved up to max ({self.max})"
        if self.lo is None:
            return f"failed down to min ({self.min})"
        return "bracketed"

    def contradictions(self) -> list[int]:
        """Lengths tried whose outcome disagrees with the bracket: passed at or above ``hi``, failed
        at or below ``lo`` (non-monotone success: noise, or a real dip)."""
        return sorted(v for v in self.tried
                      if (self.hi is not None and v >= self.hi and self.passes(v))
                      or (self.lo is not None and v <= self.lo and not self.passes(v)))
