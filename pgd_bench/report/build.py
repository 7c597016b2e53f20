"""``pgd-bench reproduce``: the paper's figures, the phase diagram, the smoothed landscape, a report.

The report is a list of sections (:data:`SECTIONS`): each is a function ``section(ctx) ->
Section`` (title, markdown, files, data), one module of :mod:`pgd_bench.report.sections` each,
and one loop writes them in order. A new section is one module and one list entry
(docs/adding-a-section.md). Sections share runs through the :class:`Context`: a group of cells
is run once (through the checked per-cell cache of :mod:`pgd_bench.runs.cache`, so a rerun recomputes
nothing that has finished but the theory section's quick cells, which are not kept, and an
interrupted run resumes where it stopped) and read by every
section that needs it. Figures are written as PNG and SVG; ``trials.csv`` holds one row per trial
of every cell; ``report.md`` (and the same as ``report.html``) gathers everything with the configs,
versions and timings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import re
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import __version__
from .._files import KIND_FILE, atomic_write_text, output_lock, prepare_output_dir
from .._validate import as_int, as_seed
from ..console import compiling_notice
from ..runs.execute import compile_in_background, kernel_cache_is_cold, warm_up
from ..tables import concat_columns, write_table
from .context import VERDICT_RULE, VERDICTS, BackgroundDrawing, Context, Section, draw_and_save
from .figures import (
    DRAWERS,
    FIGURE_FORMATS,
    FIGURES_FILE,
    REPORT_HTML,
    REPORT_MD,
    WRITING_ERRORS,
    cannot_draw_error,
    clear_derived,
    draw_saved,
    read_figures,
    save_figure,
)
from .html import heading_anchor, markdown_to_html
from .sections.beyond import OVERLAPPING_STRIDE, beyond_the_theorem
from .sections.configs import configs
from .sections.convergence import figure_convergence
from .sections.held_out import out_of_sample
from .sections.literal import literal_settings
from .sections.observations import observations
from .sections.phase import figure_phase_diagram
from .sections.runtime import runtime
from .sections.smoothed import figure_smoothed_landscape
from .sections.success import figure_success_rates
from .sections.theory import theory_measured
from .sections.which_noise import which_noise
from .shared import FULL, QUICK, quick_sized

# A quick run writes its figures as PNG alone (the report's images): SVG and PDF took 12 of its
# 20 s of drawing. `pgd-bench plot DIR` redraws them in every format from the saved tables.
QUICK_FIGURE_FORMATS = ("png",)

# --- the runs the sections share -----------------------------------------------------------------


# --- sections -------------------------------------------------------------------------------------


# The report, in order: a new section is one function above and one entry here.
SECTIONS: list[Callable[[Context], Section]] = [  # the figures in reading order: 1, 2, ..., 10
    literal_settings,
    figure_success_rates,
    out_of_sample,
    figure_convergence,
    figure_phase_diagram,
    figure_smoothed_landscape,
    which_noise,
    observations,
    theory_measured,
    runtime,
    beyond_the_theorem,
    configs,
]


# --- the report ----------------------------------------------------------------------------------


def _versions():
    import matplotlib
    import numba

    return (
        f"pgd_bench {__version__}, numba {numba.__version__}, numpy {np.__version__}, "
        f"matplotlib {matplotlib.__version__}, Python {platform.python_version()}"
    )


def reproduce(
    out_dir="pgd-bench-results",
    quick=False,
    force=False,
    trials=None,
    seed=0,
    sample_sizes=None,
    sections=None,
    workers=None,
    scheduler=None,
) -> Path:
    """Run every section, write figures, ``trials.csv`` and ``report.md`` into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Output folder, created if missing; refused before any work if it cannot be written, and
        locked while the reproduction runs.
    quick : bool
        Fewer trials and a coarser phase grid: every section, in about a minute on 2 cores once the
        engines are compiled (the full run: 20 to 26 minutes).
    force : bool
        Recompute cells even when cached.
    trials : int, optional
        Override the trials per cell, and cap the smoothed landscape's samples at 1000 per trial
        (for tests).
    seed : int, default 0
        Seed of every cell (trial i's starts and noise depend only on the seed and i).
    sample_sizes : sequence of int, optional
        Override the training-set sizes of the finite-sample table (for tests; default 64, 256
        and 1024).
    sections : list of callables, optional
        The sections to run, in order (default: all of :data:`SECTIONS`); ``pgd-bench theory``
        runs the theory section alone.
    workers, scheduler : optional
        Run the cells on a local Dask cluster of ``workers`` processes, or on the Dask cluster at
        ``scheduler`` (:class:`pgd_bench.runs.backend.Backend`, as ``pgd-bench sweep`` does); the results
        are the same bits as on this machine's threads.

    Returns
    -------
    Path
        The output folder.
    """
    start = time.perf_counter()
    scale = QUICK if quick else FULL
    if trials is not None:
        trials = as_int("trials", trials, minimum=1)
        scale = dataclasses.replace(scale, trials=trials, convergence_trials=trials, finite_trials=trials,
                                    phase_trials=max(1, trials // 2), comparison_trials=trials,
                                    theory_trials=trials, beyond_trials=trials, optima_starts=trials,
                                    held_out_trials=trials, noisy_trials=trials,
                                    smoothing_samples=min(scale.smoothing_samples, 1000 * trials))  # fmt: skip
    scale = dataclasses.replace(scale, seed=as_seed("seed", seed))
    if sample_sizes is not None:
        sizes = tuple(as_int("sample_sizes", n, minimum=1) for n in sample_sizes)
        scale = dataclasses.replace(scale, sample_sizes=sizes)
    from ..runs.backend import Backend

    backend = Backend(workers, scheduler)
    kind = "theory" if sections is not None and [s.__name__ for s in sections] == ["theory_measured"] else "reproduce"
    out = prepare_output_dir(out_dir, kind=kind)  # after the arguments are checked: a bad one leaves no folder
    # figures drawn in a second process, stopped on the way out (waited for on success; after an
    # error or Ctrl-C no one waits for them); it gains nothing for one figure or on one core
    drawing = BackgroundDrawing(run_here=os.cpu_count() == 1 or kind == "theory", draw=_draw_figure)
    with output_lock(out), backend, contextlib.closing(drawing):
        ctx = Context(out, scale, force, quick, backend, QUICK_FIGURE_FORMATS if quick else FIGURE_FORMATS, drawing)
        clear_derived(out)  # tables and figures of an earlier run into this folder would mix with these
        if not backend.distributed:  # a cluster's workers compile (or load) it themselves
            engines = "the poster's model"
            if kernel_cache_is_cold() and (sections is None or beyond_the_theorem in sections):
                # the overlapping-patch engine, on the other core, while this one compiles the
                # poster's (each about 30 s; Numba compiles on one core, holding the GIL)
                compile_in_background(scale.config(algorithm="gd", stride=OVERLAPPING_STRIDE))
                engines += ", and the overlapping-patch one in a second process"
            with compiling_notice(engines):
                ctx.once("compiling the engine", lambda: warm_up(scale.config(algorithm="gd")))
        done, spent = [], []
        for part, section in enumerate(SECTIONS if sections is None else sections):
            ctx.part, before, section_start = part, set(ctx.timings), time.perf_counter()
            done.append(section(ctx))
            groups = {name: ctx.timings[name] for name in ctx.timings if name not in before}
            spent.append((done[-1].title, time.perf_counter() - section_start, groups, part))
        waiting = time.perf_counter()
        ctx.drawing.finish()  # the figures' files exist from here on
        waiting = time.perf_counter() - waiting
        spent = [(title, seconds, groups, ctx.drawing_seconds.get(part, 0.0)) for title, seconds, groups, part in spent]
        write_table(out, "trials", concat_columns(ctx.trial_tables), "one row per trial of every cell")
        write_table(out, "cells", concat_columns(ctx.cell_rows), "one row per cell: config, counts, rates, aRT, time")
        elapsed = time.perf_counter() - start
        timing = _time_table(ctx, spent, waiting, elapsed)
        report = (
            f"# {REPORT_TITLES[kind]}\n"
            + _answers_table(ctx, done)
            + "\n## Settings\n\n"
            + _header(ctx, elapsed, kind)
            + "".join(f"\n## {s.title}\n\n{s.markdown}\n" for s in done)
            + f"\n## Where the time went\n\n{timing}\n"
        )
        atomic_write_text(out / REPORT_MD, report)
        atomic_write_text(out / REPORT_HTML, markdown_to_html(report, images_from=out))
    sys.stderr.write(f"report: {out / REPORT_MD} ({elapsed:.0f} s)\n")
    return out


def _draw_figure(out, name, formats) -> float:
    """:func:`~pgd_bench.report.context.draw_and_save` in the drawing process, which imports this
    module, and with it every section's drawer."""
    return draw_and_save(out, name, formats)


def _time_table(ctx: Context, spent, waiting: float, elapsed: float) -> str:
    """The report's last part: seconds per section (its groups of cells or estimates, and its
    figures' drawing), the engine's compilation, and the rest; also saved as ``tables/time.csv``."""
    rows = {"part": [], "seconds": [], "computing": [], "drawing": []}
    lines = ["| part | seconds | of which computing (cells, estimates) | of which drawing |", "|---|---|---|---|"]

    def add(part, seconds, groups, drawing):
        computing = sum(groups.values())
        detail = "; ".join(f"{name} {value:.1f} s" for name, value in groups.items()) or "-"
        lines.append(f"| {part} | {seconds:.1f} | {detail} | {f'{drawing:.1f} s' if drawing else '-'} |")
        for name, value in zip(rows, (part, seconds, computing, drawing)):
            rows[name].append(value)

    compiling = ctx.timings.get("compiling the engine")
    if compiling is not None:
        add("compiling the engine (loaded from the kernel cache once compiled)", compiling, {}, 0.0)
    for title, seconds, groups, drawing in spent:
        add(title, seconds, groups, drawing)
    add("waiting for the last figures to be drawn", waiting, {}, 0.0)
    accounted = sum(rows["seconds"])
    add("writing the tables and the report, imports, checks", max(elapsed - accounted, 0.0), {}, 0.0)
    write_table(ctx.out, "time", rows, "seconds per part of this reproduction: the report's last table")
    return (
        f"{elapsed:.0f} s in all; the cells this run computed ran on {_cells_ran_on(ctx)} "
        f"({os.cpu_count()} cores here). Cached cells and estimates cost nothing: a rerun into this folder "
        "recomputes nothing that has finished (`--force` does), apart from the theory section's cells, which "
        "take about a second and are not kept. A section's figures "
        "are drawn in a second process while the next sections compute: their drawing time is beside "
        "the section's seconds, not in them, and the run waits only for the figures still being drawn "
        "at its end. The same as `tables/time.csv`, so that a slower part is visible from one run to "
        "the next.\n\n" + "\n".join(lines)
    )


REPORT_TITLES = {
    "reproduce": "pgd_bench reproduction of Zhou et al. (ICML 2019)",
    "theory": "pgd_bench: the theory of Zhou et al. (ICML 2019), measured",
}


def _answers_table(ctx: Context, sections) -> str:
    """The report's first screen: every claim of the poster that a section measured, beside the
    measurement and its verdict, each linking to its section."""
    rows, verdicts = [], []
    for section in sections:
        name = re.sub(r"\s*\(.*\)", "", section.title.split(":")[0])
        for answer in section.answers:
            verdicts.append(answer.verdict)
            verdict = answer.verdict if answer.verdict == "holds" else f"**{answer.verdict}**"
            measured = answer.measured.replace("|", "\\|")
            rows.append(f"| {answer.claim} | {measured} | {verdict} | [{name}](#{heading_anchor(section.title)}) |")
    if not rows:
        return ""
    mode = "quick (fewer trials: wider intervals)" if ctx.quick else "full"
    # (every one of VERDICTS: Answer refuses others)
    plural = {"holds": "hold", "holds partly": "hold partly", "does not hold here": "do not hold here",
              "inconclusive": "are inconclusive", "not measured": "were not measured"}  # fmt: skip
    singular = {verdict: verdict for verdict in VERDICTS} | {"inconclusive": "is inconclusive",
                                                             "not measured": "was not measured"}  # fmt: skip
    parts = [f"{n} {(singular if n == 1 else plural)[verdict]}" for verdict in VERDICTS
             if (n := verdicts.count(verdict))]  # fmt: skip
    counted = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return (
        "\n## Answers: the poster's claims, measured here\n\n"
        f"**In short:** of the {len(verdicts)} claims this run measured, {counted} (each verdict but *holds* in "
        "bold in the table).\n\n"
        f"Each claim of the poster that this {mode} run measured, with what was measured (95% intervals) and a "
        f"verdict (on this model and these settings), by one rule: {VERDICT_RULE}. The sections below give the "
        "details and the tables behind them.\n\n"
        "| the poster's claim | measured here | verdict | details |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def shell_word(path) -> str:
    """``path`` as one word of a shell command, quoted where it needs it, for the report's text
    (UTF-8, inside a Markdown code span). A name holding bytes that are not UTF-8 (a Linux file
    name may), characters that are not printable (a line break) or a backtick (which ends the code
    span) is written in the ANSI-C quotes of bash and zsh, ``$'th\\xffq'``, each such byte as an
    escape: the report of a folder with a byte that is not UTF-8 failed to be written at all
    ("'utf-8' codec can't encode"), after the whole run."""
    raw = os.fsencode(path)
    try:
        text = raw.decode("utf-8")
        if text.isprintable() and "`" not in text:
            return shlex.quote(text)
    except UnicodeDecodeError:
        pass
    plain = set(range(0x20, 0x7F)) - {ord("'"), ord("\\"), ord("`")}
    return "$'" + "".join(chr(b) if b in plain else f"\\x{b:02x}" for b in raw) + "'"


def _header(ctx: Context, elapsed: float, kind: str) -> str:
    scale = ctx.scale
    sized = quick_sized(scale, None if kind == "reproduce" else ("theory_trials", "theory_samples"))
    quick_note = f"\nSized down from the full run (every section kept; intervals wider): {sized}." if sized else ""
    if ctx.formats != FIGURE_FORMATS:
        quick_note += (
            f"\nFigures: {', '.join(ext.upper() for ext in ctx.formats)} only; `pgd-bench plot "
            f"{shell_word(ctx.out)}` redraws them as PNG, SVG and PDF from the saved tables."
        )
    size = (
        f"{scale.trials} trials per success-rate cell"
        if kind == "reproduce"
        else (f"{scale.theory_trials} recorded trials per theory run")
    )
    return f"""Mode: {"quick" if ctx.quick else "full"}; {size}.
Run time {elapsed:.0f} s (per part: "Where the time went", at the end; cached cells cost nothing).{quick_note}
Versions: {_versions()}. Machine: {platform.machine()}, {platform.system()}, {os.cpu_count()} cores; \
the cells this run computed ran on {_cells_ran_on(ctx)}.
Data: `tables/` (see `tables/index.json`; `pgd-bench plot` redraws every figure from it).
Seeds: every cell uses seed {scale.seed} (trial i's starts and noise depend only on (seed, i)), so every
method starts from the same points. One row per trial of every cell: `tables/trials.csv`; per cell: `tables/cells.csv`.
"""


def _cells_ran_on(ctx) -> str:
    """Where the cells this run computed ran: this machine's threads (``NUMBA_NUM_THREADS`` of
    them, which may be fewer than its cores) or a Dask cluster, whose runs leave the optima
    searches and the estimates to this machine. The report said "on this machine (2 cores)" for a
    run on one thread, and for one on a cluster. (Cells loaded from the cache ran where an earlier
    run computed them.)"""
    from ..runs.backend import Backend

    backend = ctx.cell_backend
    if not backend.distributed:
        return backend.describe()
    return f"{backend.describe()} (the optima searches and estimates on {Backend().describe()})"


def plot(results_dir="pgd-bench-results", out_dir=None, figures=None, formats=FIGURE_FORMATS) -> list[Path]:
    """Redraw figures from a results folder's saved tables, without running anything.

    Parameters
    ----------
    results_dir : path
        A folder written by ``pgd-bench reproduce``, ``theory`` or ``sweep`` (it has
        ``figures.json`` and ``tables/``).
    out_dir : path, optional
        Where to write the figures (default: ``results_dir`` itself, replacing them).
    figures : list of str, optional
        Names of the figures to redraw (default: all that the folder lists).
    formats : sequence of str
        File formats to write (default: PNG, SVG and PDF).

    Returns
    -------
    list of Path
        The files written (PNG, SVG and PDF of each figure).
    """
    from . import sweep_figure  # noqa: F401 - registers the sweep's figure, so that a sweep's folder redraws too

    source = Path(results_dir)
    listed = read_figures(source) if source.is_dir() else {}
    if not listed and (source / FIGURES_FILE).is_file():  # (it was said to be missing)
        raise ValueError(f"{source / FIGURES_FILE}: lists no figures (edited?); run the command that wrote "
                         "the folder again to write it")  # fmt: skip
    if not listed:
        raise ValueError(f"{source}: not a results folder with saved figures (no {FIGURES_FILE}); "
                         "run pgd-bench reproduce first")  # fmt: skip
    # each named once, in the order first given (``--formats png,png`` drew and counted PNG twice)
    names = list(listed) if figures is None else list(dict.fromkeys(figures))
    formats = tuple(dict.fromkeys(formats))
    unknown_formats = [ext for ext in formats if ext not in FIGURE_FORMATS]
    if unknown_formats or not formats:
        raise ValueError(f"formats: expected some of {', '.join(FIGURE_FORMATS)}, got {list(formats)}")
    unknown = [name for name in names if name not in listed]
    if unknown:
        raise ValueError(f"figures {unknown} are not in {source / FIGURES_FILE} (it has: {', '.join(listed)})")
    undrawable = [name for name in names if name not in DRAWERS]
    if undrawable:  # listed, but no drawer of that name (added by hand, or by another version)
        raise ValueError(
            f"figures {undrawable} in {source / FIGURES_FILE} are not figures this version draws "
            f"(it draws: {', '.join(sorted(DRAWERS))})"
        )
    if out_dir is not None and Path(out_dir).resolve() != source.resolve():
        other = Path(out_dir)
        if (other / FIGURES_FILE).exists() or (other / KIND_FILE).exists():  # its figures would be replaced
            raise ValueError(f"out: {other} is another results folder (it has its own figures); "
                             "redraw into an empty folder or into the results folder itself")  # fmt: skip
    out = prepare_output_dir(out_dir if out_dir is not None else source, cache=False)
    written = []
    with output_lock(out):  # a run writing into the folder at the same time would mix figures
        for name in names:
            fig = draw_saved(source, name)
            try:
                files = save_figure(fig, out, name, formats)
            except WRITING_ERRORS as error:  # laid out from values it cannot show
                raise cannot_draw_error(source, name, listed[name]["tables"], error) from error
            written += [out / f for f in files]
    return written
