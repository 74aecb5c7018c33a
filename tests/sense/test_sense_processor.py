"""Batches through validation, rules and the store; the nowcast after outages.

Nowcast reference values are counted by hand from the tiny twin (``_sense_support.tiny_twin``):
cell c1 has 1000 people (power via S1, water via pump U1, telecom via base station B1), cell
c2 500 (power via S2, water from works W0, telecom via B1). U1 has no backup on S1; B1 has a
4-hour battery on S1.
"""

from __future__ import annotations

import json

import pytest

from _sense_support import tiny_twin
from rescity.sense.alerts import format_time
from rescity.sense.ngsi import device_entity, parse_time, water_entity, weather_entity
from rescity.sense.processor import Processor
from rescity.store import open_store

T0 = parse_time("2019-08-09T12:00:00Z")[0]


@pytest.fixture
def store(tmp_path):
    st = open_store(f"sqlite:///{tmp_path / 'rescity.db'}")
    st.put_twin("tiny", tiny_twin())
    yield st
    st.close()


def msg(entity):
    return (json.dumps(entity), "rescity/entities/x", "mqtt")


def at(minutes: float) -> str:
    return format_time(T0 + 60 * minutes)


def down(asset, minutes, state="down"):
    return msg(device_entity(f"scada-{asset}", asset, state, at(minutes)))


def test_substation_down_nowcast_by_hand(store):
    p = Processor(store, "tiny")
    r = p.process([down("S1", 0)])
    assert r.status_changed and r.stored == 1
    assert store.asset_status("tiny").set_index("asset_id").loc["S1", "status"] == "down"
    nc = p.nowcast(T0 + 600)  # ten minutes later
    t = nc["totals"]
    # S1 out: c1 without power (1000); pump U1 has no backup: c1 without water (1000);
    # B1's battery lasts 4 h: telecom still up now, down for all 1500 by the 12-h outlook
    assert (t["no_power"], t["no_water"], t["no_telecom"]) == (1000, 1000, 0)
    assert t["outlook"]["no_telecom"] == 1500 and t["outlook"]["no_power"] == 1000
    assert nc["horizon_h"] == pytest.approx(10 / 60)
    county = next(u for u in nc["units"] if u["unit_id"] == "331082")
    assert (county["no_power"], county["population"]) == (1000, 1500)
    assert nc["assets"]["failed_by_cascade"] == ["U1"]
    stored = store.latest_nowcast("tiny")
    assert stored["id"] == nc["id"] and stored["totals"]["no_power"] == 1000
    # five hours on, the battery is flat: telecom out for both cells
    assert p.nowcast(T0 + 5 * 3600)["totals"]["no_telecom"] == 1500


def test_plant_down_and_restore(store):
    p = Processor(store, "tiny")
    p.process([down("P0", 0)])
    t = p.nowcast(T0 + 60)["totals"]
    assert (t["no_power"], t["no_water"], t["no_telecom"]) == (1500, 1000, 0)
    p.process([down("P0", 30, "up"), down("S2", 31)])
    t = p.nowcast(T0 + 32 * 60)["totals"]
    assert (t["no_power"], t["no_water"], t["no_telecom"]) == (500, 0, 0)


def test_an_older_status_does_not_overwrite_a_newer_one(store):
    p = Processor(store, "tiny")
    p.process([down("S1", 10, "up")])
    r = p.process([down("S1", 5, "down")])  # late message from before the restore
    assert not r.status_changed
    assert store.asset_status("tiny").set_index("asset_id").loc["S1", "status"] == "up"


def test_duplicates_are_stored_once_within_and_across_batches(store):
    p = Processor(store, "tiny")
    m = msg(weather_entity("W331082", at(0), rain_mm=1.0, wind_ms=3.0))
    r = p.process([m, m])
    assert (r.stored, r.duplicates) == (2, 2)
    r = p.process([m])
    assert (r.stored, r.duplicates) == (0, 2)
    rows, total = store.list_observations(sensor_id="W331082")
    assert total == 2


