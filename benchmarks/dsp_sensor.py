"""Instructions per call of the sensor DSP blocks on emulated Cortex-M4F and M0+ (unicorn, gcc -Os):
one biquad section per sample, a 4-section cascade per sample, and the HAR feature set per 128-sample
3-axis window (11 statistics x 4 channels). The features computed on the CPU are checked bit for bit
against microlearn.dsp.features. With emlearn installed (``pip install -e .[bench]``) its eml_iir runs
beside ml_iir in the same run.

    .venv/bin/python benchmarks/dsp_sensor.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import scipy.signal as ss

from microlearn.dsp import features as F  # noqa: N812
from microlearn.dsp import iir
from microlearn.targets import mcu

N = 256  # samples per biquad call
CPUS = ("cortex-m4f", "cortex-m0plus")


def _biquad_glue(n_sections: int) -> tuple[dict[str, str], str]:
    sos = ss.butter(2 * n_sections, 0.1, output="sos")
    src = {"filt.h": '#include "ml_iir.h"\n' + iir.sos_c("filt", sos)}
    glue = f"""#include "ml_bench.h"
#include "filt.h"
void ml_bench_entry(const void *in, void *out)
{{
    float zi[2 * FILT_N_SECTIONS] = {{0}};
    (void)ml_sosfilt(filt_sos, FILT_N_SECTIONS, zi, (const float *)in, (float *)out, {N});
}}
"""
    return src, glue


def _empty_glue() -> str:
    return f"""#include "ml_bench.h"
void ml_bench_entry(const void *in, void *out)
{{
    float zi[2] = {{0}};
    (void)in; (void)out; (void)zi;
    /* {N} */
}}
"""


def _emlearn_glue(n_sections: int) -> tuple[dict[str, str], str, list[str]] | None:
    spec = importlib.util.find_spec("emlearn")
    if spec is None or spec.origin is None:
        return None
    inc = Path(spec.origin).parent
    sos = ss.butter(2 * n_sections, 0.1, output="sos").astype(np.float32)
    vals = ", ".join(f"{v!r}f" for v in sos.ravel().tolist())
    glue = f"""#include "ml_bench.h"
#include <eml_iir.h>
static const float coef[{sos.size}] = {{{vals}}};
void ml_bench_entry(const void *in, void *out)
{{
    float st[{4 * n_sections}] = {{0}};
    EmlIIR f = {{ {n_sections}, st, {4 * n_sections}, coef, {sos.size} }};
    const float *x = (const float *)in;
    float *y = (float *)out;
    int i;
    eml_iir_check(f);
    for (i = 0; i < {N}; i++) y[i] = eml_iir_filter(f, x[i]);
}}
"""
    return {}, glue, [str(inc)]


def _features_glue(cfg: F.FeatureConfig) -> tuple[dict[str, str], str]:
    src = {"har.h": '#include <stdint.h>\n#include "ml_features.h"\n' + F.features_c(cfg, "har")}
    glue = """#include "ml_bench.h"
#include "har.h"
void ml_bench_entry(const void *in, void *out)
{
    (void)har_features((const float *)in, (float *)out);
}
"""
    return src, glue


MP_TIMING = """
import json, time
from array import array
from mlrt.dsp_iir import sosfilt
from mlrt.dsp_features import Features
x = array('f', open('/x.bin', 'rb').read())
w = array('f', open('/w.bin', 'rb').read())
res = {}
def best(name, fn, per, k):
    b = 1e9
    for r in range(5):
        t = time.ticks_us()
        for i in range(k):
            fn()
        b = min(b, time.ticks_diff(time.ticks_us(), t))
    res[name] = b / per / k
for ns in (1, 4):
    sos = array('f', open('/sos%d.bin' % ns, 'rb').read())
    best('sosfilt %d' % ns, lambda: sosfilt(sos, x, array('f', bytes(8 * ns))), len(x), 40)
for name in ('plain', 'bands'):
    f = Features(json.loads(open('/%s.json' % name).read()))
    best('features ' + name, lambda: f.compute(w), 1, 20 if name == 'plain' else 3)
