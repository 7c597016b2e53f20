"""Every asv benchmark runs once, in this process, as asv would run it: ``setup`` with each value of
``params``, each ``time_``/``track_`` method, ``teardown``; a ``track_`` method returns a finite
number; a ``setup`` that raises ``NotImplementedError`` skips its benchmark (asv's convention, used
for JAX and a C compiler that a machine may lack). ``timeraw_`` benchmarks return code that asv
runs in a fresh process: the test runs it so too.

asv itself runs each benchmark and parameter in a process of its own, each importing the package
and loading its kernels again: the README's ``asv run --quick --dry-run`` over every benchmark took
112 s of the suite, against about 35 s here. The README's asv command lines are run by
``tests/test_readme.py``, on one benchmark.
"""

from __future__ import annotations

import importlib
import inspect
import math
import numbers
import subprocess
import sys
from pathlib import Path

import pytest

from pgd_bench._provenance import cache_root

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ("time_", "track_", "timeraw_")
ASV_PREFIXES = PREFIXES + ("mem_", "peakmem_")  # every kind asv knows (this runner takes the first three)


def _modules():
    """Every module of ``benchmarks/``, imported as asv discovers them (it imports them all)."""
    sys.path.insert(0, str(ROOT))
    try:
        return [importlib.import_module(f"benchmarks.{path.stem}")
                for path in sorted((ROOT / "benchmarks").glob("*.py")) if path.stem != "__init__"]  # fmt: skip
    finally:
        sys.path.remove(str(ROOT))


def _methods(cls):
    return [name for name in dir(cls) if name.startswith(PREFIXES) and callable(getattr(cls, name))]


def _benchmark_classes():
    """Every class of ``benchmarks/`` that holds a benchmark."""
    return [pytest.param(obj, id=f"{module.__name__.split('.')[-1]}.{name}") for module in _modules()
            for name, obj in vars(module).items()
            if inspect.isclass(obj) and obj.__module__ == module.__name__ and _methods(obj)]  # fmt: skip


def _timeraw_functions():
    return [pytest.param(obj, id=f"{module.__name__.split('.')[-1]}.{name}") for module in _modules()
            for name, obj in vars(module).items()
            if name.startswith("timeraw_") and inspect.isfunction(obj)]  # fmt: skip


def test_this_runner_knows_every_benchmark_asv_would_find():
    """No benchmark of a kind, or with parameters, that the tests below would not run as asv does."""
    for module in _modules():
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):  # a free function: asv runs time_, track_, mem_ ones too
                assert not name.startswith(ASV_PREFIXES) or name.startswith("timeraw_"), name
            elif inspect.isclass(obj):
                kinds = [m for m in dir(obj) if m.startswith(ASV_PREFIXES)]
                assert all(m.startswith(PREFIXES) for m in kinds), (name, kinds)
                params = getattr(obj, "params", None)
                # one flat list of values (asv takes a list of lists as several parameters)
                assert params is None or (isinstance(params, list) and
                                          not any(isinstance(v, (list, tuple)) for v in params)), name  # fmt: skip
                assert not hasattr(obj, "setup_cache"), name


# A benchmark's sizes are class attributes (``trials``, ``repeats``): this runner sets them small, as
# it checks that each benchmark runs and returns a finite number, not what it measures (at asv's
# sizes RatioToC alone took 15 s of the suite: 7 runs of 512 trials x 8000 steps per algorithm).
SMALL_SIZES = {"trials": 16, "repeats": 1}
# the integer attributes asv itself reads on a benchmark class: how it times, not what is timed
ASV_SETTINGS = {"timeout", "number", "repeat", "rounds", "min_run_count", "processes", "version", "warmup_time",
                "sample_time"}  # fmt: skip


def test_the_small_sizes_name_every_size_a_benchmark_class_declares():
    """A size attribute this runner does not know would run at asv's size here, unnoticed."""
    for param in _benchmark_classes():
        cls = param.values[0]
        sizes = {name for name, value in vars(cls).items() if isinstance(value, int) and not name.startswith("_")}
        assert sizes - ASV_SETTINGS <= set(SMALL_SIZES), (cls.__name__, sizes)


@pytest.mark.parametrize("cls", _benchmark_classes())
def test_each_benchmark_runs_once_for_each_parameter(cls, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    for name, value in SMALL_SIZES.items():
        if name in vars(cls):
            monkeypatch.setattr(cls, name, value)
    params = getattr(cls, "params", None)
    values = [()] if params is None else [(value,) for value in params]
    ran = 0
    for args in values:
        bench = cls()
        try:
            if hasattr(bench, "setup"):
                bench.setup(*args)
        except NotImplementedError:
            continue  # asv's skip: what it needs is not on this machine
        try:
            for name in _methods(cls):
                value = getattr(bench, name)(*args)
                if name.startswith("track_"):
                    assert isinstance(value, numbers.Real) and math.isfinite(value), (name, args, value)
                ran += 1
        finally:
            if hasattr(bench, "teardown"):
                bench.teardown(*args)
    if ran == 0:
        pytest.skip(f"{cls.__name__}: every setup said what it needs is not installed")


@pytest.mark.parametrize("func", _timeraw_functions())
def test_each_timeraw_benchmark_runs_in_a_fresh_process(func):
    """Its ``setup`` and its statement, each in a fresh process. A ``setup`` that points the kernel
    cache at a folder of its own (the cold-compile benchmark) leaves it empty, so that the statement
    after it compiles; the statement itself runs here on the suite's kernel cache (a cold compile
    costs 40 s, and test_cli's damaged-cache test compiles cold through the command line)."""
    code = func()
    stmt, setup = (code, "") if isinstance(code, str) else code
    # after the setup, where the kernels would be read from: for the cold-compile benchmark, an
    # empty folder of its own (a fresh temporary folder, not the user's cache)
    check = ("\nimport os\nfrom pgd_bench._provenance import kernel_cache_dir\n"
             "folder = kernel_cache_dir()\nprint(folder, folder.exists() and os.listdir(folder))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", setup + check], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if "PGD_BENCH_CACHE_DIR" in setup:
        folder, listing = proc.stdout.split()
        assert listing in ("False", "[]"), proc.stdout  # nothing compiled there yet: the statement compiles
        assert not Path(folder).is_relative_to(cache_root()), folder
    proc = subprocess.run([sys.executable, "-c", stmt], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "", proc.stdout[-500:]  # asv reads its timing from the statement's stdout
