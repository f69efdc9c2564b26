"""The frontier sweep: check the settings and the two bounds of every configuration before any job,
then launch one round of jobs after another (each configuration's next length, together, through the
configured launcher), read each job's success rate from its folder, and write ``frontier.csv``.

A job's success rate is read from the run it wrote (``rnnexp.runs.results.read_run``: the ``solved``
column of its summary), not from the task function's return value, which is a setting of its own.
Jobs are numbered on from round to round (``initial_job_idx``), so ``hydra.sweep.subdir`` (the job
number by default) stays unique, and the sweep-end callback collects every round's runs. A sweep
run again resumes: every finished training comes back from the cache, so the search takes the same
path and each job lands in the same folder.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rnnexp import cli, config, memory
from rnnexp.cli import limits
from rnnexp.runs import results

from ._search import Search

CSV = "frontier.csv"


class Refused(ValueError):
    """A one-line refusal: ``sweep`` prints it and exits 2, as the pre-launch check does."""


def check_settings(s: dict) -> None:
    """The sweeper's own settings (``hydra.sweeper.*``)."""
    if not s["key"]:
        raise Refused("hydra.sweeper.key is not set: name the length setting to search, e.g. "
                      "hydra.sweeper.key=task.length (bits, task.length or task.delay)")
    if not 0 <= s["min"] <= s["start"] <= s["max"]:
        raise Refused(f"hydra.sweeper.min={s['min']}, start={s['start']}, max={s['max']} are not allowed: "
                      "they must be integers with 0 <= min <= start <= max")
    if s["resolution"] < 1:
        raise Refused(f"hydra.sweeper.resolution={s['resolution']} is not allowed: it must be an integer >= 1")
    if not 0 < s["min_success"] <= 1:
        raise Refused(f"hydra.sweeper.min_success={s['min_success']} is not allowed: it must be a fraction "
                      "of the replicas in (0, 1], e.g. 0.5")


def combinations(sweeper, arguments: list[str], key: str) -> list[list[str]]:
    """Each configuration's overrides: the basic sweeper's product of ``hydra.sweeper.params`` and
    the command line (lists and ``range``), without the searched ``key``."""
    lines = [f"{k}={v}" for k, v in sweeper.params.items()] + list(arguments)
    parsed = OverridesParser.create(config_loader=sweeper.hydra_context.config_loader).parse_overrides(lines)
    lists = {}
    for o in parsed:
        name = o.get_key_element()
        if o.key_or_group == key:
            raise Refused(f"{o.input_line} is not allowed with hydra/sweeper=frontier: the sweeper searches "
                          f"{key} itself; leave it out (the first length tried is hydra.sweeper.start)")
        if o.is_sweep_override() and not o.is_discrete_sweep():
            raise Refused(f"{o.input_line} is not allowed with hydra/sweeper=frontier: the other settings are "
                          f"swept as by the basic sweeper, lists of values ({o.key_or_group}=a,b,c) or range()")
        values = o.sweep_string_iterator() if o.is_sweep_override() else [o.get_value_element_as_str()]
        lists[name] = [f"{name}={v}" for v in values]
    combos = [[]]
    for options in lists.values():
        combos = [c + [o] for c in combos for o in options]
    return combos


def compose(sweeper, overrides: list[str]):
    return sweeper.hydra_context.config_loader.load_sweep_config(master_config=sweeper.config,
                                                                 sweep_overrides=list(overrides))


def check_bounds(sweeper, combos: list[list[str]], s: dict) -> None:
    """Every configuration at ``min`` and at ``max`` must be allowed, and fit in memory at ``max``
    (the launcher's parallel jobs together): refused in one line before any training."""
    key, maxima = s["key"], []
    for combo in combos:
        for bound in ("min", "max"):
            job = combo + [f"{key}={s[bound]}"]
            try:
                cfg = compose(sweeper, job)
            except (HydraException, OmegaConfBaseException, ValueError, TypeError) as e:
                raise Refused(f"hydra.sweeper.key={key}, {bound}={s[bound]} with {' '.join(combo) or 'the defaults'}: "
                              f"{cli.explain(e, job, [])}") from None
            value = OmegaConf.select(cfg, key, default=None)
            if isinstance(value, bool) or not isinstance(value, int):
                raise Refused(f"hydra.sweeper.key={key} is not allowed: it must name an integer setting of every "
                              f"configuration (bits, task.length, task.delay); {' '.join(combo) or 'the defaults'} "
                              f"has {key}={value}")
            try:
                config.check(cfg)
                if bound == "max":
                    memory.check(cfg, worker=True)
            except config.ConfigError as e:
                raise Refused(f"hydra.sweeper.{bound}={s[bound]} with {' '.join(combo) or 'the defaults'}: {e}") from None
            if bound == "max":
                maxima.append(cfg)
    jobs = limits.parallel_jobs(sweeper.config.hydra.get("launcher"), len(combos))
    if jobs and jobs > 1:
        try:
            memory.check(max(maxima, key=lambda c: memory.estimate(c).total), jobs=jobs, worker=True)
        except config.ConfigError as e:
            raise Refused(f"hydra.sweeper.max={s['max']}: {e}") from None


