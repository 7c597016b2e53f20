"""A reduced reproduction: every output is produced, well formed, and cached."""

import csv

import matplotlib.image as mpimg

from pgd_bench.reproduce import reproduce


def test_reduced_reproduction_writes_every_output_and_reuses_its_cache(tmp_path):
    out = reproduce(out_dir=tmp_path / "r", quick=True, trials=6)
    for stem in ("fig1_success_rates", "fig2_convergence", "fig3_phase_diagram", "fig4_smoothed_landscape"):
        image = mpimg.imread(out / f"{stem}.png")
        assert image.shape[0] > 300 and image.shape[1] > 500
        assert image.std() > 0.05  # not a blank canvas
        assert (out / f"{stem}.svg").read_text().lstrip().startswith("<?xml")
    report = (out / "report.md").read_text()
    for heading in ("Figure 1", "Figure 2", "observations", "Figure 3", "Figure 4", "Configs", "literal settings"):
        assert heading in report
    assert "diverges in 6 of 6 trials" in report
    with open(out / "trials.csv") as fh:
        rows = list(csv.DictReader(fh))
    # figure 1 has 4 teachers x 4 k x 4 algorithm settings, 6 trials each
    assert sum(r["stage"] == "success rates" for r in rows) == 4 * 4 * 4 * 6
    assert {r["outcome"] for r in rows} <= {"global", "spurious", "diverged", "unconverged"}
    cached = sorted(p.name for p in (out / "cache").iterdir())
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "cache").iterdir()}
    reproduce(out_dir=out, quick=True, trials=6)
    assert sorted(p.name for p in (out / "cache").iterdir()) == cached
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cache").iterdir()} == mtimes  # nothing recomputed
