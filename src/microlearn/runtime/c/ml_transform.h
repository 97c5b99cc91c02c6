/*
 * ml_transform.h - preprocessing stages: per-feature scaler operations, NaN imputation, row
 * normalisation, PCA projection.
 *
 * Part of the microlearn runtime. C99, no malloc, no mutable globals; every function is static inline.
 * The operations are scikit-learn's, in its dtypes (docs/preprocessing.md):
 *   - ml_tf_<op>_f: a float32 operation with a float32 constant: v = v op c (StandardScaler casts its
 *     constants to the data's dtype first);
 *   - ml_tf_<op>_d: a float64 operation rounded to float32: v = (float)((double)v op c) (numpy's
 *     in-place `X op= c` on float32 X with a float64 array c). Each is one IEEE operation followed by one
 *     rounding, so the result is bit-identical to numpy's on any IEEE-754 machine, with or without an
 *     FPU (soft-float routines round correctly too).
 * Each statement rounds to float before the next one starts, so no compiler may fuse a multiply and an
 * add. Do not build with -ffast-math (it reorders sums and breaks NaN handling).
 */
#ifndef ML_TRANSFORM_H
#define ML_TRANSFORM_H

#include <math.h>
#include <stdint.h>

#include "ml_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stage functions return ML_OK, or ML_E_NAN for a NaN or infinite input where the stage cannot take one
 * (PCA, Normalizer), as scikit-learn refuses it (ml_common.h). */

static inline int ml_tf_isfinite(float v)
{
    return (v == v) && (v - v == 0.0f);
}

static inline int ml_tf_all_finite(const float *v, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        if (!ml_tf_isfinite(v[i])) {
            return 0;
        }
    }
    return 1;
}

static inline void ml_tf_copy(const float *in, float *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        out[i] = in[i];
    }
}

/* float32 operations with float32 constants */
static inline void ml_tf_sub_f(float *v, const float *c, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        v[i] = v[i] - c[i];
    }
}

static inline void ml_tf_add_f(float *v, const float *c, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        v[i] = v[i] + c[i];
    }
}

static inline void ml_tf_mul_f(float *v, const float *c, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        v[i] = v[i] * c[i];
    }
}

static inline void ml_tf_div_f(float *v, const float *c, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        v[i] = v[i] / c[i];
    }
}

/* float64 operations with float64 constants, rounded to float32 */
static inline void ml_tf_sub_d(float *v, const double *c, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        v[i] = (float)((double)v[i] - c[i]);
    }
}

static inline void ml_tf_add_d(float *v, const double *c, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        v[i] = (float)((double)v[i] + c[i]);
    }
}

static inline void ml_tf_mul_d(float *v, const double *c, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        v[i] = (float)((double)v[i] * c[i]);
    }
}

static inline void ml_tf_div_d(float *v, const double *c, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        v[i] = (float)((double)v[i] / c[i]);
    }
}

/* numpy's clip: max(v, lo) then min(., hi), each `a > b ? a : b` (`<` for min), NaN kept */
static inline void ml_tf_clip(float *v, const float *lo, const float *hi, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        float x = v[i];
        if (x == x) {
            x = (x > lo[i]) ? x : lo[i];
            x = (x < hi[i]) ? x : hi[i];
        }
        v[i] = x;
    }
}

/* SimpleImputer: out[j] = in[keep[j]], NaN replaced by fill[j]; in and out must not overlap */
static inline void ml_tf_impute(const float *in, float *out, const uint16_t *keep, const float *fill,
                                int32_t n_out)
{
    int32_t j;
    for (j = 0; j < n_out; j++) {
        float x = in[keep[j]];
        out[j] = (x == x) ? x : fill[j];
    }
}

/* numpy's float32 sum of |a[0..n)| in its pairwise order: sequential below 8 values, eight running sums
 * up to 128 values, two halves (the first a multiple of 8 long) beyond. */
static inline float ml_tf_pairwise_abs(const float *a, int32_t n)
{
    float r[8];
    float res;
    int32_t i, j, n2;
    if (n < 8) {
        res = 0.0f;
        for (i = 0; i < n; i++) {
            res += (a[i] < 0.0f) ? -a[i] : a[i];
        }
        return res;
    }
    if (n > 128) {
        n2 = n / 2;
        n2 -= n2 % 8;
        return ml_tf_pairwise_abs(a, n2) + ml_tf_pairwise_abs(a + n2, n - n2);
    }
    for (j = 0; j < 8; j++) {
        r[j] = (a[j] < 0.0f) ? -a[j] : a[j];
    }
    for (i = 8; i < n - (n % 8); i += 8) {
        for (j = 0; j < 8; j++) {
            r[j] += (a[i + j] < 0.0f) ? -a[i + j] : a[i + j];
        }
    }
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) {
        res += (a[i] < 0.0f) ? -a[i] : a[i];
    }
    return res;
}

/* The three norms of Normalizer, in float32 */
#define ML_TF_NORM_L1 1
#define ML_TF_NORM_L2 2
#define ML_TF_NORM_MAX 3
/* norms below 10 * FLT_EPSILON (scikit-learn's _handle_zeros_in_scale) divide by 1 */
#define ML_TF_NORM_TINY 1.1920929e-06f

static inline int ml_tf_normalize(const float *in, float *out, int32_t n, int norm)
{
    int32_t i;
    float s = 0.0f;
    if (!ml_tf_all_finite(in, n)) {
        return ML_E_NAN;
    }
    if (norm == ML_TF_NORM_L1) {
        s = ml_tf_pairwise_abs(in, n);
    } else if (norm == ML_TF_NORM_L2) {
        for (i = 0; i < n; i++) {
            s += in[i] * in[i];
        }
        s = sqrtf(s); /* IEEE square root: correctly rounded */
    } else {
        for (i = 0; i < n; i++) {
            float a = (in[i] < 0.0f) ? -in[i] : in[i];
            s = (a > s) ? a : s;
        }
    }
    if (s < ML_TF_NORM_TINY) {
        s = 1.0f;
    }
    for (i = 0; i < n; i++) {
        out[i] = in[i] / s;
    }
    return ML_OK;
}

/* PCA: out[j] = (sum_i x_i c[j][i] - offset[j]) / scale[j] in float64 (scale NULL: no whitening),
 * rounded to float32; in and out must not overlap. The sum runs in index order; BLAS's order differs, within the bound of
 * docs/preprocessing.md. */
static inline int ml_tf_project(const float *in, float *out, const double *comp, const double *offset,
                                const double *scale, int32_t n_in, int32_t n_out)
{
    int32_t i, j;
    if (!ml_tf_all_finite(in, n_in)) {
        return ML_E_NAN;
    }
    for (j = 0; j < n_out; j++) {
        const double *c = comp + (int32_t)(j * n_in);
        double acc = 0.0;
        for (i = 0; i < n_in; i++) {
            acc += (double)in[i] * c[i];
        }
        acc -= offset[j];
        if (scale != 0) {
            acc /= scale[j];
        }
        out[j] = (float)acc;
    }
    return ML_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_TRANSFORM_H */
