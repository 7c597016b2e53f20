"""Noisy labels (``label_noise``) and inputs drawn whole for overlapping patches: the sets against
the streams, the engine's training loss against NumPy, the empirical minimiser against a case
computed by hand, and mini-batches of fresh overlapping inputs against the population gradient."""

import numpy as np
import pytest
from reference import normal_fills
from reference import sample_loss_grad as ref_sample_loss_grad

import pgd_bench as pb
from pgd_bench.model.data import training_data, training_set
from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import run
from pgd_bench.streams import PURPOSE_DATA, PURPOSE_SHARED_DATA


@pytest.mark.parametrize("stride", [None, 2, 5])
@pytest.mark.parametrize("shared", [False, True])
def test_labels_are_the_teacher_plus_sigma_times_the_streams_next_normals(stride, shared):
    samples, k, p, sigma, seed, trial = 7, 3, 5, 0.8, 13, 4
    s = p if stride is None else stride
    d = (k - 1) * s + p
    purpose, index = (PURPOSE_SHARED_DATA, 0) if shared else (PURPOSE_DATA, trial)
    draws = normal_fills(seed, index, purpose, [samples * d, samples])  # inputs, then the noise
    X, eps = draws[: samples * d].reshape(samples, d), draws[samples * d :]
    w_star = np.array([0.6, 0.0, 0.8, 0.0, 0.0])
    a_star = np.array([1.0, -0.5, 2.0])
    Z, y = training_data(samples, w_star, a_star, seed, trial, shared, stride=stride, label_noise=sigma)
    for b in range(samples):
        for j in range(k):
            np.testing.assert_array_equal(Z[b, j], X[b, j * s : j * s + p])
        clean = sum(a_star[j] * max(X[b, j * s : j * s + p] @ w_star, 0.0) for j in range(k))
        assert y[b] == pytest.approx(clean + sigma * eps[b], abs=1e-12)
    # the inputs do not depend on sigma; the noise is sigma times the same normals
    Z0, y0 = training_data(samples, w_star, a_star, seed, trial, shared, stride=stride)
    np.testing.assert_array_equal(Z0, Z)
    np.testing.assert_allclose(y - y0, sigma * eps, atol=1e-12)
    np.testing.assert_array_equal(training_set(samples, k, p, seed, trial, shared, stride=stride), Z)


@pytest.mark.parametrize("stride, shared", [(None, False), (3, False), (2, True)])
def test_the_engines_train_loss_is_the_loss_on_the_noisy_set(stride, shared):
    samples, sigma, n = 24, 0.7, 9
    config = resolve_config(algorithm="gd", trials=n, epochs=2, iterations=30, samples=samples, seed=5,
                            label_noise=sigma, stride=stride, shared_data=shared)  # fmt: skip
    result = run(config)
    w_star, a_star = config.teacher_arrays()
    for i in range(n):
        Z, y = training_data(samples, w_star, a_star, 5, i, shared, stride=stride, label_noise=sigma)
        residual = np.maximum(Z @ result.w[i], 0.0) @ result.a[i] - y
        assert result.train_loss[i] == pytest.approx(np.mean(residual**2), rel=1e-10)
    # the clean set's minimiser is the teacher (loss 0 there); the noisy one's is not
    assert np.all(result.train_loss > 0.05 * sigma**2)


def test_the_a_only_least_squares_minimiser_moves_as_sigma_over_root_n():
    """At ``w = w*`` the labels are ``H a* + sigma e`` with ``H[b, j] = relu(Z_bj . w*)``, so the
    least-squares ``a`` is ``a* + (H'H)^-1 H' sigma e`` and ``E ||a - a*||^2 = sigma^2 tr (H'H)^-1``,
    which for large ``N`` is ``sigma^2 tr M^-1 / N`` with ``M = E[h h'] = (1/2 - 1/(2 pi)) I +
    1/(2 pi) 1 1'`` (``E relu(g)^2 = 1/2``, ``E relu(g) = 1/sqrt(2 pi)`` for independent patches)."""
    k, p = 4, 6
    w_star = np.eye(p)[0]
    a_star = np.array([1.0, -1.0, 0.5, 2.0])
    M = (0.5 - 1 / (2 * np.pi)) * np.eye(k) + np.full((k, k), 1 / (2 * np.pi))
    by_hand = np.trace(np.linalg.inv(M))
    for samples in (64, 256):
        for sigma in (0.0, 0.5, 1.0):
            distances, exact = [], []
            for trial in range(300):
                Z, y = training_data(samples, w_star, a_star, seed=1, trial=trial, label_noise=sigma)
                H = np.maximum(Z @ w_star, 0.0)
                a_hat = np.linalg.lstsq(H, y, rcond=None)[0]
                distances.append(np.sum((a_hat - a_star) ** 2))
                exact.append(sigma**2 * np.trace(np.linalg.inv(H.T @ H)))  # E over e, given H
            if sigma == 0.0:
                assert np.mean(distances) < 1e-20
                continue
            # 300 draws of a chi-square-like sum of 4 terms: about 8% standard error
            assert np.mean(distances) == pytest.approx(np.mean(exact), rel=0.25)
            # and the large-N value: (H'H)^-1 is biased up at finite N, by about 25% at N = 64
            assert np.mean(exact) * samples / sigma**2 == pytest.approx(by_hand, rel=0.3 if samples == 64 else 0.1)


