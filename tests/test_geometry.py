"""Sphere invariants of the Riemannian step and the tangent projection."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from strategies import unit_vectors, vectors

import pgd_bench as pb

HUGE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@given(st.data(), st.integers(1, 10), st.floats(0.0, 10.0), st.floats(0.0, 10.0))
def test_riemannian_step_stays_on_the_sphere(data, p, eta_w, eta_a):
    w = data.draw(unit_vectors(p))
    a = data.draw(vectors(3))
    grad_w = data.draw(vectors(p, HUGE))
    grad_a = data.draw(vectors(3, HUGE))
    w_next, a_next = pb.riemannian_step(w, a, grad_w, grad_a, eta_w, eta_a)
    assert abs(np.linalg.norm(w_next) - 1.0) <= 1e-12
    np.testing.assert_allclose(a_next, a - eta_a * grad_a, rtol=1e-15, atol=1e-15 * (1 + np.abs(a_next).max()))


@given(st.data(), st.integers(2, 10))
def test_riemannian_step_matches_the_formula(data, p):
    w = data.draw(unit_vectors(p))
    g = data.draw(vectors(p))
    eta = data.draw(st.floats(0.0, 2.0))
    x = w - eta * (g - (w @ g) * w)
    expected = x / np.linalg.norm(x)
    w_next, _ = pb.riemannian_step(w, np.zeros(1), g, np.zeros(1), eta, 0.0)
    np.testing.assert_allclose(w_next, expected, atol=1e-13)


@given(st.data(), st.integers(1, 10))
def test_tangent_projection_is_orthogonal_to_w(data, p):
    w = data.draw(unit_vectors(p))
    g = data.draw(vectors(p, HUGE))
    t = pb.tangent_projection(w, g)
    assert abs(t @ w) <= 1e-12 * (1.0 + np.linalg.norm(g))
    # a projection: applying it twice changes nothing
    np.testing.assert_allclose(pb.tangent_projection(w, t), t, atol=1e-12 * (1.0 + np.linalg.norm(g)))
