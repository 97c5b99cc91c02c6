/*
 * ml_linear.h - linear models (scores x . w + b) for microcontrollers: classes equal to scikit-learn's.
 *
 * A generated model header fills an ml_linear record with const tables and calls these functions.
 * Everything is static inline, C99, no malloc, no mutable globals; the caller passes the scratch arrays.
 *
 * Class decision (docs/linear.md proves every step):
 *   1. fast path: the scores with a proven error bound, in float32 (cores with an FPU) or in integers on
 *      the float bits (ML_LINEAR_INT: cores without an FPU, so no soft-float call at all);
 *   2. if the leading score beats every other by more than the bounds, it leads in exact arithmetic, and
 *      that is scikit-learn's class on every row whose own margin exceeds float64 rounding;
 *   3. otherwise (a near tie, NaN/inf input, an exponent out of the integer path's range) the scores are
 *      replayed in float64, as scikit-learn computes them.
 */
#ifndef ML_LINEAR_H
#define ML_LINEAR_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ml_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Integer fast path on cores without an FPU (gcc/clang define __SOFTFP__ on Cortex-M0+; RISC-V without
 * the F extension has no __riscv_flen). Define ML_LINEAR_INT to 0 or 1 to choose yourself. */
#ifndef ML_LINEAR_INT
#if defined(__SOFTFP__) || (defined(__riscv) && !defined(__riscv_flen))
#define ML_LINEAR_INT 1
#else
#define ML_LINEAR_INT 0
#endif
#endif

/* Float32 tables: the fast path on cores with an FPU, decision_function, predict_proba, regression. */
typedef struct ml_linear_f32 {
    int32_t n_features;
    int32_t k;              /* rows of coefficients: 1 (binary, one output) or one per class/output */
    const float *w;         /* k x n_features float32-rounded coefficients */
    const float *b;         /* k intercepts, float32-rounded */
    const float *err_a;     /* k: error of score c <= max|x_i| * err_a[c] + err_b[c] (NULL: no classes) */
    const float *err_b;
} ml_linear_f32;

/* Exact float64 tables for the replay (omitted when the float32 tables hold every value exactly). */
typedef struct ml_linear_f64 {
    int32_t n_features;
    int32_t k;
    const double *w;        /* k x n_features */
    const double *b;        /* k */
} ml_linear_f64;

/* Integer tables: w ~ w16 * 2^-S, intercept c = bm[c] * 2^(bt[c] - 141 - S) exactly. */
typedef struct ml_linear_q {
    int32_t n_features;
    int32_t k;
    const int16_t *w;       /* k x n_features */
    const int64_t *rq;      /* k: ceil(2^S * sum_i |w_ci|) */
    const int64_t *bm;      /* k: intercept mantissas (|bm| < 2^53) */
    const int32_t *bt;      /* k */
    const int32_t *btmax;   /* k: largest left shift of |bm| that stays below 2^60 */
} ml_linear_q;

