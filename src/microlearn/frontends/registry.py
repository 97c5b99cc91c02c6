"""Frontends by the estimator's public class path, and ``to_ir`` that dispatches on it.

A family module registers its converter with ``@register("sklearn.linear_model.LogisticRegression")``
and is imported by one line in ``frontends/sklearn/__init__.py``; nothing else names it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from microlearn.errors import UnsupportedEstimatorError
from microlearn.ir.base import IR, Task

Converter = Callable[[Any], IR]
F = TypeVar("F", bound=Callable[[Any], Any])

_CONVERTERS: dict[str, Converter] = {}
_VIEWS: dict[str, Callable[[Any], Any]] = {}
PIPELINE = "sklearn.pipeline.Pipeline"
KERAS = ("keras.Model", "keras.Sequential")  # live models and .keras files (frontends/keras.py)


def register(*class_paths: str, view: Callable[[Any], Any] | None = None) -> Callable[[F], F]:
    """Decorator: ``convert(est) -> IR`` handles estimators of these public class paths.

    ``view(est)``, for estimators without a scikit-learn ``predict`` (e.g. a raw booster), returns an
    object whose ``predict(X32)`` gives what ``verify`` checks the IR's reference against: class indices
    into ``ir.classes`` or values."""
    if not class_paths:
        raise ValueError("register needs at least one class path")

    def deco(fn: F) -> F:
        for p in class_paths:
            if p.count(".") < 1 or any(part.startswith("_") for part in p.split(".")):
                raise ValueError(
                    f"{p!r} is not a public class path like 'sklearn.ensemble.RandomForestClassifier'"
                )
            have = _CONVERTERS.get(p)
            if have is not None and have is not fn:
                raise ValueError(f"{p} is registered twice")
            _CONVERTERS[p] = fn
            if view is not None:
                _VIEWS[p] = view
        return fn

    return deco


def class_path(cls: type) -> str:
    """The public path of a class: ``sklearn.ensemble._forest.RandomForestClassifier`` ->
    ``"sklearn.ensemble.RandomForestClassifier"``. The shortest already-imported parent module that
    exports the class itself wins (so ``microlearn.dsp.features.FeatureExtractor`` ->
    ``"microlearn.dsp.FeatureExtractor"``); otherwise private module parts are dropped."""
    parts = cls.__module__.split(".")
    for k in range(1, len(parts) + 1):
        mod = sys.modules.get(".".join(parts[:k]))
        if mod is not None and getattr(mod, cls.__name__, None) is cls:
            return ".".join([*parts[:k], cls.__name__])
    return ".".join([*(p for p in parts if not p.startswith("_")), cls.__name__])


def _load_families() -> None:
    import microlearn.frontends.lightgbm
    import microlearn.frontends.sklearn
    import microlearn.frontends.xgboost  # noqa: F401  (these modules register themselves)


def library_view(est: Any) -> Any:
    """``est`` itself, or the object its frontend registered to stand for it in ``verify``'s check."""
    _load_families()
    view = _VIEWS.get(class_path(type(est)))
    return est if view is None else view(est)


def supported_estimators() -> list[str]:
    """Public class paths of every estimator microlearn converts (and the Pipeline that chains them)."""
    _load_families()
    return sorted([*_CONVERTERS, PIPELINE, *KERAS])


def to_ir(est: Any) -> IR:
    """The IR of a fitted estimator; a scikit-learn Pipeline becomes an ``ir.pipeline.Pipeline``, a Keras
    model (live, or the path of a ``.keras`` file) a ``KerasNetwork``."""
    _load_families()
    from microlearn.frontends import keras_read

    if keras_read.is_keras_file(est) or keras_read.is_keras_model(est):
        from microlearn.frontends.keras import convert as convert_keras

        return convert_keras(est)
    path = class_path(type(est))
    if path == PIPELINE:
        return _pipeline(est)
    conv = _CONVERTERS.get(path)
    if conv is None:
        raise UnsupportedEstimatorError(
            f"microlearn cannot convert {path}. Supported estimators: {', '.join(supported_estimators())}."
        )
    return conv(est)


def _pipeline(pipe: Any) -> IR:
    from microlearn.ir.pipeline import Pipeline

    steps = [
        s
        for _, s in getattr(pipe, "steps", [])
        if s is not None and not (isinstance(s, str) and s == "passthrough")
    ]
    if len(steps) < 2:
        raise UnsupportedEstimatorError("a Pipeline needs at least one transform step and a final estimator")
    stages: list[IR] = []
    for i, step in enumerate(steps[:-1]):
        ir = to_ir(step)
        if isinstance(ir, Pipeline):
            if ir.final.task is not Task.TRANSFORM:
                raise UnsupportedEstimatorError(
                    f"pipeline step {i} is a pipeline that ends in a model, not a transform"
                )
            stages += [*ir.stages, ir.final]
        elif ir.task is not Task.TRANSFORM:
            raise UnsupportedEstimatorError(
                f"pipeline step {i} ({ir.source}) is not a transform: only the last step may be a model"
            )
        else:
            stages.append(ir)
    final = to_ir(steps[-1])
    if isinstance(final, Pipeline):
        stages += list(final.stages)
        final = final.final
    names = getattr(pipe, "feature_names_in_", None)
    return Pipeline(
        tuple(stages),
        final,
        feature_names=None if names is None else tuple(str(n) for n in names),
    )
