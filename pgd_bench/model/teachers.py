"""The teachers: families of output weights ``a*`` by name, and :func:`teacher_weights`.

A family is ``weights(k, teacher_seed) -> a*``; :func:`register_teacher` adds one, and every
command (``--teacher``), table and report section reads the same registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np

from .._validate import as_choice, as_int, as_seed

_TEACHERS: dict[str, Callable[[int, int], np.ndarray]] = {}
TEACHERS: Mapping[str, Callable[[int, int], np.ndarray]] = MappingProxyType(_TEACHERS)


def register_teacher(name: str, weights: Callable[[int, int], np.ndarray]) -> None:
    """Add a teacher family: ``weights(k, teacher_seed)`` returns ``a*`` of length ``k``."""
    if not isinstance(name, str) or not name or name in _TEACHERS:
        raise ValueError(f"teacher: {name!r} is not a new name")
    _TEACHERS[name] = weights


def unregister_teacher(name: str) -> None:
    """Remove a teacher family (for tests and notebooks that added one)."""
    _TEACHERS.pop(name)


register_teacher("ones", lambda k, seed: np.ones(k))
register_teacher("alternating", lambda k, seed: (-1.0) ** np.arange(k, dtype=np.float64) + 0.1)
register_teacher("linspace", lambda k, seed: -1.0 + 2.0 * np.arange(k, dtype=np.float64) / max(k - 1, 1) + 1.0 / k)
register_teacher("gaussian", lambda k, seed: np.random.default_rng(seed).standard_normal(k))


def teacher_weights(name: str, k: int, teacher_seed: int = 0) -> np.ndarray:
    """The teacher's output weights ``a*`` of a registered family, index ``j = 0..k-1``.

    Parameters
    ----------
    name : str
        A key of :data:`pgd_bench.algorithms.TEACHERS`. Built in: ``ones``: 1; ``alternating``:
        ``(-1)^j + 0.1``; ``linspace``: ``-1 + 2j/(k-1) + 1/k``; ``gaussian``:
        ``numpy.random.default_rng(teacher_seed).standard_normal(k)``.
    k : int
        Number of patches.
    teacher_seed : int
        Seed of the families that draw (``gaussian``).

    Returns
    -------
    ndarray, shape (k,)
    """
    k = as_int("k", k, minimum=1)
    name = as_choice("teacher", name, tuple(TEACHERS))
    weights = np.asarray(TEACHERS[name](k, as_seed("teacher_seed", teacher_seed)), dtype=np.float64)
    if weights.shape != (k,):
        raise ValueError(f"teacher: family {name!r} returned shape {weights.shape}, expected ({k},)")
    return weights
