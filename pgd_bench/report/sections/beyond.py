"""Report section: beyond the theorem. Overlapping patches (stride ``s < p``), the optima GD finds
there by itself, and noisy labels (train and test loss part ways).

The poster's theorem covers the non-overlapping CNN only; this section asks whether what was
measured there carries over: the s = p presets run unchanged at s < p (out of sample: tuned on
the non-overlapping model at seed 0), the stationary points GD reaches are found, polished and
classified by :func:`pgd_bench.runs.optima.find_optima` (cached like the cells), and the
finite-sample runs of the observations are repeated with label noise.
"""

from __future__ import annotations

import numpy as np

from ...algorithms import ALGORITHMS
from ...runs.optima import KIND_NAMES, NEAR_FOUND, cached_optima, nearest_found
from ..context import OUTCOME, Answer, Context, Section, graded, interval_above, markdown_image, success_ci
from ..figures import check_values, drawer, new_figure, positive
from ..shared import FULL, gap_interval, rate_range

STRIDES = (1, 2, 3, 6)  # p = 6: s = 6 is the poster's model, the others overlap
OVERLAPPING_STRIDE = 3  # one of them: every s < p runs the one overlapping-patch engine
BEYOND_KS = (4, 8, 16)
BEYOND_TEACHER = "alternating"


def sigmas(scale) -> tuple:
    """The label noises of this run's noisy-label rows: 0 (the observations' own cells), then
    ``scale.label_noises``."""
    return (0.0, *scale.label_noises)


SIGMAS = sigmas(FULL)  # the full run's label noises (a run's own: sigmas(scale))


# (tag, label, overrides): every method at its s = p preset, unchanged
BEYOND_SERIES = (
    ("gd", "GD (paper's eta 0.1)", dict(algorithm="gd")),
    ("sgd", "SGD (tuned)", dict(algorithm="sgd")),
    ("pgd", "P-GD (tuned)", dict(algorithm="pgd")),
    ("psgd", "perturbed SGD (tuned)", dict(algorithm="psgd")),
    ("langevin", "Langevin (tuned)", dict(algorithm="langevin")),
)
# the noisy-label runs: the observations' finite-sample configs (k = 8, alternating teacher)
NOISY_SERIES = ("gd", "sgd", "pgd", "langevin")


@drawer("fig10_beyond")
def draw_beyond(tables, settings):
    cells, noisy = tables["cells"], tables["noisy"]
    check_values(noisy, "samples", positive, "a training-set size > 0, drawn on a log axis")
    check_values(noisy, "sigma", lambda v: v >= 0, "a label noise sigma >= 0")
    series, ks, strides = settings["series"], settings["ks"], settings["strides"]
    fig = new_figure(figsize=(11, 8.4), layout="constrained")
    upper, lower = fig.subfigures(2, 1, hspace=0.04)
    top = upper.subplots(1, len(ks), sharey=True)
    for ax, k in zip(top, ks):
        for index, (tag, label, color) in enumerate(series):
            chosen = (cells["k"] == k) & (cells["series"] == tag)
            order = np.argsort(cells["stride"][chosen])
            x = cells["stride"][chosen][order] + (index - (len(series) - 1) / 2) * 0.08
            rate = 100 * cells["success_rate"][chosen][order]
            err = [rate - 100 * cells["wilson_low"][chosen][order], 100 * cells["wilson_high"][chosen][order] - rate]
            ax.errorbar(x, rate, yerr=err, marker="o", ms=4, lw=1.2, capsize=2, color=color, label=label)
        ax.set_xticks(strides, [f"{s}" + (" = p" if s == settings["p"] else "") for s in strides])
        ax.set_xlabel("stride s (s < p: patches overlap)")
        ax.set_title(f"$k = {k}$")
        ax.set_ylim(-4, 104)
    top[0].set_ylabel("trials reaching the teacher (%)")
    handles, labels = top[0].get_legend_handles_labels()
    upper.legend(handles, labels, loc="outside lower center", ncol=len(series), fontsize=8)
    upper.suptitle(f"Overlapping patches: success of the s = p presets ($p = {settings['p']}$, {settings['trials']} "
                   "starts per point, 95% Wilson intervals)")  # fmt: skip
    bottom = lower.subplots(1, len(settings["sigmas"]), sharey=True)
    for ax, sigma in zip(bottom, settings["sigmas"]):
        for tag, label, color in settings["noisy_series"]:
            chosen = (noisy["series"] == tag) & (noisy["sigma"] == sigma)
            order = np.argsort(noisy["samples"][chosen])
            n = noisy["samples"][chosen][order]
            ax.plot(
                n,
                noisy["test_global"][chosen][order] + sigma**2,
                "o-",
                color=color,
                label=f"{label}: test + $\\sigma^2$",
            )
            ax.plot(n, noisy["train_global"][chosen][order], "x:", color=color, label=f"{label}: train")
        ax.set_xscale("log", base=2)
        ax.set_xticks(settings["sample_sizes"], [str(n) for n in settings["sample_sizes"]])
        ax.set_xlabel("training-set size N")
        ax.set_title(f"label noise $\\sigma = {sigma:g}$")
    bottom[0].set_ylabel("mean loss, trials in the teacher's basin")
    handles, labels = bottom[0].get_legend_handles_labels()
    lower.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8)
    lower.suptitle("Noisy labels (s = p, k = 8): test loss on a fresh noisy label (population loss against the "
                   "clean teacher + $\\sigma^2$)\nagainst train loss (the noisy set)")  # fmt: skip
    return fig


