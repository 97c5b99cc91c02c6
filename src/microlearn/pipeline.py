"""Pipelines of raw sensor windows -> features -> tree model, converted as one.

``microlearn.convert(Pipeline([("features", FeatureExtractor(...)), ("clf", RandomForestClassifier())]))``
gives a :class:`PipelineModel`: its C takes a raw window and returns the prediction in one call,
``NAME_predict_window(const float *window)``. The features are computed on the device by ``ml_features.h``
with the same float32 operations in the same order as :class:`~microlearn.dsp.features.FeatureExtractor`,
so they are bit-identical, and the trees decide on them exactly as scikit-learn does: the predictions
equal ``pipeline.predict`` on every window.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn import host
from microlearn.backends import c as cbackend
from microlearn.dsp.features import FeatureConfig, FeatureExtractor, as_windows, features_c
from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.model import Model


@dataclass
class PipelineModel(Model):
    """A converted features + trees pipeline. ``ir`` is the tree model's; ``features`` the window
    features. ``predict``/``predict_proba`` take raw windows (n_windows, window * n_axes) and run the
    generated C; ``features_model`` is the tree model alone (taking feature rows)."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    _wlibs: dict[str, ctypes.CDLL] = field(default_factory=dict, repr=False, compare=False)

    @property
    def features_model(self) -> Model:
        return Model(self.ir, self.method)

    @property
    def n_inputs(self) -> int:
        return self.features.n_inputs

    def with_method(self, method: str) -> PipelineModel:
        return PipelineModel(self.ir, method, features=self.features)

    # ------------------------------------------------------------------------------------------ C
    def to_c(self, name: str = "model") -> str:
        """One header: the feature extraction, the tree model and ``NAME_predict_window``."""
        return pipeline_c(self, name)

    def c_source(self, name: str = "model", command: str = "") -> cbackend.CSource:
        trees = cbackend.generate(self.ir, self.method, f"{name}_trees", command)
        return cbackend.CSource(
            name=name,
            header=pipeline_c(self, name, command),
            method=self.method,
            kind=trees.kind,
            n_features=self.features.n_inputs,
            n_outputs=trees.n_outputs,
            const_bytes=trees.const_bytes,
            runtime_headers=(*trees.runtime_headers, "ml_common.h", "ml_features.h"),
        )

    # ------------------------------------------------------------------------------------------ host
    def _wlib(self) -> ctypes.CDLL:
        lib = self._wlibs.get(self.method)
        if lib is None:
            lib = host.build({"hostpipe.h": self.to_c("hostpipe"), "hostpipe.c": _host_wrapper(self)})
            self._wlibs[self.method] = lib
        return lib

    def _windows(self, X: Any) -> npt.NDArray[np.float32]:
        W = as_windows(X, self.features)
        return np.ascontiguousarray(W.reshape(W.shape[0], -1))

    def predict_index(self, X: Any) -> npt.NDArray[np.int32]:
        self._need_classifier("predict_index")
        W = self._windows(X)
        out = np.empty(W.shape[0], dtype=np.int32)
        self._call("ml_host_predict_window", W, out)
        return out

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """Predictions of the generated C from raw windows: class labels, or float32 values."""
        if self.ir.is_classifier:
            classes = self.classes_
            assert classes is not None
            return np.asarray(classes)[self.predict_index(X)]
        W = self._windows(X)
        out = np.empty(W.shape[0], dtype=np.float32)
        self._call("ml_host_predict_window", W, out)
        return out

    def predict_proba(self, X: Any) -> npt.NDArray[np.float32]:
        self._need_classifier("predict_proba")
        W = self._windows(X)
        out = np.empty((W.shape[0], self.ir.n_outputs), dtype=np.float32)
        self._call("ml_host_predict_window_proba", W, out)
        return out

    def transform(self, X: Any) -> npt.NDArray[np.float32]:
        """The features the generated C computes from raw windows (n_windows, n_features)."""
        W = self._windows(X)
        out = np.empty((W.shape[0], self.features.n_features), dtype=np.float32)
        self._call("ml_host_features", W, out)
        return out

    def _call(self, fn: str, W: npt.NDArray[np.float32], out: npt.NDArray[Any]) -> None:
        f = getattr(self._wlib(), fn)
        f.restype = ctypes.c_int
        rc = f(ctypes.c_void_p(W.ctypes.data), ctypes.c_int32(W.shape[0]), ctypes.c_void_p(out.ctypes.data))
        if rc != 0:
            raise InvalidInputError(f"the generated C rejected a window (code {rc}): NaN, inf or |x| > 1e8")

    def to_bytes(self) -> bytes:
        raise UnsupportedEstimatorError(
            "model files hold the tree model only: save features_model.to_bytes() and compute the features "
            "with mlrt.dsp_features on the device (see docs/dsp.md)"
        )

    def __repr__(self) -> str:
        f = self.features
        return (
            f"<microlearn.PipelineModel window={f.window}x{f.n_axes} -> {f.n_features} features -> "
            f"{self.ir.source.split('.')[-1]} method={self.method!r}>"
        )


