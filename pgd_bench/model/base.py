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
        """A digest of the code this landscape runs, for the result caches' keys: empty when every
        function of its record is the package's (the package's source hash keys those), else
        :func:`code_digest` of the record. A user's kernel edited and registered again under its
        name (a notebook's cell run again) got the cells computed with the old kernel, silently."""
        parts = (self.params_type, self.make_params, self.loss_lanes, self.grad_lanes, self.population_loss,
                 self.spurious_optimum, self.sharpness)  # fmt: skip
        if all(part is None or _in_package(getattr(part, "py_func", part)) for part in parts):
            return ""
        return code_digest(*parts, self.samples, self.options)


def _in_package(obj) -> bool:
    """Whether ``obj`` (a class or function) is defined in a file of this package. A class defined
    in a notebook, or in code run by ``exec``, has no file: ``inspect.getfile`` raised TypeError
    ("is a built-in class") and registering such a landscape failed."""
    try:
        return PACKAGE_DIR in Path(inspect.getfile(obj)).resolve().parents
    except (TypeError, OSError):
        return False


# Code that code_digest does not follow: this package (its source hash keys the caches) and the
# libraries (their versions are not the user's edits)
_LIBRARIES = ("pgd_bench", "numba", "numpy", "scipy", "llvmlite", "builtins", "math", "cmath", "typing",
              "functools", "operator", "collections")  # fmt: skip


def code_digest(*objects) -> str:
    """SHA-256 (16 hex digits) of what ``objects`` compute, for cache keys of user code.

    A function (or a Numba dispatcher: its Python function and its compile options) counts by its
    bytecode, constants, names, defaults and the values its closure holds, and, followed through
    its globals (and attributes of the modules among them), the user functions it calls and the
    data it reads (Numba compiles a global as a constant); a class by its name and fields; a
    ``functools.partial`` by its function and arguments; containers and arrays by their contents;
    another object by its type's name, its ``__call__`` and its attributes. The same code gives the
    same digest in every process (no addresses, no set order, no file times). Not seen: what a
    function reads from files or from objects it is handed at run time."""
    import functools
    import hashlib
    import types

    digest = hashlib.sha256()
    seen: set[int] = set()

    def ours(obj) -> bool:
        module = getattr(obj, "__module__", None) or ""
        return module.split(".")[0] not in _LIBRARIES

    def add_code(code: types.CodeType) -> None:
        digest.update(code.co_code + repr((code.co_names, code.co_varnames, code.co_freevars)).encode())
        for const in code.co_consts:
            add(const)

    def names_read(code: types.CodeType) -> set[str]:  # by the function and its nested code
        names = set(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                names |= names_read(const)
        return names

    def add_function(func, options) -> None:
        add_code(func.__code__)
        add((func.__defaults__, func.__kwdefaults__, options))
        for cell in func.__closure__ or ():
            try:
                add(cell.cell_contents)
            except ValueError:  # a cell not yet filled
                digest.update(b"<empty cell>")
        names = sorted(names_read(func.__code__))
        for name in names:
            value = func.__globals__.get(name, _MISSING)
            if isinstance(value, types.ModuleType):
                if value.__name__.split(".")[0] not in _LIBRARIES:  # a user's module: what is read of it
                    for attribute in names:
                        if hasattr(value, attribute):
                            add_global(f"{name}.{attribute}", getattr(value, attribute))
            elif value is not _MISSING:
                add_global(name, value)

    def add_global(name: str, value) -> None:
        if isinstance(value, types.ModuleType) or (callable(value) and not ours(value)):
            return  # a library's function, or a module reached through another: not the user's code
        digest.update(name.encode())
        add(value)

    def add(obj) -> None:
        digest.update(type(obj).__qualname__.encode() + b":")
        if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes, np.number)):
            digest.update(repr(obj).encode())
        elif isinstance(obj, np.ndarray):
            digest.update(obj.dtype.str.encode() + repr(obj.shape).encode() + np.ascontiguousarray(obj).tobytes())
        elif isinstance(obj, types.CodeType):
            add_code(obj)
        elif id(obj) in seen:  # functions and containers: each once (they may refer to each other)
            digest.update(b"<seen>")
        else:
            seen.add(id(obj))
            if isinstance(obj, (tuple, list)):
                digest.update(str(len(obj)).encode())
                for item in obj:
                    add(item)
            elif isinstance(obj, (set, frozenset)):  # in an order that does not depend on the hash seed
                digest.update(" ".join(sorted(code_digest(item) for item in obj)).encode())
            elif isinstance(obj, dict):
                for key in sorted(obj, key=repr):
                    add(key)
                    add(obj[key])
            elif isinstance(obj, functools.partial):
                add((obj.func, obj.args, obj.keywords))
            elif isinstance(obj, type):
                digest.update(f"{obj.__qualname__} {getattr(obj, '_fields', ())}".encode())
            elif isinstance(getattr(obj, "py_func", None), types.FunctionType):  # a Numba dispatcher
                add_function(obj.py_func, getattr(obj, "targetoptions", None))
            elif isinstance(obj, types.FunctionType):
                add_function(obj, None)
            else:  # an instance: its class's code and its attributes, never its address
                add(vars(type(obj)).get("__call__") if ours(type(obj)) else None)
                add(getattr(obj, "__dict__", None))

    for obj in objects:
        add(obj)
    return digest.hexdigest()[:16]


_MISSING = object()


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
