"""Cortex-M targets: cross-compiled with arm-none-eabi-gcc, run on the emulated CPU (unicorn), checked
against the host C, against hand-computed answers and against QEMU."""

from __future__ import annotations

import struct
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier

import microlearn
from microlearn.errors import InvalidInputError, ToolchainError
from microlearn.targets import cortexm
from microlearn.targets.armbuild import build_image, get_cpu
from microlearn.targets.emulator import Emulator, thumb_instruction_count
from microlearn.targets.qemu import run_qemu

CPUS = ["cortex-m4f", "cortex-m0plus"]
X, y = load_iris(return_X_y=True)
X32 = X.astype(np.float32)

TINY_H = """#include <stdint.h>
#define TINY_N_FEATURES 2
#define TINY_N_CLASSES 3
static inline int32_t tiny_predict(const float *x) {
    if (x[0] <= 0.5f) return 0;
    return x[1] <= 2.0f ? 1 : 2;
}
"""
TINYR_H = """#include <stdint.h>
#define TINYR_N_FEATURES 2
static inline float tinyr_predict(const float *x) {
    return x[0] <= 0.5f ? 1.25f : x[1] * 0.5f - 3.0f;
}
"""
TINY_X = np.array([[0.0, 9.0], [0.5, 1.0], [0.6, 1.0], [0.6, 2.0], [3.0, 2.5], [-1.0, -7.0]], np.float32)


def tiny_reference(Xr: np.ndarray) -> np.ndarray:
    return np.where(Xr[:, 0] <= 0.5, 0, np.where(Xr[:, 1] <= 2.0, 1, 2))


def tinyr_reference(Xr: np.ndarray) -> np.ndarray:
    return np.where(Xr[:, 0] <= 0.5, np.float32(1.25), Xr[:, 1] * np.float32(0.5) - np.float32(3.0))


def test_thumb_instruction_lengths() -> None:
    # movs r0,#1 (16-bit); bl (32-bit); vldr s15,[r0] (32-bit); bx lr (16-bit)
    code = (
        bytes.fromhex("0120") + bytes.fromhex("00f068f8") + bytes.fromhex("d0ed007a") + bytes.fromhex("7047")
    )
    assert thumb_instruction_count(code) == 4
    assert thumb_instruction_count(b"") == 0


@pytest.mark.parametrize("cpu", CPUS)
def test_tiny_classifier_and_regressor(cpu: str) -> None:
    run = cortexm.measure_model(TINY_H, "tiny.h", "tiny", "classifier", TINY_X, cpu)
    assert run.outputs.dtype == np.int32
    np.testing.assert_array_equal(run.outputs, tiny_reference(TINY_X))
    assert run.flash_bytes is not None and run.flash_bytes > 0
    assert run.stack_bytes is not None and run.ram_bytes is not None and run.ram_bytes >= run.stack_bytes
    assert run.instructions_min is not None and run.instructions_max is not None
    assert 0 < run.instructions_min <= run.instructions_mean <= run.instructions_max  # type: ignore[operator]
    counts = run.extra["instructions"]
    assert counts[0] < counts[2]  # the first row leaves at the root, the third goes one level deeper

    reg = cortexm.measure_model(TINYR_H, "tinyr.h", "tinyr", "regressor", TINY_X, cpu)
    assert reg.outputs.dtype == np.float32
    np.testing.assert_array_equal(reg.outputs, tinyr_reference(TINY_X))


def test_soft_float_routines_are_reported() -> None:
    m4 = cortexm.measure_model(TINYR_H, "tinyr.h", "tinyr", "regressor", TINY_X, "m4f")
    m0 = cortexm.measure_model(TINYR_H, "tinyr.h", "tinyr", "regressor", TINY_X, "m0plus")
    assert m4.extra["softfloat_float"] == [] and m4.extra["softfloat_double"] == []
    assert "__aeabi_fmul" in m0.extra["softfloat_float"]
    assert m0.extra["library_bytes"] > 0 and any("libgcc" in k for k in m0.extra["library_members"])
    assert m0.flash_bytes > m4.flash_bytes  # type: ignore[operator]


