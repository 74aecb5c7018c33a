"""Flood depth from rain (pluvial), rivers above warning stage, and storm surge.

Pluvial
    Runoff by the SCS curve number method (USDA NRCS 1986, *Urban Hydrology for Small Watersheds*,
    TR-55, Eq. 2-1 to 2-4)::

        Q = (P − Ia)² / (P − Ia + S)  for P > Ia, else 0;   S = 25400/CN − 254 (mm);   Ia = 0.2 S

    applied to the cumulative rain of a hyetograph. The urban drainage network removes runoff up
    to a capacity set by its design return period: the Chinese storm-intensity formula
    (暴雨强度公式, GB 50014-2021 §4.1.9)::

        q = A (1 + C lg P) / (t + b)^n   [L/(s·ha)],   i = q / 167  [mm/min]

    at t = 60 min gives the design rain rate; times the composite runoff coefficient ψ (GB 50014
    Table 4.1.8, 0.6–0.7 for dense districts; default 0.65) it is the runoff the pipes carry, in
    mm/h. Runoff the pipes cannot take is stored on the surface and drains when capacity frees;
    the peak of that storage is the excess. It ponds in the low-lying part of the cell:

    * with a DEM (GeoTIFF, read with ``rasterio``; extra ``flood``): each cell's excess volume fills
      the DEM window around the cell centroid ("bathtub") up to a level ``H``; depth at a site is
      ``max(H − z_site, 0)``.
    * without a DEM (``proxy=True`` in the result): the excess collects in a low-lying fraction
      ``f_low = 0.30 − 0.15 · urban_share`` of the cell (an assumption: ditches, paddies and
      hollows in rural cells, streets and underpasses in urban ones), so its depth is
      ``excess / f_low``; a site is in the low part with probability ``f_low``.

    Rain comes as a series per cell (gauges or the typhoon rain model, mm per step) or as a total
    and a peak hourly rate, turned into a triangular hyetograph of base ``2P/i_peak`` with the peak
    at 0.4 of the duration (the peak position commonly used for Chicago design storms in China),
    or as a design storm from the storm-intensity formula.

River from the storm rain (no gauges)
    :func:`rain_river_depth`: runoff (SCS) above that of the design storm of the reach's flood
    protection standard (GB 50201-2014; storm-intensity formula at the storm's duration) stands
    on the cell's floodplain share. Mountain torrents (山洪) are the same mechanism on narrow
    valley floors.

River
    Where a gauging station's water level exceeds its warning stage (警戒水位), cells within the
    station's reach (default 5 km) whose ground lies below the water level are flooded to
    ``level − ground``. Without ground elevations the depth falls linearly from
    ``level − warning`` at the station to zero at the reach (proxy).

Storm surge (optional)
    A parametric estimate: inverse barometer (1 hPa ≈ 1 cm, ``Δp/(ρ_w g)``) plus the steady wind
    setup over a shelf of depth h and fetch L, ``ρ_a C_d U² L / (ρ_w g h)`` (e.g. Dean & Dalrymple
    2002, *Coastal Processes*, §5), decaying along the coast with distance from landfall
    (Gaussian, scale 2 Rmax) and inland at 0.1 m/km; spread as a bathtub over ground elevation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.geo import KM_PER_DEG, local_xy_km
from rescity.seeds import DEFAULT_SEED

RHO_WATER = 1025.0  # kg/m³, sea water
RHO_AIR = 1.2
G = 9.81


@dataclass(frozen=True)
class StormFormula:
    """Storm-intensity formula q = A(1 + C lg P)/(t + b)^n in L/(s·ha), t in minutes."""

    name: str
    a: float
    c: float
    b: float
    n: float
    source: str

    def intensity_mm_per_min(self, return_period_yr: np.ndarray, duration_min: np.ndarray) -> np.ndarray:
        p = np.asarray(return_period_yr, dtype=float)
        if (p <= 0).any():
            raise InputError("return period must be positive", field="drainage_rp", value=float(p.min()))
        q = self.a * (1.0 + self.c * np.log10(p)) / (np.asarray(duration_min, dtype=float) + self.b) ** self.n
        return q / 167.0


STORM_FORMULAS: dict[str, StormFormula] = {
    "shanghai_2017": StormFormula(
        "shanghai_2017", 1600.0, 0.846, 7.0, 0.656,
        "Shanghai storm-intensity formula, DB31/T 1043-2017 (上海市暴雨强度公式)",
    ),
    "beijing": StormFormula(
        "beijing", 2001.0, 0.811, 8.0, 0.711,
        "Beijing storm-intensity formula, as given in the GB 50014 commentary (北京市暴雨强度公式)",
    ),
}
DEFAULT_FORMULA = "shanghai_2017"
RUNOFF_COEFFICIENT = 0.65

#: SCS curve numbers (hydrologic soil group C, good condition), TR-55 Tables 2-2a and 2-2b.
CN_TR55_C: dict[str, float] = {
    "impervious": 98.0,
    "commercial": 94.0,  # 85 % impervious
    "industrial": 91.0,  # 72 % impervious
    "residential_1_8_acre": 90.0,  # 65 % impervious
    "open_space_good": 74.0,
    "row_crops_straight_good": 85.0,
    "woods_good": 70.0,
}
CN_URBAN = CN_TR55_C["residential_1_8_acre"]
CN_RURAL = 0.5 * (CN_TR55_C["row_crops_straight_good"] + CN_TR55_C["woods_good"])


def scs_runoff_mm(rain_mm: np.ndarray, cn: np.ndarray) -> np.ndarray:
    """Direct runoff Q (mm) from rain P (mm) and curve number CN (TR-55 Eq. 2-1 to 2-4)."""
    p = np.maximum(np.asarray(rain_mm, dtype=float), 0.0)
    cn = np.asarray(cn, dtype=float)
    if ((cn <= 0) | (cn > 100)).any():
        raise InputError("curve number must lie in (0, 100]", field="cn", value=float(np.ravel(cn)[0]))
    s = 25400.0 / cn - 254.0
    ia = 0.2 * s
    pe = np.maximum(p - ia, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(pe > 0, pe * pe / (pe + s), 0.0)
    return q


def curve_number_from_urban_share(urban_share: np.ndarray) -> np.ndarray:
    """Composite CN: ``u · 90 + (1 − u) · 77.5`` (TR-55, soil group C; residential 1/8 acre for the
    urban part, half row crops and half woods for the rest)."""
    u = np.clip(np.asarray(urban_share, dtype=float), 0.0, 1.0)
    return u * CN_URBAN + (1.0 - u) * CN_RURAL


def drainage_capacity_mmh(
    return_period_yr: np.ndarray,
    formula: Union[str, StormFormula] = DEFAULT_FORMULA,
    runoff_coefficient: float = RUNOFF_COEFFICIENT,
) -> np.ndarray:
    """Runoff (mm/h) a network designed for ``return_period_yr`` carries: ψ · i(P, 60 min) · 60."""
    f = STORM_FORMULAS[formula] if isinstance(formula, str) else formula
    return runoff_coefficient * f.intensity_mm_per_min(return_period_yr, 60.0) * 60.0


def design_storm(
    return_period_yr: float, duration_h: float, formula: Union[str, StormFormula] = DEFAULT_FORMULA
) -> tuple[float, float]:
    """Total rain (mm) of a ``duration_h`` design storm and its peak hourly rate (mm/h)."""
    f = STORM_FORMULAS[formula] if isinstance(formula, str) else formula
    total = float(f.intensity_mm_per_min(return_period_yr, duration_h * 60.0) * duration_h * 60.0)
    peak = float(f.intensity_mm_per_min(return_period_yr, 60.0) * 60.0)
    return total, peak


def triangular_hyetograph(rain_mm: np.ndarray, rain_rate_mmh: np.ndarray, steps: int = 48,
                          peak_position: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative rain (steps + 1, n) of a triangular storm of total P and peak rate i, and the
    step length (n,) in hours. Base duration ``max(2P/i, 1 h)``."""
    p = np.maximum(np.asarray(rain_mm, dtype=float), 0.0)
    i = np.asarray(rain_rate_mmh, dtype=float)
    dur = np.maximum(np.where(i > 0, 2.0 * p / np.maximum(i, 1e-9), 1.0), 1.0)
    tau = np.linspace(0.0, 1.0, steps + 1)[:, None]
    r = peak_position
    cum = np.where(tau <= r, r * (tau / r) ** 2, 1.0 - (1.0 - r) * ((1.0 - tau) / (1.0 - r)) ** 2)
    return cum * p, dur / steps


