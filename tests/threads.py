"""Run a function under a given Numba thread count, restoring the previous count."""

import numba


def with_threads(count, fn, *args, **kwargs):
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
        return fn(*args, **kwargs)
    finally:
        numba.set_num_threads(previous)
