"""The parallel trial driver: every algorithm, every schedule, one compiled loop.

Threads run blocks of ``LANES`` trials (one compiled call per block, without the GIL). A block
holds its trials side by side, one per column (structure of arrays: ``w`` is ``(p, LANES)``), and
every arithmetic loop runs over the lanes innermost, so LLVM compiles it to SIMD code that
advances several trials per instruction.
Each lane owns its random stream and no operation mixes lanes, so trial ``i``'s result depends only
on ``(config, seed, i)``: not on the thread count, on which block or lane it lands in, nor on how
trials are chunked (DESIGN.md, "Engine"). Algorithms and schedules are data: per-epoch arrays of
step sizes and noise radii, a batch size (None means the exact population gradient; None
schedules mean no noise) and a noise law.
GD, SGD, P-GD and perturbed SGD, with or without annealing, are the same loop with different
arrays.

One iteration (MATH.md, "The algorithms")::

    w~ = w + xi,  a~ = a + eps          xi ~ noise(rho_w[s]), eps ~ noise(rho_a[s]) (skipped at 0)
    g  = gradient at (w~, a~)           population, or a fresh batch of B Gaussian inputs
    w <- proj(w - eta_w[s] (I - w w^T) g_w),  a <- a - eta_a[s] g_a

Divergence (a non-finite value, or ``||a||`` above a bound) is detected the iteration it happens:
the trial's state and that iteration are recorded, and the lane is parked at the teacher so that
it costs nothing more; it is counted, never dropped. A block stops when all its lanes have.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading

import numpy as np

from ._jit import jit
from .geometry import riemannian_step_lanes
from .landscape import LANE_WORK_ROWS, grad_lanes, loss_lanes
from .network import SGD_LANE_WORK_ROWS, sgd_gradient_lanes
from .random import (
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

NOISE_BALL = 0
NOISE_GAUSSIAN = 1
NOISE_LAWS = ("ball", "gaussian")

RECORD_FIELDS = ("loss", "dist_w", "dist_a", "angle")


LANES = 64  # trials per block: a power of two, so every lane runs the same (SIMD) code


@jit(inline=True)
def _perturb_lanes(states, lane_state, x, radius, law, out, noise, scale):
    """``out = x + noise`` in every lane: uniform in the ball of ``radius``, or Gaussian.

    ``noise`` is scratch of shape ``(d + 2, n)``, ``scale`` of length ``n``, ``lane_state`` as in
    :func:`~pgd_bench.random.fill_normal_lanes`. The ball law is
    :func:`~pgd_bench.random.fill_ball_lanes`. A Gaussian with per-coordinate variance
    ``radius^2 / (d + 2)`` has ``E||noise||^2 = radius^2 d / (d + 2)``, that of the ball.
    """
    d, n = x.shape
    if law == NOISE_BALL:
        fill_ball_lanes(states, radius, noise[:d], noise, lane_state, scale)
    else:
        fill_normal_lanes(states, noise[:d], lane_state)
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


@jit(nogil=True)
def _run_block(
    first_trial,
    count,
    row0,
    seed,
    w_star,
    a_star,
    w_bar,
    a_bar,
    start_radius,
    eta_w,
    eta_a,
    rho_w,
    rho_a,
    iterations,
    batch,
    noise_law,
    tol,
    a_bound,
    checkpoints,
    out_w,
    out_a,
    out_outcome,
    out_stop,
    out_entered,
    out_records,
    stop_flag,
):
    """Run trials ``first_trial .. first_trial + count - 1`` in the lanes of one block.

    Lane ``l`` is trial ``first_trial + l`` and writes output row ``row0 + l``. Lanes past
    ``count`` run the next trial indices as padding and write nothing. ``stop_flag[0] != 0``
    (set by another thread on Ctrl-C) abandons the block within an iteration, or within one
    sample of an SGD batch; its outputs are then meaningless and the caller discards them.
    """
    p = w_star.shape[0]
    k = a_star.shape[0]
    n = LANES
    states = np.empty((STATE_WORDS, n), dtype=np.uint64)
    w = np.empty((p, n))
    a = np.empty((k, n))
    # starts: independent streams, so every algorithm sees the same starts for the same seed
    lane_state = np.empty(STATE_WORDS, dtype=np.uint64)
    w_start = np.empty(p)
    a_start = np.empty(k)
    ball_scratch = np.empty(k + 2)
    for l in range(n):
        trial = first_trial + l
        stream_init(lane_state, seed, trial, PURPOSE_SPHERE)
        fill_sphere(lane_state, w_start)
        stream_init(lane_state, seed, trial, PURPOSE_BALL)
        fill_ball(lane_state, start_radius, a_start, ball_scratch)
        _set_column(w, l, w_start)
        _set_column(a, l, a_start)
    stream_init_lanes(states, seed, first_trial, PURPOSE_DYNAMICS)

    grad_w = np.empty((p, n))
    grad_a = np.empty((k, n))
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
    lane_a = np.empty(n)
    lane_b = np.empty(n)
    cos_star = np.empty(n)
    d_global = np.empty(n)
    d_spurious = np.empty(n)
    global_since = np.full(n, -1, dtype=np.int64)
    spurious_since = np.full(n, -1, dtype=np.int64)
    diverged_at = np.full(n, -1, dtype=np.int64)

    n_checkpoints = checkpoints.shape[0]
    n_fields = out_records.shape[2]
    next_checkpoint = 0
    running = n  # lanes not yet diverged
    step = 0
    epochs = eta_w.shape[0]
    a_bound_sq = a_bound * a_bound
    for s in range(epochs):
        # without noise the gradient is taken at the iterate itself: no copy. A schedule of None
        # (no noise at all) or a batch of None (population gradient) is a type, not a value, so
        # Numba compiles that variant without the code it never runs: a smaller, faster compile
        w_at = w
        a_at = a
        if rho_w is not None:
            if rho_w[s] > 0.0:
                w_at = w_eval
        if rho_a is not None:
            if rho_a[s] > 0.0:
                a_at = a_eval
        for _ in range(iterations):
            if stop_flag[0] != 0:
                break
            if rho_w is not None:
                if rho_w[s] > 0.0:
                    _perturb_lanes(states, lane_state, w, rho_w[s], noise_law, w_eval, noise_w, lane_a)
            if rho_a is not None:
                if rho_a[s] > 0.0:
                    _perturb_lanes(states, lane_state, a, rho_a[s], noise_law, a_eval, noise_a, lane_a)
            if batch is None:
                grad_lanes(w_at, a_at, w_star, a_star, grad_w, grad_a, work)
            else:
                sgd_gradient_lanes(
                    states,
                    lane_state,
                    w_at,
                    a_at,
                    w_star,
                    a_star,
                    batch,
                    grad_w,
                    grad_a,
                    u2,
                    planar,
                    relu_w,
                    noise_w[:p],
                    sgd_work,
                    stop_flag,
                )
            riemannian_step_lanes(w, a, grad_w, grad_a, eta_w[s], eta_a[s], lane_a, lane_b)
            step += 1

            fresh = 0
            for l in range(n):
                fresh += _diverged(lane_a[l], lane_b[l], a_bound_sq)
            if fresh > 0:
                for l in range(n):
                    if _diverged(lane_a[l], lane_b[l], a_bound_sq):
                        if diverged_at[l] < 0:
                            diverged_at[l] = step
                            running -= 1
                            if l < count:
                                _set_row(out_w, row0 + l, w, l)
                                _set_row(out_a, row0 + l, a, l)
                        # parked at the teacher, a fixed point of noise-free steps, so that it
                        # costs nothing more (with noise it may trip again: counted once)
                        _set_column(w, l, w_star)
                        _set_column(a, l, a_star)
                if running == 0:
                    break

            # distances to both optima: w and w* are unit and w_bar = -w*, so
            # ||w - w*||^2 = 2 - 2 w.w* and ||w - w_bar||^2 = 2 + 2 w.w*
            for l in range(n):
                cos_star[l] = 0.0
            for i in range(p):
                for l in range(n):
                    cos_star[l] += w[i, l] * w_star[i]
            for l in range(n):
                d_global[l] = 2.0 - 2.0 * cos_star[l]
                d_spurious[l] = 2.0 + 2.0 * cos_star[l]
            for j in range(k):
                for l in range(n):
                    e_global = a[j, l] - a_star[j]
                    e_spurious = a[j, l] - a_bar[j]
                    d_global[l] += e_global * e_global
                    d_spurious[l] += e_spurious * e_spurious
            _update_ball_entry(global_since, d_global, tol, step)
            _update_ball_entry(spurious_since, d_spurious, tol, step)

            if next_checkpoint < n_checkpoints and step == checkpoints[next_checkpoint]:
                _record_checkpoint(
                    w, a, w_star, a_star, work, lane_a, diverged_at, count, row0, out_records[:, next_checkpoint]
                )
                next_checkpoint += 1
        if running == 0 or stop_flag[0] != 0:
            break

    for l in range(count):
        row = row0 + l
        for c in range(next_checkpoint, n_checkpoints):  # checkpoints never reached
            for f in range(n_fields):
                out_records[row, c, f] = np.nan
        if diverged_at[l] >= 0:
            out_outcome[row] = OUTCOME_DIVERGED
            out_stop[row] = diverged_at[l]
            out_entered[row] = -1
            continue
        _set_row(out_w, row, w, l)
        _set_row(out_a, row, a, l)
        out_stop[row] = step
        if global_since[l] >= 0:
            out_outcome[row] = OUTCOME_GLOBAL
            out_entered[row] = global_since[l]
        elif spurious_since[l] >= 0:
            out_outcome[row] = OUTCOME_SPURIOUS
            out_entered[row] = spurious_since[l]
        else:
            out_outcome[row] = OUTCOME_UNCONVERGED
            out_entered[row] = -1


@jit
def _record_checkpoint(w, a, w_star, a_star, work, loss, diverged_at, count, row0, records):
    """Write ``records[row0 + l] = (loss, ||w-w*||, ||a-a*||, angle)`` for the block's lanes.

    A lane that has diverged gets NaN: its trial has no state at this checkpoint.
    """
    loss_lanes(w, a, w_star, a_star, work, loss)  # also leaves theta in work[2]
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
        row[3] = work[2, l]


def run_trials(
    first_trial,
    seed,
    w_star,
    a_star,
    w_bar,
    a_bar,
    start_radius,
    eta_w,
    eta_a,
    rho_w,
    rho_a,
    iterations,
    batch,
    noise_law,
    tol,
    a_bound,
    checkpoints,
    out_w,
    out_a,
    out_outcome,
    out_stop,
    out_entered,
    out_records,
    executor=None,
    threads=1,
    progress=None,
):
    """Run trials ``first_trial .. first_trial + len(out_w) - 1``, one output row each.

    ``threads`` threads of ``executor`` (a :class:`concurrent.futures.Executor`; None runs them
    in this thread) take blocks of ``LANES`` trials in turn until none is left; the block kernel
    releases the GIL, so they run side by side, and no thread waits for another before the end.
    This thread only waits, and calls ``progress(done)`` with the number of trials finished: it
    stays free to receive Ctrl-C (Python runs signal handlers in the main thread only, between
    bytecodes, never inside a compiled call). On an exception here (Ctrl-C, or one raised by
    ``progress``), the running blocks are told to stop within an iteration, no block starts any
    more, and the exception propagates once every thread has stopped.

    Python threads rather than a Numba ``prange`` driver: Numba links the kernel into such a
    driver and optimises it a second time, which doubled the first compilation (GD: 35 s with
    it, 17 s without). The price, measured side by side on 2 cores: 2-5% on runs of seconds,
    10-30% on runs of a few milliseconds (waking a Python thread costs about 0.1 ms).
    """
    n = out_w.shape[0]
    n_blocks = (n + LANES - 1) // LANES
    next_block = itertools.count()  # next() of a count is atomic under the GIL
    finished = [0]
    reported = [0]
    block_done = threading.Condition()
    stop = np.zeros(1, dtype=np.uint8)  # read by the kernels every iteration

    def report():
        if progress is not None and finished[0] > reported[0]:
            reported[0] = finished[0]
            progress(reported[0])

    def take_blocks():
        while stop[0] == 0:
            b = next(next_block)
            if b >= n_blocks:
                return
            row0 = b * LANES
            count = min(LANES, n - row0)
            _run_block(
                first_trial + row0,
                count,
                row0,
                seed,
                w_star,
                a_star,
                w_bar,
                a_bar,
                start_radius,
                eta_w,
                eta_a,
                rho_w,
                rho_a,
                iterations,
                batch,
                noise_law,
                tol,
                a_bound,
                checkpoints,
                out_w,
                out_a,
                out_outcome,
                out_stop,
                out_entered,
                out_records,
                stop,
            )
            with block_done:
                finished[0] += count
                block_done.notify()

    if executor is None:
        take_blocks()
        report()
        return
    workers = [executor.submit(take_blocks) for _ in range(max(1, min(threads, n_blocks)))]
    try:
        while not all(future.done() for future in workers):
            with block_done:  # a timed wait: Ctrl-C interrupts it
                block_done.wait_for(lambda: finished[0] > reported[0], timeout=0.1)
            report()
        report()
    finally:
        stop[0] = 1
        concurrent.futures.wait(workers)
    for future in workers:
        future.result()  # an exception in a worker is raised here
