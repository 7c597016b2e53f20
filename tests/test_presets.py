"""Every tuned default keeps its promise: the success rate the README states, no divergence."""

import pytest

from pgd_bench.algorithms import ALGORITHMS, HELD_OUT_TEACHERS
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


# out of sample: teachers the tuning never saw (a gaussian one, and a hand-written one whose a* spans
# three orders of magnitude), at a seed the tuning never used
HELD_OUT = [HELD_OUT_TEACHERS[9], HELD_OUT_TEACHERS[20]]


@pytest.mark.parametrize("algorithm", sorted(PROMISED))
@pytest.mark.parametrize("teacher", HELD_OUT, ids=["gaussian-k10-seed102", "geometric-k10"])
def test_each_default_preset_keeps_its_promise_on_held_out_teachers(algorithm, teacher):
    config = resolve_config(algorithm=algorithm, trials=128, seed=5, checkpoint_every=10**6, **teacher)
    counts = run(config).counts()
    assert counts["diverged"] == 0, counts
    low, high = wilson_interval(counts["global"], config.trials)
    assert high >= PROMISED[algorithm], (counts, (low, high))


def test_the_held_out_teachers_are_not_the_ones_tuned_on():
    """The tuning used the four families of figure 1, the gaussian one with teacher seed 0."""
    from pgd_bench.model.teachers import TEACHERS as FIGURE1_TEACHERS
    from pgd_bench.report.sections.held_out import held_out_teachers

    def a_star(**teacher):
        return tuple(resolve_config(**teacher).teacher_arrays()[1])

    tuned_on = {a_star(teacher=t, k=k) for t in FIGURE1_TEACHERS for k in (4, 8, 10, 16, 32)}
    held_out = {a_star(**t) for t in HELD_OUT_TEACHERS}
    assert len(held_out) == len(HELD_OUT_TEACHERS) and not held_out & tuned_on
    # a quick run takes per_k gaussian teachers of each k, and every hand-written one
    quick = held_out_teachers(1)
    assert sorted(t["k"] for t in quick if "teacher" in t) == [4, 8, 10, 16, 32]
    assert len(quick) == 5 + sum("a_star" in t for t in HELD_OUT_TEACHERS)
    assert held_out_teachers(4) == HELD_OUT_TEACHERS
