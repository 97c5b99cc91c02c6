"""microlearn: scikit-learn models and DSP to exact C and MicroPython for microcontrollers.

model = microlearn.convert(fitted_forest, method="table")
model.predict(X); model.save_c("model.h", name="gesture")
print(microlearn.verify(fitted_forest, X_test, targets=["host"]))
"""

from microlearn._version import __version__
from microlearn.errors import (
    CompileError,
    InvalidInputError,
    MicrolearnError,
    ModelFileError,
    ModelTooLargeError,
    NotFittedError,
    ToolchainError,
    UnsupportedEstimatorError,
)
from microlearn.frontends.registry import supported_estimators
from microlearn.model import Model, convert, methods_for
from microlearn.verify import (
    Report,
    TargetResult,
    available_targets,
    format_table,
    verify,
    verify_model_file,
)

__all__ = [
    "CompileError",
    "InvalidInputError",
    "MicrolearnError",
    "Model",
    "ModelFileError",
    "ModelTooLargeError",
    "NotFittedError",
    "Report",
    "TargetResult",
    "ToolchainError",
    "UnsupportedEstimatorError",
    "__version__",
    "available_targets",
    "convert",
    "format_table",
    "methods_for",
    "supported_estimators",
    "verify",
    "verify_model_file",
]