def ponded_excess_mm(
    cum_rain_mm: np.ndarray, dt_h: np.ndarray, cn: np.ndarray, capacity_mmh: np.ndarray
) -> np.ndarray:
    """Peak surface storage (mm) of runoff the drains cannot carry.

    ``cum_rain_mm`` (T + 1, n) cumulative rain, ``dt_h`` step (n,) or scalar. Storage follows
    ``S_k = max(S_{k−1} + ΔQ_k − capacity·Δt, 0)``; the result is ``max_k S_k``.
    """
    q = scs_runoff_mm(cum_rain_mm, cn)
    dq = np.diff(q, axis=0)
    drain = np.asarray(capacity_mmh, dtype=float) * np.asarray(dt_h, dtype=float)
    s = np.zeros(dq.shape[1:])
    peak = np.zeros(dq.shape[1:])
    for k in range(dq.shape[0]):  # over time steps, vectorised over cells
        s = np.maximum(s + dq[k] - drain, 0.0)
        peak = np.maximum(peak, s)
    return peak


def low_lying_fraction(urban_share: np.ndarray) -> np.ndarray:
    """Proxy share of a cell where surface water collects: ``0.30 − 0.15 · urban_share``."""
    return 0.30 - 0.15 * np.clip(np.asarray(urban_share, dtype=float), 0.0, 1.0)


