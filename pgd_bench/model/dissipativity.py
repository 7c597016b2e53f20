"""The poster's theory, measured: partial dissipativity of the perturbed gradient field.

docs/mathematics.md, "Partial dissipativity". At a point ``(w, a)`` of ``S^(p-1) x R^k`` and noise
radii ``(rho_w, rho_a)``::

    r_w = E <-(I - w w^T) grad_w L(w + xi, a + eps), w* - w> / ||w - w*||^2
    r_a = E <-grad_a L(w + xi, a + eps), a* - a> / ||a - a*||^2

with ``xi ~ U(B^p(rho_w))``, ``eps ~ U(B^k(rho_a))`` (or the Gaussian law of the same second
moment), the exact closed-form gradient at the perturbed point and the tangent projection at the
unperturbed ``w``. ``C1`` holds at the point with constants ``(c_w, gamma_w)`` when
``r_w ||w - w*||^2 >= c_w ||w - w*||^2 - gamma_w``; ``C2`` likewise for ``a``. A positive ``r``
means the expected update moves the iterate toward the global optimum.

The estimator is a Monte Carlo average over antithetic pairs ``(xi, eps)`` and ``(-xi, -eps)``
(the variance reduction: the first-order terms of the noise cancel within a pair), over fixed
chunks of pairs, each with its own stream ``(seed, chunk, PURPOSE_DIAGNOSTIC)`` and summed in chunk
order: the same seed gives the same bits at any thread count. A large estimate runs its chunks on
threads (the kernel releases the GIL); many small ones, as the theory section asks for at every
checkpoint, run in one call (:func:`dissipativity_at_points`), one point per thread at a time.
Python threads rather than a Numba ``prange``: a first run compiled the parallel kernel in 11.7 s,
the serial one (with what it inlines) in 5.9 s.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._jit import jit
from .._threads import run_ranges
from .._validate import (
    as_choice,
    as_float,
    as_int,
    as_point,
    as_real_array,
    as_rows,
    as_seed,
    as_unit_vector,
    as_vector,
    check_memory,
    check_sphere_rows,
)
from ..streams import (
    NOISE_BALL,
    NOISE_GAUSSIAN,
    NOISE_LAWS,
    PURPOSE_DIAGNOSTIC,
    STATE_WORDS,
    fill_ball,
    fill_normal,
    stream_init,
)
from .landscape import LANE_WORK_ROWS, grad_lanes

PAIRS_PER_CHUNK = 64  # antithetic pairs per chunk, the unit of work (fixed: the bits depend on it)
CHUNKS_PER_THREAD = 32  # an estimate runs on as many threads as it has 32 chunks (2048 pairs, ~10 ms)


class Dissipativity(NamedTuple):
    """Estimates of ``r_w`` and ``r_a`` and their Monte Carlo standard errors."""

    r_w: float
    r_a: float
    se_w: float
    se_a: float


@jit(inline=True)
def _draw(state, radius, law, out, scratch):
    """One perturbation: uniform in the ball of ``radius``, or Gaussian with the same second moment
    (``scratch`` has length ``d + 2``)."""
    d = out.shape[0]
    if radius == 0.0:
        for i in range(d):
            out[i] = 0.0
    elif law == NOISE_BALL:
        fill_ball(state, radius, out, scratch)
    else:
        fill_normal(state, out)
        sigma = radius / np.sqrt(d + 2.0)
        for i in range(d):
            out[i] *= sigma


@jit
def _dissipativity_base(w, a, w_star, a_star):
    """The ratios at the unperturbed point: every draw is summed as its difference from them, so
    that the variance is not lost to cancellation (and is exactly 0 without noise)."""
    p = w.shape[0]
    k = a.shape[0]
    dist_w = 0.0
    for i in range(p):
        dist_w += (w[i] - w_star[i]) ** 2
    dist_a = 0.0
    for j in range(k):
        dist_a += (a[j] - a_star[j]) ** 2
    one_w = np.empty((p, 1))
    one_a = np.empty((k, 1))
    for i in range(p):
        one_w[i, 0] = w[i]
    for j in range(k):
        one_a[j, 0] = a[j]
    g_w = np.empty((p, 1))
    g_a = np.empty((k, 1))
    grad_lanes(one_w, one_a, w_star, a_star, g_w, g_a, np.empty((LANE_WORK_ROWS, 1)))
    radial = 0.0
    for i in range(p):
        radial += w[i] * g_w[i, 0]
    base_w = 0.0
    for i in range(p):
        base_w -= (g_w[i, 0] - radial * w[i]) * (w_star[i] - w[i])
    base_w /= dist_w
    base_a = 0.0
    for j in range(k):
        base_a -= g_a[j, 0] * (a_star[j] - a[j])
    base_a /= dist_a
    return base_w, base_a, dist_w, dist_a


@jit(nogil=True)
def _dissipativity_chunks(w, a, w_star, a_star, rho_w, rho_a, pairs, seed, law, first, last, sums):
    """Chunks ``first .. last - 1`` of the pairs: ``sums[c]`` holds chunk ``c``'s sums of the pair
    means of ``r_w`` and ``r_a`` and of their squares, as differences from their values without
    noise. Returns those values (``base_w``, ``base_a``)."""
    p = w.shape[0]
    k = a.shape[0]
    base_w, base_a, dist_w, dist_a = _dissipativity_base(w, a, w_star, a_star)
    state = np.empty(STATE_WORDS, dtype=np.uint64)
    xi = np.empty(p)
    eps = np.empty(k)
    scratch_w = np.empty(p + 2)
    scratch_a = np.empty(k + 2)
    for c in range(first, last):
        count = min(PAIRS_PER_CHUNK, pairs - c * PAIRS_PER_CHUNK)
        stream_init(state, seed, c, PURPOSE_DIAGNOSTIC)
        lanes = 2 * count
        w_eval = np.empty((p, lanes))
        a_eval = np.empty((k, lanes))
        grad_w = np.empty((p, lanes))
        grad_a = np.empty((k, lanes))
        work = np.empty((LANE_WORK_ROWS, lanes))
        for l in range(count):
            _draw(state, rho_w, law, xi, scratch_w)
            _draw(state, rho_a, law, eps, scratch_a)
            for i in range(p):
                w_eval[i, l] = w[i] + xi[i]
                w_eval[i, count + l] = w[i] - xi[i]
            for j in range(k):
                a_eval[j, l] = a[j] + eps[j]
                a_eval[j, count + l] = a[j] - eps[j]
        grad_lanes(w_eval, a_eval, w_star, a_star, grad_w, grad_a, work)
        for l in range(count):
            r_w = 0.0
            r_a = 0.0
            for m in (l, count + l):
                radial = 0.0
                for i in range(p):
                    radial += w[i] * grad_w[i, m]
                for i in range(p):
                    r_w -= (grad_w[i, m] - radial * w[i]) * (w_star[i] - w[i])
                for j in range(k):
                    r_a -= grad_a[j, m] * (a_star[j] - a[j])
            r_w = r_w * (0.5 / dist_w) - base_w
            r_a = r_a * (0.5 / dist_a) - base_a
            sums[c, 0] += r_w  # sums starts at zero; each chunk's row is written by one thread
            sums[c, 1] += r_w * r_w
            sums[c, 2] += r_a
            sums[c, 3] += r_a * r_a
    return base_w, base_a


def dissipativity(
    w, a, w_star, a_star, rho_w, rho_a, samples=100_000, seed=0, law="ball", threads=None
) -> Dissipativity:
    """Monte Carlo estimate of the dissipativity ratios ``r_w`` and ``r_a`` at ``(w, a)``.

    Parameters
    ----------
    w : array_like, shape (p,)
        A point of the sphere (norm 1 within 1e-9), not ``w_star`` itself (``r_w`` divides by
        ``||w - w*||^2``).
    a : array_like, shape (k,)
        Output weights, not ``a_star`` itself.
    w_star, a_star : array_like
        The teacher (``w_star`` unit).
    rho_w, rho_a : float
        Noise radii (0: no noise, the exact value with a zero standard error).
    samples : int, default 100_000
        Perturbations drawn, as ``ceil(samples / 2)`` antithetic pairs.
    seed : int, default 0
        Seed of the estimator's streams.
    law : {"ball", "gaussian"}
        Uniform in the ball, or Gaussian with per-coordinate variance ``rho^2 / (d + 2)``.
    threads : int, optional
        At most this many threads (default ``numba.get_num_threads()``); an estimate uses one
        per 2048 pairs. The result does not depend on it. Pass 1 when calling from several
        threads at once (a new thread's Numba thread count is the default, not the caller's).

    Returns
    -------
    Dissipativity
        ``r_w``, ``r_a`` (the means over pairs) and ``se_w``, ``se_a`` (their standard errors,
        from the spread of the pair means).

    Raises
    ------
    ValueError
        On bad shapes or values, ``w`` off the sphere, or a point at the optimum.
    """
    w, a, w_star, a_star = as_point(w, a, w_star, a_star, on_sphere=True)
    if np.array_equal(w, w_star) or np.array_equal(a, a_star):
        raise ValueError(
            "w, a: r_w and r_a divide by ||w - w*||^2 and ||a - a*||^2; the point must differ from w* and a*"
        )
    rho_w = as_float("rho_w", rho_w, minimum=0.0)
    rho_a = as_float("rho_a", rho_a, minimum=0.0)
    samples = as_int("samples", samples, minimum=2)
    check_memory("dissipativity", 8.0 * 4 * samples / PAIRS_PER_CHUNK, "ask for fewer samples")
    law_code = {"ball": NOISE_BALL, "gaussian": NOISE_GAUSSIAN}[as_choice("law", law, NOISE_LAWS)]
    pairs = (samples + 1) // 2
    seed = np.uint64(as_seed("seed", seed))
    n_chunks = -(-pairs // PAIRS_PER_CHUNK)
    sums = np.zeros((n_chunks, 4))
    threads = None if threads is None else as_int("threads", threads, minimum=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # ranges of chunks: the same sums on any thread
        done = run_ranges(lambda first, last: _dissipativity_chunks(w, a, w_star, a_star, rho_w, rho_a, pairs, seed,
                                                                     law_code, first, last, sums),
                          n_chunks, threads, CHUNKS_PER_THREAD)  # fmt: skip
    base_w, base_a = done[0]
    total = np.zeros(4)
    for row in sums:  # chunks added in chunk order, whatever the thread count
        total += row
    return _estimate(total, base_w, base_a, pairs, rho_w, rho_a)


def _estimate(total, base_w, base_a, pairs, rho_w, rho_a) -> Dissipativity:
    """The estimate from the sums over all pairs (``total``: of r_w, r_w^2, r_a, r_a^2, as
    differences from the values without noise, ``base_w`` and ``base_a``)."""
    mean_w, mean_a = total[0] / pairs, total[2] / pairs
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, by name
        if pairs > 1:
            var_w = max(0.0, (total[1] - pairs * mean_w**2) / (pairs - 1))
            var_a = max(0.0, (total[3] - pairs * mean_a**2) / (pairs - 1))
        else:
            var_w = var_a = float("nan")
    estimate = Dissipativity(
        float(base_w + mean_w), float(base_a + mean_a), float(np.sqrt(var_w / pairs)), float(np.sqrt(var_a / pairs))
    )
    if not all(np.isfinite(x) for x in estimate[:2]):  # rho_w = 1e300: the perturbed points overflow
        raise ValueError(f"rho_w, rho_a: the estimate overflows at radii {rho_w!r}, {rho_a!r} (too large for float64)")
    return estimate


@jit(nogil=True)
def _dissipativity_points(w, a, w_star, a_star, rho_w, rho_a, pairs, seeds, law, first, last, totals, bases):
    """Points ``first .. last - 1`` (rows of ``w`` and ``a``, each with its radii and seed), each
    summed as :func:`dissipativity` sums one point on one thread: its chunks in chunk order into
    ``totals[i]``, its values without noise into ``bases[i]``."""
    n_chunks = -(-pairs // PAIRS_PER_CHUNK)
    sums = np.empty((n_chunks, 4))
    for i in range(first, last):
        for c in range(n_chunks):
            for j in range(4):
                sums[c, j] = 0.0
        base_w, base_a = _dissipativity_chunks(
            w[i], a[i], w_star, a_star, rho_w[i], rho_a[i], pairs, seeds[i], law, 0, n_chunks, sums
        )
        for j in range(4):
            totals[i, j] = 0.0
        for c in range(n_chunks):
            for j in range(4):
                totals[i, j] += sums[c, j]
        bases[i, 0] = base_w
        bases[i, 1] = base_a


def dissipativity_at_points(w, a, w_star, a_star, rho_w, rho_a, samples, seeds, law="ball", threads=None):
    """:func:`dissipativity` at many points at once, each with its own radii and seed: row ``i``
    is ``dissipativity(w[i], a[i], w_star, a_star, rho_w[i], rho_a[i], samples, seeds[i], law)``,
    the same bits, at any thread count.

    Many small estimates (the theory section's, one per trial and checkpoint) cost a few hundred
    microseconds each; one call per point spent about a third of that in Python checks and calls.

    Parameters
    ----------
    w : array_like, shape (n, p)
        Points of the sphere (each row of norm 1 within 1e-9), none equal to ``w_star``.
    a : array_like, shape (n, k)
        Output weights, none equal to ``a_star``.
    w_star, a_star : array_like
        The teacher (``w_star`` unit).
    rho_w, rho_a : array_like, shape (n,)
        Each point's noise radii (>= 0).
    samples : int
        Perturbations per point, as ``ceil(samples / 2)`` antithetic pairs.
    seeds : array_like of int, shape (n,)
        Each point's seed, in ``[0, 2^64)``.
    law : {"ball", "gaussian"}
        As in :func:`dissipativity`.
    threads : int, optional
        Points run on up to this many threads (default ``numba.get_num_threads()``), one per
        thread at a time.

    Returns
    -------
    ndarray, shape (n, 4)
        ``r_w``, ``r_a``, ``se_w``, ``se_a`` per point.

    Raises
    ------
    ValueError
        On bad shapes or values, a row off the sphere or at the optimum, or an estimate that
        overflows.
    """
    w_star = as_unit_vector("w_star", w_star)
    a_star = as_vector("a_star", a_star)
    w = np.ascontiguousarray(as_rows("w", w, w_star.shape[0]))
    n = w.shape[0]
    a = np.ascontiguousarray(as_rows("a", a, a_star.shape[0], rows=n))
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(a))):
        raise ValueError("w, a: expected finite points")
    check_sphere_rows("w", w)
    if np.any(np.all(w == w_star, axis=1)) or np.any(np.all(a == a_star, axis=1)):
        raise ValueError("w, a: r_w and r_a divide by ||w - w*||^2 and ||a - a*||^2; no point may equal w* or a*")
    rho_w = np.ascontiguousarray(as_real_array("rho_w", rho_w), dtype=np.float64)
    rho_a = np.ascontiguousarray(as_real_array("rho_a", rho_a), dtype=np.float64)
    for name, radii in (("rho_w", rho_w), ("rho_a", rho_a)):
        if radii.shape != (n,):
            raise ValueError(f"{name}: expected {n} radii, one per point, got shape {radii.shape}")
        bad = ~(np.isfinite(radii) & (radii >= 0))
        if np.any(bad):
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name}: expected finite radii >= 0, got {float(radii[first])!r} at point {first}")
    samples = as_int("samples", samples, minimum=2)
    check_memory("dissipativity", 8.0 * 4 * samples / PAIRS_PER_CHUNK, "ask for fewer samples")
    seeds = np.asarray(seeds, dtype=object)
    if seeds.shape != (n,):
        raise ValueError(f"seeds: expected {n} seeds, one per point, got shape {seeds.shape}")
    seeds = np.array([as_seed(f"seeds[{i}]", seed) for i, seed in enumerate(seeds)], dtype=np.uint64)
    law_code = {"ball": NOISE_BALL, "gaussian": NOISE_GAUSSIAN}[as_choice("law", law, NOISE_LAWS)]
    pairs = (samples + 1) // 2
    totals = np.zeros((n, 4))
    bases = np.zeros((n, 2))
    threads = None if threads is None else as_int("threads", threads, minimum=1)
    run_ranges(lambda first, last: _dissipativity_points(w, a, w_star, a_star, rho_w, rho_a, pairs, seeds, law_code,
                                                          first, last, totals, bases),
               n, threads)  # fmt: skip
    out = np.empty((n, 4))
    for i in range(n):
        out[i] = _estimate(totals[i], bases[i, 0], bases[i, 1], pairs, float(rho_w[i]), float(rho_a[i]))
    return out


def dissipativity_frontier(r, dist_sq, c_values) -> np.ndarray:
    """The smallest ``gamma`` for each ``c`` such that ``r_i d_i >= c d_i - gamma`` at every point.

    Parameters
    ----------
    r : array_like, shape (n,)
        Dissipativity ratios (``r_w`` or ``r_a``) at ``n`` points.
    dist_sq : array_like, shape (n,)
        The matching squared distances ``||w - w*||^2`` (or ``||a - a*||^2``).
    c_values : array_like, shape (m,)
        The constants ``c`` to evaluate.

    Returns
    -------
    ndarray, shape (m,)
        ``gamma(c) = max(0, max_i (c - r_i) d_i)``: the condition holds at every point with
        ``(c, gamma)`` exactly when ``gamma >= gamma(c)``. Non-decreasing in ``c``.
    """
    r = as_real_array("r", r)
    d = as_real_array("dist_sq", dist_sq)
    c = as_real_array("c_values", c_values)
    if c.ndim > 1:
        raise ValueError(f"c_values: expected a number or a vector of constants, got shape {c.shape}")
    if r.shape != d.shape or r.ndim != 1:
        raise ValueError(f"r, dist_sq: expected two vectors of one length, got shapes {r.shape} and {d.shape}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(d)) and np.all(d >= 0) and np.all(np.isfinite(c))):
        raise ValueError("r, dist_sq, c_values: expected finite values and non-negative distances")
    if r.size == 0:
        return np.zeros(c.shape)
    return np.maximum(0.0, np.max((c[:, None] - r[None, :]) * d[None, :], axis=1))
