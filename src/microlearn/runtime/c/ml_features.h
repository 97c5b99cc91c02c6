/*
 * ml_features.h - time-series features of sensor windows (accelerometer, IMU, vibration), float32.
 *
 * A window is n samples of n_axes interleaved channels, as sensors deliver them:
 *     w[0*n_axes + 0], w[0*n_axes + 1], ..., w[1*n_axes + 0], ...
 * Channel ch < n_axes is one axis; ch == n_axes is the magnitude sqrt(x0^2 + x1^2 + ...).
 * ml_feat_stats computes, for one channel, ML_FEAT_N_STATS values in this order:
 *     mean, std, min, max, rms, ptp (max - min), energy (mean of squares), zero_crossings,
 *     mean_crossings, skewness, kurtosis (excess, Fisher)
 * std, skewness and kurtosis are the population (biased) moments, as numpy.std and
 * scipy.stats.skew/kurtosis with their defaults; skewness and kurtosis of a constant channel are 0.
 * A crossing is a change of sign between neighbours (0 counts as positive); mean crossings are
 * crossings of x - mean.
 *
 * Exactness: every value is computed by IEEE float32 +, -, *, / and sqrt in a fixed order, the
 * order microlearn.dsp.features.FeatureExtractor uses, so the device computes bit-identical features
 * to the ones a model was trained on. That needs no fused multiply-add contraction: the functions
 * here turn it off for GCC and clang; with other compilers build with contraction off (e.g.
 * -ffp-contract=off) and never with -ffast-math.
 *
 * ml_feat_check rejects windows with NaN, +-inf or |x| > ML_FEAT_MAX_ABS (fourth powers of larger
 * values overflow float32): call it first. No malloc, no globals; sqrtf from libm.
 *     ML_FEAT_OK = ML_OK 0,  ML_FEAT_ERR_ARG = ML_E_ARG,  ML_FEAT_ERR_RANGE = ML_E_NAN (ml_common.h)
 */
#ifndef ML_FEATURES_H
#define ML_FEATURES_H

#include <math.h>
#include <stdint.h>

#include "ml_common.h"

#define ML_FEAT_OK ML_OK
#define ML_FEAT_ERR_ARG ML_E_ARG
#define ML_FEAT_ERR_RANGE ML_E_NAN
#define ML_FEAT_MAX_ABS 1e8f

#define ML_FEAT_MEAN 0
#define ML_FEAT_STD 1
#define ML_FEAT_MIN 2
#define ML_FEAT_MAX 3
#define ML_FEAT_RMS 4
#define ML_FEAT_PTP 5
#define ML_FEAT_ENERGY 6
#define ML_FEAT_ZERO_CROSSINGS 7
#define ML_FEAT_MEAN_CROSSINGS 8
#define ML_FEAT_SKEWNESS 9
#define ML_FEAT_KURTOSIS 10
#define ML_FEAT_N_STATS 11

/* No fused multiply-add: the result must not depend on the compiler or the FPU. */
#if defined(__clang__)
#define ML_FEAT_STRICT_FP _Pragma("STDC FP_CONTRACT OFF")
#define ML_FEAT_FN static inline
#elif defined(__GNUC__)
#define ML_FEAT_STRICT_FP
#define ML_FEAT_FN static inline __attribute__((optimize("fp-contract=off")))
#else
#define ML_FEAT_STRICT_FP
#define ML_FEAT_FN static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

ML_FEAT_FN int ml_feat_check(const float *w, int32_t n_values)
{
    int32_t i;
    if (w == 0 || n_values < 1) {
        return ML_FEAT_ERR_ARG;
    }
    for (i = 0; i < n_values; i++) {
        const float v = w[i];
        if (!(v <= ML_FEAT_MAX_ABS && v >= -ML_FEAT_MAX_ABS)) {
            return ML_FEAT_ERR_RANGE;
        }
    }
    return ML_FEAT_OK;
}

/* Sample i of channel ch (ch == n_axes: the magnitude, summed over axes in order). */
ML_FEAT_FN float ml_feat_sample(const float *w, int32_t i, int32_t n_axes, int32_t ch)
{
    ML_FEAT_STRICT_FP
    const float *p = w + i * n_axes;
    float s;
    int32_t a;
    if (ch < n_axes) {
        return p[ch];
    }
    s = p[0] * p[0];
    for (a = 1; a < n_axes; a++) {
        const float sq = p[a] * p[a];
        s = s + sq;
    }
    return sqrtf(s);
}

