"""A reduced reproduction: every output is produced, well formed, and cached."""

import base64
import csv
import json
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

import pgd_bench as pb
from pgd_bench.model.smoothing import smoothed_profile
from pgd_bench.model.teachers import register_teacher, teacher_weights, unregister_teacher
from pgd_bench.report.build import SECTIONS, _draw_figure, plot, reproduce
from pgd_bench.report.context import BackgroundDrawing
from pgd_bench.report.sections.which_noise import WHICH_NOISE
from pgd_bench.report.shared import FIG1_SERIES
from pgd_bench.streams import STREAM_VERSION
from pgd_bench.tables import load_tables

FIGURES = (
    "fig1_success_rates",
    "fig2_convergence",
    "fig3_phase_diagram",
    "fig4_smoothed_landscape",
    "fig5_which_noise",
    "fig6_observations",
    "fig7_two_epochs",
    "fig8_theorem_scalings",
    "fig9_runtime_ecdf",
    "fig10_beyond",
    "fig11_optima",
)


def test_reduced_reproduction_writes_every_output_and_reuses_its_cache(reduced_reproduction, monkeypatch, tmp_path):
    # a fifth teacher family, registered as a user would, gets its own panel, cells and rows
    register_teacher("decaying", lambda k, seed: 2.0 ** -np.arange(k))
    shared, first_cache = reduced_reproduction
    # each figure is on disk once: the cache's file and the report's are two names of it (hard links),
    # where the file system has links (else copies)
    cached = list((shared / "cache").glob("figure-*.png"))
    assert len(cached) == len(FIGURES)
    links = _has_hard_links(tmp_path)  # (a probe beside, not in, the folder other tests read)
    assert all(any(os.path.samefile(path, c) for c in cached) == links for path in shared.glob("fig*.png"))
    # a copy (file times kept): the reruns below rewrite the folder, which other tests read, maybe
    # at the same time on another worker
    out = shutil.copytree(shared, tmp_path / "r")
    try:
        _check_reduced_reproduction(out, first_cache, monkeypatch, links)
    finally:
        unregister_teacher("decaying")


def _has_hard_links(folder) -> bool:
    probe = Path(folder) / ".link-probe"
    probe.write_bytes(b"")
    try:
        os.link(probe, probe.with_name(".link-probe-2"))
    except OSError:
        return False
    else:
        os.unlink(probe.with_name(".link-probe-2"))
        return True
    finally:
        os.unlink(probe)


