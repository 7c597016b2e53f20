"""The JAX peer: ``jit`` + ``vmap`` over trials + ``lax.scan`` over steps, float64, CPU.

Optional (``pip install .[peers]``); :func:`available` says whether JAX can be imported.
"""

from __future__ import annotations

import time

import numpy as np

from pgd_bench.algorithms import BATCH_ALWAYS, algorithm_named


def available() -> bool:
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


def make_runner(algorithm, trials, steps, p=6, k=8, batch=4, eta=0.05, rho_w=1.0, rho_a=0.3):
    """A compiled function ``key -> (W, A)`` running ``steps`` iterations for ``trials`` trials."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    w_star = jnp.zeros(p).at[0].set(1.0)
    a_star = (-1.0) ** jnp.arange(k) + 0.1

    def grads(w, a):
        nw = jnp.linalg.norm(w)
        cos_t = jnp.clip(w @ w_star / nw, -1.0, 1.0)
        theta = jnp.arccos(cos_t)
        g = (jnp.pi - theta) * cos_t + jnp.sin(theta)
        s, s_star, c = a.sum(), a_star.sum(), a @ a_star
        ga = (nw**2 * ((jnp.pi - 1) * a + s) - nw * ((g - 1) * a_star + s_star)) / jnp.pi
        w_hat = w / nw
        gw = (
            ((jnp.pi - 1) * (a @ a) + s**2) * w
            - (c * ((jnp.pi - theta) * w_star + jnp.sin(theta) * w_hat) + (s * s_star - c) * w_hat)
        ) / jnp.pi
        return gw, ga

    def sample_grads(w, a, z):
        pre = z @ w  # (batch, k)
        r = jnp.maximum(pre, 0) @ a - jnp.maximum(z @ w_star, 0) @ a_star
        ga = 2.0 / batch * (r[:, None] * jnp.maximum(pre, 0)).sum(0)
        gw = 2.0 / batch * jnp.einsum("b,bk,bkp->p", r, (pre > 0) * a[None, :], z)
        return gw, ga

    def ball(key, d, radius):
        z = jax.random.normal(key, (d + 2,))
        return radius * z[:d] / jnp.linalg.norm(z)

    def step(carry, key):
        w, a = carry
        kw, ka, kz = jax.random.split(key, 3)
        we, ae = w, a
        if algorithm_named(algorithm).perturbs:
            we = w + ball(kw, p, rho_w)
            ae = a + ball(ka, k, rho_a)
        if algorithm_named(algorithm).batch == BATCH_ALWAYS:
            gw, ga = sample_grads(we, ae, jax.random.normal(kz, (batch, k, p)))
        else:
            gw, ga = grads(we, ae)
        x = w - eta * (gw - (w @ gw) * w)
        return (x / jnp.linalg.norm(x), a - eta * ga), None

    def one_trial(key):
        k0, k1, k2 = jax.random.split(key, 3)
        w0 = jax.random.normal(k0, (p,))
        carry = (w0 / jnp.linalg.norm(w0), ball(k1, k, 0.3))
        (w, a), _ = jax.lax.scan(step, carry, jax.random.split(k2, steps))
        return w, a

    run_all = jax.jit(jax.vmap(one_trial))

    def runner(seed=0):
        keys = jax.random.split(jax.random.PRNGKey(seed), trials)
        w, a = run_all(keys)
        w.block_until_ready()
        return np.asarray(w), np.asarray(a)

    return runner


def jax_steps_per_second(algorithm, trials=1000, steps=400, repeats=3):
    """``(median trial-steps per second, compile seconds)`` of the JAX peer."""
    runner = make_runner(algorithm, trials, steps)
    start = time.perf_counter()
    runner(0)  # compiles
    compile_s = time.perf_counter() - start
    rates = []
    for r in range(repeats):
        start = time.perf_counter()
        runner(r + 1)
        rates.append(trials * steps / (time.perf_counter() - start))
    return float(np.median(rates)), compile_s


def make_empirical_runner(w0, a0, Z, w_star, a_star, steps, eta=0.1):
    """GD on each trial's own training set, as JAX would write it: ``jit(vmap(scan))`` over
    trials, the empirical gradient of ``Z`` (shape ``(trials, N, k, p)``) at every step.

    Returns a function ``() -> (W, A)`` running ``steps`` iterations from ``(w0, a0)``.
    """
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    w_star_j = jnp.asarray(w_star)
    a_star_j = jnp.asarray(a_star)
    labels = jnp.maximum(jnp.asarray(Z) @ w_star_j, 0) @ a_star_j  # (trials, N)
    n = Z.shape[1]

    def one_trial(w, a, z, y):
        def step(carry, _):
            w, a = carry
            pre = z @ w  # (N, k)
            r = jnp.maximum(pre, 0) @ a - y
            ga = 2.0 / n * (r[:, None] * jnp.maximum(pre, 0)).sum(0)
            gw = 2.0 / n * jnp.einsum("b,bk,bkp->p", r, (pre > 0) * a[None, :], z)
            x = w - eta * (gw - (w @ gw) * w)
            return (x / jnp.linalg.norm(x), a - eta * ga), None

        (w, a), _ = jax.lax.scan(step, (w, a), None, length=steps)
        return w, a

    run_all = jax.jit(jax.vmap(one_trial))
    args = (jnp.asarray(w0), jnp.asarray(a0), jnp.asarray(Z), labels)

    def runner():
        w, a = run_all(*args)
        w.block_until_ready()
        return np.asarray(w), np.asarray(a)

    return runner
