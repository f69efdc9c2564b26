"""One folder per command: run and sweep dirs that no two different commands share.

Hydra names a run or sweep dir to the second (``runs/sweeps/<date>/<time>``), so two commands
started in the same second would share it and overwrite each other's jobs; and a command given an
existing ``hydra.sweep.dir`` would write into another sweep's job folders, whose runs its table then
collects. Before Hydra starts, ``prepare``:

- reserves a time-stamped dir (one whose setting uses ``${now:...}``, as the defaults do) with an
  atomic ``mkdir``, taking ``<name>_2``, ``<name>_3``, ... when another command holds it, and hands it
  to Hydra as an override;
- refuses, in one line, a dir the command names that already holds a different command's jobs: it
  compares what is recorded there (``RECORD``, or Hydra's ``multirun.yaml`` / ``.hydra/overrides.yaml``
  of a dir from before the record) with the jobs the command would run. The same command again is
  allowed: that is how an interrupted sweep is resumed, its finished jobs reused from the cache;
- refuses job subdirs (``hydra.sweep.subdir``) that are not distinct per job.

``interrupted`` is the one line printed for Ctrl-C: what finished, what did not, and the command
that resumes it (naming the reserved dir, so that the results land in the same place).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import get_overrides_dirname
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import get_args_parser
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import CompactHydraException, HydraException
from omegaconf import OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from .. import config
from . import combine as collect, results

RECORD = ".rnnexp-command.json"  # in every run and sweep dir: the command whose jobs it holds
PROGRAM = "python -m rnnexp"


class Refused(CompactHydraException):
    """A one-line refusal raised inside a job (Hydra prints it without a traceback)."""


class UsageError(ValueError):
    """A one-line message for the user (exit 2, before any job)."""


@dataclass
class Plan:
    """Where a command's jobs go, decided before Hydra starts."""

    multirun: bool
    key: str  # hydra.sweep.dir or hydra.run.dir
    dir: Path  # as Hydra sees it (relative paths: from the launch dir)
    auto: bool  # reserved here from a time-stamped name: the resume command must name it
    argv: list[str]  # the command line to hand to Hydra, and to run again to resume
    subdirs: list[str] = field(default_factory=lambda: [""])  # each job's folder below ``dir``

    @property
    def command(self) -> str:
        return command(self.argv)


def command(argv: list[str]) -> str:
    """The shell command for ``argv``."""
    return " ".join([PROGRAM, *(shlex.quote(a) for a in argv)])


def hydra_value(text: str) -> str:
    """``text`` written as a Hydra override value that parses back to exactly ``text``."""
    if re.fullmatch(r"[A-Za-z0-9_\-+.%@]*/[A-Za-z0-9_\-/+.%@]*", text):
        return text  # a slash: never read as a number, bool, null or a list
    body = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), text)
    return "'" + body.replace("${", "\\${") + "'"


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def jobs(task: list[str], params: dict | None) -> list[list[str]]:
    """Each job's overrides in job order, as Hydra's basic sweeper makes them: the preset's
    ``hydra.sweeper.params`` first, then the command line's own."""
    conf = [f"{k}={v}" for k, v in (params or {}).items()] + list(task)
    parsed = OverridesParser.create().parse_overrides(conf)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def identity(multirun: bool, job_list: list[list[str]], subdir: str | None) -> dict:
    """What a dir's jobs are: the mode, each job's overrides without the run-time settings
    (``cache``, ``cache_dir``: how to run, not what), and the job folder layout."""
    return {"mode": "multirun" if multirun else "run",
            "jobs": [[o for o in job if _key(o) not in config.RUNTIME] for job in job_list],
            "subdir": subdir if multirun else None}


def recorded(d: Path) -> tuple[dict, str] | None:
    """The identity of the jobs ``d`` holds and the command that started them, from ``RECORD`` or,
    for a dir written before it, Hydra's own files; ``None`` when nothing is recorded."""
    try:
        rec = json.loads((d / RECORD).read_text())
        return rec["identity"], rec["command"]
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{d / RECORD} is not readable ({type(e).__name__}): cannot tell which command "
                         "owns this folder") from None
    try:
        if (d / "multirun.yaml").is_file():
            hydra = OmegaConf.to_container(OmegaConf.load(d / "multirun.yaml").hydra, resolve=False)
            task = list(hydra["overrides"]["task"])
            ident = identity(True, jobs(task, hydra["sweeper"].get("params")), hydra["sweep"]["subdir"])
            return ident, command(["-m", *task])
        if (d / ".hydra" / "overrides.yaml").is_file():
            task = list(OmegaConf.to_container(OmegaConf.load(d / ".hydra" / "overrides.yaml")))
            return identity(False, [task], None), command(task)
    except (OSError, HydraException, OmegaConfBaseException, KeyError, TypeError, AttributeError) as e:
        raise UsageError(f"{d} holds Hydra files rnnexp cannot read ({type(e).__name__}): cannot tell "
                         "which command owns this folder") from None
    return None


