"""The station's pipeline (sensor -> store with aggregate levels and retention -> window features ->
index -> model -> predictions) over a simulated day at 10 Hz without RAM growing, and the same core in
the real MicroPython giving the same predictions."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.tree import DecisionTreeClassifier

import microlearn
from microlearn import micropython as mpy
from microlearn import station

T0 = 1_790_000_000_000 - 1_790_000_000_000 % 86_400_000  # midnight
DAY = 864_000  # samples at 10 Hz


def sound_model() -> bytes:
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [
            rng.uniform(30, 80, 400),
            rng.uniform(0, 10, 400),
            rng.uniform(30, 60, 400),
            rng.uniform(40, 100, 400),
        ]
    ).astype(np.float32)
    y = np.where(X[:, 0] > 45, "talk", "quiet")
    return bytes(microlearn.convert(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)).to_bytes())


def test_a_day_at_10_hz_in_bounded_ram(tmp_path: Path) -> None:
    core, sensors, _, outbox = station._device()
    st = core.Station(str(tmp_path), sensors.SimSoundLevel(3), {"raw_max_bytes": 5_000_000, "flush_s": 60})
    st.load_model(sound_model())
    ob = outbox.Outbox(st)  # queued, never delivered here: it must stay bounded
    st.settings["webhook_urls"] = ["http://127.0.0.1:9/x"]
    blocks = []
    for hour in range(24):
        base = T0 + hour * 3_600_000
        for i in range(36_000):
            st.step(base + 100 * i)
        if hour % 6 == 1 or hour == 23:
            gc.collect()
            blocks.append(sys.getallocatedblocks())
    st.flush()
    assert st.n_samples == DAY and len(st.index) == DAY // 20
    # RAM: what is allocated after hour 2 stays within a few hundred blocks (segment lists, a queue)
    assert max(blocks) - blocks[0] < 600, blocks
    assert len(ob.q) <= ob.maxlen and ob.dropped > 0
    # retention kept the store's files within the budget (the oldest records went first, the aggregate
    # levels keep the whole day), the newest hour of records is all there
    assert st.store.nbytes() <= 5_000_000 and st.store.last_time() == T0 + 100 * (DAY - 1)
    assert sum(1 for _ in st.store.range(T0 + 82_800_000, T0 + 86_400_000)) == 36_000
    assert st.store.first_time() > T0 + 3_600_000
    # the whole day from the hour level (the last, incomplete hour from finer levels): every sample counted
    st.store.bytes_read = 0
    day = st.store.aggregate(T0, T0 + 86_400_000, 86_400_000)
    assert day[0][1]["count"] == (DAY,) and st.store.bytes_read < 64_000  # the records: 7 MB
    preds = st.preds.aggregate(T0, T0 + 86_400_000, 3_600_000, stats=("count",))
    assert sum(d["count"][0] for _, d in preds) == DAY // 20


def test_station_core_in_micropython(tmp_path: Path) -> None:
    model = sound_model()
    code = """
import json
from station.core import Station
from station.sensors import SimSoundLevel
st = Station('/stdata', SimSoundLevel(5))
st.load_model(open('/m.mlm', 'rb').read())
for i in range(2000):
    st.step(T0 + 100 * i)
st.flush()
out = {'preds': [[t, list(v)] for t, v in st.preds.range(0, 1 << 62)],
       'agg': st.store.aggregate(0, 1 << 62, 60000, ('count', 'min', 'max')),
       'similar': [s['t_ms'] for s in st.similar(T0 + 2000 * 50, 5)]}
print(json.dumps(out))
""".replace("T0", str(T0))
    files = {**mpy.runtime_files(), "/m.mlm": model}
    for p in sorted(station.DEVICE_DIR.glob("*.py")):
        if p.name in ("core.py", "sensors.py", "__init__.py"):
            files[f"/lib/station/{p.name}"] = p.read_bytes()
    got = json.loads(mpy.run(code, files))
    core, sensors, _, _ = station._device()
    st = core.Station(str(tmp_path), sensors.SimSoundLevel(5))
    st.load_model(model)
    for i in range(2000):
        st.step(T0 + 100 * i)
    assert got["preds"] == [[t, list(v)] for t, v in st.preds.range(0, 1 << 62)]
    assert len(got["preds"]) == 100 and {v[0] for _, v in got["preds"]} == {0.0, 1.0}
    assert got["agg"] == json.loads(
        json.dumps(st.store.aggregate(0, 1 << 62, 60000, ("count", "min", "max")))
    )
    assert got["similar"] == [s["t_ms"] for s in st.similar(T0 + 2000 * 50, 5)]
