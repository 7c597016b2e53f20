"""Report section, figure 6: the poster's observations table, with basins, sharpness and finite samples."""

from __future__ import annotations

import numpy as np

from ...algorithms import ALGORITHMS
from ...model.landscape import curvature_scale
from ...model.teachers import TEACHERS
from ...runs.config import resolve_config
from ...runs.result import BASIN_NAMES
from ...stats import wilson_interval
from ..context import (
    FIELD,
    Answer,
    Context,
    Section,
    graded,
    interval_above,
    markdown_image,
    plain_label,
    success_ci,
)
from ..figures import check_values, drawer, new_figure
from ..shared import KS, convergence_runs, gap_interval, power_of_ten

# The poster's observations table, row by row: (tag, label, overrides, what the poster says: optimum
# reached, generalization, noise level), then the controls that separate the noise from the step.
OBSERVATION_ROWS = (
    ("gd", "GD ($\\eta$ 0.1)", dict(algorithm="gd"), "sharp / bad / none"),
    ("sgd_small", "SGD, very small constant step ($\\eta$ 0.01, batch 4)",
     dict(algorithm="sgd", preset="paper", eta=0.01, eta_decay=1.0), "sharp / bad / very small"),
    ("sgd_paper", "SGD, paper's annealing ($\\eta$ 0.1 ×0.8, batch 4)", dict(algorithm="sgd", preset="paper"),
     "flat / good / stagewise decreasing"),
    ("sgd", "SGD, tuned annealing", dict(algorithm="sgd"), ""),
    ("pgd", "P-GD, tuned noise annealing", dict(algorithm="pgd"), ""),
    ("psgd", "perturbed SGD, tuned", dict(algorithm="psgd"), ""),
    ("langevin", "Langevin, tuned", dict(algorithm="langevin"), ""),
)  # fmt: skip


# GD on one training set shared by every trial (``shared_data``): the spread over trials is then the
# starts' alone, not the data's
SHARED_DATA_ROWS = (
    ("gd_shared", "GD ($\\eta$ 0.1), one set shared by all trials", dict(algorithm="gd", shared_data=True), ""),
)


OBSERVATION_SHORT = {"gd": "GD", "sgd_small": "SGD, small step", "sgd_paper": "SGD, paper", "sgd": "SGD, tuned",
                     "pgd": "P-GD", "psgd": "perturbed SGD", "langevin": "Langevin"}  # fmt: skip


# the methods' own colours (their records), and two variants of SGD in lighter and grey tones
OBSERVATION_COLORS = {**{name: ALGORITHMS[name].color for name in ("gd", "sgd", "pgd", "psgd", "langevin")},
                      "sgd_small": "#64B5CD", "sgd_paper": "#8C8C8C"}  # fmt: skip


# the population rows' records are read only for the gradient noise of three epochs (its mean over
# their checkpoints): 5 checkpoints an epoch for the 1000-iteration rows (every 100 iterations, 10 an
# epoch, made these cells half of a quick run's 55 MB of cache), the default 4 for the 400-iteration ones
RECORDS_PER_EPOCH = 5


def _stable_w_step_controls(scale, trials):
    """P-GD's tuned schedule with the w-step capped where GD is stable at the global optimum
    (tangent curvature ``||a*||^2``: ``eta_w < 2 / ||a*||^2``), and GD on P-GD's budget and steps
    without the noise: together they separate what the noise does from what the large step does."""
    tuned = resolve_config(algorithm="pgd")
    a_star = tuned.teacher_arrays()[1]
    per_k = curvature_scale(tuned.k)  # the curvature scaling that scale_steps applies
    stable_eta_w = 1.9 / float(a_star @ a_star) / per_k
    steps = dict(epochs=tuned.epochs, iterations=tuned.iterations, eta_w=tuned.eta_w, eta_a=tuned.eta_a,
                 eta_decay=tuned.eta_decay, scale_steps=True)  # fmt: skip
    return (
        [
            (
                "pgd_stable_w",
                scale.sparse_config(RECORDS_PER_EPOCH, algorithm="pgd", eta_w=stable_eta_w, trials=trials),
            ),
            ("gd_pgd_steps", scale.sparse_config(RECORDS_PER_EPOCH, algorithm="gd", trials=trials, **steps)),
        ],
        stable_eta_w * per_k,
        tuned.eta_w * per_k,
    )


