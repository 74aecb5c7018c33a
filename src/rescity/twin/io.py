"""Saving, loading and importing twins.

A saved twin is a folder of GeoParquet/Parquet files::

    units.parquet          units (GeoParquet with unit polygons when the twin has them)
    assets.parquet         assets (GeoParquet, point geometry from lon/lat)
    edges.parquet          network edges (int asset positions)
    dependencies.parquet   dependency edges
    service.parquet        service rows
    meta.json              {"format": "rescity-twin", "format_version": 1, "meta": {…}}

:func:`import_layers` reads a twin made by others from a folder of GeoJSON (or CSV) files or a
GeoPackage with layers ``units``, ``assets``, ``edges``, ``dependencies``, ``service`` that refer
to assets and units by their id strings (schema in ``docs/twin.md``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from rescity.errors import InputError
from rescity.twin.model import TABLE_COLUMNS, Twin, conform
from rescity.twin.validate import Problem, validate

FORMAT = "rescity-twin"
FORMAT_VERSION = 1
LAYERS: tuple[str, ...] = ("units", "assets", "edges", "dependencies", "service")
_REQUIRED: dict[str, tuple[str, ...]] = {
    "units": ("unit_id", "level"),
    "assets": ("asset_id", "system", "kind"),
    "edges": ("src", "dst"),
    "dependencies": ("dependent", "supplier"),
    "service": ("terminal", "unit", "people"),
}
_LAYER_EXT = (".geojson", ".json", ".csv")


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


# ---------------------------------------------------------------------------------------------
# GeoParquet folder
# ---------------------------------------------------------------------------------------------
def save(twin: Twin, path: str | Path) -> Path:
    """Write ``twin`` to the folder ``path`` (created; existing files are replaced)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    units = conform(twin.units, "units")
    if twin.geometry is not None:
        geom = (
            gpd.GeoSeries(twin.geometry).to_crs("EPSG:4326")
            if getattr(twin.geometry, "crs", None)
            else twin.geometry
        )
        gpd.GeoDataFrame(units, geometry=np.asarray(geom, dtype=object), crs="EPSG:4326").to_parquet(
            path / "units.parquet", index=False
        )
    else:
        units.to_parquet(path / "units.parquet", index=False)
    assets = conform(twin.assets, "assets")
    pts = shapely.points(assets["lon"].to_numpy(float), assets["lat"].to_numpy(float))
    gpd.GeoDataFrame(assets, geometry=pts, crs="EPSG:4326").to_parquet(path / "assets.parquet", index=False)
    for name in ("edges", "dependencies", "service"):
        conform(getattr(twin, name), name).to_parquet(path / f"{name}.parquet", index=False)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "geometry": twin.geometry is not None,
        "meta": twin.meta,
    }
    (path / "meta.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=1, default=_jsonable), "utf-8"
    )
    return path


