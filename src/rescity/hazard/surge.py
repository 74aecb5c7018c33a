"""Storm surge of a typhoon at sites: peak surge at landfall spread along and inland from the coast.

Model (documented in ``docs/hazard-flood.md``):

1. **Landfall**: the first point of the hourly-interpolated track whose centre lies within
   ``landfall_km`` (default 20 km) of the packaged coastline (:mod:`rescity.hazard.coast`).
   A storm that never comes that close causes no surge.
2. **Peak surge** at landfall (:func:`rescity.hazard.flood.surge_height_m`)::

       η = Δp / (ρ_w g)  +  ρ_a C_d V² L / (ρ_w g h)

   inverse barometer (1 hPa ≈ 1 cm) plus steady wind setup over a shelf of depth ``h``
   (default 30 m, the East China Sea inner shelf off Zhejiang) and fetch ``L = 2 Rmax``, with
   Δp, V (the track's maximum sustained wind) and Rmax at landfall, ρ_w = 1025 kg/m³,
   ρ_a = 1.2 kg/m³, C_d = 2.5·10⁻³ (Dean & Dalrymple 2002, *Coastal Processes*, §5).
3. **Depth at a site** (:func:`rescity.hazard.flood.surge_depth`)::

       depth = max(η · exp(−(d / 2Rmax)²) − 0.1 m/km · coast_km − z, 0)

   with ``d`` the distance (km) from landfall, ``coast_km`` the distance to the coast and ``z``
   the ground elevation from a DEM; without a DEM ``z = 0`` (the coastal plains of Zhejiang lie
   at 2–5 m, so the proxy overstates depths; ``proxy`` is then True).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rescity.hazard import flood
from rescity.hazard.coast import coast_distance_km

#: Distance (km) from the coastline within which the storm centre counts as making landfall.
LANDFALL_KM = 20.0
#: Default shelf depth (m) for the wind setup.
SHELF_DEPTH_M = 30.0


def landfall(track: pd.DataFrame, dt_h: float = 1.0, landfall_km: float = LANDFALL_KM) -> dict[str, float] | None:
    """Position and intensity where the storm reaches the coast: ``lon, lat, dp_hpa, vmax_ms,
    rmax_km``; ``None`` when the centre never comes within ``landfall_km`` of the coastline."""
    from rescity.hazard.typhoon import prepare_track, storm_parameters

    ti = prepare_track(track, dt_h)
    d = coast_distance_km(ti["lon"].to_numpy(float), ti["lat"].to_numpy(float))
    near = np.flatnonzero(d <= landfall_km)
    if near.size == 0:
        return None
    i = int(near[0])
    p = storm_parameters(ti)
    return {
        "lon": float(ti["lon"].iloc[i]),
        "lat": float(ti["lat"].iloc[i]),
        "dp_hpa": float(p["dp_hpa"].iloc[i]),
        "vmax_ms": float(ti["vmax_ms"].iloc[i]),
        "rmax_km": float(p["rmax_km"].iloc[i]),
        "time": str(ti["time"].iloc[i]) if "time" in ti else "",
    }


def storm_surge(
    track: pd.DataFrame,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    dt_h: float = 1.0,
    elevation_m: np.ndarray | None = None,
    shelf_depth_m: float = SHELF_DEPTH_M,
    landfall_km: float = LANDFALL_KM,
) -> dict[str, Any]:
    """Peak storm-surge depth (m) at sites: ``{"surge_depth_m": (n,), "landfall": dict | None,
    "height_m": η, "proxy": bool}`` (``proxy``: no ground elevations were given)."""
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    lf = landfall(track, dt_h, landfall_km)
    proxy = elevation_m is None
    if lf is None:
        return {"surge_depth_m": np.zeros(lon.shape), "landfall": None, "height_m": 0.0, "proxy": proxy}
    eta = flood.surge_height_m(lf["dp_hpa"], lf["vmax_ms"], lf["rmax_km"], shelf_depth_m)
    z = np.zeros(lon.shape) if elevation_m is None else np.nan_to_num(np.asarray(elevation_m, float))
    depth = flood.surge_depth(lon, lat, z, coast_distance_km(lon, lat), lf["lon"], lf["lat"], eta, lf["rmax_km"])
    return {"surge_depth_m": depth, "landfall": lf, "height_m": eta, "proxy": proxy}
