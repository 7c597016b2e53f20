"""Forward and backward passes of the CNN over batches of Gaussian inputs.

docs/mathematics.md, "Sample (mini-batch) loss and gradient": for inputs ``Z^(b)`` of shape ``(k, p)`` and the
residual ``r_b = f(w, a, Z^(b)) - f(w*, a*, Z^(b))``::

    loss   = (1/B) sum_b r_b^2
    grad_a = (2/B) sum_b r_b relu(Z^(b) w)
    grad_w = (2/B) sum_b r_b sum_j a_j 1[Z^(b)_j . w > 0] Z^(b)_j

:func:`accumulate_samples` is the forward/backward of a block of samples at one parameter point,
which :func:`sample_loss_grad` runs over a stored batch. :func:`sgd_gradient_lanes` is the trial
engine's SGD gradient: many parameter points side by side (one per trial), each at a fresh batch
that it draws in a reduced form with exactly the same law (about 2.7x fewer normals at p = 6).

The batch reduction is split into fixed-size chunks of samples reduced in parallel and then summed
in chunk order, so the result does not depend on the thread count and no temporary of size ``n``
is made.
"""

from __future__ import annotations

import numba
import numpy as np

from .._jit import jit
from .._validate import as_batch, as_inputs, as_int, as_point, as_stride, as_vector
from ..geometry import dot
from ..streams import fill_normal_lanes

REDUCTION_CHUNK = 2048  # samples per parallel work item; fixed so results are thread-count independent
# (a multiple of SAMPLE_BLOCK, so every block but the batch's last is full)


SAMPLE_BLOCK = 64  # samples handled side by side (as SIMD lanes) by :func:`accumulate_samples`


@jit(inline=True)
def accumulate_samples(Z, start, stop, w, a, w_star, a_star, zt, relu_w, acc):
    """Add the unscaled terms of samples ``start .. stop - 1`` of ``Z`` (at most 64) into ``acc``.

    ``Z`` holds one flattened sample per row: shape ``(n, k p)``, entry ``j p + i`` of a row is
    ``z[j, i]``. For each sample ``z`` with ``r = f(w, a, z) - f(w*, a*, z)``, the terms are
    ``r^2`` (loss), ``z_j.w`` (guard), ``r relu(z_j.w)`` (``grad_a``) and
    ``r a_j 1[z_j.w > 0] z[j, i]`` (``grad_w``, per entry of ``z``).

    The samples are copied into ``zt`` (``(k p + 2, SAMPLE_BLOCK)``) as lanes, one per column, and
    every loop then runs over samples innermost: SIMD code. ``acc`` (``(2 + k + k p,
    SAMPLE_BLOCK)``) keeps a running sum per lane (rows: loss, guard, grad_a, grad_w per entry),
    so no sum crosses lanes here and IEEE arithmetic still vectorises; the caller folds the lanes
    at the end, in a fixed order. ``zt`` has two spare rows and ``relu_w`` (``(k, SAMPLE_BLOCK)``)
    is scratch.

    The guard is non-finite whenever ``Z`` holds a NaN or inf (even where ``w_i = 0``, since
    ``inf * 0`` is NaN), which relu could hide from the loss; so validating a large stored batch
    needs no separate pass over it.
    """
    k, p = a.shape[0], w.shape[0]
    lanes = stop - start
    loss = acc[0]
    guard = acc[1]
    for l in range(lanes):  # indexed in full, not through a view Z[b]: no reference counting
        for r in range(k * p):
            zt[r, l] = Z[start + l, r]
    residual = zt[k * p]  # one spare row
    teacher = zt[k * p + 1]
    for l in range(lanes):
        residual[l] = 0.0
    for j in range(k):
        for l in range(lanes):
            relu_w[j, l] = 0.0  # z_j . w, then its relu
            teacher[l] = 0.0  # z_j . w*
        for i in range(p):
            row = j * p + i
            w_i = w[i]
            s_i = w_star[i]
            for l in range(lanes):
                relu_w[j, l] += zt[row, l] * w_i
                teacher[l] += zt[row, l] * s_i
        a_j = a[j]
        s_j = a_star[j]
        for l in range(lanes):
            pre = relu_w[j, l]
            guard[l] += pre
            relu = max(pre, 0.0)
            relu_w[j, l] = relu
            residual[l] += a_j * relu - s_j * max(teacher[l], 0.0)
    for l in range(lanes):
        loss[l] += residual[l] * residual[l]
    for j in range(k):
        a_j = a[j]
        grad_a = acc[2 + j]
        for l in range(lanes):
            grad_a[l] += residual[l] * relu_w[j, l]
            relu_w[j, l] = residual[l] * a_j if relu_w[j, l] > 0.0 else 0.0  # now the coefficient
    for j in range(k):
        for i in range(p):
            row = j * p + i
            grad_w = acc[2 + k + row]
            for l in range(lanes):
                grad_w[l] += relu_w[j, l] * zt[row, l]


