"""pgd_bench: how noise helps first-order methods escape a spurious local optimum.

A Numba-accelerated benchmarking suite on the teacher-student two-layer non-overlapping CNN of
Zhou et al. (ICML 2019) and Du et al. (ICML 2018), and the same CNN with overlapping patches
(``stride < p``), beyond the poster's theorem.

Public API
----------
Runs: :func:`run` a :class:`RunConfig` built by :func:`resolve_config`, giving a :class:`RunResult`;
:func:`load_tables` reads a results folder's tables back; :func:`find_optima` maps the stationary
points GD reaches on any landscape.
Landscape: :func:`population_loss`, :func:`population_grad`, :func:`spurious_optimum`.
Network over sample batches: :func:`forward`, :func:`sample_loss_grad`.
Geometry: :func:`tangent_projection`, :func:`riemannian_step`.
Sharpness: :func:`riemannian_hessian`, :func:`sharpness`.
Theory: :func:`dissipativity` (the partial dissipativity of Theorem 1's proof).
Random streams: :func:`sample_sphere`, :func:`sample_ball`, :func:`sample_normal`;
:func:`training_data`, a finite-sample run's training set of a trial, labels (noisy or not) included.

The layers, from the bottom: helpers (``_jit``, ``_validate``, ``_files``, ``console``, ``stats``,
``tables``), ``streams``, ``geometry``, ``model/``, ``algorithms``, ``engine``, ``runs/``,
``report/``, ``sweep``, ``cli`` (docs/design.md, "Layers").
"""

# Nothing is imported here: ``import pgd_bench`` (and with it ``pgd-bench``, before it can catch an
# interrupt, see ``__main__``) costs no time; every name, ``__version__`` included, loads on first use.
_LAZY = {
    "__version__": "_provenance",
    "riemannian_step": "geometry",
    "tangent_projection": "geometry",
    "population_grad": "model.landscape",
    "population_loss": "model.landscape",
    "spurious_optimum": "model.landscape",
    "forward": "model.network",
    "sample_loss_grad": "model.network",
    "riemannian_hessian": "model.sharpness",
    "sharpness": "model.sharpness",
    "sample_ball": "streams",
    "sample_normal": "streams",
    "sample_sphere": "streams",
    "run": "runs.execute",
    "RunConfig": "runs.config",
    "resolve_config": "runs.config",
    "RunResult": "runs.result",
    "dissipativity": "model.dissipativity",
    "load_tables": "tables",
    "find_optima": "runs.optima",
    "training_data": "model.data",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, "PACKAGE_VERSION" if name == "__version__" else name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pgd_bench' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    "RunConfig",
    "RunResult",
    "dissipativity",
    "find_optima",
    "forward",
    "load_tables",
    "population_grad",
    "population_loss",
    "resolve_config",
    "riemannian_hessian",
    "riemannian_step",
    "run",
    "sample_ball",
    "sample_loss_grad",
    "sample_normal",
    "sample_sphere",
    "sharpness",
    "spurious_optimum",
    "tangent_projection",
    "training_data",
]