def load(path: str | Path) -> Twin:
    """Read a twin written by :func:`save`."""
    path = Path(path)
    mf = path / "meta.json"
    if not mf.exists():
        raise InputError(
            "not a saved twin (no meta.json); use import_layers for GeoJSON/GeoPackage", file=path
        )
    from rescity.safeio import MAX_CONFIG_BYTES, load_json, read_text

    meta = load_json(read_text(mf, max_bytes=MAX_CONFIG_BYTES), file=mf)
    if not isinstance(meta, dict):
        raise InputError(f"must hold a JSON object, not a {type(meta).__name__}", file=mf)
    if meta.get("format") != FORMAT:
        raise InputError("not a rescity twin", file=mf, field="format", value=meta.get("format"))
    if meta.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise InputError(
            f"written by another rescity version; this one reads format_version {FORMAT_VERSION}",
            file=mf,
            field="format_version",
            value=meta.get("format_version"),
        )
    if not isinstance(meta.get("meta", {}), dict):
        raise InputError("must be a JSON object", file=mf, field="meta")
    tables: dict[str, pd.DataFrame] = {}
    geometry = None
    for name in LAYERS:
        f = path / f"{name}.parquet"
        if not f.exists():
            raise InputError("table missing from saved twin", file=f)
        try:
            if name in ("units", "assets") and meta.get("geometry", True):
                try:
                    g = gpd.read_parquet(f)
                    if name == "units":
                        geometry = gpd.GeoSeries(g.geometry.values, crs=g.crs).reset_index(drop=True)
                    df = pd.DataFrame(g.drop(columns=g.geometry.name))
                except ValueError:  # plain Parquet without geo metadata
                    df = pd.read_parquet(f)
            else:
                df = pd.read_parquet(f)
                df = df.drop(columns=[c for c in ("geometry",) if c in df.columns])
        except (OSError, ValueError, TypeError) as e:  # pyarrow's errors derive from these
            msg = " ".join(str(e).split())[:160]
            raise InputError(f"is not a readable Parquet table ({type(e).__name__}: {msg})", file=f) from None
        try:
            tables[name] = conform(df, name)
        except KeyError as e:
            raise InputError(str(e.args[0]), file=f) from e
    if not meta.get("geometry", False):
        geometry = None
    return Twin(**tables, meta=meta.get("meta", {}), geometry=geometry)


