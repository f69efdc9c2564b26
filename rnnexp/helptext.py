"""What every setting means, in one place: ``--help``, the README's Settings table and shell
completion's choices are all made from it.

``MEANINGS`` says what a setting does; what it may be comes from the checks themselves
(``config.RULES`` and a model's or task's own ``RULES``), so the help never disagrees with the
error a bad value gets. A setting only some models or tasks have is described per owner.
``tests/test_help.py`` checks that every setting of the schema has a meaning here, that ``--help``
shows each with its allowed values, and that the README's table is the one ``markdown_table()`` makes.

Kept out of ``config.py``: the cache key hashes that module's source (``runs.cache``), and
rewording a description must not retrain every stored result.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf

from . import config, tasks
from .engine import models

# setting (its command-line name: a group by its name, ``clip``, not ``clip.name``) -> what it means;
# a setting only some tasks or models have: {owner: meaning}. Markdown: `code`, [links](#anchors).
MEANINGS: dict[str, Any] = {
    "task": "what is learnt (group, `conf/task/`; see [Tasks](#tasks))",
    "task.delay": {"addition": "the sum bit of input position k is expected `task.delay` steps after that "
                               "position is read (inputs padded at the end)"},
    "task.length": {"adding": "T, steps per sequence",
                    "copy": "T: a symbol is recalled T + K steps after it is read, K the symbols to copy "
                            "(`task.symbols`): T + 2K steps"},
    "task.symbols": {"copy": "K, the symbols to copy (Arjovsky et al.: 10; fewer ask less memory at the same "
                             "distance)"},
    "model": "sequence model (group, `conf/model/`; see [Models](#models))",
    "model.layers": "stacked recurrent layers; layer l > 1 reads layer l-1's states",
    "model.merge": {"birnn": "how the two directions' states combine per step"},
    "model.forget_bias": {"lstm": "initial forget-gate bias (only with `bias=true`), keeps the cell's memory early on"},
    "hidden": "hidden units",
    "activation": "hidden activation (in `lstm` and `gru`: the candidate's and the cell output's)",
    "bias": "biases `bh`, `by` on or off",
    "loss": "`task=addition`'s per-step output and loss",
    "init": "weight init (group)",
    "init.scale": "multiplies the recurrent matrix `Whh`: moves its spectral radius",
    "init.input_scale": "multiplies every other weight matrix",
    "clip": "gradient clipping (group)",
    "clip.threshold": "clipping level",
    "bptt.truncate": "`null`: full BPTT; `k`: each step's loss reaches back at most k earlier steps",
    "optimizer": "optimizer (group)",
    "optimizer.momentum": "`optimizer=sgd`: heavy-ball momentum (0: plain SGD)",
    "optimizer.beta1": "`optimizer=adam`: decay of the first moment",
    "optimizer.beta2": "`optimizer=adam`: decay of the second moment",
    "optimizer.eps": "`optimizer=adam`: added outside the square root of the second moment",
    "lr": "learning rate",
    "lr_schedule": "learning-rate schedule",
    "time_reduction": "how per-step losses combine over time",
    "bits": "`task=addition`: sequence length (bits of the sum); operands are uniform in `[0, 2**(bits-1))`",
    "order": "`task=addition`: which end of the numbers the sequence starts from",
    "batch": "problems per step (`1` = the seeds' per-sample SGD)",
    "steps": "training steps (ignored when `epochs` is set)",
    "train_size": "`0`: fresh random problems every step; `N`: a fixed set of N problems per replica, iterated in order",
    "train_set": "who draws the fixed set (needs `train_size`)",
    "epochs": "passes over the fixed set (needs `train_size`)",
    "replicas": "independent networks trained at once; replica r uses `SeedSequence(seed).spawn(replicas)[r]`, "
                "so its result does not depend on how many run beside it",
    "seed": "root seed",
    "eval_every": "evaluate (and measure gradients) every this many steps and at the end",
    "cache": "reuse a finished training of the same settings and engine code (see [Re-running, resuming and "
             "extending a sweep](#re-running-resuming-and-extending-a-sweep)); `false`: train again and replace "
             "the stored result",
    "cache_dir": "where finished trainings are stored; a relative path is taken from the folder the command is started in",
    "checkpoint_seconds": "save a training's state at most this often (at a step boundary, beside its cache entry), "
                          "so that the same command resumes a killed job; `0`: after every step (see [Re-running, "
                          "resuming and extending a sweep](#re-running-resuming-and-extending-a-sweep))",
    "progress_seconds": "when the output is no terminal (a pipe, a log, CI, SLURM): a progress line on stderr this "
                        "often, the first after that long; `0`: none (on a terminal: a live bar)",
    "eval_bits": "also score the final model at these lengths (did it learn the carry rule?)",
    "report.sections": "study sections added to a sweep's report (see [Reports](#reports)); not part of a result",
    "report.format": "also write each figure in this vector format beside its PNG (see [Reports](#reports)); "
                     "not part of a result",
    "precision": "float of weights, states and batches (`float32`: half the memory, 2-4x faster per step on long "
                 "sequences, the cells' element-wise work compiled with numba and `tanh` a rational "
                 "approximation within 2.6e-7; trains like float64 within the tolerances of "
                 "`tests/test_precision.py`; gradient checks stay float64; see [Performance](#performance))",
    "objective": "the number each run returns to a sweeper that optimises (see [Searching with Optuna]"
                 "(#searching-with-optuna)); a run-time setting: another objective re-scores the same run, "
                 "trains nothing again",
}

# what each option of a choice means, where the name alone does not say it
OPTIONS: dict[str, dict[str, str]] = {
    "model.merge": {"concat": "own output weights per direction, as in seed 004", "sum": "h_fwd + h_bwd"},
    "loss": {"bce": "sigmoid + cross-entropy", "mse": "sigmoid + squared error, seed 002's rule",
             "softmax": "2-class, seed 001"},
    "init": {"uniform": "U[-1,1)", "fan_in": "U(+-sqrt(1/fan_in))", "normal": "N(0, 1/fan_in)",
             "orthogonal": "orthogonal `Whh`", "identity": "`Whh = init.scale * I`, the IRNN"},
    "clip": {"norm": "global norm per replica, Pascanu et al.", "value": "element-wise"},
    "lr_schedule": {"halve_on_rise": "halve a replica's learning rate when its loss rose since the last check: "
                                     "every epoch on a fixed set, else every evaluation; seed 001"},
    "time_reduction": {"mean": "averaged", "sum": "summed, seed 002"},
    "objective": {"eval_loss": "minimize", "success": "maximize", "steps_to_solve": "minimize"},
    "order": {"lsb": "least significant bit first", "msb": "most significant first: inputs and target reversed"},
    "train_set": {"per_replica": "each replica its own, from its data stream",
                  "shared": "one set for every replica, from its own generator of `seed`: seed 001's protocol"},
}

OWNERS = {"task": tasks, "model": models}  # a setting under task. or model. may belong to some of them only


def settings() -> list[str]:
    """Every setting by its command-line name, in the schema's order; a model's or task's own
    settings follow the group's common ones."""
    out = [config.OVERRIDE_NAME.get(k, k) for k in config.setting_types()]
    for m in [None, *models.names()]:
        for t in [None, *tasks.names()]:
            for name in map(lambda k: config.OVERRIDE_NAME.get(k, k), config.setting_types(m, t)):
                if name not in out:
                    at = max(i for i, n in enumerate(out) if n.split(".")[0] == name.split(".")[0])
                    out.insert(at + 1, name)
    return out


