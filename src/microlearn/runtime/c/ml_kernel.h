/*
 * ml_kernel.h - kernel expansions for microcontrollers: scikit-learn's OneClassSVM (libsvm's one-class
 * SVM) with the linear, poly, rbf and sigmoid kernels.
 *
 * A generated model header fills the record below with const tables and calls these functions.
 * Everything is static inline, C99, no malloc, no mutable globals.
 *
 * sum = sum_i coef[i] K(sv[i], x) in float64 (libsvm's kernels; the power by repeated squaring, as
 * libsvm's powi); decision_function = sum - rho, score_samples = sum, predict = 1 when the decision is
 * > 0, else -1: scikit-learn's on every row outside the rounding bound of docs/anomaly.md. The rbf and
 * sigmoid kernels need exp / tanh (link with -lm).
 */
#ifndef ML_KERNEL_H
#define ML_KERNEL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { ML_KERNEL_LINEAR = 0, ML_KERNEL_POLY = 1, ML_KERNEL_RBF = 2, ML_KERNEL_SIGMOID = 3 };

typedef struct ml_kernel {
    int32_t n_features;
    int32_t m;          /* support vectors */
    int32_t kernel;     /* ML_KERNEL_* */
    int32_t degree;
    double gamma, coef0, rho;
    const double *sv;   /* m x n */
    const double *coef; /* m */
} ml_kernel;

/* libsvm's powi: base^times by repeated squaring. */
static inline double ml_kernel_powi(double base, int32_t times)
{
    double tmp = base, ret = 1.0;
    int32_t t;
    for (t = times; t > 0; t /= 2) {
        if (t % 2 == 1) {
            ret *= tmp;
        }
        tmp = tmp * tmp;
    }
    return ret;
}

/* sum_i coef[i] K(sv[i], x) in float64. */
static inline double ml_kernel_sum(const ml_kernel *k, const float *x)
{
    const int32_t n = k->n_features;
    double acc = 0.0;
    int32_t i, j;
    for (i = 0; i < k->m; i++) {
        const double *s = k->sv + (size_t)i * (size_t)n;
        double v = 0.0, kv;
        if (k->kernel == ML_KERNEL_RBF) {
            for (j = 0; j < n; j++) {
                const double d = (double)x[j] - s[j];
                v += d * d;
            }
            kv = exp(-k->gamma * v);
        } else {
            for (j = 0; j < n; j++) {
                v += (double)x[j] * s[j];
            }
            if (k->kernel == ML_KERNEL_LINEAR) {
                kv = v;
            } else if (k->kernel == ML_KERNEL_POLY) {
                kv = ml_kernel_powi(k->gamma * v + k->coef0, k->degree);
            } else {
                kv = tanh(k->gamma * v + k->coef0);
            }
        }
        acc += k->coef[i] * kv;
    }
    return acc;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_KERNEL_H */
