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
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ("time_", "track_", "timeraw_")


def _benchmark_classes():
    """(module name, class) for every class of ``benchmarks/bench_*.py`` that holds a benchmark."""
    sys.path.insert(0, str(ROOT))
    try:
        found = []
        for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            module = importlib.import_module(f"benchmarks.{path.stem}")
            for name, obj in vars(module).items():
                if inspect.isclass(obj) and obj.__module__ == module.__name__ and _methods(obj):
                    found.append(pytest.param(obj, id=f"{path.stem}.{name}"))
        return found
    finally:
        sys.path.remove(str(ROOT))


def _methods(cls):
    return [name for name in vars(cls) if name.startswith(PREFIXES) and callable(getattr(cls, name))]


def _timeraw_functions():
    sys.path.insert(0, str(ROOT))
    try:
        found = []
        for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            module = importlib.import_module(f"benchmarks.{path.stem}")
            found += [pytest.param(obj, id=f"{path.stem}.{name}") for name, obj in vars(module).items()
                      if name.startswith("timeraw_") and inspect.isfunction(obj)]  # fmt: skip
        return found
    finally:
        sys.path.remove(str(ROOT))


@pytest.mark.parametrize("cls", _benchmark_classes())
def test_each_benchmark_runs_once_for_each_parameter(cls, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
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
                    assert isinstance(value, (int, float)) and math.isfinite(value), (name, args, value)
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
    check = "\nimport os\nfolder = os.environ.get('PGD_BENCH_CACHE_DIR')\nprint(folder and os.listdir(folder))"
    for source in (setup + check, stmt):
        proc = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=600,
                              env=os.environ.copy())  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        if source is not stmt and "PGD_BENCH_CACHE_DIR" in setup:
            assert proc.stdout.split()[-1] == "[]", proc.stdout  # an empty kernel folder: a cold compile
