/*
 * ml_model.h - load a microlearn model file (docs/model-file.md) in place, with every byte checked.
 *
 * Part of the microlearn runtime. C99, no malloc, no mutable globals, every function static inline.
 *
 *     ml_trees model;   // the program was written for a 3-class classifier of 4 features
 *     int rc = ml_trees_load(file_bytes, file_len, ML_TASK_CLASSIFY, 4, 3, &model);
 *     if (rc != ML_OK) { puts(ml_strerror(rc)); return; }
 *     int32_t cls = ml_trees_predict_class(&model, x);      // x: 4 floats; proba: 3 floats
 *
 * The loader takes what the program was written for (task, number of features, number of outputs) and
 * refuses any other file with ML_E_SHAPE (a model of another family: ML_E_FAMILY), so a file can never
 * make prediction read past the caller's input or write past its output buffer.
 *
 * Zero copy: the struct points into the buffer, which must stay alive and unchanged while the model is
 * used. The loader accepts a file only when it is entirely well formed: size, magic, version, CRC-32,
 * section table (bounds, alignment, dtypes, duplicates, overlaps), counts, every node (feature index in
 * range, children after their parent inside the same tree, so every walk ends at a leaf, leaf rows in
 * range) and every value (no NaN threshold, probabilities in [0, 1] with rows summing to 1, finite leaf
 * values). The sections and invariants are those declared in microlearn/backends/modelfile/schema.py; a
 * test compares ml_trees_sections() with that declaration. Errors are the ML_E_* codes of ml_common.h.
 * Needs a little-endian CPU with IEEE-754 float and double (every Cortex-M, RISC-V, Xtensa, x86).
 *
 * Pipeline files (family 64) are checked by ml_pipeline_open(): every stage record and the final model
 * are verified, and the final tree model is loaded; running the stages from the file is left to the
 * generated C of the pipeline (see docs/model-file.md).
 */
#ifndef ML_MODEL_H
#define ML_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ml_common.h"
#include "ml_trees.h"
#include "ml_boost.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ML_MODEL_FORMAT_MAJOR 1u
#define ML_MODEL_HEADER_SIZE 32u
#define ML_MODEL_SECTION_SIZE 16u
#define ML_MODEL_MAX_SECTIONS 64u

/* header task codes */
#define ML_TASK_CLASSIFY 1
#define ML_TASK_REGRESS 2
#define ML_TASK_SCORE 3
#define ML_TASK_CLUSTER 4
#define ML_TASK_TRANSFORM 5

/* header family codes */
#define ML_FAMILY_TREES 1u
#define ML_FAMILY_FEATURES 32u
#define ML_FAMILY_PIPELINE 64u

/* section dtype codes */
#define ML_DT_U8 1u
#define ML_DT_I8 2u
#define ML_DT_U16 3u
#define ML_DT_I16 4u
#define ML_DT_U32 5u
#define ML_DT_I32 6u
#define ML_DT_F32 7u
#define ML_DT_F64 8u
#define ML_DT_TEXT 9u
#define ML_DT_U64 10u
#define ML_DT_I64 11u

#define ML_MODEL_ABSENT 0xFFFFFFFFu

/* One declared section of a family: tag, dtype, critical bit, tasks whose files may hold it (bit t for
 * task code t) and whether those files must. */
typedef struct ml_model_section_spec {
    char tag[5];
    uint8_t dtype;
    uint8_t critical;
    uint8_t tasks;
    uint8_t required;
} ml_model_section_spec;

/* A file whose header, CRC and section table passed ml_model_open(). */
typedef struct ml_model_file {
    const uint8_t *buf;
    uint32_t size;
    uint32_t family;
    int32_t task;
    int32_t n_features;
    int32_t n_outputs;
    uint32_t n_sections;
} ml_model_file;

static inline uint32_t ml_model_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint16_t ml_model_rd16(const uint8_t *p)
{
    return (uint16_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8));
}

/* CRC-32 (ISO-HDLC, the one zlib and binascii compute), four bits at a time from a 64-byte table. */
static inline uint32_t ml_crc32(const uint8_t *p, size_t n)
{
    static const uint32_t t[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
        0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
    };
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    for (i = 0; i < n; i++) {
        crc = (crc >> 4) ^ t[(crc ^ p[i]) & 15u];
        crc = (crc >> 4) ^ t[(crc ^ ((uint32_t)p[i] >> 4)) & 15u];
    }
    return crc ^ 0xFFFFFFFFu;
}

/* Item size of a section dtype code, 0 if unknown. */
static inline uint32_t ml_model_dtype_size(uint32_t dtype)
{
    switch (dtype) {
    case ML_DT_U8: case ML_DT_I8: case ML_DT_TEXT: return 1;
    case ML_DT_U16: case ML_DT_I16: return 2;
    case ML_DT_U32: case ML_DT_I32: case ML_DT_F32: return 4;
    case ML_DT_F64: case ML_DT_U64: case ML_DT_I64: return 8;
    default: return 0;
    }
}

static inline int ml_model_tag_is(const uint8_t *tag, const char *name)
{
    return tag[0] == (uint8_t)name[0] && tag[1] == (uint8_t)name[1] && tag[2] == (uint8_t)name[2] &&
           tag[3] == (uint8_t)name[3];
}

/* Check everything every model file shares: length, magic, version, CRC-32, header flags and the section
 * table (dtype known, reserved bytes 0, 8-byte aligned, inside the data, no tag twice, no overlaps).
 * buf: len bytes, 8-byte aligned. Fills *out. Returns ML_OK or an ML_E_* code. */
static inline int ml_model_open(const uint8_t *buf, size_t len, ml_model_file *out)
{
    const uint16_t endian_probe = 1u;
    uint32_t file_size, n_sections, table_end, s, k;
    if (out == NULL) {
        return ML_E_ARG;
    }
    out->buf = NULL;
    out->size = 0u;
    out->family = 0u;
    out->task = 0;
    out->n_features = 0;
    out->n_outputs = 0;
    out->n_sections = 0u;
    if (buf == NULL) {
        return ML_E_ARG;
    }
    if (*(const uint8_t *)(const void *)&endian_probe != 1u) {
        return ML_E_PLATFORM;
    }
    if (((uintptr_t)(const void *)buf & 7u) != 0u) {
        return ML_E_ALIGN;
    }
    if (len >= 4u && buf[0] == 'M' && buf[1] == 'L' && buf[2] == 'F' && buf[3] == 'B') {
        return ML_E_NOT_MODEL; /* a mel filterbank file */
    }
    if (len >= 4u && (buf[0] != 'M' || buf[1] != 'L' || buf[2] != 'M' || buf[3] != 'F')) {
        return ML_E_MAGIC;
    }
    if (len < ML_MODEL_HEADER_SIZE + 4u) {
        return ML_E_SIZE;
    }
    if (ml_model_rd16(buf + 4) != ML_MODEL_FORMAT_MAJOR) {
        return ML_E_VERSION;
    }
    file_size = ml_model_rd32(buf + 24);
    if ((size_t)file_size != len || len > 0x7FFFFFFFu) {
        return ML_E_SIZE;
    }
    if (ml_crc32(buf, len - 4u) != ml_model_rd32(buf + len - 4u)) {
        return ML_E_CRC;
    }
    if (ml_model_rd32(buf + 28) != 0u) {
        return ML_E_VERSION; /* header flags of a later version */
    }
    n_sections = ml_model_rd32(buf + 20);
    if (n_sections > ML_MODEL_MAX_SECTIONS) {
        return ML_E_FORMAT;
    }
    table_end = ML_MODEL_HEADER_SIZE + ML_MODEL_SECTION_SIZE * n_sections;
    if (table_end > file_size - 4u) {
        return ML_E_FORMAT;
    }
    for (s = 0; s < n_sections; s++) {
        const uint8_t *e = buf + ML_MODEL_HEADER_SIZE + ML_MODEL_SECTION_SIZE * s;
        const uint32_t size = ml_model_dtype_size(e[4]);
        const uint32_t offset = ml_model_rd32(e + 8);
        const uint64_t end = (uint64_t)offset + (uint64_t)ml_model_rd32(e + 12) * size;
        if (size == 0u || ml_model_rd16(e + 6) != 0u || (offset & 7u) != 0u || offset < table_end ||
            end > (uint64_t)(file_size - 4u)) {
            return ML_E_FORMAT; /* also a corrupted count: never trusted as a size to allocate */
        }
        for (k = 0; k < s; k++) {
            const uint8_t *o = buf + ML_MODEL_HEADER_SIZE + ML_MODEL_SECTION_SIZE * k;
            const uint32_t o_off = ml_model_rd32(o + 8);
            const uint64_t o_end = (uint64_t)o_off + (uint64_t)ml_model_rd32(o + 12) * ml_model_dtype_size(o[4]);
            if (ml_model_tag_is(e, (const char *)o) || ((uint64_t)offset < o_end && (uint64_t)o_off < end)) {
                return ML_E_FORMAT; /* a tag twice, or two sections overlapping */
            }
        }
    }
    out->buf = buf;
    out->size = file_size;
    out->family = ml_model_rd16(buf + 8);
    out->task = (int32_t)ml_model_rd16(buf + 10);
    out->n_features = (int32_t)(ml_model_rd32(buf + 12) & 0x7FFFFFFFu);
    out->n_outputs = (int32_t)(ml_model_rd32(buf + 16) & 0x7FFFFFFFu);
    if (ml_model_rd32(buf + 12) > 0x7FFFFFFFu || ml_model_rd32(buf + 16) > 0x7FFFFFFFu) {
        return ML_E_FORMAT;
    }
    out->n_sections = n_sections;
    return ML_OK;
}

/* Is the file what the program was written for? ML_E_FAMILY for another family, ML_E_SHAPE for another
 * task, number of features or number of outputs. */
