"""What the report's sections share: the :class:`Section` record, the :class:`Context` that runs
cells once through the cell cache, and the helpers for their markdown.

:mod:`pgd_bench.report.build` lists the sections, each a module of :mod:`pgd_bench.report.sections`
(docs/adding-a-section.md).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from .._files import atomic_link_or_copy, atomic_write_text
from .._provenance import SOURCE_HASH
from ..console import notice
from ..engine import OUTCOME_NAMES, RECORD_FIELDS
from ..stats import wilson_interval
from ..tables import TABLES_DIR, write_table
from .figures import FIGURE_FORMATS, FIGURES_FILE, FILE_STEM, NAME_RULE, draw_saved, read_figures, save_figure

# outcome codes and record fields by name
OUTCOME = {name: code for code, name in enumerate(OUTCOME_NAMES)}
FIELD = {name: index for index, name in enumerate(RECORD_FIELDS)}


@dataclasses.dataclass(frozen=True)
class Answer:
    """One of the poster's claims beside what a section measured: the report opens with these.

    ``verdict`` is one of :data:`VERDICTS`; ``measured`` gives the value with its interval.
    """

    claim: str
    measured: str
    verdict: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict: expected one of {VERDICTS}, got {self.verdict!r}")


VERDICTS = ("holds", "holds partly", "does not hold here", "inconclusive", "not measured")

# The one rule every verdict follows; the report's opening states it, and docs/adding-a-section.md
VERDICT_RULE = (
    "*holds* where the measurement meets the claim's condition; *holds partly* where it meets only a weaker "
    "condition, stated in the section beside the claim; *does not hold here* where it meets neither; "
    "*inconclusive* where the 95% intervals cannot tell whether even the weaker condition is met (more trials "
    "would); each section states its two conditions"
)


def graded(holds: bool, partly: bool, decided: bool = True) -> str:
    """The verdict of a claim whose full condition is ``holds`` and weaker one ``partly``
    (:data:`VERDICT_RULE`); ``decided`` False where the intervals cannot tell the outcomes apart."""
    if not decided:
        return "inconclusive"
    return "holds" if holds else "holds partly" if partly else "does not hold here"


def interval_above(mine, theirs) -> bool | None:
    """Whether one 95% interval ``(low, high)`` lies above another: True where wholly above, False
    where wholly below, None where they overlap (undecided at this many trials). The one comparison
    the verdicts make between two measurements (trapped shares, generalization gaps, success rates)."""
    if mine[0] > theirs[1]:
        return True
    if mine[1] < theirs[0]:
        return False
    return None


MOST, ALMOST_ALL = 0.5, 0.9  # the share thresholds of "most cases" and "(almost) every case"


def share_verdict(share, strong: float = MOST) -> str:
    """The verdict on a claim that a condition holds in most cases, from the share's 95% interval
    ``(share, low, high, n)``: Wilson's over trials (``theory_measures.verdict_fraction``), or a
    bootstrap over trials for (trial, checkpoint) pairs (``theory_measures.clustered_fraction``).
    *holds* where the interval lies above ``strong`` (:data:`MOST` or :data:`ALMOST_ALL`),
    *holds partly* where it lies above 1/2 but not above ``strong``, *does not hold here* where it
    lies below 1/2, *inconclusive* where it contains 1/2, *not measured* where no case was decided."""
    _, low, high, n = share
    if n == 0:
        return "not measured"
    return graded(low > strong, low > MOST, decided=not low <= MOST <= high)


def exponent_side(low: float, high: float, predicted: float) -> str:
    """Where a fitted exponent's 95% interval ``[low, high]`` lies against the exponent of a time
    bound ``T = O(x^predicted)``: it "contains" it, lies wholly on the side the bound "kept" (a
    weaker dependence, none or a reversed one), or wholly "beyond" it (a stronger dependence)."""
    if predicted == 0:
        raise ValueError("predicted: a bound's exponent of 0 has no side to keep; expected a nonzero exponent")
    if low <= predicted <= high:
        return "contains"
    return "kept" if (high < predicted if predicted > 0 else low > predicted) else "beyond"


def exponent_verdict(low: float, high: float, predicted: float) -> str:
    """The verdict on a theorem's time bound ``T = O(x^predicted)`` from the fitted exponent's 95%
    interval ``[low, high]`` (:func:`exponent_side`): *holds* where the interval contains the
    prediction (the bound's scaling is seen), *holds partly* where it lies wholly on the bound's
    side of it (the bound is kept, its scaling is not seen), *does not hold here* where it lies
    wholly beyond it (a stronger dependence than the bound allows)."""
    side = exponent_side(low, high, predicted)
    if not (math.isfinite(low) and math.isfinite(high)):
        return "not measured"
    return graded(side == "contains", side == "kept")


@dataclasses.dataclass(frozen=True)
class Section:
    """One part of the report: its heading, its text, the files it wrote, its data, and the
    poster's claims it answers (:class:`Answer`, gathered into the report's opening table)."""

    title: str
    markdown: str
    files: tuple[str, ...] = ()
    data: dict = dataclasses.field(default_factory=dict)
    answers: tuple[Answer, ...] = ()


class Context:
    """What the sections share: the output folder, the scale (``report.shared.Scale``), the cells run
    so far, the rows of ``trials.csv`` and the time each group of cells took."""

    def __init__(
        self,
        out: Path,
        scale,
        force: bool,
        quick: bool,
        backend=None,
        formats=FIGURE_FORMATS,
        drawing: BackgroundDrawing | None = None,
    ):
        self.out, self.scale, self.force, self.quick = out, scale, force, quick
        self.formats = tuple(formats)  # the figures' file formats (PNG first: the report shows it)
        self.backend = backend  # where cells run (runs.backend.Backend); None: this machine's threads
        self.trial_tables: list[dict] = []  # per cell: one row per trial, as columns
        self.cell_rows: list[dict] = []  # one row per cell
        self.timings: dict[str, float] = {}  # seconds per group of cells or estimates, run once
        self.part = 0  # the report part (section) running now: its figures' drawing is counted to it
        self.drawing_seconds: dict[int, float] = {}  # per part: drawing and writing its figures
        # where figures are drawn: here by default; reproduce draws in a second process
        self.drawing = drawing if drawing is not None else BackgroundDrawing(run_here=True)
        self._memo: dict[str, Any] = {}

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, run once per reproduction however many sections ask for ``key``."""
        if key not in self._memo:
            start = time.perf_counter()
            self._memo[key] = compute()
            self.timings[key] = time.perf_counter() - start
        return self._memo[key]

    def cells(self, name: str, cells: list, cache: bool = True) -> dict:
        """Run ``cells`` (pairs ``(tag, config)``) once, with one progress bar, through the cell
        cache (``cache=False``: compute them in every run, keeping no file); returns ``{tag: RunResult}``."""
        return self.once(name, lambda: self._run(name, cells, cache))

    @property
    def cell_backend(self):
        """Where this run computes its cells: the :class:`~pgd_bench.runs.backend.Backend` it was
        given, or this machine's threads."""
        from ..runs.backend import Backend

        return self.backend if self.backend is not None else Backend()

    def _run(self, name, cells, cache):
        configs = [config for _, config in cells]
        computed = self.cell_backend.compute(configs, self.out / "cache", self.force, name, cache)
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
            if not FILE_STEM.fullmatch(stored[role]):  # figures.json would then be refused (read_figures)
                raise ValueError(f"figure {name!r}: table role {role!r} {NAME_RULE}")
            write_table(self.out, stored[role], columns, description.get(role, f"data of {name}"))
        figures = read_figures(self.out)
        figures[name] = {"tables": stored, "settings": json.loads(json.dumps(settings))}
        atomic_write_text(self.out / FIGURES_FILE, json.dumps(figures, indent=1, sort_keys=True) + "\n")
        key = self._figure_key(name, figures[name])
        files = None if self.force else self._reuse_figure(name, key)
        if files is None:
            part = self.part
            files = tuple(f"{name}.{ext}" for ext in self.formats)

            def drawn(seconds):
                self._keep_figure(key, files)
                self.drawing_seconds[part] = self.drawing_seconds.get(part, 0.0) + seconds

            self.drawing.submit(drawn, self.out, name, self.formats)
        return files

    def _figure_key(self, name, entry) -> str:
        """What a figure is drawn from: its ``figures.json`` entry (tables and settings), its saved
        tables' bytes, the drawing code and matplotlib's version."""
        import matplotlib  # imported by the drawing anyway; not at the top, for the command line's start-up

        digest = hashlib.sha256(f"{name}:{SOURCE_HASH}:{drawing_code_hash()}:{matplotlib.__version__}".encode())
        digest.update(json.dumps(entry, sort_keys=True).encode())
        for table in sorted(entry["tables"].values()):
            digest.update((self.out / TABLES_DIR / f"{table}.csv").read_bytes())
        return digest.hexdigest()[:20]

    def _reuse_figure(self, name, key):
        """The figure's files put back from the cache when it was drawn before from the same tables,
        settings and code (a rerun into the folder then draws nothing); None otherwise.

        Each cached file must have the SHA-256 its drawing recorded (``figure-KEY.json``): a cached
        image cut short or edited would otherwise be copied into the results as the figure, and
        embedded in ``report.html``, with nothing said. A damaged one is named and drawn again."""
        cache = self.out / "cache"
        cached = [cache / f"figure-{key}.{ext}" for ext in self.formats]
        if not all(path.is_file() for path in cached):
            return None
        digests = _figure_digests(cache / f"figure-{key}.json")
        contents = []
        for ext, path in zip(self.formats, cached):
            content = path.read_bytes()
            if digests.get(ext) != hashlib.sha256(content).hexdigest():
                notice(f"cache: {path} is not the figure that was drawn (damaged or edited, maybe through "
                       f"{name}.{ext}, which shares its bytes); drawing {name} again")  # fmt: skip
                return None
            contents.append(content)
        files = []
        for ext, path, content in zip(self.formats, cached, contents):
            atomic_link_or_copy(path, self.out / f"{name}.{ext}", content)
            files.append(f"{name}.{ext}")
        return tuple(files)

    def _keep_figure(self, key, files):
        """Keep a drawn figure's files in the cache, with their SHA-256 (written last: a record
        names only files already in place); as hard links to the figures beside the report where
        the file system allows (:func:`pgd_bench._files.atomic_link_or_copy`)."""
        cache = self.out / "cache"
        cache.mkdir(exist_ok=True)
        digests = {}
        for file in files:
            ext = file.rsplit(".", 1)[1]
            content = (self.out / file).read_bytes()
            atomic_link_or_copy(self.out / file, cache / f"figure-{key}.{ext}", content)
            digests[ext] = hashlib.sha256(content).hexdigest()
        path = cache / f"figure-{key}.json"
        # another format of the same figure drawn earlier keeps its digest
        atomic_write_text(path, json.dumps({**_figure_digests(path), **digests}, sort_keys=True) + "\n")


