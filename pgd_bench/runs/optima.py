"""Stationary points found by the suite itself: GD from many starts, polished, clustered, classified.

For a landscape whose spurious optima nobody gives in closed form (the overlapping CNN), this maps
what plain GD reaches: :func:`find_optima` runs GD from ``starts`` random starts through the engine
(the run's streams and seed), polishes every endpoint to a stationary point by Riemannian Newton
(Riemannian gradient norm below :data:`GRAD_TOL`), clusters the polished points, and for each
distinct one reports its loss, the eigenvalues of its Riemannian Hessian on the tangent space
(local minimum, saddle or degenerate), and the share of starts that end there with a Wilson
interval. For the poster's model it must find exactly the teacher and Du et al.'s spurious
optimum (tested). docs/mathematics.md, "Optima the suite finds".
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import as_int, check_memory
from ..engine import OUTCOME_NAMES
from ..model.landscape import curvature_scale, grad_rows, loss_rows
from ..model.sharpness import hessian_rows
from ..stats import wilson_interval
from .cache import cached_arrays, cell_key
from .config import RunConfig, resolve_config
from .execute import run
from .result import RunResult

GRAD_TOL = 1e-10  # a polished point's Riemannian gradient norm is below this
# Newton goes on past GRAD_TOL to this: at the CNN's spurious optimum the smallest curvature is
# about 6e-6, so a gradient of 1e-10 still leaves the point 1e-5 away along that direction
NEWTON_TARGET = 1e-14
CLUSTER_TOL = 1e-6  # polished points nearer than this (joint Euclidean distance) are one point
NEWTON_STEPS = 40  # Riemannian Newton iterations at most
MAX_NEWTON_STEP = 0.1  # a longer Newton step is shortened to this (a safeguard far from a point)
EIGEN_TOL = 1e-6  # |eigenvalue| below EIGEN_TOL * max(1, top): zero (the Hessian by differences errs ~1e-8)
GD_ITERATIONS = 4000  # GD's iterations from each start
GD_STEP = 0.1 * (np.pi - 1.0 + 8) / np.pi  # the paper's 0.1 at k = 8, scaled by curvature_scale(k)
PROBLEM_KEYS = ("landscape", "p", "k", "stride", "teacher", "teacher_seed", "a_star", "seed", "start_radius",
                "tol", "a_bound")  # fmt: skip


@dataclass(frozen=True)
class Optimum:
    """One stationary point GD reaches, with its Hessian's verdict and how often it is reached."""

    w: np.ndarray
    a: np.ndarray
    loss: float
    kind: str  # "global", "minimum", "saddle" or "degenerate"
    starts: int  # GD starts that end here
    share: float
    share_low: float
    share_high: float
    top: float  # largest eigenvalue of the Riemannian Hessian on the tangent space
    trace: float
    smallest: float  # smallest such eigenvalue
    grad_norm: float  # Riemannian gradient norm reached at the representative point
    distance_to_teacher: float
    null_directions_rise: bool | None = None  # degenerate points: does the loss rise along every probe?

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``pgd-bench optima --json`` prints."""
        return {"w": self.w.tolist(), "a": self.a.tolist(), "loss": self.loss, "kind": self.kind,
                "starts": self.starts, "share": self.share, "share_low": self.share_low,
                "share_high": self.share_high, "top": self.top, "trace": self.trace,
                "smallest_eigenvalue": self.smallest, "grad_norm": self.grad_norm,
                "distance_to_teacher": self.distance_to_teacher,
                "null_directions_rise": self.null_directions_rise}  # fmt: skip


@dataclass(frozen=True)
class OptimaResult:
    """What :func:`find_optima` found: the GD run's config, the optima (the global one first, then
    by share) and the starts that were not polished to a stationary point."""

    config: RunConfig
    optima: list[Optimum]
    unpolished: int  # starts whose GD diverged or whose Newton polish did not reach GRAD_TOL
    polish: str
    test: str

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "starts": self.config.trials, "unpolished": self.unpolished,
                "polish": self.polish, "test": self.test, "optima": [o.to_dict() for o in self.optima]}  # fmt: skip


def gd_config(config: RunConfig, starts: int) -> RunConfig:
    """The GD run whose endpoints :func:`find_optima` polishes: ``config``'s problem (landscape,
    sizes, teacher, seed, start ball), ``starts`` trials, :data:`GD_ITERATIONS` iterations at the
    paper's step 0.1 at ``k = 8``, scaled as ``curvature_scale(k)`` for other ``k`` (the top
    Hessian eigenvalue at the global optimum is about 8 at ``k = 8``: 0.1 is stable, 0.3 is not),
    and at most ``1 / top``, ``top`` that eigenvalue for this config's teacher and stride.

    The cap binds for overlapping patches only (for the poster's model ``eta * top`` is 0.81 to
    0.96 over the four teacher families and ``k`` in 4..32): their curvature at the teacher grows
    about 2.5 times faster with ``k`` (top 44.5 at ``s = 1``, ``k = 16``, against 16.2 at ``s = p``),
    and the uncapped step, up to 2.75 / top, is past GD's stability limit 2 / top: GD oscillated
    about the teacher and its endpoints reached the optima only through the polishing."""
    problem = {key: getattr(config, key) for key in PROBLEM_KEYS}
    w_star, a_star = config.teacher_arrays()
    hess = hessian_rows(w_star[None], a_star[None], w_star, a_star, config.stride)  # as find_optima passes it
    top = float(_tangent_spectrum(w_star[None], hess)[0][0, -1])
    eta = min(GD_STEP * curvature_scale(config.k), 1.0 / top)
    return resolve_config(**problem, algorithm="gd", trials=starts, epochs=1, iterations=GD_ITERATIONS, eta=eta)


def _riemannian_gradients(w, a, w_star, a_star, stride):
    grad_w, grad_a = grad_rows(w, a, w_star, a_star, stride)
    grad_w = grad_w - np.einsum("ni,ni->n", w, grad_w)[:, None] * w
    return grad_w, grad_a


def _polish(w, a, w_star, a_star, stride):
    """Riemannian Newton from every row at once; returns the points and their gradient norms."""
    p = w.shape[1]
    w, a = w.copy(), a.copy()
    best = np.full(w.shape[0], np.inf)  # each row's smallest gradient norm so far
    last = np.zeros((w.shape[0], w.shape[1] + a.shape[1]))  # each row's last two Newton steps
    before = np.zeros_like(last)
    for _ in range(NEWTON_STEPS + 1):
        grad_w, grad_a = _riemannian_gradients(w, a, w_star, a_star, stride)
        norms = np.sqrt(np.einsum("ni,ni->n", grad_w, grad_w) + np.einsum("nj,nj->n", grad_a, grad_a))
        stalled = (norms < GRAD_TOL) & (norms >= 0.5 * best)  # polished, and at rounding's floor
        moving = np.flatnonzero((norms >= NEWTON_TARGET) & ~stalled)
        best = np.minimum(best, norms)
        if moving.size == 0:
            break
        hess = hessian_rows(w[moving], a[moving], w_star, a_star, stride)
        normal = np.concatenate([w[moving], np.zeros_like(a[moving])], axis=1)
        # H maps the normal direction (w, 0) to 0: adding n n^T makes the system regular where the
        # tangent block is, and its solution for a tangent right-hand side stays tangent
        system = hess + normal[:, :, None] * normal[:, None, :]
        rhs = -np.concatenate([grad_w[moving], grad_a[moving]], axis=1)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            try:
                step = np.linalg.solve(system, rhs[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:  # a singular row: solve one by one, least squares
                step = np.stack([np.linalg.lstsq(m, r, rcond=None)[0] for m, r in zip(system, rhs)])
            length = np.sqrt(np.einsum("nd,nd->n", step, step))
            step *= np.minimum(1.0, MAX_NEWTON_STEP / np.where(length > 0, length, 1.0))[:, None]
            new_w = w[moving] + step[:, :p]
            w[moving] = new_w / np.linalg.norm(new_w, axis=1)[:, None]  # the retraction onto the sphere
            a[moving] = a[moving] + step[:, p:]
            before[moving], last[moving] = last[moving], step
    return (*_extrapolate(w, a, last, before, best, w_star, a_star, stride), best)


def _extrapolate(w, a, last, before, best, w_star, a_star, stride):
    """One geometric extrapolation where Newton converged linearly: at a degenerate point (the
    CNN's spurious optimum, where the loss rises as the cube of the angle) each Newton step halves
    the distance, and the gradient (~ distance^2) reaches rounding's floor about 1e-7 away. Where
    the last two steps point the same way with a ratio ``r`` in [0.3, 0.7], the remaining distance
    is the geometric series ``last r / (1 - r)``; the extrapolated point is kept if its gradient
    is no larger (at the floor both read as rounding)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        size_last = np.linalg.norm(last, axis=1)
        size_before = np.linalg.norm(before, axis=1)
        ratio = size_last / size_before
        aligned = np.einsum("nd,nd->n", last, before) / (size_last * size_before)
    rows = np.flatnonzero((ratio >= 0.3) & (ratio <= 0.7) & (aligned > 0.99) & (best < GRAD_TOL))
    if rows.size == 0:
        return w, a
    p = w.shape[1]
    step = last[rows] * (ratio[rows] / (1.0 - ratio[rows]))[:, None]
    new_w = w[rows] + step[:, :p]
    new_w /= np.linalg.norm(new_w, axis=1)[:, None]
    new_a = a[rows] + step[:, p:]
    grad_w, grad_a = _riemannian_gradients(new_w, new_a, w_star, a_star, stride)
    norms = np.sqrt(np.einsum("ni,ni->n", grad_w, grad_w) + np.einsum("nj,nj->n", grad_a, grad_a))
    keep = norms <= best[rows]
    w, a = w.copy(), a.copy()
    w[rows[keep]], a[rows[keep]] = new_w[keep], new_a[keep]
    best[rows[keep]] = norms[keep]
    return w, a


def _tangent_spectrum(w, hess):
    """Eigenvalues of each Riemannian Hessian on its tangent space (``p - 1 + k`` of them, rising)
    and their eigenvectors in ambient coordinates ``(w, a)`` (columns)."""
    n, p = w.shape
    dim = hess.shape[1]
    values = np.empty((n, dim - 1))
    vectors = np.empty((n, dim, dim - 1))
    for i in range(n):
        basis, _ = np.linalg.qr(np.column_stack([w[i], np.eye(p)]))  # first column +-w
        tangent = np.zeros((dim, dim - 1))
        tangent[:p, : p - 1] = basis[:, 1:p]
        tangent[p:, p - 1 :] = np.eye(dim - p)
        values[i], eigenvectors = np.linalg.eigh(tangent.T @ hess[i] @ tangent)
        vectors[i] = tangent @ eigenvectors
    return values, vectors


NULL_PROBES = 64  # random directions of a degenerate point's null space, each tried both ways
NULL_STEP = 1e-2  # geodesic length of each probe


def _null_directions_rise(w, a, values, vectors, zero, w_star, a_star, stride, seed) -> bool:
    """Whether the loss rises along every probe of the Hessian's null space at a degenerate point:
    a minimum of higher order (the CNN's spurious optimum rises as the cube of the angle)."""
    null = vectors[:, np.abs(values) <= zero]
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(NULL_PROBES, null.shape[1])) @ null.T
    directions = np.vstack([directions, -directions])
    directions /= np.linalg.norm(directions, axis=1)[:, None]
    p = w.size
    u_w, u_a = directions[:, :p], directions[:, p:]
    speed = np.linalg.norm(u_w, axis=1)
    safe = np.where(speed > 0, speed, 1.0)
    moved_w = np.cos(NULL_STEP * speed)[:, None] * w + np.sin(NULL_STEP * speed)[:, None] * u_w / safe[:, None]
    moved_a = a + NULL_STEP * u_a
    base = loss_rows(w[None, :], a[None, :], w_star, a_star, stride)[0]
    return bool(np.all(loss_rows(moved_w, moved_a, w_star, a_star, stride) > base))


