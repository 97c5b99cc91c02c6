"""k-means (KMeans, MiniBatchKMeans): the reference (computed from the centres) is scikit-learn's predict
outside ambiguous rows and its transform within the bound; C, the model file, mlrt and the MCUs agree; the
online update on the device (C and mlrt) equals MiniBatchKMeans.partial_fit on the same batches: bit for
bit for a float32 model, within the float32 bound for a float64 one."""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.cluster import MiniBatchKMeans
from sklearn.datasets import make_blobs

import microlearn
from microlearn import host
from microlearn import micropython as mp
from microlearn.backends import modelfile as mf
from microlearn.frontends.registry import to_ir
from microlearn.ir.kmeans import U32, KMeans, gamma

X_BLOBS, _ = make_blobs(600, n_features=5, centers=4, cluster_std=1.5, random_state=2)
X_ROUND = np.round(X_BLOBS)  # integer values: equal distances happen

CASES: dict[str, tuple[Any, np.ndarray[Any, Any]]] = {
    "kmeans4-f64": (SkKMeans(4, n_init=1, random_state=0), X_BLOBS),
    "kmeans6-round": (SkKMeans(6, n_init=1, random_state=1), X_ROUND),
    "minibatch4-f64": (MiniBatchKMeans(4, n_init=1, random_state=0, batch_size=64), X_BLOBS),
    "minibatch5-f32": (
        MiniBatchKMeans(5, n_init=1, random_state=0, batch_size=64, reassignment_ratio=0.0),
        X_BLOBS.astype(np.float32),
    ),
}


@pytest.fixture(scope="module")
def fitted() -> dict[str, Any]:
    return {k: est.fit(X) for k, (est, X) in CASES.items()}


