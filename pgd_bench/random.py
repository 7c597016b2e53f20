"""Per-trial random streams: xoshiro256++ seeded from ``(seed, trial, purpose)``.

Every trial owns its streams. A stream's state is four ``uint64`` words derived by a
splitmix64 hash chain from the triple ``(seed, trial, purpose)``, so the draws of trial ``i``
depend only on that triple: never on the thread count, on chunking, or on which other trials run
(docs/design.md, "Streams and determinism"). Numba's global ``np.random`` is never used, because its
per-thread state would make results depend on the thread count.

xoshiro256++ (Blackman and Vigna, 2019) has period ``2**256 - 1``; streams seeded at hashed
positions overlap with negligible probability. Normals use the ziggurat method (exact, one 64-bit draw
for about 97% of normals); uniform points in a ball use the exact construction without a
power: the first ``d`` coordinates of a uniform point on ``S^(d+1)`` (docs/mathematics.md, "Geometry and
noise").

Stream purposes keep unrelated draws independent and make the engine's starts reproducible from the
public samplers: trial ``i``'s initial ``w`` is ``sample_sphere(n, p, seed)[i]`` and its initial
``a`` is ``sample_ball(n, k, radius, seed)[i]``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._jit import jit
from ._validate import as_float, as_int, as_seed, check_memory

# The definition of every stream and sampler above: raise it whenever a seed would give other
# draws (another generator, normal method or ball construction). Results carry it in their data.
STREAM_VERSION = 1

PURPOSE_SPHERE = 0  # the initial w of each trial; public sample_sphere
PURPOSE_BALL = 1  # the initial a of each trial; public sample_ball
PURPOSE_NORMAL = 2  # public sample_normal
PURPOSE_DYNAMICS = 3  # the noise a trial draws while it runs (perturbations, SGD batches)
PURPOSE_DATA = 4  # a trial's own training set (finite-sample mode); public training_set
PURPOSE_SHARED_DATA = 5  # the one training set of a run with shared data (drawn as trial 0's)
PURPOSE_DIAGNOSTIC = 6  # the noise of the dissipativity estimator, one stream per chunk of draws

STATE_WORDS = 4

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_INV_2_53 = 1.0 / 9007199254740992.0
_INV_2_52 = 2.0 * _INV_2_53

ZIGGURAT_LAYERS = 128
ZIGGURAT_R = 3.442619855899  # start of the tail
ZIGGURAT_V = 9.91256303526217e-3  # area of each layer


@jit
def _mix64(z):
    """splitmix64 finaliser: a bijective avalanche hash of one ``uint64``."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@jit
def _rotl(x, r):
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@jit
def stream_init(state, seed, trial, purpose):
    """Seed ``state`` (four ``uint64``) for the stream of ``(seed, trial, purpose)``."""
    h = _mix64(np.uint64(seed) + _GAMMA)
    h = _mix64(h ^ (np.uint64(trial) + _GAMMA * np.uint64(2)))
    h = _mix64(h ^ (np.uint64(purpose) + _GAMMA * np.uint64(3)))
    for i in range(STATE_WORDS):
        h = h + _GAMMA
        state[i] = _mix64(h)
    if state[0] == 0 and state[1] == 0 and state[2] == 0 and state[3] == 0:
        state[0] = np.uint64(1)  # the all-zero state is xoshiro's one fixed point


@jit
def stream_init_lanes(states, seed, first_trial, purpose):
    """Seed column ``l`` of ``states`` (``(STATE_WORDS, n)``) for the stream of
    ``(seed, first_trial + l, purpose)``: the lane states of :func:`fill_normal_lanes`."""
    one = np.empty(STATE_WORDS, dtype=np.uint64)
    for l in range(states.shape[1]):
        stream_init(one, seed, first_trial + l, purpose)
        for i in range(STATE_WORDS):
            states[i, l] = one[i]


