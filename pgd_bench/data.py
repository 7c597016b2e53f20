"""Finite-sample training: fixed training sets, and the empirical loss and gradient over them.

With ``samples = N``, trial ``i`` trains on its own set of ``N`` Gaussian inputs ``Z^(1..N)``
(each ``k x p``), drawn from the stream ``(seed, i, PURPOSE_DATA)``, with the teacher's labels
``y_b = f(w*, a*, Z^(b))``; with shared data every trial trains on the one set drawn from
``(seed, 0, PURPOSE_SHARED_DATA)``. :func:`training_set` gives the same inputs to Python. The
empirical loss is ``(1/N) sum_b (f(w, a, Z^(b)) - y_b)^2`` and its gradient the formulas of
docs/mathematics.md, "Sample (mini-batch) loss and gradient", over the set; SGD draws its
mini-batches from the set, uniformly **with replacement** (every sample of every batch is an
independent uniform index).

The engine holds the sets of a block of trials side by side, lanes innermost: ``Z`` has shape
``(N, k p, n)`` and ``y`` ``(N, n)``, so every loop over lanes is SIMD code, each lane reading its
own set. A block's sets are read once per iteration; the engine runs ``DATA_LANES`` trials per
block in this mode so that they stay in the core's cache (1000 trials of their own ``N = 256``
set are 98 MB, read at every step, when held all at once).
"""

from __future__ import annotations

import numpy as np

from ._jit import jit
from ._validate import as_int, as_seed, check_memory
from .random import PURPOSE_DATA, PURPOSE_SHARED_DATA, STATE_WORDS, _xoshiro, fill_normal, stream_init

DATA_LANES = 8  # trials per engine block in finite-sample mode: one 512-bit vector of doubles


@jit(inline=True)
def fill_training_sets(seed, first_trial, shared, w_star, a_star, Z, y, lane_state):
    """Lane ``l`` of ``Z`` (``(N, k p, n)``) and ``y`` (``(N, n)``): the training set of trial
    ``first_trial + l``, or with ``shared`` the run's one set in every lane."""
    n_samples, kp, n = Z.shape
    p = w_star.shape[0]
    k = kp // p
    flat = np.empty(n_samples * kp)
    for l in range(n):
        if shared:
            if l == 0:
                stream_init(lane_state, seed, 0, PURPOSE_SHARED_DATA)
                fill_normal(lane_state, flat)
        else:
            stream_init(lane_state, seed, first_trial + l, PURPOSE_DATA)
            fill_normal(lane_state, flat)
        for b in range(n_samples):
            label = 0.0
            for j in range(k):
                pre = 0.0
                for i in range(p):
                    z = flat[b * kp + j * p + i]
                    Z[b, j * p + i, l] = z
                    pre += z * w_star[i]
                label += a_star[j] * max(pre, 0.0)
            y[b, l] = label


@jit(inline=True)
def empirical_loss_grad_lanes(Z, y, count, w, a, grad_w, grad_a, pre, residual, loss):
    """Loss and gradient over the first ``count`` samples of each lane's set, for every lane.

    ``loss[l] = (1/count) sum_b r_b^2`` with ``r_b = f(w_l, a_l, Z^(b)) - y_b``; ``grad_a`` and
    ``grad_w`` (shapes ``(k, n)``, ``(p, n)``) are its gradients, ``(2/count) sum_b r_b
    relu(Z^(b) w)`` and ``(2/count) sum_b r_b sum_j a_j 1[Z^(b)_j . w > 0] Z^(b)_j``. ``pre``
    (``(k, n)``) and ``residual`` (``n``) are scratch. Sums run over samples in order, per lane:
    the result does not depend on which block or thread a trial runs in.
    """
    p, n = w.shape
    k = a.shape[0]
    for l in range(n):
        loss[l] = 0.0
    for j in range(k):
        for l in range(n):
            grad_a[j, l] = 0.0
    for i in range(p):
        for l in range(n):
            grad_w[i, l] = 0.0
    for b in range(count):
        for l in range(n):
            residual[l] = -y[b, l]
        for j in range(k):
            for l in range(n):
                pre[j, l] = 0.0
            for i in range(p):
                row = j * p + i
                for l in range(n):
                    pre[j, l] += Z[b, row, l] * w[i, l]
            for l in range(n):
                residual[l] += a[j, l] * max(pre[j, l], 0.0)
        for l in range(n):
            loss[l] += residual[l] * residual[l]
        for j in range(k):
            for l in range(n):
                relu = max(pre[j, l], 0.0)
                grad_a[j, l] += residual[l] * relu
                pre[j, l] = residual[l] * a[j, l] if relu > 0.0 else 0.0  # now the coefficient
        for j in range(k):
            for i in range(p):
                row = j * p + i
                for l in range(n):
                    grad_w[i, l] += pre[j, l] * Z[b, row, l]
    scale = 2.0 / count
    for l in range(n):
        loss[l] *= 0.5 * scale
    for j in range(k):
        for l in range(n):
            grad_a[j, l] *= scale
    for i in range(p):
        for l in range(n):
            grad_w[i, l] *= scale


@jit(inline=True)
def draw_minibatch_lanes(states, Z, y, batch_z, batch_y):
    """Copy ``batch_z.shape[0]`` samples of each lane's set, drawn uniformly with replacement from
    the lane's stream, into ``batch_z`` (``(B, k p, n)``) and ``batch_y`` (``(B, n)``)."""
    n_samples, kp, n = Z.shape
    batch = batch_z.shape[0]
    for l in range(n):
        s0 = states[0, l]
        s1 = states[1, l]
        s2 = states[2, l]
        s3 = states[3, l]
        for b in range(batch):
            bits, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
            # 53 random bits scaled to [0, N): bias below N / 2^53, nothing at any N we allow
            index = int(np.float64(bits >> np.uint64(11)) * (n_samples / 9007199254740992.0))
            for r in range(kp):
                batch_z[b, r, l] = Z[index, r, l]
            batch_y[b, l] = y[index, l]
        states[0, l] = s0
        states[1, l] = s1
        states[2, l] = s2
        states[3, l] = s3


@jit
def _training_set(samples, k, p, seed, trial, purpose):
    out = np.empty(samples * k * p)
    state = np.empty(STATE_WORDS, dtype=np.uint64)
    stream_init(state, seed, trial, purpose)
    fill_normal(state, out)
    return out


def training_set(samples: int, k: int, p: int, seed: int = 0, trial: int = 0, shared: bool = False) -> np.ndarray:
    """The training inputs a finite-sample run gives a trial (labels: ``forward(Z, w*, a*)``).

    Parameters
    ----------
    samples, k, p : int
        Set size ``N``, patches and patch dimension.
    seed : int
        The run's seed.
    trial : int
        The trial's index (ignored with ``shared``).
    shared : bool
        The one set of a run with ``shared_data``.

    Returns
    -------
    ndarray, shape (samples, k, p)
    """
    samples = as_int("samples", samples, minimum=1)
    k = as_int("k", k, minimum=1)
    p = as_int("p", p, minimum=1)
    trial = as_int("trial", trial, minimum=0)
    check_memory("training_set", 8.0 * samples * k * p, "ask for fewer samples")
    purpose = PURPOSE_SHARED_DATA if shared else PURPOSE_DATA
    flat = _training_set(samples, k, p, np.uint64(as_seed("seed", seed)), 0 if shared else trial, purpose)
    return flat.reshape(samples, k, p)