PICTURE_K = 16  # the optima pictured in figure 11: k = 16 shows the most of them (shifts by 1 to 3 strides)
PICTURE_ROWS = 4  # at most this many optima per stride (the teacher, then by GD's share)


def _check_picture_rows(rows, p, k) -> None:
    """Figure 11's table as saved (a hand-edited one gave a 30 GiB allocation or bars moved silently)."""
    optimum, index = rows["optimum"], rows["index"]
    if optimum.size == 0 or optimum.min() < 0 or optimum.max() >= PICTURE_ROWS:
        raise ValueError(f"column optimum: expected 0 to {PICTURE_ROWS - 1}")
    if not set(rows["part"]) <= {"w", "a"}:
        raise ValueError("column part: expected w or a")
    size = np.where(rows["part"] == "w", p, k)
    if np.any(index < 0) or np.any(index >= size):
        raise ValueError(f"column index: expected 0 to p - 1 = {p - 1} for w, to k - 1 = {k - 1} for a")
    if not np.all(np.isfinite(rows["value"])) or not np.all(np.isfinite(rows["loss"])):
        raise ValueError("columns value and loss: expected finite numbers")
    if np.any(np.abs(rows["value"]) > 1e6) or np.any((rows["share"] < 0) | (rows["share"] > 1)):
        raise ValueError("columns value and share: out of range (|value| <= 1e6, 0 <= share <= 1)")


@drawer("fig11_optima")
def draw_optima(tables, settings):
    rows = tables["optima"]
    strides, p = settings["strides"], settings["p"]
    _check_picture_rows(rows, p, settings["k"])
    count = {s: int(np.max(rows["optimum"][rows["stride"] == s], initial=-1)) + 1 for s in strides}
    n_rows = max(count.values())
    fig = new_figure(figsize=(3.2 * len(strides), 1.9 * n_rows + 1.0), layout="constrained")
    axes = fig.subplots(n_rows, len(strides), squeeze=False, sharey=True)
    teacher = {part: rows["value"][(rows["stride"] == strides[0]) & (rows["optimum"] == 0) & (rows["part"] == part)]
               for part in ("w", "a")}  # fmt: skip
    for column, s in enumerate(strides):
        for row in range(n_rows):
            ax = axes[row, column]
            chosen = (rows["stride"] == s) & (rows["optimum"] == row)
            if not chosen.any():
                ax.set_axis_off()
                continue
            for part, offset, color in (("w", 0, "#4C72B0"), ("a", p + 1, "#DD8452")):
                mine = chosen & (rows["part"] == part)
                x = offset + rows["index"][mine]
                ax.bar(x, rows["value"][mine], color=color, width=0.8, label=f"{part} at the optimum")
                ax.plot(offset + np.arange(teacher[part].size), teacher[part], "_", color="black", ms=7, mew=1.5,
                        label=f"{part}* (teacher)")  # fmt: skip
            ax.axvline(p, color="0.6", lw=0.8, ls=":")
            ax.axhline(0, color="0.3", lw=0.6)
            first = np.flatnonzero(chosen)[0]
            ax.set_title(f"s = {s}{' = p' if s == p else ''}: {rows['kind'][first]}, loss {rows['loss'][first]:.2g}\n"
                         f"GD's share {100 * rows['share'][first]:.0f}%", fontsize=8.5)  # fmt: skip
            ticks = ["$w_1$", f"$w_{p}$", "$a_1$", f"$a_{{{settings['k']}}}$"]
            ax.set_xticks([0, p - 1, p + 1, p + settings["k"]], ticks, fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8)
    fig.suptitle(f"The optima GD finds ($k = {settings['k']}$, $p = {p}$, {settings['teacher']} teacher): filter w "
                 "(blue) and output weights a (orange) at each,\nthe teacher's as black ticks; columns: stride, rows: "
                 "the teacher, then by GD's share of starts", fontsize=10)  # fmt: skip
    return fig


