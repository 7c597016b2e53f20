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
reproduction's (:func:`pgd_bench.runs.cache.load_cached`), by this process only; a cell computed
anywhere has the same ``final_state_sha256`` as ``pgd-bench run`` gives for its config.
Outputs: ``tables/trials`` (one row per trial), ``tables/cells`` (one row per cell) as CSV and
Parquet (with pyarrow), and a figure of the success rates over the grid.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

from ._files import output_lock, prepare_output_dir
from ._validate import check_memory
from .report import sweep_figure  # noqa: F401 - registers the figure that _write_outputs draws
from .report.context import Context
from .report.figures import check_derived_replaceable, clear_derived
from .runs.backend import Backend
from .runs.config import CONFIG_FIELDS, MAX_CONFIG_BYTES, RunConfig, overlay_settings, resolve_config
from .tables import concat_columns, write_table

MAX_CELLS = 100_000  # cells a sweep file may hold (validation costs about 0.34 ms a cell)


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
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ValueError(f"{path}: larger than {MAX_CONFIG_BYTES // 2**20} MiB: not a sweep file")
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such sweep file") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot read the sweep file: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a TOML file: {error}") from None
    except RecursionError:
        raise ValueError(f"{path}: nests too deeply to be a sweep file") from None
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
    count = math.prod(len(values) for values in grid.values()) + len(explicit) if grid else len(explicit)
    if count > MAX_CELLS:  # before building them: 10^8 cells ran out of memory after 49 s
        raise ValueError(
            f"{path}: the sweep has {count} cells, more than {MAX_CELLS} (checking them alone would take about "
            f"{count * 3.4e-4:.0f} s, and each cell is a run); split it into sweeps of fewer cells"
        )
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else []
    combos += explicit
    if not combos:
        combos = [{}]  # no grid: the base config is the one cell
    axes = list(grid) + [key for entry in explicit for key in entry if key not in grid]
    axes = list(dict.fromkeys(axes))
    cells = []
    for index, combo in enumerate(combos):
        try:
            merged = overlay_settings(data, combo)  # a cell's eta beats the base's eta_w and eta_a
            config = resolve_config(**merged)
        except (ValueError, TypeError) as error:
            label = ", ".join(f"{key}={value!r}" for key, value in combo.items()) or "the base config"
            raise ValueError(f"{path}: cell {index} ({label}): {error}") from None
        # each axis as the cell gave it, else as it ran (a base eta_w that the cell's eta replaced
        # labelled the cell with the value it did not run)
        settings = {key: merged.get(key, getattr(config, key, None)) for key in axes}
        if "landscape" in settings:  # the one that ran: a stride below p selects "overlapping"
            settings["landscape"] = config.landscape
        cells.append(Cell(index, settings, config))
    return axes, cells


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
    # every cell's result is held until the tables are written: the sweep's memory is their sum
    check_memory("this sweep", sum(cell.config.memory_bytes() for cell in cells),
                 "fewer cells or fewer trials per cell, or several sweeps")  # fmt: skip
    out = prepare_output_dir(out_dir, kind="sweep")
    check_derived_replaceable(out)  # before the work: its tables are replaced after it
    with output_lock(out), backend:
        start = time.perf_counter()
        sys.stderr.write(f"sweep: {len(cells)} cells on {backend.describe()}\n")
        results = backend.compute([cell.config for cell in cells], out / "cache", force)
        clear_derived(out, report=False)  # an earlier sweep's figure and tables would mix with this one's
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
    values = {key: [json.dumps(_scalar(c.settings[key])) for c in cells] for key in axes}  # each cell's, by key
    varying = [key for key in axes if len(set(values[key])) > 1]
    # a full grid holds every point of the product of the varying keys' values once: the count
    # alone let a repeated point stand in for a missing one, drawn blank and labelled nan
    points = set(zip(*(values[key] for key in varying)))
    if 1 <= len(varying) <= 2 and len(cells) == len(points) == int(np.prod([len(set(values[k])) for k in varying])):
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
            "a figure needs one (lines) or two (heatmap) on a full grid, each point once\n"
        )


def _scalar(value):
    """A grid value as a table cell: lists (per-epoch schedules) as their JSON text."""
    return json.dumps(value) if isinstance(value, list | dict) else value
