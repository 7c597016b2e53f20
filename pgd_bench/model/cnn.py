"""The poster's model as a landscape record: the non-overlapping two-layer CNN with ReLU, and the
same CNN with overlapping patches (``stride < p``, beyond the poster's theorem).

Its closed form is :mod:`pgd_bench.model.landscape`, its sample kernels :mod:`~pgd_bench.model.network`
and :mod:`~pgd_bench.model.data`, its Hessian :mod:`~pgd_bench.model.sharpness`; this module
gives the engine its parameters and lane kernels in the landscapes' common form
(:class:`pgd_bench.model.base.Landscape`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._jit import jit
from .base import Landscape
from .landscape import grad_lanes, loss_lanes, population_loss, spurious_optimum
from .overlap import OverlapParams, make_params, overlap_grad_lanes, overlap_loss_lanes
from .sharpness import sharpness


class CNNParams(NamedTuple):
    """What the CNN's lane kernels read: the teacher's filter and output weights."""

    w_star: np.ndarray
    a_star: np.ndarray


@jit(inline=True)
def cnn_loss_lanes(params, w, a, work, loss, angle):
    """:func:`~pgd_bench.model.landscape.loss_lanes`, which leaves each lane's angle to ``w*`` in
    ``work[2]``."""
    loss_lanes(w, a, params.w_star, params.a_star, work, loss)
    for l in range(w.shape[1]):
        angle[l] = work[2, l]


@jit(inline=True)
def cnn_grad_lanes(params, w, a, grad_w, grad_a, work):
    """:func:`~pgd_bench.model.landscape.grad_lanes` in the landscapes' common form."""
    grad_lanes(w, a, params.w_star, params.a_star, grad_w, grad_a, work)


CNN = Landscape(
    name="cnn",
    summary="the poster's non-overlapping two-layer CNN with ReLU, Gaussian inputs (closed form)",
    params_type=CNNParams,
    make_params=CNNParams,
    loss_lanes=cnn_loss_lanes,
    grad_lanes=cnn_grad_lanes,
    population_loss=population_loss,
    spurious_optimum=spurious_optimum,
    sharpness=sharpness,
    samples=True,
)


OVERLAPPING = Landscape(
    name="overlapping",
    summary="the same CNN with patches taken at stride s < p (overlapping; closed form; chosen by --stride)",
    params_type=OverlapParams,
    make_params=make_params,
    loss_lanes=overlap_loss_lanes,
    grad_lanes=overlap_grad_lanes,
    population_loss=population_loss,
    sharpness=sharpness,
    samples=True,
    options=("stride",),
)
