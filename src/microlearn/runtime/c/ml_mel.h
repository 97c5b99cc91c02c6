/*
 * ml_mel.h - mel filterbank, melspectrogram frames, power to dB and MFCC, float32.
 *
 * A filterbank is stored sparse: band b sums count[b] bins of the power spectrum, starting at bin
 * start[b], with weights weights[o_b .. o_b + count[b] - 1], where o_b = count[0] + ... + count[b-1]
 * (bands one after the other, only their non-zero span). microlearn writes the arrays from librosa's
 * filters (microlearn.dsp._audio_c.audio_config_c: sr, n_fft, n_mels, fmin, fmax, htk, norm), together
 * with the FFT window and, for MFCC, the DCT matrix, as const data:
 *     static const ml_mel_bank kws_mel = {512, 40, kws_mel_start, kws_mel_count, kws_mel_weights};
 *
 * One melspectrogram frame (librosa.feature.melspectrogram with center=False, one column):
 *     float work[512 + 2], mels[40];
 *     ml_mel_frame(&kws_mel, kws_window, frame, work, mels);    // window, rfft, |X|^2, filterbank
 * or, with ml_framer (ml_fft.h): ml_framer_read(&fr, kws_window, work); ml_mel_spectrum(&kws_mel, work,
 * mels). librosa's center=True pads n_fft/2 zeros (or a reflection) on both ends of the whole signal:
 * feed those samples through the framer first and the frames are the same. ml_mel_frame_magnitude is
 * the power=1 variant (|X| instead of |X|^2; takes a square root). None of these use libm or double.
 *
 * Log-mel, as librosa.power_to_db(S, ref, amin, top_db) for a number ref:
 *     ml_power_to_db(S, n, ref, amin, out)       out = 10 log10(max(amin, S)) - 10 log10(max(amin, |ref|))
 *     ml_db_top_clip(db, n, top_db)              db = max(db, max(db) - top_db) over the n values given
 * librosa takes max(db) over the whole spectrogram. On a device: pass a buffer of frames to
 * ml_db_top_clip for the same result over that buffer, or one frame (n = n_mels) to clip per frame
 * (then the floor follows each frame's loudest band instead of the whole recording's), or skip it.
 * MFCC (librosa.feature.mfcc, dct_type 2, norm "ortho"): ml_mfcc(dct, n_mfcc, n_mels, db, out) with
 * dct the n_mfcc x n_mels orthonormal DCT-II matrix (row major). log10f (libm) is used by
 * ml_power_to_db only.
 *
 * Return codes as ml_fft.h, plus ML_MEL_ERR_BANK = ML_E_SHAPE: a band reaches past the spectrum, or n_fft
 * does not match. No malloc, no globals, every function static inline.
 */
#ifndef ML_MEL_H
#define ML_MEL_H

#include <math.h>
#include <stdint.h>

#include "ml_fft.h"

#define ML_MEL_ERR_BANK ML_E_SHAPE

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t n_fft;          /* FFT size: the spectrum has n_fft/2 + 1 bins */
    int32_t n_mels;         /* bands */
    const int16_t *start;   /* first bin of each band */
    const int16_t *count;   /* number of bins (weights) of each band */
    const float *weights;   /* the bands' weights, one band after the other */
} ml_mel_bank;

/* mels[b] = sum of weights times spec[start[b] ...] for each band; spec has n_fft/2 + 1 values. */
static inline int ml_mel_apply(const ml_mel_bank *bank, const float *spec, float *mels)
{
    int32_t b, i;
    const float *w;
    if (bank == 0 || spec == 0 || mels == 0 || bank->start == 0 || bank->count == 0 ||
        bank->weights == 0 || bank->n_mels < 1) {
        return ML_FFT_ERR_ARG;
    }
    w = bank->weights;
    for (b = 0; b < bank->n_mels; b++) {
        const int32_t s = bank->start[b], c = bank->count[b];
        const float *p = spec + s;
        float acc = 0.0f;
        if (s < 0 || c < 0 || s + c > bank->n_fft / 2 + 1) {
            return ML_MEL_ERR_BANK;
        }
        for (i = 0; i < c; i++) {
            acc += w[i] * p[i];
        }
        mels[b] = acc;
        w += c;
    }
    return ML_FFT_OK;
}

