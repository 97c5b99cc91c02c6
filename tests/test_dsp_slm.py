"""The sound level meter (ml_slm.h, mlrt.dsp_iir) against its numpy reference and acoustic facts."""

from __future__ import annotations

import numpy as np
import pytest

from microlearn.dsp import _sensor_backends as B  # noqa: N812
from microlearn.dsp import iir
from microlearn.errors import InvalidInputError

SR = 16000


def _noise(seconds: float, rms: float, seed: int = 0) -> np.ndarray:
    return rms * np.random.default_rng(seed).standard_normal(int(SR * seconds))


@pytest.mark.parametrize(("weighting", "tw"), [("A", "fast"), ("C", "slow"), ("Z", "fast")])
def test_c_matches_reference(weighting: str, tw: str) -> None:
    x = np.concatenate([_noise(0.7, 0.05), _noise(0.6, 0.3, 1), np.zeros(3000)])
    ref = iir.sound_level(x, SR, weighting, tw, interval=0.25, sensitivity_dbfs=-26)
    got = B.sound_level_c(x, SR, weighting, tw, interval=0.25, sensitivity_dbfs=-26)
    assert got.shape == ref.shape == (6, 3)
    np.testing.assert_allclose(got, ref, atol=0.01)


def test_micropython_matches_reference() -> None:
    x = _noise(0.5, 0.1)
    ref = iir.sound_level(x, SR, "A", "fast", interval=0.125)
    got = B.sound_level_micropython(x, SR, "A", "fast", interval=0.125)
    np.testing.assert_allclose(got, ref, atol=0.01)


@pytest.mark.parametrize("run", [iir.sound_level, B.sound_level_c])
def test_calibrated_1khz_tone_reads_94_db(run: object) -> None:
    t = np.arange(2 * SR) / SR
    amp = 10 ** (-26 / 20)  # -26 dBFS: the microphone's reading of 94 dB SPL
    x = amp * np.sin(2 * np.pi * 1000 * t)
    rows = run(x, SR, "A", "fast", 1.0, -26.0)  # type: ignore[operator]
    leq, lmax, lmin = rows[-1]
    assert abs(leq - 94.0) < 0.02
    assert 93.9 < lmin <= lmax < 94.1  # Fast (125 ms) has settled in the second interval


@pytest.mark.parametrize(("tw", "rate"), [("fast", 34.7), ("slow", 4.3)])
def test_decay_rate_after_tone_stops(tw: str, rate: float) -> None:
    # IEC 61672-1: after a steady signal stops, Fast decays at 34.7 dB/s and Slow at 4.3 dB/s.
    t = np.arange(3 * SR) / SR
    x = np.where(t < 2.0, 0.5 * np.sin(2 * np.pi * 1000 * t), 0.0)
    rows = B.sound_level_c(x, SR, "Z", tw, interval=0.1)
    lmin = rows[-5:, 2]  # Lmin of each 0.1 s interval of the silence is its end level
    decay = -np.diff(lmin).mean() / 0.1
    assert abs(decay - rate) < 0.1


def test_dbfs_without_sensitivity_and_silence_floor() -> None:
    t = np.arange(SR) / SR
    rows = B.sound_level_c(np.sin(2 * np.pi * 1000 * t), SR, "A", "fast")
    assert abs(rows[0, 0]) < 0.02  # a full-scale sine reads 0 dBFS
    sil = B.sound_level_c(np.zeros(1000), SR, "A", "fast")
    ref = iir.sound_level(np.zeros(1000), SR, "A", "fast")
    np.testing.assert_allclose(sil, ref, atol=1e-3)
    assert np.all(np.isfinite(sil))


def test_streaming_meter_equals_one_call() -> None:
    x = _noise(1.0, 0.2)
    m = iir.SoundLevelMeter(SR, "A", "fast", -30)
    for blk in np.array_split(x, 7):
        m.process(blk)
    np.testing.assert_allclose(m.read(), iir.sound_level(x, SR, "A", "fast", None, -30)[0], atol=1e-9)
    with pytest.raises(InvalidInputError, match="no samples"):
        m.read()


@pytest.mark.parametrize("run", [iir.sound_level, B.sound_level_c, B.sound_level_micropython])
def test_bad_input_rejected(run: object) -> None:
    x = np.ones(100)
    x[10] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        run(x, SR)  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match="time_weighting"):
        run(np.ones(10), SR, "A", "medium")  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match="interval"):
        run(np.ones(10), SR, "A", "fast", 0.0)  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match="sensitivity"):
        run(np.ones(10), SR, "A", "fast", None, 3.0)  # type: ignore[operator]


def test_c_block_with_nan_leaves_meter_unchanged() -> None:
    import ctypes

    from microlearn import host

    lib = host.build(
        {
            "slm_nan.c": '#include "ml_slm.h"\nint f(float *o);\nint f(float *o)\n{\n'
            "    static const float sos[6] = {1, 0, 0, 1, 0, 0};\n    ml_slm m;\n    ml_slm_levels lv;\n"
            "    const float good[4] = {0.5f, -0.5f, 0.5f, -0.5f};\n"
            "    float bad[2] = {0.5f, 0.0f};\n    int rc;\n    bad[1] = bad[1] / bad[1];\n"
            "    ml_slm_init(&m, sos, 1, 0.5f, 0.0f);\n    ml_slm_process(&m, good, 4);\n"
            "    rc = ml_slm_process(&m, bad, 2);\n    ml_slm_read(&m, &lv);\n"
            "    o[0] = lv.leq;\n    o[1] = (float)lv.n_samples;\n    o[2] = (float)ml_slm_read(&m, &lv);\n"
            "    return rc;\n}\n"
        }
    )
    out = np.zeros(3, dtype=np.float32)
    rc = lib.f(ctypes.c_void_p(out.ctypes.data))
    assert rc == -9  # ML_E_NAN
    assert out[1] == 4  # only the good block counted
    assert abs(out[0] - 10 * np.log10(0.25)) < 1e-5
    assert out[2] == -11  # ML_E_STATE: reading an empty interval is an error
