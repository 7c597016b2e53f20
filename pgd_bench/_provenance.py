"""Where results come from: the package version, a hash of its source, and its cache folder.

Compiled kernels and cached result cells are both keyed by :data:`SOURCE_HASH`, so neither can
outlive the code that produced it: an edited kernel in an editable install, or a reinstall of
another version, is a new key and a fresh compile or computation, never a stale reuse.
"""

from __future__ import annotations

import hashlib
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

try:
    PACKAGE_VERSION = version("pgd_bench")
except PackageNotFoundError:  # running from a source tree that was not installed
    PACKAGE_VERSION = "0+unknown"

# Modules that only present results (command line, report, figures, tables, progress) or hand work
# to the runs without computing (the sweep, whose chunks are merged by runs.execute.merge_chunks and
# checked bit for bit by tests), as paths relative to the package; a path ending in "/" is a whole
# subpackage. Every other module, in any subpackage, can change a number, so it is part of the
# hash; a new module is included by default.
PRESENTATION_MODULES = frozenset(
    {
        "__main__.py",
        "cli.py",
        "console.py",
        "report/",
        "sweep.py",
        "tables.py",
    }
)


def is_presentation(relative: str) -> bool:
    """Whether the module at ``relative`` (a POSIX path inside the package) only presents results."""
    return any(
        relative == entry or (entry.endswith("/") and relative.startswith(entry)) for entry in PRESENTATION_MODULES
    )


CACHE_ENV = "PGD_BENCH_CACHE_DIR"


def source_hash(package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 over the relative paths and bytes of the package's computing modules, in path order.

    Parameters
    ----------
    package_dir : Path
        The package's folder; its ``.py`` files in every subpackage count.

    Returns
    -------
    str
        64 hexadecimal digits; any edit of a module outside :data:`PRESENTATION_MODULES` changes it.
    """
    digest = hashlib.sha256()
    package_dir = Path(package_dir)
    for relative in sorted(path.relative_to(package_dir).as_posix() for path in package_dir.rglob("*.py")):
        if is_presentation(relative):
            continue
        path = package_dir / relative
        digest.update(relative.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


SOURCE_HASH = source_hash()


def folder_setting(name: str) -> str | None:
    """The environment variable ``name`` as a folder setting: None when unset or blank. A value of
    blanks made a folder named by the blanks in the current folder, so it counts as unset here
    (for ``PGD_BENCH_CACHE_DIR`` the command line refuses it: :func:`blank_folder_setting`)."""
    value = os.environ.get(name, "")
    return value if value.strip() else None


def blank_folder_setting(name: str) -> str | None:
    """The value of ``name`` when it is set but blank (which :func:`folder_setting` ignores), else None."""
    value = os.environ.get(name)
    return value if value and folder_setting(name) is None else None


def cache_root() -> Path:
    """The per-user folder of pgd_bench's caches.

    ``$PGD_BENCH_CACHE_DIR`` if set (not blank; the command line refuses blanks); else
    ``$NUMBA_CACHE_DIR/pgd_bench`` if Numba's cache folder is set; else the platform's usual
    place: ``$XDG_CACHE_HOME/pgd_bench`` (default ``~/.cache/pgd_bench``) on Linux,
    ``~/Library/Caches/pgd_bench`` on macOS, ``%LOCALAPPDATA%\\pgd_bench\\Cache`` on Windows.
    """
    if own := folder_setting(CACHE_ENV):
        return Path(own).expanduser()
    if numba_cache := folder_setting("NUMBA_CACHE_DIR"):
        return Path(numba_cache).expanduser() / "pgd_bench"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "pgd_bench"
    if sys.platform == "win32":
        base = folder_setting("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "pgd_bench" / "Cache"
    base = folder_setting("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pgd_bench"


def kernel_cache_dir() -> Path:
    """Where compiled kernels of this version and source live: one folder per source hash."""
    return cache_root() / f"kernels-{PACKAGE_VERSION}-{SOURCE_HASH[:16]}"
