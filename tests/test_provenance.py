"""Compiled kernels are cached outside the package, in a folder keyed by version and source hash."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pgd_bench import _provenance
from pgd_bench._provenance import PACKAGE_DIR, PRESENTATION_MODULES, source_hash


def test_kernels_are_cached_in_the_keyed_user_folder_and_never_in_the_package(tmp_path):
    before = set(PACKAGE_DIR.rglob("*.nb[ic]"))
    env = dict(os.environ, PGD_BENCH_CACHE_DIR=str(tmp_path))
    code = (
        "import pgd_bench, pgd_bench._provenance as p; pgd_bench.sample_sphere(3, 2, 0);"
        "pgd_bench.population_loss([1.0, 0.0], [1.0, 2.0], [0.0, 1.0], [1.0, 1.0]); print(p.kernel_cache_dir())"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    folder = Path(proc.stdout.strip())
    assert folder.parent == tmp_path
    assert folder.name == f"kernels-{_provenance.PACKAGE_VERSION}-{_provenance.SOURCE_HASH[:16]}"
    assert list(folder.glob("streams._fill_rows-*.nbi")) and list(folder.glob("streams._fill_rows-*.nbc"))
    # a kernel of a subpackage is cached there too, its file named after its folder as well
    assert list(folder.glob("landscape.*-model-*.nbi")) and list(folder.glob("landscape.*-model-*.nbc"))
    assert set(PACKAGE_DIR.rglob("*.nb[ic]")) == before  # nothing new next to the sources


def test_the_cache_folder_follows_the_platform_and_the_overrides(monkeypatch, tmp_path):
    for name in ("PGD_BENCH_CACHE_DIR", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_provenance.sys, "platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _provenance.cache_root() == tmp_path / ".cache" / "pgd_bench"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _provenance.cache_root() == tmp_path / "xdg" / "pgd_bench"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    assert _provenance.cache_root() == tmp_path / "numba" / "pgd_bench"
    monkeypatch.setenv("PGD_BENCH_CACHE_DIR", str(tmp_path / "mine"))
    assert _provenance.cache_root() == tmp_path / "mine"
    # blanks count as unset (they made a folder named "   " in the current folder, in Python too)
    monkeypatch.setenv("PGD_BENCH_CACHE_DIR", "   ")
    monkeypatch.setenv("NUMBA_CACHE_DIR", " ")
    assert _provenance.cache_root() == tmp_path / "xdg" / "pgd_bench"
    monkeypatch.setenv("XDG_CACHE_HOME", "  ")  # it gave "  /pgd_bench", in the current folder
    assert _provenance.cache_root() == tmp_path / ".cache" / "pgd_bench"
    monkeypatch.setattr(_provenance.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", " ")
    assert _provenance.cache_root() == tmp_path / "AppData" / "Local" / "pgd_bench" / "Cache"


def test_the_source_hash_changes_with_any_computing_module_and_only_with_those(tmp_path):
    copy = tmp_path / "pgd_bench"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert source_hash(copy) == source_hash(PACKAGE_DIR)
    engine = copy / "engine.py"
    engine.write_text(engine.read_text() + "\n# an edit of a kernel that others inline\n")
    edited = source_hash(copy)
    assert edited != source_hash(PACKAGE_DIR)
    kernel = copy / "model" / "landscape.py"  # a kernel in a subpackage counts as much
    kernel.write_text(kernel.read_text() + "\n# an edit of a closed form\n")
    assert source_hash(copy) != edited
    edited = source_hash(copy)
    for entry in sorted(PRESENTATION_MODULES):
        presentation = copy / entry / "sections" / "theory.py" if entry.endswith("/") else copy / entry
        presentation.write_text(presentation.read_text() + "\n# presentation only\n")
        assert source_hash(copy) == edited, entry


def _wait_until_blocked_on_a_lock(process, fallback_s):
    """Return once ``process`` waits for a lock: on Linux, once ``/proc/locks`` lists its blocked
    request (``->``), within a minute; elsewhere after ``fallback_s`` seconds (a fixed sleep,
    which was 6 s of the suite where the wait itself takes about 2)."""
    import time

    locks = Path("/proc/locks")
    if not locks.exists():
        time.sleep(fallback_s)
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if any("->" in line and line.split()[-4] == str(process.pid) for line in locks.read_text().splitlines()):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {process.pid} never waited for a lock (exit code {process.poll()})")


def test_a_kernel_save_waits_for_the_kernel_folders_lock(tmp_path):
    """Two processes saving kernels into one folder take turns: Numba reads the index, adds its
    entry and writes it back, and two at once could lose an entry (the reproduction compiles the
    overlapping-patch engine in a second process)."""
    import fcntl

    from pgd_bench._jit import SAVE_LOCK_NAME

    folder = tmp_path / f"kernels-{_provenance.PACKAGE_VERSION}-{_provenance.SOURCE_HASH[:16]}"
    folder.mkdir()
    env = dict(os.environ, PGD_BENCH_CACHE_DIR=str(tmp_path))
    with open(folder / SAVE_LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saver = subprocess.Popen([sys.executable, "-c", "import pgd_bench; pgd_bench.sample_sphere(3, 2, 0)"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        _wait_until_blocked_on_a_lock(saver, fallback_s=6)  # it compiles (about 2 s), then waits to save
        assert saver.poll() is None and not list(folder.glob("*.nbi"))
        fcntl.flock(lock, fcntl.LOCK_UN)
    _, err = saver.communicate(timeout=120)
    assert saver.returncode == 0, err
    assert list(folder.glob("streams._fill_rows-*.nbi")) and list(folder.glob("streams._fill_rows-*.nbc"))


def test_warm_up_waits_for_the_engine_compiling_in_the_background():
    from pgd_bench.runs import execute
    from pgd_bench.runs.config import resolve_config

    config = resolve_config(algorithm="pgd", stride=3, trials=2)
    engine = execute._engine_of(config)
    assert engine is not execute._engine_of(resolve_config(algorithm="pgd", trials=2))  # one per landscape
    execute._BACKGROUND.pop(engine, None)
    execute.compile_in_background(config)
    process = execute._BACKGROUND[engine]
    execute.compile_in_background(config)  # started once
    assert execute._BACKGROUND[engine] is process
    execute.warm_up(config)
    # warm_up waited for its line (the kernels and then the engine saved, or loaded from the
    # cache), and read it; the process then ends without error
    assert process.stdout.closed and engine not in execute._BACKGROUND
    assert process.wait(timeout=600) == 0


_COMPILES = """
from numba.core import event
compiled = []
event.register("numba:compile", type("L", (event.Listener,), {
    "on_start": lambda self, ev: None,
    "on_end": lambda self, ev: compiled.append(ev.data["dispatcher"].py_func.__qualname__)})())
