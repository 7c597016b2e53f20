"""Figures: one style, the registry of drawers, and saving that reproduces bytes.

Each figure is drawn by a registered ``draw(tables, settings)`` from its saved tables alone, so
``pgd-bench plot`` redraws it from a results folder without running anything.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._files import atomic_write_bytes, check_writable, quoted
from ..tables import INDEX, TABLE_FORMATS, TABLES_DIR, read_index, read_table

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
    # every drawer asks for its layout engine; these keep a user's rc from adding one where
    # save_figure removes it (set_layout_engine(None) falls back on them)
    "figure.autolayout": False,
    "figure.constrained_layout.use": False,
}


FIGURE_FORMATS = ("png", "svg", "pdf")
# a figure's or table's name: a file name in the results folder, never a path out of it
FILE_STEM = re.compile(r"\w[\w.-]*", re.ASCII)
NAME_RULE = "is not a plain file name (ASCII letters, digits, '_', and after the first character '-' and '.')"


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

    if not (isinstance(name, str) and FILE_STEM.fullmatch(name)):
        raise ValueError(f"drawer: figure name {quoted(str(name), 80)} {NAME_RULE}")

    def register(draw):
        DRAWERS[name] = draw
        return draw

    return register


def new_figure(**kwargs):
    """A matplotlib Figure that belongs to no pyplot state and needs no backend: saving it picks
    the writer by file format."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def panel_grid(fig, panels: int, columns: int = 2, **subplots):
    """``panels`` axes in rows of ``columns`` (the last row's empty places hidden), in reading
    order: the figure then fits the report's page width (about 1100 px) with readable labels,
    where one row of four 4-inch panels was 2095 px wide, scaled down to a third of its text size."""
    rows = -(-panels // columns)
    axes = fig.subplots(rows, columns, squeeze=False, **subplots).ravel()
    for ax in axes[panels:]:
        ax.set_visible(False)
    return list(axes[:panels])


def render(name: str, tables: dict, settings: dict):
    """Draw figure ``name`` in the report's style."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        return DRAWERS[name](tables, settings)


def save_figure(fig, out: Path, name: str, formats=FIGURE_FORMATS) -> tuple[str, ...]:
    """Write ``fig`` as ``name.png``, ``.svg`` and ``.pdf`` (or ``formats``) into ``out``; returns
    the file names. With more than one format, ``fig`` is left laid out, without its layout
    engine."""
    import matplotlib

    names = []
    with matplotlib.rc_context(STYLE):
        bbox = "tight"
        if formats and formats[0] != FIGURE_FORMATS[0]:
            # the first rendering settles the layout that later ones reuse: render as the report
            # does (PNG first), so that a figure saved in any formats gives the report's bytes
            fig.savefig(io.BytesIO(), format=FIGURE_FORMATS[0], bbox_inches=bbox, metadata=_METADATA["png"])
            bbox = _settle(fig)
        for index, ext in enumerate(formats):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=ext, bbox_inches=bbox, metadata=_METADATA[ext])
            atomic_write_bytes(out / f"{name}.{ext}", buffer.getvalue())
            names.append(f"{name}.{ext}")
            if bbox == "tight" and index + 1 < len(formats):
                bbox = _settle(fig)
    return tuple(names)


def _settle(fig):
    """After the first rendering: keep the layout and the bounds it settled for the renderings that
    follow, returned as their ``bbox_inches``. Each rendering ran the layout engine again and
    measured every text twice: a third of ``pgd-bench plot``'s time (23 -> 15 s for the eleven
    figures of a reduced run in three formats), for the same figure."""
    import matplotlib

    bbox = fig.get_tightbbox().padded(matplotlib.rcParams["savefig.pad_inches"])
    fig.set_layout_engine(None)  # None, not "none": no layout engine, so no dry rendering first
    return bbox


def check_success_cells(cells, rows=None) -> None:
    """Refuse a cells table (columns ``success_rate``, ``trials``, ``n_diverged``, and the Wilson
    ends ``wilson_low``, ``wilson_high`` and ``successes`` where it has them) whose ``rows`` (default: all) a figure
    cannot show: an edited table of 0 trials was drawn as NaN, after NumPy's warnings, and a rate
    of 1e308 overflowed."""
    rows = range(len(cells["trials"])) if rows is None else list(rows)  # (a dict's keys, a generator: once)
    for row in rows:
        trials, n_diverged = cells["trials"][row], cells["n_diverged"][row]
        if not (trials > 0 and 0 <= n_diverged <= trials):
            raise ValueError(f"cell {row}: trials {trials}, n_diverged {n_diverged}: expected trials > 0 and "
                             "0 to trials diverged")  # fmt: skip
        if "successes" in cells and not 0 <= cells["successes"][row] <= trials:
            raise ValueError(f"cell {row}: successes {cells['successes'][row]} of {trials} trials: expected 0 to "
                             "trials")  # fmt: skip
    for column in ("success_rate", "wilson_low", "wilson_high"):
        if column in cells:
            check_values(cells, column, fraction, "a fraction in [0, 1]", rows)


LOG_AXIS = "a positive number, drawn on a log axis"


def check_values(table, column, allowed, expected, rows=None) -> None:
    """Refuse a saved table whose ``column`` holds, in ``rows`` (default: all), a value a figure
    cannot show: the first row where ``allowed(values)`` is False is named with what was
    ``expected`` (an edited 0 on a log axis was drawn after NumPy's warnings, a fraction of -1
    without a word)."""
    import numpy as np

    values = np.asarray(table[column], dtype=float)
    index = np.arange(values.size) if rows is None else np.fromiter(rows, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        bad = index[~np.asarray(allowed(values[index]), dtype=bool)]
    if bad.size:
        raise ValueError(f"{column} {table[column][bad[0]]} (row {bad[0]}): expected {expected}")


def positive(values):
    """Finite and above 0 (what a log axis can show)."""
    import numpy as np

    return np.isfinite(values) & (values > 0)


def fraction(values):
    """A fraction in [0, 1] (NaN is not one)."""
    return (values >= 0) & (values <= 1)


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
    check_success_cells(cells, positions)
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
    """``figures.json`` of a results folder: ``{figure: {"tables": {role: table name}, "settings": {...}}}``.

    Raises
    ------
    ValueError
        Naming the file, when it is not that shape (damaged, or edited by hand).
    """
    path = Path(results_dir) / FIGURES_FILE
    if not path.exists():
        return {}
    try:
        figures = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ValueError(f"{path}: not readable as JSON ({type(error).__name__}: {error})") from None
    if not isinstance(figures, dict):
        raise ValueError(f"{path}: expected an object of figures, got {type(figures).__name__}")
    for name, entry in figures.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("tables"), dict)
                and isinstance(entry.get("settings"), dict)
                and all(isinstance(t, str) for t in entry["tables"].values())):  # fmt: skip
            raise ValueError(f"{path}: figure {name!r}: expected {{\"tables\": {{role: table name}}, "
                             "\"settings\": {...}}")  # fmt: skip
        # names become file names in the folder (a rerun deletes the figures listed here): a name
        # such as "../x" or "/tmp/x" would reach outside it
        for what, file_name in [("figure", name), *(("table", table) for table in entry["tables"].values())]:
            if not FILE_STEM.fullmatch(file_name):
                raise ValueError(f"{path}: {what} name {quoted(file_name, 80)} {NAME_RULE}")
    return figures


def draw_saved(results_dir, name: str):
    """Figure ``name`` drawn from the tables and settings saved in ``results_dir``.

    Raises
    ------
    ValueError
        Naming the figure, when its saved settings or tables do not fit its drawer (edited by hand).
    """
    entry = read_figures(results_dir)[name]
    tables = {role: read_table(results_dir, table) for role, table in entry["tables"].items()}
    try:
        return render(name, tables, entry["settings"])
    except DRAWING_ERRORS as error:
        raise cannot_draw_error(results_dir, name, entry["tables"], error) from error


# What a drawer raises on saved settings or tables it cannot show (edited by hand): a missing key
# or column is a KeyError, a count of inf overflows an integer
DRAWING_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError, RecursionError)
# What laying out and writing a drawn figure raises on such values: a label of 500 nested braces
# exhausts the recursion of matplotlib's mathtext parser (a KeyError there would be a bug, not an edit)
WRITING_ERRORS = (TypeError, ValueError, OverflowError, RecursionError)


def cannot_draw_error(results_dir, name: str, tables: dict, error: BaseException) -> ValueError:
    """The error for figure ``name`` of ``results_dir``, drawn from ``tables`` (its ``figures.json``
    entry's, ``{role: table name}``), failing to draw (laid out or written) from what was saved,
    with ``error``: it names the files."""
    files = ", ".join(str(Path(results_dir) / TABLES_DIR / f"{table}.csv") for table in tables.values())
    return ValueError(f"figure {name!r} cannot be drawn from its settings in {Path(results_dir) / FIGURES_FILE} "
                      f"and its tables {files} ({type(error).__name__}: {error}); one of them was edited: rerun "
                      "the command that wrote the folder to write them again")  # fmt: skip


def check_derived_replaceable(results_dir) -> None:
    """Refuse, before any work, a results folder whose ``tables`` folder a new report could not
    replace: a link (which removing would not follow), a file, or a folder that cannot be written
    (a rerun computed everything, deleted the old figures, and then failed on it).

    Raises
    ------
    ValueError
        Naming the folder and what to do.
    """
    tables = Path(results_dir) / TABLES_DIR
    if tables.is_symlink() or (tables.exists() and not tables.is_dir()):
        what = f"a link to {quoted(os.readlink(tables), 200)}" if tables.is_symlink() else "not a folder"
        raise ValueError(f"out: {tables} is {what}; its tables are rewritten by each run: remove it")
    if tables.is_dir():
        check_writable(tables)


REPORT_MD, REPORT_HTML = "report.md", "report.html"  # the report, as written by report.build
REPORT_FILES = (REPORT_MD, REPORT_HTML)


def clear_derived(results_dir, report: bool = True) -> None:
    """Remove what a run derives from a results folder, before it writes its own there: the tables
    its ``tables/index.json`` lists, ``figures.json`` and the figures it lists, and with ``report``
    the report (``report.md``, ``report.html``), which would otherwise describe the earlier run
    beside the new figures of one that stopped halfway. The cell cache stays, and so does every
    file the lists do not name (``tables/`` was removed whole, a user's own files in it with it).
    Nothing is removed if the tables could not be written again (:func:`check_derived_replaceable`)."""
    out = Path(results_dir)
    check_derived_replaceable(out)
    if report:
        for name in REPORT_FILES:
            (out / name).unlink(missing_ok=True)
    try:
        listed = read_figures(out)
    except ValueError:  # damaged or edited by hand: it is replaced below, its figures overwritten
        listed = {}
    for name in listed:
        for ext in FIGURE_FORMATS:
            (out / f"{name}.{ext}").unlink(missing_ok=True)
    (out / FIGURES_FILE).unlink(missing_ok=True)
    tables = out / TABLES_DIR
    if tables.is_dir():
        try:
            indexed = [name for name in read_index(out) if FILE_STEM.fullmatch(name)]
        except ValueError:  # a damaged index: its tables are overwritten by name, others left unindexed
            indexed = []
        for name in indexed:
            for ext in TABLE_FORMATS:
                (tables / f"{name}.{ext}").unlink(missing_ok=True)
        (tables / INDEX).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # only if nothing else is there
            tables.rmdir()