static inline int ml_model_expect(const ml_model_file *f, uint32_t family, int task, int32_t n_features,
                                  int32_t n_outputs)
{
    if (f->family != family) {
        return ML_E_FAMILY;
    }
    if (f->task != (int32_t)task || f->n_features != n_features || f->n_outputs != n_outputs) {
        return ML_E_SHAPE;
    }
    return ML_OK;
}

/* Match the section table against a family's declared sections: ptr[k]/cnt[k] receive section k of specs
 * (cnt[k] = ML_MODEL_ABSENT when absent). An unknown critical section: ML_E_VERSION; a task none of the
 * family's sections belongs to, a known section with another dtype or in a file of a task it does not
 * belong to, or a required one missing: ML_E_FORMAT. */
static inline int ml_model_bind(const ml_model_file *f, const ml_model_section_spec *specs, uint32_t n_specs,
                                const uint8_t **ptr, uint32_t *cnt)
{
    uint32_t s, k, tasks = 0u;
    const uint32_t task_bit = (f->task >= 0 && f->task < 8) ? (1u << (uint32_t)f->task) : 0u;
    for (k = 0; k < n_specs; k++) {
        ptr[k] = NULL;
        cnt[k] = ML_MODEL_ABSENT;
        tasks |= specs[k].tasks;
    }
    if ((tasks & task_bit) == 0u) {
        return ML_E_FORMAT; /* a task no section of this family belongs to */
    }
    for (s = 0; s < f->n_sections; s++) {
        const uint8_t *e = f->buf + ML_MODEL_HEADER_SIZE + ML_MODEL_SECTION_SIZE * s;
        for (k = 0; k < n_specs; k++) {
            if (ml_model_tag_is(e, specs[k].tag)) {
                break;
            }
        }
        if (k == n_specs) {
            if ((e[5] & 1u) != 0u) {
                return ML_E_VERSION; /* a critical section this loader does not know */
            }
            continue;
        }
        if (e[4] != specs[k].dtype || (specs[k].tasks & task_bit) == 0u) {
            return ML_E_FORMAT;
        }
        ptr[k] = f->buf + ml_model_rd32(e + 8);
        cnt[k] = ml_model_rd32(e + 12);
    }
    for (k = 0; k < n_specs; k++) {
        if (specs[k].required && (specs[k].tasks & task_bit) != 0u && cnt[k] == ML_MODEL_ABSENT) {
            return ML_E_FORMAT;
        }
    }
    return ML_OK;
}

/* ---------------------------------------------------------------------------------------- tree ensembles */

/* Sections of a tree ensemble (family 1), in declaration order (index = ML_TREES_S_*). */
enum {
    ML_TREES_S_ROOT, ML_TREES_S_FEAT, ML_TREES_S_MISS, ML_TREES_S_THRS, ML_TREES_S_RGHT, ML_TREES_S_PROB,
    ML_TREES_S_LCLS, ML_TREES_S_LVAL, ML_TREES_S_LV64, ML_TREES_S_LABL, ML_TREES_S_FNAM, ML_TREES_S_SRCE,
    ML_TREES_S_BOST, ML_TREES_S_BASE, ML_TREES_S_TOUT, ML_TREES_S_CSET, ML_TREES_S_CLFT, ML_TREES_S_CBIT,
    ML_TREES_S_COUNT
};

#define ML_TASKS_CR ((1u << ML_TASK_CLASSIFY) | (1u << ML_TASK_REGRESS))
#define ML_TASKS_CRS ((1u << ML_TASK_CLASSIFY) | (1u << ML_TASK_REGRESS) | (1u << ML_TASK_SCORE))
#define ML_TASKS_C (1u << ML_TASK_CLASSIFY)
#define ML_TASKS_R (1u << ML_TASK_REGRESS)

/* Family 1 also holds boosted trees and isolation forests (the BOST ... CBIT sections, docs/boosting.md);
 * ml_trees_load refuses those files with ML_E_FAMILY; ml_boost_load reads them. */
static inline const ml_model_section_spec *ml_trees_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_TREES_S_COUNT] = {
        {"ROOT", ML_DT_I32, 1, ML_TASKS_CRS, 1}, {"FEAT", ML_DT_I16, 1, ML_TASKS_CRS, 1},
        {"MISS", ML_DT_U8, 1, ML_TASKS_CRS, 1},  {"THRS", ML_DT_F32, 1, ML_TASKS_CRS, 1},
        {"RGHT", ML_DT_I32, 1, ML_TASKS_CRS, 1}, {"PROB", ML_DT_F64, 1, ML_TASKS_C, 0},
        {"LCLS", ML_DT_I32, 1, ML_TASKS_C, 0},   {"LVAL", ML_DT_F32, 1, ML_TASKS_CRS, 0},
        {"LV64", ML_DT_F64, 0, ML_TASKS_CRS, 0}, {"LABL", ML_DT_TEXT, 0, ML_TASKS_C, 0},
        {"FNAM", ML_DT_TEXT, 0, ML_TASKS_CRS, 0}, {"SRCE", ML_DT_TEXT, 0, ML_TASKS_CRS, 0},
        {"BOST", ML_DT_F64, 1, ML_TASKS_CRS, 0}, {"BASE", ML_DT_F64, 1, ML_TASKS_CRS, 0},
        {"TOUT", ML_DT_I32, 1, ML_TASKS_CRS, 0}, {"CSET", ML_DT_I32, 1, ML_TASKS_CRS, 0},
        {"CLFT", ML_DT_U8, 1, ML_TASKS_CRS, 0},  {"CBIT", ML_DT_I32, 1, ML_TASKS_CRS, 0},
    };
    *n = ML_TREES_S_COUNT;
    return specs;
}

/* Check every node of every tree and every leaf value; see the comment at the top. */
static inline int ml_model_check_trees(const ml_trees *m, const double *lv64)
{
    int32_t t, i, c;
    if (m->roots[0] != 0) {
        return ML_E_FORMAT;
    }
    for (t = 0; t < m->n_trees; t++) {
        const int32_t start = m->roots[t];
        const int32_t stop = (t + 1 < m->n_trees) ? m->roots[t + 1] : m->n_nodes;
        if (start < 0 || stop <= start || stop > m->n_nodes) {
            return ML_E_FORMAT;
        }
        for (i = start; i < stop; i++) {
            const int32_t f = m->feature[i];
            const int32_t r = m->right[i];
            if (m->missing_left[i] > 1u) {
                return ML_E_VALUE;
            }
            if (m->threshold[i] != m->threshold[i]) {
                return ML_E_VALUE; /* NaN threshold */
            }
            if (f == -1) {
                if (r < 0 || r >= m->n_leaves) {
                    return ML_E_FORMAT;
                }
            } else if (f < 0 || f >= m->n_features || r <= i + 1 || r >= stop) {
                return ML_E_FORMAT;
            }
        }
    }
    if (m->leaf_proba != NULL) {
        const double tol = (double)m->n_outputs * (1.0 / 1048576.0); /* n_outputs x 2^-20 */
        for (i = 0; i < m->n_leaves; i++) {
            double sum = 0.0;
            for (c = 0; c < m->n_outputs; c++) {
                const double p = m->leaf_proba[i * m->n_outputs + c];
                if (!(p >= 0.0 && p <= 1.0)) { /* also NaN */
                    return ML_E_VALUE;
                }
                sum += p;
            }
            if (sum - 1.0 > tol || 1.0 - sum > tol) {
                return ML_E_VALUE;
            }
        }
    }
    if (m->leaf_class != NULL) {
        for (i = 0; i < m->n_leaves; i++) {
            if (m->leaf_class[i] < 0 || m->leaf_class[i] >= m->n_outputs) {
                return ML_E_VALUE;
            }
        }
    }
    if (m->leaf_value != NULL) {
        for (i = 0; i < m->n_leaves; i++) {
            const float v = m->leaf_value[i];
            if (v - v != 0.0f) { /* NaN or infinite */
                return ML_E_VALUE;
            }
            if (lv64 != NULL && (lv64[i] - lv64[i] != 0.0 || (float)lv64[i] != v)) {
                return ML_E_VALUE; /* LV64 not finite, or LVAL not LV64 rounded to float32 */
            }
        }
    }
    return ML_OK;
}

/* Load a tree-ensemble model file: fill *out with pointers into buf (8-byte aligned, len bytes).
 * task, n_features, n_outputs: what the program was written for (ML_TASK_CLASSIFY with the number of
 * classes, or ML_TASK_REGRESS with 1); another file is refused with ML_E_SHAPE, a file of another family
 * with ML_E_FAMILY. Returns ML_OK or a negative ML_E_* code (then *out is zeroed and must not be used). */
