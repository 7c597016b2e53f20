"""The dissipativity estimator: a plain NumPy Monte Carlo, the optima, and the frontier."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import population_grads
from strategies import unit_vectors, vectors
from threads import with_threads

import pgd_bench as pb
from pgd_bench.model.dissipativity import dissipativity, dissipativity_frontier


def _numpy_ratios(w, a, w_star, a_star, rho_w, rho_a, n, seed):
    """Plain Monte Carlo: ``n`` independent draws (no antithetic pairs), NumPy's generator."""
    rng = np.random.default_rng(seed)

    def ball(d, rho):
        z = rng.standard_normal((n, d + 2))
        return rho * z[:, :d] / np.linalg.norm(z, axis=1, keepdims=True)

    gw, ga = population_grads(w + ball(w.size, rho_w), a + ball(a.size, rho_a), w_star, a_star)
    tangent = gw - (gw @ w)[:, None] * w
    r_w = -(tangent @ (w_star - w)) / np.sum((w - w_star) ** 2)
    r_a = -(ga @ (a_star - a)) / np.sum((a - a_star) ** 2)
    return r_w.mean(), r_a.mean(), r_w.std(ddof=1) / np.sqrt(n), r_a.std(ddof=1) / np.sqrt(n)


@st.composite
def points(draw):
    p = draw(st.integers(2, 6))
    k = draw(st.integers(1, 6))
    w_star = draw(unit_vectors(p))
    w = draw(unit_vectors(p))
    a = draw(vectors(k))
    a_star = draw(vectors(k))
    if np.sum((w - w_star) ** 2) < 1e-6 or np.sum((a - a_star) ** 2) < 1e-6:
        w = -w_star if np.sum((w - w_star) ** 2) < 1e-6 else w
        a = a_star + 1.0 if np.sum((a - a_star) ** 2) < 1e-6 else a
    rho_w = draw(st.floats(0.0, 5.0))
    rho_a = draw(st.floats(0.0, 2.0))
    return w, a, w_star, a_star, rho_w, rho_a


@given(points(), st.integers(0, 2**32 - 1))
@settings(max_examples=25)
def test_estimates_agree_with_a_plain_numpy_monte_carlo(point, seed):
    w, a, w_star, a_star, rho_w, rho_a = point
    ours = dissipativity(w, a, w_star, a_star, rho_w, rho_a, samples=20_000, seed=seed % 1000)
    r_w, r_a, se_w, se_a = _numpy_ratios(w, a, w_star, a_star, rho_w, rho_a, 20_000, seed)
    # 5 combined standard errors, plus rounding for the noise-free case (both errors 0)
    assert abs(ours.r_w - r_w) <= 5 * np.hypot(ours.se_w, se_w) + 1e-9 * (1 + abs(r_w))
    assert abs(ours.r_a - r_a) <= 5 * np.hypot(ours.se_a, se_a) + 1e-9 * (1 + abs(r_a))


def test_without_noise_the_ratio_is_exact_with_zero_error(alternating_teacher, rng):
    w_star, a_star = alternating_teacher
    w = rng.standard_normal(6)
    w /= np.linalg.norm(w)
    a = rng.standard_normal(8)
    est = dissipativity(w, a, w_star, a_star, 0.0, 0.0, samples=1000)
    gw, ga = population_grads(w[None], a[None], w_star, a_star)
    tangent = gw[0] - (gw[0] @ w) * w
    assert est.r_w == pytest.approx(-(tangent @ (w_star - w)) / np.sum((w - w_star) ** 2), rel=1e-12)
    assert est.r_a == pytest.approx(-(ga[0] @ (a_star - a)) / np.sum((a - a_star) ** 2), rel=1e-12)
    assert est.se_w == 0.0 and est.se_a == 0.0


