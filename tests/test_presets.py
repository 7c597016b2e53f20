"""Every tuned default keeps its promise: the success rate the README states, no divergence."""

import pytest

from pgd_bench.algorithms import ALGORITHMS
from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import run
from pgd_bench.stats import wilson_interval

PROMISED = {name: a.promised_success for name, a in ALGORITHMS.items() if a.promised_success is not None}


@pytest.mark.parametrize("algorithm", sorted(PROMISED))
@pytest.mark.parametrize("teacher,k", [("alternating", 8), ("ones", 4)])
def test_each_default_preset_reaches_its_promised_success_on_a_small_cell(algorithm, teacher, k):
    config = resolve_config(algorithm=algorithm, teacher=teacher, k=k, trials=128, checkpoint_every=10**6)
    assert config.preset == ALGORITHMS[algorithm].default_preset
    result = run(config)
    counts = result.counts()
    assert counts["diverged"] == 0, counts
    # the promise holds unless the run says, at 95% confidence, that the rate is below it
    low, high = wilson_interval(counts["global"], config.trials)
    assert high >= PROMISED[algorithm], (counts, (low, high))
