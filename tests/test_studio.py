"""microlearn studio in real headless Chromium (Debian's, driven by Playwright): predictions in the page
equal scikit-learn's and the host MicroPython runner's; sensor and audio pipelines; the microphone path
through Chromium's fake capture device; the accelerometer path; labelling -> training -> download ->
host check (modelfile.loads, mlrt, the C loader); export/import of labelled windows; bad files; the
station POST; keyboard and phone-sized viewport. One server and one browser per module."""

from __future__ import annotations

import http.server
import io
import json
import os
import shutil
import tempfile
import threading
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

import microlearn
from microlearn import micropython as mp
from microlearn.backends import modelfile
from microlearn.dsp import audio
from microlearn.dsp.features import FeatureConfig, FeatureExtractor, compute, sliding_windows
from microlearn.studio import make_server, resolve

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed: run `make setup`"
)

SHOTS = Path(
    os.environ.get("MICROLEARN_STUDIO_SHOTS", Path(tempfile.gettempdir()) / "microlearn-studio-shots")
)
SENSOR = {"kind": "sensor", "window": 50, "hop": 25, "n_axes": 3, "stats": list(FeatureConfig().stats),
          "magnitude": True, "sr": 50}  # fmt: skip
AUDIO = {"kind": "audio", "sr": 8000, "window": 2048, "hop": 1024, "n_fft": 256, "hop_length": 256,
         "n_mels": 24, "n_mfcc": 10}  # fmt: skip


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    srv = make_server(0).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(pw: Any) -> Iterator[Any]:
    b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield b
    b.close()


