"""The one place that sets Numba compilation options.

Every compiled kernel in the package is decorated with :func:`jit` so that caching, the
floating-point contract and the error model are chosen once.

Why these flags:

* ``cache=True``: the command-line tool starts in well under a second once the cache is warm.
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

import numba


def jit(func=None, *, parallel: bool = False, inline: bool = False, nogil: bool = False):
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
        perturbed-SGD engine without it, the same speed).
    nogil : bool, default False
        Release the GIL while ``func`` runs, so that Python threads can run it side by side (the
        trial engine's blocks: see :mod:`pgd_bench.engine`).
    """

    def decorate(f):
        return numba.njit(
            cache=True,
            fastmath=False,
            error_model="numpy",
            parallel=parallel,
            nogil=nogil,
            inline="always" if inline else "never",
        )(f)

    if func is None:
        return decorate
    return decorate(func)
