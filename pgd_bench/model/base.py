"""The landscape record: what the engine, the runs and the results need from a model.

A landscape is a loss ``L(w, a)`` over the student's domain (``w`` on the unit sphere of ``R^p``,
``a`` in ``R^k``) with a teacher ``(w*, a*)`` at its global optimum. Its record names its lane
kernels (the engine calls them through :func:`loss_lanes_of` and :func:`grad_lanes_of`, resolved
at compile time from the type of its parameters) and, where they exist, its known spurious optimum,
its Riemannian Hessian and its sample kernels. The registry is :mod:`pgd_bench.model.registry`;
docs/adding-a-landscape.md walks through adding one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._provenance import PACKAGE_DIR

LANE_WORK_ROWS = 12  # rows of the ``work`` array a landscape's lane kernels may use


@dataclass(frozen=True)
class Landscape:
    """A model's landscape, as every layer above the model sees it.

    Attributes
    ----------
    name : str
        The key in configs and on the command line (``--landscape NAME``).
    summary : str
        One line for ``--help`` and the docs.
    params_type : type
        A module-level :class:`typing.NamedTuple` class of the parameters its lane kernels read
        (the CNN's: ``w_star``, ``a_star``). The engine is compiled once per such type, and the
        compiled variant is cached when the class is defined inside this package.
    make_params : callable
        ``make_params(w_star, a_star, **options) -> params_type`` instance.
    loss_lanes : numba dispatcher
        Compiled with ``inline="always"`` (``pgd_bench._jit.jit(inline=True)`` in the package), so
        that the engine inlines it. ``loss_lanes(params, w, a, work, loss, angle)``: per lane ``l``
        (the columns of ``w``, ``a``: ``(p, n)``, ``(k, n)``), ``loss[l] = L`` and ``angle[l]`` the angle between ``w``
        and ``w*``; ``work`` has :data:`LANE_WORK_ROWS` rows of scratch.
    grad_lanes : numba dispatcher
        ``grad_lanes(params, w, a, grad_w, grad_a, work)``: the Euclidean gradient per lane
        (``inline="always"`` too), a function of that lane's ``w``, ``a`` and ``params`` alone
        (the engine skips the rest of a noise-free epoch once the state stops changing).
    spurious_optimum : callable or None
        ``spurious_optimum(w_star, a_star) -> (w_bar, a_bar)``, a known spurious local minimum with
        ``w_bar = -w*`` (the engine's outcome ``spurious``); None where none is known: no trial is
        then classified ``spurious``.
    sharpness : callable or None
        ``sharpness(w, a, w_star, a_star, **options) -> (top, trace)``: the top eigenvalue and the trace of the
        Riemannian Hessian at each row of ``w``, ``a``; None: not available for this landscape.
    population_loss : callable
        ``population_loss(w, a, w_star, a_star, **options) -> float`` in NumPy, for one point.
    samples : bool
        Whether the engine's sample kernels (mini-batches, training sets) implement this
        landscape's model; without them ``batch`` and ``samples`` are refused.
    options : tuple of str
        Config fields the landscape reads besides the teacher (the overlapping CNN's ``stride``):
        passed by name to ``make_params``, ``population_loss`` and ``sharpness``.
    """

    name: str
    summary: str
    params_type: type
    make_params: Callable[[np.ndarray, np.ndarray], Any]
    loss_lanes: Any
    grad_lanes: Any
    population_loss: Callable[..., float]
    spurious_optimum: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    sharpness: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None
    samples: bool = False
    options: tuple[str, ...] = ()

    @property
    def cacheable(self) -> bool:
        """Whether the engine's variants for this landscape may go to the kernel cache: only when
        its kernels are this package's, whose source hash keys the cache (an edit of a kernel
        defined elsewhere would not change the key, and a stale variant would run)."""
        return all(
            _in_package(obj)
            # (py_func: the Python function a dispatcher compiles; with NUMBA_DISABLE_JIT=1 the
            # kernels are those functions themselves)
            for obj in (
                self.params_type,
                getattr(self.loss_lanes, "py_func", self.loss_lanes),
                getattr(self.grad_lanes, "py_func", self.grad_lanes),
            )  # fmt: skip
        )

    @property
    def code_digest(self) -> str:
        """A digest of the code this landscape runs, for the result caches' keys: empty for the
        package's landscapes (the package's source hash keys those), else :func:`code_digest` of its
        record's functions. A user's kernel edited and registered again under its name (a
        notebook's cell run again) got the cells computed with the old kernel, silently."""
        if self.cacheable:
            return ""
        return code_digest(
            self.params_type, self.make_params, self.loss_lanes, self.grad_lanes, self.population_loss,
            self.spurious_optimum, self.sharpness, self.samples, self.options,
        )  # fmt: skip


def _in_package(obj) -> bool:
    """Whether ``obj`` (a class or function) is defined in a file of this package. A class defined
    in a notebook, or in code run by ``exec``, has no file: ``inspect.getfile`` raised TypeError
    ("is a built-in class") and registering such a landscape failed."""
    try:
        return PACKAGE_DIR in Path(inspect.getfile(obj)).resolve().parents
    except (TypeError, OSError):
        return False


def code_digest(*objects) -> str:
    """SHA-256 (16 hex digits) of what ``objects`` compute: each function's bytecode, constants,
    names and defaults (a Numba dispatcher's Python function), and, followed through its globals,
    those of the functions it calls and the values of the plain constants it reads (Numba compiles
    a global as a constant) that are defined outside the package, NumPy and Numba; a class by its
    name and fields; anything else by its ``repr``. The same code gives the same digest in every
    process (no addresses, no file times); an edit of any part gives another."""
    import hashlib
    import types

    digest = hashlib.sha256()
    seen: set[int] = set()

    def add_code(code: types.CodeType) -> None:
        digest.update(code.co_code + repr((code.co_names, code.co_varnames, code.co_freevars)).encode())
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                add_code(const)
            else:
                digest.update(repr(const).encode())

    def ours(obj) -> bool:  # defined by the user, not by this package or a library it builds on
        module = getattr(obj, "__module__", None) or ""
        return module.split(".")[0] not in ("pgd_bench", "numba", "numpy", "builtins", "math", "typing")

    def add(obj) -> None:
        func = getattr(obj, "py_func", obj)
        if id(func) in seen:
            return
        seen.add(id(func))
        code = getattr(func, "__code__", None)
        if code is None:
            if isinstance(func, type):
                fields = getattr(func, "_fields", ())
                digest.update(f"class {func.__qualname__} {fields}".encode())
            elif isinstance(func, np.ndarray):
                digest.update(func.dtype.str.encode() + repr(func.shape).encode() + func.tobytes())
            else:
                digest.update(repr(func).encode())
            return
        add_code(code)
        digest.update(repr(func.__defaults__).encode())
        names = set(code.co_names)
        stack = [c for c in code.co_consts if isinstance(c, types.CodeType)]
        while stack:  # names read by nested functions and comprehensions too
            inner = stack.pop()
            names.update(inner.co_names)
            stack += [c for c in inner.co_consts if isinstance(c, types.CodeType)]
        for name in sorted(names):
            value = getattr(func, "__globals__", {}).get(name)
            if callable(value) and not isinstance(value, type) and ours(value):
                add(value)
            elif isinstance(value, (bool, int, float, complex, str, bytes, tuple, np.ndarray, np.number)):
                digest.update(name.encode())
                add(value)

    for obj in objects:
        add(obj)
    return digest.hexdigest()[:16]


# params type -> landscape, filled by pgd_bench.model.registry.register_landscape
BY_PARAMS_TYPE: dict[type, Landscape] = {}


def loss_lanes_of(params, w, a, work, loss, angle):
    """Placeholder for a landscape's ``loss_lanes`` in the engine's templates.

    :func:`pgd_bench.engine.block_kernel` compiles the engine once per landscape with this name
    bound to the landscape's kernel, which is then inlined as if called by name.
    """
    raise NotImplementedError("loss_lanes_of stands for a landscape's kernel in compiled code only")


def grad_lanes_of(params, w, a, grad_w, grad_a, work):
    """Placeholder for a landscape's ``grad_lanes`` (see :func:`loss_lanes_of`)."""
    raise NotImplementedError("grad_lanes_of stands for a landscape's kernel in compiled code only")
