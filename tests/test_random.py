"""Per-trial random streams: exact bits, laws, and independence from threads and n."""

import math
import os

import numba
import numpy as np
import pytest
from conftest import PURE_PYTHON, mc_size
from hypothesis import example, given
from hypothesis import strategies as st
from reference import log_unit as ref_log_unit
from reference import normals as ref_normals
from reference import sincos_turn as ref_sincos_turn
from scipy import stats
from threads import with_threads

import pgd_bench as pb
from pgd_bench._threads import run_ranges
from pgd_bench.streams import _ROWS_PER_THREAD, _log_unit, _sincos_turn

P_FLOOR = 1e-4  # a correct sampler fails one of these KS tests with probability 1e-4


@pytest.mark.parametrize("seed,trial,d", [(0, 0, 9), (7, 3, 8), (2**64 - 1, 999, 1)])
def test_normal_stream_matches_a_pure_python_definition_bit_for_bit(seed, trial, d):
    got = pb.sample_normal(trial + 1, d, seed)[trial]
    assert got.tobytes() == ref_normals(seed, trial, 2, d).tobytes()


def _check_log(m):
    x = m * 2.0**-53  # every uniform the normals take a log of is such an x, m in [1, 2^53]
    got = _log_unit(x)
    assert got == ref_log_unit(x)  # the branch-free form is the reference's, bit for bit
    assert abs(got - math.log(x)) <= np.spacing(abs(math.log(x)))  # and within 1 ulp of libm


@example(1)
@example(2**53)
@given(st.integers(1, 2**53))
def test_the_normals_log_is_within_one_ulp_of_libm(m):
    _check_log(m)


def test_the_normals_log_on_every_exponent_and_around_its_reduction():
    """Uniform integers rarely hit small x: here every binade of (0, 1], its ends, the
    sqrt(2) threshold of the reduction and random mantissas."""
    rng = np.random.default_rng(0)
    for bits in range(1, 54):
        low = 2 ** (bits - 1)
        edge = int(math.sqrt(2) * low)
        ms = {low, low + 1, 2 * low - 1, edge - 1, edge, edge + 1, *rng.integers(low, 2 * low, 200).tolist()}
        for m in ms:
            if 1 <= m <= 2**53:
                _check_log(m)


def _check_sincos(u):
    c, s = _sincos_turn(u)
    assert (c, s) == ref_sincos_turn(u)
    # the kernels on the exactly reduced turn t = u - q/4, |t| <= 1/8: within 3e-16 of libm there
    q = math.floor(4 * u + 0.5)
    t = u - q / 4
    exact = [(math.cos, math.sin), (lambda x: -math.sin(x), math.cos)][q % 2]
    sign = -1.0 if q % 4 in (2, 3) else 1.0
    assert abs(c - sign * exact[0](2 * math.pi * t)) <= 3e-16 and abs(s - sign * exact[1](2 * math.pi * t)) <= 3e-16
    # and the quadrant: libm on the unreduced 2 pi u, whose own rounding costs up to 2 pi 2^-53 near u = 1
    assert abs(c - math.cos(2 * math.pi * u)) <= 1.1e-15 and abs(s - math.sin(2 * math.pi * u)) <= 1.1e-15
    assert abs(c * c + s * s - 1.0) <= 4e-16


@given(st.integers(0, 2**53 - 1))
def test_the_normals_cos_and_sin_are_within_a_few_ulp_of_libm(m):
    _check_sincos(m * 2.0**-53)


@pytest.mark.parametrize("eighth", range(9))
def test_the_normals_cos_and_sin_at_the_quadrant_switches(eighth):
    """At u = j/8 the reduction switches quadrant (odd j) or crosses an axis (even j)."""
    for offset in (-2, -1, 0, 1, 2):
        m = eighth * 2**50 + offset
        if 0 <= m < 2**53:
            _check_sincos(m * 2.0**-53)


def test_normals_have_the_standard_normal_moments_to_fourth_order():
    z = pb.sample_normal(mc_size(200_000), 7, seed=21).ravel()  # odd rows: the dropped sines too
    n = z.size
    # each sample moment against its exact value, within 5 standard errors (Var z^k = E z^2k - (E z^k)^2)
    for k, exact, var in [(1, 0.0, 1.0), (2, 1.0, 2.0), (3, 0.0, 15.0), (4, 3.0, 96.0)]:
        assert abs(np.mean(z**k) - exact) <= 5 * np.sqrt(var / n), k


