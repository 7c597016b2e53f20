"""The one place that sets Numba compilation options.

Every compiled kernel in the package is decorated with :func:`jit` so that caching, the
floating-point contract and the error model are chosen once.

Why these flags:

* ``cache=True``: the command-line tool starts in well under two seconds once the cache is warm.
  Compiled kernels go to a per-user folder keyed by the package version and the hash of its
  source (:func:`pgd_bench._provenance.kernel_cache_dir`), never next to the installed files: pip
  does not know of cache files it did not install, so an uninstall used to leave
  ``site-packages/pgd_bench/__pycache__`` behind, an empty namespace package that shadowed the
  next (editable) install. Keyed by the source hash, a cache cannot outlive the code it was
  compiled from, even when the edited kernel is one that others inline.
* No ``fastmath``: IEEE semantics, so LLVM may not contract multiply-adds, reassociate sums or
  use approximate reciprocals. Those rewrites are decided per compilation, and a kernel called
  from another is optimised once on its own and again once linked into its caller: with them, a
  process that compiled the engine and one that loaded it from the cache gave different bits for
  the same seed (measured: SGD final states differing by 1e-13, when a ``prange`` driver called
  the engine). Without them every compilation computes the same values, and NaN and inf stay
  visible for divergence detection. The loops over trials vectorise anyway: they carry no
  reduction across lanes. The cost, measured side by side: about 10-15% on GD and P-GD.
* ``error_model="numpy"``: division by zero gives inf/NaN (then detected) instead of raising
  inside a parallel loop.

Results stay bit-identical across thread counts because every trial (or every fixed-size chunk
of a reduction) runs the same machine code on the same data whatever thread executes it, and
across processes because IEEE arithmetic leaves the compiler no choice in the values.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
from pathlib import Path

import llvmlite.binding
import numba
from numba.core import caching

from ._provenance import PACKAGE_DIR, SOURCE_HASH, kernel_cache_dir


class PackageCacheLocator(caching._CacheLocator):
    """Numba cache locator for this package's kernels: :func:`kernel_cache_dir`.

    Numba picks, per function, the first locator class whose ``from_function`` accepts it; this
    one accepts only functions defined in this package or its subpackages, so other code's caching is unchanged. Its
    source stamp is the package's source hash (the folder is already keyed by it), so an editable
    and a regular install of the same source share one cache.
    """

    def __init__(self, py_func, cache_path):
        # Numba names a cache file after the module's file stem, the function and this
        # disambiguator; the stem alone would let model/x.py and report/x.py collide at one line
        folder = Path(py_func.__code__.co_filename).resolve().parent.relative_to(PACKAGE_DIR)
        self._disambiguator = "-".join([*folder.parts, str(py_func.__code__.co_firstlineno)])
        self._cache_path = str(cache_path)

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return SOURCE_HASH

    def get_disambiguator(self):
        return self._disambiguator

    @classmethod
    def from_function(cls, py_func, py_file):
        if PACKAGE_DIR not in Path(py_file).resolve().parents:  # this package and its subpackages
            return None
        # an unwritable cache folder falls back to the temporary folder, not to site-packages
        fallback = Path(tempfile.gettempdir()) / f"pgd_bench-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
        wanted, failure = kernel_cache_dir(), None
        for path in (wanted, fallback / wanted.name):
            locator = cls(py_func, path)
            try:
                locator.ensure_cache_path()
            except OSError as error:
                failure = failure or error
                continue
            if failure is not None:
                _say_fallback(wanted, path, failure)
            return locator
        return None


_FALLBACK_SAID = False


def _say_fallback(wanted: Path, used: Path, error: OSError) -> None:
    """Say once per process where the compiled kernels go when their folder cannot be written:
    a PGD_BENCH_CACHE_DIR naming a file or a read-only folder was silently replaced by the
    temporary folder (where the kernels may not last)."""
    global _FALLBACK_SAID
    if not _FALLBACK_SAID:
        _FALLBACK_SAID = True
        reason = error.strerror or type(error).__name__
        with contextlib.suppress(OSError, ValueError):  # a closed stderr: the note is not worth a failure
            sys.stderr.write(f"pgd-bench: note: cannot keep compiled kernels in {wanted} ({reason}); they go to "
                             f"{used.parent} instead (set PGD_BENCH_CACHE_DIR to a writable folder)\n")  # fmt: skip


# Numba's documented override (NUMBA_CACHE_LOCATOR_CLASSES) is process-wide and read from the
# environment; inserting the class first in the default list affects only this package. The list
# lives on ``CacheImpl`` (Numba >= 0.61) or ``_CacheImpl`` (earlier).
_LOCATORS = getattr(caching, "CacheImpl", None) or caching._CacheImpl
if PackageCacheLocator not in _LOCATORS._locator_classes:
    _LOCATORS._locator_classes.insert(0, PackageCacheLocator)


_NUMBA_LOAD_OVERLOAD = caching.Cache.load_overload


def _load_overload_or_miss(self, sig, target_context):
    """Numba's ``Cache.load_overload``, where a damaged cache file of this package's kernels is a
    miss: its index is emptied and the kernel compiled again (and saved), instead of Numba's
    UnpicklingError or EOFError reaching a Python caller. Other code's caches are untouched."""
    if not isinstance(self._impl.locator, PackageCacheLocator):
        return _NUMBA_LOAD_OVERLOAD(self, sig, target_context)
    try:
        return _NUMBA_LOAD_OVERLOAD(self, sig, target_context)
    except Exception:  # noqa: BLE001 - any failure to read a cache file means: compile
        with contextlib.suppress(OSError):
            self._cache_file.flush()  # an empty index: the next save writes a good entry
        return None