def _mean_by_basin(result, values) -> str:
    groups = result.by_basin(values)["by_basin"]
    return " / ".join("-" if groups[b] is None else f"{groups[b]:.3g}" for b in ("global", "spurious"))


def _noise_by_phase(result) -> str:
    """Mean gradient noise over trials in the first, middle and last epoch."""
    c = result.config
    epoch = (result.checkpoints - 1) // c.iterations
    noise = result.records[:, :, FIELD["noise"]]
    total = int(epoch.max()) + 1
    means = []
    for e in (0, total // 2, total - 1):
        values = noise[:, epoch == e]
        values = values[np.isfinite(values)]
        means.append(f"{values.mean():.2g}" if values.size else "-")
    return " → ".join(means)


# label noise for the generalization rows: y = f*(x) + sigma e (the beyond section's largest sigma; where
# its noisy-label runs have as many trials as these, as in the quick run, its GD cells are these); the
# poster's three rows only, where it names a generalization
LABEL_SIGMA = 1.0
NOISY_ROWS = ("gd", "sgd_small", "sgd_paper")


def observation_runs(ctx: Context) -> dict:
    """The table's cells: population runs (tag), finite-sample runs ((tag, N)) and, for the poster's
    rows, finite-sample runs with noisy labels ((tag, N, sigma))."""
    scale = ctx.scale
    conv = convergence_runs(ctx)
    population = [(tag, scale.sparse_config(RECORDS_PER_EPOCH, **overrides, trials=scale.convergence_trials))
                  for tag, _, overrides, _ in OBSERVATION_ROWS if tag not in conv]  # fmt: skip
    controls, _, _ = _stable_w_step_controls(scale, scale.convergence_trials)
    finite = [((tag, n), scale.config(**overrides, samples=n, trials=scale.finite_trials))
              for n in scale.sample_sizes for tag, _, overrides, _ in OBSERVATION_ROWS + SHARED_DATA_ROWS]  # fmt: skip
    results = dict(conv)
    results.update(ctx.cells("observations", population + controls))
    noisy = [((tag, n, LABEL_SIGMA), scale.config(**overrides, samples=n, trials=scale.finite_trials,
                                                   label_noise=LABEL_SIGMA))
             for n in scale.sample_sizes for tag, _, overrides, _ in OBSERVATION_ROWS if tag in NOISY_ROWS]  # fmt: skip
    results.update(ctx.cells("finite samples", finite + noisy))
    return results


def _noisy_generalization(results, scale) -> tuple[list[str], str, Answer]:
    """The generalization rows with noisy labels (table lines) and what they say of the poster's
    'GD and small-step SGD generalize badly, the paper's SGD well', in words and as an answer."""
    lines = [
        "| method | N | in the teacher's basin [95% CI] | escaped / trapped | train loss (noisy set), escaped "
        "| test loss (clean teacher), escaped | gap: test + sigma^2 - train, escaped [95% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {tag: label for tag, label, _, _ in OBSERVATION_ROWS}
    gaps = {}
    for tag in NOISY_ROWS:
        for n in scale.sample_sizes:
            r = results[(tag, n, LABEL_SIGMA)]
            b = r.basins()
            # not the success rate: the noisy set's minimiser lies off the teacher, often beyond tol
            rate = b["global"] / r.outcome.size
            low, high = wilson_interval(b["global"], int(r.outcome.size))
            train = r.by_basin(r.train_loss)["by_basin"]["global"]
            test = r.by_basin(r.test_loss())["by_basin"]["global"]
            gaps[(tag, n)] = gap = gap_interval(r)
            lines.append(
                f"| {plain_label(labels[tag])} | {n} | {100 * rate:.1f}% [{100 * low:.1f}, {100 * high:.1f}] | "
                f"{b['global']} / {b['spurious']} | {'-' if train is None else f'{train:.3g}'} | "
                f"{'-' if test is None else f'{test:.3g}'} | "
                + ("- |" if gap is None else f"{gap[0]:.3g} [{gap[1]:.3g}, {gap[2]:.3g}] |")
            )  # fmt: skip
    better, worse, tied = 0, 0, 0  # the paper's SGD against GD and small-step SGD, per N
    for n in scale.sample_sizes:
        mine = gaps[("sgd_paper", n)]
        for other in ("gd", "sgd_small"):
            theirs = gaps[(other, n)]
            if mine is None or theirs is None:
                continue
            above = interval_above(mine[1:], theirs[1:])  # (gap, low, high): the smaller gap is better
            if above is False:
                better += 1
            elif above:
                worse += 1
            else:
                tied += 1
    total = better + worse + tied
    words = (f"With labels y = f*(x) + {LABEL_SIGMA:g} e the gap is a real measurement (the table below, escaped "
             f"trials only, so that the basin does not decide it): the paper's SGD has the smaller gap in {better} "
             f"of {total} comparisons with GD and small-step SGD (same N, 95% intervals apart), the larger in "
             f"{worse}, and the intervals overlap in {tied}. The claim *holds* where the gap is smaller in every "
             "comparison, *holds partly* where it is in some, *does not hold here* where it is larger in every "
             "one, and is *inconclusive* where it is smaller in none and some intervals overlap.")  # fmt: skip
    verdict = Answer(
        f"Generalization with noisy labels (sigma {LABEL_SIGMA:g}): the paper's SGD generalizes better than GD and "
        "small-step SGD",
        f"smaller train-test gap (escaped trials, 95% intervals apart) in {better} of {total} comparisons, larger in "
        f"{worse}, overlapping in {tied}",
        comparison_verdict(better, worse, tied),
    )  # fmt: skip
    return lines, words, verdict


def comparison_verdict(better: int, worse: int, tied: int) -> str:
    """The verdict on "the paper's SGD generalizes better" from its comparisons (95% intervals of
    the gap apart, or overlapping): *holds* where its gap is smaller in every one, *holds partly*
    where in some, *does not hold here* where it is larger in every one decided and none is left
    undecided, *inconclusive* where none is smaller and some overlap (they might be)."""
    total = better + worse + tied
    if total == 0:
        return "not measured"
    return graded(better == total, better > 0, decided=better > 0 or tied == 0)


POSTER_MARKERS = {"gd": "o", "sgd_small": "s", "sgd_paper": "^"}  # figure 6: the poster's three rows
DODGE = (-1, 0, 1, -2, 2, -3, 3)  # figure 6's shifts, row by row: the poster's three rows centred on their tick


@drawer("fig6_observations")
def draw_observations(tables, settings):
    losses, sharp = tables["losses"], tables["sharpness"]
    check_values(losses, "samples", lambda v: np.isfinite(v) & (v >= 0), "a training-set size >= 0 (0: the population)")
    check_values(sharp, "top_eigenvalue", np.isfinite, "a finite number (a row per basin that trials ended in)")
    floor = settings["floor"]
    fig = new_figure(figsize=(13, 5.0), layout="constrained")
    ax_n, ax_s = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    sizes = np.array(settings["sample_sizes"], dtype=float)
    infinity = sizes.max() * 4.0  # where the population runs (N = infinity) are drawn
    rows = settings["rows"]
    for index, (tag, label, color) in enumerate(rows):
        mine = losses["method"] == tag
        finite = mine & (losses["samples"] > 0)
        population = mine & (losses["samples"] == 0)
        n = losses["samples"][finite].astype(float)
        test = np.append(losses["test_loss"][finite], losses["test_loss"][population])
        # the poster's three rows end at the same mean loss (each about half trapped): drawn one beside
        # the other (a small shift along the log axis) and hollow, each its own marker, or they hide
        dodge = 1.07 ** DODGE[index % len(DODGE)]
        poster = POSTER_MARKERS.get(tag)
        style = dict(marker=poster, mfc="none", mew=1.5, ms=8, zorder=5) if poster else dict(marker="o")
        ax_n.plot(np.append(n, infinity) * dodge, np.maximum(test, floor), "-", color=color, label=label, **style)
        ax_n.plot(n * dodge, np.maximum(losses["train_loss"][finite], floor), "x:", color=color, alpha=0.7,
                  zorder=style.get("zorder", 2))  # fmt: skip
    ax_n.set_xscale("log")
    ax_n.set_yscale("log")
    ax_n.set_xticks(list(sizes) + [infinity], [f"{v:g}" for v in sizes] + ["$\\infty$"])
    ax_n.minorticks_off()
    ax_n.set_xlabel("training-set size $N$ (each trial its own set; $\\infty$: the population)")
    ax_n.set_ylabel(f"mean over trials (below {power_of_ten(floor)} drawn at it)")
    ax_n.set_title("Test loss (markers, solid) and train loss (x, dotted): means over all trials, both basins")
    ax_n.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    tags = [tag for tag, _, _ in settings["rows"]]
    x = np.arange(len(tags))
    for offset, basin, marker in ((-0.15, "global", "o"), (0.15, "spurious", "s")):
        values = [sharp["top_eigenvalue"][(sharp["method"] == tag) & (sharp["basin"] == basin)] for tag in tags]
        values = np.array([v[0] if v.size else np.nan for v in values])
        ax_s.plot(x + offset, values, marker, ls="none", ms=8, label=f"ended in the {basin} basin")
    optima = settings["optima"]
    ax_s.axhline(optima["global"], color="#55A868", lw=0.8, ls="--", label=f"global optimum: {optima['global']:.3g}")
    ax_s.axhline(optima["spurious"], color="#C44E52", lw=0.8, ls="--",
                 label=f"spurious optimum: {optima['spurious']:.3g}")  # fmt: skip
    ax_s.set_xticks(x, [OBSERVATION_SHORT[tag] for tag in tags], rotation=30, fontsize=8, ha="right")
    ax_s.grid(axis="x", visible=False)
    ax_s.set_ylabel(r"top eigenvalue of the Riemannian Hessian, $\lambda_{\max}$")
    ax_s.set_title("Sharpness at the end, mean by basin (population runs)")
    ax_s.legend(fontsize=7)
    fig.suptitle("Alternating teacher, $k = 8$, $p = 6$")
    return fig


def observations(ctx: Context) -> Section:
    """The observations table (figure 6) with basins, sharpness, finite samples and the controls.

    Long (about 140 lines) because most of it is the section's prose, a template filled with the
    measured values in the order a reader meets them; the computations it needs are the helpers above.
    """
    scale = ctx.scale
    results = observation_runs(ctx)
    _, stable_step, tuned_step = _stable_w_step_controls(scale, scale.convergence_trials)
    a_star = results["gd"].config.teacher_arrays()[1]
    from ...model.sharpness import optimum_sharpness

    optima = optimum_sharpness(*results["gd"].config.teacher_arrays())
    lines = [
        "| method | poster: optimum / generalization / noise | success [95% CI] | escaped / trapped "
        "| test loss, escaped / trapped | top Hessian eigenvalue, escaped / trapped | trace, escaped / trapped "
        "| gradient noise, first → middle → last epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [(tag, label, poster) for tag, label, _, poster in OBSERVATION_ROWS] + [
        ("pgd_stable_w", f"control: P-GD tuned, w-step {stable_step:.3g} x0.95/epoch (stable at the optimum)", ""),
        ("gd_pgd_steps", f"control: GD on P-GD's budget and steps (w-step {tuned_step:.3g} x0.95/epoch), no noise", ""),
    ]  # fmt: skip
    for tag, label, poster in rows:
        r = results[tag]
        rate, low, high = success_ci(r)
        b = r.basins()
        top, trace = r.sharpness()
        diverged = f" ({b['diverged']} diverged)" if b["diverged"] else ""
        lines.append(
            f"| {plain_label(label)} | {poster or '-'} | {100 * rate:.1f}% [{100 * low:.1f}, {100 * high:.1f}] | "
            f"{b['global']} / {b['spurious']}{diverged} | "
            f"{_mean_by_basin(r, r.test_loss())} | {_mean_by_basin(r, top)} | {_mean_by_basin(r, trace)} | "
            f"{_noise_by_phase(r)} |"
        )
    finite_lines = [
        "| method | N | success [95% CI] | escaped / trapped | train loss, escaped / trapped "
        "| test loss, escaped / trapped | gap (test - train), all trials | distance to the population optimum, "
        "escaped (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    w_star = results["gd"].config.teacher_arrays()[0]
    curves = {}
    gd_distance = 0.0  # the farthest escaped GD trial from the population optimum, over every N
    for tag, label, _, _ in OBSERVATION_ROWS + SHARED_DATA_ROWS:
        for n in scale.sample_sizes:
            r = results[(tag, n)]
            rate, low, high = success_ci(r)
            b = r.basins()
            escaped = r.basin() == BASIN_NAMES.index("global")
            test = r.test_loss()
            dist = np.sqrt(np.sum((r.w[escaped] - w_star) ** 2, axis=1) + np.sum((r.a[escaped] - a_star) ** 2, axis=1))
            if tag == "gd" and escaped.any():
                gd_distance = max(gd_distance, float(dist.max()))
            curves.setdefault(tag, []).append((n, r.by_basin(test)["mean"], r.by_basin(r.train_loss)["mean"]))
            finite_lines.append(
                f"| {plain_label(label)} | {n} | {100 * rate:.1f}% [{100 * low:.1f}, {100 * high:.1f}] | "
                f"{b['global']} / {b['spurious']} | {_mean_by_basin(r, r.train_loss)} | {_mean_by_basin(r, test)} | "
                f"{r.by_basin(test - r.train_loss)['mean']:.2g} | "
                + (f"{np.median(dist):.3g} |" if escaped.any() else "- |")
            )  # fmt: skip

    losses: dict[str, list] = {"method": [], "samples": [], "test_loss": [], "train_loss": []}
    sharp: dict[str, list] = {"method": [], "basin": [], "top_eigenvalue": [], "trace": []}
    for tag, _, _, _ in OBSERVATION_ROWS:
        population = results[tag]
        for n, test, train in [*curves[tag], (0, population.by_basin(population.test_loss())["mean"], None)]:
            losses["method"].append(tag)
            losses["samples"].append(n)  # 0: the population run (infinite data)
            losses["test_loss"].append(np.nan if test is None else test)
            losses["train_loss"].append(np.nan if train is None else train)
        top, trace = population.sharpness()
        for basin in ("global", "spurious"):
            t, tr = population.by_basin(top)["by_basin"][basin], population.by_basin(trace)["by_basin"][basin]
            if t is not None:
                sharp["method"].append(tag)
                sharp["basin"].append(basin)
                sharp["top_eigenvalue"].append(t)
                sharp["trace"].append(tr)
    settings = {"rows": [(tag, label, OBSERVATION_COLORS[tag]) for tag, label, _, _ in OBSERVATION_ROWS],
                "sample_sizes": list(scale.sample_sizes), "floor": 1e-12,
                "optima": {"global": optima["global"]["top"], "spurious": optima["spurious"]["top"]}}  # fmt: skip
    files = ctx.figure("fig6_observations", {"losses": losses, "sharpness": sharp}, settings,
                       {"losses": "mean test and train loss over the trials that did not diverge, per method and "
                                  "training-set size (samples 0: the population run)",
                        "sharpness": "mean top eigenvalue and trace of the Riemannian Hessian at the end, per "
                                     "method and basin (population runs)"})  # fmt: skip

    gd, paper_sgd, pgd = results["gd"], results["sgd_paper"], results["pgd"]
    largest = results[("gd", scale.sample_sizes[-1])]
    gd_trapped = largest.by_basin(largest.test_loss())["by_basin"]["spurious"]
    aa = float(a_star @ a_star)

    image = markdown_image(files, "the poster's observations, measured: losses by set size, sharpness by basin")
    intro = f"""{image}

Population runs (infinite data: the exact gradient, or fresh Gaussian batches), alternating teacher,
k = 8, {scale.convergence_trials} trials per row. *Escaped / trapped*: the basin each trial ended in,
the nearer optimum in the squared joint distance `||w - w_opt||^2 + ||a - a_opt||^2` whether or
not it came within `tol` ({gd.config.tol:g} on that squared distance), so a run hovering near the
spurious optimum counts as trapped. Losses and sharpness are means over each group, never a median
over a bimodal population. *Sharpness*: the top eigenvalue and the trace of the Riemannian Hessian
of L on the sphere x R^k at the final point. *Gradient noise*: the mean of `||P (g - grad L)||^2`
over trials, `g` the gradient the step used and `grad L` the population gradient at the iterate
(the noise in the update itself is `eta^2` times it: SGD's sampling noise is the same at eta 0.01
and 0.1, its effect on the iterate 100 times smaller).
"""
    poster = f"""**What the poster says and what this model shows.** The paper's step-size-annealing SGD
(eta 0.1 x0.8, batch 4) succeeds in {100 * success_ci(paper_sgd)[0]:.1f}% of trials here, against GD's
{100 * success_ci(gd)[0]:.1f}%: about as often, not the poster's 100%. And "bad = sharp" does not hold in
this model: the spurious optimum is the *flatter* one. At the global optimum the Riemannian Hessian
has top eigenvalue {optima["global"]["top"]:.3g} and trace {optima["global"]["trace"]:.3g}; at the
spurious one {optima["spurious"]["top"]:.3g} and {optima["spurious"]["trace"]:.3g}. The reason is in
the closed form: on the sphere L depends on w only through `g(angle(w, w*))`, and
`g(pi - phi) = phi^3 / 3 + ...` is flat to second order at w = -w*, so the w-block of the Hessian
vanishes there (the spurious minimum holds through third-order terms), while at w* it is
`||a*||^2` in every tangent direction; the a-block, `((pi - 1) I + 1 1^T) / pi`, is the same at
both. The last table gives both optima for every teacher and k of figure 1: {_ordering_summary()}.

{OBSERVATION_VERDICTS}
"""
    finite = f"""**Finite samples.** Each trial trains on its own set of N Gaussian inputs (labels from the
teacher; SGD draws its batches from the set with replacement); {scale.finite_trials} trials per row.
The test loss is the exact population loss at the final point, the train loss the loss on the
trial's set. In this model the teacher is realizable and its labels are noise-free, so the teacher
fits *every* training set exactly: the empirical loss has its global minimum at the population
optimum itself, whatever N. Measured: GD's escaped trials end within {gd_distance:.1g} of it at
every N (the empirical minimiser is the population one, to rounding), and the train-test gap of
escaped trials is rounding error for the methods that converge (GD, SGD) and the leftover noise
floor for the noisy ones. What differs between methods is the basin: GD's trapped trials have a
test loss of {"-" if gd_trapped is None else f"{gd_trapped:.3g}"} on average (N = {scale.sample_sizes[-1]}),
and that, not a sharp optimum that fits, is the "bad generalization" of this model.
"""
    noisy_lines, noisy_words, noisy_answer = _noisy_generalization(results, scale)
    noisy = f"""**Generalization with noisy labels.** {noisy_words} Test loss: the population loss
against the clean teacher (a fresh noisy label adds sigma^2 = {LABEL_SIGMA**2:g}); the share in the
teacher's basin, not the success rate: with noisy labels the set's minimiser lies off the teacher, often
farther than tol, so few trials count as converged to it; train loss: on the trial's
noisy set, below sigma^2 for a method that settles on the set's minimiser (which moves off the teacher
as the noise grows), not necessarily for one whose last steps still move. The beyond-the-theorem
section gives the same measurement for the tuned methods, by sigma.
"""
    controls = f"""**How much of P-GD's win is the noise.** The tuned P-GD w-step starts at {tuned_step:.3g},
{tuned_step * aa / 2:.1f} times GD's stability limit `2 / ||a*||^2` = {2 / aa:.3g} at the optimum
(the tangent curvature there is `||a*||^2`); it falls below it after about
{np.log(2 / aa / tuned_step) / np.log(0.95):.0f} epochs. The two controls in the first table
separate the two ingredients: P-GD with a w-step that is stable from the start succeeds in
{100 * success_ci(results["pgd_stable_w"])[0]:.1f}% of trials, GD with P-GD's large steps and no noise in
{100 * success_ci(results["gd_pgd_steps"])[0]:.1f}%, tuned P-GD in {100 * success_ci(pgd)[0]:.1f}%.
"""
    text = "\n".join([intro, "\n".join(lines), "", poster, finite, "\n".join(finite_lines), "", noisy,
                      "\n".join(noisy_lines), "", controls,
                      _optima_table()])  # fmt: skip
    return Section("The poster's observations, measured (alternating teacher, k = 8)", text, files,
                   answers=(*_answers(results), noisy_answer))  # fmt: skip


def _answers(results) -> tuple:
    """The observations table's rows as claims, measured per basin as the section measures them
    (a mean over both basins only restated the trapped share: 5.9 = 0.55 x 8.08 + 0.45 x 3.23).

    A run's minima are of two kinds: its escaped trials end at the global optimum, its trapped ones
    near the spurious optimum. *Sharp and bad* (GD, small-step SGD): the minimum its trapped trials
    end at is the sharper of the two (a larger mean top eigenvalue of the Hessian), and it is
    trapped more often than the paper's SGD. *Flat and good* (the paper's SGD): its escaped trials'
    minimum is the flatter, and it is trapped least of the three rows. "More often" and "least" are
    decided by the trapped shares' Wilson intervals lying apart (``context.interval_above``), the verdict
    from the two parts by :func:`two_part_verdict` (the text: :data:`OBSERVATION_VERDICTS`)."""

    def by_basin(tag):
        r = results[tag]
        top, _ = r.sharpness()
        basin, test = r.basin(), r.test_loss()

        def mean(values, name):
            chosen = basin == BASIN_NAMES.index(name)
            return float(np.nanmean(values[chosen])) if chosen.any() else float("nan")

        trapped = int(r.basins()["spurious"])
        return {name: (mean(top, name), mean(test, name)) for name in ("global", "spurious")} | {
            "trapped": trapped / r.outcome.size,
            "interval": wilson_interval(trapped, int(r.outcome.size)),
        }

    def minima(m):
        (good_top, good_test), (bad_top, bad_test) = m["global"], m["spurious"]
        if np.isnan(bad_top):
            return "never trapped"
        if np.isnan(good_top):
            return f"never escaped; trapped at top eigenvalue {bad_top:.3g}, test loss {bad_test:.3g}"
        kind = "flatter" if bad_top < good_top else "sharper"
        worse = "worse" if bad_test > good_test else "no worse"
        return (f"its trapped trials' minimum is the {kind} (top eigenvalue {bad_top:.3g} against {good_top:.3g} at "
                f"the global one) and generalizes {worse} (test loss {bad_test:.3g} against "
                f"{good_test:.2g})")  # fmt: skip

    def trapped_text(m):
        low, high = m["interval"]
        return f"{100 * m['trapped']:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"

    ref = by_basin("sgd_paper")
    answers = []
    rows = (("gd", "GD (eta 0.1): a sharp minimum that generalizes badly"),
            ("sgd_small", "SGD with a very small step: a sharp minimum that generalizes badly"))  # fmt: skip
    measured_rows = {tag: by_basin(tag) for tag, _ in rows}  # the Hessians once per row
    for tag, claim in rows:
        m = measured_rows[tag]
        sharper = bool(m["spurious"][0] > m["global"][0])  # (False when either basin is empty)
        worse = interval_above(m["interval"], ref["interval"])  # trapped more often
        measured = (f"trapped {trapped_text(m)} vs {trapped_text(ref)} (the paper's SGD: "
                    f"{_COMPARED[worse]}); {minima(m)}")  # fmt: skip
        answers.append(Answer(claim, measured + _at_most(sharper, worse), two_part_verdict(sharper, worse)))
    flatter = bool(ref["global"][0] < ref["spurious"][0])
    apart = [interval_above(m["interval"], ref["interval"]) for m in measured_rows.values()]
    better = True if all(a is True for a in apart) else False if any(a is False for a in apart) else None
    least = {True: "the least of the three rows", False: "not the least of the three rows",
             None: "its interval overlaps another row's"}[better]  # fmt: skip
    answers.append(Answer(
        "SGD with the paper's annealing: a flat minimum that generalizes well",
        f"trapped {trapped_text(ref)}, {least}; its escaped trials' minimum is the "
        f"{'flatter' if flatter else 'sharper'} (top eigenvalue {ref['global'][0]:.3g} against "
        f"{ref['spurious'][0]:.3g})" + _at_most(flatter, better),
        two_part_verdict(flatter, better),
    ))  # fmt: skip
    return tuple(answers)


OBSERVATION_VERDICTS = (
    "**Verdicts** (the report's opening table). Each row of the poster's table is two claims: the kind of "
    "minimum (*sharp and bad*: the minimum a row's trapped trials end at has the larger mean top eigenvalue; "
    "*flat and good*: its escaped trials' minimum has the smaller) and how often the row is trapped (*bad*: more "
    "often than the paper's SGD; *good*: least of the three rows), decided by the trapped shares' 95% Wilson "
    "intervals lying apart. A row *holds* where both parts hold, *holds partly* where one does, *does not hold "
    "here* where neither does; where the intervals overlap, the second part is undecided, and the row is *holds "
    "partly* if its first part holds and *inconclusive* if it fails."
)

_COMPARED = {True: "trapped more, intervals apart", False: "not trapped more", None: "intervals overlap"}


def _at_most(first: bool, second: bool | None) -> str:
    """What an *inconclusive* two-part row can still become: with its first part failed, no number
    of trials makes it hold."""
    return "; at most *holds partly*, its minimum being of the other kind" if second is None and not first else ""


def two_part_verdict(first: bool, second: bool | None) -> str:
    """A claim of two parts (a minimum's kind, and how often a row is trapped): *holds* where both
    hold, *holds partly* where one does, *does not hold here* where neither does; where the second is
    undecided (``None``) the verdict is *holds partly* if the first holds (one part holds, at least)
    and *inconclusive* if it fails."""
    if second is None:
        return graded(False, first, decided=first)
    return graded(first and second, first or second)


def _ordering_summary() -> str:
    """How many cells of figure 1 have the global optimum sharper, by the trace and by the top eigenvalue."""
    from ...model.sharpness import optimum_sharpness
    from ...model.teachers import teacher_weights

    by_trace = by_top = ties = 0
    for teacher in TEACHERS:
        for k in KS:
            w_star = np.zeros(6)
            w_star[0] = 1.0
            o = optimum_sharpness(w_star, teacher_weights(teacher, k))
            by_trace += o["global"]["trace"] > o["spurious"]["trace"]
            top_g, top_s = o["global"]["top"], o["spurious"]["top"]
            ties += bool(np.isclose(top_g, top_s, rtol=1e-9))
            by_top += top_g > top_s and not np.isclose(top_g, top_s, rtol=1e-9)
    n = len(TEACHERS) * len(KS)
    text = (
        f"the global optimum is the sharper by the trace in {by_trace} of {n} cells, by the top eigenvalue in {by_top}"
    )
    return text + (f" (the top eigenvalues tie in {ties})" if ties else "")


def _optima_table() -> str:
    """The sharpness of both optima for every teacher and k of figure 1 (closed form)."""
    from ...model.sharpness import optimum_sharpness
    from ...model.teachers import teacher_weights

    lines = [
        "\n| teacher | k | top eigenvalue: global / spurious | trace: global / spurious | sharper |",
        "|---|---|---|---|---|",
    ]
    for teacher in TEACHERS:
        for k in KS:
            w_star = np.zeros(6)
            w_star[0] = 1.0
            o = optimum_sharpness(w_star, teacher_weights(teacher, k))
            g, sp = o["global"], o["spurious"]
            sharper = "global" if g["trace"] > sp["trace"] else "spurious" if sp["trace"] > g["trace"] else "equal"
            lines.append(f"| {teacher} | {k} | {g['top']:.3g} / {sp['top']:.3g} | {g['trace']:.3g} / {sp['trace']:.3g} "
                         f"| {sharper} |")  # fmt: skip
    return "\n".join(lines)
