"""Statistics over trials: Wilson score intervals for success rates."""

from __future__ import annotations

import math

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
    return max(0.0, centre - half), min(1.0, centre + half)
