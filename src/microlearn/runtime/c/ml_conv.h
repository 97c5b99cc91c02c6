/*
 * ml_conv.h - convolution, pooling and per-channel scaling kernels of small networks (docs/keras.md).
 *
 * Tensors are flat, row-major, channels last (NHWC without the batch axis); a sequence (L, C) is an image
 * of one row. Kernels of a convolution are stored filter by filter: k[((f * kh + i) * kw + j) * C + c];
 * a depthwise kernel as Keras holds it: k[((i * kw + j) * C + c) * M + m] for output channel c * M + m.
 * Padding is given by its top and left amounts: positions outside the input are skipped (zero for a
 * convolution, not counted by a pooling window). Everything is static inline, C99, no malloc, no mutable
 * globals; float32 kernels and int8 kernels (int32 accumulation, requantization as in ml_network.h).
 */
#ifndef ML_CONV_H
#define ML_CONV_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_network.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The geometry of a sliding window: input h x w x c, output oh x ow, window kh x kw, strides sh, sw,
 * dilations dh, dw, padding before the first row pt and column pl. */
typedef struct ml_conv_geom {
    int16_t h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl;
} ml_conv_geom;

/* y (oh x ow x f) = bias + the convolution of x with f filters. */
static inline void ml_conv2d_f32(const float *x, const ml_conv_geom *g, const float *k, const float *b, int32_t f,
                                 float *y)
{
    int32_t oy, ox, fi, i, j, ch;
    const int32_t c = g->c;
    for (oy = 0; oy < g->oh; oy++) {
        for (ox = 0; ox < g->ow; ox++) {
            float *yo = y + ((size_t)oy * (size_t)g->ow + (size_t)ox) * (size_t)f;
            for (fi = 0; fi < f; fi++) {
                float acc = 0.0f;
                for (i = 0; i < g->kh; i++) {
                    const int32_t iy = oy * g->sh - g->pt + i * g->dh;
                    if (iy < 0 || iy >= g->h) {
                        continue;
                    }
                    for (j = 0; j < g->kw; j++) {
                        const int32_t ix = ox * g->sw - g->pl + j * g->dw;
                        const float *xp;
                        const float *kp;
                        if (ix < 0 || ix >= g->w) {
                            continue;
                        }
                        xp = x + ((size_t)iy * (size_t)g->w + (size_t)ix) * (size_t)c;
                        kp = k + (((size_t)fi * (size_t)g->kh + (size_t)i) * (size_t)g->kw + (size_t)j) * (size_t)c;
                        for (ch = 0; ch < c; ch++) {
                            acc += xp[ch] * kp[ch];
                        }
                    }
                }
                yo[fi] = acc + b[fi];
            }
        }
    }
}

/* y (oh x ow x c*m) = bias + each input channel convolved with its m filters. */
static inline void ml_depthwise_f32(const float *x, const ml_conv_geom *g, const float *k, const float *b,
                                    int32_t m, float *y)
{
    int32_t oy, ox, o, i, j;
    const int32_t c = g->c, cm = g->c * m;
    for (oy = 0; oy < g->oh; oy++) {
        for (ox = 0; ox < g->ow; ox++) {
            float *yo = y + ((size_t)oy * (size_t)g->ow + (size_t)ox) * (size_t)cm;
            for (o = 0; o < cm; o++) {
                float acc = 0.0f;
                const int32_t ch = o / m;
                for (i = 0; i < g->kh; i++) {
                    const int32_t iy = oy * g->sh - g->pt + i * g->dh;
                    if (iy < 0 || iy >= g->h) {
                        continue;
                    }
                    for (j = 0; j < g->kw; j++) {
                        const int32_t ix = ox * g->sw - g->pl + j * g->dw;
                        if (ix < 0 || ix >= g->w) {
                            continue;
                        }
                        acc += x[((size_t)iy * (size_t)g->w + (size_t)ix) * (size_t)c + (size_t)ch] *
                               k[((size_t)i * (size_t)g->kw + (size_t)j) * (size_t)cm + (size_t)o];
                    }
                }
                yo[o] = acc + b[o];
            }
        }
    }
}