def test_signs_near_both_optima_without_noise(alternating_teacher, rng):
    """Near the global optimum the gradient field points to it (r > 0: r_w tends to the tangent
    curvature ||a*||^2); at the spurious optimum it vanishes (r = 0); next to it, along the sphere,
    it points back to the trap (r_w < 0)."""
    w_star, a_star = alternating_teacher
    w_bar, a_bar = pb.spurious_optimum(w_star, a_star)
    step = rng.standard_normal(6) * 1e-3
    w = (w_star + step) / np.linalg.norm(w_star + step)
    near_global = dissipativity(w, a_star + 1e-3 * rng.standard_normal(8), w_star, a_star, 0.0, 0.0)
    assert near_global.r_w == pytest.approx(a_star @ a_star, rel=1e-2) and near_global.r_a > 0
    at_spurious = dissipativity(w_bar, a_bar, w_star, a_star, 0.0, 0.0)
    assert abs(at_spurious.r_w) < 1e-12 and abs(at_spurious.r_a) < 1e-12
    tangent = np.array([0.0, 1.0, 0, 0, 0, 0]) * 0.05
    w = (w_bar + tangent) / np.linalg.norm(w_bar + tangent)
    assert dissipativity(w, a_bar, w_star, a_star, 0.0, 0.0).r_w < 0


# dissipativity's estimates as the parallel (prange) kernel gave them, before the serial one that
# runs chunk ranges on threads: the same seed must keep giving the same bits (float.hex)
PINNED = {  # (samples, law): (r_w, r_a, se_w, se_a)
    (9001, "ball"): ("0x1.6bd02d4fd08b2p-3", "0x1.89a6341b11abfp+2", "0x1.ee5913546bc22p-7",
                     "0x1.2fbabdeb1a187p-6"),
    (1000, "gaussian"): ("0x1.273c59a65bcb0p-3", "0x1.8862d6254ffecp+2", "0x1.747e39d522b38p-5",
                         "0x1.ee3a66c935860p-4"),
    (100_000, "ball"): ("0x1.95624be4e0737p-3", "0x1.8cbae17ea14b9p+2", "0x1.240e325ee9a69p-8",
                        "0x1.68ad679e05fabp-8"),
}  # fmt: skip


@pytest.mark.parametrize("samples,law", list(PINNED))
def test_estimates_are_the_bits_the_parallel_kernel_gave(alternating_teacher, samples, law):
    w_star, a_star = alternating_teacher
    w = np.array([0.0, 1, 0, 0, 0, 0])
    for threads in (1, 2):
        est = dissipativity(w, np.ones(8), w_star, a_star, 2.0, 0.5, samples=samples, seed=3, law=law, threads=threads)
        assert tuple(float(x).hex() for x in est) == PINNED[samples, law], threads


def test_same_seed_same_bits_at_any_thread_count(alternating_teacher):
    w_star, a_star = alternating_teacher
    w = np.array([0.0, 1, 0, 0, 0, 0])
    args = (w, np.ones(8), w_star, a_star, 2.0, 0.5)
    # 4501 pairs: 71 chunks, the last one short; on two threads, two ranges of chunks
    one = with_threads(1, dissipativity, *args, samples=9001, seed=3)
    two = with_threads(2, dissipativity, *args, samples=9001, seed=3)
    assert one == two
    assert dissipativity(*args, samples=9001, seed=4) != one
    gaussian = dissipativity(*args, samples=9001, seed=3, law="gaussian")
    assert gaussian != one and abs(gaussian.r_w - one.r_w) < 10 * np.hypot(gaussian.se_w, one.se_w) + 0.5


def test_frontier_is_the_smallest_gamma_for_each_c():
    r = np.array([1.0, -0.5, 2.0])
    d = np.array([0.5, 2.0, 1.0])
    c = np.array([-1.0, 0.0, 1.0, 3.0])
    gamma = dissipativity_frontier(r, d, c)
    for ci, gi in zip(c, gamma):
        assert np.all(r * d >= ci * d - gi - 1e-15)  # holds at gamma
        if gi > 0:
            assert not np.all(r * d >= ci * d - (gi - 1e-9))  # and not below it
    assert np.all(np.diff(gamma) >= 0)
    np.testing.assert_allclose(gamma, [0.0, 1.0, 3.0, 7.0])


