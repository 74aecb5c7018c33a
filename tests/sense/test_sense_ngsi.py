"""NGSI-LD validation: units, bounds, times, dead-letter reasons."""

from __future__ import annotations

import json

import pytest

from rescity.sense.ngsi import (
    REASONS,
    Normaliser,
    device_entity,
    parse_time,
    prop,
    water_entity,
    weather_entity,
)

NOW = parse_time("2019-08-09T18:00:00Z")[0]
AT = "2019-08-09T17:50:00Z"


@pytest.fixture
def norm():
    return Normaliser({"W1", "H1"}, {"P-sub-1"}, clock=lambda: NOW)


def one(norm, entity):
    r = norm(json.dumps(entity))
    return r.observations, r.dead


def reason(norm, entity) -> str:
    obs, dead = one(norm, entity)
    assert not obs and len(dead) == 1, (obs, dead)
    assert dead[0].reason in REASONS
    return dead[0].reason


def test_normalized_weather_entity_gives_three_readings(norm):
    obs, dead = one(norm, weather_entity("W1", AT, rain_mm=12.5, wind_ms=24.0, gust_ms=33.0))
    assert not dead
    got = {o.quantity: (o.value, o.unit) for o in obs}
    assert got == {"rain_mm": (12.5, "mm"), "wind_ms": (24.0, "m/s"), "gust_ms": (33.0, "m/s")}
    assert {o.observed_at for o in obs} == {"2019-08-09T17:50:00.000000Z"}
    assert obs[0].t == NOW - 600


def test_units_are_converted_by_the_un_cefact_codes(norm):
    e = {
        "id": "urn:ngsi-ld:WeatherObserved:W1",
        "type": "WeatherObserved",
        "precipitation": prop(2, "INH", AT),  # 2 in = 50.8 mm
        "windSpeed": prop(90, "KMH", AT),  # 90 km/h = 25 m/s
        "gust": prop(50, "KNT", AT),  # 50 kn = 50 × 1852 m / 3600 s = 25.722… m/s
    }
    obs, _ = one(norm, e)
    got = {o.quantity: o.value for o in obs}
    assert got["rain_mm"] == pytest.approx(50.8)
    assert got["wind_ms"] == pytest.approx(25.0)
    assert got["gust_ms"] == pytest.approx(25.72222, rel=1e-5)
    w = {"id": "urn:ngsi-ld:WaterObserved:H1", "type": "WaterObserved", "waterLevel": prop(2350, "CMT", AT)}
    assert one(norm, w)[0][0].value == pytest.approx(23.5)


def test_key_values_form_with_entity_time_and_default_units(norm):
    e = {"id": "urn:ngsi-ld:WeatherObserved:W1", "type": "WeatherObserved", "dateObserved": AT, "precipitation": 3.2}
    obs, dead = one(norm, e)
    assert not dead and obs[0].value == 3.2 and obs[0].unit == "mm"


def test_flood_monitoring_names_and_stages(norm):
    e = {
        "id": "urn:ngsi-ld:FloodMonitoring:x",
        "type": "FloodMonitoring",
        "stationID": "H1",
        "currentLevel": 4.2,
        "alertLevel": 5.0,
        "dangerLevel": 6.5,
        "observationDateTime": "2019-08-10T01:50:00+08:00",
    }
    obs, dead = one(norm, e)
    assert not dead
    o = obs[0]
    assert (o.sensor_id, o.quantity, o.value) == ("H1", "water_level_m", 4.2)
    assert o.observed_at == "2019-08-09T17:50:00.000000Z"  # +08:00 → UTC
    assert o.stages == {"warning_stage_m": 5.0, "guaranteed_stage_m": 6.5}


def test_device_status(norm):
    obs, dead = one(norm, device_entity("scada-7", "P-sub-1", "Tripped", AT))
    assert not dead and (obs[0].asset_id, obs[0].status, obs[0].value) == ("P-sub-1", "down", 0.0)
    assert reason(norm, device_entity("scada-7", "P-sub-9", "down", AT)) == "unknown_asset"
    assert reason(norm, device_entity("scada-7", "P-sub-1", "sideways", AT)) == "invalid"


