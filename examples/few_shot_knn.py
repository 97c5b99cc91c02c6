"""Few-shot learning on the device: a nearest-neighbour classifier that learns new classes from a handful of
labelled examples, in C (ml_neighbors.h, caller-owned buffers, no malloc) and in MicroPython (mlrt).

The model starts from scikit-learn's KNeighborsClassifier fitted on two examples of each of the digits 0,
1 and 2. The "device" then receives a few labelled examples of every other digit, one class after the
other, and adds them (``ml_neighbors_add`` in C, ``m.add`` in mlrt; a label one past the last class starts
a new class), then two more rounds of a few examples of every digit. After each step it classifies
held-out digits of every class seen so far and prints the accuracy; every prediction is checked against
scikit-learn's KNeighborsClassifier fitted on exactly the examples the device holds (agreement; rows
whose k-th neighbour is tied between classes are counted apart, docs/neighbors.md).

Run: ``python examples/few_shot_knn.py`` (C runs on this machine; MicroPython in the real interpreter
through WebAssembly when Node is available).
"""

from __future__ import annotations

import argparse
import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier

import microlearn
from microlearn import host
from microlearn import micropython as mp
from microlearn.frontends.registry import to_ir

DEVICE_C = r"""
#include "ml_neighbors.h"
/* The device's state lives in memory the caller owns: the model and its example buffers. */
size_t fs_state_size(void);
int fs_init(ml_neighbors *m, const double *x0, const uint16_t *y0, uint32_t n0, double *xbuf, uint16_t *ybuf,
            uint32_t capacity);
int fs_add(ml_neighbors *m, const float *x, uint32_t label);
void fs_classify(const ml_neighbors *m, const float *q, int32_t n, int32_t *out);

size_t fs_state_size(void) { return sizeof(ml_neighbors); }
int fs_init(ml_neighbors *m, const double *x0, const uint16_t *y0, uint32_t n0, double *xbuf, uint16_t *ybuf,
            uint32_t capacity)
{
    return ml_neighbors_init(m, N_FEATURES, MAX_CLASSES, K, ML_NEIGHBORS_EUCLIDEAN, xbuf, ybuf, capacity,
                             x0, y0, n0);
}
int fs_add(ml_neighbors *m, const float *x, uint32_t label) { return ml_neighbors_add(m, x, label); }
void fs_classify(const ml_neighbors *m, const float *q, int32_t n, int32_t *out)
{
    double dist[K];
    uint32_t idx[K], votes[MAX_CLASSES];
    int32_t i;
    for (i = 0; i < n; i++) {
        out[i] = ml_neighbors_classify(m, q + (size_t)i * N_FEATURES, dist, idx, votes);
    }
}
"""


@dataclass
class Step:
    n_classes: int
    n_examples: int
    accuracy_c: float
    accuracy_mp: float | None
    agreement_c: float
    agreement_mp: float | None
    n_tied: int


