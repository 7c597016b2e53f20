"""What the report's sections share: the :class:`Section` record, the :class:`Context` that runs
cells once through the cell cache, and the figure and table helpers.

:mod:`pgd_bench.reproduce` lists the sections; :mod:`pgd_bench.theory_report` adds one.
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._provenance import PACKAGE_VERSION
from .engine import OUTCOME_NAMES, RECORD_FIELDS
from .experiments import BASIN_NAMES, ProgressBar
from .results import atomic_write_bytes, run_cached
from .stats import wilson_interval

# outcome codes and record fields by name
OUTCOME = {name: code for code, name in enumerate(OUTCOME_NAMES)}
FIELD = {name: index for index, name in enumerate(RECORD_FIELDS)}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 130, "font.size": 10, "axes.grid": True, "grid.alpha": 0.3})
    return plt


def _save(fig, out: Path, name: str) -> tuple[str, ...]:
    """Write ``fig`` as ``name.png`` and ``name.svg`` into ``out``; returns the file names."""
    names = []
    for ext in ("png", "svg"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, bbox_inches="tight")
        atomic_write_bytes(out / f"{name}.{ext}", buffer.getvalue())
        names.append(f"{name}.{ext}")
    _plt().close(fig)
    return tuple(names)


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

    def __init__(self, out: Path, scale, force: bool, quick: bool):
        self.out, self.scale, self.force, self.quick = out, scale, force, quick
        self.rows: list[dict] = []
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
        bar = ProgressBar(f"{name:<22}", delay=0.0)
        total = sum(c.trials for _, c in cells)
        done = 0
        results = {}
        for tag, config in cells:
            results[tag] = run_cached(config, self.out / "cache", force=self.force)
            done += config.trials
            bar(done, total)
            self._collect(name, tag, results[tag])
        return results

    def _collect(self, name, tag, result):
        c = result.config
        final = result.records[:, -1]
        basin = result.basin()
        test_loss = result.test_loss()
        top, trace = result.sharpness()
        # every scalar setting of the resolved config, so a row says what ran without the cache
        # files (per-epoch lists and an explicit a_star are summarised by the config hash)
        settings = {key: value for key, value in c.to_dict().items() if not isinstance(value, list | dict)}
        settings = {key: ("" if value is None else value) for key, value in settings.items()}
        cell = tag if isinstance(tag, str) else "/".join(str(part) for part in tag)
        for i in range(result.outcome.size):
            self.rows.append(
                {
                    "stage": name,
                    "cell": cell,
                    **settings,
                    "trial": i,
                    "outcome": OUTCOME_NAMES[result.outcome[i]],
                    "stop_iteration": int(result.stop_iteration[i]),
                    "entered_at": int(result.entered_at[i]),
                    "basin": BASIN_NAMES[basin[i]],
                    "final_loss": float(test_loss[i]),
                    "train_loss": float(result.train_loss[i]),
                    "sharpness_top": float(top[i]),
                    "sharpness_trace": float(trace[i]),
                    "final_dist_w": float(final[i, FIELD["dist_w"]]),
                    "final_dist_a": float(final[i, FIELD["dist_a"]]),
                    "config_key": c.digest(),
                    "package_version": PACKAGE_VERSION,
                }
            )

    def save(self, fig, name: str) -> tuple[str, ...]:
        return _save(fig, self.out, name)


def _image(files, alt) -> str:
    """Markdown for the PNG among a section's files."""
    return f"![{alt}]({next(f for f in files if f.endswith('.png'))})"


def _rate(result):
    n = int(result.outcome.size)
    g = result.counts()["global"]
    low, high = wilson_interval(g, n)
    return g / n, low, high
