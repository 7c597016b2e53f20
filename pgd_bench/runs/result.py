""":class:`RunResult`: what a run gives back, and every statistic derived from it.

Outcomes, basins, success rates with Wilson intervals, the expected running time, the trial and
cell tables, and ``final_state_sha256`` (the bits of every final state, for same-seed checks).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine import OUTCOME_NAMES, RECORD_FIELDS
from ..model.registry import landscape_named
from ..stats import expected_running_time, wilson_interval
from ..streams import STREAM_VERSION
from .config import SHADOWED_BY, RunConfig

BASIN_NAMES = ("global", "spurious", "diverged")


@dataclass
class RunResult:
    """Per-trial outputs of a run, in trial-index order.

    Attributes
    ----------
    config : RunConfig
    w, a : ndarray, shapes (trials, p) and (trials, k)
        Final iterates; for a diverged trial, the state its divergence was detected in (not finite,
        or ``||a||`` past the bound; ``w`` then of any norm).
    outcome : ndarray of int8, shape (trials,)
        Index into ``OUTCOME_NAMES``: global, spurious, diverged, unconverged.
    stop_iteration : ndarray of int64
        Iterations run (for diverged trials: the iteration at which a non-finite value or
        ``||a|| > a_bound`` was detected).
    entered_at : ndarray of int64
        Iteration from which the trial stayed inside the ``tol`` ball of its final optimum
        (-1 when it ended in neither).
    checkpoints : ndarray of int64, shape (C,)
    records : ndarray, shape (trials, C, 5)
        ``RECORD_FIELDS`` at each checkpoint: the population loss, ``||w-w*||``, ``||a-a*||``,
        ``angle(w, w*)`` and the gradient noise (``||P (g - grad L)||^2`` of the gradient the step
        used, see ``engine._gradient_noise``); NaN after divergence.
    train_loss : ndarray, shape (trials,)
        Final loss on the trial's training set (finite-sample runs); NaN otherwise and when
        diverged.
    states : ndarray, shape (min(record_states, trials), C, p + k)
        ``(w, a)`` of the first ``record_states`` trials at each checkpoint (NaN after divergence).
    seconds : float
        Wall time of the trial loop, compile time excluded.
    """

    config: RunConfig
    w: np.ndarray
    a: np.ndarray
    outcome: np.ndarray
    stop_iteration: np.ndarray
    entered_at: np.ndarray
    checkpoints: np.ndarray
    records: np.ndarray
    train_loss: np.ndarray
    states: np.ndarray
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {name: int(np.sum(self.outcome == i)) for i, name in enumerate(OUTCOME_NAMES)}

    def basin(self) -> np.ndarray:
        """Per trial, the basin it ended in: an index into ``BASIN_NAMES``.

        ``global`` or ``spurious``: the nearer of the two optima in the squared joint distance
        ``||w - w_opt||^2 + ||a - a_opt||^2`` at the final point, whether or not the trial came
        within ``tol`` of it (a trial hovering near the spurious optimum is trapped even when it
        is counted ``unconverged``); ``diverged`` apart. A landscape that knows no spurious
        optimum (the overlapping CNN) has no second point to be nearer to: there ``global`` is a
        trial within ``tol`` of the teacher and ``spurious`` every other one that did not diverge
        (it ended elsewhere: trapped, or still on its way).
        """
        w_star, a_star, w_bar, a_bar = self.config.optima()
        if not np.all(np.isfinite(a_bar)):
            basin = np.where(self.outcome == OUTCOME_NAMES.index("global"), BASIN_NAMES.index("global"),
                             BASIN_NAMES.index("spurious"))  # fmt: skip
            return np.where(self.outcome == OUTCOME_NAMES.index("diverged"), BASIN_NAMES.index("diverged"), basin)
        with np.errstate(over="ignore", invalid="ignore"):  # diverged trials' states may overflow
            return self._basin(w_star, a_star, w_bar, a_bar)

    def _basin(self, w_star, a_star, w_bar, a_bar):
        to_global = np.sum((self.w - w_star) ** 2, axis=1) + np.sum((self.a - a_star) ** 2, axis=1)
        to_spurious = np.sum((self.w - w_bar) ** 2, axis=1) + np.sum((self.a - a_bar) ** 2, axis=1)
        basin = np.where(to_global > to_spurious, BASIN_NAMES.index("spurious"), BASIN_NAMES.index("global"))
        return np.where(self.outcome == OUTCOME_NAMES.index("diverged"), BASIN_NAMES.index("diverged"), basin)

    def basins_meaning(self) -> str:
        """What :meth:`basins` counts on this run's landscape, in words (``run --json`` says it)."""
        if np.all(np.isfinite(self.config.optima()[3])):
            return ("global / spurious: the nearer of the teacher and the known spurious optimum at the end, "
                    "within tol or not; diverged apart")  # fmt: skip
        return ("global: within tol of the teacher; spurious: every other trial that did not diverge (this "
                "landscape knows no spurious optimum in closed form: trapped elsewhere, or still moving; "
                "pgd-bench optima maps where); diverged apart")  # fmt: skip

    def basins(self) -> dict[str, int]:
        """How many trials ended in each basin (see :meth:`basin`)."""
        basin = self.basin()
        return {name: int(np.sum(basin == i)) for i, name in enumerate(BASIN_NAMES)}

    def test_loss(self) -> np.ndarray:
        """Per trial, the exact population loss at the final point (NaN if diverged): the test
        loss, with no test sample needed. Clipped at 0 (the closed form can round a zero loss to
        -1e-16)."""
        return np.maximum(self.records[:, -1, RECORD_FIELDS.index("loss")], 0.0)

    def sharpness(self) -> tuple[np.ndarray, np.ndarray]:
        """Per trial, the top eigenvalue and the trace of the Riemannian Hessian at the final point
        (the landscape's, :func:`pgd_bench.sharpness` for the CNN); NaN for diverged trials.

        Raises
        ------
        ValueError
            If the run's landscape has no Hessian.
        """
        hessian_sharpness = landscape_named(self.config.landscape).sharpness
        if hessian_sharpness is None:
            raise ValueError(f"sharpness: the landscape {self.config.landscape} has no Riemannian Hessian")
        w_star, a_star = self.config.teacher_arrays()
        diverged = self.outcome == OUTCOME_NAMES.index("diverged")
        w = np.where(diverged[:, None], np.nan, self.w)
        return hessian_sharpness(w, self.a, w_star, a_star, **self.config.model_options())

    def by_basin(self, values: np.ndarray) -> dict[str, Any]:
        """``{"mean": ..., "by_basin": {"global": ..., "spurious": ...}}``: means of a per-trial
        quantity over the trials that did not diverge, and over each basin (None where empty).
        NaN is a value not measured (no training set) and is left out; an infinite value (a loss
        that overflowed in a trial that did not diverge) is kept: left out, it made the mean that
        of the other trials, or None ("no training set") when every trial's overflowed."""
        basin = self.basin()

        def mean(mask):
            chosen = values[mask & ~np.isnan(values)]
            return float(chosen.mean()) if chosen.size else None

        alive = basin != BASIN_NAMES.index("diverged")
        return {
            "mean": mean(alive),
            "by_basin": {name: mean(basin == BASIN_NAMES.index(name)) for name in BASIN_NAMES[:2]},
        }

    def success_rate(self) -> float:
        return self.counts()["global"] / self.outcome.size

    def ci95(self) -> tuple[float, float]:
        return wilson_interval(self.counts()["global"], int(self.outcome.size))

    def trial_steps_per_second(self) -> float:
        return float(self.stop_iteration.sum()) / self.seconds if self.seconds > 0 else float("nan")

    def final_state_sha256(self) -> str:
        """SHA-256 of the final ``w`` then ``a`` arrays (float64, C order, trials in order)."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.w, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(self.a, dtype=np.float64).tobytes())
        return h.hexdigest()

    def iterations_spent(self) -> tuple[np.ndarray, np.ndarray]:
        """Per trial, ``(spent, solved)``: whether it reached the global optimum, and the
        iterations it spent: until it entered the ``tol`` ball for good if it did, else all it ran."""
        solved = self.outcome == OUTCOME_NAMES.index("global")
        return np.where(solved, self.entered_at, self.stop_iteration), solved

    def expected_running_time(self) -> tuple[float, float, float]:
        """aRT (iterations per success, the COCO convention) and its 95% bootstrap interval
        (:func:`pgd_bench.stats.expected_running_time`); ``inf`` when nothing succeeded."""
        return expected_running_time(*self.iterations_spent())

    def median_iterations_to_success(self) -> float:
        """Median iteration from which the successful trials stayed in the global ``tol`` ball
        (NaN when none succeeded)."""
        spent, solved = self.iterations_spent()
        return float(np.median(spent[solved])) if solved.any() else float("nan")

    def settings_row(self) -> dict[str, Any]:
        """What ran, as one flat row: every setting of the resolved config (None as an empty
        string, the stride as the number it is, per-epoch lists and an explicit ``a_star`` as
        text, their numbers separated by spaces; an initial value or decay that per-epoch lists
        replaced, as :data:`~pgd_bench.runs.config.SHADOWED_BY` lists them, empty), the config
        hash, and the package and stream versions."""
        from .._provenance import PACKAGE_VERSION

        settings = self.config.to_dict()
        scalars = {key: value for key, value in settings.items() if not isinstance(value, list | dict)}
        # per-epoch lists and an explicit a_star as text, each number as it round-trips (were left
        # out, so a cell that ran a schedule showed neither it nor, below, the value it replaced)
        scalars.update({key: " ".join(repr(float(v)) for v in value) for key, value in settings.items()
                        if isinstance(value, list)})  # fmt: skip
        scalars["stride"] = self.config.resolved_stride  # p for the poster's model, not an empty cell

        # a value its per-epoch schedule replaced never ran (a preset's rho_w = 5 beside the
        # rho_w_schedule that ran was read as what ran): empty, as a setting that does not apply;
        # so is a decay once each value it anneals is scheduled or 0 (noise_on = "w": rho_a = 0)
        def replaced(schedule):
            return getattr(self.config, schedule) is not None

        for key, schedules in SHADOWED_BY.items():
            if (
                key in scalars
                and any(map(replaced, schedules))
                and all(
                    replaced(name) or getattr(self.config, name.removesuffix("_schedule")) == 0 for name in schedules
                )
            ):
                scalars[key] = None
        row = {key: "" if value is None else value for key, value in scalars.items()}
        row.update(config_hash=self.config.digest(), package_version=PACKAGE_VERSION, stream_version=STREAM_VERSION)
        return row

    def trial_table(self) -> dict[str, Any]:
        """One row per trial, as columns: :meth:`settings_row` (what ran), then the trial's
        outcome, basin, iterations, losses, sharpness and final distances.

        ``entered_at`` is the iteration from which the trial stayed in the ``tol`` ball of its
        final optimum (-1: neither); ``final_loss`` is the population (test) loss, clipped at 0
        (the closed form can round an exact 0 to -1e-16); NaN columns mean "does not apply".
        """
        n = int(self.outcome.size)
        columns: dict[str, Any] = {key: [value] * n for key, value in self.settings_row().items()}
        top, trace = self.sharpness()
        final = self.records[:, -1]
        columns.update(
            trial=np.arange(n),
            outcome=[OUTCOME_NAMES[o] for o in self.outcome],
            basin=[BASIN_NAMES[b] for b in self.basin()],
            stop_iteration=self.stop_iteration,
            entered_at=self.entered_at,
            final_loss=self.test_loss(),
            train_loss=self.train_loss,
            sharpness_top=top,
            sharpness_trace=trace,
            final_dist_w=final[:, RECORD_FIELDS.index("dist_w")],
            final_dist_a=final[:, RECORD_FIELDS.index("dist_a")],
        )
        return columns

    def to_frame(self):
        """:meth:`trial_table` as a pandas DataFrame (needs pandas: ``pip install pandas``)."""
        try:
            import pandas as pd
        except ImportError as error:
            raise ImportError("RunResult.to_frame needs pandas: pip install pandas (or use trial_table())") from error
        return pd.DataFrame(self.trial_table())

    def cell_row(self) -> dict[str, Any]:
        """The cell as one flat row: its config hash, trial count, outcome and basin counts,
        success rate with its 95% Wilson interval, aRT with its bootstrap interval, the median
        iterations to success, run time and throughput."""
        counts, basins = self.counts(), self.basins()
        low, high = self.ci95()
        art, art_low, art_high = self.expected_running_time()
        return {
            "config_hash": self.config.digest(),
            "trials": int(self.outcome.size),
            **{f"n_{name}": count for name, count in counts.items()},
            **{f"basin_{name}": count for name, count in basins.items()},
            "success_rate": self.success_rate(),
            "wilson_low": low,
            "wilson_high": high,
            "median_iterations_to_success": self.median_iterations_to_success(),
            "art": art,
            "art_low": art_low,
            "art_high": art_high,
            "seconds": float(self.seconds),
            "trial_steps_per_second": self.trial_steps_per_second(),
        }

    def summary(self) -> dict[str, Any]:
        """The JSON-ready summary printed by ``pgd-bench run --json``.

        ``test_loss`` (the population loss at the end) and ``train_loss`` (on the trial's training
        set; null without one) as ``{"mean", "by_basin"}``; ``sharpness`` as the mean top
        eigenvalue and trace of the Riemannian Hessian, by basin.
        """
        low, high = self.ci95()
        top, trace = self.sharpness()
        return {
            "success_rate": self.success_rate(),
            "ci95": [low, high],
            "outcomes": self.counts(),
            "basins": self.basins(),
            "basins_meaning": self.basins_meaning(),
            "test_loss": self.by_basin(self.test_loss()),
            "train_loss": self.by_basin(self.train_loss),
            "sharpness": {"top": self.by_basin(top)["by_basin"], "trace": self.by_basin(trace)["by_basin"]},
            "trials": int(self.outcome.size),
            "trial_steps_per_second": self.trial_steps_per_second(),
            "seconds": self.seconds,
            "final_state_sha256": self.final_state_sha256(),
            "stream_version": STREAM_VERSION,
            "config": self.config.to_dict(),
        }
