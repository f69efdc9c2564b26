"""The numerical engine: hand-written NumPy recurrent networks, their gradients and optimisers.

Hydra-free: every function takes plain arguments (a ``network.NetSpec``, parameter dicts of arrays
with a leading replica axis), so tests and notebooks call it directly.

- ``activations``, ``losses``: registries with derivatives (written in terms of cached outputs).
- ``init``: weight initialisation schemes; ``optim``: SGD and Adam, per replica.
- ``gradients``: global and per-parameter norms, clipping, the largest singular value.
- ``allocator``: a training process keeps the memory it frees (every step's large arrays reuse
  mapped pages; glibc's ``mallopt``), applied by the entry point, sweep workers and the benchmark.
- ``network``: ``NetSpec`` (everything that fixes the arithmetic), the shared output layer and
  loss, forward and backward through any model.
- ``models/``: the sequence models (rnn, birnn, lstm, gru), each an object with the ``Model``
  protocol (``models.get(name)``); a float32 step runs the cells' element-wise work in compiled
  kernels (``models/_fused.py``; ``models/_kernels*.py``: numba, imported only then).

May import: numpy, numba (``models/_kernels*.py`` only), ctypes (``allocator``) and the modules of
this package only. Nothing above (tasks, training,
configuration, storage, reporting) may be imported from here.
"""
