"""Finite-sample training: the sets, GD and SGD on them against NumPy references, the recorded
gradient noise, and the settings' checks."""

import numpy as np
import pytest
from reference import normals, stream_state, xoshiro_next
from reference import sample_loss_grad as ref_sample_loss_grad
from threads import with_threads

import pgd_bench as pb
from pgd_bench.engine import RECORD_FIELDS
from pgd_bench.model.data import training_set
from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import run
from pgd_bench.streams import PURPOSE_DATA, PURPOSE_DYNAMICS, PURPOSE_SHARED_DATA

NOISE = RECORD_FIELDS.index("noise")


def test_training_sets_are_the_streams_normals_in_sample_order():
    for shared, trial, purpose in ((False, 5, PURPOSE_DATA), (True, 0, PURPOSE_SHARED_DATA)):
        expected = normals(11, trial, purpose, 3 * 4 * 2).reshape(3, 4, 2)
        np.testing.assert_array_equal(training_set(3, 4, 2, seed=11, trial=5, shared=shared), expected)


def _riemannian_step(w, a, grad_w, grad_a, eta_w, eta_a):
    x = w - eta_w * (grad_w - (w @ grad_w) * w)
    return x / np.linalg.norm(x), a - eta_a * grad_a


def _tangent_noise(w, a, grad_w, grad_a, w_star, a_star):
    pop_w, pop_a = pb.population_grad(w, a, w_star, a_star)
    d = grad_w - pop_w
    d -= (w @ d) * w
    return d @ d + np.sum((grad_a - pop_a) ** 2)


@pytest.mark.parametrize("shared", [False, True])
def test_gd_on_a_training_set_matches_numpy(shared):
    n, steps, samples = 10, 40, 16
    config = resolve_config(algorithm="gd", trials=n, epochs=2, iterations=steps // 2, samples=samples, seed=4,
                            shared_data=shared, checkpoint_every=1)  # fmt: skip
    result = run(config)
    w_star, a_star = config.teacher_arrays()
    w0 = pb.sample_sphere(n, 6, 4)
    a0 = pb.sample_ball(n, 8, config.resolved_start_radius(), 4)
    for i in range(n):
        Z = training_set(samples, 8, 6, seed=4, trial=i, shared=shared)
        w, a = w0[i], a0[i]
        for t in range(steps):
            _, grad_w, grad_a = ref_sample_loss_grad(Z, w, a, w_star, a_star)
            noise = _tangent_noise(w, a, grad_w, grad_a, w_star, a_star)
            assert result.records[i, t, NOISE] == pytest.approx(noise, rel=1e-9, abs=1e-12)
            w, a = _riemannian_step(w, a, grad_w, grad_a, 0.1, 0.1)
        np.testing.assert_allclose(result.w[i], w, atol=1e-10)
        np.testing.assert_allclose(result.a[i], a, atol=1e-10)
        train, _, _ = ref_sample_loss_grad(Z, w, a, w_star, a_star)
        assert result.train_loss[i] == pytest.approx(train, rel=1e-10)
        assert result.records[i, -1, 0] == pytest.approx(pb.population_loss(w, a, w_star, a_star), rel=1e-10)


# a batch larger than the set is drawn with replacement too: the engine's gradient scratch, sized by
# the set, was written past its end (silently wrong results, or a crash freeing the memory)
@pytest.mark.parametrize("samples, batch", [(5, 3), (2, 9), (1, 33)])
def test_sgd_draws_its_batches_from_the_set_with_replacement(samples, batch):
    n, steps = 6, 25
    config = resolve_config(algorithm="sgd", preset="paper", trials=n, epochs=1, iterations=steps, samples=samples,
                            batch=batch, eta=0.05, seed=2)  # fmt: skip
    result = run(config)
    w_star, a_star = config.teacher_arrays()
    w0 = pb.sample_sphere(n, 6, 2)
    a0 = pb.sample_ball(n, 8, config.resolved_start_radius(), 2)
    repeated = 0
    for i in range(n):
        Z = training_set(samples, 8, 6, seed=2, trial=i)
        state = stream_state(2, i, PURPOSE_DYNAMICS)
        w, a = w0[i], a0[i]
        for _ in range(steps):
            index = [int((xoshiro_next(state) >> 11) * 2.0**-53 * samples) for _ in range(batch)]
            repeated += len(set(index)) < batch
            _, grad_w, grad_a = ref_sample_loss_grad(Z[index], w, a, w_star, a_star)
            w, a = _riemannian_step(w, a, grad_w, grad_a, 0.05, 0.05)
        np.testing.assert_allclose(result.w[i], w, atol=1e-10)
        np.testing.assert_allclose(result.a[i], a, atol=1e-10)
    assert repeated > 0  # with replacement: some batches hold a sample twice


def test_population_gd_has_no_gradient_noise_and_sgd_has_some():
    gd = run(resolve_config(algorithm="gd", trials=20, epochs=2, iterations=50, checkpoint_every=10))
    assert np.all(gd.records[:, :, NOISE] == 0.0)
    assert np.all(np.isnan(gd.train_loss))
    sgd = run(resolve_config(algorithm="sgd", trials=20, epochs=2, iterations=50, checkpoint_every=10))
    assert np.all(sgd.records[:, :, NOISE] > 0.0)


@pytest.mark.parametrize("threads", [1, 2])
def test_finite_sample_runs_do_not_depend_on_threads_or_chunks(threads):
    config = resolve_config(algorithm="psgd", trials=37, epochs=2, iterations=30, samples=24, seed=9)
    whole = run(config)
    chunked = with_threads(threads, run, config, chunk_size=5)
    assert whole.final_state_sha256() == chunked.final_state_sha256()
    np.testing.assert_array_equal(whole.train_loss, chunked.train_loss)
    np.testing.assert_array_equal(whole.records, chunked.records)


@pytest.mark.parametrize(
    "overrides, name",
    [({"samples": -1}, "samples"), ({"samples": 1.5}, "samples"), ({"samples": "many"}, "samples"),
     ({"shared_data": True}, "shared_data"), ({"samples": 4, "shared_data": "yes please"}, "shared_data"),
     ({"samples": 10**9, "k": 64}, "memory")],
)  # fmt: skip
def test_bad_finite_sample_settings_are_refused(overrides, name):
    with pytest.raises(ValueError, match=name):
        resolve_config(algorithm="gd", **overrides)
