"""Embedded backend: one SQLite file in WAL mode.

Several processes (an API server, an ingest process) may write at once: SQLite's write lock
serialises writers, and each waits up to ``busy_timeout`` (30 s) for it instead of failing.
Write transactions start with ``BEGIN IMMEDIATE`` so a transaction never has to upgrade a read
lock to a write lock (which could deadlock). WAL with ``synchronous=NORMAL`` keeps the file
consistent after a crash of the process or the machine: a transaction is in the file entirely
or not at all (after a power loss the last few commits may be lost, never half-written).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from rescity.store.base import StoreError, Tx

BUSY_TIMEOUT_MS = 30_000


def path_of(url: str) -> Path:
    """File path of a ``sqlite:///path`` URL (``sqlite:////abs/path`` or ``sqlite:///rel/path``)."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url!r}")
    return Path(url[len("sqlite:///") :]).expanduser()


class SqliteBackend:
    """Backend hooks for SQLite (mixed into :class:`rescity.store.Store`)."""

    backend = "sqlite"

    def _connect(self) -> Any:
        path = path_of(self.url)  # type: ignore[attr-defined]
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: could not switch SQLite to WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{path}: cannot open the store: {e}") from e
        return conn

    def _begin_write(self, tx: Tx) -> None:
        tx.execute("BEGIN IMMEDIATE")

    def _begin_snapshot(self, tx: Tx) -> None:
        tx.execute("BEGIN")
        tx.one("SELECT 1 FROM schema_version LIMIT 1")  # start the read snapshot now

    def _table_exists(self, tx: Tx, name: str) -> bool:
        return tx.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)) is not None

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check`` (``['ok']`` when the file is sound)."""
        with self.read() as q:  # type: ignore[attr-defined]
            return [r[0] for r in q.all("PRAGMA integrity_check")]
