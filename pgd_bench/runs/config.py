"""Configs, teachers, presets and the Python entry point :func:`run`.

A :class:`RunConfig` is fully resolved: every per-epoch value can be derived from it, and its
``to_dict()`` is enough to repeat a run exactly. :func:`resolve_config` builds one from a preset
and user overrides (from the command line, a TOML file or Python), validating every value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import tomllib
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from .._files import quoted
from .._validate import as_bool, as_choice, as_float, as_int, as_seed, as_stride, as_vector, check_memory
from ..algorithms import BATCH_ALWAYS, BATCH_NEVER, algorithm_named
from ..engine import LANES, RECORD_FIELDS, Problem, Schedule
from ..model.data import DATA_LANES, FRESH_WORK_ROWS, data_lanes
from ..model.landscape import curvature_scale
from ..model.registry import DEFAULT_LANDSCAPE, LANDSCAPES, landscape_named
from ..model.sharpness import sharpness_memory_bytes
from ..model.teachers import TEACHERS, is_seeded, teacher_weights
from ..streams import NOISE_LAWS, STREAM_VERSION

NOISE_TARGETS = ("both", "w", "a")


def _setting(default, help, *, flag=True, check=None):
    """A :class:`RunConfig` field: its default, its ``--help`` line, whether it is a command-line
    flag, and the function that validates it (``check(name, value) -> value``)."""
    return field(default=default, metadata={"help": help, "flag": flag, "check": check})


MAX_BATCH = 2**20  # samples per stochastic step: a larger batch is the exact gradient, at a million times the cost


def _positive_int(name, value):
    return as_int(name, value, minimum=1)


def _positive(name, value):
    return as_float(name, value, minimum=0.0, strict=True)


def _non_negative(name, value):
    return as_float(name, value, minimum=0.0)


def _optional_positive(name, value):
    return None if value is None else _positive(name, value)


def _below_one(name, value):
    value = as_float(name, value, minimum=0.0)
    if value >= 1.0:
        raise ValueError(f"{name}: expected 0 <= beta < 1 (at 1 the momentum never forgets), got {value!r}")
    return value


def _choice_of(choices):
    return lambda name, value: as_choice(name, value, tuple(choices))


@dataclass(frozen=True)
class RunConfig:
    """A fully resolved experiment: problem, algorithm, schedule, trials and seed.

    Every field's default, help text and check are declared here once; the command line's flags
    and the TOML keys are generated from them. Per-epoch schedules are ``initial * decay**s``
    unless an explicit list is given. ``eta_w`` and ``eta_a`` are the step sizes of ``w`` and
    ``a``. What each algorithm uses is in its record in :mod:`pgd_bench.algorithms`.
    """

    algorithm: str = _setting("gd", "the method (default gd)", check=lambda n, v: algorithm_named(v).name)
    preset: str = _setting("paper", "schedule preset (default: the algorithm's own)")
    landscape: str = _setting(
        DEFAULT_LANDSCAPE,
        "the model's loss landscape (default cnn: the poster's non-overlapping CNN; --stride S < p "
        "selects overlapping)",
        check=lambda name, value: landscape_named(value).name,
    )
    p: int = _setting(6, "patch (filter) dimension", check=_positive_int)
    k: int = _setting(8, "number of patches", check=_positive_int)
    stride: int | None = _setting(
        None,
        "patches taken every S inputs, 1 <= S <= p (default p: the poster's non-overlapping model; "
        "S < p: overlapping patches of one input of (k - 1) S + p entries)",
        check=lambda name, value: None if value is None else as_int(name, value, minimum=1),
    )
    teacher: str = _setting("alternating", "family of the teacher's a*", check=_choice_of(TEACHERS))
    teacher_seed: int = _setting(
        0, "seed of a teacher family that draws (gaussian, or one registered with seeded=True)", check=as_seed
    )
    a_star: tuple[float, ...] | None = _setting(None, "explicit teacher weights, k values (instead of --teacher)")
    trials: int = _setting(1000, "random starts", check=_positive_int)
    seed: int = _setting(0, "seed of every random stream", check=as_seed)
    epochs: int = _setting(20, "epochs (schedules change between epochs)", check=_positive_int)
    iterations: int = _setting(400, "iterations per epoch", check=_positive_int)
    eta_w: float = _setting(0.1, "initial step size of w", check=_positive)
    eta_a: float = _setting(0.1, "initial step size of a", check=_positive)
    eta_decay: float = _setting(1.0, "step-size factor per epoch", check=_positive)
    batch: int = _setting(0, "mini-batch size of Gaussian inputs (0: the exact population gradient)")
    rho_w: float = _setting(0.0, "initial noise radius on w", check=_non_negative)
    rho_a: float = _setting(0.0, "initial noise radius on a", check=_non_negative)
    noise_decay: float = _setting(1.0, "noise factor per epoch", check=_positive)
    noise_law: str = _setting("ball", "law of the perturbation", check=_choice_of(NOISE_LAWS))
    noise_on: str = _setting("both", "what the perturbation moves", check=_choice_of(NOISE_TARGETS))
    temperature: float = _setting(0.0, "initial Langevin temperature T", check=_non_negative)
    temperature_decay: float = _setting(1.0, "temperature factor per epoch", check=_positive)
    momentum: float = _setting(0.0, "heavy-ball momentum beta, 0 <= beta < 1", check=_below_one)
    samples: int = _setting(
        0,
        "finite-sample training: each trial's own training set of N Gaussian inputs (0: the population, "
        "infinite data); SGD draws its batches from the set with replacement",
        check=lambda name, value: as_int(name, value, minimum=0),
    )
    shared_data: bool = _setting(False, "one training set for all trials (with samples)", check=as_bool)
    label_noise: float = _setting(
        0.0,
        "noisy labels: y = f*(x) + SIGMA e, e ~ N(0, 1) from the trial's data stream (with samples); the test "
        "loss stays the population loss against the clean teacher",
        check=_non_negative,
    )
    record_states: int = _setting(
        0,
        "record (w, a) at every checkpoint for the first N trials (memory: N x checkpoints x (p + k) x 8 bytes)",
        check=lambda name, value: as_int(name, value, minimum=0),
    )
    polish_epochs: int = _setting(
        0,
        "noise-free epochs appended at the end, at the last epoch's step sizes: no perturbation and no "
        "Langevin noise (mini-batch methods keep their batches)",
        check=lambda name, value: as_int(name, value, minimum=0),
    )
    eta_w_schedule: tuple[float, ...] | None = _setting(None, "per-epoch eta_w", flag=False)
    eta_a_schedule: tuple[float, ...] | None = _setting(None, "per-epoch eta_a", flag=False)
    rho_w_schedule: tuple[float, ...] | None = _setting(None, "per-epoch rho_w", flag=False)
    rho_a_schedule: tuple[float, ...] | None = _setting(None, "per-epoch rho_a", flag=False)
    temperature_schedule: tuple[float, ...] | None = _setting(None, "per-epoch temperature", flag=False)
    scale_steps: bool = _setting(
        False, "scale step sizes (and the temperature) to the curvature of the loss, for every k", check=as_bool
    )
    start_radius: float | None = _setting(
        None, "radius of the start ball of a (default |1.a*|/sqrt(k))", check=_optional_positive
    )
    tol: float = _setting(
        1e-2, "squared joint distance ||w - w_opt||^2 + ||a - a_opt||^2 counted as converged", check=_positive
    )
    a_bound: float = _setting(1e6, "||a|| past which a trial counts as diverged", check=_positive)
    checkpoint_every: int = _setting(
        100, "record per-trial metrics every M iterations (epoch ends always)", check=_positive_int
    )

    # --- derived quantities ------------------------------------------------------------------
    @property
    def total_epochs(self) -> int:
        """Epochs the engine runs: ``epochs`` and then ``polish_epochs``."""
        return self.epochs + self.polish_epochs

    def teacher_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(w_star, a_star)``: ``w* = e_1`` and the teacher's output weights."""
        w_star = np.zeros(self.p)
        w_star[0] = 1.0
        if self.a_star is not None:
            return w_star, np.array(self.a_star, dtype=np.float64)
        return w_star, teacher_weights(self.teacher, self.k, self.teacher_seed)

    def optima(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(w_star, a_star, w_bar, a_bar)``: the global optimum (the teacher) and the landscape's
        known spurious optimum; ``w_bar = -w*`` and ``a_bar`` NaN where it knows none."""
        w_star, a_star = self.teacher_arrays()
        known = landscape_named(self.landscape).spurious_optimum
        if known is None:
            return w_star, a_star, -w_star, np.full_like(a_star, np.nan)
        w_bar, a_bar = known(w_star, a_star)
        return w_star, a_star, w_bar, a_bar

    @property
    def resolved_stride(self) -> int:
        """The stride of the patches: ``stride``, or ``p`` (the poster's non-overlapping model)."""
        return self.p if self.stride is None else self.stride

    def model_options(self) -> dict[str, Any]:
        """The config fields the landscape reads besides the teacher (its record's ``options``),
        by name: what its ``make_params`` and ``sharpness`` take."""
        return {name: getattr(self, name) for name in landscape_named(self.landscape).options}

    def resolved_start_radius(self) -> float:
        """Radius of the ball of initial ``a``: explicit, or the paper's ``|1.a*| / sqrt(k)``."""
        if self.start_radius is not None:
            return self.start_radius
        with np.errstate(over="ignore"):  # a teacher near the largest float: refused by _check_problem
            return abs(float(self.teacher_arrays()[1].sum())) / np.sqrt(self.k)

    def schedules(self) -> dict[str, np.ndarray]:
        """Per-epoch arrays ``eta_w``, ``eta_a``, ``rho_w``, ``rho_a``, ``temperature`` (length
        ``total_epochs``); zeros for what the algorithm does not use and in the polish epochs,
        which repeat the last epoch's step sizes."""

        def schedule(explicit, initial, ratio):
            if explicit:
                return np.array(explicit, dtype=np.float64)
            return initial * ratio ** np.arange(self.epochs, dtype=np.float64)

        out = {
            "eta_w": schedule(self.eta_w_schedule, self.eta_w, self.eta_decay),
            "eta_a": schedule(self.eta_a_schedule, self.eta_a, self.eta_decay),
            "rho_w": schedule(self.rho_w_schedule, self.rho_w, self.noise_decay),
            "rho_a": schedule(self.rho_a_schedule, self.rho_a, self.noise_decay),
            "temperature": schedule(self.temperature_schedule, self.temperature, self.temperature_decay),
        }
        algorithm = algorithm_named(self.algorithm)
        if not algorithm.perturbs:
            out["rho_w"] = np.zeros(self.epochs)
            out["rho_a"] = np.zeros(self.epochs)
        if not algorithm.temperature:
            out["temperature"] = np.zeros(self.epochs)
        if self.noise_on == "w":
            out["rho_a"] = np.zeros(self.epochs)
        elif self.noise_on == "a":
            out["rho_w"] = np.zeros(self.epochs)
        if self.scale_steps:
            # L is quadratic in a with Hessian ||w~||^2 ((pi - 1) I + 1 1^T) / pi, whose largest
            # eigenvalue is ||w~||^2 (pi - 1 + k) / pi, and E||w + xi||^2 = 1 + rho_w^2 p / (p + 2)
            # for ball noise (the Gaussian law has the same second moment). The tangent curvature
            # in w grows like ||a||^2 / pi, also ~ k. With scaling, eta_w and eta_a are fractions
            # of those curvatures' inverses, so one setting is stable for every k and noise level
            # (the a-step for eta_a < 2).
            per_k = curvature_scale(self.k)
            second_moment = 1.0 + out["rho_w"] ** 2 * self.p / (self.p + 2.0)
            out["eta_a"] = out["eta_a"] * per_k / second_moment
            out["eta_w"] = out["eta_w"] * per_k
            # Langevin's temperature in the same units: the loss, and the barrier between the
            # basins, grow with the curvature (~ k), so T is multiplied by the factor the steps
            # are divided by; the noise of an update, sqrt(2 eta T), is then the same for every k
            out["temperature"] = out["temperature"] / per_k
        if self.polish_epochs:
            polish = np.ones(self.polish_epochs)
            for key in ("eta_w", "eta_a"):
                out[key] = np.concatenate([out[key], out[key][-1] * polish])
            for key in ("rho_w", "rho_a", "temperature"):
                out[key] = np.concatenate([out[key], 0.0 * polish])
        return out

    def checkpoints(self) -> np.ndarray:
        """Iteration counts (1-based, increasing) at which per-trial records are taken."""
        total = self.total_epochs * self.iterations
        every = np.arange(self.checkpoint_every, total + 1, self.checkpoint_every, dtype=np.int64)
        ends = self.iterations * np.arange(1, self.total_epochs + 1, dtype=np.int64)
        return np.union1d(every, ends)

    @property
    def blocks(self) -> int:
        """How many engine blocks the trials make (a block is the unit one thread runs): ``LANES``
        trials each, or fewer with training sets (:func:`pgd_bench.model.data.data_lanes`)."""
        lanes = data_lanes(self.samples, self.k * self.p) if self.samples else LANES
        return -(-self.trials // lanes)

    def threads_in_flight(self, threads: int) -> int:
        """How many of ``threads`` run this config's blocks at once.

        Parameters
        ----------
        threads : int
            The threads of the engine's pool.

        Returns
        -------
        int
            Each thread takes a block in turn, so never more than :attr:`blocks` (and at least 1).
        """
        return max(1, min(threads, self.blocks))

    def memory_bytes(self, threads: int | None = None) -> float:
        """An upper bound on the memory a run of this config allocates, in bytes.

        Per trial: the final ``w`` and ``a``, three outcome fields and the records at every
        checkpoint, and the temporaries the result's statistics make of ``w`` and ``a`` (copies
        and distances: measured at 6,000,000 trials, a 1.93 GB peak against 1.01 GB before they
        were counted); per thread that has a block to run, the engine's scratch for one block (an
        overlapping-patch mini-batch's whole inputs included); the working set of the final
        points' sharpness (:func:`pgd_bench.model.sharpness.sharpness_memory_bytes`: at 1,000,000
        trials the run peaked at 566 MB against 401 MB before it was counted); and the schedules.
        Computed without building any array, so absurd configs are refused cheaply.
        """
        threads = numba.get_num_threads() if threads is None else threads
        n_checkpoints = self.total_epochs * self.iterations // self.checkpoint_every + self.total_epochs
        per_trial = 3 * 8.0 * (self.p + self.k) + 25.0 + 8.0 * len(RECORD_FIELDS) * n_checkpoints
        recorded = 8.0 * min(self.record_states, self.trials) * n_checkpoints * (self.p + self.k)
        per_thread = 8.0 * LANES * (8 * (self.p + self.k) + 40)
        if self.samples:  # a block's training sets (inputs, labels), a batch drawn from them, a buffer
            per_thread += 8.0 * DATA_LANES * (self.samples + self.batch) * (self.k * self.p + 1)
            per_thread += 8.0 * self.samples * self.k * self.p
        elif self.batch and self.stride is not None and self.stride != self.p:
            # overlapping patches draw whole inputs per batch (engine: fresh, fresh_pre, fresh_work);
            # uncounted, a batch of 2^20 was estimated at 0.06 GiB and needed 11.5 GiB per block
            width = (self.k - 1) * self.stride + self.p
            per_thread += 8.0 * LANES * self.batch * (width + self.k + FRESH_WORK_ROWS)
        # a thread holds scratch only while it runs a block: never more threads than blocks (with
        # NUMBA_NUM_THREADS=10000000, a 5-trial run was refused as needing 725 GiB)
        in_flight = self.threads_in_flight(threads)
        # the sharpness of the final points (the summary's): chunks of Hessians, one per thread in flight
        statistics = sharpness_memory_bytes(self.trials, self.p + self.k, self.stride, threads)
        return (self.trials * per_trial + recorded + in_flight * per_thread + statistics
                + 8.0 * (5 * self.total_epochs + n_checkpoints))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for key, value in d.items():
            if isinstance(value, tuple):
                d[key] = list(value)
        return d

    def digest(self) -> str:
        """A short stable hash of the resolved config (for caching and file names)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


CONFIG_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
# Overrides that set both step sizes at once.
SHORTHANDS = {"eta": "initial step size of both w and a"}
MAX_ITERATIONS = 2**62  # iteration counts stay exact in the engine's 64-bit integers
SCHEDULE_KEYS = ("eta_w_schedule", "eta_a_schedule", "rho_w_schedule", "rho_a_schedule", "temperature_schedule")

# What a setting would be hidden by in a config file: an explicit schedule wins over its initial
# value and decay, so such a flag would do nothing (pgd-bench run refuses it)
SHADOWED_BY = {
    "eta_w": ("eta_w_schedule",),
    "eta_a": ("eta_a_schedule",),
    "eta": ("eta_w_schedule", "eta_a_schedule"),
    "eta_decay": ("eta_w_schedule", "eta_a_schedule"),
    "rho_w": ("rho_w_schedule",),
    "rho_a": ("rho_a_schedule",),
    "noise_decay": ("rho_w_schedule", "rho_a_schedule"),
    "temperature": ("temperature_schedule",),
    "temperature_decay": ("temperature_schedule",),
}


def overlay_settings(base: dict, overrides: dict) -> dict:
    """The settings ``base`` with ``overrides`` on top, as a command-line flag overrides a config
    file and a sweep's cell its base: the ``eta`` shorthand of ``overrides`` replaces ``base``'s
    ``eta_w`` and ``eta_a`` too (merged as plain dicts, a base's ``eta_w = 0.2`` beat a cell's
    ``eta = 0.3``, whose sweep then varied ``eta_a`` alone under the label ``eta``)."""
    merged = dict(base)
    if "eta" in overrides:
        merged.pop("eta_w", None)
        merged.pop("eta_a", None)
    merged.update(overrides)
    return merged


def _as_list(name, value, length, *, positive):
    """A per-epoch schedule: ``length`` finite values, each > 0 (``positive``) or >= 0."""
    arr = as_vector(name, value)
    if arr.shape[0] != length:
        raise ValueError(f"{name}: expected one value per epoch ({length}), got {arr.shape[0]}")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name}: expected values > 0 (a step size of 0 never moves)")
    if np.any(arr < 0):
        raise ValueError(f"{name}: expected non-negative values")
    return tuple(float(x) for x in arr)


def _perturbs(v):
    return algorithm_named(v["algorithm"]).perturbs


def _has_temperature(v):
    return algorithm_named(v["algorithm"]).temperature


_PERTURBING = "the perturbed methods (pgd, psgd)"
# Settings that only some runs use: (neutral value, whether this run uses it, which runs do). Given
# anything but the neutral value where unused, they are refused rather than silently ignored; the
# neutral value is what a resolved config carries, so ``resolve_config(**config.to_dict())`` works.
APPLIES_ONLY = {
    "batch": (0, lambda v: algorithm_named(v["algorithm"]).batch != BATCH_NEVER, "the mini-batch methods"),
    "rho_w": (0.0, _perturbs, _PERTURBING),
    "rho_a": (0.0, _perturbs, _PERTURBING),
    "noise_decay": (1.0, _perturbs, _PERTURBING),
    "rho_w_schedule": (None, _perturbs, _PERTURBING),
    "rho_a_schedule": (None, _perturbs, _PERTURBING),
    "noise_law": ("ball", _perturbs, _PERTURBING),
    "noise_on": ("both", _perturbs, _PERTURBING),
    "temperature": (0.0, _has_temperature, "Langevin dynamics (langevin)"),
    "temperature_decay": (1.0, _has_temperature, "Langevin dynamics (langevin)"),
    "temperature_schedule": (None, _has_temperature, "Langevin dynamics (langevin)"),
    "momentum": (0.0, lambda v: algorithm_named(v["algorithm"]).momentum, "gd, sgd, pgd and psgd"),
    "teacher_seed": (
        0,
        lambda v: is_seeded(v.get("teacher", "alternating")) and v.get("a_star") is None,
        "teacher families that draw (gaussian, and those registered with seeded=True), without an explicit a_star",
    ),
    "teacher": ("alternating", lambda v: v.get("a_star") is None, "runs without an explicit a_star"),
    "shared_data": (False, lambda v: not _equal(v.get("samples", 0), 0), "finite-sample runs (samples > 0)"),
    "label_noise": (0.0, lambda v: not _equal(v.get("samples", 0), 0), "finite-sample runs (samples > 0)"),
}


def resolve_config(**overrides) -> RunConfig:
    """Build and validate a :class:`RunConfig` from a preset and overrides.

    Parameters
    ----------
    **overrides
        Any :class:`RunConfig` field, plus ``eta`` (both step sizes). ``None`` values are ignored.
        Values come from the field defaults, then the preset (``preset``, default: the
        algorithm's own, see :mod:`pgd_bench.algorithms`), then these overrides.

    Raises
    ------
    ValueError
        Naming the setting: unknown keys or names, out-of-range or ill-typed values, settings the
        run would ignore, a run too large for this machine's memory, or a problem the outcomes
        cannot classify (a zero start radius, a tolerance past the optima's separation).
    """
    overrides = {key: value for key, value in overrides.items() if value is not None}
    unknown = set(overrides) - set(CONFIG_FIELDS) - set(SHORTHANDS)
    if unknown:
        raise ValueError(f"config: unknown key(s) {', '.join(sorted(unknown))}")
    algorithm = algorithm_named(overrides.get("algorithm", "gd"))
    presets = tuple(algorithm.presets)
    preset = as_choice("preset", overrides.get("preset", algorithm.default_preset), presets)
    context = {**overrides, "algorithm": algorithm.name}
    for key, (neutral, applies, where) in APPLIES_ONLY.items():
        if key in overrides and not _equal(overrides[key], neutral) and not applies(context):
            raise ValueError(f"{key}: applies only to {where}; this run ({algorithm.name}) would ignore it")

    # the field defaults, then the preset, then what was asked for
    carried = _preset_values(algorithm, preset)
    v: dict[str, Any] = {**carried, **overrides}
    v["algorithm"], v["preset"] = algorithm.name, preset
    if "eta" in overrides and "eta_w" in overrides and "eta_a" in overrides:
        raise ValueError("eta: eta_w and eta_a are both given, so eta would be ignored")
    eta = v.pop("eta", None)
    if eta is not None:  # the shorthand sets both step sizes unless one is given on its own
        eta = _positive("eta", eta)
        v["eta_w"] = overrides.get("eta_w", eta)
        v["eta_a"] = overrides.get("eta_a", eta)
    # a setting that per-epoch lists replace in every epoch would do nothing: refused when asked
    # for (the eta shorthand always), and otherwise set to the value the preset gives it, so that a
    # resolved config carries one value for it whatever the shorthand said (eta beside
    # eta_w_schedule), and its to_dict() resolves again to the same config
    for key, lists in SHADOWED_BY.items():
        if not all(v.get(name) is not None for name in lists):
            continue
        if key in overrides and (key in SHORTHANDS or not _equal(overrides[key], carried[key])):
            verb = "give" if len(lists) > 1 else "gives"
            raise ValueError(f"{key}: {' and '.join(lists)} {verb} every epoch's value, so {key} would be "
                             "ignored; remove one or the other")  # fmt: skip
        if key not in SHORTHANDS:
            v[key] = carried[key]
    # noise on one side only: the other side's radius is unused, so it is refused when given and
    # set to its neutral value otherwise (a resolved config then says what ran)
    unused = {"w": ("rho_a", "rho_a_schedule"), "a": ("rho_w", "rho_w_schedule"), "both": ()}
    for key in unused.get(v["noise_on"], ()) if isinstance(v["noise_on"], str) else ():
        neutral = CONFIG_FIELDS[key].default
        if key in overrides and not _equal(overrides[key], neutral):
            raise ValueError(
                f"{key}: noise_on = {v['noise_on']!r} perturbs only {v['noise_on']}; this value would be ignored"
            )
        v[key] = neutral
    for name, f in CONFIG_FIELDS.items():
        if f.metadata["check"] is not None:
            v[name] = f.metadata["check"](name, v[name])
    v["stride"] = as_stride(v["stride"], v["p"])  # None for S = p: the poster's model, the same config
    if v["stride"] is not None:
        if v["landscape"] not in (DEFAULT_LANDSCAPE, "overlapping"):
            raise ValueError(f"stride: the landscape {v['landscape']} has no patches to overlap")
        if "landscape" in overrides and v["landscape"] == DEFAULT_LANDSCAPE:  # it ran (and was labelled) overlapping
            raise ValueError(f"landscape: {DEFAULT_LANDSCAPE} is the non-overlapping model (stride = p); stride "
                             f"{v['stride']} < p = {v['p']} is the overlapping one: name it, or leave landscape "
                             "out")  # fmt: skip
        v["landscape"] = "overlapping"
    elif v["landscape"] == "overlapping":
        raise ValueError("landscape: overlapping needs a stride below p (--stride S with 1 <= S < p)")
    landscape = landscape_named(v["landscape"])
    for key in ("batch", "samples"):  # the engine's sample kernels are the CNN's network
        if not landscape.samples and not _equal(v[key], 0) and (key == "samples" or algorithm.batch != BATCH_NEVER):
            raise ValueError(
                f"{key}: the landscape {landscape.name} has no sample kernels (only exact gradients); "
                f"landscapes with them: {', '.join(n for n, x in LANDSCAPES.items() if x.samples)}"
            )
    if algorithm.batch == BATCH_NEVER:
        v["batch"] = 0
    else:  # 0 means the population gradient, allowed where the batch is optional
        v["batch"] = as_int("batch", v["batch"], minimum=1 if algorithm.batch == BATCH_ALWAYS else 0)
        if v["batch"] > MAX_BATCH:  # 2e9 ran for minutes, silent, within its first block
            raise ValueError(
                f"batch: at most {MAX_BATCH:,} samples per step, got {v['batch']:,} (that many samples give the "
                "population gradient to about 1e-3 at a million times its cost: run the exact gradient instead, "
                "gd for sgd, pgd for psgd, --batch 0 where the batch is optional)"
            )
    if v["a_star"] is not None:
        v["a_star"] = tuple(float(x) for x in as_vector("a_star", v["a_star"], length=v["k"]))
    for key in SCHEDULE_KEYS:
        if v[key] is not None:
            v[key] = _as_list(key, v[key], v["epochs"], positive=key.startswith("eta"))
    total = (v["epochs"] + v["polish_epochs"]) * v["iterations"]
    if total > MAX_ITERATIONS:
        raise ValueError(f"iterations: (epochs + polish_epochs) x iterations = {total} exceeds {MAX_ITERATIONS}")
    config = RunConfig(**v)
    check_memory(  # before building anything of the run's size, the schedules included
        "this run",
        config.memory_bytes(),
        "reduce trials, k, p, samples, batch, epochs or iterations, or record fewer checkpoints (checkpoint_every)",
    )
    with np.errstate(over="ignore", invalid="ignore"):
        schedules = config.schedules()
    for key, values in schedules.items():
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{key}: its schedule overflows to infinity (after decay or curvature scaling)")
        if key.startswith("eta") and not np.all(values > 0):  # eta_a / E||w + xi||^2 at rho_w = 1e300
            raise ValueError(f"{key}: its schedule underflows to 0 (after decay or curvature scaling): a step "
                             "of 0 never moves")  # fmt: skip
    _check_problem(config)
    return config


def _preset_values(algorithm, preset: str) -> dict[str, Any]:
    """Every field's value from the defaults and the preset alone, its ``eta`` shorthand expanded
    (into the step sizes the preset does not give on their own, as for overrides)."""
    values: dict[str, Any] = {name: f.default for name, f in CONFIG_FIELDS.items()}
    values.update(algorithm.presets[preset])
    eta = values.pop("eta", None)
    if eta is not None:
        values["eta_w"] = algorithm.presets[preset].get("eta_w", eta)
        values["eta_a"] = algorithm.presets[preset].get("eta_a", eta)
    return values


def _equal(value, neutral) -> bool:
    """Whether an override equals a neutral value (no exception for arrays or odd types)."""
    try:
        return bool(value == neutral)
    except (TypeError, ValueError):
        return False


UNKNOWN_OPTIMA_TOL = 0.5  # tol's bound where no spurious optimum is known (docs/mathematics.md)
# below this norm the teacher's squares underflow (np.finfo(float).tiny ** 0.5): a teacher of 1e-300
# passed as non-zero, and its loss, 0 everywhere, made every end point a "global" optimum
NUMERICALLY_ZERO_TEACHER = float(np.sqrt(np.finfo(np.float64).tiny))


def _check_problem(config: RunConfig) -> None:
    """Checks that need the teacher: the start ball, the divergence bound and the tolerance."""
    w_star, a_star = config.teacher_arrays()
    largest = float(np.max(np.abs(a_star)))  # scaled: the squares of 1e300 overflow to a norm of inf
    a_norm = largest * float(np.linalg.norm(a_star / largest)) if largest > 0 else 0.0
    if a_norm < NUMERICALLY_ZERO_TEACHER:
        why = f" (norm {a_norm:.3g}: its loss's squares underflow to 0, every point a global optimum)" if a_norm else ""
        raise ValueError(f"a_star: the zero teacher has no spurious optimum apart from the global one{why}")
    radius = config.resolved_start_radius()
    if radius == 0.0:
        raise ValueError(
            "start_radius: the paper's start ball for a has radius |1.a*|/sqrt(k) = 0 for this "
            "teacher (its weights sum to zero); give an explicit start_radius"
        )
    for name, size in (("a_star", a_norm), ("start_radius", radius)):
        if size >= config.a_bound / 10:
            raise ValueError(
                f"{name}: {'norm ' if name == 'a_star' else ''}{size:.6g} is not below a_bound / 10 = "
                f"{config.a_bound / 10:.6g}: trials near it would be counted as diverged; raise a_bound"
            )
    # Outcomes are tolerance balls around the two optima, on the squared joint distance
    # ||w - w_opt||^2 + ||a - a_opt||^2; past a quarter of the optima's squared distance the balls
    # overlap and a trapped trial could be counted a success.
    _, _, w_bar, a_bar = config.optima()
    if not np.all(np.isfinite(a_bar)) and config.tol >= UNKNOWN_OPTIMA_TOL:
        raise ValueError(
            f"tol: {config.tol:g} is not below {UNKNOWN_OPTIMA_TOL:g}: no spurious optimum is known for the landscape "
            f"{config.landscape}, so a wide ball could count trapped trials as global (its minima at stride < p "
            "have w orthogonal to w*, ||w - w*||^2 = 2); below 0.5 the filter is within 41 degrees of w*"
        )
    separation = float(np.sum((w_star - w_bar) ** 2) + np.sum((a_star - a_bar) ** 2))
    if config.tol >= separation / 4:  # False for NaN: no spurious optimum known, no overlap
        raise ValueError(
            f"tol: {config.tol:g} is not below {separation / 4:.6g}, a quarter of the squared distance "
            "between the global and the spurious optimum (the two tolerance balls would overlap)"
        )


MAX_CONFIG_BYTES = 16 * 2**20


def _object_without_repeated_keys(pairs):
    """A JSON object as a dict, refusing a key given twice (JSON keeps the last silently, where a
    TOML file with the same key is refused: ``{"k": 8, "k": 9}`` ran k = 9)."""
    data = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"the key {quoted(key)} is given twice")
        data[key] = value
    return data


def load_config_file(path) -> dict[str, Any]:
    """Read config keys from a TOML file, or from JSON: a config object, or the whole object that
    ``pgd-bench run --json`` prints (its ``config`` is used), so a printed run repeats with one
    command (with a note on stderr when it was printed under another random stream version).
    Unknown keys are an error.

    Raises
    ------
    ValueError
        Naming the file: unreadable, not UTF-8, not valid TOML or JSON, or with unknown keys.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)  # /dev/zero as a config ran out of memory
        if len(raw) > MAX_CONFIG_BYTES:
            raise ValueError(f"config: {path} is larger than {MAX_CONFIG_BYTES // 2**20} MiB: not a config file")
        text = raw.decode("utf-8")
    except OSError as exc:
        raise ValueError(f"config: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"config: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if str(path).endswith(".json") or text.lstrip().startswith("{"):
        try:
            data = json.loads(text, object_pairs_hook=_object_without_repeated_keys)
        except json.JSONDecodeError as exc:
            raise ValueError(f"config: {path} is not valid JSON: {exc}") from None
        except ValueError as exc:  # an integer too long to convert, a key given twice
            raise ValueError(f"config: {path}: {exc}") from None
        except RecursionError:  # thousands of nested arrays
            raise ValueError(f"config: {path} nests too deeply to be a config") from None
        if isinstance(data, dict) and isinstance(data.get("config"), dict) and "final_state_sha256" in data:
            data = _printed_run_config(path, data)  # the output of ``pgd-bench run --json``
        if not isinstance(data, dict):
            raise ValueError(f"config: {path} holds JSON that is not an object of config keys")
    else:
        try:
            data = tomllib.loads(text)
        except ValueError as exc:  # TOMLDecodeError, or an integer too long to convert
            raise ValueError(f"config: {path} is not valid TOML: {exc}") from None
        except RecursionError:
            raise ValueError(f"config: {path} nests too deeply to be a config") from None
    unknown = set(data) - set(CONFIG_FIELDS) - set(SHORTHANDS)
    if unknown:
        raise ValueError(f"config: unknown key(s) in {path}: {', '.join(sorted(unknown))}")
    return data


def _printed_run_config(path, printed: dict) -> dict:
    """The ``config`` object of a run's printed JSON, after checking what stands beside it.

    Its top level repeats ``trials`` beside the results: an edit there (or a setting added there)
    was silently ignored, the run repeating ``config``'s value. A ``stream_version`` that is not
    a version number (an edited ``"2"``) said that version 2 differs from version 2."""
    config = printed["config"]
    for key, value in printed.items():
        if key != "config" and (key in CONFIG_FIELDS or key in SHORTHANDS) and not _equal(value, config.get(key)):
            raise ValueError(f"config: {path}: {key} is {value!r} at the top level but {config.get(key)!r} in its "
                             f"\"config\", which is what runs: edit {key} inside \"config\"")  # fmt: skip
    version = printed.get("stream_version", 1)  # printed since version 2
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"config: {path}: stream_version {version!r}: expected a whole number (the version of the "
                         "random streams that run drew from)")  # fmt: skip
    if version != STREAM_VERSION:
        print(f"pgd-bench: {path} was run with random stream version {version}, this is version "
              f"{STREAM_VERSION}: the same seed now draws other numbers (same laws), so the "
              "outcomes will differ trial by trial", file=sys.stderr)  # fmt: skip
    return config


def engine_inputs(config: RunConfig) -> tuple[Problem, Schedule, tuple]:
    """What the engine needs for ``config``: its :class:`~pgd_bench.engine.Problem`,
    :class:`~pgd_bench.engine.Schedule`, and the options ``(rho_w, rho_a, batch, temperature,
    momentum, samples)``.

    An option the run does not use is zero (all-zero schedules, batch 0, momentum 0, samples 0),
    never None: every run has the same argument types, so one compiled engine serves them all
    (see ``engine._run_block``). The schedules are contiguous float64, their one compiled type.
    """
    w_star, a_star, w_bar, a_bar = config.optima()
    sched = config.schedules()
    problem = Problem(
        np.uint64(config.seed), w_star, a_star, w_bar, a_bar, float(config.resolved_start_radius()),
        float(config.tol), float(config.a_bound), NOISE_LAWS.index(config.noise_law), bool(config.shared_data),
        int(config.resolved_stride), float(config.label_noise),
        landscape_named(config.landscape).make_params(w_star, a_star, **config.model_options()),
    )  # fmt: skip
    schedule = Schedule(sched["eta_w"], sched["eta_a"], int(config.iterations), config.checkpoints())
    options = (
        np.ascontiguousarray(sched["rho_w"], dtype=np.float64),
        np.ascontiguousarray(sched["rho_a"], dtype=np.float64),
        int(config.batch),
        np.ascontiguousarray(sched["temperature"], dtype=np.float64),
        float(config.momentum),
        int(config.samples),
    )
    return problem, schedule, options
