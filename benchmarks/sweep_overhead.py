"""What a Dask cluster costs against this machine's threads, on the same sweep, side by side.

Run ``python benchmarks/sweep_overhead.py`` (needs the dask extra). It times
:meth:`pgd_bench.sweep.Backend.compute` (no cache: every cell recomputed) on one sweep
(``examples/sweep.toml`` with fewer trials, or ``--trials``):

* threads: this process, Numba's threads (the default of ``pgd-bench sweep``);
* a LocalCluster of 1 and of 2 worker processes (one thread each), started and warmed (engine
  loaded on every worker) before the clock starts; cluster start-up reported apart;
* the overhead per chunk: one cell of almost no work cut into 100 chunks, against threads;
* the overhead per cell: many cells of almost no work.

Prints wall times, efficiencies (threads' time over the cluster's, per worker) and overheads.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numba

from pgd_bench.runs.backend import Backend
from pgd_bench.runs.config import resolve_config
from pgd_bench.sweep import load_sweep

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sweep.toml"


def timed(backend, configs, repeat=1):
    best = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            backend.compute(configs, cache, force=True, label="measure")
            best.append(time.perf_counter() - start)
    return sorted(best)[len(best) // 2]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=128, help="trials per cell of the example sweep")
    args = parser.parse_args(argv)
    _, cells = load_sweep(EXAMPLE)
    configs = [resolve_config(**{**c.config.to_dict(), "trials": args.trials}) for c in cells]
    steps = sum(c.trials * c.total_epochs * c.iterations for c in configs)
    tiny = [resolve_config(algorithm="gd", trials=64, epochs=1, iterations=10, seed=s) for s in range(48)]
    many_chunks = [resolve_config(algorithm="gd", trials=64 * 100, epochs=1, iterations=10)]
    print(f"sweep: {len(configs)} cells of {args.trials} P-GD trials ({steps:.3g} trial-steps); "
          f"{numba.config.NUMBA_NUM_THREADS} cores")  # fmt: skip
    with Backend() as threads:
        timed(threads, configs[:1])  # compile (or load) P-GD ...
        timed(threads, tiny[:1])  # ... and GD, before any clock starts
        t_threads = timed(threads, configs)
        t_tiny_threads = timed(threads, tiny)
        t_chunks_threads = timed(threads, many_chunks)
    numba.set_num_threads(1)
    with Backend() as one_thread:
        t_one_thread = timed(one_thread, configs)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    print(f"{'where':34} {'wall (s)':>9} {'efficiency':>10}")
    print(f"{'threads, 1':34} {t_one_thread:9.2f} {'1.00':>10}")
    print(f"{'threads, all cores':34} {t_threads:9.2f} {t_one_thread / t_threads / 2:10.2f}")
    rows = {}
    for workers in (1, 2):
        start = time.perf_counter()
        with Backend(workers=workers) as cluster:
            started = time.perf_counter() - start
            timed(cluster, configs[:workers])  # every worker loads the engine before the clock starts
            t = timed(cluster, configs)
            rows[workers] = t
            print(f"{f'LocalCluster, {workers} worker(s)':34} {t:9.2f} {t_one_thread / t / workers:10.2f}"
                  f"   (cluster start {started:.1f} s)")  # fmt: skip
            if workers == 2:
                # many chunks of almost no work: what each costs beyond its work (over both workers)
                small = Backend(workers=workers, chunk_trials=64)
                small.client = cluster.client
                t_chunks = timed(small, many_chunks)
                small.client = None
                per_chunk = (t_chunks - t_chunks_threads) / (many_chunks[0].trials // 64)
                print(
                    f"overhead per chunk: {1e3 * per_chunk:.2f} ms ({many_chunks[0].trials // 64} chunks of 64 "
                    f"trials x 10 steps: {t_chunks:.2f} s against {t_chunks_threads:.2f} s on threads)"
                )
                t_tiny = timed(cluster, tiny)
                per_cell = (t_tiny - t_tiny_threads) / len(tiny)
                print(
                    f"overhead per cell: {1e3 * per_cell:.2f} ms ({len(tiny)} cells of 64 trials x 10 steps: "
                    f"{t_tiny:.2f} s against {t_tiny_threads:.2f} s on threads)"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
