"""The one place that sets Numba compilation options.

Every compiled kernel in the package is decorated with :func:`jit` so that caching, the
floating-point contract and the error model are chosen once.

Why these flags:

* ``cache=True``: the command-line tool starts in well under a second once the cache is warm.
* ``fastmath`` lets LLVM contract multiply-adds, reassociate and use approximate reciprocals so
  loops vectorise, but it deliberately leaves out ``nnan`` and ``ninf``: divergence must stay
  visible as NaN/inf so the engine can detect and count it.
* ``error_model="numpy"``: division by zero gives inf/NaN (then detected) instead of raising
  inside a parallel loop.

Results stay bit-identical across thread counts because every trial (or every fixed-size chunk
of a reduction) runs the same machine code on the same data whatever thread executes it.
"""

from __future__ import annotations

import numba

FASTMATH_FLAGS = frozenset({"nsz", "arcp", "contract", "reassoc"})


def jit(func=None, *, parallel: bool = False, inline: bool = False):
    """Compile ``func`` with the package-wide Numba options.

    Parameters
    ----------
    func : callable, optional
        The function to compile. When omitted, returns a decorator.
    parallel : bool, default False
        Whether ``numba.prange`` loops in ``func`` run in parallel.
    inline : bool, default False
        Inline ``func`` into its compiled callers at the Numba IR level. Used for the small
        kernels called every iteration: a non-inlined call passes each array as a struct and
        wraps it in reference-count updates, which cost more than the arithmetic of these kernels.
    """

    def decorate(f):
        return numba.njit(
            cache=True,
            fastmath=set(FASTMATH_FLAGS),
            error_model="numpy",
            parallel=parallel,
            inline="always" if inline else "never",
        )(f)

    if func is None:
        return decorate
    return decorate(func)
