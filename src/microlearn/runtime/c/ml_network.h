/*
 * ml_network.h - dense layers and activations of small neural networks (docs/networks.md).
 *
 * A generated network header holds each layer's const tables and a forward function that calls these
 * kernels layer by layer, ping-ponging between two halves of an activation arena on the caller's stack
 * (each half holds the largest tensor). Tensors are flat, row-major, NHWC. Everything is static inline,
 * C99, no malloc, no mutable globals. Other layer kinds (convolution, pooling) have headers of their own.
 *
 * float32 forward with a running error bound (ml_nn_bound): every layer turns a bound on its input's
 * distance from the exact value into one on its output's; a classifier decides in float32 when the top
 * logit leads by more than twice the bound, and otherwise replays the library's float64 arithmetic.
 *
 * int8 forward: activations int8 with a scale and zero point per tensor, weights int8 per output
 * channel, int32 accumulation, requantization by an integer multiplier and shift (64-bit product), no
 * floating point: no FPU and no soft-float routine is needed to decide a class.
 */
#ifndef ML_NETWORK_H
#define ML_NETWORK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ml_scores.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { ML_NN_IDENTITY = 0, ML_NN_LOGISTIC = 1, ML_NN_TANH = 2, ML_NN_RELU = 3, ML_NN_SOFTMAX = 4 };

/* The running bound of the float32 forward pass: m = max |value| of the current tensor as computed,
 * e = a bound on each value's distance from its exact value. */
typedef struct ml_nn_bound {
    float m;
    float e;
} ml_nn_bound;

/* A dense layer's error constants: e' = (k1 e + k2 m + k3) * (1 + 2^-18) (docs/networks.md). */
typedef struct ml_nn_dense_err {
    float k1;
    float k2;
    float k3;
} ml_nn_dense_err;

#define ML_NN_SLACK 1.0000038f /* 1 + 2^-18: the float32 roundings of evaluating the bound itself */
#define ML_NN_FN_ERR 4.7683716e-07f /* 8 units of float32 roundoff: tanhf / expf-based logistic */

static inline float ml_nn_absmax_f32(const float *x, int32_t n)
{
    float m = 0.0f;
    int32_t i;
    for (i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        if (!(a <= m)) {
            m = a; /* NaN propagates */
        }
    }
    return m;
}

/* y[j] = b[j] + sum_i x[i] * w[j * n_in + i] (w: n_out rows of n_in). */
static inline void ml_nn_dense_f32(const float *x, int32_t n_in, const float *w, const float *b, int32_t n_out,
                                   float *y)
{
    int32_t i, j;
    for (j = 0; j < n_out; j++) {
        const float *wj = w + (size_t)j * (size_t)n_in;
        float acc = 0.0f;
        for (i = 0; i < n_in; i++) {
            acc += x[i] * wj[i];
        }
        y[j] = acc + b[j];
    }
}

static inline void ml_nn_dense_f64(const double *x, int32_t n_in, const double *w, const double *b,
                                   int32_t n_out, double *y)
{
    int32_t i, j;
    for (j = 0; j < n_out; j++) {
        const double *wj = w + (size_t)j * (size_t)n_in;
        double acc = 0.0;
        for (i = 0; i < n_in; i++) {
            acc += x[i] * wj[i];
        }
        y[j] = acc + b[j];
    }
}

/* The same with float32 weights widened exactly (a network whose library computes in float32). */
static inline void ml_nn_dense_f64_w32(const double *x, int32_t n_in, const float *w, const float *b,
                                       int32_t n_out, double *y)
{
    int32_t i, j;
    for (j = 0; j < n_out; j++) {
        const float *wj = w + (size_t)j * (size_t)n_in;
        double acc = 0.0;
        for (i = 0; i < n_in; i++) {
            acc += x[i] * (double)wj[i];
        }
        y[j] = acc + (double)b[j];
    }
}

static inline void ml_nn_dense_bound(ml_nn_bound *st, const ml_nn_dense_err *k)
{
    st->e = (k->k1 * st->e + k->k2 * st->m + k->k3) * ML_NN_SLACK;
}

/* Activation in place over n values; softmax over all n. */
static inline void ml_nn_act_f32(float *y, int32_t n, int32_t act)
{
    int32_t i;
    float mx, s;
    switch (act) {
    case ML_NN_LOGISTIC:
        for (i = 0; i < n; i++) {
            y[i] = 1.0f / (1.0f + expf(-y[i]));
        }
        break;
    case ML_NN_TANH:
        for (i = 0; i < n; i++) {
            y[i] = tanhf(y[i]);
        }
        break;
    case ML_NN_RELU:
        for (i = 0; i < n; i++) {
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        }
        break;
    case ML_NN_SOFTMAX:
        mx = y[0];
        for (i = 1; i < n; i++) {
            mx = y[i] > mx ? y[i] : mx;
        }
        s = 0.0f;
        for (i = 0; i < n; i++) {
            y[i] = expf(y[i] - mx);
            s += y[i];
        }
        for (i = 0; i < n; i++) {
            y[i] /= s;
        }
        break;
    default:
        break;
    }
}

