"""Runs on disk: launching one training into its folder, storing, reusing and combining results.

- ``job``: ``run(cfg, out_dir)``, what one Hydra job does: check the config, train (through the
  cache), write the run's tables.
- ``results``: the files a run writes (tables with config columns, ``run.json``) and reading them back.
- ``cache``: the content-addressed store of finished trainings, keyed by the settings and
  ``engine_version()`` (the hash of the modules that compute results).
- ``combine``: every run below a sweep dir into combined tables, and the overview of a sweep
  (``python -m rnnexp.collect DIR`` is its command).
- ``callbacks``: the Hydra callback that combines the tables and builds the report when a sweep ends.
- ``sweepdir``: one folder per command: reserves time-stamped run/sweep dirs before Hydra starts,
  refuses a dir holding another command's jobs, and words the one line a Ctrl-C ends with.
- ``workers``: a local sweep's worker processes ignore Ctrl-C; the launcher answers it alone.
- ``progress``: feedback while work runs: a run's bar or lines, a sweep's line (the launcher polls
  its jobs' folders), each job's partial history and its story in the job log.
- ``checkpoint``: a training's state saved beside its cache entry, so the same command resumes a
  killed job to the same result.
- ``objective``: the number a run returns to a Hydra sweeper (``objective=``), from its summary.

May import: ``rnnexp.config``, ``rnnexp.train`` (and through them the engine and tasks);
``callbacks`` also starts ``rnnexp.report``. Nothing below (engine, tasks, train, config) imports
from here.
"""
