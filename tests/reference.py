"""Slow, obvious NumPy implementations that the compiled kernels are tested against.

Written straight from docs/mathematics.md with no attempt at speed, and sharing no code with the package.
"""

from __future__ import annotations

import math
import struct

import numpy as np

MASK64 = (1 << 64) - 1


def g(theta):
    return (np.pi - theta) * np.cos(theta) + np.sin(theta)


def big_g(u, b, v, c):
    """G(u,b; v,c) = E f(u,b,Z) f(v,c,Z), docs/mathematics.md."""
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    theta = np.arccos(np.clip(u @ v / (nu * nv), -1.0, 1.0))
    return nu * nv / (2 * np.pi) * ((g(theta) - 1) * (b @ c) + b.sum() * c.sum())


def loss(w, a, w_star, a_star):
    return big_g(w_star, a_star, w_star, a_star) - 2 * big_g(w, a, w_star, a_star) + big_g(w, a, w, a)


def grad_fd(w, a, w_star, a_star, h=1e-6):
    """Central finite differences of :func:`loss`, step relative to the scale of the point."""
    gw = np.empty_like(w)
    ga = np.empty_like(a)
    hw = h * max(1.0, np.linalg.norm(w))
    ha = h * max(1.0, np.linalg.norm(a))
    for i in range(w.size):
        e = np.zeros_like(w)
        e[i] = hw
        gw[i] = (loss(w + e, a, w_star, a_star) - loss(w - e, a, w_star, a_star)) / (2 * hw)
    for j in range(a.size):
        e = np.zeros_like(a)
        e[j] = ha
        ga[j] = (loss(w, a + e, w_star, a_star) - loss(w, a - e, w_star, a_star)) / (2 * ha)
    return gw, ga


def forward(Z, w, a):
    return np.maximum(Z @ w, 0.0) @ a


def sample_loss_grad(Z, w, a, w_star, a_star):
    r = forward(Z, w, a) - forward(Z, w_star, a_star)
    pre = Z @ w  # (n, k)
    n = Z.shape[0]
    loss_value = np.mean(r**2)
    grad_a = 2.0 / n * (r[:, None] * np.maximum(pre, 0.0)).sum(axis=0)
    active = (pre > 0).astype(float) * a[None, :]  # (n, k)
    grad_w = 2.0 / n * np.einsum("b,bj,bjp->p", r, active, Z)
    return loss_value, grad_w, grad_a


def spurious(w_star, a_star):
    k = a_star.size
    ones = np.ones((k, k))
    a_bar = np.linalg.solve(ones + (np.pi - 1) * np.eye(k), (ones - np.eye(k)) @ a_star)
    return -w_star, a_bar


def riemannian_grad_w(w, grad_w):
    return grad_w - (w @ grad_w) * w


# --- the random streams, bit for bit, with Python integers -------------------------------------

GAMMA = 0x9E3779B97F4A7C15


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def stream_state(seed, trial, purpose):
    h = mix64((seed + GAMMA) & MASK64)
    h = mix64(h ^ ((trial + 2 * GAMMA) & MASK64))
    h = mix64(h ^ ((purpose + 3 * GAMMA) & MASK64))
    state = []
    for _ in range(4):
        h = (h + GAMMA) & MASK64
        state.append(mix64(h))
    return state


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & MASK64


def xoshiro_next(s):
    """xoshiro256++ as published by Blackman and Vigna; mutates the list ``s``."""
    result = (rotl((s[0] + s[3]) & MASK64, 23) + s[0]) & MASK64
    t = (s[1] << 17) & MASK64
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 45)
    return result


def _bits(x):
    return struct.unpack("<q", struct.pack("<d", x))[0]


def _double(bits):
    return struct.unpack("<d", struct.pack("<q", bits))[0]


LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01,
      1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01)  # fmt: skip
SIN = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
       2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)  # fmt: skip
COS = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
       -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)  # fmt: skip


def log_unit(x):
    """log(x) for x in (0, 1]: m 2^k with m reduced to [sqrt(2)/2, sqrt(2)], then the polynomial of
    fdlibm's e_log.c, with an if where the package selects.

    This and sincos_turn transcribe the package's arithmetic (its evaluation order is part of the
    stream definition, which the docs do not spell out to the rounding): they catch a difference
    between two copies, e.g. a select that went wrong when vectorised. The independent checks are
    the comparisons with libm in tests/test_random.py; normal_fills, written from the docs,
    checks the draws' order, offsets, pairing and the dropped sine."""
    ln2_hi, ln2_lo = 6.93147180369123816490e-01, 1.90821492927058770002e-10
    bits = _bits(x)
    k = ((bits >> 52) & 0x7FF) - 1023
    m = _double((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    if m > math.sqrt(2.0):
        m *= 0.5
        k += 1
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG[1] + w * (LG[3] + w * LG[5]))
    t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])))
    return k * ln2_hi - ((hfsq - (s * (hfsq + t2 + t1) + k * ln2_lo)) - f)


