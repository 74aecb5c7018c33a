"""The API's resources: sharing, privacy, runs, sign-in, errors, paging, audit."""

from __future__ import annotations

import io
import threading
import time

import pandas as pd
import pytest

from rescity.api import register_job
from rescity.errors import InputError


def wait_run(api, run_id, user="admin", timeout_s=20.0):
    end = time.monotonic() + timeout_s
    while True:
        run = api.get(f"/api/v1/runs/{run_id}", user).json()
        if run["status"] in ("done", "failed", "cancelled") or time.monotonic() > end:
            return run
        time.sleep(0.05)


# -- sharing ------------------------------------------------------------------------------
def test_sharing_request_approve_use_revoke(api):
    def power_access():
        items = api.get("/api/v1/twins/demo/assets?system=power", "water_analyst").json()["items"]
        return {i["access"] for i in items}

    assert power_access() == {"status"}
    r = api.post(
        "/api/v1/grants",
        "water_analyst",
        json={"resource": "assets/power", "reason": "pumps need substations"},
    )
    assert r.status_code == 201
    g = r.json()
    assert (g["status"], g["owner"], g["grantee"]) == ("pending", "power_utility", "water_utility")
    assert (
        api.post(f"/api/v1/grants/{g['id']}/approve", "water_admin", json={}).status_code == 403
    )  # not the owner
    assert api.post(f"/api/v1/grants/{g['id']}/approve", "power_analyst", json={}).status_code == 403  # role
    assert power_access() == {"status"}
    r = api.post(f"/api/v1/grants/{g['id']}/approve", "power_operator", json={"note": "typhoon season"})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert power_access() == {"full"}
    shared = api.store.audit_entries(action="read.shared")[0]
    assert shared and shared[-1]["actor"] == "water_analyst" and shared[-1]["detail"]["systems"] == ["power"]
    assert [x["id"] for x in api.get("/api/v1/grants", "water_viewer").json()] == [g["id"]]
    assert api.get("/api/v1/grants", "transport_analyst").json() == []
    assert api.get(f"/api/v1/grants/{g['id']}", "transport_analyst").status_code == 403
    r = api.post(f"/api/v1/grants/{g['id']}/revoke", "power_operator", json={"note": "season over"})
    assert r.json()["status"] == "revoked"
    assert power_access() == {"status"}
    actions = [e["action"] for e in api.store.audit_entries(action="grant.")[0]]
    assert actions == ["grant.request", "grant.approve", "grant.revoke"]


# -- privacy ------------------------------------------------------------------------------
def test_population_owner_sees_raw_counts(sqlite_api):
    body = sqlite_api.get("/api/v1/twins/demo/population?level=cell", "planning_viewer").json()
    assert [r["population"] for r in body["items"]] == [1000, 3, 520, 7]
    assert body["privacy"]["suppressed"] is False and body["privacy"]["owner"] == "planning"


def test_population_outside_the_owner_is_k_suppressed_and_says_so(sqlite_api):
    body = sqlite_api.get("/api/v1/twins/demo/population?level=cell", "em_operator").json()
    pop = [r["population"] for r in body["items"]]
    # 3 and 7 are below k = 10; each county then has one withheld cell, so its other cell goes too
    assert pop == [None, None, None, None]
    assert body["items"][0]["suppressed"][0] == "population"
    # elderly = round(pop × 0.17): 170, 1, 88, 1 → 1 and 1 withheld, 170 and 88 by the secondary rule
    assert [r["age_65_plus"] for r in body["items"]] == [None, None, None, None]
    # children = round(pop × 0.13): 130, 0, 68, 1 → only the 1 is withheld (0 is kept), then 68 goes with it
    assert [r["age_0_14"] for r in body["items"]] == [130, 0, None, None]
    p = body["privacy"]
    assert p["suppressed"] and p["k"] == 10 and "fewer than 10 people" in p["note"]
    counties = sqlite_api.get("/api/v1/twins/demo/population?level=county", "water_viewer").json()
    assert [r["population"] for r in counties["items"]] == [1003, 527]
    assert counties["privacy"]["suppressed"] is True and counties["privacy"]["withheld_values"] == 0


