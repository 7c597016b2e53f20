"""Per-trial random streams: xoshiro256++ seeded from ``(seed, trial, purpose)``.

Every trial owns its streams. A stream's state is four ``uint64`` words derived by a
splitmix64 hash chain from the triple ``(seed, trial, purpose)``, so the draws of trial ``i``
depend only on that triple: never on the thread count, on chunking, or on which other trials run
(docs/design.md, "Streams and determinism"). Numba's global ``np.random`` is never used, because its
per-thread state would make results depend on the thread count.

xoshiro256++ (Blackman and Vigna, 2019) has period ``2**256 - 1``; streams seeded at hashed
positions overlap with negligible probability. Normals use Box-Muller with fdlibm's log, sin and
cos written without branches, so that all lanes (trials) of a block draw at once in SIMD
(:func:`fill_normal_lanes`); uniform points in a ball use the exact construction without a
power: the first ``d`` coordinates of a uniform point on ``S^(d+1)`` (docs/mathematics.md, "Geometry and
noise").

Stream versions (:data:`STREAM_VERSION`): 1 drew normals with a ziggurat, one stream at a time;
2 draws them with the vectorised Box-Muller (1.7x faster per normal). Same generator, seeding and
laws; other numbers for a seed.

Stream purposes keep unrelated draws independent and make the engine's starts reproducible from the
public samplers: trial ``i``'s initial ``w`` is ``sample_sphere(n, p, seed)[i]`` and its initial
``a`` is ``sample_ball(n, k, radius, seed)[i]``.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

from ._jit import jit
from ._threads import run_ranges
from ._validate import as_float, as_int, as_seed, check_memory

# The definition of every stream and sampler above: raise it whenever a seed would give other
# draws (another generator, normal method or ball construction). Results carry it in their data,
# their JSON summary and their cache keys.
STREAM_VERSION = 2

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
INV_2_53 = 1.0 / 9007199254740992.0


# the laws of a perturbation: uniform in a ball, or Gaussian of the same mean square (engine, dissipativity)
NOISE_BALL = 0
NOISE_GAUSSIAN = 1
NOISE_LAWS = ("ball", "gaussian")


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
def xoshiro_next(s0, s1, s2, s3):
    """One xoshiro256++ step on a state held in four scalars: ``(result, s0, s1, s2, s3)``.

    Loops that draw many numbers from one stream keep the state in scalars with this form (an
    array state would be reloaded after every store to an output array that the compiler cannot
    prove distinct from it); :func:`fill_normal_lanes` loads and stores each lane's state once
    per pair, because its loop runs over the lanes.
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


# fdlibm's polynomial coefficients (e_log.c, k_sin.c, k_cos.c): the normals' log, sin and cos
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LG1, _LG2, _LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
_LG4, _LG5, _LG6 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_S1, _S2, _S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
_S4, _S5, _S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
_C1, _C2, _C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
_C4, _C5, _C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11
_TWO_PI = 2.0 * math.pi
_SQRT2 = 1.4142135623730951
_MANTISSA = 0x000FFFFFFFFFFFFF
_EXPONENT_ZERO = 0x3FF0000000000000  # the bits of 1.0


def _bits_of(x):
    """The IEEE bits of the double ``x`` as an ``int64``."""
    return int(np.float64(x).view(np.int64))


def _double_of(bits):
    """The double whose IEEE bits are the ``int64`` ``bits``."""
    return float(np.int64(bits).view(np.float64))


