/* A hand-written C reference of pgd_bench's engine (GD, P-GD, SGD, perturbed SGD), for
 * benchmarks/c_compare.py.
 *
 * The same closed-form population gradient (docs/mathematics.md, "Euclidean gradients"), the same
 * Riemannian step, divergence check and optimum tracking, in the same order of operations as
 * pgd_bench/engine.py, so that final states are bit-identical to pgd_bench's. Structure of
 * arrays (w is p rows of n lanes), blocks of BLOCK lanes, every phase a short loop over the lanes
 * so that the compiler vectorises it. IEEE arithmetic: compile without -ffast-math and with
 * -ffp-contract=off (no fused multiply-adds), as pgd_bench compiles its kernels.
 *
 * SGD's mini-batch gradient is network.sgd_gradient_lanes' construction (2k normals per input, p
 * per batch). P-GD's and SGD's noise is pgd_bench's stream version 2: the same per-trial
 * xoshiro256++ streams, Box-Muller normals with fdlibm's log, cos and sin written branch-free (so
 * that gcc makes the normals of all lanes at once; libm's would be called one lane at a time),
 * the ball as the first d of d + 2 normals scaled by radius / norm. So all four algorithms' final
 * states are bit-identical to pgd_bench's.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 64
#define FIXED_POINT_EVERY 64 /* as pgd_bench.engine.FIXED_POINT_EVERY */

static const double PS0 = 1.66666666666666657415e-01, PS1 = -3.25565818622400915405e-01,
                    PS2 = 2.01212532134862925881e-01, PS3 = -4.00555345006794114027e-02,
                    PS4 = 7.91534994289814532176e-04, PS5 = 3.47933107596021167570e-05,
                    QS1 = -2.40339491173441421878e00, QS2 = 2.02094576023350569471e00,
                    QS3 = -6.88283971605453293030e-01, QS4 = 7.70381505559019352791e-02;

/* pgd_bench.model.special.arccos_kernel, branch-free */
static inline double arccos_kernel(double x) {
    double ax = fabs(x);
    int big = ax > 0.5;
    double z = big ? (1.0 - ax) * 0.5 : x * x;
    double root = sqrt(z);
    double s = big ? root : ax;
    double p = z * (PS0 + z * (PS1 + z * (PS2 + z * (PS3 + z * (PS4 + z * PS5)))));
    double q = 1.0 + z * (QS1 + z * (QS2 + z * (QS3 + z * QS4)));
    double t = s + s * (p / q);
    double when_big = x > 0.0 ? 2.0 * t : M_PI - 2.0 * t;
    double when_small = x >= 0.0 ? 0.5 * M_PI - t : 0.5 * M_PI + t;
    return big ? when_big : when_small;
}

typedef struct {
    double nw[BLOCK], ct[BLOCK], th[BLOCK], st[BLOCK], s[BLOCK], c[BLOCK], aa[BLOCK];
    double ca[BLOCK], cb[BLOCK], cc[BLOCK], cw[BLOCK], cs[BLOCK];
    double norm[BLOCK], asq[BLOCK], dot[BLOCK], dg[BLOCK], ds[BLOCK];
} Scratch;