def test_gd_on_noisy_labels_ends_near_the_teacher_at_a_distance_growing_with_sigma():
    """The engine's GD reaches the empirical minimiser of the noisy set; its distance from the
    teacher grows like sigma (squared: like sigma^2), and is zero for clean labels."""
    samples = 128
    mean_sq = {}
    for sigma in (0.0, 0.25, 0.5):
        config = resolve_config(algorithm="gd", trials=40, epochs=10, iterations=400, samples=samples, seed=3,
                                label_noise=sigma, teacher="ones", k=4)  # fmt: skip
        result = run(config)
        w_star, a_star = config.teacher_arrays()
        near = result.basin() == 0
        assert near.sum() >= 20  # the ones teacher has no trapping basin worth the name
        d2 = np.sum((result.w[near] - w_star) ** 2, axis=1) + np.sum((result.a[near] - a_star) ** 2, axis=1)
        mean_sq[sigma] = d2.mean()
    assert mean_sq[0.0] < 1e-8
    assert mean_sq[0.5] / mean_sq[0.25] == pytest.approx(4.0, rel=0.3)


def test_sgd_on_fresh_overlapping_inputs_is_unbiased_for_the_population_gradient():
    """One step of SGD with batch B from the same starts as GD: the difference is the batch
    gradient's error times eta, mean zero and shrinking like 1 / sqrt(B) (patches cut wrongly, for
    example as if they did not overlap, would leave a bias that no batch size removes)."""
    base = dict(trials=64, epochs=1, iterations=1, stride=3, k=8, eta=0.1)
    gd = run(resolve_config(algorithm="gd", **base))
    spread = {}
    for batch in (256, 16384):
        sgd = run(resolve_config(algorithm="sgd", preset="paper", batch=batch, **base))
        diff = np.hstack([sgd.w - gd.w, sgd.a - gd.a])
        spread[batch] = np.sqrt(np.mean(diff**2))
        # the mean over 64 trials of each coordinate's error: within 4.5 standard errors of zero
        assert np.all(np.abs(diff.mean(axis=0)) < 4.5 * spread[batch] / np.sqrt(64))
    assert spread[256] / spread[16384] == pytest.approx(8.0, rel=0.3)


def test_gd_on_a_set_of_overlapping_inputs_matches_numpy():
    config = resolve_config(algorithm="gd", trials=4, epochs=1, iterations=15, samples=10, stride=2, seed=6,
                            checkpoint_every=5)  # fmt: skip
    result = run(config)
    w_star, a_star = config.teacher_arrays()
    w0 = pb.sample_sphere(4, 6, 6)
    a0 = pb.sample_ball(4, 8, config.resolved_start_radius(), 6)
    for i in range(4):
        Z, _ = training_data(10, w_star, a_star, seed=6, trial=i, stride=2)
        w, a = w0[i], a0[i]
        for _ in range(15):
            _, grad_w, grad_a = ref_sample_loss_grad(Z, w, a, w_star, a_star)
            x = w - 0.1 * (grad_w - (w @ grad_w) * w)
            w, a = x / np.linalg.norm(x), a - 0.1 * grad_a
        np.testing.assert_allclose(result.w[i], w, atol=1e-10)
        np.testing.assert_allclose(result.a[i], a, atol=1e-10)


