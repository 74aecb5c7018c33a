"""The dashboard in headless Chromium (Debian's ``/usr/bin/chromium`` driven by Playwright): sign-in,
the 91 counties on the map, the language toggle, a live alert reaching the feed without a reload,
keyboard navigation, Q(t), decisions, and no request leaving the server.

``rescity serve`` runs on a free loopback port over a temporary store with the Zhejiang twin, a
forecast, a scenario run with Q(t), a relocation decision and a user. Screenshots go to
``$RESCITY_TEST_ARTEFACTS/dashboard`` (default ``tests/artefacts/dashboard``). The tests skip,
saying why, where Playwright or Chromium is missing or Chromium cannot start.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
pytestmark = pytest.mark.slow  # about 40 s: a real forecast run, then one browser session per test

import web_support as ws  # noqa: E402

CHROMIUM = os.environ.get("RESCITY_CHROMIUM", "/usr/bin/chromium")
# Offline by construction: no background traffic, and every host name but loopback fails to resolve.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
TWIN = "zhejiang"
USER = "duty"
FORECAST = {
    "sn": "201910",
    "issued": "2019-08-08T12:00:00Z",
    "members": 4,
    "realisations": 8,
    "leads": [24, 48],
}
ARTEFACTS = (
    Path(os.environ.get("RESCITY_TEST_ARTEFACTS") or Path(__file__).resolve().parents[1] / "artefacts") / "dashboard"
)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium; or set RESCITY_CHROMIUM)"
        )
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as e:  # noqa: BLE001 - any launch failure means: cannot test here
            pytest.skip(f"Chromium at {CHROMIUM} could not be launched: {str(e).splitlines()[0]}")
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from rescity.store import open_store
    from rescity.twin.zhejiang import default_twin

    home = tmp_path_factory.mktemp("dashboard-home")
    url = f"sqlite:///{home / 'rescity.db'}"
    st = open_store(url)
    twin = default_twin()
    st.put_twin(TWIN, twin)
    st.add_user(USER, "emergency_management", "operator", password=ws.PASSWORD, full_name="Duty officer")
    token = st.add_token(USER, label="tests")["token"]
    ws.store_scenario(st, TWIN, twin.units, ["331002", "331004"])
    ws.store_decision(st, TWIN, twin.units, twin.assets, "331002")
    st.add_alert(
        {"twin": TWIN, "level": "orange", "kind": "rainstorm", "title": "Heavy rain", "unit_id": "331082",
         "message": "62 mm in 3 hours"},
        actor=ws.ACTOR,
    )  # fmt: skip
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with ws.serve(url, home, ARTEFACTS / "serve.log") as base:
        # a real forecast through the service: Lekima (JTWC 201910) issued 12 h before landfall,
        # a small ensemble (the dashboard is under test, not the forecast)
        run = ws.start_run(base, token, "forecast", TWIN, FORECAST)
        assert run["status"] == "done", run
        yield {
            "base": base, "store": st, "token": token, "twin": twin, "forecast_run": run["id"], "url": url,
            "home": home,
        }  # fmt: skip
    st.close()


@pytest.fixture
def page(browser, site):
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    pg = ctx.new_page()
    pg.requests = []  # every URL the page asked for
    pg.errors = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    ctx.close()
    assert pg.errors == [], pg.errors


def sign_in(pg, site):
    pg.goto(site["base"] + "/")
    pg.fill("#username", USER)
    pg.fill("#password", ws.PASSWORD)
    pg.click("#login-submit")
    sync_api.expect(pg.locator("#map .leaflet-units-pane path")).to_have_count(91, timeout=30_000)
    sync_api.expect(pg.locator("#feed-status")).to_have_attribute("data-state", "live", timeout=10_000)


def shot(pg, name):
    pg.mouse.move(1, 1)  # no hover tooltip in the picture
    pg.screenshot(path=str(ARTEFACTS / f"{name}.png"))


def test_wrong_password_is_refused_in_plain_words(page, site):
    page.goto(site["base"] + "/")
    page.fill("#username", USER)
    page.fill("#password", "not-the-password")
    page.click("#login-submit")
    sync_api.expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")
    assert page.locator("#app-view").is_hidden()


def test_page_loads_after_login_and_shows_the_91_counties(page, site):
    sign_in(page, site)
    paths = page.locator("#map .leaflet-units-pane path")
    assert paths.count() == 91
    # each county has the colour of its warning in the forecast's current frame (the latest
    # issuance, first lead window), as the API gives it
    h = {"Authorization": f"Bearer {site['token']}"}
    fid = httpx.get(f"{site['base']}/api/v1/forecasts", headers=h).json()["items"][0]["id"]
    vals = httpx.get(f"{site['base']}/api/v1/dashboard/forecasts/{fid}/values", headers=h).json()
    assert vals["lead_h"] == 24 and len(vals["values"]) == 91
    colour = {
        "none": "#d9d9d9",
        "blue": "#2b83ba",
        "yellow": "#ffd92f",
        "orange": "#fd8d3c",
        "red": "#d7191c",
    }
    fills = {}
    for uid, v in vals["values"].items():
        fills[uid] = page.locator(f"#map .leaflet-units-pane path.u-{uid}").get_attribute("fill")
        assert fills[uid] == colour[v["warning"]], uid
    assert len(set(fills.values())) >= 3  # Lekima's forecast warns the coast, not the inland west
    legend = page.locator("#legend-body").inner_text()
    for label in ("Red — level I", "Orange — level II", "Yellow — level III", "Blue — level IV"):
        assert label in legend
    sync_api.expect(page.locator("#frame-label")).to_contain_text("next 24 h")
    assert page.locator("#user-name").inner_text().startswith("Duty officer")
    shot(page, "01-map-en")


def test_language_toggle_switches_labels_and_place_names(page, site):
    sign_in(page, site)
    assert page.locator("#alerts-h").inner_text() == "Alerts"
    assert page.locator("#unit-select option[value='331002']").inner_text() == "Jiaojiang"
    page.click("#lang-toggle")
    sync_api.expect(page.locator("#alerts-h")).to_have_text("预警信息")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.locator("#unit-select option[value='331002']").inner_text() == "椒江区"
    assert page.locator("#lang-toggle").inner_text() == "English"
    card = page.locator("#alert-feed > li").first.inner_text()
    assert "暴雨橙色预警" in card and "怎么做" in card and "台州市临海市" in card
    assert "红色 — I级" in page.locator("#legend-body").inner_text()
    shot(page, "02-map-zh")
    page.click("#lang-toggle")
    sync_api.expect(page.locator("#alerts-h")).to_have_text("Alerts")
    assert page.locator("#unit-select option[value='331002']").inner_text() == "Jiaojiang"


@pytest.mark.parametrize("source", ["store", "api"])
def test_a_published_alert_appears_in_the_feed_without_reload(page, site, source):
    sign_in(page, site)
    loads = []
    page.on("load", lambda: loads.append(1))
    before = page.locator("#alert-feed > li").count()
    publish = ws.alert_publisher(source, site["store"], site["base"], site["token"])
    publish(
        {
            "twin": TWIN,
            "level": "red",
            "kind": "typhoon",
            "title": f"Typhoon landfall ({source})",
            "unit_id": "331081",
        }
    )
    card = page.locator("#alert-feed > li", has_text=f"Typhoon landfall ({source})")
    sync_api.expect(card).to_have_count(1, timeout=10_000)
    text = card.inner_text()
    for part in ("Red typhoon warning", "Who", "What", "Where", "What to do", "Wenling, Taizhou"):
        assert part in text
    assert "Gatherings stop; schools and businesses close" in text
    assert page.locator("#alert-feed > li").count() == before + 1
    assert page.locator("#alert-feed > li").first.get_attribute("class").startswith("alert-card lvl-red")
    sync_api.expect(page.locator("#alert-announcer")).to_contain_text("Red typhoon warning")
    assert loads == []  # no reload
    page.locator("#alerts").screenshot(path=str(ARTEFACTS / f"03-alert-feed-{source}.png"))
    card.get_by_role("button", name="Show on map").click()
    sync_api.expect(page.locator("#unit-select")).to_have_value("331081")  # Wenling, the alert's county


def test_an_observation_published_over_mqtt_raises_an_alert_in_the_feed(page, site, tmp_path):
    """The whole live path: an NGSI-LD WeatherObserved published over MQTT → ``rescity sense``
    (validation, CMA rainstorm rule: red at ≥ 100 mm in 3 h) → alert in the store → the
    dashboard's feed, without a reload."""
    pytest.importorskip("paho.mqtt.client", reason="needs paho-mqtt (pip install 'rescity[sense]')")
    import datetime as dt
    import json
    import subprocess
    import sys
    import time

    import paho.mqtt.client as mqtt

    from _sense_support import Mosquitto, unique
    from rescity.sense.ngsi import weather_entity

    broker = Mosquitto(tmp_path)
    if broker.exe is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker.start()
    prefix = unique("rescity-web")
    cmd = [sys.executable, "-m", "rescity", "sense", "--store", site["url"], "--twin", TWIN, "--broker", broker.url,
           "--prefix", prefix, "--client-id", unique("rescity-web-sense"), "--no-nowcast"]  # fmt: skip
    log = open(ARTEFACTS / "sense.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "RESCITY_HOME": str(site["home"])}
    )
    try:
        sign_in(page, site)
        loads = []
        page.on("load", lambda: loads.append(1))
        deadline = time.time() + 60
        while "subscribed to" not in (ARTEFACTS / "sense.log").read_text() and time.time() < deadline:
            assert proc.poll() is None, (ARTEFACTS / "sense.log").read_text()
            time.sleep(0.1)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique("rescity-web-pub"))
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        infos = []
        for h in (2, 1, 0):  # 3 × 40 mm in the last three hours at the Wenling weather station
            t = (now - dt.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")
            e = weather_entity("W331081", t, rain_mm=40.0)
            infos.append(pub.publish(f"{prefix}/entities/weather", json.dumps(e), qos=1))
        for i in infos:
            i.wait_for_publish(10)
        card = page.locator("#alert-feed > li", has_text="Red rainstorm warning").filter(has_text="Wenling")
        sync_api.expect(card.first).to_be_visible(timeout=30_000)
        text = card.first.inner_text()
        for part in ("Who", "What", "Where", "What to do"):
            assert part in text
        assert loads == []  # no reload
        page.locator("#alerts").screenshot(path=str(ARTEFACTS / "03-alert-feed-mqtt.png"))
        pub.loop_stop()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        broker.stop()


def focused(pg) -> str:
    return pg.evaluate(
        "() => { const e = document.activeElement; return e.id || e.textContent.trim() || e.className }"
    )


def test_keyboard_reaches_every_control_with_a_visible_focus(page, site):
    sign_in(page, site)
    page.locator("body").focus()
    order = []
    for _ in range(40):
        page.keyboard.press("Tab")
        f = focused(page)
        order.append(f)
        style = page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth] }"
        )
        if f in ("lang-toggle", "colour-mode", "frame-slider", "unit-select", "map"):
            assert style[0] != "none" and float(style[1].rstrip("px")) >= 2, (f, style)
        if f == "unit-select":
            shot(page, "04-keyboard-focus")
        if f == "map":
            break
    want = ["Skip to the map", "Skip to the alerts", "lang-toggle", "logout", "colour-mode", "forecast-select",
            "indicator-select", "frame-slider", "play", "level-select", "sys-power", "sys-water", "sys-road",
            "sys-telecom", "sys-facility", "asset-status", "decision-select", "unit-select", "map"]  # fmt: skip
    assert [x for x in order if x in want] == want, order
    # choose a unit with the keyboard alone: its Q(t) chart appears
    page.focus("#unit-select")
    target = page.locator("#unit-select option[value='331002']")
    idx = page.evaluate(
        "() => [...document.querySelectorAll('#unit-select option')].findIndex(o => o.value === '331002')"
    )
    for _ in range(idx):
        page.keyboard.press("ArrowDown")
    assert target.evaluate("o => o.selected")
    sync_api.expect(page.locator("#qt-chart svg[role='img']")).to_have_count(1, timeout=10_000)
    # the skip link moves the focus to the map
    page.focus("a.skip >> nth=0")
    page.keyboard.press("Enter")
    assert focused(page) == "map"


