"""Report section, figure 3: the phase diagram of P-GD's success over the noise radii."""

from __future__ import annotations

import numpy as np

from ...runs.config import resolve_config
from ..context import Context, Section, markdown_image, plain_label, success_ci
from ..figures import drawer, new_figure, success_heatmap


@drawer("fig3_phase_diagram")
def draw_phase_diagram(tables, settings):
    from matplotlib.patches import Patch, Rectangle

    cells = tables["cells"]
    rho_w, rho_a = settings["rho_w"], settings["rho_a"]
    fig = new_figure(figsize=(12, 5.4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, (schedule, title) in zip(axes, settings["schedules"]):
        positions = {row: (rho_a.index(float(cells["rho_a"][row])), rho_w.index(float(cells["rho_w"][row])))
                     for row in np.flatnonzero(cells["schedule"] == schedule)}  # fmt: skip
        im = success_heatmap(ax, cells, positions, (len(rho_a), len(rho_w)), decimals=1, say_diverged=True)
        ax.set_xticks(range(len(rho_w)), [f"{v:g}" for v in rho_w])
        ax.set_yticks(range(len(rho_a)), [f"{v:g}" for v in rho_a])
        ax.set_xlabel(r"initial noise radius on $w$, $\rho_w$ (the grid's values, evenly spaced)")
        ax.set_ylabel(r"initial noise radius on $a$, $\rho_a$")
        ax.set_title(title)
        for rw, ra, color, _ in settings["markers"]:
            if rw in rho_w and ra in rho_a:
                x, y = rho_w.index(rw), rho_a.index(ra)
                ax.add_patch(Rectangle((x - 0.46, y - 0.46), 0.92, 0.92, fill=False, ec=color, lw=2.5))
    handles = [Patch(fill=False, ec=color, lw=2.5, label=label) for _, _, color, label in settings["markers"]]
    handles.append(Patch(fc="#440154", hatch="///", ec="#D0D0D0", label="half or more of the trials diverged"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3, facecolor="#E8E8E8", frameon=True)
    fig.colorbar(im, ax=axes, label="P-GD success rate (%)")
    fig.suptitle("Noise phase diagram: P-GD success over the initial noise radii "
                 f"(alternating teacher, $k = 8$, {settings['trials']} trials per cell)")  # fmt: skip
    return fig


def figure_phase_diagram(ctx: Context) -> Section:
    scale = ctx.scale
    paper = resolve_config(algorithm="pgd", preset="paper")
    tuned = resolve_config(algorithm="pgd", preset="tuned")
    titles = {
        "paper": (f"paper schedule: $\\eta$ = {paper.eta_w:g} ×{paper.eta_decay:g}, noise ×{paper.noise_decay:g}, "
                  f"{paper.epochs} × {paper.iterations}"),
        "tuned": (f"tuned schedule: curvature-scaled steps, noise ×{tuned.noise_decay:g}, "
                  f"{tuned.epochs} × {tuned.iterations}"),
    }  # fmt: skip
    cells = [((rule, rw, ra), scale.end_config(algorithm="pgd", rho_w=rw, rho_a=ra, trials=scale.phase_trials,
                                               preset=rule))
             for rule in titles for rw in scale.phase_rho_w for ra in scale.phase_rho_a]  # fmt: skip
    results = ctx.cells("phase diagram", cells)
    table: dict[str, list] = {name: [] for name in ("schedule", "rho_w", "rho_a", "trials", "successes",
                                                    "success_rate", "wilson_low", "wilson_high", "n_spurious",
                                                    "n_diverged", "n_unconverged")}  # fmt: skip
    for (rule, rw, ra), _ in cells:
        row = results[(rule, rw, ra)].cell_row()
        for name, value in (("schedule", rule), ("rho_w", rw), ("rho_a", ra), ("successes", row["n_global"])):
            table[name].append(value)
        for name in ("trials", "success_rate", "wilson_low", "wilson_high", "n_spurious", "n_diverged",
                     "n_unconverged"):  # fmt: skip
            table[name].append(row[name])
    markers = [(paper.rho_w, paper.rho_a, "red", f"paper's noise ({paper.rho_w:g}, {paper.rho_a:g})"),
               (tuned.rho_w, tuned.rho_a, "white", f"tuned noise ({tuned.rho_w:g}, {tuned.rho_a:g})")]  # fmt: skip
    settings = {
        "schedules": list(titles.items()),
        "rho_w": [float(v) for v in scale.phase_rho_w],
        "rho_a": [float(v) for v in scale.phase_rho_a],
        "markers": markers,
        "trials": scale.phase_trials,
    }
    files = ctx.figure(
        "fig3_phase_diagram",
        {"cells": table},
        settings,
        {"cells": "one row per cell of the phase diagram: schedule, initial noise radii, counts"},
    )
    lines = []
    for rule, title in titles.items():
        lines.append(f"{plain_label(title)} (success %, rows rho_a, columns rho_w):\n")
        lines.append("| rho_a \\ rho_w | " + " | ".join(f"{v:g}" for v in scale.phase_rho_w) + " |")
        lines.append("|---" * (len(scale.phase_rho_w) + 1) + "|")
        for ra in scale.phase_rho_a:
            cells_txt = []
            for rw in scale.phase_rho_w:
                res = results[(rule, rw, ra)]
                diverged = res.counts()["diverged"]
                cells_txt.append(f"{100 * success_ci(res)[0]:.1f}" + (f" ({diverged} div.)" if diverged else ""))
            lines.append(f"| {ra:g} | " + " | ".join(cells_txt) + " |")
        lines.append("")
    text = f"""{markdown_image(files, "noise phase diagram, P-GD success over the initial noise")}

In this grid, with the paper's step sizes every run with rho_w >= 5 diverges: the noise is not the
problem, the step is. With curvature-scaled steps the same large noise escapes, and so does large
noise on `a` alone (the largest rho_a: the figure's top row, the tables' last): `a`-noise makes the
`w`-gradient noisy, as SGD's sampling does.

""" + "\n".join(lines)
    return Section("Figure 3: noise phase diagram", text, files)
