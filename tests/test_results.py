"""The per-cell cache never returns a result for the wrong cell, and never crashes on a bad file."""

import dataclasses
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pgd_bench._files import output_lock, prepare_output_dir
from pgd_bench.runs.cache import StaleCell, cell_key, load_cell, run_cached
from pgd_bench.runs.config import resolve_config

SMALL = dict(trials=20, epochs=1, iterations=30)


def _cell(tmp_path, **overrides):
    config = resolve_config(**{**SMALL, **overrides})
    return config, tmp_path / f"{cell_key(config)}.npz"


def _same(r1, r2):
    return r1.final_state_sha256() == r2.final_state_sha256() and np.array_equal(r1.records, r2.records, equal_nan=True)


def test_a_cached_cell_is_loaded_as_it_was_computed(tmp_path):
    config, path = _cell(tmp_path)
    first = run_cached(config, tmp_path)
    notices = []
    again = run_cached(config, tmp_path, notify=notices.append)
    assert _same(first, again) and notices == [] and again.config == config
    assert again.seconds == first.seconds  # loaded, not recomputed


def test_another_cells_file_under_this_key_is_recomputed_with_a_notice(tmp_path):
    config, path = _cell(tmp_path, k=8)
    other, other_path = _cell(tmp_path, k=4, trials=12)
    run_cached(other, tmp_path)
    shutil.copy(other_path, path)  # a valid file of another cell, under this cell's key
    notices = []
    result = run_cached(config, tmp_path, notify=notices.append)
    assert len(notices) == 1 and str(path) in notices[0] and "another cell" in notices[0]
    assert result.config == config and result.outcome.size == config.trials
    assert _same(result, run_cached(config, tmp_path, force=True))


@pytest.mark.parametrize("field", ["trials", "source_hash", "version", "stream_version"])
def test_a_cell_from_other_code_or_trials_is_stale(tmp_path, field, monkeypatch):
    config, path = _cell(tmp_path)
    run_cached(config, tmp_path)
    import pgd_bench.runs.cache as results

    if field == "trials":
        config = dataclasses.replace(config, trials=config.trials + 1)
    else:
        names = {"source_hash": "SOURCE_HASH", "version": "PACKAGE_VERSION", "stream_version": "STREAM_VERSION"}
        monkeypatch.setattr(results, names[field], "other")
        assert results.cell_key(config) != path.stem  # another key: the file is never even looked up
    with pytest.raises(StaleCell, match=field if field != "trials" else "config|trials"):
        load_cell(path, config)


