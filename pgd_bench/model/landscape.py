"""The exact (closed-form) population landscape of the teacher-student CNN.

Implements docs/mathematics.md, "Closed-form population loss" and "Euclidean gradients". For non-zero
``u, v`` at angle ``theta`` and ``Z_j ~ N(0, I_p)``::

    G(u,b; v,c) = ||u|| ||v|| / (2 pi) * [ (g(theta) - 1) (b.c) + (1.b)(1.c) ],
    g(theta)    = (pi - theta) cos(theta) + sin(theta),
    L(w, a)     = G(w*,a*; w*,a*) - 2 G(w,a; w*,a*) + G(w,a; w,a).

The formulas hold for any non-zero ``w`` (not only unit), which perturbed methods need: they
evaluate gradients at ``w + xi``, off the sphere. At ``w = 0`` the angle is undefined; the kernels
then return NaN, which the trial engine detects and reports (it never happens with probability
greater than zero).

Each quantity has a compiled kernel over *lanes*: arrays of shape ``(p, n)`` and ``(k, n)`` that hold
``n`` parameter points side by side, one per column, with every loop running over the lanes
innermost so that LLVM compiles it to SIMD code (the trial engine runs a block of trials this way).
The public Python functions validate their input and call the same kernels with one lane.
"""

from __future__ import annotations

import numpy as np

from .._jit import jit
from .._validate import as_point, as_stride, as_unit_vector, as_vector
from ..geometry import dot
from .base import LANE_WORK_ROWS
from .overlap import make_params, overlap_grad_lanes, overlap_loss_lanes
from .special import arccos_kernel

_INV_PI = 1.0 / np.pi
_INV_2PI = 1.0 / (2.0 * np.pi)


@jit(inline=True)
def _lane_terms(w, a, w_star, a_star, work):
    """Per lane (column) ``l``: the scalars both the loss and the gradient are built from.

    Writes rows of ``work``: 0 ``||w||``, 1 ``cos theta``, 2 ``theta``, 3 ``sin theta``,
    4 ``s = 1.a``, 5 ``c = a.a*``, 6 ``||a||^2``. Returns ``(||w*||, 1.a*, ||a*||^2)``.

    Every loop runs over lanes innermost, so it compiles to SIMD code across trials.
    ``cos`` is clipped to [-1, 1] against rounding; ``sin = sqrt(1 - cos^2)`` (``theta`` in
    [0, pi]). At ``w = 0`` the angle is NaN, propagated on purpose.
    """
    p, n = w.shape
    k = a.shape[0]
    norm_w = work[0]
    cos_t = work[1]
    theta = work[2]
    sin_t = work[3]
    s = work[4]
    c = work[5]
    aa = work[6]
    norm_s = np.sqrt(dot(w_star, w_star))
    s_star = 0.0
    ss = 0.0
    for j in range(k):
        s_star += a_star[j]
        ss += a_star[j] * a_star[j]
    for l in range(n):
        norm_w[l] = 0.0
        cos_t[l] = 0.0
        s[l] = 0.0
        c[l] = 0.0
        aa[l] = 0.0
    for i in range(p):
        for l in range(n):
            norm_w[l] += w[i, l] * w[i, l]
            cos_t[l] += w[i, l] * w_star[i]
    for j in range(k):
        for l in range(n):
            s[l] += a[j, l]
            c[l] += a[j, l] * a_star[j]
            aa[l] += a[j, l] * a[j, l]
    for l in range(n):
        nw = np.sqrt(norm_w[l])
        ct = cos_t[l] / (nw * norm_s)
        if ct > 1.0:  # comparisons, not min/max, so that a NaN stays a NaN
            ct = 1.0
        elif ct < -1.0:
            ct = -1.0
        norm_w[l] = nw
        cos_t[l] = ct
        theta[l] = arccos_kernel(ct)
        sin_t[l] = np.sqrt(max(0.0, 1.0 - ct * ct))
    return norm_s, s_star, ss


