"""asv benchmarks of the compiled kernels: batch forward/backward and random streams.

Compilation happens in ``setup`` so it never enters a timing.
"""

import numpy as np

import pgd_bench as pb

from .peers import normals_per_second


def _teacher(p=6, k=8):
    w_star = np.zeros(p)
    w_star[0] = 1.0
    a_star = np.array([(-1.0) ** j + 0.1 for j in range(k)])
    return w_star, a_star


class SampleLossGrad:
    params = [100_000, 1_000_000]
    param_names = ["n"]
    timeout = 120

    def setup(self, n):
        rng = np.random.default_rng(0)
        self.w_star, self.a_star = _teacher()
        self.Z = rng.standard_normal((n, 8, 6))
        self.w = rng.standard_normal(6)
        self.w /= np.linalg.norm(self.w)
        self.a = rng.standard_normal(8)
        pb.sample_loss_grad(self.Z[:10], self.w, self.a, self.w_star, self.a_star)  # compile

    def time_sample_loss_grad(self, n):
        pb.sample_loss_grad(self.Z, self.w, self.a, self.w_star, self.a_star)

    def track_samples_per_second(self, n):
        from timeit import default_timer

        times = []
        for _ in range(5):
            start = default_timer()
            pb.sample_loss_grad(self.Z, self.w, self.a, self.w_star, self.a_star)
            times.append(default_timer() - start)
        return n / float(np.median(times))

    track_samples_per_second.unit = "samples/s"

    def track_fraction_of_read_bandwidth(self, n):
        """Bytes of Z per second through the kernel over bytes per second of ``Z.sum()``."""
        from timeit import default_timer

        kernel, reference = [], []
        for _ in range(5):
            start = default_timer()
            pb.sample_loss_grad(self.Z, self.w, self.a, self.w_star, self.a_star)
            kernel.append(default_timer() - start)
            start = default_timer()
            self.Z.sum()
            reference.append(default_timer() - start)
        return float(np.median(reference) / np.median(kernel))

    track_fraction_of_read_bandwidth.unit = "fraction"


class RandomStreams:
    params = [1_000_000]
    param_names = ["n"]

    def setup(self, n):
        pb.sample_ball(10, 6, 1.0, 0)  # compile
        pb.sample_normal(10, 8, 0)

    def time_sample_ball(self, n):
        pb.sample_ball(n, 6, 1.0, 0)

    def track_ball_draws_per_second(self, n):
        from timeit import default_timer

        times = []
        for _ in range(5):
            start = default_timer()
            pb.sample_ball(n, 6, 1.0, 0)
            times.append(default_timer() - start)
        return n / float(np.median(times))

    track_ball_draws_per_second.unit = "draws/s"

    def track_normals_per_second_vs_numpy(self, n):
        """``sample_normal`` (a stream per 8-normal row, a new array) over ``standard_normal(n)``."""
        from timeit import default_timer

        rng = np.random.default_rng(0)
        ours, numpy_times = [], []
        for _ in range(5):
            start = default_timer()
            pb.sample_normal(n // 8, 8, 0)
            ours.append(default_timer() - start)
            start = default_timer()
            rng.standard_normal(n)
            numpy_times.append(default_timer() - start)
        return float(np.median(numpy_times) / np.median(ours))

    track_normals_per_second_vs_numpy.unit = "ratio"

    def track_lane_normals_per_second_vs_numpy(self, n):
        """The engine's sampler (64 streams side by side) into a warm buffer over
        ``standard_normal(out=...)``, one thread each."""
        ours, theirs = normals_per_second(n)
        return ours / theirs

    track_lane_normals_per_second_vs_numpy.unit = "ratio"
