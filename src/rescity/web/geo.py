"""Map data for the dashboard: unit polygons as GeoJSON, assets in a map view.

Unit polygons are simplified for the browser (Douglas–Peucker with topology preserved,
``shapely.simplify``; tolerances in :data:`TOLERANCE_DEG`, about 100 m for counties) and their
coordinates rounded to 5 decimals (about 1 m). Units without a polygon (twins built without
geometry) become points at their centroid.

Assets in view: a twin may have ~10⁵ assets, so a view sends either the points themselves (when
at most ``max_points`` fall in the box) or counts per square grid cell of about ``cell_px`` screen
pixels at the view's zoom (Web Mercator: 256 · 2^zoom pixels span 360° of longitude), with the
counts by live status and system and the cell's mean position. Assets of systems a user sees
only as status (:func:`rescity.api.routers.assets.access_levels`) are never sent as points or at
their own coordinates: they are counted at the centroid of their unit, which the user may see.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Simplification tolerance per unit level, degrees (0: unchanged).
TOLERANCE_DEG: dict[str, float] = {"province": 0.004, "prefecture": 0.002, "county": 0.001, "cell": 0.0}
#: Decimals kept in GeoJSON coordinates (1e-5° ≈ 1.1 m).
DECIMALS = 5
STATUSES: tuple[str, ...] = ("up", "down", "unknown")
UNIT_PROPS: tuple[str, ...] = ("unit_id", "level", "parent_id", "name_zh", "name_en", "lon", "lat")


def _rows(store, sql: str, params: Sequence[Any]) -> list[tuple]:
    with store.read() as q:
        return q.all(sql, params)


def twin_units(store, twin: str) -> pd.DataFrame:
    """The units of a stored twin, in table order, with their position ``pos``."""
    df, _ = store.query_units(twin, columns=("pos", *UNIT_PROPS, "population", "households"), limit=10**9)
    return df


def twin_geometry(store, twin: str) -> np.ndarray | None:
    """Unit polygons of a stored twin (shapely array aligned with the units), or None."""
    import shapely

    from rescity.store.twins import from_parquet

    rows = _rows(store, "SELECT data FROM twin_tables WHERE twin = ? AND name = 'geometry'", (twin,))
    if not rows:
        return None
    return shapely.from_wkb(from_parquet(rows[0][0])["wkb"].to_numpy())


def units_geojson(
    units: pd.DataFrame,
    geometry: np.ndarray | None,
    level: str | None = None,
    tolerance_deg: float | None = None,
    values: Mapping[str, Mapping[str, Any]] | None = None,
) -> bytes:
    """A GeoJSON FeatureCollection (UTF-8 bytes) of the units of ``level`` (all when None).

    Parameters
    ----------
    units:
        Units table (``unit_id``, ``level``, ``parent_id``, ``name_zh``, ``name_en``, ``lon``,
        ``lat``), aligned with ``geometry``.
    geometry:
        Polygons (shapely array) or None (points at the centroids).
    tolerance_deg:
        Simplification tolerance, degrees; default :data:`TOLERANCE_DEG` of the level.
    values:
        Extra properties per ``unit_id`` (e.g. an indicator and warning level) merged into each
        feature's properties.
    """
    import shapely

    mask = np.ones(len(units), bool) if level is None else (units["level"] == level).to_numpy()
    u = units.loc[mask].reset_index(drop=True)
    if geometry is not None:
        g = np.asarray(geometry, dtype=object)[mask]
        tol = TOLERANCE_DEG.get(level or "", 0.0) if tolerance_deg is None else float(tolerance_deg)
        if tol > 0:
            g = shapely.simplify(g, tol, preserve_topology=True)
        g = shapely.transform(g, lambda c: np.round(c, DECIMALS))
        missing = shapely.is_missing(g) | shapely.is_empty(g)
        pts = shapely.points(u["lon"].round(DECIMALS).to_numpy(), u["lat"].round(DECIMALS).to_numpy())
        g = np.where(missing, pts, g)
    else:
        g = shapely.points(u["lon"].round(DECIMALS).to_numpy(), u["lat"].round(DECIMALS).to_numpy())
    geo = shapely.to_geojson(g)
    props = u[[c for c in UNIT_PROPS if c in u.columns]].copy()
    for c in ("lon", "lat"):
        props[c] = props[c].astype(float).round(DECIMALS)
    recs = props.to_dict(orient="records")
    parts = []
    for rec, gj in zip(recs, geo, strict=True):
        if values is not None:
            rec.update(values.get(rec["unit_id"], {}))
        fid = json.dumps(rec["unit_id"])
        props_json = json.dumps(rec, ensure_ascii=False, allow_nan=False)
        parts.append(f'{{"type":"Feature","id":{fid},"geometry":{gj},"properties":{props_json}}}')
    return ('{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}").encode("utf-8")


@dataclass
class AssetIndex:
    """The static part of a twin's assets as arrays, for map views (positions never change)."""

    asset_id: np.ndarray
    system: np.ndarray
    kind: np.ndarray
    name: np.ndarray
    unit_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    unit_lon: np.ndarray  # centroid of the asset's unit (status-only systems are shown there)
    unit_lat: np.ndarray
    source: np.ndarray | None = None  # provenance of the location (osm, gridkit, wri, generated, "")

    def __len__(self) -> int:
        return len(self.asset_id)

    def positions(self) -> dict[str, int]:
        return {a: i for i, a in enumerate(self.asset_id.tolist())}


