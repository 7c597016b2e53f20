"""pgd_bench against a hand-written C implementation of the same engine, side by side.

Run ``python benchmarks/c_compare.py [--trials N] [--repeat R]``. The script compiles
``benchmarks/c/pgd_reference.c`` with the C compiler it finds (``$CC``, ``cc`` or ``gcc``; skipped
with a message when there is none) as IEEE arithmetic (``-O3 -march=native -ffp-contract=off``, no
fast-math), runs GD, P-GD, SGD and perturbed SGD on the same starts in both, and prints nanoseconds per trial-step on
one and two threads and their ratios (medians of ``--repeat`` runs, compile time excluded). It
also checks that the final states are the same bits: the C code follows pgd_bench's order of
operations, draws the same per-trial streams (stream version 2: xoshiro256++, Box-Muller with
branch-free fdlibm ``log``/``sin``/``cos``) and builds SGD's batches as pgd_bench does.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np

from pgd_bench.engine import OUTCOME_DIVERGED
from pgd_bench.model.landscape import spurious_optimum
from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import run, warm_up
from pgd_bench.streams import sample_ball, sample_sphere

SOURCE = Path(__file__).resolve().parent / "c" / "pgd_reference.c"
BLOCK = 64  # the C code's lanes per block
# -fno-math-errno and -fno-trapping-math change no value (only errno and the FP exception flags, which
# Numba does not keep either) and let gcc vectorise sqrt and if-convert the branches
FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-shared", "-fPIC"]


def compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def compile_library(folder: Path, source: Path = SOURCE) -> ctypes.CDLL:
    """``source`` compiled with :data:`FLAGS` into ``folder`` and loaded (the folder must outlive it)."""
    library = folder / f"{source.stem}.so"
    subprocess.run([compiler(), *FLAGS, "-o", str(library), str(source), "-lm"], check=True)
    return ctypes.CDLL(str(library))


def build(folder: Path) -> ctypes.CDLL:
    lib = compile_library(folder)
    d, i, L, u = ctypes.c_double, ctypes.c_int, ctypes.c_long, ctypes.c_uint64
    ptr = np.ctypeslib.ndpointer
    dp, lp = ptr(np.float64, flags="C_CONTIGUOUS"), ptr(np.int64, flags="C_CONTIGUOUS")
    lib.run_trials.argtypes = [i, i, L, dp, dp, dp, dp, dp, i, L, dp, dp, ctypes.c_void_p, ctypes.c_void_p, i, u, L,
                               d, d, lp, lp, lp]  # fmt: skip
    lib.run_trials.restype = None
    return lib


CASES = {
    # GD with the paper's step size; P-GD with ball noise of radius 1 on w and a at every step; SGD
    # and perturbed SGD the same with mini-batches of 4 fresh inputs
    "gd": dict(algorithm="gd", epochs=20, iterations=400),
    "pgd": dict(algorithm="pgd", preset="paper", eta=0.02, rho_w=1.0, rho_a=1.0, noise_decay=1.0, eta_decay=1.0,
                epochs=20, iterations=400),
    "sgd": dict(algorithm="sgd", preset="paper", eta=0.02, eta_decay=1.0, batch=4, epochs=20, iterations=400),
    "psgd": dict(algorithm="psgd", preset="paper", eta=0.02, rho_w=1.0, rho_a=1.0, noise_decay=1.0, eta_decay=1.0,
                 batch=4, epochs=20, iterations=400),
}  # fmt: skip


def config_for(case: str, trials: int):
    return resolve_config(**CASES[case], trials=trials, checkpoint_every=CASES[case]["epochs"] * 400)


class CRun(NamedTuple):
    w: np.ndarray  # final states, one row per trial
    a: np.ndarray
    diverged_at: np.ndarray  # iteration of divergence, -1: never
    global_since: np.ndarray  # iteration from which the trial stayed in the global tol ball, -1: outside
    seconds: float


def run_c(lib, config, threads: int) -> CRun:
    """The C engine on ``config``'s starts (trial i starts where pgd_bench's trial i does)."""
    w_star, a_star = config.teacher_arrays()
    _, a_bar = spurious_optimum(w_star, a_star)
    n, p, k = config.trials, config.p, config.k
    padded = -(-n // (BLOCK * threads)) * BLOCK * threads
    w = np.zeros((padded, p))
    a = np.zeros((padded, k))
    w[:n] = sample_sphere(n, p, config.seed)
    a[:n] = sample_ball(n, k, config.resolved_start_radius(), config.seed)
    w[n:] = w_star  # padding lanes: any valid point
    sched = config.schedules()
    noisy = bool(np.any(sched["rho_w"] > 0) or np.any(sched["rho_a"] > 0))
    rho_w = np.ascontiguousarray(sched["rho_w"]) if noisy else None
    rho_a = np.ascontiguousarray(sched["rho_a"]) if noisy else None
    div, glob, spur = (np.empty(padded, dtype=np.int64) for _ in range(3))
    eta_w, eta_a = np.ascontiguousarray(sched["eta_w"]), np.ascontiguousarray(sched["eta_a"])
    share = padded // threads

    def part(t):
        lo = t * share
        lib.run_trials(p, k, share, w[lo:lo + share], a[lo:lo + share], w_star, a_star, a_bar, config.epochs,
                       config.iterations, eta_w, eta_a, rho_w.ctypes.data if noisy else None,
                       rho_a.ctypes.data if noisy else None, int(config.batch), config.seed, lo, config.tol,
                       config.a_bound, div[lo:lo + share], glob[lo:lo + share], spur[lo:lo + share])  # fmt: skip

    start = time.perf_counter()
    workers = [threading.Thread(target=part, args=(t,)) for t in range(threads)]  # ctypes releases the GIL
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - start
    return CRun(w[:n], a[:n], div[:n], glob[:n], seconds)


def ns_per_trial_step(seconds, config) -> float:
    return 1e9 * seconds / (config.trials * config.epochs * config.iterations)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args(argv)
    if compiler() is None:
        print("c_compare: no C compiler found ($CC, cc, gcc or clang): nothing to compare")
        return 0
    threads_available = numba.config.NUMBA_NUM_THREADS
    thread_counts = [1, 2] if threads_available >= 2 else [1]
    with tempfile.TemporaryDirectory() as folder:
        lib = build(Path(folder))
        flags = " ".join(f for f in FLAGS if f not in ("-shared", "-fPIC"))
        print(f"C: {compiler()} {flags}; pgd_bench: Numba {numba.__version__}; "
              f"{args.trials} trials, medians of {args.repeat}; ns per trial-step")  # fmt: skip
        print(f"{'case':6} {'threads':>7} {'pgd_bench':>10} {'C':>8} {'ratio':>7}  final states")
        for case in args.cases:
            config = config_for(case, args.trials)
            warm_up(config)
            for threads in thread_counts:
                numba.set_num_threads(threads)
                ours, theirs = [], []
                for _ in range(args.repeat):  # interleaved, so both see the same machine
                    result = run(config, warm=False)
                    ours.append(ns_per_trial_step(result.seconds, config))
                    c_run = run_c(lib, config, threads)
                    theirs.append(ns_per_trial_step(c_run.seconds, config))
                w, a = c_run.w, c_run.a
                alive = c_run.diverged_at < 0  # a diverged trial's final state is where it was parked
                same = np.array_equal(alive, result.outcome != OUTCOME_DIVERGED)
                same = same and np.array_equal(w[alive], result.w[alive]) and np.array_equal(a[alive], result.a[alive])
                worst = float(np.max(np.abs(w[alive] - result.w[alive]), initial=0.0))
                states = "bit-identical" if same else f"differ (max |dw| {worst:.2g})"
                mine, c = float(np.median(ours)), float(np.median(theirs))
                print(f"{case:6} {threads:>7} {mine:>10.2f} {c:>8.2f} {mine / c:>6.2f}x  {states}")
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
