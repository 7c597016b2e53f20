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
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numba
import numpy as np

from ._validate import as_bool, as_choice, as_float, as_int, as_seed, as_vector, check_memory
from .algorithms import BATCH_ALWAYS, BATCH_NEVER, TEACHERS, algorithm_named
from .data import DATA_LANES
from .engine import LANES, NOISE_LAWS, OUTCOME_NAMES, RECORD_FIELDS, Outputs, Problem, Schedule, run_trials
from .landscape import spurious_optimum
from .random import STREAM_VERSION
from .sharpness import sharpness as hessian_sharpness
from .stats import expected_running_time, wilson_interval

NOISE_TARGETS = ("both", "w", "a")
BASIN_NAMES = ("global", "spurious", "diverged")


def teacher_weights(name: str, k: int, teacher_seed: int = 0) -> np.ndarray:
    """The teacher's output weights ``a*`` of a registered family, index ``j = 0..k-1``.

    Parameters
    ----------
    name : str
        A key of :data:`pgd_bench.algorithms.TEACHERS`. Built in: ``ones``: 1; ``alternating``:
        ``(-1)^j + 0.1``; ``linspace``: ``-1 + 2j/(k-1) + 1/k``; ``gaussian``:
        ``numpy.random.default_rng(teacher_seed).standard_normal(k)``.
    k : int
        Number of patches.
    teacher_seed : int
        Seed of the families that draw (``gaussian``).

    Returns
    -------
    ndarray, shape (k,)
    """
    k = as_int("k", k, minimum=1)
    name = as_choice("teacher", name, tuple(TEACHERS))
    weights = np.asarray(TEACHERS[name](k, as_seed("teacher_seed", teacher_seed)), dtype=np.float64)
    if weights.shape != (k,):
        raise ValueError(f"teacher: family {name!r} returned shape {weights.shape}, expected ({k},)")
    return weights


def _setting(default, help, *, flag=True, check=None):
    """A :class:`RunConfig` field: its default, its ``--help`` line, whether it is a command-line
    flag, and the function that validates it (``check(name, value) -> value``)."""
    return field(default=default, metadata={"help": help, "flag": flag, "check": check})


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
    p: int = _setting(6, "patch (filter) dimension", check=_positive_int)
    k: int = _setting(8, "number of patches", check=_positive_int)
    teacher: str = _setting("alternating", "family of the teacher's a*", check=_choice_of(TEACHERS))
    teacher_seed: int = _setting(0, "seed of the gaussian teacher family", check=as_seed)
    a_star: tuple[float, ...] | None = _setting(None, "explicit teacher weights, k values (replaces --teacher)")
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

    def resolved_start_radius(self) -> float:
        """Radius of the ball of initial ``a``: explicit, or the paper's ``|1.a*| / sqrt(k)``."""
        if self.start_radius is not None:
            return self.start_radius
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
            per_k = np.pi / (np.pi - 1.0 + self.k)
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

    def memory_bytes(self, threads: int | None = None) -> float:
        """An upper bound on the memory a run of this config allocates, in bytes.

        Per trial: the final ``w`` and ``a``, three outcome fields and the records at every
        checkpoint; per thread, the engine's scratch for one block of lanes; and the schedules.
        Computed without building any array, so absurd configs are refused cheaply.
        """
        threads = numba.get_num_threads() if threads is None else threads
        n_checkpoints = self.total_epochs * self.iterations // self.checkpoint_every + self.total_epochs
        per_trial = 8.0 * (self.p + self.k) + 25.0 + 8.0 * len(RECORD_FIELDS) * n_checkpoints
        recorded = 8.0 * min(self.record_states, self.trials) * n_checkpoints * (self.p + self.k)
        per_thread = 8.0 * LANES * (8 * (self.p + self.k) + 40)
        if self.samples:  # a block's training sets (inputs, labels), a batch drawn from them, a buffer
            per_thread += 8.0 * DATA_LANES * (self.samples + self.batch) * (self.k * self.p + 1)
            per_thread += 8.0 * self.samples * self.k * self.p
        return self.trials * per_trial + recorded + threads * per_thread + 8.0 * (5 * self.total_epochs + n_checkpoints)

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
        lambda v: v.get("teacher", "alternating") == "gaussian" and v.get("a_star") is None,
        "the gaussian teacher without an explicit a_star",
    ),
    "teacher": ("alternating", lambda v: v.get("a_star") is None, "runs without an explicit a_star"),
    "shared_data": (False, lambda v: not _equal(v.get("samples", 0), 0), "finite-sample runs (samples > 0)"),
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
    v: dict[str, Any] = {name: f.default for name, f in CONFIG_FIELDS.items()}
    v.update(algorithm.presets[preset])
    v.update(overrides)
    v["algorithm"], v["preset"] = algorithm.name, preset
    if "eta" in overrides and "eta_w" in overrides and "eta_a" in overrides:
        raise ValueError("eta: eta_w and eta_a are both given, so eta would be ignored")
    eta = v.pop("eta", None)
    if eta is not None:  # the shorthand sets both step sizes unless one is given on its own
        eta = _positive("eta", eta)
        v["eta_w"] = overrides.get("eta_w", eta)
        v["eta_a"] = overrides.get("eta_a", eta)
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
    if algorithm.batch == BATCH_NEVER:
        v["batch"] = 0
    else:  # 0 means the population gradient, allowed where the batch is optional
        v["batch"] = as_int("batch", v["batch"], minimum=1 if algorithm.batch == BATCH_ALWAYS else 0)
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
        "reduce trials, k, p, samples, epochs or iterations, or record fewer checkpoints (checkpoint_every)",
    )
    with np.errstate(over="ignore", invalid="ignore"):
        schedules = config.schedules()
    for key, values in schedules.items():
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{key}: its schedule overflows to infinity (after decay or curvature scaling)")
    _check_problem(config)
    return config


