/*
 * ml_mixture.h - Gaussian mixtures for microcontrollers: scikit-learn's GaussianMixture and
 * BayesianGaussianMixture (every covariance type): predict, predict_proba, score_samples.
 *
 * A generated model header fills the record below with const tables and calls these functions.
 * Everything is static inline, C99, no malloc, no mutable globals; the caller passes the scratch array.
 *
 * wlp[k] = cst[k] - 0.5 * |(x - mean[k]) C[k]|^2 in float64 (the row-independent constant computed once
 * as scikit-learn does, so no logarithm of a model value is taken here); predict is the first largest
 * wlp, which is scikit-learn's on every row whose own margin exceeds the rounding bound of
 * docs/anomaly.md. Probabilities and score_samples need exp and log (link with -lm).
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
