"""The C (host, via ctypes) and MicroPython (WebAssembly) runs of the sensor blocks: sosfilt, sound_level
and window_features, taking the same arguments as their numpy references in iir.py and features.py."""

from __future__ import annotations

import ctypes
import functools
import json
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn import host
from microlearn.dsp import features as fx
from microlearn.dsp import iir
from microlearn.errors import InvalidInputError

F32 = npt.NDArray[np.float32]

_HOST_C = r"""
#include <stddef.h>
#include "ml_iir.h"
#include "ml_slm.h"
#include "ml_features.h"

int ml_host_sosfilt(const float *sos, int32_t ns, float *zi, const float *x, float *y, int32_t n);
int ml_host_slm(const float *sos, int32_t ns, float alpha, float offset, const float *x, int32_t n,
                int32_t interval, float *out);

int ml_host_sosfilt(const float *sos, int32_t ns, float *zi, const float *x, float *y, int32_t n)
{
    return ml_sosfilt(sos, ns, zi, x, y, n);
}

int ml_host_slm(const float *sos, int32_t ns, float alpha, float offset, const float *x, int32_t n,
                int32_t interval, float *out)
{
    ml_slm m;
    ml_slm_levels lv;
    int32_t i, r = 0;
    int rc = ml_slm_init(&m, sos, ns, alpha, offset);
    if (rc != 0) return rc;
    for (i = 0; i < n; i += interval) {
        int32_t k = (n - i < interval) ? n - i : interval;
        rc = ml_slm_process(&m, x + i, k);
        if (rc != 0) return rc;
        rc = ml_slm_read(&m, &lv);
        if (rc != 0) return rc;
        out[3 * r] = lv.leq;
        out[3 * r + 1] = lv.lmax;
        out[3 * r + 2] = lv.lmin;
        r++;
    }
    return 0;
}

"""


@functools.lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL:
    lib = host.build({"ml_host_sensor.c": _HOST_C})
    for f in ("ml_host_sosfilt", "ml_host_slm"):
        getattr(lib, f).restype = ctypes.c_int
    return lib


def _p(a: npt.NDArray[Any]) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def _f32(a: Any) -> F32:
    return np.ascontiguousarray(a, dtype=np.float32)


# ---------------------------------------------------------------------------------------------- sosfilt
def _sos_rows(sos: Any, x: Any, axis: int, zi: Any) -> tuple[F32, F32, F32, tuple[int, ...], Any]:
    s = _f32(iir.check_sos(sos))
    xa = iir._finite_signal(x)
    ax = axis % xa.ndim
    xm = np.moveaxis(xa, ax, -1)
    shape = xm.shape
    rows = _f32(xm.reshape(-1, shape[-1]))
    ns = s.shape[0]
    if zi is None:
        z = np.zeros((rows.shape[0], ns, 2), dtype=np.float32)
    else:
        za = iir._finite_signal(zi, "zi")
        want = (ns, *xa.shape[:ax], 2, *xa.shape[ax + 1 :])
        if za.shape != want:
            raise InvalidInputError(f"zi must have shape {want} for this sos and x; got {za.shape}")
        z = _f32(np.moveaxis(za, (0, ax + 1), (-2, -1)).reshape(-1, ns, 2))
    return s, rows, z, shape, ax


def _zf(z: F32, shape: tuple[int, ...], ax: int, ns: int) -> F32:
    zz = z.reshape((*shape[:-1], ns, 2))
    return np.ascontiguousarray(np.moveaxis(zz, (-2, -1), (0, ax + 1)))


def sosfilt_c(sos: Any, x: Any, axis: int = -1, zi: Any = None) -> Any:
    """sosfilt through ml_iir.h (float32), compiled for this machine."""
    s, rows, z, shape, ax = _sos_rows(sos, x, axis, zi)
    y = np.empty_like(rows)
    for r in range(rows.shape[0]):
        zr = np.ascontiguousarray(z[r])
        rc = _lib().ml_host_sosfilt(_p(s), s.shape[0], _p(zr), _p(rows[r]), _p(y[r]), rows.shape[1])
        if rc != 0:
            raise InvalidInputError(f"ml_sosfilt returned {rc}")
        z[r] = zr
    out = np.moveaxis(y.reshape(shape), -1, ax)
    return out if zi is None else (out, _zf(z, shape, ax, s.shape[0]))


