"""The optimum finder: on the poster's model it finds exactly the teacher and Du et al.'s spurious
optimum; on overlapping patches every point it reports is stationary, its verdicts agree with the
loss around the point, and the same seed gives the same answer."""

import json
import subprocess
import sys

import numpy as np
import pytest
from in_process import cli

import pgd_bench.runs.optima as om
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
    assert found.optima[0].kind == "global" and found.optima[0].loss < 1e-12  # zero up to rounding
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
    out = cli("optima", "--stride", "3", "--starts", "60", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["optima"][0]["kind"] == "global" and data["config"]["stride"] == 3
    shares = [o["share"] for o in data["optima"][1:]]
    assert shares == sorted(shares, reverse=True)
    bad = cli("optima", "--starts", "0")
    assert bad.returncode == 2 and "starts" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("starts", [0, -3, 2.5])
def test_bad_starts_are_refused(starts):
    with pytest.raises(ValueError, match="starts"):
        find_optima(resolve_config(), starts=starts)


def test_a_second_zero_loss_point_is_a_global_optimum_not_a_minimum():
    """With overlapping patches and a*_0 = 0, w* shifted by one stride (and a* with it) fits every
    input exactly: it was classified a (spurious) minimum because only the teacher counted as global."""
    found = find_optima(resolve_config(k=4, stride=2, a_star=(0.0, 1.0, -1.0, 0.5)), starts=100)
    zero = [o for o in found.optima if o.loss < 1e-12]
    assert len(zero) == 2 and all(o.kind == "global" for o in zero)
    assert found.optima[0].distance_to_teacher < 1e-6  # the teacher stays first
    shifted = found.optima[1]
    assert abs(shifted.w[2]) > 0.999  # e_3: w* shifted by one stride of 2
    assert population_loss(shifted.w, shifted.a, np.eye(6)[0], np.array([0.0, 1.0, -1.0, 0.5]), stride=2) < 1e-12


@pytest.mark.parametrize("stride, k", [(1, 8), (1, 16), (3, 16), (6, 8), (6, 32)])
def test_the_search_s_gd_step_is_stable_at_the_teacher(stride, k):
    """GD's step was 0.1 scaled for the poster's model only: at s = 1, k = 16 it was 2.5 / top, past
    the stability limit 2 / top, and GD oscillated about the teacher. Now at most 1 / top; for the
    poster's model (s = p = 6) unchanged."""
    from pgd_bench.model.landscape import curvature_scale
    from pgd_bench.model.sharpness import riemannian_hessian
    from pgd_bench.runs.optima import GD_STEP, gd_config

    config = resolve_config(teacher="alternating", k=k, stride=stride)
    w_star, a_star = config.teacher_arrays()
    hess = riemannian_hessian(w_star, a_star, w_star, a_star, stride=stride)
    # the top eigenvalue on the tangent space: w's direction itself is not one (Hess w-row of w is 0 there)
    basis = np.linalg.qr(np.column_stack([w_star, np.eye(6)]))[0][:, 1:6]
    tangent = np.zeros((6 + k, 5 + k))
    tangent[:6, :5], tangent[6:, 5:] = basis, np.eye(k)
    top = np.linalg.eigvalsh(tangent.T @ hess @ tangent)[-1]
    eta = float(np.max(gd_config(config, 10).eta_w))
    assert eta * top <= 1.0 + 1e-9
    if stride == 6:
        assert eta == pytest.approx(GD_STEP * curvature_scale(k), rel=1e-12)


def test_found_basins_count_each_trial_once_at_the_point_it_ended_near():
    """Against a hand classification: within NEAR_FOUND of a found point (the nearest one) is 'at' it;
    the run's own 'global' outcome wins; the rest not diverged is 'elsewhere'."""
    from found_optima import hand_optima, hand_result

    from pgd_bench.runs.optima import NEAR_FOUND, found_basins

    e = np.eye(3)
    arrays = hand_optima([e[0], e[1], e[2]], [[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]], ["global", "minimum", "saddle"],
                         [0.0, 0.4, 0.9])  # fmt: skip
    w = np.array([e[0], e[1], e[1], e[2], e[1], e[0], e[1], e[2]])
    off = NEAR_FOUND
    a = np.array([[1.0, 1.0], [1.0, 0.0], [1.0, 0.9 * off], [0.0, 0.0], [1.0, 1.1 * off], [1.0, 0.95],
                  [1.0, 0.0], [0.3 * off, 0.0]])  # fmt: skip
    # global; at 1; at 1 (inside NEAR); at 2; too far from 1 (elsewhere); near the teacher but not
    # within tol (elsewhere); diverged (even though its last point sits at 1); at 2
    outcome = np.array([0, 3, 1, 3, 3, 3, 2, 1])
    counts = found_basins(hand_result(w, a, outcome), arrays)
    assert counts == {"global": 1, "optimum_1": 2, "optimum_2": 2, "elsewhere": 2, "diverged": 1}


def test_a_trial_at_another_zero_loss_point_found_is_global():
    """The helper's defect: with a*_0 = 0 the teacher shifted by a stride fits exactly (the search
    calls it global), yet its trials were counted as trapped there, 'spurious'."""
    from found_optima import hand_optima, hand_result

    from pgd_bench.runs.optima import found_basins

    e = np.eye(3)
    arrays = hand_optima([e[0], e[1], e[2]], [[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]], ["global", "global", "minimum"],
                         [0.0, 1e-15, 0.9])  # fmt: skip
    w, a = np.array([e[1], e[1], e[2], e[0]]), np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 0.0], [0.0, 0.0]])
    counts = found_basins(hand_result(w, a, [3, 3, 3, 3]), arrays)
    assert counts == {"global": 2, "optimum_2": 1, "elsewhere": 1, "diverged": 0}


