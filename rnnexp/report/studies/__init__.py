"""Study sections of the report, grouped by study: one module per study, one function per section.

A study's preset names the sections its report shows (``report.sections`` in
``conf/experiment/<study>.yaml``); every other sweep gets the generic report only. A section is a
function ``<name>(ctx: Context) -> list[str]`` in its study's module: it reads the combined tables
in ``ctx`` (``_common.Context``), writes its figures into ``ctx.fig_dir`` and its CSV tables beside
``report.md``, and returns its markdown. A section whose tables lack what it needs says so in its
place (``_common.not_drawn``) rather than vanishing.

Adding a study's section: write the function in ``studies/<study>.py`` and name it in ``SECTIONS``
below (the one line that makes it known, to ``--sections`` and to the pre-launch check). This file
imports nothing, so ``rnnexp.config`` can list the names without loading the plotting libraries.
"""
from __future__ import annotations

import importlib
from typing import Callable

# section name -> the study module that draws it (rnnexp/report/studies/<module>.py)
SECTIONS = {
    "gradients": "gradients",  # gradient reaching t = 1 against sigma_max(Whh), across 1/gamma (study 4)
    "clipping": "clipping",  # outcome by clipping kind and threshold (study 5)
    "lengths": "length",  # did it learn the rule? the final models at other lengths (study 6)
    "bits": "models",  # outcome against sequence length (study 7)
    "seed_metric": "order",  # seed 001's metric against honest accuracies (fixed training set)
    "tolerance": "classic",  # seed 003's view: steps to bring the loss under each tolerance
    "blowup": "seed000",  # seed 000's symptom: weights and gradients blowing up
    "memory": "memory",  # success rate against dependency length, per task and model (study 8)
    "frontier": "frontier",  # the longest length solved per configuration (hydra/sweeper=frontier)
}


def names() -> list[str]:
    """Every section a preset may declare."""
    return list(SECTIONS)


def get(name: str) -> Callable:
    """The function drawing section ``name``."""
    if name not in SECTIONS:
        raise ValueError(f"report.sections: there is no section {name!r}; allowed: {', '.join(SECTIONS)}")
    return getattr(importlib.import_module(f"{__name__}.{SECTIONS[name]}"), name)
