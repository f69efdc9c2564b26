"""The package's shape: which rooms may import which, no import cycle, what the engine version hashes,
short modules, and a packaging list that names every subpackage.

Imports are read from the source with ``ast`` (every ``import`` statement, also those inside
functions), so a test fails as soon as a module reaches upwards, before anything runs.
"""
import ast
import tomllib
from pathlib import Path

import pytest

import rnnexp
from rnnexp.engine import models
from rnnexp.runs import cache

PKG = Path(rnnexp.__file__).resolve().parent
ROOT = PKG.parent
LIMIT = 400  # lines; a longer module says why in its docstring ("over 400 lines because ...")

# each room and the rooms it may import (besides itself and the package's own __init__: the version)
ROOMS = {
    "engine": set(),
    "tasks": {"engine"},
    "config": {"engine", "tasks"},
    "train": {"config", "engine", "tasks"},
    "runs": {"train", "config", "engine", "tasks"},
    "report": {"runs", "config", "engine", "tasks"},
    "bench": {"train", "config", "engine", "tasks"},
    "cli": {"config", "engine", "tasks"},
    "entry": {"cli", "runs", "config", "train", "engine", "tasks"},  # __main__, collect
    "api": {"report", "runs", "train", "config", "engine", "tasks"},  # the Python API: no command line
}
# what reaches across: the sweep-end callback combines the tables (runs) and then starts the report,
# lazily (the report never imports it back); config reads the report's section names to check them
CROSSING = {("runs.callbacks", "report"), ("config", "report")}
# modules the training loop imports that compute nothing it returns: not in the engine version
CHECKS_ONLY = {"memory", "report.studies"}  # report.studies: the section names config checks


def room(module: str) -> str:
    """``engine.models.rnn`` -> ``engine``; ``__main__``, ``collect`` -> ``entry``."""
    top = module.split(".")[0]
    if top in ("__main__", "collect"):
        return "entry"
    if top == "memory":  # the settings' memory limits: a check beside config's, before any work
        return "config"
    if top in ("helptext", "completion"):  # the command line's --help and shell completion
        return "cli"
    return top


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name relative to ``rnnexp`` (a package by its own name)."""
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(PKG).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            out[".".join(parts)] = path
    return out


def imports(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports (relative to ``rnnexp``), resolved to modules."""
    known = modules()
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()

    def add(target: str, names=()):
        for n in names:  # from X import n: n may be a module of X
            if f"{target}.{n}".strip(".") in known:
                found.add(f"{target}.{n}".strip("."))
                continue
            if target in known:
                found.add(target)
        if not names and target in known:
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("rnnexp."):
                    add(a.name[len("rnnexp."):])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: max(0, len(here) - (node.level - 1))]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("rnnexp"):
                target = node.module[len("rnnexp"):].lstrip(".")
            else:
                continue
            add(target, [a.name for a in node.names])
    found.discard(name)
    return {m for m in found if m}  # "" is the package's __init__ (the version): importable by all


GRAPH = {name: imports(name, path) for name, path in modules().items()}


def test_every_module_is_in_a_room():
    assert {room(m) for m in GRAPH} <= set(ROOMS)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_point_down(name):
    """A room imports only the rooms below it (``ROOMS``): the engine nothing above it, tasks the
    engine only, the training loop no storage, report or command line."""
    mine = room(name)
    for target in GRAPH[name]:
        theirs = room(target)
        if theirs == mine or (name, theirs) in CROSSING:
            continue
        assert theirs in ROOMS[mine], f"rnnexp.{name} ({mine}) imports rnnexp.{target} ({theirs})"


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m, path):
        state[m] = 1
        for t in sorted(GRAPH.get(m, ())):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(t):] + [t]))
            if t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])


def test_the_checker_sees_upward_and_circular_imports(tmp_path):
    """The two tests above can fail: a planted upward import and a planted cycle are caught."""
    up = tmp_path / "net.py"
    up.write_text("from ..runs import cache\ndef f():\n    from ... import train\n")
    assert imports("engine.net", up) == {"runs.cache", "train"}
    assert room("engine.net") == "engine" and "runs" not in ROOMS["engine"]