@pytest.mark.parametrize("d", [1, 2, 6, 9])
def test_ball_draws_follow_the_uniform_law(d):
    rho = 2.5
    n = mc_size(40_000)
    x = pb.sample_ball(n, d, rho, seed=11)
    r = np.linalg.norm(x, axis=1)
    assert np.all(r <= rho)
    # radial law P(|x| <= r) = (r/rho)^d, so (|x|/rho)^d is uniform on [0, 1]
    assert stats.kstest((r / rho) ** d, "uniform").pvalue > P_FLOOR
    se = rho / np.sqrt(n)
    assert np.all(np.abs(x.mean(axis=0)) <= 5 * se)
    sq = r**2
    assert abs(sq.mean() - rho**2 * d / (d + 2)) <= 5 * sq.std(ddof=1) / np.sqrt(n)
    # directions are uniform: the first coordinate of x/|x| has the law of a sphere coordinate
    if d >= 2:
        u = x[:, 0] / r
        assert stats.kstest(u, stats.beta((d - 1) / 2, (d - 1) / 2, loc=-1, scale=2).cdf).pvalue > P_FLOOR


@pytest.mark.parametrize("d", [1, 3, 6])
def test_sphere_draws_are_unit_and_centred(d):
    n = mc_size(40_000)
    x = pb.sample_sphere(n, d, seed=5)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-14)
    assert np.all(np.abs(x.mean(axis=0)) <= 5 / np.sqrt(n))
    # uniform on the sphere: each coordinate's second moment is 1/d
    np.testing.assert_allclose((x**2).mean(axis=0), 1.0 / d, atol=5 * np.sqrt(2.0 / n))


def test_normals_follow_the_standard_normal_law():
    z = pb.sample_normal(mc_size(20_000), 6, seed=3).ravel()
    assert stats.kstest(z, "norm").pvalue > P_FLOOR
    # the two normals of one Box-Muller pair (columns 2i, 2i + 1 of a row of even length) are
    # uncorrelated, and so are their squares (a wrong radius or angle would couple them)
    cos_rows, sin_rows = z[0::2], z[1::2]
    bound = 5 / np.sqrt(cos_rows.size)
    assert abs(np.corrcoef(cos_rows, sin_rows)[0, 1]) < bound
    assert abs(np.corrcoef(cos_rows**2, sin_rows**2)[0, 1]) < bound


@given(st.integers(1, 300), st.integers(1, 8), st.integers(0, 2**64 - 1))
def test_row_i_does_not_depend_on_n(n, d, seed):
    big = pb.sample_ball(n + 50, d, 1.5, seed)
    np.testing.assert_array_equal(pb.sample_ball(n, d, 1.5, seed), big[:n])
    np.testing.assert_array_equal(pb.sample_sphere(n, d, seed), pb.sample_sphere(n + 7, d, seed)[:n])


def test_seeds_and_purposes_give_different_streams():
    a = pb.sample_normal(100, 4, seed=1)
    assert not np.array_equal(a, pb.sample_normal(100, 4, seed=2))
    assert not np.array_equal(pb.sample_sphere(100, 4, seed=1), a / np.linalg.norm(a, axis=1, keepdims=True))
    # trials are independent: neighbouring rows are uncorrelated
    z = pb.sample_normal(mc_size(20_000), 2, seed=9)
    assert abs(np.corrcoef(z[:-1, 0], z[1:, 0])[0, 1]) < 5 / np.sqrt(z.shape[0])


# without the JIT the samplers' ranges run the same Python on any thread count: 16 of the plain-Python
# pass's 30 s went to these, for lines the other samplers' tests cover
@pytest.mark.skipif(PURE_PYTHON, reason="the JIT is disabled: no compiled kernels to compare across threads")
@pytest.mark.parametrize("sampler", ["sphere", "ball", "normal"])
def test_identical_bits_whatever_the_thread_count(sampler):
    n = 2 * _ROWS_PER_THREAD + 3  # large enough for ranges on two threads, uneven
    call = {
        "sphere": lambda: pb.sample_sphere(n, 6, 42),
        "ball": lambda: pb.sample_ball(n, 6, 3.0, 42),
        "normal": lambda: pb.sample_normal(n, 6, 42),
    }[sampler]
    one = with_threads(1, call)
    many = with_threads(numba.config.NUMBA_NUM_THREADS, call)
    assert one.tobytes() == many.tobytes()


