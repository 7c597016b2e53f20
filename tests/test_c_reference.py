"""The hand-written C engine of benchmarks/c_compare.py, an independent implementation of GD, P-GD,
SGD and perturbed SGD in the same order of operations and with the same random streams, ends every
trial on the same bits as pgd_bench (skipped without a C compiler). This is what makes the speed
ratio the script prints a like-for-like comparison."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import c_compare  # noqa: E402

from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import run


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    if c_compare.compiler() is None:
        pytest.skip("no C compiler")
    return c_compare.build(tmp_path_factory.mktemp("c"))


@pytest.mark.parametrize("overrides", [dict(k=8, teacher="alternating"), dict(k=16, teacher="linspace", p=4)])
def test_c_gd_ends_on_pgd_benchs_bits(library, overrides):
    config = resolve_config(algorithm="gd", trials=100, epochs=3, iterations=200, seed=5, **overrides)
    ours = run(config)
    c = c_compare.run_c(library, config, threads=1)
    assert (c.diverged_at < 0).all() and (ours.outcome != 2).all()
    assert np.array_equal(c.w, ours.w) and np.array_equal(c.a, ours.a)
    assert np.array_equal(c.global_since, np.where(ours.outcome == 0, ours.entered_at, -1))
    # and both trap some trials: the comparison covers both basins, not one easy path
    assert 0 < np.sum(ours.outcome == 0) < config.trials


def test_c_skips_a_fixed_point_as_pgd_bench_does_with_the_bits_of_computing_it(library):
    """GD that reaches a fixed point: both engines count the rest of an epoch once the block's state
    maps onto itself; both end on the bits of the run that computes every iteration (a checkpoint at
    each)."""
    settings = dict(algorithm="gd", k=4, teacher="ones", trials=64, epochs=3, iterations=1000, seed=5)
    computing = run(resolve_config(**settings, checkpoint_every=1))
    dist = computing.records[:, :, 1:3].view(np.uint64)  # ||w - w*||, ||a - a*|| at every iteration
    assert np.all(dist[:, -500:] == dist[:, -1:])  # converged to the bit well before the end
    c = c_compare.run_c(library, resolve_config(**settings), threads=1)
    assert (c.diverged_at < 0).all()
    assert np.array_equal(c.w, computing.w) and np.array_equal(c.a, computing.a)
    assert np.array_equal(c.global_since, np.where(computing.outcome == 0, computing.entered_at, -1))


@pytest.mark.parametrize(
    "case,noise_on", [("pgd", "both"), ("pgd", "w"), ("pgd", "a"), ("sgd", "both"), ("psgd", "both")]
)
def test_c_noisy_algorithms_end_on_pgd_benchs_bits(library, case, noise_on):
    """P-GD, SGD and perturbed SGD in C draw the same streams (stream version 2: per-trial
    xoshiro256++, vectorised Box-Muller) and build SGD's batches as pgd_bench does, so every trial
    ends on the same bits, whichever C thread runs it (its streams are seeded by the global
    trial index)."""
    settings = {**c_compare.CASES[case], "epochs": 2, "iterations": 400, "noise_on": noise_on}
    settings.pop({"w": "rho_a", "a": "rho_w", "both": None}[noise_on], None)  # the side without noise
    config = resolve_config(**settings, trials=192, seed=3, checkpoint_every=800)
    ours = run(config)
    for threads in (1, 2):
        c = c_compare.run_c(library, config, threads=threads)
        assert np.array_equal(c.w, ours.w) and np.array_equal(c.a, ours.a)
        assert np.array_equal(c.diverged_at >= 0, ours.outcome == 2)
    # and the noise mattered: GD from the same starts ends elsewhere
    gd = run(resolve_config(algorithm="gd", eta=0.02, eta_decay=1.0, epochs=2, iterations=400, trials=192, seed=3,
                            checkpoint_every=800))  # fmt: skip
    assert not np.array_equal(gd.w, ours.w) and not np.array_equal(gd.a, ours.a)
