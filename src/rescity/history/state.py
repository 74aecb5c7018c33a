"""Model state of one storm: the model run once, summarised per cell, cached on disk.

:func:`run_storm` is the one place that runs the model (hazard at the cell
centroids, then the Monte Carlo engine with a modest number of realisations); everything fitted
afterwards (operators, fragility medians, uncertainty) reads the per-cell table it returns, so a
fit never re-runs the physics. When the model changes, bump :data:`MODEL_VERSION` and refit
(``rescity calibrate --storms all``); the cache key holds the twin fingerprint and
:data:`MODEL_VERSION`, so stale states are never reused.

Columns of the state (one row per cell; means over realisations):

=================  ==========  ==========================================================
``unit_id``                    cell id; ``county_id``, ``prefecture_id`` its parents
``population``     people      resident population (census 2020)
``households``     households
``urban_share``    0–1         urban share of the county
``gust_ms``        m/s         peak 3-s gust over the storm
``wind_ms``        m/s         peak 1-min sustained wind
``rain_mm``        mm          storm-total rain
``rain_rate_mmh``  mm/h        peak rain rate
``flood_depth_m``  m           flood depth in the flooded part of the cell
``homes_damaged``  households  homes damaged to moderate or worse (engine fragility)
``no_power``       people      without power at the horizon (12 h)
``no_water``       people      without water at the horizon
``affected_model`` people      the engine's affected count (home damaged or without service)
``asset_loss_cny`` CNY         replacement cost of damaged assets and homes (engine)
=================  ==========  ==========================================================
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.seeds import DEFAULT_SEED

#: Bump when the model's physics changes so cached states are recomputed (2: CMA tracks, the
#: PHRaM-type rain with terrain, rain-river floods and landslides, the open-data power backbone;
#: 3: the upslope rain's moist envelope of 300 km).
MODEL_VERSION = "2026.12-3"
#: Realisations of the engine per storm (the operators use means; damage sampling noise on a
#: province total is well below 1 % at this size).
DEFAULT_REALISATIONS = 20

STATE_COLUMNS = (
    "gust_ms",
    "wind_ms",
    "rain_mm",
    "rain_rate_mmh",
    "flood_depth_m",
    "homes_damaged",
    "no_power",
    "no_water",
    "affected_model",
    "asset_loss_cny",
)


def twin_fingerprint(twin) -> str:
    """Short hash of what a state depends on in the twin: units (ids, population, households) and
    assets (kind, position, fragility class)."""
    h = hashlib.sha256()
    u = twin.units
    h.update(u["unit_id"].astype(str).str.cat(sep=",").encode())
    h.update(np.ascontiguousarray(u[["population", "households"]].to_numpy(np.float64)).tobytes())
    a = twin.assets
    h.update(a["kind"].astype(str).str.cat(sep=",").encode())
    h.update(np.ascontiguousarray(a[["lon", "lat"]].to_numpy(np.float64)).round(5).tobytes())
    if "fragility_class" in a.columns:
        h.update(a["fragility_class"].astype(str).str.cat(sep=",").encode())
    return h.hexdigest()[:12]


def cell_frame(twin) -> pd.DataFrame:
    """The cells of the twin with their county and prefecture and exposure columns."""
    u = twin.units
    cells = u[u["level"] == "cell"]
    parent = dict(zip(u["unit_id"], u["parent_id"], strict=True))
    county = cells["parent_id"].astype(str)
    return pd.DataFrame(
        {
            "unit_id": cells["unit_id"].astype(str).to_numpy(),
            "county_id": county.to_numpy(),
            "prefecture_id": county.map(parent).astype(str).to_numpy(),
            "lon": cells["lon"].to_numpy(float),
            "lat": cells["lat"].to_numpy(float),
            "population": cells["population"].to_numpy(float),
            "households": cells["households"].to_numpy(float),
            "urban_share": cells["urban_share"].to_numpy(float),
        }
    )


def hazard_fields(twin, track: pd.DataFrame) -> dict[str, np.ndarray]:
    """Peak gust, wind, storm rain (and flood) at the cell centroids, in cell order."""
    from rescity.hazard.event import typhoon_event

    _, cell_int = typhoon_event(twin, track, sites="cells")
    mask = (twin.units["level"] == "cell").to_numpy()
    return {k: np.nan_to_num(np.asarray(v, float)[mask]) for k, v in cell_int.items()}


def run_storm(twin, track: pd.DataFrame, realisations: int = DEFAULT_REALISATIONS, seed: int = DEFAULT_SEED):
    """One storm through the model (the same functions :func:`rescity.run.run_scenario` wires:
    :func:`rescity.hazard.event.typhoon_event` at the cell centroids, then
    :func:`rescity.engine.event.simulate_event`) → the per-cell state table (see module doc)."""
    from rescity.engine.event import simulate_event
    from rescity.forecast.indicators import indicators_from_result
    from rescity.hazard.event import typhoon_event

    asset_int, cell_int = typhoon_event(twin, track, sites="cells")
    res = simulate_event(
        twin, (asset_int, cell_int), realisations, seed, simulate_kw={"keep_states": True, "keep": "all"}
    )  # the indicators read every realisation of every cell
    ind = indicators_from_result(twin, res, cell_int)
    mask = (twin.units["level"] == "cell").to_numpy()
    out = cell_frame(twin)

    def field(name):
        v = cell_int.get(name)
        return np.zeros(mask.sum()) if v is None else np.nan_to_num(np.asarray(v, float)[mask])

    for k in ("gust_ms", "wind_ms", "rain_mm", "rain_rate_mmh", "flood_depth_m"):
        out[k] = field(k)
    out["homes_damaged"] = np.asarray(res.homes_damaged, float).mean(axis=0)[mask]
    out["no_power"] = np.asarray(res.no_power, float).mean(axis=0)[mask]
    out["no_water"] = np.asarray(res.no_water, float).mean(axis=0)[mask]
    out["affected_model"] = np.asarray(res.affected, float).mean(axis=0)[mask]
    out["asset_loss_cny"] = np.asarray(ind["economic_loss_cny"], float).mean(axis=0)[mask]
    return out


def cache_dir(home=None) -> Path:
    """``$RESCITY_HOME/cache/storm_state`` (default ``~/.rescity``)."""
    base = Path(home) if home is not None else Path(os.environ.get("RESCITY_HOME", Path.home() / ".rescity"))
    return base / "cache" / "storm_state"


def state_path(
    twin, key: str, *, realisations: int = DEFAULT_REALISATIONS, seed: int = DEFAULT_SEED, home=None
) -> Path:
    """The cache file of the state of ``key`` (a storm, e.g. ``201910``, or a hindcast issuance,
    ``201910-h24``): keyed by twin fingerprint, :data:`MODEL_VERSION`, realisations and seed."""
    name = f"{key}-{twin_fingerprint(twin)}-{MODEL_VERSION}-r{realisations}-s{seed}.parquet"
    return cache_dir(home) / name


def cached_state(
    twin, key: str, *, realisations: int = DEFAULT_REALISATIONS, seed: int = DEFAULT_SEED, home=None
) -> pd.DataFrame | None:
    """The state of ``key`` from the cache when the same settings were run before, else ``None``."""
    p = state_path(twin, key, realisations=realisations, seed=seed, home=home)
    return pd.read_parquet(p) if p.exists() else None


def save_state(
    state: pd.DataFrame,
    twin,
    key: str,
    *,
    realisations: int = DEFAULT_REALISATIONS,
    seed: int = DEFAULT_SEED,
    home=None,
) -> Path:
    """Write a state that :func:`run_storm` returned to the cache (see :func:`cached_state`)."""
    p = state_path(twin, key, realisations=realisations, seed=seed, home=home)
    p.parent.mkdir(parents=True, exist_ok=True)
    state.to_parquet(p, index=False)
    return p


def best_track(sn: str) -> pd.DataFrame:
    """The packaged best track of a storm (CMA where the packaged set provides it, else JTWC)."""
    from rescity.hazard.track import packaged_track

    return packaged_track(str(sn))