static inline int ml_trees_load(const uint8_t *buf, size_t len, int task, int32_t n_features, int32_t n_outputs,
                                ml_trees *out)
{
    const uint8_t *ptr[ML_TREES_S_COUNT];
    uint32_t cnt[ML_TREES_S_COUNT];
    uint32_t n_specs;
    const ml_model_section_spec *specs = ml_trees_sections(&n_specs);
    ml_model_file f;
    ml_trees m;
    int rc;
    int k;

    if (out == NULL) {
        return ML_E_ARG;
    }
    {
        const ml_trees zero = {0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
        *out = zero;
        m = zero;
    }
    rc = ml_model_open(buf, len, &f);
    if (rc != ML_OK) {
        return rc;
    }
    rc = ml_model_expect(&f, ML_FAMILY_TREES, task, n_features, n_outputs);
    if (rc != ML_OK) {
        return rc;
    }
    if (task != ML_TASK_CLASSIFY && task != ML_TASK_REGRESS) {
        return ML_E_FAMILY; /* a tree ensemble classifies or regresses */
    }
    if (n_features < 1 || n_features > 32767 || n_outputs < 1 || (task == ML_TASK_REGRESS && n_outputs != 1)) {
        return ML_E_FORMAT;
    }
    if (n_outputs > ML_TREES_MAX_OUTPUTS) {
        return ML_E_CAPACITY;
    }
    rc = ml_model_bind(&f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    if (cnt[ML_TREES_S_BOST] != ML_MODEL_ABSENT) {
        return ML_E_FAMILY; /* boosted trees: ml_boost_load */
    }
    for (k = ML_TREES_S_BASE; k <= ML_TREES_S_CBIT; k++) {
        if (cnt[k] != ML_MODEL_ABSENT) {
            return ML_E_FORMAT; /* a boosted-trees section without BOST */
        }
    }
    if (cnt[task == ML_TASK_CLASSIFY ? ML_TREES_S_PROB : ML_TREES_S_LVAL] == ML_MODEL_ABSENT) {
        return ML_E_FORMAT; /* required section missing */
    }
    if (cnt[ML_TREES_S_ROOT] < 1u || cnt[ML_TREES_S_FEAT] < cnt[ML_TREES_S_ROOT] ||
        cnt[ML_TREES_S_FEAT] > 0x7FFFFFFFu || cnt[ML_TREES_S_MISS] != cnt[ML_TREES_S_FEAT] ||
        cnt[ML_TREES_S_THRS] != cnt[ML_TREES_S_FEAT] || cnt[ML_TREES_S_RGHT] != cnt[ML_TREES_S_FEAT]) {
        return ML_E_FORMAT;
    }
    m.n_features = n_features;
    m.n_outputs = n_outputs;
    m.n_trees = (int32_t)cnt[ML_TREES_S_ROOT];
    m.n_nodes = (int32_t)cnt[ML_TREES_S_FEAT];
    m.roots = (const int32_t *)(const void *)ptr[ML_TREES_S_ROOT];
    m.feature = (const int16_t *)(const void *)ptr[ML_TREES_S_FEAT];
    m.missing_left = ptr[ML_TREES_S_MISS];
    m.threshold = (const float *)(const void *)ptr[ML_TREES_S_THRS];
    m.right = (const int32_t *)(const void *)ptr[ML_TREES_S_RGHT];
    if (task == ML_TASK_CLASSIFY) {
        const uint32_t np = cnt[ML_TREES_S_PROB];
        if (np == 0u || np % (uint32_t)n_outputs != 0u) {
            return ML_E_FORMAT;
        }
        m.n_leaves = (int32_t)(np / (uint32_t)n_outputs);
        m.leaf_proba = (const double *)(const void *)ptr[ML_TREES_S_PROB];
        if (cnt[ML_TREES_S_LCLS] != ML_MODEL_ABSENT) {
            if (cnt[ML_TREES_S_LCLS] != (uint32_t)m.n_leaves) {
                return ML_E_FORMAT;
            }
            m.leaf_class = (const int32_t *)(const void *)ptr[ML_TREES_S_LCLS];
        } else if (m.n_trees == 1) {
            return ML_E_FORMAT; /* a single tree predicts leaf_class */
        }
    } else {
        if (cnt[ML_TREES_S_LVAL] == 0u ||
            (cnt[ML_TREES_S_LV64] != ML_MODEL_ABSENT && cnt[ML_TREES_S_LV64] != cnt[ML_TREES_S_LVAL])) {
            return ML_E_FORMAT;
        }
        m.n_leaves = (int32_t)cnt[ML_TREES_S_LVAL];
        m.leaf_value = (const float *)(const void *)ptr[ML_TREES_S_LVAL];
    }
    rc = ml_model_check_trees(&m, (const double *)(const void *)ptr[ML_TREES_S_LV64]);
    if (rc != ML_OK) {
        return rc;
    }
    *out = m;
    return ML_OK;
}

/* ------------------------------------------------------------------------------- boosted trees (family 1) */

/* A boosted-trees or isolation-forest file (family 1 with BOST, docs/boosting.md) loaded by ml_boost_load:
 * the trees (pointers into the file) and what the API needs. */
typedef struct ml_boost_file {
    ml_boost m;
    int32_t task;      /* ML_TASK_CLASSIFY, ML_TASK_REGRESS or ML_TASK_SCORE */
    int32_t n_outputs; /* classes, or 1 */
    int32_t post;      /* 0 none, 1 sigmoid, 2 exponential, 3 softmax, 4 exp, 5 isolation, 6 softplus */
    int32_t decide;    /* binary: 0 raw >= 0, 1 raw > 0, 2 argmax of probabilities (raw > 0), 3 raw > 0.5 */
    double p0, p1;     /* isolation: denominator, offset; sigmoid: its scale (0: 1) */
    float bound;       /* proven bound of the float32 raw sums' rounding (largest over outputs) */
} ml_boost_file;

static inline int ml_boost_code(double v, int32_t n, int32_t *out)
{
    if (!(v >= 0.0 && v < (double)n) || v != (double)(int32_t)v) {
        return ML_E_VALUE;
    }
    *out = (int32_t)v;
    return ML_OK;
}

/* Load a boosted-trees file (task, n_features, n_outputs: what the program was written for; n_outputs is
 * the number of classes, or 1). Checks every node, index and value as modelfile.loads does. Returns ML_OK
 * or a negative ML_E_* code (then *out is zeroed and must not be used). */
static inline int ml_boost_load(const uint8_t *buf, size_t len, int task, int32_t n_features, int32_t n_outputs,
                                ml_boost_file *out)
{
    const uint8_t *ptr[ML_TREES_S_COUNT];
    uint32_t cnt[ML_TREES_S_COUNT];
    uint32_t n_specs;
    const ml_model_section_spec *specs = ml_trees_sections(&n_specs);
    ml_model_file f;
    ml_boost_file b;
    ml_boost *m = &b.m;
    const double *bost, *lv64;
    const float *lval;
    int32_t code[7], k, t, i, n_sets = 0;
    double worst = 0.0;
    int rc;

    if (out == NULL) {
        return ML_E_ARG;
    }
    {
        const ml_boost_file zero = {{0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                     NULL, NULL, NULL, NULL, NULL, NULL},
                                    0, 0, 0, 0, 0.0, 0.0, 0.0f};
        *out = zero;
        b = zero;
    }
    rc = ml_model_open(buf, len, &f);
    if (rc != ML_OK) {
        return rc;
    }
    rc = ml_model_expect(&f, ML_FAMILY_TREES, task, n_features, n_outputs);
    if (rc != ML_OK) {
        return rc;
    }
    if (task != ML_TASK_CLASSIFY && task != ML_TASK_REGRESS && task != ML_TASK_SCORE) {
        return ML_E_FAMILY;
    }
    if (n_features < 1 || n_features > 32767 || n_outputs < 1 || n_outputs > ML_TREES_MAX_OUTPUTS) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(&f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    if (cnt[ML_TREES_S_BOST] == ML_MODEL_ABSENT) {
        return ML_E_FAMILY; /* a forest: ml_trees_load */
    }
    if (cnt[ML_TREES_S_BOST] != 10u || cnt[ML_TREES_S_BASE] == ML_MODEL_ABSENT ||
        cnt[ML_TREES_S_TOUT] == ML_MODEL_ABSENT || cnt[ML_TREES_S_LVAL] == ML_MODEL_ABSENT ||
        cnt[ML_TREES_S_PROB] != ML_MODEL_ABSENT || cnt[ML_TREES_S_LCLS] != ML_MODEL_ABSENT) {
        return ML_E_FORMAT;
    }
    if (cnt[ML_TREES_S_ROOT] < 1u || cnt[ML_TREES_S_FEAT] < cnt[ML_TREES_S_ROOT] ||
        cnt[ML_TREES_S_FEAT] > 0x7FFFFFFFu || cnt[ML_TREES_S_MISS] != cnt[ML_TREES_S_FEAT] ||
        cnt[ML_TREES_S_THRS] != cnt[ML_TREES_S_FEAT] || cnt[ML_TREES_S_RGHT] != cnt[ML_TREES_S_FEAT] ||
        cnt[ML_TREES_S_TOUT] != cnt[ML_TREES_S_ROOT] || cnt[ML_TREES_S_LVAL] == 0u ||
        (cnt[ML_TREES_S_LV64] != ML_MODEL_ABSENT && cnt[ML_TREES_S_LV64] != cnt[ML_TREES_S_LVAL])) {
        return ML_E_FORMAT;
    }
    bost = (const double *)(const void *)ptr[ML_TREES_S_BOST];
    for (k = 0; k < 10; k++) {
        if (bost[k] - bost[k] != 0.0) {
            return ML_E_VALUE; /* NaN or infinite */
        }
    }
    {
        static const int32_t limits[7] = {ML_TREES_MAX_OUTPUTS + 1, 2, 2, 7, 4, 2, 257};
        for (k = 0; k < 7; k++) {
            rc = ml_boost_code(bost[k], limits[k], &code[k]);
            if (rc != ML_OK) {
                return rc;
            }
        }
    }
    m->n_raw = code[0];
    if (m->n_raw < 1 || cnt[ML_TREES_S_BASE] != (uint32_t)m->n_raw) {
        return ML_E_FORMAT;
    }
    if (task == ML_TASK_CLASSIFY ? (n_outputs < 2 || m->n_raw != (n_outputs == 2 ? 1 : n_outputs))
                                 : (n_outputs != 1 || m->n_raw != 1)) {
        return ML_E_FORMAT;
    }
    if (code[2] == 0 && cnt[ML_TREES_S_LV64] == ML_MODEL_ABSENT) {
        return ML_E_FORMAT; /* a model summed in float64 needs LV64 */
    }
    m->n_features = n_features;
    m->n_trees = (int32_t)cnt[ML_TREES_S_ROOT];
    m->n_nodes = (int32_t)cnt[ML_TREES_S_FEAT];
    m->n_leaves = (int32_t)cnt[ML_TREES_S_LVAL];
    m->leaf_width = 1;
    m->mean = code[1];
    m->cat_trunc = code[5];
    m->roots = (const int32_t *)(const void *)ptr[ML_TREES_S_ROOT];
    m->feature = (const int16_t *)(const void *)ptr[ML_TREES_S_FEAT];
    m->missing_left = ptr[ML_TREES_S_MISS];
    m->threshold = (const float *)(const void *)ptr[ML_TREES_S_THRS];
    m->right = (const int32_t *)(const void *)ptr[ML_TREES_S_RGHT];
    m->tree_output = (const int32_t *)(const void *)ptr[ML_TREES_S_TOUT];
    lval = (const float *)(const void *)ptr[ML_TREES_S_LVAL];
    lv64 = code[2] == 0 ? (const double *)(const void *)ptr[ML_TREES_S_LV64] : NULL;
    m->leaf_f32 = lval;
    m->leaf_f64 = lv64;
    m->base_f64 = (const double *)(const void *)ptr[ML_TREES_S_BASE];
    if (cnt[ML_TREES_S_CSET] != ML_MODEL_ABSENT) {
        if (cnt[ML_TREES_S_CSET] != cnt[ML_TREES_S_FEAT] || cnt[ML_TREES_S_CLFT] != cnt[ML_TREES_S_FEAT] ||
            cnt[ML_TREES_S_CBIT] == ML_MODEL_ABSENT || code[6] < 1 ||
            cnt[ML_TREES_S_CBIT] % (uint32_t)code[6] != 0u) {
            return ML_E_FORMAT;
        }
        m->cat_words = code[6];
        n_sets = (int32_t)(cnt[ML_TREES_S_CBIT] / (uint32_t)code[6]);
        m->cat_set = (const int32_t *)(const void *)ptr[ML_TREES_S_CSET];
        m->cat_left = ptr[ML_TREES_S_CLFT];
        m->cat_bits = (const uint32_t *)(const void *)ptr[ML_TREES_S_CBIT];
    } else if (cnt[ML_TREES_S_CLFT] != ML_MODEL_ABSENT || cnt[ML_TREES_S_CBIT] != ML_MODEL_ABSENT || code[6]) {
        return ML_E_FORMAT;
    }
    for (k = 0; k < m->n_raw; k++) {
        if (m->base_f64[k] - m->base_f64[k] != 0.0) {
            return ML_E_VALUE;
        }
    }
    for (i = 0; i < m->n_leaves; i++) {
        if (lval[i] - lval[i] != 0.0f || (lv64 != NULL && (lv64[i] - lv64[i] != 0.0 || (float)lv64[i] != lval[i]))) {
            return ML_E_VALUE;
        }
    }
    if (m->roots[0] != 0) {
        return ML_E_FORMAT;
    }
    {
        double sums[ML_TREES_MAX_OUTPUTS];
        int32_t counts[ML_TREES_MAX_OUTPUTS];
        for (k = 0; k < m->n_raw; k++) {
            sums[k] = m->base_f64[k] < 0.0 ? -m->base_f64[k] : m->base_f64[k];
            counts[k] = 0;
        }
        for (t = 0; t < m->n_trees; t++) {
            const int32_t start = m->roots[t];
            const int32_t stop = (t + 1 < m->n_trees) ? m->roots[t + 1] : m->n_nodes;
            const int32_t o = m->tree_output[t];
            double big = 0.0;
            if (start < 0 || stop <= start || stop > m->n_nodes) {
                return ML_E_FORMAT;
            }
            if (o < 0 || o >= m->n_raw) {
                return ML_E_VALUE;
            }
            for (i = start; i < stop; i++) {
                const int32_t fe = m->feature[i];
                const int32_t r = m->right[i];
                const int32_t s = m->cat_set != NULL ? m->cat_set[i] : -1;
                if (m->missing_left[i] > 1u || m->threshold[i] != m->threshold[i]) {
                    return ML_E_VALUE;
                }
                if (m->cat_set != NULL && (s < -1 || s >= n_sets || m->cat_left[i] > 1u)) {
                    return ML_E_VALUE;
                }
                if (fe == -1) {
                    double v;
                    if (r < 0 || r >= m->n_leaves || s != -1) {
                        return ML_E_FORMAT;
                    }
                    v = lv64 != NULL ? lv64[r] : (double)lval[r];
                    v = v < 0.0 ? -v : v;
                    big = v > big ? v : big;
                } else if (fe < 0 || fe >= n_features || r <= i + 1 || r >= stop) {
                    return ML_E_FORMAT;
                }
            }
            sums[o] += big;
            counts[o]++;
        }
        for (k = 0; k < m->n_raw; k++) {
            /* docs/boosting.md: (2T + 4) 2^-24 S, rounded up generously */
            double bk = (2.0 * counts[k] + 4.0) * (1.0 / 16777216.0) * sums[k] * (1.0 + 1.0 / 1048576.0);
            if (m->mean) {
                if (counts[k] == 0) {
                    return ML_E_FORMAT;
                }
                bk /= counts[k];
            }
            worst = bk > worst ? bk : worst;
        }
    }
    b.task = task;
    b.n_outputs = n_outputs;
    b.post = code[3];
    b.decide = code[4];
    b.p0 = bost[7];
    b.p1 = bost[8];
    b.bound = lv64 != NULL ? (float)(worst * (1.0 + 1.0 / 1048576.0)) : 0.0f;
    {
        const int32_t p = b.post;
        const int fits = task == ML_TASK_SCORE      ? p == 5 && b.p0 >= 0.0
                         : task == ML_TASK_REGRESS  ? p == 0 || p == 1 || p == 4 || p == 6
                         : m->n_raw == 1            ? p == 0 || p == 1 || p == 2
                                                    : p == 0 || p == 1 || p == 3;
        /* decide 3 (raw > 0.5): binary float32 models without probabilities; a sigmoid's scale >= 0 */
        const int half_ok =
            b.decide != 3 || (task == ML_TASK_CLASSIFY && m->n_raw == 1 && p == 0 && code[2] == 1);
        if (!fits || !half_ok || (b.decide == 2 && p == 0) || (p == 1 && b.p0 < 0.0)) {
            return ML_E_VALUE; /* a post-transform that does not fit the task */
        }
    }
    *out = b;
    return ML_OK;
}

/* Class index (classifier), or 1 / -1 (inlier / outlier) of an isolation forest: the library's decision. */
static inline int32_t ml_boost_file_predict(const ml_boost_file *b, const float *x)
{
    float raw[ML_TREES_MAX_OUTPUTS];
    double r[ML_TREES_MAX_OUTPUTS];
    const int32_t n = b->m.n_raw;
    int32_t best;
    if (b->task == ML_TASK_SCORE) {
        ml_boost_raw_f64(&b->m, x, r);
        return ml_boost_isolation_f64(r[0], b->p0, b->p1) < 0.0 ? -1 : 1;
    }
    ml_boost_raw_f32(&b->m, x, raw);
    if (b->decide == 3) {
        return raw[0] > 0.5f ? 1 : 0; /* a float32 model: the library's own sum */
    }
    if (n == 1) {
        if (raw[0] > b->bound) {
            return 1;
        }
        if (raw[0] < -b->bound) {
            return 0;
        }
        ml_boost_raw_f64(&b->m, x, r);
        return (b->decide == 0 ? r[0] >= 0.0 : r[0] > 0.0) ? 1 : 0;
    }
    best = ml_boost_argmax_margin(raw, n, 2.0f * b->bound);
    if (best >= 0 && b->bound > 0.0f) {
        return best;
    }
    if (b->m.leaf_f64 == NULL) {
        return ml_boost_argmax_f32(raw, n);
    }
    ml_boost_raw_f64(&b->m, x, r);
    return ml_argmax_f64(r, n);
}

/* The factor of a sigmoid post-transform (written as 0 when it is the default 1). */
static inline float ml_boost_file_scale(const ml_boost_file *b)
{
    return b->p0 != 0.0 ? (float)b->p0 : 1.0f;
}

/* The value of a regressor, or the anomaly score (score_samples) of an isolation forest. */
static inline float ml_boost_file_value(const ml_boost_file *b, const float *x)
{
    float raw[ML_TREES_MAX_OUTPUTS];
    ml_boost_raw_f32(&b->m, x, raw);
    if (b->post == 4) {
        return expf(raw[0]);
    }
    if (b->post == 1) {
        return ml_boost_sigmoid(ml_boost_file_scale(b) * raw[0]);
    }
    if (b->post == 6) {
        return ml_boost_softplus(raw[0]);
    }
    if (b->post == 5) {
        return b->p0 != 0.0 ? ml_boost_isolation(raw[0], (float)(1.0 / b->p0), 0.0f) : -0.5f;
    }
    return raw[0];
}

/* Class probabilities into out[0 .. n_outputs - 1] (a classifier with a link). */
static inline int ml_boost_file_proba(const ml_boost_file *b, const float *x, float *out)
{
    float raw[ML_TREES_MAX_OUTPUTS];
    if (b->task != ML_TASK_CLASSIFY || b->post == 0) {
        return ML_E_ARG;
    }
    ml_boost_raw_f32(&b->m, x, raw);
    if (b->m.n_raw == 1) {
        out[1] = ml_boost_sigmoid(b->post == 2 ? 2.0f * raw[0] : ml_boost_file_scale(b) * raw[0]);
        out[0] = 1.0f - out[1];
    } else if (b->post == 1) { /* one-vs-all: a sigmoid per class, not normalised */
        int32_t k;
        for (k = 0; k < b->m.n_raw; k++) {
            out[k] = ml_boost_sigmoid(ml_boost_file_scale(b) * raw[k]);
        }
    } else {
        ml_boost_softmax(raw, b->m.n_raw, out);
    }
    return ML_OK;
}

/* ------------------------------------------------------------------------------- feature-extractor stage */

/* Sections of a FeatureExtractor stage (family 32), in declaration order (index = ML_FEATURES_S_*). */
enum {
    ML_FEATURES_S_WIND, ML_FEATURES_S_AXES, ML_FEATURES_S_MAGN, ML_FEATURES_S_STAT, ML_FEATURES_S_BINS,
    ML_FEATURES_S_DCOS, ML_FEATURES_S_DSIN, ML_FEATURES_S_BAND, ML_FEATURES_S_SRAT, ML_FEATURES_S_SRCE,
    ML_FEATURES_S_COUNT
};

#define ML_TASKS_T (1u << ML_TASK_TRANSFORM)

static inline const ml_model_section_spec *ml_features_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_FEATURES_S_COUNT] = {
        {"WIND", ML_DT_I32, 1, ML_TASKS_T, 1}, {"AXES", ML_DT_I32, 1, ML_TASKS_T, 1},
        {"MAGN", ML_DT_U8, 1, ML_TASKS_T, 1},  {"STAT", ML_DT_U8, 1, ML_TASKS_T, 1},
        {"BINS", ML_DT_I32, 1, ML_TASKS_T, 0}, {"DCOS", ML_DT_F32, 1, ML_TASKS_T, 0},
        {"DSIN", ML_DT_F32, 1, ML_TASKS_T, 0}, {"BAND", ML_DT_F64, 0, ML_TASKS_T, 0},
        {"SRAT", ML_DT_F64, 0, ML_TASKS_T, 0}, {"SRCE", ML_DT_TEXT, 0, ML_TASKS_T, 0},
    };
    *n = ML_FEATURES_S_COUNT;
    return specs;
}

/* Check a FeatureExtractor stage record (opened with ml_model_open): the declared sections and counts,
 * window 2..32768, axes 1..16, magnitude 0/1, statistics known and not repeated, band bins inside the
 * spectrum, DFT tables of one value per sample in [-1, 1], and n_features / n_outputs consistent. */
static inline int ml_features_stage_check(const ml_model_file *f)
{
    const uint8_t *ptr[ML_FEATURES_S_COUNT];
    uint32_t cnt[ML_FEATURES_S_COUNT];
    uint32_t n_specs, k, j, nb = 0u, ns;
    const ml_model_section_spec *specs = ml_features_sections(&n_specs);
    int32_t window, axes;
    uint8_t magnitude;
    int rc;
    if (f->family != ML_FAMILY_FEATURES) {
        return ML_E_FAMILY;
    }
    if (f->task != ML_TASK_TRANSFORM) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    if (cnt[ML_FEATURES_S_WIND] != 1u || cnt[ML_FEATURES_S_AXES] != 1u || cnt[ML_FEATURES_S_MAGN] != 1u ||
        (cnt[ML_FEATURES_S_SRAT] != ML_MODEL_ABSENT && cnt[ML_FEATURES_S_SRAT] != 1u)) {
        return ML_E_FORMAT;
    }
    window = *(const int32_t *)(const void *)ptr[ML_FEATURES_S_WIND];
    axes = *(const int32_t *)(const void *)ptr[ML_FEATURES_S_AXES];
    magnitude = *ptr[ML_FEATURES_S_MAGN];
    ns = cnt[ML_FEATURES_S_STAT];
    if (window < 2 || window > 32768 || axes < 1 || axes > 16 || magnitude > 1u) {
        return ML_E_VALUE;
    }
    for (k = 0; k < ns; k++) {
        if (ptr[ML_FEATURES_S_STAT][k] > 10u) {
            return ML_E_VALUE;
        }
        for (j = 0; j < k; j++) {
            if (ptr[ML_FEATURES_S_STAT][j] == ptr[ML_FEATURES_S_STAT][k]) {
                return ML_E_FORMAT;
            }
        }
    }
    if (cnt[ML_FEATURES_S_BINS] != ML_MODEL_ABSENT) {
        const int32_t *bins = (const int32_t *)(const void *)ptr[ML_FEATURES_S_BINS];
        const float *tabs[2];
        uint32_t t;
        if (cnt[ML_FEATURES_S_BINS] % 2u != 0u || cnt[ML_FEATURES_S_DCOS] != (uint32_t)window ||
            cnt[ML_FEATURES_S_DSIN] != (uint32_t)window ||
            (cnt[ML_FEATURES_S_BAND] != ML_MODEL_ABSENT && cnt[ML_FEATURES_S_BAND] != cnt[ML_FEATURES_S_BINS])) {
            return ML_E_FORMAT;
        }
        nb = cnt[ML_FEATURES_S_BINS] / 2u;
        for (k = 0; k < nb; k++) {
            if (bins[2u * k] < 0 || bins[2u * k] >= bins[2u * k + 1u] || bins[2u * k + 1u] > window / 2 + 1) {
                return ML_E_VALUE;
            }
        }
        tabs[0] = (const float *)(const void *)ptr[ML_FEATURES_S_DCOS];
        tabs[1] = (const float *)(const void *)ptr[ML_FEATURES_S_DSIN];
        for (t = 0; t < 2u; t++) {
            for (k = 0; k < (uint32_t)window; k++) {
                if (!(tabs[t][k] >= -1.0f && tabs[t][k] <= 1.0f)) {
                    return ML_E_VALUE;
                }
            }
        }
    } else if (cnt[ML_FEATURES_S_DCOS] != ML_MODEL_ABSENT || cnt[ML_FEATURES_S_DSIN] != ML_MODEL_ABSENT ||
               cnt[ML_FEATURES_S_BAND] != ML_MODEL_ABSENT) {
        return ML_E_FORMAT;
    }
    if (cnt[ML_FEATURES_S_BAND] != ML_MODEL_ABSENT) {
        const double *bands = (const double *)(const void *)ptr[ML_FEATURES_S_BAND];
        for (k = 0; k < cnt[ML_FEATURES_S_BAND]; k++) {
            if (bands[k] - bands[k] != 0.0) {
                return ML_E_VALUE;
            }
        }
    }
    if (cnt[ML_FEATURES_S_SRAT] == 1u) {
        const double sr = *(const double *)(const void *)ptr[ML_FEATURES_S_SRAT];
        if (!(sr >= 0.0 && sr <= 1e12)) {
            return ML_E_VALUE;
        }
    }
    if (ns + nb == 0u || (int64_t)f->n_features != (int64_t)window * axes ||
        (int64_t)f->n_outputs != (int64_t)(axes + magnitude) * (int64_t)(ns + nb)) {
        return ML_E_FORMAT;
    }
    return ML_OK;
}

/* ----------------------------------------------------------------------------------------- linear models */

#define ML_FAMILY_LINEAR 2u

enum { ML_LINEAR_S_COEF, ML_LINEAR_S_INTC, ML_LINEAR_S_MODE, ML_LINEAR_S_LABL, ML_LINEAR_S_FNAM, ML_LINEAR_S_SRCE,
       ML_LINEAR_S_COUNT };

/* Sections of a linear model (family 2, backends/modelfile/linear.py). */
static inline const ml_model_section_spec *ml_linear_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_LINEAR_S_COUNT] = {
        {"COEF", ML_DT_F64, 1, ML_TASKS_CR, 1}, {"INTC", ML_DT_F64, 1, ML_TASKS_CR, 1},
        {"MODE", ML_DT_U8, 1, ML_TASKS_CR, 1},  {"LABL", ML_DT_TEXT, 0, ML_TASKS_C, 0},
        {"FNAM", ML_DT_TEXT, 0, ML_TASKS_CR, 0}, {"SRCE", ML_DT_TEXT, 0, ML_TASKS_CR, 0},
    };
    *n = ML_LINEAR_S_COUNT;
    return specs;
}

