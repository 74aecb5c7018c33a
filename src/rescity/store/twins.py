"""Twins in the store: units and assets as SQL tables, the other tables as Parquet blobs.

Units and assets are rows (so the API filters and pages them with indexes); ``edges``,
``dependencies``, ``service`` and the unit geometry are kept whole as Parquet, since they are
only ever read whole. Each asset carries a live ``status`` (``up`` | ``down`` | ``unknown``)
with the time and source of its last update.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from rescity.errors import InputError
from rescity.govern.principal import Principal
from rescity.store.base import NotFound, Tx, dumps, now
from rescity.twin.model import ASSET_COLUMNS, UNIT_COLUMNS, Twin, conform

ASSET_STATUSES: tuple[str, ...] = ("up", "down", "unknown")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_BLOB_TABLES = ("edges", "dependencies", "service")
UNIT_FIELDS = tuple(UNIT_COLUMNS)
ASSET_FIELDS = tuple(ASSET_COLUMNS)
STATUS_FIELDS = ("status", "status_at", "status_source")


def check_name(name: str, what: str = "twin") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(
            f"a {what} name is 1–64 letters, digits, '_', '.' or '-', starting with a letter or digit",
            field="name",
            value=name,
        )
    return name


def to_parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def from_parquet(data: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(bytes(data)))


def _rows(df: pd.DataFrame, columns: Sequence[str], convert: dict[str, Any] | None = None) -> list[tuple]:
    """Rows of plain Python values (column-wise ``tolist`` converts NumPy scalars)."""
    cols = []
    for c in columns:
        s = df[c]
        if convert and c in convert:
            s = convert[c](s)
        cols.append(s.tolist())
    return list(zip(*cols, strict=True))


def _json_row(r: dict[str, Any]) -> dict[str, Any]:
    if "is_source" in r:
        r["is_source"] = bool(r["is_source"])
    for k, v in r.items():
        if isinstance(v, float) and v != v:  # NaN (PostgreSQL keeps it; JSON has none)
            r[k] = None
    return r


class TwinStore:
    """Twin persistence (mixed into :class:`rescity.store.Store`)."""

    # -- whole twins -----------------------------------------------------------------------
    def put_twin(
        self, name: str, twin: Twin, *, actor: Principal | None = None, replace: bool = False
    ) -> dict:
        """Store ``twin`` under ``name`` (one transaction); ``replace=True`` overwrites one."""
        check_name(name)
        units = conform(twin.units, "units")
        assets = conform(twin.assets, "assets")
        dup = assets["asset_id"].duplicated()
        if dup.any():
            raise InputError(
                "asset ids must be unique", field="asset_id", value=assets["asset_id"][dup].iloc[0]
            )
        dup = units["unit_id"].duplicated()
        if dup.any():
            raise InputError("unit ids must be unique", field="unit_id", value=units["unit_id"][dup].iloc[0])
        blobs = {t: to_parquet(conform(getattr(twin, t), t)) for t in _BLOB_TABLES}
        n_rows = {t: len(getattr(twin, t)) for t in _BLOB_TABLES}
        if twin.geometry is not None:
            import shapely

            geom = pd.DataFrame({"wkb": shapely.to_wkb(pd.Series(twin.geometry).to_numpy())})
            blobs["geometry"], n_rows["geometry"] = to_parquet(geom), len(geom)
        ts = now()
        with self.write() as tx:  # type: ignore[attr-defined]
            exists = tx.one("SELECT 1 FROM twins WHERE name = ?", (name,)) is not None
            if exists and not replace:
                raise InputError(
                    "a twin of this name is already stored; pass replace=True (--replace) to overwrite it",
                    field="name",
                    value=name,
                )
            if exists:
                self._delete_twin_rows(tx, name)
            tx.execute(
                "INSERT INTO twins (name, created_at, created_by, meta, n_units, n_assets) VALUES (?, ?, "
                "?, ?, ?, ?)",
                (
                    name,
                    ts,
                    (actor.username if actor else "system"),
                    dumps(twin.meta),
                    len(units),
                    len(assets),
                ),
            )
            u = units.assign(twin=name, pos=range(len(units)))
            self._bulk_insert(
                tx, "units", ("twin", "pos", *UNIT_FIELDS), _rows(u, ("twin", "pos", *UNIT_FIELDS))
            )
            a = assets.assign(twin=name, pos=range(len(assets)), status="unknown", status_source="")
            if "source" in a:  # assets of a system added without a location source: '' (not NULL)
                a["source"] = a["source"].where(a["source"].notna(), "").astype(str)
            cols = ("twin", "pos", *ASSET_FIELDS, "status", "status_source")
            self._bulk_insert(tx, "assets", cols, _rows(a, cols, {"is_source": lambda s: s.astype(int)}))  # type: ignore[attr-defined]
            tx.executemany(
                "INSERT INTO twin_tables (twin, name, n_rows, data) VALUES (?, ?, ?, ?)",
                [(name, t, n_rows[t], b) for t, b in blobs.items()],
            )
            self._analyze(tx, ("units", "assets"))  # type: ignore[attr-defined]
            tx.audit(
                actor,
                "twin.replace" if exists else "twin.create",
                f"twins/{name}",
                {"units": len(units), "assets": len(assets), **{t: n_rows[t] for t in _BLOB_TABLES}},
            )
        return self.twin_info(name)

    def _delete_twin_rows(self, tx: Tx, name: str) -> None:
        for t in ("twin_tables", "assets", "units"):
            tx.execute(f"DELETE FROM {t} WHERE twin = ?", (name,))
        tx.execute("DELETE FROM twins WHERE name = ?", (name,))

    def delete_twin(self, name: str, *, actor: Principal | None = None) -> None:
        """Remove a twin and its units and assets."""
        with self.write() as tx:  # type: ignore[attr-defined]
            self._require_twin(tx, name)
            self._delete_twin_rows(tx, name)
            tx.audit(actor, "twin.delete", f"twins/{name}", {})

    def _require_twin(self, q: Tx, name: str) -> None:
        if q.one("SELECT 1 FROM twins WHERE name = ?", (name,)) is None:
            raise NotFound(f"no twin named {name!r} is stored; list the stored twins with GET /api/v1/twins")

    def has_twin(self, name: str) -> bool:
        with self.read() as q:  # type: ignore[attr-defined]
            return q.one("SELECT 1 FROM twins WHERE name = ?", (name,)) is not None

    def get_twin(self, name: str) -> Twin:
        """Read a stored twin back as a :class:`~rescity.twin.model.Twin`."""
        with self.read(snapshot=True) as q:  # type: ignore[attr-defined]
            row = q.one("SELECT meta FROM twins WHERE name = ?", (name,))
            if row is None:
                raise NotFound(f"no twin named {name!r} is stored")
            meta = json.loads(row[0])
            units = pd.DataFrame(
                q.all(f"SELECT {', '.join(UNIT_FIELDS)} FROM units WHERE twin = ? ORDER BY pos", (name,)),
                columns=list(UNIT_FIELDS),
            )
            assets = pd.DataFrame(
                q.all(f"SELECT {', '.join(ASSET_FIELDS)} FROM assets WHERE twin = ? ORDER BY pos", (name,)),
                columns=list(ASSET_FIELDS),
            )
            blobs = {r[0]: r[1] for r in q.all("SELECT name, data FROM twin_tables WHERE twin = ?", (name,))}
        assets["is_source"] = assets["is_source"].astype(bool)
        tables = {t: conform(from_parquet(blobs[t]), t) for t in _BLOB_TABLES}
        geometry = None
        if "geometry" in blobs:
            import geopandas as gpd

            geometry = gpd.GeoSeries.from_wkb(from_parquet(blobs["geometry"])["wkb"], crs="EPSG:4326")
        return Twin(
            units=conform(units, "units"),
            assets=conform(assets, "assets"),
            meta=meta,
            geometry=geometry,
            **tables,
        )

    def list_twins(self) -> list[dict[str, Any]]:
        with self.read() as q:  # type: ignore[attr-defined]
            rows = q.dicts(
                "SELECT name, created_at, created_by, n_units, n_assets, meta FROM twins ORDER BY name"
            )
        for r in rows:
            r["meta"] = json.loads(r["meta"])
        return rows

    def _twin_key(self, q: Tx, name: str) -> tuple:
        row = q.one("SELECT created_at, version FROM twins WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no twin named {name!r} is stored; list the stored twins with GET /api/v1/twins")
        return (name, row[0], int(row[1]))

    def twin_key(self, name: str) -> tuple:
        """``(name, created_at, version)``: changes when the twin is replaced or a status changes."""
        with self.read() as q:  # type: ignore[attr-defined]
            return self._twin_key(q, name)

    def twin_info(self, name: str) -> dict[str, Any]:
        """Counts of a stored twin: units by level, assets by system, kind and status.

        Remembered until the twin is replaced or an asset status changes.
        """
        with self.read() as q:  # type: ignore[attr-defined]
            hit = self.memo.get(("info", *self._twin_key(q, name)))  # type: ignore[attr-defined]
        if hit is not None:
            return copy.deepcopy(hit)
        with self.read(snapshot=True) as q:  # type: ignore[attr-defined]
            key = ("info", *self._twin_key(q, name))
            rows = q.dicts(
                "SELECT name, created_at, created_by, n_units, n_assets, meta FROM twins WHERE name = ?",
                (name,),
            )
            info = rows[0]
            info["meta"] = json.loads(info["meta"])
            info["units_by_level"] = dict(
                q.all("SELECT level, COUNT(*) FROM units WHERE twin = ? GROUP BY level", (name,))
            )
            by = q.all(
                "SELECT system, kind, status, COUNT(*) FROM assets WHERE twin = ? GROUP BY system, kind, "
                "status",
                (name,),
            )
            info["tables"] = dict(q.all("SELECT name, n_rows FROM twin_tables WHERE twin = ?", (name,)))
        systems: dict[str, dict[str, Any]] = {}
        for system, kind, status, n in by:
            s = systems.setdefault(system, {"total": 0, "by_kind": {}, "by_status": {}})
            s["total"] += int(n)
            s["by_kind"][kind] = s["by_kind"].get(kind, 0) + int(n)
            s["by_status"][status] = s["by_status"].get(status, 0) + int(n)
        info["assets_by_system"] = systems
        return copy.deepcopy(self.memo.put(key, info))  # type: ignore[attr-defined]

    # -- units and assets ------------------------------------------------------------------
    def query_units(
        self,
        twin: str,
        *,
        level: str | None = None,
        parent_id: str | None = None,
        columns: Sequence[str] = UNIT_FIELDS,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[pd.DataFrame, int]:
        """Units of ``twin`` in table order, filtered; and how many match in all."""
        cols = [c for c in columns if c in UNIT_FIELDS or c == "pos"]
        rows, total = self.unit_rows(
            twin, level=level, parent_id=parent_id, columns=cols, limit=limit, offset=offset
        )
        return pd.DataFrame(rows, columns=cols), total

    def unit_rows(
        self,
        twin: str,
        *,
        level: str | None = None,
        parent_id: str | None = None,
        columns: Sequence[str] = UNIT_FIELDS,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Like :meth:`query_units`, as a list of dicts."""
        where, params = ["twin = ?"], [twin]
        if level:
            where.append("level = ?")
            params.append(level)
        if parent_id is not None:
            where.append("parent_id = ?")
            params.append(parent_id)
        cols = [c for c in columns if c in UNIT_FIELDS or c == "pos"]
        w = " AND ".join(where)
        with self.read() as q:  # type: ignore[attr-defined]
            # units never change in place (only with the whole twin): remember counts per twin
            key = ("unit_count", *self._twin_key(q, twin)[:2], w, tuple(params))
            total = self.memo.get(key)  # type: ignore[attr-defined]
            if total is None:
                total = self.memo.put(key, int(q.scalar(f"SELECT COUNT(*) FROM units WHERE {w}", params)))  # type: ignore[attr-defined]
            rows = q.dicts(
                f"SELECT {', '.join(cols)} FROM units WHERE {w} ORDER BY pos LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        return [_json_row(r) for r in rows], total

    def query_assets(
        self,
        twin: str,
        *,
        system: str | Sequence[str] | None = None,
        kind: str | None = None,
        unit_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[pd.DataFrame, int]:
        """Assets of ``twin`` (with live status) in table order, filtered; and the total."""
        rows, total = self.asset_rows(
            twin, system=system, kind=kind, unit_id=unit_id, status=status, limit=limit, offset=offset
        )
        df = pd.DataFrame(rows, columns=["pos", *ASSET_FIELDS, *STATUS_FIELDS])
        df["is_source"] = df["is_source"].astype(bool)
        return df, total

    def asset_rows(
        self,
        twin: str,
        *,
        system: str | Sequence[str] | None = None,
        kind: str | None = None,
        unit_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Like :meth:`query_assets`, as a list of dicts (JSON-ready: NaN as ``None``)."""
        where, params = ["twin = ?"], [twin]
        if isinstance(system, str):
            where.append("system = ?")
            params.append(system)
        elif system is not None:
            systems = list(system)
            if not systems:
                return [], 0
            where.append(f"system IN ({', '.join('?' * len(systems))})")
            params.extend(systems)
        for col, val in (("kind", kind), ("unit_id", unit_id), ("status", status)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        w = " AND ".join(where)
        cols = ["pos", *ASSET_FIELDS, *STATUS_FIELDS]
        with self.read() as q:  # type: ignore[attr-defined]
            # The count of a filter only changes with the twin's version: remember it.
            key = ("count", *self._twin_key(q, twin), w, tuple(params))
            total = self.memo.get(key)  # type: ignore[attr-defined]
            if total is None:
                total = self.memo.put(key, int(q.scalar(f"SELECT COUNT(*) FROM assets WHERE {w}", params)))  # type: ignore[attr-defined]
            rows = q.dicts(
                f"SELECT {', '.join(cols)} FROM assets WHERE {w} ORDER BY pos LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        return [_json_row(r) for r in rows], total

    def get_asset(self, twin: str, asset_id: str) -> dict[str, Any]:
        """One asset with its live status (JSON-ready)."""
        cols = ["pos", *ASSET_FIELDS, *STATUS_FIELDS]
        with self.read() as q:  # type: ignore[attr-defined]
            rows = q.dicts(
                f"SELECT {', '.join(cols)} FROM assets WHERE twin = ? AND asset_id = ?", (twin, asset_id)
            )
            if not rows:
                self._require_twin(q, twin)
                raise NotFound(f"twin {twin!r} has no asset {asset_id!r}")
        return _json_row(rows[0])

    def asset_systems(self, twin: str, asset_ids: Sequence[str]) -> dict[str, str]:
        """``asset_id -> system`` for the ids that exist in ``twin``."""
        with self.read() as q:  # type: ignore[attr-defined]
            self._require_twin(q, twin)
            return self.asset_systems_tx(q, twin, asset_ids)

    def asset_status(self, twin: str) -> pd.DataFrame:
        """Live status of every asset of ``twin``, in table order (``asset_id``, ``status`` …)."""
        with self.read() as q:  # type: ignore[attr-defined]
            self._require_twin(q, twin)
            rows = q.all(
                "SELECT asset_id, status, status_at, status_source FROM assets WHERE twin = ? ORDER BY pos",
                (twin,),
            )
        return pd.DataFrame(rows, columns=["asset_id", *STATUS_FIELDS])

    def set_asset_status(
        self,
        twin: str,
        updates: Sequence[dict[str, Any]],
        *,
        actor: Principal | None = None,
        source: str = "",
    ) -> dict[str, Any]:
        """Set the live status of assets in one transaction.

        ``updates`` are ``{"asset_id", "status", "at" (optional ISO time)}``. Unknown ids are
        reported back and change nothing; a bad status raises :class:`InputError`.
        """
        ts = now()
        rows = []
        for u in updates:
            st = u.get("status")
            if st not in ASSET_STATUSES:
                raise InputError(
                    f"asset status must be one of {', '.join(ASSET_STATUSES)}", field="status", value=st
                )
            rows.append((st, u.get("at") or ts, u.get("source") or source, twin, str(u["asset_id"])))
        with self.write() as tx:  # type: ignore[attr-defined]
            self._require_twin(tx, twin)
            known = self.asset_systems_tx(tx, twin, [r[4] for r in rows])
            good = [r for r in rows if r[4] in known]
            tx.executemany(
                "UPDATE assets SET status = ?, status_at = ?, status_source = ? WHERE twin = ? AND "
                "asset_id = ?",
                good,
            )
            if good:
                tx.execute("UPDATE twins SET version = version + 1 WHERE name = ?", (twin,))
            unknown = sorted({r[4] for r in rows} - set(known))
            counts: dict[str, int] = {}
            for r in good:
                counts[r[0]] = counts.get(r[0], 0) + 1
            tx.audit(
                actor,
                "asset.status",
                f"twins/{twin}/assets",
                {
                    "updated": len(good),
                    "by_status": counts,
                    "assets": [r[4] for r in good[:50]],
                    "source": source,
                },
            )
        return {"updated": len(good), "unknown": unknown}

    def asset_systems_tx(self, tx: Tx, twin: str, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            out.update(
                tx.all(
                    "SELECT asset_id, system FROM assets WHERE twin = ? AND asset_id IN "
                    f"({', '.join('?' * len(part))})",
                    [twin, *part],
                )
            )
        return out

    def population(self, twin: str, level: str) -> pd.DataFrame:
        """People per unit of one level: ``population``, ``households``, ``age_0_14``, ``age_65_plus``.

        Age counts are ``round(population × share)`` of the census age shares.
        """
        cols = [
            "pos",
            "unit_id",
            "level",
            "parent_id",
            "name_zh",
            "name_en",
            "population",
            "households",
            "share_age_0_14",
            "share_age_65_plus",
        ]
        with self.read() as q:  # type: ignore[attr-defined]
            key = ("population", *self._twin_key(q, twin)[:2], level)  # units never change in place
            hit = self.memo.get(key)  # type: ignore[attr-defined]
            if hit is not None:
                return hit.copy()
            rows = q.all(
                f"SELECT {', '.join(cols)} FROM units WHERE twin = ? AND level = ? ORDER BY pos",
                (twin, level),
            )
        df = pd.DataFrame(rows, columns=cols)
        pop = df["population"].astype(float)
        df["age_0_14"] = (pop * df["share_age_0_14"].astype(float)).round().astype("int64")
        df["age_65_plus"] = (pop * df["share_age_65_plus"].astype(float)).round().astype("int64")
        df = df.drop(columns=["share_age_0_14", "share_age_65_plus"])
        return self.memo.put(key, df).copy()  # type: ignore[attr-defined]