def _equal(value, neutral) -> bool:
    """Whether an override equals a neutral value (no exception for arrays or odd types)."""
    try:
        return bool(value == neutral)
    except (TypeError, ValueError):
        return False


def _check_problem(config: RunConfig) -> None:
    """Checks that need the teacher: the start ball, the divergence bound and the tolerance."""
    w_star, a_star = config.teacher_arrays()
    if not np.any(a_star):
        raise ValueError("a_star: the zero teacher has no spurious optimum apart from the global one")
    radius = config.resolved_start_radius()
    if radius == 0.0:
        raise ValueError(
            "start_radius: the paper's start ball for a has radius |1.a*|/sqrt(k) = 0 for this "
            "teacher (its weights sum to zero); give an explicit start_radius"
        )
    a_norm = float(np.linalg.norm(a_star))
    for name, size in (("a_star", a_norm), ("start_radius", radius)):
        if size >= config.a_bound / 10:
            raise ValueError(
                f"{name}: {'norm ' if name == 'a_star' else ''}{size:.6g} is not below a_bound / 10 = "
                f"{config.a_bound / 10:.6g}: trials near it would be counted as diverged; raise a_bound"
            )
    # Outcomes are tolerance balls around the two optima, on the squared joint distance
    # ||w - w_opt||^2 + ||a - a_opt||^2; past a quarter of the optima's squared distance the balls
    # overlap and a trapped trial could be counted a success.
    w_bar, a_bar = spurious_optimum(w_star, a_star)
    separation = float(np.sum((w_star - w_bar) ** 2) + np.sum((a_star - a_bar) ** 2))
    if config.tol >= separation / 4:
        raise ValueError(
            f"tol: {config.tol:g} is not below {separation / 4:.6g}, a quarter of the squared distance "
            "between the global and the spurious optimum (the two tolerance balls would overlap)"
        )


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
            text = fh.read().decode("utf-8")
    except OSError as exc:
        raise ValueError(f"config: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"config: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if str(path).endswith(".json") or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
            raise ValueError(f"config: {path} is not valid JSON: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("config"), dict) and "final_state_sha256" in data:
            version = data.get("stream_version", 1)  # printed since version 2
            if version != STREAM_VERSION:
                print(f"pgd-bench: {path} was run with random stream version {version}, this is version "
                      f"{STREAM_VERSION}: the same seed now draws other numbers (same laws), so the "
                      "outcomes will differ trial by trial", file=sys.stderr)  # fmt: skip
            data = data["config"]  # the output of ``pgd-bench run --json``
        if not isinstance(data, dict):
            raise ValueError(f"config: {path} holds JSON that is not an object of config keys")
    else:
        try:
            data = tomllib.loads(text)
        except ValueError as exc:  # TOMLDecodeError, or an integer too long to convert
            raise ValueError(f"config: {path} is not valid TOML: {exc}") from None
    unknown = set(data) - set(CONFIG_FIELDS) - set(SHORTHANDS)
    if unknown:
        raise ValueError(f"config: unknown key(s) in {path}: {', '.join(sorted(unknown))}")
    return data


@dataclass
class RunResult:
    """Per-trial outputs of a run, in trial-index order.

    Attributes
    ----------
    config : RunConfig
    w, a : ndarray, shapes (trials, p) and (trials, k)
        Final iterates (the last finite ones for diverged trials).
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
        is counted ``unconverged``); ``diverged`` apart.
        """
        w_star, a_star = self.config.teacher_arrays()
        w_bar, a_bar = spurious_optimum(w_star, a_star)
        with np.errstate(over="ignore", invalid="ignore"):  # diverged trials' states may overflow
            return self._basin(w_star, a_star, w_bar, a_bar)

    def _basin(self, w_star, a_star, w_bar, a_bar):
        to_global = np.sum((self.w - w_star) ** 2, axis=1) + np.sum((self.a - a_star) ** 2, axis=1)
        to_spurious = np.sum((self.w - w_bar) ** 2, axis=1) + np.sum((self.a - a_bar) ** 2, axis=1)
        basin = np.where(to_global <= to_spurious, BASIN_NAMES.index("global"), BASIN_NAMES.index("spurious"))
        return np.where(self.outcome == OUTCOME_NAMES.index("diverged"), BASIN_NAMES.index("diverged"), basin)

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
        (:func:`pgd_bench.sharpness.sharpness`); NaN for diverged trials."""
        w_star, a_star = self.config.teacher_arrays()
        diverged = self.outcome == OUTCOME_NAMES.index("diverged")
        w = np.where(diverged[:, None], np.nan, self.w)
        return hessian_sharpness(w, self.a, w_star, a_star)

    def by_basin(self, values: np.ndarray) -> dict[str, Any]:
        """``{"mean": ..., "by_basin": {"global": ..., "spurious": ...}}``: means of a per-trial
        quantity over the trials that did not diverge, and over each basin (None where empty)."""
        basin = self.basin()

        def mean(mask):
            chosen = values[mask & np.isfinite(values)]
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
        """What ran, as one flat row: every scalar setting of the resolved config (None as an
        empty string; per-epoch lists and an explicit ``a_star`` are summarised by the hash), the
        config hash, and the package and stream versions."""
        from ._provenance import PACKAGE_VERSION

        scalars = {key: value for key, value in self.config.to_dict().items() if not isinstance(value, list | dict)}
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


def engine_inputs(config: RunConfig) -> tuple[Problem, Schedule, tuple]:
    """What the engine needs for ``config``: its :class:`~pgd_bench.engine.Problem`,
    :class:`~pgd_bench.engine.Schedule`, and the options ``(rho_w, rho_a, batch, temperature,
    momentum, samples)``.

    An option the run does not use is None, not zero: the engine is then compiled without that
    phase (see ``engine._run_block``). The radii are both present or both None, so that noise on
    ``w`` only or ``a`` only shares the compiled variant of noise on both.
    """
    w_star, a_star = config.teacher_arrays()
    w_bar, a_bar = spurious_optimum(w_star, a_star)
    sched = config.schedules()
    problem = Problem(
        np.uint64(config.seed), w_star, a_star, w_bar, a_bar, float(config.resolved_start_radius()),
        float(config.tol), float(config.a_bound), NOISE_LAWS.index(config.noise_law), bool(config.shared_data),
    )  # fmt: skip
    schedule = Schedule(sched["eta_w"], sched["eta_a"], int(config.iterations), config.checkpoints())
    noisy = np.any(sched["rho_w"] > 0) or np.any(sched["rho_a"] > 0)
    options = (
        sched["rho_w"] if noisy else None,
        sched["rho_a"] if noisy else None,
        config.batch if config.batch > 0 else None,
        sched["temperature"] if np.any(sched["temperature"] > 0) else None,
        float(config.momentum) if config.momentum > 0 else None,
        int(config.samples) if config.samples > 0 else None,
    )
    return problem, schedule, options


def allocate_outputs(config: RunConfig, first: int = 0, count: int | None = None) -> Outputs:
    """The engine's per-trial output arrays for trials ``first .. first + count - 1`` of ``config``
    (default: all of them), uninitialised: the engine fills them. ``states`` has a row for each of
    those trials that ``record_states`` records."""
    n = config.trials - first if count is None else count
    n_checkpoints = config.checkpoints().size
    recorded = max(0, min(config.record_states, first + n) - first)
    return Outputs(
        np.empty((n, config.p)), np.empty((n, config.k)), np.empty(n, dtype=np.int8), np.empty(n, dtype=np.int64),
        np.empty(n, dtype=np.int64), np.empty((n, n_checkpoints, len(RECORD_FIELDS))), np.empty(n),
        np.empty((recorded, n_checkpoints, config.p + config.k)),
    )  # fmt: skip


class Chunk(NamedTuple):
    """Trials ``first .. first + len(outputs.w) - 1`` of a run: their outputs and the seconds they took."""

    first: int
    outputs: Outputs
    seconds: float


def run_chunk(config: RunConfig, first: int, count: int) -> Chunk:
    """Run trials ``first .. first + count - 1`` of ``config`` alone (on this process's threads).

    Trial ``i`` depends only on ``(config, seed, i)``, so any split of a run into chunks, run
    anywhere, gives the same bits as the whole run: :func:`merge_chunks` puts them back together
    (this is how ``pgd-bench sweep`` spreads a cell over a Dask cluster).
    """
    first = as_int("first", first, minimum=0)
    count = as_int("count", count, minimum=1)
    if first + count > config.trials:
        raise ValueError(f"first + count: trials {first} to {first + count - 1} are past the run's {config.trials}")
    warm_up(config)
    problem, schedule, options = engine_inputs(config)
    outputs = allocate_outputs(config, first, count)
    threads = numba.get_num_threads()
    start = time.perf_counter()
    run_trials(first, problem, schedule, options, outputs, executor=thread_pool(threads), threads=threads)
    return Chunk(first, outputs, time.perf_counter() - start)


def merge_chunks(config: RunConfig, chunks) -> RunResult:
    """The :class:`RunResult` of ``config`` from chunks that cover its trials exactly once, in any
    order; ``seconds`` is the sum of the chunks' (the work, not the wall time)."""
    chunks = sorted(chunks, key=lambda chunk: chunk.first)
    expected = 0
    for chunk in chunks:
        if chunk.first != expected:
            raise ValueError(
                f"chunks: trials from {expected} are missing or repeated (a chunk starts at {chunk.first})"
            )
        expected += chunk.outputs.w.shape[0]
    if expected != config.trials:
        raise ValueError(f"chunks: they cover {expected} trials, the run has {config.trials}")
    outputs = Outputs(*(np.concatenate([getattr(c.outputs, name) for c in chunks]) for name in Outputs._fields))
    seconds = float(sum(chunk.seconds for chunk in chunks))
    return RunResult(config, *outputs[:5], config.checkpoints(), outputs.records, outputs.train_loss, outputs.states,
                     seconds)  # fmt: skip


def warm_up(config: RunConfig) -> None:
    """Compile (or load from cache) the engine for ``config``'s types on one short trial.

    The short run keeps the same options present or absent (``None``), so it compiles the very
    variant the full run uses: one epoch whose schedules hold each schedule's largest value.
    """
    one = {key: (max(value),) for key in SCHEDULE_KEYS if (value := getattr(config, key)) is not None}
    tiny = dataclasses.replace(config, trials=1, epochs=1, iterations=1, **one)
    run(tiny, warm=False)


_POOL: dict[int, ThreadPoolExecutor] = {}


def thread_pool(workers: int) -> ThreadPoolExecutor | None:
    """A pool of ``workers`` threads kept for the life of the process (None for none): starting
    threads for every run would cost more than a short run itself."""
    if workers < 1:
        return None
    if workers not in _POOL:
        _POOL[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pgd_bench")
    return _POOL[workers]


def run(
    config: RunConfig,
    *,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    warm: bool = True,
) -> RunResult:
    """Run every trial of ``config`` and return the per-trial results.

    Parameters
    ----------
    config : RunConfig
        From :func:`resolve_config`.
    chunk_size : int, optional
        Trials per engine call; results do not depend on it. Default: the whole run in one
        call, whose threads take blocks of trials in turn until none is left.
    progress : callable, optional
        Called as ``progress(done, total)`` as blocks of trials finish.
    warm : bool, default True
        Compile first so that ``seconds`` excludes compile time.

    Returns
    -------
    RunResult
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"config: expected a RunConfig from resolve_config, got {type(config).__name__}")
    if resolve_config(**config.to_dict()) != config:  # a RunConfig built by hand is checked like any other
        raise ValueError("config: not a resolved config; build it with resolve_config(**settings)")
    if warm:
        warm_up(config)
    n = config.trials
    problem, schedule, options = engine_inputs(config)
    checkpoints = schedule.checkpoints
    outputs = allocate_outputs(config)
    chunk_size = as_int("chunk_size", n if chunk_size is None else chunk_size, minimum=1)
    threads = numba.get_num_threads()
    executor = thread_pool(threads)
    start = time.perf_counter()
    for first in range(0, n, chunk_size):
        chunk = Outputs(*(array[first : first + chunk_size] for array in outputs))
        report = None if progress is None else (lambda done, first=first: progress(first + done, n))
        run_trials(first, problem, schedule, options, chunk, executor=executor, threads=threads, progress=report)
    seconds = time.perf_counter() - start
    return RunResult(config, *outputs[:5], checkpoints, outputs.records, outputs.train_loss, outputs.states, seconds)


class ProgressBar:
    """Progress on stderr, shown only once a run has lasted ``delay`` seconds.

    On a terminal, one line redrawn in place (at most five times a second); elsewhere (a log file,
    a pipe, CI), a plain line every ``log_every`` seconds and at the end, with no carriage returns.
    """

    def __init__(self, label: str, delay: float = 1.0, stream=None, log_every: float = 10.0):
        self.label = label
        self.delay = delay
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self.shown = False
        self.last_draw = 0.0
        try:
            self.terminal = bool(self.stream.isatty())
        except (AttributeError, ValueError, OSError):
            self.terminal = False
        self.interval = 0.2 if self.terminal else log_every

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.start
        if self.stream is None or (not self.shown and elapsed < self.delay):
            return  # short runs print nothing
        if done < total and elapsed - self.last_draw < self.interval:
            return
        self.shown = True
        self.last_draw = elapsed
        width = 30
        filled = int(width * done / max(total, 1))
        eta = elapsed / max(done, 1) * (total - done)
        text = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {elapsed:5.1f}s eta {eta:4.0f}s"
        if self.terminal:
            line = "\r" + text + ("\n" if done >= total else "")
        else:
            line = text + "\n"
        try:
            self.stream.write(line)
            self.stream.flush()
        except (OSError, AttributeError, ValueError):  # stderr closed or full: the run matters more
            self.stream = None