@jit(inline=True)
def loss_lanes(w, a, w_star, a_star, work, out):
    """Closed-form population loss of every lane: ``out[l] = L(w[:, l], a[:, l])``.

    ``w`` has shape ``(p, n)``, ``a`` ``(k, n)``, ``work`` ``(LANE_WORK_ROWS, n)``.
    """
    norm_s, s_star, ss = _lane_terms(w, a, w_star, a_star, work)
    g_teacher = norm_s * norm_s * ((np.pi - 1.0) * ss + s_star * s_star)
    for l in range(w.shape[1]):
        nw = work[0, l]
        s = work[4, l]
        g = (np.pi - work[2, l]) * work[1, l] + work[3, l]
        g_cross = nw * norm_s * ((g - 1.0) * work[5, l] + s * s_star)
        g_student = nw * nw * ((np.pi - 1.0) * work[6, l] + s * s)
        out[l] = _INV_2PI * (g_teacher - 2.0 * g_cross + g_student)


@jit(inline=True)
def grad_lanes(w, a, w_star, a_star, grad_w, grad_a, work):
    """Euclidean gradients of ``L`` for every lane, written into ``grad_w`` and ``grad_a``.

    docs/mathematics.md, "Euclidean gradients"::

        grad_a = (1/pi) [ ||w||^2 ((pi-1) a + s 1) - ||w|| ||w*|| ((g-1) a* + s* 1) ]
        grad_w = (1/pi) [ (pi-1) ||a||^2 + s^2 ] w
                 - (1/pi) [ c ((pi-theta) w* + ||w*|| sin(theta) w_hat) + (s s* - c) ||w*|| w_hat ]

    Shapes as in :func:`loss_lanes`; ``grad_w`` is ``(p, n)`` and ``grad_a`` ``(k, n)``.
    """
    norm_s, s_star, _ = _lane_terms(w, a, w_star, a_star, work)
    p, n = w.shape
    k = a.shape[0]
    # per-lane coefficients: grad_a = ca * a + cb + cc * a*,  grad_w = cw * w - cs * w*
    ca = work[7]
    cb = work[8]
    cc = work[9]
    cw = work[10]
    cs = work[11]
    for l in range(n):
        nw = work[0, l]
        theta = work[2, l]
        s = work[4, l]
        c = work[5, l]
        g = (np.pi - theta) * work[1, l] + work[3, l]
        ww = nw * nw
        ws = nw * norm_s
        ca[l] = _INV_PI * ww * (np.pi - 1.0)
        cb[l] = _INV_PI * (ww * s - ws * s_star)
        cc[l] = -_INV_PI * ws * (g - 1.0)
        coef_hat = _INV_PI * (c * norm_s * work[3, l] + (s * s_star - c) * norm_s) / nw
        cw[l] = _INV_PI * ((np.pi - 1.0) * work[6, l] + s * s) - coef_hat
        cs[l] = _INV_PI * c * (np.pi - theta)
    for j in range(k):
        for l in range(n):
            grad_a[j, l] = ca[l] * a[j, l] + cb[l] + cc[l] * a_star[j]
    for i in range(p):
        for l in range(n):
            grad_w[i, l] = cw[l] * w[i, l] - cs[l] * w_star[i]


@jit
def spurious_kernel(w_star, a_star, w_bar, a_bar):
    """Write the spurious local optimum of Du et al. (2018) into ``w_bar`` and ``a_bar``.

    ``w_bar = -w*``; ``a_bar = [pi s* / (k + pi - 1) 1 - a*] / (pi - 1)``
    (docs/mathematics.md, "The spurious local optimum").
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


def population_loss(w, a, w_star, a_star, *, stride=None) -> float:
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
    stride : int, optional
        Patches taken with stride ``s`` in ``[1, p]`` from one input of ``(k - 1) s + p`` Gaussian
        entries (overlapping when ``s < p``; docs/mathematics.md, "Overlapping patches"). None
        (the default) or ``p``: the poster's non-overlapping model.

    Returns
    -------
    float
        The loss (no 1/2 factor); zero at the teacher.

    Raises
    ------
    ValueError
        On wrong shapes, non-finite entries, ``w = 0`` (or entries all below 1e-150),
        ``||w_star|| != 1`` or a stride outside ``[1, p]``.
    """
    w, a, w_star, a_star = as_point(w, a, w_star, a_star)
    stride = as_stride(stride, w_star.shape[0])
    return _finite(float(loss_rows(w[None, :], a[None, :], w_star, a_star, stride)[0]))