@pytest.mark.parametrize(
    "kwargs, name",
    [({"w": np.array([2.0, 0, 0])}, "sphere"), ({"w": np.array([1.0, 0, 0])}, "differ from w"),
     ({"rho_w": -1.0}, "rho_w"), ({"samples": 1}, "samples"), ({"law": "cauchy"}, "law")],
)  # fmt: skip
def test_bad_arguments_are_refused(kwargs, name):
    args = dict(w=np.array([0.0, 1.0, 0.0]), a=np.ones(2), w_star=np.array([1.0, 0, 0]), a_star=np.zeros(2),
                rho_w=1.0, rho_a=1.0)  # fmt: skip
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        dissipativity(**args)


@pytest.mark.parametrize(
    "fit,predicted,words,verdict",
    [
        ((-0.9, -1.2, -0.7), -1.0, "consistent", "holds"),
        ((0.5, -0.2, 1.3), 1.0, "consistent", "holds"),
        ((-0.35, -0.62, -0.11), 1.0, "opposite in sign", "holds partly"),  # T1 falls with k where the bound grows
        ((0.3, 0.1, 0.5), -1.0, "opposite in sign", "holds partly"),
        ((-0.62, -0.79, -0.46), -1.0, "weaker than predicted, 62% of it", "holds partly"),
        ((0.39, 0.13, 0.66), 1.0, "weaker than predicted, 39% of it", "holds partly"),
        ((0.02, 0.004, 0.03), 1.0, "weaker than predicted, 2% of it", "holds partly"),
        ((0.2, -0.1, 0.5), 1.0, "no dependence detected", "holds partly"),  # across 0, not opposite
        ((-1.8, -2.0, -1.5), -1.0, "stronger", "does not hold here"),
        ((1.6, 1.2, 2.0), 1.0, "stronger", "does not hold here"),
    ],
)
def test_a_fitted_exponent_gets_one_verdict_by_the_stated_rule_and_words_that_agree(fit, predicted, words, verdict):
    """The reader's review: a reversed dependence got *does not hold here* while a weaker one got
    *holds partly*, though the theorems' O-bounds allow both. One rule now decides: the interval
    against the bound's exponent (contains it, lies on the bound's side, lies beyond), the same
    for T1 and T2, and the words beside it say the same."""
    from pgd_bench.report.context import exponent_verdict
    from pgd_bench.report.theory_measures import slope_verdict

    assert slope_verdict(*fit, predicted).startswith(words)
    assert exponent_verdict(fit[1], fit[2], predicted) == verdict
    assert ("bound is kept" in slope_verdict(*fit, predicted)) == (verdict == "holds partly")
    assert exponent_verdict(float("nan"), 1.0, predicted) == "not measured"
    with pytest.raises(ValueError, match="nonzero exponent"):  # an O(1) bound has no side to keep
        exponent_verdict(0.5, 2.0, 0.0)


@pytest.mark.parametrize(
    "share,strong,verdict",
    [
        ((0.59, 0.57, 0.60, 5067), 0.5, "holds"),  # narrow, above 1/2: C2 along the run
        ((0.65, 0.41, 0.83, 17), 0.5, "inconclusive"),  # higher, but its interval holds 1/2
        ((0.30, 0.20, 0.45, 60), 0.5, "does not hold here"),
        ((0.95, 0.93, 0.97, 900), 0.9, "holds"),
        ((0.80, 0.75, 0.85, 900), 0.9, "holds partly"),  # most, not almost all
        ((0.80, 0.45, 0.95, 10), 0.9, "inconclusive"),
        ((0.80, 0.55, 0.95, 40), 0.9, "holds partly"),  # most for sure, maybe almost all: the weaker claim holds
        ((0.55, 0.5, 0.6, 999), 0.5, "inconclusive"),  # an end on the threshold does not lie above it
        ((0.95, 0.9, 0.99, 999), 0.9, "holds partly"),
        ((float("nan"), float("nan"), float("nan"), 0), 0.5, "not measured"),
    ],
)
def test_a_share_gets_its_verdict_from_its_interval_against_one_half(share, strong, verdict):
    from pgd_bench.report.context import share_verdict

    assert share_verdict(share, strong) == verdict


