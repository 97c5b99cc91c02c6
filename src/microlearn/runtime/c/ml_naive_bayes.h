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
 */
#ifndef ML_NAIVE_BAYES_H
#define ML_NAIVE_BAYES_H

#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* float32 fast-path tables */
typedef struct ml_gnb_f32 {
    int32_t n_features;
    int32_t k;            /* classes */
    const float *theta;   /* k x n_features, float32-rounded means */
    const float *w;       /* k x n_features, float32-rounded 1 / (2 var) */
    const float *k32;     /* k: float32-rounded log_prior + norm (-inf for a zero prior) */
    const float *err_b;   /* k */
    float err_g;
} ml_gnb_f32;

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
    int32_t c, i, best = 0;
    for (c = 0; c < k; c++) {
        const float *th = m->theta + (size_t)c * (size_t)n;
        const float *w = m->w + (size_t)c * (size_t)n;
        float acc = 0.0f;
        for (i = 0; i < n; i++) {
            const float d = x[i] - th[i];
            acc += (d * d) * w[i];
        }
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

/* The first largest of k doubles (numpy's argmax; NaN wins as there). */
static inline int32_t ml_gnb_argmax_f64(const double *v, int32_t k)
{
    int32_t c, best = 0;
    for (c = 0; c < k; c++) {
        if (v[c] != v[c]) {
            return c;
        }
    }
    for (c = 1; c < k; c++) {
        if (v[c] > v[best]) {
            best = c;
        }
    }
    return best;
}

/* log P(c | x) from jll (in place): jll - log(sum exp(jll)), in float64. */
static inline void ml_gnb_log_proba_f64(double *jll, int32_t k)
{
    int32_t c;
    double mx = jll[0], sum = 0.0, lse;
    for (c = 1; c < k; c++) {
        if (jll[c] > mx) {
            mx = jll[c];
        }
    }
    for (c = 0; c < k; c++) {
        sum += exp(jll[c] - mx);
    }
    lse = mx + log(sum);
    for (c = 0; c < k; c++) {
        jll[c] -= lse;
    }
}

#ifdef __cplusplus
}
#endif

#endif /* ML_NAIVE_BAYES_H */