print(json.dumps(res))
"""


def micropython_timings(sos: dict[int, np.ndarray], cfgs: dict[str, F.FeatureConfig], w: np.ndarray) -> None:
    """µs per call of mlrt.dsp_iir / mlrt.dsp_features in the real MicroPython (WebAssembly)."""
    import json

    from microlearn import micropython as mpy

    x = np.random.default_rng(1).standard_normal(256).astype(np.float32)
    files = {**mpy.runtime_files(), "/x.bin": x.tobytes(), "/w.bin": w.astype(np.float32).tobytes()}
    for ns, s in sos.items():
        files[f"/sos{ns}.bin"] = s.astype(np.float32).tobytes()
    for name, c in cfgs.items():
        files[f"/{name}.json"] = json.dumps(c.to_dict()).encode()
    res = json.loads(mpy.run(MP_TIMING, files))
    mpy.close()
    print("\nMicroPython 1.27 (WebAssembly on Node; its clock counts whole ms), best of 5 timed loops:")
    for ns in sos:
        print(f"  mlrt.dsp_iir.sosfilt, {ns} section(s): {res[f'sosfilt {ns}']:.1f} µs per sample")
    print(f"  mlrt.dsp_features, HAR 128x3 (44): {res['features plain']:,.0f} µs per window")
    print(f"  mlrt.dsp_features, HAR + 3 bands (56): {res['features bands']:,.0f} µs per window")


def main() -> None:
    rng = np.random.default_rng(0)
    x = [rng.standard_normal(N).astype(np.float32).tobytes() for _ in range(3)]
    cfg = F.FeatureConfig(window=128, n_axes=3)
    W = (rng.standard_normal((3, 128, 3)) + np.array([0.0, 0.0, 9.81])).astype(np.float32)
    ref = F.compute(cfg, W)
    cfg_b = F.FeatureConfig(window=128, n_axes=3, sr=50.0, bands=((0.5, 3.0), (3.0, 8.0), (8.0, 20.0)))
    ref_b = F.compute(cfg_b, W)
    print(f"{'block':44s} {'cpu':14s} {'instr/call':>12s} {'per unit':>10s} {'flash B':>8s}")
    for cpu in CPUS:
        base = mcu.measure({}, _empty_glue(), cpu, x, 4 * N).instructions_mean or 0.0
        for ns in (1, 4):
            src, glue = _biquad_glue(ns)
            r = mcu.measure(src, glue, cpu, x, 4 * N)
            per = ((r.instructions_mean or 0) - base) / N
            print(
                f"{f'ml_sosfilt {ns} section(s), {N} samples':44s} {cpu:14s} {r.instructions_mean:12.0f} "
                f"{per:8.1f}/s {r.flash_bytes:8d}"
            )
            em = _emlearn_glue(ns)
            if em is not None:
                s2, g2, inc = em
                r2 = mcu.measure(s2, g2, cpu, x, 4 * N, include_dirs=inc)
                per2 = ((r2.instructions_mean or 0) - base) / N
                print(
                    f"{f'emlearn eml_iir {ns} section(s), {N} samples':44s} {cpu:14s} "
                    f"{r2.instructions_mean:12.0f} {per2:8.1f}/s {r2.flash_bytes:8d}"
                )
        for label, c, rf in (
            ("HAR features 128x3 (44)", cfg, ref),
            ("HAR features + 3 bands (56)", cfg_b, ref_b),
        ):
            src, glue = _features_glue(c)
            r = mcu.measure(src, glue, cpu, [w.tobytes() for w in W], 4 * c.n_features)
            got = r.outputs.view("<f4").reshape(len(W), -1)
            same = bool(np.array_equal(got, rf))
            print(
                f"{label:44s} {cpu:14s} {r.instructions_mean:12.0f} {'':>10s} {r.flash_bytes:8d}"
                f"  bit-identical to FeatureExtractor: {same}"
            )

    micropython_timings(
        {ns: ss.butter(2 * ns, 0.1, output="sos") for ns in (1, 4)}, {"plain": cfg, "bands": cfg_b}, W[0]
    )


if __name__ == "__main__":
    main()