def _key(name: str) -> str:
    """Command-line name -> config key: ``clip`` -> ``clip.name``."""
    return f"{name}.name" if f"{name}.name" in config.OVERRIDE_NAME else name


def owners(name: str) -> list[str]:
    """The tasks or models that have the setting (all of them: ``[]``)."""
    group = name.split(".")[0]
    reg = OWNERS.get(group)
    if reg is None or "." not in name or name in config.setting_types():
        return []
    kind = {"task": lambda o: config.setting_types(None, o), "model": lambda o: config.setting_types(o, None)}[group]
    return [o for o in reg.names() if name in kind(o)]


def allowed(name: str, owner: Optional[str] = None) -> Optional[str]:
    """What the checks allow for a setting (a model's or task's own: ``owner``'s rule)."""
    if owner is not None:
        rule = getattr(OWNERS[name.split(".")[0]].module(owner), "RULES", {}).get(name)
        if rule:
            return rule[1]
    return config.allowed(_key(name))


def choices(name: str, owner: Optional[str] = None) -> list[str]:
    """The values a setting may take when they are few (``clip``: none, norm, value), else ``[]``;
    for a model's or task's own setting, ``owner``'s (any owner's when ``None``)."""
    what = allowed(name, owner or next(iter(owners(name)), None)) or ""
    if what == "true or false":
        return ["true", "false"]
    return what[len("one of "):].split(", ") if what.startswith("one of ") else []


