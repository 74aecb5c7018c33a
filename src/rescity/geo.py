"""Geodesy, once: the Earth radius, great-circle distances and one local projection.

rescity works on a sphere of radius :data:`EARTH_RADIUS_KM` = 6371.0 km (the mean Earth radius;
Moritz 2000, *Geodetic Reference System 1980*, J. Geodesy 74:128–133, gives R₁ = 6371.0088 km;
the difference, 1.4·10⁻⁶ relative, is far below any other error of the models). Distances of
a few hundred km within Zhejiang (27–31.5° N) are good to about 0.3 % against the WGS84
ellipsoid; use :func:`geodesic_km` (pyproj ``Geod``, WGS84) where that matters.

* :func:`haversine_km` — great-circle distance (haversine formula; Sinnott 1984, *Sky and
  Telescope* 68:159).
* :func:`chord_to_km` / :func:`unit_vectors` — for k-d trees on the unit sphere: the chord ``c``
  between two unit vectors is monotone in the arc, ``d = 2R·asin(c/2)``.
* :func:`local_xy_km` / :func:`lonlat_from_local_km` — the one local projection: equirectangular
  about a reference latitude ``lat0``, ``x = R·Δλ·cos φ₀``, ``y = R·Δφ`` (km). Good to ≲ 1 %
  within ~300 km of ``lat0``; used for nearest-neighbour searches and short crew and access legs.
"""

from __future__ import annotations

import numpy as np

#: Mean Earth radius of the rescity sphere, km.
EARTH_RADIUS_KM: float = 6371.0
#: Kilometres per degree of arc on that sphere (π R / 180 = 111.19492664455873 km).
KM_PER_DEG: float = float(np.pi * EARTH_RADIUS_KM / 180.0)


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance between points (degrees), km; broadcasts."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def unit_vectors(lon_deg, lat_deg) -> np.ndarray:
    """``(n, 3)`` unit vectors of points (degrees) on the sphere."""
    lam = np.radians(np.asarray(lon_deg, float))
    phi = np.radians(np.asarray(lat_deg, float))
    c = np.cos(phi)
    return np.column_stack([c * np.cos(lam), c * np.sin(lam), np.sin(phi)])


def chord_to_km(chord) -> np.ndarray:
    """Great-circle distance (km) of a chord between unit vectors: ``2R·asin(c/2)``."""
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(np.asarray(chord, float) / 2.0, 0.0, 1.0))


def km_to_chord(d_km: float) -> float:
    """Chord between unit vectors of a great-circle distance in km (inverse of :func:`chord_to_km`)."""
    return float(2.0 * np.sin(min(d_km / EARTH_RADIUS_KM, np.pi) / 2.0))


def local_xy_km(lon, lat, lat0: float, lon0: float = 0.0) -> np.ndarray:
    """Equirectangular projection about latitude ``lat0`` (and longitude ``lon0``): ``(n, 2)`` km,
    ``x = R·(λ − λ₀)·cos φ₀``, ``y = R·φ`` with ``φ`` in radians (``y`` from the equator)."""
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    return np.column_stack([(lon - lon0) * KM_PER_DEG * np.cos(np.radians(lat0)), lat * KM_PER_DEG])


def lonlat_from_local_km(x_km, y_km, lon0: float, lat0: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`local_xy_km` for offsets ``(x, y)`` km from ``(lon0, lat0)``."""
    lat = lat0 + np.asarray(y_km, float) / KM_PER_DEG
    lon = lon0 + np.asarray(x_km, float) / (KM_PER_DEG * np.cos(np.radians(lat0)))
    return lon, lat


def geodesic_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Distance on the WGS84 ellipsoid (pyproj ``Geod``, Karney 2013), km; for checks and long lines."""
    from pyproj import Geod

    lat1, lon1, lat2, lon2 = np.broadcast_arrays(*(np.asarray(v, float) for v in (lat1, lon1, lat2, lon2)))
    _, _, d = Geod(ellps="WGS84").inv(lon1.ravel(), lat1.ravel(), lon2.ravel(), lat2.ravel())
    return np.asarray(d, float).reshape(lat1.shape) / 1000.0