def _check_reduced_reproduction(out, first_cache, monkeypatch, links):
    for stem in FIGURES:
        image = mpimg.imread(out / f"{stem}.png")
        assert image.shape[0] > 300 and image.shape[1] > 500
        assert image.std() > 0.05  # not a blank canvas
        # a quick run writes PNG alone (the report's); `plot` writes SVG and PDF from the tables
        assert not (out / f"{stem}.svg").exists() and not (out / f"{stem}.pdf").exists()
    # `plot` redraws every figure from the saved tables: PNG the report's bytes, and SVG and PDF
    vector = out.parent / "vector"
    written = plot(out, out_dir=vector, formats=("png", "svg", "pdf"))
    assert len(written) == 3 * len(FIGURES)
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes() == (out / path.name).read_bytes(), path.name
        else:
            assert path.read_bytes().lstrip().startswith(b"<?xml" if path.suffix == ".svg" else b"%PDF"), path.name
    assert sorted(p.name for p in vector.glob("*.svg")) == sorted(f"{stem}.svg" for stem in FIGURES)
    report = (out / "report.md").read_text()
    # (it names the folder the run wrote into: this is a copy of it)
    assert re.search(r"Figures: PNG only; `pgd-bench plot \S+` redraws them as PNG, SVG and PDF", report)
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<table>") == report.count("\n|---")
    _check_the_page_carries_its_figures(out, page)
    # every figure numbered under its image, as its file is: figures 6-8, 10 and 11 sit under headings
    # without a number, and a reader could not tell which was which
    images = re.findall(r"^!\[([^\]]*)\]\((fig(\d+)_\w+\.png)\)\n\n\*([^*]+)\* \(`([^`]+)`\)$", report, re.M)
    assert sorted(int(number) for _, _, number, _, _ in images) == list(range(1, len(FIGURES) + 1))
    for alt, png, number, caption, named in images:
        assert alt == caption and caption.startswith(f"Figure {number}: ") and named == png
    assert stat.S_IMODE(os.stat(out / "report.md").st_mode) & 0o044  # readable by others (umask 022)
    # where the cells ran: this machine's threads, as many as Numba ran (NUMBA_NUM_THREADS may be fewer than the cores)
    assert re.search(r"cores; the cells this run computed ran on this machine's \d+ threads?\.\n", report)
    assert re.search(r"s in all; the cells this run computed ran on this machine's \d+ threads? \(\d+ cores here\)",
                     report)  # fmt: skip
    headings = [line[3:] for line in report.splitlines() if line.startswith("## ")]
    # the answers first, then the settings, one heading per section in the list's order, the time last
    assert len(headings) == len(SECTIONS) + 3
    assert headings[0].startswith("Answers") and headings[1] == "Settings" and headings[-1] == "Where the time went"
    _check_the_answers_open_the_report(report, page)
    # what the quick run sizes down is said, against the full run's values
    assert "training-set sizes N 8, 16 (full: 64, 256, 1024)" in report
    # where the time went: one row per section, between the engine's compilation and the writing,
    # adding up to the run time the report gives
    with open(out / "tables" / "time.csv") as fh:
        parts = list(csv.DictReader(fh))
    assert [p["part"] for p in parts[1:-2]] == headings[2:-1]
    assert parts[0]["part"].startswith("compiling") and parts[-2]["part"].startswith("waiting for the last figures")
    total = float(re.search(r"Run time (\d+) s", report).group(1))
    assert sum(float(p["seconds"]) for p in parts) == pytest.approx(total, abs=1.0)
    # the figures are drawn in a second process, beside the sections: each section that shows a
    # figure is charged its drawing (a fresh folder: every figure drawn), the others nothing
    bodies = {chunk.split("\n", 1)[0]: chunk for chunk in report.split("\n## ")[1:]}
    for part in parts[1:-2]:
        assert (float(part["drawing"]) > 0) == (".png)" in bodies[part["part"]]), part
    for heading in ("Figure 1", "Figure 2", "observations", "Figure 3", "Figure 4", "Figure 5", "Configs",
                    "literal settings"):  # fmt: skip
        assert any(heading in h for h in headings)
    assert "diverges in 6 of 6 trials" in report and "120 of 120 trials diverge" in report
    assert "| decaying | 32 |" in report
    assert "teacher $a^*$: decaying" in (vector / "fig1_success_rates.svg").read_text()
    # the observations table: every row, the finite-sample rows per N, both optima's sharpness
    assert "| Langevin, tuned |" in report and "| control: P-GD tuned, w-step" in report
    assert report.count("| perturbed SGD, tuned | 8 |") == 1 and report.count("| perturbed SGD, tuned | 16 |") == 1
    assert report.count("one set shared by all trials | 16 |") == 1
    assert "| alternating | 8 | 8.08 / 3.23 | 48.4 / 8 | global |" in report
    with open(out / "tables" / "trials.csv") as fh:
        rows = list(csv.DictReader(fh))
    # figure 5 compares the kinds of noise (and none) on every cell of figure 1
    assert sum(r["stage"] == "which noise" for r in rows) == 5 * 4 * len(WHICH_NOISE) * 6
    # figure 1 has 5 teachers x 4 k x 6 series, 6 trials each
    assert len(FIG1_SERIES) == 7
    assert sum(r["stage"] == "success rates" for r in rows) == 5 * 4 * 7 * 6
    assert {r["outcome"] for r in rows} <= {"global", "spurious", "diverged", "unconverged"}
    # each row says what ran: the cell as text, every scalar setting, the config hash and the version
    sgd_paper = next(r for r in rows if r["cell"] == "alternating/8/sgd_paper")
    assert (sgd_paper["algorithm"], sgd_paper["preset"], sgd_paper["batch"]) == ("sgd", "paper", "4")
    assert float(sgd_paper["eta_decay"]) == 0.8 and sgd_paper["package_version"] == pb.__version__
    assert sgd_paper["stream_version"] == str(STREAM_VERSION)
    assert all(float(r["final_loss"]) >= 0 for r in rows if r["final_loss"] != "nan")
    _check_the_tables_give_the_reports_numbers(out, report)
    _check_plot_redraws_the_vector_figures_identically(out)
    # a rerun into the folder recomputes nothing but the theory section's cells (not kept: they
    # compute faster than their states are written) and draws nothing: each figure's files come
    # back, the same bytes, from the cache (keyed by its saved tables, settings and the code)
    figures = {path.name: path.read_bytes() for path in out.glob("fig*.*")}
    report = (out / "report.md").read_text()
    computed = []
    from pgd_bench.runs.backend import Backend

    on_threads = Backend._on_threads
    with monkeypatch.context() as patch:
        patch.setattr(BackgroundDrawing, "submit", lambda *a: pytest.fail("a cached figure was redrawn"))
        patch.setattr(Backend, "_on_threads", lambda self, *a: computed.append(a[-1]) or on_threads(self, *a))
        reproduce(out_dir=out, quick=True, trials=6, sample_sizes=(8, 16))
    assert computed == ["theory"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cache").iterdir()} == first_cache  # nothing recomputed
    times = re.compile(r"\b\d+(\.\d+)? s\b")  # the report's times, and nothing else, differ

    def timeless(text):  # the folder named in the settings is the copy's after the rerun
        text = re.sub(r"`pgd-bench plot \S+`", "`pgd-bench plot DIR`", text.split("## Where the time went")[0])
        return times.sub("", text)

    assert timeless((out / "report.md").read_text()) == timeless(report)
    assert {path.name: path.read_bytes() for path in out.glob("fig*.*")} == figures
    cached = list((out / "cache").glob("figure-*.png"))  # (the copy's files were copies: linked again)
    assert all(any(os.path.samefile(path, c) for c in cached) == links for path in out.glob("fig*.png"))
    assert not list(out.rglob("*.tmp"))
    # an edit of the drawing code (outside the kernels' source hash) draws every figure again
    drawn = []
    with monkeypatch.context() as patch:
        from pgd_bench.report import context
        from pgd_bench.report.figures import new_figure, save_figure

        def counted(self, done, out, name, formats):
            drawn.append(name)
            save_figure(new_figure(figsize=(2, 2)), out, name, formats)
            done(0.0)

        patch.setattr(context, "drawing_code_hash", lambda: "an edited drawer")
        # counted, not drawn (drawing every figure again costs seconds and is tested above)
        patch.setattr(BackgroundDrawing, "submit", counted)
        reproduce(out_dir=out, quick=True, trials=6, sample_sizes=(8, 16))
    assert sorted(drawn) == sorted(json.loads((out / "figures.json").read_text()))


def _check_the_answers_open_the_report(report, page):
    """The first screen: one row per claim, a verdict from the four, a link to a heading the page has;
    figure 1's P-GD row gives the pooled rate that the success table's cells add up to."""
    from pgd_bench.report.context import VERDICTS

    answers = report.split("## Answers")[1].split("\n## ")[0]
    rows = [_cells(line) for line in answers.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) >= 15  # figure 1 (5), observations (3), smoothing (1), theory (4 + 5 scalings)
    for _, _, verdict, link in rows:
        assert verdict.strip("*") in VERDICTS, verdict
        target = re.fullmatch(r"\[[^\]]+\]\(#([\w-]+)\)", link).group(1)
        assert f'id="{target}"' in page, target
    # the line above the table counts them: as many of each verdict as the table has rows
    short = re.search(r"\*\*In short:\*\* of the (\d+) claims this run measured, (.*) \(each verdict", answers)
    assert int(short.group(1)) == len(rows)
    said = {"hold": "holds", "hold partly": "holds partly", "do not hold here": "does not hold here",
            "are inconclusive": "inconclusive", "were not measured": "not measured"}  # fmt: skip
    said |= {"holds": "holds", "holds partly": "holds partly", "does not hold here": "does not hold here",
             "is inconclusive": "inconclusive", "was not measured": "not measured"}  # a count of 1  # fmt: skip
    phrases = "|".join(sorted(map(re.escape, said), key=len, reverse=True))
    pairs = re.findall(rf"(\d+) ({phrases})(?:,| and|$)", short.group(2))
    assert all((n == "1") == (phrase.split()[0] in ("holds", "does", "is", "was")) for n, phrase in pairs), pairs
    table = [row[2].strip("*") for row in rows]
    assert {said[phrase]: int(n) for n, phrase in pairs} == {verdict: table.count(verdict) for verdict in set(table)}
    pgd = next(row for row in rows if row[0].startswith("P-GD reaches"))
    figure1 = report.split("## Figure 1")[1].split("\n## ")[0].split("**GD against")[0]
    header = next(_cells(line) for line in figure1.splitlines() if line.startswith("| teacher"))
    column = header.index("P-GD (tuned noise annealing)")
    cells = [_cells(line)[column] for line in figure1.splitlines()
             if line.startswith("| ") and not line.startswith("| teacher")]  # fmt: skip
    successes = sum(round(float(c.split("%")[0]) * 6 / 100) for c in cells)
    assert pgd[1].startswith(f"{100 * successes / (6 * len(cells)):.1f}% [")


def _check_the_page_carries_its_figures(out, page):
    """Every figure is in the HTML as a data URI of a real PNG, so the page alone shows them."""
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == len(FIGURES)
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        png = base64.b64decode(source.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        width, height = struct.unpack(">II", png[16:24])
        assert width > 500 and height > 300
    # the same bytes as the figure files
    assert base64.b64decode(sources[0].split(",", 1)[1]) == (out / "fig1_success_rates.png").read_bytes()


def _wilson(successes, n, z=1.959963984540054):
    """The Wilson score interval, written out again from its formula."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return max(0.0, centre - half), min(1.0, centre + half)


def _row(report, start):
    """The cells of the report's table row that starts with ``start``."""
    line = next(line for line in report.splitlines() if line.startswith(start))
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _check_the_tables_give_the_reports_numbers(out, report):
    """pandas, from the saved tables alone, gives the numbers of one table of each kind."""
    pd = pytest.importorskip("pandas")
    tables = load_tables(out)
    trials, cells = tables["trials"], tables["cells"]
    # a success-rate table (figure 1): rate and Wilson interval from the per-trial outcomes
    gd = trials[(trials.stage == "success rates") & (trials.cell == "alternating/8/gd")]
    successes, n = int((gd.outcome == "global").sum()), len(gd)
    low, high = _wilson(successes, n)
    assert _row(report, "| alternating | 8 |")[2].startswith(
        f"{100 * successes / n:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"
    )
    cell = cells[(cells.stage == "success rates") & (cells.cell == "alternating/8/gd")].iloc[0]
    assert cell.success_rate == successes / n and cell.n_global == successes
    # aRT: every iteration spent over the successes
    solved = gd.outcome == "global"
    art = (gd.entered_at[solved].sum() + gd.stop_iteration[~solved].sum()) / max(successes, 1)
    assert cell.art == pytest.approx(art, rel=1e-12) if successes else cell.art == float("inf")
    # a table of means by basin (the observations): GD's test loss, escaped / trapped
    gd = trials[(trials.stage == "convergence") & (trials.cell == "gd")]
    means = [gd[gd.basin == basin].final_loss.mean() for basin in ("global", "spurious")]
    expected = " / ".join("-" if pd.isna(m) else f"{m:.3g}" for m in means)
    assert _row(report, "| GD (eta 0.1) | sharp / bad / none |")[4] == expected
    # a figure's own table (figure 4): the basin depths
    depths = tables["fig4_smoothed_landscape__depths"]
    section = report.split("## Figure 4")[1].split("\n## ")[0]
    for rho, depth, gap in zip(depths.rho_w, depths.depth, depths.gap):
        assert _row(section, f"| {rho:g} | ")[1:] == [f"{depth:.4f}", f"{gap:.4f}"]


def _check_plot_redraws_the_vector_figures_identically(out):
    redrawn = out.parent / "redrawn"
    # (every PNG against the report's: in _check_reduced_reproduction) SVG and PDF, which a quick
    # run does not write, are the same bytes as another redraw of them
    for path in plot(out, out_dir=redrawn, figures=["fig4_smoothed_landscape"], formats=("svg", "pdf")):
        assert path.read_bytes() == (out.parent / "vector" / path.name).read_bytes(), path.name


def _teacher():
    w_star = np.zeros(6)
    w_star[0] = 1.0
    return w_star, teacher_weights("alternating", 8)


def test_smoothed_profile_without_noise_meets_both_optima():
    w_star, a_star = _teacher()
    prof = smoothed_profile(np.array([0.0, np.pi]), 0.0, 0.0, w_star, a_star, samples=10)
    w_bar, a_bar = pb.spurious_optimum(w_star, a_star)
    assert abs(prof[0]) < 1e-12  # the teacher
    assert prof[1] == pytest.approx(pb.population_loss(w_bar, a_bar, w_star, a_star), rel=1e-12)


def test_smoothed_profile_is_the_minimum_over_a_of_a_brute_force_smoothed_loss():
    w_star, a_star = _teacher()
    rho_w, rho_a, theta = 2.0, 0.5, 2.5
    value = smoothed_profile(np.array([theta]), rho_w, rho_a, w_star, a_star, samples=100_000)[0]
    w = np.cos(theta) * w_star + np.sin(theta) * np.eye(6)[1]
    rng = np.random.default_rng(0)
    xi = pb.sample_ball(4000, 6, rho_w, seed=1)
    eps = pb.sample_ball(4000, 8, rho_a, seed=2)
    for _ in range(5):
        a = rng.standard_normal(8) * 0.5
        losses = np.array([pb.population_loss(w + xi[i], a + eps[i], w_star, a_star) for i in range(4000)])
        assert value <= losses.mean() + 5 * losses.std() / np.sqrt(4000)


def test_the_unsmoothed_profile_is_the_same_for_any_unit_teacher_filter():
    """L is rotation-invariant in w, so at rho = 0 the profile (from w* to -w*, a at its best) is the
    same for every unit w*: it assumed w* = e_1, and for w* = e_2 gave 0 where the loss is 2.86."""
    w_star, a_star = _teacher()
    angles = np.linspace(0.0, np.pi, 7)
    expected = smoothed_profile(angles, 0.0, 0.0, w_star, a_star, samples=1)
    other = np.random.default_rng(7).standard_normal(6)
    for w in (np.eye(6)[1], other / np.linalg.norm(other)):
        assert smoothed_profile(angles, 0.0, 0.0, w, a_star, samples=1) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    "changes,name",
    [(dict(rho_w=-1.0), "rho_w"), (dict(rho_w=np.nan), "rho_w"), (dict(rho_a=np.nan), "rho_a"),
     (dict(samples=0), "samples"), (dict(w_star=2 * np.eye(6)[0]), "w_star"), (dict(w_star=np.ones(1)), "w_star"),
     (dict(angles=[0.0, np.inf]), "angles"), (dict(a_star=[np.nan] * 8), "a_star"), (dict(rho_w=1e300), "rho_w"),
     (dict(rho_w=1e150, rho_a=1e150), "rho_w, rho_a")],
)  # fmt: skip
def test_the_smoothed_profile_refuses_bad_inputs_by_name(changes, name):
    """They gave NaN, an IndexError, or a silently unsmoothed profile (a negative rho_w read as 0)."""
    w_star, a_star = _teacher()
    args = {**dict(angles=[0.0, 1.0], rho_w=1.0, rho_a=0.5, w_star=w_star, a_star=a_star, samples=10), **changes}
    with pytest.raises(ValueError, match=rf"^{name}:"):
        smoothed_profile(**args)
    # lists are arrays here
    assert smoothed_profile([0.0, 1.0], 1.0, 0.5, list(w_star), list(a_star), 10).shape == (2,)


def test_reproduce_rejects_a_bad_seed_with_exit_code_2(tmp_path, capsys):
    from pgd_bench.cli import main

    assert main(["reproduce", "--quick", "--out", str(tmp_path), "--seed", "-1"]) == 2
    assert "seed" in capsys.readouterr().err


def test_noise_on_a_adds_to_the_smoothed_loss_what_a_direct_monte_carlo_adds():
    """``L`` is quadratic in ``a``, so ``E L(w~, a + eps) - L(w~, a)`` is the same for every ``a``
    (antithetic ``eps`` cancel the linear term exactly): the profile's increase from ``rho_a`` must
    equal a brute-force average of that increase over ``xi`` and ``eps``."""
    w_star, a_star = _teacher()
    rho_w, rho_a, theta, n = 1.5, 0.8, 2.0, 2000
    with_a = smoothed_profile(np.array([theta]), rho_w, rho_a, w_star, a_star, samples=n)[0]
    without = smoothed_profile(np.array([theta]), rho_w, 0.0, w_star, a_star, samples=n)[0]
    w = np.cos(theta) * w_star + np.sin(theta) * np.eye(6)[1]
    xi = pb.sample_ball(n, 6, rho_w, seed=0)
    eps = pb.sample_ball(n, 8, rho_a, seed=3)
    a = np.random.default_rng(0).standard_normal(8)
    rises = []
    for i in range(n):
        for sign in (1.0, -1.0):
            wt = w + sign * xi[i]
            base = pb.population_loss(wt, a, w_star, a_star)
            up = pb.population_loss(wt, a + eps[i], w_star, a_star)
            down = pb.population_loss(wt, a - eps[i], w_star, a_star)
            rises.append(0.5 * (up + down) - base)
    rises = np.array(rises)
    assert with_a - without == pytest.approx(rises.mean(), abs=5 * rises.std() / np.sqrt(rises.size))
    # and it is a constant along the path: the same rise at another angle
    other = smoothed_profile(np.array([0.3]), rho_w, rho_a, w_star, a_star, samples=n)[0]
    other0 = smoothed_profile(np.array([0.3]), rho_w, 0.0, w_star, a_star, samples=n)[0]
    assert other - other0 == pytest.approx(with_a - without, rel=1e-12)


def _browser_executable():
    """A Chromium to drive: ``PGD_BENCH_CHROMIUM``, else Debian's ``chromium`` (what ``.ci/run``
    installs with apt-get), else None (Playwright then tries its own download)."""
    import shutil

    return os.environ.get("PGD_BENCH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _skip_or_fail(reason):
    """Skip, printing why; ``PGD_BENCH_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns it into a failure."""
    if os.environ.get("PGD_BENCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser test must run here but cannot: {reason}")
    print(f"browser test skipped: {reason}")
    pytest.skip(reason)


def _markdown_text(markdown):
    """The words a reader sees of a Markdown line: no markup, no images, collapsed spaces."""
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", markdown)
    text = re.sub(r"\[([^\]]+)\]\([^)\s]+\)", r"\1", text)
    text = text.replace("\\|", "|")
    parts = re.split(r"`([^`]+)`", text)  # code spans (odd parts) keep their characters
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"(?<![*\w])\*([^*\s][^*]*)\*(?![*\w])", r"\1", parts[i].replace("**", ""))
    return " ".join("".join(parts).lstrip("#").split())


def test_the_report_reads_in_a_real_browser(reduced_reproduction, tmp_path):
    """A copy of report.html, alone in a folder, opened in headless Chromium: every image decoded,
    no console error, no request leaving the file, its headings, tables and paragraphs those of
    report.md, and a screenshot kept (``PGD_BENCH_ARTIFACTS``, else the test's temporary folder)."""
    try:
        from playwright import sync_api
    except ImportError as error:
        _skip_or_fail(f"playwright is not installed ({error})")
    out, _ = reduced_reproduction
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "report.html").write_bytes((out / "report.html").read_bytes())
    artifacts = Path(os.environ.get("PGD_BENCH_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    executable = _browser_executable()
    errors, requests = [], []
    with sync_api.sync_playwright() as driver:
        try:  # as root (CI) Chromium needs --no-sandbox
            browser = driver.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        except Exception as error:  # noqa: BLE001 - no browser installed, or Playwright's download missing
            _skip_or_fail(f"no headless Chromium ({executable or 'Playwright download'}): {str(error).splitlines()[0]}")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto((alone / "report.html").as_uri(), wait_until="load")
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.alt])"
        )
        headings = page.evaluate("Array.from(document.querySelectorAll('h1, h2')).map(h => h.innerText)")
        tables = page.evaluate(
            "Array.from(document.querySelectorAll('table')).map(t => Array.from(t.rows).map(r => r.cells.length))"
        )
        body = " ".join(page.evaluate("document.body.innerText").split())
        page.screenshot(path=str(artifacts / "report-first-screen.png"))  # what a reader sees on opening it
        first_screen = page.evaluate(
            "Array.from(document.querySelectorAll('h2')).filter(h => h.getBoundingClientRect().top < 900)"
            ".map(h => h.innerText)"
        )
        page.screenshot(path=str(artifacts / "report.png"), full_page=True)
        browser.close()
    report = (out / "report.md").read_text()
    print(f"browser test ran: {executable or 'Playwright Chromium'}, {len(images)} images, {len(tables)} tables, "
          f"screenshot {artifacts / 'report.png'}")  # fmt: skip
    assert first_screen[0].startswith("Answers"), first_screen  # the answers open the page
    assert not errors, errors
    assert all(url.startswith(("file:", "data:")) for url in requests), [u[:80] for u in requests]
    assert len(images) == len(FIGURES) and all(done and w > 500 and h > 300 for done, w, h, _ in images), images
    assert headings == [_markdown_text(line) for line in report.splitlines() if re.match(r"#{1,2} ", line)]
    # every table as report.md has it: as many rows, and every row as many cells as its header
    expected = [[len(_cells(row)) for row in block if not row.startswith("|---")] for block in _table_blocks(report)]
    assert tables == expected
    assert all(len(set(rows)) == 1 for rows in tables), "a table row with more or fewer cells than its header"
    # every paragraph's words are on the page
    for paragraph in re.split(r"\n\s*\n", report):
        if paragraph.strip() and not paragraph.lstrip().startswith(("|", "#", "!", "```", "- ")):
            assert _markdown_text(paragraph.replace("\n", " ")) in body, paragraph[:120]
    assert (artifacts / "report.png").stat().st_size > 10_000


