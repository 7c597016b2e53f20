"""Bad input gets a ValueError naming the argument, never a Numba typing error."""

import numpy as np
import pytest

import pgd_bench as pb

W_STAR = np.array([1.0, 0.0, 0.0])
A_STAR = np.array([1.0, -1.0])


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(w=[1.0, 0.0], a=A_STAR, w_star=W_STAR, a_star=A_STAR), "w"),
        (dict(w=W_STAR, a=[1.0], a_star=A_STAR, w_star=W_STAR), "a"),
        (dict(w=W_STAR, a=A_STAR, w_star=[1.0, 1.0, 0.0], a_star=A_STAR), "w_star"),
        (dict(w=W_STAR, a=A_STAR, w_star=W_STAR, a_star=[np.nan, 1.0]), "a_star"),
        (dict(w=np.zeros(3), a=A_STAR, w_star=W_STAR, a_star=A_STAR), "w"),
        (dict(w="abc", a=A_STAR, w_star=W_STAR, a_star=A_STAR), "w"),
        (dict(w=[[1.0, 0, 0]], a=A_STAR, w_star=W_STAR, a_star=A_STAR), "w"),
        (dict(w=W_STAR, a=A_STAR, w_star=W_STAR, a_star=[]), "a_star"),
    ],
)
def test_landscape_rejects_bad_points(kwargs, name):
    for fn in (pb.population_loss, pb.population_grad):
        with pytest.raises(ValueError, match=rf"^{name}:"):
            fn(**kwargs)


def test_unit_norm_tolerance_is_1e_9():
    pb.population_loss(W_STAR, A_STAR, W_STAR * (1 + 5e-10), A_STAR)
    with pytest.raises(ValueError, match="w_star"):
        pb.spurious_optimum(W_STAR * (1 + 1e-8), A_STAR)


def test_integer_lists_are_accepted():
    assert pb.population_loss([0, 1, 0], [1, -1], [1, 0, 0], [1, -1]) > 0


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: pb.sample_ball(-1, 3, 1.0, 0), "n"),
        (lambda: pb.sample_ball(3, 0, 1.0, 0), "d"),
        (lambda: pb.sample_ball(3, 3, -1.0, 0), "radius"),
        (lambda: pb.sample_ball(3, 3, float("inf"), 0), "radius"),
        (lambda: pb.sample_sphere(3, 3, -5), "seed"),
        (lambda: pb.sample_sphere(3, 3, 2**64), "seed"),
        (lambda: pb.sample_sphere(2.5, 3, 0), "n"),
        (lambda: pb.sample_normal(3, True, 0), "d"),
    ],
)
def test_samplers_reject_bad_arguments(call, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()


@pytest.mark.parametrize(
    "Z,name",
    [
        (np.zeros((4, 2, 2)), "Z"),  # p = 2 but w has 3 entries
        (np.zeros((4, 6)), "Z"),
        (np.zeros((0, 2, 3)), "Z"),
        ("not an array", "Z"),
    ],
)
def test_batch_kernels_reject_bad_batches(Z, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        pb.sample_loss_grad(Z, W_STAR, A_STAR, W_STAR, A_STAR)


def test_step_rejects_negative_step_and_non_unit_w():
    with pytest.raises(ValueError, match="^eta_w:"):
        pb.riemannian_step(W_STAR, A_STAR, W_STAR, A_STAR, -0.1, 0.1)
    with pytest.raises(ValueError, match="^w:"):
        pb.riemannian_step(2 * W_STAR, A_STAR, W_STAR, A_STAR, 0.1, 0.1)
