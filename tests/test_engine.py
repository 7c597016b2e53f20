"""The trial engine: reference trajectories, starts, outcomes, divergence, reproducibility."""

import numpy as np
import pytest
from reference import gd_trajectory
from threads import with_threads

import pgd_bench as pb
from pgd_bench import engine
from pgd_bench.engine import OUTCOME_NAMES
from pgd_bench.model.teachers import teacher_weights
from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import run


def test_starts_are_the_public_samplers_rows():
    config = resolve_config(algorithm="gd", trials=40, epochs=1, iterations=1, eta=1e-300, seed=17)
    result = run(config)
    radius = config.resolved_start_radius()
    assert radius == pytest.approx(abs(teacher_weights("alternating", 8).sum()) / np.sqrt(8))
    np.testing.assert_allclose(result.w, pb.sample_sphere(40, 6, 17), atol=1e-15)
    np.testing.assert_allclose(result.a, pb.sample_ball(40, 8, radius, 17), atol=1e-15)


def test_gd_matches_a_numpy_reference_and_classification():
    config = resolve_config(algorithm="gd", trials=12, epochs=3, iterations=200, seed=3, checkpoint_every=50)
    result = run(config)
    w_star, a_star = config.teacher_arrays()
    w_bar, a_bar = pb.spurious_optimum(w_star, a_star)
    w0 = pb.sample_sphere(12, 6, 3)
    a0 = pb.sample_ball(12, 8, config.resolved_start_radius(), 3)
    for i in range(12):
        w, a = gd_trajectory(w0[i], a0[i], w_star, a_star, 0.1, 0.1, 600)
        np.testing.assert_allclose(result.w[i], w, atol=1e-9)
        np.testing.assert_allclose(result.a[i], a, atol=1e-9)
        d_global = np.sum((w - w_star) ** 2) + np.sum((a - a_star) ** 2)
        d_spurious = np.sum((w - w_bar) ** 2) + np.sum((a - a_bar) ** 2)
        expected = "global" if d_global <= 1e-2 else "spurious" if d_spurious <= 1e-2 else "unconverged"
        assert OUTCOME_NAMES[result.outcome[i]] == expected
        # the last checkpoint records the final state
        assert result.records[i, -1, 1] == pytest.approx(np.linalg.norm(w - w_star), abs=1e-9)
        assert result.records[i, -1, 0] == pytest.approx(pb.population_loss(w, a, w_star, a_star), abs=1e-9)
        if expected != "unconverged":
            assert 1 <= result.entered_at[i] <= 600
    assert list(result.checkpoints) == [50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 550, 600]


def test_entered_at_is_when_the_trial_last_entered_the_ball():
    config = resolve_config(algorithm="gd", trials=30, epochs=1, iterations=2000, seed=1, checkpoint_every=1)
    result = run(config)
    for i in np.flatnonzero(result.outcome == 0):
        dist = result.records[i, :, 1] ** 2 + result.records[i, :, 2] ** 2
        inside = dist <= 1e-2
        t = result.entered_at[i]
        assert inside[t - 1 :].all() and (t == 1 or not inside[t - 2])


