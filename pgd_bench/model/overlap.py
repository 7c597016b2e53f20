"""Overlapping filters: the two-layer CNN whose patches are taken with a stride ``s < p``.

Implements docs/mathematics.md, "Overlapping patches". One input ``x ~ N(0, I_d)``,
``d = (k - 1) s + p``, patch ``j`` is ``Z_j = x[j s : j s + p]``; ``s = p`` is the poster's model
(:mod:`pgd_bench.model.landscape`), which this module reduces to (tested). For filters ``u, v``
and patches ``i, j`` with ``i - j = D``, ``u.Z_i`` and ``v.Z_j`` are centred jointly Gaussian with
standard deviations ``||u||, ||v||`` and covariance::

    c_uv(D) = sum_m u_m v_(m + D s)        (0 <= m < p, 0 <= m + D s < p; zero for |D| s >= p)

and, with ``S = ||u|| ||v||`` and ``r = c / S``::

    E[relu(u.Z_i) relu(v.Z_j)] = E(S, c) = (sqrt(S^2 - c^2) + (pi - arccos r) c) / (2 pi)
    dE/dc = (pi - arccos r) / (2 pi),   dE/dS = sqrt(1 - r^2) / (2 pi)

both finite at ``r = +-1`` (the gradient is taken through them, never through ``sqrt`` and
``arccos`` separately). Beyond the reach ``R = ceil(p / s) - 1`` patches do not overlap and
``E = S / (2 pi)``; so with ``B_ab(D) = sum_j a_(j + D) b_j``::

    T(u, a; v, b) = S/(2 pi) (1.a)(1.b) + sum_(|D| <= R) [E(S, c_uv(D)) - S/(2 pi)] B_ab(D)
    L(w, a)       = T(w*, a*; w*, a*) - 2 T(w, a; w*, a*) + T(w, a; w, a)

(the teacher's term is a constant of the parameters). The lane kernels run one shift ``D`` at a
time over all lanes, so their scratch is a fixed number of rows whatever ``R``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._jit import jit
from ..geometry import dot
from .special import arccos_kernel

_INV_PI = 1.0 / np.pi
_INV_2PI = 1.0 / (2.0 * np.pi)


class OverlapParams(NamedTuple):
    """What the overlapping CNN's lane kernels read: the teacher, the stride, the reach
    ``R = ceil(p / s) - 1`` and the teacher's constant term ``T(w*, a*; w*, a*)``."""

    w_star: np.ndarray
    a_star: np.ndarray
    stride: int
    reach: int
    teacher_term: float


