/*
 * ml_scores.h - choosing among per-class (per-component) scores, shared by the probabilistic families
 * (ml_naive_bayes.h, ml_mixture.h, ml_mahalanobis.h), the boosted trees' and networks' class choice
 * (ml_boost.h, ml_network.h) and float keys shared with the trees (ml_trees.h).
 *
 * Part of the microlearn runtime. C99, no malloc, no mutable globals, every function static inline.
 *
 *   ml_f32_key, ml_f64_key  an integer whose order is the float's IEEE order (-0 and +0 share a key, NaN
 *                        gets the largest), so floats are compared with integer instructions: on a CPU
 *                        without an FPU (or without a double FPU) no float compare routine is linked;
 *   ml_f32_is_nan, ml_f64_is_nan  NaN tests on the bits;
 *   ml_f32_lt, ml_f64_lt a < b for values that are not NaN: the keys where that float is soft
 *                        (ML_SOFT_F32 / ML_SOFT_F64, from the compiler's predefined macros), else the
 *                        CPU's compare;
 *   ml_argmax_f64        the first largest of k doubles (numpy's argmax: a NaN wins, as there);
 *   ml_argmax_f32        the first largest of k floats by the CPU's `>` (a NaN is never larger: only a
 *                        NaN first value is returned), for scores that are not NaN (boosted sums,
 *                        network logits);
 *   ml_argmin_f32        the first smallest of k floats (none NaN);
 *   ml_log_softmax_f64   v - log(sum exp(v)) in place, returning log(sum exp(v)) (exp, log: link -lm).
 */
#ifndef ML_SCORES_H
#define ML_SCORES_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Cores without an FPU (Arm: gcc/clang define __SOFTFP__, e.g. Cortex-M0+; RISC-V: no __riscv_flen, e.g.
 * rv32imc) make every float comparison a library call, and cores without a double FPU (Cortex-M4F) every
 * double comparison: there the keys below compare instead. */
#if defined(__SOFTFP__) || (defined(__riscv) && !defined(__riscv_flen))
#define ML_SOFT_F32 1
#endif
#if defined(ML_SOFT_F32) || ((defined(__arm__) || defined(__thumb__)) && !(defined(__ARM_FP) && (__ARM_FP & 8))) \
    || (defined(__riscv) && defined(__riscv_flen) && __riscv_flen < 64)
#define ML_SOFT_F64 1
#endif

/* log(sum exp(v)); v becomes v - that (the log-probabilities). */
static inline double ml_log_softmax_f64(double *v, int32_t k)
{
    int32_t c;
    double mx = v[0], sum = 0.0, lse;
    for (c = 1; c < k; c++) {
        if (v[c] > mx) {
            mx = v[c];
        }
    }
    for (c = 0; c < k; c++) {
        sum += exp(v[c] - mx);
    }
    lse = mx + log(sum);
    for (c = 0; c < k; c++) {
        v[c] -= lse;
    }
    return lse;
}

/* Integer key of a float: for any two non-NaN floats a, b: a <= b exactly when key(a) <= key(b)
 * (-0.0 and +0.0 share key 0). NaN maps to INT32_MAX: it is never <= a threshold's key (all finite or
 * +-inf), so `key <= tkey` sends NaN right, as `x <= t` does. */
static inline int32_t ml_f32_key(float v)
{
    union {
        float f;
        uint32_t u;
    } b;
    b.f = v;
    if ((b.u & 0x7FFFFFFFu) > 0x7F800000u) {
        return INT32_MAX;
    }
    if (b.u & 0x80000000u) {
        return (b.u == 0x80000000u) ? 0 : -(int32_t)(b.u & 0x7FFFFFFFu);
    }
    return (int32_t)b.u;
}

/* The same for a double (NaN: INT64_MAX). */
static inline int64_t ml_f64_key(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    if ((u & 0x7FFFFFFFFFFFFFFFu) > 0x7FF0000000000000u) {
        return INT64_MAX;
    }
    if (u & 0x8000000000000000u) {
        return -(int64_t)(u & 0x7FFFFFFFFFFFFFFFu);
    }
    return (int64_t)u;
}

static inline int ml_f32_is_nan(float v)
{
    return ml_f32_key(v) == INT32_MAX;
}

static inline int ml_f64_is_nan(double v)
{
    return ml_f64_key(v) == INT64_MAX;
}

/* a < b, neither NaN. */
static inline int ml_f32_lt(float a, float b)
{
#ifdef ML_SOFT_F32
    return ml_f32_key(a) < ml_f32_key(b);
#else
    return a < b;
#endif
}

/* a < b, neither NaN. */
static inline int ml_f64_lt(double a, double b)
{
#ifdef ML_SOFT_F64
    return ml_f64_key(a) < ml_f64_key(b);
#else
    return a < b;
#endif
}

/* The first largest of k doubles (numpy's argmax; NaN wins as there). */
static inline int32_t ml_argmax_f64(const double *v, int32_t k)
{
    int32_t c, best = 0;
    for (c = 0; c < k; c++) {
        if (ml_f64_is_nan(v[c])) {
            return c;
        }
        if (ml_f64_lt(v[best], v[c])) {
            best = c;
        }
    }
    return best;
}

/* The first largest of k floats: v[c] replaces the best so far when v[c] > best (so a NaN never does,
 * and a NaN v[0] stays the answer). Ties go to the first. */
static inline int32_t ml_argmax_f32(const float *v, int32_t k)
{
    int32_t c, best = 0;
    for (c = 1; c < k; c++) {
        if (v[c] > v[best]) {
            best = c;
        }
    }
    return best;
}

/* The first smallest of k floats (none NaN). */
static inline int32_t ml_argmin_f32(const float *v, int32_t k)
{
    int32_t c, best = 0;
    for (c = 1; c < k; c++) {
        if (ml_f32_lt(v[c], v[best])) {
            best = c;
        }
    }
    return best;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_SCORES_H */