def test_selected_unit_shows_qt_or_says_there_is_none(page, site):
    sign_in(page, site)
    page.select_option("#unit-select", "331002")
    svg = page.locator("#qt-chart svg[role='img']")
    sync_api.expect(svg).to_have_count(1, timeout=10_000)
    label = svg.get_attribute("aria-label")
    # Q = 1 − 0.4·exp(−t/18): 0.60 at 0 h, 1 − 0.4·e⁻⁴ = 0.9927 at 72 h
    assert re.match(r"Q\(t\) of Jiaojiang: 60 % at 0 h, 99 % at 72 h\.", label), label
    assert page.locator("#unit-body").inner_text().startswith("Jiaojiang")
    page.locator("#unit-panel").screenshot(path=str(ARTEFACTS / "05-unit-qt.png"))
    page.select_option("#unit-select", "330102")
    sync_api.expect(page.locator("#qt-chart")).to_have_text("No recovery results for this unit yet.")


def test_time_slider_changes_the_frame(page, site):
    sign_in(page, site)
    slider = page.locator("#frame-slider")
    assert slider.get_attribute("max") == "1"  # one issuance, lead windows 24 h and 48 h
    label0 = page.locator("#frame-label").inner_text()
    page.focus("#frame-slider")
    page.keyboard.press("End")
    sync_api.expect(page.locator("#frame-label")).to_contain_text("next 48 h")
    assert page.locator("#frame-label").inner_text() != label0
    assert "next 48 h" in slider.get_attribute("aria-valuetext")