SGD_LANE_WORK_ROWS = 8  # rows of the ``work`` array of :func:`sgd_gradient_lanes`


@jit
def sgd_gradient_lanes(states, w, a, w_star, a_star, batch, grad_w, grad_a, u2, planar, relu_w, noise, work, stop_flag):
    """Mini-batch gradient at a fresh batch of ``batch`` Gaussian inputs, for every lane.

    Equal in law to drawing every input ``Z^(b)`` (``k x p`` normals) and running
    :func:`accumulate_samples` on them, with ``2k`` normals per sample and ``p`` per batch instead of
    ``kp`` per sample. Write ``u1 = w*/||w*||`` and ``u2`` for the unit vector along the part of
    ``w`` orthogonal to ``u1`` (zero when there is none), and split each patch
    ``z = x1 u1 + x2 u2 + zeta`` with ``(x1, x2)`` standard normal and ``zeta ~ N(0, I - P)``, ``P``
    the projection onto span(u1, u2), all independent. The outputs see only ``x1`` and ``x2``
    (``z.w = x1 (w.u1) + x2 ||w - (w.u1) u1||``, ``z.w* = x1 ||w*||``), so the coefficients
    ``c_bj = r_b a_j 1[z_bj.w > 0]`` of ``grad_w = sum_bj c_bj z_bj`` depend on them alone; given
    them, ``sum_bj c_bj zeta_bj ~ N(0, sum_bj c_bj^2 (I - P))``, which is drawn as
    ``sqrt(sum c^2) (I - P) g`` with one ``g ~ N(0, I_p)``. The gradient pair ``(grad_w, grad_a)``
    therefore has exactly the law of the materialised one (tests/test_lanes.py compares both).

    Shapes: ``w``, ``grad_w``, ``u2`` ``(p, n)``; ``a``, ``grad_a``, ``relu_w`` ``(k, n)``;
    ``planar`` ``(2k, n)``; ``noise`` ``(p, n)``; ``work`` ``(SGD_LANE_WORK_ROWS, n)``. Lane ``l``
    draws from the stream ``states[:, l]``: per sample ``x1, x2`` of patch ``j`` in rows
    ``2j, 2j+1``, then ``g``. Gradients are of the batch mean squared error (scaled by ``2/B``).
    ``stop_flag[0] != 0`` abandons the batch (the engine's Ctrl-C; the result is then garbage).

    A call of its own, not inlined into the engine: the call costs nothing beside a batch's work;
    inlined, it lengthened the engine's compile and ran SGD at 1.42x of the C reference per
    trial-step instead of 1.11x (docs/design.md).
    """
    p, n = w.shape
    k = a.shape[0]
    c1 = work[0]  # w.u1
    c2 = work[1]  # ||w - (w.u1) u1||
    residual = work[2]
    g1 = work[3]  # sum_bj c_bj x1_bj
    g2 = work[4]  # sum_bj c_bj x2_bj
    csq = work[5]  # sum_bj c_bj^2
    proj1 = work[6]
    proj2 = work[7]
    norm_s = np.sqrt(dot(w_star, w_star))
    inv_s = 1.0 / norm_s
    for l in range(n):
        c1[l] = 0.0
        c2[l] = 0.0
        g1[l] = 0.0
        g2[l] = 0.0
        csq[l] = 0.0
    for j in range(k):
        for l in range(n):
            grad_a[j, l] = 0.0
    for i in range(p):
        for l in range(n):
            c1[l] += w[i, l] * (w_star[i] * inv_s)
    for i in range(p):
        for l in range(n):
            u2[i, l] = w[i, l] - c1[l] * (w_star[i] * inv_s)
            c2[l] += u2[i, l] * u2[i, l]
    for l in range(n):
        c2[l] = np.sqrt(c2[l])
        # w along w* (to 1e-150): u2 = 0 is exact then, the whole complement of u1 being zeta's
        proj1[l] = 1.0 / c2[l] if c2[l] > 1e-150 else 0.0
        c2[l] = c2[l] if c2[l] > 1e-150 else 0.0
    for i in range(p):
        for l in range(n):
            u2[i, l] *= proj1[l]

    for _ in range(batch):
        if stop_flag[0] != 0:  # a huge batch can take seconds: stay interruptible
            return
        fill_normal_lanes(states, planar)
        for l in range(n):
            residual[l] = 0.0
        for j in range(k):
            for l in range(n):
                x1 = planar[2 * j, l]
                pre_w = x1 * c1[l] + planar[2 * j + 1, l] * c2[l]
                relu = max(pre_w, 0.0)
                relu_w[j, l] = relu
                residual[l] += a[j, l] * relu - a_star[j] * max(x1 * norm_s, 0.0)
        for j in range(k):
            for l in range(n):
                grad_a[j, l] += residual[l] * relu_w[j, l]
                c = residual[l] * a[j, l] if relu_w[j, l] > 0.0 else 0.0
                g1[l] += c * planar[2 * j, l]
                g2[l] += c * planar[2 * j + 1, l]
                csq[l] += c * c

    fill_normal_lanes(states, noise)
    for l in range(n):
        proj1[l] = 0.0
        proj2[l] = 0.0
    for i in range(p):
        for l in range(n):
            proj1[l] += noise[i, l] * (w_star[i] * inv_s)
            proj2[l] += noise[i, l] * u2[i, l]
    scale = 2.0 / batch
    for l in range(n):
        csq[l] = np.sqrt(csq[l])
    for i in range(p):
        for l in range(n):
            zeta = noise[i, l] - proj1[l] * (w_star[i] * inv_s) - proj2[l] * u2[i, l]
            grad_w[i, l] = scale * (g1[l] * (w_star[i] * inv_s) + g2[l] * u2[i, l] + csq[l] * zeta)
    for j in range(k):
        for l in range(n):
            grad_a[j, l] *= scale


