"""mlrt.index: exact kinds equal numpy's nearest neighbours, approximate kinds keep their recall, filters
by time and label, persistence and torn writes; the same answers in the real MicroPython."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from microlearn import micropython as mpy

sys.path.insert(0, str(mpy.RUNTIME_DIR))
from mlrt.index import Index, IndexFileError

KINDS = ("brute", "lsh", "pq", "vafile")


def clustered(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cent = rng.normal(0, 3, (12, d))
    X = (cent[rng.integers(0, 12, n)] + rng.normal(0, 1, (n, d))).astype(np.float32)
    Q = (cent[rng.integers(0, 12, 15)] + rng.normal(0, 1, (15, d))).astype(np.float32)
    return X, Q


def true_knn(X: np.ndarray, q: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[int]:
    d2 = ((X.astype(np.float64) - q.astype(np.float64)) ** 2).sum(1)
    if mask is not None:
        d2[~mask] = np.inf
    order = np.argsort(d2, kind="stable")[:k]
    return [int(i) for i in order if np.isfinite(d2[i])]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return clustered(800, 16, 0)


@pytest.mark.parametrize("kind", KINDS)
def test_search_recall_filters_and_reopen(
    tmp_path: Path, kind: str, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, Q = data
    p = str(tmp_path / "ix")
    ix = Index(p, 16, kind, train_after=300)
    labels = ["a" if i % 3 == 0 else "b" for i in range(len(X))]
    for i, v in enumerate(X.tolist()):
        ix.add(i, v, t_ms=1000 * i, label=labels[i] if i % 2 == 0 else None)
    recall = []
    for q in Q:
        got = ix.search(q.tolist(), k=10)
        ref = true_knn(X, q, 10)
        recall.append(len({k for k, _ in got} & set(ref)) / 10)
        dist = [d for _, d in got]
        assert dist == sorted(dist)
        for key, dd in got:  # distances are exact euclidean distances of the stored float32 vectors
            assert dd == pytest.approx(float(np.linalg.norm(X[key].astype(np.float64) - q)), rel=1e-9)
        if kind in ("brute", "vafile"):
            assert [k for k, _ in got] == ref
    floor = {"brute": 1.0, "vafile": 1.0, "lsh": 0.8, "pq": 0.8}[kind]
    assert np.mean(recall) >= floor, recall
    # filters: time window and label
    lab = np.array([labels[i] if i % 2 == 0 else None for i in range(len(X))], dtype=object)
    t = np.arange(len(X)) * 1000
    for q in Q[:4]:
        got = [k for k, _ in ix.search(q.tolist(), 5, t0_ms=200_000, t1_ms=500_000)]
        assert all(200 <= k < 500 for k in got) and len(got) == 5
        if kind != "lsh":
            assert got == true_knn(X, q, 5, (t >= 200_000) & (t < 500_000))
        got = [k for k, _ in ix.search(q.tolist(), 5, label="a")]
        assert all(lab[k] == "a" for k in got)
        if kind != "lsh":
            assert got == true_knn(X, q, 5, lab == "a")
    # the entries in a time window, by binary search
    assert ix.entries(200_000, 500_000) == [(i, 1000 * i) for i in range(200, 500)]
    assert ix.entries(200_500, 500_001, last=3) == [(i, 1000 * i) for i in (498, 499, 500)]
    assert ix.entries(10**12, 10**13) == []
    before = [ix.search(q.tolist(), 10) for q in Q[:5]]
    ix.set_label(2, "c")
    ix.close()
    ix2 = Index(p)
    assert ix2.kind == kind and len(ix2) == len(X)
    assert [ix2.search(q.tolist(), 10) for q in Q[:5]] == before
    assert [k for k, _ in ix2.search(X[2].tolist(), 3, label="c")] == [2]


def test_torn_last_write_is_dropped(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = data
    p = tmp_path / "ix"
    ix = Index(str(p), 16, "vafile", train_after=100)
    for i, v in enumerate(X[:200].tolist()):
        ix.add(i, v)
    ix.close()
    vec = (p / "vectors.bin").read_bytes()
    codes = (p / "codes.bin").read_bytes()
    rec = len(vec) // 200
    for cut in (1, rec // 2, rec - 1):
        (p / "vectors.bin").write_bytes(vec[:-cut])
        (p / "codes.bin").write_bytes(codes)
        ix = Index(str(p))
        assert len(ix) == 199
        assert ix.search(X[198].tolist(), 1)[0][0] == 198
        ix.add(500, X[199].tolist())
        ix.close()
        ix = Index(str(p))
        assert len(ix) == 200 and (p / "vectors.bin").stat().st_size == len(vec)
        assert ix.search(X[199].tolist(), 1) == [(500, 0.0)]
    bad = bytearray(vec)
    bad[-3] ^= 0x10
    (p / "vectors.bin").write_bytes(bytes(bad))
    assert len(Index(str(p))) == 199


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(IndexFileError, match="kind"):
        Index(str(tmp_path / "a"), 8, "hnsw")
    with pytest.raises(IndexFileError, match="multiple of 4"):
        Index(str(tmp_path / "b"), 6, "pq")
    ix = Index(str(tmp_path / "c"), 4)
    ix.add(5, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(IndexFileError, match="4"):
        ix.add(6, [1.0, 2.0])
    with pytest.raises(IndexFileError, match="time order"):
        ix.add(4, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(IndexFileError, match="NaN"):
        ix.add(7, [1.0, float("nan"), 3.0, 4.0])
    with pytest.raises(IndexFileError, match="dim"):
        Index(str(tmp_path / "c"), 8)
    assert issubclass(IndexFileError, ValueError)


def test_same_answers_in_micropython(tmp_path: Path) -> None:
    X, Q = clustered(250, 16, 3)
    code = """
import json, os
from mlrt.index import Index
X = json.loads(open('/x.json').read())
Q = json.loads(open('/q.json').read())
out = {}
for kind in ('brute', 'lsh', 'pq', 'vafile'):
    p = '/ix-' + kind
    ix = Index(p, 16, kind, train_after=100)
    for i in range(len(X)):
        ix.add(i, X[i])
    ix.close()
    ix = Index(p)
    out[kind] = [[k for k, d in ix.search(q, 10)] for q in Q]
    for n in os.listdir(p):
        os.remove(p + '/' + n)
    os.rmdir(p)
print(json.dumps(out))
"""
    files = {
        **mpy.runtime_files(),
        "/x.json": json.dumps(X.tolist()).encode(),
        "/q.json": json.dumps(Q.tolist()).encode(),
    }
    got = json.loads(mpy.run(code, files))
    for kind in KINDS:
        ix = Index(str(tmp_path / kind), 16, kind, train_after=100)
        for i, v in enumerate(X.tolist()):
            ix.add(i, v)
        assert got[kind] == [[k for k, _ in ix.search(q.tolist(), 10)] for q in Q], kind
