"""ml_model.h: strict builds, predictions through a loaded file equal the generated C, every bad file
rejected with an error code, and a bounded libFuzzer run (ASan + UBSan) with zero crashes."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn import datasets
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import microlearn
from microlearn import host
from microlearn.backends import modelfile
from modelfile_cases import ML_E, corruptions

STRICT = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow", "-Wdouble-promotion", "-Werror"]
FUZZ_DIR = Path(__file__).parent / "fuzz"

WRAPPER = r"""
#include <stddef.h>
#include "ml_model.h"
int ml_test_load(const uint8_t *buf, size_t len);
int ml_test_load_as(const uint8_t *buf, size_t len, int task, int32_t n_features, int32_t n_outputs);
int ml_test_predict(const uint8_t *buf, size_t len, const float *X, int32_t n, int32_t *cls, float *proba,
                    float *val);
int ml_test_sections(char *out, int cap);
/* load with the shape the header states (a program that trusts the file): reaches every deep check */
int ml_test_load(const uint8_t *buf, size_t len)
{
    ml_model_file f;
    ml_trees m;
    int rc = ml_model_open(buf, len, &f);
    if (rc != ML_OK) return rc;
    return ml_trees_load(buf, len, f.task, f.n_features, f.n_outputs, &m);
}
int ml_test_load_as(const uint8_t *buf, size_t len, int task, int32_t n_features, int32_t n_outputs)
{
    ml_trees m;
    int rc = ml_trees_load(buf, len, task, n_features, n_outputs, &m);
    if (rc != ML_OK && (m.n_trees != 0 || m.roots != NULL)) return 99; /* *out must be zeroed */
    return rc;
}
int ml_test_predict(const uint8_t *buf, size_t len, const float *X, int32_t n, int32_t *cls, float *proba,
                    float *val)
{
    ml_trees m;
    int32_t i;
    int rc = ml_test_load(buf, len);
    if (rc != ML_OK) return rc;
    {
        ml_model_file f;
        ml_model_open(buf, len, &f);
        ml_trees_load(buf, len, f.task, f.n_features, f.n_outputs, &m);
    }
    for (i = 0; i < n; i++) {
        const float *x = X + (size_t)i * (size_t)m.n_features;
        if (m.leaf_value != NULL) {
            val[i] = ml_trees_predict_value(&m, x);
        } else {
            cls[i] = ml_trees_predict_class(&m, x);
            ml_trees_predict_proba(&m, x, proba + (size_t)i * (size_t)m.n_outputs);
        }
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    lib = host.build({"wrap.c": WRAPPER})
    lib.ml_test_load.restype = ctypes.c_int
    lib.ml_test_load.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.ml_test_predict.restype = ctypes.c_int
    lib.ml_test_load_as.restype = ctypes.c_int
    lib.ml_test_load_as.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int32,
        ctypes.c_int32,
    ]
    return lib


def aligned(data: bytes) -> np.ndarray:
    buf = np.zeros((len(data) + 15) // 8, dtype=np.uint64)
    buf.view(np.uint8)[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return buf


def load_rc(lib: ctypes.CDLL, data: bytes) -> int:
    buf = aligned(data)
    return int(lib.ml_test_load(buf.ctypes.data, len(data)))


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


CASES = {
    "rfc-digits": (RandomForestClassifier(n_estimators=7, max_depth=7, random_state=0), "digits"),
    "dtc-wine": (DecisionTreeClassifier(max_depth=8, random_state=0), "wine"),
    "rfc-breast_cancer": (
        RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0),
        "breast_cancer",
    ),
    "rfr-diabetes": (RandomForestRegressor(n_estimators=6, max_depth=7, random_state=0), "diabetes"),
    "etr-friedman": (ExtraTreesRegressor(n_estimators=6, max_depth=7, random_state=0), "friedman"),
    "dtr-diabetes": (DecisionTreeRegressor(max_depth=8, random_state=0), "diabetes"),
}


def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "friedman":
        X, y = datasets.make_friedman1(n_samples=300, random_state=0)
    else:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    X = X.copy()
    X[::7, 1] = np.nan  # NaN routing through the loaded file too
    return X, y


@pytest.mark.parametrize("case", list(CASES))
def test_loaded_file_predicts_as_generated_c(lib: ctypes.CDLL, case: str) -> None:
    est, dname = CASES[case]
    X, y = _data(dname)
    est.fit(X, y)
    model = microlearn.convert(est)
    data = model.to_bytes()
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    n = X32.shape[0]
    buf = aligned(data)
    cls = np.zeros(n, dtype=np.int32)
    proba = np.zeros((n, max(model.ir.n_outputs, 1)), dtype=np.float32)
    val = np.zeros(n, dtype=np.float32)
    rc = lib.ml_test_predict(
        ctypes.c_void_p(buf.ctypes.data), ctypes.c_size_t(len(data)), _ptr(X32), ctypes.c_int32(n),
        _ptr(cls), _ptr(proba), _ptr(val),
    )  # fmt: skip
    assert rc == 0
    if model.ir.is_classifier:
        np.testing.assert_array_equal(cls, model.predict_index(X32))
        np.testing.assert_array_equal(proba, model.predict_proba(X32))
        np.testing.assert_array_equal(np.asarray(model.classes_)[cls], est.predict(X32))
    else:
        np.testing.assert_array_equal(val, model.predict(X32))


def _pipeline_file() -> bytes:
    from sklearn.pipeline import Pipeline

    from microlearn.dsp.features import FeatureExtractor

    rng = np.random.default_rng(0)
    W = rng.standard_normal((60, 16 * 2)).astype(np.float32)
    fx = FeatureExtractor(window=16, n_axes=2, stats=("mean", "std"), sr=16.0, bands=((0.0, 4.0),))
    p = Pipeline([("f", fx), ("m", RandomForestClassifier(2, max_depth=2, random_state=0))])
    return microlearn.convert(p.fit(W, np.arange(60) % 3)).to_bytes()


def _small_files() -> dict[str, bytes]:
    X, y = datasets.load_iris(return_X_y=True)
    return {
        "rfc": microlearn.convert(
            RandomForestClassifier(3, max_depth=3, random_state=0).fit(X, y)
        ).to_bytes(),
        "dtc": microlearn.convert(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)).to_bytes(),
        "rfr": microlearn.convert(RandomForestRegressor(3, max_depth=3, random_state=0).fit(X, y)).to_bytes(),
    }


def test_every_corruption_is_rejected(lib: ctypes.CDLL) -> None:
    for name, data in _small_files().items():
        assert load_rc(lib, data) == 0, name
        for what, bad in corruptions(data):
            rc = load_rc(lib, bad)
            assert rc < 0, f"{name}: {what} accepted by ml_trees_load"
            with pytest.raises(microlearn.ModelFileError):
                modelfile.loads(bad)


def test_error_enum_is_one_table() -> None:
    """ml_common.h: distinct negative codes, each with its own message; the DSP names are aliases of it."""
    assert ML_E["ML_OK"] == 0 and len(set(ML_E.values())) == len(ML_E) >= 16
    assert all(v < 0 for k, v in ML_E.items() if k != "ML_OK")
    names = sorted(ML_E)
    src = '#include <stdio.h>\n#include "ml_model.h"\n#include "ml_mel.h"\n#include "ml_slm.h"\n'
    src += '#include "ml_features.h"\nint ml_test_errs(char *out, int cap);\n'
    src += "int ml_test_errs(char *out, int cap)\n{\n    int n = 0;\n"
    for k in names:
        src += f'    n += snprintf(out + n, (size_t)(cap - n), "%d %s\\n", (int){k}, ml_strerror({k}));\n'
    for alias in (
        "ML_FFT_ERR_ARG",
        "ML_FFT_ERR_SIZE",
        "ML_MEL_ERR_BANK",
        "ML_FEAT_ERR_RANGE",
        "ML_IIR_ERR_COEF",
        "ML_IIR_ERR_NONFINITE",
        "ML_SLM_ERR_EMPTY",
    ):
        src += f'    n += snprintf(out + n, (size_t)(cap - n), "%d alias\\n", (int){alias});\n'
    src += "    return n;\n}\n"
    lib = host.build({"errs.c": src})
    buf = ctypes.create_string_buffer(8192)
    lib.ml_test_errs(buf, 8192)
    lines = buf.value.decode().splitlines()
    msgs = [ln.split(" ", 1)[1] for ln in lines[: len(names)]]
    assert [int(ln.split()[0]) for ln in lines[: len(names)]] == [ML_E[k] for k in names]
    assert len(set(msgs)) == len(msgs) and "unknown error code" not in msgs
    aliases = [int(ln.split()[0]) for ln in lines[len(names) :]]
    E = ML_E
    assert aliases == [E["ML_E_ARG"], E["ML_E_SIZE"], E["ML_E_SHAPE"], E["ML_E_NAN"], E["ML_E_VALUE"],
                       E["ML_E_NAN"], E["ML_E_STATE"]]  # fmt: skip


def _iris_files() -> dict[str, bytes]:
    X, y = datasets.load_iris(return_X_y=True)
    y5 = np.arange(X.shape[0]) % 5
    X64 = np.hstack([X] * 16)
    return {
        "3-class": microlearn.convert(
            RandomForestClassifier(3, max_depth=3, random_state=0).fit(X, y)
        ).to_bytes(),
        "5-class": microlearn.convert(
            RandomForestClassifier(3, max_depth=3, random_state=0).fit(X, y5)
        ).to_bytes(),
        "64-feature": microlearn.convert(
            RandomForestClassifier(3, max_depth=3, random_state=0).fit(X64, y)
        ).to_bytes(),
        "regressor": microlearn.convert(
            RandomForestRegressor(3, max_depth=3, random_state=0).fit(X, y)
        ).to_bytes(),
    }


def test_loader_refuses_a_file_of_another_shape(lib: ctypes.CDLL) -> None:
    """A program written for a 3-class, 4-feature classifier: a valid file of any other shape is refused
    before its proba[] or x[] could be overrun (the old ml_trees_load took no expectations)."""
    files = _iris_files()

    def rc(name: str, task: int, nf: int, no: int) -> int:
        data = files[name]
        buf = aligned(data)
        return int(lib.ml_test_load_as(buf.ctypes.data, len(data), task, nf, no))

    CLASSIFY, REGRESS = 1, 2
    assert rc("3-class", CLASSIFY, 4, 3) == ML_E["ML_OK"]
    assert rc("5-class", CLASSIFY, 4, 3) == ML_E["ML_E_SHAPE"]
    assert rc("64-feature", CLASSIFY, 4, 3) == ML_E["ML_E_SHAPE"]
    assert rc("regressor", CLASSIFY, 4, 3) == ML_E["ML_E_SHAPE"]  # the class predictor would read NULL
    assert rc("3-class", REGRESS, 4, 1) == ML_E["ML_E_SHAPE"]
    assert rc("regressor", REGRESS, 4, 1) == ML_E["ML_OK"]
    assert rc("5-class", CLASSIFY, 4, 5) == ML_E["ML_OK"]
    assert rc("64-feature", CLASSIFY, 64, 3) == ML_E["ML_OK"]
    assert rc("3-class", CLASSIFY, 4, 300) == ML_E["ML_E_SHAPE"]


def test_corrupt_section_size_is_a_format_error(lib: ctypes.CDLL) -> None:
    data = _iris_files()["3-class"]
    for what, bad in corruptions(data):
        if what in ("huge count", "section count off by one", "section past the end"):
            assert load_rc(lib, bad) == ML_E["ML_E_FORMAT"], what


def test_unaligned_buffer_and_null_rejected(lib: ctypes.CDLL) -> None:
    data = _small_files()["rfc"]
    buf = aligned(b"\0" + data)
    assert lib.ml_test_load(buf.ctypes.data + 1, len(data)) == ML_E["ML_E_ALIGN"]
    assert lib.ml_test_load(None, len(data)) == ML_E["ML_E_ARG"]


@pytest.mark.parametrize("compiler,std", [("gcc", "-std=c99"), ("clang", "-std=c99"), ("g++", "-std=c++11")])
def test_loader_strict_warnings(tmp_path: Path, compiler: str, std: str) -> None:
    src = tmp_path / ("main.cpp" if "+" in compiler else "main.c")
    src.write_text(
        '#include "ml_model.h"\n#include "ml_model.h"\n'
        "int main(void)\n{\n    static const uint64_t buf[8] = {0};\n    ml_trees m;\n"
        "    int rc = ml_trees_load((const uint8_t *)buf, sizeof buf, ML_TASK_CLASSIFY, 4, 3, &m);\n"
        "    return rc == ML_OK ? ml_trees_predict_class(&m, 0) : (ml_strerror(rc)[0] == 'x');\n}\n"
    )
    cmd = [compiler, std, *STRICT, "-I", str(host.RUNTIME_C_DIR), "-o", str(tmp_path / "a.out"), str(src)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert subprocess.run([str(tmp_path / "a.out")]).returncode == 0  # all-zero buffer: bad magic, rc != 0


def _boosted_file(X: np.ndarray, y: np.ndarray) -> bytes:
    """A small HistGradientBoosting file with categorical splits and missing values (CSET, CLFT, CBIT)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    Xc = X.copy()
    Xc[:, 0] = np.arange(len(X)) % 5
    Xc[::7, 1] = np.nan
    est = HistGradientBoostingClassifier(max_iter=2, max_depth=2, categorical_features=[0]).fit(Xc, y)
    return microlearn.convert(est).to_bytes()


def test_fuzz_loader_with_sanitizers(tmp_path: Path) -> None:
    """libFuzzer from a seed corpus of real files (trees and a feature pipeline); the harness repairs the
    CRC of half the inputs so the fuzzer gets past it into the structure checks and the tree walk."""
    clang = shutil.which("clang")
    assert clang is not None, "clang is needed: run make setup"
    exe = tmp_path / "fuzz_model"
    cmd = [
        clang, "-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
        "-I", str(host.RUNTIME_C_DIR), "-o", str(exe), str(FUZZ_DIR / "fuzz_model.c"),
    ]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    from sklearn.ensemble import IsolationForest
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import MinMaxScaler

    from microlearn.frontends.registry import to_ir

    X, y = datasets.load_iris(return_X_y=True)
    more = {
        "pipeline": _pipeline_file(),
        "linear": microlearn.convert(LogisticRegression(max_iter=300).fit(X, y)).to_bytes(),
        "scaler": modelfile.dumps(to_ir(MinMaxScaler().fit(X))),
        "boosted": _boosted_file(X, y),
        "isolation": microlearn.convert(
            IsolationForest(n_estimators=2, max_samples=16, random_state=0).fit(X)
        ).to_bytes(),
    }
    for name, data in {**_small_files(), **more}.items():
        (corpus / name).write_bytes(b"\0" + data)  # first byte: 0 = repair the CRC
        (corpus / f"{name}-raw").write_bytes(b"\1" + data)
    run = subprocess.run(
        [str(exe), "-max_total_time=15", "-rss_limit_mb=1024", "-max_len=8192", "-seed=1",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    tail = run.stderr[-3000:]
    assert run.returncode == 0, tail
    assert "ERROR:" not in run.stderr and "runtime error" not in run.stderr, tail
    assert "Done" in run.stderr, tail


def test_documented_c_example_works() -> None:
    """docs/model-file.md's "Loading from C" example, with a real 3-class iris file in place of {...}:
    it classifies as scikit-learn does and refuses a 5-class file with ML_E_SHAPE."""
    doc = (Path(__file__).parents[1] / "docs" / "model-file.md").read_text()
    example = doc.split("### Loading from C", 1)[1].split("```c\n", 1)[1].split("```", 1)[0]
    files = _iris_files()
    X, y = datasets.load_iris(return_X_y=True)
    est = RandomForestClassifier(3, max_depth=3, random_state=0).fit(X, y)
    for name, want in (("3-class", ML_E["ML_OK"]), ("5-class", ML_E["ML_E_SHAPE"])):
        data = files[name]
        words = np.frombuffer(data + bytes(-len(data) % 8), dtype="<u8")
        src = example.replace("{...}", "{" + ", ".join(f"{int(w)}u" for w in words) + "}")
        src = f"#define FILE_LEN {len(data)}u\n" + src
        lib = host.build({f"example_{name}.c": src})
        x = np.ascontiguousarray(X[:20], dtype=np.float32)
        proba = np.zeros(3, dtype=np.float32)
        cls = np.zeros(1, dtype=np.int32)
        got = []
        for row in x:
            rc = lib.classify(_ptr(row), _ptr(proba), _ptr(cls))
            assert rc == want, name
            got.append(int(cls[0]))
        if want == ML_E["ML_OK"]:
            assert got == list(est.predict(x))
