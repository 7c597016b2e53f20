"""Slow, obvious NumPy implementations that the compiled kernels are tested against.

Written straight from docs/mathematics.md with no attempt at speed, and sharing no code with the package.
"""

from __future__ import annotations

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


def ziggurat_tables(layers=128, r=3.442619855899, v=9.91256303526217e-3):
    import math

    x = [0.0] * (layers + 1)
    f = math.exp(-0.5 * r * r)
    x[0] = v / f
    x[1] = r
    for i in range(2, layers):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + f))
        f = math.exp(-0.5 * x[i] * x[i])
    return x, [x[i + 1] / x[i] for i in range(layers)]


def normals(seed, trial, purpose, n):
    """Doornik's ZIGNOR over xoshiro256++: index from the low 7 bits, uniform from the high 53."""
    import math

    x_tab, ratio = ziggurat_tables()
    r = 3.442619855899
    s = stream_state(seed, trial, purpose)
    uniform = lambda: (xoshiro_next(s) >> 11) * 2.0**-53  # noqa: E731
    out = []
    while len(out) < n:
        bits = xoshiro_next(s)
        u = 2.0 * ((bits >> 11) * 2.0**-53) - 1.0
        i = bits & 127
        if abs(u) < ratio[i]:
            out.append(u * x_tab[i])
            continue
        if i == 0:
            while True:
                x = math.log(1.0 - uniform()) / r
                y = math.log(1.0 - uniform())
                if -2.0 * y >= x * x:
                    break
            out.append(x - r if u < 0 else r - x)
            continue
        x = u * x_tab[i]
        f0 = math.exp(-0.5 * (x_tab[i] ** 2 - x * x))
        f1 = math.exp(-0.5 * (x_tab[i + 1] ** 2 - x * x))
        if f1 + uniform() * (f0 - f1) < 1.0:
            out.append(x)
    return np.array(out)


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
