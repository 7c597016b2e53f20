"""Report section, figure 2: convergence curves (distance to the optimum against iterations)."""

from __future__ import annotations

import numpy as np

from ..context import FIELD, OUTCOME, Context, Section, markdown_image
from ..figures import drawer, new_figure
from ..shared import ALGORITHM_LABELS, COLORS, convergence_runs, power_of_ten

CURVE_FLOOR = 1e-12  # distances reach exactly 0.0; below this a curve ends with a marker


def _curve_rows(groups) -> dict:
    """Median and 10-90% band over trials of ``||w - w*||`` and ``||a - a*||``, per group and checkpoint."""
    rows: dict[str, list] = {name: [] for name in ("group", "quantity", "iteration", "median", "p10", "p90", "trials")}
    for group, r, mask in groups:
        for quantity in ("dist_w", "dist_a"):
            values = r.records[mask][:, :, FIELD[quantity]]
            median = np.nanmedian(values, axis=0)
            p10, p90 = np.nanpercentile(values, [10, 90], axis=0)
            count = np.sum(np.isfinite(values), axis=0)
            for column, data in (("iteration", r.checkpoints), ("median", median), ("p10", p10), ("p90", p90),
                                 ("trials", count)):  # fmt: skip
                rows[column].extend(data.tolist())
            rows["group"].extend([group] * r.checkpoints.size)
            rows["quantity"].extend([quantity] * r.checkpoints.size)
    return rows


@drawer("fig2_convergence")
def draw_convergence(tables, settings):
    curves, floor = tables["curves"], settings["floor"]
    fig = new_figure(figsize=(13, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    names = {"dist_w": r"$\|w - w^*\|$", "dist_a": r"$\|a - a^*\|$"}
    for ax, quantity in zip(axes, ("dist_w", "dist_a")):
        for group, label, color, style in settings["groups"]:
            chosen = (curves["group"] == group) & (curves["quantity"] == quantity)
            if not chosen.any():
                continue
            it, med = curves["iteration"][chosen], curves["median"][chosen]
            lo, hi = curves["p10"][chosen], curves["p90"][chosen]
            shown = med >= floor
            below = np.flatnonzero(~shown & np.isfinite(med))
            line = np.where(shown, med, np.nan)
            if below.size:  # the line runs down to the floor where the median first falls below it (GD's
                line[below[0]] = floor  # escaped median, 5e-9 then 1e-35, drew as a lone marker)
            ax.plot(np.where(np.isfinite(line), it, np.nan), line, style, color=color,
                    label=f"{label} ($n = {settings['trials'][group]}$)")  # fmt: skip
            ax.fill_between(it, np.maximum(lo, floor), np.maximum(hi, floor), where=hi >= floor, color=color,
                            alpha=0.15, lw=0)  # fmt: skip
            if below.size:  # the median reaches 0 (or below the floor) there: the curve ends with a marker
                ax.plot(it[below[0]], floor, "v", color=color, ms=7)
        ax.set_xscale("log")  # GD converges in hundreds of iterations, P-GD anneals over tens of thousands
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor / 3)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"{names[quantity]}: median over trials, 10-90% band")
        ax.set_title(f"Convergence of {names[quantity]}")
        epochs = ax.secondary_xaxis("top")
        ticks = [e for e in settings["epoch_ticks"] if e <= settings["epochs"]]
        epochs.set_xticks([e * settings["epoch_length"] for e in ticks], [str(e) for e in ticks])
        epochs.xaxis.set_minor_locator(_null_locator())
        epochs.set_xlabel("P-GD epoch (noise and step sizes decay at each)", fontsize=8)
    axes[0].plot([], [], "v", color="grey", label=f"median below {power_of_ten(floor)} from here on")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    fig.suptitle("Teacher alternating, $k = 8$, $p = 6$: GD split by the basin it ended in; other methods, "
                 "all trials")  # fmt: skip
    return fig


def _null_locator():
    from matplotlib.ticker import NullLocator

    return NullLocator()


def figure_convergence(ctx: Context) -> Section:
    results = convergence_runs(ctx)
    gd = results["gd"]
    groups = [
        ("gd_escaped", gd, gd.outcome == OUTCOME["global"]),
        ("gd_trapped", gd, gd.outcome == OUTCOME["spurious"]),
    ]
    groups += [(alg, results[alg], np.ones(results[alg].outcome.size, bool)) for alg in ("sgd", "pgd", "psgd")]
    styles = [("gd_escaped", "GD, escaped", COLORS["gd"], "-"), ("gd_trapped", "GD, trapped", COLORS["gd"], "--")]
    styles += [(alg, ALGORITHM_LABELS[alg], COLORS[alg], "-") for alg in ("sgd", "pgd", "psgd")]
    pgd = results["pgd"].config
    settings = {"groups": styles, "trials": {group: int(mask.sum()) for group, _, mask in groups},
                "floor": CURVE_FLOOR, "epochs": pgd.epochs, "epoch_length": pgd.iterations,
                "epoch_ticks": [1, 2, 5, 10, 20, 60]}  # fmt: skip
    files = ctx.figure(
        "fig2_convergence",
        {"curves": _curve_rows(groups)},
        settings,
        {"curves": "median and 10-90% band of the distances to the optimum, per group and checkpoint"},
    )
    text = (
        f"{markdown_image(files, 'convergence')}\n\nDistances to the global optimum along the runs of the alternating "
        f"teacher, k = 8 ({settings['trials']['pgd']} trials per method): the median and the 10-90% band over "
        "trials at each checkpoint; GD split by the basin it ended in (its trapped trials stay at the spurious "
        "optimum's distance); the top axis marks P-GD's epochs, where noise and steps decay. A curve ends with a "
        "triangle where its median falls below 1e-12. Data: `tables/fig2_convergence__curves.csv`."
    )
    return Section("Figure 2: convergence", text, files, {"results": results})
