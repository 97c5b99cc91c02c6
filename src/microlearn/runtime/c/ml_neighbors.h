/*
 * ml_neighbors.h - nearest-neighbour classifiers (k nearest examples, nearest centroid) for
 * microcontrollers, with examples added and removed at run time (on-device learning).
 *
 * Decision rule (docs/neighbors.md): float64 distances from the float32 input to every example (squared
 * euclidean, manhattan or minkowski sum |d|^p, summed in feature order; chebyshev: the largest difference); the k nearest, an
 * example replacing a kept one only
 * when strictly nearer (equal distances keep the lower example index); the most frequent class among
 * them, the lowest class index among equal counts. This is scikit-learn's class on every row whose k-th
 * and (k+1)-th distances are further apart than float64 rounding.
 *
 * Everything is static inline, C99, no malloc, no mutable globals; the caller owns every buffer.
 */
#ifndef ML_NEIGHBORS_H
#define ML_NEIGHBORS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ML_NEIGHBORS_EUCLIDEAN 0
#define ML_NEIGHBORS_MANHATTAN 1
#define ML_NEIGHBORS_CHEBYSHEV 2
#define ML_NEIGHBORS_MINKOWSKI 3 /* sum |x_i - e_i|^p: set p with ml_neighbors_set_power; needs pow (-lm) */

/* A set of examples: n_examples rows of n_features doubles in x, their class indices in y. A generated
 * header fills one with const tables; for on-device learning the caller owns x (capacity * n_features
 * doubles) and y (capacity entries) and calls ml_neighbors_add / ml_neighbors_remove. */
typedef struct ml_neighbors {
    uint32_t n_features;
    uint32_t n_classes;
    uint32_t k;
    uint32_t metric;
    uint32_t n_examples;
    uint32_t capacity;
    const double *x;
    const uint16_t *y;
    const double *v; /* a regressor's target per example (else NULL) */
    double *x_rw; /* NULL for const tables */
    uint16_t *y_rw;
    double p;      /* minkowski's power (metric ML_NEIGHBORS_MINKOWSKI) */
    double *v_rw;  /* a learning regressor's targets (caller-owned), else NULL */
} ml_neighbors;

/* The distance of x to example e; the sum stops early once it reaches lim (the example is then farther
 * than the k-th nearest kept: every term is >= 0, so the full sum could only be larger). */
static inline double ml_neighbors_distance_lim(const ml_neighbors *m, const double *e, const float *x,
                                               double lim)
{
    double s = 0.0;
    uint32_t i;
    for (i = 0; i < m->n_features; i++) {
        const double d = (double)x[i] - e[i];
        if (m->metric == ML_NEIGHBORS_CHEBYSHEV) {
            const double a = d < 0.0 ? -d : d;
            if (a > s || a != a) {
                s = a;
            }
        } else if (m->metric == ML_NEIGHBORS_MANHATTAN) {
            s += d < 0.0 ? -d : d;
        } else if (m->metric == ML_NEIGHBORS_MINKOWSKI) {
            s += pow(d < 0.0 ? -d : d, m->p);
        } else {
            s += d * d;
        }
        if (s >= lim) {
            break;
        }
    }
    return s;
}

static inline double ml_neighbors_distance(const ml_neighbors *m, const double *e, const float *x)
{
    return ml_neighbors_distance_lim(m, e, x, HUGE_VAL);
}

/* The k nearest examples of x into idx (nearest first), their distances into dist. */
static inline int ml_neighbors_nearest(const ml_neighbors *m, const float *x, double *dist, uint32_t *idx)
{
    uint32_t j, kept = 0;
    if (m == 0 || x == 0 || dist == 0 || idx == 0 || m->k == 0) {
        return ML_E_ARG;
    }
    if (m->n_examples < m->k) {
        return ML_E_STATE;
    }
    for (j = 0; j < m->n_examples; j++) {
        const double d = ml_neighbors_distance_lim(m, m->x + (size_t)j * m->n_features, x,
                                                   kept == m->k ? dist[kept - 1] : HUGE_VAL);
        uint32_t p;
        if (d != d) {
            return ML_E_NAN;
        }
        if (kept == m->k && !(d < dist[kept - 1])) {
            continue;
        }
        p = kept < m->k ? kept++ : kept - 1; /* the slot freed: the end, or the farthest kept */
        while (p > 0 && d < dist[p - 1]) {  /* strictly nearer moves up: equal distances keep index order */
            dist[p] = dist[p - 1];
            idx[p] = idx[p - 1];
            p--;
        }
        dist[p] = d;
        idx[p] = j;
    }
    return ML_OK;
}

