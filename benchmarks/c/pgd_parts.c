/* The two kernels of a GD step of benchmarks/c/pgd_reference.c, timed alone, for
 * benchmarks/profile_engine.py: the closed-form gradient and the sphere step on one block of BLOCK
 * trials, called `times` times on the same buffers, as the profile calls pgd_bench's. Each returns
 * nanoseconds per trial and call. */
#include "pgd_reference.c"

#include <time.h>

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

double gradient_ns(int p, int k, const double *w, const double *a, const double *w_star, const double *a_star,
                   double *gw, double *ga, long times) {
    Scratch t;
    double norm_s = 0.0, s_star = 0.0;
    for (int i = 0; i < p; i++) norm_s += w_star[i] * w_star[i];
    norm_s = sqrt(norm_s);
    for (int j = 0; j < k; j++) s_star += a_star[j];
    double start = seconds_now();
    for (long r = 0; r < times; r++) gradient(p, k, w, a, w_star, a_star, norm_s, s_star, gw, ga, &t);
    return (seconds_now() - start) / times / BLOCK * 1e9;
}

double step_ns(int p, int k, double *w, double *a, const double *gw, const double *ga, long times) {
    Scratch t;
    double start = seconds_now();
    /* a step of 0 keeps the point, and so the work, the same */
    for (long r = 0; r < times; r++) step(p, k, w, a, gw, ga, 0.0, 0.0, &t);
    return (seconds_now() - start) / times / BLOCK * 1e9;
}
