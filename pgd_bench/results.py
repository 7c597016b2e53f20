"""Result files: atomic writes and a per-cell cache keyed by the resolved config and version.

An interrupted sweep resumes where it stopped, because every finished cell is a file written
atomically (temporary file in the same folder, then ``os.replace``); nothing finished is
recomputed unless asked.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from . import __version__
from .experiments import RunConfig, RunResult, run


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


def cell_key(config: RunConfig) -> str:
    """Cache key: the resolved config's digest and the package version."""
    return hashlib.sha256(f"{config.digest()}:{__version__}".encode()).hexdigest()[:20]


def run_cached(config: RunConfig, cache_dir, *, force: bool = False, progress=None) -> RunResult:
    """Run ``config``, or load its result from ``cache_dir`` when that cell has finished before."""
    path = Path(cache_dir) / f"{cell_key(config)}.npz"
    if path.exists() and not force:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            return RunResult(  # the key is a hash of the config: the stored one equals ``config``
                config, data["w"], data["a"], data["outcome"],
                data["stop_iteration"], data["entered_at"], data["checkpoints"], data["records"],
                float(meta["seconds"]),
            )
    result = run(config, progress=progress)
    buffer = io.BytesIO()
    meta = json.dumps({"config": config.to_dict(), "seconds": result.seconds, "version": __version__})
    np.savez_compressed(
        buffer, w=result.w, a=result.a, outcome=result.outcome, stop_iteration=result.stop_iteration,
        entered_at=result.entered_at, checkpoints=result.checkpoints, records=result.records, meta=np.array(meta),
    )
    atomic_write_bytes(path, buffer.getvalue())
    return result
