/*
 * ml_trees_packed.h - helpers of the compact ("packed") tree methods.
 *
 * Part of the microlearn runtime. C99, no malloc, no mutable globals, every function static inline.
 *
 * A packed model keeps its internal nodes as fixed-width records in a little-endian bit stream
 * (ml_pk_bits reads one), its leaves as vote codes in their parent's record, and its impure leaves as
 * small integer class counts. The rare near-tie replay recomputes scikit-learn's float64 arithmetic
 * from those counts with the integer routines below: float64 values are handled as their IEEE 754 bit
 * patterns in uint64 (all of them are non-negative, and non-negative doubles order like their bits),
 * each operation rounded to nearest, ties to even, as the FPU (or libgcc) would, so no soft-float
 * double routine is linked.
 */
#ifndef ML_TREES_PACKED_H
#define ML_TREES_PACKED_H

#include <stdint.h>

#include "ml_trees.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Cores with a hardware divider compute each impure leaf's reciprocal when they need it; the others
 * (Cortex-M0+, RV32 without M) read it from a table. Define ML_PK_HW_DIVIDE to 0 or 1 to choose. */
#ifndef ML_PK_HW_DIVIDE
#if defined(__arm__) && !defined(__ARM_FEATURE_IDIV)
#define ML_PK_HW_DIVIDE 0
#elif defined(__riscv) && !defined(__riscv_div)
#define ML_PK_HW_DIVIDE 0
#else
#define ML_PK_HW_DIVIDE 1
#endif
#endif

#define ML_PK_F64_ONE 0x3FF0000000000000u
#define ML_PK_F64_FRAC 0x000FFFFFFFFFFFFFu
#define ML_PK_F64_HIDDEN 0x0010000000000000u

/* The bits at bit offset `bit` of a little-endian bit stream, masked by `mask` (at most 25 bits wide;
 * the stream carries 3 bytes of padding so the 4-byte read never leaves it). */
static inline uint32_t ml_pk_bits(const uint8_t *s, uint32_t bit, uint32_t mask)
{
    const uint8_t *p = s + (bit >> 3);
    const uint32_t w = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    return (w >> (bit & 7u)) & mask;
}

/* The rank of input value v among the m thresholds of a packed model's table (sorted as ml_f32_key
 * orders them; ml_f32_key integers on ML_TREES_INT_COMPARE builds, floats otherwise): the number of
 * thresholds below v, so that v <= thr[j] exactly when the rank is <= j. NaN ranks m + 1, above every
 * j, so a node can tell it apart. A model computes each feature's rank once per row; its nodes then
 * compare small integers. */
