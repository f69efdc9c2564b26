"""The typed configuration schema and the checks every setting must pass before training.

OmegaConf enforces the types (``hidden=abc`` fails); ``check`` enforces ranges, choices and
relations between settings, with one line per problem naming the setting and what is allowed.
Only the Hydra entry point and ``runs.job.run`` see a ``DictConfig``; the numerical code gets plain
values.

Over 400 lines because the schema, its rules and the checks that apply them are one unit: a
setting's type, default, allowed values and the message that names them are read side by side.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import numbers
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .engine import activations, gradients, init, losses, models, network, optim
from .engine.models import ModelConf  # name, layers; a model's own settings extend it (engine/models)
from . import tasks
from .tasks import TaskConf  # name; a task's own settings extend it (rnnexp/tasks)
from .tasks.addition import data
from .report import studies  # the report's section names only: a plain dict, nothing is drawn or imported

LR_SCHEDULES = ("constant", "halve_on_rise")
# the number a run returns to a Hydra sweeper (computed from its summary: rnnexp/runs/objective.py)
OBJECTIVES = ("eval_loss", "success", "steps_to_solve")


@dataclass
class InitConf:
    name: str = "xavier"  # weight init scheme
    scale: float = 1.0  # multiplies the recurrent matrix Whh (moves its spectral radius)
    input_scale: float = 1.0  # multiplies every other weight matrix


@dataclass
class ClipConf:
    name: str = "none"  # none | norm (global norm, per replica) | value (element-wise)
    threshold: float = 1.0  # clip level


@dataclass
class OptimizerConf:
    name: str = "adam"  # sgd | adam
    momentum: float = 0.0  # sgd only: heavy-ball momentum in [0, 1)
    beta1: float = 0.9  # adam only
    beta2: float = 0.999  # adam only
    eps: float = 1e-8  # adam only


@dataclass
class BpttConf:
    truncate: Optional[int] = None  # null: full BPTT; k: each step's loss reaches back k steps


@dataclass
class ReportConf:
    sections: List[str] = field(default_factory=list)  # study sections of the sweep's report (rnnexp/report/studies)
    format: str = "png"  # png | svg | pdf: also write every figure as a vector file beside its PNG


@dataclass
class Config:
    task: TaskConf = field(default_factory=TaskConf)  # what is learnt: a task of rnnexp/tasks (conf/task/)
    model: ModelConf = field(default_factory=ModelConf)
    hidden: int = 16  # hidden units
    activation: str = "tanh"  # hidden activation
    bias: bool = True  # use biases bh, by
    loss: str = "bce"  # per-step output and loss
    init: InitConf = field(default_factory=InitConf)
    clip: ClipConf = field(default_factory=ClipConf)
    bptt: BpttConf = field(default_factory=BpttConf)
    optimizer: OptimizerConf = field(default_factory=OptimizerConf)
    lr: float = 0.01  # learning rate
    lr_schedule: str = "constant"  # constant | halve_on_rise (seed 001)
    time_reduction: str = "mean"  # mean | sum: how per-step losses combine into the objective
    bits: int = 8  # task=addition: sequence length = bits of the sum
    order: str = "lsb"  # task=addition: lsb | msb, which end the sequence starts from
    batch: int = 32  # problems per step (1 = the seeds' per-sample SGD)
    steps: int = 1000  # training steps (ignored when epochs is set)
    train_size: int = 0  # 0: fresh random problems every step; N: a fixed set of N problems
    train_set: str = "per_replica"  # per_replica: each replica draws its own fixed set; shared: one set,
    #   drawn from its own generator of seed, for every replica (seed 001's protocol; needs train_size > 0)
    epochs: Optional[int] = None  # passes over the fixed set (needs train_size > 0)
    replicas: int = 10  # independent models trained at once, vectorised
    precision: str = "float64"  # float64 | float32: the float of weights, states and batches (README: Performance)
    seed: int = 0  # replica r uses SeedSequence(seed).spawn(replicas)[r]
    eval_every: int = 100  # evaluate every this many steps (and at the end)
    cache: bool = True  # reuse a finished training of the same settings and code; false: train again
    cache_dir: str = "runs/.cache"  # where finished trainings are stored (relative: to the launch dir)
    checkpoint_seconds: float = 60.0  # save a training's state at most this often, to resume it (0: every step)
    progress_seconds: float = 30.0  # output that is no terminal: a progress line this often (0: none)
    eval_bits: List[int] = field(default_factory=list)  # also score the final model at these lengths
    report: ReportConf = field(default_factory=ReportConf)  # how the sweep's report looks: not part of a result
    objective: str = "eval_loss"  # what a run returns to a sweeper (e.g. Optuna's): one of OBJECTIVES

    def __post_init__(self):
        """The Python API checks like the command line: ``Config(hidden=0)`` raises the same
        one-line ``ConfigError``. A group may be given by its option name (``clip="norm"``,
        ``model="lstm"``); a model's settings always get the model's own ``Conf``."""
        _expand_shorthands(self)
        check(self)


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(name="rnnexp_schema", node=Config)
    for name in models.names():  # conf/model/<name>.yaml extends it: /model_<name>_schema@_here_
        cs.store(name=f"model_{name}_schema", node=models.conf_class(name), package="model")
    for name in tasks.names():  # conf/task/<name>.yaml: /task_<name>_schema@_here_
        cs.store(name=f"task_{name}_schema", node=tasks.conf_class(name), package="task")


def conf_dir() -> Path:
    """The config folder: shipped inside the package when installed, else the repo's ``conf/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"rnnexp: no config folder found at {here / 'conf'} or {here.parent / 'conf'}")