def _mp(code: str, data: dict[str, bytes]) -> dict[str, bytes | None]:
    from microlearn import micropython

    files = {**micropython.runtime_files(), **data}
    return micropython.execute(code, files, outputs=["/out.bin"]).outputs


_MP_SOSFILT = """
from array import array
from mlrt.dsp_iir import sosfilt
sos = array('f', open('/sos.bin', 'rb').read())
raw = open('/x.bin', 'rb').read()
zraw = open('/zi.bin', 'rb').read()
n = {n}
ns = len(sos) // 6
out = open('/out.bin', 'wb')
for r in range(len(raw) // (4 * n)):
    zi = array('f', zraw[r * 8 * ns:(r + 1) * 8 * ns])
    y = sosfilt(sos, array('f', raw[r * 4 * n:(r + 1) * 4 * n]), zi)
    out.write(y)
    out.write(zi)
out.close()
"""


def sosfilt_micropython(sos: Any, x: Any, axis: int = -1, zi: Any = None) -> Any:
    """sosfilt through mlrt.dsp_iir in the real MicroPython (WebAssembly)."""
    s, rows, z, shape, ax = _sos_rows(sos, x, axis, zi)
    n, ns = rows.shape[1], s.shape[0]
    outs = _mp(
        _MP_SOSFILT.format(n=n),
        {"/sos.bin": s.tobytes(), "/x.bin": rows.tobytes(), "/zi.bin": z.tobytes()},
    )
    raw = np.frombuffer(outs["/out.bin"] or b"", dtype=np.float32).reshape(rows.shape[0], n + 2 * ns)
    y = np.ascontiguousarray(raw[:, :n])
    zf = np.ascontiguousarray(raw[:, n:]).reshape(-1, ns, 2)
    out = np.moveaxis(y.reshape(shape), -1, ax)
    return out if zi is None else (out, _zf(zf, shape, ax, ns))


# ---------------------------------------------------------------------------------------------- SLM
def _slm_args(
    x: Any, sr: float, weighting: str, time_weighting: str, interval: float | None, sensitivity_dbfs: Any
) -> tuple[F32, iir.SoundLevelMeter, int]:
    xa = iir._finite_signal(x)
    if xa.ndim != 1 or xa.size == 0:
        raise InvalidInputError(f"x must be a non-empty 1-D array of samples; got shape {xa.shape}")
    meter = iir.SoundLevelMeter(sr, weighting, time_weighting, sensitivity_dbfs)
    return _f32(xa), meter, iir.interval_samples(interval, sr, xa.size)


