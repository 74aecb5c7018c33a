"""Typhoon wind field at sites: Holland (1980) and Holland (2008) parametric vortices.

For each (hourly) fix of an interpolated track and each site within :data:`CUTOFF_KM`:

1. Radius of maximum wind ``Rmax`` from the track, else Vickery & Wadhera (2008)
   (:func:`rmax_vickery_wadhera_2008`).
2. A symmetric vortex ``V(r)``. ``holland1980``: the gradient wind of Holland (1980) with
   Coriolis (:func:`holland1980_wind`), its peak ``Vg`` the best-track wind less the
   translation term at ``Rmax`` (``Vmax − Vt/2``) lifted to gradient level by ``1/K``,
   ``B = ρ e Vc²/Δp`` (:func:`holland_b_1980`) with ``Vc² = Vg² + Vg Rmax f`` its cyclostrophic
   part (so that ``V(Rmax) = Vg`` with Coriolis), clipped to [1, 2.5] (Δp then adjusted to keep
   the peak), and reduced to 10 m by ``K = 0.8`` (:data:`K_GRADIENT_TO_SURFACE`).
   ``holland2008``: the surface wind of Holland (2008), ``b_s`` from his eq.
   (:func:`holland2008_bs`), ``Vms = √(b_s Δp/(ρ e))`` (:func:`holland2008_vmax`) less ``Vt/2``,
   and the radial exponent ``x`` rising linearly from 0.5 at ``Rmax`` (:func:`holland2008_wind`)
   to ``x_n`` at 300 km, ``x_n`` set so that the profile passes through gale force (17.5 m/s)
   there (:func:`holland2008_xn`).
3. Inflow: the wind is turned towards the centre by 10° inside ``Rmax``, rising linearly to 25°
   at 1.2 ``Rmax`` and beyond (Sobey, Harper & Stark 1977).
4. Translation: the storm's motion vector weighted by ``Rmax·r/(Rmax² + r²)`` (Jelesnianski
   1965) is added, so the right of the motion (northern hemisphere) is stronger.
5. Exposure: over land the 10-m wind is reduced for roughness (:func:`roughness_factor`,
   open terrain ``z0 = 0.03 m`` by default) and the 3-s gust is ``G ×`` the 1-min wind with
   ``G = 1.11`` at sea and ``1.23`` over land (Harper, Kepert & Ginger 2010).

References
----------
Holland, G. J., 1980: An analytic model of the wind and pressure profiles in hurricanes.
*Mon. Wea. Rev.* 108, 1212–1218.
Holland, G., 2008: A revised hurricane pressure–wind model. *Mon. Wea. Rev.* 136, 3432–3445.
Holland, G. J., Belanger, J. I. & Fritz, A., 2010: A revised model for radial profiles of
hurricane winds. *Mon. Wea. Rev.* 138, 4393–4401.
Vickery, P. J. & Wadhera, D., 2008: Statistical models of Holland pressure profile parameter and
radius to maximum winds of hurricanes from flight-level pressure and H*Wind data. *J. Appl.
Meteor. Climatol.* 47, 2497–2517.
Sobey, R. J., Harper, B. A. & Stark, K. P., 1977: Numerical simulation of tropical cyclone storm
surge. James Cook University, Dept. of Civil & Systems Engineering, Research Bulletin CS14.
Jelesnianski, C. P., 1965: A numerical calculation of storm tides induced by a tropical storm
impinging on a continental shelf. *Mon. Wea. Rev.* 93, 343–358.
Powell, M. D., Vickery, P. J. & Reinhold, T. A., 2003: Reduced drag coefficient for high wind
speeds in tropical cyclones. *Nature* 422, 279–283.
Franklin, J. L., Black, M. L. & Valde, K., 2003: GPS dropwindsonde wind profiles in hurricanes
and their operational implications. *Wea. Forecasting* 18, 32–44.
Simiu, E. & Scanlan, R. H., 1996: *Wind Effects on Structures*, 3rd ed., Wiley (§2.2).
Harper, B. A., Kepert, J. D. & Ginger, J. D., 2010: Guidelines for converting between various
wind averaging periods in tropical cyclone conditions. WMO/TD-No. 1555.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.hazard._geometry import Block, SiteFrame
from rescity.hazard.track import TRACK_COLUMNS, interpolate_track

MODELS: tuple[str, ...] = ("holland1980", "holland2008")

#: Air density in the boundary layer, kg/m³ (Holland 2008 uses 1.15).
RHO_AIR: float = 1.15
#: Earth's rotation rate, rad/s.
OMEGA: float = 7.292e-5
#: Gradient-level → 10-m mean wind over the sea (Holland 1980 model only). Franklin et al. (2003)
#: find the 10-m wind ≈ 0.8 of the mean boundary-layer wind; a common choice in engineering models.
K_GRADIENT_TO_SURFACE: float = 0.8
#: Roughness length of the sea in tropical-cyclone winds, m (Powell et al. 2003: the drag
#: coefficient levels off near z0 ≈ 2 mm).
Z0_SEA_M: float = 0.002
#: Default roughness length of land sites, m (open terrain).
Z0_LAND_M: float = 0.03
#: 3-s gust / 1-min mean wind: at sea and over (open) land, Harper, Kepert & Ginger (2010).
GUST_SEA: float = 1.11
GUST_LAND: float = 1.23
#: Sites further than this from the centre get no wind from that fix, km.
CUTOFF_KM: float = 1000.0
#: Range of the Holland B (b_s) parameter (Holland 1980: 1–2.5).
B_RANGE: tuple[float, float] = (1.0, 2.5)
#: Range of an estimated radius of maximum wind, km.
RMAX_RANGE_KM: tuple[float, float] = (8.0, 200.0)
#: Peripheral wind constraint of the Holland (2008) profile: gale force (34 kn) at 300 km.
RN_KM: float = 300.0
VN_MS: float = 17.5
#: Range of the peripheral exponent x_n (0.5 = the Holland 1980 shape).
XN_RANGE: tuple[float, float] = (0.5, 1.0)


# -- the published formulas ---------------------------------------------------------------------
def coriolis(lat_deg: Any) -> np.ndarray:
    """Coriolis parameter magnitude ``|f| = 2Ω |sin φ|``, 1/s."""
    return 2.0 * OMEGA * np.abs(np.sin(np.deg2rad(np.asarray(lat_deg, dtype=float))))


def holland_b_1980(vmax_ms: Any, dp_pa: Any, rho: float = RHO_AIR) -> np.ndarray:
    """Holland (1980) shape parameter from the cyclostrophic peak: ``B = ρ e Vmax² / Δp``."""
    return rho * np.e * np.asarray(vmax_ms, dtype=float) ** 2 / np.asarray(dp_pa, dtype=float)


def holland1980_wind(r_km: Any, rmax_km: Any, b: Any, dp_pa: Any, f: Any, rho: float = RHO_AIR) -> np.ndarray:
    """Holland (1980) gradient wind, m/s.

    ``V(r) = √( B/ρ · (Rmax/r)^B · Δp · exp(−(Rmax/r)^B) + r²f²/4 ) − r f/2``

    with ``r`` in m, ``Δp = p_env − p_c`` in Pa and ``f`` the Coriolis parameter (1/s).
    """
    r = np.maximum(np.asarray(r_km, dtype=float), 1e-3)
    s = np.exp(np.asarray(b, dtype=float) * np.log(np.asarray(rmax_km, dtype=float) / r))
    rf2 = r * 1000.0 * np.asarray(f, dtype=float) * 0.5
    with np.errstate(over="ignore", invalid="ignore"):
        core = np.asarray(b) / rho * s * np.asarray(dp_pa) * np.exp(-s)
    core = np.nan_to_num(core, nan=0.0, posinf=0.0)
    return np.sqrt(core + rf2 * rf2) - rf2


def holland2008_bs(dp_hpa: Any, dpdt_hpa_h: Any, lat_deg: Any, vt_ms: Any) -> np.ndarray:
    """Holland (2008) surface shape parameter.

    ``b_s = −4.4·10⁻⁵ Δp² + 0.01 Δp + 0.03 ∂p_c/∂t − 0.014 |φ| + 0.15 v_t^x + 1.0``,
    ``x = 0.6 (1 − Δp/215)``; ``Δp`` in hPa, ``∂p_c/∂t`` in hPa/h, ``φ`` in degrees, ``v_t`` in m/s.
    """
    dp = np.asarray(dp_hpa, dtype=float)
    x = 0.6 * (1.0 - dp / 215.0)
    vt = np.maximum(np.asarray(vt_ms, dtype=float), 0.0)
    return (
        -4.4e-5 * dp**2
        + 0.01 * dp
        + 0.03 * np.asarray(dpdt_hpa_h, dtype=float)
        - 0.014 * np.abs(np.asarray(lat_deg, dtype=float))
        + 0.15 * vt**x
        + 1.0
    )


def holland2008_vmax(bs: Any, dp_pa: Any, rho: float = RHO_AIR) -> np.ndarray:
    """Holland (2008) maximum surface wind ``Vms = √(b_s Δp / (ρ e))``, m/s (Δp in Pa)."""
    return np.sqrt(np.asarray(bs, dtype=float) * np.asarray(dp_pa, dtype=float) / (rho * np.e))


def holland2008_x(r_km: Any, rmax_km: Any, xn: Any, rn_km: float = RN_KM) -> np.ndarray:
    """Radial exponent of Holland (2008): 0.5 inside ``Rmax``, then
    ``x = 0.5 + (r − Rmax)(x_n − 0.5)/(r_n − Rmax)``, limited to :data:`XN_RANGE`."""
    r = np.asarray(r_km, dtype=float)
    rm = np.asarray(rmax_km, dtype=float)
    span = np.maximum(rn_km - rm, 1.0)
    x = 0.5 + np.maximum(r - rm, 0.0) * (np.asarray(xn, dtype=float) - 0.5) / span
    return np.clip(x, *XN_RANGE)


def holland2008_wind(
    r_km: Any, rmax_km: Any, bs: Any, vms: Any, xn: Any = 0.5, rn_km: float = RN_KM
) -> np.ndarray:
    """Holland (2008) surface wind profile, m/s.

    ``V(r) = Vms · [ (Rmax/r)^b_s · exp(1 − (Rmax/r)^b_s) ]^x`` with ``x`` from
    :func:`holland2008_x`. For ``x = 0.5`` this is Holland's (2008) eq.
    ``V = [100 b_s Δp (Rmax/r)^b_s / (ρ e^{(Rmax/r)^b_s})]^x`` (Δp in hPa) exactly, since
    ``Vms² = 100 b_s Δp/(ρ e)``; written normalised by ``Vms`` as in Holland et al. (2010) it
    keeps its units when ``x ≠ 0.5``.
    """
    r = np.maximum(np.asarray(r_km, dtype=float), 1e-3)
    s = np.exp(np.asarray(bs, dtype=float) * np.log(np.asarray(rmax_km, dtype=float) / r))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        g = np.exp(np.log(s) + 1.0 - s)  # s·e^(1−s) ∈ (0, 1], = 1 at Rmax
    g = np.nan_to_num(g, nan=0.0, posinf=0.0)
    x = holland2008_x(r, rmax_km, xn, rn_km)
    return np.asarray(vms, dtype=float) * g**x


def holland2008_xn(vms: Any, bs: Any, rmax_km: Any, vn_ms: float = VN_MS, rn_km: float = RN_KM) -> np.ndarray:
    """Peripheral exponent ``x_n`` so that the Holland (2008) profile passes through ``vn_ms`` at
    ``rn_km``: ``x_n = ln(v_n/Vms) / ln(s_n e^{1−s_n})``, ``s_n = (Rmax/r_n)^b_s``, limited to
    :data:`XN_RANGE` (0.5 where the constraint cannot be met)."""
    vms = np.asarray(vms, dtype=float)
    s = (np.asarray(rmax_km, dtype=float) / rn_km) ** np.asarray(bs, dtype=float)
    lg = np.log(s) + 1.0 - s
    with np.errstate(divide="ignore", invalid="ignore"):
        xn = np.log(vn_ms / np.maximum(vms, 1e-6)) / lg
    xn = np.where((lg < 0) & np.isfinite(xn), xn, 0.5)
    return np.clip(xn, *XN_RANGE)


def rmax_vickery_wadhera_2008(dp_hpa: Any, lat_deg: Any) -> np.ndarray:
    """Radius of maximum wind, km: ``ln Rmax = 3.015 − 6.291·10⁻⁵ Δp² + 0.0337 |φ|``
    (Vickery & Wadhera 2008, all storms; Δp in hPa, φ in degrees)."""
    dp = np.asarray(dp_hpa, dtype=float)
    return np.exp(3.015 - 6.291e-5 * dp**2 + 0.0337 * np.abs(np.asarray(lat_deg, dtype=float)))


def inflow_angle_deg(r_km: Any, rmax_km: Any) -> np.ndarray:
    """Cross-isobar inflow angle, degrees: 10° for r < Rmax, ``10 + 75 (r/Rmax − 1)`` up to
    1.2 Rmax, 25° beyond (Sobey, Harper & Stark 1977)."""
    x = np.asarray(r_km, dtype=float) / np.asarray(rmax_km, dtype=float)
    return np.clip(10.0 + 75.0 * (x - 1.0), 10.0, 25.0)


def translation_weight(r_km: Any, rmax_km: Any) -> np.ndarray:
    """Weight of the storm's motion added to the wind: ``Rmax·r / (Rmax² + r²)`` (Jelesnianski
    1965); 1/2 at ``Rmax``."""
    r = np.asarray(r_km, dtype=float)
    rm = np.asarray(rmax_km, dtype=float)
    return rm * r / (rm * rm + r * r)


def roughness_factor(z0_m: Any, z0_ref_m: float = Z0_SEA_M, z_m: float = 10.0) -> np.ndarray:
    """10-m mean wind over roughness ``z0_m`` relative to roughness ``z0_ref_m`` under the same
    boundary-layer wind: ``(z0/z0_ref)^0.0706 · ln(z/z0) / ln(z/z0_ref)`` (log law with the
    friction-velocity ratio of Simiu & Scanlan 1996, §2.2). Open terrain (0.03 m) vs the sea
    (0.002 m): 0.83."""
    z0 = np.asarray(z0_m, dtype=float)
    if (z0 <= 0).any() or (z0 >= z_m).any():
        raise InputError(f"roughness length must be in (0, {z_m:g}) m", field="z0_m", value=float(np.min(z0)))
    return (z0 / z0_ref_m) ** 0.0706 * np.log(z_m / z0) / np.log(z_m / z0_ref_m)


# -- storm parameters per fix -------------------------------------------------------------------
def _check_model(model: str) -> str:
    m = str(model).lower().replace(" ", "").replace("_", "")
    if m not in MODELS:
        raise InputError(f"unknown wind model; use one of {', '.join(MODELS)}", field="model", value=model)
    return m


def prepare_track(track: pd.DataFrame, dt_h: float = 1.0) -> pd.DataFrame:
    """The track resampled every ``dt_h`` hours with its motion (see :func:`interpolate_track`)."""
    if not isinstance(track, pd.DataFrame):
        raise InputError("a track must be a DataFrame (see rescity.hazard.track.read_track)", field="track")
    missing = [c for c in TRACK_COLUMNS if c not in track.columns]
    if missing:
        raise InputError(f"not a track: columns {missing} missing", field=missing[0])
    return interpolate_track(track, dt_h)


def storm_parameters(
    track_i: pd.DataFrame,
    model: str = "holland1980",
    *,
    vn_ms: float = VN_MS,
    rn_km: float = RN_KM,
    xn: float | None = None,
) -> pd.DataFrame:
    """Vortex parameters per fix of an interpolated track.

    Columns: ``rmax_km``, ``dp_hpa``, ``f`` (1/s), ``hem`` (+1 north, −1 south), ``vsym_ms``
    (peak of the symmetric 10-m vortex over the sea), and for ``holland1980`` ``b`` and
    ``dp_eff_pa`` (pressure deficit consistent with the peak when ``B`` is clipped), for
    ``holland2008`` ``bs``, ``vms_ms`` and ``xn``.
    """
    model = _check_model(model)
    lat = track_i["lat"].to_numpy(float)
    vt = track_i["trans_speed_ms"].to_numpy(float)
    dp_hpa = np.maximum(track_i["penv_hpa"].to_numpy(float) - track_i["pcen_hpa"].to_numpy(float), 1.0)
    rmax = track_i["rmax_km"].to_numpy(float)
    est = np.clip(rmax_vickery_wadhera_2008(dp_hpa, lat), *RMAX_RANGE_KM)
    rmax = np.where(np.isnan(rmax), est, rmax)
    out = pd.DataFrame(
        {
            "rmax_km": rmax,
            "dp_hpa": dp_hpa,
            "f": coriolis(lat),
            "hem": np.where(lat >= 0, 1.0, -1.0),
        }
    )
    if model == "holland1980":
        vmax = track_i["vmax_ms"].to_numpy(float)
        vsym = np.maximum(vmax - 0.5 * vt, 0.5 * vmax)
        vg = vsym / K_GRADIENT_TO_SURFACE
        # cyclostrophic part of the gradient peak, so that V(Rmax) = Vg with Coriolis:
        # √(Vc² + (Rmax f/2)²) − Rmax f/2 = Vg  ⇔  Vc² = Vg² + Vg Rmax f
        vc2 = vg**2 + vg * rmax * 1000.0 * out["f"].to_numpy()
        b = np.clip(holland_b_1980(np.sqrt(vc2), dp_hpa * 100.0), *B_RANGE)
        out["vsym_ms"] = vsym
        out["b"] = b
        out["dp_eff_pa"] = RHO_AIR * np.e * vc2 / b
    else:
        bs = np.clip(holland2008_bs(dp_hpa, track_i["dpdt_hpa_h"].to_numpy(float), lat, vt), *B_RANGE)
        vms = holland2008_vmax(bs, dp_hpa * 100.0)
        vsym = np.maximum(vms - 0.5 * vt, 0.5 * vms)
        out["vsym_ms"] = vsym
        out["bs"] = bs
        out["vms_ms"] = vms
        out["xn"] = holland2008_xn(vsym, bs, rmax, vn_ms, rn_km) if xn is None else float(xn)
    return out


def _exposure(n: int, land: Any, z0_m: Any, gust_factor: Any) -> tuple[np.ndarray, np.ndarray]:
    def per_site(v: Any, name: str, dtype: Any) -> np.ndarray:
        a = np.asarray(v, dtype=dtype)
        if a.ndim == 0:
            return np.full(n, a, dtype=dtype)
        a = a.ravel()
        if a.size != n:
            raise InputError(f"needs one value per site ({n}), got {a.size}", field=name, value=a.size)
        return a

    is_land = per_site(land, "land", bool)
    z0 = np.where(is_land, Z0_LAND_M, Z0_SEA_M) if z0_m is None else per_site(z0_m, "z0_m", float)
    factor = roughness_factor(z0)
    if gust_factor is None:
        gust = np.where(is_land, GUST_LAND, GUST_SEA)
    else:
        gust = per_site(gust_factor, "gust_factor", float)
        if (gust < 1).any():
            raise InputError("a gust factor must be ≥ 1", field="gust_factor", value=float(gust.min()))
    return factor, gust


def _block_wind(blk: Block, P: dict[str, np.ndarray], model: str, cutoff_km: float) -> np.ndarray:
    """Storm-relative + translation 10-m wind speed over the sea for one block, m/s."""
    s = blk.steps
    r = np.maximum(blk.r_km, 1e-3)
    rm = P["rmax_km"][s, None]
    if model == "holland1980":
        v = K_GRADIENT_TO_SURFACE * holland1980_wind(
            r, rm, P["b"][s, None], P["dp_eff_pa"][s, None], P["f"][s, None]
        )
    else:
        v = holland2008_wind(r, rm, P["bs"][s, None], P["vsym_ms"][s, None], P["xn"][s, None])
    beta = np.deg2rad(inflow_angle_deg(r, rm))
    cb = np.cos(beta)
    sb = np.sin(beta)
    h = P["hem"][s, None]
    # tangential unit vector: anticlockwise (north) or clockwise (south) about the centre
    te = -h * blk.rn
    tn = h * blk.re
    we = v * (cb * te - sb * blk.re)
    wn = v * (cb * tn - sb * blk.rn)
    w = translation_weight(r, rm)
    we += w * P["u_trans_ms"][s, None]
    wn += w * P["v_trans_ms"][s, None]
    speed = np.hypot(we, wn)
    speed[blk.r_km > cutoff_km] = 0.0
    return speed


def _vortex_arrays(ti: pd.DataFrame, model: str, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per-fix vortex parameters (:func:`storm_parameters`) and motion of the resampled track."""
    P = storm_parameters(ti, model, **params)
    arrays = {c: P[c].to_numpy(float) for c in P.columns}
    arrays["u_trans_ms"] = ti["u_trans_ms"].to_numpy(float)
    arrays["v_trans_ms"] = ti["v_trans_ms"].to_numpy(float)
    return arrays