def test_dead_letters_are_stored_with_their_reason(store):
    p = Processor(store, "tiny")
    r = p.process([
        (b"not json", "t", "mqtt"),
        msg(weather_entity("W999999", at(0), rain_mm=1.0)),
        msg(device_entity("d", "NOPE", "down", at(0))),
        msg(weather_entity("W331082", at(0), rain_mm=2.0)),
    ])
    assert r.stored == 1 and r.dead == 3
    rows, total = store.list_dead_letters()
    assert total == 3
    assert sorted(x["reason"] for x in rows) == ["bad_json", "unknown_asset", "unknown_station"]
    assert {x["topic"] for x in rows} == {"t", "rescity/entities/x"}
    assert store.dead_letter_counts() == {"bad_json": 1, "unknown_asset": 1, "unknown_station": 1}


def test_alert_rows_escalate_and_lift(store):
    p = Processor(store, "tiny")
    # Linhai gauge: warning 22.94, guaranteed 24.61 m (packaged synthetic stations): yellow,
    # orange, down to blue (22.5 m: below yellow's off value 22.74, above blue's 22.24), lifted
    levels = [23.0, 23.0, 24.7, 24.7, 22.5, 22.5, 21.0, 21.0]
    for i, v in enumerate(levels):
        p.process([msg(water_entity("H331082", at(10 * i), v))])
    flood = store.list_alerts(limit=100)[0]
    flood = [a for a in flood if a["kind"] == "river_flood"]
    assert [a["level"] for a in sorted(flood, key=lambda a: a["id"])] == ["yellow", "orange", "blue"]
    assert all(a["status"] == "closed" for a in flood)  # escalated, lowered, then lifted
    first = min(flood, key=lambda a: a["id"])
    assert "临海市" in first["title"] and "Linhai" in first["title"] and first["unit_id"] == "331082"
    assert "What to do" in first["message"] and "防御" in first["message"]
    # every row's entity went to the outbox again when it was closed (validTo set)
    out = {a["id"]: a for a in store.unpublished_alerts()}
    assert set(out) == {a["id"] for a in flood}
    assert all("validTo" in a["entity"] for a in out.values())


def test_a_restarted_processor_carries_on_without_repeating_alerts(store):
    p = Processor(store, "tiny")
    for i in range(3):
        p.process([msg(weather_entity("W331082", at(10 * i), wind_ms=20.0, gust_ms=26.0))])
    assert p.engine.level("typhoon", "W331082") == "yellow"
    n_alerts = store.list_alerts()[1]
    q = Processor(store, "tiny")
    assert q.warm() == 6  # three reports of wind and gust
    assert q.engine.level("typhoon", "W331082") == "yellow"
    # the same reports delivered again (unacknowledged before a crash) change nothing
    r = q.process([msg(weather_entity("W331082", at(10 * i), wind_ms=20.0, gust_ms=26.0)) for i in range(3)])
    assert r.stored == 0 and r.alert_ids == [] and store.list_alerts()[1] == n_alerts
    # and the next stronger report escalates from yellow, not from nothing
    q.process([msg(weather_entity("W331082", at(30), wind_ms=25.0, gust_ms=33.0))])
    r = q.process([msg(weather_entity("W331082", at(40), wind_ms=25.0, gust_ms=33.0))])
    assert [t.action for t in r.transitions] == ["escalate"]


def test_faulty_sensor_readings_are_stored_flagged_and_alerted_once(store):
    p = Processor(store, "tiny")
    for i in range(10):
        p.process([msg(water_entity("H331082", at(10 * i), 20.0))])  # stuck at 20.0 m
    rows = store.list_observations(sensor_id="H331082", limit=20)[0]
    assert len(rows) == 10
    assert sorted(r["quality"] for r in rows) == ["ok"] * 5 + ["stuck"] * 5
    faults = [a for a in store.list_alerts()[0] if a["kind"] == "sensor_fault"]
    assert len(faults) == 1 and faults[0]["status"] == "open" and "stuck" in faults[0]["title"]
    p.process([msg(water_entity("H331082", at(100), 20.3))])
    faults = [a for a in store.list_alerts()[0] if a["kind"] == "sensor_fault"]
    assert faults[0]["status"] == "closed"


def test_twin_option_takes_a_stored_name_or_a_folder(tmp_path):
    from rescity.cli.sense import stored_twin
    from rescity.errors import InputError
    from rescity.twin.io import save

    st = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        folder = save(tiny_twin(), tmp_path / "tiny-twin")
        assert stored_twin(st, str(folder)) == "tiny" and st.has_twin("tiny")
        assert stored_twin(st, "tiny") == "tiny"
        with pytest.raises(InputError, match="stored: tiny"):
            stored_twin(st, "hangzhou")
    finally:
        st.close()
