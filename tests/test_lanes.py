"""The lane (structure-of-arrays) kernels: each column must be exactly its own one-point problem."""

import numpy as np
import pytest
from conftest import PURE_PYTHON, mc_size
from hypothesis import given
from hypothesis import strategies as st
from reference import big_g
from reference import loss as ref_loss
from reference import normal_fills as ref_normal_fills
from strategies import unit_vectors, vectors

import pgd_bench as pb
from pgd_bench.geometry import riemannian_step_lanes
from pgd_bench.model.landscape import LANE_WORK_ROWS, arccos_kernel, grad_lanes, loss_lanes
from pgd_bench.model.network import SGD_LANE_WORK_ROWS, sgd_gradient_lanes
from pgd_bench.streams import STATE_WORDS, fill_normal, fill_normal_lanes, stream_init, stream_init_lanes


def test_arccos_is_within_two_ulp_of_numpy_on_the_whole_domain():
    n = 20_001 if PURE_PYTHON else 2_000_001
    x = np.concatenate(
        [
            np.linspace(-1.0, 1.0, n),
            [-1.0, -0.5, 0.0, 0.5, 1.0],
            np.nextafter([0.5, -0.5, 1.0, -1.0], 0.0),
            [1e-300, -1e-300],
        ]
    )
    got = np.array([arccos_kernel(v) for v in x]) if PURE_PYTHON else _arccos_many(x)
    expected = np.arccos(x)
    err = np.abs(got - expected)
    assert np.all(err <= 2 * np.spacing(np.maximum(expected, np.spacing(1.0))))
    assert got[n + 4] == 0.0 and abs(got[n] - np.pi) <= np.spacing(np.pi)
    assert np.isnan(arccos_kernel(np.nan))


def _arccos_many(x):
    import numba

    @numba.njit
    def many(values):
        out = np.empty_like(values)
        for i in range(values.shape[0]):
            out[i] = arccos_kernel(values[i])
        return out

    return many(x)


@st.composite
def lane_problems(draw):
    """``n`` random points (as columns) of one random problem, with ``||w||`` in [0.1, 30]."""
    p = draw(st.integers(1, 7))
    k = draw(st.integers(1, 9))
    n = draw(st.integers(1, 20))
    w_star = draw(unit_vectors(p))
    columns_w = [draw(unit_vectors(p)) * draw(st.floats(0.1, 30.0)) for _ in range(n)]
    columns_a = [draw(vectors(k)) for _ in range(n)]
    a_star = draw(vectors(k))
    return np.array(columns_w).T.copy(), np.array(columns_a).T.copy(), w_star, a_star


@given(lane_problems())
def test_loss_and_gradient_of_every_lane_match_the_one_point_reference(problem):
    w, a, w_star, a_star = problem
    n = w.shape[1]
    loss = np.empty(n)
    grad_w = np.empty_like(w)
    grad_a = np.empty_like(a)
    loss_lanes(w, a, w_star, a_star, np.empty((LANE_WORK_ROWS, n)), loss)
    grad_lanes(w, a, w_star, a_star, grad_w, grad_a, np.empty((LANE_WORK_ROWS, n)))
    for l in range(n):
        assert loss[l] == pytest.approx(ref_loss(w[:, l], a[:, l], w_star, a_star), rel=1e-10, abs=1e-10)
        # grad_a of L is linear in a: d/da_j via the G formula's coefficients, written out here
        nw = np.linalg.norm(w[:, l])
        theta = np.arccos(np.clip(w[:, l] @ w_star / nw, -1, 1))
        g = (np.pi - theta) * np.cos(theta) + np.sin(theta)
        s, s_star = a[:, l].sum(), a_star.sum()
        expected_a = (nw**2 * ((np.pi - 1) * a[:, l] + s) - nw * ((g - 1) * a_star + s_star)) / np.pi
        np.testing.assert_allclose(grad_a[:, l], expected_a, rtol=1e-10, atol=1e-10 * (1 + np.abs(expected_a).max()))
    # and grad_w through the loss's directional derivative along each coordinate
    h = 1e-6
    for l in range(min(n, 3)):
        for i in range(w.shape[0]):
            e = np.zeros(w.shape[0])
            e[i] = h * max(1.0, np.linalg.norm(w[:, l]))
            fd = (ref_loss(w[:, l] + e, a[:, l], w_star, a_star) - ref_loss(w[:, l] - e, a[:, l], w_star, a_star)) / (
                2 * e[i]
            )
            scale = 1.0 + abs(fd) + big_g(w[:, l], a[:, l], w[:, l], a[:, l])
            assert grad_w[i, l] == pytest.approx(fd, abs=1e-5 * scale)


def _materialised_batch_gradients(rng, trials, batch, w, a, w_star, a_star):
    """Batch gradients of ``trials`` independent batches with every input drawn in full."""
    k, p = a.size, w.size
    Z = rng.standard_normal((trials, batch, k, p))
    pre = Z @ w  # (trials, batch, k)
    r = np.maximum(pre, 0) @ a - np.maximum(Z @ w_star, 0) @ a_star  # (trials, batch)
    grad_a = 2.0 / batch * np.einsum("tb,tbk->tk", r, np.maximum(pre, 0))
    grad_w = 2.0 / batch * np.einsum("tb,tbk,tbkp->tp", r, (pre > 0) * a, Z)
    return np.hstack([grad_w, grad_a])


