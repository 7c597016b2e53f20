"""Bad input gets a ValueError naming the argument, never a Numba typing error."""

import numpy as np
import pytest

import pgd_bench as pb

W_STAR = np.array([1.0, 0.0, 0.0])
A_STAR = np.array([1.0, -1.0])


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(w=[1.0, 0.0], a=A_STAR, w_star=W_STAR, a_star=A_STAR), "w"),
        (dict(w=W_STAR, a=[1.0], a_star=A_STAR, w_star=W_STAR), "a"),
        (dict(w=W_STAR, a=A_STAR, w_star=[1.0, 1.0, 0.0], a_star=A_STAR), "w_star"),
        (dict(w=W_STAR, a=A_STAR, w_star=W_STAR, a_star=[np.nan, 1.0]), "a_star"),
        (dict(w=np.zeros(3), a=A_STAR, w_star=W_STAR, a_star=A_STAR), "w"),
        (dict(w="abc", a=A_STAR, w_star=W_STAR, a_star=A_STAR), "w"),
        (dict(w=[[1.0, 0, 0]], a=A_STAR, w_star=W_STAR, a_star=A_STAR), "w"),
        (dict(w=W_STAR, a=A_STAR, w_star=W_STAR, a_star=[]), "a_star"),
    ],
)
def test_landscape_rejects_bad_points(kwargs, name):
    for fn in (pb.population_loss, pb.population_grad):
        with pytest.raises(ValueError, match=rf"^{name}:"):
            fn(**kwargs)


def test_unit_norm_tolerance_is_1e_9():
    pb.population_loss(W_STAR, A_STAR, W_STAR * (1 + 5e-10), A_STAR)
    with pytest.raises(ValueError, match="w_star"):
        pb.spurious_optimum(W_STAR * (1 + 1e-8), A_STAR)