def _figure_digests(path) -> dict:
    """A cached figure's record, ``{format: SHA-256}``: empty when there is none (drawn before the
    digests were kept) or it cannot be read as one (damaged)."""
    try:
        digests = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return digests if isinstance(digests, dict) else {}


def draw_and_save(out, name, formats) -> float:
    """Draw figure ``name`` from what ``out`` saved and write its files; returns the seconds it took.
    Its drawer must be registered: its section's module imported."""
    start = time.perf_counter()
    save_figure(draw_saved(out, name), out, name, formats)
    return time.perf_counter() - start


class BackgroundDrawing:
    """Figures drawn and written in a second process while the sections go on computing.

    A quick reproduction drew its figures for 17 s on the main thread, with one core idle (the
    cells compute on threads; drawing is Python holding the GIL); a second process takes them off
    the critical path. A figure is drawn from its saved tables and settings, as ``pgd-bench plot``
    does, so the process needs nothing else; it starts with the first figure to draw (a rerun whose
    figures are all cached starts none). Its files (named at once) exist after :meth:`finish`,
    which waits for every figure and raises the first error; :meth:`close` stops the process
    without waiting (an interrupted or failed run). ``run_here = True`` draws in this process
    instead, at :meth:`submit` (a run with one figure, or no second core, gains nothing).

    ``draw`` is :func:`draw_and_save`, or a function of a module that imports the sections (whose
    modules register their drawers) and calls it: the second process imports that module.
    """

    def __init__(self, run_here: bool = False, draw: Callable[[Any, str, tuple], float] = draw_and_save):
        self.run_here = run_here
        self.draw = draw
        self._pool = None
        self._pending: list[tuple[Future, Callable[[float], None]]] = []

    def _start(self) -> None:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: a fork of this process, with the engine's threads running, is unsafe
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_drawing_process,
                initargs=(os.getpid(),),
            )

    def submit(self, done: Callable[[float], None], out, name, formats) -> None:
        """Draw ``name`` (:func:`draw_and_save`); ``done(seconds)`` is called once it is written."""
        if self.run_here:
            done(self.draw(out, name, formats))
            return
        self._start()
        self._pending.append((self._pool.submit(self.draw, out, name, formats), done))

    def finish(self) -> None:
        """Wait for every figure submitted, calling each ``done``; the first error is raised (the
        figures from it on stay pending, so that :meth:`close` then leaves without waiting)."""
        while self._pending:
            future, done = self._pending[0]
            seconds = future.result()
            self._pending.pop(0)
            done(seconds)

    def close(self) -> None:
        """Stop the process: figures not yet drawn are cancelled, the one being drawn is left.

        With every figure drawn (after :meth:`finish`), it waits for the process to end: a pool
        left with ``wait=False`` keeps its manager thread, which can race the interpreter's exit
        (CPython 3.11 printed ``OSError: [Errno 9] Bad file descriptor`` after a finished quick
        run once). Only a run that stops early (Ctrl-C, an error) leaves without waiting."""
        if self._pool is not None:
            self._pool.shutdown(wait=not self._pending, cancel_futures=True)
            self._pool = None
        self._pending = []


