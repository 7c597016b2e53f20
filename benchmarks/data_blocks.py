"""What cache-sized blocks save with a training set: a block of ``data_lanes(N, k p)`` trials (their
sets within ``DATA_BLOCK_BYTES``) against the block of ``DATA_LANES = 8`` trials the engine ran
before, whatever N. The results are the same bits (tests/test_engine.py); only the time differs.
Side by side in one process, medians of 5, alternated.

Usage::

    python benchmarks/data_blocks.py
"""

from __future__ import annotations

import statistics
import time

from pgd_bench import engine
from pgd_bench.model.data import DATA_LANES, data_lanes

# (label, settings): full-batch cells of the observations and the noisy-label runs, and larger sets
CASES = (
    ("pgd, N = 1024, k = 8", dict(algorithm="pgd", k=8, samples=1024)),
    ("langevin, N = 1024, k = 8, sigma = 1", dict(algorithm="langevin", k=8, samples=1024, label_noise=1.0)),
    ("gd, N = 1024, k = 8", dict(algorithm="gd", k=8, samples=1024)),
    ("pgd, N = 512, k = 8", dict(algorithm="pgd", k=8, samples=512)),
    ("pgd, N = 256, k = 8", dict(algorithm="pgd", k=8, samples=256)),
    ("pgd, N = 1024, k = 16", dict(algorithm="pgd", k=16, samples=1024)),
)


def _seconds(config, lanes) -> float:
    from pgd_bench.runs.execute import run

    engine.data_lanes = lanes
    start = time.perf_counter()
    run(config, warm=False)
    return time.perf_counter() - start


def main(repeat: int = 5, trials: int = 32) -> None:
    from pgd_bench.runs.config import resolve_config
    from pgd_bench.runs.execute import warm_up

    def before(samples, kp):
        return DATA_LANES

    for name, settings in CASES:
        config = resolve_config(**settings, trials=trials, epochs=1, iterations=1000)
        warm_up(config)
        now, old = [], []
        for _ in range(repeat):  # alternated, so that drift hits both alike
            now.append(_seconds(config, data_lanes))
            old.append(_seconds(config, before))
        a, b = statistics.median(now), statistics.median(old)
        lanes = data_lanes(config.samples, config.k * config.p)
        print(f"{name}: {lanes} trials per block {a:.3f} s, {DATA_LANES} per block {b:.3f} s, ratio {b / a:.2f}x")
    engine.data_lanes = data_lanes


if __name__ == "__main__":
    main()
