"""The sweep's figure: success over a grid of one or two varying settings, drawn from its cells table."""

from __future__ import annotations

import numpy as np

from .figures import check_success_cells, drawer, new_figure, success_heatmap

# axis labels in the report's notation for the keys that have one
MATH_LABELS = {"rho_w": r"$\rho_w$", "rho_a": r"$\rho_a$", "eta": r"$\eta$", "eta_w": r"$\eta_w$", "eta_a": r"$\eta_a$",
               "k": "$k$", "p": "$p$", "batch": "batch $B$", "samples": "training-set size $N$"}  # fmt: skip


@drawer("sweep_success")
def draw_sweep_success(tables, settings):
    cells = tables["cells"]
    check_success_cells(cells)
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
    trials = sorted({int(t) for t in cells["trials"]})
    per_cell = f"{trials[0]} trials per cell" if len(trials) == 1 else f"{trials[0]} to {trials[-1]} trials per cell"
    ax.set_title(f"Success over the sweep ({per_cell})")
    return fig
