"""Saved tables read back bit for bit, as CSV and as Parquet; aRT against a direct computation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgd_bench.stats import expected_running_time
from pgd_bench.tables import concat_columns, load_tables, read_index, read_table, write_table

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(floats, min_size=1, max_size=30))
def test_floats_read_back_bit_for_bit(tmp_path_factory, values):
    out = tmp_path_factory.mktemp("t")
    write_table(out, "x", {"v": np.array(values)})
    back = read_table(out, "x")["v"]
    assert back.dtype == np.float64
    assert np.array_equal(back.view(np.uint64)[~np.isnan(back)], np.array(values).view(np.uint64)[~np.isnan(back)])
    assert np.array_equal(np.isnan(back), np.isnan(values))


def test_every_kind_keeps_its_kind_order_and_values(tmp_path):
    columns = {
        "name": ["a", "b,c", 'quote "q"'],  # commas and quotes survive the CSV
        "count": np.array([1, -2, 2**62], dtype=np.int64),
        "flag": [True, False, True],
        "value": [0.1, None, -0.0],  # None is missing: NaN
        "maybe": [3, None, 5],  # an int column with a gap reads back as float
    }
    files = write_table(tmp_path, "t", columns, "a test table")
    back = read_table(tmp_path, "t")
    assert list(back) == list(columns)
    assert list(back["name"]) == columns["name"]
    assert back["count"].dtype == np.int64 and back["count"].tolist() == [1, -2, 2**62]
    assert back["flag"].dtype == bool and back["flag"].tolist() == [True, False, True]
    assert back["value"][0] == 0.1 and math.isnan(back["value"][1]) and math.copysign(1, back["value"][2]) == -1
    assert back["maybe"].dtype == np.float64 and math.isnan(back["maybe"][1])
    index = read_index(tmp_path)["t"]
    assert index["description"] == "a test table" and index["rows"] == 3
    assert [c for c, _ in index["columns"]] == list(columns)
    assert "tables/t.csv" in files


def test_parquet_and_pandas_agree_with_the_csv(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    columns = {"s": ["x", "y"], "i": [1, 2], "f": [0.30000000000000004, float("inf")], "b": [False, True]}
    files = write_table(tmp_path, "t", columns)
    assert "tables/t.parquet" in files
    from_parquet = pd.read_parquet(tmp_path / "tables" / "t.parquet")
    frames = load_tables(tmp_path)
    pd.testing.assert_frame_equal(from_parquet, frames["t"], check_dtype=False)
    assert from_parquet["f"].tolist() == columns["f"] and from_parquet["i"].dtype == np.int64


def test_columns_of_unequal_length_are_refused(tmp_path):
    with pytest.raises(ValueError, match="length"):
        write_table(tmp_path, "t", {"a": [1, 2], "b": [1]})


def test_a_folder_without_tables_is_refused_with_a_message(tmp_path):
    with pytest.raises(ValueError, match="no saved tables"):
        load_tables(tmp_path)
    with pytest.raises(ValueError, match="no table 'x'"):
        read_table(tmp_path, "x")


def test_concat_fills_missing_columns():
    out = concat_columns([{"a": [1, 2], "b": ["x", "y"]}, {"a": [3], "c": [0.5]}, {"a": 4, "b": "z"}])
    assert out == {"a": [1, 2, 3, 4], "b": ["x", "y", None, "z"], "c": [None, None, 0.5, None]}


def _bootstrap_reference(spent, solved, n_boot, seed):
    """aRT of each resample by a plain loop over the same resampling indices."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(spent), size=(n_boot, len(spent)))
    values = []
    for row in index:
        successes = sum(solved[i] for i in row)
        values.append(sum(spent[i] for i in row) / successes if successes else math.inf)
    return sorted(values)


@settings(max_examples=30, deadline=None)
@given(
    trials=st.lists(st.tuples(st.integers(1, 10**6), st.booleans()), min_size=1, max_size=40),
    seed=st.integers(0, 2**32),
)
def test_expected_running_time_is_spent_over_successes_with_a_bootstrap_interval(trials, seed):
    spent = np.array([t for t, _ in trials])
    solved = np.array([s for _, s in trials])
    art, low, high = expected_running_time(spent, solved, n_boot=200, seed=seed)
    if not solved.any():
        assert art == low == high == math.inf
        return
    assert art == pytest.approx(spent.sum() / solved.sum(), rel=1e-15)
    reference = _bootstrap_reference(spent, solved, 200, seed)
    assert low == pytest.approx(reference[int(math.floor(0.025 * 199))], rel=1e-12)
    assert high == pytest.approx(reference[int(math.ceil(0.975 * 199))], rel=1e-12)