/* landscape.grad_lanes at (w, a): grad_w (p x BLOCK), grad_a (k x BLOCK) */
static void gradient(int p, int k, const double *restrict w, const double *restrict a, const double *w_star,
                     const double *a_star, double norm_s, double s_star, double *restrict gw, double *restrict ga,
                     Scratch *restrict t) {
    const double inv_pi = 1.0 / M_PI;
    for (int l = 0; l < BLOCK; l++) {
        t->nw[l] = 0.0; t->ct[l] = 0.0; t->s[l] = 0.0; t->c[l] = 0.0; t->aa[l] = 0.0;
    }
    for (int i = 0; i < p; i++)
        for (int l = 0; l < BLOCK; l++) {
            double x = w[i * BLOCK + l];
            t->nw[l] += x * x;
            t->ct[l] += x * w_star[i];
        }
    for (int j = 0; j < k; j++)
        for (int l = 0; l < BLOCK; l++) {
            double x = a[j * BLOCK + l];
            t->s[l] += x;
            t->c[l] += x * a_star[j];
            t->aa[l] += x * x;
        }
    for (int l = 0; l < BLOCK; l++) {
        double nw = sqrt(t->nw[l]);
        double ct = t->ct[l] / (nw * norm_s);
        ct = ct > 1.0 ? 1.0 : (ct < -1.0 ? -1.0 : ct);
        t->nw[l] = nw;
        t->ct[l] = ct;
        t->th[l] = arccos_kernel(ct);
        double one = 1.0 - ct * ct;
        t->st[l] = sqrt(one > 0.0 ? one : 0.0);
    }
    for (int l = 0; l < BLOCK; l++) {
        double nw = t->nw[l], theta = t->th[l], s = t->s[l], c = t->c[l];
        double g = (M_PI - theta) * t->ct[l] + t->st[l];
        double ww = nw * nw, ws = nw * norm_s;
        t->ca[l] = inv_pi * ww * (M_PI - 1.0);
        t->cb[l] = inv_pi * (ww * s - ws * s_star);
        t->cc[l] = -inv_pi * ws * (g - 1.0);
        double coef_hat = inv_pi * (c * norm_s * t->st[l] + (s * s_star - c) * norm_s) / nw;
        t->cw[l] = inv_pi * ((M_PI - 1.0) * t->aa[l] + s * s) - coef_hat;
        t->cs[l] = inv_pi * c * (M_PI - theta);
    }
    for (int j = 0; j < k; j++)
        for (int l = 0; l < BLOCK; l++)
            ga[j * BLOCK + l] = t->ca[l] * a[j * BLOCK + l] + t->cb[l] + t->cc[l] * a_star[j];
    for (int i = 0; i < p; i++)
        for (int l = 0; l < BLOCK; l++)
            gw[i * BLOCK + l] = t->cw[l] * w[i * BLOCK + l] - t->cs[l] * w_star[i];
}

/* geometry.riemannian_step_lanes */
static void step(int p, int k, double *restrict w, double *restrict a, const double *restrict gw,
                 const double *restrict ga, double eta_w, double eta_a, Scratch *restrict t) {
    for (int l = 0; l < BLOCK; l++) t->norm[l] = 0.0;
    for (int i = 0; i < p; i++)
        for (int l = 0; l < BLOCK; l++) t->norm[l] += w[i * BLOCK + l] * gw[i * BLOCK + l];
    for (int i = 0; i < p; i++)
        for (int l = 0; l < BLOCK; l++)
            w[i * BLOCK + l] -= eta_w * (gw[i * BLOCK + l] - t->norm[l] * w[i * BLOCK + l]);
    for (int l = 0; l < BLOCK; l++) t->norm[l] = 0.0;
    for (int i = 0; i < p; i++)
        for (int l = 0; l < BLOCK; l++) t->norm[l] += w[i * BLOCK + l] * w[i * BLOCK + l];
    for (int l = 0; l < BLOCK; l++) {
        t->norm[l] = sqrt(t->norm[l]);
        t->asq[l] = 1.0 / t->norm[l];
    }
    for (int i = 0; i < p; i++)
        for (int l = 0; l < BLOCK; l++) w[i * BLOCK + l] *= t->asq[l];
    for (int l = 0; l < BLOCK; l++) t->asq[l] = 0.0;
    for (int j = 0; j < k; j++)
        for (int l = 0; l < BLOCK; l++) {
            a[j * BLOCK + l] -= eta_a * ga[j * BLOCK + l];
            t->asq[l] += a[j * BLOCK + l] * a[j * BLOCK + l];
        }
}

