/*
 * ml_iir.h - IIR filtering with second-order sections (biquads), float32, streaming.
 *
 * Coefficients use scipy's "sos" layout: n_sections rows of 6 floats
 *     b0 b1 b2 a0 a1 a2      (a0 must be 1; microlearn.dsp writes them so)
 * and each section runs in transposed direct form II, as scipy.signal.sosfilt does:
 *     y  = b0*x + z0
 *     z0 = b1*x - a1*y + z1
 *     z1 = b2*x - a2*y
 * The state `zi` holds n_sections rows of 2 floats (scipy's zi layout). Zero it once to start from
 * rest; keep it between calls to filter a stream block by block: the output is the same as
 * filtering the whole stream at once.
 *
 * No malloc, no globals, no libm. All functions are static inline (include from any number of
 * .c/.cpp files). Errors are return codes:
 *     ML_IIR_OK            = ML_OK (0)
 *     ML_IIR_ERR_ARG       = ML_E_ARG    NULL pointer, n_sections < 1 or n < 0
 *     ML_IIR_ERR_COEF      = ML_E_VALUE  a0 of some section is not 1 (normalise the coefficients)
 *     ML_IIR_ERR_NONFINITE = ML_E_NAN    the input held NaN or +-inf (the state has been reset to zero;
 *                              the output of that block is not valid)
 */
#ifndef ML_IIR_H
#define ML_IIR_H

#include <stdint.h>

#include "ml_common.h"

#define ML_IIR_OK ML_OK
#define ML_IIR_ERR_ARG ML_E_ARG
#define ML_IIR_ERR_COEF ML_E_VALUE
#define ML_IIR_ERR_NONFINITE ML_E_NAN

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when v is neither NaN nor +-inf (inf - inf and NaN - NaN are NaN, which is unequal to itself). */
static inline int ml_iir_isfinite(float v)
{
    float d = v - v;
    return d == d;
}

static inline void ml_iir_reset(float *zi, int32_t n_sections)
{
    int32_t i;
    if (zi == 0) {
        return;
    }
    for (i = 0; i < 2 * n_sections; i++) {
        zi[i] = 0.0f;
    }
}

static inline int ml_iir_check(const float *sos, int32_t n_sections)
{
    int32_t s;
    if (sos == 0 || n_sections < 1) {
        return ML_IIR_ERR_ARG;
    }
    for (s = 0; s < n_sections; s++) {
        if (sos[6 * s + 3] != 1.0f) {
            return ML_IIR_ERR_COEF;
        }
    }
    return ML_IIR_OK;
}

/* Filter n samples of x into y through the cascade (y may be the same buffer as x).
 * Runs section by section over the block, so each section's coefficients stay in registers. */
static inline int ml_sosfilt(const float *sos, int32_t n_sections, float *zi, const float *x, float *y,
                             int32_t n)
{
    int32_t s, i;
    int rc = ml_iir_check(sos, n_sections);
    if (rc != ML_IIR_OK) {
        return rc;
    }
    if (zi == 0 || x == 0 || y == 0 || n < 0) {
        return ML_IIR_ERR_ARG;
    }
    for (s = 0; s < n_sections; s++) {
        const float *c = sos + 6 * s;
        const float b0 = c[0], b1 = c[1], b2 = c[2], a1 = c[4], a2 = c[5];
        const float *in = (s == 0) ? x : y;
        float z0 = zi[2 * s];
        float z1 = zi[2 * s + 1];
        for (i = 0; i < n; i++) {
            const float xi = in[i];
            const float yi = b0 * xi + z0;
            z0 = b1 * xi - a1 * yi + z1;
            z1 = b2 * xi - a2 * yi;
            y[i] = yi;
        }
        if (!ml_iir_isfinite(z0) || !ml_iir_isfinite(z1)) {
            ml_iir_reset(zi, n_sections);
            return ML_IIR_ERR_NONFINITE;
        }
        zi[2 * s] = z0;
        zi[2 * s + 1] = z1;
    }
    return ML_IIR_OK;
}

/* One sample through the cascade (for sample-by-sample loops). The caller checks the coefficients
 * once with ml_iir_check and the state for finiteness when it needs to (see ml_slm.h). */
static inline float ml_sos_step(const float *sos, int32_t n_sections, float *zi, float x)
{
    int32_t s;
    for (s = 0; s < n_sections; s++) {
        const float *c = sos + 6 * s;
        float *z = zi + 2 * s;
        const float y = c[0] * x + z[0];
        z[0] = c[1] * x - c[4] * y + z[1];
        z[1] = c[2] * x - c[5] * y;
        x = y;
    }
    return x;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_IIR_H */
