"""Where a group of cells runs: this machine's threads, a local Dask cluster or a remote one.

:class:`Backend` runs cells through the per-cell cache (:mod:`pgd_bench.runs.cache`), cutting
each into chunks of whole engine blocks; the merged result is the same bits wherever chunks ran.
Used by ``pgd-bench sweep`` and by the report's :class:`~pgd_bench.report.context.Context`.
"""

from __future__ import annotations

import contextlib
import gc
import os
from pathlib import Path

import numba

from ..console import ProgressBar
from .cache import cell_path, load_cached, save_cell
from .config import RunConfig, resolve_config
from .execute import merge_chunks, run_chunk
from .result import RunResult

# What a chunk of trials should cost, so that a worker reports every few seconds: the engine's
# throughput is about 2e7 to 6e7 trial-steps per second per thread for the population gradient,
# less with noise and batches; 5e7 trial-steps make a chunk of a second or a few.
CHUNK_TRIAL_STEPS = 5e7


GROUP_BLOCKS = 8  # blocks per thread that the cells run together on this machine's threads
STOP_WAIT_S = 0.5  # how long an interrupted command waits for a local worker before killing it
CHUNK_ALIGN = 64  # trials per engine block: a chunk of whole blocks wastes no padding lanes


def chunk_trials_for(config: RunConfig) -> int:
    """Trials per chunk for ``config``: about :data:`CHUNK_TRIAL_STEPS` trial-steps, whole blocks."""
    steps = config.total_epochs * config.iterations * max(1, config.batch) * max(1, config.samples // 64)
    size = int(CHUNK_TRIAL_STEPS // steps) // CHUNK_ALIGN * CHUNK_ALIGN
    return max(CHUNK_ALIGN, min(size, config.trials))


def _remote_chunk(settings: dict, first: int, count: int):
    """A Dask task: trials ``first .. first + count - 1`` of the config ``settings``, on one thread
    (a worker process runs one task per thread it has)."""
    numba.set_num_threads(1)
    return run_chunk(resolve_config(**settings), first, count)


def dask_setup(worker) -> None:
    """Preload of the local cluster's worker processes (Dask calls it as each starts): they ignore
    SIGINT. Ctrl-C in a terminal signals its whole process group, the workers too, and each printed
    a KeyboardInterrupt traceback of its event loop after the command's one line; this process
    handles Ctrl-C, and closing the cluster ends them."""
    import logging
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a worker stopped mid-task warns that each task "ended with CancelledError": what an
    # interrupted command does, not news to its user
    logging.getLogger("distributed.worker.state_machine").setLevel(logging.ERROR)


class Backend:
    """Where cells run: this machine's threads (default), a ``distributed.LocalCluster`` of
    ``workers`` processes, or the Dask cluster at ``scheduler``. A context manager: the cluster
    (or the connection) lives from ``with`` to its end, for every group of cells run inside.

    :meth:`compute` is the one way the sweep and the reproduction run cells: cached cells are
    read, the others run (on a cluster, in chunks of trials), and each finished cell is written to
    the cache by this process, atomically (unless ``cache=False``: then none is read or written).
    """

    def __init__(self, workers=None, scheduler=None, chunk_trials=None):
        if workers is not None and scheduler is not None:
            raise ValueError("workers and scheduler: give one of them (a LocalCluster of N workers, or an address)")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers: expected a positive number of worker processes, got {workers!r}")
        cores = os.cpu_count() or 1
        if workers is not None and workers > 4 * cores:  # 2^63 was accepted; 16 on 2 cores only thrash
            raise ValueError(f"workers: {workers} worker processes on {cores} cores; at most {4 * cores} (4 per core)")
        if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
            raise ValueError(f"scheduler: expected an address such as tcp://host:8786, got {scheduler!r}")
        if chunk_trials is not None and (
            isinstance(chunk_trials, bool) or not isinstance(chunk_trials, int) or chunk_trials < 1
        ):
            raise ValueError(f"chunk_trials: expected a positive number of trials, got {chunk_trials!r}")
        if scheduler is not None:
            # here, not only on entering: the commands make their output folder between the two,
            # and an unreachable address, or a scheduler without workers, left that folder made
            # and claimed for a kind of run
            _check_reachable(scheduler)
            _connect_to_workers(scheduler).close()
        self.workers, self.scheduler, self.chunk_trials = workers, scheduler, chunk_trials
        self.client = self.cluster = None

    @property
    def distributed(self) -> bool:
        return self.workers is not None or self.scheduler is not None

    def describe(self) -> str:
        """Where cells run, for a person: the cluster, or the number of this machine's threads
        (``NUMBA_NUM_THREADS``, which may be fewer than its cores)."""
        if self.scheduler is not None:
            return f"the Dask cluster at {self.scheduler}"
        if self.workers:
            return f"a local Dask cluster of {self.workers} worker{'' if self.workers == 1 else 's'}"
        threads = numba.get_num_threads()
        return f"this machine's {threads} thread{'' if threads == 1 else 's'}"

    def __enter__(self):
        if not self.distributed:
            return self
        if self.scheduler is not None:
            _check_reachable(self.scheduler)  # a bad address is named before Dask is even imported
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ValueError("workers and scheduler need Dask: pip install 'pgd_bench[dask]'") from None
        if self.workers is not None:
            # no dashboard; the scheduler's HTTP server (health, metrics) on a free port: on its
            # default, 8787, a second sweep running beside the first warned "Port 8787 is already in use"
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                                        preload=[__name__])  # fmt: skip
            self.client = Client(self.cluster)
        else:
            self.client = _connect_to_workers(self.scheduler)  # again: workers may have left since
        return self

    def __exit__(self, exc_type, exc, traceback):
        import logging

        nanny = logging.getLogger("distributed.nanny")
        level = nanny.level  # quietened while the workers are stopped at once, then given back
        try:
            if self.cluster is not None and exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
                nanny.setLevel(logging.ERROR)  # "still alive ..., killing", for each worker stopped at once
                self._stop_workers_at_once()
            if self.client is not None:
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            nanny.setLevel(level)  # (it stayed at ERROR for the rest of a Python session)
            self.client = self.cluster = None

    def _stop_workers_at_once(self) -> None:
        """Ctrl-C (or SIGTERM): the local workers are stopped with a short wait, before the client
        cancels their tasks. A worker inside an engine block cannot stop before the block ends, and
        Dask's default close waited 4 s for it, then killed it with a warning (which
        :meth:`__exit__` quietens while this runs)."""
        for nanny in list(self.cluster.workers.values()):
            with contextlib.suppress(Exception):  # stopping anyway: the cluster's close follows
                self.cluster.sync(nanny.close, timeout=STOP_WAIT_S)

    def compute(self, configs, cache_dir, force=False, label="sweep", cache=True) -> list[RunResult]:
        """The results of ``configs``, in order: from the cache, or run here or on the cluster.

        With ``cache=False`` the cells are neither read from nor written to ``cache_dir``: every
        call runs them (for cells that take less time to run than their file takes room).
        """
        if self.distributed and self.client is None:  # (it failed on an AttributeError, naming nothing)
            raise ValueError("Backend: a cluster backend computes inside `with Backend(...) as backend:`, "
                             "which starts the cluster (or connects) and closes it after")  # fmt: skip
        cache_dir = Path(cache_dir) if cache else None
        results: list[RunResult | None] = [None] * len(configs)
        todo = []
        for index, config in enumerate(configs):
            results[index] = None if cache_dir is None else load_cached(config, cache_dir, force=force)
            if results[index] is None:
                todo.append(index)
        bar = ProgressBar(f"{label:<22}", delay=0.0)
        total = sum(configs[i].trials for i in todo)
        if not todo:
            bar(1, 1)
        elif self.distributed:
            self._on_cluster(configs, todo, results, cache_dir, bar, total)
        else:
            self._on_threads(configs, todo, results, cache_dir, bar, total, label)
        return results

    def _on_threads(self, configs, todo, results, cache_dir, bar, total, label):
        """The cells in groups of at least ``GROUP_BLOCKS`` blocks per thread, each group's blocks
        shared by the threads, the longest first (:func:`~pgd_bench.runs.execute.run_together`);
        each cell is saved as soon as its group finishes."""
        from ..console import compiling_notice
        from .execute import run_together, warm_up

        threads = numba.get_num_threads()
        groups, group, blocks = [], [], 0
        for index in todo:
            group.append(index)
            blocks += configs[index].blocks
            # GROUP_BLOCKS blocks per thread: run_together takes the longest first, and the
            # threads finish together; a group that only filled the threads waited for its
            # longest cell with the other threads idle (success rates: 29 s for 32 s of compute
            # on 2 threads). A Ctrl-C loses at most the group running.
            if blocks >= GROUP_BLOCKS * threads:
                groups.append(group)
                group, blocks = [], 0
        if group:
            groups.append(group)
        done = 0
        for group in groups:
            for index in group:
                with compiling_notice(f"{label}, {configs[index].algorithm}"):
                    warm_up(configs[index])  # compile (or load) this cell's engine, saying so when it is slow
            computed = run_together([configs[i] for i in group],
                                    progress=lambda d, _t, base=done: bar(base + d, total))  # fmt: skip
            for index, result in zip(group, computed):
                if cache_dir is not None:
                    save_cell(cell_path(configs[index], cache_dir), result)
                results[index] = result
                done += configs[index].trials
        bar(total, total)

    def _on_cluster(self, configs, todo, results, cache_dir, bar, total):
        from distributed import as_completed

        futures, needed = {}, {}
        for index in todo:
            config = configs[index]
            size = self.chunk_trials or chunk_trials_for(config)
            settings = config.to_dict()
            starts = range(0, config.trials, size)
            needed[index] = len(starts)
            for first in starts:
                # retries: a chunk whose worker died is run again on another
                future = self.client.submit(_remote_chunk, settings, first, min(size, config.trials - first),
                                            pure=False, retries=3)  # fmt: skip
                futures[future] = index
        chunks = {index: [] for index in todo}
        done = 0
        for future in as_completed(futures):
            index = futures[future]
            chunk = future.result()
            chunks[index].append(chunk)
            done += chunk.outputs.w.shape[0]
            bar(done, total)
            if len(chunks[index]) == needed[index]:  # the cell is complete: merged and saved here
                results[index] = merge_chunks(configs[index], chunks.pop(index))
                if cache_dir is not None:
                    save_cell(cell_path(configs[index], cache_dir), results[index])


CONNECT_TIMEOUT_S = 10  # the handshake with a scheduler (a port where something else listens hung)
WORKERS_TIMEOUT_S = 30  # how long a scheduler may take to report its first worker


def _connect_to_workers(address: str):
    """A ``distributed.Client`` of the scheduler at ``address`` once it has a worker; a
    ``ValueError`` naming the address if it cannot be reached or reports none within
    :data:`WORKERS_TIMEOUT_S` (it would take the cells and never run them)."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("workers and scheduler need Dask: pip install 'pgd_bench[dask]'") from None
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except Exception as error:  # noqa: BLE001 - tls:// without certificates raised a TypeError
        # The half-made Client is left in a reference cycle, and its __del__ closes the event loop
        # that Clients share, whenever the garbage collector gets to it: inside the next Client's
        # start (a Python caller trying another address), that made a good scheduler report
        # "cannot connect", or deadlocked. Collected here, it closes while nothing else runs.
        error.__traceback__ = None  # (its frames hold the Client)
        gc.collect()
        raise ValueError(
            f"scheduler: cannot connect to a Dask scheduler at {address!r} within {CONNECT_TIMEOUT_S} s "
            f"({type(error).__name__}: {error})"
        ) from None
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - TimeoutError, or the scheduler went away
        client.close()
        raise ValueError(
            f"scheduler: the Dask scheduler at {address!r} has no workers (waited "
            f"{WORKERS_TIMEOUT_S} s); start some with: dask worker {address}"
        ) from None
    return client


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, with the address in the message, when nothing listens at a ``tcp://host:port``
    scheduler address (Dask itself would retry for its whole connection timeout first)."""
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        port = parts.port
    except ValueError as error:  # "Port out of range", "Invalid IPv6 URL"
        raise ValueError(f"scheduler: {address!r} is not an address ({error}); expected tcp://host:port") from None
    if parts.scheme != "tcp" or parts.hostname is None or port is None:
        return  # another protocol (tls, inproc, ...): let Dask connect and report
    try:
        probe = socket.create_connection((parts.hostname, port), timeout=timeout)
    except OSError as error:
        raise ValueError(f"scheduler: cannot reach a Dask scheduler at {address!r}: {error}") from None
    # a Dask scheduler speaks first (its handshake) on every connection; Dask's own client waits
    # for it without a bound, so a port where something else listens hung the command for minutes
    with probe:
        probe.settimeout(CONNECT_TIMEOUT_S)
        try:
            greeting = probe.recv(1)
        except OSError:
            greeting = b""
    if not greeting:
        raise ValueError(
            f"scheduler: something listens at {address!r} but does not answer as a Dask scheduler "
            f"within {CONNECT_TIMEOUT_S} s"
        )
