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
_UNSEEDED: set[str] = set()  # families whose weights do not depend on teacher_seed


def register_teacher(name: str, weights: Callable[[int, int], np.ndarray], *, seeded: bool = True) -> None:
    """Add a teacher family: ``weights(k, teacher_seed)`` returns ``a*``, ``k`` finite real numbers.

    Parameters
    ----------
    name : str
        A new name (``--teacher NAME``).
    weights : callable
        ``weights(k, teacher_seed) -> a*``; what it returns is checked at each use.
    seeded : bool, default True
        Whether its weights depend on ``teacher_seed``: a config may then set ``teacher_seed``
        (refused for a family that ignores it, as for the built-in ``ones``).

    Raises
    ------
    ValueError
        If the name is taken or empty, or ``weights`` is not callable.
    """
    if not isinstance(name, str) or not name or name in _TEACHERS:
        raise ValueError(f"teacher: {name!r} is not a new name")
    if not callable(weights):
        raise ValueError(f"teacher {name!r}: weights must be a function weights(k, teacher_seed), "
                         f"got {type(weights).__name__}")  # fmt: skip
    _TEACHERS[name] = weights
    if not seeded:
        _UNSEEDED.add(name)


def unregister_teacher(name: str) -> None:
    """Remove a teacher family (for tests and notebooks that added one).

    Raises
    ------
    ValueError
        If no family of that name is registered.
    """
    if not isinstance(name, str) or name not in _TEACHERS:
        raise ValueError(f"teacher: {name!r} is not registered (registered: {', '.join(_TEACHERS)})")
    del _TEACHERS[name]
    _UNSEEDED.discard(name)


def is_seeded(name: str) -> bool:
    """Whether the family ``name`` draws its weights from ``teacher_seed`` (``gaussian``, and a
    registered family unless registered with ``seeded=False``)."""
    return name in _TEACHERS and name not in _UNSEEDED


register_teacher("ones", lambda k, seed: np.ones(k), seeded=False)
register_teacher("alternating", lambda k, seed: (-1.0) ** np.arange(k, dtype=np.float64) + 0.1, seeded=False)
register_teacher("linspace", lambda k, seed: -1.0 + 2.0 * np.arange(k, dtype=np.float64) / max(k - 1, 1) + 1.0 / k,
                 seeded=False)  # fmt: skip
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
        Seed of the families that draw (``gaussian``, and registered ones: :func:`is_seeded`).

    Returns
    -------
    ndarray, shape (k,)

    Raises
    ------
    ValueError
        For an unknown family, or one that fails or returns other than ``k`` finite real numbers.
    """
    k = as_int("k", k, minimum=1)
    name = as_choice("teacher", name, tuple(TEACHERS))
    teacher_seed = as_seed("teacher_seed", teacher_seed)
    try:  # a user's family: whatever it raises is about it, and named so
        returned = TEACHERS[name](k, teacher_seed)
    except Exception as error:  # noqa: BLE001 - reported as the family's failure, with its own message
        raise ValueError(f"teacher: family {name!r} failed for k = {k}, teacher_seed = {teacher_seed}: "
                         f"{type(error).__name__}: {error}") from error  # fmt: skip
    raw = np.asarray(returned)
    if raw.dtype.kind not in "biuf":  # complex was cut to its real part, strings were parsed as numbers
        raise ValueError(f"teacher: family {name!r} returned {raw.dtype} values, expected real numbers")
    weights = raw.astype(np.float64)
    if weights.shape != (k,):
        raise ValueError(f"teacher: family {name!r} returned shape {weights.shape}, expected ({k},)")
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"teacher: family {name!r} returned weights that are not finite: {weights.tolist()}")
    return weights