/* engine._check_divergence and engine._track_optima */
static void check_and_track(int p, int k, long it, double *restrict w, double *restrict a, const double *w_star,
                            const double *a_star, const double *a_bar, double tol, double a_bound_sq,
                            long *restrict diverged_at, long *restrict global_since, long *restrict spurious_since,
                            Scratch *restrict t) {
    int fresh = 0;
    for (int l = 0; l < BLOCK; l++) fresh += !(t->norm[l] < INFINITY && t->asq[l] <= a_bound_sq);
    if (fresh) {
        for (int l = 0; l < BLOCK; l++) {
            if (!(t->norm[l] < INFINITY && t->asq[l] <= a_bound_sq)) {
                if (diverged_at[l] < 0) diverged_at[l] = it;
                for (int i = 0; i < p; i++) w[i * BLOCK + l] = w_star[i];
                for (int j = 0; j < k; j++) a[j * BLOCK + l] = a_star[j];
            }
        }
    }
    for (int l = 0; l < BLOCK; l++) t->dot[l] = 0.0;
    for (int i = 0; i < p; i++)
        for (int l = 0; l < BLOCK; l++) t->dot[l] += w[i * BLOCK + l] * w_star[i];
    for (int l = 0; l < BLOCK; l++) {
        t->dg[l] = 2.0 - 2.0 * t->dot[l];
        t->ds[l] = 2.0 + 2.0 * t->dot[l];
    }
    for (int j = 0; j < k; j++)
        for (int l = 0; l < BLOCK; l++) {
            double eg = a[j * BLOCK + l] - a_star[j], es = a[j * BLOCK + l] - a_bar[j];
            t->dg[l] += eg * eg;
            t->ds[l] += es * es;
        }
    for (int l = 0; l < BLOCK; l++) {
        long g = global_since[l], s = spurious_since[l];
        global_since[l] = t->dg[l] <= tol ? (g >= 0 ? g : it) : -1;
        spurious_since[l] = t->ds[l] <= tol ? (s >= 0 ? s : it) : -1;
    }
}

/* pgd_bench.random: xoshiro256++ per lane (state words as 4 rows of BLOCK lanes), seeded by the
 * splitmix64 chain of stream_init from (seed, trial, purpose) */
static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static const uint64_t GAMMA = 0x9E3779B97F4A7C15ull;

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void stream_init(uint64_t *st, int lane, uint64_t seed, uint64_t trial, uint64_t purpose) {
    uint64_t h = mix64(seed + GAMMA);
    h = mix64(h ^ (trial + GAMMA * 2));
    h = mix64(h ^ (purpose + GAMMA * 3));
    for (int i = 0; i < 4; i++) {
        h += GAMMA;
        st[i * BLOCK + lane] = mix64(h);
    }
    if (!(st[lane] | st[BLOCK + lane] | st[2 * BLOCK + lane] | st[3 * BLOCK + lane])) st[lane] = 1;
}

/* one draw per lane: out = (bits >> 11) + offset, times 2^-53 (offset 1: in (0, 1], for the log) */
static void uniforms(uint64_t *restrict st, double *restrict out, int offset) {
    for (int l = 0; l < BLOCK; l++) {
        uint64_t s0 = st[l], s1 = st[BLOCK + l], s2 = st[2 * BLOCK + l], s3 = st[3 * BLOCK + l];
        uint64_t result = rotl(s0 + s3, 23) + s0, t = s1 << 17;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 45);
        st[l] = s0; st[BLOCK + l] = s1; st[2 * BLOCK + l] = s2; st[3 * BLOCK + l] = s3;
        out[l] = (double)(int64_t)((result >> 11) + (uint64_t)offset) * 0x1.0p-53;
    }
}

/* log(x) for x in (0, 1], fdlibm's __ieee754_log written branch-free (selects, integer ops on the
 * exponent), so that gcc vectorises it: within 1 ulp of libm */
static inline double log_lane(double x) {
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01,
                 Lg4 = 2.222219843214978396e-01, Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                 Lg7 = 1.479819860511658591e-01;
    uint64_t bits;
    memcpy(&bits, &x, 8);
    int64_t e = (int64_t)((bits >> 52) & 0x7ff) - 1023;
    uint64_t mbits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &mbits, 8); /* m in [1, 2) */
    int high = m > 1.4142135623730951;
    m = high ? 0.5 * m : m;
    e = high ? e + 1 : e;
    double f = m - 1.0, hfsq = 0.5 * f * f, s = f / (2.0 + f), z = s * s, w = z * z;
    double t1 = w * (Lg2 + w * (Lg4 + w * Lg6)), t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
    double dk = (double)e;
    return dk * ln2_hi - ((hfsq - (s * (hfsq + t2 + t1) + dk * ln2_lo)) - f);
}