/* Class index of x, or ML_E_ARG / ML_E_STATE (fewer than k examples) / ML_E_NAN. Scratch: dist and idx
 * hold k entries, votes n_classes. */
static inline int32_t ml_neighbors_classify(const ml_neighbors *m, const float *x, double *dist, uint32_t *idx,
                                            uint32_t *votes)
{
    uint32_t j, c, best = 0;
    const uint32_t kept = m == 0 ? 0u : m->k;
    const int rc = ml_neighbors_nearest(m, x, dist, idx);
    if (rc != ML_OK) {
        return rc;
    }
    if (votes == 0) {
        return ML_E_ARG;
    }
    for (c = 0; c < m->n_classes; c++) {
        votes[c] = 0;
    }
    for (j = 0; j < kept; j++) {
        votes[m->y[idx[j]]]++;
    }
    for (c = 1; c < m->n_classes; c++) {
        if (votes[c] > votes[best]) {
            best = c;
        }
    }
    return (int32_t)best;
}

/* The weight of a neighbour at distance d (as ml_neighbors_distance gives it) for weights='distance':
 * 1 / the true distance (sqrt for euclidean, the p-th root for minkowski). */
static inline double ml_neighbors_weight(const ml_neighbors *m, double d)
{
    if (m->metric == ML_NEIGHBORS_EUCLIDEAN) {
        return 1.0 / sqrt(d);
    }
    if (m->metric == ML_NEIGHBORS_MINKOWSKI) {
        return 1.0 / pow(d, 1.0 / m->p);
    }
    return 1.0 / d;
}

/* Class index of x with scikit-learn's weights='distance': per class the sum of 1 / distance over the k
 * nearest (when some are at distance 0, only those count, weight 1); the lowest class among equal sums.
 * Scratch: dist and idx hold k entries, score n_classes. Needs sqrt (link with -lm). */
static inline int32_t ml_neighbors_classify_distance(const ml_neighbors *m, const float *x, double *dist,
                                                     uint32_t *idx, double *score)
{
    uint32_t j, c, best = 0;
    int zero = 0;
    const int rc = ml_neighbors_nearest(m, x, dist, idx);
    if (rc != ML_OK) {
        return rc;
    }
    if (score == 0) {
        return ML_E_ARG;
    }
    for (c = 0; c < m->n_classes; c++) {
        score[c] = 0.0;
    }
    for (j = 0; j < m->k; j++) {
        if (dist[j] == 0.0) {
            zero = 1;
        }
    }
    for (j = 0; j < m->k; j++) {
        double w;
        if (zero) {
            w = dist[j] == 0.0 ? 1.0 : 0.0;
        } else {
            w = ml_neighbors_weight(m, dist[j]);
        }
        score[m->y[idx[j]]] += w;
    }
    for (c = 1; c < m->n_classes; c++) {
        if (score[c] > score[best]) {
            best = c;
        }
    }
    return (int32_t)best;
}

/* A regressor's value of x: the mean of the k nearest targets (float64 sum in nearness order). Returns
 * ML_OK or an ML_E_* code; the value goes to *out. */
static inline int ml_neighbors_regress(const ml_neighbors *m, const float *x, double *dist, uint32_t *idx,
                                       double *out)
{
    uint32_t j;
    double s = 0.0;
    const int rc = ml_neighbors_nearest(m, x, dist, idx);
    if (rc != ML_OK) {
        return rc;
    }
    if (m->v == 0 || out == 0) {
        return ML_E_ARG;
    }
    for (j = 0; j < m->k; j++) {
        s += m->v[idx[j]];
    }
    *out = s / (double)m->k;
    return ML_OK;
}

/* A regressor's value of x with weights='distance': sum w_j y_j / sum w_j over the k nearest, w = 1 /
 * distance (when some are at distance 0, only those, weight 1). Needs sqrt / pow (-lm). */