/* Max (op 0) or average over the real elements (op 1) of each window, per channel. */
static inline void ml_pool_f32(const float *x, const ml_conv_geom *g, int32_t op, float *y)
{
    int32_t oy, ox, ch, i, j;
    const int32_t c = g->c;
    for (oy = 0; oy < g->oh; oy++) {
        for (ox = 0; ox < g->ow; ox++) {
            float *yo = y + ((size_t)oy * (size_t)g->ow + (size_t)ox) * (size_t)c;
            for (ch = 0; ch < c; ch++) {
                float acc = op == 0 ? -INFINITY : 0.0f;
                int32_t n = 0;
                for (i = 0; i < g->kh; i++) {
                    const int32_t iy = oy * g->sh - g->pt + i;
                    if (iy < 0 || iy >= g->h) {
                        continue;
                    }
                    for (j = 0; j < g->kw; j++) {
                        const int32_t ix = ox * g->sw - g->pl + j;
                        float v;
                        if (ix < 0 || ix >= g->w) {
                            continue;
                        }
                        v = x[((size_t)iy * (size_t)g->w + (size_t)ix) * (size_t)c + (size_t)ch];
                        if (op == 0) {
                            acc = v > acc ? v : acc;
                        } else {
                            acc += v;
                        }
                        n++;
                    }
                }
                yo[ch] = op == 0 ? acc : acc / (float)n;
            }
        }
    }
}

/* Max (op 0) or mean (op 1) over n positions of c channels. */
static inline void ml_global_pool_f32(const float *x, int32_t n, int32_t c, int32_t op, float *y)
{
    int32_t p, ch;
    for (ch = 0; ch < c; ch++) {
        float acc = x[ch];
        for (p = 1; p < n; p++) {
            const float v = x[(size_t)p * (size_t)c + (size_t)ch];
            if (op == 0) {
                acc = v > acc ? v : acc;
            } else {
                acc += v;
            }
        }
        y[ch] = op == 0 ? acc : acc / (float)n;
    }
}

/* y = x * s[ch] + o[ch] over n positions of c channels. */
static inline void ml_affine_f32(const float *x, int32_t n, int32_t c, const float *s, const float *o, float *y)
{
    int32_t p, ch;
    for (p = 0; p < n; p++) {
        const float *xp = x + (size_t)p * (size_t)c;
        float *yp = y + (size_t)p * (size_t)c;
        for (ch = 0; ch < c; ch++) {
            yp[ch] = xp[ch] * s[ch] + o[ch];
        }
    }
}

/* ------------------------------------------------------------------------------------------------ int8 */

/* The requantized int8 output of one accumulator: clamp(zy + requant(acc, m, sh), lo, 127), then the
 * activation table (NULL: none). */
static inline int8_t ml_conv_out_q8(int32_t acc, int32_t m, int32_t sh, int32_t zy, int32_t lo, const int8_t *table)
{
    int32_t v = zy + ml_nn_requant(acc, m, sh);
    v = v < lo ? lo : (v > 127 ? 127 : v);
    return table != NULL ? table[v + 128] : (int8_t)v;
}

/* int8 convolution: acc = b[f] + sum (x - zx) * k over the taps inside the input (padding is the real
 * value 0, the code zx), requantized per filter (m, sh) to zero point zy, lower clamp lo. Kernel layout as
 * ml_conv2d_f32. */
static inline void ml_conv2d_q8(const int8_t *x, const ml_conv_geom *g, const int8_t *k, const int32_t *b,
                                const int32_t *m, const int8_t *sh, int32_t f, int32_t zx, int32_t zy,
                                int32_t lo, const int8_t *table, int8_t *y)
{
    int32_t oy, ox, fi, i, j, ch;
    const int32_t c = g->c;
    for (oy = 0; oy < g->oh; oy++) {
        for (ox = 0; ox < g->ow; ox++) {
            int8_t *yo = y + ((size_t)oy * (size_t)g->ow + (size_t)ox) * (size_t)f;
            for (fi = 0; fi < f; fi++) {
                int32_t acc = b[fi];
                for (i = 0; i < g->kh; i++) {
                    const int32_t iy = oy * g->sh - g->pt + i * g->dh;
                    if (iy < 0 || iy >= g->h) {
                        continue;
                    }
                    for (j = 0; j < g->kw; j++) {
                        const int32_t ix = ox * g->sw - g->pl + j * g->dw;
                        const int8_t *xp;
                        const int8_t *kp;
                        if (ix < 0 || ix >= g->w) {
                            continue;
                        }
                        xp = x + ((size_t)iy * (size_t)g->w + (size_t)ix) * (size_t)c;
                        kp = k + (((size_t)fi * (size_t)g->kh + (size_t)i) * (size_t)g->kw + (size_t)j) * (size_t)c;
                        for (ch = 0; ch < c; ch++) {
                            acc += ((int32_t)xp[ch] - zx) * (int32_t)kp[ch];
                        }
                    }
                }
                yo[fi] = ml_conv_out_q8(acc, m[fi], sh[fi], zy, lo, table);
            }
        }
    }
}