MAX_SEARCH_DIM = (
    128  # p + k above this: the polish's Hessians (a (p + k)^2 matrix by differences per start) take minutes
)
ZERO_LOSS = 1e-12  # a stationary point whose loss is below this fits the teacher: a global optimum


def _kind(eigenvalues, top, at_teacher, loss) -> str:
    # not only the teacher: with overlapping patches and a*_0 = 0, the teacher's
    # filter shifted by one stride, with a* shifted too, fits every input exactly (loss 0)
    if at_teacher or loss < ZERO_LOSS:
        return "global"
    zero = EIGEN_TOL * max(1.0, abs(top))
    if eigenvalues[0] > zero:
        return "minimum"
    if eigenvalues[0] < -zero:
        return "saddle"
    return "degenerate"


def check_starts(config: RunConfig, starts, name: str = "starts") -> int:
    """``starts`` as an int, refused (a ``ValueError`` naming it ``name``) when the search's GD run would need
    more memory than :func:`~pgd_bench._validate.check_memory` allows: checked here, before the run's
    own check, so that the message names starts rather than the GD run's trials."""
    starts = as_int(name, starts, minimum=1)
    if config.p + config.k > MAX_SEARCH_DIM:
        raise ValueError(f"{name}: the search polishes every start with (p + k)-square Hessians; p + k = "
                         f"{config.p + config.k} is above {MAX_SEARCH_DIM}, where that takes minutes to "
                         "hours")  # fmt: skip
    one = gd_config(config, 1)
    # at the real size (replace: no check of its own yet), not one start's increment times the
    # starts: part of the estimate (the sharpness working set) stops growing at a chunk a thread
    total = replace(one, trials=starts).memory_bytes()
    per_start = (total - one.memory_bytes()) / max(1, starts - 1)
    check_memory(name, total, f"ask for fewer starts (each needs about {per_start / 2**10:.1f} KiB)")
    return starts