def _cells(row):
    """A Markdown table row's cells, split at the pipes that are not escaped."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def _table_blocks(markdown):
    """The report's tables: runs of lines starting with ``|`` whose second line is the separator."""
    lines, blocks, i = markdown.splitlines(), [], 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            blocks.append(lines[i:j])
            i = j
        else:
            i += 1
    return blocks


def test_an_escaped_pipe_stays_inside_its_table_cell():
    from pgd_bench.report.html import markdown_to_html

    page = markdown_to_html("| what | value |\n|---|---|\n| median \\|\\|a - a*\\|\\| | 2.8 |\n| `x` | 1 |\n")
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    assert rows[1] == "<td>median ||a - a*||</td><td>2.8</td>" and rows[2] == "<td><code>x</code></td><td>1</td>"


def test_every_table_row_of_the_report_has_its_headers_cells(reduced_reproduction):
    """A ``|`` inside a cell (``||a - a*||``) splits a Markdown row: escaped, every row keeps its
    header's number of cells, in report.md and in the page."""
    out, _ = reduced_reproduction
    report = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    for block in _table_blocks(report):
        assert len({len(_cells(row)) for row in block}) == 1, block[:3]
    for table in re.findall(r"<table>.*?</table>", page, flags=re.S):
        rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
        assert len({len(re.findall(r"<t[hd]>", row)) for row in rows}) == 1


