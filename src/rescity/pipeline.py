"""The scenario pipeline: twin → hazard → damage → cascade → service → tables and report.

One function per stage, each from arrays/tables to arrays/tables:

``event_hazard``
    intensities of one event at every asset and every cell centroid.
``run_event``
    Monte Carlo damage, cascade and service over realisations (:func:`rescity.engine.runner.simulate`).
``unit_table``
    one row per unit (every level) with the mean and 90 % interval of each quantity.
``run_recovery``
    restoration of every realisation (:func:`rescity.engine.recovery.simulate_recovery`) and its
    resilience metrics (:mod:`rescity.metrics`).
``run_scenario``
    all of the above plus ``units.csv``, ``metrics.csv``, ``qt.csv``, Q(t) figures and
    ``report.html`` in an output folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.twin.model import Twin

#: Quantities reported per unit, with their unit of measure.
QUANTITIES: dict[str, str] = {
    "affected": "people",
    "no_power": "people",
    "no_water": "people",
    "no_telecom": "people",
    "no_road": "people",
    "homes_damaged": "households",
}

Progress = Callable[[str, float, float], None]


@dataclass
class ScenarioSettings:
    """What a run was asked to do; written into the report and ``settings.json``."""

    sn: str | None = "201910"
    track_file: str | None = None
    track_format: str = "auto"
    model: str = "holland1980"
    hazards: tuple[str, ...] = ("wind", "rain", "flood")
    realisations: int = 500
    seed: int = 20190809
    horizon_h: float = 12.0
    dt_h: float = 1.0
    workers: int = 1
    quake: str | None = None
    quake_event: dict[str, Any] | None = None  # a catalogue row (strike, dip, rake, mechanism kept)
    aftershocks: tuple[str, ...] = ()
    vs30: float | str | None = None
    dem: str | None = None
    stations: str | None = None
    twin: str = "zhejiang (default)"
    recovery: bool = True
    scenario_file: str | None = None
    recovery_settings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["hazards"] = list(self.hazards)
        d["aftershocks"] = list(self.aftershocks)
        return d

    @property
    def is_quake(self) -> bool:
        return self.quake is not None


#: Calibration parameters the pipeline understands (see :mod:`rescity.forecast.calibrate`).
CALIBRATION_PARAMS: tuple[str, ...] = ("fragility_scale_wind", "fragility_scale_rain", "drainage_rp_yr")


def split_params(params: dict[str, float] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Calibration parameters → keyword arguments of :func:`event_hazard` and of the engine.

    ``fragility_scale_wind`` / ``fragility_scale_rain`` multiply the medians of every wind /
    flood fragility curve (``median_scale`` of :func:`rescity.engine.runner.simulate`);
    ``drainage_rp_yr`` is the design return period (years) of urban drainage in the pluvial
    flood model (:func:`rescity.hazard.flood.pluvial_depth`). Other keys are ignored here.
    """
    params = dict(params or {})
    hazard_kw: dict[str, Any] = {}
    if "drainage_rp_yr" in params:
        hazard_kw["drainage_rp"] = float(params["drainage_rp_yr"])
    scale = {}
    if "fragility_scale_wind" in params:
        scale["wind"] = float(params["fragility_scale_wind"])
    if "fragility_scale_rain" in params:
        scale["flood"] = float(params["fragility_scale_rain"])
    sim_kw: dict[str, Any] = {"median_scale": scale} if scale else {}
    return hazard_kw, sim_kw


def load_track(settings: ScenarioSettings) -> pd.DataFrame:
    """The storm track the settings name: a file, or a storm id in the packaged JTWC best track."""
    from rescity.hazard.track import packaged_track, read_track

    if settings.track_file:
        return read_track(settings.track_file, fmt=settings.track_format, sn=settings.sn)
    return packaged_track(str(settings.sn))


