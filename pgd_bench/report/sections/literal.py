"""Report section: the paper's literal settings, and why the tuned presets differ."""

from __future__ import annotations

from ...model.landscape import curvature_scale
from ...model.teachers import TEACHERS
from ...runs.config import resolve_config
from ..context import OUTCOME, Context, Section, success_ci
from ..shared import (
    FIG1_SERIES,
    KS,
    TUNING_TRIALS,
    gap_detail,
    mean_gap,
    rate_range,
    success_grid,
    tuning_caveat,
    unconverged_nearer_spurious,
)


def literal_settings(ctx: Context) -> Section:
    grid = success_grid(ctx)
    paper_pgd = grid[("alternating", 8, "pgd_paper")]
    diverged = paper_pgd.outcome == OUTCOME["diverged"]
    first_div = int(paper_pgd.stop_iteration[diverged].min()) if diverged.any() else None
    paper_cfg = paper_pgd.config
    paper_diverged = sum(grid[(t, k, "pgd_paper")].counts()["diverged"] for t in TEACHERS for k in KS)
    paper_total = sum(grid[(t, k, "pgd_paper")].outcome.size for t in TEACHERS for k in KS)
    paper_curvature = (1 + paper_cfg.rho_w**2 * paper_cfg.p / (paper_cfg.p + 2)) / curvature_scale(paper_cfg.k)
    rates = {tag: [success_ci(grid[(t, k, tag)])[0] for t in TEACHERS for k in KS] for tag, _, _, _ in FIG1_SERIES}
    pgd_rates, sgd_rates, psgd_rates = rates["pgd"], rates["sgd"], rates["psgd"]
    tuned_pgd = resolve_config(algorithm="pgd", preset="tuned")
    tuned_sgd = resolve_config(algorithm="sgd", preset="tuned")
    tuned_psgd = resolve_config(algorithm="psgd", preset="tuned")
    psgd_diverged = sum(grid[(t, k, "psgd")].counts()["diverged"] for t in TEACHERS for k in KS)
    pgd_shortfall = (
        "" if min(pgd_rates) >= 0.99 else "; the paper's 100% is **not** reached in every cell (see the table)"
    )
    n_cells = len(TEACHERS) * len(KS)
    gd_32 = [grid[(t, 32, "gd")] for t in TEACHERS]
    gd_32_unconverged = sum(r.counts()["unconverged"] for r in gd_32)
    gd_32_nearer = sum(unconverged_nearer_spurious(r) for r in gd_32)
    gd_32_where = (
        "all nearer the teacher than the spurious optimum"
        if gd_32_nearer == 0
        else f"{gd_32_nearer} of them nearer the spurious optimum"
    )
    text = f"""P-GD with the paper's stated settings (eta = 0.1 decaying x0.8, noise radii (rho_w, rho_a) = (36, 1)
decaying x0.4) **diverges in {int(diverged.sum())} of {paper_pgd.outcome.size} trials** on the
alternating teacher, k = 8 (first divergence at iteration {first_div}); over all cells of figure 1,
{paper_diverged} of {paper_total} trials diverge. The curvature of L in a at w + xi is
||w + xi||^2 (pi - 1 + k) / pi, about {paper_curvature:.0f} on average for k = 8 at rho_w = 36:
{paper_curvature * paper_cfg.eta_a / 2:.0f} times the stability limit 2 / eta.

What it took to make noise win (the `tuned` preset): step sizes scaled to that curvature
(eta_a divided by (pi - 1 + k) E||w + xi||^2 / pi, eta_w by (pi - 1 + k) / pi), moderate
initial noise (rho_w, rho_a) = ({tuned_pgd.rho_w:g}, {tuned_pgd.rho_a:g}) annealed x{tuned_pgd.noise_decay:g} per epoch,
steps x{tuned_pgd.eta_decay:g} per epoch, {tuned_pgd.epochs} epochs of {tuned_pgd.iterations} iterations.
P-GD (tuned) then reaches the global optimum in {rate_range(pgd_rates)}
of trials across the cells of figure 1{pgd_shortfall}.
The tuned values were chosen with this engine on seed 0 and {TUNING_TRIALS[0]} to {TUNING_TRIALS[1]} trials per cell;
{tuning_caveat(ctx.scale)}
SGD (tuned: batch {tuned_sgd.batch}, scaled steps {tuned_sgd.eta_w:g} annealed x{tuned_sgd.eta_decay:g}):
{rate_range(sgd_rates)}. Perturbed SGD (P-GD's tuned schedule with
batch {tuned_psgd.batch}): {rate_range(psgd_rates)}, with
{psgd_diverged} diverged trials in all.
The paper's own SGD (eta = 0.1 annealed x0.8 per epoch, batch 4, 20 epochs of 400 iterations):
{rate_range(rates["sgd_paper"])}, against GD's
{rate_range(rates["gd"])} on the same starts
({mean_gap(rates["sgd_paper"], rates["gd"])} over the {n_cells} cells; {gap_detail(rates, grid)}).

GD uses the paper's eta = 0.1 unchanged. At k = 32 that step is past GD's stability limit (the
curvature grows with k): the iterates oscillate and are counted `unconverged`
({gd_32_unconverged} trials over its {len(gd_32)} cells at k = 32, {gd_32_where}); with eta = 0.05 GD
converges there too (`pgd-bench run --k 32 --eta 0.05`)."""
    return Section("What the paper's literal settings do", text, data={"rates": rates})
