"""The station's web UI in headless Chromium (Playwright) against the app running under CPython: sign in
by token and by password, live values, the thinned history plot, picking a window, "find windows like
this one", labelling, model upload, settings; keyboard only and a phone-sized viewport."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

import microlearn
from microlearn import station
from test_station_api import T0, fill, free_port

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed: run `make setup`"
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[station.Running]:
    r = station.start(tmp_path_factory.mktemp("ui"), port=free_port(), sample=False)
    fill(r, 1200, T0)
    yield r
    r.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def open_page(browser: Any, run: station.Running, **kw: Any) -> tuple[Any, list[str]]:
    pg = browser.new_page(**kw)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(run.url + "/")
    return pg, errors


def sign_in(pg: Any, token: str) -> None:
    pg.get_by_test_id("token-input").fill(token)
    pg.get_by_test_id("token-save").click()
    pg.get_by_test_id("auth-status").filter(has_text="signed in").wait_for()


def test_wrong_token_is_refused_and_shows_nothing(browser: Any, run: station.Running) -> None:
    pg, errors = open_page(browser, run)
    pg.get_by_test_id("token-input").fill("not-the-token")
    pg.get_by_test_id("token-save").click()
    pg.get_by_test_id("auth-error").filter(has_text="refused").wait_for()
    assert pg.locator("#app").is_hidden()
    assert pg.get_by_test_id("auth-status").inner_text() == "not signed in"
    pg.close()
    assert not errors


def test_live_history_search_label_model_settings(browser: Any, run: station.Running, tmp_path: Path) -> None:
    pg, errors = open_page(browser, run, viewport={"width": 1100, "height": 1400})
    sign_in(pg, run.station.settings["token"])
    # live values of the last sample
    last = run.station.last
    assert last is not None
    pg.get_by_test_id("live-values").filter(has_text=f"{last[1][0]:.3f}").wait_for()
    # the history plot draws the store's thinned points (10 min at 10 Hz = 6000 samples, 800 px)
    pg.get_by_test_id("history-span").select_option("3600000")
    count = pg.get_by_test_id("history-count")
    pg.wait_for_function("document.querySelector('[data-testid=history-count]').textContent !== '0'")

    def expected() -> int:
        t1 = run.station.store.last_time() + 1
        return len(run.station.store.thin(t1 - 3_600_000, t1, 800, "x", "minmax"))

    # the plot redraws when the new span's answer arrives (the count shown before is the old span's) and
    # live samples keep arriving: wait for the page and the store to agree
    deadline = time.monotonic() + 60
    while int(count.inner_text()) != expected() and time.monotonic() < deadline:
        pg.wait_for_timeout(200)
    assert int(count.inner_text()) == expected()
    ink = pg.evaluate(
        "(() => { const c = document.querySelector('canvas'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) "
        "if (d[i]) n++; return n; })()"
    )
    assert ink > 500
    pg.get_by_test_id("history-method").select_option("lttb")
    pg.wait_for_function("+document.querySelector('[data-testid=history-count]').textContent <= 800")
    # pick a window from the list, find similar ones, label it
    pg.get_by_test_id("windows-list").get_by_test_id("select-window").nth(3).click()
    sel = pg.get_by_test_id("selected-window").inner_text()
    t_sel = int(sel.split("(")[1].rstrip(")"))
    pg.get_by_test_id("similar-btn").click()
    items = pg.get_by_test_id("similar-list").locator("li")
    items.nth(9).wait_for()
    expect = [s["t_ms"] for s in run.call(lambda: run.station.similar(t_sel, 10))]
    got = [
        int(b.get_attribute("data-t"))
        for b in pg.get_by_test_id("similar-list").get_by_test_id("select-window").all()
    ]
    assert got == expect
    pg.get_by_test_id("label-input").fill("bump")
    pg.get_by_test_id("label-save").click()
    pg.get_by_test_id("windows-list").filter(has_text="label bump").wait_for()
    assert run.station.index.labels[t_sel] == "bump"
    # model upload through the file input, then the live prediction
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 16)).astype(np.float32)
    clf = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, np.where(X[:, 0] > 0, "move", "rest"))
    f = tmp_path / "m.mlm"
    microlearn.convert(clf).save(f)
    pg.get_by_test_id("model-file").set_input_files(str(f))
    pg.get_by_test_id("model-upload").click()
    pg.get_by_test_id("model-status").filter(has_text="classes move, rest").wait_for()
    fill(run, 100, run.station.store.last_time() + 100)
    pg.get_by_test_id("live-pred").filter(has_text="at ").wait_for()
    assert pg.get_by_test_id("live-pred").inner_text().split(" ")[0] in ("move", "rest")
    bad = tmp_path / "bad.mlm"
    bad.write_bytes(b"MLM nonsense")
    pg.get_by_test_id("model-file").set_input_files(str(bad))
    pg.get_by_test_id("model-upload").click()
    pg.get_by_test_id("model-msg").filter(has_text="model refused").wait_for()
    assert run.station.model_info["classes"] == ["move", "rest"]
    # settings
    pg.get_by_test_id("settings-name").fill("bench-3")
    pg.get_by_test_id("settings-save").click()
    pg.get_by_test_id("settings-msg").filter(has_text="saved").wait_for()
    assert run.station.settings["name"] == "bench-3"
    pg.get_by_test_id("settings-name").fill("no spaces allowed")
    pg.get_by_test_id("settings-save").click()
    pg.get_by_test_id("settings-msg").filter(has_text="name").wait_for()
    assert run.station.settings["name"] == "bench-3"
    pg.close()
    assert not errors, errors


def test_password_login_keyboard_only_on_a_phone(browser: Any, run: station.Running) -> None:
    run.call(lambda: run.station.update_settings({"password": "keyboard-pass"}))
    pg, errors = open_page(
        browser, run, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    pg.get_by_test_id("password-input").focus()
    pg.keyboard.type("keyboard-pass")
    pg.keyboard.press("Enter")
    pg.get_by_test_id("auth-status").filter(has_text="signed in (session)").wait_for()
    # a write through the session carries the CSRF token: label by keyboard
    pg.get_by_test_id("windows-list").get_by_test_id("select-window").first.focus()
    pg.keyboard.press("Enter")
    pg.get_by_test_id("label-input").focus()
    pg.keyboard.type("tapped")
    pg.keyboard.press("Enter")
    pg.get_by_test_id("windows-list").filter(has_text="label tapped").wait_for()
    assert "tapped" in run.station.index.labels.values()
    width = pg.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the phone
    pg.close()
    assert not errors, errors