def test_integer_lists_are_accepted():
    assert pb.population_loss([0, 1, 0], [1, -1], [1, 0, 0], [1, -1]) > 0


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: pb.sample_ball(-1, 3, 1.0, 0), "n"),
        (lambda: pb.sample_ball(3, 0, 1.0, 0), "d"),
        (lambda: pb.sample_ball(3, 3, -1.0, 0), "radius"),
        (lambda: pb.sample_ball(3, 3, float("inf"), 0), "radius"),
        (lambda: pb.sample_sphere(3, 3, -5), "seed"),
        (lambda: pb.sample_sphere(3, 3, 2**64), "seed"),
        (lambda: pb.sample_sphere(2.5, 3, 0), "n"),
        (lambda: pb.sample_normal(3, True, 0), "d"),
    ],
)
def test_samplers_reject_bad_arguments(call, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()


@pytest.mark.parametrize(
    "Z,name",
    [
        (np.zeros((4, 2, 2)), "Z"),  # p = 2 but w has 3 entries
        (np.zeros((4, 6)), "Z"),
        (np.zeros((0, 2, 3)), "Z"),
        ("not an array", "Z"),
    ],
)
def test_batch_kernels_reject_bad_batches(Z, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        pb.sample_loss_grad(Z, W_STAR, A_STAR, W_STAR, A_STAR)


def test_step_rejects_negative_step_and_non_unit_w():
    with pytest.raises(ValueError, match="^eta_w:"):
        pb.riemannian_step(W_STAR, A_STAR, W_STAR, A_STAR, -0.1, 0.1)
    with pytest.raises(ValueError, match="^w:"):
        pb.riemannian_step(2 * W_STAR, A_STAR, W_STAR, A_STAR, 0.1, 0.1)


@pytest.mark.parametrize(
    "value,what",
    [
        ([1 + 0j, 0, 0], "complex"),
        (["1", "0", "0"], "strings"),
        ([True, False, False], "booleans"),
        ([1.0, "0", 0.0], "strings"),
        ([1.0, None, 0.0], "non-numbers"),
    ],
)
def test_vectors_that_numpy_would_convert_wrongly_are_refused(value, what):
    with pytest.raises(ValueError, match=rf"^w: .*{what}"):
        pb.population_loss(value, A_STAR, W_STAR, A_STAR)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: pb.sample_ball(2**70, 3, 1.0, 0), "n"),  # was an OverflowError
        (lambda: pb.sample_ball(10**12, 3, 1.0, 0), "n, d"),  # was a MemoryError
        (lambda: pb.sample_normal(3, 10**13, 0), "n, d"),
        (lambda: pb.sample_ball(3, 3, 1 + 2j, 0), "radius"),
        (lambda: pb.sample_ball(3, 3, "1", 0), "radius"),
    ],
)
def test_samplers_refuse_sizes_and_types_before_allocating(call, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()


def test_numpy_scalars_and_0d_arrays_are_accepted_where_a_scalar_is_meant():
    expected = pb.sample_ball(3, 2, 0.5, 7)
    for n, radius, seed in ((np.int64(3), np.float64(0.5), np.uint64(7)), (np.array(3), np.array(0.5), np.array(7))):
        np.testing.assert_array_equal(pb.sample_ball(n, 2, radius, seed), expected)
    from pgd_bench.runs.config import resolve_config

    config = resolve_config(algorithm="sgd", trials=np.array(5), eta=np.float64(0.2), scale_steps=np.bool_(True))
    assert (config.trials, config.eta_w, config.scale_steps) == (5, 0.2, True)
    assert type(config.trials) is int and type(config.scale_steps) is bool


@pytest.mark.parametrize(
    "overrides,name",
    [
        (dict(preset=["paper"]), "preset"),  # was a TypeError (unhashable)
        (dict(preset={"a": 1}), "preset"),
        (dict(algorithm=3), "algorithm"),
        (dict(teacher=None, noise_law=["ball"], algorithm="pgd"), "noise_law"),
        (dict(epochs=2, eta_w_schedule=[0, 0]), "eta_w_schedule"),  # eta_w = 0 was refused, its schedule not
        (dict(epochs=2, eta_a_schedule=[0.1, -1]), "eta_a_schedule"),
        (dict(scale_steps=1), "scale_steps"),
        (dict(tol=100.0), "tol"),  # counted the spurious optimum as success
        (dict(a_star=[1e6] + [1.0] * 7), "a_star"),  # its trials were all reported as diverged
        (dict(start_radius=1e6), "start_radius"),
        (dict(k=10**7), "this run"),  # was a MemoryError after allocating
        (dict(iterations=10**12), "this run"),
        (dict(iterations=10**9, checkpoint_every=1), "this run"),
        (dict(trials=2**63), "trials"),
        (dict(algorithm="gd", noise_on="w"), "noise_on"),  # ignored silently before
        (dict(teacher_seed=3), "teacher_seed"),
        (dict(a_star=[1.0] * 8, teacher="ones"), "teacher"),
        (dict(algorithm="pgd", batch=4), "batch"),
        (dict(a_star=[1.0] * 7 + [True]), "a_star"),  # a boolean read as 1
        (dict(epochs=2, eta_w_schedule=[1.0, True]), "eta_w_schedule"),
        (dict(epochs=1, eta_w_schedule=0.1), "eta_w_schedule"),  # a scalar is no schedule
        (dict(a_star=[1.0] * 7 + [[8.0]]), "a_star"),  # ragged
        (dict(eta_w=10**400), "eta_w"),  # was an OverflowError
        (dict(eta=-1.0), "eta"),  # named as given (was eta_w)
        (dict(epochs=3, iterations=2**62, checkpoint_every=2**62), "iterations"),  # was an OverflowError mid-run
        (dict(a_star=[0.0] * 8, start_radius=1.0), "a_star"),  # no spurious optimum apart from the global one
        (dict(algorithm="pgd", noise_on="a", rho_w=0.5), "rho_w"),  # silently unused
        (dict(eta=0.1, eta_w=0.2, eta_a=0.3), "eta"),  # silently unused
        (dict(epochs=3, eta_decay=1e200), "eta_w"),  # infinite steps, with numpy warnings
        (dict(algorithm="langevin", temperature=1e308), "temperature"),  # infinite once scaled to k
        (dict(algorithm="pgd", rho_w=1e300), "eta_a"),  # scaled by 1 / E||w + xi||^2: a step of 0, and a warning
        (dict(epochs=400, eta_decay=1e-3), "eta_w"),  # decayed to 0
        # a setting that per-epoch lists replace in every epoch: ignored silently in files and the API
        (dict(algorithm="pgd", epochs=2, rho_w_schedule=[1.0, 2.0], rho_w=3.0), "rho_w"),
        (dict(algorithm="pgd", epochs=2, rho_w_schedule=[1, 2], rho_a_schedule=[1, 2], noise_decay=0.5), "noise_decay"),
        (dict(epochs=2, eta_w_schedule=[1, 2], eta_a_schedule=[1, 2], eta=0.5), "eta"),
        (dict(epochs=2, eta_w_schedule=[1, 2], eta_a_schedule=[1, 2], eta_decay=0.5), "eta_decay"),
        (dict(algorithm="langevin", epochs=2, temperature_schedule=[1, 2], temperature_decay=0.5), "temperature_decay"),
    ],
)
def test_resolve_config_refuses_bad_values_by_name(overrides, name):
    from pgd_bench.runs.config import resolve_config

    with pytest.raises(ValueError, match=rf"^{name}:"):
        resolve_config(**overrides)


def test_a_resolved_config_with_neutral_unused_settings_round_trips():
    from pgd_bench.runs.config import resolve_config

    for algorithm in ("gd", "sgd", "pgd", "psgd"):
        config = resolve_config(algorithm=algorithm, teacher="gaussian", teacher_seed=4)
        assert resolve_config(**config.to_dict()) == config
    # with per-epoch lists, the settings they replace carry the preset's values, which resolve again;
    # where a list replaces one of two (rho_w, not rho_a), the shared decay still applies and is kept
    config = resolve_config(algorithm="pgd", epochs=2, rho_w_schedule=[1.0, 2.0], noise_decay=0.5)
    assert resolve_config(**config.to_dict()) == config and config.noise_decay == 0.5
    # eta beside one list sets the other step: it was kept as eta_w too, which the list replaced, and
    # the config it resolved to was refused when run (run() resolves it again)
    config = resolve_config(epochs=2, iterations=5, trials=2, eta=0.5, eta_w_schedule=[0.2, 0.2])
    assert (config.eta_w, config.eta_a) == (resolve_config().eta_w, 0.5)
    assert resolve_config(**config.to_dict()) == config
    pb.run(config)
    # and a preset that gives the eta shorthand (the paper's) carries it in both steps
    config = resolve_config(algorithm="sgd", preset="paper", epochs=2, eta_a_schedule=[0.2, 0.2])
    assert resolve_config(**config.to_dict()) == config


def test_the_tolerance_bound_is_a_quarter_of_the_optima_squared_distance():
    from pgd_bench.runs.config import resolve_config

    w_star, a_star = resolve_config().teacher_arrays()
    w_bar, a_bar = pb.spurious_optimum(w_star, a_star)
    quarter = (np.sum((w_star - w_bar) ** 2) + np.sum((a_star - a_bar) ** 2)) / 4
    resolve_config(tol=quarter * 0.999)
    with pytest.raises(ValueError, match="^tol:"):
        resolve_config(tol=quarter)


def test_scalars_where_vectors_are_meant_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match="^w_star:"):
        pb.population_loss(W_STAR, A_STAR, np.float64(1.0), A_STAR)
    with pytest.raises(ValueError, match="^w_star:"):
        pb.spurious_optimum(1.0, A_STAR)