def test_expected_running_time_refuses_mismatched_arrays():
    with pytest.raises(ValueError, match="spent and solved"):
        expected_running_time(np.ones(3), np.ones(2, bool))


def test_a_runs_trial_table_and_cell_row_say_what_ran_and_agree_with_the_result():
    from pgd_bench.runs.config import resolve_config
    from pgd_bench.runs.execute import run
    from pgd_bench.streams import STREAM_VERSION

    result = run(resolve_config(algorithm="gd", trials=24, epochs=1, iterations=300, seed=3))
    table = result.trial_table()
    assert {len(column) for column in table.values()} == {24}
    assert table["algorithm"][0] == "gd" and table["seed"][0] == 3 and table["iterations"][0] == 300
    assert table["stream_version"][0] == STREAM_VERSION and table["config_hash"][0] == result.config.digest()
    assert list(table["outcome"]) == [("global", "spurious", "diverged", "unconverged")[o] for o in result.outcome]
    assert np.all(table["final_loss"] >= 0)
    row = result.cell_row()
    assert row["n_global"] == sum(o == "global" for o in table["outcome"]) and row["trials"] == 24
    solved = np.array([o == "global" for o in table["outcome"]])
    spent = np.where(solved, table["entered_at"], table["stop_iteration"])
    assert row["art"] == pytest.approx(spent.sum() / solved.sum()) if solved.any() else row["art"] == math.inf
    pd = pytest.importorskip("pandas")
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 24 and list(frame.columns) == list(table)


def test_plot_refuses_a_folder_without_figures_with_exit_code_2(tmp_path, capsys):
    from pgd_bench.cli import main

    assert main(["plot", str(tmp_path)]) == 2
    assert "run pgd-bench reproduce first" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing")]) == 2


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 10**6), data=st.data())
def test_wilson_interval_holds_the_rate_and_its_ends_are_exact(n, data):
    from pgd_bench.stats import wilson_interval

    successes = data.draw(st.integers(0, n))
    low, high = wilson_interval(successes, n)
    assert 0.0 <= low <= successes / n <= high <= 1.0
    assert (low == 0.0) == (successes == 0) and (high == 1.0) == (successes == n)
    z = 1.959963984540054  # the formula, written out again
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    if 0 < successes < n:
        assert low == pytest.approx(centre - half, rel=1e-12, abs=1e-15)
        assert high == pytest.approx(centre + half, rel=1e-12, abs=1e-15)


def test_a_value_that_a_schedule_replaced_is_empty_in_the_tables():
    """With rho_w_schedule the tables still said rho_w = 5 and noise_decay = 0.9, the preset's,
    and left out the list that ran (only its hash): a reader took them for what ran. A value is
    empty once every schedule that replaces it is given (noise_decay still anneals rho_a here),
    and the lists (and an explicit a_star) are written as text."""
    from pgd_bench.runs.config import SHADOWED_BY, resolve_config
    from pgd_bench.runs.execute import run

    base = dict(algorithm="pgd", trials=4, epochs=2, iterations=5)
    one = run(resolve_config(**base, rho_w_schedule=[2.0, 1.0])).settings_row()
    assert one["rho_w"] == "" and one["noise_decay"] == 0.9 and one["rho_a"] == 1.5 and one["eta_w"] != ""
    assert one["rho_w_schedule"] == "2.0 1.0" and one["rho_a_schedule"] == ""  # what ran, as text
    a_star = [0.1, -1 / 3, 2.0, 1e-20, 1.0, 1.0, 1.0, 1.0]
    teacher = run(resolve_config(**base, k=8, a_star=a_star)).settings_row()
    assert [float(x) for x in teacher["a_star"].split()] == a_star  # each number exact
    both = run(resolve_config(**base, rho_w_schedule=[2.0, 1.0], rho_a_schedule=[1.0, 0.5])).settings_row()
    assert both["rho_w"] == both["rho_a"] == both["noise_decay"] == ""
    # noise on w alone: rho_a is 0, so the decay anneals nothing once rho_w is scheduled
    alone = run(resolve_config(**base, noise_on="w", rho_w_schedule=[2.0, 1.0])).settings_row()
    assert alone["rho_w"] == alone["noise_decay"] == "" and alone["rho_a"] == 0.0
    assert run(resolve_config(**base, noise_on="w")).settings_row()["noise_decay"] == 0.9  # it anneals rho_w
    plain = run(resolve_config(**base)).settings_row()
    assert all(plain[key] != "" for key in SHADOWED_BY if key in plain)
