/*
 * ml_trees.h - decision trees, random forests and extra trees, walked from const tables.
 *
 * Part of the microlearn runtime. C99, no malloc, no mutable globals; every function is static inline,
 * so this header can be included from any number of translation units and from C++.
 *
 * A model is an ml_trees struct of pointers to const arrays (generated C keeps them in flash; a model
 * file loaded with ml_model.h points them into the file's buffer). Semantics, exactly scikit-learn's:
 *   - input: one row of float32 features;
 *   - internal node i: a NaN input goes left when missing_left[i], else right; any other input goes
 *     left when x <= threshold[i]. Written as `missing_left ? !(x > t) : (x <= t)`, NaN needs no isnan()
 *     (IEEE comparisons with NaN are false). Do not build with -ffast-math: it breaks NaN routing.
 *   - nodes of a tree are in preorder: the left child of node i is i + 1; right[i] is the right child,
 *     and at a leaf (feature[i] < 0) it is the leaf's row in the leaf tables;
 *   - classifier: probabilities are the float64 mean of the per-tree leaf probabilities, summed in tree
 *     order; the class is the first maximum (numpy's argmax); one tree predicts leaf_class;
 *   - regressor: float32 mean of the leaf values.
 */
#ifndef ML_TREES_H
#define ML_TREES_H

#include <stdint.h>

#include "ml_scores.h"

