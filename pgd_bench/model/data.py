"""Finite-sample training: fixed training sets, and the empirical loss and gradient over them.

With ``samples = N``, trial ``i`` trains on its own set of ``N`` Gaussian inputs ``Z^(1..N)``
(each ``k x p``), drawn from the stream ``(seed, i, PURPOSE_DATA)``, with the teacher's labels
``y_b = f(w*, a*, Z^(b))``; with shared data every trial trains on the one set drawn from
``(seed, 0, PURPOSE_SHARED_DATA)``. :func:`training_set` gives the same inputs to Python. The
empirical loss is ``(1/N) sum_b (f(w, a, Z^(b)) - y_b)^2`` and its gradient the formulas of
docs/mathematics.md, "Sample (mini-batch) loss and gradient", over the set; SGD draws its
mini-batches from the set, uniformly **with replacement** (every sample of every batch is an
independent uniform index).

The engine holds the sets of a block of trials one after the other, samples innermost: ``Z`` has
shape ``(n, k p, N)`` and ``y`` ``(n, N)``, so the empirical gradient of each trial is long SIMD
loops over its samples (the other phases stay SIMD across trials). A block's sets are read once per
iteration; the engine runs ``DATA_LANES`` trials per block in this mode so that they stay in the
core's cache (1000 trials of their own ``N = 256`` set are 98 MB, read at every step, when held all
at once; 8 are 0.8 MB).
"""

from __future__ import annotations

import numpy as np

from .._jit import jit
from .._validate import as_bool, as_float, as_int, as_seed, as_stride, as_unit_vector, as_vector, check_memory
from ..streams import (
    INV_2_53,
    PURPOSE_DATA,
    PURPOSE_SHARED_DATA,
    STATE_WORDS,
    fill_normal,
    fill_normal_lanes,
    stream_init,
    xoshiro_next,
)

DATA_LANES = 8  # the lanes of an engine block in finite-sample mode: one 512-bit vector of doubles
# the training sets one block holds at once, at most (unless one set is larger): within a core's L2
# cache (1 MiB on AMD Zen 4 and 5, 2 MiB on recent Xeons), as the full-batch gradient reads them
# all at every step. At N = 1024 (k = 8, p = 6), 8 sets are 3.2 MB: each step read them from L3.
DATA_BLOCK_BYTES = 1 << 20


