"""Speed and RAM of mlrt.dsp_fft / mlrt.dsp_mel: µs per call in the real MicroPython (WebAssembly on
Node) and in CPython, for the real FFT (rfft and power spectrum) of 256, 512 and 1024 points, one
512-point 40-mel frame (hann window, rfft, power, mel) and 13 MFCC of it (power_to_db + DCT). Also the
RAM the plans keep and the heap a call allocates (floats and complex numbers are heap objects on most
ports: this is garbage the GC reclaims, not growth).

With ``--unix-micropython PATH`` (a MicroPython unix-port binary) it times the same code there and checks
its results against numpy and librosa (the maximum error relative to the largest value): build the port
with single floats (``CFLAGS_EXTRA=-DMICROPY_FLOAT_IMPL=MICROPY_FLOAT_IMPL_FLOAT``) to see the rounding
of a single-float board.

    .venv/bin/python benchmarks/dsp_audio_micropython.py [--unix-micropython PATH]
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from microlearn import micropython as mpy
from microlearn.dsp import _audio_mp

SR, N_FFT, N_MELS, N_MFCC = 16000, 512, 40, 13
SIZES = (256, 512, 1024)

# Runs in MicroPython (any port); {d} is the directory holding mel.bin. Rounds of at least 200 ms (the
# WebAssembly build's clock moves in 1 ms steps), the best of 15 spread over 5 passes: the same work
# can take twice as long on a busy machine.
BENCH = """
import gc, math, time
from array import array
from mlrt.dsp_fft import RFFT
from mlrt.dsp_mel import MFCC, MelFilterbank, MelSpectrogram, power_to_db

REPS = {}

def best(name, fn):
    # calibrate once to rounds of >= 60 ms, then the best of 3 rounds
    reps = REPS.get(name, 0)
    if not reps:
        reps = 1
        while True:
            t = time.ticks_ms()
            for _ in range(reps):
                fn()
            if time.ticks_diff(time.ticks_ms(), t) >= 60:
                break
            reps *= 2
        REPS[name] = reps
    b = 1e30
    for _ in range(3):
        gc.collect()
        t = time.ticks_ms()
        for _ in range(reps):
            fn()
        b = min(b, time.ticks_diff(time.ticks_ms(), t) * 1000 / reps)
    return b

def alloc(fn):
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    fn()
    a = gc.mem_alloc() - a
    gc.enable()
    return a

def sig(n):
    return array('f', [math.sin(0.05 * i) + 0.3 * math.sin(1.3 * i + 0.5) for i in range(n)])

def kept_after_call(make, call):
    # RAM a plan keeps once it has run (its work list then holds its own numbers)
    gc.collect()
    a = gc.mem_alloc()
    obj = make()
    call(obj)
    gc.collect()
    return obj, gc.mem_alloc() - a

rows = {}
order = []
def row(name, fn, ram):
    us = best(name, fn)
    if name in rows:
        us = min(us, rows[name][0])
    else:
        order.append(name)
    rows[name] = (us, ram, alloc(fn))