def _variance_and_its_standard_error(x):
    centred = x - x.mean(axis=0)
    var = (centred**2).mean(axis=0)
    return var, np.sqrt(np.maximum((centred**4).mean(axis=0) - var**2, 0.0) / x.shape[0])


@pytest.mark.parametrize("p,k,batch,aligned", [(6, 8, 3, False), (3, 2, 1, False), (5, 4, 2, True), (1, 3, 2, False)])
def test_sgd_gradient_has_the_law_of_the_materialised_batch_gradient(p, k, batch, aligned):
    rng = np.random.default_rng(p * 100 + k)
    w_star = np.zeros(p)
    w_star[0] = 1.0
    a_star = rng.standard_normal(k)
    a = rng.standard_normal(k)
    # off the sphere, as perturbed SGD evaluates it; "aligned" is w along w*, where u2 = 0
    w = 1.3 * w_star if aligned else rng.standard_normal(p) * 0.8
    trials = mc_size(40_000)
    states = np.empty((STATE_WORDS, trials), dtype=np.uint64)
    stream_init_lanes(states, 99, 0, 3)
    W = np.repeat(w[:, None], trials, axis=1)
    A = np.repeat(a[:, None], trials, axis=1)
    grad_w = np.empty((p, trials))
    grad_a = np.empty((k, trials))
    sgd_gradient_lanes(
        states,
        W,
        A,
        w_star,
        a_star,
        batch,
        grad_w,
        grad_a,
        np.empty((p, trials)),
        np.empty((2 * k, trials)),
        np.empty((k, trials)),
        np.empty((p, trials)),
        np.empty((SGD_LANE_WORK_ROWS, trials)),
        np.zeros(1, dtype=np.uint8),
    )
    ours = np.vstack([grad_w, grad_a]).T
    reference = _materialised_batch_gradients(rng, trials, batch, w, a, w_star, a_star)
    # both are unbiased estimates of the population gradient ...
    population = np.concatenate(pb.population_grad(w, a, w_star, a_star))
    for sample in (ours, reference):
        se = sample.std(axis=0, ddof=1) / np.sqrt(trials)
        assert np.all(np.abs(sample.mean(axis=0) - population) <= 6 * se + 1e-12)
    # ... with the same variance along every coordinate and along random directions (covariances)
    directions = np.vstack([np.eye(p + k), rng.standard_normal((8, p + k))])
    var_ours, se_ours = _variance_and_its_standard_error(ours @ directions.T)
    var_ref, se_ref = _variance_and_its_standard_error(reference @ directions.T)
    assert np.all(np.abs(var_ours - var_ref) <= 6 * np.hypot(se_ours, se_ref) + 1e-12)


@given(lane_problems(), st.floats(0.0, 5.0), st.floats(0.0, 5.0), st.integers(0, 2**32 - 1))
def test_riemannian_step_of_every_lane_matches_the_formula(problem, eta_w, eta_a, seed):
    w, a, _, _ = problem
    w = w / np.linalg.norm(w, axis=0)
    rng = np.random.default_rng(seed)
    grad_w = rng.standard_normal(w.shape)
    grad_a = rng.standard_normal(a.shape)
    expected_w = w - eta_w * (grad_w - (w * grad_w).sum(axis=0) * w)
    norms = np.linalg.norm(expected_w, axis=0)
    expected_w /= norms
    expected_a = a - eta_a * grad_a
    norm = np.empty(w.shape[1])
    a_sq = np.empty(w.shape[1])
    riemannian_step_lanes(w, a, grad_w, grad_a, eta_w, eta_a, norm, a_sq)
    np.testing.assert_allclose(w, expected_w, atol=1e-13)
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0, atol=1e-14)
    np.testing.assert_allclose(norm, norms, rtol=1e-13)
    np.testing.assert_allclose(a, expected_a, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(a_sq, (expected_a**2).sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("rows", [1, 6, 48])
def test_normal_lanes_are_bit_identical_to_one_stream_each(rows):
    lanes = 37
    states = np.empty((STATE_WORDS, lanes), dtype=np.uint64)
    stream_init_lanes(states, 5, 0, 3)
    one = np.empty(STATE_WORDS, dtype=np.uint64)
    out = np.empty((rows, lanes))
    for _ in range(3):  # the streams continue across calls
        fill_normal_lanes(states, out)
    for l in range(lanes):
        stream_init(one, 5, l, 3)
        column = np.empty(rows)
        for _ in range(3):
            fill_normal(one, column)
        assert column.tobytes() == out[:, l].tobytes()
        assert one.tobytes() == states[:, l].tobytes()
    # and against the pure-Python definition, bit for bit: lane 0's third fill
    assert out[:, 0].tobytes() == ref_normal_fills(5, 0, 3, [rows] * 3)[2 * rows :].tobytes()
