"""Instructions per call and flash of the spectral blocks on emulated Cortex-M4F and M0+ (unicorn, gcc -Os):
ml_rfft (float32) and ml_rfft_q15 for n = 256, 512, 1024, one melspectrogram frame (512-point FFT, 40 mel
bands, slaney; window + FFT + power + filterbank, no log), one biquad section and a 4-section cascade
(ml_iir.h), each beside emlearn's eml_fft, eml_audio_melspectrogram and eml_iir in the same run.

Instructions are those of the call alone: the same glue without the call (it still copies the input) is
measured and subtracted. Flash is the glue and its data plus every library member (libgcc, libm) only the
measured image pulls in, against an empty image (targets.mcu.measure); for the FFTs that is the
function, the sine table it reads and the copy loop. Every output computed on the emulated CPU is checked
against numpy / librosa (``err``: max |C - reference| / max |reference|).

    .venv/bin/python benchmarks/dsp_audio.py
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal as ss

from microlearn.dsp import _audio_c, audio
from microlearn.targets import mcu
from microlearn.targets.base import TargetRun

CPUS = ("cortex-m4f", "cortex-m0plus")
FFT_SIZES = (256, 512, 1024)
N_BIQUAD = 256  # samples per biquad call
MEL = {"sr": 16000, "n_fft": 512, "n_mels": 40}
# the biquad glue zeroes the filter state; keep gcc from turning that loop into a call to libc's memset
NO_MEMSET = ["-fno-tree-loop-distribute-patterns"]


@dataclass
class Row:
    block: str
    impl: str
    cpu: str
    instructions: float
    per: str
    flash: int
    libs: str
    err: str


def _emlearn_include() -> str | None:
    spec = importlib.util.find_spec("emlearn")
    if spec is None or spec.origin is None:
        return None
    return str(Path(spec.origin).parent)


def _floats(name: str, v: np.ndarray) -> str:
    from microlearn.backends.c.common import array_lines, f32

    vals = [f32(x) for x in np.asarray(v, dtype=np.float32).ravel()]
    return f"static const float {name}[{len(vals)}] = {{\n{array_lines(vals)}\n}};\n"


def _with_call(glue: str) -> tuple[str, str]:
    """The glue, and the same glue with the measured call removed (lines marked CALL)."""
    base = "\n".join(line for line in glue.splitlines() if "/* CALL */" not in line) + "\n"
    return glue, base


# ---------------------------------------------------------------------------------------------- glue
def ml_rfft_glue(n: int) -> str:
    return f"""#include "ml_bench.h"
#include "ml_fft.h"
void ml_bench_entry(const void *in, void *out)
{{
    const float *x = (const float *)in;
    float *buf = (float *)out;
    int32_t i;
    for (i = 0; i < {n}; i++) buf[i] = x[i];
    (void)ml_rfft(buf, {n}); /* CALL */
}}
"""


def ml_rfft_q15_glue(n: int) -> str:
    return f"""#include "ml_bench.h"
#include "ml_fft.h"
void ml_bench_entry(const void *in, void *out)
{{
    const int16_t *x = (const int16_t *)in;
    int16_t *buf = (int16_t *)out;
    int32_t i;
    for (i = 0; i < {n}; i++) buf[i] = x[i];
    (void)ml_rfft_q15(buf, {n}); /* CALL */
}}
"""


def eml_fft_glue(n: int) -> str:
    """eml_fft_forward on n complex points (real = x, imag = 0), its cos/sin tables as const data."""
    k = np.arange(n // 2)
    return f"""#include "ml_bench.h"
