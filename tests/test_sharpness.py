"""The Riemannian Hessian: finite differences of the closed-form gradient along geodesics, and the
two optima, where its eigenvalues are known by hand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import unit_vectors, vectors

import pgd_bench as pb
from pgd_bench.model.sharpness import sharpness

A_FLOATS = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)


def riemannian_grad(w, a, w_star, a_star):
    """The Riemannian gradient on S^(p-1) x R^k, from the closed-form Euclidean gradient."""
    g_w, g_a = pb.population_grad(w, a, w_star, a_star)
    return np.concatenate([g_w - w * (w @ g_w), g_a])


def hessian_times(w, a, w_star, a_star, u, z, h=1e-6):
    """``Hess L [(u, z)]`` by central differences along the geodesic ``(cos(t|u|) w + sin(t|u|)
    u/|u|, a + t z)``: the tangent projection of the derivative of the Riemannian gradient
    (Levi-Civita connection of an embedded submanifold)."""
    nu = np.linalg.norm(u)

    def at(t):
        if nu == 0.0:
            return riemannian_grad(w, a + t * z, w_star, a_star)
        wt = np.cos(t * nu) * w + np.sin(t * nu) * u / nu
        return riemannian_grad(wt / np.linalg.norm(wt), a + t * z, w_star, a_star)

    d = (at(h) - at(-h)) / (2 * h)
    p = w.size
    d[:p] -= w * (w @ d[:p])
    return d


@st.composite
def manifold_points(draw, angle=None):
    """(w, a, w_star, a_star, u, z): a point of the sphere x R^k (||a|| up to 10 sqrt(k)), a
    teacher and a tangent direction. ``angle`` 0 or pi puts w at +-w_star exactly."""
    p = draw(st.integers(2, 8))
    k = draw(st.integers(1, 8))
    w_star = draw(unit_vectors(p))
    w = draw(unit_vectors(p)) if angle is None else (w_star.copy() if angle == 0 else -w_star)
    a = draw(vectors(k, A_FLOATS))
    a_star = draw(vectors(k))
    u = draw(vectors(p))
    u -= w * (w @ u)
    z = draw(vectors(k))
    return w, a, w_star, a_star, u, z


def _check_against_finite_differences(point):
    w, a, w_star, a_star, u, z = point
    hess = pb.riemannian_hessian(w, a, w_star, a_star)
    expected = hessian_times(w, a, w_star, a_star, u, z)
    got = hess @ np.concatenate([u, z])
    scale = 1.0 + np.abs(hess).max() * (1.0 + np.linalg.norm(np.concatenate([u, z])))
    # near the angles 0 and pi, the term (a.a*) g(theta)/pi of L has a third derivative of order
    # |a.a*| that jumps there, so the central difference is off by up to h |u|^2 |a.a*| (O(h))
    kink = 1e-6 * (u @ u) * (1.0 + abs(a @ a_star))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * scale + kink)


@given(manifold_points())
@settings(max_examples=80)
def test_hessian_matches_finite_differences_of_the_gradient_along_geodesics(point):
    _check_against_finite_differences(point)


@given(st.sampled_from([0, np.pi]).flatmap(lambda angle: manifold_points(angle=angle)))
@settings(max_examples=40)
def test_hessian_is_exact_at_the_angles_zero_and_pi(point):
    w, a, w_star, a_star, _, _ = point
    assert np.all(np.isfinite(pb.riemannian_hessian(w, a, w_star, a_star)))
    _check_against_finite_differences(point)


@given(manifold_points())
def test_hessian_is_symmetric_and_kills_the_normal_direction(point):
    w, a, w_star, a_star, _, _ = point
    hess = pb.riemannian_hessian(w, a, w_star, a_star)
    assert np.array_equal(hess, hess.T)
    normal = np.concatenate([w, np.zeros(a.size)])
    assert np.abs(hess @ normal).max() <= 1e-12 * (1.0 + np.abs(hess).max())


@pytest.mark.parametrize("k", [1, 4, 8, 32])
@pytest.mark.parametrize("teacher", ["ones", "alternating", "gaussian"])
def test_eigenvalues_at_both_optima(k, teacher):
    """By hand, with ||w|| = 1: the a-block is ((pi-1) I + 1 1^T)/pi at both optima (eigenvalues
    (pi-1)/pi, k-1 times, and (pi-1+k)/pi); at the global optimum the tangent w-block is
    ||a*||^2 I and does not couple to a; at the spurious one the loss is flat to second order along
    the sphere (g(pi - phi) = phi^3/3), so the w-block is 0."""
    from pgd_bench.model.teachers import teacher_weights

    p = 6
    w_star = np.zeros(p)
    w_star[0] = 1.0
    a_star = teacher_weights(teacher, k)
    a_block = sorted([(np.pi - 1) / np.pi] * (k - 1) + [(np.pi - 1 + k) / np.pi])
    w_bar, a_bar = pb.spurious_optimum(w_star, a_star)
    for w, a, w_block in ((w_star, a_star, a_star @ a_star), (w_bar, a_bar, 0.0)):
        eig = np.linalg.eigvalsh(pb.riemannian_hessian(w, a, w_star, a_star))
        expected = np.sort(np.array([0.0] + [w_block] * (p - 1) + a_block))
        np.testing.assert_allclose(eig, expected, atol=1e-12 * (1 + np.abs(expected).max()))


def test_sharpness_of_many_points_matches_one_at_a_time(rng):
    w_star = np.zeros(6)
    w_star[0] = 1.0
    a_star = rng.standard_normal(8)
    w = rng.standard_normal((5, 6))
    w /= np.linalg.norm(w, axis=1)[:, None]
    a = 3 * rng.standard_normal((5, 8))
    w[2, 0] = np.nan  # a diverged trial
    top, trace = sharpness(w, a, w_star, a_star)
    assert np.isnan(top[2]) and np.isnan(trace[2])
    for i in (0, 1, 3, 4):
        hess = pb.riemannian_hessian(w[i], a[i], w_star, a_star)
        assert top[i] == pytest.approx(np.linalg.eigvalsh(hess)[-1], rel=1e-12)
        assert trace[i] == pytest.approx(np.trace(hess), rel=1e-12)


@pytest.mark.parametrize(
    "w, message",
    [(np.array([2.0, 0, 0]), "sphere"), (np.zeros(3), "non-zero"), (np.array([1.0, 0]), "length"),
     (np.array([np.nan, 0, 0]), "finite")],
)  # fmt: skip
def test_bad_points_are_refused(w, message):
    with pytest.raises(ValueError, match=message):
        pb.riemannian_hessian(w, np.ones(2), np.array([1.0, 0, 0]), np.ones(2))
