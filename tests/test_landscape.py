"""The closed-form landscape: Monte Carlo, finite differences, reference formulas, optima."""

import numpy as np
import pytest
from conftest import mc_size
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import big_g, grad_fd, riemannian_grad_w
from reference import loss as ref_loss
from reference import spurious as ref_spurious
from strategies import problems, unit_vectors, vectors

import pgd_bench as pb


@given(problems(), st.integers(0, 2**32 - 1))
@settings(max_examples=25)
def test_loss_matches_monte_carlo(problem, seed):
    w, a, w_star, a_star = problem
    rng = np.random.default_rng(seed)
    n = mc_size(100_000)
    Z = rng.standard_normal((n, a.size, w.size))
    r = np.maximum(Z @ w, 0) @ a - np.maximum(Z @ w_star, 0) @ a_star
    sq = r**2
    standard_error = sq.std(ddof=1) / np.sqrt(n)
    closed = pb.population_loss(w, a, w_star, a_star)
    # 6 standard errors: a false alarm is a ~1e-9 event; a formula error of a few percent is not
    # hidden at this sample size. The small absolute term covers a loss of exactly zero.
    assert abs(sq.mean() - closed) <= 6 * standard_error + 1e-12 * (1 + closed)


@given(problems())
def test_loss_matches_reference_formula(problem):
    w, a, w_star, a_star = problem
    expected = ref_loss(w, a, w_star, a_star)
    assert pb.population_loss(w, a, w_star, a_star) == pytest.approx(expected, rel=1e-10, abs=1e-10)


@given(problems())
def test_gradients_match_finite_differences(problem):
    w, a, w_star, a_star = problem
    grad_w, grad_a = pb.population_grad(w, a, w_star, a_star)
    fd_w, fd_a = grad_fd(w, a, w_star, a_star)
    # central differences have error O(h^2 L''') plus rounding O(eps L / h); both are far below
    # 1e-5 of the gradient's scale for these sizes
    scale = 1.0 + np.abs(fd_w).max() + np.abs(fd_a).max() + pb.population_loss(w, a, w_star, a_star)
    np.testing.assert_allclose(grad_w, fd_w, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(grad_a, fd_a, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("theta", [0.0, np.pi])
def test_gradient_is_continuous_at_aligned_and_opposite_w(theta, alternating_teacher):
    w_star, a_star = alternating_teacher
    a = np.linspace(-1, 1, a_star.size)
    base = np.cos(theta) * w_star
    at = pb.population_grad(base, a, w_star, a_star)
    tilt = np.zeros_like(w_star)
    tilt[1] = 1e-7
    near = pb.population_grad(base + tilt, a, w_star, a_star)
    assert np.all(np.isfinite(at[0])) and np.all(np.isfinite(at[1]))
    np.testing.assert_allclose(at[0], near[0], atol=1e-5)
    np.testing.assert_allclose(at[1], near[1], atol=1e-5)


def test_batch_gradient_mean_is_population_gradient(rng, alternating_teacher):
    w_star, a_star = alternating_teacher
    w = rng.standard_normal(6)
    w /= np.linalg.norm(w)
    a = rng.standard_normal(8)
    batches = 20
    n = mc_size(40_000)
    grads = []
    for _ in range(batches):
        Z = rng.standard_normal((n, 8, 6))
        _, gw, ga = pb.sample_loss_grad(Z, w, a, w_star, a_star)
        grads.append(np.concatenate([gw, ga]))
    grads = np.array(grads)
    mean = grads.mean(axis=0)
    standard_error = grads.std(axis=0, ddof=1) / np.sqrt(batches)
    pop = np.concatenate(pb.population_grad(w, a, w_star, a_star))
    assert np.all(np.abs(mean - pop) <= 6 * standard_error)


@given(unit_vectors(6), vectors(8))
def test_spurious_optimum_is_a_positive_stationary_point(w_star, a_star):
    w_bar, a_bar = pb.spurious_optimum(w_star, a_star)
    ref_w, ref_a = ref_spurious(w_star, a_star)
    np.testing.assert_allclose(w_bar, ref_w, atol=1e-14)
    np.testing.assert_allclose(a_bar, ref_a, atol=1e-12)
    grad_w, grad_a = pb.population_grad(w_bar, a_bar, w_star, a_star)
    scale = 1.0 + np.abs(a_star).sum() ** 2
    assert np.abs(riemannian_grad_w(w_bar, grad_w)).max() <= 1e-12 * scale
    assert np.abs(grad_a).max() <= 1e-12 * scale


def test_spurious_optimum_is_a_local_minimum_with_positive_loss(rng, alternating_teacher):
    w_star, a_star = alternating_teacher
    w_bar, a_bar = pb.spurious_optimum(w_star, a_star)
    base = pb.population_loss(w_bar, a_bar, w_star, a_star)
    assert base > 0.1
    for _ in range(200):
        u = rng.standard_normal(6)
        u -= (u @ w_bar) * w_bar
        u /= np.linalg.norm(u)
        v = rng.standard_normal(8)
        v /= np.linalg.norm(v)
        for t in (1e-3, 1e-2):
            w = np.cos(t) * w_bar + np.sin(t) * u  # stays on the sphere
            assert pb.population_loss(w, a_bar + t * v, w_star, a_star) > base


@given(unit_vectors(5), vectors(7))
def test_teacher_is_a_zero_of_loss_and_gradient(w_star, a_star):
    assert abs(pb.population_loss(w_star, a_star, w_star, a_star)) <= 1e-12 * (
        1 + (a_star**2).sum() + a_star.sum() ** 2
    )
    grad_w, grad_a = pb.population_grad(w_star, a_star, w_star, a_star)
    assert np.abs(grad_w).max() <= 1e-12 * (1 + (a_star**2).sum() + a_star.sum() ** 2)
    assert np.abs(grad_a).max() <= 1e-12 * (1 + np.abs(a_star).sum())


def test_closed_form_g_at_known_angles():
    # G(u, b; u, b) uses g(0) = pi: the self term is ||u||^2 ((pi-1)||b||^2 + (1.b)^2) / (2 pi)
    u = np.array([0.0, 2.0])
    b = np.array([1.0, -3.0])
    expected = 4.0 * ((np.pi - 1) * 10.0 + 4.0) / (2 * np.pi)
    assert big_g(u, b, u, b) == pytest.approx(expected)
    # and the kernel's loss at (w, a) = (u/|u|, b) against teacher (-u/|u|, 0) is that self term
    w = u / 2.0
    assert pb.population_loss(w, b, -w, np.zeros(2)) == pytest.approx(expected / 4.0)