def test_the_smoothed_landscape_is_cached_and_a_damaged_file_is_recomputed(tmp_path):
    import dataclasses

    from pgd_bench.report import shared as rp

    scale = dataclasses.replace(rp.QUICK, smoothing_samples=200)
    angles, profiles, depths = rp._smoothed_data(scale, tmp_path)
    (cached,) = tmp_path.glob("smoothed-*.npz")

    written = cached.stat().st_mtime_ns
    os.utime(cached, ns=(written - 10**9, written - 10**9))  # a rewrite would move it forward again
    again = rp._smoothed_data(scale, tmp_path)
    assert cached.stat().st_mtime_ns == written - 10**9  # read, not recomputed
    assert all(np.array_equal(profiles[rho], again[1][rho]) for rho in profiles) and again[2] == depths
    cached.write_bytes(b"not a zip file")
    recomputed = rp._smoothed_data(scale, tmp_path)
    assert all(np.array_equal(profiles[rho], recomputed[1][rho]) for rho in profiles)
    other = rp._smoothed_data(dataclasses.replace(scale, smoothing_samples=100), tmp_path)
    assert len(list(tmp_path.glob("smoothed-*.npz"))) == 2 and not np.array_equal(other[1][1.0], profiles[1.0])


def test_the_drawing_process_has_ended_when_a_finished_run_closes_it():
    """Closed without waiting, its pool's manager thread raced the interpreter's exit: "OSError:
    [Errno 9] Bad file descriptor" after a finished quick run. ``max`` stands for the drawer
    (``draw(out, name, formats)``): any function the spawned process can import."""
    import multiprocessing

    drawing = BackgroundDrawing(draw=max)
    got = []
    drawing.submit(got.append, 1, 3, 2)
    drawing.finish()
    children = multiprocessing.active_children()
    assert got == [3] and children
    drawing.close()
    assert not any(child.is_alive() for child in children)
    # a run stopped by a figure's error leaves without waiting for the figures still to draw
    # (``max(1, "a", 2)`` raises; ``pow(7, 6e6, None)`` computes for about 2 s)
    drawing = BackgroundDrawing(draw=max)
    drawing.submit(got.append, 1, "a", 2)
    drawing.draw = pow
    drawing.submit(got.append, 7, 6 * 10**6, None)
    with pytest.raises(TypeError):
        drawing.finish()
    children = multiprocessing.active_children()
    drawing.close()
    assert any(child.is_alive() for child in children) and got == [3]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree from Linux's /proc")