def _optima_picture_table(optima, k) -> dict:
    """Figure 11's table: one row per entry of w and a at each optimum pictured (the teacher and the
    points reached by more than 0.5% of GD's starts, at most :data:`PICTURE_ROWS` per stride)."""
    table = {"stride": [], "k": [], "optimum": [], "kind": [], "loss": [], "share": [], "part": [], "index": [],
             "value": []}  # fmt: skip
    for s in STRIDES:
        arrays = optima[(s, k)]
        # find_optima lists the teacher first
        spurious = [i for i in range(1, arrays["loss"].size)
                    if arrays["kind"][i] != KIND_NAMES.index("global") and arrays["share"][i] > 0.005]  # fmt: skip
        shown = [0, *spurious][:PICTURE_ROWS]
        for row, i in enumerate(shown):
            for part in ("w", "a"):
                for index, value in enumerate(arrays[part][i]):
                    values = (s, k, row, KIND_NAMES[int(arrays["kind"][i])], float(arrays["loss"][i]),
                              float(arrays["share"][i]), part, index, float(value))  # fmt: skip
                    for key, v in zip(table, values):
                        table[key].append(v)
    return table


def _unstable_gd(results, optima, p) -> str:
    """The overlapping cells where GD's step is past its stability limit at the teacher (eta times the
    top eigenvalue there above 2), in words, with GD's success in each: it oscillates about the teacher
    there, and comes within tol only where the oscillation stays small."""
    cells = []
    for (s, k), arrays in optima.items():
        eta = float(results[(s, k, "gd")].config.schedules()["eta_w"][0])
        if s < p and eta * float(arrays["top"][0]) > 2.0:
            rate = success_ci(results[(s, k, "gd")])[0]
            cells.append(
                f"({s}, {k}): eta lambda = {eta * float(arrays['top'][0]):.2f}, GD {100 * rate:.1f}% within tol"
            )
    if not cells:
        return "GD's step is below its stability limit 2 / lambda at the teacher in every overlapping cell."
    return (f"GD's step is past its stability limit 2 / lambda at the teacher (lambda its top eigenvalue, in the "
            f"table of optima below) in {len(cells)} overlapping cell{'s' if len(cells) > 1 else ''}, (s, k) = "
            f"{'; '.join(cells)}: there GD oscillates about the teacher instead of settling on it, and reaches "
            "tol only where the oscillation stays small (eta lambda just above 2).")  # fmt: skip