class ConfigError(ValueError):
    """A setting that is not allowed; the message is one line."""


GROUPS = {"init": InitConf, "clip": ClipConf, "optimizer": OptimizerConf}  # chosen by option name


def _expand_shorthands(cfg: "Config") -> None:
    """``clip="norm"`` -> ``ClipConf(name="norm")`` (init, optimizer, model alike); a model given as
    a plain ``ModelConf`` (or by name) gets its own ``Conf``, so its own settings have their defaults."""
    for group, cls in GROUPS.items():
        if isinstance(getattr(cfg, group), str):
            setattr(cfg, group, cls(name=getattr(cfg, group)))
    task = cfg.task
    if isinstance(task, str) and task in tasks.names():
        cfg.task = tasks.conf_class(task)(name=task)
    elif isinstance(task, TaskConf) and task.name in tasks.names() \
            and not isinstance(task, tasks.conf_class(task.name)):
        cfg.task = tasks.conf_class(task.name)(name=task.name)
    model = cfg.model
    if isinstance(model, str) and model in models.names():
        cfg.model = models.conf_class(model)(name=model)
    elif isinstance(model, ModelConf) and model.name in models.names() \
            and not isinstance(model, models.conf_class(model.name)):
        common = {f.name: getattr(model, f.name) for f in dataclasses.fields(ModelConf)}
        cfg.model = models.conf_class(model.name)(**common)


def _choice(values) -> tuple[Callable[[Any], bool], str]:
    values = tuple(values)
    return (lambda v: v in values), "one of " + ", ".join(values)


# setting -> (test, what is allowed). The type was already enforced by the schema.
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "task.name": _choice(tasks.names()),
    "model.name": _choice(models.names()),
    "model.layers": (lambda v: v >= 1, "an integer >= 1"),
    "hidden": (lambda v: v >= 1, "an integer >= 1"),
    "activation": _choice(activations.ACTIVATIONS),
    "bias": (lambda v: isinstance(v, bool), "true or false"),
    "loss": _choice(losses.LOSSES),
    "init.name": _choice(init.SCHEMES),
    "init.scale": (lambda v: v >= 0, "a number >= 0"),
    "init.input_scale": (lambda v: v > 0, "a number > 0"),
    "clip.name": _choice(gradients.CLIPS),
    "clip.threshold": (lambda v: v > 0, "a number > 0"),
    "bptt.truncate": (lambda v: v is None or v >= 0, "null (full BPTT) or an integer >= 0"),
    "optimizer.name": _choice(optim.OPTIMIZERS),
    "optimizer.momentum": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "optimizer.beta1": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "optimizer.beta2": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "optimizer.eps": (lambda v: v > 0, "a number > 0"),
    "lr": (lambda v: v > 0, "a number > 0"),
    "lr_schedule": _choice(LR_SCHEDULES),
    "time_reduction": _choice(network.TIME_REDUCTIONS),
    "bits": (lambda v: 2 <= v <= 256, "an integer from 2 to 256"),
    "order": _choice(data.ORDERS),
    "batch": (lambda v: v >= 1, "an integer >= 1"),
    "steps": (lambda v: v >= 1, "an integer >= 1"),
    "train_size": (lambda v: v >= 0, "0 (fresh problems every step) or an integer >= 1"),
    "train_set": _choice(data.TRAIN_SETS),
    "epochs": (lambda v: v is None or v >= 1, "null or an integer >= 1"),
    "replicas": (lambda v: v >= 1, "an integer >= 1"),
    "precision": _choice(network.PRECISIONS),
    "seed": (lambda v: v >= 0, "an integer >= 0"),
    "eval_every": (lambda v: v >= 1, "an integer >= 1"),
    "eval_bits": (lambda v: all(2 <= b <= 256 for b in v), "a list of integers from 2 to 256, e.g. [16,32,64]"),
    "cache": (lambda v: isinstance(v, bool), "true or false"),
    "cache_dir": (lambda v: isinstance(v, str) and v.strip() != "", "a folder path"),
    "checkpoint_seconds": (lambda v: 0 <= v < float("inf"), "a number of seconds >= 0 (0: after every step)"),
    "progress_seconds": (lambda v: 0 <= v < float("inf"), "a number of seconds >= 0 (0: no progress lines)"),
    "report.sections": (lambda v: all(s in studies.SECTIONS for s in v), "a list of: " + ", ".join(studies.names())),
    "report.format": _choice(("png", "svg", "pdf")),  # rnnexp.report.generic.FORMATS (not imported: no plotting here)
    "objective": _choice(OBJECTIVES),
}

