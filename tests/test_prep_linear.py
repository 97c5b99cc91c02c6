"""Every preprocessing stage before a linear model, through ``microlearn.verify``: the stages run in C
(or mlrt) and the linear model decides on their float32 outputs as scikit-learn does on the pipeline's
(100% of the decidable rows, regression within the bound)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, Normalizer, RobustScaler, StandardScaler

import microlearn
from microlearn.ir.pipeline import Pipeline
from microlearn.passes.fold import fold_pipeline

STAGES: list[Any] = [
    StandardScaler(),
    MinMaxScaler(clip=True),
    MaxAbsScaler(),
    RobustScaler(),
    SimpleImputer(strategy="median"),
    Normalizer("l1"),
    Normalizer("l2"),
    PCA(n_components=6, whiten=True),
]


def _data(regress: bool) -> tuple[Any, Any, Any]:
    X, y = load_diabetes(return_X_y=True) if regress else load_breast_cancer(return_X_y=True)
    X = X.copy()
    return X[:300], y[:300], X[300:420].astype(np.float32)


@pytest.mark.parametrize("stage", STAGES, ids=repr)
def test_stage_before_logistic_regression_on_host(stage: Any) -> None:
    Xt, y, X = _data(False)
    if isinstance(stage, SimpleImputer):
        Xt = Xt.copy()
        Xt[::6, 3] = np.nan
        X = X.copy()
        X[::4, 3] = np.nan
    steps = [stage, StandardScaler()] if isinstance(stage, SimpleImputer) else [stage]  # a quick fit
    pipe = make_pipeline(*steps, LogisticRegression(max_iter=5000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(Xt, y)
    ir = microlearn.convert(pipe).ir
    assert isinstance(ir, Pipeline) and fold_pipeline(ir) is ir  # nothing folds into a linear model
    rep = microlearn.verify(pipe, X, targets=("host",))
    assert rep["host"].agreement == 1.0


@pytest.mark.parametrize("target", ["cortex-m4f", "cortex-m0plus", "rv32imc", "micropython"])
def test_scalers_before_linear_models_on_devices(target: str) -> None:
    Xt, y, X = _data(False)
    for steps in (
        [StandardScaler()],
        [SimpleImputer(), MinMaxScaler()],
        [StandardScaler(), PCA(n_components=5)],
    ):
        pipe = make_pipeline(*steps, LogisticRegression(max_iter=5000)).fit(Xt, y)
        assert microlearn.verify(pipe, X, targets=(target,))[target].agreement == 1.0
    Xt, yr, X = _data(True)
    pipe = make_pipeline(RobustScaler(), Ridge()).fit(Xt, yr)
    assert microlearn.verify(pipe, X, targets=(target,))[target].agreement == 1.0