/* work holds n_fft windowed samples (room for n_fft + 2): rfft, power, filterbank into mels. */
static inline int ml_mel_spectrum(const ml_mel_bank *bank, float *work, float *mels)
{
    int rc;
    if (bank == 0) {
        return ML_FFT_ERR_ARG;
    }
    rc = ml_rfft(work, bank->n_fft);
    if (rc != ML_FFT_OK) {
        return rc;
    }
    (void)ml_rfft_power(work, bank->n_fft, work);
    return ml_mel_apply(bank, work, mels);
}

/* As ml_mel_spectrum with magnitudes |X| (librosa's power=1). */
static inline int ml_mel_spectrum_magnitude(const ml_mel_bank *bank, float *work, float *mels)
{
    int rc;
    if (bank == 0) {
        return ML_FFT_ERR_ARG;
    }
    rc = ml_rfft(work, bank->n_fft);
    if (rc != ML_FFT_OK) {
        return rc;
    }
    (void)ml_rfft_magnitude(work, bank->n_fft, work);
    return ml_mel_apply(bank, work, mels);
}

/* work[i] = frame[i] * window[i] for the n_fft samples (window NULL: none; frame may be work). */
static inline int ml_mel_window(const ml_mel_bank *bank, const float *window, const float *frame, float *work)
{
    int32_t i;
    if (bank == 0 || frame == 0 || work == 0) {
        return ML_FFT_ERR_ARG;
    }
    if (window == 0) {
        for (i = 0; i < bank->n_fft; i++) {
            work[i] = frame[i];
        }
    } else {
        for (i = 0; i < bank->n_fft; i++) {
            work[i] = frame[i] * window[i];
        }
    }
    return ML_FFT_OK;
}

/* One melspectrogram frame (power 2): n_fft samples of frame -> n_mels values. work: n_fft + 2 floats. */
static inline int ml_mel_frame(const ml_mel_bank *bank, const float *window, const float *frame, float *work,
                               float *mels)
{
    const int rc = ml_mel_window(bank, window, frame, work);
    return rc != ML_FFT_OK ? rc : ml_mel_spectrum(bank, work, mels);
}

/* One melspectrogram frame of magnitudes (librosa's power=1). */
static inline int ml_mel_frame_magnitude(const ml_mel_bank *bank, const float *window, const float *frame,
                                         float *work, float *mels)
{
    const int rc = ml_mel_window(bank, window, frame, work);
    return rc != ML_FFT_OK ? rc : ml_mel_spectrum_magnitude(bank, work, mels);
}

/* out[i] = 10 log10(max(amin, S[i])) - 10 log10(max(amin, |ref|)) (out may be S). amin > 0. */
static inline int ml_power_to_db(const float *S, int32_t n, float ref, float amin, float *out)
{
    int32_t i;
    float r, off;
    if (S == 0 || out == 0 || n < 0 || !(amin > 0.0f)) {
        return ML_FFT_ERR_ARG;
    }
    r = ref < 0.0f ? -ref : ref;
    off = 10.0f * log10f(r > amin ? r : amin);
    for (i = 0; i < n; i++) {
        const float v = S[i] > amin ? S[i] : amin;
        out[i] = 10.0f * log10f(v) - off;
    }
    return ML_FFT_OK;
}

/* db[i] = max(db[i], max(db) - top_db) over the n values (top_db >= 0). */
static inline int ml_db_top_clip(float *db, int32_t n, float top_db)
{
    int32_t i;
    float hi;
    if (db == 0 || n < 1 || !(top_db >= 0.0f)) {
        return ML_FFT_ERR_ARG;
    }
    hi = db[0];
    for (i = 1; i < n; i++) {
        hi = db[i] > hi ? db[i] : hi;
    }
    hi -= top_db;
    for (i = 0; i < n; i++) {
        db[i] = db[i] > hi ? db[i] : hi;
    }
    return ML_FFT_OK;
}

/* out[j] = sum_i dct[j * n_mels + i] * db[i], j < n_mfcc: the MFCCs of one log-mel frame. */
static inline int ml_mfcc(const float *dct, int32_t n_mfcc, int32_t n_mels, const float *db, float *out)
{
    int32_t j, i;
    if (dct == 0 || db == 0 || out == 0 || n_mfcc < 1 || n_mels < 1 || n_mfcc > n_mels) {
        return ML_FFT_ERR_ARG;
    }
    for (j = 0; j < n_mfcc; j++) {
        const float *row = dct + j * n_mels;
        float acc = 0.0f;
        for (i = 0; i < n_mels; i++) {
            acc += row[i] * db[i];
        }
        out[j] = acc;
    }
    return ML_FFT_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_MEL_H */
