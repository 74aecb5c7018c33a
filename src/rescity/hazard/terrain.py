"""A terrain proxy for Zhejiang, for the rain and landslide models when no DEM is given.

rescity ships no elevation model. Rain and landslides need two things from terrain: how steeply
the ground rises under the storm's wind (orographic lift) and where slopes can fail. Both come
here from the county a site lies in (``rescity/data/zhejiang_counties.geojson``):

* **mountain counties** — the 26 mountain-area counties of Zhejiang's official list
  (山区26县; 浙江省山区26县跨越式高质量发展实施方案 2021–2025): 6 in Quzhou, 9 in Lishui, 5 in
  Wenzhou, 2 in Jinhua, 3 in Taizhou and Chun'an in Hangzhou (:data:`MOUNTAIN_COUNTIES`);
* **plain** — the counties of Jiaxing (the Hangjiahu plain) and the islands of Zhoushan;
* **hilly** — every other county (coastal hills, basins and the Ningshao plain's margins).

Each class has a large-scale slope (m/m), the rise of the ground over the ~10–50 km that a
storm's inflow crosses (not the local hillslope): :data:`SLOPE_BY_CLASS`, rescity assumptions
set with the rain model's check against observed storm totals (docs/hazard-typhoon.md) — the
mountain class 0.035 (the 1,000–1,500 m ridges of southern and western Zhejiang rise over
30–40 km), hilly 0.012, plain 0.002. The ground rises on
average towards the north-west (:data:`UPHILL_DEG` = 315°, from the coast of the East China Sea
to the interior ranges). A site outside every county takes the nearest county's class.

A DEM would replace all of this (slope and aspect per cell); the proxy is documented in
``docs/hazard-typhoon.md`` as a known simplification.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np

#: The 26 mountain-area counties (山区26县), Chinese names as in the packaged county polygons.
MOUNTAIN_COUNTIES: tuple[str, ...] = (
    "柯城区", "衢江区", "江山市", "龙游县", "常山县", "开化县",  # Quzhou 衢州
    "莲都区", "龙泉市", "青田县", "云和县", "庆元县", "缙云县", "遂昌县", "松阳县", "景宁畲族自治县",  # Lishui 丽水
    "永嘉县", "平阳县", "苍南县", "文成县", "泰顺县",  # Wenzhou 温州
    "武义县", "磐安县",  # Jinhua 金华
    "三门县", "天台县", "仙居县",  # Taizhou 台州
    "淳安县",  # Hangzhou 杭州
)
#: Large-scale terrain slope (m/m) of each class (rescity assumptions, see the module docstring).
SLOPE_BY_CLASS: dict[str, float] = {"mountain": 0.035, "hilly": 0.012, "plain": 0.002}
#: Mean direction towards which the ground rises, degrees clockwise from north.
UPHILL_DEG: float = 315.0
PLAIN_PREFECTURES: tuple[str, ...] = ("330400", "330900")  # Jiaxing 嘉兴, Zhoushan 舟山


@lru_cache(maxsize=1)
def _counties() -> tuple[Any, list[dict[str, Any]], np.ndarray]:
    import shapely
    from shapely.geometry import shape

    from rescity.data import path as data_path

    with open(data_path("zhejiang_counties.geojson"), encoding="utf-8") as fh:
        feats = json.load(fh)["features"]
    geoms = [shape(f["geometry"]) for f in feats]
    props = [f["properties"] for f in feats]
    cent = np.array([[g.centroid.x, g.centroid.y] for g in geoms])
    return shapely.STRtree(geoms), props, cent


def county_index(lon: Any, lat: Any) -> np.ndarray:
    """Index (into the packaged county polygons) of the county holding each site; the nearest
    county's centroid for a site outside every polygon."""
    import shapely

    tree, _, cent = _counties()
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    pts = shapely.points(lon, lat)
    site, poly = tree.query(pts, predicate="within")
    out = np.full(lon.size, -1, dtype=np.int64)
    out[site[::-1]] = poly[::-1]  # first polygon wins where borders touch
    miss = out < 0
    if miss.any():
        from scipy.spatial import cKDTree

        k = np.cos(np.deg2rad(30.0))
        _, j = cKDTree(np.c_[cent[:, 0] * k, cent[:, 1]]).query(np.c_[lon[miss] * k, lat[miss]])
        out[miss] = j
    return out


def terrain_class(lon: Any, lat: Any) -> np.ndarray:
    """``"mountain"``, ``"hilly"`` or ``"plain"`` per site (see the module docstring)."""
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    return _terrain_class(lon.tobytes(), lat.tobytes()).copy()


@lru_cache(maxsize=8)
def _terrain_class(lon_bytes: bytes, lat_bytes: bytes) -> np.ndarray:
    """:func:`terrain_class` of the sites given as raw float64 bytes: the same sites (a twin's
    assets or cells, once per forecast member and hazard) are looked up in the polygons once."""
    lon = np.frombuffer(lon_bytes)
    lat = np.frombuffer(lat_bytes)
    _, props, _ = _counties()
    idx = county_index(lon, lat)
    names = np.array([p["name_zh"] for p in props])[idx]
    pref = np.array([str(p["prefecture_code"]) for p in props])[idx]
    out = np.full(idx.size, "hilly", dtype=object)
    out[np.isin(pref, PLAIN_PREFECTURES)] = "plain"
    out[np.isin(names, MOUNTAIN_COUNTIES)] = "mountain"
    return out.astype(str)


def terrain_proxy(lon: Any, lat: Any) -> dict[str, np.ndarray]:
    """Per site: ``slope`` (m/m), ``uphill_deg`` (degrees from north), ``mountain`` (bool)."""
    cls = terrain_class(lon, lat)
    slope = np.vectorize(SLOPE_BY_CLASS.get, otypes=[float])(cls)
    return {"slope": slope, "uphill_deg": np.full(cls.size, UPHILL_DEG), "mountain": cls == "mountain"}
