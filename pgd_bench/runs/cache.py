"""Result files: atomic writes, a per-cell cache that checks what it loads, an output-folder lock.

An interrupted sweep resumes where it stopped, because every finished cell is a file written
atomically (temporary file in the same folder, then ``os.replace``); nothing finished is
recomputed unless asked.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from .._files import atomic_write_bytes
from .._provenance import PACKAGE_VERSION, SOURCE_HASH
from .._validate import check_sphere_rows
from ..console import notice
from ..engine import OUTCOME_NAMES, RECORD_FIELDS
from ..model.registry import landscape_named
from ..streams import STREAM_VERSION
from .config import RunConfig
from .execute import run
from .result import RunResult

CACHE_FORMAT = 5  # the layout of a cell file; raise it when that changes (5: with its DIGEST)
RESULT_ARRAYS = ("w", "a", "outcome", "stop_iteration", "entered_at", "checkpoints", "records", "train_loss", "states")
# the kinds the engine writes (a file re-saved with float32 states or float counts is damaged)
RESULT_DTYPES = {"w": np.float64, "a": np.float64, "outcome": np.int8, "stop_iteration": np.int64,
                 "entered_at": np.int64, "checkpoints": np.int64, "records": np.float64, "train_loss": np.float64,
                 "states": np.float64}  # fmt: skip


# The array every cache file holds beside its others: the SHA-256 of their names, kinds, shapes and
# bytes (content_digest). Files edited to other numbers of the right shapes and kinds, or damaged
# inside an archive that still reads, were trusted; a file whose digest differs is recomputed.
DIGEST = "digest"


def content_digest(arrays: dict) -> str:
    """The SHA-256 of ``arrays`` (name -> array) as a cache file holds them, :data:`DIGEST` aside:
    every name, dtype, shape and byte, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name != DIGEST:
            array = np.ascontiguousarray(arrays[name])
            digest.update(f"{name}:{array.dtype.str}:{array.shape}\n".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def _with_digest(arrays: dict) -> dict:
    return {**arrays, DIGEST: np.array(content_digest(arrays))}


def _digest_holds(arrays: dict) -> bool:
    """Whether ``arrays`` (as loaded) hold a :data:`DIGEST` equal to their own."""
    saved = arrays.get(DIGEST)
    return saved is not None and saved.shape == () and saved.dtype.kind == "U" and str(saved) == content_digest(arrays)


class StaleCell(Exception):
    """A cached cell that cannot be used: damaged, or written for another cell or code."""


def cell_key(config: RunConfig) -> str:
    """Cache key: the resolved config's digest, the teacher's weights, the package version, its
    source hash and the random streams' version.

    The source hash changes with any edit of a computing module, so an edited kernel in an
    editable install never reuses the results of the old one. The config names a teacher family;
    its weights are the key's too, since a user's teacher registered again under the same name
    (a notebook's cell run again with other weights) is another problem: keyed by the name
    alone, its cells and optima were the first teacher's, silently. A landscape that is not the
    package's adds the digest of its code (:attr:`pgd_bench.model.base.Landscape.code_digest`), for
    the same reason: a user's kernel edited and registered again is another computation.
    """
    _, a_star = config.teacher_arrays()
    teacher = hashlib.sha256(np.ascontiguousarray(a_star, dtype=np.float64).tobytes()).hexdigest()[:16]
    text = f"{config.digest()}:{teacher}:{PACKAGE_VERSION}:{SOURCE_HASH}:{CACHE_FORMAT}:{STREAM_VERSION}"
    landscape = landscape_named(config.landscape).code_digest  # "" for the package's: the source hash has them
    if landscape:
        text += f":{landscape}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _cell_meta(config: RunConfig, seconds: float) -> dict:
    return {
        "format": CACHE_FORMAT,
        "config": config.to_dict(),
        "trials": config.trials,
        "version": PACKAGE_VERSION,
        "source_hash": SOURCE_HASH,
        "stream_version": STREAM_VERSION,
        "seconds": seconds,
    }


def save_cell(path, result: RunResult) -> None:
    """Write ``result`` to ``path`` (compressed ``.npz``, no pickled objects), atomically."""
    buffer = io.BytesIO()
    meta = json.dumps(_cell_meta(result.config, result.seconds))
    arrays = {"meta": np.array(meta), **{name: getattr(result, name) for name in RESULT_ARRAYS}}
    np.savez_compressed(buffer, **_with_digest(arrays))
    atomic_write_bytes(path, buffer.getvalue())


def load_cell(path, config: RunConfig) -> RunResult:
    """Load the cell stored at ``path``, checked against ``config`` and this code.

    Raises
    ------
    StaleCell
        If the file cannot be read as a cell (truncated, corrupted, not a cell file) or was written
        for another config, trial count, package version or source: the caller recomputes it.
    """
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":  # else np.load would try to unpickle it
                raise StaleCell("is damaged (not an .npz archive)")
        with np.load(path, allow_pickle=False) as data:
            saved = {name: data[name] for name in data.files}
        arrays = {name: saved[name] for name in RESULT_ARRAYS}
        if any(array.dtype == object for array in saved.values()):
            raise StaleCell("is damaged (it holds pickled objects, which are never loaded)")
        if not _digest_holds(saved):
            raise StaleCell("is damaged (what it holds differs from the digest it was saved with: edited or corrupted)")
        meta = json.loads(str(saved["meta"][()]))
    except StaleCell:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read means: recompute the cell
        reason = "pickled objects, which are never loaded" if "pickle" in str(exc) else f"{type(exc).__name__}: {exc}"
        raise StaleCell(f"is damaged ({reason})") from None
    expected = json.loads(json.dumps(_cell_meta(config, 0.0)))
    for field in ("format", "config", "trials", "version", "source_hash", "stream_version"):
        if not isinstance(meta, dict) or meta.get(field) != expected[field]:
            raise StaleCell(f"was written for another cell or code (its {field} differs)")
    n, checkpoints = config.trials, config.checkpoints()
    shapes = {
        "w": (n, config.p),
        "a": (n, config.k),
        "outcome": (n,),
        "stop_iteration": (n,),
        "entered_at": (n,),
        "checkpoints": checkpoints.shape,
        "records": (n, checkpoints.size, len(RECORD_FIELDS)),
        "train_loss": (n,),
        "states": (min(config.record_states, n), checkpoints.size, config.p + config.k),
    }
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            raise StaleCell(f"is damaged ({name} has shape {arrays[name].shape}, expected {shape})")
        if arrays[name].dtype != RESULT_DTYPES[name]:
            raise StaleCell(f"is damaged ({name} holds {arrays[name].dtype}, expected {np.dtype(RESULT_DTYPES[name])})")
    if (
        not np.array_equal(arrays["checkpoints"], checkpoints)
        or not np.isin(arrays["outcome"], range(len(OUTCOME_NAMES))).all()
    ):
        raise StaleCell("is damaged (its checkpoints or outcome codes are not this cell's)")
    budget = config.total_epochs * config.iterations
    stop, entered = arrays["stop_iteration"], arrays["entered_at"]
    if not (np.all((stop >= 0) & (stop <= budget)) and np.all((entered >= -1) & (entered <= stop))):
        raise StaleCell(f"is damaged (its iteration counts are not within the run's {budget} iterations)")
    seconds = meta.get("seconds")
    try:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ValueError
        seconds = float(seconds)  # an integer of 400 digits overflows here
        if not 0.0 <= seconds < float("inf"):
            raise ValueError
    except (ValueError, OverflowError):
        given = str(meta.get("seconds"))[:40]
        raise StaleCell(f"is damaged (its run time {given!r} is not a number of seconds)") from None
    # the final w of a trial that did not diverge is a point of the sphere; a diverged trial keeps the
    # state its divergence was detected in (not finite, or of any norm: 0 where ||w||^2 overflowed)
    diverged = arrays["outcome"] == OUTCOME_NAMES.index("diverged")
    try:  # (check_sphere_rows passes rows that are not finite)
        check_sphere_rows("w", np.where(diverged[:, None], np.nan, arrays["w"]))
    except ValueError as exc:
        raise StaleCell(f"is damaged ({exc})") from None
    return RunResult(config, seconds=seconds, **arrays)


def cell_path(config: RunConfig, cache_dir) -> Path:
    """Where ``config``'s finished cell lives in ``cache_dir``."""
    return Path(cache_dir) / f"{cell_key(config)}.npz"


def load_cached(config: RunConfig, cache_dir, *, force: bool = False, notify=notice) -> RunResult | None:
    """``config``'s result from ``cache_dir``, or None when it has not finished there (or ``force``).

    A cached file that is damaged or belongs to another cell is reported through ``notify`` (one
    line naming the file) and counts as missing; it is never trusted.
    """
    path = cell_path(config, cache_dir)
    if path.exists() and not path.is_file():  # it could be neither read nor replaced: say so before the work
        raise ValueError(f"cache: {path} is not a file (a cell's result is saved under that name): remove it")
    if path.exists() and not force:
        try:
            return load_cell(path, config)
        except StaleCell as exc:
            notify(f"cache: {path} {exc}; recomputing it")
    return None


def cached_arrays(path, compute, *, shapes=None, valid=None, force: bool = False) -> dict[str, np.ndarray]:
    """``compute()`` (a dict of arrays), kept in ``path`` and read from it when it is there.

    For derived measurements that are not cells (the smoothed landscape, the dissipativity
    estimates): the caller puts everything they depend on in the file's name (a config's
    :func:`cell_key` covers the config and the code). A file that cannot be read, whose contents
    differ from the digest saved with them (:func:`content_digest`: edited by hand, or damaged),
    whose arrays are not those of ``shapes`` (name -> shape), or that ``valid(arrays)`` rejects, is
    recomputed and replaced; ``force`` recomputes. Written atomically, without pickled objects.
    """
    path = Path(path)
    if path.exists() and not force:
        try:
            with np.load(path, allow_pickle=False) as saved:
                arrays = {name: saved[name] for name in saved.files}
            if not _digest_holds(arrays):
                raise StaleCell("edited or damaged")
            arrays.pop(DIGEST)
            shaped = shapes is None or all(name in arrays and arrays[name].shape == tuple(shape)
                                           for name, shape in shapes.items())  # fmt: skip
            # numbers only: an edited file of strings of the right shape raised a TypeError later
            shaped = shaped and all(array.dtype.kind in "fiub" for array in arrays.values())
            if shaped and (valid is None or valid(arrays)):
                return arrays
        except Exception:  # noqa: BLE001, S110 - any failure to read means: recompute it
            pass
    arrays = {name: np.asarray(value) for name, value in compute().items()}
    buffer = io.BytesIO()
    np.savez(buffer, **_with_digest(arrays))
    atomic_write_bytes(path, buffer.getvalue())
    return arrays


def run_cached(config: RunConfig, cache_dir, *, force: bool = False, progress=None, notify=notice) -> RunResult:
    """Run ``config``, or load its result from ``cache_dir`` when that cell has finished before
    (:func:`load_cached`); a computed cell is saved there."""
    result = load_cached(config, cache_dir, force=force, notify=notify)
    if result is None:
        result = run(config, progress=progress)
        save_cell(cell_path(config, cache_dir), result)
    return result
