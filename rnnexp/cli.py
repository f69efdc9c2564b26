"""Check every configuration of a command line before Hydra starts any job.

Hydra reports a bad override from inside a job, with a traceback, and in a sweep only after
other jobs have trained. ``precheck`` composes every configuration the command would run (every
combination of a sweep) with Hydra's own compose API, applies ``config.check`` to each, and turns
the first problem into one line: what was wrong and what is allowed.
"""
from __future__ import annotations

import difflib
import functools
import re
import sys

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import get_args_parser
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from . import config


class UsageError(ValueError):
    """A one-line message for the user."""


def combinations(overrides: list[str], multirun: bool) -> list[list[str]]:
    """Every list of plain overrides the command line stands for (one per job of a sweep)."""
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as e:
        raise UsageError(_first_line(e)) from None
    sweeps = [o.input_line for o in parsed if o.is_sweep_override()]
    if sweeps and not multirun:
        raise UsageError(f"{sweeps[0]} lists several values: add -m (multirun) to sweep over them")
    return BasicSweeper.split_arguments(parsed, None)[0] if multirun else [overrides]


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def explain(e: BaseException, overrides: list[str], known: list[str]) -> str:
    """One line for a Hydra / OmegaConf composition error."""
    cause = e.__cause__ or e.__context__ or e
    text = str(e)
    m = re.search(r"Could not override '([^']+)'", text)
    if m or "is not in struct" in str(cause):
        key = m.group(1) if m else getattr(cause, "full_key", "?")
        near = difflib.get_close_matches(key, known + list(config.OVERRIDE_NAME.values()), n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        return f"{key}: there is no such setting{hint}; see python -m rnnexp --help"
    m = re.search(r"Could not find '([^'/]+)/([^']+)'", text)
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


@functools.lru_cache(maxsize=1)
def known_settings() -> tuple[str, ...]:
    """Every setting of the default configuration, for "did you mean" (inside an initialized Hydra).
    Composed once per process, and only for a message: a composition takes ~0.1 s."""
    return tuple(config.flat_keys(compose("config")))


def precheck(argv: list[str]) -> None:
    """Raise ``UsageError`` if any configuration the command line stands for is not allowed."""
    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help or args.cfg or args.info or args.shell_completion:
        return
    overrides = [o for o in args.overrides if not o.lstrip("+~").startswith("hydra")]
    combinations(overrides, args.multirun)  # syntax errors first, before any composition
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config.conf_dir()), version_base="1.3"):
        check_launcher(args.overrides)
        if args.multirun:
            overrides = overrides + preset_sweep(overrides)
        combos = combinations(overrides, args.multirun)
        for combo in combos:
            try:
                cfg = compose("config", overrides=combo)
            except (HydraException, OmegaConfBaseException, ValueError, TypeError) as e:
                raise UsageError(explain(e, combo, list(known_settings()))) from None
            try:
                config.check(cfg)
            except config.ConfigError as e:
                raise UsageError(str(e)) from None
    GlobalHydra.instance().clear()


def run_precheck(argv: list[str] | None = None) -> None:
    """``precheck`` for the command line; exits 2 with ``error: ...`` on a bad setting."""
    try:
        precheck(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        GlobalHydra.instance().clear()
        print(f"rnnexp: error: {e}", file=sys.stderr)
        sys.exit(2)
