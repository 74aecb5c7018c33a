"""Where and when a storm centre first crosses onto land: the track interpolated in time and
tested against land polygons (the twin's unit shapes, or the packaged Zhejiang counties)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rescity.errors import InputError


def land_geometry(twin=None):
    """Land polygons: the twin's unit geometry when it has one, else the packaged Zhejiang counties."""
    import shapely

    if twin is not None and getattr(twin, "geometry", None) is not None:
        geom = np.asarray(twin.geometry, dtype=object)
        lv = twin.units["level"].to_numpy(object)
        for level in ("province", "prefecture", "county", "cell"):  # the coarsest level with shapes
            geoms = [g for g in geom[lv == level] if g is not None]
            if geoms:
                return shapely.union_all(geoms)
    return packaged_land()


def packaged_land():
    """Union of the packaged Zhejiang county polygons (WGS84 degrees)."""
    import json

    import shapely
    from shapely.geometry import shape

    from rescity.data import path

    gj = json.loads(path("zhejiang_counties.geojson").read_text(encoding="utf-8"))
    return shapely.union_all([shape(f["geometry"]) for f in gj["features"]])


def _positions(track: pd.DataFrame) -> tuple[pd.Timestamp, np.ndarray, np.ndarray, np.ndarray]:
    """(first time, hours since it, lon, lat) of a track sorted by time, duplicates dropped."""
    if not isinstance(track, pd.DataFrame):
        raise InputError("a track must be a table (DataFrame)", field="track", value=type(track).__name__)
    for c in ("time", "lat", "lon"):
        if c not in track.columns:
            raise InputError(f"track has no {c!r} column", field=c)
    t = track[["time", "lon", "lat"]].copy()
    t["time"] = pd.to_datetime(t["time"], utc=True)
    t = t.sort_values("time").drop_duplicates("time").reset_index(drop=True)
    if len(t) < 2:
        raise InputError("a track needs at least two positions", field="time", value=len(t))
    for c in ("lat", "lon"):
        if not np.isfinite(t[c].to_numpy(float)).all():
            raise InputError(f"track column {c!r} has missing values", field=c)
    t0 = t["time"].iloc[0]
    h = ((pd.DatetimeIndex(t["time"]) - t0) / pd.Timedelta(hours=1)).to_numpy(float)
    return t0, h, t["lon"].to_numpy(float), t["lat"].to_numpy(float)


def landfall_fix(track: pd.DataFrame, land=None, step_min: float = 10.0) -> tuple[pd.Timestamp, float, float]:
    """``(time, lon, lat)`` of the first storm-centre position over ``land``, the track
    interpolated linearly every ``step_min`` minutes (longitudes unwrapped across the
    antimeridian); without a crossing, the closest approach.

    With the 6-hourly best track and the simplified county coastline this can differ from an
    agency's stated landfall by up to about an hour (Lekima: CMA 2019-08-09 17:45 UTC).
    ``land`` defaults to the packaged Zhejiang county polygons.
    """
    import shapely

    t0, h, lon0, lat0 = _positions(track)
    land = packaged_land() if land is None else land
    grid = np.arange(0.0, h[-1] + 1e-9, step_min / 60.0)
    lat = np.interp(grid, h, lat0)
    lon = np.degrees(np.interp(grid, h, np.unwrap(np.radians(lon0))))
    inside = shapely.contains_xy(land, lon, lat)
    if inside.any():
        k = int(np.argmax(inside))
    else:
        k = int(np.argmin(shapely.distance(land, shapely.points(lon, lat))))
    return (t0 + pd.Timedelta(hours=float(grid[k]))).round("min"), float(lon[k]), float(lat[k])


def landfall_time(track: pd.DataFrame, land=None, step_min: float = 10.0) -> pd.Timestamp:
    """First time the storm centre is over ``land`` (see :func:`landfall_fix`)."""
    return landfall_fix(track, land, step_min)[0]
