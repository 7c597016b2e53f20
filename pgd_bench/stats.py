"""Statistics over trials: Wilson score intervals for success rates, expected running times."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% standard normal quantile


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes : int
        Number of successes, ``0 <= successes <= trials``.
    trials : int
        Number of trials; with ``trials == 0`` the interval is ``(0, 1)``.
    z : float
        Standard normal quantile (1.96 for 95%).

    Returns
    -------
    (low, high) : tuple of float
        Unlike the normal approximation, stays inside [0, 1] and is not degenerate at 0% or 100%.
    """
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"successes/trials: expected 0 <= successes <= trials, got {successes}/{trials}")
    if trials == 0:
        return 0.0, 1.0
    phat = successes / trials
    denom = 1.0 + z * z / trials
    centre = (phat + z * z / (2 * trials)) / denom
    half = z * math.sqrt(phat * (1 - phat) / trials + z * z / (4 * trials * trials)) / denom
    # exact ends at 0 and n successes (the formula leaves a rounding hair such as 3.5e-18 there)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def expected_running_time(
    spent: np.ndarray, solved: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Expected running time (aRT, the COCO/BBOB convention) with a bootstrap interval.

    ``aRT = sum(spent) / sum(solved)``: every iteration spent by every trial (successful trials
    until they reached the target, the others their whole run) per success. It is what an
    independent-restarts strategy would pay per solution.

    Parameters
    ----------
    spent : ndarray of int, shape (n,)
        Iterations each trial spent: until it reached the target if it did, else all it ran.
    solved : ndarray of bool, shape (n,)
        Whether each trial reached the target.
    n_boot : int
        Bootstrap resamples of the trials.
    seed : int
        Seed of the resampling, so that a report reproduces to the bit.

    Returns
    -------
    (art, low, high) : tuple of float
        ``inf`` where no trial (or no resampled trial) succeeded; ``low`` and ``high`` are the
        2.5% and 97.5% percentiles of the bootstrap distribution (nearest rank).
    """
    spent = np.asarray(spent, dtype=np.float64)
    solved = np.asarray(solved, dtype=bool)
    if spent.shape != solved.shape or spent.ndim != 1:
        raise ValueError(f"spent and solved: expected two 1-D arrays of one length, got {spent.shape}, {solved.shape}")
    n = spent.size
    if n == 0 or not solved.any():
        return math.inf, math.inf, math.inf
    art = float(spent.sum() / solved.sum())
    index = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    successes = solved[index].sum(axis=1)
    with np.errstate(divide="ignore"):
        boot = np.sort(np.where(successes > 0, spent[index].sum(axis=1) / np.maximum(successes, 1), np.inf))
    low = float(boot[int(math.floor(0.025 * (n_boot - 1)))])
    high = float(boot[int(math.ceil(0.975 * (n_boot - 1)))])
    return art, low, high
