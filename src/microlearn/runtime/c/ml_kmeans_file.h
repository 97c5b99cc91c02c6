/*
 * ml_kmeans_file.h - the model-file sections of a k-means model (family 5, backends/modelfile/kmeans.py).
 * The C predictor is the generated header (ml_kmeans.h); this checks a file a program receives and finds
 * its centres and weight sums (to start the online update with ml_kmeans_learn_init).
 */
#ifndef ML_KMEANS_FILE_H
#define ML_KMEANS_FILE_H

#include "ml_model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ML_FAMILY_KMEANS 5u
#define ML_TASKS_K (1u << ML_TASK_CLUSTER)

enum { ML_KMEANS_S_CENT, ML_KMEANS_S_MODE, ML_KMEANS_S_KMWS, ML_KMEANS_S_FNAM, ML_KMEANS_S_SRCE, ML_KMEANS_S_COUNT };

/* Sections of a k-means model (family 5). */
static inline const ml_model_section_spec *ml_kmeans_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_KMEANS_S_COUNT] = {
        {"CENT", ML_DT_F64, 1, ML_TASKS_K, 1}, {"MODE", ML_DT_U8, 1, ML_TASKS_K, 1},
        {"KMWS", ML_DT_F64, 0, ML_TASKS_K, 0}, {"FNAM", ML_DT_TEXT, 0, ML_TASKS_K, 0},
        {"SRCE", ML_DT_TEXT, 0, ML_TASKS_K, 0},
    };
    *n = ML_KMEANS_S_COUNT;
    return specs;
}

/* Check a k-means file (opened with ml_model_open): task CLUSTER, n_outputs centres of n_features finite
 * values, a MODE code 0 or 1, weight sums (if present) one per centre in [0, 1e15]. On success *centers
 * points to the centres and *counts to the weight sums (NULL without them); either may be NULL. */
static inline int ml_kmeans_file_check(const ml_model_file *f, const double **centers, const double **counts)
{
    const uint8_t *ptr[ML_KMEANS_S_COUNT];
    uint32_t cnt[ML_KMEANS_S_COUNT];
    uint32_t n_specs, kn, j;
    const ml_model_section_spec *specs = ml_kmeans_sections(&n_specs);
    int rc;
    if (f->family != ML_FAMILY_KMEANS) {
        return ML_E_FAMILY;
    }
    if (f->task != ML_TASK_CLUSTER || f->n_features < 1 || f->n_features > 65535 || f->n_outputs < 1 ||
        f->n_outputs > 65535) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    kn = (uint32_t)f->n_outputs * (uint32_t)f->n_features;
    if (cnt[ML_KMEANS_S_KMWS] == ML_MODEL_ABSENT) {
        cnt[ML_KMEANS_S_KMWS] = 0u;
    }
    if (cnt[ML_KMEANS_S_CENT] != kn || cnt[ML_KMEANS_S_MODE] != 1u ||
        (cnt[ML_KMEANS_S_KMWS] != 0u && cnt[ML_KMEANS_S_KMWS] != (uint32_t)f->n_outputs)) {
        return ML_E_FORMAT;
    }
    if (ptr[ML_KMEANS_S_MODE][0] > 1u || !ml_model_all_finite(ptr[ML_KMEANS_S_CENT], kn, 1)) {
        return ML_E_VALUE;
    }
    for (j = 0; j < cnt[ML_KMEANS_S_KMWS]; j++) {
        const double w = ((const double *)(const void *)ptr[ML_KMEANS_S_KMWS])[j];
        if (!(w >= 0.0 && w <= 1e15)) {
            return ML_E_VALUE;
        }
    }
    if (centers != 0) {
        *centers = (const double *)(const void *)ptr[ML_KMEANS_S_CENT];
    }
    if (counts != 0) {
        *counts = cnt[ML_KMEANS_S_KMWS] ? (const double *)(const void *)ptr[ML_KMEANS_S_KMWS] : 0;
    }
    return ML_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_KMEANS_FILE_H */
