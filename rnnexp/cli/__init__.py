"""Check every configuration of a command line before Hydra starts any job.

Hydra reports a bad override from inside a job, with a traceback, and in a sweep only after
other jobs have trained. ``precheck`` initializes Hydra with the command's own config search path
(``--config-path``, ``--config-dir``, ``--config-name``; ``hydra.searchpath`` applies in every
composition) and checks what can be checked before launch, whatever the sweeper: the fixed
overrides, every value of a list, ``range`` or ``glob``, the bounds of an ``interval`` (an optimizing
sweeper samples between them), and a preset's ``hydra.sweeper.params``. It composes once per
combination of the swept config GROUPS only (~0.2 s each); swept values are applied to the composed
config with Hydra's own override rules, each value once, and every combination is checked as a
``config.Config`` (``config.check``, ~2 ms): a sweep of 1,000 value combinations takes seconds, not
minutes. It also checks that each fits in memory and that the run or sweep dir and every
``cache_dir`` can be written (``limits``), and turns the first problem into one line: what was wrong
and what is allowed (``messages``). A sweep preset run without ``-m`` gets a warning line.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import math
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from hydra import compose, version
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.hydra import Hydra
from hydra._internal.utils import compute_search_path_dir, create_config_search_path, get_args_parser
from hydra.core.config_search_path import SearchPathQuery
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, ValueType
from hydra.errors import HydraException
from omegaconf import OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from .. import config
from .limits import check_folders, check_memory
from .messages import UsageError, example, explain, explain_syntax, first_line, known_settings


def parse(overrides: list[str]) -> list[Override]:
    """The command line's overrides, parsed; ``UsageError`` for one Hydra cannot read or rnnexp refuses
    whatever the configuration (no setting named, a deletion, a task setting beside a swept task)."""
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except HydraException as e:
        for o in overrides:  # which one, and why
            try:
                parser.parse_overrides([o])
            except HydraException as one:
                raise UsageError(explain_syntax(o, one)) from None
        raise UsageError(first_line(e)) from None
    for o in parsed:
        if not o.key_or_group:
            raise UsageError(f"{o.input_line} names no setting: write SETTING=VALUE, e.g. hidden=16; "
                             "see python -m rnnexp --help")
        if o.is_delete() and not o.key_or_group.startswith("hydra"):
            key = o.key_or_group
            raise UsageError(f"{o.input_line} is not allowed: a setting cannot be deleted, only changed "
                             f"(e.g. {example(key)}); see python -m rnnexp --help")
    swept_task = next((o.input_line for o in parsed if o.key_or_group == "task" and o.is_sweep_override()), None)
    for o in parsed if swept_task else ():  # Hydra sets it on the default task before a job picks its own
        if o.key_or_group.startswith("task.") and not o.is_sweep_override() and not o.is_delete():
            key, value = o.key_or_group, o.input_line.split("=", 1)[1]
            raise UsageError(f"{o.input_line} with a swept task ({swept_task}): Hydra applies a task's own setting "
                             f"before each job chooses its task; write it as a sweep of one value: {key}=choice({value})")
    return parsed


def _not_basic(o: Override) -> UsageError:
    return UsageError(f"{o.input_line} is not allowed: the basic sweeper runs lists of values "
                      f"({o.key_or_group}=a,b,c) and range(start,stop,step), not "
                      f"{o.value_type.name.lower().replace('_sweep', '()')}, which needs an optimizing sweeper, "
                      "e.g. hydra/sweeper=optuna (README: Searching with Optuna)")


def combinations(overrides: list[str], multirun: bool) -> list[list[str]]:
    """Every list of plain overrides the command line stands for under the basic sweeper (one per job,
    in its order: the first setting varies slowest). Lists and ranges only: ``glob`` needs Hydra's
    config loader (``precheck`` expands it)."""
    parsed = parse(overrides)
    sweeps = [o for o in parsed if o.is_sweep_override()]
    if sweeps and not multirun:
        raise UsageError(f"{sweeps[0].input_line} lists several values: add -m (multirun) to sweep over them")
    if not multirun:
        return [overrides]
    lists = []
    for o in parsed:
        if o.is_sweep_override() and not o.is_discrete_sweep():
            raise _not_basic(o)
        try:
            values = [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] \
                if o.is_sweep_override() else [o.input_line]
        except HydraException as e:
            raise UsageError(f"{o.input_line}: {first_line(e)}") from None
        lists.append(values)
    return [list(c) for c in itertools.product(*lists)]


# Hydra plugins that come with an optional extra of rnnexp
EXTRAS = {"hydra/launcher": {"submitit_local": "cluster", "submitit_slurm": "cluster"},
          "hydra/sweeper": {"optuna": "search"}}


def check_launcher(overrides: list[str]) -> None:
    """``hydra/launcher=X`` and ``hydra/sweeper=X`` must name installed plugins (inside an initialized Hydra)."""
    for o in overrides:
        group, eq, name = o.partition("=")
        if group not in EXTRAS or not eq:
            continue
        options = GlobalHydra.instance().config_loader().get_group_options(group)
        if name not in options:
            extra = f"; install it with: pip install 'rnnexp[{EXTRAS[group][name]}]'" if name in EXTRAS[group] else ""
            raise UsageError(f"{group}={name} is not available: {group} must be one of "
                             f"{', '.join(options)}{extra}")


@contextlib.contextmanager
def initialized(args):
    """Hydra initialized with the config search path the command runs with, as ``hydra.main`` builds
    it: the package's configs (or ``--config-path``), then ``--config-dir`` (``hydra.searchpath`` is
    applied by each composition)."""
    package = Path(config.__file__).resolve().parent
    primary = str(config.conf_dir()) if args.config_path is None else \
        compute_search_path_dir(str(package / "__main__.py"), None, args.config_path)
    search_path = create_config_search_path(primary)
    if args.config_dir is not None:
        extra = os.path.abspath(args.config_dir)
        if not os.path.isdir(extra):
            raise UsageError(f"--config-dir {args.config_dir} is not allowed: it must be a folder of configs "
                             f"({extra} is not a folder)")
        search_path.prepend(provider="command-line", path=f"file://{extra}", anchor=SearchPathQuery(provider="schema"))
    GlobalHydra.instance().clear()
    version.setbase("1.3")
    Hydra.create_main_hydra2(task_name="__main__", config_search_path=search_path)
    try:
        yield GlobalHydra.instance()
    finally:
        GlobalHydra.instance().clear()


@dataclass
class Sweep:
    """One swept setting: the overrides (``key=value``) whose configurations are checked, and whether
    it chooses a config group (composed) or sets a value (applied to a composed config)."""

    key: str
    group: bool
    overrides: list[str]
    note: str = ""  # said after a refusal of one of its values


def sweep_of(o: Override, loader, basic: bool, is_group) -> Sweep:
    """The values of a swept setting that can be checked before launch: every value of a list,
    ``range`` or ``glob``; the bounds of an ``interval`` (sampled by an optimizing sweeper, which may
    also draw a range's stop); a preset's fixed value as itself."""
    key = o.get_key_element()
    group = is_group(o.key_or_group)
    if not o.is_sweep_override():
        return Sweep(key, group, [o.input_line])
    if o.is_interval_sweep():
        if basic:
            raise _not_basic(o)
        if group:
            raise UsageError(f"{o.input_line} is not allowed: {o.key_or_group} is a config group; sweep its options "
                             f"with a list ({o.key_or_group}=a,b) or glob(*)")
        sweep = o.value()  # Hydra's interval: floats, start <= value < end
        ends = [sweep.start, math.nextafter(sweep.end, sweep.start)]
        return Sweep(key, group, [f"{key}={v!r}" for v in ends],
                     f" ({o.input_line} draws floats, {sweep.start:g} <= value < {sweep.end:g}; an integer setting "
                     f"takes range(start,stop) or a list)")
    if o.value_type == ValueType.GLOB_CHOICE_SWEEP and not group:
        raise UsageError(f"{o.input_line} is not allowed: glob() chooses options of a config group, and "
                         f"{o.key_or_group} is a setting; list its values instead ({o.key_or_group}=a,b)")
    o.config_loader = loader  # a glob is expanded as Hydra's sweepers expand it
    values = list(o.sweep_string_iterator())
    if not values:
        options = ", ".join(loader.get_group_options(o.key_or_group))
        raise UsageError(f"{o.input_line} matches no option: {o.key_or_group} must be one of {options}")
    r = o.value()
    if o.is_range_sweep() and not basic and r.step and (r.stop - r.start) % r.step == 0:
        values.append(Override._get_value_element_as_str(r.stop))  # Optuna draws from [start, stop]
    return Sweep(key, group, [f"{key}={v}" for v in values])


def _compose(name: str, overrides: list[str], with_hydra: bool = False):
    try:
        return compose(name, overrides=overrides, return_hydra_config=with_hydra)
    except (HydraException, OmegaConfBaseException, ValueError, TypeError) as e:
        raise UsageError(explain(e, overrides, list(known_settings()))) from None


def _apply(cfg, overrides: list[str], known_to: list[str]) -> None:
    """Apply value overrides to a composed config exactly as a composition applies them (Hydra's own
    ``_apply_overrides_to_config``: types, struct, ``+``/``++``), without composing again."""
    try:
        ConfigLoaderImpl._apply_overrides_to_config(OverridesParser.create().parse_overrides(overrides), cfg)
    except (HydraException, OmegaConfBaseException, ValueError, TypeError) as e:
        raise UsageError(explain(e, known_to + overrides, list(known_settings()))) from None


def _without_hydra(cfg):
    """A copy of a composed config without Hydra's node (whose values resolve only inside a job)."""
    out = copy.deepcopy(cfg)
    with open_dict(out):
        del out["hydra"]
    return out


def _checked(cfg):
    """``cfg`` (a ``config.Config`` or ``DictConfig``) if ``config.check`` allows it."""
    try:
        config.check(cfg)
    except config.ConfigError as e:
        raise UsageError(str(e)) from None
    return cfg


def _plain(cfg):
    """The composed ``cfg`` as a checked ``config.Config`` (interpolations resolved)."""
    try:
        return _checked(OmegaConf.to_object(cfg))  # Config.__post_init__ checks it too
    except config.ConfigError as e:
        raise UsageError(str(e)) from None


def _with(cfg, key: str, value):
    """A copy of the ``config.Config`` ``cfg`` with the dotted setting ``key`` set to ``value``: the
    nodes on its path are copied, the rest is shared (nothing changes a configuration once made)."""
    *path, leaf = key.split(".")
    out = node = copy.copy(cfg)
    for part in path:
        child = copy.copy(getattr(node, part))
        setattr(node, part, child)
        node = child
    setattr(node, leaf, value)
    return out


def configurations(name: str, fixed: list[str], sweeps: list[Sweep], base) -> list:
    """Every configuration to check, as ``config.Config``: composed once per combination of the
    swept config groups; the swept values are applied to it (each value once, with Hydra's own rules),
    then set per combination on a copy of the checked ``config.Config``, which ``config.check`` checks
    (~2 ms, against ~0.2 s for a composition)."""
    groups, values = [s for s in sweeps if s.group], [s for s in sweeps if not s.group]
    out = []
    for choice in itertools.product(*(s.overrides for s in groups)):
        composed = _compose(name, fixed + list(choice)) if groups else _without_hydra(base)
        typed = []  # per swept value: (override, the value as the schema holds it)
        for s in values:
            pairs = []
            for text in s.overrides:
                one = copy.deepcopy(composed)
                try:
                    _apply(one, [text], fixed + list(choice))
                except UsageError as e:
                    raise UsageError(f"{e}{s.note}") from None
                v = OmegaConf.select(one, s.key.lstrip("+~"))
                pairs.append((text, OmegaConf.to_object(v) if OmegaConf.is_config(v) else v))
            typed.append(pairs)
        first = copy.deepcopy(composed)  # the first in full: unknown settings, and config.check's own lines
        _apply(first, [pairs[0][0] for pairs in typed], fixed + list(choice))
        template = _plain(_checked(first))
        # ${...} resolves against the whole configuration: in a swept value or in a config (hidden: ${bits})
        interpolated = any("${" in text for pairs in typed for text, _ in pairs) or "${" in OmegaConf.to_yaml(composed)
        for combo in itertools.product(*typed):
            if interpolated:  # apply them all, then resolve
                cfg = copy.deepcopy(composed)
                _apply(cfg, [text for text, _ in combo], fixed + list(choice))
                out.append(_plain(cfg))
                continue
            cfg = template
            for (text, v), s in zip(combo, values):
                cfg = _with(cfg, s.key.lstrip("+~"), v)
            out.append(_checked(cfg))
    return out


def precheck(argv: list[str]) -> list[str]:
    """Raise ``UsageError`` if any configuration the command line stands for is not allowed, would
    not fit in memory, or could not be written; returns the warnings to print (a sweep preset run
    without -m)."""
    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help or args.cfg or args.info or args.shell_completion:
        return []
    parsed = parse(args.overrides)  # syntax errors first (Hydra's own overrides too)
    name = args.config_name or "config"
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    with initialized(args) as gh:
        check_launcher(args.overrides)
        base = _compose(name, fixed, with_hydra=True)  # Hydra's master config: the sweep's values left out
        multirun = bool(args.multirun) or str(base.hydra.mode).endswith("MULTIRUN")
        swept = [o for o in parsed if o.is_sweep_override()]
        if swept and not multirun:
            raise UsageError(f"{swept[0].input_line} lists several values: add -m (multirun) to sweep over them")
        hydra_swept = next((o for o in swept if o.is_hydra_override()), None)
        if hydra_swept is not None:
            raise UsageError(f"{hydra_swept.input_line} is not allowed: a sweep cannot change Hydra's own settings")
        params = base.hydra.sweeper.get("params") or {}
        given = {o.key_or_group for o in parsed}
        preset = [f"{k}={v}" for k, v in params.items() if k.lstrip("+~") not in given]
        warnings = []
        if params and not multirun:
            warnings.append(f"this configuration declares a sweep over {', '.join(map(str, params))} "
                            "(hydra.sweeper.params), but without -m it runs one configuration only; "
                            f"to run the sweep: python -m rnnexp -m {shlex.join(argv)}".rstrip())
        basic = str(base.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper")
        loader = gh.config_loader()
        hydra_fixed = [o.input_line for o in parsed if o.is_hydra_override() and not o.is_sweep_override()]
        is_group = functools.lru_cache(maxsize=None)(  # as Hydra decides: a group of the search path
            lambda key: bool(loader.get_group_options(key, config_name=name, overrides=hydra_fixed)))
        sweeps = [sweep_of(o, loader, basic, is_group) for o in parse(preset) + swept] if multirun else []
        cfgs = configurations(name, fixed, sweeps, base)
        check_memory(cfgs, multirun, base.hydra.get("launcher"))
        check_folders(cfgs, base, multirun)
    return warnings


def run_precheck(argv: list[str] | None = None) -> None:
    """``precheck`` for the command line: exits 2 with ``error: ...`` on a bad setting; prints its
    warnings (one line each) and goes on."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        warnings = precheck(argv)
    except UsageError as e:
        GlobalHydra.instance().clear()
        print(f"rnnexp: error: {e}", file=sys.stderr)
        sys.exit(2)
    for w in warnings:
        print(f"rnnexp: warning: {w}", file=sys.stderr, flush=True)
