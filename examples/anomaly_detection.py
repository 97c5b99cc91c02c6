"""Anomaly detection on a real gait recording: learn what normal walking looks like from a wrist
accelerometer, deploy the detector as C and MicroPython, and flag everything that is not walking in a
stream.

Data: BasicMotions (shipped inside the ``aeon`` package, loaded offline): 3-axis accelerometer and
gyroscope recordings of people walking, running, standing and playing badminton, 10 s at 10 Hz each.
Walking is the normal class; the other activities are the anomalies the detector has never seen.

1. Windows of 5 s (hop 1 s) of the accelerometer; features by ``microlearn.dsp.FeatureExtractor`` (per axis
   and the magnitude: standard deviation, peak-to-peak, energy in the 0.4-1.6 Hz gait band and above it),
   standardised, and an ``EllipticEnvelope`` fitted on walking windows only.
2. The threshold on the score is chosen on a validation split (held-out walking recordings and the other
   activities of the training split): the one with the best F1 for "not walking"; it becomes the
   estimator's ``offset_``, so ``predict`` applies it.
3. Deploy: one pipeline (features -> scaler -> detector) as a C header and a model file, checked by
   ``microlearn.verify`` on the host C, an emulated Cortex-M4F and the real MicroPython.
4. The test split is played back as one stream (recordings back to back); every window is scored by the
   generated C (and by mlrt in MicroPython), and the detection figures are printed: per window (those
   within one recording) and per recording (an alarm when most of its windows are flagged).

Run: ``python examples/anomaly_detection.py [--fast]`` (``--fast``: host and MicroPython only).
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.covariance import EllipticEnvelope
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import microlearn
from microlearn.dsp import FeatureExtractor
from microlearn.dsp.features import sliding_windows

SR = 10.0  # Hz
WINDOW, HOP = 50, 10  # samples: 5 s windows every 1 s
NORMAL = "walking"


def load() -> tuple[Any, Any, Any, Any]:
    from aeon.datasets import load_basic_motions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Xa, ya = load_basic_motions(split="train")
        Xb, yb = load_basic_motions(split="test")
    return Xa, ya, Xb, yb


def windows(cases: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Accelerometer windows of every recording (its first three channels), interleaved x y z."""
    return np.vstack([sliding_windows(c[:3].T, WINDOW, HOP) for c in cases])


def pipeline() -> Any:
    fx = FeatureExtractor(
        window=WINDOW, n_axes=3, stats=("std", "ptp"), sr=SR, bands=((0.4, 1.6), (1.6, 5.0))
    )
    return make_pipeline(fx, StandardScaler(), EllipticEnvelope(support_fraction=1.0, random_state=0))


def f1_figures(
    pred_anomaly: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_]
) -> tuple[float, float, float]:
    tp = float(np.sum(pred_anomaly & truth))
    precision = tp / max(1.0, float(np.sum(pred_anomaly)))
    recall = tp / max(1.0, float(np.sum(truth)))
    f1 = 2 * precision * recall / max(1e-12, precision + recall)
    return precision, recall, f1


def choose_threshold(scores: npt.NDArray[np.float64], anomalous: npt.NDArray[np.bool_]) -> float:
    """The score threshold (inlier when score >= it) with the best F1 for anomalies on validation."""
    best, best_f1 = float(np.min(scores)), -1.0
    cands = np.unique(scores)
    for lo, hi in itertools.pairwise(cands):
        t = (lo + hi) / 2
        f1 = f1_figures(scores < t, anomalous)[2]
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return best


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="verify on the host and MicroPython only")
    args = ap.parse_args(argv)
    Xa, ya, Xb, yb = load()

    # ---- 1. train on normal gait only (7 walking recordings), validate on the rest of the training split
    walk = np.flatnonzero(ya == NORMAL)
    train_cases = walk[:7]
    val_cases = np.setdiff1d(np.arange(len(ya)), train_cases)
    pipe = pipeline()
    pipe.fit(windows(Xa[train_cases]))

    # ---- 2. threshold on the validation split
    Wv = windows(Xa[val_cases])
    per = len(Wv) // len(val_cases)
    val_anom = np.repeat(ya[val_cases] != NORMAL, per)
    sv = pipe.score_samples(Wv)
    thr = choose_threshold(sv, val_anom)
    pipe[-1].offset_ = thr  # decision_function = score_samples - offset_: predict applies the threshold
    p, r, f = f1_figures(pipe.predict(Wv) == -1, val_anom)
    print(
        f"validation: {len(Wv)} windows, threshold {thr:.3f}: precision {p:.1%}, recall {r:.1%}, F1 {f:.1%}"
    )

    # ---- 3. deploy: C header + model file, checked on every target asked for
    model = microlearn.convert(pipe)
    out = Path(tempfile.mkdtemp(prefix="microlearn-anomaly-"))
    model.save_c(out / "gait_detector.h", name="gait_detector")
    model.save(out / "gait_detector.mlm")
    print(f"C header and model file in {out} ({len(model.to_bytes()):,} B model file)")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(yb))
    stream = np.hstack([Xb[i] for i in order])  # (6, n_samples): recordings back to back
    n_rec = Xb.shape[2]
    rec = np.repeat(np.arange(len(order)), n_rec)  # recording of each sample
    W = sliding_windows(stream[:3].T, WINDOW, HOP)
    starts = np.arange(len(W)) * HOP
    inside = rec[starts] == rec[starts + WINDOW - 1]  # windows within one recording (not a transition)
    truth = yb[order][rec[starts]] != NORMAL
    targets = ["host", "micropython"] if args.fast else ["host", "cortex-m4f", "micropython"]
    report = microlearn.verify(pipe, W[:: 32 if args.fast else 2], targets=targets)
    print(report)

    # ---- 4. score the stream with the generated C and with mlrt
    c_pred = model.predict(W)
    sk_pred = pipe.predict(W)
    from microlearn.micropython import run_model

    step = 16 if args.fast else 1
    mp_pred = run_model(model.to_bytes(), W[::step])[:, 1].astype(np.int64)  # (score, decision) per row
    print(
        f"stream: {len(W)} windows of {WINDOW / SR:.0f} s every {HOP / SR:.0f} s; the C's decision equals "
        f"scikit-learn's on {np.mean(c_pred == sk_pred):.1%} of them, mlrt's (MicroPython) on "
        f"{np.mean(mp_pred == sk_pred[::step]):.1%} of {len(mp_pred)}"
    )
    p, r, f = f1_figures((c_pred == -1)[inside], truth[inside])
    print(
        f"test windows within one recording ({int(inside.sum())}): precision {p:.1%}, recall {r:.1%}, "
        f"F1 {f:.1%}"
    )
    alarm = np.array([np.mean(c_pred[inside & (rec[starts] == k)] == -1) > 0.5 for k in range(len(order))])
    is_anom = yb[order] != NORMAL
    print(
        f"test recordings (alarm = most of its windows flagged): {int(alarm[is_anom].sum())} of "
        f"{int(is_anom.sum())} non-walking recordings raise one, {int(alarm[~is_anom].sum())} of "
        f"{int((~is_anom).sum())} walking recordings do"
    )
    agreement = min(x.agreement for x in report.values())
    return {
        "precision": p,
        "recall": r,
        "f1": f,
        "agreement": agreement,
        "c_equal": float(np.mean(c_pred == sk_pred)),
        "mp_equal": float(np.mean(mp_pred == sk_pred[::step])),
    }


if __name__ == "__main__":
    main()
