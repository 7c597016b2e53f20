"""What the report's sections share: the :class:`Section` record, the :class:`Context` that runs
cells once through the cell cache, and the figure and table helpers.

:mod:`pgd_bench.reproduce` lists the sections; :mod:`pgd_bench.theory_report` adds one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .engine import OUTCOME_NAMES, RECORD_FIELDS
from .results import atomic_write_bytes, atomic_write_text
from .stats import wilson_interval
from .tables import TABLES_DIR, read_table, write_table

# outcome codes and record fields by name
OUTCOME = {name: code for code, name in enumerate(OUTCOME_NAMES)}
FIELD = {name: index for index, name in enumerate(RECORD_FIELDS)}


# One style for every figure, applied with ``matplotlib.rc_context`` around drawing and saving, so
# that nothing global changes (a notebook that calls the report keeps its own settings).
STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 130,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "pgd_bench",  # fixed ids: the same figure gives the same SVG bytes
}
FIGURE_FORMATS = ("png", "svg", "pdf")
# no creation dates in the files, so that redrawing a figure reproduces it byte for byte
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
FIGURES_FILE = "figures.json"

# figure name -> draw(tables, settings) -> matplotlib Figure; filled by the ``drawer`` decorator
DRAWERS: dict[str, Callable[[dict, dict], Any]] = {}


def drawer(name: str):
    """Register ``draw(tables, settings) -> Figure`` as the way figure ``name`` is drawn.

    ``tables`` maps the figure's table names to ``{column: ndarray}`` (as read back from the
    saved CSV files) and ``settings`` is its JSON-ready dict; the function draws from those alone,
    so that ``pgd-bench plot`` redraws the figure from a results folder without running anything.
    """

    def register(draw):
        DRAWERS[name] = draw
        return draw

    return register


def new_figure(**kwargs):
    """A matplotlib Figure that belongs to no pyplot state and needs no backend: saving it picks
    the writer by file format."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def render(name: str, tables: dict, settings: dict):
    """Draw figure ``name`` in the report's style."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        return DRAWERS[name](tables, settings)


def save_figure(fig, out: Path, name: str, formats=FIGURE_FORMATS) -> tuple[str, ...]:
    """Write ``fig`` as ``name.png``, ``.svg`` and ``.pdf`` (or ``formats``) into ``out``; returns
    the file names."""
    import matplotlib

    names = []
    with matplotlib.rc_context(STYLE):
        if formats and formats[0] != FIGURE_FORMATS[0]:
            # the first rendering settles the layout that later ones reuse: render as the report
            # does (PNG first), so that a figure saved in any formats gives the report's bytes
            fig.savefig(io.BytesIO(), format=FIGURE_FORMATS[0], bbox_inches="tight", metadata=_METADATA["png"])
        for ext in formats:
            buffer = io.BytesIO()
            fig.savefig(buffer, format=ext, bbox_inches="tight", metadata=_METADATA[ext])
            atomic_write_bytes(out / f"{name}.{ext}", buffer.getvalue())
            names.append(f"{name}.{ext}")
    return tuple(names)


def success_heatmap(ax, cells, positions, shape, *, decimals=0, say_diverged=False):
    """Success rates as a 0-100% heatmap, each cell's value written in it: ``positions`` maps a
    row of the table ``cells`` (columns ``success_rate``, ``n_diverged``, ``trials``) to its
    ``(row, column)`` in a grid of ``shape``. Cells where half or more of the trials diverged are
    hatched, so that a 0 from divergence does not read as a 0 from trapping; ``say_diverged``
    also writes how many diverged there. Returns the image, for a colour bar."""
    import numpy as np
    from matplotlib.patches import Rectangle

    grid = np.full(shape, np.nan)
    diverged = np.zeros(shape)
    for row, (i, j) in positions.items():
        grid[i, j] = cells["success_rate"][row]
        diverged[i, j] = cells["n_diverged"][row] / cells["trials"][row]
    image = ax.imshow(100 * grid, origin="lower", cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.grid(False)
    for i in range(shape[0]):
        for j in range(shape[1]):
            text = f"{100 * grid[i, j]:.{decimals}f}"
            mostly_diverged = diverged[i, j] >= 0.5
            if mostly_diverged:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", ec="#D0D0D0", lw=0))
                if say_diverged:
                    text += f"\n{100 * diverged[i, j]:.0f}% div."
            box = (
                dict(boxstyle="round,pad=0.15", fc="#44015480", ec="none") if mostly_diverged and say_diverged else None
            )
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if grid[i, j] < 0.6 else "black",
                    bbox=box)  # fmt: skip
    return image


def read_figures(results_dir) -> dict:
    """``figures.json`` of a results folder: ``{figure: {"tables": {role: table name}, "settings": {...}}}``."""
    path = Path(results_dir) / FIGURES_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def draw_saved(results_dir, name: str):
    """Figure ``name`` drawn from the tables and settings saved in ``results_dir``."""
    entry = read_figures(results_dir)[name]
    tables = {role: read_table(results_dir, table) for role, table in entry["tables"].items()}
    return render(name, tables, entry["settings"])


def clear_derived(results_dir) -> None:
    """Remove what a report derives (its tables, ``figures.json`` and the figures it lists) from a
    results folder, before a new report is written there; the cell cache and other files stay."""
    out = Path(results_dir)
    for name in read_figures(out):
        for ext in FIGURE_FORMATS:
            (out / f"{name}.{ext}").unlink(missing_ok=True)
    (out / FIGURES_FILE).unlink(missing_ok=True)
    if (out / TABLES_DIR).is_dir():
        shutil.rmtree(out / TABLES_DIR)


@contextlib.contextmanager
def compiling_notice(what: str, after: float = 1.5):
    """Say on stderr that the engine is compiling when loading it takes more than ``after``
    seconds: a cache hit takes well under one, a first compilation 9 to 15 s per variant."""

    def notice():
        with contextlib.suppress(OSError, AttributeError, ValueError):
            sys.stderr.write(f"pgd-bench: compiling the engine for {what} (first run of this version only) ...\n")
            sys.stderr.flush()

    timer = threading.Timer(after, notice)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@dataclasses.dataclass(frozen=True)
class Section:
    """One part of the report: its heading, its text, the files it wrote and its data."""

    title: str
    markdown: str
    files: tuple[str, ...] = ()
    data: dict = dataclasses.field(default_factory=dict)


class Context:
    """What the sections share: the output folder, the scale (``reproduce.Scale``), the cells run so far, the rows of
    ``trials.csv`` and the time each group of cells took."""

    def __init__(self, out: Path, scale, force: bool, quick: bool, backend=None):
        self.out, self.scale, self.force, self.quick = out, scale, force, quick
        self.backend = backend  # where cells run (sweep.Backend); None: this machine's threads
        self.trial_tables: list[dict] = []  # per cell: one row per trial, as columns
        self.cell_rows: list[dict] = []  # one row per cell
        self.timings: dict[str, float] = {}
        self._memo: dict[str, Any] = {}

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, run once per reproduction however many sections ask for ``key``."""
        if key not in self._memo:
            start = time.perf_counter()
            self._memo[key] = compute()
            self.timings[key] = time.perf_counter() - start
        return self._memo[key]

    def cells(self, name: str, cells: list) -> dict:
        """Run ``cells`` (pairs ``(tag, config)``) once, with one progress bar, through the cell
        cache; returns ``{tag: RunResult}``."""
        return self.once(name, lambda: self._run(name, cells))

    def _run(self, name, cells):
        from .sweep import Backend

        backend = self.backend if self.backend is not None else Backend()
        computed = backend.compute([config for _, config in cells], self.out / "cache", self.force, name)
        results = {}
        for (tag, _), result in zip(cells, computed):
            results[tag] = result
            self._collect(name, tag, result)
        return results

    def _collect(self, name, tag, result):
        cell = tag if isinstance(tag, str) else "/".join(str(part) for part in tag)
        n = result.outcome.size
        self.trial_tables.append({"stage": [name] * n, "cell": [cell] * n, **result.trial_table()})
        self.cell_rows.append({"stage": name, "cell": cell, **result.settings_row(), **result.cell_row()})

    def figure(self, name: str, tables: dict, settings: dict, description: dict | None = None) -> tuple[str, ...]:
        """Save a figure's tables and settings, then draw it from what was saved (so that
        ``pgd-bench plot`` gives the same figure) and write it; returns its image files."""
        description = description or {}
        stored = {}
        for role, columns in tables.items():
            stored[role] = f"{name}__{role}"
            write_table(self.out, stored[role], columns, description.get(role, f"data of {name}"))
        figures = read_figures(self.out)
        figures[name] = {"tables": stored, "settings": json.loads(json.dumps(settings))}
        atomic_write_text(self.out / FIGURES_FILE, json.dumps(figures, indent=1, sort_keys=True) + "\n")
        fig = draw_saved(self.out, name)
        return save_figure(fig, self.out, name)


def _image(files, alt) -> str:
    """Markdown for the PNG among a section's files."""
    return f"![{alt}]({next(f for f in files if f.endswith('.png'))})"


def _plain(label: str) -> str:
    """A figure label with its mathtext as plain text, for the Markdown tables: ``$\\eta$`` -> ``eta``."""
    return re.sub(
        r"\$([^$]*)\$", lambda match: match.group(1).replace("\\", "").replace("{", "").replace("}", ""), label
    )


def _rate(result):
    n = int(result.outcome.size)
    g = result.counts()["global"]
    low, high = wilson_interval(g, n)
    return g / n, low, high