@pytest.mark.parametrize(
    "better,worse,tied,verdict",
    [
        (4, 0, 0, "holds"),
        (1, 0, 3, "holds partly"),
        (1, 2, 1, "holds partly"),
        (0, 4, 0, "does not hold here"),
        (0, 1, 3, "inconclusive"),
        (0, 0, 4, "inconclusive"),
        (0, 0, 0, "not measured"),
    ],
)
def test_noisy_label_generalization_is_inconclusive_where_every_comparison_overlaps(better, worse, tied, verdict):
    """It read *does not hold here* with 4 of 4 comparisons overlapping: nothing was decided. With
    one larger and three overlapping, those three might be smaller: still undecided."""
    from pgd_bench.report.sections.observations import comparison_verdict

    assert comparison_verdict(better, worse, tied) == verdict


@pytest.mark.parametrize(
    "first,second,verdict",
    [
        (True, True, "holds"),
        (True, False, "holds partly"),
        (False, True, "holds partly"),
        (False, False, "does not hold here"),
        (True, None, "holds partly"),
        (False, None, "inconclusive"),
    ],
)
def test_an_observation_row_with_an_undecided_part_is_inconclusive_only_if_its_other_part_fails(first, second, verdict):
    """45% against 38% trapped, of 100 trials each, counted as "trapped more often": the intervals
    overlap, so that part is undecided (and the row's verdict with it, unless its other part holds)."""
    from pgd_bench.report.context import interval_above as trapped_more  # one trapped share against another
    from pgd_bench.report.sections.observations import _at_most, two_part_verdict

    assert two_part_verdict(first, second) == verdict
    # an inconclusive row says it can at most hold partly (its first part failed)
    assert ("at most *holds partly*" in _at_most(first, second)) == (verdict == "inconclusive")
    assert trapped_more((0.36, 0.55), (0.29, 0.48)) is None
    assert trapped_more((0.50, 0.60), (0.29, 0.48)) is True
    assert trapped_more((0.10, 0.20), (0.29, 0.48)) is False


def test_epoch_two_exponent_recovers_a_power_law_and_its_interval_narrows_with_less_scatter():
    """Synthetic Epoch II lengths whose rate is exactly c * value^e: the fit returns e inside its
    interval; with scatter across trials, the interval contains e and is wider."""
    from pgd_bench.report.theory_measures import T2_GAMMAS, t2_exponent

    values = np.array([3.0, 6.0, 12.0])
    x = np.log(1.0 / np.array(T2_GAMMAS))
    rng = np.random.default_rng(5)
    exact = [np.tile(40.0 * v**0.7 * x, (20, 1)) for v in values]
    e, low, high = t2_exponent(values, exact, np.random.default_rng(0), n_boot=200)
    assert [e, low, high] == pytest.approx([0.7, 0.7, 0.7], abs=1e-9)
    noisy = [rows * rng.lognormal(0.0, 0.3, (rows.shape[0], 1)) for rows in exact]
    e, low, high = t2_exponent(values, noisy, np.random.default_rng(0), n_boot=400)
    assert low < 0.7 < high and 0.01 < high - low < 1.0 and low <= e <= high
    # a setting with fewer than three trials has no rate; two settings are left to fit (the short one
    # is off the power law: fitted, it would move the exponent)
    short = exact[2][:2] * 5.0
    e2, low2, high2 = t2_exponent(values, [exact[0], exact[1], short], np.random.default_rng(0), n_boot=50)
    assert [e2, low2, high2] == pytest.approx([0.7, 0.7, 0.7], abs=1e-9)
    e3, *_ = t2_exponent(values, [exact[0], exact[1], exact[2][:3] * 5.0], np.random.default_rng(0), n_boot=50)
    assert e3 > 1.0  # (with three trials it is fitted)
    assert np.isnan(t2_exponent(values, [exact[0], exact[1][:2], exact[2][:1]], np.random.default_rng(0))[0])


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one Numba thread: no second to compare with")
def test_the_ratios_along_a_run_are_the_same_bits_on_one_thread_and_two():
    """The theory section's estimates, one per recorded trial and checkpoint, run on threads."""
    import pgd_bench as pb
    from pgd_bench.report.theory_measures import dissipativity_ratios

    config = pb.resolve_config(algorithm="pgd", trials=5, epochs=2, iterations=100, record_states=5,
                               checkpoint_every=20)  # fmt: skip
    result = pb.run(config)
    one = with_threads(1, dissipativity_ratios, result, 200, 7)
    two = with_threads(2, dissipativity_ratios, result, 200, 7)
    assert one.shape == (4, 5, 11) and np.isfinite(one).sum() > 100
    np.testing.assert_array_equal(one, two)