@jit(inline=True)
def forward_one(z, w, a):
    """``f(w, a, z) = sum_j a_j relu(z_j . w)`` for one input ``z`` of shape ``(k, p)``."""
    k, p = z.shape
    f = 0.0
    for j in range(k):
        d = 0.0
        for i in range(p):
            d += z[j, i] * w[i]
        f += a[j] * max(d, 0.0)  # max propagates NaN: a non-finite z shows in the output
    return f


@jit(parallel=True)
def _forward_batch(Z, w, a):
    n = Z.shape[0]
    out = np.empty(n)
    for b in numba.prange(n):
        out[b] = forward_one(Z[b], w, a)
    return out


@jit(parallel=True)
def _loss_grad_batch(Z, w, a, w_star, a_star):
    n, k, p = Z.shape
    Z_rows = Z.reshape((n, k * p))
    n_chunks = (n + REDUCTION_CHUNK - 1) // REDUCTION_CHUNK
    partial = np.zeros((n_chunks, 2 + k + k * p))  # per chunk: loss, guard, grad_a, grad_w per entry
    for c in numba.prange(n_chunks):
        zt = np.empty((k * p + 2, SAMPLE_BLOCK))
        relu_w = np.empty((k, SAMPLE_BLOCK))
        acc = np.zeros((2 + k + k * p, SAMPLE_BLOCK))
        stop = min(n, (c + 1) * REDUCTION_CHUNK)
        for b in range(c * REDUCTION_CHUNK, stop, SAMPLE_BLOCK):
            accumulate_samples(Z_rows, b, min(stop, b + SAMPLE_BLOCK), w, a, w_star, a_star, zt, relu_w, acc)
        for f in range(acc.shape[0]):  # lanes in a fixed order
            total = 0.0
            for l in range(SAMPLE_BLOCK):
                total += acc[f, l]
            partial[c, f] = total
    total = np.zeros(2 + k + k * p)
    for c in range(n_chunks):  # fixed order: identical bits whatever the thread count
        for f in range(total.shape[0]):
            total[f] += partial[c, f]
    grad_w = np.zeros(p)
    for j in range(k):
        for i in range(p):
            grad_w[i] += total[2 + k + j * p + i]
    scale = 1.0 / n
    return total[0] * scale, grad_w * (2.0 * scale), total[2 : 2 + k] * (2.0 * scale), total[1]


