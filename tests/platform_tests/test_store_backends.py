"""The store suite, run on both backends (SQLite file and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pandas as pd
import pytest

from rescity.errors import InputError
from rescity.govern.principal import Principal
from rescity.store import SCHEMA_VERSION, SchemaVersionError, open_store
from rescity.store.base import NotFound

ALICE = Principal("alice", "water_utility", "analyst")
POWER_OP = Principal("pat", "power_utility", "operator")
ADMIN = Principal("root", "platform", "admin")


def test_migrations_are_versioned_and_idempotent(store, store_url):
    assert store.schema_version() == SCHEMA_VERSION
    head = store.audit_head()["seq"]
    again = open_store(store_url)
    try:
        assert again.schema_version() == SCHEMA_VERSION
        assert again.audit_head()["seq"] == head  # nothing re-applied
    finally:
        again.close()


def test_a_newer_schema_is_refused_with_a_clear_message(store, store_url):
    with store.write() as tx:
        tx.execute(
            "INSERT INTO schema_version (version, applied_at, description) VALUES (?, ?, ?)",
            (SCHEMA_VERSION + 1, "2099-01-01T00:00:00Z", "from the future"),
        )
    newer, known = SCHEMA_VERSION + 1, SCHEMA_VERSION
    with pytest.raises(SchemaVersionError, match=rf"schema version {newer}.*up to {known}.*upgrade rescity"):
        open_store(store_url)


def test_twin_round_trip(store, twin):
    info = store.put_twin("demo", twin, actor=ADMIN)
    assert info["n_assets"] == 10 and info["units_by_level"] == {
        "province": 1,
        "prefecture": 1,
        "county": 2,
        "cell": 4,
    }
    back = store.get_twin("demo")
    for name in ("units", "assets", "edges", "dependencies", "service"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(twin, name), check_dtype=True, obj=name)
    assert back.meta == twin.meta
    assert [t["name"] for t in store.list_twins()] == ["demo"]


def test_twin_names_are_unique_unless_replaced(store, twin):
    store.put_twin("demo", twin)
    with pytest.raises(InputError, match="already stored"):
        store.put_twin("demo", twin)
    smaller = twin.assets.iloc[:4].reset_index(drop=True)
    twin.assets = smaller
    twin.edges = twin.edges.iloc[:1]
    twin.dependencies = twin.dependencies.iloc[:0]
    twin.service = twin.service.iloc[:2]
    assert store.put_twin("demo", twin, replace=True)["n_assets"] == 4
    store.delete_twin("demo", actor=ADMIN)
    assert store.list_twins() == []
    with pytest.raises(NotFound):
        store.get_twin("demo")


def test_asset_filters_and_pages(store, twin):
    store.put_twin("demo", twin)
    df, total = store.query_assets("demo", system="power")
    assert total == 3 and df["asset_id"].tolist() == ["P-sub-1", "P-line-1", "P-sub-2"]
    df, total = store.query_assets("demo", system=["water", "road"], limit=3, offset=1)
    assert total == 4 and df["asset_id"].tolist() == ["W-pump-1", "R-hub-1", "R-bridge-1"]
    df, total = store.query_assets("demo", kind="bridge")
    assert total == 1 and df["name"].tolist() == ["大桥"]
    df, total = store.query_assets("demo", unit_id="331004-c1")
    assert total == 4
    _, total = store.query_assets("demo", system=[])
    assert total == 0
    with pytest.raises(NotFound):
        store.query_assets("nope")


def test_asset_status_updates(store, twin):
    store.put_twin("demo", twin)
    assert set(store.asset_status("demo")["status"]) == {"unknown"}
    res = store.set_asset_status(
        "demo",
        [
            {"asset_id": "P-sub-1", "status": "down"},
            {"asset_id": "W-pump-1", "status": "up"},
            {"asset_id": "ghost", "status": "down"},
        ],
        actor=POWER_OP,
        source="scada",
    )
    assert res == {"updated": 2, "unknown": ["ghost"]}
    df, total = store.query_assets("demo", status="down")
    assert total == 1 and df["asset_id"].iloc[0] == "P-sub-1" and df["status_source"].iloc[0] == "scada"
    with pytest.raises(InputError, match="up, down, unknown"):
        store.set_asset_status("demo", [{"asset_id": "P-sub-1", "status": "broken"}])


def test_population_counts_by_level(store, twin):
    store.put_twin("demo", twin)
    cells = store.population("demo", "cell")
    assert cells["population"].tolist() == [1000, 3, 520, 7]
    # age counts = round(population × share): 1000 × 0.13 = 130, 520 × 0.17 = 88.4 → 88
    assert cells["age_0_14"].tolist() == [130, 0, 68, 1]
    assert cells["age_65_plus"].tolist() == [170, 1, 88, 1]


def test_runs_and_results(store, twin):
    store.put_twin("demo", twin)
    run = store.create_run("summary", "demo", {"seed": 3}, actor=ALICE)
    assert run["status"] == "queued" and run["config"] == {"seed": 3}
    assert store.start_run(run["id"]) and not store.start_run(run["id"])
    store.progress_run(run["id"], 0.4, "halfway")
    assert store.get_run(run["id"])["progress"] == pytest.approx(0.4)
    table = pd.DataFrame({"unit": ["a", "b"], "people_out": [10.5, float("nan")]})
    done = store.finish_run(
        run["id"], "done", results={"loss": table, "summary": {"q": 0.9, "bad": float("inf")}}
    )
    assert done["status"] == "done" and done["progress"] == 1.0
    pd.testing.assert_frame_equal(store.get_result(run["id"], "loss"), table)
    assert store.get_result(run["id"], "summary") == {"q": 0.9, "bad": None}
    assert [r["name"] for r in store.list_results(run["id"])] == ["loss", "summary"]
    rows, total = store.list_runs(twin="demo", status="done")
    assert total == 1 and rows[0]["id"] == run["id"]
    with pytest.raises(NotFound):
        store.get_result(run["id"], "nope")


def test_orphan_runs_are_failed(store):
    r1 = store.create_run("x", None, {}, actor=ALICE, worker="host:1")
    r2 = store.create_run("x", None, {}, actor=ALICE, worker="host:2")
    assert store.fail_orphan_runs(lambda w: w != "host:1") == [r1["id"]]
    assert store.get_run(r1["id"])["status"] == "failed"
    assert "interrupted" in store.get_run(r1["id"])["message"]
    assert store.get_run(r2["id"])["status"] == "queued"


def test_operations_records(store, twin):
    store.put_twin("demo", twin)
    f = store.add_forecast(
        {"hazard": "typhoon", "title": "Lekima +24 h", "twin": "demo", "data": {"r": [1, 2]}}, actor=ALICE
    )
    assert store.get_forecast(f["id"])["data"] == {"r": [1, 2]}
    b = store.add_observations(
        [
            {"sensor_id": "s1", "quantity": "wind_ms", "value": 31.5, "observed_at": "2019-08-09T17:00:00Z"},
            {"sensor_id": "s2", "quantity": "rain_mm", "value": None, "observed_at": "2019-08-09T18:00:00Z"},
        ],
        actor=POWER_OP,
    )
    rows, total = store.list_observations(since="2019-08-09T17:30:00Z")
    assert b["rows"] == 2 and total == 1 and rows[0]["sensor_id"] == "s2" and rows[0]["value"] is None
    a = store.add_alert({"level": "red", "kind": "wind", "title": "gale", "twin": "demo"}, actor=POWER_OP)
    assert store.set_alert_status(a["id"], "acknowledged", actor=POWER_OP)["status"] == "acknowledged"
    store.set_alert_status(a["id"], "closed", actor=POWER_OP)
    with pytest.raises(InputError, match="closed"):
        store.set_alert_status(a["id"], "open", actor=POWER_OP)
    with pytest.raises(InputError):
        store.add_alert({"level": "purple", "kind": "x", "title": "y"}, actor=POWER_OP)
    d = store.add_decision({"kind": "shelter", "title": "open shelters", "body": {"n": 3}}, actor=ALICE)
    assert store.decide(d["id"], True, "go", actor=ADMIN)["status"] == "approved"
    with pytest.raises(InputError, match="already approved"):
        store.decide(d["id"], False, actor=ADMIN)


def test_users_and_tokens(store):
    store.add_user("alice", "water_utility", "analyst", password="s3cret-pass")
    with pytest.raises(InputError, match="unknown department"):
        store.add_user("bob", "mars", "viewer")
    with pytest.raises(InputError, match="exists"):
        store.add_user("alice", "water_utility", "viewer")
    assert store.check_login("alice", "s3cret-pass")["role"] == "analyst"
    assert store.check_login("alice", "wrong") is None
    tok = store.add_token("alice", label="ci")
    with store.read() as q:
        stored = q.all("SELECT secret_hash FROM tokens")
    assert tok["token"].split("_", 2)[2] not in repr(stored)
    assert store.user_for_token(tok["token"])["username"] == "alice"
    assert store.user_for_token(tok["token"][:-1] + ("A" if tok["token"][-1] != "A" else "B")) is None
    store.revoke_token("alice", tok["token_id"])
    assert store.user_for_token(tok["token"]) is None
    expired = store.add_token("alice", expires_days=1e-9)
    assert store.user_for_token(expired["token"]) is None
    live = store.add_token("alice")
    store.update_user("alice", disabled=True)
    assert store.user_for_token(live["token"]) is None
    assert store.check_login("alice", "s3cret-pass") is None


def test_sharing_grant_request_approve_revoke(store):
    v0 = store.grants_version()
    g = store.request_grant("assets/power", "pump stations depend on these substations", actor=ALICE)
    assert (g["status"], g["owner"], g["grantee"]) == ("pending", "power_utility", "water_utility")
    with pytest.raises(InputError, match="pending grant"):
        store.request_grant("assets/power", "again", actor=ALICE)
    with pytest.raises(InputError, match="owns this resource already"):
        store.request_grant("assets/water", "mine", actor=ALICE)
    with pytest.raises(InputError, match="shareable resources"):
        store.request_grant("assets/moon", "?", actor=ALICE)
    with pytest.raises(PermissionError, match="power_utility"):
        store.decide_grant(g["id"], True, actor=ALICE)
    assert store.active_grants() == []
    g = store.decide_grant(g["id"], True, "ok for the typhoon season", actor=POWER_OP)
    assert g["status"] == "approved" and g["decided_by"] == "pat"
    assert store.active_grants() == [("water_utility", "assets/power", "read")]
    assert store.grants_version() > v0
    v1 = store.grants_version()
    g = store.revoke_grant(g["id"], actor=POWER_OP)
    assert g["status"] == "revoked" and store.active_grants() == [] and store.grants_version() > v1
    with pytest.raises(InputError, match="revoked already"):
        store.revoke_grant(g["id"], actor=POWER_OP)
    actions = [e["action"] for e in store.audit_entries(action="grant")[0]]
    assert actions == ["grant.request", "grant.approve", "grant.revoke"]


def test_every_write_is_audited_and_the_chain_verifies(store, twin):
    n0 = store.audit_head()["seq"]
    store.put_twin("demo", twin, actor=ADMIN)
    store.add_user("alice", "water_utility", "analyst", actor=ADMIN)
    store.add_alert({"level": "blue", "kind": "rain", "title": "rain"}, actor=POWER_OP)
    store.set_asset_status("demo", [{"asset_id": "P-sub-1", "status": "down"}], actor=POWER_OP)
    rows, total = store.audit_entries(since_seq=n0)
    assert [r["action"] for r in rows] == ["twin.create", "user.create", "alert.create", "asset.status"]
    assert rows[2]["actor"] == "pat" and rows[2]["department"] == "power_utility"
    v = store.verify_audit()
    assert v.ok and v.entries == n0 + 4 == v.head_seq


def test_audit_log_is_append_only(store):
    store.add_user("alice", "water_utility", "analyst")
    for sql in ("UPDATE audit_log SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 1"):
        with pytest.raises(Exception, match="append-only"), store.write() as tx:
            tx.execute(sql)
    assert store.verify_audit().ok


def _bypass_triggers(store, tx) -> None:
    """What an intruder with direct database access does first."""
    if store.backend == "sqlite":
        tx.execute("DROP TRIGGER audit_log_no_update")
        tx.execute("DROP TRIGGER audit_log_no_delete")
    else:
        tx.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")


@pytest.mark.parametrize("attack", ["alter", "delete_middle", "delete_tail"])
def test_tampering_is_detected(store, attack):
    for i in range(5):
        store.add_alert({"level": "blue", "kind": "rain", "title": f"rain {i}"}, actor=POWER_OP)
    head = store.audit_head()["seq"]
    with store.write() as tx:
        _bypass_triggers(store, tx)
        if attack == "alter":
            tx.execute("UPDATE audit_log SET detail = ? WHERE seq = 3", ('{"kind":"nothing happened"}',))
        elif attack == "delete_middle":
            tx.execute("DELETE FROM audit_log WHERE seq = 3")
        else:
            tx.execute("DELETE FROM audit_log WHERE seq = ?", (head,))
    v = store.verify_audit()
    assert not v.ok
    kinds = {p["kind"] for p in v.problems}
    assert kinds == ({"altered"} if attack == "alter" else {"missing"})
    assert min(p["seq"] for p in v.problems) == (3 if attack != "delete_tail" else head)


def test_concurrent_writers_in_threads_form_one_chain(store):
    n0 = store.audit_head()["seq"]

    def work(i):
        for j in range(10):
            store.add_alert({"level": "yellow", "kind": "t", "title": f"{i}-{j}"}, actor=POWER_OP)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    v = store.verify_audit()
    assert v.ok and v.head_seq == n0 + 40
    assert store.list_alerts(limit=1)[1] == 40


WRITER = textwrap.dedent(
    """
    import sys
    from rescity.govern.principal import Principal
    from rescity.store import open_store
    st = open_store(sys.argv[1])
    who = Principal(sys.argv[2], "power_utility", "operator")
    for i in range(int(sys.argv[3])):
        st.add_observations([{"sensor_id": sys.argv[2], "quantity": "wind_ms", "value": float(i),
                              "observed_at": "2019-08-09T17:00:00Z"}] * 3, actor=who)
    st.close()
    """
)


def test_two_processes_write_at_once(store, store_url):
    """An API process and an ingest process writing together: no lost writes, one valid chain."""
    n0 = store.audit_head()["seq"]
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, store_url, name, "40"], stderr=subprocess.PIPE)
        for name in ("ingest", "api")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    v = store.verify_audit()
    assert v.ok and v.head_seq == n0 + 80
    rows, total = store.list_observations(limit=1)
    assert total == 240
