"""Overlapping filters (stride ``s < p``): the closed form against plain NumPy Monte Carlo and
central differences, ``s = p`` against the poster's model, the sample kernels unbiased, and the
engine's trials against plain NumPy GD on the same starts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pgd_bench
from pgd_bench.geometry import riemannian_step
from pgd_bench.model.landscape import population_grad, population_loss
from pgd_bench.model.network import forward, patches, sample_loss_grad
from pgd_bench.model.sharpness import _hessians_by_differences, riemannian_hessian
from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import run


def _problem(rng, p, k):
    w_star = rng.normal(size=p)
    w_star /= np.linalg.norm(w_star)
    return rng.normal(size=p), rng.normal(size=k), w_star, rng.normal(size=k)


def _numpy_patches(x, k, p, s):
    """Patch j of every row: ``x[:, j s : j s + p]``, by slicing (independent of ``patches``)."""
    return np.stack([x[:, j * s : j * s + p] for j in range(k)], axis=1)


def _monte_carlo_loss(w, a, w_star, a_star, s, n, rng):
    p, k = w.size, a.size
    x = rng.normal(size=(n, (k - 1) * s + p))
    z = _numpy_patches(x, k, p, s)
    residual = np.maximum(z @ w_star, 0.0) @ a_star - np.maximum(z @ w, 0.0) @ a
    squares = residual**2
    return squares.mean(), squares.std() / np.sqrt(n)


@settings(max_examples=12, deadline=None)
@given(p=st.integers(2, 7), k=st.integers(1, 5), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_the_closed_form_is_the_monte_carlo_mean(p, k, data, seed):
    s = data.draw(st.integers(1, p))
    rng = np.random.default_rng(seed)
    w, a, w_star, a_star = _problem(rng, p, k)
    exact = population_loss(w, a, w_star, a_star, stride=s)
    mean, error = _monte_carlo_loss(w, a, w_star, a_star, s, 200_000, rng)
    assert abs(exact - mean) < 5.0 * error + 1e-12  # a 5-sigma band: fails by chance once in 10^6


@settings(max_examples=20, deadline=None)
@given(p=st.integers(1, 7), k=st.integers(1, 6), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_the_gradient_is_the_central_difference_of_the_loss(p, k, data, seed):
    s = data.draw(st.integers(1, p))
    rng = np.random.default_rng(seed)
    w, a, w_star, a_star = _problem(rng, p, k)
    grad_w, grad_a = population_grad(w, a, w_star, a_star, stride=s)
    h = 1e-6
    loss = lambda w_, a_: population_loss(w_, a_, w_star, a_star, stride=s)  # noqa: E731
    fd_w = [(loss(w + h * e, a) - loss(w - h * e, a)) / (2 * h) for e in np.eye(p)]
    fd_a = [(loss(w, a + h * e) - loss(w, a - h * e)) / (2 * h) for e in np.eye(k)]
    scale = 1.0 + np.abs(np.concatenate([grad_w, grad_a])).max()
    np.testing.assert_allclose(grad_w, fd_w, atol=1e-6 * scale)
    np.testing.assert_allclose(grad_a, fd_a, atol=1e-6 * scale)


def test_the_gradient_is_finite_where_a_patch_is_aligned_with_a_shifted_filter():
    """r = +-1 for a pair of patches: the derivative goes through dE/dc, never through the
    separate sqrt and arccos (whose derivatives are infinite there)."""
    w_star = np.array([1.0, 1.0, 0.0, 0.0]) / np.sqrt(2.0)  # student patch j + 1 and teacher patch j
    w = np.array([0.0, 0.0, 1.0, 1.0])  # share two inputs, where both filters live: r = 1
    a = np.array([0.5, -1.0, 2.0])
    grads = population_grad(w, a, w_star, np.array([1.0, 2.0, -0.5]), stride=2)
    assert all(np.all(np.isfinite(g)) for g in grads)
    grads_at_teacher = population_grad(w_star, a, w_star, a, stride=1)
    assert np.all(np.abs(np.concatenate(grads_at_teacher)) < 1e-12)


def test_stride_p_is_the_posters_model_to_the_bit():
    rng = np.random.default_rng(5)
    for p, k in ((6, 8), (3, 4), (1, 5)):
        w, a, w_star, a_star = _problem(rng, p, k)
        assert population_loss(w, a, w_star, a_star, stride=p) == population_loss(w, a, w_star, a_star)
        for got, want in zip(population_grad(w, a, w_star, a_star, stride=p), population_grad(w, a, w_star, a_star)):
            assert np.array_equal(got, want)


def test_the_overlapping_kernels_reduce_to_the_posters_at_stride_p():
    """The overlapping kernels themselves (not the stride = p shortcut) agree with the poster's
    closed form to rounding: the same mathematics, summed in another order."""
    from pgd_bench.model.base import LANE_WORK_ROWS
    from pgd_bench.model.overlap import make_params, overlap_grad_lanes, overlap_loss_lanes

    rng = np.random.default_rng(9)
    for p, k in ((6, 8), (2, 3)):
        w, a, w_star, a_star = _problem(rng, p, k)
        params = make_params(w_star, a_star, p)
        loss, angle = np.empty(1), np.empty(1)
        work = np.empty((LANE_WORK_ROWS, 1))
        overlap_loss_lanes(params, w[:, None].copy(), a[:, None].copy(), work, loss, angle)
        assert loss[0] == pytest.approx(population_loss(w, a, w_star, a_star), rel=1e-13)
        gw, ga = np.empty((p, 1)), np.empty((k, 1))
        overlap_grad_lanes(params, w[:, None].copy(), a[:, None].copy(), gw, ga, work)
        want_w, want_a = population_grad(w, a, w_star, a_star)
        np.testing.assert_allclose(gw[:, 0], want_w, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(ga[:, 0], want_a, rtol=1e-12, atol=1e-13)


def test_sample_gradients_average_to_the_population_gradient():
    rng = np.random.default_rng(2)
    p, k, s = 5, 4, 2
    w, a, w_star, a_star = _problem(rng, p, k)
    x = rng.normal(size=(400_000, (k - 1) * s + p))
    np.testing.assert_array_equal(patches(x[:3], k, p, s), _numpy_patches(x[:3], k, p, s))
    outputs = forward(x[:5], w, a, stride=s)
    np.testing.assert_allclose(outputs, np.maximum(_numpy_patches(x[:5], k, p, s) @ w, 0.0) @ a, rtol=1e-13)
    loss, grad_w, grad_a = sample_loss_grad(x, w, a, w_star, a_star, stride=s)
    exact_w, exact_a = population_grad(w, a, w_star, a_star, stride=s)
    # per-sample gradients have O(1) spread: 4e5 samples give errors of a few 1e-3
    np.testing.assert_allclose(grad_w, exact_w, atol=0.05)
    np.testing.assert_allclose(grad_a, exact_a, atol=0.05)
    assert loss == pytest.approx(population_loss(w, a, w_star, a_star, stride=s), rel=0.02)


def test_the_hessian_is_the_closed_form_at_stride_p_and_a_central_difference_elsewhere():
    rng = np.random.default_rng(4)
    p, k = 5, 4
    w, a, w_star, a_star = _problem(rng, p, k)
    w /= np.linalg.norm(w)
    closed = riemannian_hessian(w, a, w_star, a_star)
    numeric = _hessians_by_differences(w[None, :], a[None, :], w_star, a_star, p)[0]  # the overlapping kernels at s = p
    np.testing.assert_allclose(numeric, closed, atol=1e-7)
    # at stride 2: u^T H u is the second derivative of L along the geodesic through (w, a)
    hess = riemannian_hessian(w, a, w_star, a_star, stride=2)
    u_w = rng.normal(size=p)
    u_w -= (u_w @ w) * w
    u_a = rng.normal(size=k)
    speed = np.linalg.norm(u_w)

    def along(t):
        w_t = np.cos(speed * t) * w + np.sin(speed * t) * u_w / speed
        return population_loss(w_t, a + t * u_a, w_star, a_star, stride=2)

    h = 1e-4
    second = (along(h) - 2 * along(0.0) + along(-h)) / h**2
    u = np.concatenate([u_w, u_a])
    assert u @ hess @ u == pytest.approx(second, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(hess, hess.T, atol=0)


def test_bad_strides_are_refused_by_name():
    w, a, w_star, a_star = _problem(np.random.default_rng(0), 4, 3)
    for bad in (0, 5, 2.5, "2", -1):
        with pytest.raises(ValueError, match="stride"):
            population_loss(w, a, w_star, a_star, stride=bad)
    with pytest.raises(ValueError, match="stride"):
        resolve_config(p=4, stride=5)
    with pytest.raises(ValueError, match="Z.*shape"):
        forward(np.zeros((2, 7)), w, a, stride=2)  # d = (k - 1) s + p = 8


def test_the_engine_follows_plain_numpy_gd_at_stride_3():
    config = resolve_config(algorithm="gd", p=6, k=4, stride=3, trials=40, epochs=2, iterations=100, eta=0.1)
    assert config.landscape == "overlapping" and config.stride == 3
    result = run(config)
    w_star, a_star = config.teacher_arrays()
    w = pgd_bench.sample_sphere(config.trials, config.p, config.seed)
    a = pgd_bench.sample_ball(config.trials, config.k, config.resolved_start_radius(), config.seed)
    for i in range(config.trials):
        wi, ai = w[i], a[i]
        for _ in range(config.epochs * config.iterations):
            g_w, g_a = population_grad(wi, ai, w_star, a_star, stride=3)
            wi, ai = riemannian_step(wi, ai, g_w, g_a, 0.1, 0.1)
        np.testing.assert_allclose(result.w[i], wi, atol=1e-11)
        np.testing.assert_allclose(result.a[i], ai, atol=1e-11)
    final_loss = result.records[:, -1, 0]
    expected = [population_loss(result.w[i], result.a[i], w_star, a_star, stride=3) for i in range(config.trials)]
    np.testing.assert_allclose(final_loss, expected, rtol=1e-11, atol=1e-14)


def test_stride_p_leaves_the_posters_runs_and_their_bits_alone():
    plain = resolve_config(trials=16, epochs=1, iterations=50)
    same = resolve_config(trials=16, epochs=1, iterations=50, stride=6)
    assert same == plain and same.landscape == "cnn" and same.stride is None
    assert run(same).final_state_sha256() == run(plain).final_state_sha256()