static inline void ml_nn_act_f64(double *y, int32_t n, int32_t act)
{
    int32_t i;
    double mx, s;
    switch (act) {
    case ML_NN_LOGISTIC:
        for (i = 0; i < n; i++) {
            y[i] = 1.0 / (1.0 + exp(-y[i]));
        }
        break;
    case ML_NN_TANH:
        for (i = 0; i < n; i++) {
            y[i] = tanh(y[i]);
        }
        break;
    case ML_NN_RELU:
        for (i = 0; i < n; i++) {
            y[i] = y[i] > 0.0 ? y[i] : 0.0;
        }
        break;
    case ML_NN_SOFTMAX:
        mx = y[0];
        for (i = 1; i < n; i++) {
            mx = y[i] > mx ? y[i] : mx;
        }
        s = 0.0;
        for (i = 0; i < n; i++) {
            y[i] = exp(y[i] - mx);
            s += y[i];
        }
        for (i = 0; i < n; i++) {
            y[i] /= s;
        }
        break;
    default:
        break;
    }
}

/* The error bound after an element-wise activation (softmax: applied after the decision). */
static inline void ml_nn_act_bound(ml_nn_bound *st, int32_t act)
{
    if (act == ML_NN_TANH) {
        st->e = (st->e + ML_NN_FN_ERR) * ML_NN_SLACK;
    } else if (act == ML_NN_LOGISTIC) {
        st->e = (0.25f * st->e + ML_NN_FN_ERR) * ML_NN_SLACK;
    } else if (act == ML_NN_SOFTMAX) {
        st->e = INFINITY; /* not bounded here: a softmax inside a network leaves the class to the replay */
    }
}

/* The class from float32 logits z[0..k-1] within e of exact: the first largest if it leads every other by
 * more than 2e, else -1 (decide by the replay). k == 1: class 1 if z > e, 0 if z < -e. */
static inline int32_t ml_nn_decide_f32(const float *z, int32_t k, float e)
{
    int32_t c, best = 0;
    if (k == 1) {
        return z[0] > e ? 1 : (z[0] < -e ? 0 : -1);
    }
    for (c = 1; c < k; c++) {
        if (z[c] > z[best]) {
            best = c;
        }
    }
    for (c = 0; c < k; c++) {
        if (c != best && !(z[best] - z[c] > 2.0f * e)) {
            return -1; /* within the bound, or NaN / inf */
        }
    }
    return best;
}

/* The first largest of k floats (a NaN never wins unless first): ml_scores.h's ml_argmax_f32. */
static inline int32_t ml_nn_argmax_f32(const float *z, int32_t k)
{
    return ml_argmax_f32(z, k);
}

/* The first largest of k doubles (NaN wins, as numpy's argmax); k == 1: class 1 if z > 0. */
static inline int32_t ml_nn_decide_f64(const double *z, int32_t k)
{
    int32_t c, best = 0;
    if (k == 1) {
        return z[0] > 0.0 ? 1 : 0;
    }
    for (c = 0; c < k; c++) {
        if (z[c] != z[c]) {
            return c;
        }
    }
    for (c = 1; c < k; c++) {
        if (z[c] > z[best]) {
            best = c;
        }
    }
    return best;
}

/* ------------------------------------------------------------------------------------------------ int8 */

/* round(acc * m / 2^(31 + sh)) with m in [2^30, 2^31), sh >= 0 (half away from zero), saturated to int32. */
static inline int32_t ml_nn_requant(int32_t acc, int32_t m, int32_t sh)
{
    const int64_t p = (int64_t)acc * (int64_t)m;
    const int32_t s = 31 + sh;
    const int64_t half = (int64_t)1 << (s - 1);
    const int64_t r = p >= 0 ? (p + half) >> s : -((-p + half) >> s);
    return r > INT32_MAX ? INT32_MAX : (r < INT32_MIN ? INT32_MIN : (int32_t)r);
}