fb = MelFilterbank('{d}/mel.bin')
dct = MFCC({n_mfcc}, fb.n_mels)
for rnd in range(5):  # passes spread each block's rounds over the run; the first warms up a JIT
    for n in {sizes}:
        x = sig(n)
        X = array('f', bytes(4 * (n + 2)))
        P = array('f', bytes(4 * (n // 2 + 1)))
        f, ram = kept_after_call(lambda: RFFT(n), lambda f: f.rfft(x, X))
        row('rfft %d' % n, lambda: f.rfft(x, X), ram)
        row('power spectrum %d' % n, lambda: f.power(x, P), ram)
    x = sig(fb.n_fft)
    mel = array('f', bytes(4 * fb.n_mels))
    ms, ram = kept_after_call(lambda: MelSpectrogram(fb, 'hann'), lambda ms: ms.frame(x, mel))
    row('mel frame %d -> %d' % (fb.n_fft, fb.n_mels), lambda: ms.frame(x, mel), ram + fb.nbytes)
    db = array('f', bytes(4 * fb.n_mels))
    cc = array('f', bytes(4 * {n_mfcc}))
    def mfcc():
        power_to_db(mel, 1.0, 1e-10, 80.0, db)
        dct.compute(db, cc)
    row('%d MFCC of the mel frame' % {n_mfcc}, mfcc, 4 * len(dct.table))
for name in order:
    print('%s|%.1f|%d|%d' % ((name,) + rows[name]))
"""

# Runs in a unix-port MicroPython in directory {d}: results for the accuracy check.
ACCURACY = """
import sys
sys.path.insert(0, '{d}')
from array import array
from mlrt.dsp_fft import RFFT
from mlrt.dsp_mel import MFCC, MelFilterbank, MelSpectrogram, power_to_db
out = open('{d}/out.bin', 'wb')
for n in {sizes}:
    f = RFFT(n)
    raw = open('{d}/x%d.bin' % n, 'rb').read()
    for r in range(len(raw) // (4 * n)):
        out.write(f.rfft(array('f', raw[4 * n * r:4 * n * (r + 1)])))
fb = MelFilterbank('{d}/mel.bin')
ms = MelSpectrogram(fb, 'hann')
dct = MFCC({n_mfcc}, fb.n_mels)
raw = open('{d}/frames.bin', 'rb').read()
n = fb.n_fft
for r in range(len(raw) // (4 * n)):
    mel = ms.frame(array('f', raw[4 * n * r:4 * n * (r + 1)]))
    out.write(mel)
    out.write(dct.compute(power_to_db(mel, 1.0, 1e-10, None)))
out.close()
"""


def parse(text: str) -> list[tuple[str, float, int, int]]:
    rows = []
    for line in text.strip().splitlines():
        name, us, ram, alloc = line.split("|")
        rows.append((name, float(us), int(ram), int(alloc)))
    return rows


def cpython_rows(blob: bytes) -> dict[str, float]:
    """µs per call of the same calls in this CPython (best of 15 rounds of at least 60 ms, in 5 passes)."""
    sys.path.insert(0, str(mpy.RUNTIME_DIR))
    from array import array

    from mlrt.dsp_fft import RFFT
    from mlrt.dsp_mel import MFCC, MelFilterbank, MelSpectrogram, power_to_db

    reps: dict[str, int] = {}

    def best(name: str, fn: Callable[[], Any]) -> float:
        if name not in reps:
            k = 1
            while True:
                t = time.perf_counter()
                for _ in range(k):
                    fn()
                if time.perf_counter() - t >= 0.06:
                    break
                k *= 2
            reps[name] = k
        b = math.inf
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(reps[name]):
                fn()
            b = min(b, (time.perf_counter() - t) / reps[name])
        return b * 1e6

    def sig(n: int) -> array[float]:
        i = np.arange(n)
        return array("f", (np.sin(0.05 * i) + 0.3 * np.sin(1.3 * i + 0.5)).astype(np.float32).tobytes())

    out: dict[str, float] = {}

    def row(name: str, fn: Callable[[], Any]) -> None:
        out[name] = min(out.get(name, math.inf), best(name, fn))

    fb = MelFilterbank(blob)
    ms = MelSpectrogram(fb, "hann")
    dct = MFCC(N_MFCC, N_MELS)
    for _ in range(5):
        for n in SIZES:
            f = RFFT(n)
            x = sig(n)
            X = array("f", bytes(4 * (n + 2)))
            P = array("f", bytes(4 * (n // 2 + 1)))
            row(f"rfft {n}", lambda f=f, x=x, X=X: f.rfft(x, X))
            row(f"power spectrum {n}", lambda f=f, x=x, P=P: f.power(x, P))
        x = sig(N_FFT)
        mel = array("f", bytes(4 * N_MELS))
        row(f"mel frame {N_FFT} -> {N_MELS}", lambda x=x, mel=mel: ms.frame(x, mel))
        db = array("f", bytes(4 * N_MELS))
        cc = array("f", bytes(4 * N_MFCC))

        def mfcc(mel: Any = mel, db: Any = db, cc: Any = cc) -> None:
            power_to_db(mel, 1.0, 1e-10, 80.0, db)
            dct.compute(db, cc)

        row(f"{N_MFCC} MFCC of the mel frame", mfcc)
    return out


def unix_port(binary: str, blob: bytes) -> tuple[list[tuple[str, float, int, int]], str, list[str]]:
    """Timings and accuracy of the same code in a unix-port MicroPython."""
    import librosa
    import scipy.fft

    rng = np.random.default_rng(0)
    sizes = (256, 512, 1024, 2048, 4096)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        shutil.copytree(mpy.RUNTIME_DIR / "mlrt", d / "mlrt")
        (d / "mel.bin").write_bytes(blob)
        xs = {n: rng.standard_normal((8, n)).astype(np.float32) for n in sizes}
        for n, x in xs.items():
            (d / f"x{n}.bin").write_bytes(x.tobytes())
        t = np.arange(SR) / SR
        y = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::256]
        (d / "frames.bin").write_bytes(np.ascontiguousarray(frames).tobytes())
        (d / "bench.py").write_text(f"import sys\nsys.path.insert(0, '{d}')\n" + bench_code(str(d)))
        (d / "acc.py").write_text(ACCURACY.format(d=d, sizes=sizes, n_mfcc=N_MFCC))
        version = subprocess.run(
            [binary, "-c", "import sys; print(sys.version)"], capture_output=True, text=True
        )
        single = subprocess.run([binary, "-c", "print(1.0 + 1e-9 == 1.0)"], capture_output=True, text=True)
        res = subprocess.run([binary, str(d / "bench.py")], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise SystemExit(f"unix port run failed:\n{res.stdout}{res.stderr}")
        acc = subprocess.run([binary, str(d / "acc.py")], capture_output=True, text=True, check=False)
        if acc.returncode != 0:
            raise SystemExit(f"unix port run failed:\n{acc.stdout}{acc.stderr}")
        raw = np.frombuffer((d / "out.bin").read_bytes(), dtype="<f4")
    floats = "single" if single.stdout.strip() == "True" else "double"
    notes = []
    o = 0
    for n, x in xs.items():
        k = x.shape[0] * (n + 2)
        X = raw[o : o + k].reshape(x.shape[0], n + 2).copy().view(np.complex64)
        o += k
        ref = np.fft.rfft(x.astype(np.float64))
        err = max(float(np.abs(g - r).max() / np.abs(r).max()) for g, r in zip(X, ref, strict=True))
        notes.append(f"rfft {n}: max |X - numpy| / max|numpy| = {err:.1e}")
    rest = raw[o:].reshape(frames.shape[0], N_MELS + N_MFCC)
    M = rest[:, :N_MELS].T.astype(np.float64)
    C = rest[:, N_MELS:].T.astype(np.float64)
    W = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS)
    spec = np.abs(np.fft.rfft(frames.astype(np.float64) * np.hanning(N_FFT + 1)[:-1], axis=1)) ** 2
    Mref = W @ spec.T
    Cref = scipy.fft.dct(librosa.power_to_db(Mref, top_db=None), type=2, norm="ortho", axis=0)[:N_MFCC]
    notes.append(f"mel frames: max |M - librosa| / max M = {np.abs(M - Mref).max() / Mref.max():.1e}")
    notes.append(
        f"MFCC: max |C - reference| = {np.abs(C - Cref).max():.1e} (largest |C| {np.abs(Cref).max():.0f})"
    )
    return parse(res.stdout), f"{version.stdout.strip()}, {floats} floats", notes


def bench_code(d: str) -> str:
    return BENCH.replace("{d}", d).replace("{sizes}", repr(SIZES)).replace("{n_mfcc}", str(N_MFCC))


def table(title: str, rows: list[tuple[str, float, int, int]], cpy: dict[str, float] | None) -> None:
    """With cpy: µs here and in CPython, heap per call; without (unix port): µs, RAM kept, heap per call.
    (The WebAssembly build's conservative GC keeps stray objects alive, so its kept-RAM figure is not
    printed.)"""
    print(title)
    if cpy is not None:
        print("| block | µs per call | CPython µs | heap allocated per call (B) |")
        print("|---|---:|---:|---:|")
        for name, us, _, alloc in rows:
            print(f"| {name} | {us:,.0f} | {cpy.get(name, float('nan')):,.0f} | {alloc:,} |")
    else:
        print("| block | µs per call | RAM kept by the plan (B) | heap allocated per call (B) |")
        print("|---|---:|---:|---:|")
        for name, us, ram, alloc in rows:
            print(f"| {name} | {us:,.0f} | {ram:,} | {alloc:,} |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--unix-micropython", metavar="PATH", help="a MicroPython unix-port binary")
    args = ap.parse_args()
    blob = _audio_mp.mel_filterbank_bytes(SR, N_FFT, N_MELS)
    print(f"mel filterbank file: {N_MELS} mels, n_fft {N_FFT}, sr {SR}: {len(blob):,} B")
    files = {**mpy.runtime_files(), "/d/mel.bin": blob}
    rows = parse(mpy.run(bench_code("/d"), files))
    cpy = cpython_rows(blob)
    table(
        f"MicroPython 1.27 (WebAssembly, Node; double floats) and CPython {sys.version.split()[0]}", rows, cpy
    )
    mpy.close()
    if args.unix_micropython:
        urows, version, notes = unix_port(args.unix_micropython, blob)
        table(f"MicroPython unix port: {version}", urows, None)
        for line in notes:
            print(line)


if __name__ == "__main__":
    main()