@pytest.mark.parametrize(
    "overrides",
    [
        dict(algorithm="gd", epochs=3, iterations=1000),
        # GD with momentum: the kept state includes the momentum, which decays through subnormal
        # numbers long after w and a have stopped moving
        dict(algorithm="gd", momentum=0.9, eta=0.5, scale_steps=True, epochs=26, iterations=1000, eta_decay=0.95),
        # a vanishing step in the middle epoch: w and a stop moving at once while the momentum still
        # changes, so a look that left the momentum out would skip too early (other bits after it)
        dict(
            algorithm="gd",
            momentum=0.3,
            epochs=3,
            iterations=700,
            eta_w_schedule=(0.5, 1e-30, 0.3),
            eta_a_schedule=(0.5, 1e-30, 0.3),
        ),
    ],
)
def test_an_epoch_that_reached_a_fixed_point_counts_its_iterations_with_the_same_bits(overrides):
    """Once an epoch without noise maps the block's state onto itself, the engine counts its
    remaining iterations instead of computing them, but at checkpoints. With a checkpoint at every
    iteration it computes them all: both runs must agree on every output, bit for bit."""
    settings = dict(overrides, k=4, teacher="ones", trials=16, seed=5, record_states=16)
    skipping = run(resolve_config(**settings))
    computing = run(resolve_config(**settings, checkpoint_every=1))
    # a fixed point is reached: the recorded states stop changing for 500 iterations or more
    states = computing.states.view(np.uint64)
    unchanged = np.all(states[:, 1:] == states[:, :-1], axis=(0, 2))
    assert np.convolve(unchanged, np.ones(500), mode="valid").max() == 500 and not unchanged.all()
    for name in ("w", "a", "outcome", "stop_iteration", "entered_at", "train_loss"):
        assert getattr(skipping, name).tobytes() == getattr(computing, name).tobytes(), name
    at = skipping.checkpoints - 1  # the every-iteration run's index of each checkpoint
    assert skipping.records.tobytes() == computing.records[:, at].tobytes()
    assert skipping.states.tobytes() == computing.states[:, at].tobytes()


def test_divergence_is_detected_counted_and_stops_the_trial():
    result = run(resolve_config(algorithm="pgd", preset="paper", trials=50))
    counts = result.counts()
    assert counts["diverged"] == 50
    diverged_at = result.stop_iteration
    assert np.all(diverged_at < 100)
    # checkpoints after divergence hold NaN, the final state the last finite iterate
    assert np.isnan(result.records[:, -1]).all()
    assert result.success_rate() == 0.0


def test_a_bound_counts_as_divergence():
    # eta = 1 is far past GD's stability limit at k = 32: ||a|| grows geometrically, and the trial
    # is stopped when it passes the bound, while its state is still finite
    result = run(
        resolve_config(algorithm="gd", trials=20, epochs=1, iterations=50, eta=1.0, a_bound=100.0, k=32, teacher="ones")
    )
    assert result.counts()["diverged"] == 20
    norms = np.linalg.norm(result.a, axis=1)
    assert np.all(np.isfinite(norms)) and np.all(norms > 100.0)


@pytest.mark.parametrize("algorithm", ["gd", "sgd", "pgd", "psgd"])
def test_results_do_not_depend_on_chunking(algorithm):
    config = resolve_config(algorithm=algorithm, trials=37, epochs=2, iterations=30)
    whole = run(config, chunk_size=1000)
    pieces = run(config, chunk_size=5)
    assert whole.final_state_sha256() == pieces.final_state_sha256()
    np.testing.assert_array_equal(whole.outcome, pieces.outcome)
    np.testing.assert_array_equal(whole.records, pieces.records)


@pytest.mark.parametrize("threads", [1, 2])
def test_progress_rises_to_the_total_as_blocks_finish(threads):
    reports = []
    config = resolve_config(algorithm="gd", trials=300, epochs=1, iterations=5)
    with_threads(threads, run, config, chunk_size=200, progress=lambda done, total: reports.append((done, total)))
    done = [d for d, _ in reports]
    assert {t for _, t in reports} == {300}
    assert done == sorted(done) and done[-1] == 300
    assert 200 in done  # the end of the first chunk (blocks of 64: 200 is no block boundary)
    # reports come as blocks finish (several at once when they finish faster than this thread
    # wakes, in any order across threads): each is a chunk's start plus the sizes of some of its
    # blocks (chunks of 200 and 100 trials: blocks of 64, 64, 64, 8 and 64, 36)
    from itertools import combinations

    def sums(sizes):
        return {sum(c) for r in range(1, len(sizes) + 1) for c in combinations(sizes, r)}

    assert set(done) <= sums([64, 64, 64, 8]) | {200 + x for x in sums([64, 36])}


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("threads", [1, 2])
def test_an_interrupt_stops_new_blocks_and_leaves_the_threads_reusable(threads):
    config = resolve_config(algorithm="gd", trials=64 * 20, epochs=1, iterations=300)
    clean = with_threads(threads, run, config)

    def interrupt(done, total):
        raise _Interrupt  # as Ctrl-C would, in the calling thread after the first block

    with pytest.raises(_Interrupt):
        with_threads(threads, run, config, progress=interrupt)
    # the threads were told to stop and were waited for: a run on the same pool right after
    # gives the clean run's bits (a block still running would write into nothing, but a thread
    # still taking blocks would delay or share this run's work)
    again = with_threads(threads, run, config)
    assert again.final_state_sha256() == clean.final_state_sha256()