def _column(cells: pd.DataFrame, name: str, value: Any, default: Any) -> np.ndarray:
    n = len(cells)
    if value is not None:
        return np.broadcast_to(np.asarray(value, dtype=float), (n,)).astype(float)
    if name in cells.columns:
        return cells[name].to_numpy(float)
    if default is None:
        raise InputError("cells table lacks a column and no value was given", field=name)
    return np.broadcast_to(np.asarray(default, dtype=float), (n,)).astype(float)


def pluvial_depth(
    rain_mm: Optional[np.ndarray],
    rain_rate_mmh: Optional[np.ndarray],
    cells: pd.DataFrame,
    cn: Optional[np.ndarray] = None,
    drainage_rp: Optional[np.ndarray] = None,
    dem: Union[str, Path, None] = None,
    *,
    rain_series_mm: Optional[np.ndarray] = None,
    step_h: float = 1.0,
    formula: Union[str, StormFormula] = DEFAULT_FORMULA,
    runoff_coefficient: float = RUNOFF_COEFFICIENT,
) -> dict[str, Any]:
    """Pluvial flood depth per cell.

    Parameters
    ----------
    rain_mm, rain_rate_mmh:
        Storm total (mm) and peak hourly rate (mm/h) per cell (e.g. from the typhoon rain model);
        ignored when ``rain_series_mm`` is given.
    cells:
        Table with ``lon``, ``lat``, ``area_km2`` and optionally ``urban_share``, ``cn``,
        ``drainage_rp`` (years) per cell.
    cn:
        SCS curve number per cell; default the ``cn`` column or :func:`curve_number_from_urban_share`.
    drainage_rp:
        Design return period (years) of the drainage network per cell; default the column or 1 year
        (1–3 years is common in Chinese cities).
    dem:
        Path of a DEM GeoTIFF (metres); without one the depth comes from the low-lying proxy.
    rain_series_mm:
        Rain per step (T, n_cells) in mm, steps of ``step_h`` hours (gauge series).

    Returns
    -------
    dict
        ``flood_depth_m`` (n_cells,): depth in the flooded part of the cell (mean over the
        flooded DEM pixels, or ``excess/f_low``); ``flooded_fraction``; ``excess_mm``;
        ``runoff_mm``; ``water_level_m`` (DEM only, else NaN); ``proxy`` (bool, True without a DEM).
    """
    for col in ("lon", "lat", "area_km2"):
        if col not in cells.columns:
            raise InputError("cells table lacks a column", field=col)
    n = len(cells)
    urban = _column(cells, "urban_share", None, 0.5)
    if cn is not None or "cn" in cells.columns:
        cn_v = _column(cells, "cn", cn, None)
    else:
        cn_v = curve_number_from_urban_share(urban)
    rp = _column(cells, "drainage_rp", drainage_rp, 1.0)
    cap = drainage_capacity_mmh(rp, formula, runoff_coefficient)
    if rain_series_mm is not None:
        series = np.asarray(rain_series_mm, dtype=float)
        if series.ndim != 2 or series.shape[1] != n:
            raise InputError("rain_series_mm must have shape (steps, n_cells)", field="rain_series_mm",
                             value=str(series.shape))
        if (series < 0).any():
            raise InputError("rain cannot be negative", field="rain_series_mm", value=float(series.min()))
        cum = np.vstack([np.zeros((1, n)), np.cumsum(series, axis=0)])
        dt = np.full(n, float(step_h))
    else:
        if rain_mm is None or rain_rate_mmh is None:
            raise InputError("give rain_mm and rain_rate_mmh, or rain_series_mm", field="rain_mm")
        p = np.broadcast_to(np.asarray(rain_mm, dtype=float), (n,))
        i = np.broadcast_to(np.asarray(rain_rate_mmh, dtype=float), (n,))
        if (p < 0).any() or (i < 0).any():
            raise InputError("rain cannot be negative", field="rain_mm", value=float(min(p.min(), i.min())))
        cum, dt = triangular_hyetograph(p, i)
    runoff = scs_runoff_mm(cum[-1], cn_v)
    excess = ponded_excess_mm(cum, dt, cn_v, cap)
    if dem is None:
        f = low_lying_fraction(urban)
        depth = excess / 1000.0 / f
        return {"flood_depth_m": depth, "flooded_fraction": np.where(excess > 0, f, 0.0), "excess_mm": excess,
                "runoff_mm": runoff, "water_level_m": np.full(n, np.nan), "proxy": True}
    level, depth, frac = _bathtub_dem(Path(dem), cells["lon"].to_numpy(float), cells["lat"].to_numpy(float),
                                      cells["area_km2"].to_numpy(float), excess / 1000.0)
    return {"flood_depth_m": depth, "flooded_fraction": frac, "excess_mm": excess, "runoff_mm": runoff,
            "water_level_m": level, "proxy": False}