def _shift_order(optima, p) -> str:
    """Whether, in every (s, k) with s < p, the spurious minima GD reaches more often are the lower
    ones (ordered by share, their losses rise), in words with the counts."""
    pairs = 0
    rising = 0
    for (s, _), arrays in optima.items():
        if s >= p:
            continue
        chosen = [i for i in range(arrays["loss"].size)
                  if arrays["kind"][i] != KIND_NAMES.index("global") and arrays["share"][i] > 0.005]  # fmt: skip
        chosen.sort(key=lambda i: -arrays["share"][i])
        for first, second in zip(chosen, chosen[1:]):
            pairs += 1
            rising += bool(arrays["loss"][second] > arrays["loss"][first])
    if pairs == 0:
        return "Every (s, k) with s < p has one spurious minimum GD reaches in more than 0.5% of starts (m = 1)."
    if rising == pairs:
        return (f"Where GD reaches more than one, the ones it reaches less often lie higher ({pairs} of {pairs} "
                "pairs, ordered by share: the loss rises as the share falls).")  # fmt: skip
    return (f"Where GD reaches more than one, a rarer one lies higher in {rising} of {pairs} pairs (ordered by share): "
            "how often GD ends at a shift does not follow its loss.")  # fmt: skip


def _optima(ctx: Context):
    """Per ``(s, k)``: the optima GD reaches, as arrays, from the cache when found before."""
    scale = ctx.scale

    def compute():
        out = {}
        for s in STRIDES:
            for k in BEYOND_KS:
                config = scale.config(algorithm="gd", stride=s, k=k, teacher=BEYOND_TEACHER)
                out[(s, k)] = cached_optima(config, ctx.out / "cache", scale.optima_starts, force=ctx.force)
        return out

    return ctx.once("beyond: optima found", compute)


def _looks_like(w, s) -> str:
    """What a filter is, read from its largest entry: ``w*`` (``e_1``), ``-w*``, or ``w*`` shifted by
    ``m`` strides (``e_(1 + m s)``: it reads what the teacher reads in patch ``j + m``)."""
    i = int(np.argmax(np.abs(w)))
    if abs(w[i]) < 0.9:
        return "mixed"
    sign = "" if w[i] > 0 else "-"
    if i == 0:
        return f"{sign}w*"
    if i % s == 0:
        return f"{sign}w* shifted by {i // s} stride{'s' if i // s > 1 else ''} (w ~ e_{i + 1})"
    return f"{sign}e_{i + 1}"


def _near_found_minima(result, arrays) -> tuple[int, int]:
    """Of a cell's trials that missed the teacher (not diverged): how many, and how many ended at a
    spurious stationary point GD found for its ``(s, k)`` (:func:`~pgd_bench.runs.optima.nearest_found`:
    within :data:`~pgd_bench.runs.optima.NEAR_FOUND` of it, nearer to it than to any other found
    point, the teacher included)."""
    missed = (result.outcome != OUTCOME["global"]) & (result.outcome != OUTCOME["diverged"])
    at = nearest_found(result, arrays)
    spurious = (at >= 0) & (arrays["kind"][np.maximum(at, 0)] != KIND_NAMES.index("global"))
    return int(missed.sum()), int(np.sum(missed & spurious))


def _describe(s, k, arrays) -> str:
    """One table row per optimum GD reaches in more than 0.5% of starts (the global one always)."""
    rows = []
    for i in range(arrays["loss"].size):
        kind = KIND_NAMES[int(arrays["kind"][i])]
        if kind != "global" and arrays["share"][i] <= 0.005:
            continue
        rows.append(
            f"| {s} | {k} | {kind} | {arrays['loss'][i]:.3g} | {100 * arrays['share'][i]:.1f}% "
            f"[{100 * arrays['share_low'][i]:.1f}, {100 * arrays['share_high'][i]:.1f}] | {arrays['top'][i]:.3g} | "
            f"{arrays['trace'][i]:.3g} | {arrays['cos_w'][i]:+.3f} | {arrays['a_sum'][i]:+.3g} | "
            f"{', '.join(f'{v:+.2f}' for v in arrays['w'][i])} | {_looks_like(arrays['w'][i], s)} |"
        )
    return "\n".join(rows)


def _gap_text(gap) -> str:
    """A gap and its interval (:func:`gap_interval`) as ``+0.5 [+0.4, +0.6]``, ``-`` for none."""
    return "-" if gap is None else f"{gap[0]:+.3g} [{gap[1]:+.3g}, {gap[2]:+.3g}]"


