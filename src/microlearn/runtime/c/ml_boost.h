/*
 * ml_boost.h - boosted trees (gradient boosting, histogram gradient boosting) and isolation forests.
 *
 * Part of the microlearn runtime. C99, no malloc, no mutable globals; every function is static inline.
 *
 * The trees are those of ml_trees.h (preorder nodes, the left child of node i is i + 1, float32
 * thresholds, NaN routed by missing_left) plus categorical nodes: NaN goes left when missing_left; any
 * other value is a member of the node's category set when it names a category c in [0, 32 * words) whose
 * bit is set (cat_trunc: every value C's (int) truncates to c names c; else only c itself); members go
 * left when cat_left, every other value the other way.
 *
 * Raw scores: raw[k] = base[k], then each tree t adds its leaf value to raw[tree_output[t]], in tree
 * order (a "mean" model sums from 0, divides by the trees of each output, then adds base). The fast path
 * sums float32 copies of the leaf values; where the result decides a class or an inlier, a proven bound on
 * its rounding (computed when the model was converted) says whether the float32 sum suffices, else the
 * float64 sum is replayed in the library's order.
 */
#ifndef ML_BOOST_H
#define ML_BOOST_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_scores.h"
#include "ml_trees.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether v names a category whose bit is set in bits[0..words-1]. */
static inline int ml_boost_member(const uint32_t *bits, int32_t words, float v, int trunc)
{
    const float top = (float)(32 * words);
    int32_t c;
    if (trunc) {
        if (!(v > -1.0f && v < top)) {
            return 0;
        }
    } else if (!(v >= 0.0f && v < top)) {
        return 0;
    }
    c = (int32_t)v;
    if (!trunc && (float)c != v) {
        return 0;
    }
    return (int)((bits[c >> 5] >> (c & 31)) & 1u);
}

/* Whether a categorical node sends v left (see the top of this file). */
static inline int ml_boost_cat_left(const uint32_t *bits, int32_t words, float v, int trunc, int missing_left,
                                    int cat_left)
{
    if (v != v) {
        return missing_left;
    }
    return ml_boost_member(bits, words, v, trunc) == cat_left;
}

typedef struct ml_boost {
    int32_t n_features;
    int32_t n_raw;        /* raw scores per row */
    int32_t n_trees;
    int32_t n_nodes;
    int32_t n_leaves;
    int32_t leaf_width;   /* 1 (each tree adds to tree_output[t]) or n_raw (each tree adds a row) */
    int32_t mean;         /* 1: raw = base + sum / count; 0: raw = base + sum */
    int32_t cat_words;    /* uint32 words per category set (0: no categorical nodes) */
    int32_t cat_trunc;    /* categories by truncation (1) or exact value (0) */
    const int32_t *roots;
    const int16_t *feature;      /* -1 at leaves */
    const uint8_t *missing_left; /* 1: NaN goes left */
    const float *threshold;
    const int32_t *right;        /* right child; at a leaf its leaf row */
    const int32_t *cat_set;      /* set of each categorical node, -1 elsewhere (NULL: no categorical nodes) */
    const uint8_t *cat_left;     /* 1: the members of the set go left */
    const uint32_t *cat_bits;    /* cat_words words per set */
    const int32_t *tree_output;  /* NULL when leaf_width == n_raw */
    const float *leaf_f32;       /* leaf rows, float32 */
    const double *leaf_f64;      /* leaf rows, float64 (NULL when the model sums in float32) */
    const float *base_f32;       /* NULL: base_f64 rounded to float32 */
    const double *base_f64;
    const float *count;          /* trees per output of a mean model (NULL: counted from tree_output) */
} ml_boost;