/* cos(2 pi u) and sin(2 pi u) for u in [0, 1): quadrant from u, fdlibm's kernel polynomials on
 * [-pi/4, pi/4], branch-free: within about 1 ulp of libm */
static inline void sincos_turn(double u, double *c, double *s) {
    const double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03, S3 = -1.98412698298579493134e-04,
                 S4 = 2.75573137070700676789e-06, S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
    const double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03, C3 = 2.48015872894767294178e-05,
                 C4 = -2.75573143513906633035e-07, C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
    double q = floor(4.0 * u + 0.5); /* 0..4: the nearest quarter turn */
    double x = 2.0 * M_PI * (u - 0.25 * q); /* in [-pi/4, pi/4] */
    double z = x * x;
    double sn = x + x * z * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))));
    double r = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
    double hz = 0.5 * z, w = 1.0 - hz;
    double cs = w + (((1.0 - w) - hz) + z * r);
    int k = (int)q & 3;
    *c = k == 0 ? cs : (k == 1 ? -sn : (k == 2 ? -cs : sn));
    *s = k == 0 ? sn : (k == 1 ? cs : (k == 2 ? -sn : -cs));
}

/* rows (an even number) of standard normals for every lane: pgd_bench.random.fill_normal_lanes
 * (stream version 2), Box-Muller, two rows per pair of uniform rows, all lanes at once; a fill of
 * an odd count draws one row more, as pgd_bench does (it drops the last sine) */
static void normals(int rows, uint64_t *restrict st, double *restrict z, double *restrict u1, double *restrict u2) {
    for (int r = 0; r < rows; r += 2) {
        uniforms(st, u1, 1);
        uniforms(st, u2, 0);
        double *restrict z0 = z + r * BLOCK, *restrict z1 = z + (r + 1) * BLOCK;
        for (int l = 0; l < BLOCK; l++) {
            double rad = sqrt(-2.0 * log_lane(u1[l]));
            double c, sn;
            sincos_turn(u2[l], &c, &sn);
            z0[l] = rad * c;
            z1[l] = rad * sn;
        }
    }
}

/* the ball: out = x + radius * z[:d] / ||z[:d + 2]|| */
static void perturb(int d, const double *restrict x, double radius, uint64_t *restrict st, double *restrict z,
                    double *restrict u1, double *restrict u2, double *restrict out, Scratch *restrict t) {
    normals(d + 2 + (d & 1), st, z, u1, u2);
    for (int l = 0; l < BLOCK; l++) t->dot[l] = 0.0;
    for (int r = 0; r < d + 2; r++)
        for (int l = 0; l < BLOCK; l++) t->dot[l] += z[r * BLOCK + l] * z[r * BLOCK + l];
    for (int l = 0; l < BLOCK; l++) t->dot[l] = radius / sqrt(t->dot[l]);
    for (int r = 0; r < d; r++)
        for (int l = 0; l < BLOCK; l++) out[r * BLOCK + l] = x[r * BLOCK + l] + t->dot[l] * z[r * BLOCK + l];
}

/* network.sgd_gradient_lanes: the mini-batch gradient at a fresh batch of `batch` Gaussian inputs,
 * with 2k normals per input (each patch in the plane of w* and w) and p per batch for the rest:
 * the same construction, so the same work and law as pgd_bench's */