def beyond_the_theorem(ctx: Context) -> Section:
    scale = ctx.scale
    p = scale.config(algorithm="gd").p
    cells = [((s, k, tag), scale.end_config(**overrides, stride=s, k=k, teacher=BEYOND_TEACHER,
                                            trials=scale.beyond_trials))
             for s in STRIDES for k in BEYOND_KS for tag, _, overrides in BEYOND_SERIES]  # fmt: skip
    results = ctx.cells("beyond: overlapping patches", cells)
    noisy_cells = []
    for sigma in sigmas(scale):
        for n in scale.sample_sizes:
            for tag in NOISY_SERIES:
                overrides = dict(BEYOND_SERIES[[t for t, _, _ in BEYOND_SERIES].index(tag)][2])
                # sigma 0: the observations' own cells; with noise, noisy_trials (the full run's P-GD and
                # Langevin at N = 1024, 60 epochs of full-batch steps, took 590 of its 2057 s at 200)
                extra = (
                    dict(label_noise=sigma, trials=scale.noisy_trials)
                    if sigma > 0
                    else dict(trials=scale.finite_trials)
                )
                noisy_cells.append(((tag, n, sigma), scale.config(**overrides, samples=n, **extra)))
    noisy = ctx.cells("beyond: noisy labels", noisy_cells)
    optima = _optima(ctx)

    color = {tag: ALGORITHMS[tag].color for tag, _, _ in BEYOND_SERIES}
    cell_table = {"stride": [], "k": [], "series": [], "success_rate": [], "wilson_low": [], "wilson_high": [],
                  "n_diverged": [], "trials": [], "n_missed": [], "n_near_minimum": []}  # fmt: skip
    for (s, k, tag), r in results.items():
        rate, low, high = success_ci(r)
        missed, near = _near_found_minima(r, optima[(s, k)])
        values = (s, k, tag, rate, low, high, r.counts()["diverged"], r.outcome.size, missed, near)
        for key, value in zip(cell_table, values):
            cell_table[key].append(value)
    noisy_table = {"series": [], "samples": [], "sigma": [], "basin_global": [], "basin_spurious": [],
                   "train_global": [], "test_global": [], "train_spurious": [], "test_spurious": []}  # fmt: skip
    for (tag, n, sigma), r in noisy.items():
        basins = r.basins()
        train, test = r.by_basin(r.train_loss)["by_basin"], r.by_basin(r.test_loss())["by_basin"]
        values = (tag, n, sigma, basins["global"], basins["spurious"], train["global"], test["global"],
                  train["spurious"], test["spurious"])  # fmt: skip
        for key, value in zip(noisy_table, values):
            noisy_table[key].append(np.nan if value is None else value)
    labels = {tag: label for tag, label, _ in BEYOND_SERIES}
    settings = {"series": [(tag, label, color[tag]) for tag, label, _ in BEYOND_SERIES], "ks": list(BEYOND_KS),
                "strides": list(STRIDES), "p": p, "trials": scale.beyond_trials, "sigmas": list(sigmas(scale)),
                "sample_sizes": list(scale.sample_sizes),
                "noisy_series": [(tag, labels[tag], color[tag]) for tag in NOISY_SERIES]}  # fmt: skip
    files = ctx.figure("fig10_beyond", {"cells": cell_table, "noisy": noisy_table}, settings,
                       {"cells": "one row per cell of the overlapping-patch grid: (stride, k, method), its success "
                                 "rate with its 95% Wilson interval",
                        "noisy": "one row per noisy-label run: (method, N, sigma), trials per basin, mean train "
                                 "(noisy set) and test (population, clean teacher) loss per basin"})  # fmt: skip
    picture = ctx.figure("fig11_optima", {"optima": _optima_picture_table(optima, PICTURE_K)},
                         {"strides": list(STRIDES), "p": p, "k": PICTURE_K, "teacher": BEYOND_TEACHER},
                         {"optima": f"one row per entry of w and a at each optimum GD finds at k = {PICTURE_K} (the "
                                    "teacher first, then the points reached by more than 0.5% of starts)"})  # fmt: skip
    text, answers = _beyond_text(ctx, p, results, noisy, optima, files, picture)
    return Section("Beyond the theorem: overlapping patches and noisy labels", text, (*files, *picture),
                   {"results": results, "noisy": noisy}, answers)  # fmt: skip


