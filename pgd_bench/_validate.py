"""Input validation shared by every public function.

Public functions coerce and check their arguments here so that a user sees a ``ValueError``
naming the argument and what was expected, never a Numba typing error.
"""

from __future__ import annotations

import numbers

import numpy as np

UNIT_NORM_TOL = 1e-9


def as_vector(name: str, value, length: int | None = None) -> np.ndarray:
    """Return ``value`` as a finite, C-contiguous float64 vector.

    Raises
    ------
    ValueError
        If ``value`` cannot be converted, is not one-dimensional and non-empty, has the wrong
        length, or holds a non-finite entry.
    """
    try:
        arr = np.ascontiguousarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a 1-D array of real numbers ({exc})") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D array, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name}: expected length {length}, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: every entry must be finite")
    return arr


def as_unit_vector(name: str, value, length: int | None = None) -> np.ndarray:
    """Like :func:`as_vector`, and also require a Euclidean norm of 1 within 1e-9."""
    arr = as_vector(name, value, length)
    norm = float(np.linalg.norm(arr))
    if abs(norm - 1.0) > UNIT_NORM_TOL:
        raise ValueError(f"{name}: expected a unit vector (norm 1 within {UNIT_NORM_TOL}), got norm {norm!r}")
    return arr


def as_nonzero_vector(name: str, value, length: int | None = None) -> np.ndarray:
    """Like :func:`as_vector`, and also require a non-zero vector."""
    arr = as_vector(name, value, length)
    if not np.any(arr):
        raise ValueError(f"{name}: expected a non-zero vector")
    return arr


def as_batch(name: str, value, k: int, p: int) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array of shape ``(n, k, p)``.

    Finiteness is not checked here: a scan of a large batch costs as much as the kernel, so the
    batch kernels detect non-finite input themselves (see ``network._reject_nonfinite_batch``).
    """
    try:
        arr = np.ascontiguousarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected an array of shape (n, {k}, {p}) ({exc})") from None
    if arr.ndim != 3 or arr.shape[1:] != (k, p):
        raise ValueError(f"{name}: expected shape (n, {k}, {p}), got {arr.shape}")
    return arr


def as_int(name: str, value, minimum: int | None = None) -> int:
    """Return ``value`` as a Python int, at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return value


def as_float(name: str, value, minimum: float | None = None, *, strict: bool = False) -> float:
    """Return ``value`` as a finite float, ``>= minimum`` (``> minimum`` when ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if minimum is not None:
        if strict and value <= minimum:
            raise ValueError(f"{name}: expected a number > {minimum}, got {value!r}")
        if not strict and value < minimum:
            raise ValueError(f"{name}: expected a number >= {minimum}, got {value!r}")
    return value


def as_seed(name: str, value) -> int:
    """Return ``value`` as a seed in ``[0, 2**64)``."""
    seed = as_int(name, value, minimum=0)
    if seed >= 2**64:
        raise ValueError(f"{name}: expected an integer below 2**64, got {seed}")
    return seed


def as_point(w, a, w_star, a_star):
    """Validate a point ``(w, a)`` of the problem with teacher ``(w_star, a_star)``.

    ``w_star`` must be unit, ``w`` non-zero with the same length, ``a`` as long as ``a_star``;
    returns the four as float64 vectors.
    """
    w_star = as_unit_vector("w_star", w_star)
    a_star = as_vector("a_star", a_star)
    w = as_nonzero_vector("w", w, length=w_star.shape[0])
    a = as_vector("a", a, length=a_star.shape[0])
    return w, a, w_star, a_star