def cell_positions(twin: Twin) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (unit row index, lon, lat) of the cell-level units."""
    cells = np.flatnonzero((twin.units["level"] == "cell").to_numpy())
    return cells, twin.units["lon"].to_numpy()[cells], twin.units["lat"].to_numpy()[cells]


def asset_cells(twin: Twin) -> np.ndarray:
    """For each asset, the position among the cells (0 … n_cells − 1) of the cell it stands in:
    its ``unit_id`` when that is a cell, else the nearest cell centroid."""
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
    return pos.astype(np.int64)


def event_hazard(
    twin: Twin,
    track: pd.DataFrame,
    model: str = "holland1980",
    hazards: tuple[str, ...] = ("wind", "rain", "flood"),
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
    the rain (:mod:`rescity.hazard.flood`) when ``"flood"`` is among the hazards.
    """
    from rescity.hazard.typhoon import typhoon_hazard

    if sites not in ("assets", "cells"):
        raise InputError("sites must be 'assets' or 'cells'", field="sites", value=sites)
    cells, clon, clat = cell_positions(twin)
    if sites == "cells":
        fields = typhoon_hazard(track, clon, clat, model=model, dt_h=dt_h)
        where = asset_cells(twin)
        fields = {m: np.concatenate([np.asarray(v)[where], v]) for m, v in fields.items()}
    else:
        lon = np.concatenate([twin.assets["lon"].to_numpy(float), clon])
        lat = np.concatenate([twin.assets["lat"].to_numpy(float), clat])
        fields = typhoon_hazard(track, lon, lat, model=model, dt_h=dt_h)
    wanted = {"wind": ("wind_ms", "gust_ms"), "rain": ("rain_mm", "rain_rate_mmh")}
    keep = {m for h in hazards for m in wanted.get(h, ())}
    if "flood" in hazards:
        keep |= {"rain_mm", "rain_rate_mmh"}
    na = twin.n_assets
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
    return asset_int, cell_int


def flood_depths(
    twin: Twin,
    asset_int: dict[str, np.ndarray],
    cell_int: dict[str, np.ndarray],
    drainage_rp: float | None = None,
    dem: str | Path | None = None,
    stations: str | Path | None = None,
) -> dict[str, Any]:
    """Flood from the storm rain (:func:`rescity.hazard.flood.pluvial_depth`) and, when a stations
    file is given, from rivers above their warning stage (:func:`rescity.hazard.flood.river_depth`).

    Returns ``flood_depth_m`` and ``flood_fraction`` (the share of the place that floods) for the
    assets and the cells, as ``{"asset": {...}, "cell": {...}, "proxy": bool}``.

    * With a DEM (GeoTIFF, metres): each cell fills its lowest ground with the ponded runoff
      (bathtub); an asset is flooded by ``level − ground elevation`` at its own position, so its
      ``flood_fraction`` is 1.
    * Without one, the documented low-lying proxy gives each cell a flooded share and a depth in
      it; an asset takes its cell's depth and the damage stage treats it as flooded with
      probability ``flood_fraction`` — each asset's exact marginal damage probability. ``proxy``
      is then True and the report says so.
    * River depths (CSV with ``lon, lat, water_level_m, warning_level_m``) are combined with the
      pluvial depth by the maximum; at assets they are evaluated at the asset's position.
    """
    from rescity.hazard.flood import depth_at_sites, pluvial_depth, river_depth, sample_dem

    cells, clon, clat = cell_positions(twin)
    table = twin.units.iloc[cells][["lon", "lat", "area_km2", "urban_share"]].reset_index(drop=True)
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


#: ALA (2001) ground-shaking constant K1 by the twin's pipe fragility class (ductile iron with
#: rubber gaskets 0.5; cast iron with cement joints 1.0).
PIPE_K1: dict[str, float] = {"pipe_ductile": 0.5, "pipe_brittle": 1.0}


def pipe_repairs(twin: Twin, pgv_cms: np.ndarray) -> np.ndarray | None:
    """Expected ground-shaking repairs on each trunk main, ``K1 · RR(PGV) · length`` (ALA 2001),
    shape of ``pgv_cms`` (zero for other assets); ``None`` when the twin has no mains."""
    from rescity.fragility.pipeline import repair_rate_per_km

    a = twin.assets
    mains = (a["kind"] == "trunk_main").to_numpy()
    if not mains.any():
        return None
    k1 = a["fragility_class"].map(PIPE_K1).fillna(1.0).to_numpy(float)
    length = np.where(mains, a["length_km"].to_numpy(float), 0.0)
    return (repair_rate_per_km(pgv_cms) * k1 * length).astype(np.float32)


