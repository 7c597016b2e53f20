"""The measurements behind the section 'theory, measured', apart from its runs, figures and prose.

Dissipativity ratios along recorded trials, verdicts at two standard errors, Theorem 1's observed
``T1`` and Theorem 2's second-epoch lengths, bootstrap slopes and rates, and C1/C2's thresholds.
"""

from __future__ import annotations

import math

import numpy as np

from ..model.dissipativity import dissipativity_at_points, dissipativity_frontier
from ..runs.result import BASIN_NAMES
from ..stats import wilson_interval
from .context import ALMOST_ALL, FIELD, MOST, exponent_side

# Theorem 1's invariants: a.a* > 0 and angle(w, w*) <= 5 pi / 12
THEOREM1_ANGLE = 5 * np.pi / 12


def dissipativity_ratios(result, samples, seed):
    """``(r_w, r_a, se_w, se_a)``, each ``(recorded trials, 1 + checkpoints)``, at the epoch's noise:
    column 0 at the trials' starts (the public samplers' rows, iteration 0), then every checkpoint."""
    from ..streams import sample_ball, sample_sphere

    config = result.config
    w_star, a_star = config.teacher_arrays()
    sched = config.schedules()
    epoch = np.concatenate([[0], (result.checkpoints - 1) // config.iterations])
    p = config.p
    n = result.states.shape[0]
    w0 = sample_sphere(n, p, config.seed)
    a0 = sample_ball(n, config.k, config.resolved_start_radius(), config.seed)
    starts = np.concatenate([w0, a0], axis=1)
    states = np.concatenate([starts[:, None, :], result.states], axis=1)
    shape = states.shape[:2]
    out = np.full((4, *shape), np.nan)
    # every point but the non-finite ones and those at the optimum (no ratio there), estimated at once
    with np.errstate(invalid="ignore"):  # np.allclose(x, x*, rtol=0, atol=1e-150) on each row, at once
        at_w = np.all(np.abs(states[:, :, :p] - w_star) <= 1e-150, axis=2)
        at_a = np.all(np.abs(states[:, :, p:] - a_star) <= 1e-150, axis=2)
    rows, columns = np.nonzero(np.all(np.isfinite(states), axis=2) & ~at_w & ~at_a)
    if rows.size:
        w = states[rows, columns, :p]
        estimates = dissipativity_at_points(
            np.array([row / np.linalg.norm(row) for row in w]),  # unit to rounding; exactly unit for the check
            states[rows, columns, p:],
            w_star,
            a_star,
            sched["rho_w"][epoch[columns]],
            sched["rho_a"][epoch[columns]],
            samples,
            [(seed + int(c)) % 2**64 for c in columns],  # wraps: seed may be 2^64 - 1
        )
        out[:, rows, columns] = estimates.T
    return out


def decided(r, se):
    """Whether a condition holds (1), fails (0) or is undecided (NaN): the sign of ``r`` counts
    only beyond 2 standard errors; a NaN ratio (no estimate) compares false both ways."""
    return np.where(r > 2 * se, 1.0, np.where(r < -2 * se, 0.0, np.nan))


def verdict_fraction(values) -> tuple[float, float, float, int]:
    """Share of True among finite entries of a boolean-or-NaN array, with its Wilson interval."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    n = values.size
    hits = int(np.sum(values > 0.5))
    low, high = wilson_interval(hits, n) if n else (float("nan"), float("nan"))
    return (hits / n if n else float("nan")), low, high, n


CLUSTER_MIN_TRIALS = 5  # :func:`clustered_fraction` resamples trials from this many up


def clustered_fraction(values, rng, n_boot=1000) -> tuple[float, float, float, int]:
    """Share of True among the finite entries of a (trials, checkpoints) array of 1/0/NaN, pooled
    over its (trial, checkpoint) pairs, with a 95% bootstrap interval that resamples trials: a
    trial's checkpoints are not independent draws, and a Wilson interval over the pairs (5067 of
    them from 47 trials) was far too narrow. ``(share, low, high, decided pairs)``, as
    :func:`verdict_fraction`."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    hits, counts = np.sum(values > 0.5, axis=1), np.sum(finite, axis=1)
    n = int(counts.sum())
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    share = hits.sum() / n
    trials = int(np.sum(counts > 0))
    if trials < CLUSTER_MIN_TRIALS:  # too few trials to resample: Wilson's over them (one of 120 pairs read [1, 1])
        low, high = wilson_interval(round(share * trials), trials)
        return float(share), float(low), float(high), n
    rows = rng.integers(0, values.shape[0], (n_boot, values.shape[0]))
    boots = hits[rows].sum(axis=1) / np.maximum(counts[rows].sum(axis=1), 1)
    boots = boots[counts[rows].sum(axis=1) > 0]
    low, high = np.percentile(boots, [2.5, 97.5])
    return float(share), float(low), float(high), n


def observed_t1(result):
    """Per recorded trial: the first checkpoint iteration from which Theorem 1's invariants hold at
    every later checkpoint (-1 if they do not hold at the end), and the invariants' mask."""
    config = result.config
    w_star, a_star = config.teacher_arrays()
    p = config.p
    w = result.states[:, :, :p]
    a = result.states[:, :, p:]
    with np.errstate(invalid="ignore"):
        cos = np.clip(np.einsum("ncp,p->nc", w, w_star) / np.linalg.norm(w, axis=2), -1, 1)
        holds = (np.einsum("nck,k->nc", a, a_star) > 0) & (np.arccos(cos) <= THEOREM1_ANGLE)
    t1 = np.full(holds.shape[0], -1, dtype=np.int64)
    for i in range(holds.shape[0]):
        if holds[i, -1]:
            broken = np.flatnonzero(~holds[i])
            first = 0 if broken.size == 0 else broken[-1] + 1
            t1[i] = result.checkpoints[first]
    return t1, holds


def epoch_two_lengths(result):
    """Per escaped recorded trial with a T1, and per gamma of :data:`T2_GAMMAS`: the iterations from
    T1 until both squared distances stay below gamma (NaN where they never do)."""
    t1, _ = observed_t1(result)
    n = result.states.shape[0]
    escaped = result.basin()[:n] == BASIN_NAMES.index("global")
    dist = np.maximum(result.records[:n, :, FIELD["dist_w"]], result.records[:n, :, FIELD["dist_a"]]) ** 2
    rows = np.flatnonzero(escaped & (t1 >= 0))
    out = np.full((rows.size, len(T2_GAMMAS)), np.nan)
    for r, i in enumerate(rows):
        for g, gamma in enumerate(T2_GAMMAS):
            above = np.flatnonzero(~(dist[i] <= gamma))
            first = 0 if above.size == 0 else above[-1] + 1
            if first <= dist.shape[1] - T2_SETTLED:  # below gamma for good, not just at the last checkpoints
                out[r, g] = max(0, result.checkpoints[first] - t1[i])
    return out


def _t2_slope(lengths):
    """Least-squares slope of Epoch II's lengths (rows: trials) against log(1/gamma); NaN with
    fewer than 3 finite lengths or a single gamma."""
    x = np.log(1.0 / np.array(T2_GAMMAS))
    xs = np.broadcast_to(x, lengths.shape)[np.isfinite(lengths)]
    ys = lengths[np.isfinite(lengths)]
    return np.polyfit(xs, ys, 1)[0] if np.ptp(xs) > 0 and ys.size >= 3 else np.nan


def _resampled(lengths, rng):
    """``lengths`` with its trials drawn with replacement (one bootstrap replicate)."""
    return lengths[rng.integers(0, len(lengths), len(lengths))]


def t2_rate(lengths, rng, n_boot=1000):
    """Iterations per unit of log(1/gamma) in Epoch II: the least-squares slope of the lengths
    against log(1/gamma) over every trial and gamma, with a bootstrap interval over trials."""
    value = _t2_slope(lengths)
    boots = np.array([_t2_slope(_resampled(lengths, rng)) for _ in range(n_boot)])
    boots = boots[np.isfinite(boots)]
    low, high = np.percentile(boots, [2.5, 97.5]) if boots.size else (np.nan, np.nan)
    return float(value), float(low), float(high)


def t2_exponent(values, lengths_by_value, rng, n_boot=1000):
    """How Epoch II's rate scales with a setting: the slope of log(rate) on log(value) over the
    settings whose rate is positive, with a 95% bootstrap interval (each replicate resamples the
    trials of every setting, then fits again). NaN where fewer than two settings have a rate."""

    def rate(lengths):  # as t2_rate's callers: a rate needs three trials
        return _t2_slope(lengths) if len(lengths) >= 3 else np.nan

    rates = np.array([rate(lengths) for lengths in lengths_by_value])
    used = np.isfinite(rates) & (rates > 0)  # the settings the estimate fits
    if used.sum() < 2:
        return float("nan"), float("nan"), float("nan")
    x = np.log(np.asarray(values, float)[used])
    value = np.polyfit(x, np.log(rates[used]), 1)[0]
    chosen = [lengths for lengths, ok in zip(lengths_by_value, used) if ok]

    def replicate():  # the same settings as the estimate, or none (dropped): not a fit over fewer
        again = np.array([_t2_slope(_resampled(lengths, rng)) for lengths in chosen])
        return np.polyfit(x, np.log(again), 1)[0] if np.all(np.isfinite(again) & (again > 0)) else np.nan

    boots = np.array([replicate() for _ in range(n_boot)])
    boots = boots[np.isfinite(boots)]
    low, high = np.percentile(boots, [2.5, 97.5]) if boots.size else (np.nan, np.nan)
    return float(value), float(low), float(high)


def slope_verdict(slope, low, high, predicted):
    """How a fitted exponent with its 95% interval ``[low, high]`` compares with the theorem's: the
    words beside :func:`pgd_bench.report.context.exponent_verdict`'s verdict."""
    side = exponent_side(low, high, predicted)
    if side == "contains":
        return "consistent with the prediction"
    if side == "beyond":
        return "stronger than predicted: beyond what the bound allows"
    kept = "the bound is kept, its scaling is not seen"
    if low <= 0.0 <= high:
        return f"no dependence detected: {kept}"
    if (high < 0.0) == (predicted > 0.0):
        return f"opposite in sign to the prediction: {kept}"
    return f"weaker than predicted, {100 * slope / predicted:.0f}% of it: {kept}"


def censored_median_slope(values, t1_by_value, first_by_value) -> float:
    """A check on the T1 fit's selection: the slope of log(median T1) on log(value), counting the
    trials inside Theorem 1's invariants from the first checkpoint on at that checkpoint (their T1
    is at most it; where half or more are, the median is that checkpoint, an upper bound). NaN with
    fewer than two settings holding trials."""
    medians, kept = [], []
    for value, t1, first in zip(values, t1_by_value, first_by_value):
        if len(t1):
            medians.append(float(np.median(np.maximum(np.asarray(t1, float), first))))
            kept.append(value)
    if len(kept) < 2:
        return float("nan")
    return float(np.polyfit(np.log(np.asarray(kept, float)), np.log(medians), 1)[0])


def bootstrap_slope(x, y, rng, n_boot=2000):
    """Least-squares slope of log y on log x, and a 95% bootstrap interval (resampling points)."""
    lx, ly = np.log(x), np.log(y)
    slope = np.polyfit(lx, ly, 1)[0]
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, lx.size, lx.size)
        if np.ptp(lx[idx]) > 0:
            boots.append(np.polyfit(lx[idx], ly[idx], 1)[0])
    low, high = np.percentile(boots, [2.5, 97.5])
    return float(slope), float(low), float(high)


