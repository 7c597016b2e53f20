"""Peers measured side by side: NumPy vectorised over trials, against pgd_bench.

Run ``python benchmarks/peers.py`` for a table of trial-steps per second and ratios (medians of
several runs, compile time excluded and reported separately). The same figures are tracked by asv
(``bench_engine.py``).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from pgd_bench.algorithms import ALGORITHMS, BATCH_ALWAYS, algorithm_named
from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import run

# the algorithms the NumPy and JAX peers implement: every registered one without Langevin noise or
# an optional batch (those have no peer yet)
PEER_ALGORITHMS = tuple(name for name, a in ALGORITHMS.items() if not a.temperature)


def _grads_numpy(W, A, w_star, a_star):
    """Closed-form population gradients for every trial at once (rows of W and A)."""
    nw = np.linalg.norm(W, axis=1)
    cos_t = np.clip(W @ w_star / nw, -1.0, 1.0)
    theta = np.arccos(cos_t)
    g = (np.pi - theta) * cos_t + np.sin(theta)
    s = A.sum(axis=1)
    s_star = a_star.sum()
    c = A @ a_star
    aa = np.einsum("ij,ij->i", A, A)
    ga = (
        nw[:, None] ** 2 * ((np.pi - 1) * A + s[:, None]) - nw[:, None] * ((g - 1)[:, None] * a_star + s_star)
    ) / np.pi
    w_hat = W / nw[:, None]
    gw = (
        ((np.pi - 1) * aa + s**2)[:, None] * W
        - (
            c[:, None] * ((np.pi - theta)[:, None] * w_star + np.sin(theta)[:, None] * w_hat)
            + (s * s_star - c)[:, None] * w_hat
        )
    ) / np.pi
    return gw, ga


def _ball_numpy(rng, n, d, radius):
    z = rng.standard_normal((n, d + 2))
    return radius * z[:, :d] / np.linalg.norm(z, axis=1, keepdims=True)


def numpy_steps(algorithm, trials, steps, p=6, k=8, batch=4, eta=0.05, rho_w=1.0, rho_a=0.3, seed=0):
    """Run ``steps`` iterations of ``algorithm`` for ``trials`` trials in NumPy; return seconds."""
    rng = np.random.default_rng(seed)
    w_star = np.zeros(p)
    w_star[0] = 1.0
    a_star = (-1.0) ** np.arange(k) + 0.1
    W = rng.standard_normal((trials, p))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    A = _ball_numpy(rng, trials, k, 0.3)
    start = time.perf_counter()
    for _ in range(steps):
        We, Ae = W, A
        if algorithm_named(algorithm).perturbs:
            We = W + _ball_numpy(rng, trials, p, rho_w)
            Ae = A + _ball_numpy(rng, trials, k, rho_a)
        if algorithm_named(algorithm).batch == BATCH_ALWAYS:
            Z = rng.standard_normal((trials, batch, k, p))
            pre = Z @ We[:, None, :, None]  # (trials, batch, k, 1)
            pre = pre[..., 0]
            pre_s = Z @ w_star
            r = np.einsum("tbk,tk->tb", np.maximum(pre, 0), Ae) - np.maximum(pre_s, 0) @ a_star
            ga = 2.0 / batch * np.einsum("tb,tbk->tk", r, np.maximum(pre, 0))
            gw = 2.0 / batch * np.einsum("tb,tbk,tbkp->tp", r, (pre > 0) * Ae[:, None, :], Z)
        else:
            gw, ga = _grads_numpy(We, Ae, w_star, a_star)
        X = W - eta * (gw - np.einsum("ij,ij->i", W, gw)[:, None] * W)
        W = X / np.linalg.norm(X, axis=1, keepdims=True)
        A = A - eta * ga
    return time.perf_counter() - start


def pgd_bench_seconds(algorithm, trials, steps, stride=None):
    extra = {"batch": 4} if algorithm_named(algorithm).batch == BATCH_ALWAYS else {}
    if stride is not None:
        extra["stride"] = stride
    if algorithm_named(algorithm).perturbs:
        extra.update(rho_w=1.0, rho_a=0.3)
    config = resolve_config(
        algorithm=algorithm, preset="paper", trials=trials, epochs=1, iterations=steps, eta=0.05, eta_decay=1.0, **extra
    )
    result = run(config)
    return result.seconds, float(result.stop_iteration.sum())


def compare(algorithm, trials=1000, steps=400, repeats=3):
    """Median trial-steps per second of NumPy and pgd_bench, measured alternately in one run."""
    ours, theirs = [], []
    numpy_trials_steps = trials * steps
    for _ in range(repeats):
        secs, done = pgd_bench_seconds(algorithm, trials, steps)
        ours.append(done / secs)
        theirs.append(numpy_trials_steps / numpy_steps(algorithm, trials, steps))
    return float(np.median(ours)), float(np.median(theirs))


def stride_cost(algorithm, stride=3, trials=1000, steps=400, repeats=5):
    """Median ns per trial-step at ``stride`` (overlapping patches, p = 6, k = 8) and at the
    poster's ``stride = p``, measured alternately in one run (compile excluded)."""
    pgd_bench_seconds(algorithm, 1, 1, stride)  # compile or load outside the timings
    pgd_bench_seconds(algorithm, 1, 1)
    overlapping, plain = [], []
    for _ in range(repeats):
        secs, done = pgd_bench_seconds(algorithm, trials, steps, stride)
        overlapping.append(1e9 * secs / done)
        secs, done = pgd_bench_seconds(algorithm, trials, steps)
        plain.append(1e9 * secs / done)
    return float(np.median(overlapping)), float(np.median(plain))