/* ------------------------------------------------------------------------------- Gaussian naive Bayes */

#define ML_FAMILY_NAIVE_BAYES 3u

enum { ML_GNB_S_THET, ML_GNB_S_VARS, ML_GNB_S_PRIO, ML_GNB_S_LPRI, ML_GNB_S_NORM, ML_GNB_S_MODE, ML_GNB_S_LABL,
       ML_GNB_S_FNAM, ML_GNB_S_SRCE, ML_GNB_S_COUNT };

/* Sections of a Gaussian naive Bayes model (family 3, backends/modelfile/naive_bayes.py). The C predictor
 * is the generated C (ml_naive_bayes.h). */
static inline const ml_model_section_spec *ml_naive_bayes_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_GNB_S_COUNT] = {
        {"THET", ML_DT_F64, 1, ML_TASKS_C, 1}, {"VARS", ML_DT_F64, 1, ML_TASKS_C, 1},
        {"PRIO", ML_DT_F64, 1, ML_TASKS_C, 1}, {"LPRI", ML_DT_F64, 1, ML_TASKS_C, 1},
        {"NORM", ML_DT_F64, 1, ML_TASKS_C, 1}, {"MODE", ML_DT_U8, 1, ML_TASKS_C, 1},
        {"LABL", ML_DT_TEXT, 0, ML_TASKS_C, 0}, {"FNAM", ML_DT_TEXT, 0, ML_TASKS_C, 0},
        {"SRCE", ML_DT_TEXT, 0, ML_TASKS_C, 0},
    };
    *n = ML_GNB_S_COUNT;
    return specs;
}

