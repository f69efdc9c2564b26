"""rnnexp's frontier sweeper, a Hydra sweeper plugin: ``python -m rnnexp -m hydra/sweeper=frontier``.

For each combination of the other swept settings it finds the largest value of one length setting
(``hydra.sweeper.key``: ``bits``, ``task.length``, ``task.delay``) at which at least
``hydra.sweeper.min_success`` of the replicas solve: grow by doubling, then bisect; each round's jobs
are launched together through the configured launcher. It writes ``frontier.csv`` in the sweep dir
(the report section ``frontier`` draws it).

Hydra finds sweepers in the ``hydra_plugins`` namespace package and imports every module whose name
does not start with ``_`` when any Hydra app starts; ``frontier_sweeper`` (the config and the class)
therefore imports Hydra only, and the work (``_core``: rnnexp, pandas) and the search logic
(``_search``) load when a sweep starts.
"""
