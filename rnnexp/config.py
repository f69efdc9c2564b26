"""The typed configuration schema and the checks every setting must pass before training.

OmegaConf enforces the types (``hidden=abc`` fails); ``check`` enforces ranges, choices and
relations between settings, with one line per problem naming the setting and what is allowed.
Only the Hydra entry point and ``train.run`` see a ``DictConfig``; the numerical code gets plain
values.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from . import activations, data, gradients, init, losses, models, network, optim
from .models import ModelConf  # name, layers; a model's own settings extend it (rnnexp/models)
from .report import studies  # the report's section names only: a plain dict, nothing is drawn or imported

LR_SCHEDULES = ("constant", "halve_on_rise")


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


@dataclass
class Config:
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
    bits: int = 8  # sequence length = bits of the sum
    order: str = "lsb"  # lsb | msb: which end the sequence starts from
    batch: int = 32  # problems per step (1 = the seeds' per-sample SGD)
    steps: int = 1000  # training steps (ignored when epochs is set)
    train_size: int = 0  # 0: fresh random problems every step; N: a fixed set of N problems
    epochs: Optional[int] = None  # passes over the fixed set (needs train_size > 0)
    replicas: int = 10  # independent models trained at once, vectorised
    seed: int = 0  # replica r uses SeedSequence(seed).spawn(replicas)[r]
    eval_every: int = 100  # evaluate every this many steps (and at the end)
    cache: bool = True  # reuse a finished training of the same settings and code; false: train again
    cache_dir: str = "runs/.cache"  # where finished trainings are stored (relative: to the launch dir)
    eval_bits: List[int] = field(default_factory=list)  # also score the final model at these lengths
    report: ReportConf = field(default_factory=ReportConf)  # how the sweep's report looks: not part of a result


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(name="rnnexp_schema", node=Config)
    for name in models.names():  # conf/model/<name>.yaml extends it: /model_<name>_schema@_here_
        cs.store(name=f"model_{name}_schema", node=models.conf_class(name), package="model")


def conf_dir() -> Path:
    """The config folder: shipped inside the package when installed, else the repo's ``conf/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"rnnexp: no config folder found at {here / 'conf'} or {here.parent / 'conf'}")


class ConfigError(ValueError):
    """A setting that is not allowed; the message is one line."""


def _choice(values) -> tuple[Callable[[Any], bool], str]:
    values = tuple(values)
    return (lambda v: v in values), "one of " + ", ".join(values)


# setting -> (test, what is allowed). The type was already enforced by the schema.
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
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
    "epochs": (lambda v: v is None or v >= 1, "null or an integer >= 1"),
    "replicas": (lambda v: v >= 1, "an integer >= 1"),
    "seed": (lambda v: v >= 0, "an integer >= 0"),
    "eval_every": (lambda v: v >= 1, "an integer >= 1"),
    "eval_bits": (lambda v: all(2 <= b <= 256 for b in v), "a list of integers from 2 to 256, e.g. [16,32,64]"),
    "cache": (lambda v: isinstance(v, bool), "true or false"),
    "cache_dir": (lambda v: isinstance(v, str) and v.strip() != "", "a folder path"),
    "report.sections": (lambda v: all(s in studies.SECTIONS for s in v), "a list of: " + ", ".join(studies.names())),
}

# settings that say how to run, not what to train: neither in the result tables nor in the cache key
RUNTIME = ("cache", "cache_dir", "report")

# a group's "name" field is set by choosing the group option: clip=norm, not clip.name=norm
OVERRIDE_NAME = {"model.name": "model", "init.name": "init", "clip.name": "clip", "optimizer.name": "optimizer"}


def allowed(key: str) -> Optional[str]:
    """What is allowed for a setting (by its config key), if there is a rule for it."""
    rule = RULES.get(key) or RULES.get(f"{key}.name")
    for name in models.names() if rule is None else ():
        rule = getattr(models.get(name), "RULES", {}).get(key)
        if rule:
            break
    return rule[1] if rule else None


def _select(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node


def check(cfg) -> None:
    """Raise ``ConfigError`` (one line) for the first setting that is not allowed.

    ``cfg`` is a ``Config`` or a ``DictConfig``.
    """
    if isinstance(cfg, DictConfig):
        known = flat_keys(_schema(cfg))
        extra = sorted(set(flat_keys(cfg)) - set(known))
        if extra:
            near = difflib.get_close_matches(extra[0], known, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ConfigError(f"{extra[0]}: there is no such setting{hint}; see python -m rnnexp --help")
    _apply(RULES, cfg)
    module = models.get(_select(cfg, "model.name"))  # a model may add rules for its own settings
    _apply(getattr(module, "RULES", {}), cfg)
    problem = module.check(lambda key: _select(cfg, key)) if hasattr(module, "check") else None
    if problem:
        raise ConfigError(problem)
    train_size, batch, epochs = _select(cfg, "train_size"), _select(cfg, "batch"), _select(cfg, "epochs")
    if epochs is not None and train_size == 0:
        raise ConfigError(f"epochs={epochs} needs a fixed training set: also set train_size to an integer >= 1")
    if train_size and train_size % batch:
        raise ConfigError(f"train_size={train_size} is not allowed: it must be a multiple of batch={batch}")


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


def schema(model: Optional[str] = None) -> DictConfig:
    """The typed schema: ``Config`` with ``model``'s own settings (its ``Conf`` in rnnexp/models)."""
    out = OmegaConf.structured(Config)
    if model in models.names():
        out.model = OmegaConf.structured(models.conf_class(model))
    return out


def structured(settings: dict) -> Config:
    """Plain nested settings (e.g. a stored resolved config) -> a typed ``Config``, model settings
    included: ``OmegaConf.structured(Config)`` alone knows only the settings every model has."""
    return OmegaConf.to_object(OmegaConf.merge(schema(settings.get("model", {}).get("name")), settings))


def _schema(cfg) -> DictConfig:
    """The schema ``cfg`` must match: ``Config`` with the chosen model's settings."""
    return schema(cfg.model.name if "name" in cfg.get("model", {}) else None)


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


def net_spec(cfg) -> network.NetSpec:
    return network.NetSpec(
        hidden=cfg.hidden, activation=cfg.activation, loss=cfg.loss, bias=cfg.bias, model=cfg.model.name,
        init=cfg.init.name, scale=cfg.init.scale, input_scale=cfg.init.input_scale,
        truncate=cfg.bptt.truncate, time_reduction=cfg.time_reduction, options=_model_options(cfg.model),
    )


def _model_options(model) -> dict[str, Any]:
    """A model's settings except its name (``layers`` and its own), as plain values."""
    if isinstance(model, DictConfig):
        model = OmegaConf.to_container(model, resolve=True)
    elif dataclasses.is_dataclass(model):
        model = dataclasses.asdict(model)
    return {k: v for k, v in model.items() if k != "name"}


register()  # the schema is available to Hydra as soon as this module is imported
