"""Input validation shared by every public function.

Public functions coerce and check their arguments here so that a user sees a ``ValueError``
naming the argument and what was expected, never a Numba typing error.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

UNIT_NORM_TOL = 1e-9


def _has_bool(value) -> bool:
    """Whether a (nested) list or tuple holds a boolean anywhere (NumPy would read it as 0 or 1)."""
    if isinstance(value, (bool, np.bool_)):
        return True
    return isinstance(value, (list, tuple)) and any(_has_bool(x) for x in value)


def _real_array(name: str, value, expected: str) -> np.ndarray:
    """``value`` as a C-contiguous float64 array of its own shape (a scalar stays 0-d), refusing
    what would convert silently but wrongly.

    NumPy would drop the imaginary part of complex numbers, parse strings such as ``"1.5"``, turn
    booleans into 0 and 1 (also inside a list of numbers), and raise its own message for ragged
    lists; each of those is an error here, naming the argument.
    """
    if _has_bool(value):
        raise ValueError(f"{name}: expected {expected}, got booleans")
    try:
        raw = np.asarray(value)  # an ndarray is returned as it is
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name}: expected {expected}, got a ragged or mixed sequence") from None
    kind = raw.dtype.kind
    if kind == "O":  # a ragged or mixed list: every element must be a real number
        flat = raw.ravel()
        if not all(isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_)) for x in flat):
            kind = "X"
    if kind not in "iufO":
        what = {"c": "complex numbers", "b": "booleans", "U": "strings", "S": "bytes"}.get(kind, "non-numbers")
        raise ValueError(f"{name}: expected {expected}, got {what}")
    try:
        # asarray, not ascontiguousarray: the latter turns a scalar into a 1-element vector
        return np.asarray(raw, dtype=np.float64, order="C")
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name}: expected {expected} ({exc})") from None


def as_real_array(name: str, value) -> np.ndarray:
    """``value`` as a float64 array of any shape, refusing strings, booleans and complex numbers."""
    return _real_array(name, value, "real numbers")


def as_vector(name: str, value, length: int | None = None) -> np.ndarray:
    """Return ``value`` as a finite, C-contiguous float64 vector.

    Raises
    ------
    ValueError
        If ``value`` is not real-valued (complex, strings, booleans), is not one-dimensional and
        non-empty, has the wrong length, or holds a non-finite entry.
    """
    arr = _real_array(name, value, "a 1-D array of real numbers")
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
    with np.errstate(over="ignore"):  # entries near the largest float: a norm of inf, refused below, no warning
        norm = float(np.linalg.norm(arr))
    if abs(norm - 1.0) > UNIT_NORM_TOL:
        raise ValueError(f"{name}: expected a unit vector (norm 1 within {UNIT_NORM_TOL}), got norm {norm!r}")
    return arr


# The smallest largest-entry of a vector whose squared norm the closed forms take: below about
# 1.5e-154 the square is subnormal, and a gradient came back finite but wrong (2% at 1e-161, 34% at
# 2e-162), or not finite, reported as an overflow
SMALLEST_ENTRY = 1e-150


def as_nonzero_vector(name: str, value, length: int | None = None) -> np.ndarray:
    """Like :func:`as_vector`, and also require a vector far enough from 0 for its squared norm
    to be exact in float64: its largest entry at least :data:`SMALLEST_ENTRY`."""
    arr = as_vector(name, value, length)
    if not np.any(arr):
        raise ValueError(f"{name}: expected a non-zero vector")
    largest = float(np.max(np.abs(arr)))
    if largest < SMALLEST_ENTRY:
        raise ValueError(f"{name}: too close to 0 (largest entry {largest:.3g}, below {SMALLEST_ENTRY:g}: its "
                         "squared norm would lose precision in float64); rescale it")  # fmt: skip
    return arr


def as_batch(name: str, value, k: int, p: int) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array of shape ``(n, k, p)``.

    Finiteness is not checked here: a scan of a large batch costs as much as the kernel, so the
    batch kernels detect non-finite input themselves (see ``network._reject_nonfinite_batch``).
    """
    arr = _real_array(name, value, f"an array of shape (n, {k}, {p})")
    if arr.ndim != 3 or arr.shape[1:] != (k, p):
        raise ValueError(f"{name}: expected shape (n, {k}, {p}), got {arr.shape}")
    return arr


def as_inputs(name: str, value, d: int) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array of shape ``(n, d)`` (whole inputs, whose
    patches overlap); finiteness as in :func:`as_batch`."""
    arr = _real_array(name, value, f"an array of shape (n, {d})")
    if arr.ndim != 2 or arr.shape[1] != d:
        raise ValueError(f"{name}: expected shape (n, {d}) (inputs of (k - 1) stride + p entries), got {arr.shape}")
    return arr


def _scalar(value):
    """A 0-d array or a NumPy scalar as the Python scalar it holds; anything else unchanged."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


INT64_MAX = 2**63 - 1


