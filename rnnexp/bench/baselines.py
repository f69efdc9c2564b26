"""The peers ``python -m rnnexp.bench`` measures rnnexp against, written fresh here: nothing in this
module imports the package's engine, so a change to the engine cannot change a baseline.

- ``PerSampleLoop``: the seeds' way (seed 002, iamtrask's "binary addition"): one random pair per
  iteration, Python loops over the time steps, a forward pass then a separate backward pass,
  sigmoid hidden and output units, squared error, no biases, weights uniform in [-1, 1), lr 0.1.
- ``torch_step_timer``: PyTorch CPU ``nn.RNN`` + ``nn.Linear`` with autograd and SGD on the same
  task (``None`` when torch is not installed; torch is never a dependency of rnnexp).
- ``torch_long_timer``: PyTorch CPU ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` + ``nn.Linear``, Adam,
  float32, one network, on the long tasks (``adding``, ``copy``; batches from ``long_task_batch``).
- ``matmul_floor_timer``: the same ``np.matmul`` calls at the same shapes as one training step of
  rnnexp's Elman RNN (or a gated cell's, ``gates``), and nothing else: the cost of the arithmetic alone
  (less, on request, the products a float32 step does in its compiled kernels).

Every timer is ``run(n) -> seconds`` for n steps, so the benchmark interleaves them with rnnexp's.
"""
from __future__ import annotations

import time

import numpy as np


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


class PerSampleLoop:
    """Seed 002's training loop, one network, lsb first. ``train(n)`` runs n iterations."""

    def __init__(self, seed: int, hidden: int = 16, bits: int = 8, lr: float = 0.1):
        self.rng = np.random.default_rng(seed)
        self.hidden, self.bits, self.lr = hidden, bits, lr
        self.U = 2 * self.rng.random((2, hidden)) - 1  # input -> hidden
        self.W = 2 * self.rng.random((hidden, hidden)) - 1  # hidden -> hidden
        self.V = 2 * self.rng.random((hidden, 1)) - 1  # hidden -> output

    def train(self, iterations: int) -> None:
        H, bits = self.hidden, self.bits
        for _ in range(iterations):
            a = int(self.rng.integers(0, 2 ** (bits - 1)))
            b = int(self.rng.integers(0, 2 ** (bits - 1)))
            c = a + b
            xs = [np.array([[(a >> k) & 1, (b >> k) & 1]], dtype=float) for k in range(bits)]
            ys = [float((c >> k) & 1) for k in range(bits)]
            # forward, one step at a time
            hs = [np.zeros((1, H))]
            out_deltas = []
            for t in range(bits):
                h = _sigmoid(xs[t] @ self.U + hs[-1] @ self.W)
                o = _sigmoid(h @ self.V)
                out_deltas.append((ys[t] - o) * o * (1 - o))  # squared error through the sigmoid
                hs.append(h)
            # backward, one step at a time, from the last
            dU, dW, dV = np.zeros_like(self.U), np.zeros_like(self.W), np.zeros_like(self.V)
            future = np.zeros((1, H))
            for t in range(bits - 1, -1, -1):
                h, h_prev = hs[t + 1], hs[t]
                delta = (future @ self.W.T + out_deltas[t] @ self.V.T) * h * (1 - h)
                dV += h.T @ out_deltas[t]
                dW += h_prev.T @ delta
                dU += xs[t].T @ delta
                future = delta
            self.U += self.lr * dU  # the deltas point downhill already (y - o)
            self.W += self.lr * dW
            self.V += self.lr * dV

    def solved(self) -> bool:
        """100 % on every one of the 4**(bits-1) problems (vectorised; not part of the timed loop)."""
        n = 2 ** (self.bits - 1)
        a, b = np.divmod(np.arange(n * n), n)
        c = a + b
        h = np.zeros((n * n, self.hidden))
        for k in range(self.bits):
            x = np.stack([(a >> k) & 1, (b >> k) & 1], axis=1).astype(float)
            h = _sigmoid(x @ self.U + h @ self.W)
            if not np.array_equal((_sigmoid(h @ self.V)[:, 0] > 0.5), ((c >> k) & 1).astype(bool)):
                return False
        return True


