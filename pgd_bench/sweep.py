"""``pgd-bench sweep``: any grid of configs, on this machine's threads or on a Dask cluster, same bits.

A sweep file is TOML: the base config at the top level (the keys of ``pgd-bench run``), a
``[grid]`` table of lists whose product is the sweep, and optionally ``[[cells]]`` entries, each a
cell of its own (base plus its keys)::

    algorithm = "pgd"
    trials = 2000
    [grid]
    rho_w = [0.5, 2.0, 5.0]
    k = [4, 8, 16]

Every trial depends only on ``(config, seed, trial index)``, so a cell can be cut into chunks of
trials run anywhere: on this machine's threads (the default), on a ``distributed.LocalCluster``
of worker processes (``workers=N``), or on an existing Dask cluster (``scheduler=ADDRESS``).
Chunks are gathered in trial order and the cell is written to the same checked cache as the
reproduction's (:func:`pgd_bench.results.load_cached`), by this process only; a cell computed
anywhere has the same ``final_state_sha256`` as ``pgd-bench run`` gives for its config.
Outputs: ``tables/trials`` (one row per trial), ``tables/cells`` (one row per cell) as CSV and
Parquet (with pyarrow), and a figure of the success rates over the grid.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

from .experiments import CONFIG_FIELDS, ProgressBar, RunConfig, RunResult, merge_chunks, resolve_config, run_chunk
from .report_base import Context, drawer, new_figure, success_heatmap
from .results import cell_path, load_cached, output_lock, prepare_output_dir, save_cell
from .tables import concat_columns, write_table

# What a chunk of trials should cost, so that a worker reports every few seconds: the engine's
# throughput is about 2e7 to 6e7 trial-steps per second per thread for the population gradient,
# less with noise and batches; 5e7 trial-steps make a chunk of a second or a few.
CHUNK_TRIAL_STEPS = 5e7
CHUNK_ALIGN = 64  # trials per engine block: a chunk of whole blocks wastes no padding lanes


@dataclasses.dataclass(frozen=True)
class Cell:
    """One cell of a sweep: its index, its values of the grid's keys, and its resolved config."""

    index: int
    settings: dict
    config: RunConfig


@dataclasses.dataclass
class SweepResult:
    """A finished sweep: the grid's keys, its cells and their results, and where it was written."""

    axes: list
    cells: list
    results: list
    out: Path


