/*
 * ml_naive_bayes.h - Gaussian naive Bayes for microcontrollers: classes equal to scikit-learn's GaussianNB.
 *
 * A generated model header fills the records below with const tables and calls these functions.
 * Everything is static inline, C99, no malloc, no mutable globals; the caller passes the scratch arrays.
 *
 * jll[c] = log_prior[c] + (norm[c] - 0.5 * sum_i (x_i - theta[c][i])^2 / var[c][i]); the class is the first
 * largest jll. Decision (docs/naive_bayes.md proves every step):
 *   1. fast path in float32: s[c] = k32[c] - sum_i (x_i - theta32[c][i])^2 * w32[c][i] (w = 1 / (2 var)),
 *      with a proven bound |s[c] - jll[c]| <= err_b[c] + err_g * q[c] (q[c]: the computed sum);
 *   2. if the leading s beats every other by more than both bounds, it leads in exact arithmetic, and that
 *      is scikit-learn's class on every row whose own margin exceeds float64 rounding;
 *   3. otherwise (a near tie, NaN/inf input or an overflow) jll is replayed in float64, as scikit-learn
 *      computes it, and its first largest value decides.
 * The "float32" method keeps step 1 only (ml_gnb_class_lite): the class with the largest float32 s, no
 * bound, no float64 code; it is scikit-learn's class on every row where step 2 would decide.
 *
 * Only additions, multiplications, divisions and integer compares: the tables hold negated means,
 * constants and variances, and the code computes -s[c] (t = q + (-k32)) and -sum (terms divided by
 * -var). Rounding to nearest is symmetric, so every value is exactly the negation of the value the
 * formulas above give (IEEE defines a - b as a + (-b)); compared with ml_f32_lt / ml_f64_lt, so a CPU
 * without an FPU links neither the subtraction nor the compare routines.
 */
#ifndef ML_NAIVE_BAYES_H
#define ML_NAIVE_BAYES_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_scores.h"

#ifdef __cplusplus
extern "C" {
#endif

/* float32 tables ("float32" method; the fast path of the "float" method adds its bound) */
typedef struct ml_gnb_lite {
    int32_t n_features;
    int32_t k;              /* classes */
    const float *neg_theta; /* k x n_features: -theta, float32-rounded */
    const float *w;         /* k x n_features: 1 / (2 var), float32-rounded */
    const float *neg_k;     /* k: -k32, k32 = float32-rounded log_prior + norm (+inf for a zero prior) */
} ml_gnb_lite;

/* float32 fast-path tables with the bound |s[c] - jll[c]| <= err_b[c] + err_g * q[c] */
typedef struct ml_gnb_f32 {
    ml_gnb_lite t;
    const float *err_b; /* k */
    float err_g;
} ml_gnb_f32;

/* float64 replay tables: scikit-learn's values exactly, negated where marked */
typedef struct ml_gnb_f64 {
    int32_t n_features;
    int32_t k;
    const double *neg_theta; /* k x n_features: -theta */
    const double *neg_var;   /* k x n_features: -var */
    const double *log_prior; /* k (-inf for a zero prior) */
    const double *norm;      /* k: -0.5 * sum_i log(2 pi var[c][i]) */
} ml_gnb_f64;

/* t[c] = -s[c] = q[c] + (-k32[c]) with q[c] = sum_i (x_i - theta_i)^2 * w_i (float32, sequential) for
 * every class; q[c] is also stored when q is not NULL. */
static inline void ml_gnb_scores_f32(const ml_gnb_lite *m, const float *x, float *t, float *q)
{
    const int32_t n = m->n_features;
    int32_t c, i;
    for (c = 0; c < m->k; c++) {
        const float *th = m->neg_theta + (size_t)c * (size_t)n;
        const float *w = m->w + (size_t)c * (size_t)n;
        float acc = 0.0f;
        for (i = 0; i < n; i++) {
            const float d = x[i] + th[i];
            acc += (d * d) * w[i];
        }
        if (q != NULL) {
            q[c] = acc;
        }
        t[c] = acc + m->neg_k[c];
    }
}

/* The "float32" method: the first class with the largest float32 s (smallest t). t: k floats. */
static inline int32_t ml_gnb_class_lite(const ml_gnb_lite *m, const float *x, float *t)
{
    ml_gnb_scores_f32(m, x, t, NULL);
    return ml_argmin_f32(t, m->k);
}

/* Fast path: the class when the float32 bounds separate it, else -1. t, q: k floats of scratch.
 * The leading class b is decided when t[c] > t[b] + (e[b] + e[c]) for every other c (e: the bound): that
 * computed comparison implies the exact one (rounding is monotone and t[c] is a float), i.e.
 * s[b] - s[c] > e[b] + e[c]. */
static inline int32_t ml_gnb_class_f32(const ml_gnb_f32 *m, const float *x, float *t, float *q)
{
    const int32_t k = m->t.k;
    float eb;
    int32_t c, best;
    ml_gnb_scores_f32(&m->t, x, t, q);
    for (c = 0; c < k; c++) {
        if (ml_f32_is_nan(t[c])) {
            return -1;
        }
    }
    best = ml_argmin_f32(t, k);
    eb = m->err_b[best] + m->err_g * q[best];
    for (c = 0; c < k; c++) {
        if (c != best) {
            const float lim = t[best] + (eb + (m->err_b[c] + m->err_g * q[c]));
            if (ml_f32_is_nan(lim) || !ml_f32_lt(lim, t[c])) {
                return -1; /* within the bounds, or an overflow */
            }
        }
    }
    return best;
}

/* scikit-learn's joint log-likelihood in float64 (jll: k doubles): the sum of the negated terms
 * (x - theta)^2 / (-var) is exactly -sum, so log_prior + (norm + 0.5 * that) is scikit-learn's value. */
static inline void ml_gnb_jll_f64(const ml_gnb_f64 *m, const float *x, double *jll)
{
    const int32_t n = m->n_features;
    int32_t c, i;
    for (c = 0; c < m->k; c++) {
        const double *th = m->neg_theta + (size_t)c * (size_t)n;
        const double *v = m->neg_var + (size_t)c * (size_t)n;
        double acc = 0.0;
        for (i = 0; i < n; i++) {
            const double d = (double)x[i] + th[i];
            const double t = (d * d) / v[i];
            acc += t;
        }
        jll[c] = m->log_prior[c] + (m->norm[c] + 0.5 * acc);
    }
}

#ifdef __cplusplus
}
#endif

#endif /* ML_NAIVE_BAYES_H */