def _reject_nonfinite_batch(Z, result) -> None:
    """Raise if ``Z`` holds a non-finite value.

    Called after the kernel. A non-finite ``Z`` does not always show in the result (``relu`` maps
    ``-inf`` to 0), so ``Z``'s sum is checked too (one vectorised pass; an infinite or NaN entry
    makes it non-finite), and the entry by entry scan runs only when one of them is suspect (a
    sum can also overflow from finite entries).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        suspect = not np.all(np.isfinite(result)) or not np.isfinite(np.sum(Z))
    if suspect and not np.all(np.isfinite(Z)):
        raise ValueError("Z: every entry must be finite")


def patches(X, k: int, p: int, stride: int) -> np.ndarray:
    """The ``k`` patches of every input: ``Z[b, j] = X[b, j s : j s + p]``.

    Parameters
    ----------
    X : array_like, shape (n, (k - 1) s + p)
        Inputs.
    k, p, stride : int
        Patches, their length and the stride ``s`` (``1 <= s <= p``).

    Returns
    -------
    ndarray, shape (n, k, p)
        A copy (overlapping patches repeat inputs).
    """
    stride = as_int("stride", stride, minimum=1, maximum=p)
    X = as_inputs("X", X, (k - 1) * stride + p)
    return np.ascontiguousarray(X[:, np.arange(k)[:, None] * stride + np.arange(p)[None, :]])


def _batch_of(Z, k, p, stride):
    """``Z`` as patches ``(n, k, p)``: given so (``stride`` None or ``p``) or cut from whole inputs
    ``(n, (k - 1) stride + p)`` (any ``stride``: at ``p`` the whole inputs of ``k p`` entries were
    refused, though the README promises them with ``stride=``)."""
    try:
        whole = stride is not None and np.ndim(Z) == 2
    except (ValueError, TypeError):  # ragged: as_batch names it
        whole = False
    stride = as_stride(stride, p)
    if stride is None and not whole:
        return as_batch("Z", Z, k, p)
    stride = p if stride is None else stride
    return patches(as_inputs("Z", Z, (k - 1) * stride + p), k, p, stride)


def forward(Z, w, a, *, stride=None) -> np.ndarray:
    """Network outputs ``f(w, a, Z^(b))`` for every input of a batch.

    Parameters
    ----------
    Z : array_like, shape (n, k, p), or (n, (k - 1) s + p) with ``stride``
        Batch of inputs; ``Z[b, j]`` is patch ``j`` of sample ``b``. With a ``stride`` ``s``,
        whole inputs, whose patches are ``Z[b, j s : j s + p]`` (:func:`patches`); at ``s = p``
        patches ``(n, k, p)`` are taken too.
    w : array_like, shape (p,)
        Filter (any norm).
    a : array_like, shape (k,)
        Output weights.
    stride : int, optional
        As in :func:`pgd_bench.population_loss`. None: ``Z`` holds the patches ``(n, k, p)``; ``p``:
        the patches, or whole inputs ``(n, k p)``; below ``p``: whole inputs.

    Returns
    -------
    ndarray, shape (n,)
    """
    w = as_vector("w", w)
    a = as_vector("a", a)
    Z = _batch_of(Z, a.shape[0], w.shape[0], stride)
    out = _forward_batch(Z, w, a)
    _reject_nonfinite_batch(Z, out)
    if not np.all(np.isfinite(out)):  # finite inputs, w and a whose products overflow
        raise ValueError("Z, w, a: the outputs overflow float64 on this batch")
    return out


def sample_loss_grad(Z, w, a, w_star, a_star, *, stride=None) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean squared error over a batch against the teacher, and its gradient.

    Parameters
    ----------
    Z : array_like, shape (n, k, p), or (n, (k - 1) s + p) with ``stride``
        Batch of inputs, ``n >= 1`` (as in :func:`forward`).
    w : array_like, shape (p,)
        Student filter (any non-zero norm).
    a : array_like, shape (k,)
        Student output weights.
    w_star : array_like, shape (p,)
        Teacher filter, unit norm.
    a_star : array_like, shape (k,)
        Teacher output weights.
    stride : int, optional
        As in :func:`forward`.

    Returns
    -------
    loss : float
        ``(1/n) sum_b (f(w*, a*, Z^(b)) - f(w, a, Z^(b)))^2``.
    grad_w : ndarray, shape (p,)
    grad_a : ndarray, shape (k,)
        Gradients of ``loss`` (docs/mathematics.md, "Sample (mini-batch) loss and gradient"); their
        expectation over Gaussian ``Z`` is the population gradient.
    """
    w, a, w_star, a_star = as_point(w, a, w_star, a_star)
    Z = _batch_of(Z, a_star.shape[0], w_star.shape[0], stride)
    if Z.shape[0] == 0:
        raise ValueError("Z: expected at least one sample, got an empty batch")
    loss, grad_w, grad_a, guard = _loss_grad_batch(Z, w, a, w_star, a_star)
    _reject_nonfinite_batch(Z, guard)
    if not (np.isfinite(loss) and np.all(np.isfinite(grad_w)) and np.all(np.isfinite(grad_a))):
        raise ValueError("Z, w, a: the loss or its gradient overflows float64 on this batch")
    return float(loss), grad_w, grad_a
