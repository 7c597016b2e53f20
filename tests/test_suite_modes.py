"""Whole-suite checks: kernel tests as plain Python, and every asv benchmark runs once."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNEL_TESTS = [
    "tests/test_landscape.py", "tests/test_geometry.py", "tests/test_random.py", "tests/test_network.py",
    "tests/test_lanes.py",
]


def test_kernel_tests_pass_with_the_jit_disabled():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::RuntimeWarning", *KERNEL_TESTS],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


@pytest.mark.skipif(shutil.which("asv") is None, reason="asv is not installed")
def test_every_asv_benchmark_runs_in_quick_mode():
    subprocess.run(["asv", "machine", "--yes", "--machine", "ci"], cwd=ROOT, capture_output=True, timeout=120)
    proc = subprocess.run(
        ["asv", "run", "--python=same", "--quick", "--show-stderr", "--dry-run", "--machine", "ci"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    assert "failed" not in text.lower() and "Traceback" not in text, text[-4000:]
