"""Hand-made runs and found optima for the tests of where trials ended (p = 3, k = 2, stride 1)."""

import numpy as np

from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.optima import KIND_NAMES, OPTIMUM_FIELDS
from pgd_bench.runs.result import RunResult


def hand_result(w, a, outcome) -> RunResult:
    """A RunResult whose trials ended at ``w``, ``a`` with ``outcome`` (indices into OUTCOME_NAMES)."""
    n = len(outcome)
    config = resolve_config(p=3, k=2, stride=1, trials=n)
    return RunResult(config, np.asarray(w, float), np.asarray(a, float), np.asarray(outcome, np.int8),
                     np.zeros(n, np.int64), np.full(n, -1), np.array([1]), np.zeros((n, 1, 5)), np.full(n, np.nan),
                     np.zeros((0, 1, 5)))  # fmt: skip


def hand_optima(w, a, kinds, losses) -> dict:
    """Found-optima arrays as cached_optima gives them (the fields not given: zeros)."""
    n = len(kinds)
    arrays = {field: np.zeros(n) for field in OPTIMUM_FIELDS}
    arrays.update(w=np.asarray(w, float), a=np.asarray(a, float), unpolished=np.asarray(0),
                  kind=np.array([KIND_NAMES.index(k) for k in kinds], dtype=float),
                  loss=np.asarray(losses, float))  # fmt: skip
    return arrays
