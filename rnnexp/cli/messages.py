"""The pre-launch check's one-line messages: what was wrong with an override and what is allowed.

``explain_syntax`` words an override Hydra cannot parse; ``explain`` a Hydra / OmegaConf composition
error. Each returns one line for ``rnnexp: error: ...``; ``UsageError`` carries it.
"""
from __future__ import annotations

import difflib
import functools
import re
import unicodedata

from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from omegaconf.errors import OmegaConfBaseException

from .. import config


class UsageError(ValueError):
    """A one-line message for the user."""


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
        return f"{override} has no value: write {name}=VALUE (e.g. {example(name)}); see python -m rnnexp --help"
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
    return f"{override} is not a valid override ({first_line(e)}); write SETTING=VALUE, see python -m rnnexp --help"


def example(name: str) -> str:
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


def first_line(e: BaseException) -> str:
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
        what = config.allowed(key) or first_line(cause)
        shown = f"{key}={value}" if value is not None else key
        return f"{shown} is not allowed: {config.OVERRIDE_NAME.get(key, key)} must be {what}"
    return first_line(e)


@functools.lru_cache(maxsize=1)
def known_settings() -> tuple[str, ...]:
    """Every setting of the default configuration, for "did you mean" (inside an initialized Hydra).
    Composed once per process, and only for a message: a composition takes ~0.1 s."""
    tasks_own = [k for t in config.task_names() for k in config.setting_types(None, t) if k.startswith("task.")]
    try:
        composed = config.flat_keys(compose("config"))
    except Exception:  # another primary config folder (--config-path): the schema's settings then
        composed = list(config.setting_types())
    return tuple(dict.fromkeys(composed + tasks_own))  # every task's settings too
