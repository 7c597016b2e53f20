"""The parallel trial driver: every algorithm, every schedule, one compiled loop.

Threads run blocks of ``LANES`` trials (one compiled call per block, without the GIL). A block
holds its trials side by side, one per column (structure of arrays: ``w`` is ``(p, LANES)``), and
every arithmetic loop runs over the lanes innermost, so LLVM compiles it to SIMD code that
advances several trials per instruction. Each lane owns its random stream and no operation mixes
lanes, so trial ``i``'s result depends only on ``(config, seed, i)``: not on the thread count, on
which block or lane it lands in, nor on how trials are chunked (docs/design.md, "Streams and
determinism"). Algorithms and schedules are data: per-epoch arrays of step sizes, noise radii and
temperatures, a batch size, a momentum and a training-set size, each zero where unused (the
phase is then skipped by a branch that does not change during a run). GD, SGD, P-GD, perturbed SGD
and Langevin dynamics, with or without annealing, momentum and a training set, are the same loop,
compiled once, with different arguments.

One iteration (docs/mathematics.md, "The algorithms"; docs/design.md, "Engine", for the phases)::

    w~ = w + xi,  a~ = a + eps          xi ~ noise(rho_w[s]), eps ~ noise(rho_a[s]) (skipped at 0)
    g  = gradient at (w~, a~)           population, or a fresh batch of B Gaussian inputs; with a
                                        training set: over the set, or a batch drawn from it
    g <- g - sqrt(2 T[s] / eta) z       Langevin dynamics (skipped at T = 0)
    g <- g + beta m,  m <- P g          heavy-ball momentum (skipped without)
    w <- proj(w - eta_w[s] (I - w w^T) g_w),  a <- a - eta_a[s] g_a

Divergence (a non-finite value, or ``||a||`` above a bound) is detected the iteration it happens:
the trial's state and that iteration are recorded, and the lane is parked at the teacher so that
it costs nothing more; it is counted, never dropped. A block stops when all its lanes have.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
import time
import types
from typing import NamedTuple

import numpy as np

from ._jit import jit
from .geometry import riemannian_step_lanes
from .model.base import BY_PARAMS_TYPE, LANE_WORK_ROWS, grad_lanes_of, loss_lanes_of
from .model.data import (
    DATA_LANES,
    FRESH_WORK_ROWS,
    data_lanes,
    draw_minibatch_lanes,
    empirical_loss_grad_lanes,
    fill_training_sets,
    fresh_batch_grad_lanes,
)
from .model.network import SGD_LANE_WORK_ROWS, sgd_gradient_lanes
from .streams import (
    NOISE_BALL,
    PURPOSE_BALL,
    PURPOSE_DYNAMICS,
    PURPOSE_SPHERE,
    STATE_WORDS,
    fill_ball,
    fill_ball_lanes,
    fill_normal_lanes,
    fill_sphere,
    stream_init,
    stream_init_lanes,
)

OUTCOME_GLOBAL = 0
OUTCOME_SPURIOUS = 1
OUTCOME_DIVERGED = 2
OUTCOME_UNCONVERGED = 3
OUTCOME_NAMES = ("global", "spurious", "diverged", "unconverged")


RECORD_FIELDS = ("loss", "dist_w", "dist_a", "angle", "noise")


PROGRESS_INTERVAL = 0.2  # seconds between progress reports while threads run blocks
LANES = 64  # trials per block: a power of two, so every lane runs the same (SIMD) code
LANE_VECTOR = 8  # a short block's lanes are a multiple of this: one 512-bit vector of doubles
# iterations between two looks, in an epoch without randomness, at whether the block's state has
# stopped changing (a fixed point of that epoch's map): rare enough to cost nothing measurable
FIXED_POINT_EVERY = 64


@jit(inline=True)
def _perturb_lanes(states, x, radius, law, out, noise, scale):
    """``out = x + noise`` in every lane: uniform in the ball of ``radius``, or Gaussian.

    ``noise`` is scratch of shape ``(d + 2, n)``, ``scale`` of length ``n``, ``states`` as in
    :func:`~pgd_bench.streams.fill_normal_lanes`. The ball law is
    :func:`~pgd_bench.streams.fill_ball_lanes`. A Gaussian with per-coordinate variance
    ``radius^2 / (d + 2)`` has ``E||noise||^2 = radius^2 d / (d + 2)``, that of the ball.
    """
    d, n = x.shape
    if law == NOISE_BALL:
        fill_ball_lanes(states, radius, noise[:d], noise, scale)
    else:
        fill_normal_lanes(states, noise[:d])
        sigma = radius / np.sqrt(d + 2.0)
        for i in range(d):
            for l in range(n):
                noise[i, l] *= sigma
    for i in range(d):
        for l in range(n):
            out[i, l] = x[i, l] + noise[i, l]


@jit(inline=True)
def _set_column(matrix, l, vector):
    """``matrix[:, l] = vector`` as a loop: a slice assignment would compile a shape check and
    its error message (several seconds of compile time for nothing: the shapes match)."""
    for i in range(vector.shape[0]):
        matrix[i, l] = vector[i]


@jit(inline=True)
def _set_row(matrix, row, source, l):
    """``matrix[row] = source[:, l]`` as a loop (see :func:`_set_column`)."""
    for i in range(source.shape[0]):
        matrix[row, i] = source[i, l]


@jit
def _diverged(norm, a_sq, a_bound_sq):
    """Whether a step left a lane with a non-finite value or ``||a||`` past its bound.

    NaN fails both comparisons, so this also catches non-finite values.
    """
    return not (norm < np.inf and a_sq <= a_bound_sq)


@jit(inline=True)
def _update_ball_entry(since, dist_sq, tol, step):
    """Per lane: the step at which the trial last entered the ``tol`` ball, or -1 if outside."""
    for l in range(since.shape[0]):
        inside = dist_sq[l] <= tol
        since[l] = (since[l] if since[l] >= 0 else step) if inside else -1


class Problem(NamedTuple):
    """What every trial of a run shares: the teacher, both optima, the start ball, the limits, and
    the landscape's parameters.

    A module-level named tuple, so Numba compiles it as one argument and caches it across
    processes; ``seed`` is a ``uint64``, ``noise_law`` an index into :data:`NOISE_LAWS`. ``params``
    is the landscape's own named tuple (:class:`pgd_bench.model.base.Landscape`): its type chooses,
    when the block compiles, the kernels that :func:`~pgd_bench.model.base.grad_lanes_of` and
    :func:`~pgd_bench.model.base.loss_lanes_of` inline. ``w_bar = -w_star`` and ``a_bar`` are the
    known spurious optimum (``a_bar`` NaN where the landscape knows none: no lane is then counted
    ``spurious``). ``stride`` is where the patches of one input start (``p``: the poster's
    non-overlapping patches) and ``label_noise`` the standard deviation of the training labels'
    noise; both matter only where the engine draws inputs itself (training sets, and mini-batches
    of a model without a specialised sampler).
    """

    seed: np.uint64
    w_star: np.ndarray
    a_star: np.ndarray
    w_bar: np.ndarray
    a_bar: np.ndarray
    start_radius: float
    tol: float
    a_bound: float
    noise_law: int
    shared_data: bool
    stride: int
    label_noise: float
    params: tuple


class Schedule(NamedTuple):
    """Per-epoch step sizes, iterations per epoch and the checkpoint iterations (1-based)."""

    eta_w: np.ndarray
    eta_a: np.ndarray
    iterations: int
    checkpoints: np.ndarray


class Outputs(NamedTuple):
    """Per-trial output arrays, one row per trial (see :class:`pgd_bench.runs.result.RunResult`)."""

    w: np.ndarray
    a: np.ndarray
    outcome: np.ndarray
    stop: np.ndarray
    entered: np.ndarray
    records: np.ndarray
    train_loss: np.ndarray
    states: np.ndarray


@jit
def _draw_starts(problem, first_trial, w, a, lane_state):
    """Phase: trial ``first_trial + l``'s start in lane ``l``, from its own sphere and ball streams
    (independent of the dynamics' stream, so every algorithm starts from the same points)."""
    p, n = w.shape
    k = a.shape[0]
    w_start = np.empty(p)
    a_start = np.empty(k)
    ball_scratch = np.empty(k + 2)
    for l in range(n):
        trial = first_trial + l
        stream_init(lane_state, problem.seed, trial, PURPOSE_SPHERE)
        fill_sphere(lane_state, w_start)
        stream_init(lane_state, problem.seed, trial, PURPOSE_BALL)
        fill_ball(lane_state, problem.start_radius, a_start, ball_scratch)
        _set_column(w, l, w_start)
        _set_column(a, l, a_start)


@jit(inline=True)
def _add_langevin_noise(states, temperature, eta_w, eta_a, grad_w, grad_a, noise):
    """Phase: ``g <- g - sqrt(2 T / eta) z`` for ``w`` and ``a``, ``z ~ N(0, I)``.

    The step then moves ``w`` by ``-eta_w P g_w + sqrt(2 eta_w T) P z_w`` and ``a`` by
    ``-eta_a g_a + sqrt(2 eta_a T) z_a`` (``P`` the tangent projection at ``w``): Langevin dynamics
    at temperature ``T`` on the sphere (docs/mathematics.md, "Langevin dynamics").
    """
    p = grad_w.shape[0]
    k = grad_a.shape[0]
    n = grad_w.shape[1]
    fill_normal_lanes(states, noise[:p])
    scale_w = np.sqrt(2.0 * temperature / eta_w)
    for i in range(p):
        for l in range(n):
            grad_w[i, l] -= scale_w * noise[i, l]
    fill_normal_lanes(states, noise[:k])
    scale_a = np.sqrt(2.0 * temperature / eta_a)
    for j in range(k):
        for l in range(n):
            grad_a[j, l] -= scale_a * noise[j, l]


@jit(inline=True)
def _apply_momentum(beta, w, grad_w, grad_a, m_w, m_a, dot):
    """Phase: heavy-ball momentum. ``d = g + beta m`` becomes the step's direction (the step
    projects ``d_w`` onto the tangent space at ``w`` itself), and the momentum keeps
    ``m_w = (I - w w^T) d_w``, ``m_a = d_a``: so ``m_w <- beta P m_w + P g_w``, ``m_a <- beta m_a
    + g_a`` as in docs/mathematics.md, "Momentum". With ``beta = 0``, ``d = g`` exactly: the step
    computes what it computes without momentum, bit for bit.
    """
    p, n = w.shape
    k = grad_a.shape[0]
    for l in range(n):
        dot[l] = 0.0
    for i in range(p):
        for l in range(n):
            grad_w[i, l] += beta * m_w[i, l]
            dot[l] += w[i, l] * grad_w[i, l]
    for i in range(p):
        for l in range(n):
            m_w[i, l] = grad_w[i, l] - dot[l] * w[i, l]
    for j in range(k):
        for l in range(n):
            grad_a[j, l] += beta * m_a[j, l]
            m_a[j, l] = grad_a[j, l]


def _gradient_noise(problem, w, a, grad_w, grad_a, pop_w, pop_a, work, out):
    """Phase (at checkpoints only): the squared deviation of the gradient the step uses from the
    population gradient at the iterate, ``||P (g_w - grad_w L)||^2 + ||g_a - grad_a L||^2``, with
    ``P`` the tangent projection at ``w`` (the radial part never moves ``w``). 0 for GD; the
    sampling noise for SGD; the effect of the perturbation for P-GD; with a finite training set,
    also the gap between the empirical and the population gradient. Taken before momentum."""
    p, n = w.shape
    k = a.shape[0]
    grad_lanes_of(problem.params, w, a, pop_w, pop_a, work)
    radial = work[0]  # grad_lanes is done with its work rows
    for l in range(n):
        out[l] = 0.0
        radial[l] = 0.0
    for i in range(p):
        for l in range(n):
            radial[l] += w[i, l] * (grad_w[i, l] - pop_w[i, l])
    for i in range(p):
        for l in range(n):
            d = grad_w[i, l] - pop_w[i, l] - radial[l] * w[i, l]
            out[l] += d * d
    for j in range(k):
        for l in range(n):
            d = grad_a[j, l] - pop_a[j, l]
            out[l] += d * d


@jit(inline=True)
def _check_divergence(problem, count, row0, step, w, a, norm, a_sq, diverged_at, outputs, m_w, m_a):
    """Phase: lanes whose step left a non-finite value or ``||a||`` past the bound are recorded
    (state and iteration) and parked at the teacher. Returns the number of lanes newly diverged.

    Parked at the teacher, a fixed point of noise-free steps, a lane costs nothing more (with
    noise it may trip again: it is counted once). Its momentum, if any, is cleared with it.
    """
    n = w.shape[1]
    a_bound_sq = problem.a_bound * problem.a_bound
    fresh = 0
    for l in range(n):
        fresh += _diverged(norm[l], a_sq[l], a_bound_sq)
    if fresh == 0:
        return 0
    newly = 0
    for l in range(n):
        if _diverged(norm[l], a_sq[l], a_bound_sq):
            if diverged_at[l] < 0:
                diverged_at[l] = step
                newly += 1
                if l < count:
                    _set_row(outputs.w, row0 + l, w, l)
                    _set_row(outputs.a, row0 + l, a, l)
            _set_column(w, l, problem.w_star)
            _set_column(a, l, problem.a_star)
            for i in range(m_w.shape[0]):  # all zeros already without momentum
                m_w[i, l] = 0.0
            for j in range(m_a.shape[0]):
                m_a[j, l] = 0.0
    return newly


@jit(inline=True)
def _track_optima(problem, step, w, a, cos_star, d_global, d_spurious, global_since, spurious_since):
    """Phase: squared joint distances to both optima, and when each lane last entered their ``tol``
    balls. ``w`` and ``w*`` are unit and ``w_bar = -w*``, so ``||w - w*||^2 = 2 - 2 w.w*`` and
    ``||w - w_bar||^2 = 2 + 2 w.w*``."""
    p, n = w.shape
    k = a.shape[0]
    for l in range(n):
        cos_star[l] = 0.0
    for i in range(p):
        for l in range(n):
            cos_star[l] += w[i, l] * problem.w_star[i]
    for l in range(n):
        d_global[l] = 2.0 - 2.0 * cos_star[l]
        d_spurious[l] = 2.0 + 2.0 * cos_star[l]
    for j in range(k):
        for l in range(n):
            e_global = a[j, l] - problem.a_star[j]
            e_spurious = a[j, l] - problem.a_bar[j]
            d_global[l] += e_global * e_global
            d_spurious[l] += e_spurious * e_spurious
    _update_ball_entry(global_since, d_global, problem.tol, step)
    _update_ball_entry(spurious_since, d_spurious, problem.tol, step)


@jit
def _keep_state_bits(w, a, m_w, m_a, kept):
    """``kept`` (uint64, ``(2p + 2k, n)``) = the bits of every lane's ``(w, a, m_w, m_a)``."""
    row = 0
    for part in (w, a, m_w, m_a):
        bits = part.view(np.uint64)
        for i in range(bits.shape[0]):
            for l in range(bits.shape[1]):
                kept[row + i, l] = bits[i, l]
        row += bits.shape[0]


@jit
def _state_bits_kept(w, a, m_w, m_a, kept):
    """Whether every lane's ``(w, a, m_w, m_a)`` has the bits :func:`_keep_state_bits` kept (bits,
    not values: ``-0.0`` and ``0.0`` differ)."""
    row = 0
    same = True
    for part in (w, a, m_w, m_a):
        bits = part.view(np.uint64)
        for i in range(bits.shape[0]):
            for l in range(bits.shape[1]):
                same &= kept[row + i, l] == bits[i, l]
        row += bits.shape[0]
    return same


@jit
def _write_outputs(
    count, row0, step, w, a, diverged_at, global_since, spurious_since, next_checkpoint, train_loss, outputs
):
    """Phase: every real lane's final state, outcome, iterations and entry into its ball, and its
    loss on its training set (``train_loss``: NaN without one, and for a diverged lane)."""
    n_checkpoints = outputs.records.shape[1]
    n_fields = outputs.records.shape[2]
    for l in range(count):
        row = row0 + l
        for c in range(next_checkpoint, n_checkpoints):  # checkpoints never reached
            for f in range(n_fields):
                outputs.records[row, c, f] = np.nan
            if row < outputs.states.shape[0]:  # (the block stopped early: every lane had diverged)
                for f in range(outputs.states.shape[2]):
                    outputs.states[row, c, f] = np.nan
        outputs.train_loss[row] = train_loss[l] if diverged_at[l] < 0 else np.nan
        if diverged_at[l] >= 0:
            outputs.outcome[row] = OUTCOME_DIVERGED
            outputs.stop[row] = diverged_at[l]
            outputs.entered[row] = -1
            continue
        _set_row(outputs.w, row, w, l)
        _set_row(outputs.a, row, a, l)
        outputs.stop[row] = step
        if global_since[l] >= 0:
            outputs.outcome[row] = OUTCOME_GLOBAL
            outputs.entered[row] = global_since[l]
        elif spurious_since[l] >= 0:
            outputs.outcome[row] = OUTCOME_SPURIOUS
            outputs.entered[row] = spurious_since[l]
        else:
            outputs.outcome[row] = OUTCOME_UNCONVERGED
            outputs.entered[row] = -1


def _run_block(
    first_trial, count, row0, problem, schedule, rho_w, rho_a, batch, temperature, momentum, samples, outputs,
    stop_flag,
):  # fmt: skip
    """Run trials ``first_trial .. first_trial + count - 1`` in the lanes of one block.

    Parameters
    ----------
    first_trial : int
        Trial index of lane 0. Lane ``l`` is trial ``first_trial + l`` and writes output row
        ``row0 + l``; lanes past ``count`` run the next trial indices as padding and write nothing.
    count, row0 : int
        Real lanes in this block, and the output row of lane 0.
    problem : Problem
        Teacher, optima, start radius, tolerance, divergence bound, seed and noise law.
    schedule : Schedule
        Per-epoch step sizes, iterations per epoch, checkpoint iterations.
    rho_w, rho_a : ndarray
        Per-epoch perturbation radii; an epoch at 0 draws no perturbation.
    batch : int
        Mini-batch size; 0: the exact population gradient (or the whole training set).
    temperature : ndarray
        Per-epoch Langevin temperature; an epoch at 0 adds no Langevin noise.
    momentum : float
        Heavy-ball momentum beta; 0: no momentum phase.
    samples : int
        Size of each trial's training set (:mod:`pgd_bench.model.data`): the gradient is then the
        empirical one over the set, or over a mini-batch drawn from it with ``batch``, and the
        block holds ``DATA_LANES`` trials. 0: the population (infinite data), ``LANES`` trials.
    outputs : Outputs
        Per-trial output arrays, written at rows ``row0 .. row0 + count - 1``.
    stop_flag : ndarray of uint8, shape (1,)
        Set to non-zero by another thread on Ctrl-C: the block is abandoned within an iteration
        (or one sample of an SGD batch), its outputs then meaningless; the caller discards them.

    Notes
    -----
    The options are values of fixed types, never ``None``: every algorithm runs the one compiled
    loop (per landscape), and an unused phase costs a branch that goes the same way every
    iteration. Before, an absent option was ``None`` and each combination compiled its own
    variant (11 in a quick reproduction, 9 to 17 s each); measured side by side, the branches
    cost nothing measurable per trial-step (docs/design.md, "Engine").
    """
    p = problem.w_star.shape[0]
    k = problem.a_star.shape[0]
    # lanes: the block size run_trials splits the trials by, or fewer for a block of fewer trials
    # (a cell's last, or a small cell): the lanes beyond count are computed and thrown away, and a
    # 6-trial cell paid for 64. Whole vectors of LANE_VECTOR, so that no lane runs a scalar
    # remainder: LLVM vectorises those too (_jit.LLVM_OPTIONS; without, blocks under 32 lanes ran
    # the batch gradients' loops in scalar code). Each lane's arithmetic, so its bits, are its
    # own: tested against full blocks
    n = min(LANES, -(-count // LANE_VECTOR) * LANE_VECTOR) if samples == 0 else DATA_LANES
    # with a training set, only the count real lanes hold a set and take its gradient: run_jobs
    # gives a block fewer trials than DATA_LANES when their sets would not fit in a core's cache
    # together (data_lanes); the vector phases still run all DATA_LANES lanes, as before
    data_count = count if samples > 0 else n
    states = np.empty((STATE_WORDS, n), dtype=np.uint64)
    lane_state = np.empty(STATE_WORDS, dtype=np.uint64)
    w = np.empty((p, n))
    a = np.empty((k, n))
    _draw_starts(problem, first_trial, w, a, lane_state)
    stream_init_lanes(states, problem.seed, first_trial, PURPOSE_DYNAMICS)

    grad_w = np.zeros((p, n))  # a lane without a training set keeps a zero gradient
    grad_a = np.zeros((k, n))
    w_eval = np.empty((p, n))
    a_eval = np.empty((k, n))
    noise = np.empty((max(p, k) + 2, n))
    noise_w = noise[: p + 2]
    noise_a = noise[: k + 2]
    u2 = np.empty((p, n))
    planar = np.empty((2 * k, n))
    relu_w = np.empty((k, n))
    sgd_work = np.empty((SGD_LANE_WORK_ROWS, n))
    work = np.empty((LANE_WORK_ROWS, n))
    m_w = np.zeros((p, n))  # stays zero without momentum
    m_a = np.zeros((k, n))
    kept_bits = np.empty((2 * (p + k), n), dtype=np.uint64)  # the state a fixed-point look compares
    lane_a = np.empty(n)
    lane_b = np.empty(n)
    train_loss = np.full(n, np.nan)
    noise_level = np.empty(n)
    pop_w = np.empty((p, n))
    pop_a = np.empty((k, n))
    # without a training set these are empty (size 0), as the batch arrays without a batch from one
    data_z = np.empty((data_count, k * p, samples))
    data_y = np.empty((data_count, samples))
    # the poster's CNN samples its population mini-batches by projection (sgd_gradient_lanes);
    # overlapping patches draw whole inputs and take the training-set gradient over them
    fresh_batches = samples == 0 and batch > 0 and problem.stride != p
    # the empirical gradient's scratch: one column per sample of the set, or of a mini-batch drawn
    # from it, which may hold more samples than the set (drawn with replacement)
    gradient_samples = max(samples, batch) if samples > 0 else 0
    data_pre = np.empty((k + 1, gradient_samples))
    data_residual = np.empty(gradient_samples)
    if samples > 0:
        fill_training_sets(problem.seed, first_trial, problem.shared_data, problem.stride, problem.label_noise,
                           problem.w_star, problem.a_star, data_z, data_y, lane_state)  # fmt: skip
    set_batch = batch if samples > 0 else 0
    fresh_batch = batch if fresh_batches else 0
    fresh = np.empty((((k - 1) * problem.stride + p) * fresh_batch, n))
    fresh_pre = np.empty((k * fresh_batch, n))
    fresh_work = np.empty((FRESH_WORK_ROWS * fresh_batch, n))
    batch_z = np.empty((data_count, k * p, set_batch))
    batch_y = np.empty((data_count, set_batch))
    cos_star = np.empty(n)
    d_global = np.empty(n)
    d_spurious = np.empty(n)
    global_since = np.full(n, -1, dtype=np.int64)
    spurious_since = np.full(n, -1, dtype=np.int64)
    diverged_at = np.full(n, -1, dtype=np.int64)
    # the lanes without a training set run no trial: counted as diverged from the start, so that
    # the block stops as soon as its real lanes have all diverged (their outputs are never written)
    for l in range(data_count, n):  # (a loop: a slice assignment compiles its error paths too)
        diverged_at[l] = 0

    checkpoints = schedule.checkpoints
    next_checkpoint = 0
    running = data_count  # lanes not yet diverged
    step = 0
    for s in range(schedule.eta_w.shape[0]):
        eta_w = schedule.eta_w[s]
        eta_a = schedule.eta_a[s]
        # without noise the gradient is taken at the iterate itself: no copy
        w_at = w
        a_at = a
        if rho_w[s] > 0.0:
            w_at = w_eval
        if rho_a[s] > 0.0:
            a_at = a_eval
        # Without noise (no perturbation, temperature or mini-batch), an iteration is a fixed map of
        # the state (w, a, m_w, m_a) for the epoch. Once it maps the block's state onto itself, bit
        # for bit, every later iteration of the epoch would too: they are counted, not computed, but
        # at checkpoints (records, and the gradient noise taken from a fresh gradient). Converged GD
        # with momentum otherwise spent its epochs on subnormal numbers, 5-15x slower per step. (A
        # lane without a training set keeps a stale gradient that momentum adds to: it writes
        # nothing, and the block skips only once that lane, too, stops changing.)
        deterministic = batch == 0 and rho_w[s] == 0.0 and rho_a[s] == 0.0 and temperature[s] == 0.0
        fixed = False
        for _ in range(schedule.iterations):
            if stop_flag[0] != 0:
                break
            at_checkpoint = next_checkpoint < checkpoints.shape[0] and step + 1 == checkpoints[next_checkpoint]
            if fixed and not at_checkpoint:
                step += 1
                continue
            look = deterministic and not fixed and step % FIXED_POINT_EVERY == 0
            if look:
                _keep_state_bits(w, a, m_w, m_a, kept_bits)
            if rho_w[s] > 0.0:
                _perturb_lanes(states, w, rho_w[s], problem.noise_law, w_eval, noise_w, lane_a)
            if rho_a[s] > 0.0:
                _perturb_lanes(states, a, rho_a[s], problem.noise_law, a_eval, noise_a, lane_a)
            if samples > 0:
                if batch == 0:
                    empirical_loss_grad_lanes(data_z, data_y, samples, w_at, a_at, grad_w, grad_a, data_pre,
                                              data_residual, lane_a)  # fmt: skip
                else:
                    draw_minibatch_lanes(states, data_z, data_y, batch_z, batch_y)
                    empirical_loss_grad_lanes(batch_z, batch_y, batch, w_at, a_at, grad_w, grad_a, data_pre,
                                              data_residual, lane_a)  # fmt: skip
            elif batch == 0:
                grad_lanes_of(problem.params, w_at, a_at, grad_w, grad_a, work)
            elif fresh_batches:
                fresh_batch_grad_lanes(states, problem.stride, problem.w_star, problem.a_star, fresh, w_at, a_at,
                                       grad_w, grad_a, fresh_pre, fresh_work, lane_a)  # fmt: skip
            else:
                sgd_gradient_lanes(
                    states, w_at, a_at, problem.w_star, problem.a_star, batch, grad_w, grad_a,
                    u2, planar, relu_w, noise_w[:p], sgd_work, stop_flag,
                )  # fmt: skip
            if temperature[s] > 0.0:
                _add_langevin_noise(states, temperature[s], eta_w, eta_a, grad_w, grad_a, noise)
            if at_checkpoint:
                _gradient_noise(problem, w, a, grad_w, grad_a, pop_w, pop_a, work, noise_level)
            if momentum > 0.0:
                _apply_momentum(momentum, w, grad_w, grad_a, m_w, m_a, lane_a)
            riemannian_step_lanes(w, a, grad_w, grad_a, eta_w, eta_a, lane_a, lane_b)
            step += 1

            running -= _check_divergence(problem, count, row0, step, w, a, lane_a, lane_b, diverged_at, outputs,
                                         m_w, m_a)  # fmt: skip
            if running == 0:
                break
            _track_optima(problem, step, w, a, cos_star, d_global, d_spurious, global_since, spurious_since)

            if at_checkpoint:  # (the step just taken reached it)
                _record_checkpoint(
                    w, a, problem, work, lane_a, lane_b, noise_level, diverged_at, count, row0,
                    outputs.records[:, next_checkpoint], outputs.states[:, next_checkpoint],
                )  # fmt: skip
                next_checkpoint += 1
            if look:
                fixed = _state_bits_kept(w, a, m_w, m_a, kept_bits)
        if running == 0 or stop_flag[0] != 0:
            break

    if samples > 0:
        empirical_loss_grad_lanes(data_z, data_y, samples, w, a, grad_w, grad_a, data_pre, data_residual,
                                  train_loss)  # fmt: skip
    _write_outputs(
        count, row0, step, w, a, diverged_at, global_since, spurious_since, next_checkpoint, train_loss, outputs
    )


def _record_checkpoint(w, a, problem, work, loss, angle, noise_level, diverged_at, count, row0, records, states):
    """Write ``records[row0 + l] = (loss, ||w-w*||, ||a-a*||, angle, noise)`` for the block's lanes,
    and ``states[row0 + l] = (w, a)`` for the rows that ``states`` has (the recorded trials).

    ``noise_level`` is the lanes' :func:`_gradient_noise` at the step that reached the checkpoint.
    A lane that has diverged gets NaN: its trial has no state at this checkpoint. ``loss`` and
    ``angle`` are scratch of one value per lane.
    """
    w_star = problem.w_star
    a_star = problem.a_star
    p = w.shape[0]
    for l in range(count):
        row = row0 + l
        if row < states.shape[0]:
            for i in range(p):
                states[row, i] = w[i, l] if diverged_at[l] < 0 else np.nan
            for j in range(a.shape[0]):
                states[row, p + j] = a[j, l] if diverged_at[l] < 0 else np.nan
    loss_lanes_of(problem.params, w, a, work, loss, angle)
    for l in range(count):
        row = records[row0 + l]
        if diverged_at[l] >= 0:
            for f in range(row.shape[0]):
                row[f] = np.nan
            continue
        dist_w = 0.0
        for i in range(w.shape[0]):
            dist_w += (w[i, l] - w_star[i]) ** 2
        dist_a = 0.0
        for j in range(a.shape[0]):
            dist_a += (a[j, l] - a_star[j]) ** 2
        row[0] = loss[l]
        row[1] = np.sqrt(dist_w)
        row[2] = np.sqrt(dist_a)
        row[3] = angle[l]
        row[4] = noise_level[l]


# The phases that call the landscape's kernels, and the block that inlines them, are templates:
# block_kernel compiles them once per landscape, with the landscape's kernels bound to the names
# grad_lanes_of and loss_lanes_of (placeholders here). Numba's IR-level inlining resolves those
# names like any global, so the kernels are inlined as if called by name: the same machine code,
# compile time and cache as a single-landscape engine. (Measured against the alternatives:
# kernels passed as arguments are not reused from the cache by a new process; an overload chosen by
# the parameters' type, inlined at the typed level, compiled 68-71% slower; the same overload not
# inlined ran GD 13% slower. docs/adding-a-landscape.md.)
_BLOCKS: dict[type, tuple] = {}  # params type -> (the landscape it was built for, its block)
_BLOCKS_LOCK = threading.Lock()


def block_kernel(params_type: type):
    """The compiled block loop (:func:`_run_block`) of the landscape whose parameters are
    ``params_type``, built once per process.

    Cached in the kernel folder when the landscape's kernels are this package's; compiled afresh
    in each process otherwise (the cache is keyed by this package's source: an edit of a kernel
    defined elsewhere would not change the key, and a stale block would run).
    """
    with _BLOCKS_LOCK:
        landscape = BY_PARAMS_TYPE[params_type]
        built_for, block = _BLOCKS.get(params_type, (None, None))
        # built for this landscape object: one registered again with the same parameters' type
        # (a notebook's cell run again with other kernels) ran the first one's block, silently
        if built_for is not landscape:
            names = dict(globals(), grad_lanes_of=landscape.grad_lanes, loss_lanes_of=landscape.loss_lanes)
            cache = landscape.cacheable
            names["_gradient_noise"] = jit(_rebind(_gradient_noise, names), inline=True)
            # a compiled call of its own, as before the seam: once per landscape, not per variant
            names["_record_checkpoint"] = jit(_rebind(_record_checkpoint, names), cache=cache)
            block = jit(_rebind(_run_block, names), nogil=True, cache=cache)
            _BLOCKS[params_type] = (landscape, block)
        return block


def _rebind(func, names: dict):
    """``func`` with ``names`` as its globals (same code, so the same cache file and line)."""
    return types.FunctionType(func.__code__, names, func.__name__, func.__defaults__, func.__closure__)


def run_trials(
    first_trial, problem, schedule, options, outputs, executor=None, threads=1, progress=None,
):  # fmt: skip
    """Run trials ``first_trial .. first_trial + len(outputs.w) - 1``, one output row each.

    ``problem``, ``schedule`` and ``outputs`` are :class:`Problem`, :class:`Schedule` and
    :class:`Outputs`; ``options`` is ``(rho_w, rho_a, batch, temperature, momentum, samples)``,
    zeros where the run does not use them (see :func:`_run_block`).

    ``threads`` threads of ``executor`` (a :class:`concurrent.futures.Executor`; None runs them
    in this thread) take blocks of ``LANES`` trials in turn until none is left; the block kernel
    releases the GIL, so they run side by side, and no thread waits for another before the end.
    This thread only waits, and calls ``progress(done)`` with the number of trials finished every
    ``PROGRESS_INTERVAL`` seconds and at the end: it stays free to receive Ctrl-C (Python runs
    signal handlers in the main thread only, between bytecodes, never inside a compiled call).
    On an exception here (Ctrl-C, or one raised by ``progress``), the running blocks are told to
    stop within an iteration, no block starts any more, and the exception propagates once every
    thread has stopped.

    Python threads rather than a Numba ``prange`` driver: Numba links the kernel into such a
    driver and optimises it a second time, which doubled the first compilation (GD: 35 s with
    it, 17 s without). The price, measured side by side on 2 cores: 2-5% on runs of seconds,
    10-30% on runs of a few milliseconds (waking a Python thread costs about 0.1 ms).
    """
    run_jobs([(first_trial, problem, schedule, options, outputs)], executor, threads, progress)


def block_cost(problem, schedule, options, count) -> float:
    """A rough estimate of a block's compute time, in arbitrary units, to order the blocks of
    :func:`run_jobs` longest first: lanes x iterations x the work of one iteration (the gradient,
    the normals of a batch, a training set's samples, the perturbation's draws)."""
    rho_w, rho_a, batch, temperature, _, samples = options
    p, k = problem.w_star.shape[0], problem.a_star.shape[0]
    lanes = -(-count // LANE_VECTOR) * LANE_VECTOR if samples == 0 else count
    steps = schedule.eta_w.shape[0] * schedule.iterations
    if samples > 0:
        per_step = k * p * (batch if batch > 0 else samples)
    elif batch > 0 and problem.stride != p:  # whole overlapping inputs drawn, then a set's gradient
        per_step = (k * p + 12 * ((k - 1) * problem.stride + p)) * batch
    else:
        per_step = k * p + 12 * k * batch  # a batch draws 2 k normals per input
    noisy = bool(np.any(rho_w > 0) or np.any(rho_a > 0) or np.any(temperature > 0))
    per_step += 6 * (p + k) if noisy else 0
    return float(lanes) * steps * per_step


def run_jobs(jobs, executor=None, threads=1, progress=None, seconds=None):
    """:func:`run_trials` for several runs at once: ``jobs`` is a list of ``(first_trial, problem,
    schedule, options, outputs)``, and the threads take the blocks of all of them from one queue,
    the longest first (:func:`block_cost`). Runs of one block each (the quick reproduction's
    small cells) then keep every thread busy instead of one; each block computes what it would
    alone (same bits).
    ``progress(done)`` counts trials over all jobs; ``seconds``, a list with one entry per job if
    given, receives the seconds each job's blocks took, summed over its blocks.
    """
    work = []  # (job, block kernel, lanes, row0, count)
    costs = []
    for index, (_, problem, schedule, options, outputs) in enumerate(jobs):
        n = outputs.w.shape[0]
        block = block_kernel(type(problem.params))
        # the trials per block: _run_block's lanes, or with a training set as many as fit in cache
        lanes = LANES if options[5] == 0 else data_lanes(options[5], problem.a_star.shape[0] * problem.w_star.shape[0])
        for row0 in range(0, n, lanes):
            count = min(lanes, n - row0)
            work.append((index, block, lanes, row0, count))
            costs.append(block_cost(problem, schedule, options, count))
    # the longest blocks first: the threads then finish together. In job order, a long block
    # (perturbed SGD at k = 32) taken last ran alone while the other thread idled: the quick
    # reproduction's success-rate cells took 29 s of wall time for 32 s of compute on 2 threads.
    # Each block computes what it would alone, so the order changes no bits.
    order = sorted(range(len(work)), key=lambda i: -costs[i])
    work = [work[i] for i in order]
    next_item = itertools.count()  # next() of a count is atomic under the GIL
    finished = [0]
    reported = [0]
    lock = threading.Lock()
    stop = np.zeros(1, dtype=np.uint8)  # read by the kernels every iteration

    def report():
        if progress is not None and finished[0] > reported[0]:
            reported[0] = finished[0]
            progress(reported[0])

    def take_blocks():
        while stop[0] == 0:
            i = next(next_item)
            if i >= len(work):
                return
            index, block, lanes, row0, count = work[i]
            first_trial, problem, schedule, options, outputs = jobs[index]
            start = time.perf_counter()
            block(first_trial + row0, count, row0, problem, schedule, *options, outputs, stop)
            with lock:
                finished[0] += count
                if seconds is not None:
                    seconds[index] += time.perf_counter() - start

    if executor is None:
        take_blocks()
        report()
        return
    # (the blocks of every job together: RunConfig.threads_in_flight counts one config's)
    workers = [executor.submit(take_blocks) for _ in range(max(1, min(threads, len(work))))]
    try:
        pending = workers
        while pending:
            # a timed wait without the GIL (Ctrl-C interrupts it), waking only to report progress:
            # a wake per block would make the workers wait for the GIL (5 ms each time, Python's
            # switch interval: measured 3.5x slower GD on 2000-iteration blocks)
            pending = concurrent.futures.wait(pending, timeout=PROGRESS_INTERVAL)[1]
            report()
    finally:
        stop[0] = 1
        concurrent.futures.wait(workers)
    for future in workers:
        future.result()  # an exception in a worker is raised here
