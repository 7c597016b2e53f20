"""The teachers: families of output weights ``a*`` by name, and :func:`teacher_weights`.

A family is ``weights(k, teacher_seed) -> a*``; :func:`register_teacher` adds one, and every
command (``--teacher``), table and report section reads the same registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np

from .._validate import as_choice, as_int, as_seed, as_vector

_TEACHERS: dict[str, Callable[[int, int], np.ndarray]] = {}
TEACHERS: Mapping[str, Callable[[int, int], np.ndarray]] = MappingProxyType(_TEACHERS)
_SEEDED: set[str] = set()  # families whose weights depend on teacher_seed


def register_teacher(name: str, weights: Callable[[int, int], np.ndarray], *, seeded: bool = False) -> None:
    """Add a teacher family: ``weights(k, teacher_seed)`` returns ``a*``, ``k`` finite real numbers.

    Parameters
    ----------
    name : str
        A new name (``--teacher NAME``).
    weights : callable
        ``weights(k, teacher_seed) -> a*``; what it returns is checked at each use.
    seeded : bool, default False
        Whether its weights depend on ``teacher_seed``: only then may a config set
        ``teacher_seed`` (refused otherwise, as for the built-in ``ones``: a sweep over the seeds of
        a family that ignores them would run one teacher under several labels).

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
    if seeded:
        _SEEDED.add(name)


def unregister_teacher(name: str) -> None:
    """Remove a teacher family (for tests and notebooks that added one).

    Raises
    ------
    ValueError
        If no family of that name is registered.
    """
    del _TEACHERS[as_choice("teacher", name, _TEACHERS)]
    _SEEDED.discard(name)


def is_seeded(name: str) -> bool:
    """Whether the teacher family ``name`` draws its weights from ``teacher_seed``.

    Parameters
    ----------
    name : str
        A family's name (any string: an unknown one does not draw).

    Returns
    -------
    bool
        True for ``gaussian`` and for families registered with ``seeded=True``.
    """
    return name in _SEEDED


register_teacher("ones", lambda k, seed: np.ones(k))
register_teacher("alternating", lambda k, seed: (-1.0) ** np.arange(k, dtype=np.float64) + 0.1)
register_teacher("linspace", lambda k, seed: -1.0 + 2.0 * np.arange(k, dtype=np.float64) / max(k - 1, 1) + 1.0 / k)
register_teacher("gaussian", lambda k, seed: np.random.default_rng(seed).standard_normal(k), seeded=True)


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
        Seed of the families that draw (``gaussian``, and those registered with
        ``seeded=True``: :func:`is_seeded`).

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
        said = str(error).strip().splitlines()  # its first line: the command line's message is one line
        raise ValueError(f"teacher: family {name!r} failed for k = {k}, teacher_seed = {teacher_seed}: "
                         f"{type(error).__name__}{': ' + said[0] if said else ''}") from error  # fmt: skip
    # k finite real numbers, checked as every vector argument is (complex was cut to its real part,
    # strings parsed as numbers, NaN refused as "the zero teacher")
    return as_vector(f"teacher: family {name!r} returned", returned, length=k)