def _open_dem(path: Path) -> Any:
    try:
        import rasterio
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputError("a DEM GeoTIFF needs rasterio: pip install 'rescity[flood]'", file=path) from None
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    return rasterio.open(path)


def fill_level(z: np.ndarray, pixel_area_m2: float, volume_m3: float) -> tuple[float, int]:
    """Water level H filling the lowest pixels of ``z`` with ``volume_m3``, and pixels flooded.

    Solves ``Σ max(H − z_i, 0) · a = V`` exactly on the sorted elevations.
    """
    zs = np.sort(z[np.isfinite(z)])
    if zs.size == 0 or volume_m3 <= 0:
        return (float(zs[0]) if zs.size else float("nan")), 0
    csum = np.cumsum(zs)
    k = np.arange(1, zs.size + 1)
    vol_at = pixel_area_m2 * (k * zs - csum)  # volume when the level reaches zs[k-1]
    j = int(np.searchsorted(vol_at, volume_m3, side="right"))  # pixels below the level
    j = max(j, 1)
    level = (volume_m3 / pixel_area_m2 + csum[j - 1]) / j
    return float(level), j


def _bathtub_dem(path: Path, lon: np.ndarray, lat: np.ndarray, area_km2: np.ndarray,
                 excess_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from rasterio.transform import rowcol
    from rasterio.windows import Window

    level = np.full(lon.size, np.nan)
    depth = np.zeros(lon.size)
    frac = np.zeros(lon.size)
    with _open_dem(path) as ds:
        if ds.crs is not None and not ds.crs.is_geographic:
            raise InputError("the DEM must be in geographic lon/lat (EPSG:4326)", file=path, field="crs",
                             value=str(ds.crs))
        for c in np.flatnonzero(excess_m > 0):  # one window per flooding cell (cells, not assets)
            half = 0.5 * math.sqrt(max(area_km2[c], 1e-6))
            dlat = half / KM_PER_DEG
            dlon = dlat / max(math.cos(math.radians(lat[c])), 1e-6)
            rows, cols = rowcol(ds.transform, [lon[c] - dlon, lon[c] + dlon], [lat[c] + dlat, lat[c] - dlat])
            r0, r1 = sorted(int(v) for v in rows)
            c0, c1 = sorted(int(v) for v in cols)
            win = Window(c0, r0, c1 - c0 + 1, r1 - r0 + 1)
            z = ds.read(1, window=win, boundless=True, fill_value=np.nan, masked=False).astype(float)
            if ds.nodata is not None:
                z[z == ds.nodata] = np.nan
            good = np.isfinite(z)
            if not good.any():
                continue
            a = area_km2[c] * 1e6 / good.sum()
            vol = excess_m[c] * area_km2[c] * 1e6
            h, k = fill_level(z[good], a, vol)
            level[c] = h if k else np.nan
            if k:
                frac[c] = k / good.sum()
                depth[c] = vol / (k * a)
    return level, depth, frac


def sample_dem(dem: Union[str, Path], lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """DEM elevation (m) at points (NaN outside the raster or on nodata)."""
    path = Path(dem)
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    with _open_dem(path) as ds:
        vals = np.array([v[0] for v in ds.sample(zip(lon, lat, strict=True), masked=False)], dtype=float)
        if ds.nodata is not None:
            vals[vals == ds.nodata] = np.nan
        from rasterio.transform import rowcol

        rows, cols = (np.asarray(v) for v in rowcol(ds.transform, lon, lat))
        outside = (rows < 0) | (cols < 0) | (rows >= ds.height) | (cols >= ds.width)
        vals[outside] = np.nan
    return vals


def depth_at_sites(
    result: dict[str, Any],
    site_cell: np.ndarray,
    site_elevation_m: Optional[np.ndarray] = None,
    realisations: Optional[int] = None,
    seed: int = DEFAULT_SEED,
    first: int = 0,
) -> np.ndarray:
    """Flood depth (m) at sites from a :func:`pluvial_depth` result.

    With a DEM result and site elevations: ``max(H_cell − z_site, 0)``, shape ``(n_sites,)``.
    With the proxy: each site lies in the low part of its cell with probability
    ``flooded_fraction`` — drawn per realisation from ``SeedSequence(seed, spawn_key=(first + r,))``
    — and then has the cell's depth; shape ``(realisations, n_sites)``. Without ``realisations``
    the proxy returns the expected depth ``flooded_fraction · depth`` (no site is singled out).
    """
    cell = np.asarray(site_cell, dtype=np.int64)
    if not result["proxy"]:
        if site_elevation_m is None:
            raise InputError("site elevations are needed with a DEM result", field="site_elevation_m")
        h = result["water_level_m"][cell]
        d = np.where(np.isfinite(h), np.maximum(h - np.asarray(site_elevation_m, dtype=float), 0.0), 0.0)
        return np.nan_to_num(d)
    depth = result["flood_depth_m"][cell]
    frac = result["flooded_fraction"][cell]
    if realisations is None:
        return depth * frac
    out = np.empty((realisations, cell.size))
    for r in range(realisations):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(first + r,))))
        out[r] = np.where(rng.random(cell.size) < frac, depth, 0.0)
    return out


