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
