"""The report room: ``report.md``, its figures and CSV tables, built from a sweep's combined tables.

- ``generic``: the report every sweep gets (summary table, convergence, outcomes, gradients) and
  ``python -m rnnexp.report DIR`` (``__main__``); it appends the study sections the sweep declared.
- ``layout``: how figures are laid out and drawn (labels, panels, colours, legends, PNGs).
- ``figures``: the generic report's figures, one function each.
- ``studies``: study-specific sections grouped by study, each declared by name in a preset's
  ``report.sections`` (``studies/__init__.py`` lists them).

What it may import: the runs' tables and how they combine (``rnnexp.runs.results``,
``rnnexp.runs.combine``), the task's reference scores (``rnnexp.tasks.addition``) and the
engine's activations (their gamma, for the 1/gamma lines). Never the training loop or the command
line: a report reads what runs wrote and computes nothing that changes a result. Importing this
package (or ``studies``) loads nothing: ``rnnexp.config`` reads the section names from ``studies``.
"""
