"""Files written so that a reader never sees half of one: atomic writes, output folders, locks.

Every result file of the package (cells, tables, figures, reports) goes through
:func:`atomic_write_bytes` (a temporary file in the same folder, then ``os.replace``), or
:func:`atomic_link_or_copy` for a second name of a file already written (a cached figure); a
command writing into a folder holds :func:`output_lock` on it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path


def _file_mode() -> int:
    """The mode ``open`` would give a new file: 0o666 less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _refuse_a_folder_at(path: Path) -> None:
    """Name ``path`` when a folder stands where a file is to be written: os.replace would fail
    naming the temporary file, not this one."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a folder stands where this file is written; remove it", str(path))


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    _refuse_a_folder_at(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _file_mode())  # mkstemp makes 0o600 files; results are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            # a full disk or a quota fails the write or the fsync naming no file: the command's
            # message then named none either ("cannot write the output", as for stdout)
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_link_or_copy(source, path, data: bytes | None = None) -> None:
    """Put the file ``source`` at ``path`` as :func:`atomic_write_bytes` would, as a hard link where
    the file system allows one: the two names then share their bytes on disk (on Windows, a
    program holding one name open may then block replacing the other).

    A figure kept in a results folder's cache and the same figure beside the report were two
    copies: 2.1 MB of a quick run's 40.5 MB. Sharing the bytes is safe because nothing here writes
    a file in place (every write replaces the name), and a cached figure is checked against its
    digest before it is used: an editor that saves the figure beside the report in place changes
    the cached one too, which is then drawn again. Where linking fails (another file system, one
    without links), the bytes are copied: ``data`` when given (already read), else read from
    ``source``."""
    source, path = Path(source), Path(path)
    _refuse_a_folder_at(path)
    with contextlib.suppress(OSError):
        if os.path.samefile(source, path):  # linked already (a rerun): rename would keep the temporary name
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    # the temporary name has atomic_write_bytes's length (PATH_RESERVE_BYTES counts it)
    tmp = path.parent / f".{path.name}.{os.urandom(4).hex()}.tmp"
    try:
        os.link(source, tmp)
        os.replace(tmp, path)
        return
    except BaseException as exc:  # Ctrl-C between the two calls too: no temporary name left behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if not isinstance(exc, OSError):
            raise
    atomic_write_bytes(path, source.read_bytes() if data is None else data)


KIND_FILE = ".pgd-bench-kind"  # which kind of run a results folder holds (reproduce, theory, sweep)


RUN_KINDS = ("reproduce", "theory", "sweep")  # what a results folder's KIND_FILE names

# The bytes that the paths a run writes below its folder may add to the folder's own path: the
# longest is a cache file of dissipativity estimates (81 bytes in a quick run, up to 40 more for
# large sample counts and seeds) as atomic_write_bytes's temporary file (14 more). A folder whose
# path left less than this below the system's limit ran its whole work and then failed to write
# its results (exit 1); it is refused before (tests/test_adversarial.py checks the reserve against
# a reproduction's longest path).
PATH_RESERVE_BYTES = 160


def _path_limit(path: Path) -> int:
    """The system's limit on a path's length in bytes, terminating zero included (4096 on Linux),
    asked of ``path``'s nearest existing ancestor's file system."""
    for folder in (path, *path.parents):
        if folder.exists():
            try:
                return os.pathconf(folder, "PC_PATH_MAX")
            except (AttributeError, OSError, ValueError):  # Windows has no pathconf
                break
    return 4096


def prepare_output_dir(out_dir, kind: str | None = None, cache: bool = True) -> Path:
    """Create ``out_dir`` (and its ``cache`` folder) and check that files can be written there.

    Called before any work, so that a bad ``--out`` costs nothing.

    Parameters
    ----------
    out_dir : path
        The folder.
    kind : str, optional
        The kind of run that writes it (``reproduce``, ``theory``, ``sweep``): a folder holds one
        kind, named in its ``.pgd-bench-kind`` file, because each kind rewrites ``tables/`` and
        its figures as its own (a sweep into a reproduction's folder replaced the tables its report
        points at). None: no kind (``plot --out``, which writes figures only).
    cache : bool
        Create the ``cache`` folder (not for ``plot``, which runs nothing).

    Raises
    ------
    ValueError
        If ``out_dir`` is empty, names a file, lies under a file, is not writable, holds
        another kind of run, or has a path too long for the files a run writes in it.
    """
    if str(out_dir).strip() == "":
        raise ValueError("out: expected a folder path, got an empty string")
    out = Path(out_dir)
    length, limit = len(os.fsencode(os.path.abspath(out))), _path_limit(Path(os.path.abspath(out)))
    if length + PATH_RESERVE_BYTES >= limit:
        raise ValueError(f"out: the folder's path is {length} bytes long, and the files a run writes in it need up to "
                         f"{PATH_RESERVE_BYTES} bytes more: over this system's limit of {limit - 1}; choose a shorter "
                         "--out")  # fmt: skip
    if out.is_symlink() and not out.exists():  # mkdir said only "File exists"
        raise ValueError(f"out: {out} is a link to {quoted(os.readlink(out), 200)}, which does not exist")
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} exists and is not a folder")
    marker = out / KIND_FILE
    if kind is not None and marker.is_file():
        there = marker.read_text(encoding="utf-8", errors="replace").strip()
        if there != kind:
            # quoted when it is not a kind: the file is the folder's, and may hold anything (a
            # terminal's escape sequences, several lines)
            if there not in RUN_KINDS:
                raise ValueError(f"out: {marker} names no kind of pgd-bench run ({quoted(there)}); a {kind} run "
                                 "would replace the folder's tables and figures: choose another --out (or remove "
                                 "the folder)")  # fmt: skip
            raise ValueError(
                f"out: {out} holds a pgd-bench {there} run, not a {kind} run: its tables and figures would be "
                f"replaced; choose another --out (or remove the folder)"
            )
    folders = (out, out / "cache") if cache else (out,)
    try:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            check_writable(folder)
        folder = out
        if kind is not None and not marker.is_file():
            atomic_write_text(marker, kind + "\n")
    except OSError as exc:  # named: the folder itself, or its cache folder (a file of that name)
        raise ValueError(f"out: cannot write into {folder}: {exc.strerror or exc}") from None
    return out


def check_writable(folder) -> None:
    """Refuse a folder in which this process cannot create a file.

    Raises
    ------
    ValueError
        Naming the folder and the system's reason.
    """
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise ValueError(f"out: cannot write into {folder}: {exc.strerror or exc}") from None


def quoted(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters and quoted as Python does: one line, escapes visible,
    for a message that shows what a file or a link holds (it may hold anything)."""
    return repr(text[:limit]) + (" ..." if len(text) > limit else "")


@contextlib.contextmanager
def output_lock(out_dir):
    """Hold an exclusive lock on ``out_dir`` for the duration (a ``.lock`` file inside it).

    Raises
    ------
    ValueError
        If another process holds it (two runs writing into one folder at once).
    """
    path = Path(out_dir) / ".lock"
    # a regular file of the folder's own: a link would create or lock a file elsewhere, and a
    # folder or a pipe of that name gave errors naming neither (or waited on the pipe)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ValueError(f"{path} is not a regular file (pgd-bench's lock of the folder): remove it")
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags, 0o644)
    except OSError as exc:
        raise ValueError(f"{path}: cannot open pgd-bench's lock of the folder: {exc.strerror or exc}") from None
    with os.fdopen(descriptor, "a+") as fh:
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
