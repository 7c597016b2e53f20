"""The pgd-bench command: JSON output, exit codes, thread-count reproducibility."""

import io
import json
import os
import re
import subprocess
import sys

import numba
import pytest
from in_process import cli
from threads import with_threads

from pgd_bench.cli import main
from pgd_bench.streams import STREAM_VERSION

SMALL = ["--trials", "30", "--epochs", "2", "--iterations", "50"]


def run_cli(args, env=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pgd_bench", *args], capture_output=True, text=True, env=full_env, timeout=600
    )


@pytest.mark.parametrize("algorithm", ["gd", "pgd"])
def test_json_output_has_the_promised_fields(algorithm, capsys):
    assert main(["run", "--algorithm", algorithm, *SMALL, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {
        "success_rate",
        "ci95",
        "outcomes",
        "basins",
        "trials",
        "trial_steps_per_second",
        "final_state_sha256",
        "stream_version",
        "config",
    }
    assert out["stream_version"] == STREAM_VERSION
    assert out["basins_meaning"].startswith("global / spurious: the nearer")
    assert out["trials"] == 30 and sum(out["outcomes"].values()) == 30
    assert out["ci95"][0] <= out["success_rate"] <= out["ci95"][1]
    assert out["config"]["algorithm"] == algorithm
    assert out["config"]["preset"] == {"gd": "paper", "pgd": "tuned"}[algorithm]
    # the resolved config repeats the run exactly
    from pgd_bench.runs.config import resolve_config
    from pgd_bench.runs.execute import run

    again = run(resolve_config(**out["config"]))
    assert again.final_state_sha256() == out["final_state_sha256"]


def test_human_report_flags_divergence(capsys):
    assert main(["run", "--algorithm", "pgd", "--preset", "paper", "--trials", "20"]) == 0
    text = capsys.readouterr().out
    assert "diverged" in text and "WARNING: 20 of 20 trials diverged" in text


@pytest.mark.parametrize("algorithm", ["gd", "sgd", "pgd", "pgd --stride 3"])
def test_same_bits_with_one_and_two_threads(algorithm):
    # in this process, at each thread count (Numba's set_num_threads: the count every run reads);
    # a thread-count setting given at start-up is read the same way (test_a_thread_count_setting...)
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread at most here: nothing to compare")
    hashes = set()
    for threads in (1, 2):
        proc = with_threads(threads, cli, "run", "--algorithm", *algorithm.split(), *SMALL, "--json")
        assert proc.returncode == 0, proc.stderr
        hashes.add(json.loads(proc.stdout)["final_state_sha256"])
    assert len(hashes) == 1


@pytest.mark.parametrize(
    "args,needle",
    [
        (["run", "--algorithm", "adam"], "invalid choice"),
        (["run", "--k", "3", "--a-star", "1,2"], "a_star"),
        (["run", "--trials", "-5"], "trials"),
        (["run", "--algorithm", "gd", "--rho-w", "3"], "rho_w"),
        (["run", "--a-star", "1,x"], "comma-separated"),
        (["run", "--config", "/nonexistent.toml"], "cannot read"),
        (["run", "--iterations", "1000000000000"], "GiB of memory"),
        (["run", "--trials", "100000000", "--epochs", "1", "--iterations", "1"], "GiB of memory"),
        (["run", "--k", "10000000"], "GiB of memory"),
        (["run", "--checkpoint-every", "1", "--iterations", "1000000000"], "GiB of memory"),
        (["run", "--tol", "100"], "tol:"),
        (["run", "--a-star", "1e6,1,1,1,1,1,1,1"], "a_star:"),
        (["run", "--noise-law", "gaussian"], "noise_law:"),
        (["run", "--teacher-seed", "3"], "teacher_seed:"),
        (["run", "--trials", str(2**63)], "trials:"),
        (["run", "--seed", str(2**64)], "seed:"),
        (["reproduce", "--out", ""], "out:"),
        (["reproduce", "--out", "/proc/version"], "out:"),
        (["reproduce", "--out", "/proc/version/sub"], "out:"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(args))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "content,needle",
    [
        (b'preset = ["paper"]\n', "preset:"),
        (b"[preset]\nx = 1\n", "preset:"),
        (b'algorithm = "pgd"\n# caf\xe9\n', "is not UTF-8"),
    ],
)
def test_bad_toml_values_exit_2_naming_the_key_or_file(tmp_path, capsys, content, needle):
    path = tmp_path / "c.toml"
    path.write_bytes(content)
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    if "UTF-8" in needle:
        assert str(path) in err


def test_a_bad_reproduce_argument_leaves_no_output_folder(tmp_path, capsys):
    for args in (["--seed", "-1"], ["--trials", "0"]):
        assert main(["reproduce", "--out", str(tmp_path / "new"), *args]) == 2
        assert not (tmp_path / "new").exists()


def test_a_full_stdout_is_one_line_and_exit_1(tmp_path):
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "pgd_bench", "run", *SMALL, "--json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=600,
        )
    assert proc.returncode == 1 and "No space left" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_toml_config_with_unknown_key_is_rejected(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('algorithm = "pgd"\nrho_w = 2.0\nnot_a_key = 1\n')
    assert main(["run", "--config", str(path)]) == 2
    assert "not_a_key" in capsys.readouterr().err


def test_toml_config_values_apply_and_flags_override(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('algorithm = "pgd"\nrho_w = 2.0\ntrials = 10\nepochs = 1\niterations = 5\n')
    assert main(["run", "--config", str(path), "--rho-a", "0.5", "--json"]) == 0
    config = json.loads(capsys.readouterr().out)["config"]
    assert (config["rho_w"], config["rho_a"], config["trials"]) == (2.0, 0.5, 10)


def test_the_header_prints_the_per_epoch_lists_that_ran(tmp_path, capsys):
    """It printed the preset's rho_w = 5 x0.9/epoch for a run whose file gave rho_w per epoch, and
    for Langevin a temperature of 0.1 beside a first epoch computed from the list."""
    path = tmp_path / "c.toml"
    path.write_text(
        'algorithm = "pgd"\ntrials = 8\nepochs = 8\niterations = 5\nrho_w_schedule = [1, 2, 3, 4, 5, 6, 7, 8.5]\n'
    )
    assert main(["run", "--config", str(path)]) == 0
    schedule = capsys.readouterr().out.splitlines()[1]
    # the list (long ones cut in the middle); rho_a keeps its initial value and the decay
    assert "rho_w=[1, 2, 3, ..., 7, 8.5] per epoch rho_a=1.5 x0.9/epoch" in schedule, schedule
    path.write_text('algorithm = "langevin"\ntrials = 8\nepochs = 2\niterations = 5\n'
                    'temperature_schedule = [0.5, 0.25]\neta_w_schedule = [0.01, 0.02]\n')  # fmt: skip
    assert main(["run", "--config", str(path)]) == 0
    schedule = capsys.readouterr().out.splitlines()[1]
    assert "eta_w=[0.01, 0.02] per epoch eta_a=1 x0.95/epoch" in schedule, schedule
    assert "temperature [0.5, 0.25] per epoch" in schedule and "temperature 0.1" not in schedule, schedule
    # six digits would print momentum 0.99999999 as 1
    assert main(["run", "--algorithm", "gd", *SMALL, "--momentum", "0.99999999"]) == 0
    assert ", momentum 0.99999999" in capsys.readouterr().out


@pytest.mark.parametrize("signum, code, said", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")])
def test_ctrl_c_stops_a_run_within_seconds_even_inside_a_huge_sgd_batch(signum, code, said):
    """And SIGTERM (kill, a batch scheduler) the same way, said in one line: it ended the process
    silently, without the handling Ctrl-C gets."""
    import signal
    import time

    warm = cli("run", "--algorithm", "sgd", "--trials", "1", "--epochs", "1", "--iterations", "1")
    assert warm.returncode == 0, warm.stderr  # compiled (or loaded) before the clock starts
    # one iteration of the largest batch allowed at k = 128 takes about 12 s: the kernel must see the
    # stop inside it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgd_bench",
            "run",
            "--algorithm",
            "sgd",
            "--batch",
            "1048576",
            "--k",
            "128",
            "--trials",
            "5",
            "--epochs",
            "1",
            "--iterations",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4.0)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(getattr(signal, signum))
    sent = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and err.strip().endswith(f"pgd-bench: {said}") and "Traceback" not in err, err
    assert time.monotonic() - sent < 5.0  # it was 47 s when only the block's end was a stop


def test_flags_override_the_config_file_or_are_refused_never_ignored(tmp_path, capsys):
    assert main(["run", *SMALL, "--json"]) == 0
    printed = tmp_path / "run.json"
    printed.write_text(capsys.readouterr().out)
    assert main(["run", "--config", str(printed), "--eta", "0.05", "--json"]) == 0
    captured = capsys.readouterr()
    assert "stream version" not in captured.err  # printed by this version: no note
    config = json.loads(captured.out)["config"]
    assert config["eta_w"] == config["eta_a"] == 0.05  # the flag's shorthand beats the file's step sizes
    scheduled = tmp_path / "s.toml"
    scheduled.write_text('algorithm = "pgd"\nepochs = 2\niterations = 5\neta_w_schedule = [0.1, 0.05]\n')
    for args, needle in (
        (["--config", str(printed), "--algorithm", "pgd"], "algorithm:"),  # gd's values labelled pgd
        (["--config", str(printed), "--preset", "tuned"], "preset:"),
        (["--config", str(scheduled), "--eta-w", "0.9"], "eta_w:"),  # hidden by the file's schedule
        (["--eta", "0.1", "--eta-w", "0.2", "--eta-a", "0.3"], "eta:"),
        (["--algorithm", "pgd", "--noise-on", "a", "--rho-w", "0.5"], "rho_w:"),
    ):
        assert main(["run", *args]) == 2, args
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, (args, err)


def test_a_closed_stdout_or_stderr_costs_one_line_or_nothing(tmp_path):
    base = f"{sys.executable} -m pgd_bench run --trials 5 --epochs 1 --iterations 5 --json"
    closed_out = subprocess.run(f"{base} >&-", shell=True, capture_output=False, stderr=subprocess.PIPE, text=True)
    assert closed_out.returncode == 1 and closed_out.stderr.strip().endswith("stdout is closed")
    # the progress bar cannot draw: the run still prints its result
    closed_err = subprocess.run(f"{base.replace('--trials 5', '--trials 600 --algorithm pgd')} 2>&-", shell=True,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert closed_err.returncode == 0 and json.loads(closed_err.stdout)["trials"] == 600


def test_a_damaged_kernel_cache_is_compiled_again_and_repaired_and_compiling_is_announced(tmp_path):
    """Also: a process that compiles the engine and one that loads it from the cache agree on the
    bits (with fastmath they did not: LLVM's rewrites depend on how the code was optimised); one
    test, as each fresh compilation of the engine costs about 20 s. The damaged file is that of a
    kernel every run loads beside the engine (the spurious optimum's, compiled in under a second):
    a damaged engine file takes the same path (``pgd_bench._jit``), 20 s more to compile again.

    The folder starts as a copy of this suite's kernel folder without the engine: the first run
    compiles the engine alone (30 -> 19 s), so compiled-against-loaded bits are checked for the
    engine; a start from a wholly empty folder is tested in test_provenance.py."""
    import shutil

    from pgd_bench._provenance import kernel_cache_dir

    env = {"PGD_BENCH_CACHE_DIR": str(tmp_path)}
    ours = kernel_cache_dir()
    kernels = tmp_path / ours.name
    if ours.is_dir():  # (a suite that starts cold may have none yet)
        shutil.copytree(ours, kernels, ignore=shutil.ignore_patterns("engine.*", ".*"))
    args = ["run", "--algorithm", "psgd", "--trials", "30", "--epochs", "2", "--iterations", "50", "--json"]
    cold = run_cli(args, env=env)
    assert cold.returncode == 0 and "compiling the engine for psgd (first run" in cold.stderr
    assert any(kernels.glob("engine._run_block-*.nbc"))  # compiled here, and saved
    warm = run_cli(args, env=env)
    assert warm.returncode == 0 and "compiling" not in warm.stderr  # loaded from the cache: no notice
    sha = json.loads(cold.stdout)["final_state_sha256"]
    assert json.loads(warm.stdout)["final_state_sha256"] == sha
    assert [p.name for p in tmp_path.iterdir()] == [kernels.name]
    (damaged_file,) = kernels.glob("landscape.spurious_kernel-*.nbc")
    damaged_file.write_bytes(damaged_file.read_bytes()[:100])  # truncated
    damaged = run_cli(args, env=env)  # a damaged entry is a miss: compiled again, the same bits
    assert damaged.returncode == 0 and "Traceback" not in damaged.stderr, damaged.stderr
    assert json.loads(damaged.stdout)["final_state_sha256"] == sha
    (saved,) = kernels.glob("landscape.spurious_kernel-*.nbc")  # and saved again, whole
    assert len(saved.read_bytes()) > 100
    saved_at = saved.stat().st_mtime_ns
    repaired = run_cli(args, env=env)  # the next run loads it: the file is not written again
    assert repaired.returncode == 0 and "compiling" not in repaired.stderr
    assert json.loads(repaired.stdout)["final_state_sha256"] == sha
    assert saved.stat().st_mtime_ns == saved_at


def test_a_thread_count_setting_that_is_not_a_count_is_one_line_naming_it():
    """Numba reads NUMBA_NUM_THREADS when imported: 0 and -1 stopped every command with "Number of
    threads specified must be > 0." (naming nothing); "abc", "2.5" or "" printed a warning with a
    traceback and ran on."""
    for value in ("0", "-1", "abc", "2.5", ""):
        proc = run_cli(["run", *SMALL], env={"NUMBA_NUM_THREADS": value})
        assert proc.returncode == 2 and proc.stderr == (
            f"pgd-bench: error: NUMBA_NUM_THREADS={value!r}: expected a whole number of threads, 1 or more "
            "(unset, one per core)\n"
        ), proc.stderr
    ok = run_cli(["run", *SMALL, "--json"], env={"NUMBA_NUM_THREADS": " 2"})  # what int() reads, Numba too
    assert ok.returncode == 0 and "Warning" not in ok.stderr, ok.stderr


def test_every_option_says_its_default_at_most_once():
    """``--landscape`` read "(default cnn: the poster's non-overlapping CNN; ...) (default cnn)"."""
    import argparse

    from pgd_bench.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helps = [action.help or "" for sub in commands.choices.values() for action in sub._actions]
    assert len(helps) > 50 and all(text.count("(default") <= 1 for text in helps), [
        text for text in helps if text.count("(default") > 1
    ]


def test_bare_pgd_bench_prints_the_usage(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: pgd-bench") and "reproduce" in out and "run" in out


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_redraws_in_place_only_on_a_terminal():
    from pgd_bench.console import ProgressBar

    for stream, in_place in ((io.StringIO(), False), (_Terminal(), True)):
        bar = ProgressBar("run", delay=0.0, stream=stream, log_every=0.0)
        for done in (10, 20, 30):
            bar(done, 30)
        text = stream.getvalue()
        assert ("\r" in text) == in_place
        assert text.endswith("30/30" + text.split("30/30")[-1]) and text.endswith("\n")
        if not in_place:  # a log gets whole lines, one per report
            assert text.count("\n") == 3 and all(line.startswith("run [") for line in text.splitlines())


def test_theory_writes_its_section_alone(tmp_path):
    from pgd_bench.cli import main

    out = tmp_path / "theory"
    assert main(["theory", "--quick", "--out", str(out), "--trials", "4"]) == 0
    report = (out / "report.md").read_text()
    headings = [line for line in report.splitlines() if line.startswith("## ")]
    assert headings == ["## Answers: the poster's claims, measured here", "## Settings",
                        "## The poster's theory, measured: partial dissipativity and the two epochs",
                        "## Where the time went"]  # fmt: skip
    # it says what it is: no reproduction, no success-rate cells
    assert report.startswith("# pgd_bench: the theory of Zhou et al.") and "success-rate" not in report
    assert "4 recorded trials per theory run" in report
    assert "| P-GD, tuned preset | with large noise, C2 holds near the start |" in report
    assert "| eta | " in report and "| eta = 0.003 |" in report and (out / "fig7_two_epochs.png").exists()
    # a value edited to inf (a float, so the table reads): drawing it raised matplotlib's
    # OverflowError, a traceback, while saving the figure; now the one line of an edited table
    table = out / "tables" / "fig8_theorem_scalings__t1.csv"
    header, first, *rest = table.read_text().splitlines()
    column = header.split(",").index("value")
    first = ",".join("inf" if j == column else cell for j, cell in enumerate(first.split(",")))
    table.write_text("\n".join([header, first, *rest]) + "\n")
    proc = cli("plot", str(out), "--figure", "fig8_theorem_scalings", "--out", str(tmp_path / "redrawn"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "fig8_theorem_scalings" in proc.stderr and "edited" in proc.stderr and proc.stderr.count("\n") == 1


def test_a_json_run_from_another_stream_version_is_repeated_with_a_note(tmp_path, capsys):
    assert main(["run", "--algorithm", "gd", *SMALL, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    printed["stream_version"] = STREAM_VERSION - 1
    path = tmp_path / "old.json"
    path.write_text(json.dumps(printed))
    assert main(["run", "--config", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    assert f"random stream version {STREAM_VERSION - 1}" in captured.err
    assert json.loads(captured.out)["config"] == printed["config"]


def test_json_says_what_basins_mean_where_no_spurious_optimum_is_known(capsys):
    """At stride < p, `basins` counted trials ending elsewhere as `spurious` with no word of it. Without
    the search for optima that is still what it counts, and it says so; with it (the default),
    `spurious` is the sum of the trials at each found optimum and elsewhere, and it says that."""
    assert main(["run", "--stride", "3", *SMALL, "--optima-starts", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "knows no spurious optimum in closed form" in out["basins_meaning"] and "found_optima" not in out
    assert out["basins"]["spurious"] == out["outcomes"]["spurious"] + out["outcomes"]["unconverged"]
    assert main(["run", "--stride", "3", *SMALL, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "optimum_i: ended within" in out["basins_meaning"]
    at_found = sum(n for key, n in out["basins"].items() if key.startswith("optimum_"))
    assert out["basins"]["spurious"] == at_found + out["basins"]["elsewhere"]


def test_the_run_header_names_the_polish_epochs_its_trials_ran(capsys):
    """``--polish-epochs 5`` ran every trial 5 epochs longer than the header's schedule said."""
    assert main(["run", "--algorithm", "pgd", "--trials", "8", "--epochs", "1", "--iterations", "20",
                 "--polish-epochs", "5"]) == 0  # fmt: skip
    schedule = capsys.readouterr().out.splitlines()[1]
    assert schedule.startswith("schedule: 1 epochs x 20 iterations")
    assert schedule.endswith(
        "; then 5 polish epochs at the last epoch's step sizes, without perturbation or Langevin noise"
    )
    assert main(["run", "--algorithm", "pgd", "--trials", "8", "--epochs", "1", "--iterations", "20"]) == 0
    assert "polish" not in capsys.readouterr().out


def test_optima_starts_is_refused_where_the_spurious_optimum_is_known(capsys):
    """At stride = p any value passed, -7 included, and was ignored: it now gets the check it gets
    below p, and a number of starts is refused as a setting the run would ignore; 0 is neutral."""
    assert main(["run", *SMALL, "--optima-starts", "-7"]) == 2
    assert capsys.readouterr().err == "pgd-bench: error: optima-starts: expected an integer >= 0, got -7\n"
    assert main(["run", *SMALL, "--optima-starts", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "closed form" in err and "would ignore it" in err
    assert main(["run", *SMALL, "--optima-starts", "0", "--json"]) == 0


def test_optima_help_lists_only_the_flags_it_takes():
    """Its help listed about 30 run flags with their defaults ("--algorithm ... (default gd)",
    --trials, --eta, --rho-w, --preset), each of which the command then refused."""
    from pgd_bench.runs.optima import PROBLEM_KEYS

    shown = cli("optima", "--help")
    assert shown.returncode == 0
    flags = set(re.findall(r"^  (--[a-z-]+)", shown.stdout, flags=re.MULTILINE))
    assert flags == {"--" + key.replace("_", "-") for key in PROBLEM_KEYS} | {"--config", "--starts", "--json"}
    refused = cli("optima", "--algorithm", "pgd")  # still read, to be refused by name rather than as unknown
    assert refused.returncode == 2 and "optima: --algorithm: not used" in refused.stderr


def test_trials_at_another_zero_loss_optimum_are_noted_beside_unconverged():
    """Overlapping patches with a*_0 = 0: the teacher shifted by one stride fits exactly, so GD's
    trials there are not within tol of the teacher and their outcome is unconverged, while the
    basins count them global; the outcome table gave no hint of it (an adversary read "still
    moving" for trials that had settled at zero loss)."""
    args = ["run", "--a-star", "0,1,1,1,1,1,1,1", "--stride", "3", "--trials", "40", "--optima-starts", "100"]
    text = cli(*args).stdout
    printed = json.loads(cli(*args, "--json").stdout)
    elsewhere = printed["basins"]["global"] - printed["outcomes"]["global"]
    assert elsewhere > 0 and printed["outcomes"]["unconverged"] >= elsewhere
    assert f"({elsewhere} at another zero-loss optimum: see the basins)" in text