def _query(X: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(0)
    return np.asarray(np.concatenate([X[::7], X[:30] + rng.normal(0, 0.5, (30, X.shape[1]))]), np.float32)


def _sk_rows(est: Any, Q: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """scikit-learn's k-means predicts only rows of its centres' dtype (the values are the same)."""
    return np.asarray(Q, dtype=est.cluster_centers_.dtype)


@pytest.mark.parametrize("case", list(CASES))
def test_reference_is_sklearn(fitted: dict[str, Any], case: str) -> None:
    est = fitted[case]
    ir = to_ir(est)
    assert isinstance(ir, KMeans)
    assert ir.float32 == case.endswith("f32") and (ir.counts is not None) == case.startswith("minibatch")
    Q = _query(CASES[case][1])
    ref = ir.reference(Q)
    assert ref.ambiguous is not None and ref.ambiguous.mean() < 0.05
    ok = ~ref.ambiguous
    np.testing.assert_array_equal(ref.outputs[ok], est.predict(_sk_rows(est, Q))[ok])
    vals, bound = ir.transform_reference(Q)
    diff = np.abs(est.transform(_sk_rows(est, Q)).astype(np.float64) - vals).max(axis=1)
    assert np.all(diff <= bound)


@pytest.mark.parametrize("case", list(CASES))
def test_model_file_round_trip(fitted: dict[str, Any], case: str) -> None:
    ir = to_ir(fitted[case])
    assert isinstance(ir, KMeans)
    back = mf.loads(mf.dumps(ir))
    assert isinstance(back, KMeans)
    np.testing.assert_array_equal(back.centers, ir.centers)
    assert back.float32 == ir.float32 and back.source == ir.source
    if ir.counts is None:
        assert back.counts is None
    else:
        np.testing.assert_array_equal(back.counts, ir.counts)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", list(CASES))
def test_host_c_and_micropython(fitted: dict[str, Any], case: str) -> None:
    Q = _query(CASES[case][1])[:40]
    rep = microlearn.verify(fitted[case], Q, targets=["host", "micropython"])
    for t in ("host", "micropython"):
        assert rep[t].agreement == 1.0, f"{case} on {t}"
    ir = to_ir(fitted[case])
    assert isinstance(ir, KMeans)
    vals, bound = ir.transform_reference(Q)
    got = microlearn.convert(fitted[case]).transform(Q).astype(np.float64)
    assert np.all(np.abs(got - vals).max(axis=1) <= bound)
    code = (
        "import mlrt\nm = mlrt.load('/m.mlm')\n"
        f"Q = {[[float(v) for v in row] for row in Q]}\n"
        "for q in Q:\n    print(' '.join(repr(v) for v in m.transform(q)))\n"
    )
    out = mp.run(code, {**mp.runtime_files(), "/m.mlm": microlearn.convert(fitted[case]).to_bytes()})
    mpv = np.array([[float(v) for v in line.split()] for line in out.splitlines()])
    assert np.all(np.abs(mpv - vals).max(axis=1) <= bound)


@pytest.mark.parametrize("case", ["kmeans6-round", "minibatch5-f32"])
def test_mcus(fitted: dict[str, Any], case: str) -> None:
    Q = _query(CASES[case][1])[:8]
    rep = microlearn.verify(fitted[case], Q, targets=["cortex-m4f", "cortex-m0plus", "rv32imc"])
    for t in ("cortex-m4f", "cortex-m0plus", "rv32imc"):
        assert rep[t].agreement == 1.0, f"{case} on {t}"
        assert rep[t].instructions_mean is not None and rep[t].instructions_mean > 0


# ---------------------------------------------------------------------------------- the online update
C_LEARN = r"""
#include "km.h"
int ml_test_online(const float *x, const int32_t *sizes, int32_t n_batches, float *cbuf, float *wbuf,
                   int32_t *labels, const float *sw);
int ml_test_online(const float *x, const int32_t *sizes, int32_t n_batches, float *cbuf, float *wbuf,
                   int32_t *labels, const float *sw)
{
    ml_kmeans m;
    int32_t b;
    int rc = ml_kmeans_learn_init(&m, KM_N_FEATURES, KM_N_CLUSTERS, cbuf, wbuf, km_centers, km_counts);
    if (rc != ML_OK) return rc;
    for (b = 0; b < n_batches; b++) {
        rc = sw != NULL ? ml_kmeans_partial_fit_weighted(&m, x, (uint32_t)sizes[b], sw, labels)
                        : ml_kmeans_partial_fit(&m, x, (uint32_t)sizes[b], labels);
        if (rc != ML_OK) return rc;
        x += (size_t)sizes[b] * KM_N_FEATURES;
        labels += sizes[b];
        if (sw != NULL) sw += sizes[b];
    }
    if (ml_kmeans_predict(&m, x - KM_N_FEATURES) < 0) return -99;
    return ML_OK;
}
"""

SIZES = (40, 17, 64)


def _batches(X: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    rng = np.random.default_rng(5)
    rows = rng.permutation(len(X))[: sum(SIZES)]
    ends = np.cumsum(SIZES)
    return [np.asarray(X[rows[e - s : e]], dtype=np.float32) for s, e in zip(SIZES, ends, strict=True)]


def _sklearn_steps(
    est: Any, batches: list[np.ndarray[Any, Any]], weights: list[np.ndarray[Any, Any]] | None = None
) -> tuple[Any, list[Any]]:
    """partial_fit on a copy of the fitted model, batch by batch (rows in its own dtype), and the
    float32 IR before each step (to check that no label is a near tie)."""
    import copy

    sk = copy.deepcopy(est)
    before = []
    for i, b in enumerate(batches):
        before.append(to_ir(sk))
        sk.partial_fit(np.asarray(b, dtype=est.cluster_centers_.dtype), sample_weight=weights and weights[i])
    return sk, before


def _weights(batches: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
    """Sample weights with fractions (products that round), zeros (a member that adds nothing; a centre
    whose members all weigh 0 does not move) and large values."""
    rng = np.random.default_rng(11)
    out = []
    for b in batches:
        w = rng.choice([0.0, 0.1, 0.3, 1.0, 2.5, 7.7, 1000.3], size=len(b)).astype(np.float32)
        out.append(w)
    return out


def _c_online(
    est: Any, batches: list[np.ndarray[Any, Any]], weights: list[np.ndarray[Any, Any]] | None = None
) -> tuple[np.ndarray[Any, Any], ...]:
    lib = host.build({"km.h": microlearn.convert(est).to_c("km"), "online.c": C_LEARN})
    ir = to_ir(est)
    assert isinstance(ir, KMeans)
    x = np.ascontiguousarray(np.concatenate(batches), dtype=np.float32)
    sizes = np.array(SIZES, dtype=np.int32)
    c = np.zeros(ir.n_clusters * ir.n_features, dtype=np.float32)
    w = np.zeros(ir.n_clusters, dtype=np.float32)
    labels = np.zeros(len(x), dtype=np.int32)
    sw = None if weights is None else np.ascontiguousarray(np.concatenate(weights), dtype=np.float32)
    rc = lib.ml_test_online(
        ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(sizes.ctypes.data), len(SIZES),
        ctypes.c_void_p(c.ctypes.data), ctypes.c_void_p(w.ctypes.data), ctypes.c_void_p(labels.ctypes.data),
        None if sw is None else ctypes.c_void_p(sw.ctypes.data),
    )  # fmt: skip
    assert rc == 0
    return c.reshape(ir.n_clusters, ir.n_features), w, labels


def _mlrt_online(
    est: Any, batches: list[np.ndarray[Any, Any]], weights: list[np.ndarray[Any, Any]] | None = None
) -> tuple[np.ndarray[Any, Any], ...]:
    code = "import mlrt\nm = mlrt.load('/m.mlm')\nlab = []\n"
    for i, b in enumerate(batches):
        sw = None if weights is None else [float(v) for v in weights[i]]
        code += f"lab += m.partial_fit({[[float(v) for v in row] for row in b]}, {sw})\n"
    code += (
        "print(' '.join(repr(v) for row in m.centers() for v in row))\n"
        "print(' '.join(repr(v) for v in m.counts))\nprint(' '.join(str(v) for v in lab))\n"
    )
    out = mp.run(code, {**mp.runtime_files(), "/m.mlm": microlearn.convert(est).to_bytes()}).splitlines()
    k = len(est.cluster_centers_)
    c = np.array([float(v) for v in out[0].split()], dtype=np.float64).reshape(k, -1)
    return c, np.array([float(v) for v in out[1].split()]), np.array([int(v) for v in out[2].split()])


@pytest.mark.parametrize("runner", ["c", "mlrt"])
def test_online_update_float32_equals_partial_fit_bit_for_bit(fitted: dict[str, Any], runner: str) -> None:
    est = fitted["minibatch5-f32"]
    batches = _batches(X_BLOBS)
    sk, before = _sklearn_steps(est, batches)
    for ir, b in zip(before, batches, strict=True):
        assert not ir.ambiguous(b).any()  # every label is decided: scikit-learn's and the device's agree
    c, w, labels = (_c_online if runner == "c" else _mlrt_online)(est, batches)
    assert np.array_equal(np.asarray(c, dtype=np.float32), sk.cluster_centers_)
    assert np.array_equal(np.asarray(w, dtype=np.float32), sk._counts)
    # the labels: each batch's by the centres before its step
    want = np.concatenate([ir.predict(b) for ir, b in zip(before, batches, strict=True)])
    np.testing.assert_array_equal(labels, want)
    # and the IR's own float32 replay is the same computation
    ir0 = to_ir(est)
    assert isinstance(ir0, KMeans) and ir0.counts is not None
    cc, ww = ir0.centers.astype(np.float32), ir0.counts.astype(np.float32)
    for b in batches:
        cc, ww, _ = ir0.partial_fit_f32(cc, ww, b)
    assert np.array_equal(cc, sk.cluster_centers_)


@pytest.mark.parametrize("runner", ["c", "mlrt"])
def test_weighted_online_update_equals_partial_fit_bit_for_bit(fitted: dict[str, Any], runner: str) -> None:
    """partial_fit(X, sample_weight=w) on a float32 model: the weights' float32 sum per centre, each
    member's product x * w rounded before it is added, a centre whose members weigh 0 in all left where
    it is: scikit-learn's centres and weight sums bit for bit."""
    est = fitted["minibatch5-f32"]
    batches = _batches(X_BLOBS)
    weights = _weights(batches)
    sk, before = _sklearn_steps(est, batches, weights)
    for ir, b in zip(before, batches, strict=True):
        assert not ir.ambiguous(b).any()
    c, w, labels = (_c_online if runner == "c" else _mlrt_online)(est, batches, weights)
    assert np.array_equal(np.asarray(c, dtype=np.float32), sk.cluster_centers_)
    assert np.array_equal(np.asarray(w, dtype=np.float32), sk._counts)
    want = np.concatenate([ir.predict(b) for ir, b in zip(before, batches, strict=True)])
    np.testing.assert_array_equal(labels, want)
    unweighted, _ = _sklearn_steps(est, batches)
    assert not np.array_equal(unweighted.cluster_centers_, sk.cluster_centers_)  # the weights mattered
    ir0 = to_ir(est)
    assert isinstance(ir0, KMeans) and ir0.counts is not None
    cc, ww = ir0.centers.astype(np.float32), ir0.counts.astype(np.float32)
    for b, sw in zip(batches, weights, strict=True):
        cc, ww, _ = ir0.partial_fit_f32(cc, ww, b, sw)
    assert np.array_equal(cc, sk.cluster_centers_) and np.array_equal(ww, sk._counts)


ML_E_VALUE = -7  # ml_common.h

C_BAD_WEIGHTS = r"""
#include "km.h"
int ml_test_bad_weight(float w, float *cbuf, float *wbuf);
int ml_test_bad_weight(float w, float *cbuf, float *wbuf)
{
    ml_kmeans m;
    float x[2 * KM_N_FEATURES] = {0};
    float sw[2];
    int32_t labels[2];
    sw[0] = 1.0f;
    sw[1] = w;
    if (ml_kmeans_learn_init(&m, KM_N_FEATURES, KM_N_CLUSTERS, cbuf, wbuf, km_centers, km_counts) != ML_OK)
        return -99;
    return ml_kmeans_partial_fit_weighted(&m, x, 2u, sw, labels);
}
"""


def test_c_refuses_bad_sample_weights(fitted: dict[str, Any]) -> None:
    """A negative, NaN or infinite weight: ML_E_VALUE and nothing learned; 0 is a weight."""
    est = fitted["minibatch5-f32"]
    lib = host.build({"km.h": microlearn.convert(est).to_c("km"), "bad.c": C_BAD_WEIGHTS})
    lib.ml_test_bad_weight.argtypes = [ctypes.c_float, ctypes.c_void_p, ctypes.c_void_p]
    k, n = est.cluster_centers_.shape
    for w, want in ((-1.0, ML_E_VALUE), (float("nan"), ML_E_VALUE), (float("inf"), ML_E_VALUE), (0.0, 0)):
        c, cw = np.zeros(k * n, np.float32), np.zeros(k, np.float32)
        assert lib.ml_test_bad_weight(w, c.ctypes.data, cw.ctypes.data) == want
        if want:
            assert np.array_equal(c.reshape(k, n), est.cluster_centers_) and np.array_equal(cw, est._counts)


def test_bad_sample_weights_say_what_to_do(fitted: dict[str, Any]) -> None:
    code = "import mlrt\nm = mlrt.load('/m.mlm')\n"
    for sw in ("[1.0]", "[1.0, -1.0]", "[1.0, float('nan')]"):
        code += (
            f"try:\n    m.partial_fit([[0.0] * 5, [1.0] * 5], {sw})\nexcept ValueError as e:\n    print(e)\n"
        )
    code += "print(list(m.counts) == list(mlrt.load('/m.mlm').counts))\n"
    data = microlearn.convert(fitted["minibatch5-f32"]).to_bytes()
    out = mp.run(code, {**mp.runtime_files(), "/m.mlm": data}).splitlines()
    assert "1 sample weights for 2 rows" in out[0]
    assert "weights >= 0" in out[1] and "weights >= 0" in out[2]
    assert out[3] == "True"  # nothing learned from a refused batch


def test_online_update_float64_model_within_float32_bound(fitted: dict[str, Any]) -> None:
    """A model fitted on float64 data: scikit-learn updates in float64, the device in float32. Per step
    and coordinate the difference grows by at most gamma32(m + 4) * (|c| w + sum |x|) / (w + m) (the
    rounding of the start, the product, m additions, the reciprocal and the product), and an earlier
    difference shrinks by w / (w + m)."""
    est = fitted["minibatch4-f64"]
    batches = _batches(X_BLOBS)
    sk, before = _sklearn_steps(est, batches)
    for ir, b in zip(before, batches, strict=True):
        assert not ir.ambiguous(b).any()
    c, w, _ = _c_online(est, batches)
    cm, wm, _ = _mlrt_online(est, batches)
    ir = to_ir(est)
    assert isinstance(ir, KMeans) and ir.counts is not None
    bound = np.zeros_like(ir.centers)
    cur, cnt = ir.centers.copy(), ir.counts.copy()
    for b, irb in zip(batches, before, strict=True):
        lab = irb.predict(b)
        for j in range(ir.n_clusters):
            mem = b[lab == j].astype(np.float64)
            if len(mem) == 0:
                continue
            mag = (np.abs(cur[j]) * cnt[j] + np.abs(mem).sum(axis=0)) / (cnt[j] + len(mem))
            bound[j] = bound[j] * cnt[j] / (cnt[j] + len(mem)) + gamma(len(mem) + 4, U32) * mag
            cur[j] = (cur[j] * cnt[j] + mem.sum(axis=0)) / (cnt[j] + len(mem))
            cnt[j] += len(mem)
    np.testing.assert_array_equal(w, sk._counts)
    np.testing.assert_array_equal(wm, sk._counts)
    assert np.all(np.abs(c - sk.cluster_centers_) <= bound)
    assert np.all(np.abs(cm - sk.cluster_centers_) <= bound)
    assert np.any(c != sk.cluster_centers_)  # float32 arithmetic indeed: not the float64 result


def test_kmeans_without_weight_sums_refuses_the_update(fitted: dict[str, Any]) -> None:
    code = (
        "import mlrt\nm = mlrt.load('/m.mlm')\n"
        "try:\n    m.partial_fit([[0.0] * 5])\nexcept ValueError as e:\n    print(e)\n"
    )
    out = mp.run(code, {**mp.runtime_files(), "/m.mlm": microlearn.convert(fitted["kmeans4-f64"]).to_bytes()})
    assert "no online update" in out


C_PREDICT32 = r"""
#include "ml_kmeans.h"
void ml_test_predict32(const double *centers, uint32_t k, uint32_t n, const float *x, int32_t rows,
                       float *cbuf, float *wbuf, int32_t *out);
void ml_test_predict32(const double *centers, uint32_t k, uint32_t n, const float *x, int32_t rows,
                       float *cbuf, float *wbuf, int32_t *out)
{
    ml_kmeans m;
    int32_t r;
    if (ml_kmeans_learn_init(&m, n, k, cbuf, wbuf, centers, NULL) != ML_OK) return;
    for (r = 0; r < rows; r++) out[r] = ml_kmeans_predict(&m, x + (size_t)r * n);
}
"""


def test_float32_centres_predict_fast_path_equals_the_rule() -> None:
    """With learning buffers the nearest centre is found in float32 under a proven margin, else by the
    float64 rule: the same index on every row, exact ties (midpoints, duplicates) and extremes included."""
    rng = np.random.default_rng(3)
    C = np.round(rng.normal(0, 4, (6, 5))).astype(np.float64)
    C[5] = C[4]  # a duplicate centre: ties everywhere near it
    mids = (C[:-1] + C[1:]) / 2
    X = np.concatenate([rng.normal(0, 4, (200, 5)), mids, C, C * 1e-25, C * 1e18]).astype(np.float32)
    X[-1, 0] = np.nan
    lib = host.build({"p32.c": C_PREDICT32})
    c = np.ascontiguousarray(C)
    x = np.ascontiguousarray(X)
    out = np.zeros(len(X), dtype=np.int32)
    cbuf, wbuf = np.zeros(C.size, dtype=np.float32), np.zeros(len(C), dtype=np.float32)
    lib.ml_test_predict32(
        ctypes.c_void_p(c.ctypes.data), len(C), C.shape[1], ctypes.c_void_p(x.ctypes.data), len(X),
        ctypes.c_void_p(cbuf.ctypes.data), ctypes.c_void_p(wbuf.ctypes.data),
        ctypes.c_void_p(out.ctypes.data),
    )  # fmt: skip
    ir = KMeans(centers=C, float32=True)
    np.testing.assert_array_equal(out[:-1], ir.predict(X[:-1]))
    assert out[-1] < 0  # NaN input: an error code


@pytest.mark.parametrize(
    ("cpu", "weighted"),
    [
        ("cortex-m4f", False),
        ("cortex-m0plus", False),
        ("rv32imc", False),
        ("cortex-m4f", True),
        ("cortex-m0plus", True),
    ],
)
def test_online_update_on_mcus_is_partial_fit_bit_for_bit(
    fitted: dict[str, Any], cpu: str, weighted: bool
) -> None:
    """The float32 update on the emulated CPUs (hardware single-precision FPU on the M4F, software float
    on the M0+ and rv32imc) gives scikit-learn's partial_fit centres bit for bit, with sample weights too."""
    from microlearn.targets import mcu

    est = fitted["minibatch5-f32"]
    batch = _batches(X_BLOBS)[0]
    sw = _weights([batch])[0] if weighted else None
    sk, before = _sklearn_steps(est, [batch], None if sw is None else [sw])
    assert not before[0].ambiguous(batch).any()
    k, n = est.cluster_centers_.shape
    step = (
        f"ml_kmeans_partial_fit_weighted(&m, (const float *)in, {len(batch)}u, "
        f"(const float *)in + {batch.size}, labels)"
        if weighted
        else f"ml_kmeans_partial_fit(&m, (const float *)in, {len(batch)}u, labels)"
    )
    glue = (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "km.h"\n'
        "void ml_bench_entry(const void *in, void *out)\n{\n"
        f"    float c[{k * n}], w[{k}];\n    int32_t labels[{len(batch)}];\n"
        "    ml_kmeans m;\n    uint32_t i;\n"
        f"    ml_kmeans_learn_init(&m, {n}u, {k}u, c, w, km_centers, km_counts);\n"
        f"    {step};\n"
        f"    for (i = 0; i < {k * n}u; i++) {{\n        ((float *)out)[i] = c[i];\n    }}\n}}\n"
    )
    data = batch.tobytes() + (b"" if sw is None else sw.tobytes())
    run = mcu.measure({"km.h": microlearn.convert(est).to_c("km")}, glue, cpu, [data], 4 * k * n)
    got = run.outputs.reshape(-1).view("<f4").reshape(k, n)
    assert np.array_equal(got, sk.cluster_centers_)