def default(name: str, owner: Optional[str] = None) -> Any:
    """The schema's default (for ``owner``'s own setting: its ``Conf``'s)."""
    group = name.split(".")[0]
    if owner is not None:
        conf = OWNERS[group].conf_class(owner)
        return getattr(conf, name.split(".", 1)[1])
    node: Any = config.Config()
    for part in _key(name).split("."):
        node = getattr(node, part)
    return node


def show(value: Any) -> str:
    """A value as it is written on the command line."""
    if isinstance(value, list):
        return "[" + ",".join(map(show, value)) + "]"
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def describe(name: str) -> list[tuple[Optional[str], str]]:
    """``(owner, meaning with its allowed values)`` for a setting, markdown; one per owner, if any."""
    meaning = MEANINGS[name]
    if isinstance(meaning, dict):
        return [(o, _with_allowed(name, meaning[o], o)) for o in owners(name)]
    return [(None, _with_allowed(name, meaning, None))]


def _with_allowed(name: str, meaning: str, owner: Optional[str]) -> str:
    values = choices(name, owner)
    if values:
        notes = OPTIONS.get(name, {})
        return f"{meaning}: " + ", ".join(f"`{v}`" + (f" ({notes[v]})" if v in notes else "") for v in values)
    what = allowed(name, owner)
    return f"{meaning}; {what}" if what else meaning


def markdown_table() -> str:
    """The README's Settings table."""
    rows = ["| override | default | meaning and allowed values |", "|---|---|---|"]
    for name in settings():
        for owner, text in describe(name):
            where = f"`{name.split('.')[0]}={owner}`: " if owner else ""
            rows.append(f"| `{name}` | `{show(default(name, owner))}` | {where}{text} |")
    return "\n".join(rows)


def plain(text: str) -> str:
    """Markdown -> terminal text: links become their words, code its text."""
    return re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text).replace("`", "")


def presets() -> dict[str, str]:
    """Study presets (``conf/experiment/``) -> the first sentence of their description."""
    out = {}
    for path in sorted((config.conf_dir() / "experiment").glob("*.yaml")):
        lines = [ln[1:].strip() for ln in path.read_text().splitlines() if ln.startswith("#") and "@package" not in ln]
        text = " ".join(lines)
        first = re.split(r"(?<=[.?])\s", text, maxsplit=1)[0]
        out[path.stem] = first.split(": ")[0] if len(first) > 110 else first
    return out


def text(values: Optional[dict[str, Any]] = None, width: int = 100) -> str:
    """The ``--help`` body: presets and every setting with its value (``values``: the composed config's,
    flattened; else the defaults), meaning and allowed values."""
    values = values or {}
    out = ["== Presets (studies): add one with +experiment=NAME, e.g. rnnexp -m +experiment=order =="]
    for name, about in presets().items():
        out += textwrap.wrap(about, width, initial_indent=f"  {name:<10} ", subsequent_indent=" " * 13)
    out += ["", "== Settings: key=value (the value: this command's), meaning; allowed values =="]
    for name in settings():
        for owner, about in describe(name):
            chosen = owner is None or values.get(f"{name.split('.')[0]}.name") == owner
            head = f"  {name}={show(values[_key(name)] if chosen and _key(name) in values else default(name, owner))}"
            about = plain(about) if owner is None else f"{name.split('.')[0]}={owner} only: {plain(about)}"
            out += textwrap.wrap(about, width, initial_indent=f"{head:<28}" if len(head) < 28 else head + " ",
                                 subsequent_indent=" " * 28, break_on_hyphens=False)
    return "\n".join(out)


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in node.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def help_resolver(*, _root_) -> str:
    """``${rnnexp_settings:}`` in the help template (conf/hydra/help/rnnexp.yaml): the settings of the
    composed config, so ``--help model=lstm`` shows the lstm's values. ``$`` is doubled: Hydra runs
    the template through ``string.Template``."""
    tree = OmegaConf.to_container(_root_, resolve=False)
    tree.pop("hydra", None)
    return text(_flat(tree)).replace("$", "$$")


def readme_settings(readme: Path) -> str:
    """The Settings table as it is in the README (the rows after its header)."""
    lines = readme.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| override | default |"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return "\n".join(lines[start:end])


def register() -> None:
    """Make ``${rnnexp_settings:}`` available to the help template (once per process)."""
    if not OmegaConf.has_resolver("rnnexp_settings"):
        OmegaConf.register_new_resolver("rnnexp_settings", help_resolver)