def test_decision_and_asset_layers(page, site):
    sign_in(page, site)
    page.select_option("#decision-select", label="Relocation plan (relocation)")
    lines = page.locator("#map .leaflet-decisions-pane path")
    sync_api.expect(lines).not_to_have_count(0, timeout=10_000)
    assert lines.count() >= 12  # 12 assignments (+ shelters)
    page.check("#sys-facility")
    sync_api.expect(page.locator("#asset-note")).to_contain_text("assets", timeout=10_000)
    page.select_option("#unit-select", "331002")
    sync_api.expect(page.locator("#asset-note")).to_contain_text("assets shown", timeout=10_000)
    shot(page, "06-decision-assets")


def test_no_request_leaves_the_server(page, site):
    sign_in(page, site)
    page.select_option("#unit-select", "331002")
    page.check("#sys-power")
    page.wait_for_timeout(1000)
    outside = [u for u in page.requests if not (u.startswith(site["base"] + "/") or u.startswith("data:"))]
    assert outside == [] and len(page.requests) > 10


def test_place_names_on_the_map_follow_zoom_and_language(page, site):
    sign_in(page, site)
    pref = page.locator("#map .prefecture-label")
    sync_api.expect(pref).to_have_count(11, timeout=10_000)
    assert "Hangzhou" in " ".join(pref.all_inner_texts())
    assert page.locator("#map .county-label").count() == 0  # province view: cities only
    page.evaluate("window.rescityMap.setView([28.4, 121.3], 9)")
    counties = page.locator("#map .county-label")
    sync_api.expect(counties).to_have_count(91, timeout=10_000)
    assert "Wenling" in " ".join(counties.all_inner_texts())
    page.click("#lang-toggle")
    sync_api.expect(page.locator("#map .county-label", has_text="温岭市")).to_have_count(1)
    # drawn with the served Chinese font, whatever the system has
    page.evaluate("document.fonts.ready")
    assert page.evaluate("document.fonts.check('15px rescity-cjk', '温岭市预警信息')")
    assert any(u.endswith("/fonts/rescity-cjk.ttf") for u in page.requests)
    shot(page, "10-labels-zh")