/* All ML_FEAT_N_STATS statistics of channel ch of a window of n samples. */
ML_FEAT_FN int ml_feat_stats(const float *w, int32_t n, int32_t n_axes, int32_t ch, float *out)
{
    ML_FEAT_STRICT_FP
    int32_t i, zc = 0, mc = 0;
    float sum = 0.0f, sumsq = 0.0f, mn, mx, prev, mean, fn, m2 = 0.0f, m3 = 0.0f, m4 = 0.0f, den;
    int neg_prev;
    if (w == 0 || out == 0 || n < 1 || n_axes < 1 || ch < 0 || ch > n_axes) {
        return ML_FEAT_ERR_ARG;
    }
    fn = (float)n;
    prev = ml_feat_sample(w, 0, n_axes, ch);
    mn = prev;
    mx = prev;
    neg_prev = prev < 0.0f;
    for (i = 0; i < n; i++) {
        const float v = ml_feat_sample(w, i, n_axes, ch);
        const float sq = v * v;
        const int neg = v < 0.0f;
        sum = sum + v;
        sumsq = sumsq + sq;
        if (v < mn) {
            mn = v;
        }
        if (v > mx) {
            mx = v;
        }
        zc += neg != neg_prev;
        neg_prev = neg;
    }
    mean = sum / fn;
    neg_prev = (ml_feat_sample(w, 0, n_axes, ch) - mean) < 0.0f;
    for (i = 0; i < n; i++) {
        const float d = ml_feat_sample(w, i, n_axes, ch) - mean;
        const float d2 = d * d;
        const float d3 = d2 * d;
        const float d4 = d2 * d2;
        const int neg = d < 0.0f;
        m2 = m2 + d2;
        m3 = m3 + d3;
        m4 = m4 + d4;
        mc += neg != neg_prev;
        neg_prev = neg;
    }
    m2 = m2 / fn;
    m3 = m3 / fn;
    m4 = m4 / fn;
    out[ML_FEAT_MEAN] = mean;
    out[ML_FEAT_STD] = sqrtf(m2);
    out[ML_FEAT_MIN] = mn;
    out[ML_FEAT_MAX] = mx;
    out[ML_FEAT_ENERGY] = sumsq / fn;
    out[ML_FEAT_RMS] = sqrtf(out[ML_FEAT_ENERGY]);
    out[ML_FEAT_PTP] = mx - mn;
    out[ML_FEAT_ZERO_CROSSINGS] = (float)zc;
    out[ML_FEAT_MEAN_CROSSINGS] = (float)mc;
    den = m2 * out[ML_FEAT_STD];
    out[ML_FEAT_SKEWNESS] = den > 0.0f ? m3 / den : 0.0f;
    den = m2 * m2;
    out[ML_FEAT_KURTOSIS] = den > 0.0f ? m4 / den - 3.0f : 0.0f;
    return ML_FEAT_OK;
}

/* Mean of channel ch (as ml_feat_stats computes it). */
ML_FEAT_FN float ml_feat_mean(const float *w, int32_t n, int32_t n_axes, int32_t ch)
{
    ML_FEAT_STRICT_FP
    int32_t i;
    float sum = 0.0f;
    for (i = 0; i < n; i++) {
        sum = sum + ml_feat_sample(w, i, n_axes, ch);
    }
    return sum / (float)n;
}

#ifndef ML_FEAT_BAND_GROUP
#define ML_FEAT_BAND_GROUP 16 /* bins computed together: 2 * 16 floats + 16 indices on the stack */
#endif

/* Band energies of channel ch: for band b, the sum over DFT bins lo[b] <= k < hi[b] (increasing k) of
 * |X_k|^2 / n, where X = DFT(x - mean) and each bin is the direct sum over samples in order with the
 * float32 tables cos_t[j] = cos(2*pi*j/n), sin_t[j] = sin(2*pi*j/n). Needs no FFT buffer; the bins are
 * those of the requested bands only. Up to ML_FEAT_BAND_GROUP bins are summed side by side, so each
 * sample is read and centred once per group rather than once per bin; every bin still adds its terms
 * in sample order, so the result is the same to the bit. */
ML_FEAT_FN int ml_feat_bands(const float *w, int32_t n, int32_t n_axes, int32_t ch, const float *cos_t,
                             const float *sin_t, const int16_t *lo, const int16_t *hi, int32_t n_bands,
                             float *out)
{
    ML_FEAT_STRICT_FP
    int32_t b, k, i, g, m;
    float mean;
    float re[ML_FEAT_BAND_GROUP], im[ML_FEAT_BAND_GROUP];
    int32_t j[ML_FEAT_BAND_GROUP];
    if (w == 0 || cos_t == 0 || sin_t == 0 || lo == 0 || hi == 0 || out == 0 || n < 1 || n_axes < 1 ||
        ch < 0 || ch > n_axes || n_bands < 0) {
        return ML_FEAT_ERR_ARG;
    }
    mean = ml_feat_mean(w, n, n_axes, ch);
    for (b = 0; b < n_bands; b++) {
        float s = 0.0f;
        if (lo[b] < 0 || hi[b] > n / 2 + 1 || lo[b] >= hi[b]) {
            return ML_FEAT_ERR_ARG;
        }
        for (k = lo[b]; k < hi[b]; k += m) {
            m = hi[b] - k < ML_FEAT_BAND_GROUP ? hi[b] - k : ML_FEAT_BAND_GROUP;
            for (g = 0; g < m; g++) {
                re[g] = 0.0f;
                im[g] = 0.0f;
                j[g] = 0;
            }
            for (i = 0; i < n; i++) {
                const float d = ml_feat_sample(w, i, n_axes, ch) - mean;
                for (g = 0; g < m; g++) {
                    const float pr = d * cos_t[j[g]];
                    const float pi = d * sin_t[j[g]];
                    re[g] = re[g] + pr;
                    im[g] = im[g] + pi;
                    j[g] += k + g;
                    if (j[g] >= n) {
                        j[g] -= n;
                    }
                }
            }
            for (g = 0; g < m; g++) {
                float p = re[g] * re[g];
                p = p + im[g] * im[g];
                s = s + p;
            }
        }
        out[b] = s / (float)n;
    }
    return ML_FEAT_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_FEATURES_H */
