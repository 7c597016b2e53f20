"""Report section, figure 9: runtime ECDFs and the expected running time (aRT) of every method."""

from __future__ import annotations

import numpy as np

from ...model.teachers import TEACHERS
from ..context import Context, Section, markdown_image, plain_label
from ..figures import check_values, drawer, fraction, new_figure, panel_grid
from ..shared import FIG1_SERIES, KS, success_grid

ECDF_CELLS = (("alternating", 4), ("alternating", 8), ("alternating", 16), ("alternating", 32))


@drawer("fig9_runtime_ecdf")
def draw_runtime_ecdf(tables, settings):
    from matplotlib.lines import Line2D

    ecdf, cells = tables["ecdf"], tables["cells"]
    check_values(ecdf, "iteration", lambda v: np.isfinite(v) & (v >= 1), "an iteration >= 1, drawn on a log axis")
    check_values(ecdf, "fraction", fraction, "a fraction of the trials in [0, 1]")
    labels = {tag: label for tag, label, _ in settings["series"]}
    colors = {tag: color for tag, _, color in settings["series"]}
    panels = len(settings["cells"])
    fig = new_figure(figsize=(10, 3.6 * -(-panels // 2) + 1.0), layout="constrained")
    axes = panel_grid(fig, panels, sharey=True)
    for ax, (teacher, k) in zip(axes, settings["cells"]):
        for tag in labels:
            mine = (ecdf["teacher"] == teacher) & (ecdf["k"] == k) & (ecdf["series"] == tag)
            row = np.flatnonzero((cells["teacher"] == teacher) & (cells["k"] == k) & (cells["series"] == tag))[0]
            budget = cells["budget"][row]
            x = np.concatenate([[1], ecdf["iteration"][mine], [budget]])
            y = 100 * np.concatenate([[0], ecdf["fraction"][mine], [cells["success_rate"][row]]])
            never = cells["success_rate"][row] == 0  # a flat 0 would hide another method's: dashed, on top
            ax.step(
                x,
                y,
                where="post",
                color=colors[tag],
                lw=1.0 if never else 1.5,
                ls=(0, (3, 2)) if never else "-",
                zorder=3 if never else 2,
            )
            ax.plot(budget, y[-1], "|", color=colors[tag], ms=12, mew=2)  # the end of this method's budget
        ax.set_xscale("log")
        ax.set_ylim(-2, 102)
        ax.set_xlabel("iterations")
        ax.set_title(f"teacher $a^*$: {teacher}, $k = {k}$")
    for ax in axes[::2]:  # the left column
        ax.set_ylabel("trials that reached the global optimum (%)")
    handles = [Line2D([], [], color=colors[tag], lw=1.5, label=label) for tag, label in labels.items()]
    handles.append(Line2D([], [], ls="none", marker="|", color="grey", ms=12, mew=2, label="end of the budget"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3)
    fig.suptitle(f"Runtime distributions (ECDF over {settings['trials']} trials per method):\nthe share of trials that "
                 "reached the global optimum and stayed, by iteration")  # fmt: skip
    return fig


def _art_text(row) -> str:
    """aRT [bootstrap interval] in iterations, as the report prints it."""

    def iterations(value):
        return "∞" if not np.isfinite(value) else f"{value:.0f}" if value < 1e6 else f"{value:.3g}"

    if not np.isfinite(row["art"]):
        return "∞ (no success)"
    return f"{iterations(row['art'])} [{iterations(row['art_low'])}, {iterations(row['art_high'])}]"


def runtime(ctx: Context) -> Section:
    results = success_grid(ctx)
    series = [tag for tag, _, _, _ in FIG1_SERIES]
    ecdf: dict[str, list] = {"teacher": [], "k": [], "series": [], "iteration": [], "fraction": []}
    cells: dict[str, list] = {name: [] for name in ("teacher", "k", "series", "trials", "budget", "success_rate",
                                                    "art", "art_low", "art_high")}  # fmt: skip
    rows = {key: result.cell_row() for key, result in results.items()}  # each with its aRT bootstrap: once
    for teacher, k in ECDF_CELLS:
        for tag in series:
            r = results[(teacher, k, tag)]
            spent, solved = r.iterations_spent()
            times = np.sort(np.maximum(spent[solved], 1))
            ecdf["iteration"] += times.tolist()
            ecdf["fraction"] += (np.arange(1, times.size + 1) / r.outcome.size).tolist()
            for name, value in (("teacher", teacher), ("k", k), ("series", tag)):
                ecdf[name] += [value] * times.size
                cells[name].append(value)
            row = rows[(teacher, k, tag)]
            cells["budget"].append(r.config.total_epochs * r.config.iterations)
            for name in ("trials", "success_rate", "art", "art_low", "art_high"):
                cells[name].append(row[name])
    settings = {"series": [(tag, label, color) for tag, label, color, _ in FIG1_SERIES],
                "cells": [list(c) for c in ECDF_CELLS], "trials": ctx.scale.trials}  # fmt: skip
    files = ctx.figure(
        "fig9_runtime_ecdf",
        {"ecdf": ecdf, "cells": cells},
        settings,
        {"ecdf": "per cell and method, each success's iterations to reach the optimum and the share solved by then",
         "cells": "per cell and method: budget, success rate and aRT with its 95% bootstrap interval"},
    )  # fmt: skip
    header = " | ".join(plain_label(label) for _, label, _, _ in FIG1_SERIES)
    table = [f"| teacher | k | {header} |", "|---|---|" + "---|" * len(FIG1_SERIES)]
    for teacher in TEACHERS:
        for k in KS:
            table.append(
                f"| {teacher} | {k} | " + " | ".join(_art_text(rows[(teacher, k, tag)]) for tag in series) + " |"
            )
    gd, pgd = rows[("alternating", 8, "gd")], rows[("alternating", 8, "pgd")]
    text = f"""{markdown_image(files, "running time, the ECDF of iterations to success")}

How long each method takes, the benchmark way (COCO/BBOB): the *runtime distribution* (the share of
trials that reached the global optimum, and stayed, by each iteration, above) and the *expected
running time* aRT (below): every iteration spent by every trial, successful or not, divided by the
number of successes, with a 95% bootstrap interval over trials (1000 resamples). aRT is what a
restart strategy would pay per solution: on the alternating teacher, k = 8, GD succeeds in
{100 * gd["success_rate"]:.0f}% of trials after a median of {gd["median_iterations_to_success"]:.0f}
iterations (aRT {_art_text(gd)}), tuned P-GD in {100 * pgd["success_rate"]:.0f}% after a median
of {pgd["median_iterations_to_success"]:.0f} (aRT {_art_text(pgd)}): per solution,
restarting GD is {"cheaper" if gd["art"] < pgd["art"] else "dearer"} than annealing noise
in that cell. "Spent" counts a successful trial until
the iteration from which it stayed within `tol` of the optimum, every other trial its whole run
(a diverged one until it diverged). Data: `tables/fig9_runtime_ecdf__*.csv`, and every cell's aRT
in `tables/cells.csv`.

aRT in iterations [95% bootstrap interval], every cell of figure 1:

""" + "\n".join(table)
    return Section("Figure 9: running time, the benchmark way", text, files)
