"""Langevin dynamics and heavy-ball momentum: their laws, their references, and their reductions
to the algorithms they extend (T = 0 is GD, beta = 0 is no momentum), bit for bit."""

import dataclasses
import hashlib

import numpy as np
import pytest
from scipy import stats

import pgd_bench as pb
from pgd_bench import engine
from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import allocate_outputs, engine_inputs, run, thread_pool
from tests.reference import gd_trajectory

SMALL = dict(trials=100, epochs=3, iterations=60, seed=5)


def _run_with_options(config, **replace):
    """The engine on ``config`` with some of its options replaced (``momentum=0.0``, ...)."""
    problem, schedule, options = engine_inputs(config)
    names = ("rho_w", "rho_a", "batch", "temperature", "momentum", "samples")
    assert len(names) == len(options)
    options = tuple(replace.get(name, value) for name, value in zip(names, options))
    outputs = allocate_outputs(config)
    engine.run_trials(0, problem, schedule, options, outputs, executor=thread_pool(2), threads=2)
    return outputs


def _sha(outputs):
    return hashlib.sha256(outputs.w.tobytes() + outputs.a.tobytes()).hexdigest()


def test_langevin_at_temperature_zero_is_gd_bit_for_bit():
    for extra in (dict(eta_decay=1.0), dict(eta_decay=0.9, batch=0)):
        gd = run(resolve_config(algorithm="gd", eta=0.1, **SMALL, **extra))
        langevin = run(resolve_config(algorithm="langevin", temperature=0.0, eta=0.1, scale_steps=False, **SMALL,
                                      **extra))  # fmt: skip
        assert langevin.final_state_sha256() == gd.final_state_sha256()
    # and through the compiled Langevin phase, with a schedule of zeros rather than none
    config = resolve_config(algorithm="gd", eta=0.1, **SMALL)
    zeros = _run_with_options(config, temperature=np.zeros(config.epochs))
    assert _sha(zeros) == _sha(_run_with_options(config))


def test_stochastic_gradient_langevin_at_temperature_zero_is_sgd():
    sgd = run(resolve_config(algorithm="sgd", preset="paper", **SMALL))
    sgld = run(resolve_config(algorithm="langevin", temperature=0.0, eta=0.1, eta_decay=0.8, batch=4,
                              scale_steps=False, **SMALL))  # fmt: skip
    assert sgld.final_state_sha256() == sgd.final_state_sha256()


def test_one_langevin_step_adds_gaussian_noise_of_variance_2_eta_t():
    eta, temperature = 0.05, 0.3
    config = resolve_config(algorithm="langevin", trials=3000, epochs=1, iterations=1, eta=eta, temperature=temperature,
                            scale_steps=False, checkpoint_every=1)  # fmt: skip
    result = run(config)
    w_star, a_star = config.teacher_arrays()
    a0 = pb.sample_ball(config.trials, config.k, config.resolved_start_radius(), config.seed)
    w0 = pb.sample_sphere(config.trials, config.p, config.seed)
    z = []
    for i in range(config.trials):
        _, grad_a = pb.population_grad(w0[i], a0[i], w_star, a_star)
        z.append((result.a[i] - (a0[i] - eta * grad_a)) / np.sqrt(2 * eta * temperature))
    z = np.concatenate(z)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 5 / np.sqrt(z.size) and abs(z.var() - 1) < 5 * np.sqrt(2 / z.size)


def test_momentum_zero_through_the_momentum_phase_gives_todays_bits():
    # gd and psgd: the momentum phase with the population gradient, and with perturbation and
    # mini-batches together (each is a compiled variant of its own: the others would add compile
    # time and no path)
    for algorithm in ("gd", "psgd"):
        config = resolve_config(algorithm=algorithm, **SMALL)
        assert _sha(_run_with_options(config, momentum=0.0)) == _sha(_run_with_options(config)), algorithm


def test_momentum_matches_a_numpy_heavy_ball_reference():
    beta = 0.5
    config = resolve_config(algorithm="gd", trials=8, epochs=2, iterations=100, seed=3, eta=0.05, momentum=beta)
    result = run(config)
    w_star, a_star = config.teacher_arrays()
    w0 = pb.sample_sphere(8, config.p, 3)
    a0 = pb.sample_ball(8, config.k, config.resolved_start_radius(), 3)
    for i in range(8):
        w, a = gd_trajectory(w0[i], a0[i], w_star, a_star, 0.05, 0.05, 200, beta=beta)
        np.testing.assert_allclose(result.w[i], w, atol=1e-9)
        np.testing.assert_allclose(result.a[i], a, atol=1e-9)
    assert run(dataclasses.replace(config, momentum=0.0)).final_state_sha256() != result.final_state_sha256()


@pytest.mark.parametrize(
    "overrides,name",
    [
        (dict(algorithm="langevin", temperature=-1.0), "temperature"),
        (dict(algorithm="langevin", temperature_decay=0.0), "temperature_decay"),
        (dict(algorithm="langevin", momentum=0.5), "momentum"),
        (dict(algorithm="gd", momentum=1.0), "momentum"),
        (dict(algorithm="gd", momentum=-0.1), "momentum"),
        (dict(algorithm="pgd", temperature=0.1), "temperature"),
        (dict(algorithm="langevin", preset="paper"), "preset"),
        (dict(algorithm="langevin", batch=-1), "batch"),
        (dict(algorithm="langevin", epochs=2, temperature_schedule=[0.1, -0.1]), "temperature_schedule"),
    ],
)
def test_bad_langevin_and_momentum_settings_are_refused_by_name(overrides, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        resolve_config(**overrides)
