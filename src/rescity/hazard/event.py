"""Intensities of one event at a twin's sites: every asset and every cell centroid.

``typhoon_event``
    wind, rain, flood (pluvial, rain-fed rivers and gauged rivers), rain-triggered landslides and
    storm surge of a storm track, as the registry's measures (:mod:`rescity.hazard.registry`);
    flood sources combine by the maximum depth.
``earthquake_event``
    sampled ground motion of a mainshock and its aftershocks, combined by the per-site maximum.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.hazard.registry import DEFAULT_TYPHOON_HAZARDS, HAZARDS

if TYPE_CHECKING:
    from rescity.hazard.scenario import EarthquakeScenario
    from rescity.twin.model import Twin


def cell_positions(twin: Twin) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (unit row index, lon, lat) of the cell-level units (kept on the twin:
    :meth:`~rescity.twin.model.Twin.derived`; read-only)."""

    def build() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cells = np.flatnonzero((twin.units["level"] == "cell").to_numpy())
        out = (cells, twin.units["lon"].to_numpy()[cells], twin.units["lat"].to_numpy()[cells])
        for a in out:
            a.flags.writeable = False
        return out

    return twin.derived(("hazard", "cell_positions"), build)


def asset_cells(twin: Twin) -> np.ndarray:
    """For each asset, the position among the cells (0 … n_cells − 1) of the cell it stands in:
    its ``unit_id`` when that is a cell, else the nearest cell centroid (kept on the twin:
    :meth:`~rescity.twin.model.Twin.derived`; read-only)."""
    return twin.derived(("hazard", "asset_cells"), lambda: _asset_cells(twin))


def _asset_cells(twin: Twin) -> np.ndarray:
    cells, clon, clat = cell_positions(twin)
    order = pd.Series(np.arange(len(cells)), index=twin.units["unit_id"].to_numpy()[cells])
    pos = order.reindex(twin.assets["unit_id"].to_numpy()).to_numpy()
    miss = np.isnan(pos)
    if miss.any():
        from scipy.spatial import cKDTree

        k = np.cos(np.deg2rad(np.mean(clat)))
        tree = cKDTree(np.c_[clon * k, clat])
        a = twin.assets.loc[miss, ["lon", "lat"]].to_numpy(float)
        pos[miss] = tree.query(np.c_[a[:, 0] * k, a[:, 1]])[1]
    out = pos.astype(np.int64)
    out.flags.writeable = False
    return out