# ---------------------------------------------------------------------------------------------
# GeoJSON folder / GeoPackage
# ---------------------------------------------------------------------------------------------
def _ids(s: pd.Series) -> pd.Series:
    """Id strings from a column that a reader may have typed as numbers; NaN → ""."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        v = s.to_numpy(float)
        out = np.full(len(v), "", dtype=object)
        ok = np.isfinite(v)
        integral = ok & (v == np.floor(v))
        out[integral] = v[integral].astype(np.int64).astype(str)
        out[ok & ~integral] = v[ok & ~integral].astype(str)
        return pd.Series(out, index=s.index, dtype=object)
    return s.astype(object).where(s.notna(), "").astype(str).astype(object)


def _bools(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s):
        return s.fillna(False).to_numpy(bool)
    if pd.api.types.is_numeric_dtype(s):
        return np.nan_to_num(s.to_numpy(float)) != 0
    return s.astype(str).str.strip().str.lower().isin(["true", "1", "yes", "y", "t"]).to_numpy()


def _layer_sources(path: Path) -> dict[str, tuple[Path, str | None]]:
    """Where each layer is: (file, layer name within a GeoPackage or None)."""
    if path.is_dir():
        found = {}
        for name in LAYERS:
            for ext in _LAYER_EXT:
                f = path / f"{name}{ext}"
                if f.exists():
                    found[name] = (f, None)
                    break
        return found
    if path.suffix.lower() == ".gpkg":
        import pyogrio

        names = {str(n) for n in pyogrio.list_layers(path)[:, 0]}
        return {name: (path, name) for name in LAYERS if name in names}
    raise InputError("expected a folder of GeoJSON files or a .gpkg GeoPackage", file=path)


def _read(f: Path, layer: str | None) -> pd.DataFrame:
    try:
        if f.suffix.lower() == ".csv":
            return pd.read_csv(f, dtype=str, keep_default_na=False)
        return gpd.read_file(f, layer=layer) if layer else gpd.read_file(f)
    except Exception as e:  # noqa: BLE001 - any reader failure is bad input
        raise InputError(f"cannot read: {e}", file=f) from e


def _where(src: tuple[Path, str | None]) -> str:
    f, layer = src
    return f"{f}:{layer}" if layer else str(f)


def _geom(df: pd.DataFrame):
    if isinstance(df, gpd.GeoDataFrame) and df.geometry.name in df.columns and df.geometry.notna().any():
        g = df.geometry
        if g.crs is not None and not g.crs.equals("EPSG:4326"):
            g = g.to_crs("EPSG:4326")
        return g
    return None


def _point_xy(g: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """A point per geometry: the point itself, a line's midpoint, a polygon's inner point."""
    geoms = np.asarray(g, dtype=object)
    n = len(geoms)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    has = ~(shapely.is_missing(geoms) | shapely.is_empty(np.where(shapely.is_missing(geoms), None, geoms)))
    t = shapely.get_type_id(geoms)
    pt = has & (t == 0)
    x[pt], y[pt] = shapely.get_x(geoms[pt]), shapely.get_y(geoms[pt])
    ln = has & np.isin(t, (1, 5))
    if ln.any():
        m = shapely.line_interpolate_point(geoms[ln], 0.5, normalized=True)
        x[ln], y[ln] = shapely.get_x(m), shapely.get_y(m)
    other = has & ~pt & ~ln
    if other.any():
        p = shapely.point_on_surface(geoms[other])
        x[other], y[other] = shapely.get_x(p), shapely.get_y(p)
    return x, y


def _require(df: pd.DataFrame, name: str, src: tuple[Path, str | None]) -> None:
    for c in _REQUIRED[name]:
        if c not in df.columns:
            raise InputError(f"the {name} layer has no column {c!r}", file=_where(src), field=c)


def read_with_problems(path: str | Path) -> tuple[Twin, list[Problem]]:
    """Read a saved twin or import layers, keeping unresolved references as problems.

    Unknown asset or unit ids in ``edges``, ``dependencies`` and ``service`` become position
    ``-1`` in the twin and one :class:`Problem` each. Missing layers or columns raise
    :class:`InputError`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", file=path)
    if path.is_dir() and (path / "meta.json").exists():
        return load(path), []
    srcs = _layer_sources(path)
    for name in ("units", "assets"):
        if name not in srcs:
            raise InputError(
                f"the {name} layer is missing (expected {name}.geojson or a layer {name!r})", file=path
            )
    problems: list[Problem] = []

    # units
    ud = _read(*srcs["units"])
    _require(ud, "units", srcs["units"])
    ug = _geom(ud)
    units = pd.DataFrame({c: ud[c] for c in TABLE_COLUMNS["units"] if c in ud.columns})
    for c in ("unit_id", "parent_id", "level", "name_zh", "name_en"):
        if c in units:
            units[c] = _ids(units[c])
    for c in (
        "population",
        "households",
        "share_age_0_14",
        "share_age_65_plus",
        "urban_share",
        "lon",
        "lat",
        "area_km2",
    ):
        if c in units:
            units[c] = pd.to_numeric(units[c], errors="coerce")
    if ug is not None:
        valid = ug.notna() & ~ug.is_empty
        if valid.any():
            utm = gpd.GeoSeries(ug[valid]).estimate_utm_crs()
            gm = gpd.GeoSeries(ug[valid]).to_crs(utm)
            cen = gpd.GeoSeries(gm.centroid, crs=utm).to_crs("EPSG:4326")
            if "lon" not in units:
                units["lon"] = np.nan
                units["lat"] = np.nan
                units.loc[valid, "lon"] = cen.x.to_numpy()
                units.loc[valid, "lat"] = cen.y.to_numpy()
            if "area_km2" not in units:
                units["area_km2"] = 0.0
                units.loc[valid, "area_km2"] = gm.area.to_numpy() / 1e6
    elif "lon" not in units or "lat" not in units:
        units["lon"] = np.nan
        units["lat"] = np.nan
    if "population" in units:
        units["population"] = units["population"].fillna(-1)
        units["population"] = np.round(units["population"]).astype(np.int64)
    if "households" in units:
        units["households"] = np.round(units["households"].fillna(0)).astype(np.int64)
    units = conform(units, "units")

    # assets
    ad = _read(*srcs["assets"])
    _require(ad, "assets", srcs["assets"])
    ag = _geom(ad)
    assets = pd.DataFrame({c: ad[c] for c in TABLE_COLUMNS["assets"] if c in ad.columns})
    for c in ("asset_id", "system", "kind", "unit_id", "fragility_class", "capacity_unit", "name", "source"):
        if c in assets:
            assets[c] = _ids(assets[c])
    for c in ("lon", "lat", "capacity", "replacement_cost_cny", "backup_h", "length_km"):
        if c in assets:
            assets[c] = pd.to_numeric(assets[c], errors="coerce")
    if "lon" not in assets or "lat" not in assets:
        if ag is None:
            raise InputError(
                "assets need a point geometry or lon/lat columns", file=_where(srcs["assets"]), field="lon"
            )
        assets["lon"], assets["lat"] = _point_xy(ag)
    if "length_km" not in assets and ag is not None:
        from pyproj import Geod

        lines = np.isin(shapely.get_type_id(np.asarray(ag, dtype=object)), (1, 5))
        km = np.zeros(len(assets))
        if lines.any():
            geod = Geod(ellps="WGS84")
            km[lines] = [geod.geometry_length(g) / 1000.0 for g in np.asarray(ag, dtype=object)[lines]]
        assets["length_km"] = km
    if "is_source" in assets:
        assets["is_source"] = _bools(assets["is_source"])
    for c in ("capacity", "replacement_cost_cny", "backup_h", "length_km"):
        if c in assets:
            assets[c] = assets[c].fillna(0.0)
    if "unit_id" not in assets and ug is not None:
        assets["unit_id"] = _locate(assets, units, ug)
    assets = conform(assets, "assets")
    apos = pd.Series(np.arange(len(assets)), index=assets["asset_id"].to_numpy(object))
    apos = apos[~apos.index.duplicated()]
    upos = pd.Series(np.arange(len(units)), index=units["unit_id"].to_numpy(object))
    upos = upos[~upos.index.duplicated()]
    a_sys = assets["system"].to_numpy(object)

    def resolve(name: str, col: str, s: pd.Series, index: pd.Series, what: str) -> np.ndarray:
        ids = _ids(s).to_numpy(object)
        pos = index.reindex(ids).to_numpy(float)
        for i in np.flatnonzero(np.isnan(pos)):
            problems.append(Problem("error", name, col, ids[i], f"unknown {what} id", int(i)))
        return np.where(np.isnan(pos), -1, pos).astype(np.int64)

    def sys_from(pos: np.ndarray) -> np.ndarray:
        out = np.full(len(pos), "", dtype=object)
        ok = pos >= 0
        out[ok] = a_sys[pos[ok]]
        return out

    tables: dict[str, pd.DataFrame] = {}
    # edges
    if "edges" in srcs:
        ed = _read(*srcs["edges"])
        _require(ed, "edges", srcs["edges"])
        src = resolve("edges", "src", ed["src"], apos, "asset")
        dst = resolve("edges", "dst", ed["dst"], apos, "asset")
        system = _ids(ed["system"]).to_numpy(object) if "system" in ed else sys_from(src)
        tables["edges"] = conform(pd.DataFrame({"system": system, "src": src, "dst": dst}), "edges")
    else:
        tables["edges"] = conform(pd.DataFrame({"src": [], "dst": []}), "edges")
    # dependencies
    if "dependencies" in srcs:
        dd = _read(*srcs["dependencies"])
        _require(dd, "dependencies", srcs["dependencies"])
        dep = resolve("dependencies", "dependent", dd["dependent"], apos, "asset")
        sup = resolve("dependencies", "supplier", dd["supplier"], apos, "asset")
        kind = _ids(dd["kind"]).to_numpy(object) if "kind" in dd else sys_from(sup)
        buf = pd.to_numeric(dd["buffer_h"], errors="coerce").fillna(0.0) if "buffer_h" in dd else 0.0
        tables["dependencies"] = conform(
            pd.DataFrame({"dependent": dep, "supplier": sup, "kind": kind, "buffer_h": buf}), "dependencies"
        )
    else:
        tables["dependencies"] = conform(pd.DataFrame({"dependent": [], "supplier": []}), "dependencies")
    # service
    if "service" in srcs:
        sd = _read(*srcs["service"])
        _require(sd, "service", srcs["service"])
        term = resolve("service", "terminal", sd["terminal"], apos, "asset")
        unit = resolve("service", "unit", sd["unit"], upos, "unit")
        system = _ids(sd["system"]).to_numpy(object) if "system" in sd else sys_from(term)
        ppl = pd.to_numeric(sd["people"], errors="coerce")
        tables["service"] = conform(
            pd.DataFrame({"terminal": term, "unit": unit, "system": system, "people": ppl}), "service"
        )
    else:
        tables["service"] = conform(pd.DataFrame({"terminal": [], "unit": []}), "service")

    meta = {"name": path.stem, "builder": "rescity.twin.io.import_layers", "source": str(path)}
    geometry = gpd.GeoSeries(np.asarray(ug, dtype=object), crs="EPSG:4326") if ug is not None else None
    twin = Twin(units=units, assets=assets, meta=meta, geometry=geometry, **tables)
    # remember where each layer came from, for messages
    twin.meta["layers"] = {k: _where(v) for k, v in srcs.items()}
    return twin, problems