def asset_index(store, twin: str, units: pd.DataFrame | None = None) -> AssetIndex:
    """Read the assets of a stored twin into an :class:`AssetIndex`."""
    rows = _rows(
        store,
        "SELECT asset_id, system, kind, name, unit_id, lon, lat, source FROM assets WHERE twin = ? ORDER BY pos",
        (twin,),
    )
    a = pd.DataFrame(rows, columns=["asset_id", "system", "kind", "name", "unit_id", "lon", "lat", "source"])
    u = twin_units(store, twin) if units is None else units
    cu = u.set_index("unit_id")[["lon", "lat"]]
    ul = cu.reindex(a["unit_id"].to_numpy())
    obj = {
        c: a[c].fillna("").astype(str).to_numpy(dtype=object)
        for c in ("asset_id", "system", "kind", "unit_id", "source")
    }
    return AssetIndex(
        name=a["name"].fillna("").astype(str).to_numpy(dtype=object),
        lon=a["lon"].to_numpy(float),
        lat=a["lat"].to_numpy(float),
        unit_lon=ul["lon"].to_numpy(float),
        unit_lat=ul["lat"].to_numpy(float),
        **obj,
    )


def asset_status_codes(store, twin: str, n: int) -> np.ndarray:
    """Live status per asset as codes into :data:`STATUSES` (``int8``; unknown by default)."""
    codes = np.full(n, STATUSES.index("unknown"), np.int8)
    rows = _rows(store, "SELECT pos, status FROM assets WHERE twin = ? AND status <> 'unknown'", (twin,))
    if rows:
        pos = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        st = np.fromiter((STATUSES.index(r[1]) if r[1] in STATUSES else 2 for r in rows), np.int8, len(rows))
        codes[pos] = st
    return codes


def cell_size_deg(zoom: float, cell_px: float = 48.0) -> float:
    """Side of a grid cell of ``cell_px`` screen pixels at ``zoom``, degrees of longitude."""
    return 360.0 / (256.0 * 2.0 ** float(zoom)) * float(cell_px)


def assets_in_view(
    idx: AssetIndex,
    status: np.ndarray,
    access: Mapping[str, str],
    bbox: tuple[float, float, float, float],
    zoom: float,
    *,
    systems: Sequence[str] | None = None,
    only_status: str | None = None,
    max_points: int = 2000,
    cell_px: float = 48.0,
) -> dict[str, Any]:
    """Assets in a map view as GeoJSON points, or as counts per grid cell.

    Parameters
    ----------
    idx, status:
        The twin's assets (:func:`asset_index`) and live status codes (:func:`asset_status_codes`).
    access:
        ``system -> "full" | "status"`` for the systems the user may see (others are left out).
    bbox:
        ``(west, south, east, north)``, degrees.
    zoom:
        Map zoom (sets the grid cell size, :func:`cell_size_deg`).
    systems, only_status:
        Filters: systems to include (default all visible), one status (``up``, ``down``, ``unknown``).
    max_points:
        The most points sent one by one; more (or any status-only system) go as cells.

    Returns
    -------
    A FeatureCollection with ``mode`` (``points`` | ``clusters`` | ``mixed``), ``total`` (assets
    in view) and features whose properties are either an asset (``asset_id``, ``system``, ``kind``,
    ``status``, ``name``, ``source``: where its location comes from) or a cell (``count``, ``up``, ``down``, ``unknown``, ``by_system``,
    ``approx``: true when placed at unit centroids).
    """
    w, s, e, n = (float(x) for x in bbox)
    want = [x for x in (systems or access) if x in access]
    full = np.isin(idx.system, [x for x in want if access[x] == "full"])
    part = np.isin(idx.system, [x for x in want if access[x] == "status"])
    lon = np.where(full, idx.lon, idx.unit_lon)
    lat = np.where(full, idx.lat, idx.unit_lat)
    inside = (full | part) & (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)
    if only_status is not None:
        inside &= status == STATUSES.index(only_status)
    total = int(inside.sum())
    pts = inside & full
    if pts.sum() > max_points:
        pts[:] = False
    clu = inside & ~pts
    feats: list[dict[str, Any]] = []
    for i in np.flatnonzero(pts):
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(lon[i], 6), round(lat[i], 6)]},
                "properties": {
                    "asset_id": idx.asset_id[i],
                    "system": idx.system[i],
                    "kind": idx.kind[i],
                    "name": idx.name[i],
                    "status": STATUSES[status[i]],
                    "source": "" if idx.source is None else idx.source[i],
                },
            }
        )
    if clu.any():
        d = cell_size_deg(zoom, cell_px)
        ix = np.floor((lon[clu] - w) / d).astype(np.int64)
        iy = np.floor((lat[clu] - s) / d).astype(np.int64)
        key = iy * (int((e - w) / d) + 2) + ix
        cells, inv = np.unique(key, return_inverse=True)
        k = len(cells)
        count = np.bincount(inv, minlength=k)
        mlon = np.bincount(inv, lon[clu], k) / count
        mlat = np.bincount(inv, lat[clu], k) / count
        st = status[clu]
        by_status = {x: np.bincount(inv, st == j, k).astype(np.int64) for j, x in enumerate(STATUSES)}
        sys_c = idx.system[clu]
        by_system = {x: np.bincount(inv, sys_c == x, k).astype(np.int64) for x in want}
        approx = np.bincount(inv, part[clu], k) > 0
        for c in range(k):
            feats.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [round(mlon[c], 5), round(mlat[c], 5)]},
                    "properties": {
                        "count": int(count[c]),
                        **{x: int(by_status[x][c]) for x in STATUSES},
                        "by_system": {x: int(v[c]) for x, v in by_system.items() if v[c]},
                        "approx": bool(approx[c]),
                    },
                }
            )
    mode = "points" if not clu.any() else ("clusters" if not pts.any() else "mixed")
    return {
        "type": "FeatureCollection",
        "mode": mode,
        "total": total,
        "cell_deg": cell_size_deg(zoom, cell_px),
        "access": dict(access),
        "features": feats,
    }
