"""The report's "Beyond the theorem" section: its tables against the saved data, and the reading of
the optima it describes."""

import csv

import numpy as np
import pytest

from pgd_bench.report.sections.beyond import BEYOND_KS, BEYOND_SERIES, SIGMAS, STRIDES, _looks_like


@pytest.mark.parametrize(
    "w, s, expected",
    [(np.eye(6)[0], 6, "w*"), (-np.eye(6)[0], 6, "-w*"), (np.eye(6)[1], 1, "w* shifted by 1 stride (w ~ e_2)"),
     (np.eye(6)[4], 2, "w* shifted by 2 strides (w ~ e_5)"), (np.eye(6)[4], 3, "e_5"),
     (np.full(6, 6**-0.5), 1, "mixed")],
)  # fmt: skip
def test_a_filter_is_read_from_its_largest_entry(w, s, expected):
    assert _looks_like(w, s) == expected


def _rows(table):
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.splitlines()
            if line.startswith("| ") and "---" not in line][1:]  # fmt: skip


def test_the_beyond_section_reports_its_saved_cells(reduced_reproduction):
    out, _ = reduced_reproduction
    report = (out / "report.md").read_text()
    section = report.split("## Beyond the theorem")[1].split("\n## ")[0]
    tables = section.split("\n\n")
    success = next(t for t in tables if t.startswith("| s | k |"))
    rows = _rows(success)
    assert len(rows) == len(STRIDES) * len(BEYOND_KS)
    with open(out / "tables" / "fig10_beyond__cells.csv") as f:
        saved = {(int(r["stride"]), int(r["k"]), r["series"]): float(r["success_rate"]) for r in csv.DictReader(f)}
    for row in rows:
        s, k = int(row[0].split()[0]), int(row[1])
        for (tag, _, _), text in zip(BEYOND_SERIES, row[2:]):
            assert float(text.split("%")[0]) == pytest.approx(100 * saved[(s, k, tag)], abs=0.051)
    # the noisy-label table: the gap is the noisy test loss (clean test + sigma^2) minus the train loss
    noisy = next(t for t in tables if t.startswith("| method | N | sigma |"))
    for row in _rows(noisy):
        sigma, train, test, noisy_test, gap = float(row[2]), row[4], row[5], row[6], row[7]
        assert sigma in SIGMAS
        if "-" in (train, test):
            continue
        assert float(noisy_test) == pytest.approx(float(test) + sigma**2, rel=2e-3, abs=1e-3)
        assert float(gap) == pytest.approx(float(noisy_test) - float(train), rel=2e-2, abs=2e-3)
    # every optimum row is the teacher, or reached by more than 0.5% of the starts
    optima = next(t for t in tables if t.startswith("| s | k | kind |"))
    for row in _rows(optima):
        assert row[2] == "global" or float(row[4].split("%")[0]) > 0.5
    assert sum(row[2] == "global" for row in _rows(optima)) == len(STRIDES) * len(BEYOND_KS)


def test_a_miss_counts_as_trapped_only_near_a_spurious_point_found():
    from types import SimpleNamespace

    from pgd_bench.report.sections.beyond import _near_found_minima
    from pgd_bench.runs.optima import KIND_NAMES
    from pgd_bench.runs.optima import NEAR_FOUND as NEAR

    e = np.eye(3)
    arrays = {"w": np.array([e[0], e[1]]), "a": np.array([[1.0, 1.0], [1.0, 0.0]]),
              "kind": np.array([KIND_NAMES.index("global"), KIND_NAMES.index("minimum")], dtype=float)}  # fmt: skip
    w = np.array([e[0], e[1], e[1], e[2], e[1], e[0]])
    a = np.array([[1.0, 1.0], [1.0, 0.0], [1.0, NEAR * 0.9], [1.0, 0.0], [1.0, NEAR * 1.1], [1.0, 1.0 - 1e-3]])
    # global, trapped, trapped (within NEAR), elsewhere, too far, unconverged but nearest the teacher, diverged
    outcome = np.array([0, 3, 3, 3, 3, 3])
    missed, near = _near_found_minima(SimpleNamespace(outcome=outcome, w=w, a=a), arrays)
    assert (missed, near) == (5, 2)
    diverged = SimpleNamespace(outcome=np.array([2, 2]), w=w[1:3], a=a[1:3])
    assert _near_found_minima(diverged, arrays) == (0, 0)


def test_the_misses_line_adds_up_the_saved_cells(reduced_reproduction):
    out, _ = reduced_reproduction
    section = (out / "report.md").read_text().split("## Beyond the theorem")[1].split("\n## ")[0]
    with open(out / "tables" / "fig10_beyond__cells.csv") as f:
        cells = [r for r in csv.DictReader(f) if int(r["stride"]) < 6]
    line = " ".join(section.split("Where the misses at s < p ended:")[1].split("\n\n")[0].split())
    for tag, label, _ in BEYOND_SERIES:
        mine = [r for r in cells if r["series"] == tag]
        missed, near = sum(int(r["n_missed"]) for r in mine), sum(int(r["n_near_minimum"]) for r in mine)
        assert all(int(r["n_near_minimum"]) <= int(r["n_missed"]) for r in mine)
        if missed:
            assert f"{label} {near} of {missed}" in line
