"""Fitted linear models and test rows shared by the linear tests, and a host build of the generated C."""

from __future__ import annotations

import ctypes
import functools
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn import linear_model as lm
from sklearn import svm
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.multiclass import OneVsRestClassifier

from microlearn import host
from microlearn.backends.c.linear import emit
from microlearn.frontends.sklearn.linear import convert
from microlearn.ir.linear import Linear

RNG = np.random.default_rng(0)
XB, YB = make_classification(240, 6, n_informative=4, random_state=1)
XM, YM = make_classification(240, 6, n_informative=4, n_classes=4, random_state=2)
XD, YD = load_digits(return_X_y=True)
XD, YD = XD[:600], YD[:600]
XR, YR = make_regression(240, 6, noise=3.0, random_state=3)
YR2 = np.c_[YR, 0.5 * YR - 7.0]


def classifiers() -> dict[str, Any]:
    return {
        "logreg": lm.LogisticRegression(max_iter=500),
        "logreg_noint": lm.LogisticRegression(fit_intercept=False, max_iter=500),
        "linearsvc": svm.LinearSVC(),
        "sgd_hinge": lm.SGDClassifier(random_state=0),
        "sgd_log": lm.SGDClassifier(loss="log_loss", random_state=0),
        "sgd_mhuber": lm.SGDClassifier(loss="modified_huber", random_state=0),
        "ridgec": lm.RidgeClassifier(),
        "perceptron": lm.Perceptron(random_state=0),
        "passive_aggressive": lm.PassiveAggressiveClassifier(random_state=0),
        "ovr_logreg": OneVsRestClassifier(lm.LogisticRegression(max_iter=60)),
        "ovr_mhuber": OneVsRestClassifier(lm.SGDClassifier(loss="modified_huber", random_state=0)),
    }


def regressors() -> dict[str, Any]:
    return {
        "linreg": lm.LinearRegression(),
        "ridge": lm.Ridge(),
        "lasso": lm.Lasso(alpha=0.5),
        "elasticnet": lm.ElasticNet(alpha=0.5),
        "sgdr": lm.SGDRegressor(random_state=0),
        "linearsvr": svm.LinearSVR(random_state=0, max_iter=5000),
        "huber": lm.HuberRegressor(max_iter=500),
        "linreg_noint": lm.LinearRegression(fit_intercept=False),
    }


MULTI_OUTPUT = ("linreg", "ridge", "lasso", "elasticnet", "linreg_noint")
DATA = {"binary": (XB, YB), "multiclass": (XM, YM), "digits": (XD, YD)}


@functools.cache
def fitted(name: str, data: str, dtype: str = "float64") -> Any:
    """A fitted estimator by name ("logreg", ...) on "binary" / "multiclass" / "digits" / "regression" /
    "regression2" (two outputs), fitted on float64 or float32 data."""
    dt = np.float32 if dtype == "float32" else np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if data.startswith("regression"):
            est = regressors()[name]
            return est.fit(XR.astype(dt), YR2 if data == "regression2" else YR)
        X, y = DATA[data]
        return classifiers()[name].fit(X.astype(dt), y)


def rows_near(data: str, n: int = 120, seed: int = 0) -> npt.NDArray[np.float32]:
    """Rows near the training data (noise added), float32."""
    X = XR if data.startswith("regression") else DATA[data][0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, X.shape[0], n)
    scale = X.std(axis=0) * 0.3
    return (X[idx] + rng.normal(size=(n, X.shape[1])) * scale).astype(np.float32)


def near_ties(ir: Linear, n: int = 40, seed: int = 1) -> npt.NDArray[np.float32]:
    """Rows on (within float32 rounding of) a decision boundary: between the leading class and another
    for a multiclass model, on score 0 for a binary one. The float32 fast path cannot decide these."""
    rng = np.random.default_rng(seed)
    W, b = ir.coef, ir.intercept
    rows = []
    for _ in range(n):
        x = rng.normal(size=ir.n_features) * 2.0
        if ir.k == 1:
            d, db = W[0], b[0]
        else:
            s = W @ x + b
            a, c = np.argsort(s)[-2:]
            d, db = W[a] - W[c], b[a] - b[c]
        j = int(np.argmax(np.abs(d)))
        if d[j] == 0:
            rows.append(x)
            continue
        rest = float(d @ x - d[j] * x[j]) + db
        x[j] = -rest / d[j]
        rows.append(x)
    return np.asarray(rows, dtype=np.float32)


