"""The report room: ``report.md``, its figures and CSV tables, built from a sweep's combined tables.

- ``generic``: the report every sweep gets (summary table, convergence, outcomes, gradients) and
  ``python -m rnnexp.report DIR [DIR2 ...]`` (``__main__``); it appends the study sections the sweep
  declared. ``compare``: several sweep dirs' tables stacked into one report.
- ``describe``: what the report says in words (title, command, summary table, notes).
- ``roles``: which swept key is colour, columns, rows, within bounds (a sweep of hundreds of values,
  an Optuna search's sampled values); ``layout``: how figures are laid out and drawn (labels, panels,
  colours, colour bars, legends); ``files``: writing them (PNG of bounded size, SVG/PDF on request).
- ``figures``: the generic report's figures, one function each; ``outcomes``: how each configuration
  ended (heatmaps for a small grid, points against each setting for a big or sampled sweep).
- ``intervals``: the Wilson interval every success rate carries, in tables and figures.
- ``studies``: study-specific sections grouped by study, each declared by name in a preset's
  ``report.sections`` (``studies/__init__.py`` lists them).

What it may import: the runs' tables and how they combine (``rnnexp.runs.results``,
``rnnexp.runs.combine``), the task's reference scores (``rnnexp.tasks.addition``) and the
engine's activations (their gamma, for the 1/gamma lines). Never the training loop or the command
line: a report reads what runs wrote and computes nothing that changes a result. Importing this
package (or ``studies``) loads nothing: ``rnnexp.config`` reads the section names from ``studies``.
"""
