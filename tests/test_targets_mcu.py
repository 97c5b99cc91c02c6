"""MCU targets (cortex-m4f, cortex-m0plus, rv32imc): cross-compiled with the CPU's gcc, run on the emulated
CPU (unicorn), checked against the host C, hand-computed answers, scikit-learn (verify) and QEMU."""

from __future__ import annotations

import dataclasses
import re
import struct
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier

import microlearn
from microlearn.errors import InvalidInputError, ToolchainError
from microlearn.ir.base import Task
from microlearn.targets import mcu
from microlearn.targets.base import Artifacts
from microlearn.targets.mcu import McuTarget, build_image, get_arch, run_qemu
from microlearn.targets.mcu.arch import ARCHS, CORTEX_M0PLUS, RV32IMC, Qemu, instruction_count
from microlearn.targets.mcu.emulator import Emulator

CPUS = ["cortex-m4f", "cortex-m0plus", "rv32imc"]
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


def test_instruction_lengths() -> None:
    # Thumb: movs r0,#1 (16-bit); bl (32-bit); vldr s15,[r0] (32-bit); bx lr (16-bit)
    code = (
        bytes.fromhex("0120") + bytes.fromhex("00f068f8") + bytes.fromhex("d0ed007a") + bytes.fromhex("7047")
    )
    assert instruction_count("thumb", code) == 4
    assert instruction_count("thumb", b"") == 0
    # RISC-V: addi a0,a0,1 (32-bit 0x00150513); c.li a0,1 (16-bit 0x4505); c.jr ra (16-bit 0x8082)
    code = bytes.fromhex("13051500") + bytes.fromhex("0545") + bytes.fromhex("8280")
    assert instruction_count("rvc", code) == 3
    with pytest.raises(InvalidInputError, match="instruction set"):
        instruction_count("mips", code)


def test_softfloat_names_are_classified_by_their_type() -> None:
    arm = get_arch("m0+")
    assert arm.softfloat(
        ["__aeabi_dadd", "__aeabi_f2d", "__aeabi_i2d", "__aeabi_cdcmple", "__aeabi_idiv"]
    ) == (
        ["__aeabi_cdcmple", "__aeabi_dadd", "__aeabi_i2d"],
        ["__aeabi_f2d"],
    )
    names = ["__adddf3", "__extendsfdf2", "__truncdfsf2", "__floatsidf", "__lesf2", "__udivdi3", "__sfputs_r"]
    assert RV32IMC.softfloat(names) == (
        ["__adddf3", "__floatsidf", "__truncdfsf2"],
        ["__extendsfdf2", "__lesf2"],
    )


@pytest.mark.parametrize("cpu", CPUS)
def test_tiny_classifier_and_regressor(cpu: str) -> None:
    run = mcu.measure_model(TINY_H, "tiny.h", "tiny", "classifier", TINY_X, cpu)
    assert run.outputs.dtype == np.int32
    np.testing.assert_array_equal(run.outputs, tiny_reference(TINY_X))
    assert run.flash_bytes is not None and run.flash_bytes > 0
    assert run.stack_bytes is not None and run.ram_bytes is not None and run.ram_bytes >= run.stack_bytes
    assert run.instructions_min is not None and run.instructions_max is not None
    assert 0 < run.instructions_min <= run.instructions_mean <= run.instructions_max  # type: ignore[operator]
    counts = run.extra["instructions"]
    assert counts[0] < counts[2]  # the first row leaves at the root, the third goes one level deeper

    reg = mcu.measure_model(TINYR_H, "tinyr.h", "tinyr", "regressor", TINY_X, cpu)
    assert reg.outputs.dtype == np.float32
    np.testing.assert_array_equal(reg.outputs, tinyr_reference(TINY_X))


def test_soft_float_routines_are_reported() -> None:
    m4 = mcu.measure_model(TINYR_H, "tinyr.h", "tinyr", "regressor", TINY_X, "m4f")
    m0 = mcu.measure_model(TINYR_H, "tinyr.h", "tinyr", "regressor", TINY_X, "m0plus")
    rv = mcu.measure_model(TINYR_H, "tinyr.h", "tinyr", "regressor", TINY_X, "rv32imc")
    assert m4.extra["softfloat_float"] == [] and m4.extra["softfloat_double"] == []
    assert "__aeabi_fmul" in m0.extra["softfloat_float"]
    assert {"__mulsf3", "__subsf3", "__lesf2"} <= set(rv.extra["softfloat_float"])
    assert rv.extra["softfloat_double"] == []
    for r in (m0, rv):
        assert r.extra["library_bytes"] > 0 and any("libgcc" in k for k in r.extra["library_members"])
        assert r.flash_bytes > m4.flash_bytes  # type: ignore[operator]