static void sgd_gradient(int p, int k, int batch, const double *restrict w, const double *restrict a,
                         const double *w_star, const double *a_star, double norm_s, uint64_t *restrict st,
                         double *restrict z, double *restrict u1, double *restrict u2, double *restrict e2,
                         double *restrict relu_w, double *restrict gw, double *restrict ga, Scratch *restrict t) {
    double inv_s = 1.0 / norm_s;
    double *c1 = t->ca, *c2 = t->cb, *res = t->cc, *g1 = t->cw, *g2 = t->cs, *csq = t->s, *pr1 = t->c, *pr2 = t->aa;
    for (int l = 0; l < BLOCK; l++) { c1[l] = 0.0; c2[l] = 0.0; g1[l] = 0.0; g2[l] = 0.0; csq[l] = 0.0; }
    for (int j = 0; j < k; j++)
        for (int l = 0; l < BLOCK; l++) ga[j * BLOCK + l] = 0.0;
    for (int i = 0; i < p; i++)
        for (int l = 0; l < BLOCK; l++) c1[l] += w[i * BLOCK + l] * (w_star[i] * inv_s);
    for (int i = 0; i < p; i++)
        for (int l = 0; l < BLOCK; l++) {
            e2[i * BLOCK + l] = w[i * BLOCK + l] - c1[l] * (w_star[i] * inv_s);
            c2[l] += e2[i * BLOCK + l] * e2[i * BLOCK + l];
        }
    for (int l = 0; l < BLOCK; l++) {
        c2[l] = sqrt(c2[l]);
        pr1[l] = c2[l] > 1e-150 ? 1.0 / c2[l] : 0.0;
        c2[l] = c2[l] > 1e-150 ? c2[l] : 0.0;
    }
    for (int i = 0; i < p; i++)
        for (int l = 0; l < BLOCK; l++) e2[i * BLOCK + l] *= pr1[l];
    for (int b = 0; b < batch; b++) {
        normals(2 * k, st, z, u1, u2);
        for (int l = 0; l < BLOCK; l++) res[l] = 0.0;
        for (int j = 0; j < k; j++)
            for (int l = 0; l < BLOCK; l++) {
                double x1 = z[2 * j * BLOCK + l];
                double pre = x1 * c1[l] + z[(2 * j + 1) * BLOCK + l] * c2[l];
                double relu = pre > 0.0 ? pre : 0.0, teacher = x1 * norm_s;
                relu_w[j * BLOCK + l] = relu;
                res[l] += a[j * BLOCK + l] * relu - a_star[j] * (teacher > 0.0 ? teacher : 0.0);
            }
        for (int j = 0; j < k; j++)
            for (int l = 0; l < BLOCK; l++) {
                ga[j * BLOCK + l] += res[l] * relu_w[j * BLOCK + l];
                double c = relu_w[j * BLOCK + l] > 0.0 ? res[l] * a[j * BLOCK + l] : 0.0;
                g1[l] += c * z[2 * j * BLOCK + l];
                g2[l] += c * z[(2 * j + 1) * BLOCK + l];
                csq[l] += c * c;
            }
    }
    normals(p + (p & 1), st, z, u1, u2);
    for (int l = 0; l < BLOCK; l++) { pr1[l] = 0.0; pr2[l] = 0.0; }
    for (int i = 0; i < p; i++)
        for (int l = 0; l < BLOCK; l++) {
            pr1[l] += z[i * BLOCK + l] * (w_star[i] * inv_s);
            pr2[l] += z[i * BLOCK + l] * e2[i * BLOCK + l];
        }
    double scale = 2.0 / batch;
    for (int l = 0; l < BLOCK; l++) csq[l] = sqrt(csq[l]);
    for (int i = 0; i < p; i++)
        for (int l = 0; l < BLOCK; l++) {
            double zeta = z[i * BLOCK + l] - pr1[l] * (w_star[i] * inv_s) - pr2[l] * e2[i * BLOCK + l];
            gw[i * BLOCK + l] = scale * (g1[l] * (w_star[i] * inv_s) + g2[l] * e2[i * BLOCK + l] + csq[l] * zeta);
        }
    for (int j = 0; j < k; j++)
        for (int l = 0; l < BLOCK; l++) ga[j * BLOCK + l] *= scale;
}

/* Run n trials (n a multiple of BLOCK) from the starts in w (n x p, trial-major) and a (n x k);
 * final states are written back there, and per trial the iteration it diverged at (-1: never)
 * and when it entered the global and spurious tol balls (-1: outside). rho_w == NULL: GD. */
