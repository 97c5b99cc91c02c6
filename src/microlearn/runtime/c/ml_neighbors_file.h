/*
 * ml_neighbors_file.h - the model-file sections of a nearest-neighbour model (family 4,
 * backends/modelfile/neighbors.py). The C predictor is the generated header (ml_neighbors.h).
 */
#ifndef ML_NEIGHBORS_FILE_H
#define ML_NEIGHBORS_FILE_H

#include "ml_model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ML_FAMILY_NEIGHBORS 4u

enum { ML_NEIGHBORS_S_EXMP, ML_NEIGHBORS_S_EXLB, ML_NEIGHBORS_S_KNBR, ML_NEIGHBORS_S_EXVL, ML_NEIGHBORS_S_MNKP,
       ML_NEIGHBORS_S_LABL,
       ML_NEIGHBORS_S_FNAM, ML_NEIGHBORS_S_SRCE, ML_NEIGHBORS_S_COUNT };

/* Sections of a nearest-neighbour model (family 4). */
static inline const ml_model_section_spec *ml_neighbors_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_NEIGHBORS_S_COUNT] = {
        {"EXMP", ML_DT_F64, 1, ML_TASKS_CR, 1},  {"EXLB", ML_DT_I32, 1, ML_TASKS_C, 1},
        {"KNBR", ML_DT_U32, 1, ML_TASKS_CR, 1},  {"EXVL", ML_DT_F64, 1, ML_TASKS_R, 1},
        {"MNKP", ML_DT_F64, 1, ML_TASKS_CR, 0},
        {"LABL", ML_DT_TEXT, 0, ML_TASKS_C, 0},  {"FNAM", ML_DT_TEXT, 0, ML_TASKS_CR, 0},
        {"SRCE", ML_DT_TEXT, 0, ML_TASKS_CR, 0},
    };
    *n = ML_NEIGHBORS_S_COUNT;
    return specs;
}

/* Check a nearest-neighbour file (opened with ml_model_open) against its declared sections: a classifier,
 * n_examples rows of finite examples, one class index 0 .. n_outputs - 1 per example, seven KNBR codes with
 * 1 <= k <= n_examples, and minkowski's p in [1, 1024] in MNKP exactly when the metric is 3. */
static inline int ml_neighbors_file_check(const ml_model_file *f)
{
    const uint8_t *ptr[ML_NEIGHBORS_S_COUNT];
    uint32_t cnt[ML_NEIGHBORS_S_COUNT];
    uint32_t n_specs, j, rows;
    const ml_model_section_spec *specs = ml_neighbors_sections(&n_specs);
    const uint32_t *knbr;
    int rc;
    if (f->family != ML_FAMILY_NEIGHBORS) {
        return ML_E_FAMILY;
    }
    const int reg = f->task == ML_TASK_REGRESS;
    if ((f->task != ML_TASK_CLASSIFY && !reg) || f->n_features < 1 || f->n_features > 65535 ||
        f->n_outputs < (reg ? 1u : 2u) || f->n_outputs > (reg ? 1u : 65535u)) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    rows = cnt[ML_NEIGHBORS_S_EXMP] / (uint32_t)f->n_features;
    if (rows < 1u || cnt[ML_NEIGHBORS_S_EXMP] % (uint32_t)f->n_features != 0u || cnt[ML_NEIGHBORS_S_KNBR] != 7u ||
        cnt[reg ? ML_NEIGHBORS_S_EXVL : ML_NEIGHBORS_S_EXLB] != rows) {
        return ML_E_FORMAT;
    }
    knbr = (const uint32_t *)(const void *)ptr[ML_NEIGHBORS_S_KNBR];
    if (knbr[0] < 1u || knbr[0] > rows || knbr[1] > 3u || knbr[2] > 1u || knbr[3] > 2u || knbr[4] < 1u ||
        knbr[5] > 1u || knbr[6] > 1u) {
        return ML_E_VALUE;
    }
    if (cnt[ML_NEIGHBORS_S_MNKP] == ML_MODEL_ABSENT) {
        cnt[ML_NEIGHBORS_S_MNKP] = 0u;
    }
    if ((knbr[1] == 3u) != (cnt[ML_NEIGHBORS_S_MNKP] == 1u) || cnt[ML_NEIGHBORS_S_MNKP] > 1u) {
        return ML_E_FORMAT; /* minkowski's p: present exactly for metric 3 */
    }
    if (cnt[ML_NEIGHBORS_S_MNKP] == 1u) {
        const double p = *(const double *)(const void *)ptr[ML_NEIGHBORS_S_MNKP];
        if (!(p >= 1.0 && p <= 1024.0)) {
            return ML_E_VALUE;
        }
    }
    for (j = 0; !reg && j < rows; j++) {
        const int32_t c = ((const int32_t *)(const void *)ptr[ML_NEIGHBORS_S_EXLB])[j];
        if (c < 0 || (uint32_t)c >= f->n_outputs) {
            return ML_E_VALUE;
        }
    }
    if (!ml_model_all_finite(ptr[ML_NEIGHBORS_S_EXMP], cnt[ML_NEIGHBORS_S_EXMP], 1) ||
        (reg && !ml_model_all_finite(ptr[ML_NEIGHBORS_S_EXVL], rows, 1))) {
        return ML_E_VALUE;
    }
    return ML_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_NEIGHBORS_FILE_H */