def data_lanes(samples: int, kp: int) -> int:
    """Trials per engine block with training sets of ``samples`` inputs of ``kp`` numbers each:
    ``DATA_LANES``, or fewer (at least 1) so that their sets (inputs and labels, in doubles) fit in
    ``DATA_BLOCK_BYTES``. A block's other lanes hold no set and take no gradient; every trial's
    arithmetic is its own, so the results do not depend on it (tested)."""
    per_set = 8 * samples * (kp + 1)
    return max(1, min(DATA_LANES, DATA_BLOCK_BYTES // per_set))


@jit(inline=True)
def cut_patches_and_label(flat, b, d, stride, w_star, a_star, Z, l, col, noise):
    """Sample ``b`` of ``flat`` (inputs of ``d`` entries each, one after the other) as the
    ``k x p`` patches of column ``col`` of lane ``l`` of ``Z`` (``(n, k p, N)``), patch ``j``
    being ``x[j stride : j stride + p]``; returns its label ``f(w*, a*, x) + noise``. With
    ``stride = p`` the patches tile the input: ``Z`` gets ``flat``'s entries in order."""
    p = w_star.shape[0]
    k = a_star.shape[0]
    label = 0.0
    for j in range(k):
        pre = 0.0
        for i in range(p):
            z = flat[b * d + j * stride + i]
            Z[l, j * p + i, col] = z
            pre += z * w_star[i]
        label += a_star[j] * max(pre, 0.0)
    return label + noise


@jit
def fill_training_sets(seed, first_trial, shared, stride, label_noise, w_star, a_star, Z, y, lane_state):
    """Lane ``l`` of ``Z`` (``(n, k p, N)``) and ``y`` (``(n, N)``): the training set of trial
    ``first_trial + l``, or with ``shared`` the run's one set in every lane.

    Each sample is one input of ``d = (k - 1) stride + p`` normals cut into ``k`` patches
    (``stride = p``: the poster's non-overlapping model, ``k p`` normals). With ``label_noise``
    ``sigma > 0``, label ``b`` is ``f(w*, a*, x_b) + sigma e_b``, the ``N`` normals ``e`` drawn from
    the same stream right after the inputs (so the inputs do not depend on ``sigma``).
    """
    n, kp, n_samples = Z.shape
    p = w_star.shape[0]
    k = kp // p
    d = (k - 1) * stride + p
    flat = np.empty(n_samples * d)
    eps = np.zeros(n_samples)
    for l in range(n):
        if shared:
            if l == 0:
                stream_init(lane_state, seed, 0, PURPOSE_SHARED_DATA)
                fill_normal(lane_state, flat)
                if label_noise > 0.0:
                    fill_normal(lane_state, eps)
        else:
            stream_init(lane_state, seed, first_trial + l, PURPOSE_DATA)
            fill_normal(lane_state, flat)
            if label_noise > 0.0:
                fill_normal(lane_state, eps)
        for b in range(n_samples):
            y[l, b] = cut_patches_and_label(flat, b, d, stride, w_star, a_star, Z, l, b, label_noise * eps[b])


@jit(inline=True)
def _tree_sum(x, count):
    """``sum(x[:count])`` by pairwise folding, overwriting ``x``: each fold adds the upper part of
    the live prefix onto the lower part, an elementwise loop that compiles to SIMD code (a plain
    running sum is a serial chain of additions that IEEE arithmetic forbids reordering). The
    order is fixed by ``count`` alone, so the bits are too."""
    m = count
    while m > 8:
        half = m // 2
        offset = m - half  # the middle element of an odd prefix stays where it is
        low = x[:half]  # two views, so that LLVM sees two ranges and vectorises the loop
        high = x[offset : offset + half]
        for b in range(half):
            low[b] += high[b]
        m = offset
    total = 0.0
    for b in range(m):
        total += x[b]
    return total


@jit
def empirical_loss_grad_lanes(Z, y, count, w, a, grad_w, grad_a, pre, residual, loss):
    """Loss and gradient over the first ``count`` samples of each lane's set, for every lane of ``Z``.

    ``loss[l] = (1/count) sum_b r_b^2`` with ``r_b = f(w_l, a_l, Z^(b)) - y_b``; ``grad_a`` and
    ``grad_w`` (shapes ``(k, n)``, ``(p, n)``) are its gradients, ``(2/count) sum_b r_b
    relu(Z^(b) w)`` and ``(2/count) sum_b r_b sum_j a_j 1[Z^(b)_j . w > 0] Z^(b)_j``. ``Z`` is
    ``(n, k p, N)`` and ``y`` ``(n, N)``: each lane's samples contiguous, so every inner loop is an
    elementwise loop over samples (SIMD code), and each of the ``1 + k + p`` sums over samples is
    a :func:`_tree_sum`. ``pre`` (``(k + 1, N)``) and ``residual`` (``N``) are scratch. The order of
    every sum is fixed: the result does not depend on which block or thread a trial runs in.

    A call of its own, not inlined into the engine (as are :func:`fill_training_sets` and
    :func:`draw_minibatch_lanes`): its work per call is a whole training set (docs/design.md).
    """
    p = w.shape[0]
    n = Z.shape[0]  # the lanes that hold a set: the others' gradients are left as they are
    k = a.shape[0]
    scale = 2.0 / count
    work = pre[k]
    for l in range(n):
        Zl = Z[l]
        yl = y[l]
        for b in range(count):
            residual[b] = -yl[b]
        for j in range(k):
            pre_j = pre[j]
            for b in range(count):
                pre_j[b] = 0.0
            for i in range(p):
                w_i = w[i, l]
                z_row = Zl[j * p + i]
                for b in range(count):
                    pre_j[b] += z_row[b] * w_i
            a_j = a[j, l]
            for b in range(count):
                pre_j[b] = max(pre_j[b], 0.0)
                residual[b] += a_j * pre_j[b]
        for b in range(count):
            work[b] = residual[b] * residual[b]
        loss[l] = 0.5 * scale * _tree_sum(work, count)
        for j in range(k):
            pre_j = pre[j]
            for b in range(count):
                work[b] = residual[b] * pre_j[b]
            grad_a[j, l] = scale * _tree_sum(work, count)
            a_j = a[j, l]
            for b in range(count):  # now the coefficient of Z^(b)_j in grad_w
                pre_j[b] = residual[b] * a_j if pre_j[b] > 0.0 else 0.0
        for i in range(p):
            for b in range(count):
                work[b] = 0.0
            for j in range(k):
                pre_j = pre[j]
                z_row = Zl[j * p + i]
                for b in range(count):
                    work[b] += pre_j[b] * z_row[b]
            grad_w[i, l] = scale * _tree_sum(work, count)


@jit
def draw_minibatch_lanes(states, Z, y, batch_z, batch_y):
    """Copy ``batch_z.shape[2]`` samples of each lane's set, drawn uniformly with replacement from
    the lane's stream, into ``batch_z`` (``(n, k p, B)``) and ``batch_y`` (``(n, B)``)."""
    n, kp, n_samples = Z.shape
    batch = batch_z.shape[2]
    for l in range(n):
        s0 = states[0, l]
        s1 = states[1, l]
        s2 = states[2, l]
        s3 = states[3, l]
        for b in range(batch):
            bits, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            # 53 random bits scaled to [0, N): bias below N / 2^53, nothing at any N we allow
            index = int(np.float64(bits >> np.uint64(11)) * (n_samples * INV_2_53))
            for r in range(kp):
                batch_z[l, r, b] = Z[l, r, index]
            batch_y[l, b] = y[l, index]
        states[0, l] = s0
        states[1, l] = s1
        states[2, l] = s2
        states[3, l] = s3


FRESH_WORK_ROWS = 2  # rows of ``work`` per sample of a batch in :func:`fresh_batch_grad_lanes`


@jit(inline=True)
def _tree_sum_rows(x, count, out, scale):
    """``out[l] = scale * sum(x[:count, l])`` for every lane, each lane's sum taken in exactly the
    order of :func:`_tree_sum` (pairwise folds of the rows while more than 8 are live, then a
    running sum from 0), so a lane gets the bits :func:`_tree_sum` gives its column; ``x`` is
    overwritten."""
    n = out.shape[0]
    m = count
    while m > 8:
        half = m // 2
        offset = m - half
        for b in range(half):
            for l in range(n):
                x[b, l] += x[offset + b, l]
        m = offset
    for l in range(n):
        total = 0.0
        for b in range(m):
            total += x[b, l]
        out[l] = scale * total


@jit
def fresh_batch_grad_lanes(states, stride, w_star, a_star, fresh, w, a, grad_w, grad_a, pre, work, loss):
    """The mini-batch gradient of every lane on a batch of fresh whole inputs cut into patches at
    ``stride``, for a model without a specialised sampler (the overlapping CNN).

    ``fresh`` (``(B d, n)``, ``d = (k - 1) stride + p``) is filled with normals from each lane's
    stream: sample ``b`` of lane ``l`` is ``fresh[b d : (b + 1) d, l]``, its patch ``j`` the entries
    from ``j stride``, its label the teacher's output on it. Loss and gradients are those of
    :func:`empirical_loss_grad_lanes` over the batch, with every lane's arithmetic done in exactly
    the same order (so the same bits, tested), but with the lanes innermost: every loop is SIMD
    code across trials, where the per-lane loops over a batch of 4 samples were not (3.8x slower
    per trial-step at k = 16, s = 3). ``pre`` (``(k B, n)``) and ``work`` (``(FRESH_WORK_ROWS B,
    n)``) are scratch.

    A call of its own, not inlined: inlined into the engine's block loop, the per-lane form of this
    code ran 3.5x slower; the call's cost is nothing beside a batch's work.
    """
    p, n = w.shape
    k = a.shape[0]
    batch = work.shape[0] // FRESH_WORK_ROWS
    d = fresh.shape[0] // batch
    scale = 2.0 / batch
    fill_normal_lanes(states, fresh)
    residual = work[:batch]
    terms = work[batch:]
    for b in range(batch):
        base = b * d
        r_b = residual[b]
        t = terms[b]  # the teacher's pre-activation of the current patch
        for l in range(n):
            r_b[l] = 0.0  # the label, as cut_patches_and_label sums it
        for j in range(k):
            for l in range(n):
                t[l] = 0.0
            for i in range(p):
                s_i = w_star[i]
                row = fresh[base + j * stride + i]
                for l in range(n):
                    t[l] += row[l] * s_i
            s_j = a_star[j]
            for l in range(n):
                r_b[l] += s_j * max(t[l], 0.0)
        for l in range(n):
            r_b[l] = -(r_b[l] + 0.0)  # residual = -(label + no label noise), then the student's output
        for j in range(k):
            pre_j = pre[j * batch + b]
            for l in range(n):
                pre_j[l] = 0.0
            for i in range(p):
                row = fresh[base + j * stride + i]
                for l in range(n):
                    pre_j[l] += row[l] * w[i, l]
            for l in range(n):
                pre_j[l] = max(pre_j[l], 0.0)
                r_b[l] += a[j, l] * pre_j[l]
    for b in range(batch):
        for l in range(n):
            terms[b, l] = residual[b, l] * residual[b, l]
    _tree_sum_rows(terms, batch, loss, 0.5 * scale)
    for j in range(k):
        grad_row = grad_a[j]
        for b in range(batch):
            pre_j = pre[j * batch + b]
            for l in range(n):
                terms[b, l] = residual[b, l] * pre_j[l]
                pre_j[l] = residual[b, l] * a[j, l] if pre_j[l] > 0.0 else 0.0  # now the coefficient
        _tree_sum_rows(terms, batch, grad_row, scale)
    for i in range(p):
        for b in range(batch):
            base = b * d
            t = terms[b]
            for l in range(n):
                t[l] = 0.0
            for j in range(k):
                pre_j = pre[j * batch + b]
                row = fresh[base + j * stride + i]
                for l in range(n):
                    t[l] += pre_j[l] * row[l]
        _tree_sum_rows(terms, batch, grad_w[i], scale)


@jit
def _training_draws(samples, d, seed, trial, purpose, with_noise):
    """The inputs (``samples * d`` normals) and then the label noise (``samples`` normals, zeros
    without it) of one training set, in the order the engine draws them."""
    out = np.empty(samples * d)
    eps = np.zeros(samples)
    state = np.empty(STATE_WORDS, dtype=np.uint64)
    stream_init(state, seed, trial, purpose)
    fill_normal(state, out)
    if with_noise:
        fill_normal(state, eps)
    return out, eps


def _draws(samples, k, p, seed, trial, shared, stride, with_noise):
    samples = as_int("samples", samples, minimum=1)
    k = as_int("k", k, minimum=1)
    p = as_int("p", p, minimum=1)
    trial = as_int("trial", trial, minimum=0)
    shared = as_bool("shared", shared)
    stride = as_stride(stride, p) or p
    d = (k - 1) * stride + p
    check_memory("training_set", 8.0 * samples * (d + k * p + 1), "ask for fewer samples")
    purpose = PURPOSE_SHARED_DATA if shared else PURPOSE_DATA
    flat, eps = _training_draws(
        samples, d, np.uint64(as_seed("seed", seed)), 0 if shared else trial, purpose, with_noise
    )
    X = flat.reshape(samples, d)
    Z = X[:, np.arange(k)[:, None] * stride + np.arange(p)[None, :]]
    return np.ascontiguousarray(Z), eps


def training_set(
    samples: int, k: int, p: int, seed: int = 0, trial: int = 0, shared: bool = False, *, stride: int | None = None
) -> np.ndarray:
    """The training inputs a finite-sample run gives a trial (labels: :func:`training_data`).

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
    stride : int, optional
        Patches taken every ``stride`` entries of one input of ``(k - 1) stride + p`` normals
        (default ``p``: non-overlapping patches).

    Returns
    -------
    ndarray, shape (samples, k, p)
        Sample ``b``'s patches.
    """
    return _draws(samples, k, p, seed, trial, shared, stride, False)[0]


def training_data(
    samples: int,
    w_star,
    a_star,
    seed: int = 0,
    trial: int = 0,
    shared: bool = False,
    *,
    stride: int | None = None,
    label_noise: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The training set of a finite-sample run's trial, inputs and labels, as the engine draws it.

    Parameters
    ----------
    samples : int
        Set size ``N``.
    w_star, a_star : array_like
        The teacher (unit ``w*`` of length ``p``, ``a*`` of length ``k``).
    seed, trial, shared, stride
        As in :func:`training_set`.
    label_noise : float, default 0
        ``sigma``: label ``b`` is ``f(w*, a*, Z^(b)) + sigma e_b`` with ``e_b ~ N(0, 1)`` drawn from
        the trial's data stream right after the inputs.

    Returns
    -------
    Z : ndarray, shape (samples, k, p)
    y : ndarray, shape (samples,)
    """
    w_star = as_unit_vector("w_star", w_star)  # as every other entry point: a scaled w* scales the labels
    a_star = as_vector("a_star", a_star)
    label_noise = as_float("label_noise", label_noise, minimum=0.0)
    Z, eps = _draws(samples, a_star.size, w_star.size, seed, trial, shared, stride, label_noise > 0.0)
    y = np.maximum(Z @ w_star, 0.0) @ a_star
    return Z, y + label_noise * eps
