"""Versioned schema migrations.

Each :class:`Migration` moves the schema from ``version − 1`` to ``version`` inside one
transaction and records itself in ``schema_version``. Statements are written once for both
backends, with ``{serial}`` (an auto-numbered primary key) and ``{blob}`` (bytes) filled in per
backend; a migration may add backend-only statements. Never edit a released migration: add the
next one and raise :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rescity.govern.audit import GENESIS

TYPES: dict[str, dict[str, str]] = {
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "blob": "BLOB"},
    "postgresql": {"serial": "BIGSERIAL PRIMARY KEY", "blob": "BYTEA"},
}


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]
    only: dict[str, tuple[str, ...]] = field(default_factory=dict)
    after: Callable | None = None  # after(tx): data steps, run in the same transaction

    def sql(self, backend: str) -> list[str]:
        t = TYPES[backend]
        return [s.format(**t) for s in self.statements] + list(self.only.get(backend, ()))


def _seed_v1(tx) -> None:
    from rescity.govern.departments import DEPARTMENTS, ROLES

    tx.executemany(
        "INSERT INTO departments (department, name_en, name_zh) VALUES (?, ?, ?)",
        [(d["department"], d["name_en"], d["name_zh"]) for d in DEPARTMENTS.values()],
    )
    tx.executemany(
        "INSERT INTO roles (role, rank, description) VALUES (?, ?, ?)",
        [(r, i, text) for i, (r, text) in enumerate(ROLES.items())],
    )
    tx.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ?)", (GENESIS,))
    tx.execute("INSERT INTO settings (key, value) VALUES ('grants_version', '0')")


_V1 = (
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE departments (department TEXT PRIMARY KEY, name_en TEXT NOT NULL, name_zh TEXT NOT NULL)",
    "CREATE TABLE roles (role TEXT PRIMARY KEY, rank INTEGER NOT NULL, description TEXT NOT NULL)",
    """CREATE TABLE users (
        username TEXT PRIMARY KEY,
        department TEXT NOT NULL REFERENCES departments (department),
        role TEXT NOT NULL REFERENCES roles (role),
        full_name TEXT NOT NULL DEFAULT '',
        password_hash TEXT,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE tokens (
        token_id TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES users (username),
        secret_hash TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        expires_at TEXT,
        revoked_at TEXT)""",
    """CREATE TABLE grants (
        id {serial},
        resource TEXT NOT NULL,
        owner TEXT NOT NULL REFERENCES departments (department),
        grantee TEXT NOT NULL REFERENCES departments (department),
        action TEXT NOT NULL DEFAULT 'read',
        reason TEXT NOT NULL,
        status TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        decision_note TEXT,
        revoked_by TEXT,
        revoked_at TEXT)""",
    "CREATE INDEX grants_status ON grants (status, grantee)",
    """CREATE TABLE twins (
        name TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        meta TEXT NOT NULL,
        n_units INTEGER NOT NULL,
        n_assets INTEGER NOT NULL,
        version INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE twin_tables (
        twin TEXT NOT NULL REFERENCES twins (name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        n_rows INTEGER NOT NULL,
        data {blob} NOT NULL,
        PRIMARY KEY (twin, name))""",
    """CREATE TABLE units (
        twin TEXT NOT NULL REFERENCES twins (name) ON DELETE CASCADE,
        pos INTEGER NOT NULL,
        unit_id TEXT NOT NULL,
        level TEXT NOT NULL,
        parent_id TEXT NOT NULL,
        name_zh TEXT NOT NULL,
        name_en TEXT NOT NULL,
        population BIGINT NOT NULL,
        households BIGINT NOT NULL,
        share_age_0_14 DOUBLE PRECISION NOT NULL,
        share_age_65_plus DOUBLE PRECISION NOT NULL,
        urban_share DOUBLE PRECISION NOT NULL,
        lon DOUBLE PRECISION NOT NULL,
        lat DOUBLE PRECISION NOT NULL,
        area_km2 DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (twin, unit_id))""",
    "CREATE INDEX units_pos ON units (twin, pos)",
    "CREATE INDEX units_level ON units (twin, level, pos)",
    "CREATE INDEX units_parent ON units (twin, parent_id, pos)",
    """CREATE TABLE assets (
        twin TEXT NOT NULL REFERENCES twins (name) ON DELETE CASCADE,
        pos INTEGER NOT NULL,
        asset_id TEXT NOT NULL,
        system TEXT NOT NULL,
        kind TEXT NOT NULL,
        lon DOUBLE PRECISION NOT NULL,
        lat DOUBLE PRECISION NOT NULL,
        unit_id TEXT NOT NULL,
        fragility_class TEXT NOT NULL,
        capacity DOUBLE PRECISION NOT NULL,
        capacity_unit TEXT NOT NULL,
        replacement_cost_cny DOUBLE PRECISION NOT NULL,
        backup_h DOUBLE PRECISION NOT NULL,
        length_km DOUBLE PRECISION NOT NULL,
        is_source INTEGER NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'unknown',
        status_at TEXT,
        status_source TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (twin, asset_id))""",
    "CREATE INDEX assets_pos ON assets (twin, pos)",
    "CREATE INDEX assets_system ON assets (twin, system, pos)",
    "CREATE INDEX assets_kind ON assets (twin, kind, pos)",
    "CREATE INDEX assets_unit ON assets (twin, unit_id, pos)",
    "CREATE INDEX assets_status ON assets (twin, status, pos)",
    """CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        twin TEXT,
        config TEXT NOT NULL,
        status TEXT NOT NULL,
        progress DOUBLE PRECISION NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        created_by TEXT NOT NULL,
        department TEXT NOT NULL,
        worker TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT)""",
    "CREATE INDEX runs_created ON runs (created_at)",
    "CREATE INDEX runs_status ON runs (status)",
    """CREATE TABLE run_results (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        format TEXT NOT NULL,
        n_rows INTEGER,
        columns TEXT NOT NULL,
        data {blob} NOT NULL,
        PRIMARY KEY (run_id, name))""",
    """CREATE TABLE forecasts (
        id {serial},
        twin TEXT,
        hazard TEXT NOT NULL,
        title TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        valid_from TEXT,
        valid_to TEXT,
        source TEXT NOT NULL DEFAULT '',
        run_id TEXT,
        data TEXT NOT NULL,
        created_by TEXT NOT NULL,
        department TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
    "CREATE INDEX forecasts_issued ON forecasts (issued_at)",
    """CREATE TABLE observations (
        id {serial},
        twin TEXT,
        sensor_id TEXT NOT NULL,
        asset_id TEXT,
        quantity TEXT NOT NULL,
        value DOUBLE PRECISION,
        unit TEXT NOT NULL DEFAULT '',
        observed_at TEXT NOT NULL,
        received_at TEXT NOT NULL,
        batch TEXT NOT NULL)""",
    "CREATE INDEX observations_time ON observations (twin, observed_at)",
    "CREATE INDEX observations_batch ON observations (batch)",
    """CREATE TABLE alerts (
        id {serial},
        twin TEXT,
        level TEXT NOT NULL,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        asset_id TEXT,
        unit_id TEXT,
        source TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'open',
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        department TEXT NOT NULL,
        updated_at TEXT,
        updated_by TEXT)""",
    "CREATE INDEX alerts_status ON alerts (status, created_at)",
    """CREATE TABLE decisions (
        id {serial},
        twin TEXT,
        run_id TEXT,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'proposed',
        created_by TEXT NOT NULL,
        department TEXT NOT NULL,
        created_at TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        decision_note TEXT)""",
    """CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,
        ts TEXT NOT NULL,
        actor TEXT NOT NULL,
        department TEXT NOT NULL,
        action TEXT NOT NULL,
        resource TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL)""",
    "CREATE TABLE audit_head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)",
)

_V1_SQLITE = (
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
)
_V1_POSTGRES = (
    """CREATE FUNCTION rescity_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""",
    """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION rescity_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION rescity_append_only()""",
)

def _seed_v2(tx) -> None:
    from rescity.govern.departments import ROLES

    have = {r[0] for r in tx.all("SELECT role FROM roles")}
    rank = int(tx.scalar("SELECT MAX(rank) FROM roles") or 0)
    for role, text in ROLES.items():
        if role not in have:
            rank += 1
            tx.execute("INSERT INTO roles (role, rank, description) VALUES (?, ?, ?)", (role, rank, text))


# Live sensing: the NGSI-LD entity and quality flag of a reading (one reading per sensor, quantity
# and time), rule-keyed alerts with their
# NGSI-LD entity and an outbox mark, dead letters, nowcasts, and the 'sensor' role.
_V2 = (
    "ALTER TABLE observations ADD COLUMN entity_id TEXT",
    "ALTER TABLE observations ADD COLUMN quality TEXT NOT NULL DEFAULT ''",
    # one reading per sensor, quantity and time among the rows that sensing stored
    "CREATE UNIQUE INDEX observations_reading ON observations (sensor_id, quantity, observed_at) "
    "WHERE entity_id IS NOT NULL",
    "ALTER TABLE alerts ADD COLUMN rule_key TEXT",
    "ALTER TABLE alerts ADD COLUMN sensor_id TEXT",
    "ALTER TABLE alerts ADD COLUMN observed_at TEXT",
    "ALTER TABLE alerts ADD COLUMN entity TEXT",
    "ALTER TABLE alerts ADD COLUMN published_at TEXT",
    "CREATE UNIQUE INDEX alerts_active_rule ON alerts (rule_key) WHERE rule_key IS NOT NULL AND status <> 'closed'",
    "CREATE INDEX alerts_unpublished ON alerts (published_at, id)",
    """CREATE TABLE dead_letters (
        id {serial},
        received_at TEXT NOT NULL,
        source TEXT NOT NULL,
        topic TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        field TEXT,
        entity_id TEXT,
        entity_type TEXT,
        payload TEXT NOT NULL)""",
    "CREATE INDEX dead_letters_time ON dead_letters (received_at)",
    "CREATE INDEX dead_letters_reason ON dead_letters (reason, id)",
    """CREATE TABLE nowcasts (
        id {serial},
        twin TEXT NOT NULL,
        created_at TEXT NOT NULL,
        observed_at TEXT NOT NULL,
        horizon_h DOUBLE PRECISION NOT NULL,
        down_assets INTEGER NOT NULL,
        totals TEXT NOT NULL,
        units TEXT NOT NULL,
        assets TEXT NOT NULL,
        created_by TEXT NOT NULL)""",
    "CREATE INDEX nowcasts_twin ON nowcasts (twin, id)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema: twins, runs, forecasts, observations, alerts, decisions, users, grants, audit",
        _V1,
        {"sqlite": _V1_SQLITE, "postgresql": _V1_POSTGRES},
        _seed_v1,
    ),
    Migration(
        2,
        "live sensing: one reading per sensor and time, quality flags, rule-keyed alerts, dead letters, nowcasts, sensor role",
        _V2,
        {},
        _seed_v2,
    ),
    Migration(
        3,
        "asset provenance: the source of each asset's location (osm, gridkit, wri, generated)",
        ("ALTER TABLE assets ADD COLUMN source TEXT NOT NULL DEFAULT ''",),
    ),
)

#: The newest schema this code reads and writes.
SCHEMA_VERSION: int = MIGRATIONS[-1].version