def test_engine_version_covers_exactly_the_modules_that_compute_results():
    """What ``cache.engine_version`` hashes: the engine, the tasks, the training loop and the config
    (its ``net_spec`` and ``effective_steps`` turn settings into the arithmetic). Nothing that only
    launches, stores, shows or times runs."""
    hashed = {p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py") if cache.is_engine(p)}
    expected = {p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py")
                if p.relative_to(PKG).parts[0] in ("engine", "tasks")
                or (p.parent == PKG and p.name in ("train.py", "config.py"))}
    assert hashed == expected
    assert {"train.py", "config.py", "engine/network.py", "engine/models/rnn.py", "engine/models/_stack.py",
            "tasks/addition/data.py", "tasks/addition/metrics.py"} <= hashed
    assert not {"__init__.py", "__main__.py", "cli.py", "memory.py", "collect.py", "runs/sweepdir.py", "runs/cache.py", "runs/job.py",
                "runs/results.py", "runs/combine.py", "runs/callbacks.py", "bench/measure.py"} & hashed
    assert not any(p.startswith(("report", "figures")) for p in hashed)
    # every module the training loop runs (its imports, followed) is hashed, but the memory check
    # (it refuses a configuration before any work; it changes no number)
    reach, todo = set(), ["train", "config"]
    while todo:
        m = todo.pop()
        if m not in reach and m not in CHECKS_ONLY:
            reach.add(m)
            todo += GRAPH[m]
    files = {modules()[m].relative_to(PKG).as_posix() for m in reach}
    assert files <= hashed, files - hashed
    assert len(cache.engine_version()) == 16 and cache.engine_version() == cache.engine_version.__wrapped__()


def test_no_module_is_long_without_saying_why():
    long = {}
    for path in PKG.rglob("*.py"):
        n = len(path.read_text().splitlines())
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if n > LIMIT and f"over {LIMIT} lines" not in doc.lower():
            long[path.relative_to(PKG).as_posix()] = n
    assert not long, f"modules over {LIMIT} lines that do not say why: {long}"


def test_packaging_lists_every_subpackage():
    """``pip install .`` (not editable) ships every folder of the package, the configs and the Hydra
    plugins (a ``hydra_plugins/__init__.py`` would hide every other package's plugins)."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {"rnnexp." + ".".join(p.parent.relative_to(PKG).parts) if p.parent != PKG else "rnnexp"
               for p in PKG.rglob("__init__.py")}
    # Hydra's plugins: packages of the namespace package hydra_plugins, which has no __init__.py
    plugins = {"hydra_plugins." + ".".join(p.parent.relative_to(ROOT / "hydra_plugins").parts)
               for p in (ROOT / "hydra_plugins").rglob("__init__.py")}
    assert plugins and not (ROOT / "hydra_plugins" / "__init__.py").exists()
    assert on_disk | plugins | {"rnnexp.conf"} == listed


def test_models_are_objects_with_the_protocol():
    """``models.get(name)`` is an object whose methods are the model; no functions injected into
    module namespaces."""
    protocol = [n for n in vars(models.Model) if not n.startswith("_")]
    assert set(protocol) == {"top_size", "initial_state", "init_params", "recurrent_weights", "forward",
                             "backward", "state_grad_profile"}
    for name in models.names():
        m = models.get(name)
        assert m is models.module(name).MODEL
        for fn in protocol:
            assert callable(getattr(m, fn)), (name, fn)
        assert "globals()" not in Path(models.module(name).__file__).read_text()


def test_tasks_are_found_by_name():
    from rnnexp import tasks

    assert tasks.names() == ["adding", "addition", "copy"]
    task = tasks.get("addition")
    for name in ("ORDERS", "Batches", "eval_set", "evaluate", "seed001_accuracy", "msb_bit_limits",
                 "msb_per_bit_limit", "msb_sum_limit"):
        assert hasattr(task, name), name
    with pytest.raises(ValueError, match="task='nope': allowed values are adding, addition, copy"):
        tasks.get("nope")
