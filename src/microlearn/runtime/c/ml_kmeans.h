/*
 * ml_kmeans.h - k-means (KMeans, MiniBatchKMeans) for microcontrollers: the nearest centre, the distances
 * to every centre, and the online update of MiniBatchKMeans.partial_fit on batches received on the device.
 *
 * Rule (docs/kmeans.md): float64 squared euclidean distances from the float32 input to every centre,
 * summed in feature order; the nearest centre, the lowest index among equal distances. This is
 * scikit-learn's predict on every row whose two nearest centres are further apart than rounding.
 *
 * Online update (ml_kmeans_partial_fit, ml_kmeans_partial_fit_weighted): scikit-learn's _mini_batch_step
 * without random reassignment, in float32 in scikit-learn's order: per centre, s = the float32 sum of its
 * members' sample weights in batch order (1 each unweighted); if s > 0: c = c * w, c += x * weight for
 * each member in batch order, w += s, c *= (float)(1 / w). With float32 centres, batches and weights (a
 * model fitted on float32 data) every operation is the one scikit-learn performs, so the result is its
 * bits wherever the labels agree. Compile in ISO C mode (-std=c99) or with -ffp-contract=off so that no
 * multiply-add is fused.
 *
 * Everything is static inline, C99, no malloc, no mutable globals; the caller owns every buffer.
 */
#ifndef ML_KMEANS_H
#define ML_KMEANS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Centres: n_clusters rows of n_features, either const float64 tables (c64, a generated header) or a
 * caller-owned float32 buffer with the weight sums (c32 / counts, set up by ml_kmeans_learn_init). */
typedef struct ml_kmeans {
    uint32_t n_features;
    uint32_t n_clusters;
    const double *c64;
    float *c32;
    float *counts;
} ml_kmeans;

static inline double ml_kmeans_distance2(const ml_kmeans *m, uint32_t j, const float *x)
{
    double s = 0.0;
    uint32_t i;
    const size_t o = (size_t)j * m->n_features;
    for (i = 0; i < m->n_features; i++) {
        const double c = m->c64 != 0 ? m->c64[o + i] : (double)m->c32[o + i];
        const double d = (double)x[i] - c;
        s += d * d;
    }
    return s;
}

/* With float32 centres (learning buffers): the nearest centre by float32 distances when the second
 * nearest is farther by more than both float32's and float64's rounding (relative gamma_(n+2) each for
 * sums of non-negative terms of one-rounding differences; (n + 3) 2^-21 covers both, the underflow of
 * terms once the distances are >= 2^-100, and this test's own rounding), else -1: the float64 rule
 * decides. Without a second centre: 0. */
static inline int32_t ml_kmeans_predict_f32(const ml_kmeans *m, const float *x)
{
    uint32_t i, j, best = 0;
    float b1 = HUGE_VALF, b2 = HUGE_VALF;
    const float a = 1.0f - (float)(m->n_features + 3u) * 4.76837158e-07f; /* 2^-21 */
    for (j = 0; j < m->n_clusters; j++) {
        const float *c = m->c32 + (size_t)j * m->n_features;
        float s = 0.0f;
        for (i = 0; i < m->n_features; i++) {
            const float d = x[i] - c[i];
            s += d * d;
            if (s >= b2) {
                break;
            }
        }
        if (s < b1) {
            b2 = b1;
            b1 = s;
            best = j;
        } else if (s < b2) {
            b2 = s;
        }
    }
    if (m->n_clusters < 2u) {
        return 0;
    }
    if (b2 >= 7.88860905e-31f && b2 <= 3.40282347e38f && b2 * a > b1) {
        return (int32_t)best;
    }
    return -1;
}

/* Index of the nearest centre of x; ML_E_ARG, ML_E_NAN for NaN input. */
static inline int32_t ml_kmeans_predict(const ml_kmeans *m, const float *x)
{
    uint32_t j, best = 0;
    double bd = 0.0;
    if (m == 0 || x == 0 || (m->c64 == 0 && m->c32 == 0) || m->n_clusters == 0) {
        return ML_E_ARG;
    }
    if (m->c64 == 0 && m->n_features < (1u << 16)) {
        const int32_t f = ml_kmeans_predict_f32(m, x);
        if (f >= 0) {
            return f;
        }
    }
    for (j = 0; j < m->n_clusters; j++) {
        const double d = ml_kmeans_distance2(m, j, x);
        if (d != d) {
            return ML_E_NAN;
        }
        if (j == 0 || d < bd) {
            bd = d;
            best = j;
        }
    }
    return (int32_t)best;
}