def test_an_interrupt_leaves_the_blocks_not_started_unwritten(monkeypatch):
    from pgd_bench import engine
    from pgd_bench.runs.execute import allocate_outputs, engine_inputs, thread_pool

    config = resolve_config(algorithm="gd", trials=64 * 20, epochs=1, iterations=3000)
    problem, schedule, options = engine_inputs(config)
    outputs = allocate_outputs(config)
    first_block = engine.Outputs(*(x[:64] for x in outputs))
    engine.run_trials(0, problem, schedule, options, first_block)  # compile or load outside the test

    def interrupt(done):
        raise _Interrupt

    outputs.outcome[:] = -1
    monkeypatch.setattr(engine, "PROGRESS_INTERVAL", 0.001)  # the first report after about 1 ms
    with pytest.raises(_Interrupt):
        engine.run_trials(0, problem, schedule, options, outputs, executor=thread_pool(2), threads=2,
                          progress=interrupt)  # fmt: skip
    written_blocks = int(np.sum(outputs.outcome.reshape(20, 64)[:, 0] >= 0))
    # the blocks the two threads ran until they saw the stop (blocks take milliseconds), never all 20
    assert 1 <= written_blocks < 20


SHORT_BLOCK_CASES = [dict(algorithm="psgd"), dict(algorithm="gd"), dict(algorithm="langevin"),
                     dict(algorithm="pgd", stride=3), dict(algorithm="sgd", momentum=0.5)]  # fmt: skip


@pytest.mark.parametrize("overrides", SHORT_BLOCK_CASES)
def test_trial_i_does_not_depend_on_the_number_of_trials(overrides):
    """Nor on the lanes of its block: 5 trials run in a block of 8 lanes, the first 5 of 70 in one
    of 64 (a short block runs only the lanes it needs, in whole 8-lane vectors)."""
    small = run(resolve_config(**overrides, trials=5, epochs=2, iterations=40))
    big = run(resolve_config(**overrides, trials=70, epochs=2, iterations=40))
    for name in ("w", "a", "outcome", "entered_at", "records"):
        np.testing.assert_array_equal(getattr(small, name), getattr(big, name)[:5])


def test_gd_trap_rate_is_in_the_theoretical_range_and_ones_teacher_succeeds():
    alternating = run(resolve_config(algorithm="gd", trials=400))
    assert 0.25 <= alternating.success_rate() <= 0.75
    ones = run(resolve_config(algorithm="gd", trials=200, teacher="ones"))
    assert ones.success_rate() >= 0.99


def test_gaussian_noise_law_and_noise_targets_change_the_run():
    results = {}
    for law in ("ball", "gaussian"):
        for target in ("both", "w", "a"):
            config = resolve_config(algorithm="pgd", trials=8, epochs=2, iterations=20, noise_law=law, noise_on=target)
            results[(law, target)] = run(config).final_state_sha256()
    assert len(set(results.values())) == 6
    sched = resolve_config(algorithm="pgd", noise_on="w").schedules()
    assert np.all(sched["rho_a"] == 0) and np.all(sched["rho_w"] > 0)