static inline uint32_t ml_linear_bits(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* Scores in float32: s[c] = b32[c] + sum_i x[i] * w32[c][i], in feature order. */
static inline void ml_linear_scores_f32(const ml_linear_f32 *m, const float *x, float *s)
{
    const int32_t n = m->n_features;
    int32_t c, i;
    for (c = 0; c < m->k; c++) {
        const float *w = m->w + (size_t)c * (size_t)n;
        float acc = m->b[c];
        for (i = 0; i < n; i++) {
            acc += x[i] * w[i];
        }
        s[c] = acc;
    }
}

/* Scores in float64 (the replay): each product and sum in float64, as scikit-learn's arithmetic. */
static inline void ml_linear_scores_f64(const ml_linear_f64 *m, const float *x, double *s)
{
    const int32_t n = m->n_features;
    int32_t c, i;
    for (c = 0; c < m->k; c++) {
        const double *w = m->w + (size_t)c * (size_t)n;
        double acc = m->b[c];
        for (i = 0; i < n; i++) {
            acc += (double)x[i] * w[i];
        }
        s[c] = acc;
    }
}

/* The same replay from float32 tables that hold the coefficients exactly. */
static inline void ml_linear_scores_f64_w32(const ml_linear_f32 *m, const float *x, double *s)
{
    const int32_t n = m->n_features;
    int32_t c, i;
    for (c = 0; c < m->k; c++) {
        const float *w = m->w + (size_t)c * (size_t)n;
        double acc = (double)m->b[c];
        for (i = 0; i < n; i++) {
            acc += (double)x[i] * (double)w[i];
        }
        s[c] = acc;
    }
}

/* scikit-learn's decision on float64 scores: score > 0 (one row), else the first largest score. */
static inline int32_t ml_linear_decide_f64(const double *s, int32_t k)
{
    int32_t c, best = 0;
    if (k == 1) {
        return s[0] > 0.0 ? 1 : 0;
    }
    for (c = 1; c < k; c++) {
        if (s[c] > s[best]) {
            best = c;
        }
    }
    return best;
}

/* Fast path in float32: the class when the scores' error bounds separate it, else -1.
 * s: k floats of scratch (left holding the float32 scores). */
static inline int32_t ml_linear_class_f32(const ml_linear_f32 *m, const float *x, float *s)
{
    const int32_t n = m->n_features, k = m->k;
    float xm = 0.0f, tb;
    int32_t c, i, best = 0;
    for (i = 0; i < n; i++) {
        const float a = x[i] < 0.0f ? -x[i] : x[i];
        if (a > xm) {
            xm = a;
        }
    }
    ml_linear_scores_f32(m, x, s);
    if (k == 1) {
        const float t = xm * m->err_a[0] + m->err_b[0];
        if (s[0] > t) {
            return 1;
        }
        if (s[0] < -t) {
            return 0;
        }
        return -1; /* within the bound of 0, or NaN / inf */
    }
    for (c = 1; c < k; c++) {
        if (s[c] > s[best]) {
            best = c;
        }
    }
    tb = xm * m->err_a[best] + m->err_b[best];
    for (c = 0; c < k; c++) {
        if (c != best && !(s[best] - s[c] > tb + (xm * m->err_a[c] + m->err_b[c]))) {
            return -1;
        }
    }
    return best;
}

/* Fast path in integers on the float bits (no floating point at all): the class when the error bounds
 * separate it, else -1. Each x[i] becomes a 15-bit integer on a grid of 2^(E-141) set by the row's largest
 * exponent E (rounded: error <= half a step); the products with the 16-bit weights are summed exactly in
 * int64. xq: n_features int32 of scratch; v: k int64 of scratch. */
static inline int32_t ml_linear_class_q(const ml_linear_q *m, const float *x, int32_t *xq, int64_t *v)
{
    const int32_t n = m->n_features, k = m->k;
    int32_t c, i, best = 0, emax = 1;
    uint32_t sx = 0u;
    int64_t lim;
    for (i = 0; i < n; i++) {
        const uint32_t b = ml_linear_bits(x[i]);
        const int32_t e = (int32_t)((b >> 23) & 0xFFu);
        if (e == 0xFF) {
            return -1; /* inf or NaN */
        }
        if (e > emax) {
            emax = e;
        }
        xq[i] = (int32_t)b;
    }
    for (i = 0; i < n; i++) {
        const uint32_t b = (uint32_t)xq[i];
        const int32_t e = (int32_t)((b >> 23) & 0xFFu);
        const uint32_t mant = (b & 0x7FFFFFu) | (e != 0 ? 0x800000u : 0u);
        const int32_t sh = emax - (e != 0 ? e : 1) + 9;
        const uint32_t q = sh >= 25 ? 0u : (mant + (1u << (sh - 1))) >> sh;
        sx += q;
        xq[i] = (b & 0x80000000u) ? -(int32_t)q : (int32_t)q;
    }
    for (c = 0; c < k; c++) {
        const int16_t *w = m->w + (size_t)c * (size_t)n;
        const int64_t bm = m->bm[c];
        const int32_t t = m->bt[c] - emax;
        /* |xq| <= 2^15, |w| < 2^15: each product fits an int32. The sum is kept as two 32-bit halves
         * (no int64 in the loop: cores without an FPU have few registers): lo sums the low 16 bits
         * (n < 2^16 terms fit), hi the high parts (arithmetic shift, as gcc, clang and Arm compilers do). */
        const int32_t *xp = xq;
        const int16_t *we = w + n;
        uint32_t lo = 0u;
        int32_t hi = 0;
        int64_t acc;
        while (w != we) {
            const int32_t p = *xp++ * (int32_t)*w++;
            lo += (uint32_t)p & 0xFFFFu;
            hi += p >> 16;
        }
        acc = (int64_t)hi * 65536 + (int64_t)lo;
        if (bm != 0) {
            const int neg = bm < 0;
            uint64_t mag = (uint64_t)(neg ? -bm : bm);
            if (t >= 0) {
                if (t > m->btmax[c]) {
                    return -1; /* the intercept is too large for this row's grid */
                }
                mag <<= t; /* exact */
                acc += neg ? -(int64_t)mag : (int64_t)mag;
            } else if (-t >= 63) {
                acc += neg ? -1 : 0; /* floor */
            } else {
                const int32_t r = -t;
                acc += neg ? -(int64_t)((mag + ((((uint64_t)1) << r) - 1u)) >> r) : (int64_t)(mag >> r);
            }
        }
        v[c] = acc;
    }
    /* error of v[c], in grid units: (rq[c] + sx) / 2 + 1 */
    if (k == 1) {
        lim = m->rq[0] + (int64_t)sx + 2;
        if (2 * v[0] > lim) {
            return 1;
        }
        if (2 * v[0] < -lim) {
            return 0;
        }
        return -1;
    }
    for (c = 1; c < k; c++) {
        if (v[c] > v[best]) {
            best = c;
        }
    }
    for (c = 0; c < k; c++) {
        if (c != best && 2 * (v[best] - v[c]) <= m->rq[best] + m->rq[c] + 2 * (int64_t)sx + 4) {
            return -1;
        }
    }
    return best;
}

/* Logistic sigmoid in float32. */
static inline float ml_linear_sigmoid(float s)
{
    return 1.0f / (1.0f + expf(-s));
}

/* Class probabilities from float32 scores s (k of them) into out (k, or 2 when k == 1).
 * kind: 1 logistic, 2 softmax, 3 modified Huber; norm: 0 none, 1 ovr (a zero sum gives uniform),
 * 2 ovr_nonzero (divide only where the sum is not zero). zero_below: the score under which scikit-learn's
 * sigmoid (in its dtype) is 0, so that a row of such scores sums to 0 there. */
static inline void ml_linear_proba(const float *s, int32_t k, int kind, int norm, float zero_below, float *out)
{
    int32_t c;
    float sum = 0.0f, mx = s[0];
    for (c = 1; c < k; c++) {
        if (s[c] > mx) {
            mx = s[c];
        }
    }
    if (kind == 2) {
        for (c = 0; c < k; c++) {
            out[c] = expf(s[c] - mx);
            sum += out[c];
        }
        for (c = 0; c < k; c++) {
            out[c] /= sum;
        }
        return;
    }
    if (k == 1) {
        if (kind == 1) {
            out[1] = ml_linear_sigmoid(s[0]);
        } else {
            const float t = s[0] > 1.0f ? 1.0f : (s[0] < -1.0f ? -1.0f : s[0]);
            out[1] = (t + 1.0f) / 2.0f;
        }
        out[0] = 1.0f - out[1];
        return;
    }
    if (kind == 1 && norm != 0 && mx <= 0.0f) {
        /* every sigmoid is below 1/2 and may underflow in float32: normalise the ratios
         * sigmoid(s[c]) / sigmoid(mx) = e^(s[c] - mx) (1 + e^mx) / (1 + e^s[c]) instead */
        if (mx <= zero_below) {
            if (norm == 1) {
                for (c = 0; c < k; c++) {
                    out[c] = 1.0f / (float)k;
                }
            } else {
                for (c = 0; c < k; c++) {
                    out[c] = 0.0f;
                }
            }
            return;
        }
        for (c = 0; c < k; c++) {
            out[c] = expf(s[c] - mx) * (1.0f + expf(mx)) / (1.0f + expf(s[c]));
            sum += out[c];
        }
        for (c = 0; c < k; c++) {
            out[c] /= sum;
        }
        return;
    }
    for (c = 0; c < k; c++) {
        if (kind == 1) {
            out[c] = ml_linear_sigmoid(s[c]);
        } else {
            const float t = s[c] > 1.0f ? 1.0f : (s[c] < -1.0f ? -1.0f : s[c]);
            out[c] = (t + 1.0f) / 2.0f;
        }
        sum += out[c];
    }
    if (norm == 0) {
        return;
    }
    if (sum == 0.0f) {
        if (norm == 1) {
            for (c = 0; c < k; c++) {
                out[c] = 1.0f / (float)k;
            }
        }
        return;
    }
    for (c = 0; c < k; c++) {
        out[c] /= sum;
    }
}

#ifdef __cplusplus
}
#endif

#endif /* ML_LINEAR_H */
