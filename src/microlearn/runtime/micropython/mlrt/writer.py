# mlrt.writer: write model files (docs/model-file.md) from MicroPython or CPython, no numpy.
# The one place on the device/browser side that knows how a model file is laid out for writing; the
# host loader (microlearn.backends.modelfile.loads), ml_model.h and mlrt.load read what it writes.
#
#   from mlrt.writer import trees_file
#   data = trees_file(n_features, n_classes, trees, labels=["idle", "walk"])
#   open("model.mlm", "wb").write(data)
#
# A tree is (feature, threshold, right, leaf_proba): per node in preorder (left child = next node),
# feature -1 at a leaf; threshold a float (stored as float32; go left when x <= threshold); right the
# node index (within the tree) of the right child, or at a leaf the index into leaf_proba of its row;
# leaf_proba a list of rows of n_classes float probabilities.
import struct
from array import array

from mlrt._reader import crc32

MAGIC = b"MLMF"
MAJOR = 1
MINOR = 0
FAMILY_TREES = 1
CLASSIFIER = 1
REGRESSOR = 2
CRITICAL = 1
# dtype codes
U8, I16, U32, I32, F32, F64, TEXT = 1, 4, 5, 6, 7, 8, 9
_ITEM = {U8: 1, I16: 2, U32: 4, I32: 4, F32: 4, F64: 8, TEXT: 1}
_TC = {U8: "B", I16: "h", U32: "I", I32: "i", F32: "f", F64: "d"}
MAX_FEATURES = 32767
MAX_CLASSES = 256


def _le(dtype, values):
    """Little-endian bytes of values as dtype (array on little-endian ports, struct otherwise)."""
    if _LITTLE:
        return bytes(array(_TC[dtype], values))
    return struct.pack("<%d%s" % (len(values), _TC[dtype]), *values)


_LITTLE = bytes(array("H", [1]))[0] == 1


def container(family, task, n_features, n_outputs, sections):
    """A model file: sections is a list of (tag, dtype, critical, payload bytes) in file order."""
    n = len(sections)
    if n > 64:
        raise ValueError("a model file holds at most 64 sections")
    table_end = 32 + 16 * n
    offset = (table_end + 7) & ~7
    table = []
    for tag, dtype, critical, payload in sections:
        if len(tag) != 4 or len(payload) % _ITEM[dtype]:
            raise ValueError("bad section %r" % tag)
        table.append(
            struct.pack(
                "<4sBBHII", tag, dtype, CRITICAL if critical else 0, 0, offset, len(payload) // _ITEM[dtype]
            )
        )
        offset = (offset + len(payload) + 7) & ~7
    size = offset + 4
    buf = bytearray(size)
    buf[0:32] = struct.pack(
        "<4sHHHHIIIII", MAGIC, MAJOR, MINOR, family, task, n_features, n_outputs, n, size, 0
    )
    pos = 32
    for entry, (_, _, _, payload) in zip(table, sections):
        buf[pos : pos + 16] = entry
        pos += 16
        off = struct.unpack_from("<I", entry, 8)[0]
        buf[off : off + len(payload)] = payload
    buf[size - 4 : size] = struct.pack("<I", crc32(memoryview(buf)[0 : size - 4]))
    return bytes(buf)


def _text_list(items):
    import json

    return json.dumps(list(items)).encode("utf-8")


def _flat_rows(rows, what):
    """(n_features, the rows' values as floats in row order): rows of one length, 1..65535."""
    n = len(rows[0])
    if not 1 <= n <= 65535:
        raise ValueError("n_features must be 1..65535")
    flat = []
    for row in rows:
        if len(row) != n:
            raise ValueError("%s rows differ in length" % what)
        flat.extend(float(v) for v in row)
    return n, flat


def _finite(values, what):
    for v in values:
        if v - v != 0:
            raise ValueError("%s is NaN or infinite" % what)


def _text_sections(labels, n_classes, feature_names, n_features, source):
    """The optional LABL / FNAM / SRCE sections (checked against the class and feature counts)."""
    secs = []
    if labels is not None:
        if len(labels) != n_classes:
            raise ValueError("labels must name %d classes" % n_classes)
        secs.append((b"LABL", TEXT, False, _text_list(labels)))
    if feature_names is not None:
        if len(feature_names) != n_features:
            raise ValueError("feature_names must name %d features" % n_features)
        secs.append((b"FNAM", TEXT, False, _text_list(feature_names)))
    if source:
        secs.append((b"SRCE", TEXT, False, source.encode("utf-8")))
    return secs


