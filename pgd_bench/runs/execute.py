"""Running a config: the engine's inputs, chunks of trials, the thread pool and :func:`run`.

A run is cut into blocks of trials that threads take in turn (:func:`pgd_bench.engine.run_trials`);
:func:`run_chunk` and :func:`merge_chunks` cut it into chunks of trials that run anywhere (a
Dask worker) and merge to the same bits as one :func:`run`.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np

from .._provenance import kernel_cache_dir
from .._threads import persistent_pool
from .._validate import as_int
from ..engine import RECORD_FIELDS, Outputs, run_jobs, run_trials
from ..model.base import BY_PARAMS_TYPE
from .config import SCHEDULE_KEYS, RunConfig, engine_inputs, resolve_config
from .result import RunResult


def allocate_outputs(config: RunConfig, first: int = 0, count: int | None = None) -> Outputs:
    """The engine's per-trial output arrays for trials ``first .. first + count - 1`` of ``config``
    (default: all of them), uninitialised: the engine fills them. ``states`` has a row for each of
    those trials that ``record_states`` records."""
    n = config.trials - first if count is None else count
    n_checkpoints = config.checkpoints().size
    recorded = max(0, min(config.record_states, first + n) - first)
    return Outputs(
        np.empty((n, config.p)), np.empty((n, config.k)), np.empty(n, dtype=np.int8), np.empty(n, dtype=np.int64),
        np.empty(n, dtype=np.int64), np.empty((n, n_checkpoints, len(RECORD_FIELDS))), np.empty(n),
        np.empty((recorded, n_checkpoints, config.p + config.k)),
    )  # fmt: skip


class Chunk(NamedTuple):
    """Trials ``first .. first + len(outputs.w) - 1`` of a run: their outputs and the seconds they took."""

    first: int
    outputs: Outputs
    seconds: float


def run_chunk(config: RunConfig, first: int, count: int) -> Chunk:
    """Run trials ``first .. first + count - 1`` of ``config`` alone (on this process's threads).

    Trial ``i`` depends only on ``(config, seed, i)``, so any split of a run into chunks, run
    anywhere, gives the same bits as the whole run: :func:`merge_chunks` puts them back together
    (this is how ``pgd-bench sweep`` spreads a cell over a Dask cluster).
    """
    first = as_int("first", first, minimum=0)
    count = as_int("count", count, minimum=1)
    if first + count > config.trials:
        raise ValueError(f"first + count: trials {first} to {first + count - 1} are past the run's {config.trials}")
    warm_up(config)
    problem, schedule, options = engine_inputs(config)
    outputs = allocate_outputs(config, first, count)
    threads = numba.get_num_threads()
    start = time.perf_counter()
    run_trials(first, problem, schedule, options, outputs, executor=thread_pool(threads), threads=threads)
    return Chunk(first, outputs, time.perf_counter() - start)


def merge_chunks(config: RunConfig, chunks) -> RunResult:
    """The :class:`RunResult` of ``config`` from chunks that cover its trials exactly once, in any
    order; ``seconds`` is the sum of the chunks' (the work, not the wall time).

    ``chunks`` is a list that this empties: each chunk is let go once copied into the run's arrays,
    so that the merge peaks at about the run's outputs and one chunk, not twice the outputs (which
    :meth:`~pgd_bench.runs.config.RunConfig.memory_bytes` counts once). It keeps its chunks (sorted
    by their first trial) when they do not cover the trials exactly once (``ValueError``)."""
    chunks.sort(key=lambda chunk: chunk.first)
    expected = 0
    for chunk in chunks:
        if chunk.first != expected:
            raise ValueError(
                f"chunks: trials from {expected} are missing or repeated (a chunk starts at {chunk.first})"
            )
        expected += chunk.outputs.w.shape[0]
    if expected != config.trials:
        raise ValueError(f"chunks: they cover {expected} trials, the run has {config.trials}")
    seconds = float(sum(chunk.seconds for chunk in chunks))
    # (a concatenation of every field held all the chunks and the run's outputs at once). Rows per
    # field, not per trial: ``states`` has rows only for the trials record_states records
    first = chunks[0].outputs
    merged = {name: np.empty((sum(getattr(c.outputs, name).shape[0] for c in chunks), *getattr(first, name).shape[1:]),
                             getattr(first, name).dtype)
              for name in Outputs._fields}  # fmt: skip
    filled = dict.fromkeys(Outputs._fields, 0)
    del first
    while chunks:
        chunk = chunks.pop(0)  # (a few hundred chunks at most)
        for name in Outputs._fields:
            part = getattr(chunk.outputs, name)
            merged[name][filled[name] : filled[name] + part.shape[0]] = part
            filled[name] += part.shape[0]
        del chunk, part
    outputs = Outputs(**merged)
    return RunResult(config, *outputs[:5], config.checkpoints(), outputs.records, outputs.train_loss, outputs.states,
                     seconds)  # fmt: skip


def warm_up(config: RunConfig) -> None:
    """Compile (or load from cache) the engine for ``config``'s types on one short trial.

    One epoch whose schedules hold each schedule's largest value: the same argument types as the
    full run, so the very engine it uses. If :func:`compile_in_background` is compiling this
    engine, waits until that process has saved it (after the kernels it compiles first) and loads
    what it saved (or compiles here, had it failed).
    """
    background = _BACKGROUND.pop(_engine_of(config), None)
    if background is not None:
        background.stdout.readline()  # its line once the engine is saved, or nothing if it ended
        background.stdout.close()
    one = {key: (max(value),) for key in SCHEDULE_KEYS if (value := getattr(config, key)) is not None}
    tiny = dataclasses.replace(config, trials=1, epochs=1, iterations=1, **one)
    run(tiny, warm=False)


def warm_kernels(config: RunConfig) -> None:
    """Compile (or load) the model's kernels that the report calls from Python rather than through
    the engine, for ``config``'s landscape and the poster's model: loss and gradient rows, the
    Hessian by differences, the spurious optimum, the samplers and the dissipativity estimator.

    Each is called once on one point; the types they compile for do not depend on ``p`` or ``k``.
    On a first run :func:`compile_in_background` compiles them before its engine: about 12 s that
    the report would otherwise spend compiling with one core idle, in the sections that call them.
    Beside the report's cells they cost it about half that, the compiler taking a third of the
    cores from them (one run each: a cold quick run 165 -> 161 s, within the runs' spread; at
    ``nice 19`` the compiler starved and the report compiled most of the kernels itself first).
    """
    from ..model.dissipativity import dissipativity_at_points
    from ..model.landscape import population_grad, population_loss, spurious_optimum
    from ..model.sharpness import sharpness
    from ..streams import sample_ball, sample_sphere

    w_star, a_star = config.teacher_arrays()
    w, a = sample_sphere(1, config.p, 0), sample_ball(1, config.k, 1.0, 0)
    for stride in dict.fromkeys((None, config.stride)):
        population_loss(w[0], a[0], w_star, a_star, stride=stride)
        population_grad(w[0], a[0], w_star, a_star, stride=stride)
        sharpness(w, a, w_star, a_star, stride=stride)
    spurious_optimum(w_star, a_star)
    dissipativity_at_points(w, a, w_star, a_star, [0.5], [0.5], samples=2, seeds=[0], threads=1)


_BACKGROUND: dict[type, subprocess.Popen] = {}  # engine (its landscape's parameter type) -> its compiler


def _engine_of(config: RunConfig) -> type:
    """Which compiled engine runs ``config``: one per landscape (parameter type), whatever the options."""
    return type(engine_inputs(config)[0].params)


def kernel_cache_is_cold() -> bool:
    """Whether the kernel folder of this source holds no compiled engine yet (a first run)."""
    return not any(kernel_cache_dir().glob("engine._run_block-*.nbi"))


_BACKGROUND_CODE = """
import json, sys
from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import warm_kernels, warm_up
config = resolve_config(**json.loads(sys.argv[1]))
warm_kernels(config)
warm_up(config)
print("engine saved", flush=True)
"""


def compile_in_background(config: RunConfig) -> None:
    """Compile ``config``'s engine in another process, while this one compiles or computes.

    Numba's compiler holds the GIL, so a thread would not run beside it. The other process first
    compiles :func:`warm_kernels`, which the caller loads from the cache when it first calls them
    (or compiles itself if that comes first), then the engine, which it saves to the kernel cache
    (saves are locked, ``pgd_bench._jit``) and says so on its stdout: :func:`warm_up` of a config
    of that engine waits for that line before it loads the engine. The reproduction starts the
    overlapping-patch engine this way on a cold kernel cache, while it compiles the poster's
    model's: the kernels first, because by the time that engine is typed this process has saved
    the callees both engines share (the samplers, the training-set kernels), which it then loads
    instead of compiling them a second time beside this process (a cold quick run 103, 103, 102 ->
    100, 97, 100 s, alternated). Does nothing for an engine already started, or one that is not
    cached (a landscape registered by a user).
    """
    engine = _engine_of(config)
    if engine in _BACKGROUND or not BY_PARAMS_TYPE[engine].cacheable:
        return
    settings = dict(algorithm="gd", landscape=config.landscape, p=config.p, k=config.k, stride=config.stride)
    process = subprocess.Popen(
        [sys.executable, "-c", _BACKGROUND_CODE, json.dumps(settings)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    _BACKGROUND[engine] = process
    atexit.register(_stop_background, process)


def _stop_background(process: subprocess.Popen) -> None:
    """At exit: a compiler still running (this process failed or was interrupted) is stopped; its
    saves are atomic, so the cache keeps whole kernels or none."""
    if process.poll() is None:
        process.kill()
        process.wait()


def thread_pool(workers: int) -> ThreadPoolExecutor | None:
    """The engine's pool of ``workers`` threads, kept for the life of the process (None for none):
    starting threads for every run would cost more than a short run itself."""
    return persistent_pool("pgd_bench", workers) if workers >= 1 else None


def run(
    config: RunConfig,
    *,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    warm: bool = True,
) -> RunResult:
    """Run every trial of ``config`` and return the per-trial results.

    Parameters
    ----------
    config : RunConfig
        From :func:`resolve_config`.
    chunk_size : int, optional
        Trials per engine call; results do not depend on it. Default: the whole run in one
        call, whose threads take blocks of trials in turn until none is left.
    progress : callable, optional
        Called as ``progress(done, total)`` as blocks of trials finish.
    warm : bool, default True
        Compile first so that ``seconds`` excludes compile time.

    Returns
    -------
    RunResult
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"config: expected a RunConfig from resolve_config, got {type(config).__name__}")
    if resolve_config(**config.to_dict()) != config:  # a RunConfig built by hand is checked like any other
        raise ValueError("config: not a resolved config; build it with resolve_config(**settings)")
    if warm:
        warm_up(config)
    n = config.trials
    problem, schedule, options = engine_inputs(config)
    checkpoints = schedule.checkpoints
    outputs = allocate_outputs(config)
    chunk_size = as_int("chunk_size", n if chunk_size is None else chunk_size, minimum=1)
    threads = numba.get_num_threads()
    executor = thread_pool(threads)
    start = time.perf_counter()
    for first in range(0, n, chunk_size):
        chunk = Outputs(*(array[first : first + chunk_size] for array in outputs))
        report = None if progress is None else (lambda done, first=first: progress(first + done, n))
        run_trials(first, problem, schedule, options, chunk, executor=executor, threads=threads, progress=report)
    seconds = time.perf_counter() - start
    return RunResult(config, *outputs[:5], checkpoints, outputs.records, outputs.train_loss, outputs.states, seconds)