"""


def test_the_kernels_compiled_ahead_are_the_ones_the_report_then_loads(tmp_path):
    """warm_kernels, run in one process (the reproduction's background compiler), leaves in the
    kernel folder every kernel that the report's sections call from Python: a second process
    that calls them as the sections do compiles none of them."""
    env = dict(os.environ, PGD_BENCH_CACHE_DIR=str(tmp_path))
    warm = ("from pgd_bench.runs.config import resolve_config; from pgd_bench.runs.execute import warm_kernels;"
            "warm_kernels(resolve_config(algorithm='gd', p=6, k=8, stride=3))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", warm], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    use = (
        _COMPILES
        + """
import numpy as np
from pgd_bench import population_grad, population_loss, sample_ball, sample_sphere, sharpness
from pgd_bench.model.dissipativity import dissipativity_at_points
from pgd_bench.model.smoothing import smoothed_profile
from pgd_bench.runs.config import resolve_config
w_star, a_star = resolve_config(algorithm="gd", p=5, k=4, teacher="ones").teacher_arrays()
w, a = sample_sphere(3, 5, 7), sample_ball(3, 4, 0.5, 7)
for stride in (None, 2):
    population_loss(w[1], a[1], w_star, a_star, stride=stride)
    population_grad(w[1], a[1], w_star, a_star, stride=stride)
    sharpness(w, a, w_star, a_star, stride=stride)
rho = np.array([1.5, 0.5])  # the theory section's radii: entries of the schedules, its seeds ints
dissipativity_at_points(w[2:] / np.linalg.norm(w[2:]), a[2:], w_star, a_star, rho[:1], rho[1:], 100, [2**63 + 5])
smoothed_profile(np.linspace(0, 3, 4), 0.5, 0.1, w_star, a_star, 1000)
print(sorted(set(compiled)))
"""
    )
    proc = subprocess.run([sys.executable, "-c", use], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_an_unwritable_kernel_folder_is_said_once_and_the_temporary_folder_used(monkeypatch, tmp_path, capsys):
    """PGD_BENCH_CACHE_DIR naming a file (or a read-only folder): the kernels went to the temporary
    folder without a word, where they may not last."""
    from pgd_bench import _jit
    from pgd_bench.geometry import dot

    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("PGD_BENCH_CACHE_DIR", str(tmp_path / "a-file"))
    monkeypatch.setattr(_jit, "_FALLBACK_SAID", False)
    locators = [_jit.PackageCacheLocator.from_function(dot.py_func, dot.py_func.__code__.co_filename) for _ in "ab"]
    assert all(Path(loc.get_cache_path()).parent.name.startswith("pgd_bench-") for loc in locators)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"pgd-bench: note: cannot keep compiled kernels in {tmp_path}/a-file/")
    assert "(Not a directory); they go to" in err
