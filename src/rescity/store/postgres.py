"""PostgreSQL backend (psycopg 3).

Open with a libpq URL, e.g. ``postgresql://user@localhost:5432/rescity``; query parameters pass
through to libpq (``?options=-csearch_path%3Dtenant1`` puts the tables in another schema).
Writers that append to the audit chain lock its head row (``SELECT … FOR UPDATE``), so appends
from several processes form one chain; bulk rows go in with ``COPY``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rescity.store.base import StoreError, Tx

_MIGRATION_LOCK = 72_0419_2019  # pg_advisory_xact_lock key for first-open migrations


class PostgresBackend:
    """Backend hooks for PostgreSQL (mixed into :class:`rescity.store.Store`)."""

    backend = "postgresql"
    _head_sql = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"

    def _connect(self) -> Any:
        try:
            import psycopg
        except ImportError as e:  # pragma: no cover - depends on the installation
            raise StoreError("the PostgreSQL store needs psycopg: pip install 'rescity[platform]'") from e
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)  # type: ignore[attr-defined]
        except psycopg.OperationalError as e:
            raise StoreError(
                f"cannot connect to PostgreSQL at {self.display_url}: {str(e).strip()}"  # type: ignore[attr-defined]
            ) from e

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _begin_write(self, tx: Tx) -> None:
        tx.execute("BEGIN")

    def _begin_snapshot(self, tx: Tx) -> None:
        tx.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def _analyze(self, tx: Tx, tables: Sequence[str]) -> None:
        for t in tables:
            tx.execute(f"ANALYZE {t}")

    def _lock_migrations(self, tx: Tx) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))

    def _table_exists(self, tx: Tx, name: str) -> bool:
        return tx.scalar("SELECT to_regclass(?) IS NOT NULL", (name,)) is True

    def _bulk_insert(self, tx: Tx, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        with tx.cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
