"""Whole-suite checks: kernel tests as plain Python (every asv benchmark runs once in test_benchmarks.py)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNEL_TESTS = [
    "tests/test_landscape.py",
    "tests/test_geometry.py",
    "tests/test_random.py",
    "tests/test_network.py",
    "tests/test_lanes.py",
]


def test_kernel_tests_pass_with_the_jit_disabled():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run(
        # one process (-n0): the suite's own workers keep the cores busy, and two more workers' start-ups
        # cost 16 s of CPU against 11.5 s in one process
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n0",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::RuntimeWarning",
            *KERNEL_TESTS,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_a_run_with_the_jit_disabled_gives_the_compiled_runs_bits():
    """With NUMBA_DISABLE_JIT=1 (kernels as plain Python, for debugging) a run raised an
    AttributeError traceback (a landscape's kernels have no ``py_func`` then); it runs, and its
    final states are the compiled engine's, bit for bit (IEEE arithmetic in the same order)."""
    import json

    args = [sys.executable, "-m", "pgd_bench", "run", "--algorithm", "sgd", "--trials", "8", "--epochs", "2",
            "--iterations", "10", "--json"]  # fmt: skip
    digests = []
    for disabled in ("1", "0"):
        proc = subprocess.run(args, capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, NUMBA_DISABLE_JIT=disabled))  # fmt: skip
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        digests.append(json.loads(proc.stdout)["final_state_sha256"])
    assert digests[0] == digests[1]