static inline int ml_neighbors_regress_distance(const ml_neighbors *m, const float *x, double *dist,
                                                uint32_t *idx, double *out)
{
    uint32_t j;
    double num = 0.0, den = 0.0;
    int zero = 0;
    const int rc = ml_neighbors_nearest(m, x, dist, idx);
    if (rc != ML_OK) {
        return rc;
    }
    if (m->v == 0 || out == 0) {
        return ML_E_ARG;
    }
    for (j = 0; j < m->k; j++) {
        if (dist[j] == 0.0) {
            zero = 1;
        }
    }
    for (j = 0; j < m->k; j++) {
        const double w = zero ? (dist[j] == 0.0 ? 1.0 : 0.0) : ml_neighbors_weight(m, dist[j]);
        num += m->v[idx[j]] * w;
        den += w;
    }
    *out = num / den;
    return ML_OK;
}

/* Minkowski's power p (>= 1, finite) for metric ML_NEIGHBORS_MINKOWSKI. */
static inline int ml_neighbors_set_power(ml_neighbors *m, double p)
{
    if (m == 0 || !(p >= 1.0) || p - p != 0.0) {
        return ML_E_ARG;
    }
    m->p = p;
    return ML_OK;
}

/* The result from the k nearest found elsewhere (idx, nearest first, and their distances as
 * ml_neighbors_distance gives them, e.g. exact integer distances converted): a classifier's class index
 * (scratch: score, n_classes doubles) or a regressor's value into *value. distance: weights='distance'.
 * Used by the generated integer-storage methods. */
static inline int32_t ml_neighbors_finish(const ml_neighbors *m, const double *dist, const uint32_t *idx,
                                          int distance, double *score, double *value)
{
    uint32_t j, c, best = 0;
    int zero = 0;
    double num = 0.0, den = 0.0;
    for (j = 0; distance && j < m->k; j++) {
        if (dist[j] == 0.0) {
            zero = 1;
        }
    }
    if (m->v == 0) {
        for (c = 0; c < m->n_classes; c++) {
            score[c] = 0.0;
        }
    }
    for (j = 0; j < m->k; j++) {
        double w = 1.0;
        if (distance) {
            w = zero ? (dist[j] == 0.0 ? 1.0 : 0.0) : ml_neighbors_weight(m, dist[j]);
        }
        if (m->v != 0) {
            num += m->v[idx[j]] * w;
            den += w;
        } else {
            score[m->y[idx[j]]] += w;
        }
    }
    if (m->v != 0) {
        *value = distance ? num / den : num / (double)m->k;
        return 0;
    }
    for (c = 1; c < m->n_classes; c++) {
        if (score[c] > score[best]) {
            best = c;
        }
    }
    return (int32_t)best;
}

/* On-device learning: point m at caller-owned buffers (capacity examples) and copy the n_init examples
 * of init_x / init_y (may be 0 and NULL) into them. */
static inline int ml_neighbors_init(ml_neighbors *m, uint32_t n_features, uint32_t n_classes, uint32_t k,
                                    uint32_t metric, double *x_buf, uint16_t *y_buf, uint32_t capacity,
                                    const double *init_x, const uint16_t *init_y, uint32_t n_init)
{
    uint32_t i;
    if (m == 0 || x_buf == 0 || y_buf == 0 || n_features == 0 || n_classes < 2 || n_classes > 65535u ||
        k == 0 || metric > ML_NEIGHBORS_MINKOWSKI || (n_init > 0 && (init_x == 0 || init_y == 0))) {
        return ML_E_ARG;
    }
    if (n_init > capacity) {
        return ML_E_CAPACITY;
    }
    for (i = 0; i < n_init; i++) {
        if (init_y[i] >= n_classes) {
            return ML_E_VALUE;
        }
    }
    for (i = 0; i < n_init * n_features; i++) {
        x_buf[i] = init_x[i];
    }
    for (i = 0; i < n_init; i++) {
        y_buf[i] = init_y[i];
    }
    m->n_features = n_features;
    m->n_classes = n_classes;
    m->k = k;
    m->metric = metric;
    m->n_examples = n_init;
    m->capacity = capacity;
    m->x = x_buf;
    m->y = y_buf;
    m->v = 0;
    m->x_rw = x_buf;
    m->y_rw = y_buf;
    m->p = 2.0;
    m->v_rw = 0;
    return ML_OK;
}

/* On-device learning for a regressor: as ml_neighbors_init, with the targets in caller-owned v_buf
 * (capacity entries; the first n_init copied from init_v). Add with ml_neighbors_add_value. */
