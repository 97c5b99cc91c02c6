/*
 * ml_slm.h - a streaming sound level meter: frequency weighting (A, C or none) by second-order
 * sections, exponential time weighting (Fast 125 ms, Slow 1 s), and per interval the equivalent
 * continuous level Leq and the maximum and minimum time-weighted levels Lmax and Lmin, in dB.
 *
 *     ml_slm m;
 *     ml_slm_init(&m, weighting_sos, n_sections, alpha, offset_db);   // values from microlearn.dsp
 *     for each block from the microphone:  ml_slm_process(&m, block, n);
 *     once per interval (e.g. every second):  ml_slm_levels lv; ml_slm_read(&m, &lv);
 *
 * microlearn.dsp.slm_c_config(name, sr, weighting, time_weighting, sensitivity_dbfs) writes the
 * coefficients, alpha = 1 - exp(-1/(sr*tau)) and the calibration offset as C constants.
 * Levels are 10*log10(mean square) + offset_db, with mean squares below ML_SLM_MS_FLOOR read as
 * ML_SLM_MS_FLOOR. The Leq sum is compensated (Kahan), so long intervals keep float32 accuracy; do
 * not build with -ffast-math. Uses log10f (libm) in ml_slm_read only. Return codes as ml_iir.h, plus
 *     ML_SLM_ERR_EMPTY = ML_E_STATE   ml_slm_read with no samples since the last read
 */
#ifndef ML_SLM_H
#define ML_SLM_H

#include <math.h>
#include <stdint.h>

#include "ml_iir.h"

#define ML_SLM_MAX_SECTIONS 4
#define ML_SLM_MS_FLOOR 1e-30f
#define ML_SLM_ERR_EMPTY ML_E_STATE

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const float *sos;                  /* weighting sections, scipy layout, a0 == 1 */
    int32_t n_sections;                /* 1..ML_SLM_MAX_SECTIONS */
    float zi[2 * ML_SLM_MAX_SECTIONS]; /* weighting filter state */
    float alpha;                       /* time weighting: ms += alpha * (y*y - ms) */
    float offset_db;                   /* calibration: dB = 10*log10(ms) + offset_db */
    float ms;                          /* time-weighted mean square */
    float sum, comp;                   /* compensated sum of y*y over the interval */
    float ms_max, ms_min;              /* extremes of ms over the interval */
    int32_t count;                     /* samples in the interval */
} ml_slm;

typedef struct {
    float leq;  /* equivalent continuous level over the interval */
    float lmax; /* maximum of the time-weighted level over the interval */
    float lmin; /* minimum of the time-weighted level over the interval */
    float level; /* time-weighted level now */
    int32_t n_samples;
} ml_slm_levels;

static inline void ml_slm_start_interval(ml_slm *m)
{
    m->sum = 0.0f;
    m->comp = 0.0f;
    m->count = 0;
    m->ms_max = 0.0f;
    m->ms_min = 3.402823466e38f;
}

static inline int ml_slm_init(ml_slm *m, const float *sos, int32_t n_sections, float alpha, float offset_db)
{
    int rc;
    if (m == 0 || n_sections > ML_SLM_MAX_SECTIONS || !(alpha > 0.0f && alpha <= 1.0f) ||
        !ml_iir_isfinite(offset_db)) {
        return ML_IIR_ERR_ARG;
    }
    rc = ml_iir_check(sos, n_sections);
    if (rc != ML_IIR_OK) {
        return rc;
    }
    m->sos = sos;
    m->n_sections = n_sections;
    ml_iir_reset(m->zi, ML_SLM_MAX_SECTIONS);
    m->alpha = alpha;
    m->offset_db = offset_db;
    m->ms = 0.0f;
    ml_slm_start_interval(m);
    return ML_IIR_OK;
}

/* Feed n samples. A block holding NaN or +-inf is rejected as a whole (ML_IIR_ERR_NONFINITE):
 * the meter's state is left as it was before the block. */
static inline int ml_slm_process(ml_slm *m, const float *x, int32_t n)
{
    int32_t i;
    float zi[2 * ML_SLM_MAX_SECTIONS];
    float ms, sum, comp, ms_max, ms_min;
    const float alpha = (m != 0) ? m->alpha : 0.0f;
    if (m == 0 || x == 0 || n < 0 || m->sos == 0) {
        return ML_IIR_ERR_ARG;
    }
    for (i = 0; i < 2 * ML_SLM_MAX_SECTIONS; i++) {
        zi[i] = m->zi[i];
    }
    ms = m->ms;
    sum = m->sum;
    comp = m->comp;
    ms_max = m->ms_max;
    ms_min = m->ms_min;
    for (i = 0; i < n; i++) {
        const float y = ml_sos_step(m->sos, m->n_sections, zi, x[i]);
        const float sq = y * y;
        const float t = sq - comp;
        const float s2 = sum + t;
        comp = (s2 - sum) - t;
        sum = s2;
        ms += alpha * (sq - ms);
        if (ms > ms_max) {
            ms_max = ms;
        }
        if (ms < ms_min) {
            ms_min = ms;
        }
    }
    if (!ml_iir_isfinite(sum) || !ml_iir_isfinite(ms)) {
        return ML_IIR_ERR_NONFINITE;
    }
    for (i = 0; i < 2 * ML_SLM_MAX_SECTIONS; i++) {
        m->zi[i] = zi[i];
    }
    m->ms = ms;
    m->sum = sum;
    m->comp = comp;
    m->ms_max = ms_max;
    m->ms_min = ms_min;
    m->count += n;
    return ML_IIR_OK;
}

static inline float ml_slm_db(float ms, float offset_db)
{
    return 10.0f * log10f(ms > ML_SLM_MS_FLOOR ? ms : ML_SLM_MS_FLOOR) + offset_db;
}

/* Levels over the samples fed since the previous read; starts the next interval. On an error *out
 * is all zero. */
static inline int ml_slm_read(ml_slm *m, ml_slm_levels *out)
{
    if (out == 0) {
        return ML_IIR_ERR_ARG;
    }
    out->leq = out->lmax = out->lmin = out->level = 0.0f;
    out->n_samples = 0;
    if (m == 0) {
        return ML_IIR_ERR_ARG;
    }
    if (m->count == 0) {
        return ML_SLM_ERR_EMPTY;
    }
    out->leq = ml_slm_db(m->sum / (float)m->count, m->offset_db);
    out->lmax = ml_slm_db(m->ms_max, m->offset_db);
    out->lmin = ml_slm_db(m->ms_min, m->offset_db);
    out->level = ml_slm_db(m->ms, m->offset_db);
    out->n_samples = m->count;
    ml_slm_start_interval(m);
    return ML_IIR_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_SLM_H */