@jit
def _xoshiro(s0, s1, s2, s3):
    """One xoshiro256++ step on a state held in four scalars: ``(result, s0, s1, s2, s3)``.

    Hot loops keep the state in registers with this form; an array state would be reloaded after
    every store to an output array that the compiler cannot prove distinct from it.
    """
    result = _rotl(s0 + s3, 23) + s0
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@jit(inline=True)
def next_u64(state):
    """Advance ``state`` and return the next 64 random bits (xoshiro256++)."""
    result, state[0], state[1], state[2], state[3] = _xoshiro(state[0], state[1], state[2], state[3])
    return result


@jit(inline=True)
def next_uniform(state):
    """A uniform double in ``[0, 1)`` with 53 random bits."""
    return np.float64(next_u64(state) >> np.uint64(11)) * _INV_2_53


def _ziggurat_tables(layers=ZIGGURAT_LAYERS, r=ZIGGURAT_R, v=ZIGGURAT_V):
    """Layer edges ``x``, ratios ``x[i+1] / x[i]`` and ``exp(-x^2 / 2)`` at the edges of the normal
    ziggurat (Doornik, 2005)."""
    x = [0.0] * (layers + 1)
    f = math.exp(-0.5 * r * r)
    x[0] = v / f
    x[1] = r
    for i in range(2, layers):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + f))
        f = math.exp(-0.5 * x[i] * x[i])
    ratio = [x[i + 1] / x[i] for i in range(layers)]
    density = [math.exp(-0.5 * edge * edge) for edge in x]
    return np.array(x), np.array(ratio), np.array(density)


_ZIG_X, _ZIG_RATIO, _ZIG_F = _ziggurat_tables()


@jit
def _normal_slow_path(state, u, i):
    """The ziggurat's rare branches: ``(value, accepted)`` for a draw outside the fast region."""
    if i == 0:  # the base layer's tail beyond R (Marsaglia's exact tail method)
        while True:
            x = np.log(1.0 - next_uniform(state)) / ZIGGURAT_R
            y = np.log(1.0 - next_uniform(state))
            if -2.0 * y >= x * x:
                break
        return (x - ZIGGURAT_R if u < 0.0 else ZIGGURAT_R - x), True
    # the wedge between the layer's edges x[i+1] < |x| < x[i]: accept x with probability
    # (f(x) - f(x[i])) / (f(x[i+1]) - f(x[i])), f(x) = exp(-x^2 / 2) tabulated at the edges so
    # that a miss costs one exp, not two
    x = u * _ZIG_X[i]
    f_inner = _ZIG_F[i + 1]
    return x, f_inner + next_uniform(state) * (_ZIG_F[i] - f_inner) < np.exp(-0.5 * x * x)


@jit
def _ziggurat_fast(bits):
    """The ziggurat's fast path for one 64-bit draw: ``(value, u, layer, accepted)``.

    The layer comes from the low 7 bits and the uniform ``u`` in (-1, 1) from the high 53 bits of
    the same draw, so the two are independent. About 97% of draws are accepted here.
    """
    # 2 m / 2**53 - 1 for the 53-bit m (exact as int64); scaling by a power of two is exact, so one
    # multiply by 2**-52 gives the same bits as two, and LLVM may not merge them under IEEE rules
    u = np.float64(np.int64(bits >> np.uint64(11))) * _INV_2_52 - 1.0
    i = np.int64(bits & np.uint64(ZIGGURAT_LAYERS - 1))
    return u * _ZIG_X[i], u, i, abs(u) < _ZIG_RATIO[i]


@jit
def _normal_after_miss(state, u, i):
    """Finish a normal whose first draw ``(u, layer i)`` missed the fast path; return it.

    Continues the stream in ``state`` exactly as the scalar ziggurat does, so the draws of a
    stream are the same whichever sampler (one stream, or many in SIMD lanes) makes them.
    """
    while True:
        value, accepted = _normal_slow_path(state, u, i)
        if accepted:
            return value
        value, u, i, accepted = _ziggurat_fast(next_u64(state))
        if accepted:
            return value


