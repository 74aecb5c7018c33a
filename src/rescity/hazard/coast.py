"""Distance to the coast from the packaged coastline.

The coastline is Natural Earth 1:10m *land* (public domain), clipped to lon 117.5–125° E,
lat 26–32.5° N (``rescity/data/coastline_zhejiang.csv``, see its ``SOURCES.md``). Distances are
to the nearest point of the line densified to ≤ 0.5 km spacing, on a local equirectangular
projection (error < 0.5 % within a few hundred km, plus ≤ 0.25 km from the densification).
Outside the box the distance is that to the nearest packaged point, so it is only meaningful for
sites within about 100 km of the box.
"""

from __future__ import annotations

import functools
from importlib.resources import files

import numpy as np
import pandas as pd

from rescity.geo import local_xy_km

#: Reference latitude (°) of the local projection of the packaged coastline.
LAT0 = 29.0
_STEP_KM = 0.5


@functools.lru_cache(maxsize=1)
def coastline() -> pd.DataFrame:
    """The packaged coastline points: ``segment, lon, lat`` (degrees)."""
    with files("rescity.data").joinpath("coastline_zhejiang.csv").open("rb") as f:
        return pd.read_csv(f)


def _xy(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return local_xy_km(lon, lat, LAT0)


@functools.lru_cache(maxsize=1)
def _tree():
    from scipy.spatial import cKDTree

    c = coastline()
    xy = _xy(c["lon"].to_numpy(), c["lat"].to_numpy())
    seg = c["segment"].to_numpy()
    a, b = xy[:-1], xy[1:]
    same = seg[:-1] == seg[1:]
    a, b = a[same], b[same]
    n = np.maximum(np.ceil(np.hypot(*(b - a).T) / _STEP_KM).astype(int), 1)
    t = np.concatenate([np.arange(k) / k for k in n])
    start = np.repeat(a, n, axis=0)
    pts = start + (np.repeat(b, n, axis=0) - start) * t[:, None]
    return cKDTree(np.vstack([pts, xy]))


def coast_distance_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Distance (km) from each site to the nearest point of the packaged coastline."""
    d, _ = _tree().query(_xy(np.atleast_1d(lon), np.atleast_1d(lat)))
    return np.asarray(d, float)
