"""What short blocks save: a cell of n trials now (its last block runs only the lanes it needs, in
whole 8-lane vectors) against a cell padded to the next multiple of 64 trials, which is what the
engine computed for n trials before. Side by side in one process, medians of 5, alternated.

Usage::

    python benchmarks/short_blocks.py
"""

from __future__ import annotations

import statistics
import time

# (label, settings, trials now, trials the old engine computed for them)
CASES = (
    ("pgd, 100 trials (old: 128 lanes)", dict(algorithm="pgd"), 100, 128),
    ("pgd s=3, 48 trials (old: 64)", dict(algorithm="pgd", stride=3), 48, 64),
    ("sgd, 6 trials (old: 64)", dict(algorithm="sgd"), 6, 64),
    ("langevin, 36 trials (old: 64)", dict(algorithm="langevin"), 36, 64),
)


def _seconds(config) -> float:
    from pgd_bench.runs.execute import run

    start = time.perf_counter()
    run(config, warm=False)
    return time.perf_counter() - start


def main(repeat: int = 5) -> None:
    from pgd_bench.runs.config import resolve_config
    from pgd_bench.runs.execute import warm_up

    for name, settings, now, padded in CASES:
        short, full = resolve_config(**settings, trials=now), resolve_config(**settings, trials=padded)
        warm_up(short)
        times_short, times_full = [], []
        for _ in range(repeat):  # alternated, so that drift hits both alike
            times_short.append(_seconds(short))
            times_full.append(_seconds(full))
        a, b = statistics.median(times_short), statistics.median(times_full)
        print(f"{name}: now {a:.3f} s, padded {b:.3f} s, ratio {b / a:.2f}x")


if __name__ == "__main__":
    main()
