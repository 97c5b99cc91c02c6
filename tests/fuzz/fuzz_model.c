/*
 * libFuzzer harness for ml_model.h: any input must be rejected with an error code or loaded into a
 * model whose predictions stay inside the buffer (AddressSanitizer) and free of undefined behaviour.
 * Input byte 0 selects the mode: even = write the correct CRC-32 over the rest before loading (so
 * mutations reach the checks behind the CRC), odd = load the bytes as they are. The shape passed to
 * ml_trees_load is the one the header states (the most trusting program), so every deep check is reached;
 * the same bytes are also loaded as a fixed 3-class, 4-feature program would, which must never succeed
 * for another shape. Pipeline files (family 64) go through ml_pipeline_open, which checks every nested
 * stage record and loads the final trees; linear files through ml_linear_file_check, stage records of
 * their own through ml_model_check_stage. Tree files that ml_trees_load refuses as another family (boosted
 * trees, isolation forests) go through ml_boost_load and predict with every ml_boost_file function.
 * Build: clang -fsanitize=fuzzer,address,undefined -I src/microlearn/runtime/c tests/fuzz/fuzz_model.c
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ml_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ml_fuzz_predict(const ml_trees *m)
{
    float *x = (float *)malloc((size_t)m->n_features * sizeof(float));
    float *proba = (float *)malloc((size_t)m->n_outputs * sizeof(float));
    const float probes[5] = {0.0f, -1e30f, 1e30f, NAN, 0.5f};
    int k;
    int32_t f, sink = 0;
    for (k = 0; k < 5 && x != NULL && proba != NULL; k++) {
        for (f = 0; f < m->n_features; f++) {
            x[f] = (f % 2) ? probes[k] : probes[(k + 1) % 5];
        }
        if (m->leaf_value != NULL) {
            sink += ml_trees_predict_value(m, x) > 0.0f;
        } else {
            sink += ml_trees_predict_class(m, x);
            ml_trees_predict_proba(m, x, proba);
        }
    }
    free(x);
    free(proba);
    (void)sink;
}

static void ml_fuzz_boost(const ml_boost_file *b)
{
    float *x = (float *)malloc((size_t)b->m.n_features * sizeof(float));
    float proba[ML_TREES_MAX_OUTPUTS];
    const float probes[6] = {0.0f, -1e30f, 1e30f, NAN, 0.5f, 3.0f};
    int k;
    int32_t f, sink = 0;
    for (k = 0; k < 6 && x != NULL; k++) {
        for (f = 0; f < b->m.n_features; f++) {
            x[f] = (f % 2) ? probes[k] : probes[(k + 1) % 6];
        }
        if (b->task != ML_TASK_REGRESS) {
            sink += ml_boost_file_predict(b, x);
        }
        if (b->task != ML_TASK_CLASSIFY) {
            sink += ml_boost_file_value(b, x) > 0.0f;
        } else {
            sink += ml_boost_file_proba(b, x, proba);
        }
    }
    free(x);
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t *store;
    uint8_t *buf;
    size_t len;
    ml_model_file file;
    ml_trees m;
    int rc;
    if (size < 1) {
        return 0;
    }
    len = size - 1;
    store = (uint64_t *)malloc(len + (len == 0)); /* 8-byte aligned; ASan flags any read past len */
    if (store == NULL) {
        return 0;
    }
    buf = (uint8_t *)store;
    memcpy(buf, data + 1, len);
    if ((data[0] & 1u) == 0u && len >= 4) {
        const uint32_t crc = ml_crc32(buf, len - 4);
        buf[len - 4] = (uint8_t)crc;
        buf[len - 3] = (uint8_t)(crc >> 8);
        buf[len - 2] = (uint8_t)(crc >> 16);
        buf[len - 1] = (uint8_t)(crc >> 24);
    }
    rc = ml_model_open(buf, len, &file);
    if (rc == ML_OK && file.family == ML_FAMILY_PIPELINE) {
        ml_pipeline p;
        rc = ml_pipeline_open(buf, len, file.task, file.n_features, file.n_outputs, &p);
        if (rc == ML_OK) {
            if (p.n_stages < 1 || p.n_stages > ML_PIPELINE_MAX_STAGES) {
                abort();
            }
            ml_fuzz_predict(&p.final);
        }
    } else if (rc == ML_OK && file.family == ML_FAMILY_LINEAR) {
        rc = ml_linear_file_check(&file);
    } else if (rc == ML_OK && file.family != ML_FAMILY_TREES) {
        rc = ml_model_check_stage(&file); /* FeatureExtractor and preprocessing stage records */
    } else if (rc == ML_OK) {
        rc = ml_trees_load(buf, len, file.task, file.n_features, file.n_outputs, &m);
        if (rc == ML_OK) {
            ml_fuzz_predict(&m);
        } else if (rc == ML_E_FAMILY) {
            ml_boost_file b;
            rc = ml_boost_load(buf, len, file.task, file.n_features, file.n_outputs, &b);
            if (rc == ML_OK) {
                ml_fuzz_boost(&b);
            }
        }
    }
    if (ml_strerror(rc)[0] == '\0' || (rc != ML_OK && strcmp(ml_strerror(rc), "unknown error code") == 0)) {
        abort();
    }
    rc = ml_trees_load(buf, len, ML_TASK_CLASSIFY, 4, 3, &m);
    if (rc == ML_OK) {
        if (m.n_features != 4 || m.n_outputs != 3) {
            abort();
        }
        ml_fuzz_predict(&m);
    }
    free(store);
    return 0;
}