def test_sizes_and_counts_identical_across_two_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = []
    for i in range(2):
        monkeypatch.setenv("MICROLEARN_CACHE_DIR", str(tmp_path / f"cache{i}"))
        runs.append(cortexm.measure_model(TINY_H, "tiny.h", "tiny", "classifier", TINY_X, "cortex-m0plus"))
    a, b = runs
    assert a.extra["elf"] != b.extra["elf"]  # really built twice
    assert Path(a.extra["elf"]).read_bytes() == Path(b.extra["elf"]).read_bytes()
    for f in ("flash_bytes", "ram_bytes", "stack_bytes", "instructions_min", "instructions_max"):
        assert getattr(a, f) == getattr(b, f)
    np.testing.assert_array_equal(a.extra["instructions"], b.extra["instructions"])


def test_const_table_static_ram_and_stack_are_attributed() -> None:
    glue = """#include <stdint.h>
#include "ml_bench.h"
static const float table[256] = {1.0f, 2.0f, 3.0f};
static float state[64];
void ml_bench_entry(const void *in, void *out) {
    volatile float scratch[100];
    uint32_t i = *(const uint32_t *)in & 255u;
    for (uint32_t k = 0; k < 100u; ++k) scratch[k] = table[(i + k) & 255u];
    state[i & 63u] += scratch[7];
    *(float *)out = state[i & 63u];
}
"""
    inputs = [struct.pack("<I", i) for i in (0, 1, 2)]
    run = cortexm.measure({}, glue, "cortex-m4f", inputs, 4)
    assert np.frombuffer(run.outputs.tobytes(), "<f4").tolist() == [0.0, 0.0, 0.0]
    e = run.extra
    assert e["const_bytes"] >= 1024
    assert e["bss_bytes"] >= 256 and e["static_ram_bytes"] >= 256
    assert run.stack_bytes is not None and run.stack_bytes >= 400
    assert e["stack_usage"]["ml_bench_entry"] >= 400
    assert run.ram_bytes == e["static_ram_bytes"] + run.stack_bytes
    assert run.flash_bytes == e["code_bytes"] + e["const_bytes"] + e["data_bytes"] + e["library_bytes"]
    # the linker map and the section headers agree up to alignment
    assert abs(e["image_flash_delta"] - run.flash_bytes) <= 8


def test_baseline_costs_nothing() -> None:
    run = cortexm.measure({}, cortexm.BASELINE_GLUE, "cortex-m4f", [b"\0" * 4], 0)
    assert run.flash_bytes == 0 and run.extra["library_members"] == {} and run.ram_bytes == 0
    assert run.instructions_max == 1  # bx lr


def test_it_block_instructions_count_when_their_condition_fails() -> None:
    glue = """#include "ml_bench.h"
__attribute__((naked)) void ml_bench_entry(const void *in, void *out) {
    __asm volatile(
        "ldr r2, [r0]\\n"
        "cmp r2, #1\\n"
        "ite eq\\n"
        "moveq r3, #5\\n"
        "movne r3, #7\\n"
        "str r3, [r1]\\n"
        "bx lr\\n");
}
"""
    run = cortexm.measure({}, glue, "cortex-m4f", [struct.pack("<I", v) for v in (0, 1, 2)], 4)
    assert np.frombuffer(run.outputs.tobytes(), "<u4").tolist() == [7, 5, 7]
    assert run.extra["instructions"].tolist() == [7, 7, 7]


def test_hang_and_fault_are_clear_errors() -> None:
    hang = '#include "ml_bench.h"\nvoid ml_bench_entry(const void *in, void *out) { (void)in; (void)out;'
    hang += ' for (;;) { __asm volatile("nop"); } }\n'
    emu = Emulator(build_image({}, hang, "cortex-m0plus"), max_instructions=10_000)
    with pytest.raises(ToolchainError, match="did not return"):
        emu.run([b"\0"], 4)
    fault = '#include <stdint.h>\n#include "ml_bench.h"\n'
    fault += "void ml_bench_entry(const void *in, void *out) { (void)in;"
    fault += " *(volatile uint32_t *)out = *(volatile const uint32_t *)0x10000000u; }\n"
    emu = Emulator(build_image({}, fault, "cortex-m4f"))
    with pytest.raises(ToolchainError, match="faulted"):
        emu.run([b"\0"], 4)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match="unknown CPU"):
        get_cpu("cortex-m55")
    with pytest.raises(InvalidInputError, match="2-D"):
        cortexm.measure_model(TINY_H, "tiny.h", "tiny", "classifier", np.zeros(3), "m4f")
    with pytest.raises(InvalidInputError, match="takes 2 features"):
        cortexm.measure_model(TINY_H, "tiny.h", "tiny", "classifier", np.zeros((2, 3)), "m4f")
    with pytest.raises(InvalidInputError, match="kind"):
        cortexm.model_glue("tiny.h", "tiny", "ranker")  # type: ignore[arg-type]


