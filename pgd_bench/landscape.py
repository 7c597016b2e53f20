"""The exact (closed-form) population landscape of the teacher-student CNN.

Implements MATH.md, "Closed-form population loss" and "Euclidean gradients". For non-zero
``u, v`` at angle ``theta`` and ``Z_j ~ N(0, I_p)``::

    G(u,b; v,c) = ||u|| ||v|| / (2 pi) * [ (g(theta) - 1) (b.c) + (1.b)(1.c) ],
    g(theta)    = (pi - theta) cos(theta) + sin(theta),
    L(w, a)     = G(w*,a*; w*,a*) - 2 G(w,a; w*,a*) + G(w,a; w,a).

The formulas hold for any non-zero ``w`` (not only unit), which perturbed methods need: they
evaluate gradients at ``w + xi``, off the sphere. At ``w = 0`` the angle is undefined; the kernels
then return NaN, which the trial engine detects and reports (it never happens with probability
greater than zero).

Each quantity has a serial compiled kernel (used by the trial engine inside its parallel loop)
and a public Python function that validates its input.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit
from ._validate import as_point, as_unit_vector, as_vector

_INV_PI = 1.0 / np.pi
_INV_2PI = 1.0 / (2.0 * np.pi)


@jit(inline=True)
def _dot(x, y):
    acc = 0.0
    for i in range(x.shape[0]):
        acc += x[i] * y[i]
    return acc


@jit(inline=True)
def _angle_terms(w, w_star):
    """Return ``(||w||, ||w*||, theta, cos theta, sin theta)`` for ``theta = angle(w, w*)``.

    ``cos`` is clipped to [-1, 1] against rounding; ``sin`` comes from ``sqrt(1 - cos^2)``
    (``theta`` lies in [0, pi], so ``sin >= 0``), cheaper than ``sin(acos(.))``.
    """
    norm_w = np.sqrt(_dot(w, w))
    norm_s = np.sqrt(_dot(w_star, w_star))
    cos_t = _dot(w, w_star) / (norm_w * norm_s)  # NaN when w = 0: propagated on purpose
    if cos_t > 1.0:
        cos_t = 1.0
    elif cos_t < -1.0:
        cos_t = -1.0
    theta = np.arccos(cos_t)
    sin_t = np.sqrt(max(0.0, 1.0 - cos_t * cos_t))
    return norm_w, norm_s, theta, cos_t, sin_t


@jit(inline=True)
def _sums(a, a_star):
    """Return ``(1.a, 1.a*, a.a*, ||a||^2, ||a*||^2)``."""
    s = 0.0
    s_star = 0.0
    c = 0.0
    aa = 0.0
    ss = 0.0
    for j in range(a.shape[0]):
        s += a[j]
        s_star += a_star[j]
        c += a[j] * a_star[j]
        aa += a[j] * a[j]
        ss += a_star[j] * a_star[j]
    return s, s_star, c, aa, ss


@jit(inline=True)
def loss_kernel(w, a, w_star, a_star):
    """Closed-form population loss ``L(w, a)`` (serial, compiled)."""
    norm_w, norm_s, theta, cos_t, sin_t = _angle_terms(w, w_star)
    s, s_star, c, aa, ss = _sums(a, a_star)
    g = (np.pi - theta) * cos_t + sin_t
    g_teacher = norm_s * norm_s * ((np.pi - 1.0) * ss + s_star * s_star)
    g_cross = norm_w * norm_s * ((g - 1.0) * c + s * s_star)
    g_student = norm_w * norm_w * ((np.pi - 1.0) * aa + s * s)
    return _INV_2PI * (g_teacher - 2.0 * g_cross + g_student)


@jit(inline=True)
def grad_kernel(w, a, w_star, a_star, grad_w, grad_a):
    """Write the Euclidean gradients of ``L`` at ``(w, a)`` into ``grad_w`` and ``grad_a``.

    MATH.md, "Euclidean gradients"::

        grad_a = (1/pi) [ ||w||^2 ((pi-1) a + s 1) - ||w|| ||w*|| ((g-1) a* + s* 1) ]
        grad_w = (1/pi) [ (pi-1) ||a||^2 + s^2 ] w
                 - (1/pi) [ c ((pi-theta) w* + ||w*|| sin(theta) w_hat) + (s s* - c) ||w*|| w_hat ]
    """
    norm_w, norm_s, theta, cos_t, sin_t = _angle_terms(w, w_star)
    s, s_star, c, aa, ss = _sums(a, a_star)
    g = (np.pi - theta) * cos_t + sin_t
    ww = norm_w * norm_w
    ws = norm_w * norm_s
    for j in range(a.shape[0]):
        grad_a[j] = _INV_PI * (ww * ((np.pi - 1.0) * a[j] + s) - ws * ((g - 1.0) * a_star[j] + s_star))
    coef_w = _INV_PI * ((np.pi - 1.0) * aa + s * s)
    coef_star = _INV_PI * c * (np.pi - theta)
    coef_hat = _INV_PI * (c * norm_s * sin_t + (s * s_star - c) * norm_s) / norm_w
    for i in range(w.shape[0]):
        grad_w[i] = coef_w * w[i] - coef_star * w_star[i] - coef_hat * w[i]


@jit
def spurious_kernel(w_star, a_star, w_bar, a_bar):
    """Write the spurious local optimum of Du et al. (2018) into ``w_bar`` and ``a_bar``.

    ``w_bar = -w*``; ``a_bar = [pi s* / (k + pi - 1) 1 - a*] / (pi - 1)`` (MATH.md).
    """
    k = a_star.shape[0]
    s_star = 0.0
    for j in range(k):
        s_star += a_star[j]
    shift = np.pi * s_star / (k + np.pi - 1.0)
    for j in range(k):
        a_bar[j] = (shift - a_star[j]) / (np.pi - 1.0)
    for i in range(w_star.shape[0]):
        w_bar[i] = -w_star[i]


def population_loss(w, a, w_star, a_star) -> float:
    """Exact population loss ``L(w, a) = E_Z (f(w*, a*, Z) - f(w, a, Z))^2``.

    Parameters
    ----------
    w : array_like, shape (p,)
        Student filter, any non-zero norm.
    a : array_like, shape (k,)
        Student output weights.
    w_star : array_like, shape (p,)
        Teacher filter, unit norm.
    a_star : array_like, shape (k,)
        Teacher output weights.

    Returns
    -------
    float
        The loss (no 1/2 factor); zero at the teacher.

    Raises
    ------
    ValueError
        On wrong shapes, non-finite entries, ``w = 0`` or ``||w_star|| != 1``.
    """
    return float(loss_kernel(*as_point(w, a, w_star, a_star)))


def population_grad(w, a, w_star, a_star) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean gradients of the population loss at ``(w, a)``.

    Parameters
    ----------
    w, a, w_star, a_star
        As in :func:`population_loss`.

    Returns
    -------
    grad_w : ndarray, shape (p,)
    grad_a : ndarray, shape (k,)
    """
    w, a, w_star, a_star = as_point(w, a, w_star, a_star)
    grad_w = np.empty_like(w)
    grad_a = np.empty_like(a)
    grad_kernel(w, a, w_star, a_star, grad_w, grad_a)
    return grad_w, grad_a


def spurious_optimum(w_star, a_star) -> tuple[np.ndarray, np.ndarray]:
    """The spurious local minimum ``(w_bar, a_bar)`` of the constrained problem.

    Parameters
    ----------
    w_star : array_like, shape (p,)
        Teacher filter, unit norm.
    a_star : array_like, shape (k,)
        Teacher output weights.

    Returns
    -------
    w_bar : ndarray, shape (p,)
        ``-w_star``.
    a_bar : ndarray, shape (k,)
        ``(1 1^T + (pi - 1) I)^(-1) (1 1^T - I) a_star``.
    """
    w_star = as_unit_vector("w_star", w_star)
    a_star = as_vector("a_star", a_star)
    w_bar = np.empty_like(w_star)
    a_bar = np.empty_like(a_star)
    spurious_kernel(w_star, a_star, w_bar, a_bar)
    return w_bar, a_bar