# settings that say how to run, not what to train: neither in the result tables nor in the cache key
# (``objective`` only scores a finished run: another objective re-uses the same training and run)
RUNTIME = ("cache", "cache_dir", "report", "checkpoint_seconds", "progress_seconds", "objective")

# a group's "name" field is set by choosing the group option: clip=norm, not clip.name=norm
OVERRIDE_NAME = {"task.name": "task", "model.name": "model", "init.name": "init", "clip.name": "clip", "optimizer.name": "optimizer"}


INT_MAX = 2**63 - 1  # integer settings end up in int64 arrays and table columns


@functools.lru_cache(maxsize=None)
def setting_types(model: Optional[str] = None, task: Optional[str] = None) -> dict[str, Any]:
    """Every leaf setting of the schema (``model``'s and ``task``'s own settings included) -> its type.

    ``check`` holds every value to its type; in particular every ``float`` setting must be finite
    and every ``int`` setting must fit in int64, whatever its own rule says.
    """
    out: dict[str, Any] = {}

    def walk(cls, prefix):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            t = hints[f.name]
            if cls is Config and f.name == "model":
                t = models.conf_class(model) if model in models.names() else ModelConf
            if cls is Config and f.name == "task":
                t = tasks.conf_class(task) if task in tasks.names() else TaskConf
            if dataclasses.is_dataclass(t):
                walk(t, f"{prefix}{f.name}.")
            else:
                out[f"{prefix}{f.name}"] = t

    walk(Config, "")
    return out


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _type_ok(t, v) -> Optional[str]:
    """None if ``v`` is a value of type ``t``, else what is wrong: "type", "finite" or "int64"."""
    if typing.get_origin(t) is typing.Union:  # Optional[int]
        return None if v is None else _type_ok(next(a for a in typing.get_args(t) if a is not type(None)), v)
    if typing.get_origin(t) in (list, List):
        if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
            return "type"
        return next((p for p in (_type_ok(typing.get_args(t)[0], x) for x in v) if p), None)
    if t is bool:
        return None if isinstance(v, bool) else "type"
    if t is int:
        return "type" if not _is_int(v) else None if -INT_MAX - 1 <= v <= INT_MAX else "int64"
    if t is float:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            return "type"
        return None if math.isfinite(v) else "finite"
    if t is str:
        return None if isinstance(v, str) else "type"
    return None


def _check_types(cfg, model: Optional[str], task: Optional[str] = None) -> None:
    for key, t in setting_types(model, task).items():
        value = _select(cfg, key)
        problem = _type_ok(t, value)
        if problem is None:
            continue
        name = OVERRIDE_NAME.get(key, key)
        what = allowed(key) or {int: "an integer", float: "a number", bool: "true or false"}.get(t, "a text")
        if problem == "finite":
            what = what if "finite" in what else what.replace("a number", "a finite number", 1) \
                if "a number" in what else f"a finite number, {what}"
        elif problem == "int64":
            what = f"{what}, at most {INT_MAX} (2**63 - 1)"
        shown = repr(value) if isinstance(value, str) and t is not str else _show(value)
        raise ConfigError(f"{name}={shown} is not allowed: {name} must be {what}")


def allowed(key: str) -> Optional[str]:
    """What is allowed for a setting (by its config key), if there is a rule for it."""
    rule = RULES.get(key) or RULES.get(f"{key}.name")
    for mod in [*map(models.module, models.names()), *map(tasks.module, tasks.names())] if rule is None else ():
        rule = getattr(mod, "RULES", {}).get(key)
        if rule:
            break
    return rule[1] if rule else None


