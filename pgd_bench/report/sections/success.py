"""Report section, figure 1: success rates of every method, teacher and k."""

from __future__ import annotations

from ...model.teachers import TEACHERS
from ..context import Context, Section, markdown_image, plain_label, success_ci
from ..figures import drawer, new_figure
from ..shared import FIG1_SERIES, KS, bar_rows, draw_bars, success_grid

# What the poster reports for figure 1's experiment, drawn as reference lines
PAPER_REPORTED = (
    (100.0, "paper: P-GD and SGD reach the optimum in 100%", "#2F6B3A"),
    (50.0, "paper: GD trapped with probability about 50%", "#4C72B0"),
)


@drawer("fig1_success_rates")
def draw_success_rates(tables, settings):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    bars, series, ks = tables["bars"], settings["series"], settings["ks"]
    colors = {tag: color for tag, _, color in series}
    teachers = settings["teachers"]
    fig = new_figure(figsize=(4 * len(teachers), 4.4), layout="constrained")
    axes = fig.subplots(1, len(teachers), sharey=True, squeeze=False)[0]
    for ax, teacher in zip(axes, teachers):
        draw_bars(ax, bars, teacher, ks, [tag for tag, _, _ in series], colors)
        for value, _, color in settings["paper"]:
            ax.axhline(value, color=color, lw=1.0, ls=(0, (4, 3)), zorder=0)
        ax.set_title(f"teacher $a^*$: {teacher}")
    axes[0].set_ylabel("trials reaching the global optimum (%)")
    handles = [Patch(color=color, label=label) for _, label, color in series]
    handles += [
        Line2D([], [], color=color, lw=1.0, ls=(0, (4, 3)), label=label) for _, label, color in settings["paper"]
    ]
    handles += [Line2D([], [], ls="none", marker="X", color="#C44E52", mec="black", mew=0.5, ms=6,
                       label="0%: every trial diverged"),
                Line2D([], [], ls="none", marker="o", mfc="white", color="#999999", mew=1.2, ms=5,
                       label="0%: no trial diverged, none succeeded")]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncol=4)
    fig.suptitle(f"Success rates, $p = 6$, {settings['trials']} random starts per bar, 95% Wilson intervals")
    return fig


def figure_success_rates(ctx: Context) -> Section:
    results = success_grid(ctx)
    series = [tag for tag, _, _, _ in FIG1_SERIES]
    bars = bar_rows(results, TEACHERS, KS, series)
    settings = {"series": [(tag, label, color) for tag, label, color, _ in FIG1_SERIES], "teachers": list(TEACHERS),
                "ks": list(KS), "trials": ctx.scale.trials, "paper": [list(p) for p in PAPER_REPORTED]}  # fmt: skip
    files = ctx.figure(
        "fig1_success_rates",
        {"bars": bars},
        settings,
        {"bars": "one row per bar of figure 1: a cell (teacher, k, series) and its success rate"},
    )
    header = " | ".join(plain_label(label) for _, label, _, _ in FIG1_SERIES)
    table = [f"| teacher | k | {header} |", "|---|---|" + "---|" * len(FIG1_SERIES)]
    for teacher in TEACHERS:
        for k in KS:
            cells_txt = []
            for tag, _, _, _ in FIG1_SERIES:
                r = results[(teacher, k, tag)]
                rate, low, high = success_ci(r)
                c = r.counts()
                extra = "".join(f", {c[name]} {name}" for name in ("spurious", "diverged", "unconverged") if c[name])
                cells_txt.append(f"{100 * rate:.1f}% [{100 * low:.1f}, {100 * high:.1f}]{extra}")
            table.append(f"| {teacher} | {k} | " + " | ".join(cells_txt) + " |")
    text = (
        f"{markdown_image(files, 'success rates')}\n\nSuccess rate [95% Wilson interval] per cell (data: "
        "`tables/fig1_success_rates__bars.csv`; every trial: `tables/trials.csv`):\n\n" + "\n".join(table)
    )
    return Section("Figure 1: success rates", text, files, {"results": results})
