"""Pipeline(FeatureExtractor, trees) -> a Pipeline IR; one C header taking raw windows; predictions equal
scikit-learn's; verify takes the pipeline and its windows."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Binarizer

import microlearn
from microlearn import host, micropython
from microlearn.dsp.features import FeatureExtractor
from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.ir.features import FeatureStage
from microlearn.ir.pipeline import Pipeline as PipelineIR

STRICT = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow", "-Wdouble-promotion", "-Werror"]


def _har(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic accelerometer windows (128 samples x 3 axes at 50 Hz) of 4 activities."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    t = np.arange(128) / 50.0
    W = np.empty((n, 128, 3))
    for i, c in enumerate(y):
        f = [0.0, 1.0, 2.0, 3.0][c] + rng.normal(0, 0.4)
        W[i, :, 0] = (0.2 + 0.3 * c) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) + rng.normal(0, 0.4, 128)
        W[i, :, 1] = rng.normal(0.1 * c, 0.3 + 0.1 * c, 128)
        W[i, :, 2] = 9.81 + rng.normal(0, 0.3, 128)
    return W.reshape(n, -1).astype(np.float32), y


@pytest.fixture(scope="module")
def fitted() -> tuple[Pipeline, np.ndarray, np.ndarray]:
    W, y = _har(900, 0)
    fx = FeatureExtractor(sr=50.0, bands=[(0.3, 1.5), (1.5, 2.5), (2.5, 5.0)])
    pipe = Pipeline([("features", fx), ("clf", RandomForestClassifier(25, max_depth=8, random_state=0))])
    pipe.fit(W[:500], y[:500])
    return pipe, W[500:], y[500:]


@pytest.mark.parametrize("method", ["table", "inline"])
def test_c_predictions_equal_pipeline(fitted: tuple[Pipeline, np.ndarray, np.ndarray], method: str) -> None:
    pipe, W, _ = fitted
    model = microlearn.convert(pipe, method=method)
    assert isinstance(model.ir, PipelineIR) and isinstance(model.ir.stages[0], FeatureStage)
    assert model.n_inputs == 128 * 3
    np.testing.assert_array_equal(model.transform(W), pipe[0].transform(W))  # bit-identical features
    np.testing.assert_array_equal(model.predict(W), pipe.predict(W))  # 100% of rows
    np.testing.assert_allclose(model.predict_proba(W), pipe.predict_proba(W), atol=1e-6)


def test_regressor_pipeline() -> None:
    W, y = _har(300, 1)
    pipe = Pipeline(
        [("features", FeatureExtractor(stats=("std", "rms", "kurtosis"))), ("reg", ExtraTreesRegressor(10))]
    ).fit(W, y.astype(float))
    model = microlearn.convert(pipe)
    np.testing.assert_allclose(model.predict(W), pipe.predict(W).astype(np.float32), rtol=1e-6)


def test_header_compiles_strictly_and_rejects_bad_windows(
    fitted: tuple[Pipeline, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    pipe, W, _ = fitted
    model = microlearn.convert(pipe)
    hdr = model.to_c("har")
    assert "int32_t har_predict(const float *x)" in hdr and "#define HAR_N_FEATURES 384" in hdr
    (tmp_path / "har.h").write_text(hdr)
    main = tmp_path / "a.c"
    main.write_text(
        '#include "har.h"\n#include "har.h"\nint f(const float *w);\nint f(const float *w) '
        "{ float p[HAR_N_CLASSES]; return har_predict(w) + har_predict_proba(w, p); }\n"
    )
    for cmd in (["gcc", "-std=c99"], ["clang", "-std=c99"], ["g++", "-std=c++11", "-x", "c++"]):
        res = subprocess.run(
            [
                *cmd,
                "-O2",
                *STRICT,
                "-I",
                str(host.RUNTIME_C_DIR),
                "-c",
                str(main),
                "-o",
                str(tmp_path / "a.o"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0, res.stderr
    bad = W[:2].copy()
    bad[1, 5] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        model.predict(bad)


def test_micropython_end_to_end(fitted: tuple[Pipeline, np.ndarray, np.ndarray]) -> None:
    pipe, W, _ = fitted
    model = microlearn.convert(pipe)
    code = (
        "import json, mlrt\nfrom array import array\nfrom mlrt.dsp_features import Features\n"
        "fx = Features(json.loads(open('/cfg.json').read()))\nm = mlrt.load('/m.mlm')\n"
        "raw = open('/w.bin', 'rb').read()\nk = 4 * fx.window * fx.n_axes\n"
        "print(' '.join(str(m.predict(array('f', fx.compute(array('f', raw[i:i + k]))))) "
        "for i in range(0, len(raw), k)))\n"
    )
    files = {
        **micropython.runtime_files(),
        "/cfg.json": json.dumps(model.ir.stages[0].config.to_dict()).encode(),
        "/m.mlm": microlearn.Model(model.ir.final).to_bytes(),
        "/w.bin": W[:40].tobytes(),
    }
    got = np.array([int(v) for v in micropython.run(code, files).split()])
    np.testing.assert_array_equal(pipe.classes_[got], pipe.predict(W[:40]))


def test_unsupported_pipelines(fitted: tuple[Pipeline, np.ndarray, np.ndarray]) -> None:
    pipe, W, _ = fitted
    with pytest.raises(UnsupportedEstimatorError, match="Binarizer"):
        microlearn.convert(
            Pipeline([("s", Binarizer()), ("c", RandomForestClassifier(2))]).fit(W, W[:, 0] > 9)
        )
    unfitted = Pipeline([("features", FeatureExtractor()), ("clf", RandomForestClassifier(2))])
    with pytest.raises(NotFittedError):
        microlearn.convert(unfitted)
    with pytest.raises(UnsupportedEstimatorError, match="not a transform"):
        microlearn.convert(Pipeline([("features", pipe[0]), ("a", pipe[1]), ("b", pipe[1])]))


def test_verify_takes_the_pipeline_and_its_windows(fitted: tuple[Pipeline, np.ndarray, np.ndarray]) -> None:
    pipe, W, _ = fitted
    report = microlearn.verify(pipe, W, targets=["host"], method="inline")
    assert report["host"].agreement == 1.0 and report.n_rows == len(W)
    assert report["host"].max_abs_error is not None and report["host"].max_abs_error < 1e-6
    # windows as (n, samples, axes) too
    np.testing.assert_array_equal(
        microlearn.convert(pipe).predict(W[:20].reshape(20, 128, 3)), pipe.predict(W[:20])
    )


def test_pipeline_model_file_runs_in_micropython(fitted: tuple[Pipeline, np.ndarray, np.ndarray]) -> None:
    """One model file holds the whole pipeline; mlrt predicts from raw windows."""
    pipe, W, _ = fitted
    model = microlearn.convert(pipe)
    data = model.to_bytes()
    assert data[:4] == microlearn.Model(model.ir.final).to_bytes()[:4]  # the one container
    report = microlearn.verify(pipe, W[:60], targets=["micropython"])
    assert report["micropython"].agreement == 1.0
    assert report["micropython"].flash_bytes == len(data)


def test_convert_and_verify_fold_scalers_into_trees() -> None:
    from sklearn.preprocessing import StandardScaler

    from microlearn.ir.trees import TreeEnsemble

    W, y = _har(300, 3)
    pipe = Pipeline(
        [
            ("features", FeatureExtractor(stats=("mean", "std", "rms"))),
            ("scale", StandardScaler()),
            ("clf", RandomForestClassifier(6, max_depth=6, random_state=0)),
        ]
    ).fit(W[:200], y[:200])
    plain, folded = microlearn.convert(pipe, fold=False), microlearn.convert(pipe)
    assert isinstance(plain.ir, PipelineIR) and len(plain.ir.stages) == 2
    assert isinstance(folded.ir, PipelineIR) and len(folded.ir.stages) == 1  # the scaler is gone
    assert isinstance(folded.ir.final, TreeEnsemble)
    np.testing.assert_array_equal(folded.predict(W[200:]), pipe.predict(W[200:]))
    assert "ml_transform.h" in plain.to_c("a") and "ml_transform.h" not in folded.to_c("a")
    assert microlearn.verify(pipe, W[200:], fold=True)["host"].agreement == 1.0