void run_trials(int p, int k, long n, double *w, double *a, const double *w_star, const double *a_star,
                const double *a_bar, int epochs, long iterations, const double *eta_w, const double *eta_a,
                const double *rho_w, const double *rho_a, int batch, uint64_t seed, long first_trial, double tol,
                double a_bound,
                long *diverged_at, long *global_since, long *spurious_since) {
    double norm_s = 0.0, s_star = 0.0;
    for (int i = 0; i < p; i++) norm_s += w_star[i] * w_star[i];
    norm_s = sqrt(norm_s);
    for (int j = 0; j < k; j++) s_star += a_star[j];
    int d = (p > 2 * k ? p : 2 * k) + 3; /* normal rows: d + 2 for a ball (rounded up to even), 2k for a sample */
    double *bw = aligned_alloc(64, sizeof(double) * BLOCK * (size_t)(5 * p + 5 * k + d + 2));
    double *ba = bw + BLOCK * p, *gw = ba + BLOCK * k, *ga = gw + BLOCK * p;
    double *ew = ga + BLOCK * k, *ea = ew + BLOCK * p, *z = ea + BLOCK * k, *u1 = z + BLOCK * d, *u2 = u1 + BLOCK;
    double *e2 = u2 + BLOCK, *relu_w = e2 + BLOCK * p;
    Scratch *t = aligned_alloc(64, sizeof(Scratch));
    double *kept = aligned_alloc(64, sizeof(double) * BLOCK * (size_t)(p + k));
    uint64_t st[4 * BLOCK];
    long div[BLOCK], gs[BLOCK], ss[BLOCK];
    for (long b = 0; b < n; b += BLOCK) {
        for (int l = 0; l < BLOCK; l++) {
            for (int i = 0; i < p; i++) bw[i * BLOCK + l] = w[(b + l) * p + i];
            for (int j = 0; j < k; j++) ba[j * BLOCK + l] = a[(b + l) * k + j];
            div[l] = gs[l] = ss[l] = -1;
            stream_init(st, l, seed, (uint64_t)(first_trial + b + l), 3); /* PURPOSE_DYNAMICS */
        }
        long it = 0;
        for (int e = 0; e < epochs; e++) {
            /* as the engine: each of w and a is perturbed (and its gradient taken at the perturbed
             * point) only in epochs where its own radius is positive */
            int noisy_w = rho_w != NULL && rho_w[e] > 0.0, noisy_a = rho_a != NULL && rho_a[e] > 0.0;
            const double *at_w = noisy_w ? ew : bw, *at_a = noisy_a ? ea : ba;
            /* as the engine: in an epoch without noise, every FIXED_POINT_EVERY iterations the
             * block's state is kept and compared, bit for bit, after the step; once the step maps
             * it onto itself, the epoch's remaining iterations are counted, not computed */
            int deterministic = !noisy_w && !noisy_a && batch == 0;
            for (long i = 0; i < iterations; i++) {
                int look = deterministic && it % FIXED_POINT_EVERY == 0;
                if (look) {
                    memcpy(kept, bw, sizeof(double) * BLOCK * p);
                    memcpy(kept + BLOCK * p, ba, sizeof(double) * BLOCK * k);
                }
                if (noisy_w) perturb(p, bw, rho_w[e], st, z, u1, u2, ew, t);
                if (noisy_a) perturb(k, ba, rho_a[e], st, z, u1, u2, ea, t);
                if (batch > 0)
                    sgd_gradient(p, k, batch, at_w, at_a, w_star, a_star, norm_s, st, z, u1, u2, e2, relu_w, gw, ga, t);
                else
                    gradient(p, k, at_w, at_a, w_star, a_star, norm_s, s_star, gw, ga, t);
                step(p, k, bw, ba, gw, ga, eta_w[e], eta_a[e], t);
                it++;
                check_and_track(p, k, it, bw, ba, w_star, a_star, a_bar, tol, a_bound * a_bound, div, gs, ss, t);
                if (look && memcmp(kept, bw, sizeof(double) * BLOCK * p) == 0 &&
                    memcmp(kept + BLOCK * p, ba, sizeof(double) * BLOCK * k) == 0) {
                    it += iterations - 1 - i;
                    break;
                }
            }
        }
        for (int l = 0; l < BLOCK && b + l < n; l++) {
            for (int i = 0; i < p; i++) w[(b + l) * p + i] = bw[i * BLOCK + l];
            for (int j = 0; j < k; j++) a[(b + l) * k + j] = ba[j * BLOCK + l];
            diverged_at[b + l] = div[l];
            global_since[b + l] = gs[l];
            spurious_since[b + l] = ss[l];
        }
    }
    free(bw);
    free(t);
    free(kept);
}