def typhoon_event(
    twin: Twin,
    track: pd.DataFrame,
    model: str = "holland1980",
    hazards: tuple[str, ...] = DEFAULT_TYPHOON_HAZARDS,
    dt_h: float = 1.0,
    drainage_rp: float | None = None,
    sites: str = "assets",
    dem: str | Path | None = None,
    stations: str | Path | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Typhoon intensities at every asset and every cell centroid.

    Returns ``(asset_intensity, cell_intensity)``: dicts of measure → array, the asset arrays of
    length ``twin.n_assets``, the cell arrays of length ``twin.n_units`` (NaN on non-cell rows).
    With ``sites="assets"`` wind and rain are evaluated at the assets and the cells together in
    one pass; with ``sites="cells"`` only at the cell centroids (≤ 5 km apart), each asset taking
    its cell's values — about 15 times faster, for ensemble forecasts. Flood depth follows from
    the rain (:mod:`rescity.hazard.flood`) when ``"flood"`` is among the hazards, landslides
    (:func:`add_landslide`) when ``"landslide"`` is, storm surge (:func:`add_surge`) when
    ``"surge"`` is; the measures kept are the registry's
    (:mod:`rescity.hazard.registry`) for the hazards asked and the hazards they need.
    """
    return typhoon_events(twin, [track], model, hazards, dt_h, drainage_rp, sites, dem, stations)[0]


def typhoon_events(
    twin: Twin,
    tracks: list[pd.DataFrame],
    model: str = "holland1980",
    hazards: tuple[str, ...] = DEFAULT_TYPHOON_HAZARDS,
    dt_h: float = 1.0,
    drainage_rp: float | None = None,
    sites: str = "assets",
    dem: str | Path | None = None,
    stations: str | Path | None = None,
) -> list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """:func:`typhoon_event` of each of several windows of one storm with the same start (the
    lead windows of a forecast): the same values, bit for bit, with the wind and rain of the
    fixes the windows share computed once (:func:`rescity.hazard.typhoon.typhoon_hazard_windows`);
    flood, landslides and surge follow per window."""
    from rescity.hazard.typhoon import typhoon_hazard_windows

    if sites not in ("assets", "cells"):
        raise InputError("sites must be 'assets' or 'cells'", field="sites", value=sites)
    tracks = list(tracks)
    cells, clon, clat = cell_positions(twin)
    if sites == "cells":
        where = asset_cells(twin)
        per_window = [
            {m: np.concatenate([np.asarray(v)[where], v]) for m, v in fields.items()}
            for fields in typhoon_hazard_windows(tracks, clon, clat, model=model, dt_h=dt_h)
        ]
    else:
        lon = np.concatenate([twin.assets["lon"].to_numpy(float), clon])
        lat = np.concatenate([twin.assets["lat"].to_numpy(float), clat])
        per_window = typhoon_hazard_windows(tracks, lon, lat, model=model, dt_h=dt_h)
    keep = {m for h in hazards for n in (h, *HAZARDS[h].needs) for m in HAZARDS[n].measure_names}
    na = twin.n_assets
    out = []
    for track, fields in zip(tracks, per_window, strict=True):
        asset_int: dict[str, np.ndarray] = {}
        cell_int: dict[str, np.ndarray] = {}
        for m, v in fields.items():
            if m not in keep:
                continue
            v = np.asarray(v, dtype=float)
            asset_int[m] = v[:na]
            full = np.full(twin.n_units, np.nan)
            full[cells] = v[na:]
            cell_int[m] = full
        if "flood" in hazards:
            fl = flood_depths(twin, asset_int, cell_int, drainage_rp=drainage_rp, dem=dem, stations=stations)
            asset_int.update(fl["asset"])
            cell_int.update(fl["cell"])
        if "landslide" in hazards:
            add_landslide(twin, asset_int, cell_int)
        if "surge" in hazards:
            add_surge(twin, track, asset_int, cell_int, dt_h=dt_h, dem=dem)
        out.append((asset_int, cell_int))
    return out


def add_landslide(twin: Twin, asset_int: dict[str, np.ndarray], cell_int: dict[str, np.ndarray]) -> None:
    """Add ``landslide_ratio`` (exceedance of the Caine 1980 rainfall intensity–duration
    threshold) and ``landslide_share`` (share of the site's assets a slide can reach, by terrain
    class and, at assets, by kind) from the storm rain (:func:`rescity.hazard.landslide.landslide_hazard`)
    at the assets and cells."""
    from rescity.hazard.landslide import landslide_hazard, susceptible_share

    cells, clon, clat = cell_positions(twin)
    alon, alat = twin.assets["lon"].to_numpy(float), twin.assets["lat"].to_numpy(float)
    na = twin.n_assets

    def shares() -> tuple[np.ndarray, np.ndarray]:
        # assets and cells together: the sites (and terrain lookup) of the storm rain
        kind = np.concatenate([twin.assets["kind"].to_numpy(dtype=object), np.full(len(cells), "", dtype=object)])
        share = susceptible_share(np.concatenate([alon, clon]), np.concatenate([alat, clat]), kind)
        return share[:na], share[na:]

    share_a, share_c = twin.derived(("hazard", "landslide_share"), shares)  # the same for every storm
    ls_a = landslide_hazard(asset_int["rain_mm"], asset_int["rain_rate_mmh"], alon, alat, share=share_a)
    ls_c = landslide_hazard(cell_int["rain_mm"][cells], cell_int["rain_rate_mmh"][cells], clon, clat, share=share_c)
    asset_int.update(ls_a)
    for m, v in ls_c.items():
        full = np.full(twin.n_units, np.nan)
        full[cells] = v
        cell_int[m] = full


def add_surge(
    twin: Twin,
    track: pd.DataFrame,
    asset_int: dict[str, np.ndarray],
    cell_int: dict[str, np.ndarray],
    *,
    dt_h: float = 1.0,
    dem: str | Path | None = None,
) -> None:
    """Add ``surge_depth_m`` (:func:`rescity.hazard.surge.storm_surge`) at the assets and cells and
    fold it into ``flood_depth_m``/``flood_fraction`` (the flood curves it feeds, see the registry):
    depths combine by the maximum, and a site where surge is the deeper water floods for certain
    (fraction 1), as for rivers."""
    from rescity.hazard.flood import sample_dem
    from rescity.hazard.surge import storm_surge

    cells, clon, clat = cell_positions(twin)
    alon, alat = twin.assets["lon"].to_numpy(float), twin.assets["lat"].to_numpy(float)
    lon, lat = np.concatenate([alon, clon]), np.concatenate([alat, clat])
    z = None if dem is None else sample_dem(dem, lon, lat)
    s = storm_surge(track, lon, lat, dt_h=dt_h, elevation_m=z)["surge_depth_m"]
    na = twin.n_assets
    full = np.full(twin.n_units, np.nan)
    full[cells] = s[na:]
    for target, v in ((asset_int, s[:na]), (cell_int, full)):
        target["surge_depth_m"] = v
        depth = target.get("flood_depth_m")
        if depth is None:
            target["flood_depth_m"] = v.copy()
            target["flood_fraction"] = np.where(np.isnan(v), np.nan, (v > 0).astype(float))
        else:
            frac = target["flood_fraction"]
            target["flood_fraction"] = np.where(v > np.nan_to_num(depth), 1.0, frac)
            target["flood_depth_m"] = np.fmax(depth, v)


def flood_depths(
    twin: Twin,
    asset_int: dict[str, np.ndarray],
    cell_int: dict[str, np.ndarray],
    drainage_rp: float | None = None,
    dem: str | Path | None = None,
    stations: str | Path | None = None,
) -> dict[str, Any]:
    """Flood from the storm rain — pluvial ponding (:func:`rescity.hazard.flood.pluvial_depth`)
    and rivers and mountain torrents fed by it (:func:`rescity.hazard.flood.rain_river_depth`) —
    and, when a stations file is given, from rivers above their warning stage
    (:func:`rescity.hazard.flood.river_depth`).

    Returns ``flood_depth_m`` and ``flood_fraction`` (the share of the place that floods) for the
    assets and the cells, as ``{"asset": {...}, "cell": {...}, "proxy": bool}``.

    * With a DEM (GeoTIFF, metres): each cell fills its lowest ground with the ponded runoff
      (bathtub); an asset is flooded by ``level − ground elevation`` at its own position, so its
      ``flood_fraction`` is 1.
    * Without one, the documented low-lying proxy gives each cell a flooded share and a depth in
      it; an asset takes its cell's depth and the damage stage treats it as flooded with
      probability ``flood_fraction`` — each asset's exact marginal damage probability. ``proxy``
      is then True and the report says so.
    * Rain-fed rivers: per cell, the source (pluvial or rain-river) with the larger expected
      depth (fraction × depth) is kept; an asset follows its cell's choice (its own pluvial
      depth with a DEM, raised to the river depth where the river wins).
    * River depths (CSV with ``lon, lat, water_level_m, warning_level_m``) are combined with the
      pluvial depth by the maximum; at assets they are evaluated at the asset's position.
    """
    from rescity.hazard.flood import depth_at_sites, pluvial_depth, rain_river_depth, river_depth, sample_dem

    cells, clon, clat = cell_positions(twin)
    table = twin.derived(
        ("hazard", "flood_cells"),
        lambda: twin.units.iloc[cells][["lon", "lat", "area_km2", "urban_share"]].reset_index(drop=True),
    )  # the same table for every event; read-only
    res = pluvial_depth(
        cell_int["rain_mm"][cells], cell_int["rain_rate_mmh"][cells], table, drainage_rp=drainage_rp, dem=dem
    )
    where = asset_cells(twin)
    alon, alat = twin.assets["lon"].to_numpy(float), twin.assets["lat"].to_numpy(float)
    if res["proxy"]:
        depth_a = np.nan_to_num(res["flood_depth_m"][where])
        frac_a = np.nan_to_num(res["flooded_fraction"][where])
    else:
        depth_a = depth_at_sites(res, where, sample_dem(dem, alon, alat))
        frac_a = np.ones(twin.n_assets)
    depth_c = np.asarray(res["flood_depth_m"], float)
    frac_c = np.asarray(res["flooded_fraction"], float)
    proxy = bool(res["proxy"])
    rv = rain_river_depth(cell_int["rain_mm"][cells], cell_int["rain_rate_mmh"][cells], table)
    use = rv["flooded_fraction"] * rv["flood_depth_m"] > frac_c * depth_c
    depth_c = np.where(use, rv["flood_depth_m"], depth_c)
    frac_c = np.where(use, rv["flooded_fraction"], frac_c)
    use_a = use[where]
    if res["proxy"]:
        depth_a = np.where(use_a, rv["flood_depth_m"][where], depth_a)
        frac_a = np.where(use_a, rv["flooded_fraction"][where], frac_a)
    else:
        depth_a = np.maximum(depth_a, np.where(use_a, rv["flood_depth_m"][where], 0.0))
    if stations is not None:
        st = _read_stations(stations)
        z_c = None if dem is None else sample_dem(dem, clon, clat)
        z_a = None if dem is None else sample_dem(dem, alon, alat)
        rc = river_depth(clon, clat, st, z_c)
        ra = river_depth(alon, alat, st, z_a)
        river_c, river_a = rc["flood_depth_m"], ra["flood_depth_m"]
        # a river-flooded site is flooded for certain (fraction 1) where the river is deeper
        frac_c = np.where(river_c > depth_c, 1.0, frac_c)
        depth_c = np.maximum(depth_c, river_c)
        frac_a = np.where(river_a > depth_a, 1.0, frac_a)
        depth_a = np.maximum(depth_a, river_a)
        proxy = proxy or bool(rc["proxy"])
    full_d = np.full(twin.n_units, np.nan)
    full_f = np.full(twin.n_units, np.nan)
    full_d[cells] = depth_c
    full_f[cells] = frac_c
    return {
        "asset": {"flood_depth_m": depth_a, "flood_fraction": frac_a},
        "cell": {"flood_depth_m": full_d, "flood_fraction": full_f},
        "proxy": proxy,
    }


def _read_stations(path: str | Path) -> pd.DataFrame:
    """River stations CSV: ``lon, lat, water_level_m, warning_level_m`` [, ``reach_km``]."""
    try:
        st = pd.read_csv(path)
    except (OSError, pd.errors.ParserError) as e:
        raise InputError(f"cannot read the stations file: {e}", file=path) from None
    for col in ("lon", "lat", "water_level_m", "warning_level_m"):
        if col not in st.columns:
            raise InputError("stations file lacks a column", file=path, field=col)
        bad = pd.to_numeric(st[col], errors="coerce").isna()
        if bad.any():
            raise InputError("not a number", file=path, field=col, value=st.loc[bad, col].iloc[0])
    return st.astype({c: float for c in ("lon", "lat", "water_level_m", "warning_level_m")})


def earthquake_event(
    twin: Twin, scenario: EarthquakeScenario, realisations: int, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Sampled ground motion of an earthquake scenario (mainshock and aftershocks).

    Returns ``(asset_intensity, cell_intensity, cell_median)``: per-realisation fields
    ``(R, n_assets)`` and ``(R, n_cells)`` of PGA, PGV, SA(0.3 s) and SA(1.0 s) (float32), and the
    median fields of the mainshock on every unit row (NaN off cells) for maps and tables.

    Several events are combined by the per-site maximum of each measure in each realisation. With
    the engine's one uniform draw per asset and realisation (an asset's capacity does not change
    between shocks), the state at the maximum intensity equals the maximum of the states the
    shocks would cause one by one — the documented "max over events" rule — while cumulative
    weakening by earlier shocks is not modelled.
    """
    from rescity.hazard.earthquake import ground_motion
    from rescity.hazard.scenario import earthquake_fields

    eq = scenario
    cells, clon, clat = cell_positions(twin)
    urban = twin.units["urban_share"].to_numpy(float)
    site_cell = cells[asset_cells(twin)]
    lon = np.concatenate([twin.assets["lon"].to_numpy(float), clon])
    lat = np.concatenate([twin.assets["lat"].to_numpy(float), clat])
    u = np.concatenate([urban[site_cell], urban[cells]])
    fields = earthquake_fields(eq, lon, lat, realisations, seed, urban_share=u)
    na = twin.n_assets
    asset_int: dict[str, np.ndarray] = {}
    cell_int: dict[str, np.ndarray] = {}
    for m in fields[0]:
        v = fields[0][m]
        for f in fields[1:]:
            v = np.maximum(v, f[m])
        asset_int[m] = v[:, :na]
        cell_int[m] = v[:, na:]
    src = eq.mainshock
    med = ground_motion(
        src, clon, clat, eq.vs30, eq.gmpe, region=eq.region, urban_share=urban[cells], beyond="zero"
    )
    cell_median = {}
    for m in ("pga_g", "pgv_cms", "sa03_g", "sa10_g"):
        full = np.full(twin.n_units, np.nan)
        full[cells] = np.asarray(med[m], float)
        cell_median[m] = full
    return asset_int, cell_int, cell_median


