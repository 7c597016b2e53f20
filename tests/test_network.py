"""Forward/backward over sample batches against the NumPy reference."""

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import forward as ref_forward
from reference import sample_loss_grad as ref_sample_loss_grad
from strategies import problems
from threads import with_threads

import pgd_bench as pb
from pgd_bench.model.network import REDUCTION_CHUNK


@given(problems(max_p=7, max_k=9), st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_forward_matches_reference(problem, n, seed):
    w, a, _, _ = problem
    Z = np.random.default_rng(seed).standard_normal((n, a.size, w.size))
    np.testing.assert_allclose(
        pb.forward(Z, w, a),
        ref_forward(Z, w, a),
        rtol=1e-12,
        atol=1e-12 * (1 + np.abs(a).sum() * np.linalg.norm(w) * 10),
    )


@given(problems(max_p=7, max_k=9), st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_sample_loss_grad_matches_reference(problem, n, seed):
    w, a, w_star, a_star = problem
    Z = np.random.default_rng(seed).standard_normal((n, a.size, w.size))
    loss, grad_w, grad_a = pb.sample_loss_grad(Z, w, a, w_star, a_star)
    ref_loss, ref_w, ref_a = ref_sample_loss_grad(Z, w, a, w_star, a_star)
    assert loss == pytest.approx(ref_loss, rel=1e-10, abs=1e-12)
    scale = 1e-10 * (1 + np.abs(ref_w).max() + np.abs(ref_a).max() + np.sqrt(ref_loss) * 100)
    np.testing.assert_allclose(grad_w, ref_w, rtol=0, atol=scale)
    np.testing.assert_allclose(grad_a, ref_a, rtol=0, atol=scale)


def test_sample_loss_grad_is_bit_identical_across_thread_counts(rng, alternating_teacher):
    w_star, a_star = alternating_teacher
    Z = rng.standard_normal((5 * REDUCTION_CHUNK + 17, 8, 6))
    w = rng.standard_normal(6)
    a = rng.standard_normal(8)

    def call():
        loss, gw, ga = pb.sample_loss_grad(Z, w, a, w_star, a_star)
        return np.concatenate([[loss], gw, ga])

    one = with_threads(1, call)
    many = with_threads(numba.config.NUMBA_NUM_THREADS, call)
    assert one.tobytes() == many.tobytes()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_rejected_even_where_relu_would_hide_them(bad, rng, alternating_teacher):
    w_star, a_star = alternating_teacher
    Z = rng.standard_normal((50, 8, 6))
    Z[7, 2, 3] = bad  # w_star = e_1 has a zero there: only the w-side guard sees it
    w = -w_star  # relu(z.w) may be zero for this patch
    with pytest.raises(ValueError, match="Z"):
        pb.sample_loss_grad(Z, w, a_star, w_star, a_star)
    with pytest.raises(ValueError, match="Z"):
        pb.forward(Z, w, a_star)


def test_whole_inputs_are_taken_at_stride_p_too():
    """The README: with stride=, forward and sample_loss_grad take whole inputs (n, (k - 1) stride
    + p); at stride = p, (n, k p) was refused ("Z: expected shape (n, 8, 6), got (2, 48)"). They
    are the patches laid end to end, so the results are those of the patches."""
    rng = np.random.default_rng(3)
    k, p = 8, 6
    X = rng.standard_normal((5, k * p))
    w, a = pb.sample_sphere(1, p, 1)[0], rng.standard_normal(k)
    w_star, a_star = pb.sample_sphere(1, p, 2)[0], rng.standard_normal(k)
    Z = X.reshape(5, k, p)
    np.testing.assert_array_equal(pb.forward(X, w, a, stride=p), pb.forward(Z, w, a))
    np.testing.assert_array_equal(pb.forward(Z, w, a, stride=p), pb.forward(Z, w, a))  # patches, as before
    whole = pb.sample_loss_grad(X, w, a, w_star, a_star, stride=p)
    for got, expected in zip(whole, pb.sample_loss_grad(Z, w, a, w_star, a_star)):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="Z"):  # without a stride, whole inputs are still refused by name
        pb.forward(X, w, a)
