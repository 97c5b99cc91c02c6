/*
 * ml_network_file.h - the model-file sections of a neural network (family 6,
 * backends/modelfile/network.py). The C predictor is the generated header (ml_network.h and the headers of
 * other layer kinds); this checks a file a program receives.
 */
#ifndef ML_NETWORK_FILE_H
#define ML_NETWORK_FILE_H

#include "ml_model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ML_FAMILY_NETWORK 6u
#define ML_NETWORK_RECORD 8u
#define ML_NETWORK_MAX_LAYERS 256u

enum { ML_NETWORK_S_SHAP, ML_NETWORK_S_LAYR, ML_NETWORK_S_PRMS, ML_NETWORK_S_MODE, ML_NETWORK_S_QINP,
       ML_NETWORK_S_QLYR, ML_NETWORK_S_QWGT, ML_NETWORK_S_QBIA, ML_NETWORK_S_QMUL, ML_NETWORK_S_QSHF,
       ML_NETWORK_S_QTAB, ML_NETWORK_S_QSCL, ML_NETWORK_S_LABL, ML_NETWORK_S_FNAM, ML_NETWORK_S_SRCE,
       ML_NETWORK_S_COUNT };

/* Sections of a neural network (family 6). */
static inline const ml_model_section_spec *ml_network_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_NETWORK_S_COUNT] = {
        {"SHAP", ML_DT_I32, 1, ML_TASKS_CR, 1},  {"LAYR", ML_DT_I32, 1, ML_TASKS_CR, 1},
        {"PRMS", ML_DT_F64, 1, ML_TASKS_CR, 1},  {"MODE", ML_DT_U8, 1, ML_TASKS_CR, 1},
        {"QINP", ML_DT_I32, 0, ML_TASKS_CR, 0},  {"QLYR", ML_DT_I32, 0, ML_TASKS_CR, 0},
        {"QWGT", ML_DT_I8, 0, ML_TASKS_CR, 0},   {"QBIA", ML_DT_I32, 0, ML_TASKS_CR, 0},
        {"QMUL", ML_DT_I32, 0, ML_TASKS_CR, 0},  {"QSHF", ML_DT_I8, 0, ML_TASKS_CR, 0},
        {"QTAB", ML_DT_I8, 0, ML_TASKS_CR, 0},   {"QSCL", ML_DT_F64, 0, ML_TASKS_CR, 0},
        {"LABL", ML_DT_TEXT, 0, ML_TASKS_C, 0},  {"FNAM", ML_DT_TEXT, 0, ML_TASKS_CR, 0},
        {"SRCE", ML_DT_TEXT, 0, ML_TASKS_CR, 0},
    };
    *n = ML_NETWORK_S_COUNT;
    return specs;
}

/* Check a network file (opened with ml_model_open): one shape more than layers (rank 1..3, dimensions
 * >= 1, unused ones 1), the input holding n_features values, whole layer records, three MODE codes in
 * range, finite parameters. The layers' own records are checked by the loaders of their kinds; the
 * optional int8 sections (Q*) are for the int8 method's readers (mlrt) and are not read here. */
static inline int ml_network_file_check(const ml_model_file *f)
{
    const uint8_t *ptr[ML_NETWORK_S_COUNT];
    uint32_t cnt[ML_NETWORK_S_COUNT];
    uint32_t n_specs, t, layers;
    const ml_model_section_spec *specs = ml_network_sections(&n_specs);
    const int32_t *shap;
    const uint8_t *mode;
    int rc;
    if (f->family != ML_FAMILY_NETWORK) {
        return ML_E_FAMILY;
    }
    if ((f->task != ML_TASK_CLASSIFY && f->task != ML_TASK_REGRESS) || f->n_features < 1 ||
        f->n_outputs < (f->task == ML_TASK_CLASSIFY ? 2u : 1u) || f->n_outputs > 65535u) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    layers = cnt[ML_NETWORK_S_LAYR] / ML_NETWORK_RECORD;
    if (layers < 1u || layers > ML_NETWORK_MAX_LAYERS || cnt[ML_NETWORK_S_LAYR] % ML_NETWORK_RECORD != 0u ||
        cnt[ML_NETWORK_S_SHAP] != 4u * (layers + 1u) || cnt[ML_NETWORK_S_MODE] != 3u) {
        return ML_E_FORMAT;
    }
    shap = (const int32_t *)(const void *)ptr[ML_NETWORK_S_SHAP];
    for (t = 0; t <= layers; t++) {
        const int32_t *s = shap + 4u * t;
        int32_t d;
        if (s[0] < 1 || s[0] > 3) {
            return ML_E_FORMAT;
        }
        for (d = 1; d <= 3; d++) {
            if (s[d] < 1 || (d > s[0] && s[d] != 1)) {
                return ML_E_FORMAT;
            }
        }
    }
    if ((int64_t)shap[1] * shap[2] * shap[3] != (int64_t)f->n_features) {
        return ML_E_FORMAT;
    }
    mode = ptr[ML_NETWORK_S_MODE];
    if (mode[0] > 1u || mode[1] > 2u || mode[2] > 1u) {
        return ML_E_VALUE;
    }
    if (!ml_model_all_finite(ptr[ML_NETWORK_S_PRMS], cnt[ML_NETWORK_S_PRMS], 1)) {
        return ML_E_VALUE;
    }
    return ML_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_NETWORK_FILE_H */