def test_sizes_and_counts_identical_across_two_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = []
    for i in range(2):
        monkeypatch.setenv("MICROLEARN_CACHE_DIR", str(tmp_path / f"cache{i}"))
        runs.append(mcu.measure_model(TINY_H, "tiny.h", "tiny", "classifier", TINY_X, "rv32imc"))
    a, b = runs
    assert a.extra["elf"] != b.extra["elf"]  # really built twice
    assert Path(a.extra["elf"]).read_bytes() == Path(b.extra["elf"]).read_bytes()
    for f in ("flash_bytes", "ram_bytes", "stack_bytes", "instructions_min", "instructions_max"):
        assert getattr(a, f) == getattr(b, f)
    np.testing.assert_array_equal(a.extra["instructions"], b.extra["instructions"])


@pytest.mark.parametrize("cpu", ["cortex-m4f", "rv32imc"])
def test_const_table_static_ram_and_stack_are_attributed(cpu: str) -> None:
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
    run = mcu.measure({}, glue, cpu, inputs, 4)
    assert np.frombuffer(run.outputs.tobytes(), "<f4").tolist() == [0.0, 0.0, 0.0]
    e = run.extra
    assert e["const_bytes"] >= 1024
    assert e["bss_bytes"] >= 256 and e["static_ram_bytes"] >= 256
    assert run.stack_bytes is not None and run.stack_bytes >= 400
    assert e["stack_usage"]["ml_bench_entry"] >= 400
    assert run.ram_bytes == e["static_ram_bytes"] + run.stack_bytes
    assert run.flash_bytes == e["code_bytes"] + e["const_bytes"] + e["data_bytes"] + e["library_bytes"]
    # the linker map and the section headers agree up to alignment padding (2 or 4 bytes in a few places)
    assert abs(e["image_flash_delta"] - run.flash_bytes) <= 16


@pytest.mark.parametrize("cpu", CPUS)
def test_baseline_costs_nothing(cpu: str) -> None:
    run = mcu.measure({}, mcu.BASELINE_GLUE, cpu, [b"\0" * 4], 0)
    assert run.flash_bytes == 0 and run.extra["library_members"] == {} and run.ram_bytes == 0
    assert run.instructions_max == 1  # bx lr / ret


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
    run = mcu.measure({}, glue, "cortex-m4f", [struct.pack("<I", v) for v in (0, 1, 2)], 4)
    assert np.frombuffer(run.outputs.tobytes(), "<u4").tolist() == [7, 5, 7]
    assert run.extra["instructions"].tolist() == [7, 7, 7]


def test_compressed_and_full_riscv_instructions_are_counted() -> None:
    glue = """#include "ml_bench.h"
__attribute__((naked)) void ml_bench_entry(const void *in, void *out) {
    __asm volatile(
        "lw a2, 0(a0)\\n"        /* c.lw */
        "li a3, 7\\n"            /* c.li */
        "beq a2, zero, 1f\\n"    /* c.beqz */
        ".option push\\n.option norvc\\n"
        "addi a3, a3, 2\\n"      /* 32-bit */
        "addi a3, a3, 2\\n"      /* 32-bit */
        ".option pop\\n"
        "1: sw a3, 0(a1)\\n"     /* c.sw */
        "ret\\n");              /* c.jr ra */
}
"""
    run = mcu.measure({}, glue, "rv32imc", [struct.pack("<I", v) for v in (0, 1)], 4)
    assert np.frombuffer(run.outputs.tobytes(), "<u4").tolist() == [7, 11]
    assert run.extra["instructions"].tolist() == [5, 7]


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "rv32imc"])
def test_hang_and_fault_are_clear_errors(cpu: str) -> None:
    hang = '#include "ml_bench.h"\nvoid ml_bench_entry(const void *in, void *out) { (void)in; (void)out;'
    hang += ' for (;;) { __asm volatile("nop"); } }\n'
    emu = Emulator(build_image({}, hang, cpu), max_instructions=10_000)
    with pytest.raises(ToolchainError, match="did not return"):
        emu.run([b"\0"], 4)
    fault = '#include <stdint.h>\n#include "ml_bench.h"\n'
    fault += "void ml_bench_entry(const void *in, void *out) { (void)in;"
    fault += " *(volatile uint32_t *)out = *(volatile const uint32_t *)0x10000000u; }\n"
    emu = Emulator(build_image({}, fault, cpu))
    with pytest.raises(ToolchainError, match="faulted"):
        emu.run([b"\0"], 4)


