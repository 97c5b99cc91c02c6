"""ml_linear_file.h: the C reader of linear model files refuses what the program was not written for and
every broken invariant, declares the sections schema.LINEAR declares, and predicts scikit-learn's classes."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from linear_cases import fitted, near_ties, rows_near
from microlearn import host
from microlearn.backends import modelfile as mf
from microlearn.backends.modelfile.linear import LINEAR
from microlearn.frontends.sklearn.linear import convert
from modelfile_cases import ML_E, fix_crc

PROGRAM = r"""
#include <stdio.h>
#include "ml_linear_file.h"
int t_load(const uint8_t *buf, size_t len, int task, int32_t nf, int32_t no) {
    ml_linear_file m;
    return ml_linear_load(buf, len, task, nf, no, &m);
}
int t_predict(const uint8_t *buf, size_t len, int32_t nf, int32_t no, const float *x, int32_t n,
              int32_t *out) {
    ml_linear_file m;
    int32_t r;
    int rc = ml_linear_load(buf, len, ML_TASK_CLASSIFY, nf, no, &m);
    if (rc != ML_OK) return rc;
    for (r = 0; r < n; r++) out[r] = ml_linear_file_predict(&m, x + (size_t)r * (size_t)nf);
    return 0;
}
int t_values(const uint8_t *buf, size_t len, int32_t nf, int32_t no, const float *x, int32_t n, float *out) {
    ml_linear_file m;
    int32_t r;
    int rc = ml_linear_load(buf, len, ML_TASK_REGRESS, nf, no, &m);
    if (rc != ML_OK) return rc;
    for (r = 0; r < n; r++)
        ml_linear_file_values(&m, x + (size_t)r * (size_t)nf, out + (size_t)r * (size_t)no);
    return 0;
}
int t_table(char *out, int cap) {
    uint32_t k, count;
    int n = 0;
    const ml_model_section_spec *s = ml_linear_sections(&count);
    for (k = 0; k < count; k++)
        n += snprintf(out + n, (size_t)(cap - n), "%.4s %u %u %u %u\n", s[k].tag, (unsigned)s[k].dtype,
                      (unsigned)s[k].critical, (unsigned)s[k].tasks, (unsigned)s[k].required);
    return n;
}
"""


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    flags = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Wconversion", "-Werror", "-fPIC", "-shared")
    return host.build({"t.c": PROGRAM}, cflags=flags)


def _buf(data: bytes) -> np.ndarray:  # type: ignore[type-arg]
    b = np.zeros((len(data) + 15) // 8, dtype=np.uint64)
    b.view(np.uint8)[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return b


def load(lib: ctypes.CDLL, data: bytes, task: int, nf: int, no: int) -> int:
    b = _buf(data)
    return int(lib.t_load(ctypes.c_void_p(b.ctypes.data), ctypes.c_size_t(len(data)), task, nf, no))


def test_sections_table_is_the_schema(lib: ctypes.CDLL) -> None:
    out = ctypes.create_string_buffer(2048)
    lib.t_table(out, len(out))
    rows = [ln.split() for ln in out.value.decode().splitlines()]
    got = [(r[0].encode(), *map(int, r[1:])) for r in rows]
    want = [
        (s.tag, s.dtype, int(s.critical), sum(1 << t for t in s.tasks), int(s.required))
        for s in LINEAR.sections
    ]
    assert got == want


def test_predict_from_file(lib: ctypes.CDLL) -> None:
    ir = convert(fitted("logreg", "digits", "float64"))
    data = mf.dumps(ir)
    X = np.ascontiguousarray(np.vstack([rows_near("digits"), near_ties(ir, 30)]), dtype=np.float32)
    out = np.zeros(X.shape[0], dtype=np.int32)
    b = _buf(data)
    rc = lib.t_predict(
        ctypes.c_void_p(b.ctypes.data), ctypes.c_size_t(len(data)), 64, 10,
        X.ctypes.data_as(ctypes.c_void_p), X.shape[0], out.ctypes.data_as(ctypes.c_void_p),
    )  # fmt: skip
    assert rc == 0
    ref = ir.reference(X)
    assert ref.ambiguous is not None and np.all((out == ref.outputs) | ref.ambiguous)


def test_values_from_file(lib: ctypes.CDLL) -> None:
    ir = convert(fitted("ridge", "regression2", "float64"))
    data = mf.dumps(ir)
    X = np.ascontiguousarray(rows_near("regression2"), dtype=np.float32)
    out = np.zeros((X.shape[0], 2), dtype=np.float32)
    b = _buf(data)
    rc = lib.t_values(
        ctypes.c_void_p(b.ctypes.data), ctypes.c_size_t(len(data)), 6, 2,
        X.ctypes.data_as(ctypes.c_void_p), X.shape[0], out.ctypes.data_as(ctypes.c_void_p),
    )  # fmt: skip
    assert rc == 0
    assert np.all(np.abs(out - ir.reference(X).outputs) <= ir.value_bound(X))


def test_refuses_what_the_program_was_not_written_for(lib: ctypes.CDLL) -> None:
    data = mf.dumps(convert(fitted("logreg", "multiclass", "float64")))  # 4 classes, 6 features
    assert load(lib, data, 1, 6, 4) == 0
    assert load(lib, data, 1, 6, 3) == ML_E["ML_E_SHAPE"]
    assert load(lib, data, 1, 7, 4) == ML_E["ML_E_SHAPE"]
    assert load(lib, data, 2, 6, 4) == ML_E["ML_E_SHAPE"]
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    from microlearn.frontends.registry import to_ir

    X, y = load_iris(return_X_y=True)
    trees = mf.dumps(to_ir(DecisionTreeClassifier(max_depth=2).fit(X, y)))
    assert load(lib, trees, 1, 4, 3) == ML_E["ML_E_FAMILY"]


def test_refuses_broken_values(lib: ctypes.CDLL) -> None:
    data = mf.dumps(convert(fitted("logreg", "multiclass", "float64")))
    c = mf.container.unpack(data)
    coef, mode = c.sections[b"COEF"], c.sections[b"MODE"]
    for value in (np.inf, np.nan):
        bad = bytearray(data)
        bad[coef.offset + 8 : coef.offset + 16] = np.float64(value).tobytes()
        assert load(lib, fix_crc(bad), 1, 6, 4) == ML_E["ML_E_VALUE"]
    bad = bytearray(data)
    bad[mode.offset + 3] = 9
    assert load(lib, fix_crc(bad), 1, 6, 4) == ML_E["ML_E_FORMAT"]
    bad = bytearray(data)
    bad[coef.offset] ^= 1  # without repairing the CRC
    assert load(lib, bytes(bad), 1, 6, 4) == ML_E["ML_E_CRC"]
