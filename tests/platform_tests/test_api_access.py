"""Every route refuses anonymous callers (401) and callers whose role or department may not (403).

The routes are enumerated from the app's OpenAPI document, never listed by hand; each operation
carries the permission it needs (``x-rescity-access``), derived from its dependencies.
"""

from __future__ import annotations

import re

import pytest

from conftest import USERS
from rescity.govern.policy import Policy

DUMMY = {
    "twin": "demo",
    "asset_id": "P-sub-1",
    "username": "water_viewer",
    "token_id": "000000000000",
    "run_id": "0" * 32,
    "name": "metrics",
}


def operations(app):
    """``(method, path, operation)`` for every operation of the app's OpenAPI document."""
    spec = app.openapi()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: DUMMY.get(m.group(1), "1"), path)


def call(client, method, path, op, headers=None):
    kw = {}
    if "requestBody" in op:
        content = op["requestBody"]["content"]
        if "application/json" in content:
            kw["json"] = {}
        else:
            kw["data"] = {}
    return client.request(method, concrete(path), headers=headers or {}, **kw)


def assert_error_shape(r, status):
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    err = r.json()["error"]
    assert err["status"] == status and err["code"] and len(err["message"]) > 20


def test_only_health_and_login_are_open(sqlite_api):
    app = sqlite_api.client.app
    open_ops = {(m, p) for m, p, op in operations(app) if not op["x-rescity-access"]["authenticated"]}
    assert open_ops == {("GET", "/api/v1/health"), ("POST", "/api/v1/auth/token")}
    assert sum(1 for _ in operations(app)) >= 50


def test_every_route_refuses_anonymous_and_bad_tokens(sqlite_api):
    c = sqlite_api.client
    bad = {
        "missing": None,
        "unknown API token": {"Authorization": "Bearer rct_000000000000_" + "x" * 43},
        "forged JWT": {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"},
        "not bearer": {"Authorization": "Basic YWRtaW46YWRtaW4="},
    }
    n = 0
    for method, path, op in operations(c.app):
        if not op["x-rescity-access"]["authenticated"]:
            continue
        for headers in bad.values():
            r = call(c, method, path, op, headers)
            assert_error_shape(r, 401)
            assert r.headers["www-authenticate"] == "Bearer"
        n += 1
    assert n >= 50


def test_every_route_refuses_roles_without_the_permission(sqlite_api):
    c, pol = sqlite_api.client, Policy()
    checked, open_to_all = 0, []
    for method, path, op in operations(c.app):
        acc = op["x-rescity-access"]
        if "object" not in acc:
            continue
        denied = [
            u for u, (dept, role) in USERS.items() if not pol.allows(role, dept, acc["object"], acc["action"])
        ]
        if not denied:
            open_to_all.append((method, path))
            if "{username}" in path:
                # Self-service (own tokens): open to every role, but only for one's own account.
                assert_error_shape(call(c, method, path, op, sqlite_api.h("water_analyst")), 403)
                checked += 1
            continue
        for user in denied:
            r = call(c, method, path, op, sqlite_api.h(user))
            assert_error_shape(r, 403)
        checked += 1
    # Only reads and one's own tokens are open to every signed-in user.
    assert all(m == "GET" or "{username}" in p for m, p in open_to_all), open_to_all
    assert checked >= 25


def test_platform_admin_is_refused_nowhere(sqlite_api):
    c = sqlite_api.client
    for method, path, op in operations(c.app):
        if method == "DELETE" and path == "/api/v1/twins/{twin}":
            continue  # would remove the twin the other calls use; tested on its own
        r = call(c, method, path, op, sqlite_api.h("admin"))
        assert r.status_code not in (401, 403), (method, path, r.text)
        assert r.status_code < 500, (method, path, r.text)


@pytest.mark.parametrize("user", ["water_analyst", "water_viewer"])
def test_water_sees_water_in_full_and_power_as_status(api, user):
    items = api.get("/api/v1/twins/demo/assets", user).json()["items"]
    by = {i["asset_id"]: i for i in items}
    assert by["W-pump-1"]["access"] == "full" and by["W-pump-1"]["capacity"] == 5e4
    assert by["P-sub-1"]["access"] == "status"
    assert set(by["P-sub-1"]) == {"access", "asset_id", "system", "kind", "unit_id", "status", "status_at"}
    assert "capacity" not in by["P-sub-1"] and "name" not in by["P-sub-1"]
    assert api.get("/api/v1/twins/demo/assets/P-sub-1", user).json()["access"] == "status"


def test_status_writes_are_limited_to_the_owning_department(api):
    body = {"status": "down", "source": "scada"}
    assert api.put("/api/v1/twins/demo/assets/P-sub-1/status", "power_operator", json=body).status_code == 200
    r = api.put("/api/v1/twins/demo/assets/W-pump-1/status", "power_operator", json=body)
    assert r.status_code == 403 and "water" in r.json()["error"]["message"]
    r = api.post(
        "/api/v1/twins/demo/assets/status",
        "power_operator",
        json={"updates": [{"asset_id": "P-sub-2", "status": "up"}, {"asset_id": "W-pump-1", "status": "up"}]},
    )
    assert r.status_code == 403
    assert api.store.asset_status("demo").set_index("asset_id").loc["P-sub-2", "status"] == "unknown"