def _field_blocks(
    track: pd.DataFrame,
    lon: Any,
    lat: Any,
    model: str,
    dt_h: float,
    cutoff_km: float,
    params: dict[str, Any],
    geometry: bool = False,
) -> tuple[pd.DataFrame, SiteFrame, Iterator[tuple[Any, np.ndarray]]]:
    """The resampled track, the sites and the wind speed over the sea of each block of fixes,
    with the block's fix indices (or, with ``geometry``, the whole :class:`Block`)."""
    model = _check_model(model)
    ti = prepare_track(track, dt_h)
    sites = SiteFrame(lon, lat)
    arrays = _vortex_arrays(ti, model, params)
    blocks = sites.track_blocks(ti, cutoff_km)
    return ti, sites, ((b if geometry else b.steps, _block_wind(b, arrays, model, cutoff_km)) for b in blocks)


def wind_timeseries(
    track: pd.DataFrame,
    lon: Any,
    lat: Any,
    model: str = "holland1980",
    dt_h: float = 1.0,
    *,
    land: Any = True,
    z0_m: Any = None,
    gust_factor: Any = None,
    cutoff_km: float = CUTOFF_KM,
    **params: Any,
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Wind at sites through a storm's passage.

    Parameters
    ----------
    track:
        A track (:func:`rescity.hazard.track.read_track`); resampled every ``dt_h`` hours.
    lon, lat:
        Sites, degrees (scalars or 1-D arrays of equal length).
    model:
        ``holland1980`` or ``holland2008``.
    land:
        Whether each site is on land (bool or one per site). Default True: rescity's sites are
        assets. Land sites get the open-terrain roughness reduction and gust factor.
    z0_m, gust_factor:
        Override the roughness length (m) and the 3-s/1-min gust factor, scalar or per site.
    cutoff_km:
        Sites further than this from the centre get no wind from that fix; fixes further than
        this from every site are skipped.
    **params:
        ``vn_ms``, ``rn_km``, ``xn`` of the Holland (2008) profile (:func:`storm_parameters`).

    Returns
    -------
    times, wind_ms, gust_ms
        ``DatetimeIndex`` (UTC) of the fixes, and ``(n_times, n_sites)`` arrays of the 1-min
        mean 10-m wind and the 3-s gust, m/s.
    """
    ti, sites, blocks = _field_blocks(track, lon, lat, model, dt_h, cutoff_km, params)
    factor, gust = _exposure(sites.n, land, z0_m, gust_factor)
    wind = np.zeros((len(ti), sites.n))
    for steps, sp in blocks:
        wind[steps] = sp * factor
    return pd.DatetimeIndex(ti["time"]), wind, wind * gust


def peak_wind(
    track: pd.DataFrame,
    lon: Any,
    lat: Any,
    model: str = "holland1980",
    dt_h: float = 1.0,
    *,
    land: Any = True,
    z0_m: Any = None,
    gust_factor: Any = None,
    cutoff_km: float = CUTOFF_KM,
    **params: Any,
) -> dict[str, np.ndarray]:
    """Peak 1-min 10-m wind and 3-s gust at sites over a storm, m/s.

    Same parameters as :func:`wind_timeseries`; never holds the full time × site array.

    Returns
    -------
    dict
        ``wind_ms`` and ``gust_ms``, each of shape ``(n_sites,)``.
    """
    _, sites, blocks = _field_blocks(track, lon, lat, model, dt_h, cutoff_km, params)
    factor, gust = _exposure(sites.n, land, z0_m, gust_factor)
    peak = np.zeros(sites.n)
    for _, sp in blocks:
        np.maximum(peak, sp.max(axis=0), out=peak)
    peak *= factor
    return {"wind_ms": peak, "gust_ms": peak * gust}


def typhoon_hazard(
    track: pd.DataFrame,
    lon: Any,
    lat: Any,
    model: str = "holland1980",
    dt_h: float = 1.0,
    *,
    land: Any = True,
    rain_enhancement: Any = None,
    **kwargs: Any,
) -> dict[str, np.ndarray]:
    """Typhoon intensities at sites: peak wind and gust (this module) and rain (:mod:`rain`).

    Returns
    -------
    dict
        ``wind_ms``, ``gust_ms``, ``rain_mm``, ``rain_rate_mmh`` (keys of
        :data:`rescity.hazard.MEASURES`), each of shape ``(n_sites,)``.
    """
    return typhoon_hazard_windows(
        [track], lon, lat, model, dt_h, land=land, rain_enhancement=rain_enhancement, **kwargs
    )[0]


#: Columns of the resampled track that the rain rate of a fix depends on (with its position).
_RAIN_INPUTS: tuple[str, ...] = ("lon", "lat", "vmax_ms", "rmax_km", "penv_hpa", "pcen_hpa")


def _same_bits(a: dict[str, np.ndarray], b: dict[str, np.ndarray], keys: Any, n: int) -> np.ndarray:
    """Fixes ``0 … n−1`` at which every array of ``keys`` holds the same bits in ``a`` and ``b``."""
    same = np.ones(n, dtype=bool)
    for k in keys:
        x = np.ascontiguousarray(a[k][:n], dtype=float).view(np.int64)
        y = np.ascontiguousarray(b[k][:n], dtype=float).view(np.int64)
        same &= x == y
    return same


def typhoon_hazard_windows(
    tracks: Any,
    lon: Any,
    lat: Any,
    model: str = "holland1980",
    dt_h: float = 1.0,
    *,
    land: Any = True,
    rain_enhancement: Any = None,
    **kwargs: Any,
) -> list[dict[str, np.ndarray]]:
    """:func:`typhoon_hazard` of several tracks that are windows of one storm with the same start
    (a forecast cut at issuance + 24, 48, 72 h), from one pass over the longest.

    Each result is bit for bit :func:`typhoon_hazard` of its own track. The tracks are resampled
    one by one (:func:`prepare_track`); the wind and rain rate of a fix are computed once, on the
    longest window, and every window whose resampled fix has the same bits there (position,
    intensity and, for the wind, the vortex parameters and motion) takes them from it. A window's
    own last fix differs in its motion (one-sided difference), so its wind there is computed
    again, as is every fix that differs. The rain total of a window is summed over its own fixes,
    with its own trapezoid weights, in the same blocks of fixes as :func:`typhoon_hazard`. A
    window that does not share the longest one's fixes within the cutoff as a prefix (another
    start, another storm) is computed on its own.
    """
    from rescity.hazard.rain import _enhancement, block_rate, trapezoid_weights

    tracks = list(tracks)
    if not tracks:
        return []
    z0_m, gust_factor = kwargs.pop("z0_m", None), kwargs.pop("gust_factor", None)
    cutoff = kwargs.pop("cutoff_km", CUTOFF_KM)
    model = _check_model(model)
    tis = [prepare_track(t, dt_h) for t in tracks]
    sites = SiteFrame(lon, lat)
    factor, gust = _exposure(sites.n, land, z0_m, gust_factor)
    fac = _enhancement(sites.n, rain_enhancement)
    cols = [{c: ti[c].to_numpy(float) for c in _RAIN_INPUTS} for ti in tis]
    arrays = [_vortex_arrays(ti, model, kwargs) for ti in tis]
    rate_of = [block_rate(ti, sites, cutoff) for ti in tis]
    near = [sites.near_steps(c["lon"], c["lat"], cutoff) for c in cols]
    top = max(range(len(tis)), key=lambda j: len(tis[j]))  # the longest window drives the pass
    nt = near[top]
    cap = sites.steps_per_block()

    # per window: the fixes whose wind / rain rate differ from the longest window's, computed on
    # their own (a window's last fix, for the wind); or None when the window runs on its own
    redo: list[tuple[dict[int, np.ndarray], dict[int, np.ndarray]] | None] = []
    for j, ti in enumerate(tis):
        n = len(ti)
        if j == top:
            redo.append(({}, {}))
            continue
        if n > len(tis[top]) or len(near[j]) > len(nt) or not np.array_equal(near[j], nt[: len(near[j])]):
            redo.append(None)
            continue
        pos = _same_bits(cols[j], cols[top], ("lon", "lat"), n)
        rain_ok = pos & _same_bits(cols[j], cols[top], _RAIN_INPUTS, n)
        wind_ok = pos & _same_bits(arrays[j], arrays[top], arrays[top].keys(), n)
        bad_w = near[j][~wind_ok[near[j]]]
        bad_r = near[j][~rain_ok[near[j]]]
        todo = np.union1d(bad_w, bad_r)
        if len(todo) > max(cap, len(near[j]) // 4):  # mostly different: no use sharing
            redo.append(None)
            continue
        wind_rows: dict[int, np.ndarray] = {}
        rain_rows: dict[int, np.ndarray] = {}
        for blk in sites.blocks(cols[j]["lon"], cols[j]["lat"], todo):
            sp = _block_wind(blk, arrays[j], model, cutoff)
            r = rate_of[j](blk)
            for i, s in enumerate(blk.steps.tolist()):
                wind_rows[s] = sp[i]
                rain_rows[s] = r[i]
        redo.append(({s: wind_rows[s] for s in bad_w.tolist()}, {s: rain_rows[s] for s in bad_r.tolist()}))

    peak = [np.zeros(sites.n) for _ in tis]
    total = [np.zeros(sites.n) for _ in tis]
    rate_peak = [np.zeros(sites.n) for _ in tis]
    shared = [j for j in range(len(tis)) if redo[j] is not None]
    start = 0
    for blk in sites.blocks(cols[top]["lon"], cols[top]["lat"], nt):
        sp = _block_wind(blk, arrays[top], model, cutoff)
        r = rate_of[top](blk)
        for j in shared:
            m = min(len(blk.steps), len(near[j]) - start)
            if m <= 0:
                continue
            steps = blk.steps[:m]
            w_rows, r_rows = (_with_rows(x, steps, rows) for x, rows in zip((sp[:m], r[:m]), redo[j], strict=True))
            np.maximum(peak[j], w_rows.max(axis=0), out=peak[j])
            total[j] += trapezoid_weights(steps, len(tis[j])) @ r_rows
            np.maximum(rate_peak[j], r_rows.max(axis=0), out=rate_peak[j])
        start += len(blk.steps)

    out = []
    for j in range(len(tis)):
        if redo[j] is None:
            out.append(
                typhoon_hazard_windows(
                    [tracks[j]], lon, lat, model, dt_h, land=land, rain_enhancement=rain_enhancement,
                    z0_m=z0_m, gust_factor=gust_factor, cutoff_km=cutoff, **kwargs,
                )[0]
            )  # fmt: skip
            continue
        pk = peak[j] * factor
        out.append(
            {
                "wind_ms": pk,
                "gust_ms": pk * gust,
                "rain_mm": total[j] * dt_h * fac,
                "rain_rate_mmh": rate_peak[j] * fac,
            }
        )
    return out


def _with_rows(block: np.ndarray, steps: np.ndarray, rows: dict[int, np.ndarray]) -> np.ndarray:
    """``block`` (one row per fix of ``steps``) with the rows of the fixes in ``rows`` replaced."""
    hits = [i for i, s in enumerate(steps.tolist()) if s in rows] if rows else []
    if not hits:
        return block
    block = block.copy()
    for i in hits:
        block[i] = rows[int(steps[i])]
    return block