def test_selected_unit_sits_above_the_alerts(page, site):
    sign_in(page, site)
    unit = page.locator("#unit-panel").bounding_box()
    alerts = page.locator("#alerts").bounding_box()
    assert unit["y"] < alerts["y"]


def test_legend_classes_are_round_numbers(page, site):
    sign_in(page, site)
    page.select_option("#colour-mode", "indicator")
    page.select_option("#indicator-select", "relocate")
    legend = page.locator("#legend-body")
    sync_api.expect(legend).to_contain_text("0 –", timeout=10_000)
    rows = [r for r in legend.inner_text().splitlines() if "–" in r]
    edges = [float(x.replace(",", "")) for r in rows for x in re.findall(r"[\d.,]+", r)]
    for e in edges:
        if e >= 10:  # 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^n
            m = e / 10 ** int(f"{e:e}".split("e")[1])
            assert round(m, 6) in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8), rows


def test_start_a_hindcast_from_the_page_and_see_it_on_the_map(page, site):
    sign_in(page, site)
    before = page.locator("#forecast-select option").count()
    page.select_option("#run-kind", "hindcast")
    assert page.locator("#run-track-row").is_hidden() and page.locator("#run-issued-row").is_visible()
    page.fill("#run-sn", "")
    page.click("#run-start")
    sync_api.expect(page.locator("#run-status")).to_contain_text("give a storm")  # refused, in words
    page.fill("#run-sn", "Lekima")  # a name: the service resolves it to CMA 1909 / JTWC 201910
    page.fill("#run-issued", "2019-08-09T06:00Z")
    page.fill("#run-members", "2")
    page.fill("#run-n", "4")
    page.click("#run-start")
    sync_api.expect(page.locator("#run-progress")).to_be_visible(timeout=10_000)
    sync_api.expect(page.locator("#run-status")).to_contain_text("on the map", timeout=300_000)
    assert page.locator("#forecast-select option").count() == before + 1
    assert page.locator("#colour-mode").input_value() == "warning"
    fills = {
        page.locator(f"#map .leaflet-units-pane path.u-{u}").get_attribute("fill") for u in ("331081", "330110")
    }
    assert fills and "#cccccc" not in fills
    shot(page, "11-hindcast-started")
