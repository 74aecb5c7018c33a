"""Typhoon rainfall at sites: a PHRaM-form model (R-CLIPER + shear + terrain), or R-CLIPER alone.

R-CLIPER (rainfall climatology and persistence; Tuleya, DeMaria & Kuligowski 2007, after
Marks & DeMaria 2003 and Lonfat, Marks & Chen 2004) is an axisymmetric rain rate that depends on
the distance ``r`` from the centre and the storm's 1-min maximum wind ``Vmax`` (kn):

``U = 1 + (Vmax − 35)/33``
``T0 = a1 + b1 U``, ``Tm = a2 + b2 U`` (in/day), ``rm = a3 + b3 U``, ``re = a4 + b4 U`` (km)
``R(r) = T0 + (Tm − T0) r/rm``   for ``r < rm``
``R(r) = Tm exp(−(r − rm)/re)``  for ``r ≥ rm``

with the NHC bias-adjusted coefficients of Tuleya et al. (2007) in :data:`RCLIPER`. The outer
exponential (e-folding 130–150 km) is the azimuthal mean of the outer rain bands.

PHRaM (the default, ``model="phram"``) follows the structure of the Parametric Hurricane Rainfall
Model of Lonfat, Rogers, Marks & Chen (2007): the R-CLIPER rate, an asymmetry from vertical wind
shear, and a term for the forced ascent of the storm's wind over terrain::

    R(r, θ) = s · R_CLIPER(r) · [1 + A1 cos(θ − θ_DSL)] + 3600 · C_w · max(V_s · ∇h, 0) · m(r)

* ``s`` (:attr:`PhramParameters.scale`, 1.2) — R-CLIPER was fitted to US landfalls; set so that
  the storm-average rain over Zhejiang of Lekima 2019 matches the CMA figure (165 mm).
* Shear (Chen, Knaff & Marks 2006, *Mon. Wea. Rev.* 134, 3190–3208: TRMM composites put the
  rain maximum downshear-left): wavenumber 1 of amplitude ``A1 = 0.5`` (rescity choice), its
  maximum at ``θ_DSL``, 90° to the left of the shear vector. We have no shear analyses, so the
  shear is the climatological summer deep-layer shear over East China, from the south-west
  (``shear_from_deg`` 225°): the maximum lies north-west of the centre.
* Terrain: the upslope rain of Smith & Barstad (2004, *J. Atmos. Sci.* 61, 1377–1391) in its
  linear limit ``P = C_w V·∇h`` (kg m⁻² s⁻¹; ×3600 → mm/h) with ``C_w = ρ_s Γ_m/γ`` = 0.023 kg
  m⁻³ (saturation vapour density at 25 °C) × 3.9/6.5 K/km = 0.0138 kg m⁻³. ``V_s`` is a
  modified Rankine surface wind (``Vmax·r/Rmax`` inside, ``Vmax (Rmax/r)^0.6`` outside, turned
  20° inwards; ``Rmax`` from the track or Vickery & Wadhera 2008), ``∇h`` the slope and uphill
  direction of the site (a DEM would give them; without one, the county-class proxy of
  :mod:`rescity.hazard.terrain`: 0.035 in the 26 mountain counties, 0.012 in hilly ones, 0.002
  on the plain, rising to the north-west). ``m(r) = exp(−max(r − rm, 0)/L_m)`` keeps the lift
  to the storm's moist air: ``L_m`` (:attr:`PhramParameters.moist_efold_km`, 300 km) is the
  e-folding of the moist envelope of the circulation beyond R-CLIPER's ``rm``. The upslope term
  needs near-saturated inflow, not rain already falling, so its reach is wider than the
  130–150 km e-folding of R-CLIPER's azimuthal-mean rain rate (an earlier version used
  ``min(R_CLIPER(r)/Tm, 1)`` and put storms landfalling in Fujian 3–5 times below the gauges of
  southern Zhejiang). ``L_m`` is set with the gauge table of docs/hazard-typhoon.md: the
  smallest value at which the spread across storms of the station ratios stops falling.
* Decay over land and rain after landfall come from the track: the CMA best track follows the
  storm inland until it dissipates and its weakening wind lowers ``Tm``; the rain goes on while
  the centre is within :data:`rescity.hazard.typhoon.CUTOFF_KM`.

Storm totals integrate the rate at each site along the (hourly) track, so slow storms rain longer.
An optional per-site ``enhancement`` factor multiplies the rate (1 by default). The check against
observed station totals is in docs/hazard-typhoon.md.

References
----------
Tuleya, R. E., DeMaria, M. & Kuligowski, R. J., 2007: Evaluation of GFDL and simple statistical
model rainfall forecasts for U.S. landfalling tropical storms. *Wea. Forecasting* 22, 56–70.
Lonfat, M., Marks, F. D. & Chen, S. S., 2004: Precipitation distribution in tropical cyclones
using the Tropical Rainfall Measuring Mission (TRMM) Microwave Imager: a global perspective.
*Mon. Wea. Rev.* 132, 1645–1660.
Lonfat, M., Rogers, R., Marks, T. & Marks, F. D., 2007: A parametric model for predicting
hurricane rainfall. *Mon. Wea. Rev.* 135, 3086–3097.
Smith, R. B. & Barstad, I., 2004: A linear theory of orographic precipitation. *J. Atmos. Sci.*
61, 1377–1391.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.hazard._geometry import Block, SiteFrame
from rescity.hazard.track import KN_TO_MS
from rescity.hazard.typhoon import CUTOFF_KM, prepare_track

#: R-CLIPER coefficients (Tuleya et al. 2007): a1, b1, a2, b2 in inch/day; a3, b3, a4, b4 in km.
RCLIPER: dict[str, float] = {
    "a1": -1.10,
    "b1": 3.96,
    "a2": -1.60,
    "b2": 4.80,
    "a3": 64.5,
    "b3": -13.0,
    "a4": 150.0,
    "b4": -16.0,
}
#: mm/h per inch/day.
INCH_PER_DAY_TO_MMH: float = 25.4 / 24.0

RAIN_MODELS: tuple[str, ...] = ("phram", "rcliper")


@dataclass(frozen=True)
class PhramParameters:
    """Parameters of the PHRaM-form rain model (see the module docstring for each term).

    ``scale`` multiplies R-CLIPER (fitted: see docs/hazard-typhoon.md); ``shear_amplitude`` the
    wavenumber-1 amplitude; ``shear_from_deg`` the direction the deep-layer shear comes from;
    ``cw_kg_m3`` the uplift sensitivity ``C_w`` of Smith & Barstad (2004); ``inflow_deg`` and
    ``rankine_exponent`` shape the surface wind that lifts the air over the terrain;
    ``moist_efold_km`` the e-folding of the moist envelope that the upslope term acts on.
    """

    scale: float = 1.2
    shear_amplitude: float = 0.5
    shear_from_deg: float = 225.0
    cw_kg_m3: float = 0.0138
    inflow_deg: float = 20.0
    rankine_exponent: float = 0.6
    moist_efold_km: float = 300.0


def rcliper_parameters(vmax_ms: Any) -> dict[str, np.ndarray]:
    """R-CLIPER ``T0``, ``Tm`` (mm/h), ``rm``, ``re`` (km) for 1-min maximum winds in m/s."""
    c = RCLIPER
    u = 1.0 + (np.asarray(vmax_ms, dtype=float) / KN_TO_MS - 35.0) / 33.0
    return {
        "T0": (c["a1"] + c["b1"] * u) * INCH_PER_DAY_TO_MMH,
        "Tm": (c["a2"] + c["b2"] * u) * INCH_PER_DAY_TO_MMH,
        "rm": np.maximum(c["a3"] + c["b3"] * u, 1.0),
        "re": np.maximum(c["a4"] + c["b4"] * u, 1.0),
    }


def rcliper_rate(r_km: Any, vmax_ms: Any) -> np.ndarray:
    """R-CLIPER rain rate (mm/h) at distance ``r_km`` from a storm of 1-min wind ``vmax_ms``."""
    p = rcliper_parameters(vmax_ms)
    r = np.asarray(r_km, dtype=float)
    inner = p["T0"] + (p["Tm"] - p["T0"]) * r / p["rm"]
    outer = p["Tm"] * np.exp(-(r - p["rm"]) / p["re"])
    return np.maximum(np.where(r < p["rm"], inner, outer), 0.0)


def _enhancement(n: int, enhancement: Any) -> np.ndarray:
    if enhancement is None:
        return np.ones(n)
    a = np.asarray(enhancement, dtype=float)
    a = np.full(n, float(a)) if a.ndim == 0 else a.ravel()
    if a.size != n:
        raise InputError(f"needs one value per site ({n}), got {a.size}", field="enhancement", value=a.size)
    if (a < 0).any() or not np.isfinite(a).all():
        raise InputError("an enhancement factor must be ≥ 0", field="enhancement", value=float(np.min(a)))
    return a


def _unit(deg: float) -> tuple[float, float]:
    a = np.deg2rad(deg)
    return float(np.sin(a)), float(np.cos(a))


def phram_block(
    r_km: np.ndarray,
    re: np.ndarray,
    rn: np.ndarray,
    vmax_ms: np.ndarray,
    rmax_km: np.ndarray,
    slope: np.ndarray,
    uphill_deg: np.ndarray,
    p: PhramParameters,
) -> np.ndarray:
    """PHRaM-form rain rate (mm/h) for a block of (step, site) pairs.

    ``r_km`` distance and ``(re, rn)`` east/north unit vector from the centre to the site;
    ``vmax_ms``, ``rmax_km`` per step (column vectors broadcast against sites); ``slope`` (m/m),
    ``uphill_deg`` per site. See the module docstring for the three terms.
    """
    rc = rcliper_rate(r_km, vmax_ms)
    base = rc * p.scale
    # shear: wavenumber-1, maximum downshear-left of the centre
    ex, ny = _unit(p.shear_from_deg + 180.0 - 90.0)
    asym = 1.0 + p.shear_amplitude * (re * ex + rn * ny)
    # surface wind vector of a modified Rankine vortex turned inwards by the inflow angle
    x = np.maximum(r_km, 1e-3) / rmax_km
    speed = vmax_ms * np.where(x < 1.0, x, x ** (-p.rankine_exponent))
    ca, sa = np.cos(np.deg2rad(p.inflow_deg)), np.sin(np.deg2rad(p.inflow_deg))
    ue = speed * (ca * -rn - sa * re)
    vn = speed * (ca * re - sa * rn)
    ua = np.deg2rad(uphill_deg)
    w = slope * (ue * np.sin(ua) + vn * np.cos(ua))  # V·∇h, m/s of forced ascent
    rm = rcliper_parameters(vmax_ms)["rm"]
    moist = np.exp(-np.maximum(r_km - rm, 0.0) / p.moist_efold_km)
    topo = 3600.0 * p.cw_kg_m3 * np.maximum(w, 0.0) * moist
    return np.maximum(base * asym + topo, 0.0)


def _rate_blocks(
    track: pd.DataFrame,
    lon: Any,
    lat: Any,
    dt_h: float,
    cutoff_km: float,
    model: str = "phram",
    terrain: dict[str, Any] | None = None,
    params: PhramParameters | None = None,
):
    ti = prepare_track(track, dt_h)
    sites = SiteFrame(lon, lat)
    rate_of = block_rate(ti, sites, cutoff_km, model, terrain, params)
    return ti, sites, ((blk.steps, rate_of(blk)) for blk in sites.track_blocks(ti, cutoff_km))


def block_rate(
    ti: pd.DataFrame,
    sites: SiteFrame,
    cutoff_km: float,
    model: str = "phram",
    terrain: dict[str, Any] | None = None,
    params: PhramParameters | None = None,
) -> Callable[[Block], np.ndarray]:
    """The rain rate (mm/h, before enhancement) of one block of (step × site) geometry of the
    resampled track ``ti`` at ``sites``, as a function of the block (zero beyond ``cutoff_km``)."""
    if model not in RAIN_MODELS:
        raise InputError(f"unknown rain model; use one of {', '.join(RAIN_MODELS)}", field="rain_model",
                         value=model)
    clat = ti["lat"].to_numpy(float)
    vmax = ti["vmax_ms"].to_numpy(float)
    if model == "phram":
        from rescity.hazard.typhoon import rmax_vickery_wadhera_2008

        p = params or PhramParameters()
        ter = terrain if terrain is not None else _default_terrain(sites)
        slope = np.broadcast_to(np.asarray(ter["slope"], dtype=float), (sites.n,))
        uphill = np.broadcast_to(np.asarray(ter["uphill_deg"], dtype=float), (sites.n,))
        rmax = ti["rmax_km"].to_numpy(float)
        dp = np.maximum(ti["penv_hpa"].to_numpy(float) - ti["pcen_hpa"].to_numpy(float), 1.0)
        est = rmax_vickery_wadhera_2008(dp, clat)
        rmax = np.clip(np.where(np.isfinite(rmax), rmax, est), 8.0, 200.0)

    def rate_of(blk: Block) -> np.ndarray:
        if model == "rcliper":
            rate = rcliper_rate(blk.r_km, vmax[blk.steps, None])
        else:
            rate = phram_block(blk.r_km, blk.re, blk.rn, vmax[blk.steps, None], rmax[blk.steps, None],
                               slope[None, :], uphill[None, :], p)
        rate[blk.r_km > cutoff_km] = 0.0
        return rate

    return rate_of


def trapezoid_weights(steps: np.ndarray, n_times: int) -> np.ndarray:
    """Weights of the fixes ``steps`` in the trapezoidal time integral over ``n_times`` fixes."""
    last = n_times - 1
    return np.where((steps == 0) | (steps == last), 0.5, 1.0) if last > 0 else np.zeros(len(steps))


def _default_terrain(sites: SiteFrame) -> dict[str, np.ndarray]:
    """Terrain proxy of :mod:`rescity.hazard.terrain` for sites in and near Zhejiang; flat
    elsewhere (sites more than ~1.5° from the province)."""
    from rescity.hazard.terrain import terrain_proxy

    lon, lat = sites.lon, sites.lat
    near = (lon > 117.0) & (lon < 124.0) & (lat > 26.0) & (lat < 32.0)
    slope = np.zeros(sites.n)
    uphill = np.zeros(sites.n)
    if near.any():
        t = terrain_proxy(lon[near], lat[near])
        slope[near] = t["slope"]
        uphill[near] = t["uphill_deg"]
    return {"slope": slope, "uphill_deg": uphill}


def rain_timeseries(
    track: pd.DataFrame,
    lon: Any,
    lat: Any,
    dt_h: float = 1.0,
    *,
    enhancement: Any = None,
    cutoff_km: float = CUTOFF_KM,
    model: str = "phram",
    terrain: dict[str, Any] | None = None,
    params: PhramParameters | None = None,
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Rain rate at sites through a storm's passage.

    Returns
    -------
    times, rate_mmh
        ``DatetimeIndex`` (UTC) of the fixes every ``dt_h`` hours and the ``(n_times, n_sites)``
        R-CLIPER rain rate, mm/h.
    """
    ti, sites, blocks = _rate_blocks(track, lon, lat, dt_h, cutoff_km, model, terrain, params)
    fac = _enhancement(sites.n, enhancement)
    rate = np.zeros((len(ti), sites.n))
    for steps, r in blocks:
        rate[steps] = r * fac
    return pd.DatetimeIndex(ti["time"]), rate


