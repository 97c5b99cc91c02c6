"""Stages and pipelines through ``microlearn.verify`` on the host, the emulated Cortex-M4F (float FPU,
soft double), Cortex-M0+ (soft float and double) and rv32imc (soft float): every exact stage gives
scikit-learn's float32 bits; [scaler, RF], [imputer, scaler, RF], [minmax, RF] and [FeatureExtractor,
StandardScaler, RF] (that one also in the WebAssembly MicroPython) give scikit-learn's class on every
row, with the stages run in C and folded into the thresholds (passes/fold.py)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, Normalizer, RobustScaler, StandardScaler

import microlearn
from microlearn.frontends.registry import to_ir
from microlearn.ir.pipeline import Pipeline
from microlearn.ir.trees import TreeEnsemble
from microlearn.passes.fold import fold_pipeline
from microlearn.targets.base import Artifacts
from microlearn.verify import TARGETS, register_targets

TARGET_NAMES = ("host", "cortex-m4f", "cortex-m0plus", "rv32imc")


def data(n: int = 120) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(21)
    Xt = rng.normal(size=(400, 4)) * [1, 1e4, 1e-3, 50] + [0, -3e4, 1e-3, 7]
    y = (Xt[:, 0] > 0).astype(np.int64) + (Xt[:, 1] > -3e4) + (Xt[:, 3] > 7)
    X = (rng.normal(size=(n, 4)) * [1.5, 1.5e4, 1.5e-3, 75] + [0, -3e4, 1e-3, 7]).astype(np.float32)
    X[::9, 0] = np.nan
    X[::11, 1] = -0.0
    return Xt, y, X


@pytest.mark.parametrize(
    "est",
    [
        StandardScaler(),
        MinMaxScaler(clip=True),
        MaxAbsScaler(),
        RobustScaler(),
        SimpleImputer(strategy="median"),
        Normalizer("l1"),
        Normalizer("max"),
        PCA(n_components=3, whiten=True),
    ],
    ids=repr,
)
def test_stage_on_every_target(est: Any) -> None:
    """A stage converted alone (NAME_transform): exact stages equal scikit-learn's bits on every CPU
    (verify's TRANSFORM comparator demands equality without a bound); PCA stays within its bound."""
    Xt, _, X = data(40)
    if isinstance(est, Normalizer | PCA):
        X = np.nan_to_num(X, nan=0.5)
    est.fit(Xt)
    rep = microlearn.verify(est, X, targets=TARGET_NAMES)
    for t in TARGET_NAMES:
        assert rep[t].agreement == 1.0, (t, rep[t])
    if not isinstance(est, PCA):
        assert rep["cortex-m0plus"].max_abs_error == 0.0


def _pipe(pre: str) -> tuple[Any, npt.NDArray[np.float32]]:
    Xt, y, X = data()
    steps: list[Any] = {
        "scaler": [StandardScaler()],
        "imputer+scaler": [SimpleImputer(strategy="median"), StandardScaler()],
        "minmax": [MinMaxScaler()],
    }[pre]
    if pre == "imputer+scaler":
        Xt = Xt.copy()
        Xt[::7, 2] = np.nan
    else:
        X = np.nan_to_num(X, nan=0.25)
    pipe = make_pipeline(*steps, RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(Xt, y)
    return pipe, X


def run_ir(ir: Any, X: npt.NDArray[np.float32], target: str) -> Any:
    register_targets()
    return TARGETS[target].run(Artifacts(ir, "table"), X)


@pytest.mark.parametrize("pre", ["scaler", "imputer+scaler", "minmax"])
def test_pipeline_verify_folded_and_not(pre: str) -> None:
    pipe, X = _pipe(pre)
    rep = microlearn.verify(pipe, X, targets=TARGET_NAMES, fold=False)
    want = np.searchsorted(pipe.classes_, pipe.predict(X))
    ir = to_ir(pipe)
    folded = fold_pipeline(ir)
    assert isinstance(ir, Pipeline) and isinstance(folded, TreeEnsemble)
    for t in TARGET_NAMES:
        assert rep[t].agreement == 1.0, (t, rep[t])
        run = run_ir(folded, X, t)
        assert np.array_equal(np.asarray(run.outputs).astype(np.int64), want), t
        if t != "host":  # folding removes the stage's code, constants and work per call
            assert run.flash_bytes is not None and rep[t].flash_bytes is not None
            assert run.flash_bytes < rep[t].flash_bytes
            assert (run.instructions_mean or 0) < (rep[t].instructions_mean or 0)


def _windows(n: int, seed: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    t = np.arange(32) / 25.0
    W = np.empty((n, 32, 3))
    for i, c in enumerate(y):
        phase = rng.uniform(0, 6)
        W[i, :, 0] = (0.3 + 0.4 * c) * np.sin(2 * np.pi * (1 + c) * t + phase) + rng.normal(0, 0.3, 32)
        W[i, :, 1] = rng.normal(0.2 * c, 0.5, 32)
        W[i, :, 2] = 9.81 + rng.normal(0, 0.3, 32)
    return W.reshape(n, -1).astype(np.float32), y


def test_feature_extractor_scaler_forest() -> None:
    """[FeatureExtractor, StandardScaler, RF]: raw windows in, scikit-learn's class out; folded, the
    pipeline keeps the feature stage and loses the scaler."""
    from microlearn.dsp.features import FeatureExtractor

    W, y = _windows(260, 5)
    pipe = make_pipeline(
        FeatureExtractor(window=32, stats=("mean", "std", "min", "max", "rms")),
        StandardScaler(),
        RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0),
    )
    pipe.fit(W[:200], y[:200])
    Wt = W[200:]
    targets = (*TARGET_NAMES, "micropython")
    rep = microlearn.verify(pipe, Wt, targets=targets)
    want = np.searchsorted(pipe.classes_, pipe.predict(Wt))
    folded = fold_pipeline(to_ir(pipe))
    assert isinstance(folded, Pipeline) and len(folded.stages) == 1
    for t in targets:
        assert rep[t].agreement == 1.0, (t, rep[t])
        assert np.array_equal(np.asarray(run_ir(folded, Wt, t).outputs).astype(np.int64), want), t