/* Leaf row that input x reaches in tree `tree`. */
static inline int32_t ml_boost_leaf(const ml_boost *m, int32_t tree, const float *x)
{
    int32_t i = m->roots[tree];
    while (m->feature[i] >= 0) {
        const float v = x[m->feature[i]];
        int left;
        if (m->cat_set != NULL && m->cat_set[i] >= 0) {
            left = ml_boost_cat_left(m->cat_bits + m->cat_words * m->cat_set[i], m->cat_words, v, m->cat_trunc,
                                     m->missing_left[i], m->cat_left[i]);
        } else if (m->missing_left[i]) {
            left = !(v > m->threshold[i]);
        } else {
            left = v <= m->threshold[i];
        }
        i = left ? i + 1 : m->right[i];
    }
    return m->right[i];
}

static inline float ml_boost_base_f32(const ml_boost *m, int32_t k)
{
    return m->base_f32 != NULL ? m->base_f32[k] : (float)m->base_f64[k];
}

/* Trees of output k (a mean model's divisor). */
static inline float ml_boost_count(const ml_boost *m, int32_t k)
{
    int32_t t, c = 0;
    if (m->count != NULL) {
        return m->count[k];
    }
    if (m->tree_output == NULL) {
        return (float)m->n_trees;
    }
    for (t = 0; t < m->n_trees; t++) {
        c += m->tree_output[t] == k;
    }
    return (float)c;
}

/* Raw scores in float32: the fast path. */
static inline void ml_boost_raw_f32(const ml_boost *m, const float *x, float *raw)
{
    int32_t k, t;
    for (k = 0; k < m->n_raw; k++) {
        raw[k] = m->mean ? 0.0f : ml_boost_base_f32(m, k);
    }
    for (t = 0; t < m->n_trees; t++) {
        const int32_t row = ml_boost_leaf(m, t, x);
        if (m->leaf_width == 1) {
            raw[m->tree_output ? m->tree_output[t] : 0] += m->leaf_f32[row];
        } else {
            for (k = 0; k < m->n_raw; k++) {
                raw[k] += m->leaf_f32[row * m->leaf_width + k];
            }
        }
    }
    if (m->mean) {
        for (k = 0; k < m->n_raw; k++) {
            raw[k] = raw[k] / ml_boost_count(m, k) + ml_boost_base_f32(m, k);
        }
    }
}

/* Raw scores in float64 in the library's order (a float32 model: the float32 sum, widened). */
static inline void ml_boost_raw_f64(const ml_boost *m, const float *x, double *raw)
{
    int32_t k, t;
    if (m->leaf_f64 == NULL) {
        float r[ML_TREES_MAX_OUTPUTS];
        ml_boost_raw_f32(m, x, r);
        for (k = 0; k < m->n_raw; k++) {
            raw[k] = (double)r[k];
        }
        return;
    }
    for (k = 0; k < m->n_raw; k++) {
        raw[k] = m->mean ? 0.0 : m->base_f64[k];
    }
    for (t = 0; t < m->n_trees; t++) {
        const int32_t row = ml_boost_leaf(m, t, x);
        if (m->leaf_width == 1) {
            raw[m->tree_output ? m->tree_output[t] : 0] += m->leaf_f64[row];
        } else {
            for (k = 0; k < m->n_raw; k++) {
                raw[k] += m->leaf_f64[row * m->leaf_width + k];
            }
        }
    }
    if (m->mean) {
        for (k = 0; k < m->n_raw; k++) {
            raw[k] = raw[k] / (double)ml_boost_count(m, k) + m->base_f64[k];
        }
    }
}

/* First index of the largest value when it leads every other by more than `margin`, else -1. */
static inline int32_t ml_boost_argmax_margin(const float *v, int32_t n, float margin)
{
    const int32_t best = ml_argmax_f32(v, n);
    int32_t i;
    for (i = 0; i < n; i++) {
        if (i != best && !(v[best] - v[i] > margin)) {
            return -1;
        }
    }
    return best;
}

/* First index of the largest float32 value (numpy's argmax on sums that are never NaN): ml_scores.h's
 * ml_argmax_f32. */
static inline int32_t ml_boost_argmax_f32(const float *v, int32_t n)
{
    return ml_argmax_f32(v, n);
}