def _damage(kind, path):
    data = path.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "bit flip":  # in the middle of w's compressed bytes (not in a field zip ignores)
        import struct
        import zipfile

        with zipfile.ZipFile(path) as archive:
            member = archive.getinfo("w.npy")
        name_length, extra_length = struct.unpack("<HH", data[member.header_offset + 26 : member.header_offset + 30])
        start = member.header_offset + 30 + name_length + extra_length
        flipped = bytearray(data)
        flipped[start + member.compress_size // 2] ^= 0x10
        path.write_bytes(bytes(flipped))
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif kind == "pickled object":
        _resave(path, w=lambda w: w.astype(object))
    # edited and saved again whole: the archive reads, what it holds is not the cell's (each was
    # trusted: a traceback, a one-line error naming no file, or absurd counts in the tables)
    elif kind == "no seconds":
        _resave(path, meta=lambda meta: {key: value for key, value in meta.items() if key != "seconds"})
    elif kind == "text seconds":
        _resave(path, meta=lambda meta: {**meta, "seconds": "abc"})
    elif kind == "overflowing seconds":  # an int of 400 digits: float() of it raised OverflowError
        _resave(path, meta=lambda meta: {**meta, "seconds": 10**400})
    elif kind == "negative seconds":
        _resave(path, meta=lambda meta: {**meta, "seconds": -1.0})
    elif kind == "float32 states":
        _resave(path, w=lambda w: w.astype(np.float32))
    elif kind == "float counts":
        _resave(path, stop_iteration=lambda stop: stop.astype(np.float64))
    elif kind == "counts past the budget":
        _resave(path, stop_iteration=lambda stop: stop + 10**9)
    elif kind == "entered after it stopped":
        _resave(path, entered_at=lambda entered: np.full_like(entered, SMALL["iterations"] + 1))
    elif kind == "w off the sphere":
        _resave(path, w=lambda w: 2.0 * w)
    # edited to other numbers of the right shapes and kinds, on the sphere, its digest left as it
    # was (each of these was trusted)
    elif kind == "other states":
        _resave(path, digest_too=False, w=lambda w: -w)
    elif kind == "other outcomes":
        _resave(path, digest_too=False, outcome=lambda outcome: np.zeros_like(outcome))
    elif kind == "no digest":
        _resave(path, digest=None)


def _resave(path, digest_too=True, **edits):
    """The cell file at ``path`` saved again with ``edits`` (name -> function of the array, or of
    the metadata's dict for ``meta``; None: without that array) applied, and its digest computed
    again for what it then holds (``digest_too``, so that the checks behind the digest are
    reached), or left as it was."""
    import json

    from pgd_bench.runs.cache import DIGEST, content_digest

    arrays = dict(np.load(path, allow_pickle=True))
    for name, edit in edits.items():
        if edit is None:
            del arrays[name]
        elif name == "meta":
            arrays["meta"] = np.array(json.dumps(edit(json.loads(str(arrays["meta"][()])))))
        else:
            arrays[name] = edit(arrays[name])
    if digest_too and DIGEST in arrays:
        arrays[DIGEST] = np.array(content_digest(arrays))
    np.savez(path.with_suffix(""), **arrays)
    os.replace(str(path.with_suffix("")) + ".npz", path)


DAMAGES = ["empty", "truncated", "bit flip", "random bytes", "pickled object", "no seconds", "text seconds",
           "overflowing seconds", "negative seconds", "float32 states", "float counts", "counts past the budget",
           "entered after it stopped", "w off the sphere", "other states", "other outcomes",
           "no digest"]  # fmt: skip


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_cell_is_named_and_recomputed(tmp_path, kind):
    config, path = _cell(tmp_path)
    clean = run_cached(config, tmp_path)
    _damage(kind, path)
    notices = []
    result = run_cached(config, tmp_path, notify=notices.append)
    assert len(notices) == 1 and str(path) in notices[0] and "damaged" in notices[0]
    assert "allow_pickle" not in notices[0]
    assert _same(result, clean)
    assert load_cell(path, config).final_state_sha256() == clean.final_state_sha256()  # rewritten


def test_a_cell_whose_trials_diverged_is_loaded_as_it_was_computed(tmp_path):
    """A diverged trial keeps the state its divergence was detected in: here w of norm 0 (||w||^2
    overflowed, and the step scaled w by 1 / inf) or not finite. The check that a cached final w is
    on the sphere refused such a cell as damaged, and every rerun computed it again."""
    config, path = _cell(tmp_path, eta=3.0, a_bound=1e100, trials=16, epochs=1, iterations=200)
    first = run_cached(config, tmp_path)
    norms = np.linalg.norm(first.w, axis=1)
    assert np.any(norms == 0.0) and first.counts()["diverged"] == config.trials
    notices = []
    again = run_cached(config, tmp_path, notify=notices.append)
    assert notices == [] and _same(first, again) and again.seconds == first.seconds


def test_a_derived_estimate_edited_to_strings_of_its_shape_is_computed_again(tmp_path):
    """cached_arrays checked shapes only: strings of the right shape raised a TypeError later."""
    from pgd_bench.runs.cache import cached_arrays

    path = tmp_path / "estimate.npz"
    np.savez(path, ratios=np.full((2, 3), "x"))
    got = cached_arrays(path, lambda: {"ratios": np.ones((2, 3))}, shapes={"ratios": (2, 3)})
    assert got["ratios"].dtype == np.float64 and np.all(got["ratios"] == 1.0)
    assert np.load(path)["ratios"].dtype == np.float64  # replaced


def test_a_derived_estimate_edited_to_other_numbers_is_computed_again(tmp_path):
    """Numbers of the right shape and kind, on one entry: trusted until the files had a digest."""
    from pgd_bench.runs.cache import DIGEST, cached_arrays

    path = tmp_path / "estimate.npz"
    compute = lambda: {"ratios": np.arange(6.0).reshape(2, 3)}  # noqa: E731
    first = cached_arrays(path, compute, shapes={"ratios": (2, 3)})
    assert set(first) == {"ratios"}  # the digest is the file's, not the caller's
    saved = dict(np.load(path))
    assert cached_arrays(path, lambda: pytest.fail("recomputed"), shapes={"ratios": (2, 3)})["ratios"].tolist() == (
        first["ratios"].tolist()
    )
    saved["ratios"][1, 2] = 0.5
    np.savez(path, **saved)
    again = cached_arrays(path, compute, shapes={"ratios": (2, 3)})
    assert np.array_equal(again["ratios"], first["ratios"])
    assert np.load(path)["ratios"][1, 2] == 5.0 and DIGEST in np.load(path).files  # replaced


def test_the_dissipativity_estimates_are_named_by_their_estimators_code(monkeypatch):
    """report/ is outside the kernels' source hash: an edited estimator read the earlier estimates."""
    import inspect

    from pgd_bench.report import theory_measures
    from pgd_bench.report.sections.theory import ratios_file_name
    from pgd_bench.runs.execute import run

    result = run(resolve_config(**{**SMALL, "record_states": 2}))
    name = ratios_file_name(result, 100, 0)
    source = inspect.getsource

    monkeypatch.setattr(inspect, "getsource", lambda obj: source(obj) + ("#" if obj is theory_measures else ""))
    assert ratios_file_name(result, 100, 0) != name


def test_a_folder_in_a_cells_place_is_refused_before_the_cell_runs(tmp_path, monkeypatch):
    """It was announced as "recomputing it", computed, and then the save failed: the work lost."""
    from pgd_bench.runs import cache

    config, path = _cell(tmp_path)
    path.mkdir()
    monkeypatch.setattr(cache, "run", lambda *a, **k: pytest.fail("the cell ran"))
    with pytest.raises(ValueError, match=rf"^cache: {re.escape(str(path))} is not a file"):
        run_cached(config, tmp_path)


@pytest.mark.parametrize("case", ["empty", "file", "under a file"])
def test_a_bad_output_folder_is_refused_before_any_work(tmp_path, case):
    target = {"empty": "", "file": tmp_path / "f", "under a file": tmp_path / "f" / "sub"}[case]
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="^out: "):
        prepare_output_dir(target)
    assert (tmp_path / "f").read_text() == "x"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere")
