"""The smoothed landscape ``L_rho(w) = E L(w + xi)``: its profile along the arc from ``w*`` to
``-w*`` and the depth of the spurious basin on it (figure 4, the observations' basins).
"""

from __future__ import annotations

import numpy as np

from .._validate import as_float, as_int, as_seed, as_unit_vector, as_vector

MAX_RADIUS = 1e150  # the squared norms of w + xi stay finite


def smoothed_profile(angles, rho_w, rho_a, w_star, a_star, samples, seed=0):
    """Smoothed loss ``L_rho(w, a) = E L(w + xi, a + eps)`` along a great circle, ``a`` at its best.

    ``w`` runs from ``w*`` (angle 0) to ``-w*`` (angle pi) through ``u``, the unit vector along the
    coordinate axis least aligned with ``w*``, made orthogonal to it (``e_2`` for ``w* = e_1``). The
    closed form of L depends on ``w~ = w + xi`` only through ``||w~||`` and ``g(angle(w~, w*))``, so

        E L(w~, a) = G* - (c E[||w~|| (g~ - 1)] + s s* E||w~||) / pi + E||w~||^2 ((pi-1)||a||^2 + s^2) / (2 pi)

    needs only three Monte Carlo moments over ``xi`` (antithetic pairs ``xi, -xi`` halve the
    variance). Ball noise on ``a`` (``E eps eps^T = rho_a^2 I / (k + 2)``) adds exactly
    ``E||w~||^2 rho_a^2 k / (2 (k + 2))``: the last term's ``(pi - 1) E||eps||^2 + E(1.eps)^2``
    over ``2 pi``. On the sphere ``E||w~||^2 = 1 + E||xi||^2`` is the same at every ``w`` (exactly,
    with antithetic pairs), so noise on ``a`` only shifts the smoothed loss by a constant: it
    flattens nothing. The expression is quadratic in ``a``; its minimiser solves a ``k x k`` linear
    system.

    Parameters
    ----------
    angles : array_like, shape (n,)
        Angles from ``w*``, finite.
    rho_w, rho_a : float
        Radii of the uniform ball noise on ``w`` and ``a`` (>= 0).
    w_star : array_like, shape (p,)
        The teacher's filter, unit norm, ``p >= 2``.
    a_star : array_like, shape (k,)
        The teacher's output weights.
    samples : int
        Noise samples (each used with its antithetic twin), >= 1.
    seed : int
        Seed of the noise samples.

    Returns
    -------
    ndarray
        ``min_a L_rho(w(angle), a)`` for each angle.
    """
    from ..streams import sample_ball

    angles = as_vector("angles", angles)
    rho_w = as_float("rho_w", rho_w, minimum=0.0, maximum=MAX_RADIUS)
    rho_a = as_float("rho_a", rho_a, minimum=0.0, maximum=MAX_RADIUS)
    w_star = as_unit_vector("w_star", w_star)
    a_star = as_vector("a_star", a_star)
    samples = as_int("samples", samples, minimum=1)
    seed = as_seed("seed", seed)
    p, k = w_star.size, a_star.size
    if p < 2:
        raise ValueError("w_star: the profile turns w in a plane: expected p >= 2, got p = 1")
    axis = int(np.argmin(np.abs(w_star)))
    u = -w_star[axis] * w_star
    u[axis] += 1.0
    u /= np.linalg.norm(u)
    xi = sample_ball(samples, p, rho_w, seed) if rho_w > 0 else np.zeros((1, p))
    # w~ = w + xi enters only through w~ . w* and ||w~||^2 = ||w||^2 + 2 w . xi + ||xi||^2, and
    # w . xi = cos xi . w* + sin xi . u: three numbers a sample, projected once for every angle
    # (projecting every sample at every angle was 80% of the quick reproduction's smoothing time).
    # The antithetic twin -xi negates both projections and keeps ||xi||^2.
    along_star, along_u = xi @ w_star, xi @ u
    along_star, along_u = np.concatenate([along_star, -along_star]), np.concatenate([along_u, -along_u])
    xi_sq = np.einsum("ij,ij->i", xi, xi)
    xi_sq = np.concatenate([xi_sq, xi_sq])
    curvature = ((np.pi - 1) * np.eye(k) + np.ones((k, k))) / np.pi
    s_star = a_star.sum()
    teacher = ((np.pi - 1) * (a_star @ a_star) + s_star**2) / (2 * np.pi)
    out = []
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, by name
        for theta in angles:
            w = np.cos(theta) * w_star + np.sin(theta) * u
            dot = w @ w_star + along_star
            # clipped at 0: rounding can take a sum for ||w~||^2 ~ 0 a hair below it
            norms = np.sqrt(
                np.maximum(w @ w + 2.0 * (np.cos(theta) * along_star + np.sin(theta) * along_u) + xi_sq, 0.0)
            )
            cos_t = np.clip(np.divide(dot, norms, out=np.ones_like(dot), where=norms > 0.0), -1.0, 1.0)
            th = np.arccos(cos_t)
            g = (np.pi - th) * cos_t + np.sin(th)
            m1, m2, mg = norms.mean(), (norms**2).mean(), (norms * (g - 1)).mean()
            a = np.linalg.solve(m2 * curvature, (mg * a_star + m1 * s_star) / np.pi)
            s, c = a.sum(), a @ a_star
            loss = teacher - (c * mg + s * s_star * m1) / np.pi + m2 * ((np.pi - 1) * (a @ a) + s * s) / (2 * np.pi)
            out.append(loss + m2 * rho_a**2 * k / (2.0 * (k + 2)))
    out = np.array(out)
    if not np.all(np.isfinite(out)):  # each radius is bounded, not their product in the last term
        raise ValueError(f"rho_w, rho_a: the smoothed loss overflows at rho_w = {rho_w:g}, rho_a = {rho_a:g}")
    return out


def basin_depth(profile):
    """Rise from the value at ``-w*`` (the last point) to the barrier between the two sides."""
    half = len(profile) // 2
    return float(profile[half:].max() - profile[-1])
