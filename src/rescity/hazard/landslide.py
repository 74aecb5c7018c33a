"""Rain-triggered landslides and debris flows (滑坡、泥石流) from a rainfall threshold.

Trigger
    The storm at a site has total ``P`` (mm) and peak rate ``i`` (mm/h); with the triangular
    hyetograph of :mod:`rescity.hazard.flood` it lasts ``D = clip(2P/i, 1, 500)`` h at a mean
    intensity ``I = P/D``. Landslides start where ``I`` exceeds an intensity–duration threshold
    ``I_c = α D^(−β)``; the default is the global threshold of Caine (1980) for shallow landslides
    and debris flows, ``I_c = 14.82 D^(−0.39)`` (mm/h, 0.167 < D < 500 h). Guzzetti et al.
    (2008)'s global minimum ``I = 2.20 D^(−0.44)`` is shipped as ``guzzetti2008`` (a lower bound:
    nearly every typhoon exceeds it). The measure is the **exceedance ratio**
    ``landslide_ratio = I / I_c(D)`` (dimensionless; 1 = on the threshold).

Where
    Only a small share of a place lies on or below slopes that can fail. The share of assets that
    a triggered landslide can reach, ``landslide_share``, is the susceptible share of the terrain
    class (:data:`SUSCEPTIBLE_SHARE`, mountain / hilly / plain from :mod:`rescity.hazard.terrain`)
    times a factor for long assets that cross many slopes (:data:`KIND_FACTOR`: roads and lines).
    These shares are rescity assumptions of order 10⁻³ for homes in the mountain counties, set so
    that a severe storm damages thousands, not hundreds of thousands, of homes by landslides.

Damage
    ``landslide_share`` is the asset's exposure to the ``landslide`` hazard in the engine (the
    probability that it stands where a slide can reach, as ``flood_fraction`` is for floods);
    the fragility curves of the ``landslide`` hazard (``fragility/data/curves_landslide.csv``)
    give the damage state from ``landslide_ratio`` — the probability that the slope fails and the
    debris damages the asset rises with the exceedance of the threshold.

References
----------
Caine, N., 1980: The rainfall intensity–duration control of shallow landslides and debris flows.
*Geografiska Annaler A* 62, 23–27.
Guzzetti, F., Peruccacci, S., Rossi, M. & Stark, C. P., 2008: The rainfall intensity–duration
control of shallow landslides and debris flows: an update. *Landslides* 5, 3–17.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rescity.errors import InputError


@dataclass(frozen=True)
class IDThreshold:
    """Rainfall intensity–duration threshold ``I = alpha · D^(−beta)`` (mm/h, D in hours)."""

    name: str
    alpha: float
    beta: float
    d_min_h: float
    d_max_h: float
    source: str

    def intensity_mmh(self, duration_h: Any) -> np.ndarray:
        """Threshold mean intensity (mm/h) for rain lasting ``duration_h`` hours."""
        d = np.clip(np.asarray(duration_h, dtype=float), self.d_min_h, self.d_max_h)
        return self.alpha * d ** (-self.beta)


THRESHOLDS: dict[str, IDThreshold] = {
    "caine1980": IDThreshold("caine1980", 14.82, 0.39, 0.167, 500.0,
                             "Caine (1980) Geografiska Annaler A 62:23-27, global ID threshold"),
    "guzzetti2008": IDThreshold("guzzetti2008", 2.20, 0.44, 0.1, 1000.0,
                                "Guzzetti et al. (2008) Landslides 5:3-17, global minimum ID threshold"),
}
DEFAULT_THRESHOLD = "caine1980"
#: Share of the terrain class's assets that lie on or below slopes that can fail (assumption).
SUSCEPTIBLE_SHARE: dict[str, float] = {"mountain": 0.003, "hilly": 0.001, "plain": 0.0}
#: Long assets cross many slopes: factor on the share by asset kind (assumption; default 1).
KIND_FACTOR: dict[str, float] = {
    "local_road": 10.0, "national_road": 10.0, "expressway": 5.0, "feeder_10kv": 10.0,
    "line_110kv": 5.0, "line_220kv": 5.0, "line_500kv": 5.0, "fiber_link": 5.0, "trunk_main": 5.0,
}


def storm_duration_h(rain_mm: Any, rain_rate_mmh: Any, bounds: tuple[float, float] = (1.0, 500.0)) -> np.ndarray:
    """Storm duration (h) ``2P/i`` of the triangular hyetograph, clipped to ``bounds``."""
    p = np.asarray(rain_mm, dtype=float)
    i = np.asarray(rain_rate_mmh, dtype=float)
    return np.clip(np.where(i > 0, 2.0 * p / np.maximum(i, 1e-9), bounds[0]), *bounds)


def exceedance_ratio(rain_mm: Any, rain_rate_mmh: Any, threshold: str | IDThreshold = DEFAULT_THRESHOLD) -> np.ndarray:
    """``I / I_c(D)``: the storm's mean intensity over the threshold intensity of its duration."""
    th = _threshold(threshold)
    p = np.asarray(rain_mm, dtype=float)
    if (p < 0).any() or (np.asarray(rain_rate_mmh, dtype=float) < 0).any():
        raise InputError("rain cannot be negative", field="rain_mm", value=float(np.min(p)))
    d = storm_duration_h(p, rain_rate_mmh)
    return np.where(p > 0, (p / d) / th.intensity_mmh(d), 0.0)


def _threshold(threshold: str | IDThreshold) -> IDThreshold:
    if isinstance(threshold, IDThreshold):
        return threshold
    if threshold not in THRESHOLDS:
        raise InputError(f"unknown landslide threshold; use one of {', '.join(THRESHOLDS)}",
                         field="landslide_threshold", value=threshold)
    return THRESHOLDS[threshold]


def susceptible_share(lon: Any, lat: Any, kind: Any = None) -> np.ndarray:
    """Per site: the share of such sites a triggered slide can reach, terrain class
    (:data:`SUSCEPTIBLE_SHARE`) × kind factor (:data:`KIND_FACTOR`, 1 for other kinds), ≤ 1."""
    from rescity.hazard.terrain import terrain_class

    cls, at = np.unique(terrain_class(lon, lat), return_inverse=True)
    share = np.array([SUSCEPTIBLE_SHARE.get(c) for c in cls.tolist()], dtype=float)[at]
    if kind is not None:
        kinds, at = np.unique(np.asarray(kind, dtype=object).astype(str), return_inverse=True)
        factor = np.array([KIND_FACTOR.get(k, 1.0) for k in kinds.tolist()], dtype=float)[at]
        share = share * factor
    return np.clip(share, 0.0, 1.0)


def landslide_hazard(
    rain_mm: Any,
    rain_rate_mmh: Any,
    lon: Any,
    lat: Any,
    kind: Any = None,
    threshold: str | IDThreshold = DEFAULT_THRESHOLD,
    share: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per site: ``landslide_ratio`` (exceedance of the ID threshold) and ``landslide_share``
    (share of such sites a triggered slide can reach: terrain class × kind factor, ≤ 1;
    :func:`susceptible_share`, or ``share`` when given, computed once for fixed sites)."""
    ratio = exceedance_ratio(rain_mm, rain_rate_mmh, threshold)
    if share is None:
        share = susceptible_share(lon, lat, kind)
    return {"landslide_ratio": ratio, "landslide_share": np.array(share, dtype=float)}
