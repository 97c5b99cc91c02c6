"""Linear models through ``microlearn.verify`` on every target: host C, emulated Cortex-M4F, Cortex-M0+ and
rv32imc, and mlrt in the real MicroPython; and the integer path's claim that it needs no floating point."""

from __future__ import annotations

import numpy as np
import pytest

import microlearn
from linear_cases import fitted, near_ties, rows_near
from microlearn.backends.c.linear import emit
from microlearn.frontends.sklearn.linear import convert
from microlearn.targets.mcu.measure import measure

MCUS = ["cortex-m4f", "cortex-m0plus", "rv32imc"]


@pytest.mark.parametrize(
    ("name", "data"),
    [("logreg", "digits"), ("sgd_mhuber", "binary"), ("ovr_logreg", "multiclass"), ("huber", "regression")],
)
def test_verify_every_target(name: str, data: str) -> None:
    est = fitted(name, data, "float64")
    ir = convert(est)
    X = rows_near(data, 30)
    if ir.is_classifier:
        X = np.vstack([X, near_ties(ir, 10)])  # the replay runs on the MCUs too
    report = microlearn.verify(est, X, targets=["host", *MCUS, "micropython"])
    for t, r in report.items():
        assert r.agreement == 1.0, (t, r)
    for t in MCUS:
        assert report[t].instructions_mean is not None and report[t].flash_bytes


def test_ridge_two_outputs_on_mcus() -> None:
    est = fitted("ridge", "regression2", "float64")
    report = microlearn.verify(est, rows_near("regression2", 30), targets=["host", *MCUS])
    assert all(r.agreement == 1.0 for r in report.values())


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "rv32imc"])
def test_integer_path_needs_no_floating_point(cpu: str) -> None:
    """The fast path on cores without an FPU links no soft-float routine at all; the float path does."""
    ir = convert(fitted("logreg", "digits", "float64"))
    X = rows_near("digits", 20)
    header = emit(ir, "lm").header
    glue = (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "lm.h"\n'
        "void ml_bench_entry(const void *in, void *out) {\n"
        "    int32_t xq[LM_N_FEATURES]; int64_t v[LM_N_SCORES];\n"
        "    *(int32_t *)out = ml_linear_class_q(&lm_q, (const float *)in, xq, v);\n}\n"
    )
    run = measure({"lm.h": header}, glue, cpu, [r.tobytes() for r in X], 4)
    got = run.outputs.view("<i4").reshape(-1)
    ref = ir.reference(X)
    assert np.array_equal(got, ref.outputs)  # all decided by the integer path, all scikit-learn's
    assert run.extra["softfloat_float"] == [] and run.extra["softfloat_double"] == []
    float_glue = "#define ML_LINEAR_INT 0\n" + glue.replace(
        "int32_t xq[LM_N_FEATURES]; int64_t v[LM_N_SCORES];", "float s[LM_N_SCORES];"
    ).replace(
        "ml_linear_class_q(&lm_q, (const float *)in, xq, v)",
        "ml_linear_class_f32(&lm_f32, (const float *)in, s)",
    )
    soft = measure({"lm.h": header}, float_glue, cpu, [r.tobytes() for r in X[:3]], 4)
    assert soft.extra["softfloat_float"]  # the control: float32 arithmetic there is library calls
    assert soft.instructions_mean is not None and run.instructions_mean is not None
    assert run.instructions_mean * 3 < soft.instructions_mean


def test_scaler_pipeline_every_target() -> None:
    """A StandardScaler before the linear model: one pipeline, scikit-learn's classes everywhere."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from linear_cases import XD, YD

    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    est.fit(XD[:400], YD[:400])
    report = microlearn.verify(est, XD[400:440], targets=["host", *MCUS, "micropython"])
    assert all(r.agreement == 1.0 for r in report.values()), str(report)
