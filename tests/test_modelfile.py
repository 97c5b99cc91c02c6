"""The model file in Python: round trip, stable bytes, forward compatibility, every corruption rejected."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest
from sklearn import datasets
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier

import microlearn
from microlearn import micropython as mpy
from microlearn.backends import modelfile as mf
from modelfile_cases import corruptions, fix_crc

sys.path.insert(0, str(mpy.RUNTIME_DIR))
import mlrt

X, y = datasets.load_iris(return_X_y=True)
LABELS = np.array(["setosa", "versicolor", "virginica"])[y]


@pytest.mark.parametrize(
    "est,target",
    [
        (RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0), LABELS),
        (DecisionTreeClassifier(max_depth=5, random_state=0), y),
        (RandomForestRegressor(n_estimators=4, max_depth=4, random_state=0), X[:, 0]),
    ],
)
def test_round_trip_keeps_every_prediction(est: object, target: np.ndarray) -> None:
    est.fit(X, target)  # type: ignore[attr-defined]
    ir = microlearn.convert(est).ir
    data = mf.dumps(ir)
    assert data == mf.dumps(ir)  # byte-identical
    back = mf.loads(data)
    assert mf.dumps(back) == data  # a fixed point
    np.testing.assert_array_equal(back.predict_value(X), ir.predict_value(X))
    if ir.is_classifier:
        np.testing.assert_array_equal(back.predict_index(X), ir.predict_index(X))
        np.testing.assert_array_equal(back.classes, ir.classes)
        m = mlrt.load(data)
        assert m.classes == [str(c) if isinstance(c, str) else int(c) for c in ir.classes]
    assert len(data) % 8 == 4  # 8-aligned sections, then the CRC


def test_header_layout() -> None:
    ir = microlearn.convert(DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)).ir
    data = mf.dumps(ir)
    magic, major, minor, family, task, nf, no, ns, size, flags = struct.unpack_from("<4sHHHHIIIII", data)
    assert (magic, major, minor, family, task, nf, no, size, flags) == (
        b"MLMF",
        1,
        0,
        1,
        1,
        4,
        3,
        len(data),
        0,
    )
    tags = [data[32 + 16 * k : 36 + 16 * k] for k in range(ns)]
    assert tags == [b"ROOT", b"FEAT", b"MISS", b"THRS", b"RGHT", b"PROB", b"LCLS", b"LABL", b"SRCE"]


def with_extra_section(data: bytes, tag: bytes, payload: bytes, critical: bool) -> bytes:
    """Insert one more section the way a later minor version would."""
    head, _ = mf.read_sections(data)
    ns = head[7]
    body = bytearray(data[:-4])
    # shift every section by 16 bytes (one more table entry), rounded to keep 8-byte alignment
    shift = 16
    new = bytearray(body[:32])
    struct.pack_into("<I", new, 20, ns + 1)
    for k in range(ns):
        e = bytearray(body[32 + 16 * k : 48 + 16 * k])
        struct.pack_into("<I", e, 8, struct.unpack_from("<I", e, 8)[0] + shift)
        new += e
    extra_off = len(body) + shift
    new += struct.pack("<4sBBHII", tag, 9, 1 if critical else 0, 0, extra_off, len(payload))
    new += body[32 + 16 * ns :]
    new += payload + bytes((-len(payload)) % 8) + bytes(4)
    struct.pack_into("<I", new, 24, len(new))
    return fix_crc(new)


def test_unknown_optional_section_is_skipped_and_critical_one_refused() -> None:
    est = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    data = microlearn.convert(est).to_bytes()
    later = with_extra_section(data, b"NEWS", b"from a later minor version", critical=False)
    np.testing.assert_array_equal(mf.loads(later).predict_index(X), est.predict(X))
    assert [mlrt.load(later).predict(r) for r in X] == list(est.predict(X))
    out = mpy.run("import mlrt\nprint(mlrt.load('/m.mlm').n_trees)", {**mpy.runtime_files(), "/m.mlm": later})
    assert out == "3\n"
    refused = with_extra_section(data, b"NEWS", b"x", critical=True)
    with pytest.raises(microlearn.ModelFileError, match="upgrade microlearn"):
        mf.loads(refused)
    with pytest.raises(ValueError, match="update mlrt"):
        mlrt.load(refused)


def test_corruptions_rejected_with_model_file_error() -> None:
    est = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(X, X[:, 0])
    data = microlearn.convert(est).to_bytes()
    for what, bad in corruptions(data):
        with pytest.raises(microlearn.ModelFileError):
            mf.loads(bad)
        with pytest.raises(ValueError):
            mlrt.load(bad)
        assert what


def test_version_message_says_what_to_do() -> None:
    data = bytearray(microlearn.convert(DecisionTreeClassifier(random_state=0).fit(X, y)).to_bytes())
    struct.pack_into("<H", data, 4, 2)
    with pytest.raises(microlearn.ModelFileError, match="upgrade microlearn"):
        mf.loads(fix_crc(data))


def test_save_and_load_path(tmp_path: object) -> None:
    est = RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0).fit(X, y)
    p = microlearn.convert(est).save(tmp_path / "iris.mlm")  # type: ignore[operator]
    m = mlrt.load(str(p))
    assert [m.predict(r) for r in X] == list(est.predict(X))
    assert mf.load(str(p)).n_trees == 2
