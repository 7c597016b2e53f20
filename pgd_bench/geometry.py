"""Sphere geometry: projection, tangent projection and the Riemannian step
(docs/mathematics.md, "Geometry and noise").

``w`` lives on the unit sphere; ``a`` is unconstrained. One step is::

    w <- proj(w - eta_w (I - w w^T) grad_w),   a <- a - eta_a grad_a,

with ``proj(x) = x / ||x||``. Because ``(I - w w^T) grad_w`` is orthogonal to a unit ``w``, the
vector being projected has norm at least 1, so the division is always safe.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit
from ._validate import as_float, as_unit_vector, as_vector


@jit(inline=True)
def dot(x, y):
    """``sum_i x[i] y[i]`` in index order (a fixed order: the same bits in every kernel that uses it)."""
    acc = 0.0
    for i in range(x.shape[0]):
        acc += x[i] * y[i]
    return acc


@jit(inline=True)
def tangent_kernel(w, g, out):
    """Write ``(I - w w^T) g`` into ``out`` (``w`` unit)."""
    wg = dot(w, g)
    for i in range(w.shape[0]):
        out[i] = g[i] - wg * w[i]


@jit(inline=True)
def riemannian_step_lanes(w, a, grad_w, grad_a, eta_w, eta_a, norm, a_sq):
    """One Riemannian gradient step, in place, for every lane (column) of ``(w, a)``.

    ``w`` and ``grad_w`` have shape ``(p, n)``, ``a`` and ``grad_a`` ``(k, n)``; each column of
    ``w`` stays unit. Writes ``norm[l]``, the norm of column ``l`` of ``w`` before projection, and
    ``a_sq[l] = ||a[:, l]||^2`` after the step: both are non-finite as soon as any entry is, so
    callers detect divergence without another pass. Loops run over lanes innermost (SIMD code).
    """
    p, n = w.shape
    k = a.shape[0]
    for l in range(n):
        norm[l] = 0.0  # first w.grad_w, then ||x||^2
    for i in range(p):
        for l in range(n):
            norm[l] += w[i, l] * grad_w[i, l]
    for i in range(p):
        for l in range(n):
            w[i, l] -= eta_w * (grad_w[i, l] - norm[l] * w[i, l])
    for l in range(n):
        norm[l] = 0.0
    for i in range(p):
        for l in range(n):
            norm[l] += w[i, l] * w[i, l]
    for l in range(n):
        norm[l] = np.sqrt(norm[l])
        a_sq[l] = 1.0 / norm[l]  # borrowed for the reciprocal: one division per lane, not p
    for i in range(p):
        for l in range(n):
            w[i, l] *= a_sq[l]
    for l in range(n):
        a_sq[l] = 0.0
    for j in range(k):
        for l in range(n):
            a[j, l] -= eta_a * grad_a[j, l]
            a_sq[l] += a[j, l] * a[j, l]


def tangent_projection(w, g) -> np.ndarray:
    """Project ``g`` onto the tangent space of the unit sphere at ``w``.

    Parameters
    ----------
    w : array_like, shape (p,)
        A unit vector.
    g : array_like, shape (p,)
        Any vector.

    Returns
    -------
    ndarray, shape (p,)
        ``(I - w w^T) g``, orthogonal to ``w``.
    """
    w = as_unit_vector("w", w)
    g = as_vector("g", g, length=w.shape[0])
    out = np.empty_like(w)
    tangent_kernel(w, g, out)
    return out


def riemannian_step(w, a, grad_w, grad_a, eta_w, eta_a) -> tuple[np.ndarray, np.ndarray]:
    """Return the point after one Riemannian gradient step from ``(w, a)``.

    Parameters
    ----------
    w : array_like, shape (p,)
        Current filter, unit norm.
    a : array_like, shape (k,)
        Current output weights.
    grad_w : array_like, shape (p,)
        Euclidean gradient in ``w``.
    grad_a : array_like, shape (k,)
        Gradient in ``a``.
    eta_w, eta_a : float
        Non-negative step sizes.

    Returns
    -------
    w_next : ndarray, shape (p,)
        ``proj(w - eta_w (I - w w^T) grad_w)``, a unit vector.
    a_next : ndarray, shape (k,)
        ``a - eta_a grad_a``.
    """
    w = as_unit_vector("w", w).reshape(-1, 1).copy()
    a = as_vector("a", a).reshape(-1, 1).copy()
    grad_w = as_vector("grad_w", grad_w, length=w.shape[0]).reshape(-1, 1)
    grad_a = as_vector("grad_a", grad_a, length=a.shape[0]).reshape(-1, 1)
    eta_w = as_float("eta_w", eta_w, minimum=0.0)
    eta_a = as_float("eta_a", eta_a, minimum=0.0)
    norm, a_sq = np.empty(1), np.empty(1)
    riemannian_step_lanes(w, a, grad_w, grad_a, eta_w, eta_a, norm, a_sq)
    # the engine counts such a step as diverged; here it is an error, never w = 0 or inf
    if not (np.isfinite(norm[0]) and norm[0] > 0.0):
        raise ValueError(
            f"eta_w: the step {eta_w!r} overflows (the point before projection is not a finite non-zero vector)"
        )
    if not np.isfinite(a_sq[0]):
        raise ValueError(f"eta_a: the step {eta_a!r} overflows a")
    return w[:, 0], a[:, 0]
