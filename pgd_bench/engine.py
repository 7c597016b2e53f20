"""The parallel trial driver: every algorithm, every schedule, one compiled loop.

``prange`` runs over trials; each trial runs its whole trajectory in compiled code and writes only
its own output rows, so trial ``i``'s result depends only on ``(config, seed, i)``: not on the
thread count, nor on how trials are chunked (DESIGN.md, "Engine"). Algorithms and schedules are
data: per-epoch arrays of step sizes and noise radii, a batch size (0 means the exact population
gradient) and a noise law. GD, SGD, P-GD and perturbed SGD, with or without annealing, are the same
loop with different arrays.

One iteration (MATH.md, "The algorithms")::

    w~ = w + xi,  a~ = a + eps          xi ~ noise(rho_w[s]), eps ~ noise(rho_a[s]) (skipped at 0)
    g  = gradient at (w~, a~)           population, or a fresh batch of B Gaussian inputs
    w <- proj(w - eta_w[s] (I - w w^T) g_w),  a <- a - eta_a[s] g_a

Divergence (a non-finite value, or ``||a||`` above a bound) is detected the iteration it
happens: the trial stops and records that iteration; it is counted, never dropped.
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import jit
from .geometry import riemannian_step_kernel
from .landscape import _angle_terms, grad_kernel, loss_kernel
from .network import accumulate_sample
from .random import (
    PURPOSE_BALL,
    PURPOSE_DYNAMICS,
    PURPOSE_SPHERE,
    STATE_WORDS,
    fill_ball,
    fill_normal,
    fill_sphere,
    stream_init,
)

OUTCOME_GLOBAL = 0
OUTCOME_SPURIOUS = 1
OUTCOME_DIVERGED = 2
OUTCOME_UNCONVERGED = 3
OUTCOME_NAMES = ("global", "spurious", "diverged", "unconverged")

NOISE_BALL = 0
NOISE_GAUSSIAN = 1
NOISE_LAWS = ("ball", "gaussian")

RECORD_FIELDS = ("loss", "dist_w", "dist_a", "angle")


@jit(inline=True)
def _perturb(state, x, radius, law, out, scratch):
    """``out = x + noise`` (``radius > 0``): uniform in the ball, or Gaussian of the same second moment.

    ``scratch`` has length ``len(x) + 2``. A Gaussian with per-coordinate variance
    ``radius^2 / (d + 2)`` has ``E||noise||^2 = radius^2 d / (d + 2)``, that of the ball.
    """
    d = x.shape[0]
    if law == NOISE_BALL:
        fill_ball(state, radius, out, scratch)
    else:
        fill_normal(state, out)
        sigma = radius / np.sqrt(d + 2.0)
        for i in range(d):
            out[i] *= sigma
    for i in range(d):
        out[i] += x[i]


@jit(inline=True)
def _sq_dist(x, y):
    acc = 0.0
    for i in range(x.shape[0]):
        diff = x[i] - y[i]
        acc += diff * diff
    return acc


@jit
def _run_one_trial(
    trial, seed, w_star, a_star, w_bar, a_bar, start_radius,
    eta_w, eta_a, rho_w, rho_a, iterations, batch, noise_law, tol, a_bound,
    checkpoints, w, a, records,
):
    """Run trial ``trial`` in place on its rows ``w``, ``a``, ``records``.

    Returns ``(outcome, stop_iteration, entered_at)``.
    """
    p = w.shape[0]
    k = a.shape[0]
    state = np.empty(STATE_WORDS, dtype=np.uint64)
    # starts: independent streams, so every algorithm sees the same starts for the same seed
    stream_init(state, seed, trial, PURPOSE_SPHERE)
    fill_sphere(state, w)
    stream_init(state, seed, trial, PURPOSE_BALL)
    fill_ball(state, start_radius, a, np.empty(k + 2))
    stream_init(state, seed, trial, PURPOSE_DYNAMICS)

    grad_w = np.empty(p)
    grad_a = np.empty(k)
    w_eval = np.empty(p)
    a_eval = np.empty(k)
    scratch_w = np.empty(p + 2)
    scratch_a = np.empty(k + 2)
    z_flat = np.empty(k * p)
    z = z_flat.reshape((k, p))
    coef = np.empty(k)

    n_checkpoints = checkpoints.shape[0]
    next_checkpoint = 0
    inside_global_since = -1
    inside_spurious_since = -1
    diverged_at = -1
    step = 0
    epochs = eta_w.shape[0]
    a_bound_sq = a_bound * a_bound
    # distances to both optima without extra passes: w and w* are unit and w_bar = -w*, so
    # ||w - w*||^2 = 2 - 2 w.w* and ||w - w_bar||^2 = 2 + 2 w.w*
    for s in range(epochs):
        # without noise the gradient is taken at the iterate itself: no copy
        w_at = w if rho_w[s] <= 0.0 else w_eval
        a_at = a if rho_a[s] <= 0.0 else a_eval
        for _ in range(iterations):
            if rho_w[s] > 0.0:
                _perturb(state, w, rho_w[s], noise_law, w_eval, scratch_w)
            if rho_a[s] > 0.0:
                _perturb(state, a, rho_a[s], noise_law, a_eval, scratch_a)
            if batch == 0:
                grad_kernel(w_at, a_at, w_star, a_star, grad_w, grad_a)
            else:
                grad_w[:] = 0.0
                grad_a[:] = 0.0
                for _b in range(batch):
                    fill_normal(state, z_flat)
                    accumulate_sample(z, w_at, a_at, w_star, a_star, coef, grad_w, grad_a)
                scale = 2.0 / batch
                for i in range(p):
                    grad_w[i] *= scale
                for j in range(k):
                    grad_a[j] *= scale
            norm, a_sq = riemannian_step_kernel(w, a, grad_w, grad_a, eta_w[s], eta_a[s])
            step += 1
            # NaN fails both comparisons, so this also catches non-finite values
            if not (norm < np.inf and a_sq <= a_bound_sq):
                diverged_at = step
                break

            cos_star = 0.0
            for i in range(p):
                cos_star += w[i] * w_star[i]
            d_global = 2.0 - 2.0 * cos_star
            d_spurious = 2.0 + 2.0 * cos_star
            for j in range(k):
                e_global = a[j] - a_star[j]
                e_spurious = a[j] - a_bar[j]
                d_global += e_global * e_global
                d_spurious += e_spurious * e_spurious
            if d_global <= tol:
                if inside_global_since < 0:
                    inside_global_since = step
            else:
                inside_global_since = -1
            if d_spurious <= tol:
                if inside_spurious_since < 0:
                    inside_spurious_since = step
            else:
                inside_spurious_since = -1

            if next_checkpoint < n_checkpoints and step == checkpoints[next_checkpoint]:
                row = records[next_checkpoint]
                row[0] = loss_kernel(w, a, w_star, a_star)
                row[1] = np.sqrt(_sq_dist(w, w_star))
                row[2] = np.sqrt(_sq_dist(a, a_star))
                row[3] = _angle_terms(w, w_star)[2]
                next_checkpoint += 1
        if diverged_at >= 0:
            break

    for c in range(next_checkpoint, n_checkpoints):  # checkpoints a diverged trial never reached
        for f in range(records.shape[1]):
            records[c, f] = np.nan
    if diverged_at >= 0:
        return OUTCOME_DIVERGED, diverged_at, -1
    if inside_global_since >= 0:
        return OUTCOME_GLOBAL, step, inside_global_since
    if inside_spurious_since >= 0:
        return OUTCOME_SPURIOUS, step, inside_spurious_since
    return OUTCOME_UNCONVERGED, step, -1


@jit(parallel=True)
def run_trials_kernel(
    first_trial, seed, w_star, a_star, w_bar, a_bar, start_radius,
    eta_w, eta_a, rho_w, rho_a, iterations, batch, noise_law, tol, a_bound,
    checkpoints, out_w, out_a, out_outcome, out_stop, out_entered, out_records,
):
    """Run trials ``first_trial .. first_trial + len(out_w) - 1`` in parallel, one output row each."""
    n = out_w.shape[0]
    for r in numba.prange(n):
        outcome, stop, entered = _run_one_trial(
            first_trial + r, seed, w_star, a_star, w_bar, a_bar, start_radius,
            eta_w, eta_a, rho_w, rho_a, iterations, batch, noise_law, tol, a_bound,
            checkpoints, out_w[r], out_a[r], out_records[r],
        )
        out_outcome[r] = outcome
        out_stop[r] = stop
        out_entered[r] = entered