def empirical_gd_compare(trials=1000, samples=256, steps=50, repeats=3):
    """GD on each trial's own training set: ``(pgd_bench, JAX)`` median trial-steps per second,
    measured alternately in one run on the same starts and the same data, and the largest
    difference between their final states (they compute the same thing in another order).

    JAX is ``jit(vmap(scan))`` over trials with the data of every trial in one array, as its users
    write it; pgd_bench draws the same sets inside the engine (``training_set`` gives them here).
    """
    try:  # as a module of the asv package, or as ``python benchmarks/peers.py``
        from .peer_jax import make_empirical_runner
    except ImportError:
        from peer_jax import make_empirical_runner

    from pgd_bench.model.data import training_set
    from pgd_bench.streams import sample_ball, sample_sphere

    config = resolve_config(algorithm="gd", preset="paper", trials=trials, epochs=1, iterations=steps,
                            samples=samples, eta=0.1)  # fmt: skip
    w_star, a_star = config.teacher_arrays()
    w0 = sample_sphere(trials, config.p, config.seed)
    a0 = sample_ball(trials, config.k, config.resolved_start_radius(), config.seed)
    Z = np.stack([training_set(samples, config.k, config.p, seed=config.seed, trial=i) for i in range(trials)])
    jax_runner = make_empirical_runner(w0, a0, Z, w_star, a_star, steps, eta=0.1)
    jax_runner()  # compiles
    run(config)  # compiles or loads
    ours, theirs = [], []
    for _ in range(repeats):
        result = run(config, warm=False)
        ours.append(trials * steps / result.seconds)
        start = time.perf_counter()
        w, a = jax_runner()
        theirs.append(trials * steps / (time.perf_counter() - start))
    gap = max(float(np.abs(w - result.w).max()), float(np.abs(a - result.a).max()))
    return float(np.median(ours)), float(np.median(theirs)), gap


def normals_per_second(n=1_000_000, repeats=7):
    """Median normals per second, one thread, into a warm buffer: pgd_bench's streams and NumPy's.

    pgd_bench's figure is the engine's sampler, ``fill_normal_lanes``: 64 trials' xoshiro256++
    streams side by side (the engine's block), Box-Muller across them (stream version 2); NumPy's
    is ``Generator.standard_normal(out=...)``. Both write into an array that already exists, so
    page faults and allocation stay out of the ratio.
    """
    from pgd_bench.engine import LANES
    from pgd_bench.streams import STATE_WORDS, fill_normal_lanes, stream_init_lanes

    states = np.empty((STATE_WORDS, LANES), dtype=np.uint64)
    stream_init_lanes(states, 0, 0, 0)
    ours_buf = np.empty((n // LANES, LANES))
    numpy_buf = np.empty(ours_buf.size)
    rng = np.random.default_rng(0)
    fill_normal_lanes(states, ours_buf[:2])  # compile or load from cache
    ours, theirs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        fill_normal_lanes(states, ours_buf)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        rng.standard_normal(out=numpy_buf)
        theirs.append(time.perf_counter() - start)
    return ours_buf.size / float(np.median(ours)), numpy_buf.size / float(np.median(theirs))


def main(argv=None):
    """Print trial-steps per second of pgd_bench, NumPy and (when installed) JAX, and the ratios."""
    from peer_jax import available, jax_steps_per_second

    have_jax = available()
    if not have_jax:
        print("JAX is not installed (pip install .[peers]): its column is skipped")
    header = f"{'algorithm':<10}{'pgd_bench':>12}{'NumPy':>12}{'x NumPy':>9}"
    if have_jax:
        header += f"{'JAX':>12}{'x JAX':>8}{'JAX compile':>13}"
    print("trial-steps per second, medians of 3 runs, 1000 trials x 400 steps, p=6, k=8, float64")
    print(header + f"{'our first call':>16}")
    for algorithm in PEER_ALGORITHMS:
        start = time.perf_counter()
        pgd_bench_seconds(algorithm, 1, 1)  # compile or load from cache
        compile_s = time.perf_counter() - start
        ours, theirs = compare(algorithm)
        line = f"{algorithm:<10}{ours:>12.3g}{theirs:>12.3g}{ours / theirs:>9.1f}"
        if have_jax:
            jax_rate, jax_compile = jax_steps_per_second(algorithm)
            line += f"{jax_rate:>12.3g}{ours / jax_rate:>8.1f}{jax_compile:>12.1f}s"
        print(line + f"{compile_s:>15.1f}s", flush=True)
    if have_jax:
        ours, theirs, gap = empirical_gd_compare()
        print(
            f"\nGD on each trial's own training set (N = 256), 1000 trials x 50 steps, medians of 3: pgd_bench "
            f"{ours:.3g}, JAX {theirs:.3g} trial-steps/s, x{ours / theirs:.1f} (final states agree to {gap:.1e})"
        )
    print("\nns per trial-step, overlapping patches (stride 3) against the poster's (stride p = 6), k = 8, "
          "medians of 5:")  # fmt: skip
    for algorithm in ("gd", "pgd"):
        overlapping, plain = stride_cost(algorithm)
        ratio = overlapping / plain
        print(f"  {algorithm:<6} stride 3 {overlapping:8.1f}   stride 6 {plain:8.1f}   x{ratio:.2f}", flush=True)
    ours, theirs = normals_per_second()
    print(
        f"\nnormals per second, one thread, 1e6 into a warm buffer (64 streams side by side), medians of 7: pgd_bench "
        f"{ours:.3g}, NumPy standard_normal {theirs:.3g}, x{ours / theirs:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
