"""Thread pools kept for the process, and ranges of work on them.

A serial kernel that takes a range ``first .. last - 1`` of independent items compiles in a
fraction of the time of a ``prange`` kernel (the random samplers: 3.1 s -> 1.9 s; the dissipativity
estimator: 11.7 s -> 5.9 s), and run on ranges from Python threads (:func:`run_ranges`) it uses
the cores as well, for work of more than a few milliseconds, when it releases the GIL
(``jit(nogil=True)``, or NumPy's loops). Each item is computed the same way whatever range holds
it, so the results do not depend on the thread count.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numba
import numpy as np

_POOLS: dict[tuple[str, int], ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()
_RANGES = "pgd_bench_ranges"  # the name prefix of run_ranges's threads


def persistent_pool(name: str, workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads named ``name``, made once and kept for the life of the process
    (starting threads for every short call would cost more than the call). Pools of different
    names are different threads: a task of one may wait on another's without taking its threads."""
    with _POOLS_LOCK:  # two first callers at once would each make one, and one would leak
        key = (name, workers)
        if key not in _POOLS:
            _POOLS[key] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        return _POOLS[key]


PIECES_PER_THREAD = 8  # ranges handed to each thread: a Ctrl-C waits for one, not the thread's whole share


def run_ranges(call, n: int, threads: int | None = None, min_per_thread: int = 1) -> list:
    """``call(first, last)`` over ranges that cover ``0 .. n - 1``, on up to ``threads`` threads.

    Parameters
    ----------
    call : callable
        ``call(first, last)`` computes items ``first .. last - 1``; it should release the GIL, or
        the threads run one at a time.
    n : int
        Items in all.
    threads : int, optional
        Threads (default ``numba.get_num_threads()``), at most one per core and one per
        ``min_per_thread`` items; 1 or fewer, or a call from one of these threads (a nested
        call): one call, on the calling thread.
    min_per_thread : int, default 1
        The fewest items worth handing to a thread (a range should take milliseconds: handing
        it over takes about 0.1 ms).

    Returns
    -------
    list
        The calls' return values, in range order. If a call raises, no range is started after
        it, those running are finished (none is left writing into the caller's arrays), then the
        error of the lowest failing range is raised: the one that one thread would raise.

    Notes
    -----
    The items are cut into up to :data:`PIECES_PER_THREAD` ranges per thread (of at least
    ``min_per_thread`` items), which the threads take in turn. A Ctrl-C (``KeyboardInterrupt`` in
    the caller) stops them taking more: the call returns once each has finished the range it
    holds. With one range per thread, the interrupted work went on for seconds after the call had
    returned, both cores busy, and the next call waited behind it (measured: 0.06 -> 4.1 s).
    """
    nested = threading.current_thread().name.startswith(_RANGES)  # its pool could be busy waiting on it
    if threads is None:
        threads = numba.get_num_threads()
    threads = 1 if nested else max(1, min(int(threads), n // min_per_thread, os.cpu_count() or 1))
    if threads == 1:
        return [call(0, n)]
    pieces = min(PIECES_PER_THREAD * threads, n // min_per_thread)  # >= threads, which n // min_per_thread bounds
    bounds = np.linspace(0, n, pieces + 1).astype(np.int64)
    ranges = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    results = [None] * pieces
    errors: dict[int, BaseException] = {}
    taken = iter(range(pieces))
    lock = threading.Lock()
    stop = threading.Event()

    def take():
        while not stop.is_set():
            with lock:
                index = next(taken, None)
            if index is None:
                return
            try:
                results[index] = call(*ranges[index])
            except BaseException as error:  # noqa: BLE001 - raised in the caller, below
                errors[index] = error
                stop.set()
                return

    pool = persistent_pool(_RANGES, os.cpu_count() or 1)
    workers = []
    try:
        for _ in range(threads):
            workers.append(pool.submit(take))
        wait(workers)
    except BaseException:  # Ctrl-C: no new range; those running finish (they write the caller's arrays)
        stop.set()
        for future in workers:
            future.cancel()  # a worker still queued behind other work never starts
        while True:  # a second Ctrl-C does not cut this short: a range takes a fraction of a second
            try:
                wait(workers)
                break
            except KeyboardInterrupt:
                continue
        raise
    if errors:
        # ranges are taken in index order, so every range below the lowest failing one ran: its
        # error is the one the ranges run in order on one thread would raise
        raise errors[min(errors)]
    return results