static inline int ml_model_all_finite(const uint8_t *p, uint32_t n, int f64)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        if (f64) {
            const double v = ((const double *)(const void *)p)[i];
            if (v - v != 0.0) {
                return 0;
            }
        } else {
            const float v = ((const float *)(const void *)p)[i];
            if (v - v != 0.0f) {
                return 0;
            }
        }
    }
    return 1;
}

/* Check a linear-model file (opened with ml_model_open) against its declared sections: n_features
 * 1 .. 65535, n_outputs 2 .. 65535 classes or 1 .. 65535 values, COEF rows of n_features (at least one),
 * one finite intercept per row, finite coefficients, five MODE codes 0 .. 3. The C predictor of a linear
 * model is its generated C (ml_linear.h); this checks a file a program receives. */
static inline int ml_linear_file_check(const ml_model_file *f)
{
    const uint8_t *ptr[ML_LINEAR_S_COUNT];
    uint32_t cnt[ML_LINEAR_S_COUNT];
    uint32_t n_specs, k, rows;
    const ml_model_section_spec *specs = ml_linear_sections(&n_specs);
    int rc;
    if (f->family != ML_FAMILY_LINEAR) {
        return ML_E_FAMILY;
    }
    if ((f->task != ML_TASK_CLASSIFY && f->task != ML_TASK_REGRESS) || f->n_features < 1 ||
        f->n_features > 65535 || f->n_outputs < (f->task == ML_TASK_CLASSIFY ? 2 : 1) || f->n_outputs > 65535) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    rows = cnt[ML_LINEAR_S_COEF] / (uint32_t)f->n_features;
    if (rows < 1u || cnt[ML_LINEAR_S_COEF] % (uint32_t)f->n_features != 0u || cnt[ML_LINEAR_S_INTC] != rows ||
        cnt[ML_LINEAR_S_MODE] != 5u) {
        return ML_E_FORMAT;
    }
    for (k = 0; k < 5u; k++) {
        if (ptr[ML_LINEAR_S_MODE][k] > 3u) {
            return ML_E_VALUE;
        }
    }
    if (!ml_model_all_finite(ptr[ML_LINEAR_S_COEF], cnt[ML_LINEAR_S_COEF], 1) ||
        !ml_model_all_finite(ptr[ML_LINEAR_S_INTC], rows, 1)) {
        return ML_E_VALUE;
    }
    return ML_OK;
}

