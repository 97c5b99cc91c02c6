/*
 * ml_lof.h - local outlier factor for microcontrollers: scikit-learn's LocalOutlierFactor(novelty=True)
 * with the euclidean metric (score_samples, decision_function, predict).
 *
 * A generated model header fills the record below with const tables and calls these functions.
 * Everything is static inline, C99, no malloc, no mutable globals; the caller passes the k-sized scratch.
 *
 * The k nearest training rows by a float64 brute-force search (the earlier row first at equal distance),
 * reach_j = max(d_j, kdist_j), lrd(x) = 1 / (mean(reach) + 1e-10), score = -mean(lrd_j / lrd(x)), as
 * scikit-learn computes them; equal to scikit-learn's outside the bound of docs/anomaly.md (rows whose
 * k-th and (k+1)-th neighbours are within rounding of each other are counted, not required). Link with -lm.
 */
#ifndef ML_LOF_H
#define ML_LOF_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ml_lof {
    int32_t n_features;
    int32_t m;            /* training rows */
    int32_t k;            /* neighbours */
    const double *fit_x;  /* m x n */
    const double *lrd;    /* m */
    const double *kdist;  /* m */
    double offset;
} ml_lof;

/* score_samples of x. bd: k doubles, bi: k int32 of scratch. */
static inline double ml_lof_score(const ml_lof *l, const float *x, double *bd, int32_t *bi)
{
    const int32_t n = l->n_features, k = l->k;
    int32_t i, j, c = 0;
    double reach = 0.0, s = 0.0, xl;
    for (i = 0; i < l->m; i++) {
        const double *y = l->fit_x + (size_t)i * (size_t)n;
        double d2 = 0.0;
        for (j = 0; j < n; j++) {
            const double d = (double)x[j] - y[j];
            d2 += d * d;
        }
        if (c < k || d2 < bd[k - 1]) {
            j = c < k ? c++ : k - 1;
            while (j > 0 && bd[j - 1] > d2) { /* strict: an earlier row stays first at equal distance */
                bd[j] = bd[j - 1];
                bi[j] = bi[j - 1];
                j--;
            }
            bd[j] = d2;
            bi[j] = i;
        }
    }
    for (j = 0; j < k; j++) {
        const double d = sqrt(bd[j]), kd = l->kdist[bi[j]];
        reach += d > kd ? d : kd;
    }
    xl = 1.0 / (reach / (double)k + 1e-10);
    for (j = 0; j < k; j++) {
        s += l->lrd[bi[j]] / xl;
    }
    return -(s / (double)k);
}

#ifdef __cplusplus
}
#endif

#endif /* ML_LOF_H */
