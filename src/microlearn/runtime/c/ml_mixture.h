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
 */
#ifndef ML_MIXTURE_H
#define ML_MIXTURE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { ML_GMM_FULL = 0, ML_GMM_TIED = 1, ML_GMM_DIAG = 2, ML_GMM_SPHERICAL = 3 };

typedef struct ml_gmm {
    int32_t n_features;
    int32_t k;           /* components */
    int32_t cov;         /* ML_GMM_* */
    const double *means; /* k x n */
    const double *chol;  /* full: k x n x n (row-major), tied: n x n, diag: k x n, spherical: k */
    const double *cst;   /* k */
} ml_gmm;

/* float32 fast-path tables */
typedef struct ml_gmm_f32 {
    int32_t n_features;
    int32_t k;
    int32_t cov;         /* ML_GMM_* */
    const float *means;  /* k x n, float32-rounded */
    const float *chol;   /* full: k packed upper triangles (row i: C[i][i..n-1]), tied: one, diag: k x n,
                            spherical: k; float32-rounded */
    const float *w;      /* k x n: the bound's weights (sum_j C[i][j]^2), rounded up */
    const float *k32;    /* k: float32-rounded cst */
    const float *err_a;  /* k */
    const float *err_b;  /* k */
    float err_c;
} ml_gmm_f32;

/* Fast path: the component when the float32 bounds separate it, else -1. s, q, r: k floats of scratch. */
static inline int32_t ml_gmm_class_f32(const ml_gmm_f32 *m, const float *x, float *s, float *q, float *r)
{
    const int32_t n = m->n_features, k = m->k;
    const int32_t tri = n * (n + 1) / 2;
    int32_t c, i, j, best = 0;
    float eb;
    for (c = 0; c < k; c++) {
        const float *mu = m->means + (size_t)c * (size_t)n;
        const float *w = m->w + (size_t)c * (size_t)n;
        float acc = 0.0f, rr = 0.0f;
        if (m->cov == ML_GMM_FULL || m->cov == ML_GMM_TIED) {
            /* y_j = sum_{i <= j} d_i C[i][j]: accumulate row by row into q-less scratch-free form */
            const float *C = m->chol + (m->cov == ML_GMM_FULL ? (size_t)c * (size_t)tri : 0u);
            for (j = 0; j < n; j++) {
                float y = 0.0f;
                const float *col = C + j; /* C[i][j] sits at row i's start + (j - i) */
                int32_t off = 0;
                for (i = 0; i <= j; i++) {
                    y += (x[i] - mu[i]) * col[off];
                    off += n - i - 1;
                }
                acc += y * y;
            }
        } else if (m->cov == ML_GMM_DIAG) {
            const float *C = m->chol + (size_t)c * (size_t)n;
            for (i = 0; i < n; i++) {
                const float y = (x[i] - mu[i]) * C[i];
                acc += y * y;
            }
        } else {
            const float sc = m->chol[c];
            for (i = 0; i < n; i++) {
                const float y = (x[i] - mu[i]) * sc;
                acc += y * y;
            }
        }
        for (i = 0; i < n; i++) {
            const float d = x[i] - mu[i];
            rr += (d * d) * w[i];
        }
        q[c] = acc;
        r[c] = rr;
        s[c] = m->k32[c] - 0.5f * acc;
    }
    for (c = 1; c < k; c++) {
        if (s[c] > s[best]) {
            best = c;
        }
    }
    eb = m->err_a[best] * r[best] + m->err_b[best] + m->err_c * q[best];
    for (c = 0; c < k; c++) {
        if (c != best && !(s[best] - s[c] > eb + (m->err_a[c] * r[c] + m->err_b[c] + m->err_c * q[c]))) {
            return -1; /* within the bounds, or NaN / inf */
        }
    }
    return best;
}

/* Weighted log-probabilities of x into wlp[0..k-1]. */
static inline void ml_gmm_wlp(const ml_gmm *m, const float *x, double *wlp)
{
    const int32_t n = m->n_features;
    int32_t c, i, j;
    for (c = 0; c < m->k; c++) {
        const double *mu = m->means + (size_t)c * (size_t)n;
        double q = 0.0;
        if (m->cov == ML_GMM_FULL || m->cov == ML_GMM_TIED) {
            const double *C = m->chol + (m->cov == ML_GMM_FULL ? (size_t)c * (size_t)n * (size_t)n : 0u);
            for (j = 0; j < n; j++) {
                double y = 0.0;
                for (i = 0; i <= j; i++) { /* precisions_cholesky_ is upper triangular */
                    y += ((double)x[i] - mu[i]) * C[(size_t)i * (size_t)n + (size_t)j];
                }
                q += y * y;
            }
        } else if (m->cov == ML_GMM_DIAG) {
            const double *C = m->chol + (size_t)c * (size_t)n;
            for (i = 0; i < n; i++) {
                const double y = ((double)x[i] - mu[i]) * C[i];
                q += y * y;
            }
        } else {
            const double s = m->chol[c];
            for (i = 0; i < n; i++) {
                const double y = ((double)x[i] - mu[i]) * s;
                q += y * y;
            }
        }
        wlp[c] = m->cst[c] - 0.5 * q;
    }
}

/* The first largest of k doubles (NaN wins, as numpy's argmax). */
static inline int32_t ml_gmm_argmax(const double *v, int32_t k)
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

/* log(sum exp(wlp)); wlp becomes wlp - that (the log-probabilities). */
static inline double ml_gmm_lse(double *wlp, int32_t k)
{
    int32_t c;
    double mx = wlp[0], sum = 0.0, lse;
    for (c = 1; c < k; c++) {
        if (wlp[c] > mx) {
            mx = wlp[c];
        }
    }
    for (c = 0; c < k; c++) {
        sum += exp(wlp[c] - mx);
    }
    lse = mx + log(sum);
    for (c = 0; c < k; c++) {
        wlp[c] -= lse;
    }
    return lse;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_MIXTURE_H */