def find_optima(config: RunConfig, starts: int = 1000, progress=None) -> OptimaResult:
    """The stationary points GD reaches on ``config``'s landscape, found, polished and classified.

    Parameters
    ----------
    config : RunConfig
        Its problem (landscape and stride, ``p``, ``k``, teacher, seed, start ball) is used; its
        algorithm and schedule are not (the search runs plain GD, :func:`gd_config`).
    starts : int
        GD starts (trials); each ends in one stationary point or is counted ``unpolished``.
    progress : callable, optional
        Passed to :func:`~pgd_bench.runs.execute.run` for the GD run.

    Returns
    -------
    OptimaResult
        Deterministic for a seed (same starts, same GD bits, the same polish).
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"config: expected a RunConfig (pgd_bench.resolve_config(...)), got {type(config).__name__}")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress: expected a callable (done, total), got {progress!r}")
    starts = check_starts(config, starts)
    gd = gd_config(config, starts)
    result = run(gd, progress=progress)
    w_star, a_star = gd.teacher_arrays()
    stride = gd.stride
    finite = np.all(np.isfinite(result.w), axis=1) & np.all(np.isfinite(result.a), axis=1)
    w, a, norms = _polish(result.w[finite], result.a[finite], w_star, a_star, stride)
    polished = np.flatnonzero(norms < GRAD_TOL)
    unpolished = starts - polished.size
    # cluster: each polished point joins the first representative within CLUSTER_TOL
    reps: list[int] = []
    members: list[list[int]] = []
    points = np.concatenate([w, a], axis=1)
    for i in polished:
        for c, r in enumerate(reps):
            if np.linalg.norm(points[i] - points[r]) < CLUSTER_TOL:
                members[c].append(i)
                break
        else:
            reps.append(i)
            members.append([i])
    teacher = np.concatenate([w_star, a_star])
    if not any(np.linalg.norm(points[r] - teacher) < CLUSTER_TOL for r in reps):  # listed even if unreached
        w = np.vstack([w, w_star])
        a = np.vstack([a, a_star])
        points = np.vstack([points, teacher])
        norms = np.append(norms, 0.0)
        reps.append(points.shape[0] - 1)
        members.append([])
    rep_w, rep_a = w[reps], a[reps]
    hess = hessian_rows(rep_w, rep_a, w_star, a_star, stride)
    eigen, vectors = _tangent_spectrum(rep_w, hess)
    losses = np.maximum(loss_rows(rep_w, rep_a, w_star, a_star, stride), 0.0)
    optima = []
    for c, r in enumerate(reps):
        count = len(members[c])
        low, high = wilson_interval(count, starts)
        distance = float(np.linalg.norm(points[r] - teacher))
        kind = _kind(eigen[c], eigen[c][-1], distance < CLUSTER_TOL, float(losses[c]))
        rises = None
        if kind == "degenerate":
            zero = EIGEN_TOL * max(1.0, abs(eigen[c][-1]))
            rises = _null_directions_rise(rep_w[c], rep_a[c], eigen[c], vectors[c], zero, w_star, a_star, stride,
                                          gd.seed)  # fmt: skip
        optima.append(Optimum(
            w=rep_w[c], a=rep_a[c], loss=float(losses[c]), kind=kind, null_directions_rise=rises,
            starts=count, share=count / starts, share_low=low, share_high=high, top=float(eigen[c][-1]),
            trace=float(eigen[c].sum()), smallest=float(eigen[c][0]), grad_norm=float(norms[r]),
            distance_to_teacher=distance,
        ))  # fmt: skip
    optima.sort(key=lambda o: (o.kind != "global", o.distance_to_teacher >= CLUSTER_TOL, -o.starts, o.loss))
    hessian = "closed form" if stride is None else "central differences of the exact gradient"
    return OptimaResult(
        config=gd,
        optima=optima,
        unpolished=unpolished,
        polish=f"Riemannian Newton from GD's endpoints, to Riemannian gradient norm < {GRAD_TOL:g} (on until it "
        f"stops halving, at most {NEWTON_STEPS} steps)",
        test=f"smallest tangent eigenvalue of the Riemannian Hessian ({hessian}) against "
        f"+-{EIGEN_TOL:g} x max(1, top): above, a minimum; below, a saddle; between, degenerate (then the "
        f"loss is probed along {2 * NULL_PROBES} directions of the null space at distance {NULL_STEP:g}: "
        "'rises' is a minimum of higher order)",
    )


# --- the optima found, as arrays (cached), and the trials that ended at them -----------------------

KIND_NAMES = ("global", "minimum", "saddle", "degenerate")  # an optimum's kind, as a number in arrays
OPTIMUM_FIELDS = ("loss", "kind", "starts", "share", "share_low", "share_high", "top", "trace", "grad_norm",
                  "cos_w", "a_norm", "a_sum")  # fmt: skip
# a run's final point within this joint distance sqrt(||w - w_i||^2 + ||a - a_i||^2) of found point i
# (and nearer to it than to any other) ended there: mini-batch methods end jittering 0.2 to 0.4
# from a minimum at the quick run's budgets, full-gradient ones within 0.05; the found points of one
# (s, k) are 1 to 2.5 apart
NEAR_FOUND = 0.5
DEFAULT_STARTS = 1000  # ``pgd-bench optima``'s and ``run``'s search, so that they share the cache


def optima_arrays(found: OptimaResult) -> dict[str, np.ndarray]:
    """``found``'s optima as arrays (one entry per optimum, in its order): ``w`` and ``a`` stacked,
    :data:`OPTIMUM_FIELDS` (``kind`` as an index into :data:`KIND_NAMES`, ``cos_w`` = ``w . w*``) and
    ``unpolished``: what :func:`cached_optima` keeps."""
    w_star, _ = found.config.teacher_arrays()
    rows = {field: [] for field in OPTIMUM_FIELDS}
    for o in found.optima:
        values = {**o.to_dict(), "kind": KIND_NAMES.index(o.kind), "cos_w": float(o.w @ w_star),
                  "a_norm": float(np.linalg.norm(o.a)), "a_sum": float(o.a.sum())}  # fmt: skip
        for field in OPTIMUM_FIELDS:
            rows[field].append(values[field])
    p, k = found.config.p, found.config.k
    return {**{f: np.asarray(v, dtype=float) for f, v in rows.items()},
            "w": np.asarray([o.w for o in found.optima]).reshape(-1, p),
            "a": np.asarray([o.a for o in found.optima]).reshape(-1, k),
            "unpolished": np.asarray(found.unpolished)}  # fmt: skip


def _valid_optima(config: RunConfig):
    """Whether saved optima arrays are whole and of ``config``'s shapes (a damaged or hand-edited file
    is searched again, as :func:`~pgd_bench.runs.cache.cached_arrays` does for an unreadable one)."""

    def valid(arrays) -> bool:
        if not all(name in arrays for name in ("w", "a", "unpolished", *OPTIMUM_FIELDS)):
            return False
        n = arrays["loss"].shape[0] if arrays["loss"].ndim == 1 else -1
        return (n >= 1 and arrays["w"].shape == (n, config.p) and arrays["a"].shape == (n, config.k)
                and all(arrays[f].shape == (n,) and np.all(np.isfinite(arrays[f])) for f in OPTIMUM_FIELDS)
                and bool(np.all(np.isfinite(arrays["w"])) and np.all(np.isfinite(arrays["a"])))
                and set(np.unique(arrays["kind"])) <= set(range(len(KIND_NAMES)))
                and arrays["kind"][0] == KIND_NAMES.index("global"))  # fmt: skip

    return valid


def optima_cache_dir(cache_dir) -> Path:
    """``cache_dir`` made ready for the optima files (created if missing), or a ``ValueError`` saying why
    it cannot be: called before a run, so that its result is not lost to a cache that cannot be written."""
    if not isinstance(cache_dir, str | Path) or not str(cache_dir):
        raise ValueError(f"cache_dir: expected a folder path, got {cache_dir!r}")
    path = Path(cache_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cache_dir: cannot create {path} ({error.strerror or error})") from error
    if not path.is_dir() or not os.access(path, os.W_OK):
        raise ValueError(f"cache_dir: {path} is not a writable folder")
    return path


def cached_optima(config: RunConfig, cache_dir, starts: int = DEFAULT_STARTS, *, force: bool = False, progress=None):
    """:func:`optima_arrays` of ``find_optima(config, starts)``, kept in ``cache_dir`` like a cell:
    the file is named by the search's GD config and the code (:func:`~pgd_bench.runs.cache.cell_key`),
    so any run of the same problem (landscape, sizes, teacher, seed, start ball) reuses it. A file
    that is damaged or not of this problem's shapes is searched again."""
    if not isinstance(config, RunConfig):
        raise ValueError(f"config: expected a RunConfig (pgd_bench.resolve_config(...)), got {type(config).__name__}")
    if not isinstance(force, bool):
        raise ValueError(f"force: expected True or False, got {force!r}")
    starts = check_starts(config, starts)
    path = optima_cache_dir(cache_dir) / f"optima-{cell_key(gd_config(config, starts))}-{starts}.npz"
    return cached_arrays(path, lambda: optima_arrays(find_optima(config, starts=starts, progress=progress)),
                         valid=_valid_optima(config), force=force)  # fmt: skip