/* Check a Gaussian naive Bayes file (opened with ml_model_open) against its declared sections: classes x
 * features means and variances, one prior, log-prior and normaliser per class, a MODE code 0 or 1, finite
 * values. The C predictor is the generated C (ml_naive_bayes.h); this checks a file a program receives. */
static inline int ml_naive_bayes_file_check(const ml_model_file *f)
{
    const uint8_t *ptr[ML_GNB_S_COUNT];
    uint32_t cnt[ML_GNB_S_COUNT];
    uint32_t n_specs, kn, k;
    const ml_model_section_spec *specs = ml_naive_bayes_sections(&n_specs);
    int rc;
    if (f->family != ML_FAMILY_NAIVE_BAYES) {
        return ML_E_FAMILY;
    }
    if (f->task != ML_TASK_CLASSIFY || f->n_features < 1 || f->n_features > 65535 || f->n_outputs < 2 ||
        f->n_outputs > 65535) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    k = (uint32_t)f->n_outputs;
    kn = k * (uint32_t)f->n_features;
    if (cnt[ML_GNB_S_THET] != kn || cnt[ML_GNB_S_VARS] != kn || cnt[ML_GNB_S_PRIO] != k ||
        cnt[ML_GNB_S_LPRI] != k || cnt[ML_GNB_S_NORM] != k || cnt[ML_GNB_S_MODE] != 1u) {
        return ML_E_FORMAT;
    }
    if (ptr[ML_GNB_S_MODE][0] > 1u || !ml_model_all_finite(ptr[ML_GNB_S_THET], kn, 1) ||
        !ml_model_all_finite(ptr[ML_GNB_S_VARS], kn, 1) || !ml_model_all_finite(ptr[ML_GNB_S_PRIO], k, 1) ||
        !ml_model_all_finite(ptr[ML_GNB_S_NORM], k, 1)) {
        return ML_E_VALUE;
    }
    return ML_OK;
}

/* ------------------------------------------------------------------------------- Mahalanobis distance */

#define ML_FAMILY_MAHALANOBIS 7u
#define ML_TASKS_S (1u << ML_TASK_SCORE)

enum { ML_MAH_S_LOCN, ML_MAH_S_PREC, ML_MAH_S_OFFS, ML_MAH_S_MODE, ML_MAH_S_FNAM, ML_MAH_S_SRCE, ML_MAH_S_COUNT };

/* Sections of a Mahalanobis-distance model (family 7, backends/modelfile/mahalanobis.py): EllipticEnvelope,
 * MinCovDet. The C predictor is the generated C (ml_mahalanobis.h). */
static inline const ml_model_section_spec *ml_mahalanobis_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_MAH_S_COUNT] = {
        {"LOCN", ML_DT_F64, 1, ML_TASKS_S, 1}, {"PREC", ML_DT_F64, 1, ML_TASKS_S, 1},
        {"OFFS", ML_DT_F64, 1, ML_TASKS_S, 1}, {"MODE", ML_DT_U8, 1, ML_TASKS_S, 1},
        {"FNAM", ML_DT_TEXT, 0, ML_TASKS_S, 0}, {"SRCE", ML_DT_TEXT, 0, ML_TASKS_S, 0},
    };
    *n = ML_MAH_S_COUNT;
    return specs;
}

/* Check a Mahalanobis-distance file (opened with ml_model_open): task SCORE with one output, 1 .. 1024
 * features, n location values, n x n precision values and one offset, all finite, a MODE code 0 or 1. */
static inline int ml_mahalanobis_file_check(const ml_model_file *f)
{
    const uint8_t *ptr[ML_MAH_S_COUNT];
    uint32_t cnt[ML_MAH_S_COUNT];
    uint32_t n_specs, n;
    const ml_model_section_spec *specs = ml_mahalanobis_sections(&n_specs);
    int rc;
    if (f->family != ML_FAMILY_MAHALANOBIS) {
        return ML_E_FAMILY;
    }
    if (f->task != ML_TASK_SCORE || f->n_features < 1 || f->n_features > 1024 || f->n_outputs != 1) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    n = (uint32_t)f->n_features;
    if (cnt[ML_MAH_S_LOCN] != n || cnt[ML_MAH_S_PREC] != n * n || cnt[ML_MAH_S_OFFS] != 1u ||
        cnt[ML_MAH_S_MODE] != 1u) {
        return ML_E_FORMAT;
    }
    if (ptr[ML_MAH_S_MODE][0] > 1u || !ml_model_all_finite(ptr[ML_MAH_S_LOCN], n, 1) ||
        !ml_model_all_finite(ptr[ML_MAH_S_PREC], n * n, 1) || !ml_model_all_finite(ptr[ML_MAH_S_OFFS], 1u, 1)) {
        return ML_E_VALUE;
    }
    return ML_OK;
}

/* ----------------------------------------------------------------------------------- Gaussian mixture */

#define ML_FAMILY_MIXTURE 8u
#define ML_TASKS_K (1u << ML_TASK_CLUSTER)

enum { ML_GMM_S_MEAN, ML_GMM_S_PCHL, ML_GMM_S_CNST, ML_GMM_S_MODE, ML_GMM_S_FNAM, ML_GMM_S_SRCE, ML_GMM_S_COUNT };

/* Sections of a Gaussian mixture (family 8, backends/modelfile/mixture.py). The C predictor is the
 * generated C (ml_mixture.h). */
static inline const ml_model_section_spec *ml_mixture_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_GMM_S_COUNT] = {
        {"MEAN", ML_DT_F64, 1, ML_TASKS_K, 1}, {"PCHL", ML_DT_F64, 1, ML_TASKS_K, 1},
        {"CNST", ML_DT_F64, 1, ML_TASKS_K, 1}, {"MODE", ML_DT_U8, 1, ML_TASKS_K, 1},
        {"FNAM", ML_DT_TEXT, 0, ML_TASKS_K, 0}, {"SRCE", ML_DT_TEXT, 0, ML_TASKS_K, 0},
    };
    *n = ML_GMM_S_COUNT;
    return specs;
}

/* Check a Gaussian mixture file (opened with ml_model_open): task CLUSTER, 1 .. 1024 features, 1 .. 65535
 * components, MEAN / PCHL / CNST sized by the covariance type in MODE[0] (0 .. 3), MODE[1] 0 or 1, finite
 * values, diag and spherical factors > 0. */
static inline int ml_mixture_file_check(const ml_model_file *f)
{
    const uint8_t *ptr[ML_GMM_S_COUNT];
    uint32_t cnt[ML_GMM_S_COUNT];
    uint32_t n_specs, n, k, need, i;
    const ml_model_section_spec *specs = ml_mixture_sections(&n_specs);
    int rc;
    if (f->family != ML_FAMILY_MIXTURE) {
        return ML_E_FAMILY;
    }
    if (f->task != ML_TASK_CLUSTER || f->n_features < 1 || f->n_features > 1024 || f->n_outputs < 1 ||
        f->n_outputs > 65535) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    n = (uint32_t)f->n_features;
    k = (uint32_t)f->n_outputs;
    if (cnt[ML_GMM_S_MODE] != 2u || cnt[ML_GMM_S_MEAN] != k * n || cnt[ML_GMM_S_CNST] != k) {
        return ML_E_FORMAT;
    }
    if (ptr[ML_GMM_S_MODE][0] > 3u || ptr[ML_GMM_S_MODE][1] > 1u) {
        return ML_E_VALUE;
    }
    switch (ptr[ML_GMM_S_MODE][0]) {
    case 0: need = k * n * n; break;
    case 1: need = n * n; break;
    case 2: need = k * n; break;
    default: need = k; break;
    }
    if (cnt[ML_GMM_S_PCHL] != need) {
        return ML_E_FORMAT;
    }
    if (!ml_model_all_finite(ptr[ML_GMM_S_MEAN], k * n, 1) || !ml_model_all_finite(ptr[ML_GMM_S_PCHL], need, 1) ||
        !ml_model_all_finite(ptr[ML_GMM_S_CNST], k, 1)) {
        return ML_E_VALUE;
    }
    if (ptr[ML_GMM_S_MODE][0] >= 2u) {
        for (i = 0; i < need; i++) {
            if (!(((const double *)(const void *)ptr[ML_GMM_S_PCHL])[i] > 0.0)) {
                return ML_E_VALUE;
            }
        }
    }
    return ML_OK;
}