#include <eml_fft.h>
{_floats("tw_cos", np.cos(2 * np.pi * k / n))}{_floats("tw_sin", np.sin(2 * np.pi * k / n))}
void ml_bench_entry(const void *in, void *out)
{{
    const float *x = (const float *)in;
    float *re = (float *)out, *im = re + {n};
    EmlFFT fft = {{ {n // 2}, (float *)tw_sin, (float *)tw_cos }};
    int i;
    for (i = 0; i < {n}; i++) {{ re[i] = x[i]; im[i] = 0.0f; }}
    (void)eml_fft_forward(fft, re, im, {n}); /* CALL */
}}
"""


def ml_mel_glue() -> tuple[dict[str, str], str]:
    head = _audio_c.audio_config_c("kws", **MEL)
    glue = f"""#include "ml_bench.h"
#include "kws.h"
void ml_bench_entry(const void *in, void *out)
{{
    float work[{MEL["n_fft"] + 2}];
    (void)in; (void)out; (void)work;
    (void)ml_mel_frame(&kws_mel, kws_window, (const float *)in, work, (float *)out); /* CALL */
}}
"""
    return {"kws.h": head}, glue


def eml_mel_glue() -> str:
    n = MEL["n_fft"]
    k = np.arange(n // 2)
    return f"""#include "ml_bench.h"
#include <eml_audio.h>
{_floats("tw_cos", np.cos(2 * np.pi * k / n))}{_floats("tw_sin", np.sin(2 * np.pi * k / n))}
void ml_bench_entry(const void *in, void *out)
{{
    static float frame[{n}], temp[{n}];
    const float *x = (const float *)in;
    EmlFFT fft = {{ {n // 2}, (float *)tw_sin, (float *)tw_cos }};
    EmlAudioMel mel = {{ {MEL["n_mels"]}, 0.0f, {MEL["sr"] / 2:.1f}f, {n}, {MEL["sr"]} }};
    EmlVector io = {{ frame, {n} }}, tmp = {{ temp, {n} }};
    int i;
    for (i = 0; i < {n}; i++) frame[i] = x[i];
    (void)eml_audio_melspectrogram(mel, fft, io, tmp); /* CALL */
    for (i = 0; i < {MEL["n_mels"]}; i++) ((float *)out)[i] = frame[i];
}}
"""


def biquad_glue(n_sections: int) -> tuple[dict[str, str], str]:
    from microlearn.dsp import iir

    sos = ss.butter(2 * n_sections, 0.1, output="sos")
    src = {"filt.h": '#include "ml_iir.h"\n' + iir.sos_c("filt", sos)}
    glue = f"""#include "ml_bench.h"
#include "filt.h"
void ml_bench_entry(const void *in, void *out)
{{
    float zi[2 * FILT_N_SECTIONS];
    ml_iir_reset(zi, FILT_N_SECTIONS);
    (void)in; (void)out; (void)zi;
    (void)ml_sosfilt(filt_sos, FILT_N_SECTIONS, zi, (const float *)in, (float *)out, {N_BIQUAD}); /* CALL */
}}
"""
    return src, glue


def eml_iir_glue(n_sections: int) -> str:
    sos = ss.butter(2 * n_sections, 0.1, output="sos")
    return f"""#include "ml_bench.h"
#include <eml_iir.h>
{_floats("coef", sos)}
void ml_bench_entry(const void *in, void *out)
{{
    float st[{4 * n_sections}];
    EmlIIR f = {{ {n_sections}, st, {4 * n_sections}, coef, {sos.size} }};
    const float *x = (const float *)in;
    float *y = (float *)out;
    int i;
    for (i = 0; i < {4 * n_sections}; i++) st[i] = 0.0f;
    (void)x; (void)y; (void)f;
    eml_iir_check(f); /* CALL */
    for (i = 0; i < {N_BIQUAD}; i++) y[i] = eml_iir_filter(f, x[i]); /* CALL */
}}
"""


# ---------------------------------------------------------------------------------------------- measure
def _measure(
    sources: dict[str, str],
    glue: str,
    cpu: str,
    inputs: list[bytes],
    out_size: int,
    inc: list[str],
    cflags: list[str] | None = None,
) -> tuple[TargetRun, float]:
    full, base = _with_call(glue)
    fl = cflags or []
    r = mcu.measure(sources, full, cpu, inputs, out_size, include_dirs=inc, cflags=fl)
    b = mcu.measure(sources, base, cpu, inputs[:1], out_size, include_dirs=inc, cflags=fl)
    return r, (r.instructions_mean or 0.0) - (b.instructions_mean or 0.0)


def _libs(r: TargetRun) -> str:
    members = r.extra.get("library_members", {})
    names = sorted({m.split("(")[0].replace(".a", "") for m in members})
    dbl = r.extra.get("softfloat_double", [])
    s = ", ".join(names) if names else "none"
    return s + (" (soft double)" if dbl else "")


def _err(got: np.ndarray, ref: np.ndarray) -> str:
    return f"{float(np.abs(got - ref).max() / np.abs(ref).max()):.1e}"


def _same(got: np.ndarray, host: np.ndarray) -> str:
    return ", = host C" if np.array_equal(got, host) else ", differs from host C"


def run() -> list[Row]:
    rng = np.random.default_rng(0)
    inc = _emlearn_include()
    incs = [inc] if inc else []
    rows: list[Row] = []

    def add(block: str, impl: str, cpu: str, m: tuple[TargetRun, float], err: str, per: int = 0) -> None:
        r, ins = m
        rows.append(
            Row(block, impl, cpu, ins, f"{ins / per:.1f}" if per else "", r.flash_bytes, _libs(r), err)
        )

    for cpu in CPUS:
        for n in FFT_SIZES:
            xs = [(0.5 * rng.standard_normal(n)).astype(np.float32) for _ in range(2)]
            blobs = [x.tobytes() for x in xs]
            ref = np.fft.rfft(np.array(xs, dtype=np.float64))
            host = _audio_c.rfft(np.array(xs))
            for label, flags in (("", []), (" (ML_FFT_MAX_N 512)", ["-DML_FFT_MAX_N=512"])):
                if flags and n > 512:
                    continue
                m = _measure({}, ml_rfft_glue(n), cpu, blobs, 4 * (n + 2), [], flags)
                got = m[0].outputs.view("<f4").reshape(2, -1).view(np.complex64)
                add(f"rfft {n}", "microlearn ml_rfft" + label, cpu, m, _err(got, ref) + _same(got, host))
            q = np.array([np.clip(np.round(x * 16384.0), -32768, 32767) for x in xs], dtype=np.int16)
            m = _measure({}, ml_rfft_q15_glue(n), cpu, [v.tobytes() for v in q], 2 * (n + 2), [])
            gq = m[0].outputs.view("<i2").reshape(2, -1)
            refq = np.fft.rfft(q.astype(np.float64)) / n
            lsb = float(np.abs(gq.astype(np.float64) - refq.view(np.float64)[:, : n + 2]).max())
            add(
                f"rfft {n}",
                "microlearn ml_rfft_q15",
                cpu,
                m,
                f"{lsb:.1f} LSB" + _same(gq, _audio_c.rfft_q15_raw(q, n)),
            )
            if inc:
                m = _measure({}, eml_fft_glue(n), cpu, blobs, 8 * n, incs)
                o = m[0].outputs.view("<f4").reshape(2, 2, n)
                add(
                    f"rfft {n}",
                    "emlearn eml_fft",
                    cpu,
                    m,
                    _err((o[:, 0] + 1j * o[:, 1])[:, : n // 2 + 1], ref),
                )

        nf, sr, nm = MEL["n_fft"], MEL["sr"], MEL["n_mels"]
        frames = [(0.3 * rng.standard_normal(nf)).astype(np.float32) for _ in range(2)]
        blobs = [f.tobytes() for f in frames]
        ref = np.stack(
            [audio.melspectrogram(f, sr=sr, n_fft=nf, n_mels=nm, center=False)[:, 0] for f in frames]
        )
        host = np.stack(
            [_audio_c.melspectrogram(f, sr=sr, n_fft=nf, n_mels=nm, center=False)[:, 0] for f in frames]
        )
        src, glue = ml_mel_glue()
        for label, flags in (("", []), (" (ML_FFT_MAX_N 512)", ["-DML_FFT_MAX_N=512"])):
            m = _measure(src, glue, cpu, blobs, 4 * nm, [], flags)
            got = m[0].outputs.view("<f4").reshape(2, -1)
            add(
                "mel frame 512/40",
                "microlearn ml_mel_frame" + label,
                cpu,
                m,
                _err(got, ref) + _same(got, host),
            )
        if inc:
            m = _measure({}, eml_mel_glue(), cpu, blobs, 4 * nm, incs)
            add("mel frame 512/40", "emlearn eml_audio_melspectrogram", cpu, m, "(htk mel, unnormalised)")

        xb = [rng.standard_normal(N_BIQUAD).astype(np.float32).tobytes() for _ in range(2)]
        for ns in (1, 4):
            src, glue = biquad_glue(ns)
            m = _measure(src, glue, cpu, xb, 4 * N_BIQUAD, [], NO_MEMSET)
            add(f"biquad x{ns}", "microlearn ml_sosfilt", cpu, m, "", N_BIQUAD)
            if inc:
                m = _measure({}, eml_iir_glue(ns), cpu, xb, 4 * N_BIQUAD, incs, NO_MEMSET)
                add(f"biquad x{ns}", "emlearn eml_iir", cpu, m, "", N_BIQUAD)
    return rows


def table(rows: list[Row]) -> str:
    """Markdown: one line per block and implementation, M4F and M0+ side by side."""
    keys: list[tuple[str, str]] = []
    by: dict[tuple[str, str, str], Row] = {}
    for r in rows:
        if (r.block, r.impl) not in keys:
            keys.append((r.block, r.impl))
        by[(r.block, r.impl, r.cpu)] = r
    out = [
        "| block | implementation | M4F instructions | M4F flash B | M4F libraries | M0+ instructions "
        "| M0+ flash B | M0+ libraries | max err |",
        "|---|---|---:|---:|---|---:|---:|---|---|",
    ]
    for block, impl in keys:
        cells = []
        for cpu in CPUS:
            r = by.get((block, impl, cpu))
            if r is None:
                cells += ["", "", ""]
                continue
            ins = f"{r.instructions:,.0f}" + (f" ({r.per}/sample)" if r.per else "")
            cells += [ins, f"{r.flash:,}", r.libs]
        errs = [by[(block, impl, c)].err for c in CPUS if (block, impl, c) in by]
        err = errs[0].replace(
            ", = host C", ", = host C on both" if all("= host C" in e for e in errs) else ""
        )
        out.append(f"| {block} | {impl} | " + " | ".join(cells) + f" | {err} |")
    return "\n".join(out)


def goals(rows: list[Row]) -> list[str]:
    """The targets on Cortex-M4F, each with the measured figure and whether it is met."""
    by = {(r.block, r.impl, r.cpu): r for r in rows}
    m4 = CPUS[0]
    fft = by[("rfft 512", "microlearn ml_rfft", m4)]
    mel = by[("mel frame 512/40", "microlearn ml_mel_frame", m4)]
    bq1 = by[("biquad x1", "microlearn ml_sosfilt", m4)]
    bq4 = by[("biquad x4", "microlearn ml_sosfilt", m4)]
    per_section = max(float(bq1.per), float(bq4.per) / 4)
    checks = [
        (f"rfft 512 <= 30,000 instructions: {fft.instructions:,.0f}", fft.instructions <= 30_000),
        (f"rfft 512 and mel frame link no library (libm, soft double): {fft.libs}, {mel.libs}",
         fft.libs == "none" and mel.libs == "none"),
        (f"mel frame <= 60,000 instructions: {mel.instructions:,.0f}", mel.instructions <= 60_000),
        (f"biquad <= 25 instructions per sample per section: {per_section:.1f}", per_section <= 25),
    ]  # fmt: skip
    return [f"- [{'x' if ok else ' '}] {text}" for text, ok in checks]


def main() -> None:
    if _emlearn_include() is None:
        print("emlearn is not installed: its rows are left out (pip install -e .[bench])", file=sys.stderr)
    rows = run()
    print(table(rows))
    print("\nGoals on Cortex-M4F:")
    print("\n".join(goals(rows)))


if __name__ == "__main__":
    main()
