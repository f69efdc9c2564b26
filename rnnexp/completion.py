"""Shell completion for the ``rnnexp`` command: Hydra's, with the choices of every setting.

``eval "$(rnnexp -sc install=bash)"`` installs Hydra's bash completion for the command; on each
<TAB> bash runs ``rnnexp -sc query=bash`` with the line in ``COMP_LINE``, and the entry point answers
it here (``query``). Hydra completes config groups (``clip=`` -> ``clip=none``, ``clip=norm``, ...)
and setting names from the composed config, but a plain value only with its current value, and an
``Enum``-typed one as ``Act.tanh`` (hydra/plugins/completion_plugin.py, ``_get_matches``): so the
schema keeps plain strings and the choices come from the checks' own rules (``helptext.choices``).
Two more fixes to Hydra's answer: the internal groups (``arm``, ``span``: the studies' bundles) are not offered,
and presets are offered as ``+experiment=NAME`` (the only way they can be given).
"""
from __future__ import annotations

import os
import re
import shlex
from typing import Optional

from . import config, helptext

HIDDEN_GROUPS = ("arm", "span")  # bundles of settings the study presets sweep over: not for users
ADDED_GROUPS = ("experiment",)  # not in the defaults list: given as +experiment=NAME

# the program at the start of the line: rnnexp, path/to/rnnexp, python[3] -m rnnexp
PROGRAM = re.compile(r"^\s*(?:\S*python[0-9.]*\s+-m\s+rnnexp|\S*rnnexp)(?:\s+|$)")


def args_of(line: str) -> str:
    """The arguments of a command line, without the program."""
    m = PROGRAM.match(line)
    return line[m.end():] if m else line


def query(line: str) -> list[str]:
    """Completions of the last word of ``line`` (a whole command line, as bash gives it)."""
    from hydra import initialize_config_dir
    from hydra._internal.core_plugins.bash_completion import BashCompletion
    from hydra.core.global_hydra import GlobalHydra

    args = args_of(line)
    word = "" if args == "" or args[-1] == " " else args.split()[-1]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config.conf_dir()), version_base="1.3", job_name="rnnexp"):
        found = BashCompletion(GlobalHydra.instance().config_loader())._query(config_name="config", line=args)
    return sorted(set(_fix(found, word)))


def _fix(found: list[str], word: str) -> list[str]:
    out = []
    for item in found:
        group = item.lstrip("+~").split("=")[0].split("/")[0].split(".")[0]
        if group in HIDDEN_GROUPS:
            continue
        if group in ADDED_GROUPS and not item.startswith("+"):
            item = "+" + item
        out.append(item)
    key = word.lstrip("+~").split("=")[0] if "=" in word else None
    values = helptext.choices(key) if key in helptext.settings() and key not in config.OVERRIDE_NAME.values() else []
    if values:  # a plain setting with few values: every one, not only its current value
        prefix = word[: word.index("=") + 1]
        out = [x for x in out if not x.startswith(prefix)]
        out += [prefix + v for v in values]
    return [x for x in out if x.startswith(word)]  # bash keeps only these (compgen -W ... -- word)


def answer(argv: list[str]) -> Optional[int]:
    """``rnnexp -sc query=bash`` (what bash runs on <TAB>): print the completions; ``None`` for any
    other command (installing or removing completion: Hydra's own)."""
    if not any(a in ("-sc", "--shell-completion") for a in argv):
        return None
    shells = [a.split("=", 1)[1] for a in argv if a.startswith("query=")]
    if not shells:
        return None
    if shells[0] != "bash":
        return None  # fish: Hydra's own query
    print(" ".join(shlex.quote(c) if " " in c else c for c in query(os.environ.get("COMP_LINE", ""))))
    return 0
