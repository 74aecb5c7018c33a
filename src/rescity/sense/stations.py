"""The station table: where each gauge stands, its county, and a river gauge's stages.

The packaged table (``sense_stations.csv``) is **synthetic**: one weather station in each of
Zhejiang's 91 counties and river gauges in a subset of them, placed at seeded random points
inside the county polygons by :func:`make_stations`, with invented but plausible stages. It
exists so the rules, the demo recording and the tests have sites with names, counties and
stages; a city replaces it with its own table (same columns) via ``--stations``.

Columns: ``station_id``, ``kind`` (``weather`` | ``river``), ``name_zh``, ``name_en``,
``county_code``, ``county_zh``, ``county_en``, ``prefecture_code``, ``prefecture_zh``,
``prefecture_en``, ``population`` (county residents, 2020 census), ``lon``, ``lat`` (degrees
WGS84), ``base_stage_m`` (normal stage), ``warning_stage_m`` (警戒水位), ``guaranteed_stage_m``
(保证水位), ``record_stage_m`` (historical highest stage), ``source``. Stages are metres above the
station datum; empty for weather stations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.seeds import DEFAULT_SEED

PACKAGED = "sense_stations.csv"
COLUMNS: tuple[str, ...] = (
    "station_id",
    "kind",
    "name_zh",
    "name_en",
    "county_code",
    "county_zh",
    "county_en",
    "prefecture_code",
    "prefecture_zh",
    "prefecture_en",
    "population",
    "lon",
    "lat",
    "base_stage_m",
    "warning_stage_m",
    "guaranteed_stage_m",
    "record_stage_m",
    "source",
)
STAGES: tuple[str, ...] = ("base_stage_m", "warning_stage_m", "guaranteed_stage_m", "record_stage_m")
KINDS: tuple[str, ...] = ("weather", "river")


@dataclass
class Stations:
    """The station table with fast lookups by ``station_id``."""

    table: pd.DataFrame

    def __post_init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {
            str(r["station_id"]): r for r in self.table.to_dict(orient="records")
        }

    @classmethod
    def load(cls, path: str | Path | None = None) -> Stations:
        """Read a station table (the packaged synthetic one by default) and check it."""
        if path is None:
            from rescity.data import path as data_path

            path = data_path(PACKAGED)
        p = Path(path)
        # text stays text (no county is called "NA"); only empty stages are missing
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
        for c in ("population", *STAGES):
            if c in df.columns:
                df[c] = pd.to_numeric(df[c].replace("", np.nan), errors="coerce")
        for c in ("station_id", "kind", "lon", "lat"):
            if c not in df.columns:
                raise InputError("the station table lacks a column", file=p, field=c)
        for c in COLUMNS:
            if c not in df.columns:
                df[c] = np.nan if c in STAGES or c == "population" else ""
        dup = df["station_id"].duplicated()
        if dup.any():
            raise InputError("station ids must be unique", file=p, field="station_id", value=df["station_id"][dup].iloc[0])
        bad = ~df["kind"].isin(KINDS)
        if bad.any():
            raise InputError(f"kind must be one of {', '.join(KINDS)}", file=p, field="kind", value=df["kind"][bad].iloc[0])
        for c in ("lon", "lat", *STAGES):
            df[c] = pd.to_numeric(df[c], errors="coerce")
        bad = ~df["lon"].between(-180, 180) | ~df["lat"].between(-90, 90)
        if bad.any():
            raise InputError("lon/lat must be degrees", file=p, field="lon", value=df["station_id"][bad].iloc[0])
        river = df["kind"] == "river"
        w, g = df["warning_stage_m"], df["guaranteed_stage_m"]
        bad = river & (w.isna() | g.isna() | (g < w))
        if bad.any():
            raise InputError(
                "a river station needs warning_stage_m ≤ guaranteed_stage_m",
                file=p,
                field="guaranteed_stage_m",
                value=df["station_id"][bad].iloc[0],
            )
        df = df[list(COLUMNS)].fillna({"source": ""})
        return cls(df.reset_index(drop=True))

    @property
    def ids(self) -> list[str]:
        return list(self._rows)

    def __contains__(self, station: str) -> bool:
        return station in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, station: str) -> dict[str, Any] | None:
        """The station's row as a dict, or ``None``."""
        return self._rows.get(station)

    def stage(self, station: str, name: str) -> float | None:
        r = self._rows.get(station)
        if r is None:
            return None
        v = r.get(name)
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def _random_points(geom, n: int, rng: np.random.Generator) -> np.ndarray:
    import shapely

    x0, y0, x1, y1 = geom.bounds
    out: list[tuple[float, float]] = []
    while len(out) < n:
        xy = rng.uniform((x0, y0), (x1, y1), size=(64, 2))
        inside = shapely.contains_xy(geom, xy[:, 0], xy[:, 1])
        out.extend(map(tuple, xy[inside]))
    return np.asarray(out[:n])