def reach_of(p: int, stride: int) -> int:
    """``ceil(p / s) - 1``: how many neighbouring patches a patch overlaps on each side."""
    return -(-p // stride) - 1


@jit(inline=True)
def pair_moments(S, c):
    """``(E, dE/dS, dE/dc)`` for centred jointly Gaussian ``X, Y`` with ``std(X) std(Y) = S``
    and covariance ``c``: ``E = E[relu(X) relu(Y)]`` (module docstring). ``r = c / S`` is clipped
    to [-1, 1] against rounding (comparisons, so a NaN stays a NaN)."""
    r = c / S
    if r > 1.0:
        r = 1.0
    elif r < -1.0:
        r = -1.0
    root = np.sqrt(max(0.0, 1.0 - r * r))
    slope = np.pi - arccos_kernel(r)
    return _INV_2PI * S * (root + slope * r), _INV_2PI * root, _INV_2PI * slope


@jit(inline=True)
def _shifted_dot(u, v, shift, p, out):
    """``out[l] = sum_m u[m, l] v[m + shift]`` over the overlap (``v`` one vector, ``u`` lanes)."""
    for l in range(out.shape[0]):
        out[l] = 0.0
    for m in range(max(0, -shift), min(p, p - shift)):
        vm = v[m + shift]
        for l in range(out.shape[0]):
            out[l] += u[m, l] * vm


@jit(inline=True)
def _lane_sums(w, a, nw, sum_a, aa):
    """Per lane: ``nw = ||w||``, ``sum_a = 1.a``, ``aa = ||a||^2`` (both kernels start here)."""
    p, n = w.shape
    for l in range(n):
        nw[l] = 0.0
        sum_a[l] = 0.0
        aa[l] = 0.0
    for i in range(p):
        for l in range(n):
            nw[l] += w[i, l] * w[i, l]
    for j in range(a.shape[0]):
        for l in range(n):
            sum_a[l] += a[j, l]
            aa[l] += a[j, l] * a[j, l]
    for l in range(n):
        nw[l] = np.sqrt(nw[l])


@jit(inline=True)
def _cross_shift(w, a, w_star, a_star, d, stride, c, b):
    """For the cross terms at shift ``d``: ``c = c_(w w*)(d)`` and ``B(d) = sum_j a_(j + d) a*_j``."""
    k = a.shape[0]
    _shifted_dot(w, w_star, d * stride, w.shape[0], c)
    for l in range(b.shape[0]):
        b[l] = 0.0
    for j in range(max(0, -d), min(k, k - d)):
        aj = a_star[j]
        for l in range(b.shape[0]):
            b[l] += a[j + d, l] * aj


@jit(inline=True)
def _own_shift(w, a, d, stride, c, b):
    """For the student's own terms at shift ``d > 0``: ``c = c_(w w)(d)`` and ``B = sum_j a_(j + d) a_j``."""
    shift = d * stride
    for l in range(c.shape[0]):
        c[l] = 0.0
        b[l] = 0.0
    for m in range(w.shape[0] - shift):
        for l in range(c.shape[0]):
            c[l] += w[m, l] * w[m + shift, l]
    for j in range(a.shape[0] - d):
        for l in range(c.shape[0]):
            b[l] += a[j + d, l] * a[j, l]


def teacher_term(w_star, a_star, stride) -> float:
    """``T(w*, a*; w*, a*)``: the population loss's constant, in NumPy (once per run)."""
    p, k = w_star.shape[0], a_star.shape[0]
    norm2 = float(w_star @ w_star)
    base = norm2 * _INV_2PI
    with np.errstate(over="ignore", invalid="ignore"):  # a huge teacher: inf, refused by the callers
        s_star = np.float64(a_star.sum())
        total = base * s_star * s_star + (0.5 * norm2 - base) * np.float64(a_star @ a_star)
        for d in range(1, reach_of(p, stride) + 1):
            c = float(w_star[: p - d * stride] @ w_star[d * stride :])
            b = np.float64(a_star[: k - d] @ a_star[d:]) if d < k else 0.0
            e, _, _ = pair_moments(norm2, c)
            total += 2.0 * (e - base) * b
    return float(total)


def make_params(w_star, a_star, stride) -> OverlapParams:
    """The parameters of the overlapping CNN's lane kernels for a teacher and a stride."""
    w_star = np.ascontiguousarray(w_star, dtype=np.float64)
    a_star = np.ascontiguousarray(a_star, dtype=np.float64)
    stride = int(stride)
    return OverlapParams(w_star, a_star, stride, reach_of(w_star.shape[0], stride),
                         teacher_term(w_star, a_star, stride))  # fmt: skip


@jit(inline=True)
def overlap_loss_lanes(params, w, a, work, loss, angle):
    """Closed-form population loss of every lane (module docstring), and each lane's angle
    between ``w`` and ``w*``. ``work`` rows: 0 ``||w||``, 1 ``1.a``, 2 ``||a||^2``, 3 the
    covariance of the current shift, 4 its ``B``, 5 the cross term, 6 the student's own."""
    w_star = params.w_star
    a_star = params.a_star
    stride = params.stride
    p, n = w.shape
    k = a.shape[0]
    nw = work[0]
    sum_a = work[1]
    aa = work[2]
    c = work[3]
    b = work[4]
    cross = work[5]
    own = work[6]
    norm_s = np.sqrt(dot(w_star, w_star))
    s_star = 0.0
    for j in range(k):
        s_star += a_star[j]
    _lane_sums(w, a, nw, sum_a, aa)
    for l in range(n):
        cross[l] = 0.0
        own[l] = 0.0
    for d in range(-params.reach, params.reach + 1):
        _cross_shift(w, a, w_star, a_star, d, stride, c, b)
        for l in range(n):
            size = nw[l] * norm_s
            e, _, _ = pair_moments(size, c[l])
            cross[l] += (e - _INV_2PI * size) * b[l]
            if d == 0:
                cos_t = c[l] / size
                if cos_t > 1.0:
                    cos_t = 1.0
                elif cos_t < -1.0:
                    cos_t = -1.0
                angle[l] = arccos_kernel(cos_t)
    for d in range(1, params.reach + 1):  # the student's own shifted terms, each twice (D and -D)
        _own_shift(w, a, d, stride, c, b)
        for l in range(n):
            size = nw[l] * nw[l]
            e, _, _ = pair_moments(size, c[l])
            own[l] += 2.0 * (e - _INV_2PI * size) * b[l]
    for l in range(n):
        ww = nw[l] * nw[l]
        student = _INV_2PI * ww * sum_a[l] * sum_a[l] + (0.5 - _INV_2PI) * ww * aa[l] + own[l]
        teacher_cross = _INV_2PI * nw[l] * norm_s * sum_a[l] * s_star + cross[l]
        loss[l] = params.teacher_term - 2.0 * teacher_cross + student


@jit(inline=True)
def overlap_grad_lanes(params, w, a, grad_w, grad_a, work):
    """Euclidean gradients of every lane's loss (docs/mathematics.md, "Overlapping patches"):
    the scalar coefficients of ``w`` are gathered per lane and added last."""
    w_star = params.w_star
    a_star = params.a_star
    stride = params.stride
    p, n = w.shape
    k = a.shape[0]
    nw = work[0]
    sum_a = work[1]
    aa = work[2]
    c = work[3]
    b = work[4]
    cw = work[5]  # grad_w = cw * w + (the shifted filters)
    coef = work[6]  # per shift: the factor of the shifted teacher's (or student's) filter
    diff = work[7]  # per shift: E - S/(2 pi), the factor of the shifted a
    norm_s = np.sqrt(dot(w_star, w_star))
    s_star = 0.0
    for j in range(k):
        s_star += a_star[j]
    _lane_sums(w, a, nw, sum_a, aa)
    for i in range(p):
        for l in range(n):
            grad_w[i, l] = 0.0
    for l in range(n):
        ww = nw[l] * nw[l]
        # d/dw of -2 S/(2 pi) (1.a) s* + ||w||^2/(2 pi) (1.a)^2 + (1/2 - 1/(2 pi)) ||w||^2 ||a||^2
        cw[l] = -2.0 * _INV_2PI * norm_s / nw[l] * sum_a[l] * s_star + _INV_PI * sum_a[l] * sum_a[l]
        cw[l] += (1.0 - _INV_PI) * aa[l]
        coef[l] = -2.0 * _INV_2PI * nw[l] * norm_s * s_star + 2.0 * _INV_2PI * ww * sum_a[l]
    for j in range(k):
        for l in range(n):
            grad_a[j, l] = coef[l] + (1.0 - 2.0 * _INV_2PI) * nw[l] * nw[l] * a[j, l]
    for d in range(-params.reach, params.reach + 1):  # the cross terms, -2 T(w, a; w*, a*)
        shift = d * stride
        _cross_shift(w, a, w_star, a_star, d, stride, c, b)
        for l in range(n):
            size = nw[l] * norm_s
            e, e_size, e_cov = pair_moments(size, c[l])
            diff[l] = -2.0 * (e - _INV_2PI * size)
            cw[l] += -2.0 * b[l] * (e_size - _INV_2PI) * norm_s / nw[l]
            coef[l] = -2.0 * b[l] * e_cov
        for m in range(max(0, -shift), min(p, p - shift)):
            wm = w_star[m + shift]
            for l in range(n):
                grad_w[m, l] += coef[l] * wm
        for j in range(max(0, d), min(k, k + d)):
            aj = a_star[j - d]
            for l in range(n):
                grad_a[j, l] += diff[l] * aj
    for d in range(1, params.reach + 1):  # the student's own shifted terms, 2 sum_D>0 (E - S/(2 pi)) B
        shift = d * stride
        _own_shift(w, a, d, stride, c, b)
        for l in range(n):
            size = nw[l] * nw[l]
            e, e_size, e_cov = pair_moments(size, c[l])
            diff[l] = 2.0 * (e - _INV_2PI * size)
            cw[l] += 2.0 * b[l] * (2.0 * e_size - _INV_PI)
            coef[l] = 2.0 * b[l] * e_cov
        for m in range(p - shift):  # d c / d w_m = w_(m + shift) + w_(m - shift)
            for l in range(n):
                grad_w[m, l] += coef[l] * w[m + shift, l]
                grad_w[m + shift, l] += coef[l] * w[m, l]
        for j in range(k - d):  # d B / d a_j = a_(j + d) + a_(j - d)
            for l in range(n):
                grad_a[j, l] += diff[l] * a[j + d, l]
                grad_a[j + d, l] += diff[l] * a[j, l]
    for i in range(p):
        for l in range(n):
            grad_w[i, l] += cw[l] * w[i, l]
