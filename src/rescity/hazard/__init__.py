"""Hazards: typhoon wind and rain, flood, landslide, earthquake.

Every hazard model returns intensities at sites as a ``dict[str, numpy.ndarray]`` keyed by an
intensity measure from :data:`MEASURES`. An array has shape ``(n_sites,)`` (one deterministic
field) or ``(n_realisations, n_sites)`` (a field sampled per realisation). Sites are whatever
points the caller passes (usually asset positions, or unit centroids).
"""

#: Intensity measures and their units. Names carry the unit.
MEASURES: dict[str, str] = {
    "wind_ms": "peak 1-min mean wind at 10 m, m/s",
    "gust_ms": "peak 3-s gust at 10 m, m/s",
    "rain_mm": "storm total rainfall, mm",
    "rain_rate_mmh": "peak hourly rain rate, mm/h",
    "flood_depth_m": "peak flood depth above ground, m",
    "landslide_ratio": "storm mean rain intensity over the landslide intensity-duration threshold of its duration, dimensionless",
    "pga_g": "peak ground acceleration, g",
    "pgv_cms": "peak ground velocity, cm/s",
    "sa03_g": "5 %-damped spectral acceleration at 0.3 s, g",
    "sa10_g": "5 %-damped spectral acceleration at 1.0 s, g",
    "pipe_repairs": "expected repairs on a pipe segment from ground shaking (ALA 2001 repair rate × length), count",
}