# how often the drawing process looks whether the run that started it is still there
PARENT_CHECK_S = 0.5


def _start_drawing_process(parent: int) -> None:
    """The drawing process's start: it ignores SIGINT, and it ends once ``parent`` (the run) has.

    Ctrl-C in a terminal reaches the whole process group: the run handles it (one line, exit 130,
    then close), the drawing process ignored it (else its traceback too). A run killed outright
    (``kill -9``, the out-of-memory killer) cannot close it: waiting for work on a queue that
    nothing would write to, it lived on, holding the run's stdout and stderr (a pipe reading them,
    ``pgd-bench reproduce | tee log``, never ended) and Python's resource tracker with it."""
    import multiprocessing

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the parent's id changes when it dies on POSIX (the child is adopted), never on Windows, where
    # the parent's sentinel (a handle on the parent process) tells instead
    run = multiprocessing.parent_process()

    def watch():
        while os.getppid() == parent and (run is None or run.is_alive()):
            time.sleep(PARENT_CHECK_S)
        os._exit(1)  # the run is gone (a figure being written leaves its temporary file, never a part)

    threading.Thread(target=watch, name="pgd-bench-parent-watch", daemon=True).start()


@functools.cache
def drawing_code_hash() -> str:
    """SHA-256 over this report package's modules, where the drawers live: the package's source
    hash leaves presentation modules out (an edit there does not recompile kernels), so a figure
    kept in the cache must be keyed by them as well, or an edited drawer would not be redrawn."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in sorted(here.rglob("*.py")):
        digest.update(path.relative_to(here).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def markdown_image(files, alt) -> str:
    """Markdown for the PNG among a section's files, then its caption, numbered as the figure's file
    is (``fig6_observations.png``: "Figure 6"), so that figures under a heading without a number
    (the observations, the theory, beyond the theorem) can be told apart and cited."""
    png = next(f for f in files if f.endswith(".png"))
    number = re.match(r"fig(\d+)_", Path(png).name)
    caption = f"Figure {number.group(1)}: {alt}" if number else alt
    return f"![{caption}]({png})\n\n*{caption}* (`{png}`)"


def plain_label(label: str) -> str:
    """A figure label with its mathtext as plain text, for the Markdown tables: ``$\\eta$`` -> ``eta``."""
    return re.sub(
        r"\$([^$]*)\$", lambda match: match.group(1).replace("\\", "").replace("{", "").replace("}", ""), label
    )


def success_ci(result):
    """A run's success rate with its 95% Wilson interval: ``(rate, low, high)``, fractions."""
    n = int(result.outcome.size)
    g = result.counts()["global"]
    low, high = wilson_interval(g, n)
    return g / n, low, high