@pytest.mark.parametrize(
    "call, needle",
    [(lambda r, o: om.found_basins(None, o), "result"),
     (lambda r, o: om.found_basins(r, None), "arrays"),
     (lambda r, o: om.found_basins(r, {}), "arrays"),
     (lambda r, o: om.nearest_found(r, {**o, "w": o["w"][:, :2]}), "arrays"),
     (lambda r, o: om.found_basins(r, {**o, "kind": o["kind"] + 9}), "arrays"),
     (lambda r, o: om.cached_optima(None, "/tmp"), "config"),
     (lambda r, o: om.cached_optima(r.config, None), "cache_dir"),
     (lambda r, o: om.cached_optima(r.config, "/proc/version"), "cache_dir"),
     (lambda r, o: om.cached_optima(r.config, "/tmp", force="no"), "force")],
)  # fmt: skip
def test_the_found_optima_api_names_its_bad_arguments(call, needle):
    from found_optima import hand_optima, hand_result

    e = np.eye(3)
    result = hand_result([e[0]], [[1.0, 1.0]], [0])
    arrays = hand_optima([e[0], e[1]], [[1.0, 1.0], [1.0, 0.0]], ["global", "minimum"], [0.0, 0.4])
    with pytest.raises(ValueError, match=needle):
        call(result, arrays)


def test_a_damaged_or_foreign_optima_file_is_searched_again(tmp_path):
    from pgd_bench.runs.optima import cached_optima

    config = resolve_config(stride=3, k=4)
    first = cached_optima(config, tmp_path, 30)
    (path,) = tmp_path.glob("optima-*.npz")
    for damage in ({"loss": first["loss"][:1]}, {"kind": first["kind"] + 99}, {"w": first["w"][:, :2]}):
        np.savez(path, **{**first, **damage})
        again = cached_optima(config, tmp_path, 30)
        assert all(np.array_equal(again[key], first[key]) for key in first)