def _check_found(result, arrays) -> None:
    if not isinstance(result, RunResult):
        raise ValueError(f"result: expected a RunResult (pgd_bench.run(...)), got {type(result).__name__}")
    if not hasattr(arrays, "keys") or not _valid_optima(result.config)(arrays):
        raise ValueError("arrays: expected the optima of the result's problem, as cached_optima(config, ...) "
                         f"gives them (w of shape (n, {result.config.p}), a (n, {result.config.k}), the teacher "
                         "first)")  # fmt: skip


def nearest_found(result: RunResult, arrays) -> np.ndarray:
    """Per trial, the index of the found point it ended at (within :data:`NEAR_FOUND` of it, the
    nearest one), or -1: diverged, or nearer than that to none of them."""
    _check_found(result, arrays)
    at = np.full(result.outcome.size, -1)
    alive = np.flatnonzero(result.outcome != OUTCOME_NAMES.index("diverged"))
    if alive.size == 0:
        return at
    w, a = result.w[alive], result.a[alive]
    distance = np.sqrt(((w[:, None, :] - arrays["w"][None]) ** 2).sum(-1)
                       + ((a[:, None, :] - arrays["a"][None]) ** 2).sum(-1))  # fmt: skip
    nearest = distance.argmin(axis=1)
    at[alive] = np.where(distance.min(axis=1) < NEAR_FOUND, nearest, -1)
    return at