@jit(inline=True)
def fill_normal_lanes(states, out, lane_state):
    """Fill ``out`` (shape ``(m, n)``) with standard normals, column ``l`` from stream ``l``.

    ``states`` has shape ``(STATE_WORDS, n)``: one xoshiro256++ state per lane (trial);
    ``lane_state`` is ``uint64`` scratch of length ``STATE_WORDS``, passed in so that hot loops
    allocate nothing. Normals
    come from the ziggurat (Doornik's ZIGNOR, 128 layers): exact (rejection-based), and about
    97% of them cost one 64-bit draw, a multiply and a comparison, several times cheaper than
    Box-Muller's log, sqrt, sin and cos.

    Lane by lane, with the state in registers. A SIMD ziggurat needs table gathers, which LLVM
    declines on this hardware; a SIMD Box-Muller (branch-free log and sincos written out) measured
    about 2.8 ns per normal against this loop's 4-5 ns: too small a gain for a less exact stream.
    """
    m, n = out.shape
    for l in range(n):
        s0 = states[0, l]
        s1 = states[1, l]
        s2 = states[2, l]
        s3 = states[3, l]
        for r in range(m):
            bits, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
            value, u, i, accepted = _ziggurat_fast(bits)
            if not accepted:  # rare: finish it on a state in memory
                lane_state[0] = s0
                lane_state[1] = s1
                lane_state[2] = s2
                lane_state[3] = s3
                value = _normal_after_miss(lane_state, u, i)
                s0 = lane_state[0]
                s1 = lane_state[1]
                s2 = lane_state[2]
                s3 = lane_state[3]
            out[r, l] = value
        states[0, l] = s0
        states[1, l] = s1
        states[2, l] = s2
        states[3, l] = s3


@jit
def fill_normal(state, out):
    """Fill the vector ``out`` with independent standard normals from the stream ``state``.

    The one-lane case of :func:`fill_normal_lanes`, so both draw the same numbers.
    """
    # with one lane the scratch may be the state itself: the loop keeps the state in registers
    # and writes it back before and after each miss, in order
    fill_normal_lanes(state.reshape((STATE_WORDS, 1)), out.reshape((out.shape[0], 1)), state)


@jit(inline=True)
def fill_sphere(state, out):
    """Fill ``out`` (length ``d``) with a uniform point on the unit sphere ``S^(d-1)``."""
    while True:
        fill_normal(state, out)
        sq = 0.0
        for i in range(out.shape[0]):
            sq += out[i] * out[i]
        if sq > 0.0:  # an all-zero draw has probability zero; redraw rather than divide by 0
            break
    inv = 1.0 / np.sqrt(sq)
    for i in range(out.shape[0]):
        out[i] *= inv


@jit(inline=True)
def fill_ball_lanes(states, radius, out, scratch, lane_state, scale):
    """Fill ``out`` (shape ``(d, n)``) with uniform points in the ball of ``radius``, column ``l``
    from stream ``l``.

    The exact construction without a power (docs/mathematics.md, "Geometry and noise"): the first
    ``d`` coordinates of a uniform point on ``S^(d+1)``, that is ``d + 2`` normals scaled by
    ``radius / ||z||``. ``scratch`` has shape ``(d + 2, n)`` and may hold ``out`` as its first
    ``d`` rows; ``scale`` is scratch of length ``n``; ``states`` and ``lane_state`` as in
    :func:`fill_normal_lanes`. ``||z|| = 0`` has probability below ``2**-150`` and would give NaN,
    never a silent zero.
    """
    d, n = out.shape
    fill_normal_lanes(states, scratch, lane_state)
    for l in range(n):
        scale[l] = 0.0
    for i in range(d + 2):
        for l in range(n):
            scale[l] += scratch[i, l] * scratch[i, l]
    for l in range(n):
        scale[l] = radius / np.sqrt(scale[l])
    for i in range(d):
        for l in range(n):
            out[i, l] = scratch[i, l] * scale[l]