def _succeeds(*args):
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_run_names_the_found_optimum_each_trial_ended_at():
    """`run --stride 3 --json`: `basins` names the optima the search finds (cached per problem, so a
    second run reads them back), they add up to the trials, and `spurious` is their sum with
    `elsewhere`; the found points are the ones `pgd-bench optima` prints for the same problem."""
    from pgd_bench._provenance import cache_root
    from pgd_bench.runs.cache import cell_key
    from pgd_bench.runs.optima import gd_config

    cached = cache_root() / "optima" / f"optima-{cell_key(gd_config(resolve_config(stride=3), 60))}-60.npz"
    cached.unlink(missing_ok=True)  # the first run searches
    command = ["run", "--stride", "3", "--algorithm", "gd", "--trials", "200", "--epochs", "1", "--iterations", "2000",
               "--optima-starts", "60", "--json"]  # fmt: skip
    out = json.loads(_succeeds(*command).stdout)
    basins, found = out["basins"], out["found_optima"]
    trapped = [basins[f"optimum_{o['optimum']}"] for o in found["optima"][1:]]
    assert basins["global"] + sum(trapped) + basins["elsewhere"] + basins["diverged"] == 200
    assert basins["spurious"] == sum(trapped) + basins["elsewhere"]
    assert found["optima"][0]["kind"] == "global" and sum(trapped) > 0  # plain GD at s < p gets trapped
    assert "optimum_i" in out["basins_meaning"]
    stamp = cached.stat().st_mtime_ns  # written by the first run
    again = json.loads(_succeeds(*command).stdout)
    assert again["basins"] == basins and cached.stat().st_mtime_ns == stamp
    optima = _succeeds("optima", "--stride", "3", "--starts", "60", "--json")
    assert [o["w"] for o in json.loads(optima.stdout)["optima"]] == [o["w"] for o in found["optima"]]
    text = _succeeds(*command[:-1]).stdout
    assert "  found optimum 1: " in text and "  elsewhere (" in text


def test_run_refuses_bad_optima_starts_before_running():
    bad = cli("run", "--stride", "3", "--optima-starts", "-1")
    assert bad.returncode == 2 and "optima-starts" in bad.stderr and "Traceback" not in bad.stderr


def test_run_refuses_an_unwritable_optima_cache_before_running(tmp_path):
    """It compiled and ran in full, then failed writing the cache ('Not a directory'), the result lost."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**__import__("os").environ, "PGD_BENCH_CACHE_DIR": str(blocker)}
    bad = subprocess.run([sys.executable, "-m", "pgd_bench", "run", "--stride", "3", "--trials", "2000"],
                         capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "PGD_BENCH_CACHE_DIR" in bad.stderr and "Traceback" not in bad.stderr
    # one line, after the note that the kernels cannot be kept there either (tests/test_provenance.py)
    note, error = bad.stderr.strip().splitlines()
    assert note.startswith("pgd-bench: note: cannot keep compiled kernels in") and "compiling" not in bad.stderr
    assert error.startswith("pgd-bench: error: optima-starts: the optima's cache folder: cannot create")


def test_a_search_that_would_take_minutes_is_skipped_with_a_note_or_refused_when_asked_for():
    command = ["run", "--stride", "1", "--p", "2", "--k", "200", "--trials", "2", "--epochs", "1", "--iterations", "2",
               "--json"]  # fmt: skip
    skipped = cli(*command)
    assert skipped.returncode == 0 and "not searching the optima (p + k = 202" in skipped.stderr
    assert "found_optima" not in json.loads(skipped.stdout)
    asked = cli(*command, "--optima-starts", "10")
    assert asked.returncode == 2 and "optima-starts" in asked.stderr and "minutes" in asked.stderr


def test_the_starts_check_charges_the_search_its_size_not_one_starts_share_of_fixed_costs(monkeypatch):
    """Part of a run's memory estimate (the sharpness working set) stops growing at one chunk per
    thread: charging every start the increment from one start to two refused 1000 starts at stride 1,
    k = 32 (about 10 GB) on a machine with 4 GB, where the search needs a few hundred MB."""
    import pgd_bench._validate as validate
    from pgd_bench.runs.optima import check_starts

    monkeypatch.setattr(validate, "memory_limit", lambda: 2 * 2**30)  # half of a 4 GiB machine
    config = resolve_config(algorithm="gd", stride=1, k=32)
    assert check_starts(config, 1000) == 1000
    with pytest.raises(ValueError, match=r"starts: needs about .* GiB.*ask for fewer starts \(each needs about"):
        check_starts(config, 10**8)