def sincos_turn(u):
    """(cos 2 pi u, sin 2 pi u): the nearest quarter turn, then fdlibm's __kernel_sin/__kernel_cos."""
    q = math.floor(4.0 * u + 0.5)
    x = 2.0 * math.pi * (u - 0.25 * q)
    z = x * x
    s1, s2, s3, s4, s5, s6 = SIN
    c1, c2, c3, c4, c5, c6 = COS
    sin_x = x + x * z * (s1 + z * (s2 + z * (s3 + z * (s4 + z * (s5 + z * s6)))))
    r = z * (c1 + z * (c2 + z * (c3 + z * (c4 + z * (c5 + z * c6)))))
    hz = 0.5 * z
    w = 1.0 - hz
    cos_x = w + (((1.0 - w) - hz) + z * r)
    return [(cos_x, sin_x), (-sin_x, cos_x), (-cos_x, -sin_x), (sin_x, -cos_x)][q % 4]


def normal_fills(seed, trial, purpose, sizes):
    """Stream version 2's normals: Box-Muller pairs, each fill of m normals using ceil(m / 2) pairs
    (an odd fill drops its last sine); the fills' normals concatenated."""
    s = stream_state(seed, trial, purpose)
    out = []
    for m in sizes:
        fill = []
        while len(fill) < m:
            x = ((xoshiro_next(s) >> 11) + 1) * 2.0**-53
            u = (xoshiro_next(s) >> 11) * 2.0**-53
            radius = math.sqrt(-2.0 * log_unit(x))
            c, sn = sincos_turn(u)
            fill += [radius * c, radius * sn]
        out += fill[:m]
    return np.array(out)


def normals(seed, trial, purpose, n):
    """One fill of n normals from the stream of (seed, trial, purpose)."""
    return normal_fills(seed, trial, purpose, [n])


def gd_trajectory(w0, a0, w_star, a_star, eta_w, eta_a, steps, beta=0.0):
    """Riemannian GD with the closed-form gradient, written out in NumPy; with ``beta > 0``,
    heavy-ball momentum: ``m_w <- beta (I - w w^T) m_w + (I - w w^T) g_w``, ``w <- proj(w - eta_w
    m_w)``, ``m_a <- beta m_a + g_a``, ``a <- a - eta_a m_a``, ``m = 0`` at the start."""
    w, a = w0.copy(), a0.copy()
    m_w, m_a = np.zeros_like(w), np.zeros_like(a)
    for _ in range(steps):
        nw = np.linalg.norm(w)
        cos_t = np.clip(w @ w_star / nw, -1, 1)
        theta = np.arccos(cos_t)
        s, s_star, c = a.sum(), a_star.sum(), a @ a_star
        ga = (nw**2 * ((np.pi - 1) * a + s) - nw * ((g(theta) - 1) * a_star + s_star)) / np.pi
        gw = ((np.pi - 1) * (a @ a) + s**2) * w / np.pi - (
            c * ((np.pi - theta) * w_star + np.sin(theta) * w / nw) + (s * s_star - c) * w / nw
        ) / np.pi
        if beta > 0:
            m_w = beta * (m_w - (w @ m_w) * w) + (gw - (w @ gw) * w)
            m_a = beta * m_a + ga
            x = w - eta_w * m_w
            a = a - eta_a * m_a
        else:
            x = w - eta_w * (gw - (w @ gw) * w)
            a = a - eta_a * ga
        w = x / np.linalg.norm(x)
    return w, a


def population_grads(W, A, w_star, a_star):
    """The closed-form Euclidean gradients at every row of ``W`` (``(n, p)``) and ``A`` (``(n, k)``),
    written out in NumPy from docs/mathematics.md."""
    nw = np.linalg.norm(W, axis=1)
    norm_s = np.linalg.norm(w_star)
    cos_t = np.clip(W @ w_star / (nw * norm_s), -1.0, 1.0)
    theta = np.arccos(cos_t)
    s, s_star, c = A.sum(axis=1), a_star.sum(), A @ a_star
    ga = (
        (nw**2)[:, None] * ((np.pi - 1) * A + s[:, None])
        - (nw * norm_s)[:, None] * ((g(theta) - 1)[:, None] * a_star + s_star)
    ) / np.pi
    w_hat = W / nw[:, None]
    gw = (((np.pi - 1) * np.einsum("ij,ij->i", A, A) + s**2)[:, None] * W
          - (c[:, None] * ((np.pi - theta)[:, None] * w_star + (norm_s * np.sin(theta))[:, None] * w_hat)
             + ((s * s_star - c) * norm_s)[:, None] * w_hat)) / np.pi  # fmt: skip
    return gw, ga
