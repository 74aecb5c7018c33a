"""Sensing over HTTP: POST /sense/entities, GET /sense/dead-letters, GET /nowcast.

People without power are counted by hand from the small twin (conftest): P-sub-1 is the source
of the power network P-sub-1 – P-line-1 – P-sub-2 and serves cells of 1000 and 3 people; P-sub-2
serves 520 and 7.
"""

from __future__ import annotations

from rescity.sense.ngsi import device_entity, water_entity, weather_entity

AT = "2019-08-09T14:00:00Z"
URL = "/api/v1/sense/entities?twin=demo"


def sensor_token(api, dept="power_utility", name="scada-power"):
    api.store.add_user(name, dept, "sensor")
    return {"Authorization": f"Bearer {api.store.add_token(name)['token']}"}


def test_post_weather_store_once_and_raise_a_signal(sqlite_api):
    e = weather_entity("W331082", AT, rain_mm=60.0, wind_ms=5.0)  # 60 mm in 10 min: 3 h ≥ 50 mm
    r = sqlite_api.post(URL, "power_operator", json=e)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["stored"], body["duplicates"], body["dead_letters"]) == (2, 0, [])
    assert len(body["alerts"]) == 1
    alert = sqlite_api.get(f"/api/v1/alerts/{body['alerts'][0]}", "water_viewer").json()
    assert (alert["level"], alert["kind"], alert["status"]) == ("orange", "rainstorm", "open")
    assert "临海市暴雨橙色预警" in alert["title"] and alert["unit_id"] == "331082"
    again = sqlite_api.post(URL, "power_operator", json=e).json()
    assert (again["stored"], again["duplicates"], again["alerts"]) == (0, 2, [])


def test_refused_entities_become_dead_letters(sqlite_api):
    bad = {"id": "urn:ngsi-ld:WeatherObserved:W331082", "type": "WeatherObserved",
           "windSpeed": {"type": "Property", "value": 12, "unitCode": "MMT", "observedAt": AT}}
    r = sqlite_api.post(URL, "power_operator", json=bad)
    assert r.status_code == 422
    err = r.json()["error"]
    assert "unit_mismatch" in err["message"] and err["details"][0]["reason"] == "unit_mismatch"
    mixed = [water_entity("H331082", AT, 20.0), weather_entity("W000000", AT, rain_mm=1.0)]
    r = sqlite_api.post(URL, "power_operator", json=mixed)
    assert r.status_code == 201
    assert [(d["index"], d["reason"]) for d in r.json()["dead_letters"]] == [(0, "unknown_station")]
    r = sqlite_api.client.post(URL, content=b"{nope", headers={**sqlite_api.h("em_operator"), "content-type": "application/json"})
    assert r.status_code == 422
    page = sqlite_api.get("/api/v1/sense/dead-letters", "em_operator").json()
    assert page["total"] == 3 and page["counts"] == {"unit_mismatch": 1, "unknown_station": 1, "bad_json": 1}
    assert {x["source"] for x in page["items"]} == {"http"}
    only = sqlite_api.get("/api/v1/sense/dead-letters?reason=bad_json", "em_operator").json()
    assert only["total"] == 1 and only["items"][0]["payload"] == "{nope"
    assert sqlite_api.get("/api/v1/sense/dead-letters", "water_viewer").status_code == 403


def test_who_may_post(sqlite_api):
    e = weather_entity("W331082", AT, rain_mm=1.0)
    assert sqlite_api.post(URL, "water_viewer", json=e).status_code == 403
    assert sqlite_api.post(URL, "transport_analyst", json=e).status_code == 403
    h = sensor_token(sqlite_api, "water_utility", "gauge-7")
    assert sqlite_api.client.post(URL, json=e, headers=h).status_code == 201
    # a sensor account does nothing else
    assert sqlite_api.client.get("/api/v1/alerts", headers=h).status_code == 403


def test_substation_down_over_http_gives_a_nowcast(sqlite_api):
    assert sqlite_api.get("/api/v1/nowcast?twin=demo", "water_viewer").status_code == 404
    h = sensor_token(sqlite_api)
    r = sqlite_api.client.post(URL, json=device_entity("scada-1", "P-sub-2", "down", AT), headers=h)
    assert r.status_code == 201 and r.json()["status_changed"] and r.json()["nowcast"]
    nc = sqlite_api.get("/api/v1/nowcast?twin=demo", "water_viewer").json()
    assert nc["totals"]["no_power"] == 520 + 7 and nc["down_assets"] == 1
    r = sqlite_api.client.post(URL, json=device_entity("scada-1", "P-sub-1", "down", "2019-08-09T14:05:00Z"), headers=h)
    nc = sqlite_api.get("/api/v1/nowcast?twin=demo", "water_viewer").json()
    assert nc["totals"]["no_power"] == 1000 + 3 + 520 + 7 and nc["id"] == r.json()["nowcast"]
    county = {u["unit_id"]: u for u in nc["units"]}
    assert county["331002"]["no_power"] == 1003 and county["331004"]["no_power"] == 527
    status = sqlite_api.store.asset_status("demo").set_index("asset_id")["status"]
    assert status["P-sub-1"] == "down" and status["P-sub-2"] == "down"
    # the power company's sensor may not report water assets
    r = sqlite_api.client.post(URL, json=device_entity("scada-1", "W-pump-1", "down", AT), headers=h)
    assert r.status_code == 403 and "water" in r.json()["error"]["message"]
    assert sqlite_api.client.get("/api/v1/nowcast?twin=demo", headers=h).status_code == 403