# -- rivers --------------------------------------------------------------------------------------
def river_depth(
    lon: np.ndarray,
    lat: np.ndarray,
    stations: pd.DataFrame,
    elevation_m: Optional[np.ndarray] = None,
    reach_km: float = 5.0,
) -> dict[str, Any]:
    """Flood depth (m) at sites from river stations above their warning stage.

    ``stations`` has ``lon``, ``lat``, ``water_level_m`` and ``warning_level_m`` (same vertical
    datum as the elevations, e.g. 1985 National Height Datum) and optionally ``reach_km``. Each site
    takes its nearest station; it floods when that station is above warning, the site lies within
    the reach, and (with elevations) the ground is below the water level: depth = level − ground.
    Without elevations: ``(level − warning) · (1 − d/reach)`` (``proxy=True``).
    """
    from scipy.spatial import cKDTree

    for col in ("lon", "lat", "water_level_m", "warning_level_m"):
        if col not in stations.columns:
            raise InputError("stations table lacks a column", field=col)
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    lat0 = float(np.mean(stations["lat"]))
    sxy = local_xy_km(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float), lat0)
    dist, idx = cKDTree(sxy).query(local_xy_km(lon, lat, lat0))
    level = stations["water_level_m"].to_numpy(float)[idx]
    warn = stations["warning_level_m"].to_numpy(float)[idx]
    reach = (stations["reach_km"].to_numpy(float)[idx] if "reach_km" in stations.columns
             else np.full(lon.size, float(reach_km)))
    active = (level > warn) & (dist <= reach)
    if elevation_m is None:
        depth = np.where(active, (level - warn) * np.clip(1.0 - dist / reach, 0.0, 1.0), 0.0)
        return {"flood_depth_m": depth, "station": idx, "proxy": True}
    z = np.asarray(elevation_m, dtype=float).ravel()
    depth = np.where(active & np.isfinite(z), np.maximum(level - z, 0.0), 0.0)
    return {"flood_depth_m": depth, "station": idx, "proxy": False}