def trees_file(
    n_features, n_classes, trees, labels=None, feature_names=None, source="microlearn.studio.RandomForest"
):
    """A tree-ensemble classifier file (family 1) from trees as described at the top of this module.
    Identical leaf rows are stored once."""
    if not 1 <= n_features <= MAX_FEATURES:
        raise ValueError("n_features must be 1..%d" % MAX_FEATURES)
    if not 1 <= n_classes <= MAX_CLASSES:
        raise ValueError("n_classes must be 1..%d" % MAX_CLASSES)
    if not trees:
        raise ValueError("no trees")
    roots, feat, miss, thrs, right = [], [], [], [], []
    rows, row_of, lcls = [], {}, []
    for feature, threshold, rgt, leaf_proba in trees:
        base = len(feat)
        roots.append(base)
        n = len(feature)
        for i in range(n):
            f = feature[i]
            if f < 0:
                p = [float(v) for v in leaf_proba[rgt[i]]]
                if len(p) != n_classes:
                    raise ValueError("a leaf row needs %d probabilities" % n_classes)
                key = tuple(p)
                r = row_of.get(key)
                if r is None:
                    r = row_of[key] = len(rows)
                    rows.append(p)
                    best = 0
                    for c in range(1, n_classes):
                        if p[c] > p[best]:
                            best = c
                    lcls.append(best)
                feat.append(-1)
                thrs.append(0.0)
                right.append(r)
            else:
                if not 0 <= f < n_features or not i + 1 < rgt[i] < n:
                    raise ValueError("node %d of tree %d is malformed" % (i, len(roots) - 1))
                feat.append(f)
                thrs.append(threshold[i])
                right.append(base + rgt[i])
            miss.append(0)
    flat = []
    for p in rows:
        flat.extend(p)
    secs = [
        (b"ROOT", I32, True, _le(I32, roots)),
        (b"FEAT", I16, True, _le(I16, feat)),
        (b"MISS", U8, True, bytes(miss)),
        (b"THRS", F32, True, _le(F32, thrs)),
        (b"RGHT", I32, True, _le(I32, right)),
        (b"PROB", F64, True, _le(F64, flat)),
    ]
    if len(trees) == 1:
        secs.append((b"LCLS", I32, True, _le(I32, lcls)))
    secs += _text_sections(labels, n_classes, feature_names, n_features, source)
    return container(FAMILY_TREES, CLASSIFIER, n_features, n_classes, secs)


FAMILY_FEATURES = 32
FAMILY_PIPELINE = 64
TRANSFORM = 5


def features_file(window, n_axes, stats, magnitude=True, sr=None, bands=()):
    """A feature-extractor stage file (family 32): mlrt.dsp_features on windows of window x n_axes
    interleaved samples. stats: names from mlrt.dsp_features.STATS, in output order."""
    import math

    from mlrt.dsp_features import STATS

    idx = []
    for s in stats:
        if s not in STATS or STATS.index(s) in idx:
            raise ValueError("unknown or repeated statistic %r" % (s,))
        idx.append(STATS.index(s))
    if not 2 <= window <= 32768 or not 1 <= n_axes <= 16:
        raise ValueError("window must be 2..32768 samples and n_axes 1..16")
    from mlrt.dsp_features import band_bins

    bins = band_bins(window, float(sr or 0), bands) if bands else []
    if not idx and not bins:
        raise ValueError("a feature stage computes at least one statistic or band")
    n_out = (n_axes + (1 if magnitude else 0)) * (len(idx) + len(bins))
    secs = [
        (b"WIND", I32, True, _le(I32, [window])),
        (b"AXES", I32, True, _le(I32, [n_axes])),
        (b"MAGN", U8, True, bytes([1 if magnitude else 0])),
        (b"STAT", U8, True, bytes(idx)),
    ]
    if bins:
        flat = []
        for lo, hi in bins:
            flat += [lo, hi]
        step = 2.0 * math.pi / window  # as microlearn.dsp.features.dft_tables
        secs += [
            (b"BINS", I32, True, _le(I32, flat)),
            (b"DCOS", F32, True, _le(F32, [math.cos(j * step) for j in range(window)])),
            (b"DSIN", F32, True, _le(F32, [math.sin(j * step) for j in range(window)])),
            (b"BAND", F64, False, _le(F64, [float(v) for b in bands for v in b])),
            (b"SRAT", F64, False, _le(F64, [float(sr)])),
        ]
    secs.append((b"SRCE", TEXT, False, b"microlearn.dsp.FeatureExtractor"))
    return container(FAMILY_FEATURES, TRANSFORM, window * n_axes, n_out, secs)


