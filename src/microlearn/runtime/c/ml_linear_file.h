/*
 * ml_linear_file.h - load a linear model file (family 2, docs/linear.md) in place, every byte checked,
 * and predict from it with scikit-learn's float64 arithmetic.
 *
 * Part of the microlearn runtime. C99, no malloc, no mutable globals, every function static inline.
 *
 *     ml_linear_file model;   // the program was written for a 10-class classifier of 64 features
 *     int rc = ml_linear_load(file_bytes, file_len, ML_TASK_CLASSIFY, 64, 10, &model);
 *     if (rc != ML_OK) { puts(ml_strerror(rc)); return; }
 *     int32_t cls = ml_linear_file_predict(&model, x);      // x: 64 floats
 *
 * A file whose task, features or outputs differ from what the program expects is refused (ML_E_SHAPE),
 * a model of another family too (ML_E_FAMILY), as are NaN/infinite coefficients and MODE codes out of
 * range (ML_E_VALUE / ML_E_FORMAT). Prediction from a file uses the exact float64 coefficients (the
 * replay of ml_linear.h): scikit-learn's class on every row whose margin exceeds float64 rounding. The
 * generated headers (ml_linear.h) add the fast float32 / integer paths, whose tables are computed at
 * conversion.
 */
#ifndef ML_LINEAR_FILE_H
#define ML_LINEAR_FILE_H

#include "ml_linear.h"
#include "ml_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ML_FAMILY_LINEAR, the ML_LINEAR_S_* section indices and ml_linear_sections() (the table a test
 * compares with schema.LINEAR) are in ml_model.h. */

typedef struct ml_linear_file {
    int task;             /* ML_TASK_CLASSIFY or ML_TASK_REGRESS */
    int32_t n_outputs;    /* classes (2 for one row of coefficients) or regression outputs */
    ml_linear_f64 model;  /* points into the file */
} ml_linear_file;

/* Load a linear model file: fill *out with pointers into buf (8-byte aligned, len bytes). Returns ML_OK
 * or a negative ML_E_* code (then *out is zeroed and must not be used). */
static inline int ml_linear_load(const uint8_t *buf, size_t len, int task, int32_t n_features,
                                 int32_t n_outputs, ml_linear_file *out)
{
    const uint8_t *ptr[ML_LINEAR_S_COUNT];
    uint32_t cnt[ML_LINEAR_S_COUNT];
    uint32_t n_specs, k, i;
    const ml_model_section_spec *specs = ml_linear_sections(&n_specs);
    static const uint8_t limits[5] = {2u, 3u, 4u, 4u, 3u};
    const double *w;
    const double *b;
    ml_model_file f;
    int rc;

    if (out == NULL) {
        return ML_E_ARG;
    }
    {
        const ml_linear_file zero = {0, 0, {0, 0, NULL, NULL}};
        *out = zero;
    }
    rc = ml_model_open(buf, len, &f);
    if (rc != ML_OK) {
        return rc;
    }
    rc = ml_model_expect(&f, ML_FAMILY_LINEAR, task, n_features, n_outputs);
    if (rc != ML_OK) {
        return rc;
    }
    if (task != ML_TASK_CLASSIFY && task != ML_TASK_REGRESS) {
        return ML_E_FAMILY; /* a linear model classifies or regresses */
    }
    if (n_features < 1 || n_features > 65535 || n_outputs < 1 || n_outputs > 65535) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(&f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    k = cnt[ML_LINEAR_S_INTC];
    if (k < 1u || cnt[ML_LINEAR_S_COEF] != k * (uint32_t)n_features || cnt[ML_LINEAR_S_MODE] != 5u) {
        return ML_E_FORMAT;
    }
    if ((uint32_t)n_outputs != (task == ML_TASK_CLASSIFY && k == 1u ? 2u : k)) {
        return ML_E_FORMAT;
    }
    for (i = 0; i < 5u; i++) {
        if (ptr[ML_LINEAR_S_MODE][i] >= limits[i]) {
            return ML_E_FORMAT;
        }
    }
    w = (const double *)(const void *)ptr[ML_LINEAR_S_COEF];
    b = (const double *)(const void *)ptr[ML_LINEAR_S_INTC];
    for (i = 0; i < cnt[ML_LINEAR_S_COEF]; i++) {
        if (!(w[i] - w[i] == 0.0)) {
            return ML_E_VALUE; /* NaN or infinite */
        }
    }
    for (i = 0; i < k; i++) {
        if (!(b[i] - b[i] == 0.0)) {
            return ML_E_VALUE;
        }
    }
    out->task = task;
    out->n_outputs = n_outputs;
    out->model.n_features = n_features;
    out->model.k = (int32_t)k;
    out->model.w = w;
    out->model.b = b;
    return ML_OK;
}

#ifndef ML_LINEAR_FILE_MAX_ROWS
/* Largest number of rows of coefficients ml_linear_file_predict() scores on the stack. */
#define ML_LINEAR_FILE_MAX_ROWS 256
#endif

/* Class index of x (a classifier), or -1 if the model has more rows than ML_LINEAR_FILE_MAX_ROWS or
 * is a regressor. */
static inline int32_t ml_linear_file_predict(const ml_linear_file *m, const float *x)
{
    double s[ML_LINEAR_FILE_MAX_ROWS];
    if (m->task != ML_TASK_CLASSIFY || m->model.k > ML_LINEAR_FILE_MAX_ROWS) {
        return -1;
    }
    ml_linear_scores_f64(&m->model, x, s);
    return ml_linear_decide_f64(s, m->model.k);
}

/* The values (a regressor; the scores of a classifier) of x into out (m->model.k floats). */
static inline void ml_linear_file_values(const ml_linear_file *m, const float *x, float *out)
{
    int32_t c, i;
    const int32_t n = m->model.n_features;
    for (c = 0; c < m->model.k; c++) {
        double acc = m->model.b[c];
        for (i = 0; i < n; i++) {
            acc += (double)x[i] * m->model.w[(size_t)c * (size_t)n + (size_t)i];
        }
        out[c] = (float)acc;
    }
}

#ifdef __cplusplus
}
#endif

#endif /* ML_LINEAR_FILE_H */