def test_the_estimates_at_many_points_are_each_points_own_estimate_to_the_bit():
    """dissipativity_at_points against one dissipativity call per point (its reference), with each
    point's own radii and seed, on one thread and on two."""
    from pgd_bench.model.dissipativity import dissipativity_at_points

    rng = np.random.default_rng(5)
    w_star, a_star = np.eye(6)[0], np.linspace(-1.0, 2.0, 4)
    w = rng.standard_normal((7, 6))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    a = rng.standard_normal((7, 4))
    rho_w, rho_a = rng.uniform(0.0, 3.0, 7), np.array([0.0, 0.5, 1.0, 1.5, 2.0, 0.1, 4.0])
    seeds = [0, 1, 2**64 - 1, 12, 12, 99, 2**40]
    expected = np.array([dissipativity(w[i], a[i], w_star, a_star, rho_w[i], rho_a[i], samples=301, seed=seeds[i],
                                       threads=1) for i in range(7)])  # fmt: skip
    for threads in (1, 2):
        got = dissipativity_at_points(w, a, w_star, a_star, rho_w, rho_a, 301, seeds, threads=threads)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"w": np.array([[2.0, 0, 0]])}, "sphere"), ({"w": np.array([[1.0, 0, 0]])}, "equal w"),
     ({"w": np.array([[np.nan, 1.0, 0]])}, "finite"), ({"a": np.ones((2, 2))}, "shape"),
     ({"rho_w": [-1.0]}, r"rho_w: expected finite radii >= 0, got -1.0 at point 0"),
     ({"rho_w": [np.nan]}, "rho_w: expected finite radii >= 0, got nan"),  # it said "got shape (1,)"
     ({"rho_a": [1.0, 1.0]}, "rho_a: expected 1 radii, one per point"), ({"seeds": [-1]}, r"seeds\[0\]"),
     ({"seeds": [1, 2]}, "one per point"), ({"seeds": 3}, "one per point"), ({"samples": 10**15}, "samples"),
     ({"samples": 1}, "samples"), ({"law": "cauchy"}, "law")],
)  # fmt: skip
def test_bad_points_are_refused(kwargs, name):
    from pgd_bench.model.dissipativity import dissipativity_at_points

    args = dict(w=np.array([[0.0, 1.0, 0.0]]), a=np.ones((1, 2)), w_star=np.array([1.0, 0, 0]), a_star=np.zeros(2),
                rho_w=[1.0], rho_a=[1.0], samples=100, seeds=[3])  # fmt: skip
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        dissipativity_at_points(**args)


