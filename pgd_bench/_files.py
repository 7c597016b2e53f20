"""Files written so that a reader never sees half of one: atomic writes, output folders, locks.

Every result file of the package (cells, tables, figures, reports) goes through
:func:`atomic_write_bytes` (a temporary file in the same folder, then ``os.replace``); a command
writing into a folder holds :func:`output_lock` on it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _file_mode() -> int:
    """The mode ``open`` would give a new file: 0o666 less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _file_mode())  # mkstemp makes 0o600 files; results are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def prepare_output_dir(out_dir) -> Path:
    """Create ``out_dir`` (and its ``cache`` folder) and check that files can be written there.

    Called before any work, so that a bad ``--out`` costs nothing.

    Raises
    ------
    ValueError
        If ``out_dir`` is empty, names a file, lies under a file, or is not writable.
    """
    if str(out_dir).strip() == "":
        raise ValueError("out: expected a folder path, got an empty string")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} exists and is not a folder")
    try:
        (out / "cache").mkdir(parents=True, exist_ok=True)
        for folder in (out, out / "cache"):
            tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise ValueError(f"out: cannot write into {out}: {exc.strerror or exc}") from None
    return out


@contextlib.contextmanager
def output_lock(out_dir):
    """Hold an exclusive lock on ``out_dir`` for the duration (a ``.lock`` file inside it).

    Raises
    ------
    ValueError
        If another process holds it (two runs writing into one folder at once).
    """
    path = Path(out_dir) / ".lock"
    with open(path, "a+") as fh:
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform (Windows): run unlocked
            yield
            return
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ValueError(
                f"{out_dir}: another pgd-bench process is writing into this folder "
                f"(lock {path}); wait for it or choose another --out"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