@pytest.fixture
def page(browser: Any, server: Any) -> Iterator[Any]:
    pg = browser.new_page(viewport={"width": 1100, "height": 1300}, accept_downloads=True)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server.url)
    yield pg
    pg.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("studio")
    out: dict[str, Any] = {"dir": d}
    # iris forest on feature rows
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    rf = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0).fit(X, names[y])
    microlearn.convert(rf).save(d / "iris.mlm")
    np.savetxt(d / "iris.csv", X, delimiter=",", fmt="%.6g", header="sl,sw,pl,pw", comments="")
    out.update(iris_rf=rf, iris_X=np.loadtxt(d / "iris.csv", delimiter=",", skiprows=1))
    # raw 3-axis accelerometer-like signal: still, then shaking at 3 Hz
    rng = np.random.default_rng(1)
    t = np.arange(1200) / 50
    sig = rng.normal(0, 0.05, size=(1200, 3)) + np.array([0.0, 0.0, 9.81])
    sig[600:] += 4 * np.sin(2 * np.pi * 3 * t[600:, None] + np.array([0, 1, 2]))
    sig = sig.astype(np.float32)
    np.save(d / "motion.npy", sig)
    cfg = FeatureConfig(window=50, n_axes=3, sr=50)
    W = sliding_windows(sig, 50, 25)
    F = compute(cfg, W)
    yw = np.where(np.arange(len(W)) * 25 >= 600, "shake", "still")
    srf = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0).fit(F, yw)
    microlearn.convert(srf).save(d / "motion.mlm")
    (d / "motion.json").write_text(json.dumps(SENSOR))
    pipe = Pipeline(
        [("features", FeatureExtractor(window=50, n_axes=3, sr=50, bands=[(0, 2), (2, 6)])),
         ("clf", RandomForestClassifier(n_estimators=5, max_depth=5, random_state=0))]
    ).fit(W, yw)  # fmt: skip
    microlearn.convert(pipe).save(d / "motion_pipeline.mlm")
    out.update(motion_W=W, motion_pipe=pipe)
    out.update(motion=sig, motion_F=F, motion_rf=srf)
    # audio: tone / noise, 8 kHz 16-bit mono
    sr = AUDIO["sr"]
    ta = np.arange(sr) / sr
    tone = 0.5 * np.sin(2 * np.pi * 1000 * ta)
    noise = rng.uniform(-0.5, 0.5, size=sr)
    x = np.concatenate([tone, noise, tone, noise])
    write_wav(d / "tones.wav", x, sr)
    write_wav(d / "tone_only.wav", np.tile(tone, 3), sr)
    xw = read_wav16(d / "tones.wav")
    A = audio_features(xw, AUDIO)
    starts = np.arange(len(A)) * AUDIO["hop"]
    ya = np.where(((starts + AUDIO["window"] // 2) // sr) % 2 == 0, "tone", "noise")
    arf = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(A, ya)
    microlearn.convert(arf).save(d / "audio.mlm")
    (d / "audio.json").write_text(json.dumps(AUDIO))
    out.update(audio_x=xw, audio_F=A, audio_rf=arf)
    # bad files
    good = (d / "iris.mlm").read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x55
    (d / "corrupt.mlm").write_bytes(bytes(bad))
    (d / "text.mlm").write_bytes(b"not a model file at all, just text\n" * 3)
    (d / "ragged.csv").write_text("1,2,3,4\n5,6,7\n")
    (d / "three.csv").write_text("1,2,3\n4,5,6\n")
    (d / "adpcm.wav").write_bytes(wav_bytes_with_format(2))
    return out


def write_wav(path: Path, x: np.ndarray, sr: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def read_wav16(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768


def wav_bytes_with_format(tag: int) -> bytes:
    b = io.BytesIO()
    with wave.open(b, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(400))
    data = bytearray(b.getvalue())
    data[20:22] = tag.to_bytes(2, "little")  # the fmt chunk's format tag
    return bytes(data)


def audio_features(x: np.ndarray, cfg: dict[str, Any]) -> np.ndarray:
    """The studio's audio pipeline in numpy (float64): mean over frames of the MFCCs of the log-mel power."""
    from scipy.fft import dct

    n_fft, hop = cfg["n_fft"], cfg["hop_length"]
    fb = audio.mel_filters(cfg["sr"], n_fft, cfg["n_mels"]).astype(np.float64)
    w = audio.window64("hann", n_fft)
    out = []
    for s in range(0, len(x) - cfg["window"] + 1, cfg["hop"]):
        seg = x[s : s + cfg["window"]].astype(np.float64)
        frames = np.stack([seg[o : o + n_fft] for o in range(0, cfg["window"] - n_fft + 1, hop)])
        S = np.abs(np.fft.rfft(frames * w, axis=1)) ** 2
        db = 10 * np.log10(np.maximum(1e-10, S @ fb.T))
        out.append(dct(db, type=2, norm="ortho", axis=1)[:, : cfg["n_mfcc"]].mean(axis=0))
    return np.asarray(out, dtype=np.float32)


def page_labels(page: Any, n: int | None = None, timeout: float = 240_000) -> list[str]:
    want = "> 0" if n is None else f"=== {n}"
    page.wait_for_function(f"document.querySelectorAll('[data-testid=label]').length {want}", timeout=timeout)
    return [s.strip() for s in page.locator("[data-testid=label]").all_inner_texts()]


def error_text(page: Any) -> str:
    page.wait_for_selector("[data-testid=error]:not([hidden])", timeout=30_000)
    return str(page.get_by_test_id("error").inner_text())


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


# ---------------------------------------------------------------------------------------------- server
def test_server_maps_only_the_three_roots(server: Any) -> None:
    from urllib.request import urlopen

    mpd = Path(mp.tools_dir()) / "node_modules" / mp.PACKAGE
    assert resolve("/", mpd) is not None and resolve("/index.html", mpd) == resolve("/", mpd)
    assert resolve("/mlrt/trees.py", mpd) is not None
    for bad in (
        "/../pyproject.toml",
        "/mlrt/../../cli.py",
        "/mp/package.json",
        "/%2e%2e/x",
        "/.hidden",
        "/mlrt/x.txt",
    ):
        assert resolve(bad, mpd) is None, bad
    with urlopen(server.url + "mp/micropython.wasm") as r:
        assert r.headers["Content-Type"] == "application/wasm"
        assert r.read(4) == b"\0asm"


def test_cli_serves_the_studio() -> None:
    import subprocess
    import sys
    from urllib.request import urlopen

    proc = subprocess.Popen(
        [sys.executable, "-m", "microlearn", "studio", "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("microlearn studio at http://127.0.0.1:"), line
        url = line.split()[3]
        with urlopen(url) as r:
            assert b'data-testid="model-file"' in r.read()
        with urlopen(url + "mlrt/trees.py") as r:
            assert r.headers["Content-Type"].startswith("text/plain")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------------- running
def test_model_and_csv_rows_equal_sklearn_and_micropython(page: Any, files: dict[str, Any]) -> None:
    d = files["dir"]
    page.get_by_test_id("model-file").set_input_files(d / "iris.mlm")
    page.get_by_test_id("data-file").set_input_files(d / "iris.csv")
    X = files["iris_X"]
    got = page_labels(page, len(X))
    assert got == files["iris_rf"].predict(X).tolist()
    data = (d / "iris.mlm").read_bytes()
    via_mp = mp.run_model(data, X)
    assert got == [str(files["iris_rf"].classes_[i]) for i in via_mp]
    info = page.get_by_test_id("model-info").inner_text()
    assert f"{len(data):,} bytes" in info and "µs per prediction" in info and "10 trees" in info
    assert page.locator("[data-testid=prediction-row]").count() == len(X)
    shot(page, "iris")


def test_sensor_pipeline_on_npy_equals_host_features_and_sklearn(page: Any, files: dict[str, Any]) -> None:
    d = files["dir"]
    page.get_by_test_id("pipeline-file").set_input_files(d / "motion.json")
    page.get_by_test_id("model-file").set_input_files(d / "motion.mlm")
    page.get_by_test_id("data-file").set_input_files(d / "motion.npy")
    F = files["motion_F"]
    got = page_labels(page, len(F))
    feats = np.array(page.evaluate("Array.from(window.studio.lastFeatures.feats)"), dtype=np.float32)
    assert np.array_equal(feats.reshape(F.shape), F)  # mlrt.dsp_features is bit-identical to the host
    assert got == files["motion_rf"].predict(F).tolist()


def test_pipeline_model_file_on_raw_samples(page: Any, files: dict[str, Any]) -> None:
    d = files["dir"]
    page.get_by_test_id("model-file").set_input_files(d / "motion_pipeline.mlm")
    page.wait_for_function("window.studio.model !== null")
    assert page.get_by_test_id("pipe-kind").input_value() == "model"
    page.locator("#pipe-hop").fill("25")
    page.locator("#pipe-hop").dispatch_event("change")
    page.get_by_test_id("data-file").set_input_files(d / "motion.npy")
    W = files["motion_W"]
    got = page_labels(page, len(W))
    assert got == files["motion_pipe"].predict(W).tolist()
    assert "windows of 50 × 3" in page.get_by_test_id("model-info").inner_text()


def test_wav_through_the_audio_pipeline(page: Any, files: dict[str, Any]) -> None:
    d = files["dir"]
    page.get_by_test_id("pipeline-file").set_input_files(d / "audio.json")
    page.get_by_test_id("model-file").set_input_files(d / "audio.mlm")
    page.get_by_test_id("data-file").set_input_files(d / "tones.wav")
    A = files["audio_F"]
    got = page_labels(page, len(A))
    feats = np.array(page.evaluate("Array.from(window.studio.lastFeatures.feats)"), dtype=np.float32).reshape(
        A.shape
    )
    np.testing.assert_allclose(feats, A, rtol=1e-4, atol=2e-3)  # float32 FFT/mel against float64 numpy
    rf = files["audio_rf"]
    assert got == rf.predict(feats).tolist()  # mlrt on the page's features = scikit-learn on them
    assert np.mean(np.array(got) == rf.predict(A)) >= 0.9
    shot(page, "audio")


def test_microphone_with_chromium_fake_capture(pw: Any, server: Any, files: dict[str, Any]) -> None:
    d = files["dir"]
    args = [
        "--no-sandbox",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={d / 'tone_only.wav'}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    b = pw.chromium.launch(executable_path=CHROMIUM, args=args)
    try:
        pg = b.new_page()
        pg.goto(server.url)
        pg.get_by_test_id("pipeline-file").set_input_files(d / "audio.json")
        pg.get_by_test_id("model-file").set_input_files(d / "audio.mlm")
        pg.get_by_test_id("live-mic").click()
        got = page_labels(pg, None, timeout=240_000)
        pg.wait_for_function("window.studio.preds.length >= 4", timeout=240_000)
        pg.get_by_test_id("live-stop").click()
        got = [s.strip() for s in pg.locator("[data-testid=label]").all_inner_texts()]
        err = pg.get_by_test_id("error")
        assert err.is_hidden(), err.inner_text()
    finally:
        b.close()
    assert len(got) >= 4
    assert got.count("tone") >= len(got) - 1  # the first window may start before the tone arrives


def test_accelerometer_devicemotion_events(page: Any, files: dict[str, Any]) -> None:
    d = files["dir"]
    page.get_by_test_id("pipeline-file").set_input_files(d / "motion.json")
    page.get_by_test_id("model-file").set_input_files(d / "motion.mlm")
    page.wait_for_function("window.studio.model !== null")
    page.get_by_test_id("live-motion").click()
    sig = files["motion"]
    page.evaluate(
        """(rows) => { for (const [x, y, z] of rows)
             window.dispatchEvent(new DeviceMotionEvent('devicemotion',
             {accelerationIncludingGravity: {x, y, z}, interval: 20})); }""",
        sig[:200].tolist(),
    )
    page.wait_for_function("window.studio.preds.length >= 7", timeout=60_000)
    page.get_by_test_id("live-stop").click()
    got = page_labels(page)
    want = files["motion_rf"].predict(files["motion_F"][:7]).tolist()
    assert got[:7] == want


# ---------------------------------------------------------------------------------------------- label, train
def label_motion(page: Any, files: dict[str, Any]) -> None:
    d = files["dir"]
    page.get_by_test_id("pipeline-file").set_input_files(d / "motion.json")
    page.get_by_test_id("data-file").set_input_files(d / "motion.npy")
    page.get_by_test_id("classes").fill("still,shake")
    page.get_by_test_id("classes").dispatch_event("change")
    plot = page.get_by_test_id("plot")
    plot.focus()
    page.keyboard.press("Home")
    for _ in range(24):  # hop 25 -> sample 600
        page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("1")
    page.keyboard.press("Shift+End")
    page.keyboard.press("2")


def counts(page: Any) -> list[str]:
    return [s.strip() for s in page.locator("[data-testid=count-windows]").all_inner_texts()]


def test_label_train_download_and_check_on_the_host(page: Any, files: dict[str, Any], tmp_path: Path) -> None:
    label_motion(page, files)
    assert counts(page) == ["23", "23"]
    page.keyboard.press("u")  # undo the second label, then redo it
    assert counts(page) == ["23", "0"]
    for _ in range(24):  # from the end back to sample 600
        page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("2")
    assert counts(page) == ["23", "23"]
    page.get_by_test_id("train-kind").select_option("forest")
    page.get_by_test_id("train").click()
    page.wait_for_selector("[data-testid=confusion]", timeout=120_000)
    F = files["motion_F"]
    got = page_labels(page, len(F))
    acc = page.get_by_test_id("val-accuracy").inner_text()
    assert float(acc.rstrip("%")) >= 90
    conf = page.get_by_test_id("confusion").inner_text()
    assert "still" in conf and "shake" in conf
    with page.expect_download() as dl:
        page.get_by_test_id("download").click()
    path = tmp_path / "trained.mlm"
    dl.value.save_as(path)
    data = path.read_bytes()
    ir = modelfile.loads(data)  # the host loader accepts the pipeline file written in MicroPython
    W = files["motion_W"]
    assert type(ir).__name__ == "Pipeline" and ir.n_inputs == 150
    assert list(ir.classes) == ["still", "shake"]
    host = [str(ir.classes[i]) for i in ir.reference(W).outputs]
    assert host == got  # the host predicts on raw windows what the page showed
    assert [str(ir.classes[i]) for i in mp.run_model(data, W)] == got
    final = ir.final
    assert final.feature_names is not None and final.feature_names[0] == "x_mean"
    assert [str(final.classes[i]) for i in final.predict_index(F)] == got
    shot(page, "trained")


def test_export_and_import_labelled_windows(page: Any, files: dict[str, Any], tmp_path: Path) -> None:
    label_motion(page, files)
    with page.expect_download() as dl:
        page.get_by_test_id("export-npz").click()
    npz = tmp_path / "w.npz"
    dl.value.save_as(npz)
    z = np.load(npz, allow_pickle=False)
    assert z["X"].shape == (46, 150) and z["X"].dtype == np.float32
    assert z["y"].tolist() == ["still"] * 23 + ["shake"] * 23
    W = sliding_windows(files["motion"], 50, 25)
    assert np.array_equal(z["X"][:23], W[:23]) and np.array_equal(z["X"][23:], W[24:47])
    assert json.loads(str(z["pipeline"][0]))["window"] == 50
    with page.expect_download() as dl:
        page.get_by_test_id("export-csv").click()
    csv = tmp_path / "w.csv"
    dl.value.save_as(csv)
    head = csv.read_text().splitlines()[0].split(",")
    assert head[0] == "label" and len(head) == 151
    page.get_by_test_id("import-windows").set_input_files(npz)
    page.wait_for_function("window.studio.imported.y.length === 46")
    page.get_by_test_id("import-windows").set_input_files(csv)
    page.wait_for_function("window.studio.imported.y.length === 92")
    imported = [s.strip() for s in page.locator("[data-testid=count-imported]").all_inner_texts()]
    assert imported == ["46", "46"]


def test_logistic_and_knn_download_files_the_host_predicts_alike(
    page: Any, files: dict[str, Any], tmp_path: Path
) -> None:
    label_motion(page, files)
    F = files["motion_F"]
    page.get_by_test_id("train-kind").select_option("logistic")
    page.get_by_test_id("train").click()
    page.wait_for_function("window.studio.train && window.studio.train.kind === 'logistic'", timeout=180_000)
    got = page_labels(page, len(F))
    assert got.count("still") >= 20 and got.count("shake") >= 20
    with page.expect_download() as dl:
        page.get_by_test_id("download").click()
    path = tmp_path / "logistic.mlm"
    dl.value.save_as(path)
    ir = modelfile.loads(path.read_bytes())
    assert type(ir).__name__ == "Linear"
    assert [str(ir.classes[i]) for i in ir.reference(F).outputs] == got
    page.get_by_test_id("train-kind").select_option("knn")
    page.get_by_test_id("train").click()
    page.wait_for_function("window.studio.train && window.studio.train.kind === 'knn'", timeout=180_000)
    got = page_labels(page, len(F))
    assert got.count("still") >= 20 and got.count("shake") >= 20
    with page.expect_download() as dl:
        page.get_by_test_id("download").click()
    path = tmp_path / "knn.mlm"
    dl.value.save_as(path)
    ir = modelfile.loads(path.read_bytes())
    assert type(ir.final).__name__ == "Neighbors"  # the page's sensor pipeline: features, scaler, rows
    W = files["motion_W"]
    assert [str(ir.classes[i]) for i in ir.reference(W).outputs] == got


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("field", "name", "expect"),
    [
        ("model-file", "corrupt.mlm", "CRC-32 mismatch"),
        ("model-file", "text.mlm", "bad magic"),
        ("data-file", "ragged.csv", "line 2 has 3 columns, expected 4"),
        ("data-file", "adpcm.wav", "format tag 2 (compressed) WAV is not supported"),
    ],
)
def test_bad_files_give_clear_errors(
    page: Any, files: dict[str, Any], field: str, name: str, expect: str
) -> None:
    page.get_by_test_id(field).set_input_files(files["dir"] / name)
    assert expect in error_text(page)


def test_wrong_number_of_columns_for_the_model(page: Any, files: dict[str, Any]) -> None:
    page.get_by_test_id("model-file").set_input_files(files["dir"] / "iris.mlm")
    page.wait_for_function("window.studio.model !== null")
    page.get_by_test_id("data-file").set_input_files(files["dir"] / "three.csv")
    msg = error_text(page)
    assert "has 3 columns but the model takes 4 features" in msg
    shot(page, "error")


# ---------------------------------------------------------------------------------------------- deploy
class _Station(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def _cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type")
        self.send_header("Access-Control-Allow-Methods", "POST")

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self._cors()
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = self.path == "/api/model" and self.headers["Authorization"] == "Bearer s3cret"
        if ok:
            self.received.append((self.headers["Content-Type"], body))
        self.send_response(200 if ok else 401)
        self._cors()
        self.end_headers()
        self.wfile.write(b'{"ok": true}' if ok else b'{"error": "token"}')

    def log_message(self, *args: Any) -> None:
        pass


def test_send_to_station_with_token(page: Any, files: dict[str, Any]) -> None:
    st = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Station)
    threading.Thread(target=st.serve_forever, daemon=True).start()
    try:
        page.get_by_test_id("model-file").set_input_files(files["dir"] / "iris.mlm")
        page.wait_for_function("window.studio.model !== null")
        page.get_by_test_id("station-url").fill(f"http://127.0.0.1:{st.server_address[1]}")
        page.get_by_test_id("station-token").fill("wrong")
        page.get_by_test_id("send-station").click()
        assert "refused the token (HTTP 401)" in error_text(page)
        page.get_by_test_id("station-token").fill("s3cret")
        page.get_by_test_id("send-station").click()
        page.wait_for_function(
            "document.querySelector('[data-testid=deploy-status]').textContent.startsWith('Sent')"
        )
    finally:
        st.shutdown()
        st.server_close()
    assert _Station.received == [("application/octet-stream", (files["dir"] / "iris.mlm").read_bytes())]


# ---------------------------------------------------------------------------------------------- access
def test_phone_viewport_and_keyboard_reach(browser: Any, server: Any, files: dict[str, Any]) -> None:
    pg = browser.new_page(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    pg.goto(server.url)
    pg.get_by_test_id("model-file").set_input_files(files["dir"] / "iris.mlm")
    pg.get_by_test_id("data-file").set_input_files(files["dir"] / "iris.csv")
    page_labels(pg, 150)
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    # every visible control is reachable with Tab
    controls = pg.evaluate(
        """() => Array.from(document.querySelectorAll('button, input, select, canvas'))
             .filter(e => e.offsetParent !== null && !e.disabled).map(e => e.id)"""
    )
    reached = set()
    for _ in range(len(controls) + 10):
        pg.keyboard.press("Tab")
        reached.add(pg.evaluate("document.activeElement.id"))
    assert set(controls) <= reached, set(controls) - reached
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / "phone.png"), full_page=False)
    pg.close()