/* Cores without an FPU (as ml_trees.h's ML_TREES_INT_COMPARE) take class decisions of the packed method
 * from fixed-point sums of the leaves (ml_boost_fixed) instead of soft-float additions. Define
 * ML_BOOST_FIXED to 0 or 1 to choose yourself. */
#ifndef ML_BOOST_FIXED
#define ML_BOOST_FIXED ML_TREES_INT_COMPARE
#endif

/* h * 2^s truncated toward zero, for a finite float32 h with |h| * 2^s < 2^31 (so at most a shift left
 * by 7) and s <= 100: the fixed-point value of a leaf by integer operations, less than one unit (2^-s)
 * from h; a zero or subnormal h gives 0 (below 2^-126 * 2^100). */
static inline int32_t ml_boost_fixed(float h, int32_t s)
{
    union {
        float f;
        uint32_t u;
    } a;
    int32_t e, sh;
    uint32_t m, q = 0u;
    a.f = h;
    e = (int32_t)((a.u >> 23) & 0xFFu);
    if (e == 0) {
        return 0;
    }
    m = (a.u & 0x7FFFFFu) | 0x800000u;
    sh = e - 150 + s;
    if (sh >= 0) {
        q = m << sh;
    } else if (sh > -32) {
        q = m >> -sh;
    }
    return (a.u >> 31) ? -(int32_t)q : (int32_t)q;
}

/* A float64 leaf value kept as its float32 rounding h (which the fast path adds) and d, the distance
 * from the float64 bit pattern of h to the value's own, counted in float64 units in the last place (the
 * two have the same sign): rebuilt with integer operations, no float conversion. h contributes
 * ((e + 896) << 52) | (mantissa << 29) for a biased exponent e > 0 (its exact float64 magnitude; an
 * infinite h, the top of that range), and 0 for a zero or subnormal h, whose d then holds the whole
 * magnitude. */
static inline double ml_boost_f64_of(float h, int64_t d)
{
    union {
        float f;
        uint32_t u;
    } a;
    union {
        uint64_t u;
        double d;
    } b;
    uint32_t e;
    uint64_t mag = 0u;
    a.f = h;
    e = (a.u >> 23) & 0xFFu;
    if (e != 0u) {
        mag = ((uint64_t)(e + 896u) << 52) | ((uint64_t)(a.u & 0x7FFFFFu) << 29);
    }
    b.u = ((uint64_t)(a.u >> 31) << 63) | (uint64_t)((int64_t)mag + d);
    return b.d;
}

/* Post-transforms (float32). */
static inline float ml_boost_sigmoid(float z)
{
    return 1.0f / (1.0f + expf(-z));
}

/* log(1 + e^z) without overflow (LightGBM's cross_entropy_lambda). */
static inline float ml_boost_softplus(float z)
{
    return z > 0.0f ? z + log1pf(expf(-z)) : log1pf(expf(z));
}

static inline void ml_boost_softmax(const float *raw, int32_t n, float *out)
{
    float mx = raw[0], sum = 0.0f;
    int32_t k;
    for (k = 1; k < n; k++) {
        if (raw[k] > mx) {
            mx = raw[k];
        }
    }
    for (k = 0; k < n; k++) {
        out[k] = expf(raw[k] - mx);
        sum += out[k];
    }
    for (k = 0; k < n; k++) {
        out[k] /= sum;
    }
}

/* Isolation forest: decision_function = -2^-(depth_sum / denominator) - offset. */
static inline float ml_boost_isolation(float depth_sum, float inv_denominator, float offset)
{
    return -exp2f(-(depth_sum * inv_denominator)) - offset;
}

static inline double ml_boost_isolation_f64(double depth_sum, double denominator, double offset)
{
    const double d = denominator != 0.0 ? depth_sum / denominator : 1.0;
    return -pow(2.0, -d) - offset;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_BOOST_H */