def test_the_drawing_process_ends_when_its_run_is_killed_outright(tmp_path):
    """``kill -9`` of a reproduction left its drawing process (and Python's resource tracker)
    running for good, holding the run's stdout: ``pgd-bench reproduce | tee log`` never ended.
    ``print`` stands for the drawer: the process writes to the inherited stdout, as a drawer's
    warnings would; the pipe must reach its end once the run is killed."""
    script = (
        "import functools, sys, time\n"
        "from pgd_bench.report.context import BackgroundDrawing\n"
        "drawing = BackgroundDrawing(draw=functools.partial(print, flush=True))\n"
        "drawing.submit(lambda seconds: None, 'drawn', 'by', 'the second process')\n"
        "drawing.finish()\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    lines, ended = [], threading.Event()  # read on a thread: a stuck pipe fails the test, never hangs it
    threading.Thread(target=lambda: (lines.extend(proc.stdout), ended.set()), daemon=True).start()
    children = []
    try:
        deadline = time.monotonic() + 120
        while lines[-1:] != ["ready\n"]:
            assert time.monotonic() < deadline and not ended.is_set(), lines
            time.sleep(0.05)
        assert lines == ["drawn by the second process\n", "ready\n"]
        children = [int(pid) for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        assert children  # the drawing process, and the resource tracker
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert ended.wait(timeout=20), "the run's stdout is still held open after it was killed"
        for child in list(children):
            deadline = time.monotonic() + 10
            while _running(child):
                assert time.monotonic() < deadline, f"process {child} outlived the run"
                time.sleep(0.1)
            children.remove(child)  # gone: its number may be another process's from here on
    finally:
        proc.kill()
        for child in children:  # (left by a failure: not for the next tests to find)
            if _running(child):
                os.kill(child, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (an orphan's end, until it is reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_figure_drawn_in_the_second_process_is_the_same_bytes_and_its_errors_reach_the_caller(
    reduced_reproduction, tmp_path
):
    from pgd_bench.report.context import draw_and_save

    out, _ = reduced_reproduction
    name = "fig9_runtime_ecdf"
    here, there = tmp_path / "here", tmp_path / "there"
    for folder in (here, there):
        shutil.copytree(out, folder, ignore=shutil.ignore_patterns("cache", "*.png"))
    assert draw_and_save(here, name, ("png",)) > 0  # the reference: drawn in this process
    seconds = []
    drawing = BackgroundDrawing(draw=_draw_figure)
    try:
        drawing.submit(seconds.append, there, name, ("png",))
        drawing.submit(seconds.append, there, "fig99_no_such_figure", ("png",))
        with pytest.raises(KeyError, match="fig99_no_such_figure"):
            drawing.finish()
    finally:
        drawing.close()
    assert len(seconds) == 1 and seconds[0] > 0  # the first figure's callback ran, then the error
    assert (there / f"{name}.png").read_bytes() == (here / f"{name}.png").read_bytes()
    assert not (there / "fig99_no_such_figure.png").exists()


def test_the_report_names_the_threads_or_the_cluster_its_cells_ran_on(tmp_path):
    """With NUMBA_NUM_THREADS=1 the report said "in all on this machine (2 cores)", as it would have
    for cells run on a Dask cluster."""
    import types

    import numba

    from pgd_bench.report.build import _cells_ran_on
    from pgd_bench.report.context import Context
    from pgd_bench.runs.backend import Backend

    assert not Context(tmp_path, None, False, False).cell_backend.distributed  # no backend: this machine's threads
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert _cells_ran_on(Context(tmp_path, None, False, False)) == "this machine's 1 thread"
        on_cluster = _cells_ran_on(types.SimpleNamespace(cell_backend=Backend(workers=1)))
        assert on_cluster == (
            "a local Dask cluster of 1 worker (the optima searches and estimates on this machine's 1 thread)"
        )
        if numba.config.NUMBA_NUM_THREADS >= 2:
            numba.set_num_threads(2)
            assert _cells_ran_on(types.SimpleNamespace(cell_backend=Backend())) == "this machine's 2 threads"
    finally:
        numba.set_num_threads(before)


def test_the_observation_answers_measure_each_basin_as_their_section_does():
    """The answers quoted means over both basins (5.9 = 0.55 x 8.08 + 0.45 x 3.23), which only
    restated the trapped share, beside a section that measures each basin and finds the bad optimum
    the flatter. Checked against basins and means computed here from the final points."""
    from pgd_bench.report.sections.observations import _answers
    from pgd_bench.runs.config import resolve_config
    from pgd_bench.runs.execute import run
    from pgd_bench.stats import wilson_interval

    base = dict(k=8, teacher="alternating", trials=48, epochs=4, iterations=150)
    results = {
        "gd": run(resolve_config(algorithm="gd", preset="paper", **base)),
        "sgd_small": run(resolve_config(algorithm="sgd", preset="paper", eta=0.01, **base)),
        "sgd_paper": run(resolve_config(algorithm="sgd", preset="paper", **base)),
    }

    def measured(r):
        w_star, a_star, w_bar, a_bar = r.config.optima()
        trapped = ((r.w - w_bar) ** 2).sum(1) + ((r.a - a_bar) ** 2).sum(1) < ((r.w - w_star) ** 2).sum(1) + (
            (r.a - a_star) ** 2
        ).sum(1)
        top, _ = r.sharpness()
        return trapped.mean(), top[~trapped].mean(), top[trapped].mean()

    gd, small, paper = (measured(results[tag]) for tag in ("gd", "sgd_small", "sgd_paper"))
    assert 0 < gd[0] < 1 and 0 < paper[0] < 1  # both basins reached, so both means exist
    rows = _answers(results)
    n = base["trials"]
    gd_low, gd_high = wilson_interval(round(gd[0] * n), n)
    paper_low, paper_high = wilson_interval(round(paper[0] * n), n)
    assert rows[0].measured.startswith(
        f"trapped {100 * gd[0]:.0f}% [{100 * gd_low:.0f}, {100 * gd_high:.0f}] vs {100 * paper[0]:.0f}% "
        f"[{100 * paper_low:.0f}, {100 * paper_high:.0f}] (the paper's SGD: "
    )
    assert f"top eigenvalue {gd[2]:.3g} against {gd[1]:.3g} at the global one" in rows[0].measured
    kind = "flatter" if gd[2] < gd[1] else "sharper"
    assert f"its trapped trials' minimum is the {kind}" in rows[0].measured
    # "trapped more often" is decided by the intervals lying apart; overlapping, it is undecided
    sharper = gd[2] > gd[1]
    worse = True if gd_low > paper_high else False if gd_high < paper_low else None
    if worse is None:
        expected = "holds partly" if sharper else "inconclusive"
        assert "(the paper's SGD: intervals overlap)" in rows[0].measured
    else:
        expected = "holds" if sharper and worse else "holds partly" if sharper or worse else "does not hold here"
    assert rows[0].verdict == expected
    assert f"trapped {100 * paper[0]:.0f}% [{100 * paper_low:.0f}, {100 * paper_high:.0f}], " in rows[2].measured


def test_a_median_that_falls_below_the_floor_at_once_still_draws_its_line():
    """GD's escaped median went from 5e-9 at its first checkpoint to 1e-35 at its second: the line
    had one point and drew nothing, leaving a lone marker. It now runs down to the floor there."""
    import numpy as np

    from pgd_bench.report.sections.convergence import draw_convergence

    floor = 1e-12
    rows = [("g", q, it, med) for q in ("dist_w", "dist_a") for it, med in ((40, 5e-9), (80, 1e-35), (120, 0.0))]
    curves = {name: np.array(values) for name, values in zip(("group", "quantity", "iteration", "median"), zip(*rows))}
    curves |= {"p10": curves["median"], "p90": curves["median"]}
    settings = {"floor": floor, "groups": [("g", "GD, escaped", "C0", "-")], "trials": {"g": 5}, "epoch_ticks": [1],
                "epochs": 1, "epoch_length": 100}  # fmt: skip
    fig = draw_convergence({"curves": curves}, settings)
    line = next(line for line in fig.axes[0].get_lines() if line.get_label().startswith("GD, escaped"))
    x, y = (np.asarray(v, dtype=float) for v in line.get_data())
    drawn = np.isfinite(x) & np.isfinite(y)
    assert list(x[drawn]) == [40, 80] and list(y[drawn]) == [5e-9, floor]


def test_figure_6_draws_the_posters_three_rows_apart_where_their_losses_are_equal():
    """The three rows of the poster's table end at the same mean loss (each about half trapped) and
    were drawn on top of each other: only GD could be seen. Each is now shifted along N and has its
    own marker."""
    import numpy as np

    from pgd_bench.report.sections.observations import OBSERVATION_COLORS, OBSERVATION_ROWS, draw_observations

    tags = [tag for tag, _, _, _ in OBSERVATION_ROWS]
    rows = [(tag, n, 1.0, 0.9 if n else np.nan) for tag in tags for n in (64, 256, 0)]
    losses = {name: np.array(values) for name, values in zip(("method", "samples", "test_loss", "train_loss"),
                                                               zip(*rows))}  # fmt: skip
    sharp = {"method": np.array(tags), "basin": np.array(["global"] * len(tags)),
             "top_eigenvalue": np.full(len(tags), 8.0), "trace": np.full(len(tags), 20.0)}  # fmt: skip
    settings = {"rows": [(tag, label, OBSERVATION_COLORS[tag]) for tag, label, _, _ in OBSERVATION_ROWS],
                "sample_sizes": [64, 256], "floor": 1e-12, "optima": {"global": 8.0, "spurious": 3.2}}  # fmt: skip
    fig = draw_observations({"losses": losses, "sharpness": sharp}, settings)
    labels = {label: tag for tag, label, _, _ in OBSERVATION_ROWS}
    test_lines = {labels[line.get_label()]: line for line in fig.axes[0].get_lines() if line.get_label() in labels}
    poster = [test_lines[tag] for tag in ("gd", "sgd_small", "sgd_paper")]
    xs = [tuple(np.asarray(line.get_xdata(), dtype=float)) for line in poster]
    assert len(set(xs)) == 3  # not on top of each other
    assert len({line.get_marker() for line in poster}) == 3
    assert all(np.all(np.asarray(line.get_ydata()) == 1.0) for line in poster)  # the values themselves unmoved
