"""Sharpness: the Riemannian Hessian of the population loss on ``S^(p-1) x R^k``, in closed form.

docs/mathematics.md, "The Riemannian Hessian". With ``theta = angle(w, w*)``, ``w_hat = w/||w||``,
``s = 1.a``, ``s* = 1.a*``, ``c = a.a*`` and ``v = w*_hat - cos(theta) w_hat`` (so ``||v|| =
sin(theta)``), the Euclidean Hessian of ``L`` (docs/mathematics.md, "Euclidean gradients",
differentiated once more; ``dg/dw = (pi - theta) v / ||w||``) is::

    H_aa = ||w||^2 ((pi - 1) I + 1 1^T) / pi
    H_wa = [ 2 w ((pi - 1) a + s 1)^T - ||w*|| w_hat ((g - 1) a* + s* 1)^T
             - ||w*|| (pi - theta) v a*^T ] / pi
    H_ww = [(pi - 1) ||a||^2 + s^2] I / pi
           - ||w*|| [ c v v^T / sin(theta) + (c sin(theta) + s s* - c) (I - w_hat w_hat^T) ] / (pi ||w||)

``v v^T / sin(theta)`` has norm ``sin(theta)`` and tends to 0 at ``theta = 0`` and ``pi`` (where
``g`` is flat to second order): it is computed as ``v v^T / ||v||`` and set to 0 where ``v = 0``,
so both angles are exact. On the sphere (unit ``w``, tangent projection ``P = I - w w^T``) the
Riemannian Hessian of the product manifold, in ambient coordinates, is::

    [[ P H_ww P - (w . grad_w L) P,  P H_wa ],
     [ H_aw P,                       H_aa   ]]

symmetric, zero on the normal direction ``(w, 0)``; at a critical point it is the Hessian of ``L``
in tangent coordinates. Its largest eigenvalue and its trace are the *sharpness* reported per trial.

These are NumPy functions over stacks of points (a few hundred flops each): the engine never calls
them, the results do, once per trial at the end.
"""

from __future__ import annotations

import os

import numpy as np

from .._threads import run_ranges
from .._validate import as_point, as_rows, as_stride, as_unit_vector, as_vector, check_sphere_rows
from .base import LANE_WORK_ROWS
from .landscape import spurious_optimum
from .overlap import make_params, overlap_grad_lanes


def _hessians(w, a, w_star, a_star):
    """Riemannian Hessians at the unit rows of ``w`` (``(n, p)``) and rows of ``a`` (``(n, k)``):
    shape ``(n, p + k, p + k)``. Rows with a non-finite entry give NaN matrices."""
    n, p = w.shape
    k = a.shape[1]
    norm_s = np.sqrt(w_star @ w_star)
    s_star = a_star.sum()
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        nw = np.sqrt(np.einsum("ni,ni->n", w, w))
        w_hat = w / nw[:, None]
        cos_t = np.clip(w_hat @ (w_star / norm_s), -1.0, 1.0)
        theta = np.arccos(cos_t)
        sin_t = np.sqrt(np.maximum(0.0, 1.0 - cos_t * cos_t))
        g = (np.pi - theta) * cos_t + sin_t
        s = a.sum(axis=1)
        c = a @ a_star
        aa = np.einsum("nj,nj->n", a, a)
        v = w_star / norm_s - cos_t[:, None] * w_hat
        norm_v = np.sqrt(np.einsum("ni,ni->n", v, v))
        # v v^T / sin(theta), computed as v v^T / ||v||: exactly 0 where v = 0 (theta = 0 or pi)
        v_unit_scaled = np.where(norm_v[:, None] > 0.0, v / np.where(norm_v > 0.0, norm_v, 1.0)[:, None], 0.0)
        vvt_over_sin = v[:, :, None] * v_unit_scaled[:, None, :]
        eye_p = np.eye(p)
        ones = np.ones(k)

        h_ww = ((np.pi - 1.0) * aa + s * s)[:, None, None] / np.pi * eye_p
        radial = eye_p - w_hat[:, :, None] * w_hat[:, None, :]
        coef = norm_s / (np.pi * nw)
        h_ww -= (coef * c)[:, None, None] * vvt_over_sin
        h_ww -= (coef * (c * sin_t + s * s_star - c))[:, None, None] * radial

        left = (np.pi - 1.0) * a + s[:, None] * ones  # (n, k)
        teacher_part = (g - 1.0)[:, None] * a_star + s_star  # (n, k)
        h_wa = (
            2.0 * w[:, :, None] * left[:, None, :]
            - norm_s * w_hat[:, :, None] * teacher_part[:, None, :]
            - norm_s * ((np.pi - theta)[:, None] * v)[:, :, None] * a_star[None, None, :]
        ) / np.pi

        h_aa = (nw * nw)[:, None, None] * ((np.pi - 1.0) * np.eye(k) + 1.0) / np.pi

        # the Euclidean gradient's w part, for the curvature of the sphere: w . grad_w L
        cw = ((np.pi - 1.0) * aa + s * s) / np.pi
        w_dot_star = nw * cos_t * norm_s
        toward_teacher = c * ((np.pi - theta) * w_dot_star + norm_s * sin_t * nw) + (s * s_star - c) * norm_s * nw
        w_dot_grad = cw * nw * nw - toward_teacher / np.pi

    return _on_the_sphere(w, h_ww, h_wa, h_aa, w_dot_grad)


