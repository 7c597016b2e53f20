"""What several report sections share: run sizes (:class:`Scale`), the series of figure 1,
and the groups of cells and data that more than one section reads (each run once per report).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .._validate import as_int
from ..algorithms import algorithm_named
from ..model.smoothing import basin_depth, smoothed_profile
from ..model.teachers import TEACHERS
from ..runs.cache import cached_arrays
from ..runs.config import resolve_config
from ..runs.result import BASIN_NAMES, OUTCOME_NAMES
from .context import Context
from .figures import check_success_cells


def _color(algorithm: str) -> str:
    """An algorithm's colour, from its record (:mod:`pgd_bench.algorithms`): one colour per method
    in every figure; series that are not a method's default run (the paper's settings) have their own."""
    return algorithm_named(algorithm).color


def gap_interval(result) -> tuple[float, float, float] | None:
    """Mean generalization gap of the trials in the teacher's basin (escaped), and its 95% normal
    interval: per trial, the test loss on a fresh noisy label (population loss against the clean teacher +
    sigma^2) minus the train loss on its noisy set; None when no trial escaped."""
    escaped = result.basin() == BASIN_NAMES.index("global")
    gap = result.test_loss()[escaped] + result.config.label_noise**2 - result.train_loss[escaped]
    gap = gap[np.isfinite(gap)]
    if gap.size == 0:
        return None
    half = 1.96 * gap.std(ddof=1) / np.sqrt(gap.size) if gap.size > 1 else float("inf")
    return float(gap.mean()), float(gap.mean() - half), float(gap.mean() + half)


KS = (4, 8, 16, 32)


# The series of figure 1: (tag, label, colour, config overrides), drawn and tabled in this order.
FIG1_SERIES = (
    ("gd", "GD (paper's $\\eta$ = 0.1)", _color("gd"), dict(algorithm="gd")),
    # GD at a step below its stability limit everywhere (half the inverse curvature): at k = 32 the
    # paper's eta = 0.1 is past it and GD does not converge, which says nothing about trapping
    (
        "gd_stable",
        "GD (stable step: 0.5 / curvature)",
        "#9DB7DE",
        dict(algorithm="gd", scale_steps=True, eta_w=0.5, eta_a=0.5),
    ),
    ("sgd_paper", "SGD, paper's annealing", "#8C8C8C", dict(algorithm="sgd", preset="paper")),
    ("sgd", "SGD (tuned annealing)", _color("sgd"), dict(algorithm="sgd")),
    ("pgd", "P-GD (tuned noise annealing)", _color("pgd"), dict(algorithm="pgd")),
    ("psgd", "perturbed SGD (tuned)", _color("psgd"), dict(algorithm="psgd")),
    ("pgd_paper", "P-GD, paper's literal settings", "#C44E52", dict(algorithm="pgd", preset="paper")),
)


ALGORITHM_LABELS = {tag: label for tag, label, _, _ in FIG1_SERIES}


COLORS = {tag: color for tag, _, color, _ in FIG1_SERIES}


@dataclasses.dataclass(frozen=True)
class Scale:
    """How much to run: trials per stage, phase-grid axes, smoothing samples, and the seed."""

    trials: int
    convergence_trials: int
    phase_trials: int
    phase_rho_w: tuple
    phase_rho_a: tuple
    smoothing_samples: int
    comparison_trials: int
    finite_trials: int
    sample_sizes: tuple
    theory_trials: int
    theory_samples: int
    beyond_trials: int
    optima_starts: int
    held_out_trials: int
    held_out_per_k: int  # gaussian teachers per k of the held-out set (the hand-written ones always)
    noisy_trials: int  # trials per noisy-label run of "Beyond the theorem" (sigma > 0)
    label_noises: tuple = (0.5, 1.0)  # its label noises sigma > 0 (sigma = 0 is always run)
    seed: int = 0

    def config(self, **overrides):
        """A resolved cell config with this run's seed."""
        return resolve_config(seed=self.seed, **overrides)

    def sparse_config(self, per_epoch: int, **overrides):
        """:meth:`config` with its per-trial records taken about ``per_epoch`` times an epoch (every
        ``iterations // per_epoch`` iterations, and at every epoch's end), never more often than
        the default ``checkpoint_every``: for a cell whose records are read only as a few samples
        per epoch.

        Checkpoints only record: the final states, outcomes and ``entered_at`` are the same bits at
        any ``checkpoint_every`` (checked for every algorithm, with training sets, momentum, label
        noise and overlapping patches); the cache file grows with the checkpoints."""
        per_epoch = as_int("per_epoch", per_epoch, minimum=1)
        config = self.config(**overrides)
        every = max(config.checkpoint_every, config.iterations // per_epoch)
        return dataclasses.replace(config, checkpoint_every=every)

    def end_config(self, **overrides):
        """:meth:`config` with records at epoch ends only, for a cell read only at its end (outcome,
        final point, ``entered_at``). Every 100 iterations, such a cell's cache file was 10 times
        larger: 256 of a quick run's 413 MB of cache were these records, never read."""
        config = self.config(**overrides)
        return dataclasses.replace(config, checkpoint_every=config.iterations)


FULL = Scale(1000, 1000, 200, (0.1, 0.3, 1.0, 2.0, 5.0, 10.0, 36.0), (0.1, 0.5, 1.0, 1.5, 5.0), 200_000, 300,
             200, (64, 256, 1024), 200, 2000, 200, 400, 500, 4, 64)  # fmt: skip


# N = 1024 is left out of the quick run: its full-batch P-GD and Langevin cells were 65% of the quick
# run's cell time (71 of 111 s of finite-sample cells), and N = 64 and 256 show the same ordering.
# Sized down again where the verdicts kept (the 26 of the first screen, checked side by side): 48 ->
# 32 success-rate trials, 32 -> 16 finite-sample, overlapping-patch and noisy-label trials, 200 ->
# 100 convergence and observation trials (96 -> 70 s into a new folder, 64 -> 40 MB); not the held-out
# trials: at 50, one held-out SGD cell's interval fell below its promise, and the verdict with it.
# Where a verdict needs an interval, 32 trials give a cell +-17 points at 50%, 16 cells +-4.
QUICK = Scale(32, 100, 40, (0.1, 1.0, 5.0, 36.0), (0.1, 1.0, 1.5, 5.0), 50_000, 32, 16, (64, 256), 48, 1000, 16,
              100, 100, 1, 16, (1.0,))  # fmt: skip


def quick_sized(scale, fields=None) -> str:
    """What a quick run sizes down, against the full run: ``"trials 100 (full 1000), ..."``, over
    ``fields`` of :class:`Scale` (default: all)."""
    names = {"trials": "trials per success-rate cell", "convergence_trials": "trials per convergence and "
             "observation run", "phase_trials": "trials per phase-diagram cell", "phase_rho_w": "phase grid rho_w",
             "phase_rho_a": "phase grid rho_a", "smoothing_samples": "smoothing samples",
             "comparison_trials": "trials per which-noise cell", "finite_trials": "trials per finite-sample run",
             "sample_sizes": "training-set sizes N", "theory_trials": "trials per theory run",
             "theory_samples": "samples per dissipativity estimate",
             "beyond_trials": "trials per overlapping-patch cell",
             "optima_starts": "GD starts per optimum search", "held_out_trials": "trials per held-out teacher",
             "held_out_per_k": "held-out gaussian teachers per k",
             "noisy_trials": "trials per noisy-label run (beyond the theorem)",
             "label_noises": "label noises sigma > 0 (beyond the theorem)"}  # fmt: skip

    def text(value):
        return ", ".join(f"{v:g}" for v in value) if isinstance(value, tuple) else f"{value:,}"

    return "; ".join(f"{names[field]} {text(getattr(scale, field))} (full: {text(getattr(FULL, field))})"
                     for field in fields or names if getattr(scale, field) != getattr(FULL, field))  # fmt: skip


# The trials the presets were tuned on: seed 0's first TUNING_TRIALS[0] to TUNING_TRIALS[1] per cell
# (trial i depends only on (seed, i), so a run at seed 0 repeats them and one at another seed does not).
TUNING_TRIALS = (300, 500)


def tuning_caveat(scale) -> str:
    """Whether this run's success-rate trials include ones the tuning never saw (the literal
    section's sentence; :func:`figure_1_sample_note` is the out-of-sample section's)."""
    high = TUNING_TRIALS[1]
    if scale.seed != 0:
        return f"this run uses seed {scale.seed}: none of its trials were seen by the tuning."
    if scale.trials > high:
        return (
            f"this run's {scale.trials} trials per cell include {scale.trials - high} or more that the tuning "
            "never saw."
        )
    return (
        f"with seed 0 and {scale.trials} trials per cell, every trial here is one the tuning may have seen: these "
        "tuned rates are in-sample (rerun with `--seed 1` for out-of-sample ones)."
    )


def figure_1_sample_note(seed: int) -> str:
    """Whether figure 1's tuned rates are in-sample at ``seed``: its teachers are always the
    tuning's; its trials are the tuning's only at seed 0, as :func:`tuning_caveat` says. (This
    sentence said "in-sample" at every seed, beside that one saying "none of its trials were
    seen".)"""
    low, high = TUNING_TRIALS
    if seed == 0:
        return (
            f"so figure 1's tuned rates are in-sample: its teachers are the tuning's, and so are its first {low} "
            f"to {high} trials at seed 0"
        )
    return (
        f"so figure 1's teachers are the tuning's own; its trials at seed {seed} are not, so its tuned rates "
        "are out of sample in the trials only"
    )


def rate_range(rates) -> str:
    """Success rates as a range of percentages, "96.9% to 100.0%", or one value where they are all
    the same ("100.0%", not "100.0% to 100.0%")."""
    low, high = f"{100 * min(rates):.1f}%", f"{100 * max(rates):.1f}%"
    return low if low == high else f"{low} to {high}"


def unconverged_nearer_spurious(result) -> int | None:
    """How many of ``result``'s unconverged trials ended nearer the spurious optimum than the
    teacher (:meth:`~pgd_bench.runs.result.RunResult.basin`); None where the landscape knows no
    spurious optimum in closed form. "Unconverged" alone read as "still moving" for SGD's trials
    that hover about the spurious optimum, outside tol only by their noise."""
    if not np.all(np.isfinite(result.config.optima()[3])):
        return None
    unconverged = result.outcome == OUTCOME_NAMES.index("unconverged")
    return int(np.sum(unconverged & (result.basin() == BASIN_NAMES.index("spurious"))))


def unconverged_text(count: int, nearer_spurious: int | None) -> str:
    """``count`` unconverged trials, with where they ended: "14 unconverged (12 nearer the spurious
    optimum)", "(all nearer the teacher)", or no detail where that is unknown (None)."""
    if nearer_spurious is None or count == 0:
        return f"{count} unconverged"
    every = "" if count == 1 else "all "
    if nearer_spurious == 0:
        return f"{count} unconverged ({every}nearer the teacher)"
    share = every if nearer_spurious == count else f"{nearer_spurious} "
    return f"{count} unconverged ({share}nearer the spurious optimum)"


def misses_parts(counts, nearer_spurious: int | None) -> list[str]:
    """Misses by outcome, as the report lists them: ["3 spurious", "14 unconverged (12 nearer the
    spurious optimum)"] from outcome ``counts`` (one cell's, or several summed) and how many of
    the unconverged ended nearer the spurious optimum (:func:`unconverged_text`)."""
    parts = [f"{counts[name]} {name}" for name in ("spurious", "diverged") if counts[name]]
    if counts["unconverged"]:
        parts.append(unconverged_text(counts["unconverged"], nearer_spurious))
    return parts


def misses_text(result) -> str:
    """A cell's misses as the report's tables list them, after its rate: ", 3 spurious, 14
    unconverged (12 nearer the spurious optimum)"; empty when it missed none."""
    return "".join(", " + part for part in misses_parts(result.counts(), unconverged_nearer_spurious(result)))


def gap_detail(rates, grid) -> str:
    """The paper's SGD against GD: the median gap, and the mean without the cells where GD's step
    is unstable (GD unconverged in most trials)."""
    gaps = 100 * (np.asarray(rates["sgd_paper"]) - np.asarray(rates["gd"]))
    unstable = np.array([grid[(t, k, "gd")].counts()["unconverged"] > grid[(t, k, "gd")].outcome.size / 2
                         for t in TEACHERS for k in KS])  # fmt: skip
    text = f"median {np.median(gaps):+.1f} points, from {gaps.min():+.0f} to {gaps.max():+.0f}"
    if unstable.any() and (~unstable).any():
        text += (
            f"; {np.mean(gaps[~unstable]):+.1f} on average without the {int(unstable.sum())} cells where GD's "
            "step is unstable"
        )
    return text


def mean_gap(rates, reference) -> str:
    """``rates`` against ``reference`` on average, in percentage points, as words."""
    gap = 100 * float(np.mean(np.asarray(rates) - np.asarray(reference)))
    return f"on average {abs(gap):.1f} points {'above' if gap >= 0 else 'below'} GD"


def success_grid(ctx: Context) -> dict:
    """Figure 1's cells: every teacher x k x series, ``{(teacher, k, tag): RunResult}``."""
    cells = []
    for teacher in TEACHERS:
        for k in KS:
            for tag, _, _, overrides in FIG1_SERIES:
                config = ctx.scale.end_config(teacher=teacher, k=k, trials=ctx.scale.trials, **overrides)
                cells.append(((teacher, k, tag), config))
    return ctx.cells("success rates", cells)


def convergence_runs(ctx: Context) -> dict:
    """Dense checkpoints of GD, SGD, P-GD and perturbed SGD on the alternating teacher, k = 8."""
    cells = []
    for alg in ("gd", "sgd", "pgd", "psgd"):
        base = resolve_config(algorithm=alg)
        # about 200 points per curve (400 drew the same curves: the cells were twice the size on disk)
        every = max(10, base.epochs * base.iterations // 200)
        cells.append(
            (alg, ctx.scale.config(algorithm=alg, trials=ctx.scale.convergence_trials, checkpoint_every=every))
        )
    return ctx.cells("convergence", cells)


def smoothed_depths(ctx: Context):
    """Figure 4's data: ``(angles, profiles by level, [(rho_w, depth, gap)])``."""
    return ctx.once("smoothed landscape", lambda: _smoothed_data(ctx.scale, ctx.out / "cache", ctx.force))


def bar_rows(results, teachers, ks, series) -> dict:
    """One row per bar: a cell's counts, success rate and 95% Wilson interval."""
    rows: dict[str, list] = {name: [] for name in ("teacher", "k", "series", "trials", "successes", "success_rate",
                                                   "wilson_low", "wilson_high", "n_spurious", "n_diverged",
                                                   "n_unconverged", "median_iterations_to_success")}  # fmt: skip
    for teacher in teachers:
        for k in ks:
            for tag in series:
                r = results[(teacher, k, tag)]
                row = r.cell_row()
                rows["teacher"].append(teacher)
                rows["k"].append(k)
                rows["series"].append(tag)
                rows["successes"].append(row["n_global"])
                for name in ("trials", "success_rate", "wilson_low", "wilson_high", "n_spurious", "n_diverged",
                             "n_unconverged", "median_iterations_to_success"):  # fmt: skip
                    rows[name].append(row[name])
    return rows


SMOOTHED_LEVELS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0)


def _smoothed_data(scale, cache_dir, force=False):
    """The profiles at every level of :data:`SMOOTHED_LEVELS`, with a progress bar, cached in
    ``cache_dir`` like the cells (keyed by the samples, the levels and the code that computes
    them, so an edit of that code recomputes them)."""
    import hashlib
    import inspect

    from .._provenance import SOURCE_HASH
    from ..console import ProgressBar
    from ..model.teachers import teacher_weights

    w_star = np.zeros(6)
    w_star[0] = 1.0
    a_star = teacher_weights("alternating", 8)
    angles = np.linspace(0, np.pi, 61)
    code = inspect.getsource(smoothed_profile) + inspect.getsource(basin_depth)
    key = hashlib.sha256(json.dumps([scale.smoothing_samples, SMOOTHED_LEVELS, angles.size, code, SOURCE_HASH,
                                     a_star.tolist()]).encode()).hexdigest()[:16]  # fmt: skip

    def compute():
        bar = ProgressBar(f"{'smoothed landscape':<22}", delay=0.0)
        profiles = []
        for done, rho in enumerate(SMOOTHED_LEVELS, start=1):
            # noise on a only shifts L_rho by a constant (smoothed_profile's docstring): left out
            profiles.append(smoothed_profile(angles, rho, 0.0, w_star, a_star, scale.smoothing_samples))
            bar(done, len(SMOOTHED_LEVELS))
        return {"profiles": np.array(profiles)}

    saved = cached_arrays(Path(cache_dir) / f"smoothed-{key}.npz", compute,
                          shapes={"profiles": (len(SMOOTHED_LEVELS), angles.size)}, force=force)  # fmt: skip
    return _smoothed_result(angles, saved["profiles"])


def _smoothed_result(angles, profiles):
    by_level = dict(zip(SMOOTHED_LEVELS, profiles))
    depths = [(rho, basin_depth(prof), prof[-1] - prof[0]) for rho, prof in by_level.items()]
    return angles, by_level, depths


def draw_bars(ax, bars, teacher, ks, series, colors):
    """Grouped bars with Wilson intervals for one teacher; empty bars marked by why they are empty."""
    width = 0.8 / len(series)
    for index, tag in enumerate(series):
        chosen = (bars["teacher"] == teacher) & (bars["series"] == tag)
        by_k = {int(k): i for k, i in zip(bars["k"][chosen], np.flatnonzero(chosen))}
        rows = [by_k[k] for k in ks]
        check_success_cells(bars, rows)  # an edited table: a rate of 150% or NaN was drawn as given
        rate = 100 * bars["success_rate"][rows]
        low, high = 100 * bars["wilson_low"][rows], 100 * bars["wilson_high"][rows]
        x = np.arange(len(ks)) + (index - (len(series) - 1) / 2) * width
        ax.bar(x, rate, width, color=colors[tag])
        # the Wilson bounds can round to a hair past the rate at 0% and 100%: clip those hairs
        yerr = np.maximum([rate - low, high - rate], 0.0)
        ax.errorbar(x, rate, yerr=yerr, fmt="none", ecolor="black", capsize=1.5, lw=0.8)
        empty = bars["successes"][rows] == 0
        diverged = bars["n_diverged"][rows] == bars["trials"][rows]
        ax.plot(x[empty & diverged], np.full(int((empty & diverged).sum()), 3.0), "X", color=colors[tag], ms=6,
                mec="black", mew=0.5)  # fmt: skip
        ax.plot(x[empty & ~diverged], np.full(int((empty & ~diverged).sum()), 3.0), "o", mfc="white",
                color=colors[tag], ms=5, mew=1.2)  # fmt: skip
    ax.set_xticks(np.arange(len(ks)), [f"$k = {k}$" for k in ks])
    ax.set_ylim(0, 106)
    ax.grid(axis="x", visible=False)


def power_of_ten(value: float) -> str:
    """``1e-12`` as mathtext ``$10^{-12}$``."""
    return f"$10^{{{round(np.log10(value))}}}$"
