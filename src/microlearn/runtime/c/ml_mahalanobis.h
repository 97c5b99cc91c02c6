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
 * Only additions, multiplications and integer compares where the CPU lacks the float type (ml_scores.h):
 * the tables hold the negated location (x + (-loc) is exactly x - loc) and `q - e > thr` is tested as
 * `thr + e < q`, which implies it exactly.
 * The "float32" method keeps the float32 distance only (ml_mah_predict_lite): inlier when it is at most
 * the float32 threshold, compared as integers; no bound, no float64 code. Its decision is scikit-learn's
 * wherever step 2 would decide.
 */
#ifndef ML_MAHALANOBIS_H
#define ML_MAHALANOBIS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_scores.h"

#ifdef __cplusplus
extern "C" {
#endif

/* float32 fast-path tables */
typedef struct ml_mah_f32 {
    int32_t n_features;
    const float *neg_loc; /* n: float32-rounded location, negated (x + (-loc) is x - loc) */
    const float *p;    /* n (n + 1) / 2: float32-rounded packed upper triangle */
    const float *w;    /* n: |P[i][i]| rounded up, the scaling of the bound */
    float a, b, c;     /* the bound a r + b + c (|q| + a r + b) */
    float thr_lo;      /* the threshold rounded down to float32 */
    float thr_hi;      /* the threshold rounded up to float32 */
} ml_mah_f32;

/* float64 replay tables: scikit-learn's values (the packed sums rounded once) */
typedef struct ml_mah_f64 {
    int32_t n_features;
    const double *neg_loc; /* n: -location */
    const double *p;
    double thr; /* -offset */
} ml_mah_f64;

/* "float32" method tables */
typedef struct ml_mah_lite {
    int32_t n_features;
    const float *neg_loc; /* as in ml_mah_f32 */
    const float *p;       /* as in ml_mah_f32 */
    int32_t thr_key;      /* ml_f32_key of the threshold (-offset) rounded to float32 */
} ml_mah_lite;

/* The float32 distance d^T P d from the packed upper triangle p; d (n floats) receives x - loc. */
static inline float ml_mah_q_f32(int32_t n, const float *neg_loc, const float *p, const float *x, float *d)
{
    float q = 0.0f;
    int32_t i, j;
    for (i = 0; i < n; i++) {
        d[i] = x[i] + neg_loc[i];
    }
    for (i = 0; i < n; i++) {
        float t = *p++ * d[i];
        for (j = i + 1; j < n; j++) {
            t += *p++ * d[j];
        }
        q += d[i] * t;
    }
    return q;
}

/* The float32 distance; *r receives sum_i w_i d_i^2 (for the bound). d: n floats. */
static inline float ml_mah_dist_f32(const ml_mah_f32 *m, const float *x, float *d, float *r)
{
    const float q = ml_mah_q_f32(m->n_features, m->neg_loc, m->p, x, d);
    float s = 0.0f;
    int32_t i;
    for (i = 0; i < m->n_features; i++) {
        s += (d[i] * d[i]) * m->w[i];
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
        const double di = (double)x[i] + m->neg_loc[i];
        double t = *p++ * di;
        for (j = i + 1; j < n; j++) {
            t += *p++ * ((double)x[j] + m->neg_loc[j]);
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
    if (ml_f32_is_nan(q) || ml_f32_is_nan(e)) {
        return 0;
    }
    if (ml_f32_lt(q + e, f->thr_lo)) {
        return 1;
    }
    if (ml_f32_lt(f->thr_hi + e, q)) { /* implies q - e > thr_hi exactly (rounding is monotone) */
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
    {
        const double q = ml_mah_dist_f64(g, x); /* near the threshold, NaN or overflow */
        return (!ml_f64_is_nan(q) && !ml_f64_lt(g->thr, q)) ? 1 : -1;
    }
}

/* The "float32" method's predict: 1 (inlier) when the float32 distance is at most the float32 threshold
 * (the sign of its decision_function), else -1 (NaN: -1). d: n floats of scratch. */
static inline int32_t ml_mah_predict_lite(const ml_mah_lite *m, const float *x, float *d)
{
    const float q = ml_mah_q_f32(m->n_features, m->neg_loc, m->p, x, d);
    return ml_f32_key(q) <= m->thr_key ? 1 : -1; /* NaN has the largest key */
}

#ifdef __cplusplus
}
#endif

#endif /* ML_MAHALANOBIS_H */
