"""Stages on the emulated Cortex-M4F (float FPU, soft double) and Cortex-M0+ (soft float and double):
the same float32 bits as scikit-learn, and [stages, forest] pipelines predicting scikit-learn's classes
with the stages run in C and with them folded into the thresholds."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, Normalizer, RobustScaler, StandardScaler

from microlearn.backends import c as cbackend
from microlearn.backends.c.transform import chain, emit_stage
from microlearn.frontends.sklearn import to_ir
from microlearn.frontends.sklearn.preprocessing import CONVERTERS
from microlearn.passes.fold import fold_stages
from microlearn.targets import cortexm

CPUS = ("cortex-m4f", "cortex-m0plus")


def convert(est: Any) -> Any:
    mod = type(est).__module__.split(".")[1]
    return CONVERTERS[f"sklearn.{mod}.{type(est).__name__}"](est)


def data(n: int = 120) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(21)
    Xt = rng.normal(size=(400, 4)) * [1, 1e4, 1e-3, 50] + [0, -3e4, 1e-3, 7]
    y = (Xt[:, 0] > 0).astype(np.int64) + (Xt[:, 1] > -3e4) + (Xt[:, 3] > 7)
    X = (rng.normal(size=(n, 4)) * [1.5, 1.5e4, 1.5e-3, 75] + [0, -3e4, 1e-3, 7]).astype(np.float32)
    X[::9, 0] = np.nan
    X[::11, 1] = -0.0
    return Xt, y, X


def stage_run(stage: Any, X: npt.NDArray[np.float32], cpu: str) -> npt.NDArray[np.float32]:
    sc = emit_stage(stage, "stg")
    header = f'#include <stdint.h>\n#include <math.h>\n#include "ml_transform.h"\n{sc.code}'
    glue = (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "stage.h"\n'
        "void ml_bench_entry(const void *in, void *out) {\n"
        "    (void)stg_transform((const float *)in, (float *)out);\n}\n"
    )
    run = cortexm.measure({"stage.h": header}, glue, cpu, [r.tobytes() for r in X], 4 * sc.n_out)
    return run.outputs.view("<f4").reshape(X.shape[0], sc.n_out).astype(np.float32)


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize(
    "est",
    [StandardScaler(), MinMaxScaler(clip=True), MaxAbsScaler(), RobustScaler(), Normalizer("l1")],
    ids=repr,
)
def test_stage_bits_on_mcu(est: Any, cpu: str) -> None:
    Xt, _, X = data(40)
    X = np.nan_to_num(X, nan=0.5) if isinstance(est, Normalizer) else X
    stage = convert(est.fit(Xt))
    got = stage_run(stage, X, cpu)
    want = stage.reference(X).outputs
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def pipeline_header(stages: list[Any], trees: Any) -> str:
    parts = ['#include <stdint.h>\n#include <math.h>\n#include "ml_transform.h"\n']
    scs = [emit_stage(s, f"s{k}") for k, s in enumerate(stages)]
    parts += [s.code for s in scs]
    parts.append(cbackend.generate(trees, "table", "trees").header)
    parts.append(chain(scs, "trees", "pipe", "classifier"))
    return "\n".join(parts)


def run_pipeline(header: str, X: npt.NDArray[np.float32], cpu: str) -> Any:
    glue = (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "pipe.h"\n'
        "void ml_bench_entry(const void *in, void *out) {\n"
        "    *(int32_t *)out = pipe_predict((const float *)in);\n}\n"
    )
    run = cortexm.measure({"pipe.h": header}, glue, cpu, [r.tobytes() for r in X], 4)
    run.outputs = run.outputs.reshape(-1).view("<i4").astype(np.int64)
    return run


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("pre", ["scaler", "imputer+scaler", "minmax"])
def test_pipeline_on_mcu_folded_and_not(pre: str, cpu: str) -> None:
    Xt, y, X = data()
    steps: list[Any] = {
        "scaler": [StandardScaler()],
        "imputer+scaler": [SimpleImputer(strategy="median"), StandardScaler()],
        "minmax": [MinMaxScaler()],
    }[pre]
    if pre != "imputer+scaler":
        X = X.copy()
        X[np.isnan(X)] = 0.25
    Xt = Xt.copy()
    Xt[::7, 2] = np.nan if pre == "imputer+scaler" else Xt[::7, 2]
    pipe = make_pipeline(*steps, RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(Xt, y)
        want = np.searchsorted(pipe.classes_, pipe.predict(X))
    stages = [convert(s) for _, s in pipe.steps[:-1]]
    trees = to_ir(pipe.steps[-1][1])
    plain = run_pipeline(pipeline_header(stages, trees), X, cpu)
    rest, folded = fold_stages(stages, trees)
    assert rest == ()
    fold = run_pipeline(pipeline_header([], folded), X, cpu)
    assert np.array_equal(plain.outputs, want)
    assert np.array_equal(fold.outputs, want)
    # folding removes the stage's code and constants and its work per call
    assert fold.flash_bytes < plain.flash_bytes
    assert (fold.instructions_mean or 0) < (plain.instructions_mean or 0)


def _windows(n: int, seed: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    t = np.arange(32) / 25.0
    W = np.empty((n, 32, 3))
    for i, c in enumerate(y):
        W[i, :, 0] = (0.3 + 0.4 * c) * np.sin(2 * np.pi * (1 + c) * t + rng.uniform(0, 6)) + rng.normal(
            0, 0.3, 32
        )
        W[i, :, 1] = rng.normal(0.2 * c, 0.5, 32)
        W[i, :, 2] = 9.81 + rng.normal(0, 0.3, 32)
    return W.reshape(n, -1).astype(np.float32), y


@pytest.mark.parametrize("target", ["host", *CPUS])
def test_feature_extractor_scaler_forest(target: str) -> None:
    """[FeatureExtractor, StandardScaler, RF]: raw windows in, scikit-learn's class out, with the scaler
    run in C and folded."""
    from microlearn import host
    from microlearn.dsp.features import FeatureExtractor, features_c

    W, y = _windows(260, 5)
    pipe = make_pipeline(
        FeatureExtractor(window=32, stats=("mean", "std", "min", "max", "rms")),
        StandardScaler(),
        RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0),
    )
    pipe.fit(W[:200], y[:200])
    Wt = W[200:]
    want = np.searchsorted(pipe.classes_, pipe.predict(Wt))
    fx = pipe.steps[0][1]
    stage = convert(pipe.steps[1][1])
    trees = to_ir(pipe.steps[2][1])
    rest, folded = fold_stages([stage], trees)
    assert rest == ()
    nf = fx.config_.n_features
    for stages, forest in (([stage], trees), ([], folded)):
        inner = pipeline_header(stages, forest)
        text = (
            '#include "ml_features.h"\n'
            + inner.replace("pipe_predict", "inner_predict")
            + features_c(fx.config_, "fx")
            + "static inline int32_t pipe_predict(const float *w)\n{\n"
            + f"    float f[{nf}];\n    if (fx_features(w, f) != ML_FEAT_OK) {{\n        return -1;\n    }}\n"
            + "    return inner_predict(f);\n}\n"
        )
        if target == "host":
            src = (
                '#include <stddef.h>\n#include "pipe.h"\n'
                "void run(const float *W, int32_t n, int32_t *out);\n"
                "void run(const float *W, int32_t n, int32_t *out)\n{\n"
                "    for (int32_t i = 0; i < n; i++)\n"
                f"        out[i] = pipe_predict(W + (size_t)i * {W.shape[1]});\n}}\n"
            )
            lib = host.build({"pipe.h": text, "pipe.c": src})
            got = np.zeros(Wt.shape[0], dtype=np.int32)
            lib.run.restype = None
            import ctypes

            lib.run(
                ctypes.c_void_p(Wt.ctypes.data), ctypes.c_int32(Wt.shape[0]), ctypes.c_void_p(got.ctypes.data)
            )
        else:
            got = run_pipeline(text, Wt, target).outputs
        assert np.array_equal(got, want)