def pipeline_file(stages, final, source="microlearn.studio.Pipeline"):
    """A pipeline file (family 64): stage files (transforms, in order) then the final model's file."""
    if not stages or len(stages) > 8:
        raise ValueError("a pipeline has 1..8 stages")
    blob = bytearray()
    for s in stages:
        blob += s
        blob += bytes((8 - len(s) % 8) % 8)
    head = struct.unpack_from("<4sHHHHIII", final, 0)
    first = struct.unpack_from("<4sHHHHIII", stages[0], 0)
    secs = [
        (b"STGS", U8, True, bytes(blob)),
        (b"FINL", U8, True, bytes(final)),
        (b"SRCE", TEXT, False, source.encode("utf-8")),
    ]
    return container(FAMILY_PIPELINE, head[4], first[5], head[6], secs)


FAMILY_LINEAR = 2
# MODE codes (microlearn.backends.modelfile.linear): dtype, intercept dtype, layout, probability rule,
# normalisation. Models trained here score in float64 with a float64 intercept, one row per class.
_LINEAR_MODE_SOFTMAX = bytes([0, 0, 1, 2, 0])


def linear_file(
    coef, intercept, labels=None, feature_names=None, source="microlearn.studio.LogisticRegression"
):
    """A linear classifier file (family 2): coef is one row of n_features floats per class (n_classes >= 2
    rows), scores x . w + b in float64, probabilities by softmax."""
    k = len(coef)
    if k < 2 or len(intercept) != k:
        raise ValueError("a linear classifier here has one row of coefficients and one intercept per class")
    n, flat = _flat_rows(coef, "coefficient")
    _finite(flat + [float(b) for b in intercept], "a coefficient or intercept")
    secs = [
        (b"COEF", F64, True, _le(F64, flat)),
        (b"INTC", F64, True, _le(F64, [float(b) for b in intercept])),
        (b"MODE", U8, True, _LINEAR_MODE_SOFTMAX),
    ]
    secs += _text_sections(labels, k, feature_names, n, source)
    return container(FAMILY_LINEAR, CLASSIFIER, n, k, secs)


FAMILY_NEIGHBORS = 4
FAMILY_TRANSFORM = 33
_STAGE_ELEMENTWISE = 1
_OP_SUB_F64 = 1 | 16  # microlearn.backends.modelfile.transform: sub, in float64
_OP_DIV_F64 = 4 | 16


def scaler_file(mean, scale, source="microlearn.studio.StandardScaler"):
    """A standardising stage file (family 33, per-feature operations): (x - mean) / scale per feature in
    float64, rounded to float32 (as scikit-learn's StandardScaler on float32 input)."""
    n = len(mean)
    if not 1 <= n <= 65535 or len(scale) != n:
        raise ValueError("mean and scale need one value for each of 1..65535 features")
    c64 = [float(v) for v in mean] + [float(v) for v in scale]
    _finite(c64, "the mean or scale")
    if any(v == 0 for v in c64[n:]):
        raise ValueError("a scale is zero")
    secs = [
        (b"KIND", U8, True, bytes([_STAGE_ELEMENTWISE])),
        (b"OPS ", U8, True, bytes([_OP_SUB_F64, _OP_DIV_F64])),
        (b"C64 ", F64, True, _le(F64, c64)),
        (b"SRCE", TEXT, False, source.encode("utf-8")),
    ]
    return container(FAMILY_TRANSFORM, TRANSFORM, n, n, secs)


def neighbors_file(
    examples, classes, n_classes, k, labels=None, feature_names=None,
    source="microlearn.studio.KNeighborsClassifier",
):  # fmt: skip
    """A k-nearest-neighbours classifier file (family 4): examples are rows of n_features floats (stored
    as float64), classes their class indices; euclidean distance, uniform votes, scikit-learn's brute
    tie rule (docs/neighbors.md)."""
    m = len(examples)
    if m < 1 or len(classes) != m:
        raise ValueError("a neighbours file needs at least one example and one class index per example")
    if not 1 <= k <= m:
        raise ValueError("k must be 1..%d (the number of examples)" % m)
    if not 2 <= n_classes <= 65535:
        raise ValueError("a classifier has 2..65535 classes")
    n, flat = _flat_rows(examples, "example")
    _finite(flat, "an example")
    for c in classes:
        if not 0 <= c < n_classes:
            raise ValueError("class index %r is not in 0..%d" % (c, n_classes - 1))
    # KNBR: k, metric euclidean, kind k nearest, algorithm brute, leaf size 30, float64 examples, uniform
    secs = [
        (b"EXMP", F64, True, _le(F64, flat)),
        (b"EXLB", I32, True, _le(I32, [int(c) for c in classes])),
        (b"KNBR", U32, True, _le(U32, [k, 0, 0, 0, 30, 0, 0])),
    ]
    secs += _text_sections(labels, n_classes, feature_names, n, source)
    return container(FAMILY_NEIGHBORS, CLASSIFIER, n, n_classes, secs)