def run_together(configs, *, progress: Callable[[int, int], None] | None = None) -> list[RunResult]:
    """Run several configs at once, their blocks shared by this process's threads; the same
    results, bit for bit, as :func:`run` of each (each block computes what it would alone).

    For runs too small to keep every thread busy alone (one block of 64 trials on two threads),
    run one after the other they would leave threads idle. Each result's ``seconds`` is its
    blocks' compute time divided by the threads it could use (its blocks, at most the threads).
    Compile first (:func:`warm_up`): this does not.

    Parameters
    ----------
    configs : list of RunConfig
    progress : callable, optional
        ``progress(done, total)``, trials over all the configs.

    Returns
    -------
    list of RunResult, in the order of ``configs``
    """
    configs = list(configs)
    for config in configs:
        if not isinstance(config, RunConfig):
            raise ValueError(f"configs: expected RunConfigs from resolve_config, got {type(config).__name__}")
    jobs, outputs = [], []
    for config in configs:
        problem, schedule, options = engine_inputs(config)
        outputs.append(allocate_outputs(config))
        jobs.append((0, problem, schedule, options, outputs[-1]))
    total = sum(config.trials for config in configs)
    threads = numba.get_num_threads()
    seconds = [0.0] * len(configs)
    report = None if progress is None else (lambda done: progress(done, total))
    run_jobs(jobs, executor=thread_pool(threads), threads=threads, progress=report, seconds=seconds)
    return [
        RunResult(
            config,
            *out[:5],
            config.checkpoints(),
            out.records,
            out.train_loss,
            out.states,
            spent / config.threads_in_flight(threads),
        )  # fmt: skip
        for config, out, spent in zip(configs, outputs, seconds)
    ]
