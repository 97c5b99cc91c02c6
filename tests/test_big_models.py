"""Big models without surprises: estimates before any compile, budgets, one-line size errors, progress
bars, host builds that stay fast, and regressor sums that cannot overflow float32."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

import microlearn
from microlearn import host, progress
from microlearn.errors import InvalidInputError, ModelTooLargeError, ToolchainError
from microlearn.estimate import Budget, BudgetCheck, parse_size
from microlearn.targets.host import HostLibrary
from microlearn.targets.mcu import build_image
from microlearn.targets.mcu.arch import get_arch
from microlearn.targets.mcu.build import targets_cache_dir, toolchain_missing

M4F = "cortex-m4f"
needs_arm = pytest.mark.skipif(
    toolchain_missing(get_arch(M4F)) is not None, reason=str(toolchain_missing(get_arch(M4F)))
)


@pytest.fixture(scope="module")
def iris_forest() -> tuple[RandomForestClassifier, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return RandomForestClassifier(n_estimators=6, max_depth=5, random_state=0).fit(X, y), X


# ------------------------------------------------------------------------------------------ estimates
def test_estimate_needs_no_compiler_and_is_close_to_the_measurement(
    iris_forest: tuple[RandomForestClassifier, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    forest, X = iris_forest
    model = microlearn.convert(forest, method="inline")
    monkeypatch.setenv("PATH", "/nonexistent")  # no compiler can run: the estimate compiles nothing
    est = model.estimate(M4F)
    assert est.target == M4F and est.basis == "measured"
    assert est.flash_bytes == est.code_bytes + est.const_bytes > 0
    assert model.estimate("m0+").target == "cortex-m0plus"  # aliases
    with pytest.raises(InvalidInputError, match="microcontroller targets"):
        model.estimate("host")
    monkeypatch.undo()
    if toolchain_missing(get_arch(M4F)) is None:
        report = microlearn.verify(forest, X[:20], targets=[M4F], method="inline")
        measured = report[M4F].flash_bytes
        assert measured is not None
        assert abs(est.flash_bytes - measured) <= 0.15 * measured
        assert report[M4F].estimate == est  # verify shows the same estimate beside the measurement
        assert "est. flash B" in str(report)


def test_estimate_grows_with_the_model_for_code_methods() -> None:
    X, y = load_digits(return_X_y=True)
    small = microlearn.convert(RandomForestClassifier(3, max_depth=4, random_state=0).fit(X, y), "inline")
    big = microlearn.convert(RandomForestClassifier(9, max_depth=8, random_state=0).fit(X, y), "inline")
    assert big.estimate(M4F).code_bytes > 3 * small.estimate(M4F).code_bytes


def test_a_family_without_a_measured_row_falls_back_to_its_generated_c() -> None:
    from microlearn.dsp import FeatureExtractor

    fx = FeatureExtractor(window=8, n_axes=3)
    fx.fit(np.zeros((2, 24)))
    model = microlearn.convert(fx)
    est = model.estimate(M4F)
    assert est.basis == "generic"
    assert est.const_bytes == model.c_source("x").const_bytes
    assert est.code_bytes > 0 and "generic" in str(est)


def test_sizes_and_budgets_are_read_like_a_person_writes_them() -> None:
    assert parse_size("32k") == 32768 and parse_size("1M") == 1 << 20 and parse_size(4096) == 4096
    assert parse_size("64 KiB") == 65536
    for bad in ("lots", "-3k", 0):
        with pytest.raises(InvalidInputError, match=r"size|positive"):
            parse_size(bad)
    with pytest.raises(InvalidInputError, match="unknown budget key"):
        Budget.of({"rom": 3})
    check = BudgetCheck(M4F, 1100, 200, Budget(flash=1000, ram=400))
    assert not check.fits and check.flash_over == 100 and check.ram_over == -200
    assert "over by 100 B (10.0%)" in str(check) and "200 B (50.0%) to spare" in str(check)


# ------------------------------------------------------------------------------------------ budgets
@needs_arm
def test_verify_says_per_target_whether_the_model_fits(
    iris_forest: tuple[RandomForestClassifier, np.ndarray],
) -> None:
    forest, X = iris_forest
    probe = microlearn.verify(forest, X[:10], targets=[M4F, "cortex-m0plus"])
    f4, f0 = probe[M4F].flash_bytes, probe["cortex-m0plus"].flash_bytes
    assert f4 is not None and f0 is not None and f4 < f0
    limit = (f4 + f0) // 2
    targets = ["host", M4F, "cortex-m0plus"]
    report = microlearn.verify(forest, X[:10], targets=targets, budget={"flash": limit})
    assert report[M4F].budget is not None and report[M4F].fits
    assert report[M4F].budget.flash_over == f4 - limit
    assert not report["cortex-m0plus"].fits and not report.fits and not report.ok
    assert report["host"].budget is None  # no flash to budget on the host
    text = str(report)
    assert f"flash {f0:,} B of {limit:,} B: over by {f0 - limit:,} B" in text
    assert "to spare" in text


def test_far_over_budget_is_refused_before_compiling(
    iris_forest: tuple[RandomForestClassifier, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
) -> None:
    forest, X = iris_forest
    monkeypatch.setenv("MICROLEARN_CACHE_DIR", str(tmp_path))
    before = set(targets_cache_dir().iterdir())
    with pytest.raises(ModelTooLargeError) as e:
        microlearn.verify(forest, X[:10], targets=[M4F], method="inline", budget={"flash": 600})
    msg = str(e.value)
    assert "\n" not in msg and "inline on cortex-m4f needs about" in msg and "600 B" in msg
    assert set(targets_cache_dir().iterdir()) == before  # nothing was built


@needs_arm
def test_a_linker_overflow_is_one_clear_line() -> None:
    glue = (
        '#include <stdint.h>\n#include "ml_bench.h"\n'
        "static const uint8_t big[5u << 20] = {1};\n"
        "void ml_bench_entry(const void *in, void *out) {\n"
        "    *(uint8_t *)out = big[*(const uint32_t *)in % sizeof big];\n}\n"
    )
    with pytest.raises(ModelTooLargeError) as e:
        build_image({}, glue, M4F)
    msg = str(e.value)
    assert "\n" not in msg and "overflowed" not in msg.split(":")[0]
    assert "flash of cortex-m4f's 4,096 KiB overflowed by" in msg and "smaller model" in msg
    assert "region `FLASH'" not in msg and "ld:" not in msg


# ------------------------------------------------------------------------------------------ progress
def test_progress_bars_show_on_request_and_stay_quiet_otherwise(capfd: pytest.CaptureFixture[str]) -> None:
    src = {"p.c": f"int ml_progress_probe(void) {{ return {np.random.default_rng().integers(1 << 30)}; }}\n"}
    progress.configure(bars=True)
    try:
        import os

        os.environ["MICROLEARN_PROGRESS_DELAY"] = "0"
        host.compile_shared(src)
        assert list(progress.bar([1, 2], "rows")) == [1, 2]
    finally:
        os.environ.pop("MICROLEARN_PROGRESS_DELAY", None)
        progress.configure(bars=None)
    err = capfd.readouterr().err
    assert "compiling" in err and "MB of C for this machine" in err
    src2 = {"q.c": src["p.c"].replace("probe", "probe2")}
    host.compile_shared(src2)  # stderr is not a terminal here: quiet
    assert capfd.readouterr().err == ""


# ------------------------------------------------------------------------------------------ host builds
def test_a_host_compile_that_runs_too_long_is_stopped_with_a_message() -> None:
    src = {"t.c": f"int ml_timeout_probe(void) {{ return {np.random.default_rng().integers(1 << 30)}; }}\n"}
    with pytest.raises(ToolchainError, match="MICROLEARN_HOST_TIMEOUT") as e:
        host.compile_shared(src, timeout=0.001)
    assert "\n" not in str(e.value)


def test_huge_headers_compile_at_o0_and_predictions_take_the_small_method() -> None:
    X, y = load_digits(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    model = microlearn.convert(forest, method="fast")
    header = model.c_source("hostmodel").header
    assert len(header) > 4 * 1024 * 1024  # a "fast" header this size takes many minutes at -O2
    lib = model._host()
    assert lib.src.method == "table"  # same outputs (every method is exact), seconds to compile
    assert "-O0" in lib.cflags  # the table header itself is over the -O0 threshold
    np.testing.assert_array_equal(model.predict(X[:200]), forest.predict(X[:200].astype(np.float32)))
    small = microlearn.convert(RandomForestClassifier(2, max_depth=3, random_state=0).fit(X, y))
    assert "-O2" in HostLibrary(small.c_source("s")).cflags


# ------------------------------------------------------------------------------------------ float32 sums
def _regressor(scale: float) -> tuple[RandomForestRegressor, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = scale * (0.5 + 0.5 * (X[:, 0] > 0))
    return RandomForestRegressor(n_estimators=5, max_depth=3, random_state=0).fit(X, y), X


def test_a_regressor_whose_float32_sum_could_overflow_is_refused() -> None:
    forest, X = _regressor(3.0e38)  # every leaf fits float32; their sum over 5 trees does not
    leaf_sum = np.float32(0)
    with np.errstate(over="ignore"):
        for t in forest.estimators_:
            leaf_sum += np.float32(np.abs(t.tree_.value).max())
    assert np.isinf(leaf_sum)  # what the device's float32 sum would reach
    assert np.all(np.isfinite(forest.predict(X)))  # while scikit-learn's float64 mean is finite
    with pytest.raises(InvalidInputError, match="scale the target") as e:
        microlearn.convert(forest)
    assert "float32" in str(e.value) and "\n" not in str(e.value)


def test_a_regressor_below_the_limit_sums_exactly_as_promised() -> None:
    forest, X = _regressor(1.0e37)  # sum of the largest leaves 5e37: no partial sum can overflow
    report = microlearn.verify(forest, X, targets=["host"])
    assert report["host"].agreement == 1.0
    assert np.all(np.isfinite(microlearn.convert(forest).predict(X)))