def as_int(name: str, value, minimum: int | None = None, maximum: int = INT64_MAX) -> int:
    """Return ``value`` (an integer, NumPy integer or 0-d integer array) as a Python int.

    Raises
    ------
    ValueError
        If ``value`` is not an integer (booleans are not), or lies outside ``[minimum, maximum]``.
    """
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    if value > maximum:
        raise ValueError(f"{name}: expected an integer <= {maximum}, got {value}")
    return value


def as_float(
    name: str, value, minimum: float | None = None, *, strict: bool = False, maximum: float | None = None
) -> float:
    """Return ``value`` as a finite float in ``[minimum, maximum]`` (``> minimum`` when ``strict``).

    Accepts Python and NumPy real scalars and 0-d arrays; refuses booleans, complex numbers and
    strings.
    """
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond the float range
        raise ValueError(f"{name}: expected a finite number, got an integer of {len(str(value))} digits") from None
    if not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if minimum is not None:
        if strict and value <= minimum:
            raise ValueError(f"{name}: expected a number > {minimum}, got {value!r}")
        if not strict and value < minimum:
            raise ValueError(f"{name}: expected a number >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: expected a number <= {maximum:.6g}, got {value!r}")
    return value


def as_bool(name: str, value) -> bool:
    """Return ``value`` (a Python or NumPy boolean, or a 0-d boolean array) as a bool."""
    value = _scalar(value)
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected true or false, got {value!r}")
    return bool(value)


def as_choice(name: str, value, choices) -> str:
    """Return ``value`` if it is one of the strings ``choices`` (any container of them: a mapping's keys)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def memory_limit() -> int:
    """The most memory, in bytes, that one run may plan to use: half of this machine's."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX: assume a modest machine
        total = 16 * 2**30
    return total // 2


def check_memory(what: str, nbytes: float, hint: str) -> None:
    """Refuse, before allocating, a request for more than :func:`memory_limit` bytes.

    Raises
    ------
    ValueError
        Naming ``what`` and the estimate, with ``hint`` (what to reduce).
    """
    limit = memory_limit()
    if nbytes > limit:
        raise ValueError(
            f"{what}: needs about {nbytes / 2**30:.3g} GiB of memory, more than half of this "
            f"machine's ({2 * limit / 2**30:.3g} GiB); {hint}"
        )


def as_seed(name: str, value) -> int:
    """Return ``value`` as a seed in ``[0, 2**64)``."""
    return as_int(name, value, minimum=0, maximum=2**64 - 1)


def as_point(w, a, w_star, a_star, on_sphere=False):
    """Validate a point ``(w, a)`` of the problem with teacher ``(w_star, a_star)``.

    ``w_star`` must be unit, ``w`` non-zero with the same length (with ``on_sphere``, of norm 1
    within 1e-9: a point of the manifold ``S^(p-1) x R^k``), ``a`` as long as ``a_star``;
    returns the four as float64 vectors.
    """
    w_star = as_unit_vector("w_star", w_star)
    a_star = as_vector("a_star", a_star)
    w = as_nonzero_vector("w", w, length=w_star.shape[0])
    if on_sphere and abs(float(np.linalg.norm(w)) - 1.0) > UNIT_NORM_TOL:
        raise ValueError(
            f"w: expected a point of the sphere (norm 1 within {UNIT_NORM_TOL}), got norm {np.linalg.norm(w)!r}"
        )
    a = as_vector("a", a, length=a_star.shape[0])
    return w, a, w_star, a_star


def as_rows(name: str, value, width: int, rows: int | None = None) -> np.ndarray:
    """``value`` as a float64 array of shape ``(n, width)`` (``n = rows`` when given); non-finite
    entries are allowed (a diverged trial's row)."""
    arr = _real_array(name, value, f"an array of shape (n, {width})")
    if arr.ndim != 2 or arr.shape[1] != width or (rows is not None and arr.shape[0] != rows):
        want = f"({'n' if rows is None else rows}, {width})"
        raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")
    return arr


def check_sphere_rows(name: str, w: np.ndarray) -> None:
    """Refuse a finite row of ``w`` (``(n, p)``) that is not a point of the sphere (norm 1 within
    :data:`UNIT_NORM_TOL`), naming the first such row and its norm; non-finite rows pass."""
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.linalg.norm(w, axis=1)
    off = np.isfinite(norms) & (np.abs(norms - 1.0) > UNIT_NORM_TOL)
    if np.any(off):
        raise ValueError(f"{name}: row {int(np.flatnonzero(off)[0])} has norm {float(norms[off][0])!r}, not 1 (within "
                         f"{UNIT_NORM_TOL}): the rows must be points of the sphere")  # fmt: skip


def as_stride(value, p: int) -> int | None:
    """``stride`` as an integer in ``[1, p]``, or None for the non-overlapping model (None or ``p``).

    Raises
    ------
    ValueError
        If it is not an integer, or lies outside ``[1, p]`` (patches would skip inputs past ``p``).
    """
    if value is None:
        return None
    stride = as_int("stride", value, minimum=1)
    if stride > p:
        raise ValueError(f"stride: expected an integer in [1, p] = [1, {p}] (past p patches skip inputs), got {stride}")
    return None if stride == p else stride
