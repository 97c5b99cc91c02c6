/*
 * ml_model.h - load a microlearn model file (docs/model-file.md) in place, with every byte checked.
 *
 * Part of the microlearn runtime. C99, no malloc, no mutable globals, every function static inline.
 *
 *     ml_trees model;
 *     int rc = ml_trees_load(file_bytes, file_len, &model);   // file_bytes: 8-byte aligned, e.g. in flash
 *     if (rc != ML_MODEL_OK) { puts(ml_model_strerror(rc)); return; }
 *     int32_t cls = ml_trees_predict_class(&model, x);
 *
 * Zero copy: the struct points into the buffer, which must stay alive and unchanged while the model is
 * used. The loader accepts a file only when it is entirely well formed: size, magic, version, CRC-32,
 * section table (bounds, alignment, dtypes, overlaps), counts, and every node (feature index in range,
 * children after their parent inside the same tree, so every walk ends at a leaf, leaf rows in range,
 * no NaN threshold, no NaN or infinite leaf value). Anything else returns a negative error code, so a
 * hostile or corrupted file can never make prediction read outside the buffer or loop.
 * Needs a little-endian CPU with IEEE-754 float and double (every Cortex-M, RISC-V, Xtensa, x86).
 */
#ifndef ML_MODEL_H
#define ML_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ml_trees.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ML_MODEL_FORMAT_MAJOR 1u
#define ML_MODEL_HEADER_SIZE 32u
#define ML_MODEL_SECTION_SIZE 16u
#define ML_MODEL_MAX_SECTIONS 64u

enum {
    ML_MODEL_OK = 0,
    ML_MODEL_E_ARG = -1,      /* NULL buffer or output */
    ML_MODEL_E_ALIGN = -2,    /* buffer not 8-byte aligned */
    ML_MODEL_E_SIZE = -3,     /* truncated, or length differs from the header's */
    ML_MODEL_E_MAGIC = -4,    /* not a model file */
    ML_MODEL_E_VERSION = -5,  /* format version or a required feature this loader does not know */
    ML_MODEL_E_CRC = -6,      /* CRC-32 mismatch: corrupted */
    ML_MODEL_E_SECTION = -7,  /* section table malformed (bounds, alignment, dtype, duplicates) */
    ML_MODEL_E_FAMILY = -8,   /* not a tree ensemble, or unknown task */
    ML_MODEL_E_RANGE = -9,    /* counts inconsistent or beyond this runtime's limits */
    ML_MODEL_E_TREE = -10,    /* a node or leaf is malformed */
    ML_MODEL_E_PLATFORM = -11 /* big-endian CPU */
};

static inline const char *ml_model_strerror(int code)
{
    switch (code) {
    case ML_MODEL_OK: return "ok";
    case ML_MODEL_E_ARG: return "NULL argument";
    case ML_MODEL_E_ALIGN: return "model buffer must be 8-byte aligned";
    case ML_MODEL_E_SIZE: return "model file truncated or of the wrong length";
    case ML_MODEL_E_MAGIC: return "not a microlearn model file (bad magic)";
    case ML_MODEL_E_VERSION: return "model file needs a newer runtime (format version or section)";
    case ML_MODEL_E_CRC: return "model file corrupted (CRC-32 mismatch)";
    case ML_MODEL_E_SECTION: return "model file section table malformed";
    case ML_MODEL_E_FAMILY: return "model file is not a tree ensemble this runtime supports";
    case ML_MODEL_E_RANGE: return "model file counts inconsistent or beyond runtime limits";
    case ML_MODEL_E_TREE: return "model file has a malformed node or leaf";
    case ML_MODEL_E_PLATFORM: return "model files need a little-endian CPU";
    default: return "unknown error";
    }
}

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
    case 1: case 2: case 9: return 1;
    case 3: case 4: return 2;
    case 5: case 6: case 7: return 4;
    case 8: case 10: case 11: return 8;
    default: return 0;
    }
}

/* The sections a tree ensemble uses, in this order (index = ML_MODEL_S_*). */
enum {
    ML_MODEL_S_ROOT, ML_MODEL_S_FEAT, ML_MODEL_S_MISS, ML_MODEL_S_THRS, ML_MODEL_S_RGHT,
    ML_MODEL_S_PROB, ML_MODEL_S_LCLS, ML_MODEL_S_LVAL, ML_MODEL_S_COUNT
};

static inline int ml_model_tag_index(const uint8_t *tag, uint32_t *dtype)
{
    static const char tags[ML_MODEL_S_COUNT][5] = {"ROOT", "FEAT", "MISS", "THRS", "RGHT", "PROB", "LCLS", "LVAL"};
    static const uint8_t dtypes[ML_MODEL_S_COUNT] = {6, 4, 1, 7, 6, 8, 6, 7};
    int k;
    for (k = 0; k < ML_MODEL_S_COUNT; k++) {
        if (tag[0] == (uint8_t)tags[k][0] && tag[1] == (uint8_t)tags[k][1] && tag[2] == (uint8_t)tags[k][2] &&
            tag[3] == (uint8_t)tags[k][3]) {
            *dtype = dtypes[k];
            return k;
        }
    }
    return -1;
}