/* The euclidean distance of x to every centre into out (n_clusters floats); needs sqrt (-lm). */
static inline int ml_kmeans_transform(const ml_kmeans *m, const float *x, float *out)
{
    uint32_t j;
    if (m == 0 || x == 0 || out == 0 || (m->c64 == 0 && m->c32 == 0)) {
        return ML_E_ARG;
    }
    for (j = 0; j < m->n_clusters; j++) {
        out[j] = (float)sqrt(ml_kmeans_distance2(m, j, x));
    }
    return ML_OK;
}

/* Online learning: copy the centres (init, float64, rounded to float32) and weight sums (init_counts; NULL
 * for all 0) into the caller's buffers c_buf (n_clusters * n_features floats) and counts_buf. */
static inline int ml_kmeans_learn_init(ml_kmeans *m, uint32_t n_features, uint32_t n_clusters, float *c_buf,
                                       float *counts_buf, const double *init, const double *init_counts)
{
    uint32_t i;
    if (m == 0 || c_buf == 0 || counts_buf == 0 || init == 0 || n_features == 0 || n_clusters == 0) {
        return ML_E_ARG;
    }
    for (i = 0; i < n_features * n_clusters; i++) {
        if (init[i] - init[i] != 0.0) {
            return ML_E_VALUE;
        }
        c_buf[i] = (float)init[i];
    }
    for (i = 0; i < n_clusters; i++) {
        const double w = init_counts != 0 ? init_counts[i] : 0.0;
        if (!(w >= 0.0 && w <= 1e15)) {
            return ML_E_VALUE;
        }
        counts_buf[i] = (float)w;
    }
    m->n_features = n_features;
    m->n_clusters = n_clusters;
    m->c64 = 0;
    m->c32 = c_buf;
    m->counts = counts_buf;
    return ML_OK;
}

/* One mini-batch step on n_rows rows of x (row-major, n_features floats each) with sample weights
 * (n_rows floats, each finite and >= 0; NULL: 1 each): labels (n_rows int32, caller's scratch, also the
 * result) by ml_kmeans_predict on the centres before the step, then every centre whose members' weights
 * sum to more than 0 moves to the weighted mean of its old weight and the members. ML_E_STATE without
 * learning buffers, ML_E_NAN for a non-finite value in x, ML_E_VALUE for a negative or non-finite weight
 * (nothing is changed then). */
static inline int ml_kmeans_partial_fit_weighted(ml_kmeans *m, const float *x, uint32_t n_rows,
                                                 const float *sample_weight, int32_t *labels)
{
    uint32_t r, i, j;
    if (m == 0 || x == 0 || labels == 0) {
        return ML_E_ARG;
    }
    if (m->c32 == 0 || m->counts == 0) {
        return ML_E_STATE;
    }
    for (r = 0; r < n_rows * m->n_features; r++) {
        if (x[r] - x[r] != 0.0f) {
            return ML_E_NAN;
        }
    }
    for (r = 0; sample_weight != 0 && r < n_rows; r++) {
        if (!(sample_weight[r] >= 0.0f && sample_weight[r] - sample_weight[r] == 0.0f)) {
            return ML_E_VALUE;
        }
    }
    for (r = 0; r < n_rows; r++) {
        labels[r] = ml_kmeans_predict(m, x + (size_t)r * m->n_features);
        if (labels[r] < 0) {
            return labels[r];
        }
    }
    for (j = 0; j < m->n_clusters; j++) {
        float *c = m->c32 + (size_t)j * m->n_features;
        float wsum = 0.0f, alpha;
        for (r = 0; r < n_rows; r++) {
            if (labels[r] == (int32_t)j) {
                wsum += sample_weight != 0 ? sample_weight[r] : 1.0f;
            }
        }
        if (!(wsum > 0.0f)) {
            continue;
        }
        for (i = 0; i < m->n_features; i++) {
            c[i] = c[i] * m->counts[j];
        }
        for (r = 0; r < n_rows; r++) {
            if (labels[r] == (int32_t)j) {
                const float *xr = x + (size_t)r * m->n_features;
                const float sw = sample_weight != 0 ? sample_weight[r] : 1.0f;
                for (i = 0; i < m->n_features; i++) {
                    const float t = xr[i] * sw; /* rounded to float before the sum (x * 1 is x) */
                    c[i] += t;
                }
            }
        }
        m->counts[j] += wsum;
        alpha = 1.0f / m->counts[j];
        for (i = 0; i < m->n_features; i++) {
            c[i] *= alpha;
        }
    }
    return ML_OK;
}

/* ml_kmeans_partial_fit_weighted with every sample weight 1. */
static inline int ml_kmeans_partial_fit(ml_kmeans *m, const float *x, uint32_t n_rows, int32_t *labels)
{
    return ml_kmeans_partial_fit_weighted(m, x, n_rows, 0, labels);
}

#ifdef __cplusplus
}
#endif

#endif /* ML_KMEANS_H */