def make_stations(seed: int = DEFAULT_SEED, river_share: float = 1.0) -> pd.DataFrame:
    """The synthetic station table: a weather station per county, river gauges in about
    ``river_share`` of the counties, at seeded random points inside the county polygons.

    Stages (m above the station datum) are invented: normal stage ``b ~ U(2, 25)``, warning
    stage ``b + U(2.5, 4.5)``, guaranteed stage ``warning + U(1, 2.5)``, record stage
    ``guaranteed + U(0.3, 1.5)``.
    """
    import geopandas as gpd

    from rescity.data import path as data_path

    rng = np.random.default_rng(np.random.SeedSequence(seed))
    counties = gpd.read_file(data_path("zhejiang_counties.geojson")).sort_values("county_code")
    pref = pd.read_csv(data_path("zhejiang_prefectures.csv"), dtype={"prefecture_code": str}).set_index(
        "prefecture_code"
    )
    rows = []
    src = f"synthetic: rescity.sense.stations.make_stations(seed={seed})"
    for c in counties.itertuples():
        code = str(c.county_code)
        p = pref.loc[str(c.prefecture_code)]
        name_en = c.name_en if isinstance(c.name_en, str) and c.name_en.strip() else f"{p['name_en']} {code}"
        common = {
            "county_code": code,
            "county_zh": c.name_zh,
            "county_en": name_en,
            "prefecture_code": str(c.prefecture_code),
            "prefecture_zh": p["name_zh"],
            "prefecture_en": p["name_en"],
            "population": int(c.population_2020),
            "source": src,
        }
        has_river = rng.uniform() < river_share
        pts = _random_points(c.geometry, 2, rng)
        rows.append(
            {
                "station_id": f"W{code}",
                "kind": "weather",
                "name_zh": f"{c.name_zh}气象站",
                "name_en": f"{name_en} weather station",
                "lon": round(float(pts[0, 0]), 5),
                "lat": round(float(pts[0, 1]), 5),
                **dict.fromkeys(STAGES, np.nan),
                **common,
            }
        )
        if has_river:
            b = rng.uniform(2, 25)
            w = b + rng.uniform(2.5, 4.5)
            g = w + rng.uniform(1.0, 2.5)
            r = g + rng.uniform(0.3, 1.5)
            rows.append(
                {
                    "station_id": f"H{code}",
                    "kind": "river",
                    "name_zh": f"{c.name_zh}水文站",
                    "name_en": f"{name_en} river gauge",
                    "lon": round(float(pts[1, 0]), 5),
                    "lat": round(float(pts[1, 1]), 5),
                    "base_stage_m": round(b, 2),
                    "warning_stage_m": round(w, 2),
                    "guaranteed_stage_m": round(g, 2),
                    "record_stage_m": round(r, 2),
                    **common,
                }
            )
    return pd.DataFrame(rows)[list(COLUMNS)]
