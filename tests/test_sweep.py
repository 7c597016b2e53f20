"""pgd-bench sweep: the grid it reads, the tables it writes, and the same bits on threads, on a
LocalCluster of worker processes and on a cluster reached by its scheduler's address."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import merge_chunks, run, run_chunk
from pgd_bench.sweep import load_sweep, run_sweep
from pgd_bench.tables import read_table

SWEEP = """
algorithm = "gd"
trials = 150
epochs = 2
iterations = 100
[grid]
k = [4, 8]
teacher = ["ones", "alternating"]
"""


def _sweep_file(tmp_path, text=SWEEP):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


def test_a_folder_or_a_missing_file_is_refused_with_exit_code_2(tmp_path, capsys):
    from pgd_bench.cli import main

    assert main(["sweep", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "a folder, not a sweep file" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "no such sweep file" in capsys.readouterr().err


def test_the_grid_is_the_product_of_its_lists_plus_the_explicit_cells(tmp_path):
    path = _sweep_file(tmp_path, SWEEP + '\n[[cells]]\nk = 16\nteacher = "linspace"\nseed = 3\n')
    axes, cells = load_sweep(path)
    assert axes == ["k", "teacher", "seed"]
    assert [(c.config.k, c.config.teacher) for c in cells] == [
        (4, "ones"), (4, "alternating"), (8, "ones"), (8, "alternating"), (16, "linspace")
    ]  # fmt: skip
    assert all(c.config.algorithm == "gd" and c.config.trials == 150 for c in cells)
    assert cells[-1].config.seed == 3 and cells[0].settings == {"k": 4, "teacher": "ones", "seed": 0}


@pytest.mark.parametrize(
    "text, message",
    [
        ("[grid]\nk = []\n", "non-empty list"),
        ("[grid]\nk = 4\n", "non-empty list"),
        ("[grid]\nwidth = [1, 2]\n", "not a config setting"),
        ('algorithm = "gd"\n[grid]\nrho_w = [1.0]\n', "cell 0 (rho_w=1.0)"),
        ("[grid\n", "not a TOML file"),
        ("cells = [1, 2]\n", "[[cells]] entries"),
        ('[grid]\nk = [4, "x"]\n', "cell 1 (k='x'): k: expected an integer"),
    ],
)
def test_bad_sweep_files_are_refused_with_a_message_and_exit_code_2(tmp_path, capsys, text, message):
    from pgd_bench.cli import main

    path = _sweep_file(tmp_path, text)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_sweep(path)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err


def test_a_sweep_on_threads_writes_its_tables_and_each_cell_is_the_run_of_its_config(tmp_path, capsys):
    path = _sweep_file(tmp_path)
    lines = io.StringIO()
    sweep = run_sweep(path, tmp_path / "out", json_lines=lines)
    cells = read_table(sweep.out, "cells")
    trials = read_table(sweep.out, "trials")
    assert cells["cell"].tolist() == [0, 1, 2, 3] and len(trials["trial"]) == 4 * 150
    assert cells["grid_k"].tolist() == [4, 4, 8, 8] and list(cells["grid_teacher"]) == ["ones", "alternating"] * 2
    printed = [json.loads(line) for line in lines.getvalue().splitlines()]
    for cell, row in zip(sweep.cells, printed):
        alone = run(cell.config)
        assert row["final_state_sha256"] == alone.final_state_sha256() == cells["final_state_sha256"][cell.index]
        assert row["config"] == cell.config.to_dict() and row["config_hash"] == cell.config.digest()
        assert row["outcomes"] == alone.counts() and row["success_rate"] == alone.success_rate()
    assert (sweep.out / "sweep_success.png").stat().st_size > 10_000  # two keys vary: a heatmap
    from pgd_bench.report.build import plot  # the sweep's figure redraws from its folder like the report's

    (redrawn,) = plot(sweep.out, out_dir=tmp_path / "redrawn", formats=("png",))
    assert redrawn.read_bytes() == (sweep.out / "sweep_success.png").read_bytes()
    # a rerun reads every cell from the cache
    cache = {p.name: p.stat().st_mtime_ns for p in (sweep.out / "cache").iterdir()}
    run_sweep(path, tmp_path / "out")
    assert {p.name: p.stat().st_mtime_ns for p in (sweep.out / "cache").iterdir()} == cache
    # a cached figure cut short is named and drawn again, never copied into the results as the
    # figure (it was: a 50-byte PNG, and report.html embedded such a one)
    figure = sweep.out / "sweep_success.png"
    drawn = figure.read_bytes()
    (cached,) = (sweep.out / "cache").glob("figure-*.png")
    cached.write_bytes(cached.read_bytes()[:50])
    capsys.readouterr()
    run_sweep(path, tmp_path / "out")
    assert f"cache: {cached} is not the figure that was drawn" in capsys.readouterr().err
    assert figure.read_bytes() == drawn and cached.read_bytes() == drawn


def test_cells_run_without_the_cache_neither_read_nor_write_it_and_keep_their_bits(tmp_path, monkeypatch):
    from pgd_bench.runs import backend

    configs = [resolve_config(algorithm=name, trials=70, epochs=2, iterations=50, record_states=5)
               for name in ("gd", "pgd")]  # fmt: skip
    cached = backend.Backend().compute(configs, tmp_path / "cache")  # one file per cell
    files = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()}
    assert len(files) == 2

    def touched(*args, **kwargs):
        raise AssertionError("the cell cache was used")

    monkeypatch.setattr(backend, "load_cached", touched)
    monkeypatch.setattr(backend, "save_cell", touched)
    uncached = backend.Backend().compute(configs, tmp_path / "cache", cache=False)
    for config, a, b in zip(configs, cached, uncached):
        assert a.final_state_sha256() == b.final_state_sha256() == run(config).final_state_sha256()
        assert np.array_equal(a.states, b.states, equal_nan=True)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()} == files


def test_chunks_merged_in_any_order_are_the_whole_run():
    config = resolve_config(algorithm="pgd", trials=200, epochs=2, iterations=50, record_states=70)
    whole = run(config)
    chunks = [run_chunk(config, first, count) for first, count in ((128, 72), (0, 64), (64, 64))]
    given = list(chunks)
    merged = merge_chunks(config, given)
    assert given == []  # each chunk let go once copied: the merge holds the run's outputs and one chunk, not both
    for name in ("w", "a", "outcome", "stop_iteration", "entered_at", "records", "states"):
        assert np.array_equal(getattr(merged, name), getattr(whole, name), equal_nan=True), name
    partial = chunks[:1] + chunks[2:]
    with pytest.raises(ValueError, match="missing or repeated"):
        merge_chunks(config, partial)
    assert len(partial) == 2  # refused before it takes any
    with pytest.raises(ValueError, match="past the run"):
        run_chunk(config, 190, 20)


distributed = pytest.importorskip  # the cluster tests need the dask extra


def test_a_local_cluster_of_two_workers_gives_the_same_bits_as_threads(tmp_path):
    distributed("distributed")
    # overlapping patches too: stride 3 is the overlapping landscape's engine, 6 the poster's
    grid = SWEEP.replace("[grid]", '[grid]\nalgorithm = ["gd", "pgd"]').replace('teacher = ["ones", "alternating"]',
                                                                            "stride = [3, 6]")  # fmt: skip
    path = _sweep_file(tmp_path, grid)
    threads = run_sweep(path, tmp_path / "threads")
    cluster = run_sweep(path, tmp_path / "cluster", workers=2, chunk_trials=64)  # 3 chunks per cell
    assert len(cluster.cells) == 8 and {c.config.landscape for c in cluster.cells} == {"cnn", "overlapping"}
    for a, b in zip(threads.results, cluster.results):
        assert a.final_state_sha256() == b.final_state_sha256()
        assert np.array_equal(a.records, b.records, equal_nan=True) and np.array_equal(a.outcome, b.outcome)


def _start(command, **kwargs):
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            **kwargs)  # fmt: skip


def test_a_cluster_reached_by_its_schedulers_address_gives_the_same_bits(tmp_path):
    distributed("distributed")
    file = tmp_path / "scheduler.json"
    scheduler = _start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                        "--scheduler-file", str(file), "--no-dashboard"])  # fmt: skip
    worker = None
    try:
        for _ in range(200):
            if file.exists() and file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        worker = _start([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1",
                         "--nthreads", "1", "--no-dashboard"])  # fmt: skip
        path = _sweep_file(tmp_path)
        remote = run_sweep(path, tmp_path / "remote", scheduler=address, chunk_trials=64)
        for cell, result in zip(remote.cells, remote.results):
            assert result.final_state_sha256() == run(cell.config).final_state_sha256()
    finally:
        for process in (worker, scheduler):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    distributed("distributed")
    from pgd_bench.cli import main

    path = _sweep_file(tmp_path)
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "cannot reach a Dask scheduler" in capsys.readouterr().err
    # refused before the output folder is made: it was left made and claimed for a sweep (or a
    # theory run), and a run of another kind into it was then refused
    assert main(["theory", "--quick", "--trials", "2", "--out", str(tmp_path / "t"), "--scheduler",
                 "tcp://127.0.0.1:9"]) == 2  # fmt: skip
    assert "cannot reach a Dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "t").exists()


def test_the_reproduction_runs_on_a_local_cluster_to_the_same_tables(tmp_path):
    distributed("distributed")
    from pgd_bench.report.build import reproduce
    from pgd_bench.report.sections.convergence import figure_convergence

    here = reproduce(tmp_path / "threads", quick=True, trials=5, sections=[figure_convergence])
    there = reproduce(tmp_path / "cluster", quick=True, trials=5, sections=[figure_convergence], workers=2)
    ours, theirs = read_table(here, "trials"), read_table(there, "trials")
    for column in ("cell", "outcome", "final_dist_w", "final_dist_a", "stop_iteration", "config_hash"):
        assert np.array_equal(ours[column], theirs[column], equal_nan=ours[column].dtype.kind == "f"), column
    assert (here / "fig2_convergence.png").read_bytes() == (there / "fig2_convergence.png").read_bytes()


def test_a_chunk_whose_worker_dies_is_run_again_and_the_cell_keeps_its_bits(tmp_path):
    """Kill a worker process while it runs a chunk: Dask reruns the chunk on the other worker."""
    distributed("distributed")
    from distributed import Client, LocalCluster

    from pgd_bench.runs.backend import _remote_chunk

    # four chunks of about a second each, so that the kill lands while one runs
    config = resolve_config(algorithm="pgd", trials=256, epochs=4, iterations=50_000, checkpoint_every=50_000)
    whole = run(config)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: __import__("pgd_bench.sweep"))  # import (and load the engine) before the clock starts
        futures = [client.submit(_remote_chunk, config.to_dict(), first, 64, pure=False, retries=3)
                   for first in range(0, 256, 64)]  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until a chunk is running on some worker, then kill that worker
            processing = client.processing()
            busy = [address for address, tasks in processing.items() if tasks]
            if busy:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # into the chunk
        pids = client.run(os.getpid, workers=[busy[0]])
        os.kill(pids[busy[0]], signal.SIGKILL)
        chunks = client.gather(futures)
        assert busy[0] not in client.scheduler_info()["workers"]  # the worker is gone; its chunk ran elsewhere
    merged = merge_chunks(config, chunks)
    assert merged.final_state_sha256() == whole.final_state_sha256()
    assert np.array_equal(merged.records, whole.records, equal_nan=True)


def test_ctrl_c_in_a_terminal_stops_a_sweep_on_workers_at_once_with_one_line(tmp_path):
    """Ctrl-C signals the terminal's whole process group, the local cluster's workers too: each
    printed the KeyboardInterrupt traceback of its event loop after the command's one line, and the
    workers' cancelled tasks a warning each; the command then waited 4 s for each busy worker."""
    distributed("distributed")
    sweep_file = tmp_path / "s.toml"  # cells of tens of seconds: the signal lands inside one
    sweep_file.write_text('algorithm = "pgd"\ntrials = 20000\nepochs = 20\niterations = 1000\n[grid]\nk = [8, 16]\n')
    proc = subprocess.Popen([sys.executable, "-m", "pgd_bench", "sweep", str(sweep_file), "--out", str(tmp_path / "o"),
                             "--workers", "2"], stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    first = proc.stderr.readline()  # written once the cluster is up
    assert first.startswith("sweep: 2 cells on a local Dask cluster"), first
    time.sleep(2.0)  # the workers are inside their first chunks
    assert proc.poll() is None
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
    sent = time.monotonic()
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert time.monotonic() - sent < 3.0
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "pgd-bench: interrupted", err
    assert "Traceback" not in err and "CancelledError" not in err and "killing" not in err, err


def test_two_local_clusters_at_once_start_without_a_port_warning():
    """Two sweeps on local clusters at the same time: the second's scheduler warned "Port 8787 is
    already in use" (its HTTP server, which runs without the dashboard, took the default port)."""
    import warnings

    distributed("distributed")
    from pgd_bench.runs.backend import Backend

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Backend(workers=1) as first, Backend(workers=1) as second:
            addresses = {first.cluster.scheduler.http_server.port, second.cluster.scheduler.http_server.port}
    assert len(addresses) == 2 and 8787 not in addresses