def split_pipeline(pipe: Any) -> tuple[FeatureExtractor, Any]:
    """The (FeatureExtractor, final estimator) of a fitted two-step Pipeline, or a clear error."""
    steps = getattr(pipe, "steps", None)
    if not isinstance(steps, list) or len(steps) != 2:
        raise UnsupportedEstimatorError(
            "microlearn converts Pipelines of exactly two steps: "
            "[('features', microlearn.dsp.FeatureExtractor(...)), ('clf', <tree model>)]"
        )
    fx, est = steps[0][1], steps[1][1]
    if not isinstance(fx, FeatureExtractor):
        raise UnsupportedEstimatorError(
            f"the first pipeline step must be microlearn.dsp.FeatureExtractor, not {type(fx).__name__}"
        )
    if getattr(fx, "config_", None) is None:
        raise NotFittedError("the pipeline is not fitted: call pipeline.fit(windows, y) first")
    return fx, est


def convert_pipeline(pipe: Any, method: str | None = None) -> PipelineModel:
    """Convert a fitted Pipeline([FeatureExtractor, tree model]) (what microlearn.convert calls)."""
    from microlearn.frontends.sklearn import to_ir

    fx, est = split_pipeline(pipe)
    ir = to_ir(est)
    cfg: FeatureConfig = fx.config_
    if ir.n_features != cfg.n_features:
        raise InvalidInputError(
            f"the model takes {ir.n_features} features but the FeatureExtractor makes {cfg.n_features}"
        )
    m = method or cbackend.DEFAULT_METHOD
    if m not in cbackend.methods_for(ir):
        raise InvalidInputError(f"unknown method {m!r}; methods for this model: {cbackend.methods_for(ir)}")
    return PipelineModel(ir, m, features=cfg)


