"""A toy landscape for the seam's tests: a known global and a known spurious optimum, no network.

``L(w, a) = ||a - a*||^2 / 2 + f(w . w*)`` with ``f(c) = 1 - c^2 + 0.2 (1 - c)``: on the sphere,
``f`` is 0 at ``c = 1`` (the global optimum ``(w*, a*)``) and has a local minimum 0.4 at ``c = -1``
(the spurious optimum ``(-w*, a*)``), separated by its maximum at ``c = -0.1``. GD started at
``w . w* < -0.1`` is trapped; noise can carry it over.
"""

from typing import NamedTuple

import numba
import numpy as np

from pgd_bench.model.base import Landscape


class ToyParams(NamedTuple):
    w_star: np.ndarray
    a_star: np.ndarray


def _f(c):
    return 1.0 - c * c + 0.2 * (1.0 - c)


@numba.njit(inline="always", error_model="numpy")
def toy_loss_lanes(params, w, a, work, loss, angle):
    p, n = w.shape
    for l in range(n):
        work[0, l] = 0.0
        loss[l] = 0.0
    for i in range(p):
        for l in range(n):
            work[0, l] += w[i, l] * params.w_star[i]
    for j in range(a.shape[0]):
        for l in range(n):
            d = a[j, l] - params.a_star[j]
            loss[l] += 0.5 * d * d
    for l in range(n):
        c = work[0, l]
        loss[l] += 1.0 - c * c + 0.2 * (1.0 - c)
        angle[l] = np.arccos(min(1.0, max(-1.0, c)))


@numba.njit(inline="always", error_model="numpy")
def toy_grad_lanes(params, w, a, grad_w, grad_a, work):
    p, n = w.shape
    for l in range(n):
        work[0, l] = 0.0
    for i in range(p):
        for l in range(n):
            work[0, l] += w[i, l] * params.w_star[i]
    for i in range(p):
        for l in range(n):
            grad_w[i, l] = (-2.0 * work[0, l] - 0.2) * params.w_star[i]
    for j in range(a.shape[0]):
        for l in range(n):
            grad_a[j, l] = a[j, l] - params.a_star[j]


def toy_population_loss(w, a, w_star, a_star):
    w, a = np.asarray(w, float), np.asarray(a, float)
    return float(0.5 * np.sum((a - a_star) ** 2) + _f(w @ w_star))


def toy_gradient(w, a, w_star, a_star):
    """The Euclidean gradient, in NumPy: the obvious reference."""
    c = w @ w_star
    return (-2.0 * c - 0.2) * np.asarray(w_star, float), np.asarray(a, float) - a_star


TOY = Landscape(
    name="toy",
    summary="a toy double well on the sphere (tests only)",
    params_type=ToyParams,
    make_params=ToyParams,
    loss_lanes=toy_loss_lanes,
    grad_lanes=toy_grad_lanes,
    population_loss=toy_population_loss,
    spurious_optimum=lambda w_star, a_star: (-np.asarray(w_star, float), np.asarray(a_star, float).copy()),
)
