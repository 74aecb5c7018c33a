"""Earthquake scenarios: sources, distances, site conditions and ground-motion fields.

A scenario earthquake is an :class:`EarthquakeSource` (epicentre, hypocentral depth, Mw and an
optional strike/dip/rake). With a strike it is a finite rectangular rupture centred on the
hypocentre whose length and width follow Wells & Coppersmith (1994); without, a point source
(Rjb = epicentral distance). :func:`ground_motion` gives the median PGA, PGV, SA(0.3 s) and
SA(1.0 s) at every site from a ground-motion model of :mod:`rescity.hazard.gmpe`, with the
log standard deviations τ (between-event) and φ (within-event); :func:`sample_ground_motion`
draws fields per realisation with spatially correlated within-event residuals
(:mod:`rescity.hazard.correlation`).

Site conditions: Vs30 per site from a number, a user CSV (``lon,lat,vs30``, nearest neighbour),
a GeoTIFF (needs ``rasterio``, extra ``flood``) or, by default, from the urban share of the unit
the site stands in (:func:`vs30_from_urban_share`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.geo import EARTH_RADIUS_KM
from rescity.hazard import gmpe as gmpe_models
from rescity.seeds import DEFAULT_SEED

#: Intensity measures produced, in this order.
MEASURES: tuple[str, ...] = ("pga_g", "pgv_cms", "sa03_g", "sa10_g")
DEPTH_MAX_KM = 35.0  # shallow crustal events only (BSSA14)

# Wells & Coppersmith (1994), Table 2A: log10(L_subsurface km) = a + b·M, log10(W km) = a + b·M
_WC94_LENGTH = {"strike-slip": (-2.57, 0.62), "reverse": (-2.42, 0.58), "normal": (-1.88, 0.50),
                "unspecified": (-2.44, 0.59)}
_WC94_WIDTH = {"strike-slip": (-0.76, 0.27), "reverse": (-1.61, 0.41), "normal": (-1.14, 0.35),
               "unspecified": (-1.01, 0.32)}


def mechanism_from_rake(rake: float) -> str:
    """Style of faulting from rake (degrees), as classified by Boore et al. (2014).

    Normal for −150° < rake < −30°, reverse for 30° < rake < 150°, strike-slip otherwise.
    """
    r = (rake + 180.0) % 360.0 - 180.0
    if -150.0 < r < -30.0:
        return "normal"
    if 30.0 < r < 150.0:
        return "reverse"
    return "strike-slip"


@dataclass(frozen=True)
class EarthquakeSource:
    """A scenario earthquake.

    Parameters
    ----------
    lon, lat:
        Epicentre, degrees WGS84.
    depth_km:
        Hypocentral depth, km (0–35; shallow crustal events).
    mw:
        Moment magnitude.
    strike, dip, rake:
        Fault orientation in degrees (Aki & Richards convention). With ``strike`` the source is a
        finite rupture; ``dip`` defaults to 90° (strike-slip) or 45° (dip-slip). ``rake`` sets the
        mechanism when ``mechanism`` is ``unspecified``.
    mechanism:
        ``unspecified``, ``strike-slip``, ``normal`` or ``reverse``.
    length_km, width_km:
        Rupture length and down-dip width; default from Wells & Coppersmith (1994).
    name:
        Label (e.g. catalogue id).
    delay_h:
        Hours after the mainshock (aftershocks of a sequence; 0 for the mainshock).
    """

    lon: float
    lat: float
    depth_km: float
    mw: float
    strike: Optional[float] = None
    dip: Optional[float] = None
    rake: Optional[float] = None
    mechanism: str = "unspecified"
    length_km: Optional[float] = None
    width_km: Optional[float] = None
    name: str = ""
    delay_h: float = 0.0

    def __post_init__(self) -> None:
        validate_source(self)
        if self.mechanism == "unspecified" and self.rake is not None:
            object.__setattr__(self, "mechanism", mechanism_from_rake(self.rake))

    @classmethod
    def parse(cls, text: str, **kwargs: Any) -> EarthquakeSource:
        """Parse ``"lat,lon,depth_km,Mw"`` (the CLI form)."""
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != 4:
            raise InputError('source must be "lat,lon,depth_km,Mw"', field="source", value=text)
        try:
            lat, lon, depth, mw = (float(p) for p in parts)
        except ValueError:
            raise InputError('source must be four numbers "lat,lon,depth_km,Mw"', field="source",
                             value=text) from None
        return cls(lon=lon, lat=lat, depth_km=depth, mw=mw, **kwargs)

    @property
    def is_finite(self) -> bool:
        return self.strike is not None

    def rupture_dimensions(self) -> tuple[float, float]:
        """Rupture length and down-dip width in km (Wells & Coppersmith 1994, Table 2A)."""
        a, b = _WC94_LENGTH[self.mechanism]
        length = self.length_km if self.length_km is not None else 10.0 ** (a + b * self.mw)
        a, b = _WC94_WIDTH[self.mechanism]
        width = self.width_km if self.width_km is not None else 10.0 ** (a + b * self.mw)
        return float(length), float(width)

    def effective_dip(self) -> float:
        if self.dip is not None:
            return float(self.dip)
        return 90.0 if self.mechanism in ("strike-slip", "unspecified") else 45.0


def validate_source(src: EarthquakeSource, *, file: Any = None, row: Optional[int] = None) -> None:
    """Raise :class:`InputError` for an impossible source (any model)."""
    where = f" (row {row})" if row is not None else ""

    def bad(msg: str, fld: str, val: Any) -> None:
        raise InputError(msg + where, file=file, field=fld, value=val)

    for name in ("lon", "lat", "depth_km", "mw"):
        v = getattr(src, name)
        if v is None or not np.isfinite(v):
            bad("must be a finite number", name, v)
    if not -90.0 <= src.lat <= 90.0:
        bad("latitude must lie in −90…90°", "lat", src.lat)
    if not -180.0 <= src.lon <= 360.0:
        bad("longitude must lie in −180…360°", "lon", src.lon)
    if src.depth_km < 0:
        bad("hypocentral depth cannot be negative", "depth_km", src.depth_km)
    if src.depth_km > DEPTH_MAX_KM:
        bad(f"hypocentre deeper than {DEPTH_MAX_KM:g} km is not a shallow crustal event", "depth_km",
            src.depth_km)
    if not 0.0 < src.mw <= 10.0:
        bad("moment magnitude must lie in 0…10", "Mw", src.mw)
    if src.mechanism not in gmpe_models.bssa14.MECHANISMS:
        bad("mechanism must be unspecified, strike-slip, normal or reverse", "mechanism", src.mechanism)
    if src.dip is not None and not 0.0 < src.dip <= 90.0:
        bad("dip must lie in (0, 90]°", "dip", src.dip)
    for name in ("length_km", "width_km"):
        v = getattr(src, name)
        if v is not None and not v > 0:
            bad("must be positive", name, v)


# -- catalogue ----------------------------------------------------------------------------------
_CAT_ALIASES = {
    "latitude": "lat", "longitude": "lon", "depth": "depth_km", "depth_km": "depth_km",
    "mag": "mw", "magnitude": "mw", "mw": "mw", "id": "event_id", "event": "event_id",
}


def read_catalogue(path: Union[str, Path], gmpe: str = "bssa14") -> list[EarthquakeSource]:
    """Read earthquakes from a CSV catalogue.

    Columns (case-insensitive): ``lat``, ``lon``, ``depth_km``, ``mw`` (aliases ``latitude``,
    ``longitude``, ``depth``, ``mag``), optional ``event_id``, ``strike``, ``dip``, ``rake``,
    ``mechanism``. Every row is checked; a bad row raises :class:`InputError` naming the file, the
    row, the field and the value (magnitude outside the model's range, negative depth, latitude or
    longitude out of range).
    """
    p = Path(path)
    try:
        df = pd.read_csv(p)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - any parse failure is a user problem with the file
        raise InputError(f"cannot read the catalogue as CSV: {e}", file=p) from None
    df.columns = [_CAT_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in df.columns]
    for col in ("lat", "lon", "depth_km", "mw"):
        if col not in df.columns:
            raise InputError("catalogue lacks a required column", file=p, field=col)
    model = gmpe_models.get(gmpe)
    out = []
    for i, rec in enumerate(df.to_dict("records"), start=2):  # row 1 is the header
        values = {k: _number(rec, k, p, i) for k in ("lat", "lon", "depth_km", "mw", "strike", "dip", "rake")}
        for k in ("lat", "lon", "depth_km", "mw"):
            if values[k] is None:
                raise InputError(f"missing value (row {i})", file=p, field=k)
        mech = str(rec.get("mechanism") or "unspecified").strip().lower()
        try:
            src = EarthquakeSource(
                lon=values["lon"], lat=values["lat"], depth_km=values["depth_km"], mw=values["mw"],
                strike=values["strike"], dip=values["dip"], rake=values["rake"], mechanism=mech,
                name=str(rec.get("event_id", f"row{i}")),
            )
            model.check_source(src.mw, src.mechanism)
        except InputError as e:
            raise InputError(f"{e.message} (row {i})", file=p, field=e.field, value=e.value) from None
        out.append(src)
    return out


def catalogue_event(path: Union[str, Path], event_id: Optional[str] = None, gmpe: str = "bssa14") -> EarthquakeSource:
    """One event of a catalogue CSV (:func:`read_catalogue`): the row whose ``event_id`` is
    ``event_id``, or the only row when ``event_id`` is None."""
    events = read_catalogue(path, gmpe)
    if event_id is None:
        if len(events) == 1:
            return events[0]
        raise InputError(
            f"the catalogue has {len(events)} events; choose one with --event ("
            + ", ".join(e.name for e in events[:10]) + (" …" if len(events) > 10 else "") + ")",
            file=path, field="event_id",
        )  # fmt: skip
    for e in events:
        if e.name == str(event_id):
            return e
    raise InputError("no such event in the catalogue", file=path, field="event_id", value=event_id)


def _number(rec: dict, key: str, path: Path, row: int) -> Optional[float]:
    v = rec.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        raise InputError(f"not a number (row {row})", file=path, field=key, value=v) from None


# -- distances ----------------------------------------------------------------------------------
def _local_xy_km(lon0: float, lat0: float, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """East/north offsets (km) of points from (lon0, lat0), equirectangular at the mid-latitude.

    Error below 0.5 % within 400 km at the latitudes of China.
    """
    lat_m = np.radians((np.asarray(lat, float) + lat0) / 2.0)
    dlon = (np.asarray(lon, float) - lon0 + 180.0) % 360.0 - 180.0
    x = EARTH_RADIUS_KM * np.radians(dlon) * np.cos(lat_m)
    y = EARTH_RADIUS_KM * np.radians(np.asarray(lat, float) - lat0)
    return x, y


def distances(source: EarthquakeSource, lon: np.ndarray, lat: np.ndarray) -> dict[str, np.ndarray]:
    """Joyner–Boore distance ``rjb_km`` and rupture distance ``rrup_km`` of each site.

    A point source has Rjb = epicentral distance and Rrup = hypocentral distance. A finite source
    is a rectangle of Wells & Coppersmith (1994) length × width, centred on the hypocentre along
    strike and down dip (its top clipped at the surface), so that Rjb is the distance to its
    surface projection and Rrup the 3-D distance to the plane.
    """
    x, y = _local_xy_km(source.lon, source.lat, lon, lat)
    if not source.is_finite:
        repi = np.hypot(x, y)
        return {"rjb_km": repi, "rrup_km": np.hypot(repi, source.depth_km)}
    length, width = source.rupture_dimensions()
    dip = math.radians(source.effective_dip())
    strike = math.radians(source.strike)
    # rotate into along-strike (s) and horizontal down-dip (d) axes; dip direction = strike + 90°
    s = x * math.sin(strike) + y * math.cos(strike)
    d = x * math.cos(strike) - y * math.sin(strike)
    z_top = max(0.0, source.depth_km - 0.5 * width * math.sin(dip))  # top at the surface at most
    d_top = -(source.depth_km - z_top) / math.tan(dip) if dip < math.pi / 2 - 1e-9 else 0.0
    d_bot = d_top + width * math.cos(dip)
    ds = np.maximum(np.abs(s) - 0.5 * length, 0.0)
    dd = np.maximum.reduce([d_top - d, np.zeros_like(d), d - d_bot])
    rjb = np.hypot(ds, dd)
    # closest point on the plane: coordinates (along strike, along dip) clipped independently
    t = np.clip((d - d_top) * math.cos(dip) - z_top * math.sin(dip), 0.0, width)
    px = d_top + t * math.cos(dip)
    pz = z_top + t * math.sin(dip)
    rrup = np.sqrt(ds * ds + (d - px) ** 2 + pz * pz)
    return {"rjb_km": rjb, "rrup_km": rrup}


# -- site conditions ----------------------------------------------------------------------------
#: Default Vs30 (m/s) by urban share of the unit a site stands in. An assumption, not a survey:
#: in Zhejiang the most urban counties lie on the soft Quaternary deposits of the Hang–Jia–Hu,
#: Ningbo–Shaoxing and Wen–Tai coastal plains (NEHRP D/E), the least urban in the hills of the
#: west and south (NEHRP C). The topographic-slope proxy of Wald & Allen (2007) would need a DEM,
#: which is not packaged; users with a Vs30 map should pass it as a CSV or GeoTIFF.
VS30_BY_URBAN_SHARE: tuple[tuple[float, float], ...] = (
    (0.75, 250.0),  # urban share ≥ 0.75: deltaic/coastal plain soils, NEHRP D/E boundary
    (0.50, 350.0),  # 0.50–0.75: stiff soil, NEHRP D
    (0.30, 450.0),  # 0.30–0.50: very dense soil / soft rock, NEHRP C
    (0.00, 600.0),  # < 0.30: hills, NEHRP C
)


def vs30_from_urban_share(urban_share: np.ndarray) -> np.ndarray:
    """Default Vs30 (m/s) from a unit's urban share (0–1) by :data:`VS30_BY_URBAN_SHARE`."""
    u = np.asarray(urban_share, dtype=float)
    out = np.full(u.shape, VS30_BY_URBAN_SHARE[-1][1])
    for lo, v in reversed(VS30_BY_URBAN_SHARE[:-1]):
        out = np.where(u >= lo, v, out)
    return out