def quake_hazard(
    twin: Twin, settings: ScenarioSettings
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray], Any]:
    """Sampled ground motion of an earthquake scenario (mainshock and aftershocks).

    Returns ``(asset_intensity, cell_intensity, cell_median, scenario)``: per-realisation fields
    ``(R, n_assets)`` and ``(R, n_cells)`` of PGA, PGV, SA(0.3 s) and SA(1.0 s) (float32), and the
    median fields of the mainshock on every unit row (NaN off cells) for maps and tables.

    Several events are combined by the per-site maximum of each measure in each realisation. With
    the engine's one uniform draw per asset and realisation (an asset's capacity does not change
    between shocks), the state at the maximum intensity equals the maximum of the states the
    shocks would cause one by one — the documented "max over events" rule — while cumulative
    weakening by earlier shocks is not modelled.
    """
    from rescity.hazard.earthquake import ground_motion
    from rescity.hazard.scenario import Scenario, earthquake_fields

    if settings.quake_event is not None:
        base = Scenario.from_cli(quake=settings.quake, aftershocks=settings.aftershocks, vs30=settings.vs30)
        hz = base.hazard.model_dump()
        hz["mainshock"] = {**hz["mainshock"], **settings.quake_event}
        sc = Scenario.load({"name": base.name, "hazard": hz})
    else:
        sc = Scenario.from_cli(quake=settings.quake, aftershocks=settings.aftershocks, vs30=settings.vs30)
    eq = sc.hazard
    cells, clon, clat = cell_positions(twin)
    urban = twin.units["urban_share"].to_numpy(float)
    site_cell = cells[asset_cells(twin)]
    lon = np.concatenate([twin.assets["lon"].to_numpy(float), clon])
    lat = np.concatenate([twin.assets["lat"].to_numpy(float), clat])
    u = np.concatenate([urban[site_cell], urban[cells]])
    fields = earthquake_fields(eq, lon, lat, settings.realisations, settings.seed, urban_share=u)
    na = twin.n_assets
    asset_int: dict[str, np.ndarray] = {}
    cell_int: dict[str, np.ndarray] = {}
    for m in fields[0]:
        v = fields[0][m]
        for f in fields[1:]:
            v = np.maximum(v, f[m])
        asset_int[m] = v[:, :na]
        cell_int[m] = v[:, na:]
    pipes = pipe_repairs(twin, asset_int["pgv_cms"])
    if pipes is not None:
        asset_int["pipe_repairs"] = pipes
    src = eq.mainshock.source()
    med = ground_motion(
        src, clon, clat, eq.vs30, eq.gmpe, region=eq.region, urban_share=urban[cells], beyond="zero"
    )
    cell_median = {}
    for m in ("pga_g", "pgv_cms", "sa03_g", "sa10_g"):
        full = np.full(twin.n_units, np.nan)
        full[cells] = np.asarray(med[m], float)
        cell_median[m] = full
    return asset_int, cell_int, cell_median, sc


def quake_casualties(
    twin: Twin, cell_pga_g: np.ndarray, q: tuple[float, float] = (0.05, 0.95)
) -> pd.DataFrame:
    """Deaths, injuries and displaced people per unit from housing damage under ground shaking.

    ``cell_pga_g`` is ``(R, n_cells)``. Per realisation and cell, the expected casualties of the
    HAZUS-MH building classes mixed by urban share (:func:`rescity.fragility.buildings.earthquake_building_impacts`,
    night-time occupancy), summed to every level; columns ``<q>_mean``, ``_p05``, ``_p95`` for
    ``deaths``, ``injured`` (severities 1–3) and ``displaced``.
    """
    from rescity.fragility.buildings import earthquake_building_impacts

    cells, _, _ = cell_positions(twin)
    u = twin.units
    imp = earthquake_building_impacts(
        np.asarray(cell_pga_g, float),
        u["urban_share"].to_numpy(float)[cells],
        u["population"].to_numpy(float)[cells],
    )
    per_cell = {
        "deaths": imp["deaths"],
        "injured": imp["casualties"][..., :3].sum(axis=-1),
        "displaced": imp["displaced"],
    }
    m = twin.membership("cell")[:, cells]  # units × cells
    out: dict[str, np.ndarray] = {}
    for name, x in per_cell.items():
        by_unit = np.asarray(m @ np.atleast_2d(x).T).T  # (R, n_units)
        out[f"{name}_mean"] = by_unit.mean(axis=0)
        lo, hi = np.quantile(by_unit, q, axis=0)
        out[f"{name}_p05"], out[f"{name}_p95"] = lo, hi
    return pd.DataFrame(out)