def _write_new(path: Path, text: str) -> None:
    """Create ``path`` with ``text``, atomically and only if it does not exist (``FileExistsError``)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666: the umask decides
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        try:
            os.link(tmp, path)  # fails if path exists: the first writer wins, and is read whole
        except FileExistsError:
            raise
        except OSError:  # a filesystem without hard links: create exclusively, then write
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "w") as f:
                f.write(text)
    finally:
        tmp.unlink(missing_ok=True)


def reserve(path: Path) -> Path:
    """A new, empty folder at ``path``, or ``path_2``, ``path_3``, ... when that is taken (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        candidate = path if n == 1 else path.with_name(f"{path.name}_{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1


def claim(d: Path, ident: dict, cmd: str, key: str) -> None:
    """Record in ``d`` that this command's jobs go there, or refuse if it holds another command's."""
    d.mkdir(parents=True, exist_ok=True)
    what = "sweep" if ident["mode"] == "multirun" else "run"
    for _ in range(2):  # a second look if another command recorded itself between our read and write
        found = recorded(d)
        if found is not None:
            if found[0] != ident:
                raise UsageError(f"{key}={d} already holds another {'sweep' if found[0]['mode'] == 'multirun' else 'run'}"
                                 f" ({found[1]}): name a new or empty folder, or leave {key} out for a fresh one")
            if (d / RECORD).exists():
                return
        elif d.is_dir():
            runs, incomplete = collect.scan(d)
            if runs or incomplete:
                raise UsageError(f"{key}={d} already holds {len(runs) + len(incomplete)} run folder(s) that no "
                                 f"rnnexp command recorded: name a new or empty folder for this {what}")
        try:
            _write_new(d / RECORD, json.dumps({"command": cmd, "identity": ident}, indent=1))
            return
        except FileExistsError:
            continue
    raise UsageError(f"{key}={d}: another command is recording itself there; name a new or empty folder")


def _subdirs(cfg, job_list: list[list[str]], compose_job) -> list[str]:
    """Each job's folder below the sweep dir, resolved as the launcher resolves ``hydra.sweep.subdir``."""
    raw = OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["subdir"]
    refs = re.findall(r"\$\{([A-Za-z_][\w.]*)\}", str(raw))
    parser = OverridesParser.create()
    dirname = cfg.hydra.job.config.override_dirname
    basic = str(cfg.hydra.launcher.get("_target_", "")).endswith("BasicLauncher")
    out = []
    for i, job in enumerate(job_list):
        c = cfg if all(r.startswith("hydra.") for r in refs) else compose_job(job)  # ${hidden}: per job
        with read_write(c.hydra), open_dict(c.hydra):
            c.hydra.job.num = i
            c.hydra.job.id = i if basic else f"{c.hydra.job.name}_{i}"  # as the basic / joblib launcher
            c.hydra.job.override_dirname = get_overrides_dirname(
                parser.parse_overrides(job), exclude_keys=list(dirname.exclude_keys),
                item_sep=dirname.item_sep, kv_sep=dirname.kv_sep)
            c.hydra.overrides.task = list(job)
        if "hydra:" in str(raw):
            HydraConfig.instance().set_config(c)
        out.append(os.path.normpath(str(OmegaConf.select(c, "hydra.sweep.subdir"))))
    return out


def prepare(argv: list[str]) -> Plan | None:
    """Decide, check and reserve the command's run or sweep dir; ``None`` for --help and the like.

    Raises ``UsageError`` (one line) for a dir that holds another command's jobs, job subdirs that
    are not distinct, or a dir that cannot be made.
    """
    args = get_args_parser().parse_args(argv)
    if (args.help or args.hydra_help or args.cfg or args.info or args.shell_completion
            or args.experimental_rerun or args.config_dir or args.config_path):
        return None
    parsed = OverridesParser.create().parse_overrides(args.overrides)
    hydra_ovr = [o.input_line for o in parsed if o.is_hydra_override()]
    task = [o.input_line for o in parsed if not o.is_hydra_override()]
    plain = [o.input_line for o in parsed if not o.is_sweep_override()]  # the sweep's master config
    name = args.config_name or "config"
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(config.conf_dir()), version_base="1.3", job_name="__main__"):
            cfg = compose(name, overrides=plain, return_hydra_config=True)
            multirun = bool(args.multirun) or str(cfg.hydra.mode).endswith("MULTIRUN")
            key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
            raw = str(OmegaConf.to_container(cfg.hydra.sweep if multirun else cfg.hydra.run, resolve=False)["dir"])
            HydraConfig.instance().set_config(cfg)
            target = Path(str(OmegaConf.select(cfg, key)))
            if multirun:
                job_list = jobs(task, cfg.hydra.sweeper.get("params"))
                subdirs = _subdirs(cfg, job_list, lambda job: compose(name, overrides=job + hydra_ovr,
                                                                      return_hydra_config=True))
                subdir = OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["subdir"]
            else:
                job_list, subdirs, subdir = [task], [""], None
    except (HydraException, OmegaConfBaseException, ValueError, TypeError):
        return None  # not ours to explain: Hydra reports it (and the precheck names bad settings first)
    finally:
        GlobalHydra.instance().clear()
    outside = [s for s in subdirs if os.path.isabs(s) or s.split(os.sep)[0] == ".."]
    if outside:
        raise UsageError(f"hydra.sweep.subdir={subdir} puts a job outside the sweep dir ({outside[0]}): it must be "
                         "a folder inside it, e.g. ${hydra.job.num} (the default)")
    if len(set(subdirs)) < len(subdirs):
        clash = max(set(subdirs), key=subdirs.count)
        raise UsageError(f"hydra.sweep.subdir={subdir} puts {subdirs.count(clash)} jobs into the same folder "
                         f"({target / clash}): it must differ per job, e.g. ${{hydra.job.num}} (the default)")
    ident = identity(multirun, job_list, subdir)
    auto = "${now:" in raw
    try:
        if auto:  # a fresh folder, named in the command line Hydra gets (and the resume command)
            target = reserve(target)
            argv = [a for a in argv if _key(a) != key] + [f"{key}={hydra_value(str(target))}"]
        claim(target, ident, command(argv), key)
    except OSError as e:
        raise UsageError(f"{key}={target}: cannot make or use this folder ({e.strerror or type(e).__name__})") from None
    return Plan(multirun, key, target, auto, list(argv), subdirs)


def _ranges(nums: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``0-2,5``."""
    out, start = [], None
    for i, n in enumerate(nums):
        start = n if start is None else start
        if i + 1 == len(nums) or nums[i + 1] != n + 1:
            out.append(str(n) if n == start else f"{start}-{n}")
            start = None
    return ",".join(out)


def interrupted(plan: Plan | None, argv: list[str]) -> str:
    """The one line for Ctrl-C: what finished, what did not, and how to resume."""
    if plan is None:
        return f"rnnexp: interrupted before any job started; nothing was trained; start it again with: {command(argv)}"
    done = [i for i, s in enumerate(plan.subdirs) if (plan.dir / s / results.MARKER).exists()]
    n = len(plan.subdirs)
    if not plan.multirun:
        if done:
            return f"rnnexp: interrupted after the run finished: results in {plan.dir}"
        return f"rnnexp: interrupted: the run did not finish; run it again with: {plan.command}"
    todo = [i for i in range(n) if i not in done]
    if not todo and all((plan.dir / f"{t}.csv").exists() for t in results.TABLES):
        return (f"rnnexp: interrupted while building the report: all {n} jobs finished, their tables are in "
                f"{plan.dir}; build the report with: python -m rnnexp.report {shlex.quote(str(plan.dir))}")
    if not todo:
        what = f"all {n} jobs finished, their tables were not combined"
    else:
        what = (f"{len(done)} of {n} jobs finished" + (f" ({_ranges(done)})" if done else "")
                + f", {len(todo)} did not ({_ranges(todo)})")
    return f"rnnexp: interrupted: {what}; resume with: {plan.command}"