def test_schedules_decay_geometrically_and_accept_lists():
    config = resolve_config(algorithm="pgd", preset="paper")
    sched = config.schedules()
    np.testing.assert_allclose(sched["eta_w"], 0.1 * 0.8 ** np.arange(20))
    np.testing.assert_allclose(sched["rho_w"], 36 * 0.4 ** np.arange(20))
    explicit = resolve_config(algorithm="pgd", epochs=3, rho_w_schedule=[3, 2, 1]).schedules()
    np.testing.assert_array_equal(explicit["rho_w"], [3, 2, 1])
    with pytest.raises(ValueError, match="rho_w_schedule"):
        resolve_config(algorithm="pgd", epochs=3, rho_w_schedule=[3, 2])


@pytest.mark.parametrize(
    "overrides,name",
    [
        (dict(algorithm="adam"), "algorithm"),
        (dict(teacher="zeros"), "teacher"),
        (dict(k=3, a_star=[1.0, 2.0]), "a_star"),
        (dict(trials=0), "trials"),
        (dict(algorithm="gd", rho_w=1.0), "rho_w"),
        (dict(algorithm="pgd", batch=4), "batch"),
        (dict(algorithm="pgd", rho_w=-1.0), "rho_w"),
        (dict(k=2, a_star=[1.0, -1.0]), "start_radius"),
        (dict(start_radius=0.0), "start_radius"),
        (dict(bogus=1), "config"),
        (dict(eta=0.0), "eta:"),  # named as given, not as the step sizes it sets
    ],
)
def test_bad_configs_raise_value_errors_naming_the_key(overrides, name):
    with pytest.raises(ValueError, match=rf"^{name}"):
        resolve_config(**overrides)


def test_trials_that_reach_neither_optimum_are_unconverged():
    config = resolve_config(algorithm="gd", trials=50, epochs=1, iterations=1, eta=1e-300)
    result = run(config)
    w_star, a_star = config.teacher_arrays()
    w_bar, a_bar = pb.spurious_optimum(w_star, a_star)
    d_global = ((result.w - w_star) ** 2).sum(1) + ((result.a - a_star) ** 2).sum(1)
    d_spurious = ((result.w - w_bar) ** 2).sum(1) + ((result.a - a_bar) ** 2).sum(1)
    expected = np.where(d_global <= 1e-2, 0, np.where(d_spurious <= 1e-2, 1, 3))
    np.testing.assert_array_equal(result.outcome, expected)
    assert (expected == 3).all()  # random starts are far from both optima
    assert (result.entered_at == -1).all()


def test_a_trial_started_in_the_tol_ball_counts_as_converged_at_once():
    # p = 1: the sphere is {-1, +1}, so w never moves and starts at w* or at -w* (the spurious
    # side); with a* and the start ball of a tiny, every trial is inside the tolerance ball of
    # the optimum on its side from the first iteration on
    result = run(
        resolve_config(
            algorithm="gd", p=1, k=2, a_star=[0.01, 0.02], start_radius=0.01, trials=40, epochs=1, iterations=5, tol=0.5
        )
    )
    on_global_side = result.w[:, 0] > 0
    assert 0 < on_global_side.sum() < 40
    np.testing.assert_array_equal(result.outcome, np.where(on_global_side, 0, 1))
    assert (result.entered_at == 1).all()