def run_event(
    twin: Twin,
    track: pd.DataFrame,
    realisations: int,
    seed: int,
    *,
    model: str = "holland1980",
    hazards: tuple[str, ...] = ("wind", "rain", "flood"),
    horizon_h: float = 12.0,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    intensities: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None,
    simulate_kw: dict[str, Any] | None = None,
):
    """Damage, cascade and service for one storm over ``realisations`` Monte Carlo draws.

    Returns the engine's :class:`~rescity.engine.runner.SimulationResult`.
    """
    from rescity.engine.runner import simulate

    asset_int, cell_int = intensities or event_hazard(twin, track, model=model, hazards=hazards)
    asset_int, cell_int = dict(asset_int), dict(cell_int)
    exposure, cell_exposure = {}, {}
    if "flood_fraction" in asset_int:
        exposure["flood"] = asset_int.pop("flood_fraction")
    if "flood_fraction" in cell_int:
        cell_exposure["flood"] = cell_int.pop("flood_fraction")
    return simulate(
        twin,
        asset_int,
        cell_int,
        realisations,
        seed,
        horizon_h=horizon_h,
        workers=workers,
        progress=progress,
        exposure=exposure,
        cell_exposure=cell_exposure,
        **(simulate_kw or {}),
    )


#: Per-unit hazard summary: column → (measure, how it is aggregated over the unit's cells).
HAZARD_COLUMNS: dict[str, tuple[str, str]] = {
    "wind_max_ms": ("wind_ms", "max"),
    "gust_max_ms": ("gust_ms", "max"),
    "rain_mm": ("rain_mm", "mean"),
    "flood_depth_max_m": ("flood_depth_m", "max"),
    "pga_max_g": ("pga_g", "max"),
    "pgv_max_cms": ("pgv_cms", "max"),
    "sa03_max_g": ("sa03_g", "max"),
    "sa10_max_g": ("sa10_g", "max"),
}


def hazard_by_unit(twin: Twin, cell_int: dict[str, np.ndarray]) -> pd.DataFrame:
    """Hazard per unit from per-cell values (unit-length arrays, NaN off cells).

    Peaks (wind, gust, flood depth, ground motion) are the maximum over the unit's cells; storm
    rain is the area-weighted mean. ``wind_max_ms``, ``gust_max_ms`` and ``rain_mm`` are always
    present (NaN when the scenario has no such hazard); the others only when computed.
    """
    m = twin.membership("cell")
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    area = twin.units["area_km2"].to_numpy(float)
    out = {}
    for col, (measure, how) in HAZARD_COLUMNS.items():
        v = cell_int.get(measure)
        if v is None or np.ndim(v) != 1 or len(v) != twin.n_units:
            if col in ("wind_max_ms", "gust_max_ms", "rain_mm"):
                out[col] = np.full(twin.n_units, np.nan)
            continue
        v = np.asarray(v, float)
        if how == "max":
            res = np.full(twin.n_units, -np.inf)
            np.maximum.at(res, rows, np.nan_to_num(v, nan=-np.inf)[m.indices])
            out[col] = np.where(np.isfinite(res), res, np.nan)
        else:
            w = np.where(np.isnan(v), 0.0, area)
            num = m @ (np.nan_to_num(v) * w)
            den = m @ w
            out[col] = np.divide(num, den, out=np.full(twin.n_units, np.nan), where=den > 0)
    return pd.DataFrame(out)


