"""SGD on overlapping patches (fresh batches of whole inputs): trial-steps per second, one thread,
for each source tree given, each in a process of its own (two versions of the package cannot
share one), medians of 3 after a compiling run. Compare two trees side by side, for example the
working tree and a ``git worktree`` of an older commit::

    git worktree add /tmp/before <commit>
    NUMBA_NUM_THREADS=1 python benchmarks/overlap_sgd.py /tmp/before .

Each tree compiles its engine on first use (about 40 s) in its own kernel folder when
``PGD_BENCH_CACHE_DIR`` differs, or in the user's cache keyed by its source hash.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

CASES = (("psgd", 16, 3, 4), ("psgd", 8, 1, 4), ("sgd", 16, 1, 2), ("psgd", 4, 2, 4))


def measure(tree: str) -> None:
    """Print the median rate of each case with the package of ``tree``."""
    sys.path.insert(0, tree)
    import pgd_bench as pb

    for algorithm, k, stride, batch in CASES:
        config = pb.resolve_config(algorithm=algorithm, k=k, p=6, stride=stride, batch=batch, trials=64, epochs=4,
                                   iterations=1000, seed=1)  # fmt: skip
        pb.run(config)  # compiles
        rate = statistics.median(pb.run(config).trial_steps_per_second() for _ in range(3))
        print(f"  {algorithm} k={k} s={stride} B={batch}: {rate / 1e6:.3f} M trial-steps/s", flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--measure":
        measure(sys.argv[2])
    else:
        for tree in sys.argv[1:] or ["."]:
            print(tree, flush=True)
            subprocess.run([sys.executable, __file__, "--measure", tree], check=True)
