"""Persistence behind one interface: an embedded SQLite file by default, PostgreSQL as an option.

Open a store by URL with :func:`open_store`:

- ``sqlite:///path/to/rescity.db`` — the embedded default, one file (WAL mode);
- ``postgresql://user@host:5432/dbname`` — a PostgreSQL server.

With no URL, ``RESCITY_STORE`` is used if set, else ``sqlite:///$RESCITY_HOME/rescity.db``
(``RESCITY_HOME`` defaults to ``~/.rescity``). Opening applies any missing schema migrations;
a store written by a newer rescity is refused with :class:`SchemaVersionError`.
"""

from __future__ import annotations

import os
from pathlib import Path

from rescity.errors import InputError
from rescity.store.access import AccessStore
from rescity.store.base import BaseStore, SchemaVersionError, StoreError
from rescity.store.migrations import SCHEMA_VERSION
from rescity.store.ops import OpsStore
from rescity.store.postgres import PostgresBackend
from rescity.store.runs import RunStore
from rescity.store.sense import SenseStore
from rescity.store.sqlite import SqliteBackend
from rescity.store.twins import ASSET_STATUSES, TwinStore


class Store(TwinStore, RunStore, OpsStore, SenseStore, AccessStore, BaseStore):
    """Every persistence method (see the mixins); backends subclass it."""


class SqliteStore(SqliteBackend, Store):
    """The embedded store: one SQLite file."""


class PostgresStore(PostgresBackend, Store):
    """The PostgreSQL store."""


def data_home() -> Path:
    """The data directory: ``RESCITY_HOME`` or ``~/.rescity``."""
    return Path(os.environ.get("RESCITY_HOME") or "~/.rescity").expanduser()


def default_url() -> str:
    """``RESCITY_STORE`` if set, else ``sqlite:///<data home>/rescity.db``."""
    env = os.environ.get("RESCITY_STORE")
    if env:
        return env
    return f"sqlite:///{data_home().resolve() / 'rescity.db'}"


def open_store(url: str | None = None, *, pool_size: int = 16) -> Store:
    """Open (and migrate) the store at ``url`` (see the module docstring)."""
    url = url or default_url()
    if url.startswith("sqlite:///"):
        return SqliteStore(url, pool_size=pool_size)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, pool_size=pool_size)
    raise InputError(
        "a store URL starts with sqlite:/// (a file) or postgresql:// (a server)", field="store", value=url
    )


__all__ = [
    "ASSET_STATUSES",
    "SCHEMA_VERSION",
    "PostgresStore",
    "SchemaVersionError",
    "SqliteStore",
    "Store",
    "StoreError",
    "data_home",
    "default_url",
    "open_store",
]