def storm_rain(
    track: pd.DataFrame,
    lon: Any,
    lat: Any,
    dt_h: float = 1.0,
    *,
    enhancement: Any = None,
    cutoff_km: float = CUTOFF_KM,
    model: str = "phram",
    terrain: dict[str, Any] | None = None,
    params: PhramParameters | None = None,
) -> dict[str, np.ndarray]:
    """Storm-total rain and peak rain rate at sites.

    The total is the trapezoidal time integral of the rate over the fixes every ``dt_h`` hours
    (``dt_h`` ≤ 1 h recommended: the rain core is ~50 km wide and storms move 10–30 km/h).

    Returns
    -------
    dict
        ``rain_mm`` (storm total, mm) and ``rain_rate_mmh`` (peak rate, mm/h), shape ``(n_sites,)``.
    """
    ti, sites, blocks = _rate_blocks(track, lon, lat, dt_h, cutoff_km, model, terrain, params)
    fac = _enhancement(sites.n, enhancement)
    total = np.zeros(sites.n)
    peak = np.zeros(sites.n)
    for steps, r in blocks:
        total += trapezoid_weights(steps, len(ti)) @ r
        np.maximum(peak, r.max(axis=0), out=peak)
    return {"rain_mm": total * dt_h * fac, "rain_rate_mmh": peak * fac}