def test_a_read_only_output_folder_is_refused(tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="cannot write"):
            prepare_output_dir(tmp_path / "out")
    finally:
        tmp_path.chmod(0o755)


def test_a_second_writer_into_the_same_folder_is_refused(tmp_path):
    prepare_output_dir(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pgd_bench._files import output_lock\n"
            "with output_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match="another pgd-bench process"), output_lock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with output_lock(tmp_path):  # released with its holder
        pass


def test_a_file_linked_into_place_shares_its_bytes_or_is_copied_and_leaves_no_temporary(tmp_path, monkeypatch):
    import errno

    from pgd_bench._files import atomic_link_or_copy

    source = tmp_path / "a.png"
    source.write_bytes(b"figure")
    target = tmp_path / "cache" / "figure-1.png"
    target.parent.mkdir()
    target.write_bytes(b"an older figure")
    atomic_link_or_copy(source, target)
    assert os.path.samefile(source, target) and target.read_bytes() == b"figure"
    atomic_link_or_copy(source, target)  # linked already: rename of a link onto itself keeps the temporary name
    assert os.path.samefile(source, target)
    # a write replaces its name: the other name keeps the bytes it had
    from pgd_bench._files import atomic_write_bytes

    atomic_write_bytes(source, b"redrawn")
    assert target.read_bytes() == b"figure"

    def no_links(*args):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)  # another file system: copied
    copy = tmp_path / "cache" / "figure-2.png"
    atomic_link_or_copy(source, copy)
    assert copy.read_bytes() == b"redrawn" and not os.path.samefile(source, copy)
    atomic_link_or_copy(source, copy, data=b"read before")  # the bytes already read are written
    assert copy.read_bytes() == b"read before"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.png", "figure-1.png", "figure-2.png"]
    with pytest.raises(IsADirectoryError):
        atomic_link_or_copy(source, tmp_path / "cache")
    monkeypatch.undo()
    atomic_link_or_copy(source, tmp_path / "new" / "figure-3.png")  # its folder made, as atomic_write_bytes does
    assert os.path.samefile(source, tmp_path / "new" / "figure-3.png")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)  # Ctrl-C between the link and the rename
    with pytest.raises(KeyboardInterrupt):
        atomic_link_or_copy(source, tmp_path / "cache" / "figure-4.png")
    assert not list(tmp_path.rglob("*.tmp"))
