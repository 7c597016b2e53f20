"""What vectorised remainders give blocks of fewer than 32 lanes (``_jit.LLVM_OPTIONS``).

LLVM runs the lanes beyond a loop's last whole vector body in a scalar loop, unless told to
vectorise that remainder too (``-epilogue-vectorization-minimum-VF``: 16 by default, 4 here). Two
fresh processes, each compiling the engine into its own empty kernel folder: one with the
package's option, one with LLVM's default put back after the import. Each times cells of 8 to 64
trials (one block each) on one thread, medians of ``--repeat``, and checks that both give the same
bits; the two run in turn ``--rounds`` times (each loading what its first round compiled), and the
table gives the median over rounds: one process after the other, drift on a busy machine read as
a 25% difference.

Usage::

    python benchmarks/small_blocks.py [--repeat 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

# epochs sized so that one timed run of 8 trials takes 10 ms or more (a shorter one measures the
# call's fixed cost and the machine's jitter: P-GD at k = 8 over 2 epochs read 0.86-0.98x)
CASES = (
    ("perturbed SGD, k = 32", dict(algorithm="psgd", k=32, epochs=2)),
    ("perturbed SGD, overlapping (s = 3), k = 16", dict(algorithm="psgd", k=16, stride=3, epochs=2)),
    ("P-GD, k = 8", dict(algorithm="pgd", k=8, epochs=40)),
    ("P-GD on 256 samples, k = 8", dict(algorithm="pgd", k=8, samples=256, epochs=2)),
)
TRIALS = (8, 16, 24, 32, 64)

_CHILD = """
import json, statistics, sys, time
import llvmlite.binding
import numba
from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import run

if sys.argv[1] == "default":
    llvmlite.binding.set_option("benchmark", "-epilogue-vectorization-minimum-VF=16")  # LLVM's own
numba.set_num_threads(1)
out = {}
for name, settings in json.loads(sys.argv[2]):
    for trials in json.loads(sys.argv[3]):
        config = resolve_config(preset="tuned", trials=trials, **settings)
        first = run(config)
        times = []
        for _ in range(int(sys.argv[4])):
            start = time.perf_counter()
            run(config, warm=False)
            times.append(time.perf_counter() - start)
        steps = config.total_epochs * config.iterations * trials
        out[f"{name}|{trials}"] = [statistics.median(times) / steps * 1e9, first.final_state_sha256()]
print(json.dumps(out))
"""


def measure(kind: str, repeat: int, cache: str) -> dict:
    """One fresh process whose kernel folder is ``cache`` (its own per kind): ns per trial-step and
    final-state digest per case."""
    env = dict(os.environ, PGD_BENCH_CACHE_DIR=cache, NUMBA_NUM_THREADS="1")
    args = [kind, json.dumps(CASES), json.dumps(TRIALS), str(repeat)]
    proc = subprocess.run([sys.executable, "-c", _CHILD, *args], env=env, capture_output=True, text=True,
                          check=True, cwd=cache)  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    rounds = {"package": [], "default": []}
    with tempfile.TemporaryDirectory(prefix="pgd-bench-blocks-") as folder:
        for _ in range(args.rounds):
            for kind, results in rounds.items():
                os.makedirs(os.path.join(folder, kind), exist_ok=True)
                results.append(measure(kind, args.repeat, os.path.join(folder, kind)))

    def median_of(results):
        return {key: [statistics.median(r[key][0] for r in results), {r[key][1] for r in results}]
                for key in results[0]}  # fmt: skip

    ours, default = median_of(rounds["package"]), median_of(rounds["default"])
    print("ns per trial-step, one thread; LLVM's default remainders against the package's (medians)")
    print(f"{'case':45s} {'trials':>6s} {'default':>9s} {'package':>9s} {'ratio':>7s}  bits")
    for key in ours:
        name, trials = key.split("|")
        same = "same" if ours[key][1] == default[key][1] else "DIFFER"
        print(f"{name:45s} {trials:>6s} {default[key][0]:9.1f} {ours[key][0]:9.1f} "
              f"{default[key][0] / ours[key][0]:6.2f}x  {same}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
