"""scikit-learn MLPClassifier / MLPRegressor -> :class:`~microlearn.ir.network.Network` of Dense layers.

scikit-learn's forward pass (``_forward_pass_fast``): ``a = x @ coefs_[i]; a += intercepts_[i]``, the
hidden activation on every layer but the last, ``out_activation_`` on the last (softmax for several
classes, logistic for two classes, identity for regression). Float32 rows with float64 coefficients
compute in float64, as numpy promotes them; a model fitted on float32 data has float32 coefficients and
computes in float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import class_path, register
from microlearn.ir.base import Task
from microlearn.ir.network import Dense, Dtype, Network


def _check(est: Any) -> None:
    from sklearn.exceptions import NotFittedError as SkNotFitted
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except SkNotFitted as e:
        raise NotFittedError(
            f"this {type(est).__name__} is not fitted yet: call .fit(X, y) before converting it"
        ) from e


def _layers(est: Any) -> tuple[tuple[Dense, ...], Dtype]:
    coefs = [np.asarray(c) for c in est.coefs_]
    biases = [np.asarray(b) for b in est.intercepts_]
    dts = {str(a.dtype) for a in coefs + biases}
    if dts not in ({"float64"}, {"float32"}):
        raise UnsupportedEstimatorError(f"{type(est).__name__} arrays have dtype {sorted(dts)}; refit it")
    dtype: Dtype = "float32" if dts == {"float32"} else "float64"
    hidden, out = str(est.activation), str(est.out_activation_)
    layers = []
    for i, (w, b) in enumerate(zip(coefs, biases, strict=True)):
        act = out if i == len(coefs) - 1 else hidden
        try:
            layers.append(
                Dense(np.ascontiguousarray(w, np.float64), np.ascontiguousarray(b, np.float64), act)
            )
        except ValueError as e:
            raise InvalidInputError(f"{type(est).__name__} layer {i} cannot be converted: {e}") from e
    return tuple(layers), dtype


def _names(est: Any) -> tuple[str, ...] | None:
    names = getattr(est, "feature_names_in_", None)
    return None if names is None else tuple(str(f) for f in names)


@register("sklearn.neural_network.MLPClassifier")
def convert_mlp_classifier(est: Any) -> Network:
    _check(est)
    layers, dtype = _layers(est)
    classes = np.asarray(est.classes_)
    out = str(est.out_activation_)
    if (
        getattr(est, "_label_binarizer", None) is not None
        and est._label_binarizer.y_type_ == "multilabel-indicator"
    ):
        raise UnsupportedEstimatorError(
            "MLPClassifier fitted on multilabel targets is not supported yet: fit one label per row"
        )
    if out == "softmax":
        decision = "argmax"
    elif out == "logistic" and layers[-1].n_out == 1 and len(classes) == 2:
        decision = "threshold"
    else:
        raise UnsupportedEstimatorError(f"MLPClassifier with output activation {out!r} is not supported")
    return Network(
        task=Task.CLASSIFY,
        input_shape=(layers[0].n_in,),
        layers=layers,
        dtype=dtype,
        decision=decision,  # type: ignore[arg-type]
        classes=classes,
        source=class_path(type(est)),
        feature_names=_names(est),
    )


@register("sklearn.neural_network.MLPRegressor")
def convert_mlp_regressor(est: Any) -> Network:
    _check(est)
    layers, dtype = _layers(est)
    return Network(
        task=Task.REGRESS,
        input_shape=(layers[0].n_in,),
        layers=layers,
        dtype=dtype,
        decision="none",
        source=class_path(type(est)),
        feature_names=_names(est),
    )
