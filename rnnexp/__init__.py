"""rnnexp: a research harness for how plain recurrent networks learn binary addition (and the
long-range tasks ``adding`` and ``copy``).

The package is a house of rooms; each imports only the rooms listed after it (tests/test_layout.py
checks it from the source, and that no import cycle exists):

- ``engine/``   Hydra-free numerics: activations, losses, init, optim, gradients, ``network``
                (NetSpec, output layer, loss) and ``models/`` (rnn, birnn, lstm, gru).
                                                    -> numpy (and numba: float32's compiled kernels)
- ``tasks/``    one module or package per task, found by name (``Task`` protocol); ``addition/``: bit
                sequences, evaluation sets, batches, accuracies, seed 001's metric, the causal
                limits; ``adding``, ``copy`` (long-range dependencies).                  -> engine
- ``config.py`` the typed schema, allowed values, ``net_spec`` (settings -> NetSpec).    -> engine, tasks
  ``memory.py`` the peak memory a configuration needs, checked before any work.      -> config, engine, tasks
- ``train.py``  the training loop: ``train(Config) -> Result`` (tables).                  -> config, engine, tasks
- ``runs/``     one job (``job.run``), results on disk, the cache of finished trainings,
                combining a sweep's runs, the sweep-end callback, one folder per command,
                progress and checkpoints (resuming a killed training).  -> train, config, engine, tasks
                (``runs.callbacks`` alone also starts the report, when a sweep ends; ``config``
                reads the report's section names from ``report/studies``, a plain registry)
- ``report/``   report.md and figures of a sweep dir (``python -m rnnexp.report DIR``).  -> runs, config, engine, tasks
- ``bench/``    the benchmark and its peers (``python -m rnnexp.bench``).                -> train, config, engine, tasks
- ``api.py``    the path without the command line: ``configure``, ``run``, tables with their settings;
                ``report/draw.py`` draws the report's figures into a given Axes.  -> report, runs, train, config
- ``cli/``      checks every configuration of a command line before any job starts, for
                every sweeper (``limits``: folders, memory; ``messages``: the one-line errors). -> config, memory
- ``__main__.py`` the Hydra entry point (the ``rnnexp`` command); ``collect.py``: ``python -m rnnexp.collect DIR``.
                ``helptext.py``: every setting's meaning (--help, the README's table); ``completion.py``:
                the shell's <TAB>.                                                  -> cli, runs, config

Only the entry point and ``runs.job`` see a Hydra ``DictConfig``. The cache key's engine version
(``runs.cache.engine_version``) hashes exactly the modules that compute results: ``engine/``,
``tasks/``, ``train.py``, ``config.py``.

A setting from the command line to the array it shapes (three modules at most):

- ``hidden``: ``config.py`` (``net_spec``) -> ``engine/network.py`` (``NetSpec.hidden``) ->
  ``engine/models/_stack.py`` (``init_params``: ``Whh: (R, H, H)``; the states ``(T+1, R, B, H)``).
- ``model.layers``: ``config.py`` (``net_spec`` passes the model group as ``NetSpec.options``) ->
  ``engine/network.py`` -> ``engine/models/_stack.py`` (``n_layers``: ``Wxh_l1, Whh_l1, ...``, one
  cache per layer); the setting is declared beside the models (``ModelConf``, ``engine/models``).
- ``bits``: ``config.py`` -> ``tasks/addition/task.py`` (``make``: ``Addition(bits, order, delay)``,
  the task object ``train.py`` asks for batches and its evaluation set) ->
  ``tasks/addition/data.py`` (``x: (T=bits, R, B, 2)``).
- ``activation``: ``config.py`` (``net_spec``) -> ``engine/network.py`` (``NetSpec.act``, looked up
  in ``engine/activations.py``) -> the cell (``engine/models/rnn.py``: ``h = act(a)``, ``(R, B, H)``).
"""

__version__ = "0.1.0"

# The Python API (README: Python API), loaded on first use: ``import rnnexp`` stays light for the
# workers and the command line.
#   cfg = rnnexp.configure(hidden=8, clip="norm", **{"clip.threshold": 0.5})   # checked like the CLI
#   res = rnnexp.run(cfg)                  # tables with the settings as columns
#   rnnexp.draw.learning_curve(res.history, "sum_acc", ax=ax)
# (``rnnexp.train`` is the training loop's module: ``rnnexp.train.train(cfg)``, tables without settings.)
_API = {"configure": ("api", "configure"), "run": ("api", "run"), "Config": ("config", "Config"),
        "ConfigError": ("config", "ConfigError"), "draw": ("report.draw", None)}
__all__ = ["configure", "run", "Config", "ConfigError", "draw", "__version__"]


def __dir__():
    return sorted([*globals(), *_API])


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'rnnexp' has no attribute {name!r}")
    import importlib

    module, attr = _API[name]
    mod = importlib.import_module(f"{__name__}.{module}")
    return mod if attr is None else getattr(mod, attr)
