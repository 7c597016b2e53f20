"""Every tuned default keeps its promise: the success rate the README states, no divergence."""

import pytest

from pgd_bench.experiments import DEFAULT_PRESET, PROMISED_SUCCESS, resolve_config, run
from pgd_bench.stats import wilson_interval


@pytest.mark.parametrize("algorithm", sorted(PROMISED_SUCCESS))
@pytest.mark.parametrize("teacher,k", [("alternating", 8), ("ones", 4)])
def test_each_default_preset_reaches_its_promised_success_on_a_small_cell(algorithm, teacher, k):
    config = resolve_config(algorithm=algorithm, teacher=teacher, k=k, trials=128, checkpoint_every=10**6)
    assert config.preset == DEFAULT_PRESET[algorithm] == "tuned"
    result = run(config)
    counts = result.counts()
    assert counts["diverged"] == 0, counts
    # the promise holds unless the run says, at 95% confidence, that the rate is below it
    low, high = wilson_interval(counts["global"], config.trials)
    assert high >= PROMISED_SUCCESS[algorithm], (counts, (low, high))
