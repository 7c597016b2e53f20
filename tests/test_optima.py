"""The optimum finder: on the poster's model it finds exactly the teacher and Du et al.'s spurious
optimum; on overlapping patches every point it reports is stationary, its verdicts agree with the
loss around the point, and the same seed gives the same answer."""

import json
import subprocess
import sys

import numpy as np
import pytest

from pgd_bench.model.landscape import population_loss, spurious_optimum
from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.optima import GRAD_TOL, find_optima


def test_on_the_posters_model_it_finds_the_teacher_and_the_closed_form_spurious_optimum():
    config = resolve_config(k=8, teacher="alternating")
    found = find_optima(config, starts=400)
    w_star, a_star = config.teacher_arrays()
    w_bar, a_bar = spurious_optimum(w_star, a_star)
    first, *others = found.optima
    assert first.kind == "global" and np.linalg.norm(np.concatenate([first.w - w_star, first.a - a_star])) < 1e-8
    spurious = [o for o in others if np.linalg.norm(np.concatenate([o.w - w_bar, o.a - a_bar])) < 1e-8]
    # degenerate to second order (the Riemannian Hessian vanishes on w's tangent directions there:
    # g(theta) is flat to second order at theta = pi), a minimum of third order
    assert len(spurious) == 1 and spurious[0].kind == "degenerate" and spurious[0].null_directions_rise
    assert spurious[0].share > 0.2
    assert all(o.share <= 0.005 for o in others if o is not spurious[0])  # nothing else GD reaches often
    assert sum(o.starts for o in found.optima) + found.unpolished == 400
    assert first.share_low <= first.share <= first.share_high


def test_on_overlapping_patches_every_point_is_stationary_and_its_verdict_matches_the_loss_around_it():
    config = resolve_config(k=8, stride=3, teacher="alternating")
    found = find_optima(config, starts=200)
    assert found.optima[0].kind == "global" and found.optima[0].loss < 1e-20
    w_star, a_star = config.teacher_arrays()
    rng = np.random.default_rng(0)
    for optimum in found.optima:
        assert optimum.grad_norm < GRAD_TOL or optimum.starts == 0
        if optimum.kind not in ("minimum", "saddle"):
            continue
        # an independent look: the loss on small geodesic moves in random tangent directions
        rises = []
        for _ in range(40):
            u_w = rng.normal(size=optimum.w.size)
            u_w -= (u_w @ optimum.w) * optimum.w
            u_a = rng.normal(size=optimum.a.size)
            scale = 1e-3 / np.sqrt(u_w @ u_w + u_a @ u_a)
            t = scale * np.linalg.norm(u_w)
            w_t = np.cos(t) * optimum.w + np.sin(t) * u_w / np.linalg.norm(u_w)
            rises.append(population_loss(w_t, optimum.a + scale * u_a, w_star, a_star, stride=3) - optimum.loss)
        if optimum.kind == "minimum":
            assert min(rises) > 0.0
    again = find_optima(config, starts=200)
    assert json.dumps(again.to_dict()) == json.dumps(found.to_dict())


def test_the_command_prints_the_global_optimum_first():
    out = subprocess.run(
        [sys.executable, "-m", "pgd_bench", "optima", "--stride", "3", "--starts", "60", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["optima"][0]["kind"] == "global" and data["config"]["stride"] == 3
    shares = [o["share"] for o in data["optima"][1:]]
    assert shares == sorted(shares, reverse=True)
    bad = subprocess.run([sys.executable, "-m", "pgd_bench", "optima", "--starts", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "starts" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("starts", [0, -3, 2.5])
def test_bad_starts_are_refused(starts):
    with pytest.raises(ValueError, match="starts"):
        find_optima(resolve_config(), starts=starts)
