/*
 * ml_scores.h - choosing among per-class (per-component) scores, shared by the probabilistic families
 * (ml_naive_bayes.h, ml_mixture.h).
 *
 * Part of the microlearn runtime. C99, no malloc, no mutable globals, every function static inline.
 *
 *   ml_argmax_f64        the first largest of k doubles (numpy's argmax: a NaN wins, as there);
 *   ml_log_softmax_f64   v - log(sum exp(v)) in place, returning log(sum exp(v)) (exp, log: link -lm);
 *   ml_f32_key           a uint32 whose order is the float's order, so float32 scores are
 *                        compared with integer instructions: on a CPU without an FPU no float compare
 *                        routine is linked (-0 orders below +0; a NaN above +inf or below -inf by its sign);
 *   ml_f32_is_nan        NaN test on the bits (no float compare either);
 *   ml_argmin_key_f32    the first smallest of k floats by ml_f32_key.
 */
#ifndef ML_SCORES_H
#define ML_SCORES_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The first largest of k doubles (numpy's argmax; NaN wins as there). */
static inline int32_t ml_argmax_f64(const double *v, int32_t k)
{
    int32_t c, best = 0;
    for (c = 0; c < k; c++) {
        if (v[c] != v[c]) {
            return c;
        }
    }
    for (c = 1; c < k; c++) {
        if (v[c] > v[best]) {
            best = c;
        }
    }
    return best;
}

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

/* A uint32 whose order is the order of v (finite values and infinities). */
static inline uint32_t ml_f32_key(float v)
{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

static inline int ml_f32_is_nan(float v)
{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x7fffffffu) > 0x7f800000u;
}

/* The first smallest of k floats, compared by ml_f32_key. */
static inline int32_t ml_argmin_key_f32(const float *v, int32_t k)
{
    int32_t c, best = 0;
    uint32_t bk = ml_f32_key(v[0]);
    for (c = 1; c < k; c++) {
        const uint32_t key = ml_f32_key(v[c]);
        if (key < bk) {
            best = c;
            bk = key;
        }
    }
    return best;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_SCORES_H */