def _expected(xs: np.ndarray, ys: np.ndarray, k: int, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn fitted on the device's examples, and the rows its own tie order decides."""
    sk = KNeighborsClassifier(k).fit(xs.astype(np.float64), ys)
    ref = to_ir(sk).reference(Q)
    assert ref.ambiguous is not None
    return sk.predict(Q), ref.ambiguous


def run(
    shots: int = 3,
    k: int = 1,
    rounds: int = 2,
    capacity: int = 128,
    micropython: bool = True,
    quiet: bool = False,
) -> list[Step]:
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train, test = order[:600], order[600:]
    start = np.concatenate([train[y[train] == c][:2] for c in (0, 1, 2)])
    pool = {c: train[y[train] == c] for c in range(10)}
    cursor = {c: 2 if c < 3 else 0 for c in range(10)}

    def take(c: int) -> list[tuple[int, int]]:
        rows = pool[c][cursor[c] : cursor[c] + shots]
        cursor[c] += shots
        return [(c, int(r)) for r in rows]

    # one new digit per step, then rounds of more shots of every digit
    stream = [take(c) for c in range(3, 10)]
    stream += [[a for c in range(10) for a in take(c)] for _ in range(rounds)]
    base = KNeighborsClassifier(k).fit(X[start].astype(np.float64), y[start])
    n = X.shape[1]
    # --- C: the model's examples copied into the device's buffers, then the new ones added there
    lib = host.build(
        {"device.c": f"#define N_FEATURES {n}\n#define MAX_CLASSES 10\n#define K {k}\n" + DEVICE_C}
    )
    state = ctypes.create_string_buffer(int(lib.fs_state_size()))
    xbuf = np.zeros(capacity * n, dtype=np.float64)
    ybuf = np.zeros(capacity, dtype=np.uint16)
    x0 = np.ascontiguousarray(X[start], dtype=np.float64)
    y0 = np.ascontiguousarray(y[start], dtype=np.uint16)
    ptr = ctypes.c_void_p
    rc = lib.fs_init(state, ptr(x0.ctypes.data), ptr(y0.ctypes.data), len(start), ptr(xbuf.ctypes.data),
                     ptr(ybuf.ctypes.data), capacity)  # fmt: skip
    assert rc == 0, rc
    # --- MicroPython: the model file, then m.add(x, label) for every new example
    mp_script = "import mlrt\nm = mlrt.load('/m.mlm')\n"

    held, labels = list(start), list(y[start])
    steps: list[Step] = []
    queries = []
    for step_adds in stream:
        c = max(max(labels), max(a for a, _ in step_adds))
        for a, r in step_adds:
            x = np.ascontiguousarray(X[r])
            assert lib.fs_add(state, ptr(x.ctypes.data), a) == 0
            mp_script += f"m.add({[float(v) for v in x]}, {a})\n"
            held.append(r)
            labels.append(a)
        Q = np.ascontiguousarray(X[test[y[test] <= c]][:120])
        queries.append((c, Q))
        out = np.zeros(len(Q), dtype=np.int32)
        lib.fs_classify(state, ptr(Q.ctypes.data), len(Q), ptr(out.ctypes.data))
        rows_text = [[float(v) for v in q] for q in Q]
        mp_script += f"print(m.n_examples, ' '.join(str(m.predict(q)) for q in {rows_text}))\n"
        truth = y[test[y[test] <= c]][:120]
        want, tied = _expected(X[held], np.array(labels), k, Q)
        firm = ~tied
        acc = float(np.mean(out == truth))
        steps.append(
            Step(c + 1, len(held), acc, None, float(np.mean(out[firm] == want[firm])), None, int(tied.sum()))
        )
    if micropython:
        lines = mp.run(
            mp_script, {**mp.runtime_files(), "/m.mlm": microlearn.convert(base).to_bytes()}
        ).splitlines()
        for step, line, (c, Q) in zip(steps, lines, queries, strict=True):
            words = line.split()
            assert int(words[0]) == step.n_examples
            got = np.array([int(v) for v in words[1:]])
            truth = y[test[y[test] <= c]][:120]
            want, tied = _expected(X[held[: step.n_examples]], np.array(labels[: step.n_examples]), k, Q)
            step.accuracy_mp = float(np.mean(got == truth))
            step.agreement_mp = float(np.mean(got[~tied] == want[~tied]))
    if not quiet:
        print(
            f"few-shot kNN (k = {k}): {shots} shots per new digit, then {rounds} rounds of {shots} more of "
            "every digit; accuracy on held-out digits of the classes seen so far"
        )
        print(
            "classes  examples  accuracy C  accuracy mlrt  agreement with scikit-learn (C / mlrt)  tied rows"
        )
        for s in steps:
            acc_mp = "-" if s.accuracy_mp is None else f"{s.accuracy_mp:.1%}"
            agr_mp = "-" if s.agreement_mp is None else f"{s.agreement_mp:.0%}"
            print(
                f"{s.n_classes:7d}  {s.n_examples:8d}  {s.accuracy_c:10.1%}  {acc_mp:>13}  "
                f"{s.agreement_c:.0%} / {agr_mp:<30}  {s.n_tied:9d}"
            )
    return steps


def main(argv: Any = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shots", type=int, default=3, help="labelled examples per new digit")
    ap.add_argument("--k", type=int, default=1, help="neighbours that vote")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of more shots of every digit at the end")
    ap.add_argument("--no-micropython", action="store_true", help="C only")
    args = ap.parse_args(argv)
    run(args.shots, args.k, args.rounds, micropython=not args.no_micropython)


if __name__ == "__main__":
    main()
