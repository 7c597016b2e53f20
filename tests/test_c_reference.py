"""The hand-written C engine of benchmarks/c_compare.py, an independent implementation of GD in the
same order of operations, ends every trial on the same bits as pgd_bench (skipped without a C
compiler). This is what makes the speed ratio the script prints a like-for-like comparison."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import c_compare  # noqa: E402

from pgd_bench.experiments import resolve_config, run  # noqa: E402


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


@pytest.mark.parametrize("case", ["pgd", "sgd"])
def test_c_noise_has_the_same_law_and_success(library, case):
    """P-GD's and SGD's C noise has other draws, the same law: success rates, and the mean squared
    distance of the final point from the global optimum, agree within sampling error (SGD's
    mini-batches built as pgd_bench builds them). P-GD at a constant radius 1 never settles: its
    final distances carry the noise's law."""
    config = c_compare.config_for(case, 512)
    ours = run(config)
    c = c_compare.run_c(library, config, threads=1)
    assert (ours.outcome == 2).sum() == 0 and (c.diverged_at >= 0).sum() == 0
    ours_rate, c_rate = np.mean(ours.outcome == 0), np.mean(c.global_since >= 0)
    spread = np.sqrt(2 * max(ours_rate * (1 - ours_rate), 1 / config.trials) / config.trials)
    assert abs(ours_rate - c_rate) < 4 * spread
    w_star, a_star = config.teacher_arrays()
    d_ours = np.sum((ours.w - w_star) ** 2, axis=1) + np.sum((ours.a - a_star) ** 2, axis=1)
    d_c = np.sum((c.w - w_star) ** 2, axis=1) + np.sum((c.a - a_star) ** 2, axis=1)
    se = np.sqrt(d_ours.var() / d_ours.size + d_c.var() / d_c.size)
    assert d_ours.mean() > 0.01 and abs(d_ours.mean() - d_c.mean()) < 4 * se
