"""Society indicators from census data: age structure, household size, urbanisation, density.

Values are static (``year`` NaN): the 7th national census (2020) describes every evaluation year.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rescity.assess.indicators import long_table

#: Year of the packaged census figures.
CENSUS_YEAR = 2020


def load_counties(path: str | Path | None = None):
    """The packaged Zhejiang counties (GeoDataFrame, 91 rows) or another file of that schema."""
    import geopandas as gpd

    if path is None:
        from rescity.data import path as data_path

        path = data_path("zhejiang_counties.geojson")
    g = gpd.read_file(path)
    g["county_code"] = g["county_code"].astype(str)
    return g


def county_units(counties=None) -> pd.DataFrame:
    """``unit_id``, ``name_zh``, ``name_en``, ``population`` of the counties (census 2020)."""
    g = load_counties() if counties is None else counties
    return pd.DataFrame(
        {
            "unit_id": g["county_code"].astype(str).to_numpy(dtype=object),
            "name_zh": g["name_zh"].astype(str).to_numpy(dtype=object),
            "name_en": g["name_en"].astype(str).to_numpy(dtype=object),
            "population": g["population_2020"].to_numpy(dtype=float),
        }
    )


def census_indicators(counties=None) -> pd.DataFrame:
    """Society indicators of every county from the packaged census table (long value table).

    ``es_elderly_share`` (share aged 65+), ``es_child_share`` (share aged 0–14),
    ``es_household_size`` (persons per household), ``es_urban_share`` (urban population share),
    ``es_population_density`` (people/km²; land area from the county polygon in an equal-area
    projection, EPSG:6933).
    """
    g = load_counties() if counties is None else counties
    ids = g["county_code"].astype(str).to_numpy()
    area_km2 = g.geometry.to_crs(6933).area.to_numpy() / 1e6
    density = g["population_2020"].to_numpy(float) / np.where(area_km2 > 0, area_km2, np.nan)
    parts = [
        long_table(ids, "es_elderly_share", g["share_age_65_plus"], "share"),
        long_table(ids, "es_child_share", g["share_age_0_14"], "share"),
        long_table(ids, "es_household_size", g["mean_household_size"], "persons/household"),
        long_table(ids, "es_urban_share", g["urban_share_2020"], "share"),
        long_table(ids, "es_population_density", density, "people/km2"),
    ]
    return pd.concat(parts, ignore_index=True)


def unit_table_indicators(units: pd.DataFrame, level: str = "county") -> pd.DataFrame:
    """The same society indicators from a twin's ``units`` table, for units at ``level``.

    Household size is ``population / households``; density is ``population / area_km2``. A
    column that is zero everywhere (not filled by the twin's builder) gives no values.
    """
    u = units[units["level"] == level]
    ids = u["unit_id"].astype(str).to_numpy()
    pop = u["population"].to_numpy(float)
    hh = u["households"].to_numpy(float)
    area = u["area_km2"].to_numpy(float)

    def filled(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float)
        return x if np.any(x > 0) else np.full_like(x, np.nan)

    with np.errstate(divide="ignore", invalid="ignore"):
        parts = [
            long_table(ids, "es_elderly_share", filled(u["share_age_65_plus"]), "share"),
            long_table(ids, "es_child_share", filled(u["share_age_0_14"]), "share"),
            long_table(ids, "es_household_size", np.where(hh > 0, pop / hh, np.nan), "persons/household"),
            long_table(ids, "es_urban_share", filled(u["urban_share"]), "share"),
            long_table(ids, "es_population_density", np.where(area > 0, pop / area, np.nan), "people/km2"),
        ]
    return pd.concat(parts, ignore_index=True)