def pipeline_c(model: PipelineModel, name: str, command: str = "") -> str:
    cbackend.check_c_name(name)
    cfg, ir = model.features, model.ir
    trees = cbackend.generate(ir, model.method, f"{name}_trees", command).header
    up = name.upper()
    head = [
        f"{name}.h - raw sensor windows -> {cfg.n_features} features -> {ir.source.split('.')[-1]}",
        f"window: {cfg.window} samples x {cfg.n_axes} interleaved axes ({up}_WINDOW, {up}_N_AXES)",
        f"features: {', '.join(cfg.stats)} of channels {', '.join(cfg.channel_names())}"
        + (f"; band energies {list(cfg.bands)} Hz at sr={cfg.sr:g}" if cfg.bands and cfg.sr else ""),
        "",
    ]
    if ir.is_classifier:
        head += [
            f"int32_t {name}_predict_window(const float *window);  class index, or -1 for an invalid window",
            f"int {name}_predict_window_proba(const float *window, float *out);  0 or an ML_FEAT_ERR_ code",
        ]
    else:
        head.append(f"float {name}_predict_window(const float *window);  value, or NaN for an invalid window")
    head += [
        "An invalid window holds NaN, +-inf or samples beyond +-1e8.",
        "Features are bit-identical to microlearn.dsp.FeatureExtractor's; predictions equal the pipeline's.",
        "Needs ml_features.h and ml_trees.h on the include path. No -ffast-math.",
    ]
    body = "\n".join((" * " + ln).rstrip() for ln in head)
    parts = [
        f"/*\n{body}\n */\n#ifndef ML_PIPELINE_{up}_H\n#define ML_PIPELINE_{up}_H\n",
        '#include <math.h>\n#include <stdint.h>\n#include "ml_features.h"\n',
        trees,
        '#ifdef __cplusplus\nextern "C" {\n#endif\n',
        features_c(cfg, name),
    ]
    nf = cfg.n_features
    if ir.is_classifier:
        parts.append(
            f"""static inline int32_t {name}_predict_window(const float *window)
{{
    float f[{nf}];
    if ({name}_features(window, f) != ML_FEAT_OK) {{
        return -1;
    }}
    return {name}_trees_predict(f);
}}

static inline int {name}_predict_window_proba(const float *window, float *out)
{{
    float f[{nf}];
    int rc = {name}_features(window, f);
    if (rc != ML_FEAT_OK) {{
        return rc;
    }}
    {name}_trees_predict_proba(f, out);
    return ML_FEAT_OK;
}}
"""
        )
    else:
        parts.append(
            f"""static inline float {name}_predict_window(const float *window)
{{
    float f[{nf}];
    if ({name}_features(window, f) != ML_FEAT_OK) {{
        return NAN;
    }}
    return {name}_trees_predict(f);
}}
"""
        )
    parts.append(f"#ifdef __cplusplus\n}}\n#endif\n\n#endif /* ML_PIPELINE_{up}_H */\n")
    return "\n".join(parts)


def _host_wrapper(model: PipelineModel) -> str:
    cfg = model.features
    ni, nf = cfg.n_inputs, cfg.n_features
    cls = model.ir.is_classifier
    out_t = "int32_t" if cls else "float"
    src = [
        '#include <stddef.h>\n#include "hostpipe.h"\n',
        f"int ml_host_predict_window(const float *W, int32_t n, {out_t} *out);",
        "int ml_host_predict_window_proba(const float *W, int32_t n, float *out);",
        "int ml_host_features(const float *W, int32_t n, float *out);\n",
        f"int ml_host_features(const float *W, int32_t n, float *out)\n{{\n"
        f"    for (int32_t i = 0; i < n; i++) {{\n"
        f"        int rc = hostpipe_features(W + (size_t)i * {ni}, out + (size_t)i * {nf});\n"
        f"        if (rc != 0) return rc;\n    }}\n    return 0;\n}}\n",
        f"int ml_host_predict_window(const float *W, int32_t n, {out_t} *out)\n{{\n"
        f"    for (int32_t i = 0; i < n; i++) out[i] = hostpipe_predict_window(W + (size_t)i * {ni});\n"
        f"    return 0;\n}}\n",
    ]
    if cls:
        no = model.ir.n_outputs
        src.append(
            f"int ml_host_predict_window_proba(const float *W, int32_t n, float *out)\n{{\n"
            f"    for (int32_t i = 0; i < n; i++) {{\n"
            f"        int rc = hostpipe_predict_window_proba(W + (size_t)i * {ni}, out + (size_t)i * {no});\n"
            f"        if (rc != 0) return rc;\n    }}\n    return 0;\n}}\n"
        )
    else:
        src.append(
            "int ml_host_predict_window_proba(const float *W, int32_t n, float *out)\n"
            "{\n    (void)W; (void)n; (void)out;\n    return -1;\n}\n"
        )
    return "\n".join(src)
