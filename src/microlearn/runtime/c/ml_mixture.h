/*
 * ml_mixture.h - Gaussian mixtures for microcontrollers: scikit-learn's GaussianMixture and
 * BayesianGaussianMixture (every covariance type): predict, predict_proba, score_samples.
 *
 * A generated model header fills the record below with const tables and calls these functions.
 * Everything is static inline, C99, no malloc, no mutable globals; the caller passes the scratch array.
 *
 * wlp[k] = cst[k] - 0.5 * |(x - mean[k]) C[k]|^2 (the row-independent constant computed once as
 * scikit-learn does, so no logarithm of a model value is taken here). predict (docs/anomaly.md proves it):
 *   1. a float32 fast path computes every wlp with a proven bound of its distance from scikit-learn's
 *      value (a r + b + c Q per component, r = sum_i w_i d_i^2 computed alongside);
 *   2. if the leading component beats every other by more than both bounds, it is scikit-learn's;
 *   3. otherwise (a near tie, NaN/inf input or an overflow) wlp is replayed in float64 and its first
 *      largest value decides, scikit-learn's outside the rounding bound of a tie.
 * Probabilities and score_samples are float64 (exp and log: link with -lm).
 * predict needs only additions, multiplications and integer compares where the CPU lacks the float type
 * (ml_scores.h): the tables hold negated means and constants (x + (-mean) is exactly x - mean, and
 * -(0.5 q + (-cst)) exactly cst - 0.5 q, rounding to nearest being symmetric).
 * The "float32" method keeps step 1's values only (ml_gmm_class_lite): the component with the largest
 * float32 wlp, no bound, no float64 code; scikit-learn's wherever step 2 would decide.
 */
#ifndef ML_MIXTURE_H
#define ML_MIXTURE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_scores.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { ML_GMM_FULL = 0, ML_GMM_TIED = 1, ML_GMM_DIAG = 2, ML_GMM_SPHERICAL = 3 };

/* float64 replay tables: scikit-learn's values, negated where marked */
typedef struct ml_gmm {
    int32_t n_features;
    int32_t k;               /* components */
    int32_t cov;             /* ML_GMM_* */
    const double *neg_means; /* k x n: -means */
    const double *chol;      /* full: k packed upper triangles (row i: C[i][i..n-1]), tied: one, diag: k x n,
                                spherical: k */
    const double *neg_cst;   /* k: -cst */
} ml_gmm;

/* float32 tables ("float32" method; the fast path of the "float" method adds its bound) */
typedef struct ml_gmm_lite {
    int32_t n_features;
    int32_t k;
    int32_t cov;            /* ML_GMM_* */
    const float *neg_means; /* k x n: -means, float32-rounded */
    const float *chol;      /* as ml_gmm's, float32-rounded */
    const float *neg_k;     /* k: -k32, k32 = float32-rounded cst */
} ml_gmm_lite;

/* float32 fast-path tables with the bound err_a r + err_b + err_c q of |s - wlp| */
typedef struct ml_gmm_f32 {
    ml_gmm_lite t;
    const float *w;     /* k x n: the bound's weights (sum_j C[i][j]^2), rounded up */
    const float *err_a; /* k */
    const float *err_b; /* k */
    float err_c;
} ml_gmm_f32;

/* Component c's factor in a float32 chol table (packed upper triangles for full and tied). */
static inline const float *ml_gmm_chol_f32(const float *chol, int32_t cov, int32_t n, int32_t c)
{
    if (cov == ML_GMM_FULL) {
        return chol + (size_t)c * (size_t)(n * (n + 1) / 2);
    }
    if (cov == ML_GMM_TIED) {
        return chol;
    }
    return chol + (size_t)c * (size_t)(cov == ML_GMM_DIAG ? n : 1);
}

/* Q = |(x - mean) C|^2 in float32 for one component (nmu: its negated means, C: its factor). */
static inline float ml_gmm_q_f32(int32_t n, int32_t cov, const float *nmu, const float *C, const float *x)
{
    float acc = 0.0f;
    int32_t i, j;
    if (cov == ML_GMM_FULL || cov == ML_GMM_TIED) {
        /* y_j = sum_{i <= j} d_i C[i][j] from the packed upper triangle */
        for (j = 0; j < n; j++) {
            float y = 0.0f;
            const float *col = C + j; /* C[i][j] sits at row i's start + (j - i) */
            int32_t off = 0;
            for (i = 0; i <= j; i++) {
                y += (x[i] + nmu[i]) * col[off];
                off += n - i - 1;
            }
            acc += y * y;
        }
    } else {
        for (i = 0; i < n; i++) {
            const float y = (x[i] + nmu[i]) * C[cov == ML_GMM_DIAG ? i : 0];
            acc += y * y;
        }
    }
    return acc;
}

