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