/* Check every node of every tree; see the comment at the top. */
static inline int ml_model_check_trees(const ml_trees *m)
{
    int32_t t, i;
    if (m->roots[0] != 0) {
        return ML_MODEL_E_TREE;
    }
    for (t = 0; t < m->n_trees; t++) {
        const int32_t start = m->roots[t];
        const int32_t stop = (t + 1 < m->n_trees) ? m->roots[t + 1] : m->n_nodes;
        if (start < 0 || stop <= start || stop > m->n_nodes) {
            return ML_MODEL_E_TREE;
        }
        for (i = start; i < stop; i++) {
            const int32_t f = m->feature[i];
            const int32_t r = m->right[i];
            if (f == -1) {
                if (r < 0 || r >= m->n_leaves) {
                    return ML_MODEL_E_TREE;
                }
            } else {
                const float thr = m->threshold[i];
                if (f < 0 || f >= m->n_features || r <= i + 1 || r >= stop || m->missing_left[i] > 1u ||
                    thr != thr) {
                    return ML_MODEL_E_TREE;
                }
            }
        }
    }
    if (m->leaf_proba != NULL) {
        for (i = 0; i < m->n_leaves * m->n_outputs; i++) {
            const double p = m->leaf_proba[i];
            if (p - p != 0.0) { /* NaN or infinite */
                return ML_MODEL_E_TREE;
            }
        }
    }
    if (m->leaf_class != NULL) {
        for (i = 0; i < m->n_leaves; i++) {
            if (m->leaf_class[i] < 0 || m->leaf_class[i] >= m->n_outputs) {
                return ML_MODEL_E_TREE;
            }
        }
    }
    if (m->leaf_value != NULL) {
        for (i = 0; i < m->n_leaves; i++) {
            const float v = m->leaf_value[i];
            if (v - v != 0.0f) {
                return ML_MODEL_E_TREE;
            }
        }
    }
    return ML_MODEL_OK;
}

/* Load a tree-ensemble model file: fill *out with pointers into buf (8-byte aligned, len bytes).
 * Returns ML_MODEL_OK or a negative ML_MODEL_E_* code (then *out is zeroed and must not be used). */
