"""passes/fold.py: a folded tree ensemble decides every float32 input as the stage + trees do.

Checked exhaustively on windows of consecutive float32 values around every folded threshold and around
the image of every original threshold, on random float32 values of every magnitude, and on the special
values (+-0, +-inf, NaN, subnormals, the float32 extremes)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, Normalizer, RobustScaler, StandardScaler

from microlearn.frontends.registry import to_ir
from microlearn.ir.transform import Elementwise, Impute, Op
from microlearn.ir.trees import LEAF, TreeEnsemble
from microlearn.passes.fold import (
    KEY_INF,
    f32_from_key,
    f32_key,
    fold_stage,
    fold_stages,
    preimage_threshold,
)

WINDOW = 1 << 12  # consecutive float32 values checked on each side of a threshold
SPECIALS = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.2e-38, -1.2e-38, 3.4028235e38, -3.4028235e38],
    dtype=np.float32,
)


def convert(est: Any) -> Any:
    return to_ir(est)


def probes(center: npt.NDArray[np.float32], rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Every float32 within WINDOW steps of each center, random float32 bit patterns, specials."""
    k = f32_key(center)[:, None] + np.arange(-WINDOW, WINDOW + 1)[None, :]
    near = f32_from_key(np.clip(k, -KEY_INF, KEY_INF).ravel())
    anywhere = rng.integers(0, 2**32, size=20000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    return np.concatenate([near, anywhere, SPECIALS])


def check_node_equivalence(stage: Elementwise, trees: TreeEnsemble, folded: TreeEnsemble, seed: int) -> int:
    """For every internal node: g(x) <= t  <=>  x <= t' (NaN: the same direction), on the probes."""
    rng = np.random.default_rng(seed)
    internal = np.flatnonzero(trees.feature != LEAF)
    checked = 0
    for j in np.unique(trees.feature[internal]):
        nodes = internal[trees.feature[internal] == j]
        t, tf = trees.threshold[nodes], folded.threshold[nodes]
        image = f32_from_key(np.clip(f32_key(tf) + 1, -KEY_INF, KEY_INF))
        x = probes(np.concatenate([tf, image, t]), rng)
        g = stage.column(int(j), x)
        for n, ti, tfi in zip(nodes, t, tf, strict=True):
            ml = trees.missing_left[n]
            want = np.where(np.isnan(g), ml, g <= ti)
            got = np.where(np.isnan(x), folded.missing_left[n], x <= tfi)
            bad = np.flatnonzero(want != got)
            assert bad.size == 0, f"node {n}: x={x[bad[:3]]} g={g[bad[:3]]} t={ti!r} t'={tfi!r}"
            checked += x.size
    return checked


def forest_after(
    est: Any, X: npt.NDArray[np.float64], y: Any, regress: bool = False
) -> tuple[Any, TreeEnsemble]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Z = est.fit_transform(X).astype(np.float32)
    model = (RandomForestRegressor if regress else RandomForestClassifier)(
        n_estimators=5, max_depth=8, random_state=0
    )
    model.fit(Z, y)
    return convert(est), to_ir(model)


def data(seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 4)) * [1, 1e4, 1e-4, 50] + [0, -3e4, 1e-3, 7]
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > -3e4) + (X[:, 3] > 7)
    return X, y


SCALERS: list[Any] = [
    StandardScaler(),
    StandardScaler(with_mean=False),
    MinMaxScaler(),
    MinMaxScaler(feature_range=(-1, 5), clip=True),
    MaxAbsScaler(),
    MaxAbsScaler(clip=True),
    RobustScaler(),
    RobustScaler(unit_variance=True),
]


@pytest.mark.parametrize("est", SCALERS, ids=repr)
def test_fold_scaler_every_float32_near_thresholds(est: Any) -> None:
    X, y = data(1)
    stage, trees = forest_after(est, X, y)
    folded = fold_stage(stage, trees)
    assert folded is not None and folded.n_features == trees.n_features
    assert check_node_equivalence(stage, trees, folded, 1) > 10**6
    # whole forests: leaves reached on raw rows equal those reached on transformed rows
    rng = np.random.default_rng(2)
    R = (rng.normal(size=(3000, 4)) * [2, 2e4, 2e-4, 100] + [0, -3e4, 1e-3, 7]).astype(np.float32)
    R[::7, 2] = np.nan
    R[::11, 1] = np.inf
    R[::13, 0] = -np.inf
    assert np.array_equal(folded.apply(R), trees.apply(stage.transform(R)))