@pytest.mark.parametrize("cpu", CPUS)
def test_a_fault_under_qemu_ends_the_run_with_a_clear_error(cpu: str) -> None:
    undefined = ".word 0" if cpu == "rv32imc" else "udf #0"  # an undefined instruction on each CPU
    glue = '#include "ml_bench.h"\nvoid ml_bench_entry(const void *in, void *out) { (void)in; (void)out;'
    glue += f' __asm volatile("{undefined}"); }}\n'
    with pytest.raises(ToolchainError, match="call 0 of ml_bench_entry faulted on QEMU"):
        run_qemu({}, glue, [b"\0" * 4], 4, cpu=cpu, timeout=30)


def test_a_new_mcu_is_one_arch_record() -> None:
    """A Cortex-M3 (ARMv7-M without FPU) from one record: the Cortex-M harness, unicorn's M3, QEMU's
    mps2-an385; the generic build, emulator and QEMU check need nothing else."""
    m3 = dataclasses.replace(
        CORTEX_M0PLUS,
        name="cortex-m3",
        description="Cortex-M3 (ARMv7-M, no FPU)",
        cflags=("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"),
        emulation=dataclasses.replace(CORTEX_M0PLUS.emulation, uc_cpu="UC_CPU_ARM_CORTEX_M3"),
        qemu=Qemu("qemu-system-arm", "mps2-an385", "qemu-system-arm"),
        aliases=(),
    )
    glue = mcu.model_glue("tinyr.h", "tinyr", "regress")
    inputs = [r.tobytes() for r in TINY_X]
    run = mcu.measure({"tinyr.h": TINYR_H}, glue.text, m3, inputs, 4)
    np.testing.assert_array_equal(run.outputs.view("<f4").ravel(), tinyr_reference(TINY_X))
    assert "__aeabi_fmul" in run.extra["softfloat_float"]
    q = run_qemu({"tinyr.h": TINYR_H}, glue.text, inputs, 4, cpu=m3)
    np.testing.assert_array_equal(q.instructions, run.extra["instructions"])


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match="unknown CPU"):
        get_arch("cortex-m55")
    with pytest.raises(InvalidInputError, match="2-D"):
        mcu.measure_model(TINY_H, "tiny.h", "tiny", "classifier", np.zeros(3), "m4f")
    with pytest.raises(InvalidInputError, match="takes 2 features"):
        mcu.measure_model(TINY_H, "tiny.h", "tiny", "classifier", np.zeros((2, 3)), "m4f")
    with pytest.raises(InvalidInputError, match="task must be"):
        mcu.model_glue("tiny.h", "tiny", "ranker")
    with pytest.raises(InvalidInputError, match="not a C identifier"):
        mcu.model_glue("tiny.h", "tiny(x); evil", "classify")
    with pytest.raises(InvalidInputError, match="header name"):
        mcu.model_glue('tiny.h"\n#include "x.h', "tiny", "classify")


