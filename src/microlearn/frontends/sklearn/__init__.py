"""scikit-learn frontends: one module per model family, dispatched by :func:`to_ir`."""

from __future__ import annotations

from typing import Any

from microlearn.errors import UnsupportedEstimatorError
from microlearn.frontends.sklearn import trees
from microlearn.ir import TreeEnsemble

IR = TreeEnsemble

_FRONTENDS = (trees,)


def supported_estimators() -> list[str]:
    """Names of every scikit-learn estimator microlearn converts."""
    return sorted(name for fe in _FRONTENDS for name in fe.SUPPORTED)


def to_ir(estimator: Any) -> IR:
    """The IR of a fitted scikit-learn estimator, or a clear error saying what is supported."""
    name = type(estimator).__name__
    for fe in _FRONTENDS:
        if name in fe.SUPPORTED:
            ir: IR = fe.convert(estimator)
            return ir
    raise UnsupportedEstimatorError(
        f"microlearn cannot convert {type(estimator).__module__}.{name}. "
        f"Supported estimators: {', '.join(supported_estimators())}."
    )