def test_fold_regressor_and_float32_fit() -> None:
    X, y = data(3)
    stage, trees = forest_after(
        MinMaxScaler(), X.astype(np.float32).astype(np.float64), y * 1.5, regress=True
    )
    folded = fold_stage(stage, trees)
    assert folded is not None
    check_node_equivalence(stage, trees, folded, 3)


def test_fold_imputer_nan_direction() -> None:
    """The imputer turns NaN into its fill value: the folded node sends NaN where that value goes."""
    X, y = data(4)
    X[np.random.default_rng(4).random(X.shape) < 0.2] = np.nan
    X[:, 2] = np.nan  # dropped by the imputer: features are renumbered
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = SimpleImputer(strategy="median").fit(X)
        Z = imp.transform(X).astype(np.float32)
    stage = convert(imp)
    assert isinstance(stage, Impute) and stage.n_outputs == 3
    trees = to_ir(RandomForestClassifier(n_estimators=5, random_state=0).fit(Z, y))
    folded = fold_stage(stage, trees)
    assert folded is not None and folded.n_features == 4
    assert not np.any(folded.feature == 2)
    R = X.astype(np.float32)
    R[::3, 0] = np.nan
    assert np.array_equal(folded.apply(R), trees.apply(stage.transform(R)))
    # the NaN direction changed somewhere: the fold did real work
    internal = trees.feature != LEAF
    assert np.any(folded.missing_left[internal] != trees.missing_left[internal])


def test_fold_chain_imputer_then_scaler() -> None:
    X, y = data(5)
    X[np.random.default_rng(5).random(X.shape) < 0.1] = np.nan
    imp = SimpleImputer().fit(X)
    sc = StandardScaler().fit(imp.transform(X))
    Z = sc.transform(imp.transform(X)).astype(np.float32)
    trees = to_ir(RandomForestClassifier(n_estimators=5, random_state=0).fit(Z, y))
    stages = (convert(imp), convert(sc))
    rest, final = fold_stages(stages, trees)
    assert rest == ()
    R = np.concatenate([X, X * 3]).astype(np.float32)
    R[::5, 1] = np.nan
    assert np.array_equal(final.apply(R), trees.apply(stages[1].transform(stages[0].transform(R))))


def test_fold_stops_at_a_stage_that_is_not_per_feature() -> None:
    X, y = data(6)
    nz, sc = Normalizer().fit(X), StandardScaler().fit(Normalizer().fit_transform(X))
    Z = sc.transform(nz.transform(X)).astype(np.float32)
    trees = to_ir(RandomForestClassifier(n_estimators=3, random_state=0).fit(Z, y))
    rest, final = fold_stages((convert(nz), convert(sc)), trees)
    assert len(rest) == 1 and rest[0].norm == "l2"
    assert final is not trees


def test_negative_or_zero_scale_is_not_folded() -> None:
    trees = _stump(0.5)
    neg = Elementwise(1, (Op("mul", np.array([-2.0]), "f64"),))
    zero = Elementwise(1, (Op("mul", np.array([0.0]), "f64"),))
    assert fold_stage(neg, trees) is None
    assert fold_stage(zero, trees) is None  # inf * 0 is NaN: not monotone, not NaN-free


def test_constants_that_overflow_or_underflow_in_float32_are_not_folded() -> None:
    """StandardScaler casts its constants to float32: 1e-50 becomes 0 (x / 0), 1e39 becomes inf."""
    trees = _stump(0.5)
    assert fold_stage(Elementwise(1, (Op("div", np.array([1e-50]), "x"),)), trees) is None
    assert fold_stage(Elementwise(1, (Op("sub", np.array([1e39]), "x"),)), trees) is None
    assert fold_stage(Elementwise(1, (Op("div", np.array([1e-50]), "f64"),)), trees) is not None


def test_threshold_below_the_image_is_not_folded() -> None:
    """clip(x, 1, 2) <= 0.5 holds for no x: no float32 threshold says so, the stage stays."""
    stage = Elementwise(1, (Op("clip", np.array([1.0]), "x", hi=np.array([2.0])),))
    assert fold_stage(stage, _stump(0.5)) is None
    folded = fold_stage(stage, _stump(2.5))
    assert folded is not None and folded.threshold[0] == np.inf