def loop_time_to_solve(seed: int, check_every: int = 100, max_iterations: int = 20_000,
                       hidden: int = 16, bits: int = 8) -> tuple[float, int, bool]:
    """Train a ``PerSampleLoop`` until it gets all problems right, checking every ``check_every``
    iterations. Returns ``(seconds, iterations, solved)``; the seconds count the training
    iterations only, not the checks (which favours the loop)."""
    loop = PerSampleLoop(seed, hidden, bits)
    spent, it = 0.0, 0
    while it < max_iterations:
        t0 = time.perf_counter()
        loop.train(check_every)
        spent += time.perf_counter() - t0
        it += check_every
        if loop.solved():
            return spent, it, True
    return spent, it, False


def torch_step_timer(hidden: int, batch: int, bits: int, lr: float = 0.01, seed: int = 0):
    """``run(n) -> seconds`` for n PyTorch training steps (``nn.RNN`` tanh + ``nn.Linear``, binary
    cross-entropy on logits, SGD, one CPU thread, float32 as PyTorch defaults to), or ``None``
    without torch. The batches are made beforehand and cycled, so the timing is the step alone."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rnn = torch.nn.RNN(2, hidden, nonlinearity="tanh")
    out = torch.nn.Linear(hidden, 1)
    opt = torch.optim.SGD(list(rnn.parameters()) + list(out.parameters()), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(16):
        a = rng.integers(0, 2 ** (bits - 1), batch)
        b = rng.integers(0, 2 ** (bits - 1), batch)
        k = np.arange(bits)[:, None]  # lsb first, time-major
        x = np.stack([(a >> k) & 1, (b >> k) & 1], axis=-1)  # (T, B, 2)
        y = ((a + b) >> k) & 1  # (T, B)
        pool.append((torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)))

    def run(n: int) -> float:
        t0 = time.perf_counter()
        for i in range(n):
            x, y = pool[i % len(pool)]
            opt.zero_grad()
            h, _ = rnn(x)  # (T, B, H)
            loss = loss_fn(out(h)[..., 0], y)
            loss.backward()
            opt.step()
        return time.perf_counter() - t0

    return run


def matmul_floor_shapes(T: int, R: int, B: int, H: int, I: int = 2, O: int = 1, G: int = 1, inputs: bool = True,
                        input_grads: bool = True, output_grads: bool = True) -> list[tuple[tuple, tuple, bool]]:
    """The matmuls of one rnnexp Elman-RNN training step (one layer, full BPTT), in order, as
    ``(left shape, right shape, left is a transposed view)``:

    - forward: the input projection of every step at once ``(R, T*B, I) @ (R, I, H)``, T recurrent
      steps ``(R, B, H) @ (R, H, H)``, the output layer ``(R, T*B, H) @ (R, H, O)``;
    - backward: T recurrent steps ``(R, B, H) @ (R, H, H)`` (the transposed ``Whh``), the output
      layer's ``dz @ Why^T`` ``(R, T*B, O) @ (R, O, H)`` when O > 1 (with one output rnnexp
      broadcasts instead: no matmul), and the weight gradients ``Why, Whh, Wxh``: ``X^T @ D`` with
      ``X^T`` a transposed view ``(R, P, T*B)`` of ``(R, T*B, P)``.

    A gated cell (``G`` gates: LSTM 4, GRU 3) computes ``G*H`` pre-activations per step: the same
    products with ``G*H`` in place of ``H`` on the gates' side (the GRU splits its recurrent product
    in two, ``2H + H``: the same arithmetic).

    ``inputs``, ``input_grads``, ``output_grads`` False leave out the input projection, ``Wxh``'s
    gradient and ``dz @ Why^T``: products a float32 gated step does inside its compiled kernels,
    row by row while the rows are in the caches (``bench.long._kernel_products``), not as BLAS
    products. Done by BLAS, with an inner size of 2-10 inputs, they take longer than the kernels take
    for them (137 of the 605 ms of this floor for the LSTM at hidden 64, T = 1000, copy), so a floor
    that kept them would be no floor.
    """
    GH = G * H
    shapes = [((R, T * B, I), (R, I, GH), False)] if inputs else []
    shapes += [((R, B, H), (R, H, GH), False)] * T
    shapes += [((R, T * B, H), (R, H, O), False)]
    shapes += [((R, B, GH), (R, GH, H), False)] * T
    if O > 1 and output_grads:
        shapes += [((R, T * B, O), (R, O, H), False)]
    shapes += [((R, H, T * B), (R, T * B, O), True), ((R, H, T * B), (R, T * B, GH), True)]
    if input_grads:
        shapes += [((R, I, T * B), (R, T * B, GH), True)]
    return shapes


def matmul_floor_timer(T: int, R: int, B: int, H: int, I: int = 2, O: int = 1, seed: int = 0, G: int = 1,
                       dtype=np.float64, **in_kernels):
    """``run(n) -> seconds`` for n repetitions of ``matmul_floor_shapes``' matmuls on fixed random
    operands of ``dtype`` (outputs preallocated, as the recurrent steps write into their state array);
    ``in_kernels``: ``matmul_floor_shapes``' ``inputs``, ``input_grads``, ``output_grads``.

    The products of one shape share their operands, as a step's T recurrent products share ``Whh``:
    a floor that gave each product its own copy read the weights from memory at every step (3.4 GB of
    copies for the LSTM at hidden 128, T = 500, 10 replicas) and was slower than the products a step does."""
    rng = np.random.default_rng(seed)
    ops, made = [], {}
    for key in matmul_floor_shapes(T, R, B, H, I, O, G, **in_kernels):
        if key not in made:
            left, right, transposed = key
            a = rng.standard_normal(left[:1] + left[:0:-1] if transposed else left).astype(dtype)
            a = a.swapaxes(-1, -2) if transposed else a
            b = rng.standard_normal(right).astype(dtype)
            made[key] = (a, b, np.empty(left[:-1] + right[-1:], dtype))
        ops.append(made[key])

    def run(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            for a, b, out in ops:
                np.matmul(a, b, out=out)
        return time.perf_counter() - t0

    return run


def long_task_batch(task: str, T: int, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One batch of the long tasks, time-major, as their definitions in ``rnnexp.tasks`` say (written
    fresh here): ``adding`` ``x: (T, B, 2)`` (value, marker: one mark in each half), ``y: (B,)`` the
    sum, read at the last step; ``copy`` ``x: (T + 20, B, 10)`` one-hot (10 symbols of 1..8, blanks,
    the delimiter 9 at step T + 9), ``y: (T + 20, B)`` blank (0) but the 10 symbols at the end."""
    if task == "adding":
        values = rng.random((T, batch))
        marker = np.zeros((T, batch))
        cols = np.arange(batch)
        first, second = rng.integers(0, T // 2, batch), rng.integers(T // 2, T, batch)
        marker[first, cols] = marker[second, cols] = 1.0
        return np.stack([values, marker], axis=-1), values[first, cols] + values[second, cols]
    sym = rng.integers(1, 9, (10, batch))
    seq = np.zeros((T + 20, batch), np.int64)
    seq[:10] = sym
    seq[T + 9] = 9
    y = np.zeros((T + 20, batch), np.int64)
    y[-10:] = sym
    return np.eye(10)[seq], y


def torch_long_timer(model: str, hidden: int, T: int, task: str, batch: int = 32, lr: float = 0.01, seed: int = 0):
    """``run(n) -> seconds`` for n PyTorch training steps of one network on a long task (``None``
    without torch): ``nn.RNN`` (tanh) / ``nn.GRU`` / ``nn.LSTM`` + ``nn.Linear``, Adam, float32, one
    CPU thread; ``adding``: squared error of the last step's output, ``copy``: cross-entropy of a
    10-way softmax at every step (the losses rnnexp's tasks use). Batches made beforehand, cycled."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    n_in, n_out = (2, 1) if task == "adding" else (10, 10)
    cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[model]
    net, out = cls(n_in, hidden), torch.nn.Linear(hidden, n_out)
    opt = torch.optim.Adam(list(net.parameters()) + list(out.parameters()), lr=lr)
    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(4):
        x, y = long_task_batch(task, T, batch, rng)
        pool.append((torch.tensor(x, dtype=torch.float32),
                     torch.tensor(y, dtype=torch.float32 if task == "adding" else torch.int64)))
    cross_entropy = torch.nn.CrossEntropyLoss()

    def run(n: int) -> float:
        t0 = time.perf_counter()
        for i in range(n):
            x, y = pool[i % len(pool)]
            opt.zero_grad()
            h, _ = net(x)  # (T, B, H)
            if task == "adding":
                loss = ((out(h[-1])[:, 0] - y) ** 2).mean()
            else:
                loss = cross_entropy(out(h).reshape(-1, n_out), y.reshape(-1))
            loss.backward()
            opt.step()
        return time.perf_counter() - t0

    return run
