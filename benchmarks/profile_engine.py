"""Where an engine step's time goes, on one thread: ``python benchmarks/profile_engine.py``.

For each algorithm it prints the time per trial-step, the part of it spent drawing normals (the
normals one step draws, times the time per normal measured on the engine's own 64-lane sampler
in the same run), and the rest (gradient, step, projection, bookkeeping); then a GD step split
into its closed-form gradient, its sphere step and the rest, with the C reference's own two
kernels timed on the same buffers beside them (when a C compiler is found); then how two threads
scale against one. These are the figures the README's "what limits each ratio" rests on.

Medians of several runs; the machine's speed drifts by 20-30% within minutes, so read the
shares, not the third digit.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

P, K, BATCH = 6, 8, 4
NORMALS_PER_STEP = {  # docs/mathematics.md / engine.py: ball noise is d + 2 normals; SGD 2k per sample + p
    "gd": 0,
    "pgd": (P + 2) + (K + 2),
    "sgd": 2 * K * BATCH + P,
    "psgd": (P + 2) + (K + 2) + 2 * K * BATCH + P,
}


def _step_ns(algorithm, trials=512, steps=400, repeats=5):
    from peers import pgd_bench_seconds

    pgd_bench_seconds(algorithm, 64, 2)  # compile or load from cache
    times = []
    for _ in range(repeats):
        seconds, trial_steps = pgd_bench_seconds(algorithm, trials, steps)
        times.append(seconds / trial_steps * 1e9)
    return statistics.median(times)


def _normal_ns(rows=P + 2, repeats=5):
    """Nanoseconds per normal of the engine's sampler: ``fill_normal_lanes`` on ``LANES`` lanes,
    ``rows`` normals per lane per call, as the engine draws them."""
    from pgd_bench._jit import jit
    from pgd_bench.engine import LANES
    from pgd_bench.streams import STATE_WORDS, fill_normal_lanes, stream_init_lanes

    @jit
    def draw(states, out, times):
        for _ in range(times):
            fill_normal_lanes(states, out)

    states = np.empty((STATE_WORDS, LANES), dtype=np.uint64)
    stream_init_lanes(states, 0, 0, 3)
    out = np.empty((rows, LANES))
    draw(states, out, 1)
    times = 20000
    results = []
    for _ in range(repeats):
        start = time.perf_counter()
        draw(states, out, times)
        results.append((time.perf_counter() - start) / (times * rows * LANES) * 1e9)
    return statistics.median(results)


def _aligned(shape):
    """A zeroed float64 array whose data start on a 64-byte boundary, as the C's stack buffers do.

    NumPy aligns to 16 bytes only: with 512-bit loads straddling cache lines, the same kernel
    read about 30% slower on some runs than on others (Zen 4), in both pgd_bench and C. The
    engine's own buffers (Numba's allocator) start on 32 bytes, which measured the same as 64."""
    size = int(np.prod(shape))
    buffer = np.zeros(size + 8)
    offset = (-buffer.ctypes.data % 64) // 8
    return buffer[offset : offset + size].reshape(shape)


def _c_parts(folder):
    """The C reference's gradient and sphere step as callables (benchmarks/c/pgd_parts.c), compiled
    into ``folder``, or None without a C compiler."""
    import ctypes
    from pathlib import Path

    from c_compare import BLOCK, compile_library, compiler

    from pgd_bench.engine import LANES

    if compiler() is None:
        return None
    assert LANES == BLOCK, "the C parts time blocks of BLOCK lanes on pgd_bench's (P, LANES) buffers"
    lib = compile_library(Path(folder), Path(__file__).resolve().parent / "c" / "pgd_parts.c")
    array = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
    lib.gradient_ns.argtypes = [ctypes.c_int, ctypes.c_int, *[array] * 6, ctypes.c_long]
    lib.step_ns.argtypes = [ctypes.c_int, ctypes.c_int, *[array] * 4, ctypes.c_long]
    lib.gradient_ns.restype = lib.step_ns.restype = ctypes.c_double
    return lib


def _gd_parts_ns(repeats=5, times=20000):
    """Nanoseconds per trial of the two kernels of a GD step, on one block of ``LANES`` trials:
    the closed-form gradient (``grad_lanes``) and the sphere step (``riemannian_step_lanes``);
    beside each, the C reference's (``C gradient``, ``C sphere step``) on the same buffers,
    interleaved, when a C compiler is found."""
    from pgd_bench._jit import jit
    from pgd_bench.engine import LANES
    from pgd_bench.geometry import riemannian_step_lanes
    from pgd_bench.model.landscape import LANE_WORK_ROWS, grad_lanes

    @jit
    def gradients(w, a, w_star, a_star, grad_w, grad_a, work, times):
        for _ in range(times):
            grad_lanes(w, a, w_star, a_star, grad_w, grad_a, work)

    @jit
    def steps(w, a, grad_w, grad_a, norm, a_sq, times):
        for _ in range(times):  # a step of 0 keeps the point, and so the work, the same
            riemannian_step_lanes(w, a, grad_w, grad_a, 0.0, 0.0, norm, a_sq)

    rng = np.random.default_rng(0)
    w, a = _aligned((P, LANES)), _aligned((K, LANES))
    w[...] = rng.standard_normal((P, LANES))
    w /= np.sqrt((w * w).sum(axis=0))
    a[...] = rng.standard_normal((K, LANES))
    w_star = np.eye(P)[0]
    a_star = (-1.0) ** np.arange(K) + 0.1
    grad_w, grad_a = _aligned((P, LANES)), _aligned((K, LANES))
    work, norm, a_sq = _aligned((LANE_WORK_ROWS, LANES)), _aligned((LANES,)), _aligned((LANES,))
    gradients(w, a, w_star, a_star, grad_w, grad_a, work, 1)
    steps(w, a, grad_w, grad_a, norm, a_sq, 1)
    folder = tempfile.TemporaryDirectory()  # the library's folder, removed when the timing is done
    lib = _c_parts(folder.name)
    parts = {"gradient": [], "sphere step": []}
    if lib is not None:
        parts.update({"C gradient": [], "C sphere step": []})
    for _ in range(repeats):
        start = time.perf_counter()
        gradients(w, a, w_star, a_star, grad_w, grad_a, work, times)
        parts["gradient"].append((time.perf_counter() - start) / (times * LANES) * 1e9)
        start = time.perf_counter()
        steps(w, a, grad_w, grad_a, norm, a_sq, times)
        parts["sphere step"].append((time.perf_counter() - start) / (times * LANES) * 1e9)
        if lib is not None:
            parts["C gradient"].append(lib.gradient_ns(P, K, w, a, w_star, a_star, grad_w, grad_a, times))
            parts["C sphere step"].append(lib.step_ns(P, K, w, a, grad_w, grad_a, times))
    folder.cleanup()
    return {name: statistics.median(values) for name, values in parts.items()}


def _one_thread_table():
    normal = _normal_ns()
    print(f"normals: {normal:.2f} ns each (the engine's sampler, 64 lanes, one thread)")
    print(f"{'algorithm':<10}{'ns/step':>9}{'normals':>9}{'normal ns':>11}{'share':>7}{'rest ns':>9}")
    for algorithm, count in NORMALS_PER_STEP.items():
        step = _step_ns(algorithm)
        drawing = count * normal
        print(
            f"{algorithm:<10}{step:>9.1f}{count:>9d}{drawing:>11.1f}{drawing / step:>7.0%}{step - drawing:>9.1f}",
            flush=True,
        )
        if algorithm == "gd":
            gd_step = step
    parts = _gd_parts_ns()
    ours = {name: ns for name, ns in parts.items() if not name.startswith("C ")}
    rest = gd_step - sum(ours.values())
    print(
        "a GD step, ns per trial: "
        + ", ".join(f"{name} {ns:.1f}" for name, ns in ours.items())
        + f", the rest (divergence test, distances, loop) {rest:.1f}"
    )
    if "C gradient" in parts:
        print(
            "the same kernels in C (benchmarks/c/pgd_parts.c, same buffers, interleaved): "
            f"gradient {parts['C gradient']:.1f} ({parts['gradient'] / parts['C gradient']:.2f}x), "
            f"sphere step {parts['C sphere step']:.1f} ({parts['sphere step'] / parts['C sphere step']:.2f}x)"
        )


def _throughput(threads):
    """Trial-steps per second of GD and P-GD with ``threads`` threads, in a fresh process."""
    code = (
        "import sys; sys.path.insert(0, 'benchmarks'); from peers import pgd_bench_seconds\n"
        "import statistics\n"
        "for alg in ('gd', 'pgd'):\n"
        "    pgd_bench_seconds(alg, 64, 2)\n"
        "    r = [1.0 / (lambda s: s[0] / s[1])(pgd_bench_seconds(alg, 1024, 400)) for _ in range(5)]\n"
        "    print(alg, statistics.median(r))\n"
    )
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return {line.split()[0]: float(line.split()[1]) for line in out.splitlines()}


def main():
    if os.environ.get("NUMBA_NUM_THREADS") != "1":
        # the table is per thread: rerun this script itself on one thread
        env = dict(os.environ, NUMBA_NUM_THREADS="1")
        subprocess.run([sys.executable, __file__], env=env, check=True)
        one, two = _throughput(1), _throughput(2)
        for algorithm in one:
            print(f"{algorithm}: two threads give {two[algorithm] / one[algorithm]:.2f}x one thread")
        return 0
    _one_thread_table()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
