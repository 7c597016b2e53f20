"""asv benchmarks of the trial engine, its ratio to NumPy, start-up, and success rates."""

import functools

import numpy as np

from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import run

from .peer_jax import available as jax_available
from .peer_jax import jax_steps_per_second
from .peers import PEER_ALGORITHMS, compare, empirical_gd_compare, pgd_bench_seconds, stride_cost


@functools.cache
def _c_build():
    """``(folder, library)``: the C reference engine, compiled on first use into a temporary folder
    kept for the process (each build takes 1-2 s; the test suite runs the four parameters in one
    process, asv each benchmark in a process of its own)."""
    import tempfile
    from pathlib import Path

    from . import c_compare

    folder = tempfile.TemporaryDirectory()
    return folder, c_compare.build(Path(folder.name))


class Engine:
    params = list(PEER_ALGORITHMS)
    param_names = ["algorithm"]
    timeout = 300
    trials = 1000  # sizes as class attributes: tests/test_benchmarks.py runs each benchmark smaller
    repeats = 3

    def setup(self, algorithm):
        pgd_bench_seconds(algorithm, 1, 1)  # compile outside the timings

    def time_1000_trials_400_steps(self, algorithm):
        pgd_bench_seconds(algorithm, self.trials, 400)

    def track_trial_steps_per_second(self, algorithm):
        secs = []
        for _ in range(self.repeats):
            s, done = pgd_bench_seconds(algorithm, self.trials, 400)
            secs.append(done / s)
        return float(np.median(secs))

    track_trial_steps_per_second.unit = "trial-steps/s"

    def track_ratio_to_numpy(self, algorithm):
        ours, theirs = compare(algorithm, trials=self.trials, steps=100, repeats=self.repeats)
        return ours / theirs

    track_ratio_to_numpy.unit = "ratio"


class Overlap:
    """Overlapping patches (stride 3, p = 6, k = 8) against the poster's stride p, per trial-step."""

    params = ["gd", "pgd"]
    param_names = ["algorithm"]
    timeout = 300
    trials = 1000
    repeats = 3

    def setup(self, algorithm):
        pgd_bench_seconds(algorithm, 1, 1, 3)
        pgd_bench_seconds(algorithm, 1, 1)

    def track_ns_per_trial_step_stride_3(self, algorithm):
        return stride_cost(algorithm, trials=self.trials, repeats=self.repeats)[0]

    track_ns_per_trial_step_stride_3.unit = "ns"

    def track_ratio_stride_3_to_stride_p(self, algorithm):
        overlapping, plain = stride_cost(algorithm, trials=self.trials, repeats=self.repeats)
        return overlapping / plain

    track_ratio_stride_3_to_stride_p.unit = "ratio"


class RatioToJax:
    """pgd_bench over JAX (jit + vmap + scan); skipped where JAX is not installed."""

    params = list(PEER_ALGORITHMS)
    param_names = ["algorithm"]
    timeout = 600
    trials = 1000

    def setup(self, algorithm):
        if not jax_available():
            raise NotImplementedError("JAX is not installed: pip install .[peers]")
        pgd_bench_seconds(algorithm, 1, 1)

    def track_ratio_to_jax(self, algorithm):
        secs, done = pgd_bench_seconds(algorithm, self.trials, 100)
        jax_rate, _ = jax_steps_per_second(algorithm, trials=self.trials, steps=100, repeats=1)
        return (done / secs) / jax_rate

    track_ratio_to_jax.unit = "ratio"


class RatioToC:
    """pgd_bench's time per trial-step over the hand-written C engine's (benchmarks/c_compare.py),
    one thread, 512 trials x 8000 steps; skipped without a C compiler. Below 1: faster than C."""

    params = ["gd", "pgd", "sgd", "psgd"]
    param_names = ["algorithm"]
    timeout = 600
    trials = 512
    repeats = 3

    def setup(self, algorithm):
        import numba

        from . import c_compare

        if c_compare.compiler() is None:
            raise NotImplementedError("no C compiler")
        self.lib = _c_build()[1]
        self.config = c_compare.config_for(algorithm, self.trials)
        self.threads = numba.get_num_threads()
        numba.set_num_threads(1)
        run(self.config)  # compile outside the measurement

    def teardown(self, algorithm):
        import numba

        numba.set_num_threads(self.threads)

    def track_time_ratio_to_c(self, algorithm):
        from . import c_compare

        ours, theirs = [], []
        for _ in range(self.repeats):  # interleaved, so both see the same machine
            ours.append(run(self.config, warm=False).seconds)
            theirs.append(c_compare.run_c(self.lib, self.config, threads=1).seconds)
        return float(np.median(ours) / np.median(theirs))

    track_time_ratio_to_c.unit = "ratio"


class EmpiricalGradient:
    """GD on each trial's own training set of N = 256 inputs, 1000 trials: one empirical gradient
    per trial-step, O(N k p); against JAX (jit + vmap + scan, same starts, same data)."""

    timeout = 600
    trials = 1000
    repeats = 3

    def setup(self):
        if not jax_available():
            raise NotImplementedError("JAX is not installed: pip install .[peers]")

    def track_ratio_to_jax(self):
        ours, theirs, gap = empirical_gd_compare(trials=self.trials, samples=256, steps=50, repeats=self.repeats)
        if gap > 1e-8:
            raise AssertionError(f"pgd_bench and JAX disagree by {gap:.2e}: not the same computation")
        return ours / theirs

    track_ratio_to_jax.unit = "ratio"

    def track_trial_steps_per_second(self):
        config = resolve_config(algorithm="gd", preset="paper", trials=self.trials, epochs=1, iterations=50,
                                samples=256)  # fmt: skip
        run(config)
        return float(np.median([self.trials * 50 / run(config, warm=False).seconds for _ in range(self.repeats)]))

    track_trial_steps_per_second.unit = "trial-steps/s"


class SuccessRates:
    """Success percentages, tracked like scipy's optimize benchmarks track theirs."""

    params = list(PEER_ALGORITHMS)
    param_names = ["algorithm"]
    timeout = 300
    trials = 200

    def track_success_percent(self, algorithm):
        return 100.0 * run(resolve_config(algorithm=algorithm, trials=self.trials)).success_rate()

    track_success_percent.unit = "%"


def timeraw_import_and_first_run():
    # asv reads the timing from stdout, so the command's own output is swallowed
    return """
import contextlib, io
from pgd_bench.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["run", "--trials", "10", "--epochs", "1", "--iterations", "10"])
"""


def timeraw_cold_compile_of_the_engine():
    # what a new user's first run pays: the import, then the engine compiled into an empty kernel
    # cache (a fresh folder per sample), one trial of one step
    setup = """
import atexit, os, shutil, tempfile
cache = tempfile.mkdtemp(prefix="pgd-bench-asv-cold-")
atexit.register(shutil.rmtree, cache, True)
os.environ["PGD_BENCH_CACHE_DIR"] = cache
"""
    stmt = """
import pgd_bench as pb
pb.run(pb.resolve_config(algorithm="pgd", trials=1, epochs=1, iterations=1))
"""
    return stmt, setup


timeraw_cold_compile_of_the_engine.timeout = 600
timeraw_cold_compile_of_the_engine.repeat = 1
timeraw_cold_compile_of_the_engine.number = 1