# Compiled, both are one register move that vectorises (LLVM's bitcast); the Python bodies above
# serve NUMBA_DISABLE_JIT runs, where an intrinsic cannot be called.
@intrinsic
def _bitcast_to_int64(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bitcast_to_float64(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@overload(_bits_of)
def _bits_of_compiled(x):
    return lambda x: _bitcast_to_int64(x)


@overload(_double_of)
def _double_of_compiled(bits):
    return lambda bits: _bitcast_to_float64(bits)


@jit
def _log_unit(x):
    """``log(x)`` for a normal double ``x`` in ``(0, 1]``, adapted from fdlibm's ``__ieee754_log``.

    The exponent and mantissa are taken from the bits and the reduction to ``[sqrt(2)/2, sqrt(2)]``
    is a select, so that LLVM vectorises a loop of these across lanes (libm's ``log`` is called
    one value at a time). fdlibm's polynomial, but not its branches: the reduction threshold is
    ``m > sqrt(2)`` exactly (fdlibm tests the high word), there is no fast path for tiny ``f``, and
    the sum is ``s (hfsq + t2 + t1)`` in that order. Within 1 ulp of libm for every ``x`` the
    normals use (tests/test_random.py). Only ``+ - * /`` in a fixed order, so the same bits on
    every IEEE machine: this evaluation order is part of the stream definition, and changing it
    (even to match fdlibm) needs a new :data:`STREAM_VERSION`.
    """
    bits = _bits_of(x)
    e = ((bits >> 52) & 0x7FF) - 1023
    m = _double_of((bits & _MANTISSA) | _EXPONENT_ZERO)  # x = m 2^e, m in [1, 2)
    high = m > _SQRT2
    m = 0.5 * m if high else m
    e = e + 1 if high else e
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    dk = np.float64(e)
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + t2 + t1) + dk * _LN2_LO)) - f)


@jit
def _sincos_turn(u):
    """``(cos(2 pi u), sin(2 pi u))`` for ``u`` in ``[0, 1)``, without branches.

    The quadrant comes from ``u`` itself (``u - q/4`` is exact), then the polynomials of fdlibm's
    ``__kernel_sin`` and ``__kernel_cos`` (Horner form, no tail term) on ``[-pi/4, pi/4]``:
    within 3e-16 of libm on the reduced turn, and vectorisable. As for :func:`_log_unit`, the
    evaluation order is part of the stream definition.
    """
    q = np.floor(4.0 * u + 0.5)  # the nearest quarter turn, 0..4 (4 is quadrant 0)
    x = _TWO_PI * (u - 0.25 * q)
    z = x * x
    sin_x = x + x * z * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))))
    r = z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6)))))
    hz = 0.5 * z
    w = 1.0 - hz
    cos_x = w + (((1.0 - w) - hz) + z * r)
    first = q == 0.0 or q == 4.0
    c = cos_x if first else (-sin_x if q == 1.0 else (-cos_x if q == 2.0 else sin_x))
    s = sin_x if first else (cos_x if q == 1.0 else (-sin_x if q == 2.0 else -cos_x))
    return c, s


@jit(inline=True)
def fill_normal_lanes(states, out):
    """Fill ``out`` (shape ``(m, n)``) with standard normals, column ``l`` from stream ``l``.

    ``states`` has shape ``(STATE_WORDS, n)``: one xoshiro256++ state per lane (trial).

    Box-Muller, all lanes at once: rows ``r`` and ``r + 1`` of a lane are
    ``sqrt(-2 log x) (cos 2 pi u, sin 2 pi u)`` from two draws of its stream,
    ``x = (b1 // 2^11 + 1) 2^-53`` in ``(0, 1]`` and ``u = (b2 // 2^11) 2^-53`` in ``[0, 1)``;
    when ``m`` is odd the last pair's sine is not used. The log, sin and cos are fdlibm's
    polynomials written without branches (:func:`_log_unit`, :func:`_sincos_turn`), so the loop
    over lanes vectorises (8 lanes per AVX-512 instruction): about 1.7 ns per normal against
    2.9 for the ziggurat of stream version 1, which had to run one stream at a time (a SIMD
    ziggurat needs table gathers). Exact up to rounding (each normal within a few ulp of the
    exact transform of its uniforms); the largest normal is ``sqrt(106 log 2) = 8.57``, beyond
    which the standard normal has probability 1e-17.
    """
    m, n = out.shape
    for r in range(0, m, 2):
        for l in range(n):
            b1, s0, s1, s2, s3 = xoshiro_next(states[0, l], states[1, l], states[2, l], states[3, l])
            b2, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            states[0, l] = s0
            states[1, l] = s1
            states[2, l] = s2
            states[3, l] = s3
            x = np.float64(np.int64(b1 >> np.uint64(11)) + 1) * INV_2_53
            u = np.float64(np.int64(b2 >> np.uint64(11))) * INV_2_53
            radius = np.sqrt(-2.0 * _log_unit(x))
            c, s = _sincos_turn(u)
            out[r, l] = radius * c
            if r + 1 < m:
                out[r + 1, l] = radius * s


