"""Check every configuration of a command line before Hydra starts any job.

Hydra reports a bad override from inside a job, with a traceback, and in a sweep only after
other jobs have trained. ``precheck`` composes every configuration the command would run (every
combination of a sweep) with Hydra's own compose API, applies ``config.check`` to each, checks
that each fits in memory (``memory.check``; a parallel sweep's jobs together) and that the run or
sweep dir and every ``cache_dir`` can be written, and turns the first problem into one line: what
was wrong and what is allowed. Overrides Hydra cannot parse are explained one by one
(``explain_syntax``).
"""
from __future__ import annotations

import difflib
import functools
import os
import re
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Optional

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import get_args_parser
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from . import config, memory


class UsageError(ValueError):
    """A one-line message for the user."""


def combinations(overrides: list[str], multirun: bool) -> list[list[str]]:
    """Every list of plain overrides the command line stands for (one per job of a sweep)."""
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except HydraException as e:
        for o in overrides:  # which one, and why
            try:
                parser.parse_overrides([o])
            except HydraException as one:
                raise UsageError(explain_syntax(o, one)) from None
        raise UsageError(_first_line(e)) from None
    for o in parsed:
        if not o.key_or_group:
            raise UsageError(f"{o.input_line} names no setting: write SETTING=VALUE, e.g. hidden=16; "
                             "see python -m rnnexp --help")
        if o.is_delete() and not o.key_or_group.startswith("hydra"):
            key = o.key_or_group
            raise UsageError(f"{o.input_line} is not allowed: a setting cannot be deleted, only changed "
                             f"(e.g. {_example(key)}); see python -m rnnexp --help")
    sweeps = [o.input_line for o in parsed if o.is_sweep_override()]
    if sweeps and not multirun:
        raise UsageError(f"{sweeps[0]} lists several values: add -m (multirun) to sweep over them")
    swept_task = next((o.input_line for o in parsed if o.key_or_group == "task" and o.is_sweep_override()), None)
    for o in parsed if swept_task else ():  # Hydra sets it on the default task before a job picks its own
        if o.key_or_group.startswith("task.") and not o.is_sweep_override() and not o.is_delete():
            key, value = o.key_or_group, o.input_line.split("=", 1)[1]
            raise UsageError(f"{o.input_line} with a swept task ({swept_task}): Hydra applies a task's own setting "
                             f"before each job chooses its task; write it as a sweep of one value: {key}=choice({value})")
    if not multirun:
        return [overrides]
    for o in parsed:
        if o.is_sweep_override() and not (o.is_choice_sweep() or o.is_range_sweep()):
            raise UsageError(f"{o.input_line} is not allowed: the basic sweeper runs lists of values "
                             f"({o.key_or_group}=a,b,c) and range(start,stop,step), not "
                             f"{o.value_type.name.lower().replace('_sweep', '()')}, which needs an optimizing sweeper")
    try:
        return BasicSweeper.split_arguments(parsed, None)[0]
    except HydraException as e:
        raise UsageError(_first_line(e)) from None


def _char(c: str) -> str:
    return f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed character')}"


def explain_syntax(override: str, e: BaseException) -> str:
    """One line for an override Hydra cannot parse: what is wrong with it and how to write it."""
    shown = override.encode("ascii", "backslashreplace").decode()
    odd = next((c for c in override if ord(c) > 127), None)
    if odd is not None:
        if unicodedata.category(odd) in ("Cf", "Zs", "Zl", "Zp", "Cc"):
            return (f"{shown} contains an invisible character ({_char(odd)}): "
                    "type the override again without it")
        if unicodedata.digit(odd, None) is not None:
            ascii_ = "".join(str(unicodedata.digit(c)) if unicodedata.digit(c, None) is not None else c for c in override)
            return f"{shown} is not allowed: {_char(odd)} is not an ASCII digit; write {ascii_}"
        key = override.split("=", 1)[0]
        return (f"{shown} contains {_char(odd)}: outside quotes an override is ASCII only; quote the value, "
                f"e.g. {key}='...'")
    key, eq, value = override.partition("=")
    name = key.lstrip("+~")
    if not eq:
        return f"{override} has no value: write {name}=VALUE (e.g. {_example(name)}); see python -m rnnexp --help"
    if value.startswith("="):
        return f"{override} is not allowed: write one '=' between the setting and its value, e.g. {name}={value.lstrip('=')}"
    if value.rstrip().endswith(","):
        return (f"{override} ends with a comma: list every value of a sweep, e.g. -m {name}={value.rstrip(', ')},8, "
                f"or give one value: {name}={value.rstrip(', ')}")
    for open_, close in (("[", "]"), ("(", ")"), ("{", "}")):
        if value.count(open_) != value.count(close):
            return f"{override} is not allowed: a '{open_}' is not closed, e.g. {name}{_example_list(name)}"
    for q in ("'", '"'):
        if value.count(q) % 2:
            return f"{override} is not allowed: a {q} quote is not closed"
    return f"{override} is not a valid override ({_first_line(e)}); write SETTING=VALUE, see python -m rnnexp --help"