def solved(ret) -> tuple[int, int]:
    """(replicas solved, replicas) of a finished job, read from the run in its folder."""
    _ = ret.return_value  # a failed job raises its exception here, as under the basic sweeper
    out = Path(str(ret.hydra_cfg.hydra.runtime.output_dir))
    try:
        _, tables = results.read_run(out)
    except results.CorruptRun as e:
        raise Refused(f"{out / e.file} {e.why}: the frontier search cannot read this job's result") from None
    s = tables["summary"]["solved"].astype(bool)
    return int(s.sum()), int(len(s))


def labels(combos: list[list[str]]) -> tuple[list[dict], list[str]]:
    """Per configuration: its swept settings (those that differ between configurations), and a label."""
    vals = [dict(o.split("=", 1) for o in c) for c in combos]
    swept = [k for k in (vals[0] if vals else {}) if len({v.get(k) for v in vals}) > 1]
    cols = [{k: v[k] for k in swept} for v in vals]
    return cols, [", ".join(f"{k}={v}" for k, v in c.items()) or "all runs" for c in cols]


def frontier_table(combos, searches: list[Search], key: str) -> pd.DataFrame:
    cols, names = labels(combos)
    rows = []
    for c, name, s in zip(cols, names, searches):
        def rate(v):
            return None if v is None else s.tried[v][0] / s.tried[v][1]

        def count(v):
            return "" if v is None else f"{s.tried[v][0]}/{s.tried[v][1]}"

        rows.append({**c, "config": name, "key": key, "largest_solved": s.lo, "solved_there": count(s.lo),
                     "rate_largest_solved": rate(s.lo), "smallest_failed": s.hi, "solved_at_failed": count(s.hi),
                     "rate_smallest_failed": rate(s.hi), "status": s.status, "trainings": len(s.tried),
                     "min_success": s.min_success,
                     "tried": " ".join(f"{v}:{a}/{n}" for v, (a, n) in s.tried.items()),
                     "contradictions": " ".join(map(str, s.contradictions()))})
    df = pd.DataFrame(rows)
    for c in ("largest_solved", "smallest_failed"):
        df[c] = df[c].astype("Int64")
    return df


def sweep(sweeper, arguments: list[str]) -> list:
    """Search every configuration's frontier; a refused setting ends the command with one line (exit 2)."""
    try:
        return _sweep(sweeper, arguments)
    except Refused as e:
        print(f"rnnexp: error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def _sweep(sweeper, arguments: list[str]) -> list:
    s = sweeper.settings
    check_settings(s)
    key = s["key"]
    combos = combinations(sweeper, arguments, key)
    sweep_dir = Path(str(sweeper.config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(sweeper.config, sweep_dir / "multirun.yaml")  # as the basic sweeper: the sweep's config
    check_bounds(sweeper, combos, s)
    searches = [Search(s["start"], s["min"], s["max"], s["resolution"], s["min_success"]) for _ in combos]
    _, names = labels(combos)
    returns, job_idx, round_ = [], 0, 0
    while True:
        todo = [(i, search.next()) for i, search in enumerate(searches) if not search.done]
        if not todo:
            break
        round_ += 1
        batch = [combos[i] + [f"{key}={v}"] for i, v in todo]
        print(f"frontier: round {round_}: {len(batch)} job(s): "
              + "; ".join(f"{names[i]}: {key}={v}" for i, v in todo), flush=True)
        sweeper.validate_batch_is_legal(batch)
        rets = sweeper.launcher.launch(batch, initial_job_idx=job_idx)
        job_idx += len(batch)
        for (i, v), ret in zip(todo, rets):
            searches[i].record(v, *solved(ret))
        returns.append(rets)
        results.write_table(frontier_table(combos, searches, key), sweep_dir / CSV)  # each round: progress kept
    table = frontier_table(combos, searches, key)
    results.write_table(table, sweep_dir / CSV)
    print(f"frontier: {job_idx} trainings in {round_} rounds; {sweep_dir / CSV}:")
    shown = table[["config", "largest_solved", "solved_there", "smallest_failed", "solved_at_failed", "status"]]
    print(shown.to_string(index=False), flush=True)
    return returns