def _on_the_sphere(w, h_ww, h_wa, h_aa, w_dot_grad):
    """The Riemannian Hessian on ``S^(p-1) x R^k`` from the Euclidean blocks at unit rows ``w``
    and ``w . grad_w L`` (module docstring): shape ``(n, p + k, p + k)``, exactly symmetric."""
    n, p = w.shape
    k = h_aa.shape[1]
    with np.errstate(invalid="ignore", over="ignore"):
        proj = np.eye(p) - w[:, :, None] * w[:, None, :]
        out = np.empty((n, p + k, p + k))
        out[:, :p, :p] = proj @ h_ww @ proj - w_dot_grad[:, None, None] * proj
        out[:, :p, p:] = proj @ h_wa
        out[:, p:, :p] = np.swapaxes(out[:, :p, p:], 1, 2)
        out[:, p:, p:] = h_aa
        # symmetric by construction up to rounding in the products: make it exactly symmetric
        out[:, :p, :p] = 0.5 * (out[:, :p, :p] + np.swapaxes(out[:, :p, :p], 1, 2))
    return out


DIFFERENCE_STEP = 1e-4  # h of the Hessian by differences: truncation ~h^2 = 1e-8, rounding ~eps/h


def _hessians_by_differences(w, a, w_star, a_star, stride):
    """Riemannian Hessians of the overlapping model (stride ``s``), whose Euclidean Hessian is the
    central difference of its exact gradient (:mod:`pgd_bench.model.overlap`) with one Richardson
    step, ``2 D(h/2) - D(h)``: that removes the error linear in ``h`` that the third derivative's
    kinks (pairs of patches at correlation +-1, the teacher's own) leave, and keeps the ``h^2``
    one. All ``2 (p + k)`` points of both differences of every row go through the lane kernel at once.
    """
    n, p = w.shape
    k = a.shape[1]
    dim = p + k
    params = make_params(w_star, a_star, stride)
    points = np.concatenate([w, a], axis=1)  # (n, p + k)
    steps = np.concatenate([np.eye(dim), -np.eye(dim)])  # (2 dim, dim)
    grads = {}
    for h in (DIFFERENCE_STEP, DIFFERENCE_STEP / 2):
        lanes = (points[:, None, :] + h * steps[None, :, :]).reshape(-1, dim).T.copy()  # (dim, n 2 dim)
        grad_w = np.empty((p, lanes.shape[1]))
        grad_a = np.empty((k, lanes.shape[1]))
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            overlap_grad_lanes(params, lanes[:p].copy(), lanes[p:].copy(), grad_w, grad_a,
                               np.empty((LANE_WORK_ROWS, lanes.shape[1])))  # fmt: skip
        g = np.concatenate([grad_w, grad_a]).T.reshape(n, 2, dim, dim)  # [row, sign, direction, component]
        grads[h] = (g[:, 0] - g[:, 1]) / (2.0 * h)
    jac = 2.0 * grads[DIFFERENCE_STEP / 2] - grads[DIFFERENCE_STEP]
    hess = 0.5 * (jac + np.swapaxes(jac, 1, 2))
    grad_w = np.empty((p, n))
    grad_a = np.empty((k, n))
    overlap_grad_lanes(params, w.T.copy(), a.T.copy(), grad_w, grad_a, np.empty((LANE_WORK_ROWS, n)))
    w_dot_grad = np.einsum("ni,in->n", w, grad_w)
    return _on_the_sphere(w, hess[:, :p, :p], hess[:, :p, p:], hess[:, p:, p:], w_dot_grad)