def _example(name: str) -> str:
    """``name=its default`` (a group: its default option), or a made-up example."""
    if name == "eval_bits":
        return "eval_bits=[16,32]"
    key = f"{name}.name" if name in config.OVERRIDE_NAME.values() else name
    try:
        value = config.select(config.Config(), key)
    except config.ConfigError:
        return "hidden=16"
    return f"{name}={config._show(value)}" if not hasattr(value, "__dataclass_fields__") else "hidden=16"


def _example_list(name: str) -> str:
    return "=[16,32,64]" if name == "eval_bits" else "=[...]"


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def explain(e: BaseException, overrides: list[str], known: list[str]) -> str:
    """One line for a Hydra / OmegaConf composition error."""
    cause = e.__cause__ or e.__context__ or e
    text = str(e)
    m = re.search(r"Could not override '([^']+)'", text)
    if m or "is not in struct" in str(cause):
        key = m.group(1) if m else getattr(cause, "full_key", "?")
        owners = config.task_owners(key)
        if owners:  # another task's setting (task=adding task.delay=3)
            return f"{key} is not a setting of the chosen task: it is one of task={', '.join(owners)}'s"
        near = difflib.get_close_matches(key, known + list(config.OVERRIDE_NAME.values()), n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        return f"{key}: there is no such setting{hint}; see python -m rnnexp --help"
    m = re.search(r"Could not find '([^'/]+)/([^']*)'", text)
    if m:
        group, option = m.groups()
        opts = getattr(e, "options", None) or []
        return f"{group}={option} is not allowed: {group} must be one of {', '.join(opts) or '(no options found)'}"
    if isinstance(e, (ValueError, TypeError)):  # model=123 or model=[1,2]: Hydra expects an option name
        for o in overrides:
            key, _, value = o.lstrip("+~").partition("=")
            if key in config.OVERRIDE_NAME.values():
                opts = GlobalHydra.instance().config_loader().get_group_options(key)
                if value not in opts:
                    return f"{key}={value} is not allowed: {key} must be one of {', '.join(opts)}"
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        key = re.sub(r"\[\d+\]$", "", cause.full_key)  # eval_bits[0] -> eval_bits
        value = next((o.split("=", 1)[1] for o in overrides if o.lstrip("+~").split("=", 1)[0] == key), None)
        what = config.allowed(key) or _first_line(cause)
        shown = f"{key}={value}" if value is not None else key
        return f"{shown} is not allowed: {config.OVERRIDE_NAME.get(key, key)} must be {what}"
    return _first_line(e)


# launchers that come with an optional extra of rnnexp
EXTRAS = {"submitit_local": "cluster", "submitit_slurm": "cluster"}


def check_launcher(overrides: list[str]) -> None:
    """``hydra/launcher=X`` must name an installed launcher (inside an initialized Hydra)."""
    for o in overrides:
        if o.split("=", 1)[0] != "hydra/launcher" or "=" not in o:
            continue
        name = o.split("=", 1)[1]
        options = GlobalHydra.instance().config_loader().get_group_options("hydra/launcher")
        if name not in options:
            extra = f"; install it with: pip install 'rnnexp[{EXTRAS[name]}]'" if name in EXTRAS else ""
            raise UsageError(f"hydra/launcher={name} is not available: hydra/launcher must be one of "
                             f"{', '.join(options)}{extra}")


def preset_sweep(overrides: list[str]) -> list[str]:
    """The sweep a preset declares in ``hydra.sweeper.params``, as overrides (the command line wins).

    Hydra's sweeper adds these to the command line's own; they must be checked too.
    """
    parsed = OverridesParser.create().parse_overrides(overrides)
    plain = [o.input_line for o in parsed if not o.is_sweep_override()]
    try:
        params = compose("config", overrides=plain, return_hydra_config=True).hydra.sweeper.get("params")
    except (HydraException, OmegaConfBaseException, ValueError, TypeError):
        return []  # the same composition fails again below, with its one-line explanation
    given = {o.key_or_group for o in parsed}
    return [f"{k}={v}" for k, v in (params or {}).items() if k.lstrip("+~") not in given]


def folder_problem(path: str) -> Optional[str]:
    """Why rnnexp could not write into the folder ``path`` (created if missing), or None.

    Really tries: creates and removes an empty folder in ``path`` or in its nearest existing
    parent (permissions alone do not tell: root writes into a mode 0500 folder, nobody into /proc).
    """
    probe = Path(os.path.abspath(os.path.expanduser(path)))
    while not probe.exists() and probe != probe.parent:
        if probe.is_symlink():
            return f"{probe} is a broken link"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder"
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
        for cfg in combo_cfgs:  # each alone first: names the first one that cannot fit at all
            memory.check(cfg, free=free, worker=multirun)
        if jobs > 1:
            memory.check(max(combo_cfgs, key=lambda c: memory.estimate(c).total), jobs=jobs, free=free, worker=True)
    except config.ConfigError as e:
        raise UsageError(str(e)) from None


@functools.lru_cache(maxsize=1)
def known_settings() -> tuple[str, ...]:
    """Every setting of the default configuration, for "did you mean" (inside an initialized Hydra).
    Composed once per process, and only for a message: a composition takes ~0.1 s."""
    tasks_own = [k for t in config.task_names() for k in config.setting_types(None, t) if k.startswith("task.")]
    return tuple(dict.fromkeys(config.flat_keys(compose("config")) + tasks_own))  # every task's settings too


def precheck(argv: list[str]) -> None:
    """Raise ``UsageError`` if any configuration the command line stands for is not allowed, would
    not fit in memory, or could not be written."""
    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help or args.cfg or args.info or args.shell_completion:
        return
    overrides = [o for o in args.overrides if not o.lstrip("+~").startswith("hydra")]
    combinations(args.overrides, args.multirun)  # syntax errors first (Hydra's own overrides too)
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config.conf_dir()), version_base="1.3"):
        check_launcher(args.overrides)
        if args.multirun:
            overrides = overrides + preset_sweep(overrides)
        combos = combinations(overrides, args.multirun)
        hydra_overrides = [o for o in args.overrides if o.lstrip("+~").startswith("hydra")]
        cfgs = []
        for i, combo in enumerate(combos):
            try:  # the first with Hydra's node too: run and sweep dirs, launcher
                cfg = compose("config", overrides=combo + hydra_overrides if i == 0 else combo,
                              return_hydra_config=i == 0)
            except (HydraException, OmegaConfBaseException, ValueError, TypeError) as e:
                raise UsageError(explain(e, combo, list(known_settings()))) from None
            try:
                config.check(cfg)
            except config.ConfigError as e:
                raise UsageError(str(e)) from None
            cfgs.append(cfg)
        hydra_cfg = cfgs[0]
        check_memory(cfgs, args.multirun, hydra_cfg.hydra.get("launcher"))
        check_folders(cfgs, hydra_cfg, args.multirun)
    GlobalHydra.instance().clear()


def run_precheck(argv: list[str] | None = None) -> None:
    """``precheck`` for the command line; exits 2 with ``error: ...`` on a bad setting."""
    try:
        precheck(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        GlobalHydra.instance().clear()
        print(f"rnnexp: error: {e}", file=sys.stderr)
        sys.exit(2)
