"""Report section, figure 5: which noise helps (on w, on a, both; ball or Gaussian; Langevin)."""

from __future__ import annotations

import numpy as np

from ...algorithms import ALGORITHMS
from ...model.teachers import TEACHERS
from ..context import Context, Section, markdown_image, success_ci
from ..figures import drawer, new_figure
from ..shared import KS, bar_rows, draw_bars, rate_range

# Figure 5's methods, each at the same budget of 60 epochs x 1000 iterations: (tag, label, colour,
# overrides). P-GD and Langevin are their tuned presets; SGD is its tuned preset stretched to the
# budget (steps x0.9 per epoch); GD with momentum is the best of beta in {0.5, 0.9, 0.97} x eta in
# {0.1, 0.5, 1.0} found on seed 0 (all gave the same rates: inertia alone does not escape).
WHICH_NOISE = (
    ("pgd", "P-GD: smoothing noise", ALGORITHMS["pgd"].color, dict(algorithm="pgd")),
    ("sgd", "SGD: sampling noise", ALGORITHMS["sgd"].color,
     dict(algorithm="sgd", epochs=60, iterations=1000, eta_decay=0.9)),
    ("langevin", "Langevin: additive noise", ALGORITHMS["langevin"].color, dict(algorithm="langevin")),
    ("momentum", "GD + momentum 0.9: no noise", ALGORITHMS["gd"].color,
     dict(algorithm="gd", momentum=0.9, eta=0.5, scale_steps=True, epochs=60, iterations=1000, eta_decay=0.95)),
)  # fmt: skip


@drawer("fig5_which_noise")
def draw_which_noise(tables, settings):
    from matplotlib.patches import Patch

    bars, series, ks, teachers = tables["bars"], settings["series"], settings["ks"], settings["teachers"]
    colors = {tag: color for tag, _, color in series}
    # one row per teacher (success, then iterations): the figure fits the page's width
    fig = new_figure(figsize=(11, 2.9 * len(teachers) + 1.2), layout="constrained")
    axes = fig.subplots(len(teachers), 2, sharey="col", squeeze=False)
    width = 0.8 / len(series)
    for row, teacher in enumerate(teachers):
        top, bottom = axes[row, 0], axes[row, 1]
        draw_bars(top, bars, teacher, ks, [tag for tag, _, _ in series], colors)
        top.set_title(f"teacher $a^*$: {teacher}: success")
        bottom.set_title(f"teacher $a^*$: {teacher}: iterations to success")
        for index, (tag, _, color) in enumerate(series):
            chosen = (bars["teacher"] == teacher) & (bars["series"] == tag)
            by_k = {int(k): m for k, m in zip(bars["k"][chosen], bars["median_iterations_to_success"][chosen])}
            x = np.arange(len(ks)) + (index - (len(series) - 1) / 2) * width
            # dots: on a log axis a bar's length means nothing
            bottom.plot(x, [by_k[k] for k in ks], "o", color=color, ms=6)
        bottom.set_yscale("log")
        bottom.set_xticks(np.arange(len(ks)), [f"$k = {k}$" for k in ks])
        bottom.grid(axis="x", visible=False)
    for row in range(len(teachers)):
        axes[row, 0].set_ylabel("reaching the optimum (%)")
        axes[row, 1].set_ylabel("median iterations\n(successful trials)")
    fig.legend(handles=[Patch(color=color, label=label) for _, label, color in series], loc="outside lower center",
               ncol=min(len(series), 3))  # fmt: skip
    fig.suptitle(f"Which noise escapes, at one budget ({settings['budget']} iterations), {settings['trials']} starts "
                 "per bar;\nright: the iteration from which successful trials stayed within tol")  # fmt: skip
    return fig


def which_noise(ctx: Context) -> Section:
    cells = []
    for teacher in TEACHERS:
        for k in KS:
            for tag, _, _, overrides in WHICH_NOISE:
                config = ctx.scale.end_config(teacher=teacher, k=k, trials=ctx.scale.comparison_trials, **overrides)
                cells.append(((teacher, k, tag), config))
    results = ctx.cells("which noise", cells)
    settings = {"series": [(tag, label, color) for tag, label, color, _ in WHICH_NOISE], "teachers": list(TEACHERS),
                "ks": list(KS), "trials": ctx.scale.comparison_trials, "budget": "60 × 1000"}  # fmt: skip
    bars = bar_rows(results, TEACHERS, KS, [tag for tag, _, _, _ in WHICH_NOISE])
    files = ctx.figure("fig5_which_noise", {"bars": bars}, settings,
                       {"bars": "one row per bar of figure 5: a cell (teacher, k, method), its success rate and "
                                "median iterations to success"})  # fmt: skip
    header = " | ".join(label for _, label, _, _ in WHICH_NOISE)
    table = [f"| teacher | k | {header} |", "|---|---|" + "---|" * len(WHICH_NOISE)]
    summary = []
    for teacher in TEACHERS:
        for k in KS:
            texts = []
            for tag, _, _, _ in WHICH_NOISE:
                rate, low, high = success_ci(results[(teacher, k, tag)])
                texts.append(f"{100 * rate:.1f}% [{100 * low:.1f}, {100 * high:.1f}], "
                             f"median {results[(teacher, k, tag)].median_iterations_to_success():.0f} it.")  # fmt: skip
            table.append(f"| {teacher} | {k} | " + " | ".join(texts) + " |")
    for tag, label, _, _ in WHICH_NOISE:
        rates = [success_ci(results[(t, k, tag)])[0] for t in TEACHERS for k in KS]
        medians = [results[(t, k, tag)].median_iterations_to_success() for t in TEACHERS for k in KS]
        summary.append(f"- **{label}**: {rate_range(rates)} success across the "
                       f"cells; successful trials settle after a median of {np.nanmedian(medians):.0f} iterations "
                       "(median over cells).")  # fmt: skip
    text = (f"{markdown_image(files, 'which noise escapes')}\n\nP-GD perturbs the point where the gradient is taken, "
            "SGD samples the data, Langevin adds Gaussian noise to the update, and heavy-ball momentum adds "
            "inertia but no noise: each with a tuned schedule, on the same starts (seed), at the same budget.\n\n"
            + "\n".join(summary) + "\n\n" + "\n".join(table))  # fmt: skip
    return Section("Figure 5: which noise escapes, at what cost", text, files, {"results": results})