#ifdef __cplusplus
extern "C" {
#endif

/* On cores without an FPU (ML_SOFT_F32 in ml_scores.h: Arm's __SOFTFP__, e.g. Cortex-M0+; RISC-V without
 * __riscv_flen, e.g. rv32imc), every float comparison is a library call; generated "inline" code then
 * compares integer keys of the float bit patterns (ml_f32_key) instead, which order exactly like the
 * floats. Define ML_TREES_INT_COMPARE to 0 or 1 to choose yourself. */
#ifndef ML_TREES_INT_COMPARE
#ifdef ML_SOFT_F32
#define ML_TREES_INT_COMPARE 1
#else
#define ML_TREES_INT_COMPARE 0
#endif
#endif

/* ml_f32_key (ml_scores.h) with NaN mapped to INT32_MIN: `key <= tkey` then sends NaN left, as `!(x > t)` does. */
static inline int32_t ml_f32_key_nan_low(float v)
{
    const int32_t k = ml_f32_key(v);
    return k == INT32_MAX ? INT32_MIN : k;
}

/* x <= t, and the same with NaN going left; t is a float32 threshold and k its ml_f32_key. */
#if ML_TREES_INT_COMPARE
#define ML_TREES_LE(x, t, k) (ml_f32_key(x) <= (k))
#define ML_TREES_LE_NAN_LEFT(x, t, k) (ml_f32_key_nan_low(x) <= (k))
#else
#define ML_TREES_LE(x, t, k) ((x) <= (t))
#define ML_TREES_LE_NAN_LEFT(x, t, k) (!((x) > (t)))
#endif

#ifndef ML_TREES_MAX_OUTPUTS
/* Largest number of classes ml_trees_predict_class() accumulates on the stack. */
#define ML_TREES_MAX_OUTPUTS 256
#endif

typedef struct ml_trees {
    int32_t n_features;
    int32_t n_outputs;           /* classes of a classifier, 1 for a regressor */
    int32_t n_trees;
    int32_t n_nodes;
    int32_t n_leaves;
    const int32_t *roots;        /* [n_trees] */
    const int16_t *feature;      /* [n_nodes] feature index, -1 at a leaf */
    const uint8_t *missing_left; /* [n_nodes] 1: NaN goes left */
    const float *threshold;      /* [n_nodes] */
    const int32_t *right;        /* [n_nodes] right child; leaf row at a leaf */
    const double *leaf_proba;    /* [n_leaves * n_outputs] classifier, else NULL */
    const int32_t *leaf_class;   /* [n_leaves] classifier, else NULL */
    const float *leaf_value;     /* [n_leaves] regressor, else NULL */
} ml_trees;

/* Row of the leaf tables that tree `tree` reaches for input x. */
static inline int32_t ml_trees_leaf(const ml_trees *m, int32_t tree, const float *x)
{
    int32_t i = m->roots[tree];
    for (;;) {
        const int32_t f = m->feature[i];
        if (f < 0) {
            return m->right[i];
        }
        {
            const float v = x[f];
            const float t = m->threshold[i];
#if ML_TREES_INT_COMPARE
            const int32_t k = ml_f32_key(t);
            const int go_left = m->missing_left[i] ? ML_TREES_LE_NAN_LEFT(v, t, k) : ML_TREES_LE(v, t, k);
#else
            const int go_left = m->missing_left[i] ? ML_TREES_LE_NAN_LEFT(v, t, 0) : ML_TREES_LE(v, t, 0);
#endif
            i = go_left ? i + 1 : m->right[i];
        }
    }
}

/* Class probabilities as float64, exactly as scikit-learn computes them. out: n_outputs doubles. */
static inline void ml_trees_proba_f64(const ml_trees *m, const float *x, double *out)
{
    int32_t c, t;
    for (c = 0; c < m->n_outputs; c++) {
        out[c] = 0.0;
    }
    for (t = 0; t < m->n_trees; t++) {
        const double *p = m->leaf_proba + (int32_t)(ml_trees_leaf(m, t, x) * m->n_outputs);
        for (c = 0; c < m->n_outputs; c++) {
            out[c] += p[c];
        }
    }
    if (m->n_trees > 1) {
        for (c = 0; c < m->n_outputs; c++) {
            out[c] /= (double)m->n_trees;
        }
    }
}

/* Class probabilities as float. out: n_outputs floats. Writes nothing if the model has more classes
 * than ML_TREES_MAX_OUTPUTS (ml_model.h rejects such files; generated code never has them). */
static inline void ml_trees_predict_proba(const ml_trees *m, const float *x, float *out)
{
    double acc[ML_TREES_MAX_OUTPUTS];
    int32_t c;
    if (m->n_outputs > ML_TREES_MAX_OUTPUTS) {
        return;
    }
    ml_trees_proba_f64(m, x, acc);
    for (c = 0; c < m->n_outputs; c++) {
        out[c] = (float)acc[c];
    }
}

/* ml_argmax_f64: ml_scores.h. */

/* Class index; -1 if the model has more classes than ML_TREES_MAX_OUTPUTS. */
static inline int32_t ml_trees_predict_class(const ml_trees *m, const float *x)
{
    double acc[ML_TREES_MAX_OUTPUTS];
    if (m->n_trees == 1) {
        return m->leaf_class[ml_trees_leaf(m, 0, x)];
    }
    if (m->n_outputs > ML_TREES_MAX_OUTPUTS) {
        return -1;
    }
    ml_trees_proba_f64(m, x, acc);
    return ml_argmax_f64(acc, m->n_outputs);
}

/* acc[0..n) += p[0..n): one tree's vote; generated "inline" code calls it once per tree. */
static inline void ml_trees_add_f64(double *acc, const double *p, int32_t n)
{
    int32_t c;
    for (c = 0; c < n; c++) {
        acc[c] += p[c];
    }
}

/* One tree's vote in fixed point for the fast path of generated forest classifiers.
 * vote >= 0: the leaf is pure, probability 1 (= one) for class `vote`;
 * vote < 0: add row (-vote - 1) of rows_q (n values per row, probabilities scaled by `one`). */
static inline void ml_trees_vote_q(uint32_t *votes, int32_t vote, const uint32_t *rows_q, int32_t n, uint32_t one)
{
    if (vote >= 0) {
        votes[vote] += one;
    } else {
        const uint32_t *p = rows_q + (int32_t)((-vote - 1) * n);
        int32_t c;
        for (c = 0; c < n; c++) {
            votes[c] += p[c];
        }
    }
}

/* One tree's vote added to float64 sums, exactly: vote >= 0 adds probability 1.0 to that class (a pure
 * leaf), vote < 0 adds row (-vote - 1) of rows_f64. */
static inline void ml_trees_add_vote_f64(double *acc, int32_t vote, const double *rows_f64, int32_t n)
{
    if (vote >= 0) {
        acc[vote] += 1.0;
    } else {
        ml_trees_add_f64(acc, rows_f64 + (int32_t)((-vote - 1) * n), n);
    }
}

/* First index of the largest of n uint32 sums (numpy's argmax). */
static inline int32_t ml_argmax_u32(const uint32_t *v, int32_t n)
{
    int32_t best = 0, c;
    for (c = 1; c < n; c++) {
        if (v[c] > v[best]) {
            best = c;
        }
    }
    return best;
}

/* First index of the largest of n sums if it exceeds every other by more than margin, else -1.
 * Generated code passes a margin larger than the fixed-point sums can err, so a non-negative answer
 * is scikit-learn's float64 argmax; -1 sends it to the exact float64 replay. */
static inline int32_t ml_argmax_margin_q(const uint32_t *v, int32_t n, uint32_t margin)
{
    int32_t best = 0, c;
    uint32_t other = 0;
    for (c = 1; c < n; c++) {
        if (v[c] > v[best]) {
            best = c;
        }
    }
    for (c = 0; c < n; c++) {
        if (c != best && v[c] > other) {
            other = v[c];
        }
    }
    return (n == 1 || v[best] - other > margin) ? best : -1;
}

/* Regressor output. */
static inline float ml_trees_predict_value(const ml_trees *m, const float *x)
{
    float sum = 0.0f;
    int32_t t;
    for (t = 0; t < m->n_trees; t++) {
        sum += m->leaf_value[ml_trees_leaf(m, t, x)];
    }
    return m->n_trees > 1 ? sum / (float)m->n_trees : sum;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_TREES_H */