def found_basins(result: RunResult, arrays) -> dict[str, int]:
    """Where a run's trials ended on a landscape with no spurious optimum in closed form, against
    the optima found for it (``arrays``, as :func:`cached_optima` gives them):

    - ``global``: at a global optimum: within ``tol`` of the teacher (the run's own outcome), or
      within :data:`NEAR_FOUND` of another zero-loss point the search found (kind ``global``: with
      overlapping patches and ``a*_0 = 0``, the teacher shifted by one stride fits exactly);
    - ``optimum_i``: at found point ``i`` of another kind (1, 2, ... in :func:`find_optima`'s order;
      within :data:`NEAR_FOUND` of it, nearest to it);
    - ``elsewhere``: not diverged, near none of them (still on its way, or at a point GD's search
      did not find; a trial near the teacher but outside ``tol`` too);
    - ``diverged``.

    The counts add up to the trials; a key for every found point that is not global.
    """
    at = nearest_found(result, arrays)
    global_points = np.flatnonzero(arrays["kind"] == KIND_NAMES.index("global"))
    diverged = result.outcome == OUTCOME_NAMES.index("diverged")
    is_global = (result.outcome == OUTCOME_NAMES.index("global")) | (np.isin(at, global_points) & (at > 0))
    counts = {"global": int(is_global.sum())}
    for i in range(1, arrays["loss"].size):
        if i not in global_points:
            counts[f"optimum_{i}"] = int(np.sum((at == i) & ~is_global))
    counts["elsewhere"] = int(np.sum(~is_global & ~diverged & ((at <= 0) | np.isin(at, global_points))))
    counts["diverged"] = int(diverged.sum())
    return counts


def found_optima_summary(arrays) -> list[dict]:
    """The found points ``found_basins`` names, for ``run --json``: index, kind, loss, GD's share."""
    return [{"optimum": i, "kind": KIND_NAMES[int(arrays["kind"][i])], "loss": float(arrays["loss"][i]),
             "gd_share": float(arrays["share"][i]), "top": float(arrays["top"][i]),
             "w": arrays["w"][i].tolist(), "a": arrays["a"][i].tolist()}
            for i in range(arrays["loss"].size)]  # fmt: skip
