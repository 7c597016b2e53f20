import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# The kernel tests also run once with NUMBA_DISABLE_JIT=1 (kernel bodies as plain Python, for
# coverage); statistical sample sizes shrink there so that pass stays short. Tolerances are
# derived from the sample size, so the assertions are as strict in both passes.
PURE_PYTHON = os.environ.get("NUMBA_DISABLE_JIT", "0") == "1"

settings.register_profile(
    "default",
    deadline=None,  # the first call of a kernel compiles it
    max_examples=20 if PURE_PYTHON else 60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("default")


def mc_size(n: int) -> int:
    """A Monte Carlo sample size, reduced in the pure-Python pass."""
    return max(2000, n // 20) if PURE_PYTHON else n


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def alternating_teacher():
    p, k = 6, 8
    w_star = np.zeros(p)
    w_star[0] = 1.0
    a_star = np.array([(-1.0) ** j + 0.1 for j in range(k)])
    return w_star, a_star


@pytest.fixture(scope="session")
def reduced_reproduction(tmp_path_factory, worker_id):
    """One reduced reproduction (every section, 6 trials per cell, a fifth teacher family
    registered as a user would), shared by the tests that read a results folder: it takes minutes.
    Returns ``(out, first_cache_listing)``: the folder, and its cache files' names and times.

    Made once for the whole run: under pytest-xdist the workers share it through their common
    temporary folder, the first to come making it while the others wait on a lock (xdist's
    ``loadgroup`` cannot keep its users on one worker under pytest 9)."""
    import fcntl
    import json

    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent  # the folder the workers' own temporary folders are made in
    folder = root / "reduced-reproduction"
    folder.mkdir(exist_ok=True)
    listing = folder / "first-cache.json"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not listing.exists():
            out = _make_reduced_reproduction(folder / "r")
            cache = {p.name: p.stat().st_mtime_ns for p in (out / "cache").iterdir()}
            listing.write_text(json.dumps(cache))
    return folder / "r", json.loads(listing.read_text())


def _make_reduced_reproduction(out):
    from pgd_bench.model.teachers import register_teacher, unregister_teacher
    from pgd_bench.report.build import reproduce

    register_teacher("decaying", lambda k, seed: 2.0 ** -np.arange(k))
    try:
        return reproduce(out_dir=out, quick=True, trials=6, sample_sizes=(8, 16))
    finally:
        unregister_teacher("decaying")


# The suite runs on pytest-xdist's workers (pyproject.toml: -n auto): about half its tests wait on
# one core (compiling, subprocesses, drawing) while the other is free. They take tests in turn and
# an idle worker takes those another has queued (--dist worksteal): with xdist's default ("load")
# the tests left at the end were queued on one worker, which ran 42 s alone (192 -> 170 s, 2 cores).
MAX_WORKERS = 4  # each worker runs Numba's threads on every core: more would only oversubscribe


def pytest_xdist_auto_num_workers(config):
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))
