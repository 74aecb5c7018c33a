"""No department reads another's restricted data or acts on another's runs and alerts; no request
exhausts the service.

The routes that can return run results or forecast values are enumerated from the app's OpenAPI
document (every GET path with ``{run_id}`` or ``{forecast_id}``, plus ``/metrics``), never listed
by hand, and called as every test user.
"""

from __future__ import annotations

import io
import json
import os
import re
import time

import numpy as np
import pandas as pd
import pytest
from hardening_jobs import (
    CELL_IDS,
    MICRODATA_DEPTS,
    SECONDARY,
    SMALL,
    _memory_job,
    _units_job,
    _wait_job,
)

from conftest import USERS
from rescity.api import register_job

register_job("test_units", _units_job)
register_job("test_memory", _memory_job, needs_twin=False)
register_job("test_wait", _wait_job, needs_twin=False)


def wait_run(api, rid, timeout=60.0):
    end = time.monotonic() + timeout
    while True:
        run = api.get(f"/api/v1/runs/{rid}").json()
        if run["status"] in ("done", "failed", "cancelled") or time.monotonic() > end:
            return run
        time.sleep(0.05)


def _operations(app):
    for path, item in app.openapi()["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def _result_urls(app, run_id: str, forecast_id: int, names: list[str]) -> list[str]:
    """Every GET URL of the app that can carry a run's or a forecast's unit values."""
    urls = []
    for method, path, _ in _operations(app):
        if method != "GET" or not ("{run_id}" in path or "{forecast_id}" in path):
            continue
        base = path.replace("{run_id}", run_id).replace("{forecast_id}", str(forecast_id))
        variants = [base]
        if "{name}" in base:
            variants = [base.replace("{name}", n) for n in names]
        for v in variants:
            urls += [v, f"{v}?format=csv", f"{v}?level=cell", f"{v}?level=county", f"{v}?format=markdown"]
            urls += [f"{v}?level=cell&indicator=affected", f"{v}?level=county&indicator=affected"]
    urls.append(f"/api/v1/metrics?run_id={run_id}")
    urls.append(f"/api/v1/dashboard/twins/demo/units.geojson?forecast_id={forecast_id}&level=cell")
    urls.append(f"/api/v1/dashboard/twins/demo/units.geojson?forecast_id={forecast_id}&level=county")
    urls.append(
        f"/api/v1/dashboard/twins/demo/units.geojson?forecast_id={forecast_id}&level=cell&indicator=affected"
    )
    return urls


def _restricted_reads(store, user: str) -> int:
    with store.read() as q:
        return int(
            q.scalar("SELECT COUNT(*) FROM audit_log WHERE actor = ? AND action = 'read.restricted'", (user,))
        )


def test_every_route_with_unit_tables_applies_the_population_rule(api):
    rid = api.post("/api/v1/runs", "em_operator", json={"kind": "test_units", "twin": "demo"}).json()["id"]
    run = wait_run(api, rid)
    assert run["status"] == "done", run["message"]
    # the job ran in a worker process, not in the one serving requests
    pid = api.get(f"/api/v1/runs/{rid}/results/pid").json()["value"]["pid"]
    assert pid != os.getpid()
    fid = api.post(
        "/api/v1/forecasts", "em_operator", json={"hazard": "typhoon", "twin": "demo", "run_id": rid}
    ).json()["id"]
    urls = _result_urls(api.client.app, rid, fid, ["units", "metrics", "issuances", "pid"])
    assert len(urls) >= 40
    walked = 0
    for user, (dept, _role) in USERS.items():
        before = _restricted_reads(api.store, user)
        cell_reads = 0
        for url in urls:
            r = api.get(url, user)
            assert r.status_code < 500, (user, url, r.text)
            if r.status_code != 200:
                assert r.status_code in (403, 404, 409, 422), (user, url, r.status_code, r.text)
                continue
            walked += 1
            text = r.text
            if dept != "planning":
                for v in (*SMALL, SECONDARY):
                    assert v not in text, (user, url, v)
            if dept not in MICRODATA_DEPTS:
                for cid in CELL_IDS:
                    assert cid not in text, (user, url, cid)
            if any(cid in text for cid in CELL_IDS) and any(v in text for v in ("affected", "population")):
                cell_reads += 1
        # every response that released grid-cell rows with counts was audited as a restricted read
        assert _restricted_reads(api.store, user) - before >= cell_reads
    assert walked > 100
    # the owner sees the raw counts
    t = pd.read_csv(
        io.StringIO(api.get(f"/api/v1/runs/{rid}/results/units?format=csv", "planning_viewer").text)
    )
    assert set(SMALL) <= {f"{x:.5f}" for x in t["affected_mean"]}


def test_csv_leak_of_issue_13_is_closed(api):
    """The exact call of the report: a viewer of another department, units as CSV."""
    rid = api.post("/api/v1/runs", "em_operator", json={"kind": "test_units", "twin": "demo"}).json()["id"]
    assert wait_run(api, rid)["status"] == "done"
    r = api.get(f"/api/v1/runs/{rid}/results/units?format=csv", "water_viewer")
    t = pd.read_csv(io.StringIO(r.text), dtype={"unit_id": str})
    assert (t["level"] != "cell").all()
    r = api.get(f"/api/v1/runs/{rid}/results/units?format=csv", "health_viewer")
    t = pd.read_csv(io.StringIO(r.text), dtype={"unit_id": str})
    cells = t[t["level"] == "cell"].set_index("unit_id")
    assert len(cells) == 4
    assert np.isnan(cells.loc["331002-c2", "population"]) and np.isnan(cells.loc["331004-c2", "population"])
    assert np.isnan(cells.loc["331002-c1", "affected_mean"])  # secondary suppression
    # 331004-c1 (520) is the only other positive cell of its county: withheld with 331004-c2 (7)
    assert np.isnan(cells.loc["331004-c1", "population"])
    assert t.set_index("unit_id").loc["331004", "population"] == 527
    with api.store.read() as q:
        rows = q.dicts("SELECT actor, action, resource FROM audit_log WHERE action = 'read.restricted'")
    assert {
        "actor": "health_viewer",
        "action": "read.restricted",
        "resource": f"runs/{rid}/results/units",
    } in [{k: r[k] for k in ("actor", "action", "resource")} for r in rows]


def _audit(store, action: str) -> list[dict]:
    with store.read() as q:
        return q.dicts(
            "SELECT actor, department, action, resource FROM audit_log WHERE action = ?", (action,)
        )


def test_only_the_owning_department_cancels_a_run(api):
    rid = api.post("/api/v1/runs", "transport_analyst", json={"kind": "test_wait"}).json()["id"]
    r = api.post(f"/api/v1/runs/{rid}/cancel", "water_analyst", json={})
    assert r.status_code == 403 and "transport" in r.json()["error"]["message"]
    assert api.post(f"/api/v1/runs/{rid}/cancel", "power_operator", json={}).status_code == 403
    assert api.get(f"/api/v1/runs/{rid}").json()["status"] in ("queued", "running")
    assert api.post(f"/api/v1/runs/{rid}/cancel", "transport_analyst", json={}).status_code == 200
    assert wait_run(api, rid)["status"] == "cancelled"
    entries = [e for e in _audit(api.store, "run.cancelled") if e["resource"] == f"runs/{rid}"]
    assert (
        entries and entries[-1]["actor"] == "transport_analyst" and entries[-1]["department"] == "transport"
    )


def test_only_the_owning_department_closes_an_alert(api):
    aid = api.post(
        "/api/v1/alerts", "em_operator", json={"level": "red", "kind": "wind", "title": "Lekima red alert"}
    ).json()["id"]
    r = api.post(f"/api/v1/alerts/{aid}/close", "power_operator", json={})
    assert r.status_code == 403 and "emergency_management" in r.json()["error"]["message"]
    assert api.get(f"/api/v1/alerts/{aid}").json()["status"] == "open"
    # acknowledging (having seen it) stays open to every operator, audited with the actor
    assert api.post(f"/api/v1/alerts/{aid}/acknowledge", "power_operator", json={}).status_code == 200
    assert api.post(f"/api/v1/alerts/{aid}/close", "em_operator", json={}).status_code == 200
    e = [x for x in _audit(api.store, "alert.closed") if x["resource"] == f"alerts/{aid}"]
    assert e and e[-1]["actor"] == "em_operator"


def test_actions_on_runs_and_alerts_walk_every_route(sqlite_api):
    """Every POST route acting on one run or alert refuses users of other departments."""
    api = sqlite_api
    rid = api.post(
        "/api/v1/runs", "power_analyst", json={"kind": "test_wait", "config": {"steps": 400}}
    ).json()["id"]
    aid = api.post(
        "/api/v1/alerts", "power_operator", json={"level": "blue", "kind": "wind", "title": "t1"}
    ).json()["id"]
    n = 0
    for method, path, _ in _operations(api.client.app):
        if method != "POST" or not re.search(r"\{(run_id|alert_id)\}", path) or path.endswith("/acknowledge"):
            continue
        url = path.replace("{run_id}", rid).replace("{alert_id}", str(aid))
        for user in ("water_analyst", "transport_analyst", "em_operator", "water_admin"):
            r = api.post(url, user, json={})
            assert r.status_code == 403, (user, url, r.status_code, r.text)
            n += 1
    assert n >= 8  # cancel a run, close an alert; four users each
    api.post(f"/api/v1/runs/{rid}/cancel", "power_analyst", json={})


# -- limits -----------------------------------------------------------------------------------
def test_run_limits_by_role(sqlite_api):
    r = sqlite_api.post(
        "/api/v1/runs",
        "water_analyst",
        json={"kind": "scenario", "twin": "demo", "config": {"sn": "201910", "realisations": 20000}},
    )
    err = r.json()["error"]
    assert r.status_code == 422 and err["field"] == "config.realisations" and "analyst" in err["message"]
    r = sqlite_api.post(
        "/api/v1/runs",
        "water_analyst",
        json={"kind": "forecast", "twin": "demo", "config": {"members": 5000}},
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "config.members"
    r = sqlite_api.post(
        "/api/v1/runs",
        "water_analyst",
        json={"kind": "scenario", "twin": "demo", "config": {"sn": "201910", "horizon_h": 1e9}},
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "config.horizon_h"
    r = sqlite_api.post("/api/v1/runs", "water_viewer", json={"kind": "test_wait"})
    assert r.status_code == 403


def test_memory_limit_fails_the_run_not_the_service(tmp_path):
    from fastapi.testclient import TestClient

    from conftest import Api, make_users
    from rescity.api import create_app
    from rescity.govern.limits import RoleLimits
    from rescity.store import open_store

    st = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    tokens = make_users(st)
    limits = {"admin": RoleLimits("admin", 100, 10, 100, 600, 4)}
    with TestClient(create_app(store=st, limits=limits, workers=1)) as c:
        api = Api(c, st, tokens)
        rid = api.post("/api/v1/runs", json={"kind": "test_memory", "config": {"mib": 2048}}).json()["id"]
        run = wait_run(api, rid)
        assert run["status"] == "failed" and "600 MiB" in run["message"], run["message"]
        rid = api.post("/api/v1/runs", json={"kind": "test_memory", "config": {"mib": 16}}).json()["id"]
        assert wait_run(api, rid)["status"] == "done"
        assert c.get("/api/v1/health").status_code == 200
    st.close()


def test_bounded_queue_answers_429(tmp_path):
    from fastapi.testclient import TestClient

    from conftest import Api, make_users
    from rescity.api import create_app
    from rescity.store import open_store

    st = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    tokens = make_users(st)
    with TestClient(create_app(store=st, workers=1, max_queue=2, isolation="thread")) as c:
        api = Api(c, st, tokens)
        codes = [
            api.post("/api/v1/runs", json={"kind": "test_wait", "config": {"steps": 300}}).status_code
            for _ in range(5)
        ]
        # one runs, two wait, the rest are refused
        assert codes.count(202) == 3 and codes.count(429) == 2, codes
        r = api.post("/api/v1/runs", json={"kind": "test_wait"})
        assert r.status_code == 429 and r.headers["retry-after"] and "queue" in r.json()["error"]["message"]
        # one user's share: an analyst may have 4 at once (limits.csv)
        c.app.state.ctx.runner.shutdown(wait=True)
    st.close()


# -- request bodies ---------------------------------------------------------------------------
def test_oversize_bodies_are_refused_before_sign_in(sqlite_api):
    c = sqlite_api.client
    big = b'{"username": "' + b"x" * (9 * 2**20) + b'"}'
    r = c.post("/api/v1/auth/token", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    r = c.post("/api/v1/runs", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413  # anonymous: refused for size, before the 401

    def chunks():
        for _ in range(10):
            yield b"x" * 2**20

    r = c.post("/api/v1/observations", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    small = json.dumps({"kind": "test_wait"})
    assert (
        c.post("/api/v1/runs", content=small, headers={"content-type": "application/json"}).status_code == 401
    )


# -- sign-in ----------------------------------------------------------------------------------
def test_login_throttle_backs_off_and_forgets():
    from rescity.govern.throttle import LoginThrottle

    t = [0.0]
    th = LoginThrottle(free=3, base_s=2.0, max_s=60.0, window_s=600.0, address_free=100, clock=lambda: t[0])
    for _ in range(3):
        assert th.retry_after("user:a") == 0
        th.failed("user:a", "addr:x")
    assert th.retry_after("user:a") == 2.0 and th.retry_after("user:b") == 0
    t[0] = 2.5
    assert th.failed("user:a") == 4.0  # 2 s · 2^1
    t[0] = 3.0
    assert th.retry_after("user:a") == pytest.approx(3.5)
    for _ in range(10):
        th.failed("user:a")
    assert th.retry_after("user:a") <= 60.0  # capped
    th.succeeded("user:a")
    assert th.retry_after("user:a") == 0


def test_login_is_throttled_audited_and_equal_in_work(sqlite_api, monkeypatch):
    c, st = sqlite_api.client, sqlite_api.store
    from rescity.govern import auth

    calls = []
    real = auth.check_password
    monkeypatch.setattr(auth, "check_password", lambda pw, stored: calls.append(stored) or real(pw, stored))
    # unknown user, user without password, wrong password: the same scrypt work each time
    for name in ("nobody-here", "water_viewer", "water_analyst"):
        r = c.post("/api/v1/auth/token", data={"username": name, "password": "guess"})
        assert r.status_code == 401
    assert len(calls) == 3 and all(s and s.startswith("scrypt$") for s in calls)
    failed = [e for e in st.audit_entries()[0] if e["action"] == "auth.login_failed"]
    assert {e["resource"] for e in failed} >= {"users/nobody-here", "users/water_analyst"}
    # more wrong guesses lock the account: then even the right password is refused, with Retry-After
    for _ in range(5):
        c.post("/api/v1/auth/token", data={"username": "water_analyst", "password": "guess"})
    r = c.post("/api/v1/auth/token", data={"username": "water_analyst", "password": "water_analyst-password"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    c.app.state.ctx.throttle.succeeded("user:water_analyst")
    c.app.state.ctx.throttle.succeeded("addr:testclient")
    r = c.post("/api/v1/auth/token", data={"username": "water_analyst", "password": "water_analyst-password"})
    assert r.status_code == 200


def test_tokens_stop_working_after_password_or_role_change(sqlite_api):
    c, st = sqlite_api.client, sqlite_api.store
    r = c.post("/api/v1/auth/token", data={"username": "water_analyst", "password": "water_analyst-password"})
    jwt = {"Authorization": f"Bearer {r.json()['access_token']}"}
    api_token = {"Authorization": f"Bearer {st.add_token('water_analyst', label='t')['token']}"}
    assert c.get("/api/v1/auth/me", headers=jwt).status_code == 200
    assert c.get("/api/v1/auth/me", headers=api_token).status_code == 200
    st.update_user("water_analyst", role="viewer")
    assert c.get("/api/v1/auth/me", headers=jwt).status_code == 401
    assert c.get("/api/v1/auth/me", headers=api_token).status_code == 401
    r = c.post("/api/v1/auth/token", data={"username": "water_analyst", "password": "water_analyst-password"})
    jwt = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert c.get("/api/v1/auth/me", headers=jwt).json()["role"] == "viewer"
    st.update_user("water_analyst", password="a-new-long-password")
    assert c.get("/api/v1/auth/me", headers=jwt).status_code == 401
    # an unrelated change (the full name) keeps tokens valid
    r = c.post("/api/v1/auth/token", data={"username": "water_analyst", "password": "a-new-long-password"})
    jwt = {"Authorization": f"Bearer {r.json()['access_token']}"}
    st.update_user("water_analyst", full_name="Wang Wei")
    assert c.get("/api/v1/auth/me", headers=jwt).status_code == 200


# -- audit chain ------------------------------------------------------------------------------
def _forge_after_head(st, n: int = 2) -> None:
    """What an intruder with database access but no key does: append entries with fresh hashes."""
    from rescity.govern.audit import entry_hash

    with st.write() as tx:
        if st.backend == "sqlite":
            tx.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        else:
            tx.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        seq, prev = tx.one("SELECT seq, hash FROM audit_head WHERE id = 1")
        for _ in range(n):
            seq = int(seq) + 1
            args = (
                seq,
                "2030-01-01T00:00:00Z",
                "admin",
                "platform",
                "user.create",
                "users/mallory",
                "{}",
                prev,
            )
            h = entry_hash(*args)  # an unkeyed hash: the intruder has no key
            tx.execute(
                "INSERT INTO audit_log (seq, ts, actor, department, action, resource, detail, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*args, h),
            )
            prev = h
        tx.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))


def test_keyed_audit_chain_catches_entries_forged_after_the_head(tmp_path, monkeypatch):
    from rescity.store import open_store

    keyfile = tmp_path / "audit.key"
    keyfile.write_text("k" * 32, encoding="utf-8")
    monkeypatch.setenv("RESCITY_AUDIT_KEY_FILE", str(keyfile))
    st = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    st.add_user("alice", "water_utility", "analyst")
    head = st.audit_head()
    assert head["hash"].startswith("k1:") and st.verify_audit().ok
    _forge_after_head(st)
    v = st.verify_audit()
    assert not v.ok and {p["kind"] for p in v.problems} >= {"forged"}
    st.close()
    # the same forgery on an unkeyed chain verifies: what the key adds
    monkeypatch.delenv("RESCITY_AUDIT_KEY_FILE")
    st = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    st.add_user("alice", "water_utility", "analyst")
    _forge_after_head(st)
    assert st.verify_audit().ok
    st.close()


def test_keyed_entries_need_the_key_and_a_wrong_key_fails(tmp_path, monkeypatch):
    from rescity.store import open_store

    monkeypatch.setenv("RESCITY_AUDIT_KEY", "a-secret-of-sixteen-bytes-or-more")
    st = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    st.add_user("alice", "water_utility", "analyst")
    st.close()
    monkeypatch.setenv("RESCITY_AUDIT_KEY", "another-secret-of-sixteen-bytes")
    st = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    assert {p["kind"] for p in st.verify_audit().problems} == {"altered"}
    st.close()
    monkeypatch.delenv("RESCITY_AUDIT_KEY")
    st = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    assert {p["kind"] for p in st.verify_audit().problems} == {"key"}
    st.close()


def test_a_non_numeric_seq_is_reported_not_a_crash():
    from rescity.govern.audit import GENESIS, entry_hash, verify_chain

    h1 = entry_hash(1, "t", "a", "d", "x", "r", "{}", GENESIS)
    rows = [
        (1, "t", "a", "d", "x", "r", "{}", GENESIS, h1),
        ("two", "t", "a", "d", "x", "r", "{}", h1, "f" * 64),
    ]
    v = verify_chain(rows, (2, "f" * 64))
    assert not v.ok and any("not a number" in p["message"] for p in v.problems)


def test_password_hashing_runs_in_its_own_pool(sqlite_api, monkeypatch):
    """scrypt runs on the hashing threads, not on the event loop or the request threads."""
    import threading

    from rescity.govern import auth

    names = []
    real = auth.check_password

    def spy(pw, stored):
        names.append(threading.current_thread().name)
        return real(pw, stored)

    monkeypatch.setattr(auth, "check_password", spy)
    c = sqlite_api.client
    c.post("/api/v1/auth/token", data={"username": "water_analyst", "password": "wrong-guess"})
    assert names and all(n.startswith("rescity-scrypt") for n in names)