def sound_level_c(
    x: Any,
    sr: float,
    weighting: str = "A",
    time_weighting: str = "fast",
    interval: float | None = None,
    sensitivity_dbfs: float | None = None,
) -> npt.NDArray[np.float64]:
    """sound_level through ml_slm.h (float32), compiled for this machine."""
    x32, meter, n_int = _slm_args(x, sr, weighting, time_weighting, interval, sensitivity_dbfs)
    sos = _f32(meter.sos)
    rows = -(-x32.size // n_int)
    out = np.empty((rows, 3), dtype=np.float32)
    rc = _lib().ml_host_slm(
        _p(sos),
        sos.shape[0],
        ctypes.c_float(meter.alpha),
        ctypes.c_float(meter.offset_db),
        _p(x32),
        x32.size,
        n_int,
        _p(out),
    )
    if rc != 0:
        raise InvalidInputError(f"ml_slm returned {rc}")
    return out.astype(np.float64)


_MP_SLM = """
from array import array
from mlrt.dsp_iir import SoundLevelMeter
sos = array('f', open('/sos.bin', 'rb').read())
x = array('f', open('/x.bin', 'rb').read())
m = SoundLevelMeter(sos, {alpha!r}, {offset!r})
out = array('d')
n = {n_int}
for i in range(0, len(x), n):
    m.process(x[i:i + n])
    for v in m.read():
        out.append(v)
open('/out.bin', 'wb').write(out)
"""


def sound_level_micropython(
    x: Any,
    sr: float,
    weighting: str = "A",
    time_weighting: str = "fast",
    interval: float | None = None,
    sensitivity_dbfs: float | None = None,
) -> npt.NDArray[np.float64]:
    """sound_level through mlrt.dsp_iir in the real MicroPython (WebAssembly)."""
    x32, meter, n_int = _slm_args(x, sr, weighting, time_weighting, interval, sensitivity_dbfs)
    code = _MP_SLM.format(alpha=float(np.float32(meter.alpha)), offset=meter.offset_db, n_int=n_int)
    outs = _mp(code, {"/sos.bin": _f32(meter.sos).tobytes(), "/x.bin": x32.tobytes()})
    return np.frombuffer(outs["/out.bin"] or b"", dtype=np.float64).reshape(-1, 3).copy()


# ---------------------------------------------------------------------------------------------- features
def _feature_cfg(
    window: Any, stats: Any, magnitude: bool, sr: Any, bands: Any
) -> tuple[fx.FeatureConfig, F32, bool]:
    A = np.asarray(window)
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim not in (2, 3):
        raise InvalidInputError(f"window must be (samples, axes) or (windows, samples, axes); got {A.shape}")
    batch = A if A.ndim == 3 else A[None]
    cfg = fx.FeatureConfig(
        int(batch.shape[1]), int(batch.shape[2]), tuple(stats), bool(magnitude), sr, fx._bands(bands)
    )
    W = fx.as_windows(batch, cfg)
    return cfg, np.ascontiguousarray(W.reshape(W.shape[0], -1)), A.ndim == 3


def window_features_c(
    window: Any,
    stats: Any = fx.STATS,
    magnitude: bool = True,
    sr: float | None = None,
    bands: Any = (),
) -> F32:
    """window_features through ml_features.h (generated NAME_features), compiled for this machine."""
    cfg, W, batch = _feature_cfg(window, stats, magnitude, sr, bands)
    lib = _features_lib(cfg)
    out = np.empty((W.shape[0], cfg.n_features), dtype=np.float32)
    rc = lib.ml_host_features(_p(W), ctypes.c_int32(W.shape[0]), _p(out))
    if rc != 0:
        raise InvalidInputError(f"ml_features returned {rc}")
    return out if batch else out[0]


@functools.lru_cache(maxsize=16)
def _features_lib(cfg: fx.FeatureConfig) -> ctypes.CDLL:
    head = '#include <stdint.h>\n#include "ml_features.h"\n' + fx.features_c(cfg, "wf")
    src = (
        '#include <stddef.h>\n#include "wf.h"\n'
        "int ml_host_features(const float *W, int32_t n, float *out);\n"
        "int ml_host_features(const float *W, int32_t n, float *out)\n{\n"
        "    for (int32_t i = 0; i < n; i++) {\n"
        f"        int rc = wf_features(W + (size_t)i * {cfg.n_inputs}, out + (size_t)i * {cfg.n_features});\n"
        "        if (rc != 0) return rc;\n    }\n    return 0;\n}\n"
    )
    lib = host.build({"wf.h": head, "wf.c": src})
    lib.ml_host_features.restype = ctypes.c_int
    return lib


_MP_FEATURES = """
import json
from array import array
from mlrt.dsp_features import Features
f = Features(json.loads(open('/cfg.json').read()))
raw = open('/x.bin', 'rb').read()
k = 4 * f.window * f.n_axes
out = open('/out.bin', 'wb')
for r in range(len(raw) // k):
    out.write(array('f', f.compute(array('f', raw[r * k:(r + 1) * k]))))
out.close()
"""


def window_features_micropython(
    window: Any,
    stats: Any = fx.STATS,
    magnitude: bool = True,
    sr: float | None = None,
    bands: Any = (),
) -> F32:
    """window_features through mlrt.dsp_features in the real MicroPython (WebAssembly)."""
    cfg, W, batch = _feature_cfg(window, stats, magnitude, sr, bands)
    outs = _mp(_MP_FEATURES, {"/cfg.json": json.dumps(cfg.to_dict()).encode(), "/x.bin": W.tobytes()})
    out = np.frombuffer(outs["/out.bin"] or b"", dtype=np.float32).reshape(W.shape[0], cfg.n_features).copy()
    return out if batch else out[0]