# -- rivers and mountain torrents from the storm rain (no gauges) -----------------------------
#: Flood-protection standard (years) of rural and of urban river reaches, after GB 50201-2014
#: 防洪标准 (Table 4.2.1: rural protection areas 10–20 years; Table 4.1.1: middle-sized cities
#: 50–100 years): a cell's standard is ``rural + (urban − rural) · urban_share``.
PROTECTION_RP_RURAL: float = 20.0
PROTECTION_RP_URBAN: float = 50.0
#: Share of a cell's land on the floodplain or valley floor where river water stands, by terrain
#: class of :mod:`rescity.hazard.terrain` (rescity assumptions: narrow valley floors in the
#: mountains, broad river plains and polders on the plain).
FLOODPLAIN_SHARE: dict[str, float] = {"mountain": 0.08, "hilly": 0.12, "plain": 0.20}
#: Bounds of the storm duration (h) used for the design rain: 2P/i from the triangular hyetograph.
DURATION_BOUNDS_H: tuple[float, float] = (6.0, 72.0)


def design_rain_mm(return_period_yr: Any, duration_h: Any,
                   formula: Union[str, StormFormula] = DEFAULT_FORMULA) -> np.ndarray:
    """Rain depth (mm) of the ``return_period_yr`` storm of ``duration_h`` hours from the
    storm-intensity formula: ``i(P, t) · t`` with ``t = 60 · duration_h`` minutes."""
    f = STORM_FORMULAS[formula] if isinstance(formula, str) else formula
    t = 60.0 * np.asarray(duration_h, dtype=float)
    return f.intensity_mm_per_min(return_period_yr, t) * t


def rain_river_depth(
    rain_mm: np.ndarray,
    rain_rate_mmh: np.ndarray,
    cells: pd.DataFrame,
    protection_rp: Optional[np.ndarray] = None,
    floodplain_share: Optional[np.ndarray] = None,
    cn: Optional[np.ndarray] = None,
    formula: Union[str, StormFormula] = DEFAULT_FORMULA,
) -> dict[str, Any]:
    """River and mountain-torrent (山洪) flood depth per cell from the storm rain, without gauges.

    A cell's rivers are built to carry the flood of its protection standard ``T`` (years;
    :data:`PROTECTION_RP_RURAL` to :data:`PROTECTION_RP_URBAN` by urban share). The storm, of
    total ``P`` and peak rate ``i``, lasts ``D = clip(2P/i, 6, 72)`` h (the triangular
    hyetograph of :func:`triangular_hyetograph`); the design storm of the same duration has
    ``P_T = i(T, D)·D`` from the storm-intensity formula. With runoff ``Q = Q_SCS(P)`` and
    ``Q_T = Q_SCS(P_T)`` as triangular hydrographs of the same duration, the channel carries the
    design peak throughout and the volume above it — the triangle cut at ``Q_T/Q`` of its height —
    overtops the banks: ``V = (Q − Q_T)² / Q`` (mm over the cell). It stands on the cell's
    floodplain share ``f_fp`` (:data:`FLOODPLAIN_SHARE` by terrain class): depth ``V / f_fp``,
    flooded fraction ``f_fp``. Each cell is taken as its own catchment (no routing
    from upstream cells): a documented proxy where no river gauges or DEM are given.

    ``cells`` needs ``lon``, ``lat`` and optionally ``urban_share``, ``cn``, ``protection_rp``,
    ``floodplain_share``. Returns ``flood_depth_m``, ``flooded_fraction``, ``overflow_mm``,
    ``design_rain_mm``, ``duration_h`` and ``proxy`` (True).
    """
    for col in ("lon", "lat"):
        if col not in cells.columns:
            raise InputError("cells table lacks a column", field=col)
    n = len(cells)
    p = np.broadcast_to(np.asarray(rain_mm, dtype=float), (n,))
    i = np.broadcast_to(np.asarray(rain_rate_mmh, dtype=float), (n,))
    if (p < 0).any() or (i < 0).any():
        raise InputError("rain cannot be negative", field="rain_mm", value=float(min(p.min(), i.min())))
    urban = _column(cells, "urban_share", None, 0.5)
    cn_v = _column(cells, "cn", cn, None) if (cn is not None or "cn" in cells.columns) \
        else curve_number_from_urban_share(urban)
    rp = (_column(cells, "protection_rp", protection_rp, None)
          if (protection_rp is not None or "protection_rp" in cells.columns)
          else PROTECTION_RP_RURAL + (PROTECTION_RP_URBAN - PROTECTION_RP_RURAL) * np.clip(urban, 0, 1))
    if floodplain_share is not None or "floodplain_share" in cells.columns:
        f = _column(cells, "floodplain_share", floodplain_share, None)
    else:
        from rescity.hazard.terrain import terrain_class

        cls = terrain_class(cells["lon"].to_numpy(float), cells["lat"].to_numpy(float))
        f = np.vectorize(FLOODPLAIN_SHARE.get, otypes=[float])(cls)
    if ((f <= 0) | (f > 1)).any():
        raise InputError("floodplain share must lie in (0, 1]", field="floodplain_share", value=float(f.min()))
    dur = np.clip(np.where(i > 0, 2.0 * p / np.maximum(i, 1e-9), DURATION_BOUNDS_H[0]), *DURATION_BOUNDS_H)
    pt = design_rain_mm(rp, dur, formula)
    q, qt = scs_runoff_mm(p, cn_v), scs_runoff_mm(pt, cn_v)
    with np.errstate(invalid="ignore", divide="ignore"):
        over = np.where(q > qt, (q - qt) ** 2 / np.maximum(q, 1e-12), 0.0)
    depth = over / 1000.0 / f
    return {"flood_depth_m": depth, "flooded_fraction": np.where(over > 0, f, 0.0), "overflow_mm": over,
            "design_rain_mm": pt, "duration_h": dur, "proxy": True}