#if ML_TREES_INT_COMPARE
static inline uint32_t ml_pk_rank(const int32_t *thr, uint32_t m, float v)
{
    const int32_t k = ml_f32_key(v);
    uint32_t lo = 0u, hi = m;
    if (k == INT32_MAX) {
        return m + 1u;
    }
    while (lo < hi) {
        const uint32_t mid = (lo + hi) >> 1;
        if (thr[mid] < k) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}
#else
static inline uint32_t ml_pk_rank(const float *thr, uint32_t m, float v)
{
    uint32_t lo = 0u, hi = m;
    if (v != v) {
        return m + 1u;
    }
    while (lo < hi) {
        const uint32_t mid = (lo + hi) >> 1;
        if (thr[mid] < v) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}
#endif

/* v[0..n) = 0, without the memset call (and its 160-odd bytes of libc) gcc would make of the loop. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static inline void ml_pk_zero_u32(uint32_t *v, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        v[i] = 0u;
    }
}

/* The same for float64 bit patterns. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static inline void ml_pk_zero_u64(uint64_t *v, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        v[i] = 0u;
    }
}

/* a + b for non-negative normal (or zero) float64 bit patterns, rounded to nearest, ties to even:
 * three extra bits (guard, round, sticky) are enough for a sum of two numbers of the same sign. */
static inline uint64_t ml_pk_add_f64(uint64_t a, uint64_t b)
{
    uint64_t ma, mb, m, g;
    int32_t ea, d;
    if (a < b) {
        m = a;
        a = b;
        b = m;
    }
    if (b == 0u) {
        return a;
    }
    ea = (int32_t)(a >> 52);
    d = ea - (int32_t)(b >> 52);
    ma = ((a & ML_PK_F64_FRAC) | ML_PK_F64_HIDDEN) << 3;
    mb = ((b & ML_PK_F64_FRAC) | ML_PK_F64_HIDDEN) << 3;
    if (d > 58) {
        mb = 1u; /* only the sticky bit is left of b */
    }
    while (d > 0 && mb > 1u) { /* align b, keeping every bit shifted out in the sticky bit 0 */
        mb = (mb >> 1) | (mb & 1u);
        d--;
    }
    m = ma + mb;
    if (m >> 56) {
        m = (m >> 1) | (m & 1u);
        ea++;
    }
    g = m & 7u;
    m >>= 3;
    if (g > 4u || (g == 4u && (m & 1u))) {
        m++;
        if (m >> 53) {
            m >>= 1;
            ea++;
        }
    }
    return ((uint64_t)ea << 52) | (m & ML_PK_F64_FRAC);
}

/* a / t for a non-negative normal (or zero) float64 bit pattern and 0 < t < 2^31, rounded to nearest,
 * ties to even (what `acc /= n_trees` does in float64): 53 quotient bits by long division, then the
 * rounding on the remainder. */
static inline uint64_t ml_pk_div_f64_u32(uint64_t a, uint32_t t)
{
    uint64_t m, dd, q = 0;
    int32_t k = 0, i, e;
    if (a == 0u) {
        return 0u;
    }
    m = (a & ML_PK_F64_FRAC) | ML_PK_F64_HIDDEN;
    dd = t;
    while ((dd << 1) <= m) { /* dd = t * 2^k <= m < 2 dd */
        dd <<= 1;
        k++;
    }
    for (i = 0; i < 53; i++) {
        q <<= 1;
        if (m >= dd) {
            q |= 1u;
            m -= dd;
        }
        m <<= 1;
    }
    if (m > dd || (m == dd && (q & 1u))) {
        q++;
        if (q >> 53) {
            q >>= 1;
            k++;
        }
    }
    e = (int32_t)(a >> 52) + k - 52;
    return ((uint64_t)e << 52) | (q & ML_PK_F64_FRAC);
}

/* fl(n / d) as float64 bits, for 0 <= n <= d < 2^31, d > 0: n is exact as a double, and the
 * division above rounds once, as scikit-learn's float64 division does. */
static inline uint64_t ml_pk_ratio_f64(uint32_t n, uint32_t d)
{
    uint64_t m = n;
    int32_t e = 1075; /* n = m * 2^(e - 1075) */
    if (n == 0u) {
        return 0u;
    }
    while (!(m & ML_PK_F64_HIDDEN)) {
        m <<= 1;
        e--;
    }
    return ml_pk_div_f64_u32(((uint64_t)e << 52) | (m & ML_PK_F64_FRAC), d);
}

/* First index of the largest of n non-negative float64 bit patterns (numpy's argmax). */
static inline int32_t ml_pk_argmax_u64(const uint64_t *v, int32_t n)
{
    int32_t best = 0, c;
    for (c = 1; c < n; c++) {
        if (v[c] > v[best]) {
            best = c;
        }
    }
    return best;
}

/* First index of the largest of n sums if it beats every other by more than margin, else -1: the
 * same answer as ml_argmax_margin_q (ml_trees.h) in one pass. */
static inline int32_t ml_pk_argmax_margin(const uint32_t *v, int32_t n, uint32_t margin)
{
    int32_t best = 0, c;
    uint32_t top = v[0], second = 0u;
    for (c = 1; c < n; c++) {
        const uint32_t s = v[c];
        if (s > top) {
            second = top;
            top = s;
            best = c;
        } else if (s > second) {
            second = s;
        }
    }
    return (n == 1 || top - second > margin) ? best : -1;
}

/* The float nearest a non-negative float64 bit pattern (for predict_proba). */
static inline float ml_pk_f64_to_float(uint64_t bits)
{
    union {
        uint64_t u;
        double d;
    } b;
    b.u = bits;
    return (float)b.d;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_TREES_PACKED_H */
