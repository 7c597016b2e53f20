"""Every code block of the README runs as written (the asv lines, in a scratch asv setup)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, flags=re.S | re.M)
BIN = Path(sys.executable).parent  # pgd-bench and asv of this environment


def _blocks(language, containing):
    found = [body for lang, body in BLOCKS if lang == language and containing in body]
    assert found, f"no {language} block containing {containing!r} in the README"
    return found


def _commands(body):
    """The block's command lines, without comments (a `#` after a command starts a comment)."""
    lines = [re.sub(r"\s+#\s.*$", "", line).strip() for line in body.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _shell(command, cwd, env=None, timeout=900):
    full_env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {}))
    return subprocess.run(command, shell=True, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def test_the_readme_opens_with_the_main_job_and_the_tests_and_ci_runs_both():
    first_lang, first = BLOCKS[0]
    assert first_lang == "bash"
    main_job, tests = _commands(first)
    assert "pgd-bench reproduce" in main_job and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert main_job in ci and tests in ci  # CI runs the README's commands, as written


def test_the_python_blocks_run(tmp_path, reduced_reproduction):
    for body in _blocks("python", "import"):
        if "pgd-bench-results" in body and not (tmp_path / "pgd-bench-results").exists():
            # the block reads a reproduction's results: a small one, as the README's main job makes
            (tmp_path / "pgd-bench-results").symlink_to(reduced_reproduction[0])
        proc = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_run_examples_and_the_toml_config_run(tmp_path):
    (toml,) = _blocks("toml", "# my_experiment.toml")
    (tmp_path / "my_experiment.toml").write_text(toml)
    (block,) = _blocks("bash", "pgd-bench run --config my_experiment.toml")
    for command in _commands(block):
        proc = _shell(command, tmp_path)
        assert proc.returncode == 0, f"{command}\n{proc.stderr[-3000:]}"
        if "--json > run.json" in command:  # the printed run, which the next line repeats
            assert json.loads((tmp_path / "run.json").read_text())["trials"] > 0
        elif "--json" in command:
            assert json.loads(proc.stdout)["trials"] > 0
        if "my_experiment.toml" in command:
            assert "k=16, teacher linspace, 5000 trials" in proc.stdout


@pytest.mark.skipif(shutil.which("asv", path=str(BIN)) is None, reason="asv is not installed")
@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="asv measures commits: needs a git checkout")
def test_the_beyond_the_theorem_commands_run(tmp_path):
    (block,) = _blocks("bash", "pgd-bench optima --stride 3")
    commands = _commands(block)
    assert len(commands) == 3
    for command in commands:
        proc = _shell(command, tmp_path)
        assert proc.returncode == 0, f"{command}\n{proc.stderr[-3000:]}"
    assert json.loads(proc.stdout)["optima"][1]["kind"] == "degenerate"  # Du et al.'s, flat to second order


def test_the_asv_lines_run_and_publish_what_they_saved(tmp_path):
    # asv writes its machine file into the home folder and its results next to its config: give
    # it a scratch home and a config whose folders are scratch too, never the user's
    config = json.loads((ROOT / "asv.conf.json").read_text())
    config.update(
        repo=str(ROOT),
        benchmark_dir=str(ROOT / "benchmarks"),
        env_dir=str(tmp_path / "env"),
        results_dir=str(tmp_path / "results"),
        html_dir=str(tmp_path / "html"),
    )
    (tmp_path / "asv.conf.json").write_text(json.dumps(config))
    # the kernels this process uses (a scratch home would move the kernel cache too, and each of
    # the benchmarks' processes, the first and the overlapping one, compiled the engine afresh:
    # about 80 s of this test). The one cold compile left is the benchmark that measures it.
    from pgd_bench._provenance import cache_root

    env = {"HOME": str(tmp_path), "PGD_BENCH_CACHE_DIR": str(cache_root())}
    (block,) = _blocks("bash", "asv machine --yes")
    for command in _commands(block):
        command = command.replace("asv ", f"asv --config {tmp_path / 'asv.conf.json'} ", 1)
        if " run " in command:  # the lines, on one benchmark: each benchmark runs in
            # tests/test_benchmarks.py, in one process (asv starts one per benchmark and parameter)
            command += " --bench RandomStreams.time_sample_ball -a repeat=1"
        proc = _shell(command, ROOT, env=env, timeout=1800)
        text = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"{command}\n{text[-4000:]}"
        assert "failed" not in text.lower() and "Traceback" not in text, f"{command}\n{text[-4000:]}"
    published = json.loads((tmp_path / "html" / "index.json").read_text())
    assert "bench_kernels.RandomStreams.time_sample_ball" in published["benchmarks"]
    assert list((tmp_path / "html" / "graphs").rglob("bench_kernels.RandomStreams.time_sample_ball.json"))
    assert not (ROOT / ".asv-machine.json").exists()


def test_the_sweep_example_is_the_file_it_names():
    (block,) = _blocks("toml", "# examples/sweep.toml")
    assert (ROOT / "examples" / "sweep.toml").read_text() == block
    from pgd_bench.sweep import load_sweep

    axes, cells = load_sweep(ROOT / "examples" / "sweep.toml")
    assert axes == ["rho_w", "k"] and len(cells) == 12


def test_the_printed_run_at_a_stride_below_p_is_what_the_command_prints(tmp_path):
    """The README's example of `run` at s < p (the basins against the optima found) is that command's
    output, line for line."""
    (block,) = _blocks("text", "$ pgd-bench run --stride 3")
    command, *shown = block.splitlines()
    shown = [line for line in shown if line != "..."]
    proc = _shell(command.removeprefix("$ "), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = proc.stdout.splitlines()
    start = printed.index(shown[0])
    assert printed[start : start + len(shown)] == shown
