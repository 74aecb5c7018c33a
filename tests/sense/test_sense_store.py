"""The sensing tables on both store backends, and the migration from schema version 1."""

from __future__ import annotations

import os
import uuid

import pytest

from rescity.govern.principal import Principal
from rescity.sense.alerts import AlertChange
from rescity.store import open_store

PG_ADMIN_URL = os.environ.get("RESCITY_TEST_PG", "postgresql://postgres@localhost:5432/postgres")
ACTOR = Principal("sense", "platform", "sensor")


def _pg():
    try:
        import psycopg

        psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3).close()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {e}")
    import psycopg

    return psycopg


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rescity.db'}"
        return
    psycopg = _pg()
    name = f"rescity_sense_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store(store_url):
    st = open_store(store_url)
    yield st
    st.close()


def row(sensor, q, value, at, entity="urn:ngsi-ld:WeatherObserved:W1"):
    return ("t", sensor, None, q, value, "mm", at, entity, "ok")


def test_readings_are_stored_once(store):
    a = row("W1", "rain_mm", 1.0, "2019-08-09T00:00:00.000000Z")
    b = row("W1", "rain_mm", 2.0, "2019-08-09T00:10:00.000000Z")
    out = store.sense_write(observations=[a, b, a], actor=ACTOR)
    assert (out["stored"], out["duplicates"]) == (2, 1)
    out = store.sense_write(observations=[b], actor=ACTOR)
    assert (out["stored"], out["duplicates"]) == (0, 1)
    rows, total = store.list_observations(sensor_id="W1")
    assert total == 2 and sorted(r["value"] for r in rows) == [1.0, 2.0]
    # readings from the plain observations API are not de-duplicated
    plain = {"sensor_id": "W1", "quantity": "rain_mm", "value": 1.0, "observed_at": "2019-08-09T00:00:00.000000Z"}
    store.add_observations([plain, plain], actor=ACTOR)
    assert store.list_observations(sensor_id="W1")[1] == 4


def test_quality_flags_and_dead_letters(store):
    store.sense_write(observations=[row("H1", "water_level_m", 5.0, "2019-08-09T00:00:00.000000Z")], actor=ACTOR)
    store.sense_write(
        quality=[("spike", "H1", "water_level_m", "2019-08-09T00:00:00.000000Z")],
        dead=[("mqtt", "x/y", "bad_json", "not JSON", None, None, None, "{")],
        actor=ACTOR,
    )
    assert store.list_observations(sensor_id="H1")[0][0]["quality"] == "spike"
    rows, total = store.list_dead_letters(reason="bad_json")
    assert total == 1 and rows[0]["payload"] == "{" and rows[0]["topic"] == "x/y"
    entries = [e for e in store.audit_entries(action="sense.ingest")[0]]
    assert entries and entries[-1]["detail"]["dead_letters"] == 1


def _change(key, level, at, close=False):
    entity = {"id": f"urn:ngsi-ld:Alert:{key}:{at}", "type": "Alert"}
    r = {
        "twin": None, "level": level, "kind": "rainstorm", "title": f"{level}", "message": "m", "unit_id": "331082",
        "source": "sense:test", "department": "meteorology", "sensor_id": "W1", "observed_at": at, "rule_key": key,
        "entity": entity,
    }
    return AlertChange(key, at, close=close, close_note="\nlifted", row=r if level else None, entity=entity)


def test_one_active_alert_per_signal_and_the_outbox(store):
    out = store.sense_write(alerts=[_change("t/rainstorm/W1", "blue", "T1")], actor=ACTOR)
    first = out["alert_ids"][0]
    out = store.sense_write(alerts=[_change("t/rainstorm/W1", "orange", "T2", close=True)], actor=ACTOR)
    assert out["closed_ids"] == [first]
    rows = {a["id"]: a for a in store.list_alerts()[0]}
    assert rows[first]["status"] == "closed" and rows[out["alert_ids"][0]]["status"] == "open"
    # the database itself refuses a second active row for the same signal
    with pytest.raises(Exception):  # noqa: B017 - sqlite3.IntegrityError or psycopg.errors.UniqueViolation
        with store.write() as tx:
            tx.execute(
                "INSERT INTO alerts (level, kind, title, status, created_at, created_by, department, rule_key) "
                "VALUES ('red', 'rainstorm', 'x', 'open', 'now', 'x', 'platform', 't/rainstorm/W1')"
            )
    pending = store.unpublished_alerts()
    assert [a["id"] for a in pending] == [first, out["alert_ids"][0]]
    assert "validTo" in pending[0]["entity"]
    # an alert closed after it was read for publishing stays in the outbox
    stale = [(a["id"], a["updated_at"]) for a in pending]
    store.sense_write(alerts=[_change("t/rainstorm/W1", None, "T3", close=True)], actor=ACTOR)
    assert store.mark_published(stale) == 1
    assert [a["id"] for a in store.unpublished_alerts()] == [out["alert_ids"][0]]


def test_fault_alerts_are_added_only_when_absent(store):
    ch = _change("t/sensor_fault.stuck/H1/water_level_m", "blue", "T1")
    ch.only_if_absent = True
    assert len(store.sense_write(alerts=[ch], actor=ACTOR)["alert_ids"]) == 1
    assert store.sense_write(alerts=[ch], actor=ACTOR)["alert_ids"] == []


def test_migration_from_version_1(tmp_path, monkeypatch):
    import rescity.store.base as base
    from rescity.store.migrations import MIGRATIONS, SCHEMA_VERSION

    url = f"sqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setattr(base, "MIGRATIONS", MIGRATIONS[:1])
    monkeypatch.setattr(base, "SCHEMA_VERSION", 1)
    old = open_store(url)
    assert old.schema_version() == 1
    with old.write() as tx:  # a store made by a version-1 rescity: no 'sensor' role yet
        tx.execute("DELETE FROM roles WHERE role = 'sensor'")
    old.add_observations([{"sensor_id": "W1", "quantity": "rain_mm", "value": 1.0, "observed_at": "2019-01-01T00:00:00Z"}], actor=ACTOR)
    old.close()
    monkeypatch.undo()
    new = open_store(url)
    try:
        assert new.schema_version() == SCHEMA_VERSION  # every later migration applied
        assert "sensor" in {r["role"] for r in new.roles()}
        r = new.list_observations()[0][0]
        assert r["entity_id"] is None and r["quality"] == ""
        assert new.add_user("gauge-1", "water_utility", "sensor")["role"] == "sensor"
    finally:
        new.close()
