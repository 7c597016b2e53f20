"""Report section: the tuned presets on teachers they were never tuned on (out of sample).

Each tuned preset promises a success rate (``Algorithm.promised_success``). The presets were
chosen on the four teacher families of figure 1 at seed 0, so figure 1's rates are in-sample in
their teachers (and, at seed 0, in their trials: :func:`~pgd_bench.report.shared.figure_1_sample_note`);
here the same presets run unchanged on :data:`pgd_bench.algorithms.HELD_OUT_TEACHERS`, gaussian
teachers with seeds the tuning never used and a few hand-written ones, and each cell's promise is
checked with its Wilson interval.
"""

from __future__ import annotations

from ...algorithms import ALGORITHMS, HELD_OUT_TEACHERS
from ...stats import wilson_interval
from ..context import Answer, Context, Section, graded, success_ci
from ..shared import FULL, figure_1_sample_note, misses_parts, unconverged_nearer_spurious

PROMISING = tuple(name for name, algorithm in ALGORITHMS.items() if algorithm.promised_success is not None)


def held_out_teachers(per_k: int) -> tuple[dict, ...]:
    """The held-out set at a run's size: ``per_k`` gaussian teachers per ``k`` and every
    hand-written one (in :data:`HELD_OUT_TEACHERS`' order)."""
    chosen, seen = [], {}
    for teacher in HELD_OUT_TEACHERS:
        if teacher.get("teacher") == "gaussian":
            seen[teacher["k"]] = seen.get(teacher["k"], 0) + 1
            if seen[teacher["k"]] > per_k:
                continue
        chosen.append(teacher)
    return tuple(chosen)


def teacher_name(teacher: dict) -> str:
    """A held-out teacher as a table names it: ``gaussian, seed 101`` or its ``a*``."""
    if "a_star" in teacher:
        return "a* = " + ", ".join(f"{v:.3g}" for v in teacher["a_star"])
    return f"{teacher['teacher']}, teacher seed {teacher['teacher_seed']}"


def out_of_sample(ctx: Context) -> Section:
    scale = ctx.scale
    teachers = held_out_teachers(scale.held_out_per_k)
    cells = [((index, name), scale.end_config(algorithm=name, trials=scale.held_out_trials, **teacher))
             for index, teacher in enumerate(teachers) for name in PROMISING]  # fmt: skip
    results = ctx.cells("out of sample", cells)

    header = " | ".join(f"{ALGORITHMS[name].label} (promises {100 * ALGORITHMS[name].promised_success:g}%)"
                        for name in PROMISING)  # fmt: skip
    rows = [f"| k | teacher | {header} |", "|---|---|" + "---|" * len(PROMISING)]
    broken = {name: [] for name in PROMISING}  # cells whose interval lies below the promise
    pooled = {name: [0, 0] for name in PROMISING}
    failures = {name: {"spurious": 0, "diverged": 0, "unconverged": 0} for name in PROMISING}
    nearer_spurious = dict.fromkeys(PROMISING, 0)  # of the unconverged (the CNN knows its spurious optimum)
    for index, teacher in enumerate(teachers):
        texts = []
        for name in PROMISING:
            result = results[(index, name)]
            rate, low, high = success_ci(result)
            counts = result.counts()
            pooled[name][0] += counts["global"]
            pooled[name][1] += result.outcome.size
            for outcome in failures[name]:
                failures[name][outcome] += counts[outcome]
            nearer_spurious[name] += unconverged_nearer_spurious(result) or 0
            below = high < ALGORITHMS[name].promised_success
            if below:
                broken[name].append(index)
            texts.append(("**below:** " if below else "") + f"{100 * rate:.1f}% [{100 * low:.1f}, {100 * high:.1f}]")
        rows.append(f"| {teacher['k']} | {teacher_name(teacher)} | " + " | ".join(texts) + " |")

    summary, answers = [], []
    for name in PROMISING:
        algorithm = ALGORITHMS[name]
        hits, total = pooled[name]
        low, high = wilson_interval(hits, total)
        misses = ", ".join(misses_parts(failures[name], nearer_spurious[name])) or "none missed"
        verdict = graded(not broken[name], high >= algorithm.promised_success)
        summary.append(
            f"- **{algorithm.label}** (promises {100 * algorithm.promised_success:g}%): {100 * hits / total:.2f}% "
            f"[{100 * low:.2f}, {100 * high:.2f}] over all {total} trials; missed: {misses}; the interval lies below "
            f"the promise in {len(broken[name])} of {len(teachers)} teachers: **{verdict}**."
        )
        answers.append(Answer(
            f"{algorithm.label}'s tuned preset keeps its promise ({100 * algorithm.promised_success:g}%) on teachers "
            "it was not tuned on",
            f"{100 * hits / total:.2f}% [{100 * low:.2f}, {100 * high:.2f}] over {len(teachers)} held-out teachers; "
            f"{len(broken[name])} below the promise",
            verdict,
        ))  # fmt: skip
    sized = ""
    if ctx.quick:
        sized = (f" Quick-sized: {scale.held_out_per_k} gaussian teacher per k and {scale.held_out_trials} trials "
                 f"per cell (the full run: {FULL.held_out_per_k} per k, {FULL.held_out_trials} trials); a promise "
                 f"is only rejected where a cell's interval lies wholly below it, which {scale.held_out_trials} trials "
                 "can show only for large shortfalls.")  # fmt: skip
    gaussian = [t for t in teachers if t.get("teacher") == "gaussian"]
    seeds = ", ".join(str(s) for s in sorted({t["teacher_seed"] for t in gaussian}))
    ks = ", ".join(str(k) for k in sorted({t["k"] for t in gaussian}))
    hand = len(teachers) - len(gaussian)
    text = f"""The tuned presets were chosen on the four teacher families of figure 1 (the gaussian one with teacher
seed 0) at seed 0, {figure_1_sample_note(scale.seed)}. Here each preset runs unchanged on teachers
the tuning never saw: gaussian teachers with teacher seeds {seeds} at k = {ks}, and {hand} hand-written ones
(`pgd_bench.algorithms.HELD_OUT_TEACHERS`; seed {scale.seed},
{scale.held_out_trials} trials per cell, 95% Wilson intervals). A preset keeps its promise in a cell unless
the cell's interval lies wholly below it (marked **below**). Verdicts: *holds* where no cell is below its
promise, *holds partly* where some is but the interval of all the preset's trials pooled still reaches it.{sized}

{chr(10).join(summary)}

{chr(10).join(rows)}
"""
    return Section("Out of sample: the tuned presets on held-out teachers", text, (), {"results": results},
                   tuple(answers))  # fmt: skip
