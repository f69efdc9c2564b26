"""Binomial intervals for success rates: the 95 % Wilson score interval.

A success rate is k of n replicas. A bootstrap of the 0/1 outcomes gives a zero-width band at 0/n
and n/n (every resample is all zeros or all ones), which claims certainty ten replicas cannot give.
The Wilson interval is closed-form (no scipy), never zero-width, and covers close to its nominal
95 % even for small n; at 10/10 it is [0.72, 1] (Clopper-Pearson's exact, more conservative
interval would be [0.69, 1]). Tables and figures of success rates use it.
"""
from __future__ import annotations

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile
NAME = "95 % Wilson interval"


def wilson(k, n, z: float = Z95):
    """The Wilson score interval of ``k`` successes in ``n`` trials: ``(lo, hi)``, arrays or floats.

    ``n == 0`` gives NaN bounds (no trial, no interval).
    """
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo, hi = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    lo = np.where(k <= 0, 0.0, lo)  # exact ends: rounding must not leave 1e-17 for a bound that is 0 or 1
    hi = np.where(k >= n, 1.0, hi)
    lo, hi = np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)
    return (float(lo), float(hi)) if lo.ndim == 0 else (lo, hi)


def band(values) -> tuple[float, float]:
    """The Wilson interval of 0/1 outcomes (NaN left out): an ``errorbar`` for seaborn's lineplot."""
    x = np.asarray(values, float)
    x = x[~np.isnan(x)]
    return wilson(float(x.sum()), len(x)) if len(x) else (np.nan, np.nan)


def text(k: int, n: int, percent: bool = False) -> str:
    """``[0.72, 1]`` (or ``[72–100 %]``): the interval as a table cell shows it."""
    lo, hi = wilson(k, n)
    if np.isnan(lo):
        return "n/a"
    if percent:
        return f"[{100 * lo:.0f}–{100 * hi:.0f} %]"
    ends = {0.0: "0", 1.0: "1"}  # exact ends written as such; 0.996 stays 1.00
    return f"[{ends.get(lo, f'{lo:.2f}')}, {ends.get(hi, f'{hi:.2f}')}]"