@pytest.mark.parametrize("cpu", ["cortex-m4f", "rv32imc"])
def test_missing_toolchain_names_the_packages(
    cpu: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packages = get_arch(cpu).apt_packages
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without the cross toolchain
    reason = McuTarget(cpu).available()
    assert reason is not None and packages in reason
    with pytest.raises(ToolchainError, match=packages):
        mcu.measure_model(TINY_H, "tiny.h", "tiny", "classifier", TINY_X, cpu)


def test_a_missing_c_library_names_the_packages() -> None:
    broken = dataclasses.replace(RV32IMC, cflags=(*RV32IMC.cflags, "--specs=ml-no-such-library.specs"))
    reason = McuTarget(broken).available()
    assert reason is not None and "ml-no-such-library.specs" in reason and RV32IMC.apt_packages in reason


def test_every_cpu_is_available_here() -> None:
    assert {name: McuTarget(name).available() for name in ARCHS} == dict.fromkeys(ARCHS)


# ---------------------------------------------------------------- glue generated from the task

MULTI_H = """#include <stdint.h>
#define MULTI_N_FEATURES 2
#define MULTI_N_CLASSES 2
static inline int32_t multi_predict(const float *x) { return x[0] > x[1] ? 0 : 1; }
static inline void multi_predict_proba(const float *x, float *out) {
    out[0] = x[0] > x[1] ? 0.75f : 0.25f;
    out[1] = 1.0f - out[0];
}
static inline void multi_predict_values(const float *x, float *out) {
    out[0] = x[0] + x[1];
    out[1] = x[0] - x[1];
}
static inline float multi_score(const float *x) { return x[0] * x[1]; }
static inline int multi_transform(const float *x, float *out) {
    if (x[0] < 0.0f) return 5;
    out[0] = 2.0f * x[0]; out[1] = x[1]; out[2] = x[0] + x[1];
    return 0;
}
"""
MULTI_X = np.array([[1.0, 2.0], [3.0, -1.0], [-2.0, 0.5]], np.float32)


@pytest.mark.parametrize(
    ("task", "n_outputs", "proba"),
    [(Task.CLASSIFY, 2, True), (Task.REGRESS, 2, False), (Task.SCORE, 1, False), (Task.TRANSFORM, 3, False)],
)
def test_glue_follows_the_task(task: Task, n_outputs: int, proba: bool) -> None:
    run = mcu.run_header(MULTI_H, "multi", task, MULTI_X, "rv32imc", n_outputs=n_outputs, proba=proba)
    a, b = MULTI_X[:, 0], MULTI_X[:, 1]
    if task is Task.CLASSIFY:
        np.testing.assert_array_equal(run.outputs, [1, 0, 1])
        assert run.proba is not None
        np.testing.assert_array_equal(run.proba, [[0.25, 0.75], [0.75, 0.25], [0.25, 0.75]])
    elif task is Task.REGRESS:
        np.testing.assert_array_equal(run.outputs, np.stack([a + b, a - b], axis=1))
    elif task is Task.SCORE:
        np.testing.assert_array_equal(run.outputs, a * b)
        np.testing.assert_array_equal(run.extra["predict"], [1, 0, 1])  # multi_predict, whatever it means
    else:
        np.testing.assert_array_equal(run.extra["status"], [0, 0, 5])
        np.testing.assert_array_equal(run.outputs[:2], np.stack([2 * a, b, a + b], axis=1)[:2])
        assert np.isnan(run.outputs[2]).all()  # the failed call has no outputs


# ---------------------------------------------------------------- real converted models


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    Xn = X.copy()
    Xn[::7, 3] = np.nan  # NaN routing on the CPU too
    return {
        "dtc": DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y),
        "rfc": RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0).fit(Xn, y),
        "rfr": RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0).fit(Xn, X[:, 0]),
    }


ROWS = np.vstack([X32[::3], np.array([[5.0, 3.0, np.nan, np.nan]], np.float32)])


def _art(est: Any, method: str = "table") -> Artifacts:
    """What verify hands a target."""
    model = microlearn.convert(est, method=method)
    return Artifacts(model.ir, model.method)


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("key", ["dtc", "rfc", "rfr"])
@pytest.mark.parametrize("method", ["table", "inline"])
def test_converted_models_agree_with_host(models: dict[str, Any], key: str, cpu: str, method: str) -> None:
    model = microlearn.convert(models[key], method=method)
    run = McuTarget(cpu).run(Artifacts(model.ir, model.method), ROWS)
    if model.ir.is_classifier:
        np.testing.assert_array_equal(run.outputs, model.predict_index(ROWS))
    else:
        np.testing.assert_array_equal(run.outputs, model.predict(ROWS))
    assert run.flash_bytes > 0 and run.stack_bytes is not None  # type: ignore[operator]
    assert run.instructions_min > 0  # type: ignore[operator]
    if cpu != "cortex-m4f":  # no FPU: the trees compare integer keys, never call a float comparison
        assert not [s for s in run.extra["softfloat_float"] if re.search(r"cmp|(le|ge|lt|gt|eq|ne)sf2", s)]


@pytest.mark.parametrize("key", ["rfc", "rfr"])
def test_verify_on_every_cpu(models: dict[str, Any], key: str) -> None:
    report = microlearn.verify(
        models[key], X[::5], targets=["host", "cortex-m4f", "m0plus", "rv32imc"], method="table"
    )
    assert [r.agreement for r in report.values()] == [1.0, 1.0, 1.0, 1.0]
    m4, m0, rv = report["cortex-m4f"], report["m0plus"], report["rv32imc"]
    for r in (m4, m0, rv):
        assert r.flash_bytes > 0 and r.ram_bytes > 0 and r.instructions_mean > 0  # type: ignore[operator]
        assert r.stack_bytes is not None and 0 < r.stack_bytes <= r.ram_bytes  # type: ignore[operator]
    assert m0.instructions_mean > m4.instructions_mean  # type: ignore[operator]
    assert rv.instructions_mean > m4.instructions_mean  # type: ignore[operator]
    if key == "rfc":  # the forest sums probabilities in double: libgcc's double routines on rv32imc
        assert "__adddf3" in rv.extra["softfloat_double"]
    assert "rv32imc" in str(report)


