"""The FeatureExtractor as a C pipeline stage: ``ml_features.h`` calls with the stage's const config.

The stage computes the same float32 operations in the same order as
:func:`microlearn.dsp.features.compute`, so its features are bit-identical to the reference."""

from __future__ import annotations

from microlearn.backends.c.registry import StageC, register_method, register_stage
from microlearn.backends.c.writer import CFunction, CSource, array_lines, check_c_name, header
from microlearn.backends.c.writer import f32 as lit
from microlearn.dsp.features import FeatureConfig, dft_tables
from microlearn.ir.features import FeatureStage


def features_c(cfg: FeatureConfig, name: str) -> str:
    """C (to paste in a header after ``#include "ml_features.h"``) defining
    ``int NAME_features(const float *window, float *out)``: the features of one window exactly as
    :func:`compute` gives them. Returns ML_FEAT_OK, or an error code (and no features) for a window
    with NaN, infinities or samples beyond +-1e8."""
    check_c_name(name)
    up = name.upper()
    idx = ", ".join(f"ML_FEAT_{s.upper()}" for s in cfg.stats) or "0"
    k = len(cfg.stats)
    nb = len(cfg.bands)
    per = k + nb
    tables = ""
    band_code = ""
    if nb:
        cos_t, sin_t = dft_tables(int(cfg.window))
        bins = cfg.band_bins()
        tables = f"""
/* DFT tables cos/sin(2*pi*j/{cfg.window}) in float32, and the bins [lo, hi) of each band. */
static const float {name}_cos[{cfg.window}] = {{
{array_lines([lit(v) for v in cos_t])}
}};
static const float {name}_sin[{cfg.window}] = {{
{array_lines([lit(v) for v in sin_t])}
}};
static const int16_t {name}_band_lo[{nb}] = {{{", ".join(str(lo) for lo, _ in bins)}}};
static const int16_t {name}_band_hi[{nb}] = {{{", ".join(str(hi) for _, hi in bins)}}};
"""
        band_code = f"""
        rc = ml_feat_bands(window, {cfg.window}, {cfg.n_axes}, ch, {name}_cos, {name}_sin, {name}_band_lo,
                           {name}_band_hi, {nb}, out + ch * {per} + {k});
        if (rc != ML_FEAT_OK) {{
            return rc;
        }}"""
    stats_code = ""
    if k:
        stats_code = f"""
        rc = ml_feat_stats(window, {cfg.window}, {cfg.n_axes}, ch, st);
        if (rc != ML_FEAT_OK) {{
            return rc;
        }}
        for (j = 0; j < {k}; j++) {{
            out[ch * {per} + j] = st[{name}_stat_index[j]];
        }}"""
    return f"""#define {up}_WINDOW {cfg.window}
#define {up}_N_AXES {cfg.n_axes}
#define {up}_N_FEATURES_OUT {cfg.n_features}

/* Statistics per channel, in output order ({", ".join(cfg.stats) or "none"}). */
static const uint8_t {name}_stat_index[{max(k, 1)}] = {{{idx}}};
{tables}
/* Features of one window of {cfg.window} samples x {cfg.n_axes} interleaved axes: {cfg.n_features} floats,
 * per channel ({", ".join(cfg.channel_names())}) {k} statistics then {nb} band energies. */
static inline int {name}_features(const float *window, float *out)
{{
    float st[ML_FEAT_N_STATS];
    int32_t ch, j;
    int rc = ml_feat_check(window, {cfg.n_inputs});
    (void)st;
    (void)j;
    (void){name}_stat_index;
    if (rc != ML_FEAT_OK) {{
        return rc;
    }}
    for (ch = 0; ch < {cfg.n_channels}; ch++) {{{stats_code}{band_code}
    }}
    return ML_FEAT_OK;
}}
"""


def emit_stage(stage: FeatureStage, prefix: str) -> StageC:
    cfg = stage.config
    nbytes = 1 * max(len(cfg.stats), 1)
    if cfg.bands:
        nbytes += 8 * int(cfg.window) + 4 * len(cfg.bands)
    text = features_c(cfg, prefix) + (
        f"\nstatic inline int {prefix}_transform(const float *in, float *out)\n{{\n"
        f"    return {prefix}_features(in, out);\n}}\n"
    )
    return StageC(text, ("ml_common.h", "ml_features.h"), nbytes)  # ml_features.h includes ml_common.h


register_stage(FeatureStage, emit_stage)


def emit(stage: FeatureStage, name: str, command: str = "") -> CSource:
    """A FeatureExtractor on its own: ``int NAME_transform(const float *x, float *out)``."""
    sc = emit_stage(stage, name)
    return header(
        stage,
        name,
        "features",
        sc.text,
        api=(CFunction("transform", "status", stage.n_outputs),),
        const_bytes=sc.const_bytes,
        runtime_headers=sc.runtime_headers,
        command=command,
        notes=(
            "x is one window of interleaved samples; out gets the features, bit-identical to",
            "microlearn.dsp.FeatureExtractor's. Returns 0, or an ML_FEAT_ERR_ code ("
            + stage.input_rule
            + ").",
        ),
    )


register_method(FeatureStage, "features", "ml_features.h calls with the window's const config", emit, True)
