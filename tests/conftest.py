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
def reduced_reproduction(tmp_path_factory):
    """One reduced reproduction (every section, 6 trials per cell, a fifth teacher family
    registered as a user would), shared by the tests that read a results folder: it takes minutes.
    Returns ``(out, first_cache_listing)``: the folder, and its cache files' names and times."""
    from pgd_bench.model.teachers import register_teacher, unregister_teacher
    from pgd_bench.report.build import reproduce

    register_teacher("decaying", lambda k, seed: 2.0 ** -np.arange(k))
    try:
        out = reproduce(out_dir=tmp_path_factory.mktemp("reduced") / "r", quick=True, trials=6, sample_sizes=(8, 16))
    finally:
        unregister_teacher("decaying")
    return out, {p.name: p.stat().st_mtime_ns for p in (out / "cache").iterdir()}