/* ---------------------------------------------------------------------------------- kernel expansion */

#define ML_FAMILY_KERNEL 9u

enum { ML_KER_S_SVEC, ML_KER_S_DCOF, ML_KER_S_PARM, ML_KER_S_MODE, ML_KER_S_FNAM, ML_KER_S_SRCE, ML_KER_S_COUNT };

/* Sections of a kernel expansion (family 9, backends/modelfile/kernel.py): OneClassSVM. The C predictor
 * is the generated C (ml_kernel.h). */
static inline const ml_model_section_spec *ml_kernel_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_KER_S_COUNT] = {
        {"SVEC", ML_DT_F64, 1, ML_TASKS_S, 1}, {"DCOF", ML_DT_F64, 1, ML_TASKS_S, 1},
        {"PARM", ML_DT_F64, 1, ML_TASKS_S, 1}, {"MODE", ML_DT_U8, 1, ML_TASKS_S, 1},
        {"FNAM", ML_DT_TEXT, 0, ML_TASKS_S, 0}, {"SRCE", ML_DT_TEXT, 0, ML_TASKS_S, 0},
    };
    *n = ML_KER_S_COUNT;
    return specs;
}

/* Check a kernel-expansion file (opened with ml_model_open): task SCORE with one output, m >= 1 support
 * vectors of n_features finite values, m finite coefficients, four finite parameters (the degree an
 * integer 0 .. 64), a kernel code 0 .. 3. */
static inline int ml_kernel_file_check(const ml_model_file *f)
{
    const uint8_t *ptr[ML_KER_S_COUNT];
    uint32_t cnt[ML_KER_S_COUNT];
    uint32_t n_specs, n, m;
    const ml_model_section_spec *specs = ml_kernel_sections(&n_specs);
    double deg;
    int rc;
    if (f->family != ML_FAMILY_KERNEL) {
        return ML_E_FAMILY;
    }
    if (f->task != ML_TASK_SCORE || f->n_features < 1 || f->n_features > 65535 || f->n_outputs != 1) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    n = (uint32_t)f->n_features;
    m = cnt[ML_KER_S_DCOF];
    if (m < 1u || cnt[ML_KER_S_SVEC] / n != m || cnt[ML_KER_S_SVEC] % n != 0u || cnt[ML_KER_S_PARM] != 4u ||
        cnt[ML_KER_S_MODE] != 1u) {
        return ML_E_FORMAT;
    }
    if (ptr[ML_KER_S_MODE][0] > 3u || !ml_model_all_finite(ptr[ML_KER_S_SVEC], m * n, 1) ||
        !ml_model_all_finite(ptr[ML_KER_S_DCOF], m, 1) || !ml_model_all_finite(ptr[ML_KER_S_PARM], 4u, 1)) {
        return ML_E_VALUE;
    }
    deg = ((const double *)(const void *)ptr[ML_KER_S_PARM])[3];
    if (!(deg >= 0.0 && deg <= 64.0) || deg != (double)(int32_t)deg) {
        return ML_E_VALUE;
    }
    return ML_OK;
}

/* ------------------------------------------------------------------------------- local outlier factor */

#define ML_FAMILY_LOF 10u

enum { ML_LOF_S_FITX, ML_LOF_S_LRDS, ML_LOF_S_KDST, ML_LOF_S_PARM, ML_LOF_S_FNAM, ML_LOF_S_SRCE, ML_LOF_S_COUNT };

/* Sections of a local outlier factor (family 10, backends/modelfile/lof.py). The C predictor is the
 * generated C (ml_lof.h). */
static inline const ml_model_section_spec *ml_lof_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_LOF_S_COUNT] = {
        {"FITX", ML_DT_F64, 1, ML_TASKS_S, 1}, {"LRDS", ML_DT_F64, 1, ML_TASKS_S, 1},
        {"KDST", ML_DT_F64, 1, ML_TASKS_S, 1}, {"PARM", ML_DT_F64, 1, ML_TASKS_S, 1},
        {"FNAM", ML_DT_TEXT, 0, ML_TASKS_S, 0}, {"SRCE", ML_DT_TEXT, 0, ML_TASKS_S, 0},
    };
    *n = ML_LOF_S_COUNT;
    return specs;
}

/* Check a local-outlier-factor file (opened with ml_model_open): task SCORE with one output, m >= 2
 * finite training rows, m densities in 2^-1022 .. 2^50 and k-distances in 0 .. 2^50, k an integer 1 .. m - 1, a finite offset. */
static inline int ml_lof_file_check(const ml_model_file *f)
{
    const uint8_t *ptr[ML_LOF_S_COUNT];
    uint32_t cnt[ML_LOF_S_COUNT];
    uint32_t n_specs, n, m, i;
    const ml_model_section_spec *specs = ml_lof_sections(&n_specs);
    const double *p;
    int rc;
    if (f->family != ML_FAMILY_LOF) {
        return ML_E_FAMILY;
    }
    if (f->task != ML_TASK_SCORE || f->n_features < 1 || f->n_features > 65535 || f->n_outputs != 1) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    n = (uint32_t)f->n_features;
    m = cnt[ML_LOF_S_LRDS];
    if (m < 2u || cnt[ML_LOF_S_FITX] / n != m || cnt[ML_LOF_S_FITX] % n != 0u || cnt[ML_LOF_S_KDST] != m ||
        cnt[ML_LOF_S_PARM] != 2u) {
        return ML_E_FORMAT;
    }
    if (!ml_model_all_finite(ptr[ML_LOF_S_FITX], m * n, 1) || !ml_model_all_finite(ptr[ML_LOF_S_PARM], 2u, 1)) {
        return ML_E_VALUE;
    }
    for (i = 0; i < m; i++) {
        const double l = ((const double *)(const void *)ptr[ML_LOF_S_LRDS])[i];
        const double d = ((const double *)(const void *)ptr[ML_LOF_S_KDST])[i];
        if (!(l >= 2.2250738585072014e-308 && l <= 1125899906842624.0) || !(d >= 0.0 && d <= 1125899906842624.0)) {
            return ML_E_VALUE;
        }
    }
    p = (const double *)(const void *)ptr[ML_LOF_S_PARM];
    if (!(p[0] >= 1.0 && p[0] < (double)m) || p[0] != (double)(int32_t)p[0]) {
        return ML_E_VALUE;
    }
    return ML_OK;
}

/* ---------------------------------------------------------------------------------- preprocessing stages */

#define ML_FAMILY_TRANSFORM 33u

enum {
    ML_TRANSFORM_S_KIND, ML_TRANSFORM_S_OPS, ML_TRANSFORM_S_C32, ML_TRANSFORM_S_C64, ML_TRANSFORM_S_KEEP,
    ML_TRANSFORM_S_FILL, ML_TRANSFORM_S_NORM, ML_TRANSFORM_S_COMP, ML_TRANSFORM_S_OFFS, ML_TRANSFORM_S_SCAL,
    ML_TRANSFORM_S_SRCE, ML_TRANSFORM_S_COUNT
};

/* Sections of a preprocessing stage (family 33, backends/modelfile/transform.py). */
static inline const ml_model_section_spec *ml_transform_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_TRANSFORM_S_COUNT] = {
        {"KIND", ML_DT_U8, 1, ML_TASKS_T, 1},  {"OPS ", ML_DT_U8, 1, ML_TASKS_T, 0},
        {"C32 ", ML_DT_F32, 1, ML_TASKS_T, 0}, {"C64 ", ML_DT_F64, 1, ML_TASKS_T, 0},
        {"KEEP", ML_DT_I32, 1, ML_TASKS_T, 0}, {"FILL", ML_DT_F32, 1, ML_TASKS_T, 0},
        {"NORM", ML_DT_U8, 1, ML_TASKS_T, 0},  {"COMP", ML_DT_F64, 1, ML_TASKS_T, 0},
        {"OFFS", ML_DT_F64, 1, ML_TASKS_T, 0}, {"SCAL", ML_DT_F64, 1, ML_TASKS_T, 0},
        {"SRCE", ML_DT_TEXT, 0, ML_TASKS_T, 0},
    };
    *n = ML_TRANSFORM_S_COUNT;
    return specs;
}

/* Check a preprocessing stage record: the declared sections and invariants (finite constants, known
 * operation codes, imputer columns in range), the sections its KIND needs (1 per-feature operations: OPS
 * with as many constants as the operations take; 2 imputer: KEEP, FILL; 3 normalizer: NORM; 4 PCA: COMP,
 * OFFS) and its sizes. */
