"""The path without the command line (notebooks, scripts): a checked configuration from keyword
arguments, a training, tables that carry their settings, and the report's figures in your Axes.

    import rnnexp
    cfg = rnnexp.configure(model="lstm", hidden=8, clip="norm", **{"clip.threshold": 0.5})
    res = rnnexp.run(cfg)                      # res.summary, .history, .profile, ...: settings as columns
    rnnexp.draw.learning_curve(res.history, "sum_acc", ax=ax)

Settings have the command line's names: ``hidden=8`` is ``hidden=8``, a group is chosen by its
option (``clip="norm"``) and a dotted name is passed as ``**{"clip.threshold": 0.5}`` or as an
override string, ``configure("clip.threshold=0.5")``. The checks are the command line's
(``config.check``): a bad value raises ``config.ConfigError`` with the same one line. Group options
give the schema's defaults, which are the values ``conf/<group>/<option>.yaml`` sets
(``tests/test_api.py`` checks it). Presets (``+experiment=``) and sweeps stay on the command line.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import config, train
from .runs import results


def _nested(settings: dict[str, Any]) -> dict[str, Any]:
    """``{"clip": "norm", "clip.threshold": 0.5}`` -> ``{"clip": {"name": "norm", "threshold": 0.5}}``."""
    tree: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, (np.generic, np.ndarray, tuple)):  # np.int64(8), np.arange(...), (16, 32)
            value = value.tolist() if isinstance(value, (np.generic, np.ndarray)) else list(value)
        if not isinstance(value, dict) and f"{key}.name" in config.OVERRIDE_NAME:
            key = f"{key}.name"  # a group by its option (anything else: the check names what is allowed)
        *parents, leaf = key.split(".")
        node = tree
        for i, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                name = ".".join(parents[: i + 1])
                raise config.ConfigError(f"{key}: {name} is set to {node!r}, which has no settings; "
                                         f"choose {name} by its option, e.g. {name}=\"...\"")
        if isinstance(node.get(leaf), dict) and isinstance(value, dict):
            node[leaf].update(value)
        else:
            node[leaf] = value
    return tree


def _parse(override: str) -> dict[str, Any]:
    """``"clip.threshold=0.5"`` -> ``{"clip.threshold": 0.5}`` (values read as YAML, as Hydra reads them)."""
    if "=" not in override or override.startswith(("+", "~", "=")):
        raise config.ConfigError(f"{override!r}: write a setting as key=value, e.g. hidden=8 (presets and "
                                 "deletions belong to the command line)")
    key, text = override.split("=", 1)
    return {key.strip(): OmegaConf.create({"v": text} if text == "" else f"v: {text}")["v"]}


def configure(*overrides: str, **settings: Any) -> config.Config:
    """A checked ``config.Config`` from settings named as on the command line (see the module).

    ``overrides`` are command-line strings (``"hidden=8"``); keyword settings win over them.
    """
    given: dict[str, Any] = {}
    for o in overrides:
        given.update(_parse(o))
    given.update(settings)
    tree = _nested(given)
    default = config.Config()
    model, task = (tree[g].get("name") if isinstance(tree.get(g), dict) and "name" in tree[g]
                   else getattr(default, g).name for g in ("model", "task"))
    try:  # the defaults as plain values: the checks, not OmegaConf, judge every given value
        merged = OmegaConf.merge(OmegaConf.create(OmegaConf.to_container(config.schema(model, task))), tree)
    except OmegaConfBaseException as e:
        raise config.ConfigError(f"{e}".splitlines()[0]) from None
    for key, t in config.setting_types(model, task).items():  # 1 -> 1.0 where a number is meant, as Hydra does
        try:
            value = OmegaConf.select(merged, key)
        except OmegaConfBaseException:  # under a group given as something else: the check names it
            continue
        if t is float and isinstance(value, int) and not isinstance(value, bool):
            OmegaConf.update(merged, key, float(value))
    config.check(merged)  # one line naming the setting and what is allowed, as on the command line
    return config.structured(OmegaConf.to_container(merged))


def columns(cfg: config.Config) -> dict[str, Any]:
    """The settings of ``cfg`` as the columns every table of a run carries (``runs.results``):
    named like the overrides (``clip``, ``clip.threshold``), ``steps`` the steps actually trained."""
    out = results.config_columns(OmegaConf.structured(cfg))
    out["steps"] = config.effective_steps(cfg)  # as runs.job writes it: epochs * train_size / batch
    return out


def with_settings(cfg: config.Config, result: train.Result) -> train.Result:
    """``result``'s tables with ``cfg``'s settings as their first columns, as a run writes them."""
    cols = columns(cfg)
    tables = {}
    for name in results.TABLES:
        df = getattr(result, name)
        df = results.with_config(df.drop(columns=["steps"]) if name == "summary" else df, cols)
        df.attrs["config_columns"] = list(cols)
        tables[name] = df
    return dataclasses.replace(result, **tables)


def run(cfg: config.Config | None = None, **settings: Any) -> train.Result:
    """Train ``cfg`` (or ``configure(**settings)``) in this process: no files, no cache.

    Returns ``train.Result`` whose tables (``summary``, ``history``, ``profile``, ``positions``,
    ``lengths``) carry the settings as columns, so results of several calls concatenate
    (``pd.concat``) into the tidy tables a sweep writes.
    """
    if cfg is None:
        cfg = configure(**settings)
    elif settings or not isinstance(cfg, config.Config):
        raise TypeError("run: give a configuration (rnnexp.configure(...)) or settings (run(hidden=8)), not both")
    return with_settings(cfg, train.train(cfg))