def unit_table(
    twin: Twin, sim, cell_int: dict[str, np.ndarray], q: tuple[float, float] = (0.05, 0.95)
) -> pd.DataFrame:
    """One row per unit: ids, names, population, mean and 90 % interval of every quantity,
    share of assets damaged per system, and the hazard summary. Columns of ``units.csv`` first."""
    u = twin.units
    base = u[["unit_id", "level", "parent_id", "name_zh", "name_en", "population"]].reset_index(drop=True)
    cols: dict[str, np.ndarray] = {}
    for name in QUANTITIES:
        a = np.asarray(getattr(sim, name), dtype=np.float64)
        cols[f"{name}_mean"] = a.mean(axis=0)
        lo, med, hi = np.quantile(a, (q[0], 0.5, q[1]), axis=0)
        cols[f"{name}_p05"] = lo
        cols[f"{name}_p95"] = hi
        cols[f"{name}_p50"] = med
    for system, a in sim.damaged_share.items():
        a = np.asarray(a, dtype=np.float64)
        cols[f"damaged_{system}_mean"] = a.mean(axis=0)
        lo, hi = np.quantile(a, q, axis=0)
        cols[f"damaged_{system}_p05"] = lo
        cols[f"damaged_{system}_p95"] = hi
    t = pd.concat([base, pd.DataFrame(cols), hazard_by_unit(twin, cell_int)], axis=1)
    driver = getattr(sim, "driver", None)
    if isinstance(driver, pd.DataFrame) and len(driver) == len(t):
        # which hazard drove the damage: mean damaged assets per realisation by hazard, and the main one
        for c in driver.columns:
            name = "driver" if c == "main" else f"damaged_by_{c}_mean"
            t[name] = driver[c].to_numpy()
    return t


UNITS_CSV_COLUMNS: tuple[str, ...] = (
    "unit_id", "level", "parent_id", "name_zh", "name_en", "population",
    "affected_mean", "affected_p05", "affected_p95",
    "no_power_mean", "no_water_mean", "no_telecom_mean", "no_road_mean",
    "wind_max_ms", "gust_max_ms", "rain_mm",
)  # fmt: skip


def write_units_csv(table: pd.DataFrame, path: Path) -> Path:
    """``units.csv``: the documented columns first, then every other column of the table."""
    first = list(UNITS_CSV_COLUMNS)
    rest = [c for c in table.columns if c not in first]
    from rescity.report.tables import write_csv

    return write_csv(table[first + rest], path)


@dataclass
class ScenarioResult:
    """Everything one scenario run produced."""

    settings: ScenarioSettings
    twin: Twin
    track: pd.DataFrame | None
    asset_intensity: dict[str, np.ndarray]
    cell_intensity: dict[str, np.ndarray]
    sim: Any
    units: pd.DataFrame
    timings_s: dict[str, float]
    files: dict[str, Path] = field(default_factory=dict)
    recovery: Any = None
    metrics: pd.DataFrame | None = None