def _locate(assets: pd.DataFrame, units: pd.DataFrame, ug: gpd.GeoSeries) -> np.ndarray:
    """Unit of every asset point: the finest-level unit polygon containing it ("" if none)."""
    from rescity.twin.model import LEVELS

    out = np.full(len(assets), "", dtype=object)
    x = assets["lon"].to_numpy(float)
    y = assets["lat"].to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y)
    geoms = np.asarray(ug, dtype=object)
    for lv in LEVELS:  # coarse to fine: finer levels overwrite
        m = (units["level"] == lv).to_numpy() & ~shapely.is_missing(geoms)
        if not m.any():
            continue
        tree = shapely.STRtree(geoms[m])
        pi, gi = tree.query(shapely.points(x[ok], y[ok]), predicate="intersects")
        rows = np.flatnonzero(ok)[pi]
        out[rows] = units["unit_id"].to_numpy(object)[np.flatnonzero(m)[gi]]
    return out


def import_layers(path: str | Path, strict: bool = True) -> Twin:
    """Import a twin from a folder of GeoJSON/CSV files or a GeoPackage.

    Layers (files ``<layer>.geojson`` / ``.json`` / ``.csv`` in a folder, or layers of a
    ``.gpkg``): ``units`` and ``assets`` (required), ``edges``, ``dependencies``, ``service``
    (optional; they refer to assets and units by id string). Columns are those of
    :mod:`rescity.twin.model` (see ``docs/twin.md``); asset coordinates come from a point geometry
    or ``lon``/``lat`` columns.

    Parameters
    ----------
    strict:
        Raise :class:`InputError` on the first error found by the importer or by
        :func:`rescity.twin.validate.validate` (naming the layer, field and value, and how many
        more problems there are). With ``strict=False`` the twin is returned as read; unknown ids
        become position ``-1``.
    """
    twin, problems = read_with_problems(path)
    if strict:
        dangling = {(p.table, p.field) for p in problems}
        problems = problems + [
            p
            for p in validate(twin, reachability=False)
            if not ((p.table, p.field) in dangling and p.value == -1)
        ]
        errs = [p for p in problems if p.severity == "error"]
        if errs:
            p = errs[0]
            more = f" ({len(errs) - 1} more errors; see 'rescity twin validate')" if len(errs) > 1 else ""
            where = twin.meta.get("layers", {}).get(p.table, str(path))
            row = f"row {p.row}: " if p.row is not None else ""
            raise InputError(f"{row}{p.message}{more}", file=where, field=p.field, value=p.value)
    return twin


def read(path: str | Path) -> Twin:
    """Open a saved twin folder, or import GeoJSON/GeoPackage layers (not strict)."""
    return read_with_problems(path)[0]
