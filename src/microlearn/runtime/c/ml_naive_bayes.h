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

/* float32 fast-path tables */
typedef struct ml_gnb_f32 {
    int32_t n_features;
    int32_t k;            /* classes */
    const float *neg_theta; /* k x n_features, float32-rounded means, negated (x + (-theta) is x - theta) */
    const float *w;         /* k x n_features, float32-rounded 1 / (2 var) */
    const float *k32;       /* k: float32-rounded log_prior + norm (-inf for a zero prior) */
    const float *err_b;     /* k */
    float err_g;
} ml_gnb_f32;

/* "float32" method tables: the fast path's, without its bound */
typedef struct ml_gnb_lite {
    int32_t n_features;
    int32_t k;
    const float *neg_theta; /* k x n_features, as in ml_gnb_f32 */
    const float *w;         /* k x n_features, as in ml_gnb_f32 */
    const float *neg_k;     /* k: -k32 (+inf for a zero prior) */
} ml_gnb_lite;

/* sum_i (x_i - theta_i)^2 * w_i in float32, sequential (one class's row of the tables). */
static inline float ml_gnb_sum_f32(int32_t n, const float *neg_theta, const float *w, const float *x)
{
    float acc = 0.0f;
    int32_t i;
    for (i = 0; i < n; i++) {
        const float d = x[i] + neg_theta[i];
        acc += (d * d) * w[i];
    }
    return acc;
}

/* float64 replay tables: scikit-learn's values exactly */
typedef struct ml_gnb_f64 {
    int32_t n_features;
    int32_t k;
    const double *theta;     /* k x n_features */
    const double *var;       /* k x n_features */
    const double *log_prior; /* k (-inf for a zero prior) */
    const double *norm;      /* k: -0.5 * sum_i log(2 pi var[c][i]) */
} ml_gnb_f64;

/* Fast path: the class when the float32 bounds separate it, else -1. s, q: k floats of scratch. */
static inline int32_t ml_gnb_class_f32(const ml_gnb_f32 *m, const float *x, float *s, float *q)
{
    const int32_t n = m->n_features, k = m->k;
    float eb;
    int32_t c, best = 0;
    for (c = 0; c < k; c++) {
        const size_t o = (size_t)c * (size_t)n;
        const float acc = ml_gnb_sum_f32(n, m->neg_theta + o, m->w + o, x);
        q[c] = acc;
        s[c] = m->k32[c] - acc;
    }
    for (c = 1; c < k; c++) {
        if (s[c] > s[best]) {
            best = c;
        }
    }
    eb = m->err_b[best] + m->err_g * q[best];
    for (c = 0; c < k; c++) {
        if (c != best && !(s[best] - s[c] > eb + (m->err_b[c] + m->err_g * q[c]))) {
            return -1; /* within the bounds, or NaN / inf */
        }
    }
    return best;
}

/* scikit-learn's joint log-likelihood in float64 (jll: k doubles). */
static inline void ml_gnb_jll_f64(const ml_gnb_f64 *m, const float *x, double *jll)
{
    const int32_t n = m->n_features;
    int32_t c, i;
    for (c = 0; c < m->k; c++) {
        const double *th = m->theta + (size_t)c * (size_t)n;
        const double *v = m->var + (size_t)c * (size_t)n;
        double acc = 0.0;
        for (i = 0; i < n; i++) {
            const double d = (double)x[i] - th[i];
            const double t = (d * d) / v[i];
            acc += t;
        }
        jll[c] = m->log_prior[c] + (m->norm[c] - 0.5 * acc);
    }
}

/* The "float32" method: the first class with the largest float32 s[c] = k32[c] - sum (as computed by
 * ml_gnb_class_f32, negated: t[c] = sum + (-k32[c]) is exactly -s[c]), compared as integers.
 * t: k floats of scratch. */
static inline int32_t ml_gnb_class_lite(const ml_gnb_lite *m, const float *x, float *t)
{
    const int32_t n = m->n_features;
    int32_t c;
    for (c = 0; c < m->k; c++) {
        const size_t o = (size_t)c * (size_t)n;
        t[c] = ml_gnb_sum_f32(n, m->neg_theta + o, m->w + o, x) + m->neg_k[c];
    }
    return ml_argmin_key_f32(t, m->k);
}

#ifdef __cplusplus
}
#endif

#endif /* ML_NAIVE_BAYES_H */