def test_population_microdata_is_restricted_and_every_read_audited(sqlite_api):
    r = sqlite_api.get("/api/v1/twins/demo/population?level=cell", "water_analyst")
    assert r.status_code == 403 and "population/microdata" in r.json()["error"]["message"]
    before = len(sqlite_api.store.audit_entries(action="read.restricted")[0])
    sqlite_api.get("/api/v1/twins/demo/population?level=cell", "health_viewer")
    sqlite_api.get("/api/v1/twins/demo/population?level=cell", "planning_viewer")
    rows = sqlite_api.store.audit_entries(action="read.restricted")[0]
    assert len(rows) == before + 2
    assert [e["actor"] for e in rows[-2:]] == ["health_viewer", "planning_viewer"]


def test_units_carry_no_people(sqlite_api):
    body = sqlite_api.get("/api/v1/twins/demo/units?level=cell", "water_viewer").json()
    assert body["total"] == 4 and "population" not in body["items"][0]


# -- runs ---------------------------------------------------------------------------------
def _capacity_job(twin, config, progress):
    """Total capacity per system (MVA, m3/d …), reporting progress per system."""
    systems = sorted(twin.assets["system"].unique())
    out = []
    for i, s in enumerate(systems):
        progress(i / len(systems), f"system {s}")
        a = twin.assets[twin.assets["system"] == s]
        out.append({"system": s, "capacity": float(a["capacity"].sum()), "assets": len(a)})
    scale = float(config.get("scale", 1.0))
    table = pd.DataFrame(out).assign(capacity=lambda d: d["capacity"] * scale)
    return {"capacity": table, "metrics": {"systems": len(systems), "scale": scale}}


def _bad_job(twin, config, progress):
    raise InputError("the hazard track has no points", field="track", value=[])


_gate = threading.Event()


def _slow_job(twin, config, progress):
    for i in range(400):
        progress(i / 400)
        if _gate.wait(0.01):
            break
    return {}


register_job("test_capacity", _capacity_job)
register_job("test_bad", _bad_job)
register_job("test_slow", _slow_job, needs_twin=False)


def test_run_lifecycle_and_results(api):
    r = api.post(
        "/api/v1/runs",
        "water_analyst",
        json={"kind": "test_capacity", "twin": "demo", "config": {"scale": 2}},
    )
    assert r.status_code == 202 and r.json()["status"] in ("queued", "running", "done")
    run = wait_run(api, r.json()["id"])
    assert run["status"] == "done" and run["progress"] == 1.0
    res = api.get(f"/api/v1/runs/{run['id']}/results/capacity", "water_viewer").json()
    by = {row["system"]: row for row in res["rows"]}
    # the small twin's power capacity: 240 + 0 + 63 MVA, doubled by scale = 2
    assert by["power"]["capacity"] == pytest.approx(606.0) and by["water"]["assets"] == 2
    csv = api.get(f"/api/v1/runs/{run['id']}/results/capacity?format=csv", "water_viewer")
    assert (
        csv.headers["content-type"].startswith("text/csv")
        and csv.text.splitlines()[0] == "system,capacity,assets"
    )
    m = api.get(f"/api/v1/metrics?run_id={run['id']}", "water_viewer").json()
    assert m["total"] == 1 and m["items"][0]["metrics"] == {"systems": 5, "scale": 2.0}
    rep = api.get(f"/api/v1/reports/runs/{run['id']}?format=markdown", "water_viewer")
    assert "| capacity | parquet | 5 |" in rep.text and "- systems: 5" in rep.text


def test_scenario_run_through_the_real_pipeline(sqlite_api):
    """A ``scenario`` run replays Lekima on the stored twin: hazard, damage, cascade, service."""
    r = sqlite_api.post(
        "/api/v1/runs",
        json={"kind": "scenario", "twin": "demo", "config": {"sn": "201910", "realisations": 3, "seed": 4}},
    )
    run = wait_run(sqlite_api, r.json()["id"])
    assert run["status"] == "done", run["message"]
    # unsuppressed for the department owning population data (planning)
    res = sqlite_api.get(f"/api/v1/runs/{run['id']}/results/units?format=csv", "planning_viewer")
    t = pd.read_csv(io.StringIO(res.text), dtype={"unit_id": str})
    assert {"affected_mean", "no_power_mean", "gust_max_ms"} <= set(t.columns)
    cells = t[t["level"] == "cell"]
    assert (cells["gust_max_ms"] > 0).all() and (t["affected_mean"] <= t["population"] + 1e-6).all()
    r = sqlite_api.post(
        "/api/v1/runs", json={"kind": "scenario", "twin": "demo", "config": {"sn": "201910", "n": 3}}
    )
    # a bad configuration is refused when submitted, naming the field
    assert r.status_code == 422 and r.json()["error"]["field"] == "config.n", r.text