def vs30_at(
    lon: np.ndarray,
    lat: np.ndarray,
    vs30: Union[float, str, Path, np.ndarray, None] = None,
    urban_share: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Vs30 (m/s) at the sites.

    ``vs30`` may be a number, an array per site, a CSV path with columns ``lon, lat, vs30``
    (nearest neighbour, ``scipy.spatial.cKDTree`` on local km), a GeoTIFF path (sampled with
    ``rasterio``), or ``None`` to use :func:`vs30_from_urban_share` of ``urban_share``.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    n = lon.shape
    if vs30 is None:
        if urban_share is None:
            raise InputError("give vs30 (a number, a CSV or a GeoTIFF) or the urban share per site",
                             field="vs30")
        return vs30_from_urban_share(np.broadcast_to(urban_share, n))
    if isinstance(vs30, (int, float, np.integer, np.floating)):
        out = np.full(n, float(vs30))
    elif isinstance(vs30, np.ndarray):
        out = np.broadcast_to(vs30.astype(float), n).copy()
    else:
        p = Path(vs30)
        if p.suffix.lower() in (".tif", ".tiff"):
            out = _vs30_from_geotiff(p, lon, lat)
        else:
            out = _vs30_from_csv(p, lon, lat)
    bad = ~np.isfinite(out) | (out <= 0)
    if bad.any():
        raise InputError("Vs30 must be a positive number of m/s at every site", field="vs30",
                         value=float(out[bad][0]))
    return out


def _vs30_from_csv(path: Path, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    from scipy.spatial import cKDTree

    df = pd.read_csv(path)
    df.columns = [c.strip().lower() for c in df.columns]
    for col in ("lon", "lat", "vs30"):
        if col not in df.columns:
            raise InputError("Vs30 CSV needs columns lon, lat, vs30", file=path, field=col)
    v = pd.to_numeric(df["vs30"], errors="coerce").to_numpy()
    if (~np.isfinite(v) | (v <= 0)).any():
        i = int(np.flatnonzero(~np.isfinite(v) | (v <= 0))[0])
        raise InputError(f"Vs30 must be a positive number (row {i + 2})", file=path, field="vs30",
                         value=df["vs30"].iloc[i])
    lon0, lat0 = float(df["lon"].mean()), float(df["lat"].mean())
    gx, gy = _local_xy_km(lon0, lat0, df["lon"].to_numpy(float), df["lat"].to_numpy(float))
    sx, sy = _local_xy_km(lon0, lat0, lon.ravel(), lat.ravel())
    _, idx = cKDTree(np.c_[gx, gy]).query(np.c_[sx, sy])
    return v[idx].reshape(lon.shape)


def _vs30_from_geotiff(path: Path, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    try:
        import rasterio
        from rasterio.warp import transform
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputError("reading a GeoTIFF needs rasterio: pip install 'rescity[flood]'",
                         file=path) from None
    with rasterio.open(path) as ds:
        xs, ys = lon.ravel(), lat.ravel()
        if ds.crs is not None and not ds.crs.is_geographic:
            xs, ys = transform("EPSG:4326", ds.crs, xs, ys)
        vals = np.array([v[0] for v in ds.sample(zip(xs, ys, strict=True))], dtype=float)
        if ds.nodata is not None:
            vals[vals == ds.nodata] = np.nan
    return vals.reshape(lon.shape)


# -- ground motion ------------------------------------------------------------------------------
def _prepare(
    source: EarthquakeSource,
    lon: np.ndarray,
    lat: np.ndarray,
    vs30: Any,
    gmpe: str,
    region: str,
    beyond: str,
    urban_share: Optional[np.ndarray] = None,
) -> tuple[Any, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    model = gmpe_models.get(gmpe)
    model.check_source(source.mw, source.mechanism)
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    if lon.shape != lat.shape:
        raise InputError("lon and lat must have the same length", field="lat", value=len(lat))
    if ((lat < -90) | (lat > 90)).any():
        bad = float(lat[(lat < -90) | (lat > 90)][0])
        raise InputError("site latitude must lie in −90…90°", field="lat", value=bad)
    v = vs30_at(lon, lat, vs30, urban_share)
    lo, hi = model.VS30_RANGE
    if ((v < lo) | (v > hi)).any():
        raise InputError(f"Vs30 outside the {model.NAME.upper()} range {lo:g}–{hi:g} m/s", field="vs30",
                         value=float(v[(v < lo) | (v > hi)][0]))
    d = distances(source, lon, lat)
    far = d["rjb_km"] > model.RJB_MAX_KM
    if beyond not in ("raise", "zero"):
        raise InputError("beyond must be 'raise' or 'zero'", field="beyond", value=beyond)
    if len(far) and far.all():
        # e.g. an epicentre at 0°N 0°E for a Zhejiang twin: every site would get zero shaking
        raise InputError(
            f"the rupture is {float(d['rjb_km'].min()):.0f} km from the nearest site, beyond the "
            f"{model.NAME.upper()} range of {model.RJB_MAX_KM:g} km: nothing would shake; check the "
            "epicentre's latitude and longitude",
            field="source",
            value=f"{source.lat},{source.lon}",
        )
    if far.any() and beyond == "raise":
        i = int(np.flatnonzero(far)[0])
        raise InputError(
            f"site ({lat[i]:.4f}, {lon[i]:.4f}) is {d['rjb_km'][i]:.0f} km from the rupture, beyond the "
            f"{model.NAME.upper()} range of {model.RJB_MAX_KM:g} km",
            field="at",
            value=f"{lat[i]},{lon[i]}",
        )
    return model, d, v, far


def ground_motion(
    source: EarthquakeSource,
    lon: np.ndarray,
    lat: np.ndarray,
    vs30: Any = 760.0,
    gmpe: str = "bssa14",
    *,
    region: str = "global",
    urban_share: Optional[np.ndarray] = None,
    beyond: str = "raise",
) -> dict[str, np.ndarray]:
    """Median ground motion and its log standard deviations at the sites.

    Parameters
    ----------
    source:
        The earthquake.
    lon, lat:
        Sites, degrees.
    vs30:
        Site condition, see :func:`vs30_at` (number, array, CSV, GeoTIFF or ``None`` with
        ``urban_share``).
    gmpe:
        Ground-motion model name (``bssa14``).
    region:
        Regional path adjustment of the model (BSSA14: ``global``, ``china_turkey``, ``italy_japan``).
    beyond:
        Sites farther than the model's distance range: ``raise`` an :class:`InputError`, or
        ``zero`` their intensities (a field over a province).

    Returns
    -------
    dict
        ``pga_g``, ``pgv_cms``, ``sa03_g``, ``sa10_g`` (medians), ``tau_<measure>`` and
        ``phi_<measure>`` (natural-log between- and within-event standard deviations),
        ``rjb_km``, ``rrup_km`` and ``vs30``; every value an array of shape ``(n_sites,)``.
    """
    model, d, v, far = _prepare(source, lon, lat, vs30, gmpe, region, beyond, urban_share)
    out: dict[str, np.ndarray] = {}
    for im in MEASURES:
        period = model.PERIODS[im]
        med = np.exp(model.ln_median(period, source.mw, d["rjb_km"], v, source.mechanism, region))
        med[far] = 0.0
        sg = model.sigma(period, source.mw, d["rjb_km"], v)
        out[im] = med
        out[f"tau_{im}"] = np.asarray(sg.tau, dtype=float)
        out[f"phi_{im}"] = np.asarray(sg.phi, dtype=float)
    out.update(rjb_km=d["rjb_km"], rrup_km=d["rrup_km"], vs30=v)
    return out


def sample_ground_motion(
    source: EarthquakeSource,
    lon: np.ndarray,
    lat: np.ndarray,
    vs30: Any = 760.0,
    realisations: int = 100,
    seed: int = DEFAULT_SEED,
    correlation: str = "jb2009",
    *,
    gmpe: str = "bssa14",
    region: str = "global",
    urban_share: Optional[np.ndarray] = None,
    beyond: str = "zero",
    method: str = "auto",
    grid_km: float = 1.0,
    first: int = 0,
    return_residuals: bool = False,
    dtype: Any = np.float32,
) -> dict[str, np.ndarray]:
    """Ground-motion fields per realisation: ``ln Y = ln μ + τ·η + φ·ε``.

    The between-event residuals ``η`` (one per realisation and measure) and the within-event
    residuals ``ε`` (per site) are standard normal, correlated across the four measures by
    :func:`rescity.hazard.correlation.cross_correlation` (Baker & Jayaram 2008) and in space by
    the Jayaram & Baker (2009) exponential model (``correlation="jb2009"``) or not at all
    (``"none"``). Realisation ``r`` draws only from its own stream
    ``SeedSequence(seed, spawn_key=(first + r,))``, so a field does not depend on how the
    realisations are chunked: ``first`` offsets the realisation index for a chunk.

    ``method`` picks the sampler for correlated fields: ``exact`` (Cholesky on the sites, up to a
    few thousand), ``grid`` (circulant embedding on a ``grid_km`` grid, nearest node per site) or
    ``auto`` (exact up to 2,000 sites). See :mod:`rescity.hazard.correlation`.

    Returns
    -------
    dict
        ``pga_g``, ``pgv_cms``, ``sa03_g``, ``sa10_g`` of shape ``(realisations, n_sites)``
        (``dtype``), and with ``return_residuals`` also ``eta_<measure>`` ``(realisations,)`` and
        ``eps_<measure>`` ``(realisations, n_sites)``.
    """
    from rescity.hazard import correlation as corr

    if realisations < 1:
        raise InputError("realisations must be at least 1", field="realisations", value=realisations)
    model, d, v, far = _prepare(source, lon, lat, vs30, gmpe, region, beyond, urban_share)
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    n = lon.size
    ln_mu = {}
    tau = {}
    phi = {}
    for im in MEASURES:
        period = model.PERIODS[im]
        ln_mu[im] = model.ln_median(period, source.mw, d["rjb_km"], v, source.mechanism, region)
        sg = model.sigma(period, source.mw, d["rjb_km"], v)
        tau[im] = float(np.mean(sg.tau))
        phi[im] = np.asarray(sg.phi, dtype=float)
    eta, eps_sampler = corr.residual_sampler(
        lon, lat, MEASURES, realisations, seed, first=first, model=correlation, method=method,
        grid_km=grid_km,
    )
    out = {im: np.empty((realisations, n), dtype=dtype) for im in MEASURES}
    if return_residuals:
        for k, im in enumerate(MEASURES):
            out[f"eta_{im}"] = eta[:, k].copy()
            out[f"eps_{im}"] = np.empty((realisations, n), dtype=dtype)
    ln_mu32 = {im: ln_mu[im].astype(np.float32) for im in MEASURES}
    phi32 = {im: phi[im].astype(np.float32) for im in MEASURES}
    for r0, r1, eps in eps_sampler():  # eps: (r1 - r0, n_measures, n), float32
        for k, im in enumerate(MEASURES):
            between = (tau[im] * eta[r0:r1, k]).astype(np.float32)[:, None]
            y = np.exp(ln_mu32[im][None, :] + between + phi32[im][None, :] * eps[:, k, :])
            y[:, far] = 0.0
            out[im][r0:r1] = y
            if return_residuals:
                out[f"eps_{im}"][r0:r1] = eps[:, k, :]
    return out


def with_strike(source: EarthquakeSource, strike: float, dip: Optional[float] = None) -> EarthquakeSource:
    """A copy of ``source`` as a finite rupture with this strike (and dip)."""
    return replace(source, strike=strike, dip=dip if dip is not None else source.dip)
