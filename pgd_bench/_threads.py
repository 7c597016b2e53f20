"""Ranges of work on threads, for kernels that release the GIL (``jit(nogil=True)``).

A serial kernel that takes a range ``first .. last - 1`` of independent items compiles in a
fraction of the time of a ``prange`` kernel (the random samplers: 3.1 s -> 1.9 s; the dissipativity
estimator: 11.7 s -> 5.9 s), and run on ranges from Python threads it uses the cores as well,
for work of more than a few milliseconds. Each item is computed the same way whatever range holds
it, so the results do not depend on the thread count.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

_POOLS: dict[int, ThreadPoolExecutor] = {}


def run_ranges(call, n: int, threads: int) -> list:
    """``call(first, last)`` over ranges that cover ``0 .. n - 1``, on up to ``threads`` threads.

    Parameters
    ----------
    call : callable
        ``call(first, last)`` computes items ``first .. last - 1``; a kernel that releases the GIL,
        or the threads run one at a time.
    n : int
        Items in all.
    threads : int
        Threads to use (ranges of equal size); 1 or fewer, or ``n < 2``: one call, here.

    Returns
    -------
    list
        The calls' return values, in range order.

    Notes
    -----
    The pools live for the process (starting threads on each call costs more than a short call),
    apart from the engine's (:func:`pgd_bench.runs.execute.thread_pool`): a range that runs on a
    thread of the engine's pool never waits for that same pool. A call from several threads at
    once should pass ``threads=1``.
    """
    threads = max(1, min(int(threads), n))
    if threads == 1:
        return [call(0, n)]
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pgd_bench_ranges")
    bounds = np.linspace(0, n, threads + 1).astype(np.int64)
    futures = [_POOLS[threads].submit(call, int(first), int(last)) for first, last in zip(bounds[:-1], bounds[1:])]
    return [future.result() for future in futures]
