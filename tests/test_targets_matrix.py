"""Every supported scikit-learn estimator (and XGBoost / LightGBM wrapper) x every MCU target, through
``microlearn.verify``.

The estimators come from the frontend registry, so a new family joins the matrix by registering: a small
instance is fitted on iris by its kind (classifier, regressor, an unsupervised detector or mixture, or a
transform stage in a pipeline before a tree; a meta-estimator around a logistic regression), then
verified on cortex-m4f, cortex-m0plus and rv32imc with the family's default C method."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import numpy as np
import pytest
from sklearn.base import is_classifier, is_clusterer, is_outlier_detector, is_regressor
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

import microlearn
from microlearn.frontends.registry import PIPELINE, supported_estimators
from microlearn.targets.mcu.arch import ARCHS

X, y = load_iris(return_X_y=True)
Y_REG = X @ np.array([0.5, -0.25, 0.75, 0.125])
ROWS = X[::8]
SMALL = {"n_estimators": 3, "max_depth": 4, "random_state": 0, "max_iter": 500, "cv": 3, "Cs": 3}

# sklearn estimators and the boosting libraries' scikit-learn wrappers (their raw Boosters are trained
# differently: tests/test_boosting_libraries.py); microlearn's own stages (FeatureExtractor) take windows,
# tested in test_pipeline.py
PATHS = [
    p
    for p in supported_estimators()
    if p.startswith(("sklearn.", "xgboost.XGB", "lightgbm.LGBM")) and p != PIPELINE
]


def _fitted(path: str) -> Any:
    module, name = path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    required = [
        n for n, p in inspect.signature(cls).parameters.items() if p.default is inspect.Parameter.empty
    ]
    # a meta-estimator (OneVsRestClassifier ...) goes around a linear model
    est = cls(estimator=LogisticRegression(max_iter=500)) if required == ["estimator"] else cls()
    est.set_params(**{k: v for k, v in SMALL.items() if k in est.get_params()})
    if name.startswith("HistGradientBoosting"):
        est.set_params(max_iter=3)  # boosting iterations, not a solver's
    if "novelty" in est.get_params():  # LocalOutlierFactor scores new rows only as a novelty detector
        est.set_params(novelty=True)
    if is_outlier_detector(est):
        return est.fit(X)
    if is_classifier(est):
        return est.fit(X, y)
    if is_regressor(est):
        return est.fit(X, Y_REG)
    if is_clusterer(est):  # k-means: predict gives the cluster
        return est.fit(X)
    if hasattr(est, "score_samples") or hasattr(est, "mahalanobis"):
        return est.fit(X)  # mixtures, covariance estimators: unsupervised
    if hasattr(est, "transform"):  # a preprocessing stage: in a pipeline before a tree
        return Pipeline([("stage", est), ("tree", DecisionTreeClassifier(max_depth=4, random_state=0))]).fit(
            X, y
        )
    raise AssertionError(f"the MCU matrix does not know how to fit {path}: teach _fitted")


def test_the_matrix_is_not_empty() -> None:
    assert "sklearn.ensemble.RandomForestClassifier" in PATHS and len(PATHS) >= 6


@pytest.mark.parametrize("path", PATHS)
def test_every_estimator_agrees_on_every_mcu(path: str) -> None:
    report = microlearn.verify(_fitted(path), ROWS, targets=list(ARCHS))
    for cpu in ARCHS:
        r = report[cpu]
        assert r.agreement == 1.0, f"{path} on {cpu}: {r.agreement:.2%} agreement"
        assert r.flash_bytes is not None and r.flash_bytes > 0
        assert r.instructions_mean is not None and r.instructions_mean > 0