def test_basins_are_the_nearer_optimum_and_count_trapped_runs_that_never_entered_tol():
    # SGD with a very small constant step hovers near whichever optimum it fell towards: the
    # spurious ones are counted unconverged by the tolerance, but trapped by the basin
    result = run(resolve_config(algorithm="sgd", preset="paper", eta=0.01, eta_decay=1.0, trials=120))
    w_star, a_star = result.config.teacher_arrays()
    w_bar, a_bar = pb.spurious_optimum(w_star, a_star)
    d_global = ((result.w - w_star) ** 2).sum(1) + ((result.a - a_star) ** 2).sum(1)
    d_spurious = ((result.w - w_bar) ** 2).sum(1) + ((result.a - a_bar) ** 2).sum(1)
    expected = np.where(d_global <= d_spurious, "global", "spurious")
    names = np.array(["global", "spurious", "diverged"])[result.basin()]
    np.testing.assert_array_equal(names, expected)
    counts, basins = result.counts(), result.basins()
    assert counts["spurious"] == 0 and basins["spurious"] > 10 and counts["unconverged"] >= basins["spurious"]
    assert sum(basins.values()) == 120 and result.summary()["basins"] == basins
    # within tol of an optimum implies that optimum's basin
    assert np.all(names[result.outcome == 0] == "global")
    diverged = run(resolve_config(algorithm="pgd", preset="paper", trials=10))
    assert diverged.basins() == {"global": 0, "spurious": 0, "diverged": 10}


def test_polish_epochs_append_noise_free_epochs_at_the_last_step_sizes():
    from pgd_bench.engine import RECORD_FIELDS

    base = dict(algorithm="pgd", trials=24, epochs=3, iterations=40, seed=2, checkpoint_every=20)
    plain = run(resolve_config(**base))
    polished_config = resolve_config(**base, polish_epochs=2)
    sched = polished_config.schedules()
    assert sched["eta_w"].size == 5 and sched["eta_w"][3] == sched["eta_w"][4] == sched["eta_w"][2]
    assert np.all(sched["rho_w"][3:] == 0) and np.all(sched["rho_a"][3:] == 0) and np.all(sched["rho_w"][:3] > 0)
    polished = run(polished_config)
    assert polished.stop_iteration.max() == 200
    # the noisy part is the same run, bit for bit; the polish steps see the exact gradient (no noise)
    n = plain.checkpoints.size
    np.testing.assert_array_equal(polished.records[:, :n], plain.records)
    assert np.all(polished.records[:, n:, RECORD_FIELDS.index("noise")] == 0.0)
    assert np.all(plain.records[:, -1, RECORD_FIELDS.index("noise")] > 0.0)


@pytest.mark.parametrize("value", [-1, 1.5, "two"])
def test_bad_polish_epochs_are_refused(value):
    with pytest.raises(ValueError, match="polish_epochs"):
        resolve_config(algorithm="pgd", polish_epochs=value)


def test_recorded_states_are_the_first_trials_at_every_checkpoint_whatever_the_chunks():
    config = resolve_config(algorithm="pgd", trials=70, epochs=2, iterations=30, checkpoint_every=10,
                            record_states=12, seed=5)  # fmt: skip
    whole = run(config)
    chunked = run(config, chunk_size=5)
    assert whole.states.shape == (12, whole.checkpoints.size, 6 + 8)
    np.testing.assert_array_equal(whole.states, chunked.states)
    w_star, a_star = config.teacher_arrays()
    np.testing.assert_array_equal(whole.states[:, -1, :6], whole.w[:12])
    np.testing.assert_array_equal(whole.states[:, -1, 6:], whole.a[:12])
    dist_w = np.linalg.norm(whole.states[:, :, :6] - w_star, axis=2)
    np.testing.assert_allclose(dist_w, whole.records[:12, :, 1], rtol=1e-12)
    assert run(resolve_config(algorithm="gd", trials=3, epochs=1, iterations=5)).states.shape == (0, 1, 14)
    with pytest.raises(ValueError, match="record_states"):
        resolve_config(algorithm="gd", record_states=-2)


@pytest.mark.parametrize("samples", [1024, 2048])
def test_data_lanes_keep_a_blocks_sets_within_the_cache_budget(samples):
    from pgd_bench.model.data import DATA_BLOCK_BYTES, DATA_LANES, data_lanes

    for kp in (6, 48, 96, 300):
        lanes = data_lanes(samples, kp)
        per_set = 8 * samples * (kp + 1)
        assert 1 <= lanes <= DATA_LANES
        # as many as fit, never more (unless one set alone is larger)
        assert lanes * per_set <= DATA_BLOCK_BYTES or lanes == 1
        assert lanes == DATA_LANES or (lanes + 1) * per_set > DATA_BLOCK_BYTES
    assert data_lanes(64, 48) == DATA_LANES


