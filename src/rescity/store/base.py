"""The storage interface: connections, transactions, schema versions and the audit chain.

:class:`BaseStore` holds what every backend shares: SQL is written once with ``?`` parameters
and run through a small per-backend layer (how to connect, how to start a write transaction
that serialises appends to the audit chain, how to bulk-load rows). Domain methods live in
mixins beside this module (twins, runs, operations, governance) and are combined in
:class:`rescity.store.Store`.

Every write method takes the acting :class:`~rescity.govern.Principal` and appends an audit
entry in the same transaction as the write, so a write and its audit entry are committed
together or not at all.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from rescity.errors import InputError
from rescity.govern.audit import audit_key, canonical, entry_hash, verify_chain
from rescity.govern.principal import SYSTEM, Principal
from rescity.store.migrations import MIGRATIONS, SCHEMA_VERSION


class StoreError(RuntimeError):
    """The store cannot be used (unreachable server, corrupt file)."""


class SchemaVersionError(InputError):
    """The store was written by a newer rescity than this one."""


class NotFound(KeyError):
    """A named record does not exist; the message says how to find the ones that do."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


def clean(obj: Any) -> Any:
    """``obj`` with NumPy scalars as Python values and NaN/±inf as ``None`` (valid JSON)."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def now() -> str:
    """The current UTC time as ISO 8601 text with microseconds (sorts as text)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dumps(obj: Any) -> str:
    """JSON text for a column: ASCII-only (safe for any text column), NaN as null."""
    return json.dumps(clean(obj), ensure_ascii=True, default=str, allow_nan=False)