@jit
def fill_normal(state, out):
    """Fill the vector ``out`` with independent standard normals from the stream ``state``.

    The one-lane case of :func:`fill_normal_lanes`, so both draw the same numbers.
    """
    fill_normal_lanes(state.reshape((STATE_WORDS, 1)), out.reshape((out.shape[0], 1)))


@jit(inline=True)
def fill_sphere(state, out):
    """Fill ``out`` (length ``d``) with a uniform point on the unit sphere ``S^(d-1)``."""
    while True:
        fill_normal(state, out)
        sq = 0.0
        for i in range(out.shape[0]):
            sq += out[i] * out[i]
        # all zero: for d = 1 a lone cosine at u = 1/4 or 3/4, or x = 1 (about 3 2^-53); redraw
        # rather than divide by 0
        if sq > 0.0:
            break
    inv = 1.0 / np.sqrt(sq)
    for i in range(out.shape[0]):
        out[i] *= inv


@jit(inline=True)
def fill_ball_lanes(states, radius, out, scratch, scale):
    """Fill ``out`` (shape ``(d, n)``) with uniform points in the ball of ``radius``, column ``l``
    from stream ``l``.

    The exact construction without a power (docs/mathematics.md, "Geometry and noise"): the first
    ``d`` coordinates of a uniform point on ``S^(d+1)``, that is ``d + 2`` normals scaled by
    ``radius / ||z||``. ``scratch`` has shape ``(d + 2, n)`` and may hold ``out`` as its first
    ``d`` rows; ``scale`` is scratch of length ``n``; ``states`` as in :func:`fill_normal_lanes`.
    ``||z|| = 0`` (every pair drawn at ``x = 1``, or for odd ``d`` the lone last cosine at
    ``u = 1/4`` or ``3/4``) has probability about ``2**-104`` at most and would give NaN, never a
    silent zero.
    """
    d, n = out.shape
    fill_normal_lanes(states, scratch)
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
        state.reshape((STATE_WORDS, 1)), radius, out.reshape((d, 1)), scratch.reshape((d + 2, 1)), np.empty(1)
    )


@jit(nogil=True)
def _fill_rows(out, first, last, radius, seed, purpose):
    """Rows ``first .. last - 1`` of ``out``: row ``i`` from the stream ``(seed, i, purpose)``."""
    d = out.shape[1]
    state = np.empty(STATE_WORDS, dtype=np.uint64)
    scratch = np.empty(d + 2)
    for i in range(first, last):
        stream_init(state, seed, i, purpose)
        if purpose == PURPOSE_SPHERE:
            fill_sphere(state, out[i])
        elif purpose == PURPOSE_BALL:
            fill_ball(state, radius, out[i], scratch)
        else:
            fill_normal(state, out[i])


_ROWS_PER_THREAD = 16_384  # rows a thread is given at least: about 4 ms of work, against 0.1 ms to hand it over


def _sample_rows(n, d, radius, seed, purpose):
    """The public samplers' rows, in ranges on threads for large draws: a serial kernel that
    releases the GIL compiles in 1.9 s (with the stream kernels it calls), where a ``prange``
    kernel took 3.1 s; it draws a row in about 230 ns, the prange kernel's per thread in 190 ns."""
    out = np.empty((n, d))
    run_ranges(lambda first, last: _fill_rows(out, first, last, radius, seed, purpose), n,
               min_per_thread=_ROWS_PER_THREAD)  # fmt: skip
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
    rows = _sample_rows(n, d, radius, np.uint64(as_seed("seed", seed)), PURPOSE_BALL)
    if not np.all(np.isfinite(rows)):  # a radius near the largest float overflows the scaling
        raise ValueError(f"radius: {radius!r} overflows float64 when the points are scaled to it")
    return rows


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