def test_run_checks_a_config_built_by_hand():
    from pgd_bench.runs.config import RunConfig
    from pgd_bench.runs.execute import run

    with pytest.raises(ValueError, match="^a_star:"):  # was garbage read past the array
        run(RunConfig(trials=5, epochs=1, iterations=5, a_star=(1.0, 2.0, 3.0)))
    with pytest.raises(ValueError, match="^tol:"):  # counted every trial global
        run(RunConfig(trials=5, tol=100.0))
    with pytest.raises(ValueError, match="^config:"):
        run({"trials": 5})


def test_a_teacher_family_gets_its_seed_and_what_it_returns_is_checked():
    """register_teacher said a family is weights(k, teacher_seed), but any teacher_seed with a
    user's family was refused ("applies only to the gaussian teacher"): now with one registered
    as seeded=True (opt-in: a family that ignores its seed keeps the refusal); a family that was not a
    function, took one argument or raised gave that TypeError or ZeroDivisionError; complex weights
    were cut to their real part, strings parsed as numbers, NaN refused as "the zero teacher" and
    inf with a start_radius message; unregistering an unknown name raised KeyError."""
    from pgd_bench.model.registry import register_landscape, unregister_landscape
    from pgd_bench.model.teachers import register_teacher, unregister_teacher
    from pgd_bench.runs.config import resolve_config

    register_teacher("drawn", lambda k, seed: np.random.default_rng(seed + 7).uniform(0.5, 1.5, k), seeded=True)
    register_teacher("fixed", lambda k, seed: np.linspace(1.0, 2.0, k))  # (by default a family does not draw)
    bad = {
        "complex": (
            lambda k, seed: np.ones(k) + 1j,
            "returned: expected a 1-D array of real numbers, got complex numbers",
        ),
        "text": (lambda k, seed: ["1"] * k, "returned: expected a 1-D array of real numbers, got strings"),
        "nan": (lambda k, seed: np.full(k, np.nan), "returned: every entry must be finite"),
        "inf": (lambda k, seed: np.r_[np.inf, np.ones(k - 1)], "returned: every entry must be finite"),
        "short": (lambda k, seed: np.ones(k - 1), "returned: expected length 8, got 7"),
        "booleans": (lambda k, seed: np.ones(k, bool), "returned: expected a 1-D array of real numbers, got booleans"),
        "raises": (lambda k, seed: 1 / 0, "failed for k = 8, teacher_seed = 0: ZeroDivisionError: division by zero$"),
        "says_two_lines": (lambda k, seed: exec("raise RuntimeError('first\\nsecond')"), "RuntimeError: first$"),
        "one_argument": (lambda k: np.ones(k), "failed for k = 8, teacher_seed = 0: TypeError"),
    }
    for name, (family, _) in bad.items():
        register_teacher(name, family)
    try:
        seeds = [resolve_config(teacher="drawn", teacher_seed=s).teacher_arrays()[1] for s in (0, 3, 3)]
        np.testing.assert_array_equal(seeds[1], np.random.default_rng(10).uniform(0.5, 1.5, 8))
        assert not np.array_equal(seeds[0], seeds[1]) and np.array_equal(seeds[1], seeds[2])
        with pytest.raises(ValueError, match="^teacher_seed: applies only to teacher families that draw"):
            resolve_config(teacher="fixed", teacher_seed=3)
        with pytest.raises(ValueError, match="^teacher_seed: applies only"):
            resolve_config(teacher="ones", teacher_seed=3)  # a built-in family that does not draw
        for name, (_, message) in bad.items():
            with pytest.raises(ValueError, match=f"^teacher: family '{name}' .*{message}"):
                resolve_config(teacher=name)
        with pytest.raises(ValueError, match="weights must be a function"):
            register_teacher("five", 5)
    finally:
        for name in ("drawn", "fixed", *bad):
            unregister_teacher(name)
    with pytest.raises(ValueError, match="^teacher: expected one of ones, .*, got 'drawn'$"):
        unregister_teacher("drawn")
    with pytest.raises(ValueError, match="^landscape: expected one of cnn, overlapping, got 'nope'$"):
        unregister_landscape("nope")
    with pytest.raises(ValueError, match="^landscape: expected a Landscape"):
        register_landscape({"name": "mine"})