static inline int ml_transform_stage_check(const ml_model_file *f)
{
    const uint8_t *ptr[ML_TRANSFORM_S_COUNT];
    uint32_t cnt[ML_TRANSFORM_S_COUNT];
    uint32_t n_specs, k, n32 = 0u, n64 = 0u, nin, nout;
    const ml_model_section_spec *specs = ml_transform_sections(&n_specs);
    uint8_t kind;
    int rc;
    if (f->family != ML_FAMILY_TRANSFORM) {
        return ML_E_FAMILY;
    }
    if (f->task != ML_TASK_TRANSFORM || f->n_features < 1 || f->n_features > (1 << 20) || f->n_outputs < 1 ||
        f->n_outputs > (1 << 20)) {
        return ML_E_FORMAT;
    }
    rc = ml_model_bind(f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    nin = (uint32_t)f->n_features;
    nout = (uint32_t)f->n_outputs;
    if (cnt[ML_TRANSFORM_S_KIND] != 1u || (cnt[ML_TRANSFORM_S_NORM] != ML_MODEL_ABSENT && cnt[ML_TRANSFORM_S_NORM] != 1u)) {
        return ML_E_FORMAT;
    }
    for (k = ML_TRANSFORM_S_KEEP; k <= ML_TRANSFORM_S_SCAL; k++) {
        if (k != ML_TRANSFORM_S_NORM && k != ML_TRANSFORM_S_COMP && cnt[k] != ML_MODEL_ABSENT && cnt[k] != nout) {
            return ML_E_FORMAT;
        }
    }
    if (cnt[ML_TRANSFORM_S_COMP] != ML_MODEL_ABSENT && (uint64_t)cnt[ML_TRANSFORM_S_COMP] != (uint64_t)nin * nout) {
        return ML_E_FORMAT;
    }
    kind = *ptr[ML_TRANSFORM_S_KIND];
    if (kind < 1u || kind > 4u) {
        return ML_E_VALUE;
    }
    if (cnt[ML_TRANSFORM_S_OPS] != ML_MODEL_ABSENT) {
        for (k = 0; k < cnt[ML_TRANSFORM_S_OPS]; k++) {
            const uint8_t op = ptr[ML_TRANSFORM_S_OPS][k];
            const uint8_t base = (uint8_t)(op & 15u);
            if ((op & ~31u) != 0u || base < 1u || base > 5u || (op == 21u)) {
                return ML_E_VALUE;
            }
            if (base == 5u) {
                n32 += 2u * nin;
            } else if ((op & 16u) != 0u) {
                n64 += nin;
            } else {
                n32 += nin;
            }
        }
    }
    if (cnt[ML_TRANSFORM_S_KEEP] != ML_MODEL_ABSENT) {
        const int32_t *keep = (const int32_t *)(const void *)ptr[ML_TRANSFORM_S_KEEP];
        for (k = 0; k < nout; k++) {
            if (keep[k] < 0 || keep[k] >= f->n_features) {
                return ML_E_VALUE;
            }
        }
    }
    if (cnt[ML_TRANSFORM_S_NORM] == 1u && (*ptr[ML_TRANSFORM_S_NORM] < 1u || *ptr[ML_TRANSFORM_S_NORM] > 3u)) {
        return ML_E_VALUE;
    }
    for (k = ML_TRANSFORM_S_C32; k <= ML_TRANSFORM_S_SCAL; k++) {
        const int f64 = specs[k].dtype == ML_DT_F64;
        if ((specs[k].dtype == ML_DT_F64 || specs[k].dtype == ML_DT_F32) && cnt[k] != ML_MODEL_ABSENT &&
            !ml_model_all_finite(ptr[k], cnt[k], f64)) {
            return ML_E_VALUE;
        }
    }
    switch (kind) {
    case 1u:
        if (cnt[ML_TRANSFORM_S_OPS] == ML_MODEL_ABSENT || nin != nout ||
            (cnt[ML_TRANSFORM_S_C32] == ML_MODEL_ABSENT ? 0u : cnt[ML_TRANSFORM_S_C32]) != n32 ||
            (cnt[ML_TRANSFORM_S_C64] == ML_MODEL_ABSENT ? 0u : cnt[ML_TRANSFORM_S_C64]) != n64) {
            return ML_E_FORMAT;
        }
        break;
    case 2u:
        if (cnt[ML_TRANSFORM_S_KEEP] == ML_MODEL_ABSENT || cnt[ML_TRANSFORM_S_FILL] == ML_MODEL_ABSENT) {
            return ML_E_FORMAT;
        }
        break;
    case 3u:
        if (cnt[ML_TRANSFORM_S_NORM] == ML_MODEL_ABSENT || nin != nout) {
            return ML_E_FORMAT;
        }
        break;
    default:
        if (cnt[ML_TRANSFORM_S_COMP] == ML_MODEL_ABSENT || cnt[ML_TRANSFORM_S_OFFS] == ML_MODEL_ABSENT) {
            return ML_E_FORMAT;
        }
        break;
    }
    return ML_OK;
}

/* ---------------------------------------------------------------------------------------------- pipelines */

/* Check a transform stage record of any stage family this runtime knows: one case per family (a new stage
 * family adds its ml_<family>_sections() table, its check and one line here). */
static inline int ml_model_check_stage(const ml_model_file *st)
{
    switch (st->family) {
    case ML_FAMILY_FEATURES: return ml_features_stage_check(st);
    case ML_FAMILY_TRANSFORM: return ml_transform_stage_check(st);
    default: return ML_E_FAMILY; /* a stage family this runtime does not check */
    }
}

#ifndef ML_PIPELINE_MAX_STAGES
#define ML_PIPELINE_MAX_STAGES 8
#endif

enum { ML_PIPELINE_S_STGS, ML_PIPELINE_S_FINL, ML_PIPELINE_S_FNAM, ML_PIPELINE_S_SRCE, ML_PIPELINE_S_COUNT };

#define ML_TASKS_ANY 0x3Eu /* tasks 1 .. 5 */

static inline const ml_model_section_spec *ml_pipeline_sections(uint32_t *n)
{
    static const ml_model_section_spec specs[ML_PIPELINE_S_COUNT] = {
        {"STGS", ML_DT_U8, 1, ML_TASKS_ANY, 1},
        {"FINL", ML_DT_U8, 1, ML_TASKS_ANY, 1},
        {"FNAM", ML_DT_TEXT, 0, ML_TASKS_ANY, 0},
        {"SRCE", ML_DT_TEXT, 0, ML_TASKS_ANY, 0},
    };
    *n = ML_PIPELINE_S_COUNT;
    return specs;
}

/* A checked pipeline file: its stage records (each an opened, checked model file inside the buffer) and
 * the final tree model, loaded. Running the stages from the file is not part of this runtime: a program
 * runs a pipeline through its generated C (NAME_predict on raw input); ml_pipeline_open lets it check
 * that a file it received is the pipeline it was built for. */
typedef struct ml_pipeline {
    int32_t n_stages;
    ml_model_file stages[ML_PIPELINE_MAX_STAGES];
    ml_model_file final_file;
    ml_trees final;
} ml_pipeline;

/* Check a pipeline file (family 64) against what the program expects (task, n_features of the raw
 * input, n_outputs), every stage record (its own container and family checks; they must chain), and load
 * the final model (a tree ensemble). Returns ML_OK or an ML_E_* code. */
static inline int ml_pipeline_open(const uint8_t *buf, size_t len, int task, int32_t n_features, int32_t n_outputs,
                                   ml_pipeline *out)
{
    const uint8_t *ptr[ML_PIPELINE_S_COUNT];
    uint32_t cnt[ML_PIPELINE_S_COUNT];
    uint32_t n_specs, off;
    const ml_model_section_spec *specs = ml_pipeline_sections(&n_specs);
    ml_model_file f;
    int32_t n_in;
    int rc;
    if (out == NULL) {
        return ML_E_ARG;
    }
    out->n_stages = 0;
    rc = ml_model_open(buf, len, &f);
    if (rc != ML_OK) {
        return rc;
    }
    rc = ml_model_expect(&f, ML_FAMILY_PIPELINE, task, n_features, n_outputs);
    if (rc != ML_OK) {
        return rc;
    }
    rc = ml_model_bind(&f, specs, n_specs, ptr, cnt);
    if (rc != ML_OK) {
        return rc;
    }
    n_in = n_features;
    off = 0u;
    while (off < cnt[ML_PIPELINE_S_STGS]) {
        const uint8_t *rec = ptr[ML_PIPELINE_S_STGS] + off;
        const uint32_t left = cnt[ML_PIPELINE_S_STGS] - off;
        uint32_t size, k;
        ml_model_file *st;
        if (out->n_stages >= ML_PIPELINE_MAX_STAGES) {
            return ML_E_CAPACITY;
        }
        if (left < ML_MODEL_HEADER_SIZE + 4u) {
            return ML_E_FORMAT;
        }
        size = ml_model_rd32(rec + 24);
        if (size < ML_MODEL_HEADER_SIZE + 4u || size > left || ((size + 7u) & ~7u) > left) {
            return ML_E_FORMAT;
        }
        for (k = size; k < ((size + 7u) & ~7u); k++) {
            if (rec[k] != 0u) {
                return ML_E_FORMAT;
            }
        }
        st = &out->stages[out->n_stages];
        rc = ml_model_open(rec, size, st);
        if (rc != ML_OK) {
            return rc == ML_E_SIZE ? ML_E_FORMAT : rc;
        }
        if (st->task != ML_TASK_TRANSFORM || st->n_features != n_in) {
            return ML_E_FORMAT;
        }
        rc = ml_model_check_stage(st);
        if (rc != ML_OK) {
            return rc;
        }
        n_in = st->n_outputs;
        out->n_stages++;
        off += (size + 7u) & ~7u;
    }
    if (out->n_stages == 0) {
        return ML_E_FORMAT;
    }
    rc = ml_model_open(ptr[ML_PIPELINE_S_FINL], cnt[ML_PIPELINE_S_FINL], &out->final_file);
    if (rc != ML_OK) {
        return rc == ML_E_SIZE ? ML_E_FORMAT : rc;
    }
    if (out->final_file.family != ML_FAMILY_TREES) {
        return ML_E_FAMILY;
    }
    return ml_trees_load(ptr[ML_PIPELINE_S_FINL], cnt[ML_PIPELINE_S_FINL], task, n_in, n_outputs, &out->final);
}

#ifdef __cplusplus
}
#endif

#endif /* ML_MODEL_H */