@jit(inline=True)
def fill_ball(state, radius, out, scratch):
    """Fill ``out`` (length ``d``) with a uniform point in the ball of ``radius``.

    The one-lane case of :func:`fill_ball_lanes` (so both draw the same points); ``scratch``
    must have length ``d + 2``.
    """
    d = out.shape[0]
    fill_ball_lanes(
        state.reshape((STATE_WORDS, 1)), radius, out.reshape((d, 1)), scratch.reshape((d + 2, 1)), state, np.empty(1)
    )


_ROWS_PER_TASK = 256  # rows per parallel work item: scratch is allocated once per item, not per row


@jit(parallel=True)
def _sample_rows(n, d, radius, seed, purpose):
    out = np.empty((n, d))
    for task in numba.prange((n + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK):
        state = np.empty(STATE_WORDS, dtype=np.uint64)
        scratch = np.empty(d + 2)
        for i in range(task * _ROWS_PER_TASK, min(n, (task + 1) * _ROWS_PER_TASK)):
            stream_init(state, seed, i, purpose)
            if purpose == PURPOSE_SPHERE:
                fill_sphere(state, out[i])
            elif purpose == PURPOSE_BALL:
                fill_ball(state, radius, out[i], scratch)
            else:
                fill_normal(state, out[i])
    return out


def _check_shape(n, d):
    n, d = as_int("n", n, minimum=0), as_int("d", d, minimum=1)
    check_memory("n, d", 8.0 * n * d, f"draw fewer than n = {n} rows of d = {d}")
    return n, d


def sample_sphere(n: int, d: int, seed: int) -> np.ndarray:
    """Draw ``n`` independent uniform points on the unit sphere ``S^(d-1)``.

    Parameters
    ----------
    n : int
        Number of draws (rows), ``n >= 0``.
    d : int
        Dimension of the ambient space, ``d >= 1``.
    seed : int
        Seed in ``[0, 2**64)``.

    Returns
    -------
    ndarray, shape (n, d)
        Row ``i`` is trial ``i``'s draw: it depends only on ``(seed, i)``, so
        ``sample_sphere(10, d, s)[3] == sample_sphere(1000, d, s)[3]``. It is also the initial
        ``w`` of trial ``i`` in the trial engine.
    """
    n, d = _check_shape(n, d)
    return _sample_rows(n, d, 0.0, np.uint64(as_seed("seed", seed)), PURPOSE_SPHERE)


def sample_ball(n: int, d: int, radius: float, seed: int) -> np.ndarray:
    """Draw ``n`` independent uniform points in the ball ``B^d(radius)``.

    Parameters
    ----------
    n : int
        Number of draws (rows), ``n >= 0``.
    d : int
        Dimension, ``d >= 1``.
    radius : float
        Radius of the ball, ``>= 0``.
    seed : int
        Seed in ``[0, 2**64)``.

    Returns
    -------
    ndarray, shape (n, d)
        Row ``i`` depends only on ``(seed, i)``; it is the initial ``a`` of trial ``i`` in the
        trial engine when ``radius`` is that engine's start radius.
    """
    n, d = _check_shape(n, d)
    radius = as_float("radius", radius, minimum=0.0)
    return _sample_rows(n, d, radius, np.uint64(as_seed("seed", seed)), PURPOSE_BALL)


def sample_normal(n: int, d: int, seed: int) -> np.ndarray:
    """Draw an ``(n, d)`` array of independent standard normals; row ``i`` depends on ``(seed, i)``.

    Parameters
    ----------
    n : int
        Number of rows, ``n >= 0``.
    d : int
        Normals per row, ``d >= 1``.
    seed : int
        Seed in ``[0, 2**64)``.

    Returns
    -------
    ndarray, shape (n, d)
    """
    n, d = _check_shape(n, d)
    return _sample_rows(n, d, 0.0, np.uint64(as_seed("seed", seed)), PURPOSE_NORMAL)
