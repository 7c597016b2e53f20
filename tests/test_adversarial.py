"""Defects an adversarial pass found, each with the test that failed before its fix, grouped by
surface: folders, tables, run (command line), API. Every bad input gets one line and exit code 2
on the command line, a ValueError naming the argument in the API; nothing is lost or silently
wrong."""

import json
import subprocess
import sys

import numpy as np
import pytest

import pgd_bench as pb
from pgd_bench._files import prepare_output_dir
from pgd_bench.cli import main
from pgd_bench.tables import load_tables, read_table, write_table


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "pgd_bench", *args], capture_output=True, text=True, timeout=600,
                          **kwargs)  # fmt: skip


# --- folders ----------------------------------------------------------------------------------


def test_a_folder_belongs_to_one_kind_of_run(tmp_path):
    """A sweep into a reproduce folder overwrote its tables while its report still pointed at
    them; theory into a sweep folder deleted the sweep's tables. Now the second kind is refused,
    naming what is there, before any work."""
    prepare_output_dir(tmp_path, kind="reproduce")
    prepare_output_dir(tmp_path, kind="reproduce")  # the same kind again: a rerun, fine
    for other in ("sweep", "theory"):
        with pytest.raises(ValueError, match=f"holds a pgd-bench reproduce run.*not a {other}"):
            prepare_output_dir(tmp_path, kind=other)
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text("trials = 10\nepochs = 1\niterations = 10\n[grid]\nk = [4, 8]\n")
    proc = _cli("sweep", str(sweep_file), "--out", str(tmp_path))
    assert proc.returncode == 2 and "reproduce" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "tables").exists()


def test_plot_into_another_folder_leaves_no_cache_folder_there(tmp_path):
    prepare_output_dir(tmp_path / "out", kind=None, cache=False)
    assert (tmp_path / "out").is_dir() and not (tmp_path / "out" / "cache").exists()


# --- tables -----------------------------------------------------------------------------------


def _table(tmp_path, **columns):
    write_table(tmp_path, "t", columns or {"x": [1.5, 115.0], "n": [1, 2]})
    return tmp_path / "tables" / "t.csv"


def test_a_csv_cut_inside_its_last_number_is_refused_not_read_short(tmp_path):
    path = _table(tmp_path)
    path.write_text(path.read_text()[:-3])  # "115.0\n" -> "115" ... cut inside the number
    with pytest.raises(ValueError, match="t.csv.*(truncated|ends)"):
        read_table(tmp_path, "t")


def test_row_and_field_counts_are_checked_against_the_index(tmp_path):
    path = _table(tmp_path)
    header, *rows = path.read_text().splitlines()
    path.write_text(header + "\n")  # no rows, while the index says 2
    with pytest.raises(ValueError, match="t.csv.*0 rows.*index.*2"):
        read_table(tmp_path, "t")
    path.write_text("\n".join([header, rows[0] + ",7", rows[1]]) + "\n")  # an extra field
    with pytest.raises(ValueError, match="t.csv.*line 2.*3 fields.*2"):
        read_table(tmp_path, "t")


@pytest.mark.parametrize(
    "index",
    ["not json", "[]", '{"t": 5}', '{"t": {"rows": "2", "columns": [["x", "float"], ["n", "int"]]}}',
     '{"t": {"rows": 2, "columns": [["x", "complex"], ["n", "int"]]}}', '{"t": {"rows": 2}}'],
)  # fmt: skip
def test_a_hand_edited_index_is_refused_naming_the_file(tmp_path, index):
    _table(tmp_path)
    (tmp_path / "tables" / "index.json").write_text(index)
    with pytest.raises(ValueError, match="index.json"):
        load_tables(tmp_path, pandas=False)


@pytest.mark.parametrize("cell", ["abc", "1e999x", ""])
def test_a_damaged_number_is_refused_naming_file_and_column(tmp_path, cell):
    path = _table(tmp_path)
    header, first, second = path.read_text().splitlines()
    path.write_text("\n".join([header, first, f"{second.split(',')[0]},{cell}"]) + "\n")
    with pytest.raises(ValueError, match="t.csv.*column n"):
        read_table(tmp_path, "t")


def test_the_largest_seed_stays_an_integer_in_tables(tmp_path):
    seeds = [0, 2**64 - 1]
    write_table(tmp_path, "s", {"seed": seeds})
    back = read_table(tmp_path, "s")["seed"]
    assert [int(v) for v in back] == seeds and back.dtype.kind in "iu"


@pytest.mark.parametrize("bad", [None, 5, 2.5])
def test_load_tables_names_its_argument(bad):
    with pytest.raises(ValueError, match="results_dir"):
        load_tables(bad)


# --- run (command line) -------------------------------------------------------------------------


def test_a_negative_first_teacher_weight_is_read_as_a_value(capsys):
    assert main(["run", "--k", "3", "--a-star", "-0.98,-0.37,1.2", "--trials", "8", "--epochs", "1",
                 "--iterations", "10", "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["config"]["a_star"] == [-0.98, -0.37, 1.2]


def test_help_says_a_star_is_instead_of_teacher():
    text = " ".join(_cli("run", "--help").stdout.split())  # argparse wraps lines
    assert "replaces --teacher" not in text and "instead of --teacher" in text


def test_help_into_a_full_device_fails():
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "pgd_bench", "run", "--help"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr


# --- API ----------------------------------------------------------------------------------------


def test_an_overflowing_loss_is_an_error_not_a_nan():
    w_star = np.eye(3)[0]
    a = np.array([1.0, -2.0, 0.5])
    with pytest.raises(ValueError, match="w.*overflow"):
        pb.population_loss(np.array([1e200, 0.0, 0.0]), a, w_star, a)
    with pytest.raises(ValueError, match="overflow"):
        pb.population_grad(np.array([1e200, 1.0, 0.0]), a, w_star, a)


def test_forward_refuses_infinite_inputs_even_where_relu_hides_them():
    Z = np.ones((2, 3, 4))
    Z[1, 0, 0] = -np.inf  # relu(-inf) = 0: the output would look finite
    with pytest.raises(ValueError, match="Z.*finite"):
        pb.forward(Z, np.eye(4)[0], np.ones(3))


def test_a_huge_step_is_refused_not_returned_as_zero():
    w = np.eye(3)[0]
    with pytest.raises(ValueError, match="eta"):
        pb.riemannian_step(w, np.ones(2), np.array([0.0, 1.0, 0.0]), np.ones(2), 1e308, 0.1)


@pytest.mark.parametrize("delay", [0.1, 0.3, 0.7])
def test_ctrl_c_at_any_moment_is_one_line_and_exit_130(delay):
    """Ctrl-C while the command imports (the first second) printed a 37-line traceback."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "pgd_bench", "run", "--trials", "200000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and proc.returncode in (130, -signal.SIGINT), err


# --- sweep --------------------------------------------------------------------------------------


def test_a_sweep_too_large_to_check_is_refused_with_its_count(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text("[grid]\nseed = [" + ", ".join(str(i) for i in range(1000)) + "]\nk = [" +
                    ", ".join(str(i) for i in range(1, 201)) + "]\n")  # fmt: skip
    proc = _cli("sweep", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "200000 cells" in proc.stderr and "Traceback" not in proc.stderr


def test_workers_are_bounded_by_the_cores():
    from pgd_bench.runs.backend import Backend

    with pytest.raises(ValueError, match="workers.*cores"):
        Backend(workers=2**63)