def select(cfg, key: str):
    """The value of a dotted setting of a ``Config`` or ``DictConfig`` (``check`` it first)."""
    return _select(cfg, key)


def _select(cfg, key: str):
    """The value of a dotted setting; a missing one is a ``ConfigError`` (``~hidden``, or a
    group replaced by something without settings, e.g. ``Config(bptt=3)``). A model's own setting
    missing from a plain ``ModelConf`` has its ``Conf``'s default."""
    node, parts = cfg, key.split(".")
    for i, part in enumerate(parts):
        try:
            node = node[part] if isinstance(node, (dict, DictConfig)) else getattr(node, part)
        except (AttributeError, KeyError, TypeError, OmegaConfBaseException):
            group = ".".join(parts[:i])
            if group == "model" and isinstance(node, ModelConf) and node.name in models.names():
                return getattr(models.conf_class(node.name), part)  # the dataclass default
            if group == "task" and isinstance(node, TaskConf) and node.name in tasks.names():
                return getattr(tasks.conf_class(node.name), part)
            if group and not isinstance(node, (dict, DictConfig)) and not dataclasses.is_dataclass(node):
                name = OVERRIDE_NAME.get(f"{group}.name", group)
                what = allowed(group) or "a group of settings (" + ", ".join(
                    k for k in setting_types() if k.startswith(f"{group}.")) + ")"
                raise ConfigError(f"{name}={_show(node)} is not allowed: {name} must be {what}") from None
            raise ConfigError(f"{key} has no value: every setting needs one (it cannot be deleted); "
                              f"see python -m rnnexp --help") from None
    return node