def gamma_at_zero(r_w, w, w_star):
    """The smallest gamma_w for c_w = 0 over the given points (finite entries only)."""
    d = np.sum((w - w_star) ** 2, axis=-1)
    ok = np.isfinite(r_w) & np.isfinite(d)
    if not ok.any():
        return float("nan")
    return float(dissipativity_frontier(r_w[ok], d[ok], [0.0])[0])


def gamma_a_by_epoch(r_a, dist_sq, epoch):
    """gamma_a at c_a = 0 over the escaped trials' points, epoch by epoch."""
    out = []
    for e in np.unique(epoch):
        cols = epoch == e
        r, d = r_a[:, cols].ravel(), dist_sq[:, cols].ravel()
        ok = np.isfinite(r) & np.isfinite(d)
        out.append(float(dissipativity_frontier(r[ok], d[ok], [0.0])[0]) if ok.any() else float("nan"))
    return np.array(out)


def percent(f) -> str:
    """A share with its interval and its denominator (the decided cases only); with a decimal where
    a whole percent would round an end onto a verdict's threshold (50.4% read as 50)."""
    share, low, high, n = f
    if n == 0:
        return "-"
    thresholds = (100 * MOST, 100 * ALMOST_ALL)  # share_verdict's
    near = any(round(100 * end) in thresholds and 100 * end not in thresholds for end in (low, high))
    digits = 1 if near else 0
    low, high = 100 * low, 100 * high
    if near:  # written outward (its low end down, its high end up): an end of 89.96 is not "90.0"
        low, high = math.floor(10 * low) / 10, math.ceil(10 * high) / 10
    return f"{100 * share:.{digits}f}% [{low:.{digits}f}, {high:.{digits}f}] of {n} decided"


T2_GAMMAS = (1e-1, 1e-2, 1e-3)


T2_SETTLED = 20  # checkpoints a trial must stay below gamma before the run ends to count as there
