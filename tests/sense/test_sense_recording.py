"""The demo recording and the station table: reproducible, valid, physically placed."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import pandas as pd
import pytest

from _sense_support import tiny_twin
from rescity.sense.ngsi import Normaliser, parse_time
from rescity.sense.recording import make_recording
from rescity.sense.replay import packaged_recording, read_recording
from rescity.sense.stations import Stations, make_stations

LANDFALL = parse_time("2019-08-09T17:45:00Z")[0]  # Lekima at Wenling, Taizhou (CMA)


@pytest.fixture(scope="module")
def packaged():
    return list(read_recording(packaged_recording()))


@pytest.fixture(scope="module")
def remade(tmp_path_factory):
    """The recording made again (with the tiny twin's substations instead of Zhejiang's)."""
    path = tmp_path_factory.mktemp("rec") / "lekima.jsonl"
    info = make_recording(path, twin=tiny_twin())
    return info, [json.loads(x) for x in path.read_text().splitlines()]


def test_the_packaged_recording_is_made_by_make_recording(packaged, remade):
    info, lines = remade
    strip = lambda recs: [{k: v for k, v in r.items() if k != "_t"} for r in recs if r.get("payload", {}).get("type") != "Device"]  # noqa: E731
    assert strip(packaged) == strip(lines)  # all but the twin's substations, line for line
    assert len(strip(packaged)) == len(strip(lines)) > 26_000


def test_station_table_is_the_seeded_synthetic_one():
    st = Stations.load()
    again = make_stations()
    pd.testing.assert_frame_equal(st.table, Stations(again).table, check_dtype=False)
    assert len(st) == 182 and st.get("H331082")["county_zh"] == "临海市"
    river = st.table[st.table["kind"] == "river"]
    assert (river["warning_stage_m"] < river["guaranteed_stage_m"]).all()
    assert (river["guaranteed_stage_m"] < river["record_stage_m"]).all()
    assert st.table["source"].str.startswith("synthetic").all()


def test_packaged_recording_is_valid_but_for_its_four_malformed_messages(packaged):
    st = Stations.load()
    norm = Normaliser(st.ids, None, clock=lambda: LANDFALL + 86_400)
    reasons: Counter = Counter()
    devices = []
    for rec in packaged:
        if "raw" in rec:
            reasons.update(d.reason for d in norm(rec["raw"]).dead)
            continue
        if rec["payload"]["type"] == "Device":
            devices.append(rec["payload"])
            continue
        reasons.update(d.reason for d in norm(json.dumps(rec["payload"])).dead)
    assert reasons == Counter({"unit_mismatch": 1, "out_of_bounds": 1, "unknown_station": 1, "bad_json": 1})
    assert sorted(d["deviceState"]["value"] for d in devices) == ["down", "down", "down", "up"]
    assert all(d["controlledAsset"]["object"].rsplit(":", 1)[-1][:5] in ("S110-", "S220-") for d in devices)
    times = [r["_t"] for r in packaged]
    assert times == sorted(times) and times[-1] - times[0] == 24 * 3600


def test_the_strongest_wind_blows_near_landfall(packaged, remade):
    # Lekima made landfall at Wenling (331081), Taizhou, at 17:45 UTC: the strongest mean winds
    # of the day are at stations of Taizhou or Wenzhou, within six hours of landfall
    wind = [
        (r["payload"]["windSpeed"]["value"], r["payload"]["id"].rsplit(":", 1)[-1], r["_t"])
        for r in packaged
        if "payload" in r and "windSpeed" in r["payload"]
        and r["payload"]["windSpeed"].get("unitCode") == "MTS"
    ]
    faulty = {f["station"] for f in remade[0]["faults"] if f["quantity"] == "wind_ms"}  # the spiking anemometer
    top = sorted((w for w in wind if w[1] not in faulty), reverse=True)[:5]
    assert all(w[1][1:5] in ("3310", "3303") for w in top), top
    assert all(abs(w[2] - LANDFALL) <= 6 * 3600 for w in top), top
    assert 35 <= top[0][0] <= 65  # Lekima: 52 m/s at landfall (CMA); gauges read less and more


def test_make_recording_is_reproducible_and_holds_its_faults(tmp_path):
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    info = make_recording(a, hours=2, twin=tiny_twin())
    make_recording(b, hours=2, twin=tiny_twin())
    assert a.read_bytes() == b.read_bytes()
    steps = 2 * 6 + 1
    assert info["weather_stations"] == info["river_gauges"] == 91
    lines = gzip.open(a, "rt").read().splitlines()
    devices = sum('"type":"Device"' in x for x in lines)
    assert len(lines) == info["lines"] == steps * 182 + devices + 4
    assert {f["fault"] for f in info["faults"]} == {"stuck", "spike"} and len(info["faults"]) == 4


def test_retime_shifts_every_observation_time_by_one_constant():
    from rescity.sense.ngsi import weather_entity
    from rescity.sense.replay import _shift

    e = weather_entity("W331082", "2019-08-09T17:45:00Z", rain_mm=1.0, wind_ms=30.0)
    e["dateObserved"] = "2019-08-09T17:45:00Z"
    out = _shift(e, 3600.0 * 24 * 365)
    assert out["precipitation"]["observedAt"] == "2020-08-08T17:45:00.000000Z"  # 2020 is a leap year
    assert out["windSpeed"]["observedAt"] == out["dateObserved"] == out["precipitation"]["observedAt"]
    assert out["windSpeed"]["value"] == 30.0 and e["dateObserved"] == "2019-08-09T17:45:00Z"  # a copy