static inline int8_t ml_nn_sat8(int32_t v)
{
    return (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
}

/* x (int8, zero point folded into bias) times w (int8, n_out rows of n_in) plus bias (int32): acc[j].
 * On cores with the DSP extension (Cortex-M4/M7/M33: __ARM_FEATURE_SIMD32) four products at a time with
 * SXTB16 + SMLAD (two signed 16 x 16 products added to the accumulator): integer sums in another order,
 * the same result (the quantizer keeps every partial sum within int32). ML_NN_NO_SIMD turns it off. */
#if defined(__ARM_FEATURE_SIMD32) && !defined(ML_NN_NO_SIMD)
#include <arm_acle.h>
#include <string.h>
static inline int32_t ml_nn_dot_q8(const int8_t *x, const int8_t *w, int32_t n)
{
    int32_t i = 0, acc = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t a, b;
        memcpy(&a, x + i, 4); /* one (unaligned) word load each */
        memcpy(&b, w + i, 4);
        acc = __smlad(__sxtb16((int32_t)a), __sxtb16((int32_t)b), acc); /* bytes 0 and 2 */
        acc = __smlad(__sxtb16((int32_t)((a >> 8) | (a << 24))), __sxtb16((int32_t)((b >> 8) | (b << 24))),
                      acc); /* bytes 1 and 3 */
    }
    for (; i < n; i++) {
        acc += (int32_t)x[i] * (int32_t)w[i];
    }
    return acc;
}
#else
static inline int32_t ml_nn_dot_q8(const int8_t *x, const int8_t *w, int32_t n)
{
    int32_t i, acc = 0;
    for (i = 0; i < n; i++) {
        acc += (int32_t)x[i] * (int32_t)w[i];
    }
    return acc;
}
#endif

/* A quantized dense layer: y[j] = clamp(zy + requant(b[j] + sum x w, m[j], sh[j]), lo, 127), then the
 * 256-entry table of a tanh / logistic activation (NULL: none). */
static inline void ml_nn_dense_q8(const int8_t *x, int32_t n_in, const int8_t *w, const int32_t *b,
                                  const int32_t *m, const int8_t *sh, int32_t n_out, int32_t zy, int32_t lo,
                                  const int8_t *table, int8_t *y)
{
    int32_t j;
    for (j = 0; j < n_out; j++) {
        const int32_t acc = b[j] + ml_nn_dot_q8(x, w + (size_t)j * (size_t)n_in, n_in);
        int32_t v = zy + ml_nn_requant(acc, m[j], sh[j]);
        v = v < lo ? lo : (v > 127 ? 127 : v);
        y[j] = table != NULL ? table[v + 128] : (int8_t)v;
    }
}

/* The accumulators of the last dense layer (one scale for every output): the logits times a constant. */
static inline void ml_nn_dense_acc_q8(const int8_t *x, int32_t n_in, const int8_t *w, const int32_t *b,
                                      int32_t n_out, int32_t *acc)
{
    int32_t j;
    for (j = 0; j < n_out; j++) {
        acc[j] = b[j] + ml_nn_dot_q8(x, w + (size_t)j * (size_t)n_in, n_in);
    }
}

static inline int32_t ml_nn_argmax_i32(const int32_t *v, int32_t k)
{
    int32_t c, best = 0;
    if (k == 1) {
        return v[0] > 0 ? 1 : 0;
    }
    for (c = 1; c < k; c++) {
        if (v[c] > v[best]) {
            best = c;
        }
    }
    return best;
}

/* q = clamp(z + round(x * m / 2^(31 + sh)), -128, 127) for float32 x, from its bits alone (no floating
 * point): m in [2^30, 2^31) and sh as in ml_nn_requant (sh may be negative here, down to -31). NaN -> z. */
static inline int8_t ml_nn_quantize_bits(float x, int32_t m, int32_t sh, int32_t z)
{
    uint32_t u;
    int32_t ex, s;
    uint64_t p, q;
    int32_t v;
    memcpy(&u, &x, sizeof u);
    ex = (int32_t)((u >> 23) & 0xFFu);
    if (ex == 0xFF) {
        return (u & 0x7FFFFFu) != 0u ? (int8_t)z : ((u >> 31) != 0u ? (int8_t)-128 : (int8_t)127);
    }
    /* x = mant * 2^(e - 150), mant < 2^24; |x| * m / 2^(31 + sh) = mant * m / 2^(181 + sh - e) */
    p = (uint64_t)(ex == 0 ? (u & 0x7FFFFFu) : ((u & 0x7FFFFFu) | 0x800000u)) * (uint64_t)(uint32_t)m;
    s = 181 + sh - (ex == 0 ? 1 : ex);
    if (s <= 0) {
        q = 1000u; /* saturates */
    } else if (s >= 63) {
        q = 0u;
    } else {
        q = (p + ((uint64_t)1 << (s - 1))) >> s;
        if (q > 1000u) {
            q = 1000u;
        }
    }
    v = (u >> 31) != 0u ? z - (int32_t)q : z + (int32_t)q;
    return ml_nn_sat8(v);
}

#ifdef __cplusplus
}
#endif

#endif /* ML_NETWORK_H */
