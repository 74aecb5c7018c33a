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
    twin: str = "zhejiang (default)"
    recovery: bool = True
    scenario_file: str | None = None
    recovery_settings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["hazards"] = list(self.hazards)
        return d


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


def event_hazard(
    twin: Twin,
    track: pd.DataFrame,
    model: str = "holland1980",
    hazards: tuple[str, ...] = ("wind", "rain", "flood"),
    dt_h: float = 1.0,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Typhoon intensities at every asset and every cell centroid.

    Returns ``(asset_intensity, cell_intensity)``: dicts of measure → array, the asset arrays of
    length ``twin.n_assets``, the cell arrays of length ``twin.n_units`` (NaN on non-cell rows).
    Wind is evaluated at the assets and the cells together in one pass; flood depth follows from
    the rain (:mod:`rescity.hazard.flood`) when ``"flood"`` is among the hazards.
    """
    from rescity.hazard.typhoon import typhoon_hazard

    cells, clon, clat = cell_positions(twin)
    alon = twin.assets["lon"].to_numpy(float)
    alat = twin.assets["lat"].to_numpy(float)
    lon = np.concatenate([alon, clon])
    lat = np.concatenate([alat, clat])
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
        fl = flood_depths(twin, asset_int, cell_int)
        asset_int.update(fl["asset"])
        cell_int.update(fl["cell"])
    return asset_int, cell_int


def flood_depths(
    twin: Twin, asset_int: dict[str, np.ndarray], cell_int: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Pluvial flood from the storm rain (:func:`rescity.hazard.flood.pluvial_depth`).

    Returns ``flood_depth_m`` (depth in the low-lying, flooded part of a cell) and
    ``flood_fraction`` (the share of the cell that floods) for the assets (each takes its cell's
    values) and the cells, as ``{"asset": {...}, "cell": {...}}``. Without a DEM the flooded share
    comes from the documented low-lying proxy; the damage stage then treats a site as flooded with
    probability ``flood_fraction``, which gives each asset's exact marginal damage probability.
    """
    from rescity.hazard.flood import pluvial_depth

    cells, _, _ = cell_positions(twin)
    table = twin.units.iloc[cells][["lon", "lat", "area_km2", "urban_share"]].reset_index(drop=True)
    res = pluvial_depth(cell_int["rain_mm"][cells], cell_int["rain_rate_mmh"][cells], table)
    depth_c = np.full(twin.n_units, np.nan)
    frac_c = np.full(twin.n_units, np.nan)
    depth_c[cells] = res["flood_depth_m"]
    frac_c[cells] = res["flooded_fraction"]
    pos = twin.unit_index().reindex(twin.assets["unit_id"].to_numpy()).to_numpy()
    ok = ~np.isnan(pos)
    p = pos[ok].astype(np.int64)
    depth_a = np.zeros(twin.n_assets)
    frac_a = np.zeros(twin.n_assets)
    depth_a[ok] = np.nan_to_num(depth_c[p])
    frac_a[ok] = np.nan_to_num(frac_c[p])
    return {
        "asset": {"flood_depth_m": depth_a, "flood_fraction": frac_a},
        "cell": {"flood_depth_m": depth_c, "flood_fraction": frac_c},
        "proxy": bool(res["proxy"]),
    }


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


def hazard_by_unit(twin: Twin, cell_int: dict[str, np.ndarray]) -> pd.DataFrame:
    """Peak wind and gust (max over the unit's cells) and storm rain (area-weighted mean), per unit."""
    m = twin.membership("cell")
    area = twin.units["area_km2"].to_numpy(float)
    out = {}
    for name, col in (("wind_max_ms", "wind_ms"), ("gust_max_ms", "gust_ms")):
        v = cell_int.get(col)
        if v is None:
            out[name] = np.full(twin.n_units, np.nan)
            continue
        vals = np.nan_to_num(v, nan=-np.inf)[m.indices]
        rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        res = np.full(twin.n_units, -np.inf)
        np.maximum.at(res, rows, vals)
        out[name] = np.where(np.isfinite(res), res, np.nan)
    rain = cell_int.get("rain_mm")
    if rain is not None:
        w = np.where(np.isnan(rain), 0.0, area)
        num = m @ (np.nan_to_num(rain) * w)
        den = m @ w
        out["rain_mm"] = np.divide(num, den, out=np.full(twin.n_units, np.nan), where=den > 0)
    else:
        out["rain_mm"] = np.full(twin.n_units, np.nan)
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
        lo, hi = np.quantile(a, q, axis=0)
        cols[f"{name}_p05"] = lo
        cols[f"{name}_p95"] = hi
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
    table[first + rest].to_csv(path, index=False, float_format="%.6g")
    return path


@dataclass
class ScenarioResult:
    """Everything one scenario run produced."""

    settings: ScenarioSettings
    twin: Twin
    track: pd.DataFrame
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
    track = load_track(settings)
    asset_int, cell_int = event_hazard(
        twin, track, model=settings.model, hazards=settings.hazards, dt_h=settings.dt_h
    )
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

    units = unit_table(twin, sim, cell_int)
    res = ScenarioResult(settings, twin, track, asset_int, cell_int, sim, units, timings)
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

    rec = res.recovery
    files: dict[str, Path] = {}
    p = out / "metrics.csv"
    res.metrics.to_csv(p, index=False, float_format="%.6g")
    files["metrics.csv"] = p
    p = out / "qt.csv"
    qt_table(rec).to_csv(p, index=False, float_format="%.5g")
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
