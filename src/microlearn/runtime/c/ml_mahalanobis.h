/*
 * ml_mahalanobis.h - squared Mahalanobis distance for microcontrollers: scikit-learn's EllipticEnvelope
 * and MinCovDet (score_samples = -distance, decision_function = score_samples - offset, predict).
 *
 * A generated model header fills the records below with const tables and calls these functions.
 * Everything is static inline, C99, no malloc, no mutable globals; the caller passes the scratch array.
 *
 * q = sum_i d_i * (P[i][i] d_i + sum_{j>i} (P[i][j] + P[j][i]) d_j), d = x - location: the upper triangle
 * of the symmetrised precision, packed row by row. Decision (docs/anomaly.md proves every step):
 *   1. fast path in float32, with the device bound |q - scikit-learn's distance| <= a r + b + c (|q| + ..)
 *      (r: the computed sum of the squared differences);
 *   2. inlier when q plus the bound lies below the threshold (-offset), outlier when q minus it lies above;
 *   3. otherwise (a near tie, NaN/inf input or an overflow) the distance is replayed in float64.
 */
#ifndef ML_MAHALANOBIS_H
#define ML_MAHALANOBIS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* float32 fast-path tables */
typedef struct ml_mah_f32 {
    int32_t n_features;
    const float *loc;  /* n: float32-rounded location */
    const float *p;    /* n (n + 1) / 2: float32-rounded packed upper triangle */
    const float *w;    /* n: |P[i][i]| rounded up, the scaling of the bound */
    float a, b, c;     /* the bound a r + b + c (|q| + a r + b) */
    float thr_lo;      /* the threshold rounded down to float32 */
    float thr_hi;      /* the threshold rounded up to float32 */
} ml_mah_f32;

/* float64 replay tables: scikit-learn's values (the packed sums rounded once) */
typedef struct ml_mah_f64 {
    int32_t n_features;
    const double *loc;
    const double *p;
    double thr; /* -offset */
} ml_mah_f64;

/* The float32 distance; *r receives sum_i w_i d_i^2 (for the bound). d: n floats. */
static inline float ml_mah_dist_f32(const ml_mah_f32 *m, const float *x, float *d, float *r)
{
    const int32_t n = m->n_features;
    const float *p = m->p;
    float q = 0.0f, s = 0.0f;
    int32_t i, j;
    for (i = 0; i < n; i++) {
        d[i] = x[i] - m->loc[i];
        s += (d[i] * d[i]) * m->w[i];
    }
    for (i = 0; i < n; i++) {
        float t = *p++ * d[i];
        for (j = i + 1; j < n; j++) {
            t += *p++ * d[j];
        }
        q += d[i] * t;
    }
    *r = s;
    return q;
}

/* scikit-learn's distance in float64. */
static inline double ml_mah_dist_f64(const ml_mah_f64 *m, const float *x)
{
    const int32_t n = m->n_features;
    const double *p = m->p;
    double q = 0.0;
    int32_t i, j;
    for (i = 0; i < n; i++) {
        const double di = (double)x[i] - m->loc[i];
        double t = *p++ * di;
        for (j = i + 1; j < n; j++) {
            t += *p++ * ((double)x[j] - m->loc[j]);
        }
        q += di * t;
    }
    return q;
}

/* The fast path's decision: 1 (inlier), -1 (outlier), or 0 when the bound does not decide (a near tie,
 * NaN/inf input or an overflow). d: n floats of scratch. */
static inline int32_t ml_mah_fast(const ml_mah_f32 *f, const float *x, float *d)
{
    float r, e;
    const float q = ml_mah_dist_f32(f, x, d, &r);
    e = f->a * r + f->b;
    e += f->c * (fabsf(q) + e);
    if (q + e < f->thr_lo) {
        return 1;
    }
    if (q - e > f->thr_hi) {
        return -1;
    }
    return 0;
}

/* 1 (inlier: scikit-learn's decision_function >= 0) or -1 (outlier). d: n floats of scratch. */
static inline int32_t ml_mah_predict(const ml_mah_f32 *f, const ml_mah_f64 *g, const float *x, float *d)
{
    const int32_t c = ml_mah_fast(f, x, d);
    if (c != 0) {
        return c;
    }
    return ml_mah_dist_f64(g, x) <= g->thr ? 1 : -1; /* near the threshold, NaN or overflow */
}

#ifdef __cplusplus
}
#endif

#endif /* ML_MAHALANOBIS_H */