def _beyond_text(ctx, p, results, noisy, optima, files, picture):
    scale = ctx.scale
    header = " | ".join(label for _, label, _ in BEYOND_SERIES)
    table = [f"| s | k | {header} |", "|---|---|" + "---|" * len(BEYOND_SERIES)]
    for s in STRIDES:
        for k in BEYOND_KS:
            texts = []
            for tag, _, _ in BEYOND_SERIES:
                r = results[(s, k, tag)]
                rate, low, high = success_ci(r)
                diverged = r.counts()["diverged"]
                texts.append(f"{100 * rate:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"
                             + (f", {diverged} diverged" if diverged else ""))  # fmt: skip
            table.append(f"| {s}{' = p' if s == p else ''} | {k} | " + " | ".join(texts) + " |")

    def rates(tag, overlapping):
        return [success_ci(results[(s, k, tag)]) for s in STRIDES for k in BEYOND_KS if (s < p) == overlapping]

    summary = []
    for tag, label, _ in BEYOND_SERIES:
        over, base = rates(tag, True), rates(tag, False)
        summary.append(f"- **{label}**: {rate_range([r for r, _, _ in over])} at s < p, against "
                       f"{rate_range([r for r, _, _ in base])} at s = p.")  # fmt: skip

    def spurious_losses(overlapping):
        return [float(arrays["loss"][i]) for (s, k), arrays in optima.items() if (s < p) == overlapping
                for i in range(arrays["loss"].size)
                if arrays["kind"][i] != KIND_NAMES.index("global") and arrays["share"][i] > 0.005]  # fmt: skip

    over_losses, base_losses = spurious_losses(True), spurious_losses(False)
    shift_order = _shift_order(optima, p)
    unstable = _unstable_gd(results, optima, p)
    depths = ""
    if over_losses and base_losses:
        depths = (f"These minima nearly fit the teacher (loss {min(over_losses):.2f} to {max(over_losses):.2f}, "
                  f"against {min(base_losses):.2f} to {max(base_losses):.2f} for -w* at s = p): the noise that "
                  "makes the -w* basin vanish at s = p leaves them in place.")  # fmt: skip
    trapped = []  # where the misses at s < p ended
    for tag, label, _ in BEYOND_SERIES:
        pairs = [_near_found_minima(results[(s, k, tag)], optima[(s, k)]) for s in STRIDES for k in BEYOND_KS if s < p]
        missed, near = sum(m for m, _ in pairs), sum(n for _, n in pairs)
        if missed:
            trapped.append(f"{label} {near} of {missed}")
    pgd_over = rates("pgd", True)
    gd_over = rates("gd", True)
    pgd_floor = min(low for _, low, _ in pgd_over)
    pgd_min = min(rate for rate, _, _ in pgd_over)
    gd_mean = float(np.mean([rate for rate, _, _ in gd_over]))
    carries = pgd_floor >= 0.95
    # cells where P-GD's interval lies above GD's (or GD is at 100% already); "some" was P-GD's worst cell
    # against GD's average, which compared unlike things and counted GD's unstable-step cells
    order = [interval_above(pr[1:], gh[1:]) for pr, gh in zip(pgd_over, gd_over)]  # (rate, low, high)
    above = sum(bool(o) or gh[0] == 1.0 for o, gh in zip(order, gd_over))
    noise_helps = above == len(pgd_over)

    optima_rows = ["| s | k | kind | loss | GD starts ending there | top eigenvalue | trace | w . w* | sum of a | w | "
                   "looks like |", "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    spurious_found = {}
    for s in STRIDES:
        for k in BEYOND_KS:
            arrays = optima[(s, k)]
            optima_rows.append(_describe(s, k, arrays))
            kinds = [KIND_NAMES[int(x)] for x in arrays["kind"]]
            spurious_found[(s, k)] = [i for i, kind in enumerate(kinds) if kind != "global"
                                      and arrays["share"][i] > 0.005]  # fmt: skip
    orthogonal = [arrays["cos_w"][i] for (s, k), arrays in optima.items() if s < p for i in spurious_found[(s, k)]]
    shifted = sum(
        _looks_like(arrays["w"][i], s).startswith("w* shifted")
        for (s, k), arrays in optima.items() if s < p for i in spurious_found[(s, k)]
    )  # fmt: skip
    structure = (
        f"At s < p every spurious minimum GD reaches is of one kind: {shifted} of the {len(orthogonal)} have the "
        "teacher's filter shifted by whole strides (w close to e_(1 + m s): the student's patch j reads what "
        f"the teacher reads in patch j + m), nearly orthogonal to w* (w . w* between {min(orthogonal):+.3f} and "
        f"{max(orthogonal):+.3f}), where the poster's model has -w*"
        if orthogonal
        else "At s < p GD reached no spurious point in more than 0.5% of starts"
    )

    noisy_rows = ["| method | N | sigma | trials global / spurious | train (global) | test, clean teacher (global) | "
                  "test + sigma^2 (global) | gap: test + sigma^2 - train (global) [95% CI] | test, clean (spurious) |",
                  "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    gaps = {}
    for (tag, n, sigma), r in noisy.items():
        basins = r.basins()
        train, test = r.by_basin(r.train_loss)["by_basin"], r.by_basin(r.test_loss())["by_basin"]
        noisy_test = None if test["global"] is None else test["global"] + sigma**2
        gaps[(tag, n, sigma)] = gap = gap_interval(r)

        def fmt(x):
            return "-" if x is None else f"{x:.3g}"

        noisy_rows.append(f"| {dict((t, lab) for t, lab, _ in BEYOND_SERIES)[tag]} | {n} | {sigma:g} | "
                          f"{basins['global']} / {basins['spurious']} | {fmt(train['global'])} | "
                          f"{fmt(test['global'])} | {fmt(noisy_test)} | {_gap_text(gap)} | "
                          f"{fmt(test['spurious'])} |")  # fmt: skip
    gd_gaps = [gaps[("gd", n, sigmas(scale)[-1])] for n in scale.sample_sizes]
    # shrinking: the smallest set's gap above the largest's, their 95% intervals apart
    shrinking = all(g is not None for g in gd_gaps) and interval_above(gd_gaps[0][1:], gd_gaps[-1][1:]) is True
    gaps_above_0 = all(g is not None and g[1] > 0 for g in gd_gaps)
    n_small, n_large = scale.sample_sizes[0], scale.sample_sizes[-1]

    answers = (
        Answer(f"beyond the theorem (overlapping patches, s < p = {p}): noise still helps",
               f"tuned P-GD {100 * pgd_min:.1f}% at worst (lower bound {100 * pgd_floor:.1f}%) over "
               f"{len(pgd_over)} cells; its interval above GD's in {above} of them (GD {100 * gd_mean:.1f}% on "
               "average)",
               # undecided where no cell has P-GD above and some overlap GD's (they might be above)
               graded(carries and noise_helps, above > 0,
                      decided=above > 0 or all(o is False for o in order))),
        Answer("noisy labels: train and test loss part ways, less so with more data",
               f"GD, sigma {sigmas(scale)[-1]:g}, teacher's basin: test + sigma^2 - train {_gap_text(gd_gaps[0])} at "
               f"N = {n_small}, "
               f"{_gap_text(gd_gaps[-1])} at N = {n_large}",
               graded(shrinking and gd_gaps[0][1] > 0, gaps_above_0,
                      # undecided where no gap lies below 0 but some interval holds 0
                      decided=gaps_above_0 or any(g is not None and g[2] < 0 for g in gd_gaps))),
    )  # fmt: skip
    verdicts = (
        "The s = p presets carry over: tuned P-GD stays at or above 95% (its interval's lower end) in every "
        "overlapping cell."
        if carries
        else f"The s = p presets do not fully carry over: tuned P-GD's worst overlapping cell is {100 * pgd_min:.1f}% "
        f"(lower end {100 * pgd_floor:.1f}%); no schedule was re-tuned for s < p here."
    )
    verdicts += (
        " Noise helps beyond the theorem: in every overlapping cell P-GD's rate is above GD's interval (or GD is "
        "already at 100%)."
        if noise_helps
        else f" Noise does not help in every overlapping cell: P-GD's interval clears GD's in {above} of "
        f"{len(pgd_over)}."
    )
    verdicts += (
        ' Verdict: "noise still helps" *holds* where the presets carry over and P-GD\'s interval lies above '
        "GD's in every cell (a cell where GD is at 100% already counts as above), *holds partly* where it does "
        "in some, *does not hold here* where it lies below GD's in every cell, and is *inconclusive* otherwise."
    )
    sized = ""
    if ctx.quick:
        sized = (f" Quick-sized: {scale.beyond_trials} starts per cell and {scale.optima_starts} GD starts per "
                 "optimum search (the full run: 200 and 400); the intervals are wide accordingly.")  # fmt: skip
    text = f"""{markdown_image(files, "beyond the theorem: overlapping patches and noisy labels")}

The poster's theorem is for non-overlapping patches. Here the patches of one input of
(k - 1) s + p entries are taken every s entries (p = {p}, s in {", ".join(map(str, STRIDES))}; s = p is the
poster's model), with the exact closed-form loss of docs/mathematics.md, "Overlapping patches". Every
method runs its s = p preset unchanged, so these are **out-of-sample** numbers for the presets: they were
tuned on the non-overlapping model at seed 0, and are measured here on another landscape (seed
{scale.seed}). Teacher: {BEYOND_TEACHER}; {scale.beyond_trials} starts per cell, 95% Wilson intervals. With
no spurious optimum known in closed form at s < p, success is a trial within tol of the teacher.{sized}

{chr(10).join(summary)}

{verdicts}

Where the misses at s < p ended: of the trials that missed the teacher (not diverged), {"; ".join(trapped)}
ended within {NEAR_FOUND:g} of one of the spurious minima GD finds for that (s, k) (the table of optima below:
the teacher's filter shifted by whole strides), nearer to it than to any other point found; the
rest were still moving when the budget ended. {unstable} {depths}

{chr(10).join(table)}

**The optima GD finds by itself** (`pgd-bench optima`: {scale.optima_starts} GD starts per (s, k), every
endpoint polished by Riemannian Newton to a gradient norm below 1e-10, clustered, and classified by the
Riemannian Hessian's spectrum on the tangent space; rows: the teacher and every point reached by more than
0.5% of starts). {structure}; at s = p the spurious point is Du et al.'s (-w*, a_bar), w . w* = -1.

{chr(10).join(row for row in optima_rows if row)}

{markdown_image(picture, "the optima GD finds at overlapping patches")}

What they look like (figure 11, k = {PICTURE_K}): at s < p a spurious minimum GD finds is the teacher's
filter moved by m whole strides (w ~ e_(1 + m s): in patch j it reads what the teacher reads in patch
j + m), with a_j close to a*_(j + m) and its last m entries near 0: the student reproduces every term
of the teacher's output but the first m, and pays for those. {shift_order} At s = p no shift reads
another patch's entries, and the only spurious point left is Du et al.'s (-w*, a_bar).

**Noisy labels** (s = p, k = 8, {BEYOND_TEACHER} teacher, {scale.noisy_trials} trials per row with noise and
{scale.finite_trials} without, each trial its own
set of N inputs with labels y = f*(x) + sigma e): the test loss is the population loss against the
**clean** teacher; a fresh noisy test label adds sigma^2 = {", ".join(f"{s * s:g}" for s in sigmas(scale))} to it, and
the gap is that noisy test loss minus the train loss (on the noisy set). With sigma = 0 the teacher fits
every set exactly, so train and test differ only through the basin; with noise a method that settles on
its set's minimiser fits part of the noise (a train loss below sigma^2), one whose last steps still move
(SGD) need not, and the empirical minimiser moves off the teacher (by about
sigma sqrt(tr M^-1 / N), docs/mathematics.md, "Finite-sample training"), and the gap opens, shrinking
as N grows. Means over the trials in each basin; the sigma = 0 rows are the observations' own runs.
Verdict: the claim *holds* where GD's gap at the smallest N has its interval above 0 and lies above the
largest N's (intervals apart), *holds partly* where GD's gap has its interval above 0 at every N, *does
not hold here* where some N's gap lies below 0, and is *inconclusive* otherwise.

{chr(10).join(noisy_rows)}
"""
    return text, answers
