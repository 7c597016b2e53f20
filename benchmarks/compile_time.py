"""Cold compile time of the engine, as a first run on a new machine pays it.

Each measurement runs in a fresh Python process whose kernel cache is an empty temporary folder
(``PGD_BENCH_CACHE_DIR``), so nothing is loaded from an earlier compile. It times the first run
(one trial, one iteration: compile, then a step) of each algorithm setting a quick reproduction
uses, in one process, in that order: the first pays for the engine and the kernels it shares with
the others, each later one only for what it adds (nothing, when the settings share one compiled
engine).

Usage::

    python benchmarks/compile_time.py [--repeat 3] [--tree PATH]

``--tree`` times the package in another checkout (``PYTHONPATH``), so that two versions can be
compared side by side on one machine. Prints, per setting, the median seconds over the repeats,
and the total.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

# the settings of a quick reproduction's cells, as distinct engine inputs
SETTINGS = (
    ("gd", dict(algorithm="gd")),
    ("sgd", dict(algorithm="sgd")),
    ("pgd", dict(algorithm="pgd")),
    ("psgd", dict(algorithm="psgd")),
    ("langevin", dict(algorithm="langevin")),
    ("gd + momentum", dict(algorithm="gd", momentum=0.5)),
    ("gd, training set", dict(algorithm="gd", samples=64)),
    ("sgd, training set", dict(algorithm="sgd", samples=64)),
    ("pgd, training set", dict(algorithm="pgd", samples=64)),
    ("psgd, training set", dict(algorithm="psgd", samples=64)),
    ("langevin, training set", dict(algorithm="langevin", samples=64)),
)

_CHILD = """
import json, sys, time
start = time.perf_counter()
import pgd_bench as pb
times = {"import": time.perf_counter() - start}
for name, settings in json.loads(sys.argv[1]):
    start = time.perf_counter()
    pb.run(pb.resolve_config(trials=1, epochs=1, iterations=1, **settings))
    times[name] = time.perf_counter() - start
times["package"] = pb.__file__
print(json.dumps(times))
"""


def measure_once(tree: str | None) -> dict[str, float]:
    """One cold process: seconds per setting (and for the import)."""
    with tempfile.TemporaryDirectory(prefix="pgd-bench-cold-") as cache:
        env = dict(os.environ, PGD_BENCH_CACHE_DIR=cache)
        if tree:
            env["PYTHONPATH"] = tree + os.pathsep + env.get("PYTHONPATH", "")
        # run from the cache folder: from a checkout, "python -c" would import that checkout's package
        out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(SETTINGS)], env=env, check=True,
                             capture_output=True, text=True, cwd=cache)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tree", help="a checkout whose pgd_bench to time (default: the installed one)")
    args = parser.parse_args(argv)
    runs = [measure_once(args.tree) for _ in range(args.repeat)]
    names = [name for name in runs[0] if name != "package"]
    print(f"cold first runs, median of {args.repeat} fresh processes ({runs[0]['package']}):")
    for name in names:
        print(f"  {name:24s} {statistics.median(r[name] for r in runs):7.1f} s")
    totals = [sum(r[name] for name in names if name != "import") for r in runs]
    print(f"  {'total (without import)':24s} {statistics.median(totals):7.1f} s  (each: "
          + ", ".join(f"{t:.1f}" for t in totals) + ")")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