def hessian_rows(w, a, w_star, a_star, stride=None):
    """Riemannian Hessians at unit rows ``w`` ``(n, p)`` and rows ``a`` ``(n, k)``, unchecked (for the
    suite's own callers; :func:`riemannian_hessian` is the checked entry): the closed form for the
    poster's model (``stride`` None), differences of the exact gradient otherwise."""
    if stride is None:
        return _hessians(w, a, w_star, a_star)
    return _hessians_by_differences(w, a, w_star, a_star, stride)


def riemannian_hessian(w, a, w_star, a_star, *, stride=None) -> np.ndarray:
    """The Hessian of the population loss on the manifold ``S^(p-1) x R^k`` at ``(w, a)``.

    Parameters
    ----------
    w : array_like, shape (p,)
        A point of the sphere (norm 1 within 1e-9).
    a : array_like, shape (k,)
        Output weights.
    w_star : array_like, shape (p,)
        Teacher filter, unit norm.
    a_star : array_like, shape (k,)
        Teacher output weights.
    stride : int, optional
        As in :func:`pgd_bench.population_loss`: overlapping patches for ``stride < p``, whose
        Hessian is the Richardson-extrapolated central difference of the exact gradient (error
        about 1e-8 relative); None or ``p``: the poster's model, in closed form.

    Returns
    -------
    ndarray, shape (p + k, p + k)
        Symmetric, in ambient coordinates ``(w, a)``: it maps the normal direction ``(w, 0)`` to
        0, and for tangent vectors ``u`` it gives ``u^T H u = d^2/dt^2 L(gamma(t))`` along the
        geodesic ``gamma`` with ``gamma'(0) = u`` (Riemannian Hessian, Levi-Civita connection). At a
        critical point it is the Hessian of ``L`` in tangent coordinates. Closed form
        (module docstring), exact at ``angle(w, w*) = 0`` and ``pi``.

    Raises
    ------
    ValueError
        On wrong shapes, non-finite entries, ``||w_star|| != 1`` or ``||w|| != 1``.
    """
    w, a, w_star, a_star = as_point(w, a, w_star, a_star, on_sphere=True)
    stride = as_stride(stride, w_star.shape[0])
    hessian = hessian_rows(w[None, :], a[None, :], w_star, a_star, stride)[0]
    if not np.all(np.isfinite(hessian)):  # a * 1e200: the products of norms overflow
        raise ValueError("a: the Hessian overflows at this point (||a|| too large for float64)")
    return hessian


def _row_elements(d: int, stride) -> int:
    """Float64 elements a row of :func:`sharpness` holds in its chunk: its Hessian, or for
    differences (overlapping patches) its 4 d gradients' worth."""
    return d * d * (1 if stride is None else 4 * d)