def test_more_trees_cost_more_flash_and_time() -> None:
    small = RandomForestClassifier(n_estimators=2, max_depth=4, random_state=0).fit(X, y)
    large = RandomForestClassifier(n_estimators=6, max_depth=4, random_state=0).fit(X, y)
    target = McuTarget("rv32imc")
    runs = [target.run(_art(e), X32[::10]) for e in (small, large)]
    assert runs[1].flash_bytes > runs[0].flash_bytes + 100  # type: ignore[operator]
    assert runs[1].instructions_mean > runs[0].instructions_mean  # type: ignore[operator]
    assert runs[1].extra["const_bytes"] > runs[0].extra["const_bytes"]


def test_probabilities_on_request_and_the_api_is_checked(models: dict[str, Any]) -> None:
    art = _art(models["rfc"])
    run = McuTarget("rv32imc", proba=True).run(art, ROWS[:8])
    host = microlearn.convert(models["rfc"])
    assert run.proba is not None
    np.testing.assert_array_equal(run.outputs, host.predict_index(ROWS[:8]))
    np.testing.assert_array_equal(run.proba, host.predict_proba(ROWS[:8]))
    src = art.c_source()
    with pytest.raises(InvalidInputError, match="has no mlmodel_score"):
        mcu.run_header(src.header, src.name, "score", ROWS[:2], "rv32imc", api=[f.name for f in src.api])


def test_feature_pipeline_runs_on_its_raw_windows() -> None:
    """A FeatureExtractor pipeline: the MCU gets the raw window (128 samples x 3 axes) per row."""
    from sklearn.pipeline import Pipeline

    from microlearn.dsp.features import FeatureExtractor

    rng = np.random.default_rng(0)
    W = rng.normal(0.0, 1.0, (60, 128 * 3)).astype(np.float32)
    W[::2, 0::3] *= 3.0  # class 1: more energy on the first axis
    labels = np.arange(60) % 2 == 0
    fx = FeatureExtractor(sr=50.0, bands=[(0.5, 2.0), (2.0, 8.0)])
    pipe = Pipeline([("f", fx), ("clf", RandomForestClassifier(3, max_depth=4, random_state=0))]).fit(
        W, labels
    )
    report = microlearn.verify(pipe, W[:6], targets=["rv32imc"])
    r = report["rv32imc"]
    assert r.agreement == 1.0 and r.n_rows == 6
    assert r.instructions_mean > 10_000  # type: ignore[operator]  # the features are computed on the CPU
    assert "__addsf3" in r.extra["softfloat_float"]


@pytest.mark.parametrize("cpu", CPUS)
def test_qemu_agrees_with_unicorn(models: dict[str, Any], cpu: str) -> None:
    """Outputs and per-call instruction counts from QEMU (mps2-an386: Cortex-M4, microbit: Cortex-M0,
    virt: RV32) equal the emulator's."""
    model = microlearn.convert(models["rfc"], method="table")
    src = {"mlmodel.h": model.to_c("mlmodel")}
    glue = mcu.model_glue("mlmodel.h", "mlmodel", "classify")
    inputs = [r.tobytes() for r in ROWS[::2].astype("<f4")]
    q = run_qemu(src, glue.text, inputs, 4, cpu=cpu)
    u = mcu.measure(src, glue.text, cpu, inputs, 4)
    assert len(q.outputs) == len(inputs)
    assert q.outputs == [bytes(r) for r in u.outputs]
    np.testing.assert_array_equal(q.instructions, u.extra["instructions"])


def test_cli_report(models: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from microlearn.cli import main

    joblib.dump(models["dtc"], tmp_path / "m.joblib")
    np.save(tmp_path / "X.npy", X[::10])
    rc = main(["report", str(tmp_path / "m.joblib"), "--target", "cortex-m0plus", "rv32imc", "--data",
               str(tmp_path / "X.npy"), "--method", "inline"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "cortex-m0plus" in out and "rv32imc" in out and "100.00%" in out and "soft-float" in out


@pytest.mark.parametrize("cpu", CPUS)
def test_native_and_python_block_hooks_count_the_same(models: dict[str, Any], cpu: str) -> None:
    model = microlearn.convert(models["rfc"], method="table")
    image = build_image({"m.h": model.to_c("m")}, mcu.model_glue("m.h", "m", "classify").text, cpu)
    inputs = [r.tobytes() for r in ROWS[:20]]
    fast, slow = Emulator(image, native=True), Emulator(image, native=False)
    out_f, n_f = fast.run(inputs, 4)
    out_s, n_s = slow.run(inputs, 4)
    assert out_f == out_s
    np.testing.assert_array_equal(n_f, n_s)
    assert fast.peak_stack() == slow.peak_stack() > 0
