"""Which swept key gets which role in the figures (colour, panel columns, panel rows), within bounds.

A sweep may have keys with hundreds of values (``-m 'hidden=range(1,200)'``, or an Optuna search
whose every sampled value is new): one panel or one legend entry per value would grow a figure
without bound. So: the colour goes to the key with most values (continuous when numeric and many,
``layout.Layout``); panels only to keys with at most ``layout.MAX_PANEL_VALUES`` values and at most
``layout.MAX_PANELS`` panels in all; a key left over is *unplaced*: pooled in the panels, and shown
against the outcome in the figure *Outcome against each swept setting* (``outcomes.by_setting``).
"""
from __future__ import annotations

import math

import pandas as pd

from ..runs import combine as collect  # outside the report: which swept keys follow from another
from .layout import MAX_PANEL_VALUES, MAX_PANELS, Layout, is_numeric


def paired(summary: pd.DataFrame, keys: list[str]) -> list[str]:
    """The keys set by another key's value (``collect.paired_keys``: ``bptt.truncate`` by ``model``), where a
    *sampled* key takes no part: a numeric key with its own value in every configuration (an Optuna
    search's ``lr``) would otherwise "determine" every other key, and hide them all."""
    configs = summary[keys].drop_duplicates() if keys else summary.iloc[:0]
    sampled = {k for k in keys if len(configs) > 2 and is_numeric(summary[k])
               and configs[k].nunique(dropna=False) == len(configs)}
    return collect.paired_keys(summary, [k for k in keys if k not in sampled])


def n_values(summary: pd.DataFrame, key: str) -> int:
    return int(summary[key].nunique(dropna=False))


def choose_layout(summary: pd.DataFrame, keys: list[str], hue=None, col=None, row=None) -> Layout:
    """Colour, columns, rows: what the user asked for, the rest from the swept keys.

    Colour goes to the swept key with most values, columns to the next, rows to the rest; ``order``
    (where the msb reference lines apply) is preferred as a panel key over colour. A key whose values
    follow one-to-one from an earlier key's (``paired``) gets no role of its own. Panel
    keys have at most ``MAX_PANEL_VALUES`` values and make at most ``MAX_PANELS`` panels; the keys
    that fit nowhere are ``Layout.unplaced``.
    """
    chosen = [k for k in (hue, col, *(row or [])) if k]
    for k in chosen:
        if k not in summary.columns:
            raise ValueError(f"{k}: not a column of the summary table; swept keys: {', '.join(keys) or 'none'}")
    if len(set(chosen)) < len(chosen):
        raise ValueError(f"each key may be used once: --hue {hue} --col {col} --row {' '.join(row or [])}")
    for flag, k in [("--col", col)] + [("--row", r) for r in row or []]:
        if k and n_values(summary, k) > MAX_PANEL_VALUES:
            raise ValueError(f"{flag} {k}: {n_values(summary, k)} values, a panel key may have at most "
                             f"{MAX_PANEL_VALUES} (give it --hue, or leave it out: it is then shown against the outcome)")
    asked = (n_values(summary, col) if col else 1) * math.prod(n_values(summary, r) for r in row or [])
    if asked > MAX_PANELS:
        raise ValueError(f"--col/--row make {asked} panels; a figure has at most {MAX_PANELS}")
    set_by = paired(summary, keys)  # e.g. bptt.truncate set by model: no panel or colour of its own
    rest = sorted((k for k in keys if k not in chosen and k not in set_by),
                  key=lambda k: (-n_values(summary, k), keys.index(k)))
    if hue is None and "order" in rest and len(rest) > 1 and rest[0] == "order":
        rest[0], rest[1] = rest[1], rest[0]
    if hue is None and rest:
        hue = rest.pop(0)
    fits = [k for k in rest if n_values(summary, k) <= MAX_PANEL_VALUES]
    unplaced = [k for k in rest if k not in fits]
    if col is None and fits:
        col = fits.pop(0)
    rows = list(row or [])
    panels = (n_values(summary, col) if col else 1) * math.prod(n_values(summary, r) for r in rows)
    for k in fits:
        if panels * n_values(summary, k) <= MAX_PANELS:
            rows.append(k)
            panels *= n_values(summary, k)
        else:
            unplaced.append(k)
    lay = Layout.make(summary, hue, col, rows)
    lay.unplaced = unplaced
    return lay


def sampled(lay: Layout) -> list[str]:
    """The swept keys whose values the panels cannot show one by one: the continuous colour and the
    unplaced keys (an Optuna search's sampled settings). Empty for a small grid."""
    return ([lay.hue] if lay.continuous or lay.lumped else []) + list(lay.unplaced)