@pytest.mark.parametrize("with_fits", [True, False])
def test_figure_8_writes_each_epoch_two_exponent_with_its_interval_or_without_from_an_older_folder(with_fits):
    """Epoch II's exponents now have bootstrap intervals, saved as their own table; a folder written
    before it has no such table, and `pgd-bench plot` on it failed with a KeyError (found on a run
    that straddled the change). Both draw, each with what it has."""
    from pgd_bench.report.sections.theory import T1_PREDICTED, T2_PREDICTED, draw_theorem_scalings

    values = np.array([0.003, 0.01, 0.03, 3.0, 6.0, 12.0])
    tables = {
        "t1": {"sweep": np.array(["eta"] * 3), "value": values[:3], "t1": np.array([900.0, 300.0, 100.0])},
        "t1_fits": {"sweep": np.array(["eta"]), "slope": np.array([-0.95]), "low": np.array([-1.1]),
                    "high": np.array([-0.8])},
        "t2": {"sweep": np.array(["eta"] * 3 + ["p"] * 3), "value": values,
               "rate": np.array([3000.0, 900.0, 300.0, 50.0, 51.0, 52.0]), "low": np.full(6, 1.0),
               "high": np.full(6, 5000.0)},
    }  # fmt: skip
    if with_fits:
        tables["t2_fits"] = {"sweep": np.array(["eta", "p"]), "exponent": np.array([-1.0, 0.02]),
                             "low": np.array([-1.02, 0.004]), "high": np.array([-0.99, 0.03])}  # fmt: skip
    settings = {"t1_sweeps": ["eta"], "t2_sweeps": ["eta", "p"], "predicted": dict(T1_PREDICTED)}
    if with_fits:
        settings["t2_predicted"] = dict(T2_PREDICTED)
    else:  # as such a folder wrote it: one set of exponents, without T1's log factor
        settings["predicted"] = {"eta": -1.0, "k": 1.0, "p": 1.0}
    fig = draw_theorem_scalings(tables, settings)
    legend = fig.axes[5].texts[0].get_text()
    if with_fits:
        assert "Epoch II rate vs eta: -1.00 [-1.02, -0.99]; predicted -1" in legend
        assert "Epoch II rate vs p: +0.02 [+0.00, +0.03]; predicted +1" in legend
    else:  # the point fit of the saved rates, as before the intervals
        slope = np.polyfit(np.log(values[:3]), np.log([3000.0, 900.0, 300.0]), 1)[0]
        assert f"Epoch II rate vs eta: {slope:+.2f}; predicted -1" in legend


def test_a_share_over_trials_and_checkpoints_gets_an_interval_from_its_trials_not_its_pairs():
    """C2 along the run: 59% [57, 60] of 5067 (trial, checkpoint) pairs from 47 trials, a Wilson
    interval as if every pair were independent. Trials that each hold the condition at every
    checkpoint or at none: the pairs say nothing more than the trials, and the interval is that
    of 20 draws, not of 2000."""
    from pgd_bench.report.context import share_verdict
    from pgd_bench.report.theory_measures import clustered_fraction, percent, verdict_fraction

    values = np.repeat(np.array([1.0] * 12 + [0.0] * 8)[:, None], 100, axis=1)
    values[0, :10] = np.nan  # undecided pairs are left out
    share, low, high, n = clustered_fraction(values, np.random.default_rng(0))
    assert n == 1990 and share == pytest.approx(1190 / 1990)
    naive = verdict_fraction(values.ravel())
    assert naive[2] - naive[1] < 0.05 and high - low > 0.3  # a 20-trial width, about +-0.2
    assert low < 0.5 < high  # so "most pairs" is undecided, as it is for 12 trials of 20
    assert clustered_fraction(np.full((3, 4), np.nan), np.random.default_rng(0))[3] == 0
    # one trial of 120 pairs, all held: resampling one trial gave [1, 1] and "holds" at 0.9
    one = clustered_fraction(np.ones((1, 120)), np.random.default_rng(0))
    assert one[1] < 0.5 and one[2] == 1.0 and share_verdict(one, strong=0.9) == "inconclusive"
    # an end that rounds onto a threshold is written with a decimal, and outward
    assert percent((0.65, 0.504, 0.77, 48)) == "65.0% [50.4, 77.0] of 48 decided"
    assert percent((0.95, 0.8996, 0.99, 100)) == "95.0% [89.9, 99.0] of 100 decided"
    assert percent((0.65, 0.41, 0.83, 17)) == "65% [41, 83] of 17 decided"