@pytest.mark.parametrize(
    "overrides",
    [dict(algorithm="pgd"), dict(algorithm="langevin", label_noise=1.0), dict(algorithm="sgd"),
     dict(algorithm="gd", shared_data=True), dict(algorithm="pgd", stride=3)],
)  # fmt: skip
def test_a_training_set_block_of_fewer_trials_gives_the_same_bits(monkeypatch, overrides):
    """At N = 1024 a block holds 2 trials' sets (data_lanes), not 8 as before: each trial's results
    are the same bits either way, whatever its place in its block."""
    config = resolve_config(**overrides, samples=1024, trials=11, epochs=2, iterations=30, checkpoint_every=10,
                            record_states=3)  # fmt: skip
    assert engine.data_lanes(config.samples, config.k * config.p) < 8
    cached = run(config)
    monkeypatch.setattr(engine, "data_lanes", lambda samples, kp: 8)
    eight = run(config)
    assert cached.final_state_sha256() == eight.final_state_sha256()
    for name in ("outcome", "entered_at", "stop_iteration", "records", "train_loss", "states"):
        np.testing.assert_array_equal(getattr(cached, name), getattr(eight, name))


def test_a_block_whose_trials_all_diverge_leaves_no_unwritten_state():
    """The block stops once its trials have all diverged: the checkpoints it never reached hold NaN
    in the recorded states as in the records (they held whatever memory was there)."""
    config = resolve_config(algorithm="gd", trials=5, epochs=3, iterations=200, eta=5.0, checkpoint_every=20,
                            record_states=5)  # fmt: skip
    result = run(config)
    assert result.counts()["diverged"] == 5
    assert int(result.stop_iteration.max()) < 20  # so every checkpoint comes after the stop
    assert np.isnan(result.states).all() and np.isnan(result.records).all()


def test_cells_run_together_take_the_longest_blocks_first_and_keep_each_cells_bits(monkeypatch):
    """run_together shares the blocks of several cells between the threads, longest first (a long
    block taken last ran alone while the other threads idled): each cell's results are the same
    bits as its run alone, and the blocks are taken in decreasing block_cost."""
    from pgd_bench.runs.config import engine_inputs
    from pgd_bench.runs.execute import run_together

    configs = [resolve_config(algorithm="gd", k=4, trials=70, epochs=2, iterations=40, checkpoint_every=20),
               resolve_config(algorithm="psgd", k=16, trials=9, epochs=2, iterations=40, checkpoint_every=20),
               resolve_config(algorithm="pgd", k=8, trials=20, samples=64, epochs=2, iterations=40,
                              checkpoint_every=20, record_states=3)]  # fmt: skip
    taken = []
    real_block_kernel = engine.block_kernel

    def recording_kernel(params_type):
        block = real_block_kernel(params_type)

        def record(first_trial, count, row0, problem, schedule, *rest):
            taken.append(engine.block_cost(problem, schedule, rest[:6], count))
            return block(first_trial, count, row0, problem, schedule, *rest)

        return record

    monkeypatch.setattr(engine, "block_kernel", recording_kernel)
    together = with_threads(1, lambda: run_together(configs))
    monkeypatch.undo()
    assert len(taken) == 2 + 1 + 3 and taken == sorted(taken, reverse=True)
    # perturbed SGD's batches at k = 16 cost more per step than GD's population gradient at k = 4
    costs = [engine.block_cost(*engine_inputs(config), 8) for config in configs]
    assert costs[1] > costs[0]
    for config, result in zip(configs, together):
        alone = run(config)
        assert result.final_state_sha256() == alone.final_state_sha256()
        for name in ("outcome", "entered_at", "stop_iteration", "records", "train_loss", "states"):
            np.testing.assert_array_equal(getattr(result, name), getattr(alone, name))
