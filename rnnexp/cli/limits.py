"""What the machine allows a command: folders rnnexp can write into, and memory for its jobs."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

from omegaconf.errors import OmegaConfBaseException

from .. import config, memory
from .messages import UsageError


def folder_problem(path: str) -> Optional[str]:
    """Why rnnexp could not write into the folder ``path`` (created if missing), or None.

    Really tries: creates and removes an empty folder in ``path`` or in its nearest existing
    parent (permissions alone do not tell: root writes into a mode 0500 folder, nobody into /proc).
    """
    probe = Path(os.path.abspath(os.path.expanduser(path)))
    try:
        while not probe.exists() and probe != probe.parent:
            if probe.is_symlink():
                return f"{probe} is a broken link"
            probe = probe.parent
        if not probe.is_dir():
            return f"{probe} is a file, not a folder"
    except OSError as e:  # a folder on the way may not be entered (``/root/...``, a colleague's 0700 home)
        return f"cannot reach {probe}: {e.strerror}"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".rnnexp-probe-", dir=probe))
    except OSError as e:
        return f"cannot write into {probe}: {e.strerror}"
    return None


def check_folders(combo_cfgs, hydra_cfg, multirun: bool) -> None:
    """The run (or sweep) dir and every ``cache_dir`` must be folders rnnexp can write into."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        folders = {key: hydra_cfg.hydra.sweep.dir if multirun else hydra_cfg.hydra.run.dir}
    except OmegaConfBaseException:  # it names a resolver Hydra registers only when it starts
        folders = {}
    folders.update({f"cache_dir={c.cache_dir}": c.cache_dir for c in combo_cfgs})
    for name, path in folders.items():
        problem = folder_problem(str(path))
        if problem:
            setting = name if "=" in name else f"{name}={path}"
            raise UsageError(f"{setting} is not allowed: {setting.split('=')[0]} must be a folder rnnexp can "
                             f"write into ({problem})")


def parallel_jobs(launcher, n_combos: int) -> Optional[int]:
    """How many jobs of a sweep train on this machine at once (None: elsewhere, e.g. on SLURM)."""
    target = str(launcher.get("_target_", "")) if launcher is not None else ""
    if "Slurm" in target:
        return None
    n = launcher.get("n_jobs", launcher.get("array_parallelism", 1)) if launcher is not None else 1
    n = int(n or 1)
    if n < 0:  # joblib: -1 is one per core, -2 all cores but one...
        n = max(1, (os.cpu_count() or 1) + 1 + n)
    return max(1, min(n, n_combos))


def check_memory(combo_cfgs, multirun: bool, launcher) -> None:
    """Every configuration must fit in memory; in a parallel sweep, the largest ones at once."""
    if not combo_cfgs:
        return
    jobs = parallel_jobs(launcher, len(combo_cfgs)) if multirun else 1
    if jobs is None:
        return
    free = memory.available()
    try:
        # each alone first: names the first one that cannot fit at all
        totals = [memory.check(cfg, free=free, worker=multirun).total for cfg in combo_cfgs]
        if jobs > 1:
            memory.check(combo_cfgs[totals.index(max(totals))], jobs=jobs, free=free, worker=True)
    except config.ConfigError as e:
        raise UsageError(str(e)) from None