def run_scenario(
    settings: ScenarioSettings,
    out: Path | None,
    *,
    twin: Twin | None = None,
    progress: Progress | None = None,
) -> ScenarioResult:
    """Run a typhoon scenario end to end and, when ``out`` is given, write its outputs there.

    ``progress(stage, done, total)`` is called as stages advance.
    """

    def tick(stage: str, done: float, total: float) -> None:
        if progress is not None:
            progress(stage, done, total)

    timings: dict[str, float] = {}
    rcfg = recovery_config(settings) if settings.recovery else None  # bad scenario files fail first
    if rcfg is not None:
        settings.recovery_settings = rcfg.as_dict()
    t0 = time.perf_counter()
    tick("twin", 0, 1)
    if twin is None:
        from rescity.twin.zhejiang import default_twin

        twin = default_twin(seed=settings.seed)
    tick("twin", 1, 1)
    timings["twin"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tick("hazard", 0, 1)
    if settings.is_quake:
        track = None
        asset_int, cell_int, cell_summary, _ = quake_hazard(twin, settings)
    else:
        track = load_track(settings)
        asset_int, cell_int = event_hazard(
            twin,
            track,
            model=settings.model,
            hazards=settings.hazards,
            dt_h=settings.dt_h,
            dem=settings.dem,
            stations=settings.stations,
        )
        cell_summary = cell_int
    tick("hazard", 1, 1)
    timings["hazard"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sim = run_event(
        twin,
        track,
        settings.realisations,
        settings.seed,
        model=settings.model,
        hazards=settings.hazards,
        horizon_h=settings.horizon_h,
        workers=settings.workers,
        progress=lambda d, t: tick("simulate", d, t),
        intensities=(asset_int, cell_int),
        simulate_kw={"keep_states": True, "keep_functional": True} if settings.recovery else None,
    )
    timings["simulate"] = time.perf_counter() - t0

    units = unit_table(twin, sim, cell_summary)
    if settings.is_quake:
        units = pd.concat([units, quake_casualties(twin, cell_int["pga_g"])], axis=1)
    res = ScenarioResult(settings, twin, track, asset_int, cell_summary, sim, units, timings)
    if settings.recovery:
        t0 = time.perf_counter()
        res.recovery, res.metrics = run_recovery(
            twin, sim, settings, progress=lambda d, t: tick("recovery", d, t), config=rcfg
        )
        timings["recovery"] = time.perf_counter() - t0
    if out is not None:
        t0 = time.perf_counter()
        tick("report", 0, 1)
        write_outputs(res, Path(out))
        tick("report", 1, 1)
        timings["report"] = time.perf_counter() - t0
    return res


def recovery_config(settings: ScenarioSettings):
    """The :class:`~rescity.engine.recovery.RecoveryConfig` of a run (scenario file, then settings)."""
    from rescity.engine.recovery import RecoveryConfig, load_scenario

    if settings.scenario_file:
        cfg = load_scenario(settings.scenario_file)
    else:
        cfg = RecoveryConfig.from_mapping(settings.recovery_settings or {})
    return cfg


def run_recovery(
    twin: Twin,
    sim,
    settings: ScenarioSettings,
    progress: Callable[[int, int], None] | None = None,
    config=None,
):
    """Restoration of every realisation of ``sim`` (which must keep ``states``) and its metrics.

    Returns ``(RecoveryResult, metrics table)``.
    """
    from rescity.engine.recovery import simulate_recovery
    from rescity.errors import InputError
    from rescity.metrics import metrics_table

    if getattr(sim, "states", None) is None:
        raise InputError(
            "recovery needs the damage states: run the simulation with keep_states=True", field="sim"
        )
    cfg = config or recovery_config(settings)
    rec = simulate_recovery(
        twin,
        sim.states,
        config=cfg,
        seed=settings.seed,
        horizon_h=settings.horizon_h,
        functional0=getattr(sim, "functional", None),
        workers=settings.workers,
        progress=progress,
    )
    return rec, metrics_table(rec)


def write_recovery(res: ScenarioResult, out: Path) -> tuple[dict[str, Path], list]:
    """``metrics.csv``, ``qt.csv`` and the Q(t) PNGs; returns the files and the report sections."""
    from rescity.metrics import qt_table
    from rescity.report.recovery import qt_figures, recovery_sections, write_figures
    from rescity.report.tables import write_csv

    rec = res.recovery
    files: dict[str, Path] = {}
    p = out / "metrics.csv"
    write_csv(res.metrics, p)
    files["metrics.csv"] = p
    p = out / "qt.csv"
    write_csv(qt_table(rec), p)
    files["qt.csv"] = p
    figs = qt_figures(rec)
    files.update(write_figures(figs, out))
    return files, recovery_sections(rec, res.metrics, figs)


def write_outputs(res: ScenarioResult, out: Path, extra_sections: list | None = None) -> dict[str, Path]:
    """Write ``units.csv``, ``settings.json``, the recovery outputs (``metrics.csv``, ``qt.csv``,
    ``qt_*.png``) when the run has them, and ``report.html`` into ``out``."""
    from rescity.report.scenario import scenario_report

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "units.csv": write_units_csv(res.units, out / "units.csv"),
    }
    sections = list(extra_sections or [])
    if res.recovery is not None:
        rfiles, rsections = write_recovery(res, out)
        files.update(rfiles)
        sections = rsections + sections
    settings_path = out / "settings.json"
    settings_path.write_text(
        json.dumps(
            {**res.settings.as_dict(), "twin_meta": _jsonable(res.twin.meta)}, indent=2, ensure_ascii=False
        ),
        encoding="utf-8",
    )
    files["settings.json"] = settings_path
    files["report.html"] = scenario_report(res, out / "report.html", extra_sections=sections)
    res.files.update(files)
    return files


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)