@pytest.mark.parametrize(
    "overrides, name",
    [({"label_noise": 0.5}, "label_noise"), ({"samples": 8, "label_noise": -0.1}, "label_noise"),
     ({"samples": 8, "label_noise": float("nan")}, "label_noise"),
     ({"samples": 8, "label_noise": "loud"}, "label_noise")],
)  # fmt: skip
def test_bad_label_noise_is_refused_by_name(overrides, name):
    with pytest.raises(ValueError, match=name):
        resolve_config(algorithm="gd", **overrides)


def test_training_data_refuses_bad_arguments_by_name():
    with pytest.raises(ValueError, match="label_noise"):
        training_data(4, np.eye(6)[0], np.ones(3), label_noise=-1.0)
    with pytest.raises(ValueError, match="stride"):
        training_data(4, np.eye(6)[0], np.ones(3), stride=7)


@pytest.mark.parametrize("k, stride, batch", [(3, 2, 1), (8, 1, 4), (5, 4, 9), (4, 5, 19)])
def test_fresh_overlapping_batch_gradient_is_the_training_set_gradient_on_its_inputs(k, stride, batch):
    """The engine's lane-innermost gradient on fresh overlapping inputs, lane by lane: the loss
    and gradients NumPy computes on the very normals the lane drew (cut at the stride, labelled by
    the teacher), and bit for bit what the per-lane training-set kernel gives on those inputs (so
    the sums are taken in its order, tree folds over more than 8 samples included)."""
    from pgd_bench.model.data import FRESH_WORK_ROWS, empirical_loss_grad_lanes, fresh_batch_grad_lanes
    from pgd_bench.streams import PURPOSE_DYNAMICS, STATE_WORDS, fill_normal_lanes, stream_init_lanes

    p, n, seed = 6, 16, 11
    d = (k - 1) * stride + p
    rng = np.random.default_rng(k * 100 + batch)
    w_star = rng.standard_normal(p)
    w_star /= np.linalg.norm(w_star)
    a_star = rng.standard_normal(k)
    w = rng.standard_normal((p, n))
    a = rng.standard_normal((k, n))
    states = np.empty((STATE_WORDS, n), dtype=np.uint64)
    stream_init_lanes(states, np.uint64(seed), 0, PURPOSE_DYNAMICS)
    drawn = np.empty((batch * d, n))
    fill_normal_lanes(states.copy(), drawn)  # what the kernel will draw
    grad_w, grad_a, loss = np.empty((p, n)), np.empty((k, n)), np.empty(n)
    fresh = np.empty((batch * d, n))
    fresh_batch_grad_lanes(states, stride, w_star, a_star, fresh, w, a, grad_w, grad_a, np.empty((k * batch, n)),
                           np.empty((FRESH_WORK_ROWS * batch, n)), loss)  # fmt: skip
    np.testing.assert_array_equal(fresh, drawn)
    Z = np.empty((n, k * p, batch))  # the per-lane kernel's layout: each lane's samples innermost
    for l in range(n):
        X = drawn[:, l].reshape(batch, d)
        patches = X[:, np.arange(k)[:, None] * stride + np.arange(p)[None, :]]  # (batch, k, p)
        Z[l] = patches.reshape(batch, k * p).T
        ref_loss, ref_w, ref_a = ref_sample_loss_grad(patches, w[:, l], a[:, l], w_star, a_star)
        np.testing.assert_allclose(loss[l], ref_loss, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(grad_w[:, l], ref_w, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(grad_a[:, l], ref_a, rtol=1e-11, atol=1e-13)
    labels = np.empty((n, batch))
    for l in range(n):  # summed in the kernel's order, entry by entry and patch by patch from 0
        for b in range(batch):
            total = 0.0
            for j in range(k):
                pre = 0.0
                for i in range(p):
                    pre += Z[l, j * p + i, b] * w_star[i]
                total += a_star[j] * max(pre, 0.0)
            labels[l, b] = total
    lane_w, lane_a, lane_loss = np.empty((p, n)), np.empty((k, n)), np.empty(n)
    empirical_loss_grad_lanes(Z, labels, batch, w, a, lane_w, lane_a, np.empty((k + 1, batch)), np.empty(batch),
                              lane_loss)  # fmt: skip
    np.testing.assert_array_equal(loss, lane_loss)
    np.testing.assert_array_equal(grad_w, lane_w)
    np.testing.assert_array_equal(grad_a, lane_a)