/* int8 depthwise convolution (kernel layout as ml_depthwise_f32), per output channel m, sh. */
static inline void ml_depthwise_q8(const int8_t *x, const ml_conv_geom *g, const int8_t *k, const int32_t *b,
                                   const int32_t *m, const int8_t *sh, int32_t mult, int32_t zx, int32_t zy,
                                   int32_t lo, const int8_t *table, int8_t *y)
{
    int32_t oy, ox, o, i, j;
    const int32_t c = g->c, cm = g->c * mult;
    for (oy = 0; oy < g->oh; oy++) {
        for (ox = 0; ox < g->ow; ox++) {
            int8_t *yo = y + ((size_t)oy * (size_t)g->ow + (size_t)ox) * (size_t)cm;
            for (o = 0; o < cm; o++) {
                int32_t acc = b[o];
                const int32_t ch = o / mult;
                for (i = 0; i < g->kh; i++) {
                    const int32_t iy = oy * g->sh - g->pt + i * g->dh;
                    if (iy < 0 || iy >= g->h) {
                        continue;
                    }
                    for (j = 0; j < g->kw; j++) {
                        const int32_t ix = ox * g->sw - g->pl + j * g->dw;
                        if (ix < 0 || ix >= g->w) {
                            continue;
                        }
                        acc += ((int32_t)x[((size_t)iy * (size_t)g->w + (size_t)ix) * (size_t)c + (size_t)ch] - zx) *
                               (int32_t)k[((size_t)i * (size_t)g->kw + (size_t)j) * (size_t)cm + (size_t)o];
                    }
                }
                yo[o] = ml_conv_out_q8(acc, m[o], sh[o], zy, lo, table);
            }
        }
    }
}

/* round(s / n) half away from zero, n > 0. */
static inline int32_t ml_conv_div_round(int32_t s, int32_t n)
{
    return s >= 0 ? (s + n / 2) / n : -((-s + n / 2) / n);
}

/* int8 pooling on codes of one scale: max (op 0) or the rounded mean of the real elements (op 1). */
static inline void ml_pool_q8(const int8_t *x, const ml_conv_geom *g, int32_t op, int8_t *y)
{
    int32_t oy, ox, ch, i, j;
    const int32_t c = g->c;
    for (oy = 0; oy < g->oh; oy++) {
        for (ox = 0; ox < g->ow; ox++) {
            int8_t *yo = y + ((size_t)oy * (size_t)g->ow + (size_t)ox) * (size_t)c;
            for (ch = 0; ch < c; ch++) {
                int32_t acc = op == 0 ? -128 : 0, n = 0;
                for (i = 0; i < g->kh; i++) {
                    const int32_t iy = oy * g->sh - g->pt + i;
                    if (iy < 0 || iy >= g->h) {
                        continue;
                    }
                    for (j = 0; j < g->kw; j++) {
                        const int32_t ix = ox * g->sw - g->pl + j;
                        int32_t v;
                        if (ix < 0 || ix >= g->w) {
                            continue;
                        }
                        v = x[((size_t)iy * (size_t)g->w + (size_t)ix) * (size_t)c + (size_t)ch];
                        if (op == 0) {
                            acc = v > acc ? v : acc;
                        } else {
                            acc += v;
                        }
                        n++;
                    }
                }
                yo[ch] = (int8_t)(op == 0 ? acc : ml_conv_div_round(acc, n));
            }
        }
    }
}

/* int8 global max (op 0) or rounded mean (op 1) over n positions of c channels. */
static inline void ml_global_pool_q8(const int8_t *x, int32_t n, int32_t c, int32_t op, int8_t *y)
{
    int32_t p, ch;
    for (ch = 0; ch < c; ch++) {
        int32_t acc = x[ch];
        for (p = 1; p < n; p++) {
            const int32_t v = x[(size_t)p * (size_t)c + (size_t)ch];
            if (op == 0) {
                acc = v > acc ? v : acc;
            } else {
                acc += v;
            }
        }
        y[ch] = (int8_t)(op == 0 ? acc : ml_conv_div_round(acc, n));
    }
}

/* int8 per-channel affine: y = clamp(zy + requant(b[ch] + (x - zx) w[ch], m[ch], sh[ch]), -128, 127). */
static inline void ml_affine_q8(const int8_t *x, int32_t n, int32_t c, const int8_t *w, const int32_t *b,
                                const int32_t *m, const int8_t *sh, int32_t zx, int32_t zy, int8_t *y)
{
    int32_t p, ch;
    for (p = 0; p < n; p++) {
        const int8_t *xp = x + (size_t)p * (size_t)c;
        int8_t *yp = y + (size_t)p * (size_t)c;
        for (ch = 0; ch < c; ch++) {
            const int32_t acc = b[ch] + ((int32_t)xp[ch] - zx) * (int32_t)w[ch];
            yp[ch] = ml_conv_out_q8(acc, m[ch], sh[ch], zy, -128, NULL);
        }
    }
}

#ifdef __cplusplus
}
#endif

#endif /* ML_CONV_H */