if getattr(caching.Cache.load_overload, "__name__", "") != "_load_overload_or_miss":
    caching.Cache.load_overload = _load_overload_or_miss


_NUMBA_SAVE_OVERLOAD = caching.Cache.save_overload
SAVE_LOCK_NAME = ".save.lock"


def _save_overload_locked(self, sig, data):
    """Numba's ``Cache.save_overload``, holding an exclusive lock on the kernel folder while it
    saves one of this package's kernels. Numba reads the folder's index, adds its entry and writes
    the index back: two processes saving into one folder at once (the reproduction compiles the
    overlapping-patch engine in a second process, ``runs.execute.compile_in_background``; Dask
    workers on one machine) could each lose the other's entry, or give two entries one data file.
    Where ``fcntl`` does not exist (Windows) it saves as Numba does."""
    if fcntl is None or not isinstance(self._impl.locator, PackageCacheLocator):
        return _NUMBA_SAVE_OVERLOAD(self, sig, data)
    try:
        lock = open(os.path.join(self._cache_path, SAVE_LOCK_NAME), "a")  # noqa: SIM115 - closed below
    except OSError:  # an unwritable folder: Numba's own save reports nothing either
        return _NUMBA_SAVE_OVERLOAD(self, sig, data)
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _NUMBA_SAVE_OVERLOAD(self, sig, data)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


if getattr(caching.Cache.save_overload, "__name__", "") != "_save_overload_locked":
    caching.Cache.save_overload = _save_overload_locked


# LLVM vectorises a loop over a block's lanes with a vector body of several 512-bit vectors, and
# leaves the lanes beyond its last whole body to a scalar loop; it vectorises that remainder too
# (one vector at a time) only where the body's vector factor is 16 or more. The batch gradients'
# loops (network.sgd_gradient_lanes) have a smaller one: a block of 8 to 24 lanes ran them wholly in
# scalar code, 2.4x slower per trial than a block of 32 (perturbed SGD at k = 32: 1.54-1.82 against
# 0.71 us per trial-step). With vectorised remainders from a factor of 4, those blocks run at
# 0.74-0.94 us; blocks the default already vectorised read within 6% of before (docs/design.md,
# "Engine"; benchmarks/small_blocks.py). The values are the same: a lane's arithmetic does not
# depend on which loop computes it (no reductions across lanes, no fast-math), tested against full
# blocks. Process-wide, as every LLVM option is; an option this LLVM does not know is ignored.
LLVM_OPTIONS = ("-epilogue-vectorization-minimum-VF=4",)
for _option in LLVM_OPTIONS:
    llvmlite.binding.set_option("pgd_bench", _option)


def jit(func=None, *, parallel: bool = False, inline: bool = False, nogil: bool = False, cache: bool = True):
    """Compile ``func`` with the package-wide Numba options.

    Parameters
    ----------
    func : callable, optional
        The function to compile. When omitted, returns a decorator.
    parallel : bool, default False
        Whether ``numba.prange`` loops in ``func`` run in parallel.
    inline : bool, default False
        Inline ``func`` into its compiled callers at the Numba IR level. Used for the small
        kernels that take arrays and run every iteration: a non-inlined call passes each array
        as a struct and wraps it in reference-count updates, which cost more than the arithmetic
        of these kernels. Not for helpers that take and return only scalars (the random
        generator's step, ``arccos_kernel``): LLVM inlines those itself, and IR inlining copies
        the callee's IR at every call site (measured: 35 -> 27 s of cold compile for the
        perturbed-SGD engine without it, the same speed). Nor for kernels whose work per call is
        a whole batch or training set: the engine compiled each again for every path that
        inlines it (docs/design.md, "Engine").
    nogil : bool, default False
        Release the GIL while ``func`` runs, so that Python threads can run it side by side (the
        trial engine's blocks: see :mod:`pgd_bench.engine`).
    cache : bool, default True
        Cache the compiled code in the per-user folder. False only for a copy of a kernel that
        inlines code from outside the package (a landscape registered by a user: an edit of it
        would not change the cache key, see :attr:`pgd_bench.model.base.Landscape.cacheable`).
    """

    def decorate(f):
        return numba.njit(
            cache=cache,
            fastmath=False,
            error_model="numpy",
            parallel=parallel,
            nogil=nogil,
            inline="always" if inline else "never",
        )(f)

    if func is None:
        return decorate
    return decorate(func)