# -- storm surge ---------------------------------------------------------------------------------
def surge_height_m(
    pressure_deficit_hpa: float,
    vmax_ms: float,
    rmax_km: float,
    shelf_depth_m: float = 30.0,
    fetch_km: Optional[float] = None,
    drag_coefficient: float = 2.5e-3,
) -> float:
    """Peak surge (m): inverse barometer ``Δp/(ρ_w g)`` plus wind setup ``ρ_a C_d U² L/(ρ_w g h)``.

    ``fetch_km`` defaults to 2·Rmax (the band of hurricane-force wind crossing the shelf).
    """
    if pressure_deficit_hpa < 0 or vmax_ms < 0 or rmax_km <= 0 or shelf_depth_m <= 0:
        raise InputError("surge needs Δp ≥ 0, Vmax ≥ 0, Rmax > 0 and shelf depth > 0", field="surge",
                         value=(pressure_deficit_hpa, vmax_ms, rmax_km, shelf_depth_m))
    fetch = (2.0 * rmax_km if fetch_km is None else fetch_km) * 1000.0
    ib = pressure_deficit_hpa * 100.0 / (RHO_WATER * G)
    setup = RHO_AIR * drag_coefficient * vmax_ms**2 * fetch / (RHO_WATER * G * shelf_depth_m)
    return float(ib + setup)


def surge_depth(
    lon: np.ndarray,
    lat: np.ndarray,
    elevation_m: np.ndarray,
    coast_distance_km: np.ndarray,
    landfall_lon: float,
    landfall_lat: float,
    height_m: float,
    rmax_km: float,
    inland_decay_m_per_km: float = 0.1,
) -> np.ndarray:
    """Bathtub surge depth (m): ``max(η·exp(−(d/2Rmax)²) − decay·coast_km − z, 0)``, with ``d`` the
    distance (km) from landfall along the coast (taken as the straight-line distance)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    d = np.hypot(*(local_xy_km(lon.ravel(), lat.ravel(), landfall_lat, landfall_lon)
                   - [0.0, landfall_lat * KM_PER_DEG]).T).reshape(lon.shape)
    eta = height_m * np.exp(-((d / (2.0 * rmax_km)) ** 2))
    water = eta - inland_decay_m_per_km * np.maximum(np.asarray(coast_distance_km, dtype=float), 0.0)
    return np.maximum(water - np.asarray(elevation_m, dtype=float), 0.0)


def combine_depths(*depths: np.ndarray) -> np.ndarray:
    """Flood depth from several sources at the same sites: the maximum (water levels do not add
    when rain ponds in a river-flooded area; documented simplification)."""
    arrays = np.broadcast_arrays(*[np.asarray(d, dtype=float) for d in depths])
    return np.maximum.reduce(arrays)
