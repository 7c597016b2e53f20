"""Every path of the engine's gradient phase and its other phases: trial-steps per second, one
thread, for each source tree given, each in a process of its own (two versions of the package cannot
share one), medians of 3 after a compiling run (``ONLY=gd,psgd`` runs the cases whose label
starts so). Compare two trees side by side, for example the
working tree and a ``git worktree`` of an older commit::

    git worktree add /tmp/before <commit>
    NUMBA_NUM_THREADS=1 python benchmarks/engine_paths.py /tmp/before .

Each tree compiles its engine on first use (about 40 s) in its own kernel folder when
``PGD_BENCH_CACHE_DIR`` differs, or in the user's cache keyed by its source hash.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

CASES = (  # (label, settings): the poster's model, training sets, overlapping patches, the phases
    ("langevin", dict(algorithm="langevin", k=8)),
    ("gd + momentum", dict(algorithm="gd", k=8, momentum=0.5)),
    ("pgd, gaussian noise", dict(algorithm="pgd", k=8, noise_law="gaussian")),
    ("gd, set N=256", dict(algorithm="gd", k=8, samples=256)),
    ("pgd, set N=64", dict(algorithm="pgd", k=8, samples=64)),
    ("sgd, set N=256 B=4", dict(algorithm="sgd", k=8, samples=256, batch=4)),
    ("psgd, s=3 k=16 B=4", dict(algorithm="psgd", k=16, stride=3, batch=4)),
    ("sgd, s=1 k=16 B=2", dict(algorithm="sgd", k=16, stride=1, batch=2)),
    ("pgd, s=2 k=8", dict(algorithm="pgd", k=8, stride=2)),
)


def measure(tree: str) -> None:
    """Print the median rate of each case with the package of ``tree``."""
    sys.path.insert(0, tree)
    import pgd_bench as pb

    only = os.environ.get("ONLY")  # a comma-separated subset of the labels' first words
    for label, settings in CASES:
        if only and label.split(",")[0].split()[0] not in only.split(","):
            continue
        config = pb.resolve_config(p=6, trials=64, epochs=4, iterations=500, seed=1, **settings)
        pb.run(config)  # compiles
        rate = statistics.median(pb.run(config).trial_steps_per_second() for _ in range(3))
        print(f"  {label:24s} {rate / 1e6:7.3f} M trial-steps/s", flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--measure":
        measure(sys.argv[2])
    else:
        for tree in sys.argv[1:] or ["."]:
            print(tree, flush=True)
            subprocess.run([sys.executable, __file__, "--measure", tree], check=True)
