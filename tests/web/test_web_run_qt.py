"""An API scenario run with recovery, started through ``POST /api/v1/runs``, and its Q(t) drawn in
the dashboard (headless Debian Chromium driven by Playwright, as in ``test_web_browser.py``).

A fresh store holds the Zhejiang twin and one user; the service runs Lekima (JTWC 201910) with 10
realisations and a 3-day recovery horizon, then the browser selects Wenling (温岭, at landfall)
and must show the run's Q(t) chart, with the values the API returns for that unit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
pytestmark = pytest.mark.slow  # a real scenario run with recovery through the service, then a browser

import test_web_browser  # noqa: E402

browser = test_web_browser.browser  # the one Chromium fixture

import web_support as ws  # noqa: E402

TWIN = "zhejiang"
USER = "planner"
CONFIG = {
    "sn": "201910",
    "hazards": ["wind", "rain", "flood"],
    "realisations": 10,
    "recovery": {"horizon_days": 3, "step_h": 3},
}
ARTEFACTS = (
    Path(os.environ.get("RESCITY_TEST_ARTEFACTS") or Path(__file__).resolve().parents[1] / "artefacts") / "dashboard"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from rescity.store import open_store
    from rescity.twin.zhejiang import default_twin

    home = tmp_path_factory.mktemp("run-qt-home")
    url = f"sqlite:///{home / 'rescity.db'}"
    st = open_store(url)
    st.put_twin(TWIN, default_twin())
    st.add_user(USER, "emergency_management", "operator", password=ws.PASSWORD, full_name="Planner")
    token = st.add_token(USER, label="tests")["token"]
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with ws.serve(url, home, ARTEFACTS / "serve-run-qt.log") as base:
        run = ws.start_run(base, token, "scenario", TWIN, CONFIG, timeout_s=600)
        assert run["status"] == "done", run
        yield {"base": base, "token": token, "run": run["id"]}
    st.close()


def test_the_api_run_stores_its_qt(site):
    h = {"Authorization": f"Bearer {site['token']}"}
    names = {r["name"] for r in httpx.get(f"{site['base']}/api/v1/runs/{site['run']}/results", headers=h).json()}
    assert {"units", "settings", "qt", "metrics"} <= names
    q = httpx.get(f"{site['base']}/api/v1/dashboard/runs/{site['run']}/qt", params={"unit_id": "331081"},
                  headers=h).json()  # fmt: skip
    assert q["available"] and q["t_h"][0] == 0 and q["t_h"][-1] == 72
    assert set(q["series"]) >= {"power", "water"}
    assert min(v for s in q["series"].values() for v in s if v is not None) < 1  # Lekima cut service


def test_dashboard_draws_the_runs_qt(browser, site):
    h = {"Authorization": f"Bearer {site['token']}"}
    q = httpx.get(f"{site['base']}/api/v1/dashboard/runs/{site['run']}/qt", params={"unit_id": "331081"},
                  headers=h).json()  # fmt: skip
    first = next(iter(q["series"].values()))
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        pg.goto(site["base"] + "/")
        pg.fill("#username", USER)
        pg.fill("#password", ws.PASSWORD)
        pg.click("#login-submit")
        sync_api.expect(pg.locator("#map .leaflet-units-pane path")).to_have_count(91, timeout=30_000)
        pg.select_option("#unit-select", "331081")
        svg = pg.locator("#qt-chart svg[role='img']")
        sync_api.expect(svg).to_have_count(1, timeout=15_000)
        label = svg.get_attribute("aria-label")
        m = re.match(r"Q\(t\) of Wenling: (\d+) % at 0 h, (\d+) % at 72 h\.", label)
        assert m, label
        assert abs(int(m.group(1)) - 100 * first[0]) <= 0.5 + 1e-9
        assert abs(int(m.group(2)) - 100 * first[-1]) <= 0.5 + 1e-9
        assert pg.locator("#qt-chart svg polyline, #qt-chart svg path").count() >= len(q["series"])
        pg.locator("#unit-panel").screenshot(path=str(ARTEFACTS / "10-api-run-qt.png"))
    finally:
        ctx.close()
    assert errors == [], errors