static inline int ml_neighbors_init_regressor(ml_neighbors *m, uint32_t n_features, uint32_t k, uint32_t metric,
                                              double *x_buf, uint16_t *y_buf, double *v_buf, uint32_t capacity,
                                              const double *init_x, const double *init_v, uint32_t n_init)
{
    uint32_t i;
    int rc;
    if (v_buf == 0 || (n_init > 0 && init_v == 0)) {
        return ML_E_ARG;
    }
    for (i = 0; i < n_init; i++) {
        if (init_v[i] - init_v[i] != 0.0) {
            return ML_E_NAN;
        }
    }
    if (n_init <= capacity) {
        for (i = 0; i < n_init; i++) {
            y_buf[i] = 0;
        }
    }
    rc = ml_neighbors_init(m, n_features, 2u, k, metric, x_buf, y_buf, capacity, init_x, n_init ? y_buf : 0,
                           n_init);
    if (rc != ML_OK) {
        return rc;
    }
    for (i = 0; i < n_init; i++) {
        v_buf[i] = init_v[i];
    }
    m->n_classes = 1;
    m->v = v_buf;
    m->v_rw = v_buf;
    return ML_OK;
}

/* Append example x (n_features floats) of class label. ML_E_CAPACITY when full, ML_E_STATE for const
 * tables, ML_E_VALUE for a label out of range, ML_E_NAN for a non-finite value. */
static inline int ml_neighbors_add(ml_neighbors *m, const float *x, uint32_t label)
{
    uint32_t i;
    double *dst;
    if (m == 0 || x == 0) {
        return ML_E_ARG;
    }
    if (m->x_rw == 0 || m->y_rw == 0 || m->v != 0) {
        return ML_E_STATE; /* const tables, or a regressor: ml_neighbors_add_value */
    }
    if (label >= m->n_classes) {
        return ML_E_VALUE;
    }
    if (m->n_examples >= m->capacity) {
        return ML_E_CAPACITY;
    }
    for (i = 0; i < m->n_features; i++) {
        if (x[i] - x[i] != 0.0f) {
            return ML_E_NAN;
        }
    }
    dst = m->x_rw + (size_t)m->n_examples * m->n_features;
    for (i = 0; i < m->n_features; i++) {
        dst[i] = (double)x[i];
    }
    m->y_rw[m->n_examples] = (uint16_t)label;
    m->n_examples++;
    return ML_OK;
}

/* Append example x (n_features floats) with target value (a regressor set up by
 * ml_neighbors_init_regressor). ML_E_CAPACITY when full, ML_E_STATE otherwise, ML_E_NAN for non-finite. */
static inline int ml_neighbors_add_value(ml_neighbors *m, const float *x, double value)
{
    uint32_t i;
    double *dst;
    if (m == 0 || x == 0) {
        return ML_E_ARG;
    }
    if (m->x_rw == 0 || m->y_rw == 0 || m->v_rw == 0) {
        return ML_E_STATE;
    }
    if (m->n_examples >= m->capacity) {
        return ML_E_CAPACITY;
    }
    if (value - value != 0.0) {
        return ML_E_NAN;
    }
    for (i = 0; i < m->n_features; i++) {
        if (x[i] - x[i] != 0.0f) {
            return ML_E_NAN;
        }
    }
    dst = m->x_rw + (size_t)m->n_examples * m->n_features;
    for (i = 0; i < m->n_features; i++) {
        dst[i] = (double)x[i];
    }
    m->y_rw[m->n_examples] = 0;
    m->v_rw[m->n_examples] = value;
    m->n_examples++;
    return ML_OK;
}

/* Remove example number index; the later ones move down one place (their order is kept: it decides
 * between equal distances). */
static inline int ml_neighbors_remove(ml_neighbors *m, uint32_t index)
{
    uint32_t i, n;
    if (m == 0) {
        return ML_E_ARG;
    }
    if (m->x_rw == 0 || m->y_rw == 0) {
        return ML_E_STATE;
    }
    if (index >= m->n_examples) {
        return ML_E_ARG;
    }
    n = m->n_features;
    for (i = index * n; i + n < m->n_examples * n; i++) {
        m->x_rw[i] = m->x_rw[i + n];
    }
    for (i = index; i + 1 < m->n_examples; i++) {
        m->y_rw[i] = m->y_rw[i + 1];
        if (m->v_rw != 0) {
            m->v_rw[i] = m->v_rw[i + 1];
        }
    }
    m->n_examples--;
    return ML_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_NEIGHBORS_H */