@pytest.mark.parametrize(
    "successes,verdict",
    [((100, 100), "holds"), ((90, 82), "holds partly"), ((80, 81), "inconclusive"), ((10, 30), "does not hold here")],
)
def test_figure_1s_100_percent_claims_follow_the_rule_on_their_intervals(successes, verdict):
    """'Holds partly' was the pooled point rate at or above 80%; it is now the pooled interval, and an
    interval holding 80% is inconclusive, as the rule says."""
    import types

    from pgd_bench.report.sections.success import _pooled

    def cell(hits, n=100):
        return types.SimpleNamespace(outcome=np.zeros(n), counts=lambda: {"global": hits})

    results = {("ones", 4 * (i + 1), "pgd"): cell(hits) for i, hits in enumerate(successes)}
    assert _pooled(results, "pgd")[1] == verdict


def test_t1s_predicted_exponent_in_eta_carries_the_bounds_log_factor():
    """The poster's T1 = O(p k / eta log(1/eta)): over the swept eta the bound falls faster than
    1/eta. Its exponent there, against a direct two-point slope of the bound at the sweep's ends."""
    from pgd_bench.report.sections.theory import T1_PREDICTED, T1_SWEEPS, T2_PREDICTED

    etas = np.array(dict(T1_SWEEPS)["eta"])
    bound = np.log(1 / etas) / etas
    two_point = (np.log(bound[-1]) - np.log(bound[0])) / (np.log(etas[-1]) - np.log(etas[0]))
    assert T1_PREDICTED["eta"] == pytest.approx(two_point, abs=0.02) and -1.3 < T1_PREDICTED["eta"] < -1.1
    assert T2_PREDICTED["eta"] == -1.0  # T2 = O(p / eta log(1/gamma)): no log of eta


def test_a_theory_share_says_how_many_of_its_cases_were_undecided():
    """'65% [41, 83] of 17 decided starts' hid that 31 of the 48 starts were undecided."""
    from pgd_bench.report.sections.theory import _counted
    from pgd_bench.report.theory_measures import verdict_fraction

    starts = np.array([1.0] * 11 + [0.0] * 6 + [np.nan] * 31)
    c = {"c1_fails_start": verdict_fraction(starts), "cases": {"c1_fails_start": starts.size}}
    assert _counted(c, "c1_fails_start", "starts").endswith("of 17 decided starts (31 of 48 undecided)")
    c = {"c1_fails_start": verdict_fraction(starts[:17]), "cases": {"c1_fails_start": 17}}
    assert _counted(c, "c1_fails_start", "starts").endswith("of 17 decided starts")  # none undecided: nothing said


def test_the_t1_selection_check_counts_censored_trials_at_the_first_checkpoint():
    """The T1 fit leaves out trials inside the invariants from the first checkpoint on; the check
    beside it counts them there. Medians 10 and 40 against p = 3 and 12 make a slope of 1; the
    censored trials (here at 5 and below) pull the first median down to the checkpoint."""
    from pgd_bench.report.theory_measures import censored_median_slope

    exact = [np.array([10.0, 10.0, 10.0]), np.array([40.0, 40.0, 40.0])]
    assert censored_median_slope([3, 12], exact, [5, 5]) == pytest.approx(1.0)
    censored = [np.array([5.0, 5.0, 10.0]), np.array([40.0, 40.0, 40.0])]  # two of three at the first checkpoint
    assert censored_median_slope([3, 12], censored, [5, 5]) == pytest.approx(np.log(8) / np.log(4))
    assert np.isnan(censored_median_slope([3, 12], [censored[0], np.array([])], [5, 5]))