WRAP = """
#include "{name}.h"
#ifdef HAS_CLASSES
void b_predict(const float *x, int32_t n, int32_t *out) {{
    int32_t r;
    for (r = 0; r < n; r++) out[r] = {name}_predict(x + (size_t)r * {up}_N_FEATURES);
}}
void b_fast(const float *x, int32_t n, int32_t *out) {{
    int32_t r;
    for (r = 0; r < n; r++) {{
#if ML_LINEAR_INT
        int32_t xq[{up}_N_FEATURES]; int64_t v[{up}_N_SCORES];
        out[r] = ml_linear_class_q(&{name}_q, x + (size_t)r * {up}_N_FEATURES, xq, v);
#else
        float s[{up}_N_SCORES];
        out[r] = ml_linear_class_f32(&{name}_f32, x + (size_t)r * {up}_N_FEATURES, s);
#endif
    }}
}}
void b_decision(const float *x, int32_t n, float *out) {{
    int32_t r;
    for (r = 0; r < n; r++)
        {name}_decision_function(x + (size_t)r * {up}_N_FEATURES, out + (size_t)r * {up}_N_SCORES);
}}
#else
void b_values(const float *x, int32_t n, float *out) {{
    int32_t r;
    for (r = 0; r < n; r++) {{
#if {up}_N_OUTPUTS == 1
        out[r] = {name}_predict(x + (size_t)r * {up}_N_FEATURES);
#else
        {name}_predict_values(x + (size_t)r * {up}_N_FEATURES, out + (size_t)r * {up}_N_OUTPUTS);
#endif
    }}
}}
#endif
#ifdef HAS_PROBA
void b_proba(const float *x, int32_t n, float *out) {{
    int32_t r;
    for (r = 0; r < n; r++)
        {name}_predict_proba(x + (size_t)r * {up}_N_FEATURES, out + (size_t)r * {up}_N_CLASSES);
}}
#endif
"""

STRICT = (
    "-std=c99",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Wconversion",
    "-Wshadow",
    "-Wdouble-promotion",
    "-Werror",
    "-fPIC",
    "-shared",
)


class HostModel:
    """The generated C of a Linear IR compiled on the host, with the fast path chosen by ``int_path``."""

    def __init__(self, ir: Linear, int_path: bool, name: str = "lm") -> None:
        self.ir = ir
        src = emit(ir, name)
        defs = f"#define ML_LINEAR_INT {int(int_path)}\n"
        if ir.is_classifier:
            defs += "#define HAS_CLASSES\n"
        if ir.has_proba:
            defs += "#define HAS_PROBA\n"
        wrap = defs + WRAP.format(name=name, up=name.upper())
        self.lib = host.build({f"{name}.h": src.header, "wrap.c": wrap}, cflags=STRICT)

    def _call(self, fn: str, X: npt.ArrayLike, width: int, dtype: Any) -> npt.NDArray[Any]:
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        out = np.zeros((X32.shape[0], width), dtype=dtype)
        getattr(self.lib, fn)(
            X32.ctypes.data_as(ctypes.c_void_p),
            ctypes.c_int32(X32.shape[0]),
            out.ctypes.data_as(ctypes.c_void_p),
        )
        return out

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.int32]:
        return self._call("b_predict", X, 1, np.int32)[:, 0]

    def fast(self, X: npt.ArrayLike) -> npt.NDArray[np.int32]:
        return self._call("b_fast", X, 1, np.int32)[:, 0]

    def decision(self, X: npt.ArrayLike) -> npt.NDArray[np.float32]:
        return self._call("b_decision", X, self.ir.k, np.float32)

    def values(self, X: npt.ArrayLike) -> npt.NDArray[np.float32]:
        return self._call("b_values", X, self.ir.k, np.float32)

    def proba(self, X: npt.ArrayLike) -> npt.NDArray[np.float32]:
        return self._call("b_proba", X, self.ir.n_outputs, np.float32)


@functools.cache
def host_model(name: str, data: str, dtype: str, int_path: bool) -> HostModel:
    return HostModel(convert(fitted(name, data, dtype)), int_path)
