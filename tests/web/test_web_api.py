"""The dashboard's data endpoints on the Zhejiang twin: sign-in, shapes, values, access rules, the
live alerts feed (server-sent events)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")

import web_support as ws  # noqa: E402

TWIN = "zhejiang"
USERS = {
    "admin": ("platform", "admin"),
    "em_operator": ("emergency_management", "operator"),
    "water_viewer": ("water_utility", "viewer"),
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from fastapi.testclient import TestClient

    from rescity.api import create_app
    from rescity.store import open_store
    from rescity.twin.zhejiang import default_twin

    tmp = tmp_path_factory.mktemp("web-api")
    st = open_store(f"sqlite:///{tmp / 'rescity.db'}")
    twin = default_twin()
    st.put_twin(TWIN, twin)
    tokens = {}
    for name, (dept, role) in USERS.items():
        st.add_user(name, dept, role)
        tokens[name] = st.add_token(name, label="tests")["token"]
    fid = ws.store_forecast(st, TWIN, twin.units)
    rid = ws.store_scenario(st, TWIN, twin.units, ["331002", "331004"])
    plain_run = ws.store_run(st, "summary", TWIN, {"metrics": {"x": 1}})
    did = ws.store_decision(st, TWIN, twin.units, twin.assets, "331002")
    app = create_app(store=st, workers=1)
    with TestClient(app) as client:
        yield {
            "client": client,
            "store": st,
            "twin": twin,
            "tokens": tokens,
            "forecast": fid,
            "run": rid,
            "plain_run": plain_run,
            "decision": did,
        }
    st.close()


def get(env, path, user="admin", **params):
    return env["client"].get(path, params=params, headers={"Authorization": f"Bearer {env['tokens'][user]}"})


def ok(r):
    assert r.status_code == 200, r.text
    return r.json()


# -- units ----------------------------------------------------------------------------------
def test_county_geojson_has_the_91_counties_with_names(env):
    r = get(env, f"/api/v1/dashboard/twins/{TWIN}/units.geojson", level="county")
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    u = env["twin"].units
    counties = u[u["level"] == "county"]
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 91 == len(counties)
    ids = [f["properties"]["unit_id"] for f in fc["features"]]
    assert sorted(ids) == sorted(counties["unit_id"])
    by = counties.set_index("unit_id")
    for f in fc["features"]:
        p = f["properties"]
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert (
            p["name_zh"] == by.loc[p["unit_id"], "name_zh"]
            and p["name_en"] == by.loc[p["unit_id"], "name_en"]
        )


def test_simplified_counties_keep_their_area_and_place(env):
    import shapely

    fc = get(env, f"/api/v1/dashboard/twins/{TWIN}/units.geojson", level="county").json()
    twin = env["twin"]
    orig = dict(zip(twin.units["unit_id"], twin.geometry.values, strict=True))
    n_coords_in = n_coords_out = 0
    for f in fc["features"]:
        g = shapely.from_geojson(__import__("json").dumps(f["geometry"]))
        o = orig[f["properties"]["unit_id"]]
        # a 0.001° (≈ 100 m) tolerance moves a county's area by well under 2 %
        assert abs(g.area - o.area) / o.area < 0.02, f["properties"]["unit_id"]
        assert g.representative_point().within(o.buffer(0.01))
        n_coords_in += shapely.get_num_coordinates(o)
        n_coords_out += shapely.get_num_coordinates(g)
    assert n_coords_out <= n_coords_in


def test_geojson_joins_a_forecast_frame(env):
    fc = get(
        env,
        f"/api/v1/dashboard/twins/{TWIN}/units.geojson",
        level="county",
        forecast_id=env["forecast"],
        indicator="composite",
        lead_h=24,
        issued="2019-08-09T00:00:00Z",
    ).json()
    table = ws.synthetic_issuances(env["twin"].units, ["2019-08-08T12:00:00Z", "2019-08-09T00:00:00Z"])
    want = table[
        (table["issued"] == "2019-08-09T00:00:00Z")
        & (table["lead_h"] == 24)
        & (table["indicator"] == "composite")
        & (table["level"] == "county")
    ].set_index("unit_id")
    names = ["none", "blue", "yellow", "orange", "red"]
    for f in fc["features"]:
        p = f["properties"]
        assert p["value"] == pytest.approx(want.loc[p["unit_id"], "mean"])
        assert p["warning"] == names[int(want.loc[p["unit_id"], "warning"])]


# -- forecasts and runs ---------------------------------------------------------------------
def test_forecast_frames_are_in_order_of_valid_time(env):
    j = ok(get(env, f"/api/v1/dashboard/forecasts/{env['forecast']}/frames"))
    fr = j["frames"]
    assert len(fr) == 2 * 2  # two issuances × two lead windows
    valid = [pd.Timestamp(f["valid_to"]) for f in fr]
    assert valid == sorted(valid)
    for f in fr:
        assert pd.Timestamp(f["valid_to"]) == pd.Timestamp(f["issued"]) + pd.Timedelta(hours=f["lead_h"])
    assert j["indicators"][0] == "composite" and set(j["indicators"]) == {"composite", "relocate"}
    assert j["levels"] == ["province", "prefecture", "county"]


def test_forecast_values_default_to_the_latest_issuance_and_shortest_lead(env):
    j = ok(get(env, f"/api/v1/dashboard/forecasts/{env['forecast']}/values", indicator="relocate"))
    assert j["issued"] == "2019-08-09T00:00:00Z" and j["lead_h"] == 24
    assert len(j["values"]) == 91
    v = j["values"]["331002"]
    assert v["p05"] == pytest.approx(0.6 * v["value"]) and v["p95"] == pytest.approx(1.5 * v["value"])
    r = get(env, f"/api/v1/dashboard/forecasts/{env['forecast']}/values", lead_h=96)
    assert r.status_code == 422 and r.json()["error"]["field"] == "lead_h"


def test_run_values_carry_the_warning_of_the_relocation_thresholds(env):
    """A county relocating ≥ 3.09753 % of its residents reaches red (province criterion of 2 million
    people / Zhejiang's 64,567,588 residents, packaged warning_thresholds.csv)."""
    st, twin = env["store"], env["twin"]
    u = twin.units[twin.units["level"] == "county"].head(5).reset_index(drop=True)
    share = np.array([0.0, 0.0016, 0.008, 0.016, 0.032])  # just above each threshold: none…red but blue
    table = u[["unit_id", "level", "parent_id", "name_zh", "name_en", "population"]].assign(
        relocate_mean=np.ceil(u["population"] * share)
    )
    rid = ws.store_run(st, "scenario", TWIN, {"units": table})
    j = ok(get(env, f"/api/v1/dashboard/runs/{rid}/values", indicator="relocate"))
    got = [j["values"][x]["warning"] for x in u["unit_id"]]
    assert got == ["none", "blue", "yellow", "orange", "red"]
    assert j["indicators"] == ["relocate"]


def test_qt_of_a_unit_and_the_message_without_recovery_results(env):
    j = ok(get(env, f"/api/v1/dashboard/runs/{env['run']}/qt", unit_id="331002"))
    assert j["available"] and set(j["series"]) == {"power", "water"}
    t = np.array(j["t_h"])
    assert t[0] == 0 and t[-1] == 72
    np.testing.assert_allclose(j["series"]["power"], 1 - 0.4 * np.exp(-t / 18.0))
    j = ok(get(env, f"/api/v1/dashboard/runs/{env['run']}/qt", unit_id="330102"))
    assert j["available"] is False and "330102" in j["reason"]
    j = ok(get(env, f"/api/v1/dashboard/runs/{env['plain_run']}/qt", unit_id="331002"))
    assert j == {"available": False, "reason": "no recovery results in this run", "run_id": env["plain_run"]}


def test_overview_lists_what_the_user_may_see(env):
    j = ok(get(env, f"/api/v1/dashboard/twins/{TWIN}", user="water_viewer"))
    assert j["systems"] == {
        "power": "status",
        "water": "full",
        "road": "status",
        "telecom": "status",
        "facility": "status",
    }
    assert [f["id"] for f in j["forecasts"]] == [env["forecast"]]
    # next to the forecasts: the calibration in use and how the model did on past storms
    assert j["track_record"]["calibration"].startswith("calibration zhejiang-typhoons")
    assert "past Zhejiang typhoons" in j["track_record"]["plain_words"]
    run = next(r for r in j["runs"] if r["id"] == env["run"])
    assert run["has_qt"] and set(run["results"]) == {"units", "qt"}
    d = next(d for d in j["decisions"] if d["id"] == env["decision"])
    assert d["layers"] == ["shelters"]


# -- assets ---------------------------------------------------------------------------------
def test_whole_province_is_counted_per_cell_once_each(env):
    j = ok(get(env, f"/api/v1/dashboard/twins/{TWIN}/assets", bbox="117,26,124,32", zoom=7))
    n = len(env["twin"].assets)
    assert j["mode"] == "clusters" and j["total"] == n
    assert sum(f["properties"]["count"] for f in j["features"]) == n
    for f in j["features"]:
        p = f["properties"]
        assert p["up"] + p["down"] + p["unknown"] == p["count"] == sum(p["by_system"].values())


def test_a_small_view_sends_points_inside_it(env):
    a = env["twin"].assets
    w, s, e, n = 121.40, 28.62, 121.46, 28.68
    inside = a[(a["lon"] >= w) & (a["lon"] <= e) & (a["lat"] >= s) & (a["lat"] <= n)]
    assert 0 < len(inside) <= 2000
    j = ok(get(env, f"/api/v1/dashboard/twins/{TWIN}/assets", bbox=f"{w},{s},{e},{n}", zoom=14))
    assert j["mode"] == "points" and j["total"] == len(inside)
    assert sorted(f["properties"]["asset_id"] for f in j["features"]) == sorted(inside["asset_id"])


def test_status_only_systems_are_never_sent_one_by_one(env):
    a = env["twin"].assets
    w, s, e, n = 121.2, 28.5, 121.6, 28.8
    j = ok(
        get(
            env,
            f"/api/v1/dashboard/twins/{TWIN}/assets",
            user="water_viewer",
            bbox=f"{w},{s},{e},{n}",
            zoom=13,
        )
    )
    points = [f["properties"] for f in j["features"] if "asset_id" in f["properties"]]
    assert points and {p["system"] for p in points} == {"water"}
    cells = [f["properties"] for f in j["features"] if "count" in f["properties"]]
    assert cells and all(c["approx"] for c in cells if set(c["by_system"]) - {"water"})
    power_ids = set(a.loc[a["system"] == "power", "asset_id"])
    assert not power_ids & {p["asset_id"] for p in points}


def test_status_filter_counts_the_assets_set_down(env):
    st, a = env["store"], env["twin"].assets
    from rescity.govern.principal import Principal

    down = a[a["system"] == "power"]["asset_id"].head(7).tolist()
    st.set_asset_status(
        TWIN, [{"asset_id": x, "status": "down"} for x in down], actor=Principal("t", "platform", "admin")
    )
    j = ok(get(env, f"/api/v1/dashboard/twins/{TWIN}/assets", bbox="117,26,124,32", zoom=7, status="down"))
    assert j["total"] == 7
    j = ok(
        get(
            env,
            f"/api/v1/dashboard/twins/{TWIN}/assets",
            bbox="117,26,124,32",
            zoom=7,
            system="water",
            status="down",
        )
    )
    assert j["total"] == 0
    r = get(env, f"/api/v1/dashboard/twins/{TWIN}/assets", bbox="124,32,117,26")
    assert r.status_code == 422 and r.json()["error"]["field"] == "bbox"


# -- decisions ------------------------------------------------------------------------------
def test_relocation_decision_as_lines_to_the_shelters(env):
    twin = env["twin"]
    body = env["store"].get_decision(env["decision"])["body"]
    j = ok(get(env, f"/api/v1/dashboard/decisions/{env['decision']}/layer", user="em_operator"))
    lines = [f for f in j["features"] if f["properties"]["layer"] == "assignment"]
    assert len(lines) == len(body["assignments"]) and j["skipped"] == 0
    a = twin.assets.set_index("asset_id")
    u = twin.units.set_index("unit_id")
    for f in lines:
        (x0, y0), (x1, y1) = f["geometry"]["coordinates"]
        p = f["properties"]
        assert (x0, y0) == pytest.approx((u.loc[p["unit_id"], "lon"], u.loc[p["unit_id"], "lat"]), abs=1e-5)
        assert (x1, y1) == pytest.approx(
            (a.loc[p["shelter_id"], "lon"], a.loc[p["shelter_id"], "lat"]), abs=1e-5
        )
        assert p["approx"] is False
    shelters = {f["properties"]["shelter_id"] for f in j["features"] if f["properties"]["layer"] == "shelter"}
    assert shelters == {r["shelter_id"] for r in body["assignments"]}
    # a department that may not see facility positions gets them at the shelter's cell centre
    j = ok(get(env, f"/api/v1/dashboard/decisions/{env['decision']}/layer", user="water_viewer"))
    for f in j["features"]:
        if f["properties"]["layer"] == "shelter":
            cell = a.loc[f["properties"]["shelter_id"], "unit_id"]
            assert f["geometry"]["coordinates"] == pytest.approx(
                [u.loc[cell, "lon"], u.loc[cell, "lat"]], abs=1e-5
            )
            assert f["properties"]["approx"] is True


# -- alerts ---------------------------------------------------------------------------------
def test_latest_alerts_in_plain_language(env):
    env["store"].add_alert(
        {"twin": TWIN, "level": "red", "kind": "typhoon", "title": "Lekima", "unit_id": "331081"},
        actor=ws.ACTOR,
    )
    j = ok(get(env, "/api/v1/dashboard/alerts", twin=TWIN))
    a = j["items"][0]
    assert a["title"] == "Lekima" and j["last_id"] >= a["id"]
    assert a["plain"]["en"]["where"] == "Wenling, Taizhou" and a["plain"]["zh"]["where"] == "台州市温岭市"
    assert (
        a["plain"]["en"]["headline"] == "Red typhoon warning"
        and a["plain"]["zh"]["headline"] == "台风红色预警"
    )
    assert "停止集会、停课、停业（除特殊行业外）" in a["plain"]["zh"]["todo"]
    assert a["units_up"] == ["331081", "331000", "330000"]


def test_alert_levels_roll_up_to_the_county(env):
    st = env["store"]
    cells = env["twin"].units
    c = cells[(cells["level"] == "cell") & (cells["parent_id"] == "330782")]["unit_id"].tolist()
    st.add_alert(
        {"twin": TWIN, "level": "yellow", "kind": "flood", "title": "a", "unit_id": c[0]}, actor=ws.ACTOR
    )
    b = st.add_alert(
        {"twin": TWIN, "level": "red", "kind": "flood", "title": "b", "unit_id": c[1]}, actor=ws.ACTOR
    )
    j = ok(get(env, f"/api/v1/dashboard/twins/{TWIN}/alert-levels"))
    assert j["values"]["330782"] == {"warning": "red", "alerts": 2}
    st.set_alert_status(b["id"], "closed", actor=ws.ACTOR)
    j = ok(get(env, f"/api/v1/dashboard/twins/{TWIN}/alert-levels"))
    assert j["values"]["330782"] == {"warning": "yellow", "alerts": 1}


def test_stream_without_event_stream_accept_answers_one_poll(env):
    st = env["store"]
    before = ok(get(env, "/api/v1/alerts/stream"))
    assert before["items"] == []
    a = st.add_alert({"twin": TWIN, "level": "blue", "kind": "rain", "title": "poll"}, actor=ws.ACTOR)
    j = ok(get(env, "/api/v1/alerts/stream", after=before["last_id"]))
    assert [x["id"] for x in j["items"]] == [a["id"]] and j["last_id"] == a["id"]
    assert j["items"][0]["plain"]["en"]["headline"] == "Blue rainstorm warning"


def read_events(client, headers, params, until, timeout_s=10.0):
    """Server-sent events of one stream, read until ``until(events)`` or the stream ends."""
    events, cur = [], {}
    end = time.monotonic() + timeout_s
    with client.stream("GET", "/api/v1/alerts/stream", headers=headers, params=params) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line == "":
                if cur:
                    events.append(cur)
                    cur = {}
                if until(events) or time.monotonic() > end:
                    break
                continue
            if line.startswith(":"):
                continue
            k, _, v = line.partition(":")
            cur[k] = v[1:] if v.startswith(" ") else v
    return events


def test_stream_delivers_a_new_alert_without_polling_by_the_client(env):
    import json

    st = env["store"]
    last = ok(get(env, "/api/v1/alerts/stream"))["last_id"]
    headers = {"Authorization": f"Bearer {env['tokens']['water_viewer']}", "Accept": "text/event-stream"}

    def publish():
        time.sleep(0.8)
        st.add_alert(
            {
                "twin": TWIN,
                "level": "orange",
                "kind": "power_outage",
                "title": "Outage",
                "asset_id": "PP-331022-00001",
            },
            actor=ws.ACTOR,
        )

    threading.Thread(target=publish, daemon=True).start()
    events = read_events(
        env["client"],
        headers,
        {"after": last, "twin": TWIN, "max_s": 8},
        until=lambda ev: any(e.get("event") == "alert" for e in ev),
    )
    alert = next(e for e in events if e.get("event") == "alert")
    data = json.loads(alert["data"])
    assert data["title"] == "Outage" and int(alert["id"]) == data["id"] > last
    assert data["plain"]["en"]["headline"] == "Orange power cut warning"
    assert events[0] == {"retry": "2000"}


def test_stream_sends_status_changes(env):
    import json

    st = env["store"]
    a = st.add_alert(
        {"twin": TWIN, "level": "orange", "kind": "flood", "title": "to acknowledge"}, actor=ws.ACTOR
    )
    headers = {"Authorization": f"Bearer {env['tokens']['admin']}", "Accept": "text/event-stream"}

    def acknowledge():
        time.sleep(0.8)
        st.set_alert_status(a["id"], "acknowledged", actor=ws.ACTOR)

    threading.Thread(target=acknowledge, daemon=True).start()
    events = read_events(
        env["client"],
        headers,
        {"after": a["id"], "max_s": 8},
        until=lambda ev: any(e.get("event") == "alert-update" for e in ev),
    )
    upd = next(e for e in events if e.get("event") == "alert-update")
    data = json.loads(upd["data"])
    assert data["id"] == a["id"] and data["status"] == "acknowledged" and "id" not in upd


def test_status_changes_are_watched_among_the_newest_alerts(env, monkeypatch):
    from rescity.web import feed

    st = env["store"]
    old = st.add_alert({"twin": TWIN, "level": "blue", "kind": "wind", "title": "old"}, actor=ws.ACTOR)
    new = st.add_alert({"twin": TWIN, "level": "blue", "kind": "wind", "title": "new"}, actor=ws.ACTOR)
    since = feed.watermark(st)[1]
    for x in (old, new):
        st.set_alert_status(x["id"], "closed", actor=ws.ACTOR)
    monkeypatch.setattr(feed, "UPDATE_WINDOW", 1)
    assert [r["id"] for r in feed.alerts_updated_since(st, since, newest_id=new["id"])] == [new["id"]]
    assert [r["id"] for r in feed.alerts_updated_since(st, since)] == [old["id"], new["id"]]


def test_stream_resumes_after_last_event_id(env):
    st = env["store"]
    a = st.add_alert({"twin": TWIN, "level": "blue", "kind": "wind", "title": "one"}, actor=ws.ACTOR)
    b = st.add_alert({"twin": TWIN, "level": "yellow", "kind": "wind", "title": "two"}, actor=ws.ACTOR)
    headers = {
        "Authorization": f"Bearer {env['tokens']['admin']}",
        "Accept": "text/event-stream",
        "Last-Event-ID": str(a["id"]),
    }
    events = read_events(env["client"], headers, {"max_s": 1}, until=lambda ev: False)
    ids = [int(e["id"]) for e in events if e.get("event") == "alert"]
    assert ids == [b["id"]]
    assert events[-1]["event"] == "end"


def test_stream_ends_when_the_token_is_revoked(env, monkeypatch):
    from rescity.web import feed

    st = env["store"]
    st.add_user("short_lived", "health", "viewer")
    tok = st.add_token("short_lived", label="tests")
    monkeypatch.setattr(feed, "HEARTBEAT_S", 0.3)
    headers = {"Authorization": f"Bearer {tok['token']}", "Accept": "text/event-stream"}

    def revoke():
        time.sleep(0.5)
        st.revoke_token("short_lived", tok["token_id"], actor=ws.ACTOR)

    threading.Thread(target=revoke, daemon=True).start()
    events = read_events(
        env["client"], headers, {"max_s": 20}, until=lambda ev: bool(ev) and ev[-1].get("event") == "end"
    )
    assert events[-1]["event"] == "end" and "sign in again" in events[-1]["data"]


def test_stream_refuses_anonymous_and_takes_a_query_token(env):
    c = env["client"]
    r = c.get("/api/v1/alerts/stream", headers={"Accept": "text/event-stream"})
    assert r.status_code == 401
    r = c.get("/api/v1/alerts/stream", params={"access_token": env["tokens"]["water_viewer"]})
    assert r.status_code == 200 and "last_id" in r.json()


# -- the run configuration and the hazard registry ------------------------------------------
def test_run_config_schema_and_hazards_are_served(env):
    s = ok(get(env, "/api/v1/runs/config-schema"))
    assert s["title"] == "RunConfig" and "recovery" in s["properties"]
    hz = {h["name"]: h for h in ok(get(env, "/api/v1/hazards"))}
    assert set(hz) == {"wind", "rain", "flood", "landslide", "surge", "earthquake"}
    assert hz["landslide"]["exposure"] == "landslide_share" and hz["landslide"]["needs"] == ["rain"]
    assert hz["surge"]["measures"][0] == {
        "name": "surge_depth_m", "unit": "m", "description": "peak storm-surge depth above ground",
        "column": "surge_depth_max_m", "label": "peak storm-surge depth (m)",
    }  # fmt: skip


def test_a_bad_scenario_config_is_refused_naming_the_field(env):
    r = env["client"].post(
        "/api/v1/runs",
        json={"kind": "scenario", "twin": TWIN, "config": {"sn": "201910", "recovery": {"crews": 3}}},
        headers={"Authorization": f"Bearer {env['tokens']['admin']}"},
    )
    assert r.status_code in (400, 422), r.text
    assert "config.recovery.crews" in r.text


def test_run_hazard_layers_come_from_the_registry(env):
    u = env["twin"].units
    u = u[u["level"] != "cell"].reset_index(drop=True)
    table = u[["unit_id", "level", "parent_id", "name_zh", "name_en", "population"]].assign(
        affected_mean=1.0, affected_p05=0.0, affected_p95=2.0, wind_max_ms=33.5, surge_depth_max_m=float("nan")
    )
    rid = ws.store_run(env["store"], "scenario", TWIN, {"units": table})
    j = ok(get(env, f"/api/v1/dashboard/runs/{rid}/values", indicator="wind_max_ms"))
    assert "wind_max_ms" in j["indicators"] and "surge_depth_max_m" not in j["indicators"]  # not computed
    assert j["values"]["331002"]["value"] == 33.5 and j["values"]["331002"]["p05"] is None
    labels = {m["column"]: m["label"] for h in ok(get(env, f"/api/v1/dashboard/twins/{TWIN}"))["hazards"]
              for m in h["measures"]}  # fmt: skip
    assert labels["wind_max_ms"] == "peak 1-min wind (m/s)"
