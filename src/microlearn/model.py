"""The converted model: C generation, host predictions through the generated C, model files.

``Model`` holds any IR (a tree ensemble, a pipeline of stages and a final model, later every family):
what it generates comes from the C method registry, what it predicts on this machine from the host
target (``targets/host.py``) running that C."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn import host, progress
from microlearn._validation import as_float32_rows
from microlearn.backends.c import registry as cregistry
from microlearn.backends.c.writer import CSource
from microlearn.errors import InvalidInputError, ModelFileError
from microlearn.estimate import Estimate
from microlearn.ir.base import IR, Task
from microlearn.ir.pipeline import Pipeline
from microlearn.targets.host import HostLibrary

# A header larger than this is not what host predictions compile when another method's is much smaller.
HOST_PREDICT_BYTES = 4 * 1024 * 1024


@dataclass
class Model:
    """A model converted by :func:`microlearn.convert`. Everything it does is generated from ``ir``."""

    ir: IR
    method: str = ""
    _libs: dict[str, HostLibrary] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.method:
            self.method = cregistry.default_method(self.ir)
        elif self.method not in cregistry.methods_for(self.ir):
            raise InvalidInputError(
                f"unknown method {self.method!r}; methods for this model: {cregistry.methods_for(self.ir)}"
            )

    # ---------------------------------------------------------------- description
    @property
    def task(self) -> Task:
        return self.ir.task

    @property
    def kind(self) -> str:
        return {Task.CLASSIFY: "classifier", Task.REGRESS: "regressor"}.get(self.ir.task, self.ir.task.value)

    @property
    def n_inputs(self) -> int:
        """Values per input row (for a pipeline: its raw input, e.g. window x axes)."""
        return self.ir.n_inputs

    @property
    def n_features(self) -> int:
        return self.ir.n_inputs

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        return self.ir.feature_names

    @property
    def classes_(self) -> npt.NDArray[Any] | None:
        if self.ir.task is not Task.CLASSIFY:
            return None
        return self.ir.classes if self.ir.classes is not None else np.arange(self.ir.n_outputs)

    @property
    def methods(self) -> list[str]:
        return cregistry.methods_for(self.ir)

    def with_method(self, method: str) -> Model:
        return Model(self.ir, method)

    # ---------------------------------------------------------------- C
    def c_source(self, name: str = "model", command: str = "") -> CSource:
        with progress.busy(f"writing the C of {self.method}"):
            return cregistry.generate(self.ir, self.method, name, command)

    def to_c(self, name: str = "model") -> str:
        """The generated C header as text (byte-identical for the same model, method and name)."""
        return self.c_source(name).header

    def save_c(self, path: str | Path, name: str | None = None, *, runtime: bool = True) -> Path:
        """Write the header to ``path``; with ``runtime`` (default) also copy the runtime headers it
        includes (and those they include) into the same directory, so that directory is all a firmware
        build needs."""
        p = Path(path)
        nm = name or p.stem
        src = self.c_source(nm)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(src.header)
        if runtime:
            for h in host.runtime_closure(src.runtime_headers):
                shutil.copyfile(host.RUNTIME_C_DIR / h, p.parent / h)
        return p

    # ---------------------------------------------------------------- sizes
    def estimate(self, target: str = "cortex-m4f", *, proba: bool = False) -> Estimate:
        """Flash and RAM this model needs on the microcontroller ``target`` (e.g. "cortex-m4f",
        "cortex-m0plus", "rv32imc"), estimated from the generated C's const data and per-CPU code sizes
        measured once (:mod:`microlearn.estimate`); nothing is compiled. ``proba``: the program calls a
        classifier's ``predict_proba`` too (its probability link: expf and the like)."""
        from microlearn.estimate import estimate

        return estimate(self.ir, self.method, target, proba=proba)

    # ---------------------------------------------------------------- host predictions
    def _host(self) -> HostLibrary:
        lib = self._libs.get(self.method)
        if lib is None:
            lib = HostLibrary(self._host_source())
            self._libs[self.method] = lib
        return lib

    def _host_source(self) -> CSource:
        """The C that host predictions run: this method's, unless its header is huge and another
        float32 method of this model (every one computes the same outputs: each equals the reference on
        every float32 input) writes a header at least 4x smaller, which compiles in a fraction of the time."""
        src = self.c_source("hostmodel")
        if len(src.header) <= HOST_PREDICT_BYTES:
            return src
        ms = cregistry.methods(self.ir)
        if ms[self.method].inputs != "float32":
            return src
        for name, m in ms.items():  # the default method first
            if name == self.method or m.inputs != "float32":
                continue
            other = cregistry.generate(self.ir, name, "hostmodel")
            if 4 * len(other.header) <= len(src.header):
                return other
        return src

    def _rows(self, X: Any) -> npt.NDArray[np.float32]:
        X32 = as_float32_rows(X, self.ir.n_inputs, self.ir.feature_names)
        if isinstance(self.ir, Pipeline):
            self._stages(X32)  # a clear error for a row a stage rejects, before any prediction
        return X32

    def _stages(self, X32: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        try:
            out: npt.NDArray[np.float32] = self._host().call("stages", X32)
        except InvalidInputError as e:
            assert isinstance(self.ir, Pipeline)
            rule = getattr(self.ir.stages[0], "input_rule", "")
            raise InvalidInputError(f"{e}: {rule}" if rule else str(e)) from None
        return out

    def _need(self, fn: str, what: str) -> None:
        if not self._host().has(fn):
            have = ", ".join(f.name for f in self._host().src.api if f.name != "stages")
            raise InvalidInputError(
                f"{what} is not available for this {self.kind} model ({self.ir.source}): use predict "
                f"(its generated C has {have})"
            )

    def predict_index(self, X: Any) -> npt.NDArray[np.int32]:
        """Class (or cluster) indices computed by the generated C on this machine."""
        if self.ir.task not in (Task.CLASSIFY, Task.CLUSTER):
            raise InvalidInputError(
                f"predict_index is for classifiers; this model is a {self.kind}: use predict"
            )
        out: npt.NDArray[np.int32] = self._host().call("predict", self._rows(X))
        return out

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """Predictions computed by the generated C: class labels, values (float32), cluster indices,
        or 1/-1 (inlier/outlier)."""
        task = self.ir.task
        if task is Task.CLASSIFY:
            classes = self.classes_
            assert classes is not None
            return np.asarray(classes)[self.predict_index(X)]
        if task is Task.TRANSFORM:
            raise InvalidInputError("this model is a transform: use transform")
        lib = self._host()
        fn = "predict" if lib.has("predict") else "predict_values"
        out: npt.NDArray[Any] = lib.call(fn, self._rows(X))
        return out

    def predict_proba(self, X: Any) -> npt.NDArray[np.float32]:
        """Class probabilities computed by the generated C (classifiers that have them)."""
        self._need("predict_proba", "predict_proba")
        out: npt.NDArray[np.float32] = self._host().call("predict_proba", self._rows(X))
        return out

    def decision_function(self, X: Any) -> npt.NDArray[np.float32]:
        """Decision scores computed by the generated C (models that have them)."""
        self._need("decision_function", "decision_function")
        out: npt.NDArray[np.float32] = self._host().call("decision_function", self._rows(X))
        return out

    def score(self, X: Any) -> npt.NDArray[np.float32]:
        """Anomaly scores computed by the generated C (SCORE models)."""
        self._need("score", "score")
        out: npt.NDArray[np.float32] = self._host().call("score", self._rows(X))
        return out

    def transform(self, X: Any) -> npt.NDArray[np.float32]:
        """A transform's output; for a pipeline, what its stages make of the raw input (the final
        model's input), computed by the generated C."""
        if isinstance(self.ir, Pipeline):
            return self._stages(as_float32_rows(X, self.ir.n_inputs, self.ir.feature_names))
        self._need("transform", "transform")
        out: npt.NDArray[np.float32] = self._host().call("transform", self._rows(X))
        return out

    # ---------------------------------------------------------------- model files
    def to_bytes(self) -> bytes:
        """The model file (see docs/model-file.md)."""
        from microlearn.backends import modelfile

        dumps: Any = modelfile.dumps
        final = self.ir.final if isinstance(self.ir, Pipeline) else self.ir
        if self.method == "int8" and getattr(final, "quant", None) is None:
            # the file's int8 sections are the method: without them it would run the float network
            raise InvalidInputError(
                "the int8 method needs a calibration set: convert(est, method='int8', calibration=X_cal), "
                "or --calibration rows.npy on the command line"
            )
        try:
            return bytes(dumps(self.ir))
        except ModelFileError as e:  # an IR the format does not hold (yet)
            raise ModelFileError(f"{e}. The C header (save_c) holds every model microlearn converts.") from e

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_bytes(self.to_bytes())
        return p

    def __repr__(self) -> str:
        ir = self.ir
        what = {
            Task.CLASSIFY: f"{ir.n_outputs} classes",
            Task.REGRESS: "regression" if ir.n_outputs == 1 else f"regression, {ir.n_outputs} outputs",
        }.get(ir.task, f"{ir.task.value}, {ir.n_outputs} outputs")
        head = ir.summary()[0] if isinstance(ir, Pipeline) else ir.source.split(".")[-1]
        return f"<microlearn.Model {head} method={self.method!r}: {ir.n_inputs} inputs, {what}>"


def convert(estimator: Any, method: str | None = None, *, fold: bool = True, **options: Any) -> Model:
    """Convert a fitted estimator (or a fitted scikit-learn Pipeline of supported steps).

    ``method`` is one of :func:`methods_for` (default: the family's default method). ``calibration``
    (rows of typical input) quantizes a network for the ``int8`` method (docs/networks.md). With ``fold``
    (the default), the per-feature monotonic stages right before a tree ensemble (scalers, imputers) are
    folded into its thresholds (``passes.fold``): the same decision for every float32 input, no stage code
    on the device; ``fold=False`` keeps them as stages. A Keras network's batch normalizations and
    activation layers are folded into the Dense or convolution before them (``passes.fold_network``,
    within the stated bound of docs/keras.md); ``fold=False`` keeps them as layers.
    """
    from microlearn.frontends.registry import to_ir

    calibration = options.pop("calibration", None)
    if options:
        raise InvalidInputError(f"unknown option(s) {sorted(options)} for convert")
    with progress.busy(f"converting {type(estimator).__name__}"):
        ir = to_ir(estimator)
    check_float32_sums(ir)
    if fold:
        from microlearn.passes.fold import fold_pipeline
        from microlearn.passes.fold_network import fold_network

        ir = fold_network(fold_pipeline(ir))
    if calibration is not None:
        from microlearn.passes.quantize import quantize_ir

        ir = quantize_ir(ir, calibration)
    return Model(ir, method or "")


F32_MAX = float(np.finfo(np.float32).max)


def check_float32_sums(ir: IR) -> None:
    """Refuse a tree regressor whose float32 sum over trees could overflow to inf on the device.

    The device (C and mlrt) adds the T trees' float32 leaf values in float32, then divides by T. Every
    partial sum is at most S = sum over trees of the tree's largest |leaf value|, times (1 + 2**-24)**T for
    the roundings; while S * (1 + T * 2**-23) < FLT_MAX no partial sum, hence no result, can be inf.
    Otherwise some input may reach inf where scikit-learn's float64 mean is finite: refused here, at
    conversion, rather than found on the device."""
    final = ir.final if isinstance(ir, Pipeline) else ir
    leaf_value = getattr(final, "leaf_value", None)
    if final.task is not Task.REGRESS or leaf_value is None or not hasattr(final, "tree_slices"):
        return
    if getattr(final, "accumulate", "float32") == "float64":  # boosted trees summed in double
        return
    feature = np.asarray(getattr(final, "feature"))  # noqa: B009  (any tree IR, not only TreeEnsemble)
    leaf = np.asarray(getattr(final, "leaf"))  # noqa: B009
    v32 = np.abs(np.asarray(leaf_value, dtype=np.float64)[:, 0].astype(np.float32).astype(np.float64))
    worst = 0.0
    trees = final.tree_slices()
    for a, b in trees:
        idx = leaf[a:b][feature[a:b] < 0]
        worst += float(v32[idx].max()) if idx.size else 0.0
    if worst * (1.0 + len(trees) * 2.0**-23) >= F32_MAX:
        raise InvalidInputError(
            f"{final.source.split('.')[-1]}: the float32 sum of its {len(trees)} trees' leaf values can "
            f"reach "
            f"{worst:.3g}, beyond float32's {F32_MAX:.3g} (the device adds the trees in float32): scale "
            "the target before fitting (e.g. fit on y / 1e30) and scale the predictions back"
        )


def methods_for(estimator: Any) -> list[str]:
    """The C method names valid for this estimator (or converted Model)."""
    from microlearn.frontends.registry import to_ir

    return cregistry.methods_for(estimator.ir if isinstance(estimator, Model) else to_ir(estimator))