def check(cfg) -> None:
    """Raise ``ConfigError`` (one line) for the first setting that is not allowed.

    ``cfg`` is a ``Config`` or a ``DictConfig``.
    """
    if isinstance(cfg, DictConfig):
        known = flat_keys(_schema(cfg))
        extra = sorted(set(flat_keys(cfg)) - set(known))
        task = cfg.task.name if "name" in cfg.get("task", {}) else None
        if extra and task in tasks.names():
            owners = task_owners(extra[0])
            if owners:
                raise ConfigError(f"{extra[0]} is not a setting of task={task}: it is one of task={', '.join(owners)}'s")
        if extra:
            near = difflib.get_close_matches(extra[0], known, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ConfigError(f"{extra[0]}: there is no such setting{hint}; see python -m rnnexp --help")
    else:
        _check_attributes(cfg)
    name = _select(cfg, "model.name")
    task = _select(cfg, "task.name")
    _check_types(cfg, name if isinstance(name, str) and name in models.names() else None,
                 task if isinstance(task, str) and task in tasks.names() else None)
    _apply(RULES, cfg)
    for module in (models.module(name), tasks.module(task)):  # a model or task may add rules for its own settings
        _apply(getattr(module, "RULES", {}), cfg)
        problem = module.check(lambda key: _select(cfg, key)) if hasattr(module, "check") else None
        if problem:
            raise ConfigError(problem)
    _check_task(cfg, task)
    train_size, batch, epochs = _select(cfg, "train_size"), _select(cfg, "batch"), _select(cfg, "epochs")
    if epochs is not None and train_size == 0:
        raise ConfigError(f"epochs={epochs} needs a fixed training set: also set train_size to an integer >= 1")
    if _select(cfg, "train_set") == "shared" and train_size == 0:
        raise ConfigError("train_set=shared needs a fixed training set: also set train_size to an integer >= 1")
    if train_size and train_size % batch:
        raise ConfigError(f"train_size={train_size} is not allowed: it must be a multiple of batch={batch}")
    if effective_steps(cfg) > INT_MAX:
        raise ConfigError(f"epochs={epochs} with train_size={train_size} and batch={batch} is not allowed: "
                          f"epochs * train_size / batch (training steps) must be at most {INT_MAX} (2**63 - 1)")


def task_names() -> list[str]:
    """Every task (``rnnexp/tasks``), for the command line's messages."""
    return tasks.names()


def task_owners(key: str) -> list[str]:
    """The tasks that have the setting ``key`` (``task.delay``: addition), to name in a refusal."""
    return [t for t in tasks.names() if key.startswith("task.") and key in setting_types(None, t)]


# settings that only binary addition reads: another task refuses a value other than the default
ADDITION_ONLY = ("bits", "order", "loss", "eval_bits")


def _check_task(cfg, task: str) -> None:
    """Settings of binary addition given to another task are refused, not ignored."""
    if task == "addition":
        return
    for key in ADDITION_ONLY:
        value, default = _select(cfg, key), Config.__dataclass_fields__[key]
        default = default.default_factory() if default.default is dataclasses.MISSING else default.default
        differs = list(value) != list(default) if isinstance(default, list) else value != default
        if differs:
            what = {"loss": f"task={task} has its own output and loss"}.get(key, "it is a setting of task=addition")
            raise ConfigError(f"{key}={_show(value)} is not allowed with task={task}: {what} "
                              f"(leave {key} at its default, {_show(default)})")


def _check_attributes(cfg) -> None:
    """A plain ``Config`` has no setting its schema does not name (``cfg.hiden = 4`` is a typo)."""
    name = getattr(getattr(cfg, "model", None), "name", None)
    task = getattr(getattr(cfg, "task", None), "name", None)
    known = list(setting_types(name if name in models.names() else None, task if task in tasks.names() else None))
    for prefix, node in [("", cfg)] + [(f"{f.name}.", getattr(cfg, f.name)) for f in dataclasses.fields(cfg)
                                       if dataclasses.is_dataclass(getattr(cfg, f.name))]:
        fields = {f.name for f in dataclasses.fields(node)}
        for attr in sorted(set(vars(node)) - fields):
            key = f"{prefix}{attr}"
            near = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ConfigError(f"{key}: there is no such setting{hint}; see python -m rnnexp --help")


def _apply(rules, cfg) -> None:
    for key, (test, what) in rules.items():
        value = _select(cfg, key)
        try:
            ok = bool(test(value))
        except TypeError:
            ok = False
        if not ok:
            name = OVERRIDE_NAME.get(key, key)
            raise ConfigError(f"{name}={_show(value)} is not allowed: {name} must be {what}")


def schema(model: Optional[str] = None, task: Optional[str] = None) -> DictConfig:
    """The typed schema: ``Config`` with ``model``'s own settings (its ``Conf`` in rnnexp/engine/models)
    and ``task``'s (its ``Conf`` in rnnexp/tasks)."""
    out = OmegaConf.structured(Config)
    if model in models.names():
        out.model = OmegaConf.structured(models.conf_class(model))
    if task in tasks.names():
        out.task = OmegaConf.structured(tasks.conf_class(task))
    return out


def structured(settings: dict) -> Config:
    """Plain nested settings (e.g. a stored resolved config) -> a typed ``Config``, model settings
    included: ``OmegaConf.structured(Config)`` alone knows only the settings every model has."""
    return OmegaConf.to_object(OmegaConf.merge(schema(settings.get("model", {}).get("name"),
                                                      settings.get("task", {}).get("name")), settings))


def _schema(cfg) -> DictConfig:
    """The schema ``cfg`` must match: ``Config`` with the chosen model's settings."""
    return schema(cfg.model.name if "name" in cfg.get("model", {}) else None,
                  cfg.task.name if "name" in cfg.get("task", {}) else None)


def flat_keys(cfg) -> list[str]:
    """Dotted keys of every leaf setting (the ``hydra`` node excluded)."""
    out = []

    def walk(node, prefix):
        for k, v in node.items():
            if prefix == "" and k == "hydra":
                continue
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                out.append(f"{prefix}{k}")

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return out


def _show(v) -> str:
    return "null" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def effective_steps(cfg) -> int:
    """Training steps: ``steps``, or ``epochs`` passes over a fixed set of ``train_size``."""
    epochs = _select(cfg, "epochs")
    if epochs is None:
        return int(_select(cfg, "steps"))
    return int(epochs * _select(cfg, "train_size") // _select(cfg, "batch"))


def net_spec(cfg, task=None) -> network.NetSpec:
    """The network of a checked configuration; its input size and output head are the task's."""
    task = tasks.make(cfg) if task is None else task
    return network.NetSpec(
        hidden=cfg.hidden, activation=cfg.activation, loss=task.head, bias=cfg.bias, model=cfg.model.name,
        n_in=task.n_in,
        init=cfg.init.name, scale=cfg.init.scale, input_scale=cfg.init.input_scale,
        truncate=cfg.bptt.truncate, time_reduction=cfg.time_reduction, precision=cfg.precision,
        options=_model_options(cfg.model),
    )


def _model_options(model) -> dict[str, Any]:
    """A model's settings except its name (``layers`` and its own), as plain values."""
    if isinstance(model, DictConfig):
        model = OmegaConf.to_container(model, resolve=True)
    elif dataclasses.is_dataclass(model):
        model = dataclasses.asdict(model)
    return {k: v for k, v in model.items() if k != "name"}


register()  # the schema is available to Hydra as soon as this module is imported