@pytest.mark.parametrize(
    ("entity", "why"),
    [
        ({"id": "urn:ngsi-ld:Foo:W1", "type": "TrafficFlowObserved"}, "unknown_entity_type"),
        (weather_entity("W9", AT, rain_mm=1.0), "unknown_station"),
        ({"id": "urn:ngsi-ld:WeatherObserved:W1", "type": "WeatherObserved", "windSpeed": prop(3.0, "MMT", AT)}, "unit_mismatch"),
        ({"id": "urn:ngsi-ld:WeatherObserved:W1", "type": "WeatherObserved", "windSpeed": prop(3.0, "FOO", AT)}, "unit_mismatch"),
        ({"id": "urn:ngsi-ld:WeatherObserved:W1", "type": "WeatherObserved", "windSpeed": prop(3.0, "MTS")}, "no_time"),
        ({"id": "urn:ngsi-ld:WeatherObserved:W1", "type": "WeatherObserved", "windSpeed": prop(3.0, "MTS", "2019-08-09T17:50:00")}, "naive_time"),
        ({"id": "urn:ngsi-ld:WeatherObserved:W1", "type": "WeatherObserved", "windSpeed": prop("3", "MTS", AT)}, "invalid"),
        ({"id": "urn:ngsi-ld:WeatherObserved:W1", "type": "WeatherObserved", "windSpeed": prop(3.0, "MTS", "yesterday")}, "invalid"),
        ({"id": "not a uri", "type": "WeatherObserved", "windSpeed": prop(3.0, "MTS", AT)}, "invalid"),
        ({"id": "urn:ngsi-ld:WeatherObserved:W1", "type": "WeatherObserved"}, "no_observation"),
        ({"type": "WeatherObserved"}, "not_an_entity"),
        (weather_entity("W1", AT, rain_mm=-0.1), "out_of_bounds"),
        (weather_entity("W1", AT, wind_ms=100.5), "out_of_bounds"),
        (water_entity("H1", AT, 600.0), "out_of_bounds"),
    ],
)
def test_dead_letter_reasons(norm, entity, why):
    assert reason(norm, entity) == why


def test_bad_json_and_empty_array(norm):
    r = norm(b'{"id": "urn:x:W1", "type": "Weather')
    assert [d.reason for d in r.dead] == ["bad_json"] and r.dead[0].payload.startswith('{"id"')
    assert [d.reason for d in norm(b"\xff\xfe").dead] == ["bad_json"]
    assert [d.reason for d in norm(b"[]").dead] == ["not_an_entity"]


def test_physical_bounds_are_inclusive(norm):
    assert one(norm, weather_entity("W1", AT, rain_mm=400.0))[0][0].value == 400.0
    assert one(norm, weather_entity("W1", AT, rain_mm=0.0))[0][0].value == 0.0
    assert reason(norm, weather_entity("W1", AT, rain_mm=400.01)) == "out_of_bounds"
    assert one(norm, weather_entity("W1", AT, gust_ms=120.0))[0][0].value == 120.0


def test_future_limit_is_five_minutes_of_clock_skew(norm):
    at_limit = "2019-08-09T18:05:00Z"  # now + 300 s
    assert one(norm, weather_entity("W1", at_limit, rain_mm=1.0))[0]
    assert reason(norm, weather_entity("W1", "2019-08-09T18:05:01Z", rain_mm=1.0)) == "future_time"
    # old times (a replayed storm) are fine
    assert one(norm, weather_entity("W1", "2019-08-01T00:00:00Z", rain_mm=1.0))[0]


def test_a_bad_entity_in_an_array_spoils_nothing_else(norm):
    batch = [weather_entity("W1", AT, rain_mm=1.0), weather_entity("W9", AT, rain_mm=1.0), water_entity("H1", AT, 3.0)]
    r = norm(json.dumps(batch))
    assert r.entities == 3
    assert [o.sensor_id for o in r.observations] == ["W1", "H1"]
    assert [(d.reason, d.entity_id) for d in r.dead] == [("unknown_station", "urn:ngsi-ld:WeatherObserved:W9")]
    assert json.loads(r.dead[0].payload)["id"].endswith("W9")  # the bad entity alone


def test_without_a_twin_every_device_is_refused():
    n = Normaliser(None, None, clock=lambda: NOW)
    assert [d.reason for d in n(json.dumps(device_entity("d", "P-sub-1", "down", AT))).dead] == ["unknown_asset"]