def _chunk_rows(d: int, stride) -> int:
    """Rows per chunk of :func:`sharpness`: about 32 MiB of matrices."""
    return max(1, 2**22 // _row_elements(d, stride))


# What one chunk in flight costs, in chunks' worth of matrices: the matrices, NumPy's temporaries of
# them (products, eigvalsh, trace) and what the allocator keeps of the chunks freed before. Measured
# above the run's own peak at d = 14 on 2 threads: 100 MB for 20,000 points (one chunk), 212 to 372
# MB for 50,000 to 1,000,000 (two in flight): up to 5.5 chunks' worth each
CHUNK_WORKING_SET = 6


def sharpness_memory_bytes(n: int, d: int, stride=None, threads: int = 1) -> float:
    """An upper bound on the memory :func:`sharpness` takes at ``n`` points of dimension ``d``
    (``p + k``) on up to ``threads`` threads, beyond its inputs and outputs."""
    chunk = _chunk_rows(d, stride)
    in_flight = max(1, min(threads, -(-n // chunk), os.cpu_count() or 1))
    return 8.0 * in_flight * min(n, chunk) * _row_elements(d, stride) * CHUNK_WORKING_SET


def sharpness(w, a, w_star, a_star, *, stride=None) -> tuple[np.ndarray, np.ndarray]:
    """Top eigenvalue and trace of the Riemannian Hessian at each of ``n`` points.

    Parameters
    ----------
    w : ndarray, shape (n, p)
        Unit rows (the final iterates of a run); rows with non-finite entries give NaN.
    a : ndarray, shape (n, k)
        Output weights, one row per row of ``w``.
    w_star, a_star : ndarray
        The teacher.
    stride : int, optional
        As in :func:`riemannian_hessian`.

    Returns
    -------
    top, trace : ndarray, shape (n,)
        The largest eigenvalue and the trace (the normal direction contributes 0 to both;
        the top eigenvalue is that of the tangent part when it is positive, as at any minimum).

    Raises
    ------
    ValueError
        Naming the argument: shapes that do not match, complex or non-numeric entries, a finite
        row of ``w`` that is not unit, or a teacher that is not (``w_star`` unit, ``a_star`` finite).
    """
    w_star = as_unit_vector("w_star", w_star)
    a_star = as_vector("a_star", a_star)
    w = as_rows("w", w, w_star.shape[0])
    a = as_rows("a", a, a_star.shape[0], rows=w.shape[0])
    check_sphere_rows("w", w)  # the Hessian on the sphere is defined at its points only: 25.2 where 3.23 is true
    stride = as_stride(stride, w.shape[1])
    finite = np.flatnonzero(np.all(np.isfinite(w), axis=1) & np.all(np.isfinite(a), axis=1))
    top = np.full(w.shape[0], np.nan)
    trace = np.full(w.shape[0], np.nan)
    # in chunks of about 32 MiB of matrices: at k = 256 one Hessian alone is 0.8 MB. The chunks are
    # the same whatever the thread count (NumPy's stacked products round a stack of 1 to 3
    # matrices otherwise than a longer one), and ranges of them run on threads: NumPy releases
    # the GIL in its loops and in eigvalsh, which is most of the time (12 us a point)
    d = w.shape[1] + a.shape[1]
    chunk = _chunk_rows(d, stride)
    n_chunks = -(-finite.size // chunk)

    def chunks(first, last):
        for start in range(first * chunk, min(last * chunk, finite.size), chunk):
            rows = finite[start : start + chunk]
            hess = hessian_rows(w[rows], a[rows], w_star, a_star, stride)
            overflowed = ~np.all(np.isfinite(hess), axis=(1, 2))
            if np.any(overflowed):  # finite rows whose Hessian overflows: eigvalsh would not converge
                raise ValueError(f"a: the Hessian overflows at row {int(rows[np.flatnonzero(overflowed)[0]])} "
                                 "(||a|| or the teacher too large for float64)")  # fmt: skip
            top[rows] = np.linalg.eigvalsh(hess)[:, -1]
            trace[rows] = np.trace(hess, axis1=1, axis2=2)

    run_ranges(chunks, n_chunks)
    return top, trace


def optimum_sharpness(w_star, a_star) -> dict[str, dict[str, float]]:
    """Sharpness (``top`` eigenvalue and ``trace``) of the global and the spurious optimum."""
    w_bar, a_bar = spurious_optimum(w_star, a_star)
    out = {}
    for name, (w, a) in (("global", (w_star, a_star)), ("spurious", (w_bar, a_bar))):
        top, trace = sharpness(w[None, :], a[None, :], w_star, a_star)
        out[name] = {"top": float(top[0]), "trace": float(trace[0])}
    return out


__all__ = ["optimum_sharpness", "riemannian_hessian", "sharpness"]