@given(st.integers(0, 50), st.integers(-1, 8))
def test_ranges_on_threads_cover_every_item_once_in_order(n, threads):
    from pgd_bench._threads import PIECES_PER_THREAD

    ranges = run_ranges(lambda first, last: (first, last), n, threads)
    used = max(1, min(threads, n, os.cpu_count()))
    assert len(ranges) == (1 if used == 1 else max(used, min(PIECES_PER_THREAD * used, n)))
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(first < last for first, last in ranges) or n == 0  # no empty range, but for no items
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous: no item skipped or repeated


def test_ranges_finish_those_running_when_one_raises_start_no_more_and_run_nested_calls_in_place():
    import threading
    import time

    started, finished = [], []

    def call(first, last):
        started.append(first)
        if first == 0:
            time.sleep(0.05)  # the other thread has taken a range by then
            raise ValueError("first range")
        time.sleep(0.2)  # a slower range that must finish before the error reaches the caller
        inner = run_ranges(lambda f, l: (f, l, threading.current_thread().name), 10, 4)  # nested
        finished.append((first, last, inner, threading.current_thread().name))

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: run_ranges runs one range")
    with pytest.raises(ValueError, match="first range"):
        run_ranges(call, 100, 2)
    ((first, last, inner, name),) = finished  # the one range that was running: finished
    assert sorted(started) == [0, first] and inner == [(0, 10, name)]  # none after; nested: in place


def test_of_several_failing_ranges_the_lowest_ones_error_is_raised_whatever_the_threads():
    """The first worker's error was raised: a later range that failed sooner won, so the error (for
    example the Hessian row a sharpness overflow names) depended on the thread count and timing."""
    import time

    def call(first, last):
        for item in range(first, last):
            if item == 1:
                time.sleep(0.1)
                raise ValueError("item 1")
            if item == 2:
                raise ValueError("item 2")

    for threads in (1, 2):
        with pytest.raises(ValueError, match="item 1"):
            run_ranges(call, 16, threads)


def test_an_interrupted_caller_leaves_no_range_running_and_starts_no_more(monkeypatch):
    """A Ctrl-C while the caller waited left the ranges running: both cores busy for seconds after
    the call had returned, and the next call waited behind them."""
    import concurrent.futures
    import time

    import pgd_bench._threads as threads_module

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: run_ranges runs one range")
    running, calls = [0], []

    def call(first, last):
        running[0] += 1
        calls.append(first)
        time.sleep(0.0005 * (last - first))  # 0.25 s for a thread's whole share, 0.03 s for a piece
        running[0] -= 1

    def interrupted_wait(futures, *args, **kwargs):  # the caller's wait, interrupted as by Ctrl-C
        monkeypatch.setattr(threads_module, "wait", concurrent.futures.wait)
        time.sleep(0.12)
        raise KeyboardInterrupt

    monkeypatch.setattr(threads_module, "wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        run_ranges(call, 1000, 2)
    assert running[0] == 0 and 2 <= len(calls) < 16  # those running finished; not the 16 ranges
    count = len(calls)
    time.sleep(0.2)
    assert len(calls) == count  # and none started since


def test_the_samplers_rows_are_the_same_in_any_ranges():
    from pgd_bench.streams import PURPOSE_BALL, _fill_rows

    whole, parts = np.empty((1000, 5)), np.empty((1000, 5))
    _fill_rows(whole, 0, 1000, 2.0, np.uint64(7), PURPOSE_BALL)
    for first, last in ((0, 1), (1, 333), (333, 999), (999, 1000)):
        _fill_rows(parts, first, last, 2.0, np.uint64(7), PURPOSE_BALL)
    assert whole.tobytes() == parts.tobytes() == pb.sample_ball(1000, 5, 2.0, 7).tobytes()


def test_zero_radius_ball_is_the_origin_and_n_zero_is_empty():
    np.testing.assert_array_equal(pb.sample_ball(4, 3, 0.0, 1), np.zeros((4, 3)))
    assert pb.sample_sphere(0, 3, 1).shape == (0, 3)
