"""Per-unit result tables: the mean and 90 % interval of every quantity over realisations,
the share of assets damaged per system, and the hazard summary of each unit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rescity.hazard.registry import summary_columns
from rescity.twin.model import Twin
from rescity.twin.systems import service_outputs

if TYPE_CHECKING:
    from rescity.engine.runner import SimulationResult


def quantities() -> dict[str, str]:
    """Quantities reported per unit, with their unit of measure: affected people, the service
    output of every registered system (:mod:`rescity.twin.systems`), homes damaged."""
    return {"affected": "people", **{o: "people" for o in service_outputs()}, "homes_damaged": "households"}


#: Hazard summary columns always present in ``units.csv`` (NaN when the run lacks the hazard).
ALWAYS_HAZARD_COLUMNS: tuple[str, ...] = ("wind_max_ms", "gust_max_ms", "rain_mm")


def hazard_by_unit(twin: Twin, cell_int: dict[str, np.ndarray]) -> pd.DataFrame:
    """Hazard per unit from per-cell values (unit-length arrays, NaN off cells).

    Peaks (wind, gust, flood and surge depth, ground motion) are the maximum over the unit's cells; storm
    rain is the area-weighted mean. ``wind_max_ms``, ``gust_max_ms`` and ``rain_mm`` are always
    present (NaN when the scenario has no such hazard); the others only when computed.
    """
    m = twin.membership("cell")
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    area = twin.units["area_km2"].to_numpy(float)
    out = {}
    for col, (measure, how) in summary_columns().items():
        v = cell_int.get(measure)
        if v is None or np.ndim(v) != 1 or len(v) != twin.n_units:
            if col in ALWAYS_HAZARD_COLUMNS:
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
    twin: Twin, sim: SimulationResult, cell_int: dict[str, np.ndarray], q: tuple[float, float] = (0.05, 0.95)
) -> pd.DataFrame:
    """One row per unit: ids, names, population, mean, median and 90 % interval of every quantity,
    share of assets damaged per system, and the hazard summary. Columns of ``units.csv`` first.

    Means are exact; quantiles are exact when ``sim`` kept every realisation and, for the cells of
    a streamed run (``keep="summary"``), within the sketch's bound (:mod:`rescity.engine.streaming`).
    """
    u = twin.units
    base = u[["unit_id", "level", "parent_id", "name_zh", "name_en", "population"]].reset_index(drop=True)
    cols: dict[str, np.ndarray] = {}
    for name in quantities():
        cols[f"{name}_mean"] = sim.mean(name)
        lo, med, hi = sim.quantile(name, (q[0], 0.5, q[1]))
        cols[f"{name}_p05"] = lo
        cols[f"{name}_p95"] = hi
        cols[f"{name}_p50"] = med
    for system in sim.systems_with_assets:
        name = f"damaged_share_{system}"
        cols[f"damaged_{system}_mean"] = sim.mean(name)
        lo, hi = sim.quantile(name, q)
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