def _stump(t: float, missing_left: bool = False) -> TreeEnsemble:
    return TreeEnsemble(
        kind="regressor",
        n_features=1,
        n_outputs=1,
        roots=np.array([0], dtype=np.int32),
        feature=np.array([0, LEAF, LEAF], dtype=np.int32),
        threshold=np.array([t, 0, 0], dtype=np.float32),
        left=np.array([1, -1, -1], dtype=np.int32),
        right=np.array([2, -1, -1], dtype=np.int32),
        missing_left=np.array([missing_left, False, False]),
        leaf=np.array([-1, 0, 1], dtype=np.int32),
        leaf_value=np.array([[1.0], [2.0]]),
        leaf_class=np.array([0, 0], dtype=np.int32),
    )


@settings(max_examples=60, deadline=None)
@given(
    t=st.floats(width=32, allow_nan=False),
    c1=st.floats(-1e30, 1e30, width=64),
    c2=st.floats(1e-30, 1e30, width=64),
    wide=st.booleans(),
    order=st.booleans(),
    missing_left=st.booleans(),
)
def test_fold_random_affine_maps(
    t: float, c1: float, c2: float, wide: bool, order: bool, missing_left: bool
) -> None:
    """Random constants of every magnitude, float32 or float64 arithmetic, either order of the two
    operations: the fold is exact on every probed float32 (or refused)."""
    dt: Any = "f64" if wide else "x"
    ops = (Op("sub", np.array([c1]), dt), Op("div", np.array([c2]), dt))
    if order:
        ops = (Op("mul", np.array([c2]), dt), Op("add", np.array([c1]), dt))
    stage = Elementwise(1, ops)
    trees = _stump(t, missing_left)
    folded = fold_stage(stage, trees)
    if folded is None:  # only when no float32 maps at or below t
        assert stage.column(0, np.array([-np.inf], dtype=np.float32))[0] > np.float32(t)
        return
    check_node_equivalence(stage, trees, folded, 7)


def test_preimage_threshold_identity_and_extremes() -> None:
    t = np.array([0.0, -0.0, 1.5, -np.inf, np.inf, 3.4028235e38], dtype=np.float32)
    out = preimage_threshold(lambda x: x, t)
    assert out is not None and np.array_equal(out, t)
    assert preimage_threshold(lambda x: x + np.float32(1), np.array([-np.inf], dtype=np.float32)) is not None
    assert (
        preimage_threshold(lambda x: np.maximum(x, np.float32(0)), np.array([-1.0], dtype=np.float32)) is None
    )


@settings(max_examples=25, deadline=None)
@given(
    which=st.sampled_from(range(len(SCALERS))),
    impute=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(1e-6, 1e6),
)
def test_fold_pipeline_equals_scikit_learn(which: int, impute: bool, seed: int, scale: float) -> None:
    """Random data of random magnitude through [imputer?, scaler, forest]: the folded forest alone,
    on raw float32 rows (NaN, values near every folded threshold, random bit patterns), predicts what
    scikit-learn's pipeline predicts."""
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline

    from microlearn.passes.fold import fold_pipeline

    rng = np.random.default_rng(seed)
    Xt = rng.normal(size=(150, 3)) * scale
    y = (Xt[:, 0] + Xt[:, 1] > 0).astype(np.int64)
    steps: list[Any] = [clone(SCALERS[which])]
    if impute:
        Xt[rng.random(Xt.shape) < 0.2] = np.nan
        steps.insert(0, SimpleImputer(strategy="median"))
    pipe = make_pipeline(*steps, RandomForestClassifier(n_estimators=3, max_depth=5, random_state=0))
    pipe.fit(Xt, y)
    folded = fold_pipeline(to_ir(pipe))
    assert isinstance(folded, TreeEnsemble)
    internal = folded.feature != LEAF
    keys = f32_key(folded.threshold[internal])[:, None] + np.arange(-2, 3)
    near = f32_from_key(np.clip(keys, -KEY_INF + 1, KEY_INF - 1))
    R = rng.normal(size=(300, 3)).astype(np.float32) * np.float32(scale)
    cols = rng.integers(0, 3, size=near.size)
    R2 = np.tile(R[:1], (near.size, 1))
    R2[np.arange(near.size), cols] = near.ravel()  # a value near a threshold, possibly of another feature
    bits = rng.integers(0, 2**32, size=(100, 3), dtype=np.uint64).astype(np.uint32).view(np.float32)
    bits[~np.isfinite(bits)] = 1.0
    R = np.concatenate([R, R2, bits])
    if impute:
        R[::4, 1] = np.nan
    with np.errstate(all="ignore"):
        Z = pipe[:-1].transform(R)
    R = R[~np.any(np.isinf(Z), axis=1)]  # scikit-learn's forest refuses what overflowed to inf
    want = np.searchsorted(pipe.classes_, pipe.predict(R))
    assert np.array_equal(folded.reference(R).outputs, want)
