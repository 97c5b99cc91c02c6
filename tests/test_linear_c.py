"""The generated C of linear models on the host, both fast paths (float32; integers on the float bits):
classes equal scikit-learn's on every non-ambiguous row, near ties go through the float64 replay, values
and probabilities stay within the stated bounds; strict warnings, C++, stable output, bad input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linear_cases import (
    MULTI_OUTPUT,
    HostModel,
    classifiers,
    fitted,
    host_model,
    near_ties,
    regressors,
    rows_near,
)
from microlearn.backends.c.linear import emit, int_tables
from microlearn.errors import InvalidInputError
from microlearn.frontends.sklearn.linear import convert
from microlearn.host import RUNTIME_C_DIR
from microlearn.ir.base import Task
from microlearn.ir.linear import Linear, proba_bound

CLS = sorted(classifiers())
PATHS = [False, True]


def _check_classes(hm: HostModel, X: np.ndarray) -> tuple[int, int]:  # type: ignore[type-arg]
    """All non-ambiguous rows agree; returns (rows the fast path left to the replay, ambiguous rows)."""
    ref = hm.ir.reference(X)
    got = hm.predict(X)
    assert ref.ambiguous is not None
    ok = (got == ref.outputs) | ref.ambiguous
    assert ok.all(), f"rows {np.flatnonzero(~ok)[:10]} differ from scikit-learn"
    fast = hm.fast(X)
    decided = fast >= 0
    # whatever the fast path decides is the class of the exact scores: scikit-learn's unless ambiguous
    assert np.all((fast[decided] == ref.outputs[decided]) | ref.ambiguous[decided])
    return int((~decided).sum()), int(ref.ambiguous.sum())


@pytest.mark.parametrize("int_path", PATHS, ids=["f32", "int"])
@pytest.mark.parametrize("data", ["binary", "digits"])
@pytest.mark.parametrize("name", CLS)
def test_classifier_c(name: str, data: str, int_path: bool) -> None:
    hm = host_model(name, data, "float64", int_path)
    X = rows_near(data)
    _check_classes(hm, X)
    ref = hm.ir.reference(X)
    dec = hm.decision(X).astype(np.float64)
    bound = hm.ir.value_bound(X)
    assert np.all(np.abs(dec - np.asarray(ref.scores).reshape(dec.shape)) <= bound)
    if hm.ir.has_proba:
        assert ref.proba is not None
        err = np.abs(hm.proba(X) - ref.proba).max(axis=1)
        assert np.all(err <= proba_bound(hm.ir, X))


@pytest.mark.parametrize("int_path", PATHS, ids=["f32", "int"])
@pytest.mark.parametrize("name", ["logreg", "sgd_mhuber", "ridgec", "perceptron"])
def test_float32_fitted_models(name: str, int_path: bool) -> None:
    """Models fitted on float32 data keep float32 coefficients; scikit-learn then scores in float32."""
    for data in ("binary", "digits"):
        hm = host_model(name, data, "float32", int_path)
        assert hm.ir.dtype == "float32"  # (binary SGD keeps a float64 intercept)
        _check_classes(hm, rows_near(data, seed=5))


@pytest.mark.parametrize("int_path", PATHS, ids=["f32", "int"])
@pytest.mark.parametrize("data", ["binary", "multiclass", "digits"])
def test_near_ties_take_the_replay(data: str, int_path: bool) -> None:
    hm = host_model("logreg", data, "float64", int_path)
    X = near_ties(hm.ir, 60)
    replays, ambiguous = _check_classes(hm, X)
    assert replays >= 30  # the fast path cannot separate these; the float64 replay decides them
    assert ambiguous < replays


@pytest.mark.parametrize("int_path", PATHS, ids=["f32", "int"])
def test_nan_inf_and_extreme_rows(int_path: bool) -> None:
    hm = host_model("logreg", "multiclass", "float64", int_path)
    X = rows_near("multiclass", 40)
    X[0, 0] = np.inf
    X[1, 2] = -np.inf
    X[2] = 0.0
    X[3] = 3e38
    X[4] = 1e-40  # subnormal
    X[5, ::2] = 1e-30
    X[6, 1] = 1e30
    fast = hm.fast(X)
    assert np.all(fast[:2] == -1)  # inf goes to the replay
    finite = np.isfinite(X).all(axis=1)
    _check_classes(hm, X[finite])
    out = hm.predict(X)
    assert np.all((out >= 0) & (out < hm.ir.n_outputs))


@pytest.mark.parametrize("int_path", PATHS, ids=["f32", "int"])
@pytest.mark.parametrize("name", sorted(regressors()))
def test_regressor_c(name: str, int_path: bool) -> None:
    datas = ["regression", "regression2"] if name in MULTI_OUTPUT else ["regression"]
    for data in datas:
        hm = host_model(name, data, "float64", int_path)
        X = rows_near(data)
        ref = hm.ir.reference(X)
        got = hm.values(X).astype(np.float64).reshape(ref.outputs.shape)
        bound = hm.ir.value_bound(X).reshape(got.shape)  # per output; ref.bound is per row
        assert ref.bound is not None and np.all(np.abs(got - ref.outputs) <= bound)


@settings(max_examples=12, deadline=None)
@given(
    k=st.sampled_from([1, 3, 7]),
    n=st.integers(1, 40),
    wscale=st.sampled_from([1e-20, 1e-3, 1.0, 1e5]),
    bscale=st.sampled_from([0.0, 1e-6, 1.0, 1e12]),
    seed=st.integers(0, 2**31 - 1),
)
def test_random_models(k: int, n: int, wscale: float, bscale: float, seed: int) -> None:
    """Random coefficients of any magnitude (sparse too), rows of any scale and near ties: both fast paths
    and the replay give scikit-learn's class on every non-ambiguous row."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, n)) * wscale * np.exp(rng.normal(size=(k, n)) * 3)
    W[rng.random(size=(k, n)) < 0.2] = 0.0
    b = rng.normal(size=k) * bscale
    ir = Linear(Task.CLASSIFY, W, b, classes=np.arange(max(k, 2)), proba="softmax" if k > 1 else "logistic")
    X = (rng.normal(size=(150, n)) * rng.choice([1e-6, 1.0, 1e6], size=(150, 1))).astype(np.float32)
    X = np.vstack([X, near_ties(ir, 50, seed)])
    for int_path in PATHS:
        _check_classes(HostModel(ir, int_path), X)