/* t[c] = -s[c] = 0.5 q[c] + (-k32[c]) for every component, q[c] = Q_c(x) in float32 (stored when q is not
 * NULL). */
static inline void ml_gmm_scores_f32(const ml_gmm_lite *m, const float *x, float *t, float *q)
{
    const int32_t n = m->n_features;
    int32_t c;
    for (c = 0; c < m->k; c++) {
        const float *nmu = m->neg_means + (size_t)c * (size_t)n;
        const float acc = ml_gmm_q_f32(n, m->cov, nmu, ml_gmm_chol_f32(m->chol, m->cov, n, c), x);
        if (q != NULL) {
            q[c] = acc;
        }
        t[c] = 0.5f * acc + m->neg_k[c];
    }
}

/* The "float32" method: the first component with the largest float32 s (smallest t). t: k floats. */
static inline int32_t ml_gmm_class_lite(const ml_gmm_lite *m, const float *x, float *t)
{
    ml_gmm_scores_f32(m, x, t, NULL);
    return ml_argmin_f32(t, m->k);
}

/* Fast path: the component when the float32 bounds separate it, else -1. t, q, r: k floats of scratch.
 * The leading b is decided when t[c] > t[b] + (e[b] + e[c]) for every other c (e: the bound), which
 * implies s[b] - s[c] > e[b] + e[c] exactly (rounding is monotone and t[c] is a float). */
static inline int32_t ml_gmm_class_f32(const ml_gmm_f32 *m, const float *x, float *t, float *q, float *r)
{
    const int32_t n = m->t.n_features, k = m->t.k;
    int32_t c, i, best;
    float eb;
    ml_gmm_scores_f32(&m->t, x, t, q);
    for (c = 0; c < k; c++) {
        const float *nmu = m->t.neg_means + (size_t)c * (size_t)n;
        const float *w = m->w + (size_t)c * (size_t)n;
        float rr = 0.0f;
        if (ml_f32_is_nan(t[c])) {
            return -1;
        }
        for (i = 0; i < n; i++) {
            const float d = x[i] + nmu[i];
            rr += (d * d) * w[i];
        }
        r[c] = rr;
    }
    best = ml_argmin_f32(t, k);
    eb = m->err_a[best] * r[best] + m->err_b[best] + m->err_c * q[best];
    for (c = 0; c < k; c++) {
        if (c != best) {
            const float lim = t[best] + (eb + (m->err_a[c] * r[c] + m->err_b[c] + m->err_c * q[c]));
            if (ml_f32_is_nan(lim) || !ml_f32_lt(lim, t[c])) {
                return -1; /* within the bounds, or an overflow */
            }
        }
    }
    return best;
}

/* Weighted log-probabilities of x into wlp[0..k-1]. */
static inline void ml_gmm_wlp(const ml_gmm *m, const float *x, double *wlp)
{
    const int32_t n = m->n_features, cov = m->cov;
    const size_t tri = (size_t)(n * (n + 1) / 2);
    int32_t c, i, j;
    for (c = 0; c < m->k; c++) {
        const double *mu = m->neg_means + (size_t)c * (size_t)n;
        double q = 0.0;
        if (cov == ML_GMM_FULL || cov == ML_GMM_TIED) {
            const double *C = m->chol + (cov == ML_GMM_FULL ? (size_t)c * tri : 0u);
            for (j = 0; j < n; j++) {
                double y = 0.0;
                const double *col = C + j; /* packed upper triangle, as the float32 table */
                int32_t off = 0;
                for (i = 0; i <= j; i++) { /* precisions_cholesky_ is upper triangular */
                    y += ((double)x[i] + mu[i]) * col[off];
                    off += n - i - 1;
                }
                q += y * y;
            }
        } else {
            const double *C = m->chol + (size_t)c * (size_t)(cov == ML_GMM_DIAG ? n : 1);
            for (i = 0; i < n; i++) {
                const double y = ((double)x[i] + mu[i]) * C[cov == ML_GMM_DIAG ? i : 0];
                q += y * y;
            }
        }
        wlp[c] = -(0.5 * q + m->neg_cst[c]); /* exactly cst - 0.5 q */
    }
}

#ifdef __cplusplus
}
#endif

#endif /* ML_MIXTURE_H */
