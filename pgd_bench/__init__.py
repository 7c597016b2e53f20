"""pgd_bench: how noise helps first-order methods escape a spurious local optimum.

A Numba-accelerated benchmarking suite on the teacher-student two-layer non-overlapping CNN of
Zhou et al. (ICML 2019) and Du et al. (ICML 2018).

Public API
----------
Landscape: :func:`population_loss`, :func:`population_grad`, :func:`spurious_optimum`.
Network over sample batches: :func:`forward`, :func:`sample_loss_grad`.
Geometry: :func:`tangent_projection`, :func:`riemannian_step`.
Sharpness: :func:`riemannian_hessian`, :func:`sharpness`.
Random streams: :func:`sample_sphere`, :func:`sample_ball`, :func:`sample_normal`.
"""

from ._provenance import PACKAGE_VERSION as __version__
from .geometry import riemannian_step, tangent_projection
from .model.landscape import population_grad, population_loss, spurious_optimum
from .model.network import forward, sample_loss_grad
from .model.sharpness import riemannian_hessian, sharpness
from .streams import sample_ball, sample_normal, sample_sphere

__all__ = [
    "__version__",
    "forward",
    "population_grad",
    "population_loss",
    "riemannian_hessian",
    "riemannian_step",
    "sample_ball",
    "sample_loss_grad",
    "sample_normal",
    "sample_sphere",
    "sharpness",
    "spurious_optimum",
    "tangent_projection",
]