def test_missing_toolchain_names_the_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without the Arm toolchain
    with pytest.raises(
        ToolchainError, match="gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi"
    ):
        cortexm.measure_model(TINY_H, "tiny.h", "tiny", "classifier", TINY_X, "cortex-m4f")


# ---------------------------------------------------------------- real converted models


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    Xn = X.copy()
    Xn[::7, 3] = np.nan  # NaN routing on the CPU too
    return {
        "dtc": DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y),
        "rfc": RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0).fit(Xn, y),
        "rfr": RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0).fit(Xn, X[:, 0]),
    }


ROWS = np.vstack([X32[::3], np.array([[5.0, 3.0, np.nan, np.nan]], np.float32)])


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("key", ["dtc", "rfc", "rfr"])
@pytest.mark.parametrize("method", ["table", "inline"])
def test_converted_models_agree_with_host(models: dict[str, object], key: str, cpu: str, method: str) -> None:
    model = microlearn.convert(models[key], method=method)
    run = cortexm.run_model(model, ROWS, cpu)
    if model.ir.is_classifier:
        np.testing.assert_array_equal(run.outputs, model.predict_index(ROWS))
    else:
        np.testing.assert_array_equal(run.outputs, model.predict(ROWS))
    assert run.flash_bytes > 0 and run.stack_bytes is not None  # type: ignore[operator]
    assert run.instructions_min > 0  # type: ignore[operator]


def test_verify_on_both_cpus(models: dict[str, object]) -> None:
    report = microlearn.verify(
        models["rfc"], X[::5], targets=["host", "cortex-m4f", "m0plus"], method="table"
    )
    assert [r.agreement for r in report.values()] == [1.0, 1.0, 1.0]
    m4, m0 = report["cortex-m4f"], report["m0plus"]
    for r in (m4, m0):
        assert r.flash_bytes > 0 and r.ram_bytes > 0 and r.instructions_mean > 0  # type: ignore[operator]
    assert m0.instructions_mean > m4.instructions_mean  # type: ignore[operator]
    assert "cortex-m4f" in str(report)


@pytest.mark.parametrize("cpu", CPUS)
def test_qemu_agrees_with_unicorn(models: dict[str, object], cpu: str) -> None:
    """Outputs and per-call instruction counts from QEMU (mps2-an386: Cortex-M4, microbit: Cortex-M0)
    equal the emulator's."""
    model = microlearn.convert(models["rfc"], method="table")
    src = {"mlmodel.h": model.to_c("mlmodel")}
    glue = cortexm.model_glue("mlmodel.h", "mlmodel", "classifier")
    inputs = [r.tobytes() for r in ROWS[::2].astype("<f4")]
    q = run_qemu(src, glue, inputs, 4, cpu=cpu)
    u = cortexm.measure(src, glue, cpu, inputs, 4)
    assert len(q.outputs) == len(inputs)
    assert q.outputs == [bytes(r) for r in u.outputs]
    np.testing.assert_array_equal(q.instructions, u.extra["instructions"])


def test_cli_report(models: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from microlearn.cli import main

    joblib.dump(models["dtc"], tmp_path / "m.joblib")
    np.save(tmp_path / "X.npy", X[::10])
    rc = main(["report", str(tmp_path / "m.joblib"), "--target", "cortex-m4f", "cortex-m0plus", "--data",
               str(tmp_path / "X.npy"), "--method", "inline"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "cortex-m0plus" in out and "100.00%" in out and "soft-float" in out


@pytest.mark.parametrize("cpu", CPUS)
def test_native_and_python_block_hooks_count_the_same(models: dict[str, object], cpu: str) -> None:
    model = microlearn.convert(models["rfc"], method="table")
    image = build_image({"m.h": model.to_c("m")}, cortexm.model_glue("m.h", "m", "classifier"), cpu)
    inputs = [r.tobytes() for r in ROWS[:20]]
    fast, slow = Emulator(image, native=True), Emulator(image, native=False)
    out_f, n_f = fast.run(inputs, 4)
    out_s, n_s = slow.run(inputs, 4)
    assert out_f == out_s
    np.testing.assert_array_equal(n_f, n_s)
    assert fast.peak_stack() == slow.peak_stack() > 0