def test_integer_tables_are_exact() -> None:
    ir = convert(fitted("logreg", "digits", "float64"))
    t = int_tables(ir)
    assert np.abs(t.wq).max() <= 32767 and np.abs(t.wq).max() > 16383  # the full int16 range is used
    assert np.all(np.abs(t.wq * 2.0**-t.S - ir.coef) <= 2.0 ** (-t.S - 1))
    for m, bt, v in zip(t.bm, t.bt, ir.intercept, strict=True):
        assert m * 2.0 ** (bt - 141 - t.S) == v


def _strict_compile(cc: str, text: str, lang: str, tmp: Path) -> None:
    (tmp / "lm.h").write_text(text)
    (tmp / "a.c").write_text('#include "lm.h"\nint32_t f(const float *x) { return lm_predict(x); }\n')
    (tmp / "b.c").write_text(
        '#include "lm.h"\nint main(void) { float x[64] = {0}; return (int)lm_predict(x); }\n'
    )
    std = ["-x", "c++", "-std=c++11"] if lang == "c++" else ["-std=c99"]
    flags = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow", "-Wdouble-promotion", "-Werror"]
    for intp in ("0", "1"):
        res = subprocess.run(
            [
                cc,
                *std,
                *flags,
                f"-DML_LINEAR_INT={intp}",
                f"-I{RUNTIME_C_DIR}",
                f"-I{tmp}",
                str(tmp / "a.c"),
                str(tmp / "b.c"),
                "-o",
                str(tmp / "a.out"),
                "-lm",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("cc,lang", [("gcc", "c"), ("clang", "c"), ("g++", "c++")])
def test_strict_warnings_two_units(cc: str, lang: str, tmp_path: Path) -> None:
    if shutil.which(cc) is None:
        pytest.fail(f"{cc} is part of the development setup (scripts/setup.sh)")
    ir = convert(fitted("logreg", "digits", "float64"))
    _strict_compile(cc, emit(ir, "lm").header, lang, tmp_path)


def test_output_is_stable_and_user_text_is_inert() -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame(
        rows_near("binary").astype(np.float64), columns=["a */ int x = 1; /*", "b", "c", "d", "e", "f"]
    )
    y = np.where(X["b"] > 0, "yes */ #error", "no\nline")
    ir = convert(LogisticRegression().fit(X, y))
    h1, h2 = emit(ir, "lm").header, emit(ir, "lm").header
    assert h1 == h2
    comment = h1.split("*/", 1)[0]
    assert "#error" in comment and "int x = 1" in comment  # the text stays inside the comment
    assert "\nline" not in h1


def test_bad_names() -> None:
    ir = convert(fitted("ridge", "regression", "float64"))
    for bad in ("1x", "int", "ml_model", "a-b", "model\n"):
        with pytest.raises(InvalidInputError):
            emit(ir, bad)


@pytest.mark.parametrize("int_path", PATHS, ids=["f32", "int"])
def test_exact_ties_are_replayed(int_path: bool) -> None:
    """Integer coefficients and inputs: rows that tie exactly go to the replay, which takes the first
    class (binary: class 0) exactly as scikit-learn does."""
    W = np.array([[1.0, 2.0, -1.0], [2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    X = np.random.default_rng(0).integers(-3, 4, size=(200, 3)).astype(np.float32)
    for ir in (
        Linear(Task.CLASSIFY, W, np.array([0.5, 0.5, -0.5]), classes=np.arange(3)),
        Linear(Task.CLASSIFY, W[:1], np.array([0.0]), classes=np.arange(2)),
    ):
        hm = HostModel(ir, int_path)
        s = np.sort(ir.decision(X), axis=1)
        ties = s[:, -1] == (s[:, -2] if ir.k > 1 else 0.0)
        assert ties.sum() >= 5
        assert np.all(hm.fast(X)[ties] == -1)
        assert np.array_equal(hm.predict(X), ir.reference(X).outputs)