def _finite(result):
    """``result`` (a float or arrays) if finite: the closed form's products of norms overflow past
    about 1e154, and inf - inf then gives NaN; finite inputs must not give a NaN silently (a ``w``
    too close to 0 is refused before: ``_validate.SMALLEST_ENTRY``)."""
    if not all(np.all(np.isfinite(part)) for part in (result if isinstance(result, tuple) else (result,))):
        raise ValueError("w, a: the closed form overflows at this point (||w|| or ||a|| too large for float64)")
    return result


def population_grad(w, a, w_star, a_star, *, stride=None) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean gradients of the population loss at ``(w, a)``.

    Parameters
    ----------
    w, a, w_star, a_star, stride
        As in :func:`population_loss`.

    Returns
    -------
    grad_w : ndarray, shape (p,)
    grad_a : ndarray, shape (k,)
    """
    w, a, w_star, a_star = as_point(w, a, w_star, a_star)
    stride = as_stride(stride, w_star.shape[0])
    grad_w, grad_a = grad_rows(w[None, :], a[None, :], w_star, a_star, stride)
    return _finite((grad_w[0], grad_a[0]))


def loss_rows(w, a, w_star, a_star, stride=None) -> np.ndarray:
    """The population loss at every row of ``w`` ``(n, p)`` and ``a`` ``(n, k)``, unchecked (for
    the suite's own callers; :func:`population_loss` is the checked entry). ``stride`` as there,
    already resolved (None: the poster's model)."""
    n = w.shape[0]
    lanes_w, lanes_a = np.ascontiguousarray(w.T), np.ascontiguousarray(a.T)
    out, work = np.empty(n), np.empty((LANE_WORK_ROWS, n))
    if stride is None:
        loss_lanes(lanes_w, lanes_a, w_star, a_star, work, out)
    else:
        overlap_loss_lanes(make_params(w_star, a_star, stride), lanes_w, lanes_a, work, out, np.empty(n))
    return out


def grad_rows(w, a, w_star, a_star, stride=None) -> tuple[np.ndarray, np.ndarray]:
    """The Euclidean gradients at every row, unchecked (as :func:`loss_rows`): ``(n, p)``, ``(n, k)``."""
    n = w.shape[0]
    lanes_w, lanes_a = np.ascontiguousarray(w.T), np.ascontiguousarray(a.T)
    grad_w, grad_a = np.empty((w.shape[1], n)), np.empty((a.shape[1], n))
    work = np.empty((LANE_WORK_ROWS, n))
    if stride is None:
        grad_lanes(lanes_w, lanes_a, w_star, a_star, grad_w, grad_a, work)
    else:
        overlap_grad_lanes(make_params(w_star, a_star, stride), lanes_w, lanes_a, grad_w, grad_a, work)
    return grad_w.T, grad_a.T


def curvature_scale(k: int) -> float:
    """``pi / (pi - 1 + k)``: the inverse of the largest eigenvalue of the Hessian of ``L`` in ``a``
    per unit ``||w||^2`` (that Hessian is ``||w||^2 ((pi - 1) I + 1 1^T) / pi``).

    The curvature scaling of the step sizes (``scale_steps``) multiplies them by this factor, so
    that one setting is stable for every ``k`` (docs/mathematics.md).
    """
    return np.pi / (np.pi - 1.0 + k)


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