def load_sweep(path) -> tuple[list[str], list[Cell]]:
    """Read a sweep file: ``(grid keys in order, cells)``; each cell's config resolved and checked.

    Raises
    ------
    ValueError
        For a file that is missing or not TOML, a ``[grid]`` entry that is not a non-empty list,
        a ``[[cells]]`` entry that is not a table, or a cell whose config is refused (the message
        names the cell).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: a folder, not a sweep file (a TOML file with a [grid] table)")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such sweep file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a TOML file: {error}") from None
    grid = data.pop("grid", {})
    explicit = data.pop("cells", [])
    if not isinstance(grid, dict):
        raise ValueError(f"{path}: [grid] must be a table of lists, got {type(grid).__name__}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{path}: grid.{key} must be a non-empty list of values, got {values!r}")
        if key not in CONFIG_FIELDS and key != "eta":
            raise ValueError(f"{path}: grid.{key}: not a config setting (pgd-bench run --help lists them)")
    if not isinstance(explicit, list) or not all(isinstance(entry, dict) for entry in explicit):
        raise ValueError(f"{path}: [[cells]] entries must be tables of settings")
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else []
    combos += explicit
    if not combos:
        combos = [{}]  # no grid: the base config is the one cell
    axes = list(grid) + [key for entry in explicit for key in entry if key not in grid]
    axes = list(dict.fromkeys(axes))
    cells = []
    for index, combo in enumerate(combos):
        try:
            config = resolve_config(**{**data, **combo})
        except (ValueError, TypeError) as error:
            label = ", ".join(f"{key}={value!r}" for key, value in combo.items()) or "the base config"
            raise ValueError(f"{path}: cell {index} ({label}): {error}") from None
        cells.append(
            Cell(index, {key: combo.get(key, data.get(key, getattr(config, key, None))) for key in axes}, config)
        )
    return axes, cells


def chunk_trials_for(config: RunConfig) -> int:
    """Trials per chunk for ``config``: about :data:`CHUNK_TRIAL_STEPS` trial-steps, whole blocks."""
    steps = config.total_epochs * config.iterations * max(1, config.batch) * max(1, config.samples // 64)
    size = int(CHUNK_TRIAL_STEPS // steps) // CHUNK_ALIGN * CHUNK_ALIGN
    return max(CHUNK_ALIGN, min(size, config.trials))


def _remote_chunk(settings: dict, first: int, count: int):
    """A Dask task: trials ``first .. first + count - 1`` of the config ``settings``, on one thread
    (a worker process runs one task per thread it has)."""
    import numba

    numba.set_num_threads(1)
    return run_chunk(resolve_config(**settings), first, count)


class Backend:
    """Where cells run: this machine's threads (default), a ``distributed.LocalCluster`` of
    ``workers`` processes, or the Dask cluster at ``scheduler``. A context manager: the cluster
    (or the connection) lives from ``with`` to its end, for every group of cells run inside.

    :meth:`compute` is the one way the sweep and the reproduction run cells: cached cells are
    read, the others run (on a cluster, in chunks of trials), and each finished cell is written to
    the cache by this process, atomically.
    """

    def __init__(self, workers=None, scheduler=None, chunk_trials=None):
        if workers is not None and scheduler is not None:
            raise ValueError("workers and scheduler: give one of them (a LocalCluster of N workers, or an address)")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers: expected a positive number of worker processes, got {workers!r}")
        if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
            raise ValueError(f"scheduler: expected an address such as tcp://host:8786, got {scheduler!r}")
        if chunk_trials is not None and (
            isinstance(chunk_trials, bool) or not isinstance(chunk_trials, int) or chunk_trials < 1
        ):
            raise ValueError(f"chunk_trials: expected a positive number of trials, got {chunk_trials!r}")
        self.workers, self.scheduler, self.chunk_trials = workers, scheduler, chunk_trials
        self.client = self.cluster = None

    @property
    def distributed(self) -> bool:
        return self.workers is not None or self.scheduler is not None

    def describe(self) -> str:
        if self.scheduler is not None:
            return f"the Dask cluster at {self.scheduler}"
        return f"a local Dask cluster of {self.workers} workers" if self.workers else "this machine's threads"

    def __enter__(self):
        if not self.distributed:
            return self
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ValueError("workers and scheduler need Dask: pip install 'pgd_bench[dask]'") from None
        if self.workers is not None:
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None)  # fmt: skip
            self.client = Client(self.cluster)
        else:
            _check_reachable(self.scheduler)
            try:
                self.client = Client(self.scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError) as error:
                raise ValueError(f"scheduler: cannot reach a Dask scheduler at {self.scheduler!r}: {error}") from None
        return self

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    def compute(self, configs, cache_dir, force=False, label="sweep") -> list[RunResult]:
        """The results of ``configs``, in order: from the cache, or run here or on the cluster."""
        cache_dir = Path(cache_dir)
        results: list[RunResult | None] = [None] * len(configs)
        todo = []
        for index, config in enumerate(configs):
            results[index] = load_cached(config, cache_dir, force=force)
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
        from .experiments import run, warm_up
        from .report_base import compiling_notice

        done = 0
        for index in todo:
            config = configs[index]
            with compiling_notice(f"{label}, {config.algorithm}"):
                warm_up(config)  # compile (or load) this cell's engine variant, saying so when it is slow
            result = run(config, progress=lambda d, _t, base=done: bar(base + d, total), warm=False)
            save_cell(cell_path(config, cache_dir), result)
            results[index] = result
            done += config.trials
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
                save_cell(cell_path(configs[index], cache_dir), results[index])


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, with the address in the message, when nothing listens at a ``tcp://host:port``
    scheduler address (Dask itself would retry for its whole connection timeout first)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme != "tcp" or parts.hostname is None or parts.port is None:
        return  # another protocol (tls, inproc, ...): let Dask connect and report
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=timeout).close()
    except OSError as error:
        raise ValueError(f"scheduler: cannot reach a Dask scheduler at {address!r}: {error}") from None


def run_sweep(
    path, out_dir="pgd-bench-sweep", *, workers=None, scheduler=None, force=False, chunk_trials=None, json_lines=None
) -> SweepResult:
    """Run every cell of a sweep file and write its tables and figure into ``out_dir``.

    Parameters
    ----------
    path : path
        The sweep file (TOML, see the module docstring).
    out_dir : path
        Output folder (created; locked while the sweep writes into it). Finished cells are cached
        in ``out_dir/cache``: a rerun computes only what is missing.
    workers : int, optional
        Run on a ``distributed.LocalCluster`` of this many worker processes (one thread each).
    scheduler : str, optional
        Run on the Dask cluster whose scheduler listens at this address (``tcp://host:port``).
    force : bool
        Recompute cached cells.
    chunk_trials : int, optional
        Trials per chunk on a cluster (default: :func:`chunk_trials_for`); results do not depend on it.
    json_lines : file, optional
        Where to write one JSON object per cell (``pgd-bench sweep --json``).

    Returns
    -------
    SweepResult
    """
    backend = Backend(workers, scheduler, chunk_trials)
    axes, cells = load_sweep(path)
    out = prepare_output_dir(out_dir)
    with output_lock(out), backend:
        start = time.perf_counter()
        sys.stderr.write(f"sweep: {len(cells)} cells on {backend.describe()}\n")
        results = backend.compute([cell.config for cell in cells], out / "cache", force)
        _write_outputs(out, axes, cells, results)
        sys.stderr.write(
            f"sweep: {len(cells)} cells in {time.perf_counter() - start:.1f} s; tables in {out / 'tables'}\n"
        )
        if json_lines is not None:
            for cell, result in zip(cells, results):
                line = {"cell": cell.index, "settings": cell.settings, "config_hash": cell.config.digest(),
                        **result.summary()}  # fmt: skip
                json_lines.write(json.dumps(line) + "\n")
            json_lines.flush()
    return SweepResult(axes, cells, results, out)


def _write_outputs(out, axes, cells, results):
    trial_parts, cell_rows = [], []
    for cell, result in zip(cells, results):
        n = result.outcome.size
        grid = {f"grid_{key}": [_scalar(value)] * n for key, value in cell.settings.items()}
        trial_parts.append({"cell": [cell.index] * n, **grid, **result.trial_table()})
        cell_rows.append(
            {
                "cell": cell.index,
                **{f"grid_{k}": _scalar(v) for k, v in cell.settings.items()},
                **result.settings_row(),
                **result.cell_row(),
                "final_state_sha256": result.final_state_sha256(),
            }
        )
    write_table(out, "trials", concat_columns(trial_parts), "one row per trial of every cell of the sweep")
    write_table(out, "cells", concat_columns(cell_rows), "one row per cell of the sweep: settings, counts, rates, aRT")
    varying = [key for key in axes if len({json.dumps(_scalar(c.settings[key])) for c in cells}) > 1]
    if 1 <= len(varying) <= 2 and len(cells) == int(
        np.prod([len({json.dumps(_scalar(c.settings[k])) for c in cells}) for k in varying])
    ):
        columns = {
            "x": [str(_scalar(c.settings[varying[0]])) for c in cells],
            "y": [str(_scalar(c.settings[varying[1]])) if len(varying) == 2 else "" for c in cells],
            **{
                name: [row[name] for row in cell_rows]
                for name in ("success_rate", "wilson_low", "wilson_high", "n_diverged", "trials")
            },
        }
        settings = {
            "x": varying[0],
            "y": varying[1] if len(varying) == 2 else None,
            "x_order": list(dict.fromkeys(columns["x"])),
            "y_order": list(dict.fromkeys(columns["y"])),
        }
        Context(out, None, False, False).figure(
            "sweep_success",
            {"cells": columns},
            settings,
            {"cells": "one row per cell: its grid values and success rate"},
        )
    else:
        sys.stderr.write(
            f"sweep: no figure: {len(varying)} keys vary ({', '.join(varying) or 'none'}); "
            "a figure needs one (lines) or two (heatmap) on a full grid\n"
        )


def _scalar(value):
    """A grid value as a table cell: lists (per-epoch schedules) as their JSON text."""
    return json.dumps(value) if isinstance(value, list | dict) else value


# axis labels in the report's notation for the keys that have one
MATH_LABELS = {"rho_w": r"$\rho_w$", "rho_a": r"$\rho_a$", "eta": r"$\eta$", "eta_w": r"$\eta_w$", "eta_a": r"$\eta_a$",
               "k": "$k$", "p": "$p$", "batch": "batch $B$", "samples": "training-set size $N$"}  # fmt: skip


@drawer("sweep_success")
def draw_sweep_success(tables, settings):
    cells = tables["cells"]
    fig = new_figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    xs = settings["x_order"]
    if settings["y"] is None:  # one varying key: success against it, with Wilson intervals
        order = [list(cells["x"]).index(x) for x in xs]
        rate = 100 * cells["success_rate"][order]
        low, high = 100 * cells["wilson_low"][order], 100 * cells["wilson_high"][order]
        ax.errorbar(range(len(xs)), rate, yerr=np.maximum([rate - low, high - rate], 0), fmt="o-", capsize=3)
        ax.set_xticks(range(len(xs)), xs)
        ax.set_xlabel(MATH_LABELS.get(settings["x"], settings["x"]))
        ax.set_ylabel("trials reaching the global optimum (%)")
        ax.set_ylim(-2, 102)
    else:  # two: a heatmap, divergence hatched
        ys = settings["y_order"]
        positions = {row: (ys.index(cells["y"][row]), xs.index(cells["x"][row])) for row in range(len(cells["x"]))}
        image = success_heatmap(ax, cells, positions, (len(ys), len(xs)))
        ax.set_xticks(range(len(xs)), xs)
        ax.set_yticks(range(len(ys)), ys)
        ax.set_xlabel(f"{MATH_LABELS.get(settings['x'], settings['x'])} (the grid's values, evenly spaced)")
        ax.set_ylabel(MATH_LABELS.get(settings["y"], settings["y"]))
        fig.colorbar(image, ax=ax, label="success rate (%); hatched: half or more diverged")
    ax.set_title(f"Success over the sweep ({int(cells['trials'][0])} trials per cell)")
    return fig