def test_failed_and_missing_jobs_say_why(sqlite_api):
    run = wait_run(
        sqlite_api, sqlite_api.post("/api/v1/runs", json={"kind": "test_bad", "twin": "demo"}).json()["id"]
    )
    assert run["status"] == "failed" and "no points" in run["message"]
    r = sqlite_api.post("/api/v1/runs", json={"kind": "scenario", "twin": "demo"})
    assert r.status_code == 422 and "or an earthquake (quake)" in r.json()["error"]["message"], r.text
    r = sqlite_api.post("/api/v1/runs", json={"kind": "nope"})
    assert r.status_code == 422 and "test_capacity" in r.json()["error"]["message"]
    r = sqlite_api.post("/api/v1/runs", json={"kind": "test_capacity"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "twin"
    r = sqlite_api.post("/api/v1/runs", json={"kind": "test_capacity", "twin": "atlantis"})
    assert r.status_code == 404 and "atlantis" in r.json()["error"]["message"]


def test_cancel_a_running_run(sqlite_api):
    _gate.clear()
    rid = sqlite_api.post("/api/v1/runs", json={"kind": "test_slow"}).json()["id"]
    end = time.monotonic() + 10
    while sqlite_api.get(f"/api/v1/runs/{rid}").json()["status"] != "running" and time.monotonic() < end:
        time.sleep(0.02)
    # another department may not cancel it; the owner's department (here: platform) may
    assert sqlite_api.post(f"/api/v1/runs/{rid}/cancel", "water_analyst", json={}).status_code == 403
    assert sqlite_api.post(f"/api/v1/runs/{rid}/cancel", json={}).status_code == 200
    run = wait_run(sqlite_api, rid)
    _gate.set()
    assert run["status"] == "cancelled"
    assert sqlite_api.post(f"/api/v1/runs/{rid}/cancel", json={}).status_code == 422


# -- operations ---------------------------------------------------------------------------
def test_alert_and_decision_flow_is_audited(sqlite_api):
    a = sqlite_api.post(
        "/api/v1/alerts",
        "em_operator",
        json={"level": "red", "kind": "wind", "title": "Lekima landfall", "twin": "demo"},
    ).json()
    assert (
        sqlite_api.post(f"/api/v1/alerts/{a['id']}/acknowledge", "power_operator").json()["status"]
        == "acknowledged"
    )
    d = sqlite_api.post(
        "/api/v1/decisions",
        "water_analyst",
        json={"kind": "shelter", "title": "open 3 shelters", "body": {"shelters": 3}, "twin": "demo"},
    ).json()
    assert (
        sqlite_api.post(f"/api/v1/decisions/{d['id']}/approve", "power_operator", json={}).status_code == 403
    )
    ok = sqlite_api.post(f"/api/v1/decisions/{d['id']}/approve", "em_operator", json={"note": "go"}).json()
    assert ok["status"] == "approved" and ok["decided_by"] == "em_operator"
    rep = sqlite_api.get("/api/v1/reports/twins/demo", "water_viewer").json()
    assert rep["open_alerts"] == {"red": 1} and rep["decisions"]["approved"] == 1
    acts = [(e["actor"], e["action"]) for e in sqlite_api.store.audit_entries()[0]]
    for want in [
        ("em_operator", "alert.create"),
        ("power_operator", "alert.acknowledged"),
        ("water_analyst", "decision.propose"),
        ("em_operator", "decision.approve"),
    ]:
        assert want in acts


def test_observations_batch_and_filters(sqlite_api):
    obs = [
        {
            "sensor_id": f"s{i}",
            "quantity": "wind_ms",
            "value": 20.0 + i,
            "observed_at": f"2019-08-09T1{i}:00:00Z",
        }
        for i in range(5)
    ]
    r = sqlite_api.post("/api/v1/observations", "em_operator", json={"observations": obs})
    assert r.status_code == 201 and r.json()["rows"] == 5
    page = sqlite_api.get("/api/v1/observations?since=2019-08-09T13:00:00Z", "water_viewer").json()
    assert page["total"] == 2 and [o["value"] for o in page["items"]] == [24.0, 23.0]
    bad = sqlite_api.post(
        "/api/v1/observations", "em_operator", json={"observations": [{**obs[0], "observed_at": "yesterday"}]}
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "body.observations.0.observed_at"


# -- sign-in, errors, paging --------------------------------------------------------------
def test_password_login_issues_a_working_jwt(sqlite_api):
    c = sqlite_api.client
    r = c.post("/api/v1/auth/token", data={"username": "water_analyst", "password": "water_analyst-password"})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    me = c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json()
    assert me["department"] == "water_utility" and me["permissions"]["assets/power"] == ["read_status"]
    assert (
        c.post("/api/v1/auth/token", data={"username": "water_analyst", "password": "nope"}).status_code
        == 401
    )
    sqlite_api.store.update_user("water_analyst", disabled=True)
    r2 = c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert r2.status_code == 401


def test_users_and_tokens_by_admins(sqlite_api):
    r = sqlite_api.post(
        "/api/v1/users",
        "water_admin",
        json={"username": "wendy", "department": "water_utility", "role": "operator"},
    )
    assert r.status_code == 201
    r = sqlite_api.post(
        "/api/v1/users",
        "water_admin",
        json={"username": "eve", "department": "power_utility", "role": "admin"},
    )
    assert r.status_code == 403
    tok = sqlite_api.post("/api/v1/users/wendy/tokens", "water_admin", json={"label": "scada"}).json()
    c = sqlite_api.client
    assert (
        c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tok['token']}"}).json()["username"]
        == "wendy"
    )
    assert [u["username"] for u in sqlite_api.get("/api/v1/users", "water_admin").json()] == [
        "water_admin",
        "water_analyst",
        "water_viewer",
        "wendy",
    ]
    r = sqlite_api.client.delete(
        f"/api/v1/users/wendy/tokens/{tok['token_id']}", headers=sqlite_api.h("water_admin")
    )
    assert r.status_code == 204
    assert c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tok['token']}"}).status_code == 401


def test_errors_share_one_shape(sqlite_api):
    for url, status in [
        ("/api/v1/twins/atlantis", 404),
        ("/api/v1/nowhere", 404),
        ("/api/v1/twins/demo/assets?limit=0", 422),
        ("/api/v1/alerts/999", 404),
    ]:
        r = sqlite_api.get(url)
        err = r.json()["error"]
        assert r.status_code == status and err["status"] == status and err["message"]
    assert "GET /api/v1/twins" in sqlite_api.get("/api/v1/twins/atlantis").json()["error"]["message"]
    assert sqlite_api.get("/api/v1/twins/demo/assets?limit=0").json()["error"]["field"] == "query.limit"


def test_assets_page_and_filter(api):
    first = api.get("/api/v1/twins/demo/assets?limit=4").json()
    second = api.get("/api/v1/twins/demo/assets?limit=4&offset=4").json()
    assert first["total"] == second["total"] == 10
    ids = [a["asset_id"] for a in first["items"] + second["items"]]
    assert len(set(ids)) == 8 and ids[0] == "P-sub-1"
    only = api.get("/api/v1/twins/demo/assets?system=road&kind=bridge").json()
    assert only["total"] == 1 and only["items"][0]["asset_id"] == "R-bridge-1"
    api.put("/api/v1/twins/demo/assets/T-bs-1/status", "admin", json={"status": "down"})
    down = api.get("/api/v1/twins/demo/assets?status=down", "water_viewer").json()
    assert [a["asset_id"] for a in down["items"]] == ["T-bs-1"]


def test_audit_endpoints(sqlite_api):
    v = sqlite_api.get("/api/v1/audit/verify").json()
    assert v["ok"] and v["entries"] == v["head_seq"]
    head = sqlite_api.get("/api/v1/audit/head").json()
    entries = sqlite_api.get(f"/api/v1/audit?since_seq={head['seq'] - 2}").json()
    assert [e["seq"] for e in entries["items"]][:2] == [head["seq"] - 1, head["seq"]]
    # reading the audit log is itself a restricted read, and is recorded
    assert sqlite_api.store.audit_entries(action="read.restricted")[0][-1]["resource"] == "audit"