static inline int ml_trees_load(const uint8_t *buf, size_t len, ml_trees *out)
{
    const uint16_t endian_probe = 1u;
    uint32_t off[ML_MODEL_S_COUNT], cnt[ML_MODEL_S_COUNT];
    uint32_t n_features, n_outputs, n_sections, file_size, table_end, s;
    uint16_t task;
    int k, rc;
    ml_trees m;

    if (out == NULL) {
        return ML_MODEL_E_ARG;
    }
    {
        const ml_trees zero = {0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
        *out = zero;
        m = zero;
    }
    if (buf == NULL) {
        return ML_MODEL_E_ARG;
    }
    if (*(const uint8_t *)(const void *)&endian_probe != 1u) {
        return ML_MODEL_E_PLATFORM;
    }
    if (((uintptr_t)(const void *)buf & 7u) != 0u) {
        return ML_MODEL_E_ALIGN;
    }
    if (len < ML_MODEL_HEADER_SIZE + 4u) {
        return ML_MODEL_E_SIZE;
    }
    if (buf[0] != 'M' || buf[1] != 'L' || buf[2] != 'M' || buf[3] != 'F') {
        return ML_MODEL_E_MAGIC;
    }
    if (ml_model_rd16(buf + 4) != ML_MODEL_FORMAT_MAJOR) {
        return ML_MODEL_E_VERSION;
    }
    file_size = ml_model_rd32(buf + 24);
    if ((size_t)file_size != len || len > 0x7FFFFFFFu) {
        return ML_MODEL_E_SIZE;
    }
    if (ml_crc32(buf, len - 4u) != ml_model_rd32(buf + len - 4u)) {
        return ML_MODEL_E_CRC;
    }
    if (ml_model_rd32(buf + 28) != 0u) {
        return ML_MODEL_E_VERSION; /* header flags of a later version */
    }
    task = ml_model_rd16(buf + 10);
    if (ml_model_rd16(buf + 8) != 1u || (task != 1u && task != 2u)) {
        return ML_MODEL_E_FAMILY;
    }
    n_features = ml_model_rd32(buf + 12);
    n_outputs = ml_model_rd32(buf + 16);
    n_sections = ml_model_rd32(buf + 20);
    if (n_sections > ML_MODEL_MAX_SECTIONS) {
        return ML_MODEL_E_SECTION;
    }
    table_end = ML_MODEL_HEADER_SIZE + ML_MODEL_SECTION_SIZE * n_sections;
    if (table_end > file_size - 4u) {
        return ML_MODEL_E_SECTION;
    }
    for (k = 0; k < ML_MODEL_S_COUNT; k++) {
        off[k] = 0u;
        cnt[k] = 0xFFFFFFFFu; /* absent */
    }
    for (s = 0; s < n_sections; s++) {
        const uint8_t *e = buf + ML_MODEL_HEADER_SIZE + ML_MODEL_SECTION_SIZE * s;
        const uint32_t dtype = e[4], size = ml_model_dtype_size(e[4]);
        const uint32_t offset = ml_model_rd32(e + 8), count = ml_model_rd32(e + 12);
        uint32_t want = 0u;
        const int idx = ml_model_tag_index(e, &want);
        if (size == 0u || ml_model_rd16(e + 6) != 0u || (offset & 7u) != 0u || offset < table_end ||
            (uint64_t)offset + (uint64_t)count * size > (uint64_t)(file_size - 4u)) {
            return ML_MODEL_E_SECTION;
        }
        if (idx < 0) {
            if ((e[5] & 1u) != 0u) {
                return ML_MODEL_E_VERSION; /* a critical section this loader does not know */
            }
            continue;
        }
        if (dtype != want || cnt[idx] != 0xFFFFFFFFu) {
            return ML_MODEL_E_SECTION;
        }
        off[idx] = offset;
        cnt[idx] = count;
    }
    for (k = ML_MODEL_S_ROOT; k <= ML_MODEL_S_RGHT; k++) {
        if (cnt[k] == 0xFFFFFFFFu) {
            return ML_MODEL_E_SECTION;
        }
    }
    if (n_features < 1u || n_features > 32767u || cnt[ML_MODEL_S_ROOT] < 1u ||
        cnt[ML_MODEL_S_FEAT] < cnt[ML_MODEL_S_ROOT] || cnt[ML_MODEL_S_MISS] != cnt[ML_MODEL_S_FEAT] ||
        cnt[ML_MODEL_S_THRS] != cnt[ML_MODEL_S_FEAT] || cnt[ML_MODEL_S_RGHT] != cnt[ML_MODEL_S_FEAT]) {
        return ML_MODEL_E_RANGE;
    }
    m.n_features = (int32_t)n_features;
    m.n_trees = (int32_t)cnt[ML_MODEL_S_ROOT];
    m.n_nodes = (int32_t)cnt[ML_MODEL_S_FEAT];
    m.roots = (const int32_t *)(const void *)(buf + off[ML_MODEL_S_ROOT]);
    m.feature = (const int16_t *)(const void *)(buf + off[ML_MODEL_S_FEAT]);
    m.missing_left = buf + off[ML_MODEL_S_MISS];
    m.threshold = (const float *)(const void *)(buf + off[ML_MODEL_S_THRS]);
    m.right = (const int32_t *)(const void *)(buf + off[ML_MODEL_S_RGHT]);
    if (task == 1u) {
        const uint32_t np = cnt[ML_MODEL_S_PROB];
        if (np == 0xFFFFFFFFu || cnt[ML_MODEL_S_LVAL] != 0xFFFFFFFFu) {
            return ML_MODEL_E_SECTION;
        }
        if (n_outputs < 1u || n_outputs > (uint32_t)ML_TREES_MAX_OUTPUTS || np == 0u || np % n_outputs != 0u) {
            return ML_MODEL_E_RANGE;
        }
        m.n_outputs = (int32_t)n_outputs;
        m.n_leaves = (int32_t)(np / n_outputs);
        m.leaf_proba = (const double *)(const void *)(buf + off[ML_MODEL_S_PROB]);
        if (cnt[ML_MODEL_S_LCLS] != 0xFFFFFFFFu) {
            if (cnt[ML_MODEL_S_LCLS] != (uint32_t)m.n_leaves) {
                return ML_MODEL_E_RANGE;
            }
            m.leaf_class = (const int32_t *)(const void *)(buf + off[ML_MODEL_S_LCLS]);
        } else if (m.n_trees == 1) {
            return ML_MODEL_E_SECTION; /* a single tree predicts leaf_class */
        }
    } else {
        if (cnt[ML_MODEL_S_LVAL] == 0xFFFFFFFFu || cnt[ML_MODEL_S_PROB] != 0xFFFFFFFFu ||
            cnt[ML_MODEL_S_LCLS] != 0xFFFFFFFFu) {
            return ML_MODEL_E_SECTION;
        }
        if (n_outputs != 1u || cnt[ML_MODEL_S_LVAL] == 0u) {
            return ML_MODEL_E_RANGE;
        }
        m.n_outputs = 1;
        m.n_leaves = (int32_t)cnt[ML_MODEL_S_LVAL];
        m.leaf_value = (const float *)(const void *)(buf + off[ML_MODEL_S_LVAL]);
    }
    rc = ml_model_check_trees(&m);
    if (rc != ML_MODEL_OK) {
        return rc;
    }
    *out = m;
    return ML_MODEL_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* ML_MODEL_H */
