"""Binary addition, one bit per time step: the problems (``data``) and the measures (``metrics``).

A package rather than one module so that each part stays a small file named for what it holds:

- ``data``: operands, sums and their bit sequences in either ``order`` (``lsb``, ``msb``), the
  evaluation set (every problem up to 9 bits, a fixed sample above), the training ``Batches``.
- ``metrics``: per-bit, whole-sum and per-position accuracy (``evaluate``, over a prefix tree of
  the problems for causal models), seed 001's own metric, and the best scores a causal model can
  reach on msb order (``msb_bit_limits``, ``msb_per_bit_limit``, ``msb_sum_limit``).

- ``task``: the ``Task`` object (``rnnexp.tasks``) and the task's settings (``Conf``: ``task.delay``).

The names below are the task's interface: what the training loop, the configuration and the report
use.
"""
from .data import ORDERS, Batches, eval_set
from .metrics import (causal_bit_limits, causal_sum_limit, evaluate, msb_bit_limits, msb_per_bit_limit,
                      msb_sum_limit, seed001_accuracy)
from .task import RULES, Addition, Conf, make

__all__ = ["ORDERS", "Batches", "eval_set", "evaluate", "seed001_accuracy",
           "msb_bit_limits", "msb_per_bit_limit", "msb_sum_limit", "causal_bit_limits", "causal_sum_limit",
           "Addition", "Conf", "RULES", "make"]
