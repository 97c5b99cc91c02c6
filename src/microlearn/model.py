"""The converted model: C generation, host predictions through the generated C, model files."""

from __future__ import annotations

import ctypes
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn import host
from microlearn._validation import as_float32_rows
from microlearn.backends import c as cbackend
from microlearn.errors import InvalidInputError
from microlearn.ir import TreeEnsemble


@dataclass
class Model:
    """A model converted by :func:`microlearn.convert`. Everything it does is generated from ``ir``."""

    ir: TreeEnsemble
    method: str = "table"
    _libs: dict[str, ctypes.CDLL] = field(default_factory=dict, repr=False, compare=False)

    # ---------------------------------------------------------------- description
    @property
    def kind(self) -> str:
        return self.ir.kind

    @property
    def n_features(self) -> int:
        return self.ir.n_features

    @property
    def classes_(self) -> npt.NDArray[Any] | None:
        if not self.ir.is_classifier:
            return None
        return self.ir.classes if self.ir.classes is not None else np.arange(self.ir.n_outputs)

    @property
    def methods(self) -> list[str]:
        return cbackend.methods_for(self.ir)

    def with_method(self, method: str) -> Model:
        return Model(self.ir, method)

    # ---------------------------------------------------------------- C
    def c_source(self, name: str = "model", command: str = "") -> cbackend.CSource:
        return cbackend.generate(self.ir, self.method, name, command)

    def to_c(self, name: str = "model") -> str:
        """The generated C header as text (byte-identical for the same model, method and name)."""
        return self.c_source(name).header

    def save_c(self, path: str | Path, name: str | None = None, *, runtime: bool = True) -> Path:
        """Write the header to ``path``; with ``runtime`` (default) also copy the runtime headers it
        includes (ml_trees.h) into the same directory, so that directory is all a firmware build needs."""
        p = Path(path)
        nm = name or p.stem
        src = self.c_source(nm)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(src.header)
        if runtime:
            for h in src.runtime_headers:
                shutil.copyfile(host.RUNTIME_C_DIR / h, p.parent / h)
        return p

    # ---------------------------------------------------------------- host predictions
    def _lib(self) -> ctypes.CDLL:
        lib = self._libs.get(self.method)
        if lib is None:
            src = self.c_source("hostmodel")
            lib = host.build({"hostmodel.h": src.header, "hostmodel.c": _host_wrapper(self.ir)})
            for fn in ("ml_host_predict", "ml_host_predict_proba", "ml_host_predict_value"):
                if hasattr(lib, fn):
                    getattr(lib, fn).restype = None
            self._libs[self.method] = lib
        return lib

    def _rows(self, X: Any) -> npt.NDArray[np.float32]:
        return as_float32_rows(X, self.ir.n_features)

    def predict_index(self, X: Any) -> npt.NDArray[np.int32]:
        """Class indices computed by the generated C on this machine (classifier)."""
        self._need_classifier("predict_index")
        X32 = self._rows(X)
        out = np.empty(X32.shape[0], dtype=np.int32)
        self._lib().ml_host_predict(_ptr(X32), ctypes.c_int32(X32.shape[0]), _ptr(out))
        return out

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """Predictions computed by the generated C: original class labels, or float32 values."""
        if self.ir.is_classifier:
            classes = self.classes_
            assert classes is not None
            return np.asarray(classes)[self.predict_index(X)]
        X32 = self._rows(X)
        out = np.empty(X32.shape[0], dtype=np.float32)
        self._lib().ml_host_predict_value(_ptr(X32), ctypes.c_int32(X32.shape[0]), _ptr(out))
        return out

    def predict_proba(self, X: Any) -> npt.NDArray[np.float32]:
        """Class probabilities computed by the generated C (classifier)."""
        self._need_classifier("predict_proba")
        X32 = self._rows(X)
        out = np.empty((X32.shape[0], self.ir.n_outputs), dtype=np.float32)
        self._lib().ml_host_predict_proba(_ptr(X32), ctypes.c_int32(X32.shape[0]), _ptr(out))
        return out

    def _need_classifier(self, what: str) -> None:
        if not self.ir.is_classifier:
            raise InvalidInputError(f"{what} is for classifiers; this model is a regressor: use predict")

    # ---------------------------------------------------------------- model files
    def to_bytes(self) -> bytes:
        """The model file (see docs/model-file.md)."""
        from microlearn.backends import modelfile  # type: ignore[attr-defined,unused-ignore]

        data: bytes = modelfile.dumps(self.ir)
        return data

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_bytes(self.to_bytes())
        return p

    def __repr__(self) -> str:
        ir = self.ir
        what = f"{ir.n_outputs} classes" if ir.is_classifier else "regression"
        return (
            f"<microlearn.Model {ir.source.split('.')[-1]} method={self.method!r}: {ir.n_features} features, "
            f"{what}, {ir.n_trees} trees, {ir.n_nodes} nodes>"
        )


def _ptr(a: npt.NDArray[Any]) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def _host_wrapper(ir: TreeEnsemble) -> str:
    nf = ir.n_features
    out = [
        '#include <stddef.h>\n#include "hostmodel.h"\n',
        "void ml_host_predict(const float *X, int32_t n, int32_t *out);",
        "void ml_host_predict_proba(const float *X, int32_t n, float *out);",
        "void ml_host_predict_value(const float *X, int32_t n, float *out);\n",
    ]
    if ir.is_classifier:
        out.append(
            "void ml_host_predict(const float *X, int32_t n, int32_t *out)\n{\n"
            f"    for (int32_t i = 0; i < n; i++) out[i] = hostmodel_predict(X + (size_t)i * {nf});\n}}\n"
        )
        out.append(
            "void ml_host_predict_proba(const float *X, int32_t n, float *out)\n{\n"
            f"    for (int32_t i = 0; i < n; i++)\n"
            f"        hostmodel_predict_proba(X + (size_t)i * {nf}, out + (size_t)i * {ir.n_outputs});\n}}\n"
        )
    else:
        out.append(
            "void ml_host_predict_value(const float *X, int32_t n, float *out)\n{\n"
            f"    for (int32_t i = 0; i < n; i++) out[i] = hostmodel_predict(X + (size_t)i * {nf});\n}}\n"
        )
    return "\n".join(out)


def convert(estimator: Any, method: str | None = None, **options: Any) -> Model:
    """Convert a fitted estimator. ``method`` is one of :func:`methods_for` (default "table")."""
    from microlearn.frontends.registry import to_ir

    if options:
        raise InvalidInputError(f"unknown option(s) {sorted(options)} for convert")
    if hasattr(estimator, "steps"):  # Pipeline(FeatureExtractor, trees): raw windows in (microlearn.pipeline)
        from microlearn.pipeline import convert_pipeline

        return convert_pipeline(estimator, method)
    ir = to_ir(estimator)
    if not isinstance(ir, TreeEnsemble):
        raise InvalidInputError(f"{ir.source} converts, but the Model facade does not take it yet")
    m = method or cbackend.registry.default_method(ir)
    if m not in cbackend.methods_for(ir):
        raise InvalidInputError(f"unknown method {m!r}; methods for this model: {cbackend.methods_for(ir)}")
    return Model(ir, m)


def methods_for(estimator: Any) -> list[str]:
    """The C method names valid for this estimator."""
    from microlearn.frontends.registry import to_ir

    return cbackend.methods_for(estimator.ir if isinstance(estimator, Model) else to_ir(estimator))
