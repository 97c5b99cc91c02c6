"""verify: generic over tasks (comparators), targets from one table, the IR cross-checked with the library."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

import microlearn
from microlearn.errors import MicrolearnError
from microlearn.ir.base import Reference
from microlearn.targets.base import TARGETS, Artifacts, Target, TargetRun
from microlearn.verify import FunctionTarget, compare_index, compare_values, verify

rng = np.random.default_rng(1)
X = rng.normal(size=(120, 4)).astype(np.float32)
y = (X[:, 0] > 0).astype(int)


def test_compare_index_counts_ambiguous_rows_apart() -> None:
    ref = Reference(outputs=np.array([0, 1, 1, 2]), ambiguous=np.array([False, False, True, True]))
    run = TargetRun(outputs=np.array([0, 1, 0, 2], dtype=np.int32))
    c = compare_index(ref, run)
    assert (c.agreement, c.n_ambiguous, c.n_ambiguous_differ) == (1.0, 2, 1)
    c = compare_index(Reference(outputs=np.array([0, 1, 1, 2])), run)
    assert c.agreement == 0.75 and c.n_ambiguous == 0


def test_compare_values_uses_the_bound_per_row() -> None:
    ref = Reference(outputs=np.array([1.0, 2.0, 3.0]), bound=np.array([0.1, 0.0, 1e-3]))
    run = TargetRun(outputs=np.array([1.05, 2.0, 3.01], dtype=np.float32))
    c = compare_values(ref, run)
    assert c.agreement == pytest.approx(2 / 3) and c.max_abs_error == pytest.approx(0.05, rel=1e-3)
    # (n, k) outputs: a row agrees when its largest difference is within its bound; NaN only equals NaN
    ref2 = Reference(outputs=np.array([[1.0, np.nan], [0.0, 0.0]]), bound=np.zeros(2))
    c2 = compare_values(ref2, TargetRun(outputs=np.array([[1.0, np.nan], [0.0, np.nan]])))
    assert c2.agreement == 0.5


def test_verify_raises_when_the_ir_disagrees_with_the_library() -> None:
    est = RandomForestClassifier(5, random_state=0).fit(X, y)
    assert verify(est, X)["host"].agreement == 1.0
    est.predict = lambda A: 1 - RandomForestClassifier.predict(est, A)  # type: ignore[method-assign]
    with pytest.raises(MicrolearnError, match="disagrees with the estimator itself"):
        verify(est, X)


def test_verify_regressor_within_bound() -> None:
    est = RandomForestRegressor(6, max_depth=5, random_state=0).fit(X, X[:, 0] * 1e3 + X[:, 1])
    r = verify(est, X, method="inline")["host"]
    assert r.agreement == 1.0 and r.max_abs_error is not None and r.max_abs_error > 0


def test_target_table_and_function_adapter() -> None:
    assert isinstance(TARGETS["host"], Target)
    est = RandomForestClassifier(3, random_state=0).fit(X, y)
    calls: list[str] = []

    def run(model: microlearn.Model, A: np.ndarray) -> TargetRun:
        calls.append(model.method)
        return TargetRun(outputs=model.predict_index(A))

    t = FunctionTarget("mine", run)
    assert isinstance(t, Target) and t.available() is None
    ir = microlearn.convert(est).ir
    out = t.run(Artifacts(ir, "inline"), X)
    np.testing.assert_array_equal(out.outputs, ir.reference(X).outputs)
    assert calls == ["inline"]


def test_boundary_rows_straddle_the_decisions() -> None:
    from sklearn.datasets import load_iris
    from sklearn.naive_bayes import GaussianNB

    from microlearn.errors import InvalidInputError
    from microlearn.frontends.registry import to_ir
    from microlearn.verify import boundary_rows

    X, y = load_iris(return_X_y=True)
    ir = to_ir(GaussianNB().fit(X, y))
    B = boundary_rows(ir, X[::10], 12)
    assert B.dtype == np.float32 and B.shape == (12, 4)
    cls = ir.reference(B).outputs
    for a, b, ca, cb in zip(B[0::2], B[1::2], cls[0::2], cls[1::2], strict=True):
        assert ca != cb  # each pair straddles a boundary ...
        assert np.all(np.abs(a - b) <= 2 * np.spacing(np.maximum(np.abs(a), np.abs(b))))  # ... within ulps
    reg = to_ir(RandomForestRegressor(n_estimators=2, random_state=0).fit(X, y))
    with pytest.raises(InvalidInputError, match="no decision boundary"):
        boundary_rows(reg, X)
    with pytest.raises(InvalidInputError, match="two classes"):
        boundary_rows(ir, X[:5])
