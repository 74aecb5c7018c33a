"""Fixtures of the platform tests: both store backends, a small twin, API users and tokens."""

from __future__ import annotations

import contextlib
import glob
import os
import subprocess
import time
import uuid

import numpy as np
import pandas as pd
import pytest

from rescity.twin.model import Twin, conform

PG_ADMIN_URL = os.environ.get("RESCITY_TEST_PG", "postgresql://postgres@localhost:5432/postgres")


def _pg_connect(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def _start_postgres() -> str | None:
    """Start the local cluster if it is down; the reason it cannot run, or None when it runs."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    try:
        _pg_connect(PG_ADMIN_URL).close()
        return None
    except Exception as e:  # noqa: BLE001
        first = str(e).strip()
    versions = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
    if not versions:
        return f"PostgreSQL is not reachable ({first}) and no local cluster is installed"
    for v in versions:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", v, "main", "start"],
            capture_output=True,
            timeout=60,
        )
    for _ in range(40):
        try:
            _pg_connect(PG_ADMIN_URL).close()
            return None
        except Exception as e:  # noqa: BLE001
            first = str(e).strip()
            time.sleep(0.25)
    return f"PostgreSQL did not start: {first}"


@pytest.fixture(scope="session")
def pg_database():
    """A throwaway database for this test session (dropped afterwards); skips if PostgreSQL cannot run."""
    reason = _start_postgres()
    if reason:
        pytest.skip(reason)
    name = f"rescity_test_{uuid.uuid4().hex[:10]}"
    with _pg_connect(PG_ADMIN_URL) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with _pg_connect(PG_ADMIN_URL) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def pg_schema_url(db_url: str):
    """A fresh schema in the session database; yields a URL whose search_path is that schema."""
    schema = f"s_{uuid.uuid4().hex[:10]}"
    with _pg_connect(db_url) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{db_url}?options=-csearch_path%3D{schema}"
    finally:
        with _pg_connect(db_url) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A URL of an empty store, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rescity.db'}"
    else:
        db = request.getfixturevalue("pg_database")
        with pg_schema_url(db) as url:
            yield url


@pytest.fixture
def store(store_url):
    from rescity.store import open_store

    st = open_store(store_url)
    yield st
    st.close()


def small_twin() -> Twin:
    """Two counties of one prefecture, four cells (two with fewer than 10 people), six systems' assets."""
    units = pd.DataFrame(
        {
            "unit_id": [
                "330000",
                "331000",
                "331002",
                "331004",
                "331002-c1",
                "331002-c2",
                "331004-c1",
                "331004-c2",
            ],
            "level": ["province", "prefecture", "county", "county", "cell", "cell", "cell", "cell"],
            "parent_id": ["", "330000", "331000", "331000", "331002", "331002", "331004", "331004"],
            "name_zh": ["浙江省", "台州市", "椒江区", "路桥区", "", "", "", ""],
            "name_en": ["Zhejiang", "Taizhou", "Jiaojiang", "Luqiao", "", "", "", ""],
            "population": [1530, 1530, 1003, 527, 1000, 3, 520, 7],
            "households": [600, 600, 401, 199, 400, 1, 198, 1],
            "share_age_0_14": [0.13] * 8,
            "share_age_65_plus": [0.17] * 8,
            "lon": [120.0, 121.4, 121.44, 121.37, 121.43, 121.45, 121.36, 121.38],
            "lat": [29.0, 28.66, 28.68, 28.58, 28.67, 28.69, 28.57, 28.59],
        }
    )
    assets = pd.DataFrame(
        {
            "asset_id": [
                "P-sub-1",
                "P-line-1",
                "P-sub-2",
                "W-plant-1",
                "W-pump-1",
                "R-hub-1",
                "R-bridge-1",
                "T-core-1",
                "T-bs-1",
                "F-hosp-1",
            ],
            "system": [
                "power",
                "power",
                "power",
                "water",
                "water",
                "road",
                "road",
                "telecom",
                "telecom",
                "facility",
            ],
            "kind": [
                "substation_220kv",
                "line_110kv",
                "substation_110kv",
                "treatment_plant",
                "pump_station",
                "road_hub",
                "bridge",
                "core_node",
                "base_station",
                "hospital",
            ],
            "lon": np.linspace(121.36, 121.45, 10),
            "lat": np.linspace(28.57, 28.69, 10),
            "unit_id": [
                "331002-c1",
                "331002-c1",
                "331004-c1",
                "331002-c1",
                "331004-c1",
                "331002-c1",
                "331004-c1",
                "331002-c1",
                "331004-c1",
                "331002-c1",
            ],
            "capacity": [240.0, 0, 63.0, 2e5, 5e4, 0, 0, 0, 500, 800],
            "capacity_unit": ["MVA", "", "MVA", "m3/d", "m3/d", "", "", "", "subscribers", "beds"],
            "replacement_cost_cny": [3e8, 2e7, 8e7, 5e8, 3e7, 1e7, 2e8, 5e7, 1e6, 1e9],
            "is_source": [True, False, False, True, False, True, False, True, False, False],
            "name": ["椒江变", "", "路桥变", "水厂", "泵站", "", "大桥", "", "", "台州医院"],
        }
    )
    edges = pd.DataFrame({"system": ["power", "power", "water"], "src": [0, 1, 3], "dst": [1, 2, 4]})
    deps = pd.DataFrame(
        {"dependent": [4, 8, 9], "supplier": [2, 0, 0], "kind": ["power"] * 3, "buffer_h": [0, 4, 72]}
    )
    service = pd.DataFrame(
        {
            "terminal": [0, 0, 2, 2],
            "unit": [4, 5, 6, 7],
            "system": ["power"] * 4,
            "people": [1000.0, 3, 520, 7],
        }
    )
    return Twin(
        units=conform(units, "units"),
        assets=conform(assets, "assets"),
        edges=conform(edges, "edges"),
        dependencies=conform(deps, "dependencies"),
        service=conform(service, "service"),
        meta={"name": "demo", "builder": "tests", "seed": 1},
    )


@pytest.fixture
def twin() -> Twin:
    return small_twin()


#: (department, role) of the users every API test has.
USERS = {
    "admin": ("platform", "admin"),
    "water_viewer": ("water_utility", "viewer"),
    "water_analyst": ("water_utility", "analyst"),
    "water_admin": ("water_utility", "admin"),
    "power_operator": ("power_utility", "operator"),
    "power_analyst": ("power_utility", "analyst"),
    "em_operator": ("emergency_management", "operator"),
    "planning_viewer": ("planning", "viewer"),
    "transport_analyst": ("transport", "analyst"),
    "health_viewer": ("health", "viewer"),
}


class Api:
    """A TestClient with one token per test user."""

    def __init__(self, client, store, tokens):
        self.client, self.store, self.tokens = client, store, tokens

    def h(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def get(self, url, user="admin", **kw):
        return self.client.get(url, headers=self.h(user), **kw)

    def post(self, url, user="admin", **kw):
        return self.client.post(url, headers=self.h(user), **kw)

    def put(self, url, user="admin", **kw):
        return self.client.put(url, headers=self.h(user), **kw)


def make_users(st) -> dict[str, str]:
    tokens = {}
    for name, (dept, role) in USERS.items():
        # scrypt is slow on purpose: only the user the sign-in tests use gets a password
        st.add_user(name, dept, role, password=f"{name}-password" if name == "water_analyst" else None)
        tokens[name] = st.add_token(name, label="tests")["token"]
    return tokens


@pytest.fixture
def api(store):
    """The app on a store of either backend, with the test users and the small twin as 'demo'."""
    from fastapi.testclient import TestClient

    from rescity.api import create_app

    tokens = make_users(store)
    store.put_twin("demo", small_twin())
    app = create_app(store=store, privacy_threshold=10)
    with TestClient(app) as client:
        yield Api(client, store, tokens)


@pytest.fixture
def sqlite_api(tmp_path):
    """Like ``api`` on SQLite only (for tests that need no second backend)."""
    from fastapi.testclient import TestClient

    from rescity.api import create_app
    from rescity.store import open_store

    st = open_store(f"sqlite:///{tmp_path / 'rescity.db'}")
    tokens = make_users(st)
    st.put_twin("demo", small_twin())
    app = create_app(store=st, privacy_threshold=10)
    with TestClient(app) as client:
        yield Api(client, st, tokens)
    st.close()
