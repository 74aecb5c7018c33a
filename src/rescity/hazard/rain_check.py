"""Check the typhoon rain model against published storm totals in Zhejiang.

The observations (``rescity/hazard/data/typhoon_rain_observed.csv``, each row with its source)
are of two kinds, compared with the model as follows:

``station_max``
    the largest gauge total reported in a county (or prefecture): compared with the **largest
    modelled total over the county**, on a grid of :data:`GRID_DEG` (≈ 5 km) inside the county
    polygon. Gauge maxima sit on ridges and in valleys that a county-class terrain proxy cannot
    resolve, so the model is expected below them (tolerance :data:`STATION_RATIO`).
``province_mean``
    the areal mean over Zhejiang: compared with the mean of the modelled totals over the grid
    points inside the province (tolerance :data:`MEAN_RATIO`).

Both use the packaged CMA best track of the storm and the default rain model
(:func:`rescity.hazard.rain.storm_rain`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Grid spacing of the comparison, degrees.
GRID_DEG: float = 0.05
#: Accepted model/observed ratios: county maximum vs the gauge maximum, and province means.
STATION_RATIO: tuple[float, float] = (0.35, 1.5)
MEAN_RATIO: tuple[float, float] = (0.7, 1.5)


def observed() -> pd.DataFrame:
    """The packaged table of published storm totals (see its SOURCES.md)."""
    p = Path(__file__).with_name("data") / "typhoon_rain_observed.csv"
    return pd.read_csv(p, dtype={"cma": str, "county_zh": str}, keep_default_na=False)


@lru_cache(maxsize=1)
def zhejiang_grid() -> pd.DataFrame:
    """Grid points (``lon``, ``lat``) inside Zhejiang with their ``county_zh`` and ``prefecture``."""
    import shapely

    from rescity.hazard.terrain import _counties

    tree, props, _ = _counties()
    lon, lat = np.meshgrid(np.arange(118.0, 123.2, GRID_DEG), np.arange(27.0, 31.3, GRID_DEG))
    lon, lat = lon.ravel(), lat.ravel()
    site, poly = tree.query(shapely.points(lon, lat), predicate="within")
    site, first = np.unique(site, return_index=True)
    poly = poly[first]
    return pd.DataFrame({
        "lon": lon[site], "lat": lat[site],
        "county_zh": [props[i]["name_zh"] for i in poly],
        "prefecture": [str(props[i]["prefecture_code"]) for i in poly],
    })


def rain_check(storms: Any = None, **rain_kw: Any) -> pd.DataFrame:
    """Modelled against observed storm totals, one row per observation.

    ``storms``: names to keep (``"Lekima"``, …; default all). Extra keywords go to
    :func:`rescity.hazard.rain.storm_rain`. Columns: ``storm, year, what, place_en, observed_mm,
    model_mm, ratio, model_peak_mmh, within`` (ratio inside the tolerance), ``source_title``.
    """
    from rescity.hazard.rain import storm_rain
    from rescity.hazard.track import packaged_track

    obs = observed()
    if storms is not None:
        keep = {str(s).lower() for s in ([storms] if isinstance(storms, str) else storms)}
        obs = obs[obs["storm"].str.lower().isin(keep)]
    grid = zhejiang_grid()
    rows = []
    for (name, year), g in obs.groupby(["storm", "year"], sort=False):
        out = storm_rain(packaged_track(f"{name} {year}"), grid["lon"], grid["lat"], **rain_kw)
        total, peak = out["rain_mm"], out["rain_rate_mmh"]
        for _, o in g.iterrows():
            if o["what"] == "province_mean":
                m, pk, lo_hi = float(total.mean()), float(peak.max()), MEAN_RATIO
            else:
                if o["county_zh"]:
                    sel = (grid["county_zh"] == o["county_zh"]).to_numpy()
                else:  # a prefecture: Wenzhou
                    sel = (grid["prefecture"] == "330300").to_numpy()
                m, pk, lo_hi = float(total[sel].max()), float(peak[sel].max()), STATION_RATIO
            r = m / float(o["observed_mm"])
            rows.append({
                "storm": name, "year": int(year), "what": o["what"], "place_en": o["place_en"],
                "observed_mm": float(o["observed_mm"]), "model_mm": round(m, 1), "ratio": round(r, 2),
                "model_peak_mmh": round(pk, 1), "within": bool(lo_hi[0] <= r <= lo_hi[1]),
                "source_title": o["source_title"],
            })
    return pd.DataFrame(rows)
