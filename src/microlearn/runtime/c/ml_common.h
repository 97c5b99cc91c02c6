/*
 * ml_common.h - what every microlearn runtime header shares: one error enum and its messages.
 *
 * Part of the microlearn runtime. C99, no malloc, no mutable globals, every function static inline.
 *
 * Every function of the runtime that can fail returns ML_OK (0) or one of the negative ML_E_* codes
 * below (functions that return a count, such as ml_framer_push, return the count or a negative code).
 * The codes are the same whichever header returns them, so one ml_strerror() explains them all:
 *
 *     int rc = ml_trees_load(buf, len, ML_TASK_CLASSIFY, 4, 3, &model);
 *     if (rc != ML_OK) { puts(ml_strerror(rc)); }
 */
#ifndef ML_COMMON_H
#define ML_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ml_error {
    ML_OK = 0,
    ML_E_ARG = -1,       /* NULL pointer or an argument out of its range */
    ML_E_FORMAT = -2,    /* a malformed file: section table, counts, a node, a text section */
    ML_E_VERSION = -3,   /* file format version, header flag or critical section this runtime lacks */
    ML_E_CRC = -4,       /* CRC-32 mismatch: the file is corrupted */
    ML_E_SHAPE = -5,     /* sizes differ from what the program expects (features, outputs, task, bins) */
    ML_E_FAMILY = -6,    /* a model family (or task) this loader does not handle */
    ML_E_VALUE = -7,     /* a stored value outside its allowed range (probability, coefficient) */
    ML_E_CAPACITY = -8,  /* more than this build holds (e.g. ML_TREES_MAX_OUTPUTS, ML_FFT_MAX_N) */
    ML_E_NAN = -9,       /* the input holds NaN or +-inf (or a value too large to process) */
    ML_E_SIZE = -10,     /* a length is wrong: file truncated or padded, FFT length not supported */
    ML_E_STATE = -11,    /* called in the wrong state (no frame ready, no samples since the last read) */
    ML_E_MAGIC = -12,    /* not a microlearn file at all (bad magic) */
    ML_E_NOT_MODEL = -13, /* a microlearn file of another kind (e.g. a mel filterbank), not a model */
    ML_E_ALIGN = -14,    /* buffer not 8-byte aligned */
    ML_E_PLATFORM = -15  /* this CPU cannot read the file in place (big-endian) */
} ml_error;

/* One line saying what went wrong and what to do; never NULL. */
static inline const char *ml_strerror(int code)
{
    switch (code) {
    case ML_OK: return "ok";
    case ML_E_ARG: return "invalid argument (NULL pointer or out of range)";
    case ML_E_FORMAT: return "malformed model file: write it again with microlearn";
    case ML_E_VERSION: return "model file needs a newer runtime (format version or section): update microlearn";
    case ML_E_CRC: return "model file corrupted (CRC-32 mismatch): copy it again";
    case ML_E_SHAPE: return "model file shape (task, features, outputs) differs from what the program expects";
    case ML_E_FAMILY: return "model family not handled by this loader";
    case ML_E_VALUE: return "a stored value is outside its allowed range";
    case ML_E_CAPACITY: return "larger than this build of the runtime holds";
    case ML_E_NAN: return "input holds NaN, infinity or a value too large";
    case ML_E_SIZE: return "wrong length (file truncated or padded, or a size the function does not support)";
    case ML_E_STATE: return "called in the wrong state (nothing ready yet)";
    case ML_E_MAGIC: return "not a microlearn model file (bad magic)";
    case ML_E_NOT_MODEL: return "a microlearn data file of another kind (e.g. a mel filterbank), not a model";
    case ML_E_ALIGN: return "buffer must be 8-byte aligned";
    case ML_E_PLATFORM: return "model files need a little-endian CPU";
    default: return "unknown error code";
    }
}

#ifdef __cplusplus
}
#endif

#endif /* ML_COMMON_H */