class Tx:
    """One open transaction (or autocommit reader) on one connection."""

    def __init__(self, store: BaseStore, conn: Any) -> None:
        self.store = store
        self.conn = conn
        self.cur = conn.cursor()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self.cur.execute(self.store._sql(sql), tuple(params))
        return self.cur

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cur.executemany(self.store._sql(sql), rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(self.execute(sql, params).fetchall())

    def dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    def insert_id(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an ``INSERT … RETURNING id`` and return the id."""
        return int(self.execute(sql, params).fetchone()[0])

    def audit(
        self,
        actor: Principal | None,
        action: str,
        resource: str,
        detail: Any = None,
    ) -> int:
        """Append one entry to the audit chain (inside this write transaction); returns its seq."""
        a = actor or SYSTEM
        head = self.one(self.store._head_sql)
        seq, prev = int(head[0]) + 1, head[1]
        ts = now()
        text = canonical(clean(detail) if detail is not None else {})
        h = entry_hash(seq, ts, a.username, a.department, action, resource, text, prev, self.store.audit_key)
        self.execute(
            "INSERT INTO audit_log (seq, ts, actor, department, action, resource, detail, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, ts, a.username, a.department, action, resource, text, prev, h),
        )
        self.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, h))
        return seq


class Memo:
    """A small thread-safe memo of derived data, keyed by what it was derived from."""

    def __init__(self, size: int = 256) -> None:
        self._d: dict[Any, Any] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        return self._d.get(key)

    def put(self, key: Any, value: Any) -> Any:
        with self._lock:
            if len(self._d) >= self._size:
                self._d.pop(next(iter(self._d)))
            self._d[key] = value
        return value


class _Pool:
    """A small pool of connections, each used by one thread at a time."""

    def __init__(self, connect, size: int) -> None:
        self._connect = connect
        self._size = size
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._made = 0
        self._all: list[Any] = []
        self._busy: set[int] = set()  # ids of connections a thread is using
        self._retire: set[int] = set()  # busy when the pool was closed: closed on release
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def get(self) -> Iterator[Any]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                make = self._made < self._size
                if make:
                    self._made += 1
            if make:
                try:
                    conn = self._connect()
                except BaseException:
                    with self._lock:
                        self._made -= 1
                    raise
                with self._lock:
                    self._all.append(conn)
            else:
                conn = self._idle.get(timeout=60)
        with self._lock:
            self._busy.add(id(conn))
        ok = False
        try:
            yield conn
            ok = True
        finally:
            with self._lock:
                self._busy.discard(id(conn))
                retired = id(conn) in self._retire
                self._retire.discard(id(conn))
            if retired:
                with contextlib.suppress(Exception):
                    conn.close()
            elif ok or not self._broken(conn):
                self._idle.put(conn)
            else:
                with self._lock:
                    self._made -= 1
                    if conn in self._all:
                        self._all.remove(conn)
                with contextlib.suppress(Exception):
                    conn.close()

    @staticmethod
    def _broken(conn: Any) -> bool:
        return bool(getattr(conn, "closed", False) or getattr(conn, "broken", False))

    def close(self) -> None:
        """Close every connection: idle ones now, ones in use when their thread releases them
        (closing a connection under another thread's query can crash the process)."""
        with self._lock:
            conns = [c for c in self._all if id(c) not in self._busy]
            self._retire |= {id(c) for c in self._all if id(c) in self._busy}
            self._all = []
            self._made = 0
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break
        for c in conns:
            with contextlib.suppress(Exception):
                c.close()


class BaseStore:
    """Connections, transactions, migrations, settings and the audit log.

    Subclasses set :attr:`backend` and implement :meth:`_connect`, :meth:`_begin_write`,
    :meth:`_begin_snapshot`; optionally :meth:`_bulk_insert` and :meth:`_sql`.
    """

    backend: str = ""
    #: SQL that reads the audit chain head and, on servers, locks it until the transaction ends.
    _head_sql: str = "SELECT seq, hash FROM audit_head WHERE id = 1"

    def __init__(self, url: str, *, pool_size: int = 16) -> None:
        self.url = url
        #: HMAC key of the audit chain, from outside the database (None: plain SHA-256 chain).
        self.audit_key: bytes | None = audit_key()
        self._pool = _Pool(self._connect, pool_size)
        self._settings_cache: dict[str, str] = {}
        self.memo = Memo()
        self._migrate()

    # -- backend hooks ---------------------------------------------------------------------
    def _connect(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _begin_write(self, tx: Tx) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _begin_snapshot(self, tx: Tx) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql

    def _bulk_insert(self, tx: Tx, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" * len(columns))
        tx.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def _analyze(self, tx: Tx, tables: Sequence[str]) -> None:
        """Refresh the planner's statistics after a bulk load (servers); SQLite needs none."""

    def _lock_migrations(self, tx: Tx) -> None:
        """Serialise concurrent first opens (the write transaction does it on SQLite)."""

    def _table_exists(self, tx: Tx, name: str) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- transactions ----------------------------------------------------------------------
    @contextlib.contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Tx]:
        """A reader. ``snapshot=True`` makes every statement see one consistent state."""
        with self._pool.get() as conn:
            tx = Tx(self, conn)
            if not snapshot:
                yield tx
                return
            self._begin_snapshot(tx)
            try:
                yield tx
            finally:
                tx.execute("ROLLBACK")

    @contextlib.contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction: committed on success, rolled back on any exception."""
        with self._pool.get() as conn:
            tx = Tx(self, conn)
            self._begin_write(tx)
            try:
                yield tx
            except BaseException:
                with contextlib.suppress(Exception):
                    tx.execute("ROLLBACK")
                raise
            tx.execute("COMMIT")

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()

    def __enter__(self) -> BaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ----------------------------------------------------------------------------
    def schema_version(self) -> int:
        """The schema version recorded in the store."""
        with self.read() as q:
            return int(q.scalar("SELECT MAX(version) FROM schema_version") or 0)

    def _migrate(self) -> None:
        with self.write() as tx:
            self._lock_migrations(tx)
            if not self._table_exists(tx, "schema_version"):
                tx.execute(
                    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, "
                    "description TEXT NOT NULL)"
                )
            have = int(tx.scalar("SELECT MAX(version) FROM schema_version") or 0)
            if have > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"the store has schema version {have}, but this rescity understands versions up to "
                    f"{SCHEMA_VERSION}; upgrade rescity (pip install -U rescity) to open it, or point "
                    "RESCITY_HOME / --store at another store",
                    file=self.display_url,
                    field="schema_version",
                    value=have,
                )
            for m in MIGRATIONS:
                if m.version <= have:
                    continue
                for stmt in m.sql(self.backend):
                    tx.execute(stmt)
                if m.after is not None:
                    m.after(tx)
                tx.execute(
                    "INSERT INTO schema_version (version, applied_at, description) VALUES (?, ?, ?)",
                    (m.version, now(), m.description),
                )
                tx.audit(
                    SYSTEM, "store.migrate", "schema", {"version": m.version, "description": m.description}
                )

    @property
    def display_url(self) -> str:
        """The URL with any password replaced by ``***``."""
        from urllib.parse import urlsplit, urlunsplit

        p = urlsplit(self.url)
        if p.password:
            netloc = p.netloc.replace(f":{p.password}@", ":***@")
            return urlunsplit((p.scheme, netloc, p.path, p.query, p.fragment))
        return self.url

    def info(self) -> dict[str, Any]:
        """Backend, URL (password hidden), schema version and row counts."""
        tables = ("twins", "assets", "runs", "forecasts", "observations", "alerts", "decisions", "users")
        with self.read() as q:
            counts = {t: int(q.scalar(f"SELECT COUNT(*) FROM {t}")) for t in tables}
            counts["audit_log"] = int(q.scalar("SELECT seq FROM audit_head WHERE id = 1"))
        return {
            "backend": self.backend,
            "url": self.display_url,
            "schema_version": self.schema_version(),
            "code_schema_version": SCHEMA_VERSION,
            "counts": counts,
        }

    # -- settings --------------------------------------------------------------------------
    def setting(self, key: str, default: str | None = None) -> str | None:
        with self.read() as q:
            v = q.scalar("SELECT value FROM settings WHERE key = ?", (key,))
        return default if v is None else str(v)

    def secret(self, key: str) -> str:
        """A random secret kept in the store (made on first use, same for every process)."""
        hit = self._settings_cache.get(key)
        if hit is not None:
            return hit
        import secrets

        v = self.setting(key)
        if v is None:
            with self.write() as tx:
                v = tx.scalar("SELECT value FROM settings WHERE key = ?", (key,))
                if v is None:
                    v = secrets.token_urlsafe(48)
                    tx.execute("INSERT INTO settings (key, value) VALUES (?, ?)", (key, v))
                    tx.audit(SYSTEM, "settings.secret", f"settings/{key}", {"created": True})
        self._settings_cache[key] = v
        return v

    # -- audit -----------------------------------------------------------------------------
    def audit(self, actor: Principal | None, action: str, resource: str, detail: Any = None) -> int:
        """Append one audit entry on its own (for reads of restricted data); returns its seq."""
        with self.write() as tx:
            return tx.audit(actor, action, resource, detail)

    def audit_head(self) -> dict[str, Any]:
        """The recorded chain head: ``{seq, hash}``."""
        with self.read() as q:
            seq, h = q.one("SELECT seq, hash FROM audit_head WHERE id = 1")
        return {"seq": int(seq), "hash": h}

    def audit_entries(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        since_seq: int = 0,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Audit entries, oldest first, filtered by actor and action prefix; and the total."""
        where, params = ["seq > ?"], [since_seq]
        if actor:
            where.append("actor = ?")
            params.append(actor)
        if action:
            where.append("action LIKE ?")
            params.append(action.replace("%", "") + "%")
        w = " AND ".join(where)
        with self.read() as q:
            total = int(q.scalar(f"SELECT COUNT(*) FROM audit_log WHERE {w}", params))
            rows = q.dicts(
                f"SELECT * FROM audit_log WHERE {w} ORDER BY seq LIMIT ? OFFSET ?", [*params, limit, offset]
            )
        for r in rows:
            r["detail"] = json.loads(r["detail"])
        return rows, total

    def verify_audit(self, *, chunk: int = 5000):
        """Walk the whole chain and check every link (see :func:`rescity.govern.audit.verify_chain`)."""
        with self.read(snapshot=True) as q:
            head = q.one("SELECT seq, hash FROM audit_head WHERE id = 1")

            def rows():
                last = -1
                while True:
                    batch = q.all(
                        "SELECT seq, ts, actor, department, action, resource, detail, prev_hash, hash "
                        "FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                        (last, chunk),
                    )
                    if not batch:
                        return
                    yield from batch
                    last = batch[-1][0]

            return verify_chain(rows(), (head[0], head[1]) if head else None, key=self.audit_key)
