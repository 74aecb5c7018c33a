"""Track ensembles from an official forecast, and official forecasts for hindcasts.

A track is a table with ``time`` (UTC), ``lat``, ``lon`` (degrees), ``vmax_ms`` and, when known,
``pcen_hpa``, ``penv_hpa``, ``rmax_km`` (the columns of :mod:`rescity.hazard.track`).

Error model
-----------
Forecast errors at lead ``τ`` (hours after the issuance time) are Gaussian, unbiased, split into
an along-track and a cross-track component (directions from the official track's motion) plus a
maximum-wind error:

``e_at(τ) = σ_at(τ) z_at(τ)``, ``e_ct(τ) = σ_ct(τ) z_ct(τ)``, ``e_v(τ) = σ_v(τ) z_v(τ)``

where each ``z`` is a unit-variance AR(1) sequence along lead time, ``z_k = φ z_{k-1} +
sqrt(1 − φ²) ε_k`` with ``φ = φ_6h^(Δt/6)`` — the serially correlated error sampling of the NHC
wind-speed probability model (DeMaria et al. 2009, *Wea. Forecasting* 24, 1573–1591). Errors
are drawn at forecast nodes every 12 h (the leads at which official forecasts give positions)
and interpolated linearly in between, so member tracks are as smooth as official ones. The scales
come from the mean errors of operational verification (packaged ``track_errors.csv`` with its
citations): for a 2-D Gaussian error with ``σ_at = r σ_ct`` the mean distance error is

``DPE = sqrt(2/π) σ_at E(1 − 1/r²)``

(``E`` the complete elliptic integral of the second kind; for ``r = 1`` this is the Rayleigh mean
``σ sqrt(π/2)``), so ``σ_at`` follows from the tabulated DPE; an intensity mean absolute error
gives ``σ_v = MAE sqrt(π/2)``. At lead 0 the error is the analysis (positioning) error. Positions
before the issuance time are known: a member shifts them by its analysis error only, so that
members differ before issuance by nothing else.

Intensity perturbations keep the Holland (1980) relation ``Δp ∝ vmax²`` between the pressure
deficit and the maximum wind: ``pcen' = penv − (penv − pcen) (vmax'/vmax)²``. ``rmax_km`` is
not perturbed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.special import ellipe

from rescity.errors import InputError
from rescity.geo import KM_PER_DEG as KM_PER_DEG
from rescity.geo import haversine_km as haversine_km
from rescity.seeds import DEFAULT_SEED

#: AR(1) correlation of the normalised errors between leads 6 h apart (assumption, see docs).
PHI_6H = 0.9
#: Ratio of along-track to cross-track error standard deviation (assumption, see docs).
ALONG_CROSS_RATIO = 1.2
#: Forecast nodes (hours) at which errors are drawn; linear in between (official forecasts give
#: positions every 12 h).
NODE_H = 12.0
#: Lowest maximum wind a perturbed member may have, m/s.
VMAX_FLOOR_MS = 5.0

_REQUIRED = ("time", "lat", "lon", "vmax_ms")
_INTERP = ("lat", "lon", "vmax_ms", "pcen_hpa", "penv_hpa", "rmax_km")


@dataclass(frozen=True)
class ErrorTable:
    """Mean operational errors by lead time.

    Attributes
    ----------
    lead_h:
        Lead times, hours (first is 0, the analysis).
    track_km:
        Mean direct position error (great-circle distance), km.
    vmax_mae_ms:
        Mean absolute error of the maximum wind, m/s.
    name:
        Table name (``cma`` …).
    """

    lead_h: np.ndarray
    track_km: np.ndarray
    vmax_mae_ms: np.ndarray
    name: str = "custom"

    def at(self, lead_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Linearly interpolated (track_km, vmax_mae_ms) at ``lead_h``; flat beyond the table."""
        lead = np.clip(np.asarray(lead_h, float), 0.0, None)
        return np.interp(lead, self.lead_h, self.track_km), np.interp(lead, self.lead_h, self.vmax_mae_ms)


@lru_cache(maxsize=1)
def _error_csv() -> pd.DataFrame:
    from importlib.resources import files

    return pd.read_csv(str(files("rescity.forecast.data") / "track_errors.csv"))


def error_table(name: str = "cma") -> ErrorTable:
    """The packaged error table ``name`` (``cma`` default, ``hko2019``) from ``track_errors.csv``."""
    df = _error_csv()
    sub = df[df["table"] == name].sort_values("lead_h")
    if sub.empty:
        raise InputError(
            f"no error table {name!r}; packaged tables: {sorted(df['table'].unique())}",
            field="errors",
            value=name,
        )
    return ErrorTable(
        sub["lead_h"].to_numpy(float),
        sub["track_error_km"].to_numpy(float),
        sub["vmax_mae_ms"].to_numpy(float),
        name,
    )


def sigma_from_mean_distance(
    dpe_km: np.ndarray, ratio: float = ALONG_CROSS_RATIO
) -> tuple[np.ndarray, np.ndarray]:
    """Along- and cross-track standard deviations (km) whose 2-D Gaussian has mean distance ``dpe_km``.

    ``E|e| = sqrt(2/π) σ_at E(m)``, ``m = 1 − (σ_ct/σ_at)²`` (complete elliptic integral of the
    second kind, parameter ``m``); ``σ_ct = σ_at / ratio``.
    """
    if ratio < 1.0:
        raise InputError("along/cross ratio must be ≥ 1", field="ratio", value=ratio)
    m = 1.0 - 1.0 / ratio**2
    s_at = np.asarray(dpe_km, float) / (np.sqrt(2.0 / np.pi) * ellipe(m))
    return s_at, s_at / ratio


def _check_track(track: pd.DataFrame, name: str = "track") -> pd.DataFrame:
    if not isinstance(track, pd.DataFrame):
        raise InputError("a track must be a table (DataFrame)", field=name, value=type(track).__name__)
    for c in _REQUIRED:
        if c not in track.columns:
            raise InputError(f"track has no {c!r} column", field=c)
    t = track.copy()
    t["time"] = pd.to_datetime(t["time"], utc=True)
    t = t.sort_values("time").drop_duplicates("time").reset_index(drop=True)
    if len(t) < 2:
        raise InputError("a track needs at least two positions", field="time", value=len(t))
    for c in ("lat", "lon", "vmax_ms"):
        if not np.isfinite(t[c].to_numpy(float)).all():
            raise InputError(f"track column {c!r} has missing values", field=c)
    return t


def _to_utc(issued) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(issued)
    except (ValueError, TypeError) as e:
        raise InputError(f"cannot read the issuance time: {e}", field="issued", value=issued) from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _hours(times: pd.Series | pd.DatetimeIndex, ref: pd.Timestamp) -> np.ndarray:
    return ((pd.DatetimeIndex(times) - ref) / pd.Timedelta(hours=1)).to_numpy(float)


def _grid(t_h: np.ndarray, step_h: float, max_lead_h: float) -> np.ndarray:
    """Hours relative to issuance: known times before 0, then 0, step, … ≤ min(end, max_lead)."""
    end = min(float(t_h[-1]), float(max_lead_h))
    n = int(np.floor(end / step_h + 1e-9))
    fc = np.arange(n + 1) * step_h
    if end - fc[-1] > 1e-6:
        fc = np.r_[fc, end]
    past = t_h[t_h < -1e-9]
    return np.r_[past, fc]


def _interp_track(t: pd.DataFrame, t_h: np.ndarray, grid: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for c in _INTERP:
        if c in t.columns:
            out[c] = np.interp(grid, t_h, t[c].to_numpy(float))
    # longitudes: unwrap across the antimeridian before interpolating
    lon = np.unwrap(np.radians(t["lon"].to_numpy(float)))
    out["lon"] = np.degrees(np.interp(grid, t_h, lon))
    return out


def _headings(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (east, north) of the motion at each position (central differences)."""
    de = np.gradient(lon) * KM_PER_DEG * np.cos(np.radians(lat)) if len(lat) > 1 else np.zeros(1)
    dn = np.gradient(lat) * KM_PER_DEG if len(lat) > 1 else np.zeros(1)
    norm = np.hypot(de, dn)
    ok = norm > 1e-6
    if not ok.any():
        return np.zeros_like(lat), np.ones_like(lat)
    # carry the last valid heading over stationary points
    idx = np.where(ok, np.arange(len(lat)), -1)
    idx = np.maximum.accumulate(idx)
    first = np.flatnonzero(ok)[0]
    idx[idx < 0] = first
    return de[idx] / norm[idx], dn[idx] / norm[idx]


def _ar1(rng: np.random.Generator, n: int, leads_h: np.ndarray, phi6: float) -> np.ndarray:
    """``(n, len(leads_h))`` unit-variance AR(1) sequences along lead time."""
    k = len(leads_h)
    eps = rng.standard_normal((n, k))
    z = np.empty((n, k))
    z[:, 0] = eps[:, 0]
    dt = np.diff(leads_h)
    phi = phi6 ** (dt / 6.0)
    s = np.sqrt(1.0 - phi**2)
    for j in range(1, k):  # loop over lead steps (≤ a few dozen), vectorised over members
        z[:, j] = phi[j - 1] * z[:, j - 1] + s[j - 1] * eps[:, j]
    return z


def _interp_matrix(x: np.ndarray, xp: np.ndarray) -> np.ndarray:
    """``(len(x), len(xp))`` weights of linear interpolation from nodes ``xp`` to ``x``."""
    j = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 1)
    j2 = np.minimum(j + 1, len(xp) - 1)
    span = np.where(j2 > j, xp[j2] - xp[j], 1.0)
    w2 = np.where(j2 > j, (x - xp[j]) / span, 0.0)
    m = np.zeros((len(x), len(xp)))
    m[np.arange(len(x)), j] += 1.0 - w2
    m[np.arange(len(x)), j2] += w2
    return m


def _draw_errors(
    rng: np.random.Generator,
    n: int,
    leads_h: np.ndarray,
    table: ErrorTable,
    ratio: float,
    phi6: float,
    node_h: float = NODE_H,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along-track, cross-track (km) and vmax (m/s) errors, each ``(n, len(leads_h))``.

    Errors are drawn at forecast nodes every ``node_h`` hours (and at the last lead) and
    interpolated linearly in between, as official forecasts give positions at fixed leads and
    the track between them is a straight line.
    """
    last = float(leads_h[-1])
    nodes = np.unique(np.r_[np.arange(0.0, last + 1e-9, node_h), last])
    dpe, mae = table.at(nodes)
    s_at, s_ct = sigma_from_mean_distance(dpe, ratio)
    s_v = mae * np.sqrt(np.pi / 2.0)
    w = _interp_matrix(np.asarray(leads_h, float), nodes).T  # (n_nodes, n_leads)
    e_at = (s_at * _ar1(rng, n, nodes, phi6)) @ w
    e_ct = (s_ct * _ar1(rng, n, nodes, phi6)) @ w
    e_v = (s_v * _ar1(rng, n, nodes, phi6)) @ w
    return e_at, e_ct, e_v


def _apply(
    base: dict[str, np.ndarray],
    grid: np.ndarray,
    e_at: np.ndarray,
    e_ct: np.ndarray,
    e_v: np.ndarray,
) -> dict[str, np.ndarray]:
    """Members' fields ``(n, len(grid))`` from a base track and errors at leads ``grid[grid >= 0]``."""
    fc = grid >= -1e-9
    n = e_at.shape[0]
    lat0, lon0 = base["lat"], base["lon"]
    ue, un = _headings(lat0[fc], lon0[fc])
    # cross-track positive to the right of the motion: (un, -ue)
    de_fc = e_at * ue + e_ct * un
    dn_fc = e_at * un - e_ct * ue
    npast = int((~fc).sum())
    de = np.concatenate([np.repeat(de_fc[:, :1], npast, axis=1), de_fc], axis=1)
    dn = np.concatenate([np.repeat(dn_fc[:, :1], npast, axis=1), dn_fc], axis=1)
    dv = np.concatenate([np.repeat(e_v[:, :1], npast, axis=1), e_v], axis=1)
    out = {}
    out["lat"] = lat0[None, :] + dn / KM_PER_DEG
    out["lon"] = lon0[None, :] + de / (KM_PER_DEG * np.cos(np.radians(lat0))[None, :])
    v0 = np.maximum(base["vmax_ms"], 1e-6)
    v = np.maximum(v0[None, :] + dv, VMAX_FLOOR_MS)
    out["vmax_ms"] = v
    if "pcen_hpa" in base and "penv_hpa" in base:
        dp0 = np.maximum(base["penv_hpa"] - base["pcen_hpa"], 0.0)
        dp = dp0[None, :] * (v / v0[None, :]) ** 2
        out["penv_hpa"] = np.broadcast_to(base["penv_hpa"], (n, len(grid))).copy()
        out["pcen_hpa"] = out["penv_hpa"] - np.maximum(dp, 1.0)
    elif "pcen_hpa" in base:
        out["pcen_hpa"] = np.broadcast_to(base["pcen_hpa"], (n, len(grid))).copy()
    if "rmax_km" in base:
        out["rmax_km"] = np.broadcast_to(base["rmax_km"], (n, len(grid))).copy()
    return out


def _long_table(
    fields: dict[str, np.ndarray], grid: np.ndarray, issued: pd.Timestamp, attrs: dict
) -> pd.DataFrame:
    n, k = fields["lat"].shape
    times = issued + pd.to_timedelta(grid, unit="h")
    df = pd.DataFrame(
        {
            "member": np.repeat(np.arange(n), k),
            "time": np.tile(times.round("s"), n),
            "lead_h": np.tile(grid, n),
        }
    )
    for c in ("lat", "lon", "vmax_ms", "pcen_hpa", "penv_hpa", "rmax_km"):
        if c in fields:
            df[c] = fields[c].reshape(-1)
    df["lon"] = (df["lon"] + 180.0) % 360.0 - 180.0
    df.attrs.update(attrs)
    return df


def _stream(seed: int, issued: pd.Timestamp, purpose: int) -> np.random.Generator:
    """A random stream per (seed, issuance time, purpose): reproducible, independent of call order."""
    key = int(issued.value // 3_600_000_000_000)  # whole hours since the epoch
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key % (2**32), purpose)))


def _perturbed(
    track: pd.DataFrame,
    name: str,
    issued,
    seed: int,
    stream: int,
    members: int,
    errors: str | ErrorTable,
    step_h: float,
    max_lead_h: float,
    ratio: float,
    phi6: float,
) -> tuple[pd.Timestamp, ErrorTable, np.ndarray, dict[str, np.ndarray]]:
    """The track on the forecast time grid around ``issued`` with ``members`` draws of error from
    random stream ``stream``: ``(issued, error table, grid hours, fields (members, n_grid))``."""
    t = _check_track(track, name)
    ts = _to_utc(issued)
    t_h = _hours(t["time"], ts)
    if t_h[0] > 1e-9 or t_h[-1] < -1e-9:
        raise InputError(
            f"issuance time {ts} is outside the {name.replace('_', ' ')} "
            f"({t['time'].iloc[0]} … {t['time'].iloc[-1]})",
            field="issued",
            value=str(ts),
        )
    table = error_table(errors) if isinstance(errors, str) else errors
    grid = _grid(t_h, step_h, max_lead_h)
    base = _interp_track(t, t_h, grid)
    leads = grid[grid >= -1e-9]
    e_at, e_ct, e_v = _draw_errors(_stream(seed, ts, stream), members, leads, table, ratio, phi6)
    return ts, table, grid, _apply(base, grid, e_at, e_ct, e_v)


def perturb_track(
    track: pd.DataFrame,
    issued,
    members: int = 50,
    seed: int = DEFAULT_SEED,
    errors: str | ErrorTable = "cma",
    *,
    step_h: float = 3.0,
    max_lead_h: float = 72.0,
    ratio: float = ALONG_CROSS_RATIO,
    phi6: float = PHI_6H,
) -> pd.DataFrame:
    """An ensemble of ``members`` tracks around an official forecast issued at ``issued``.

    Parameters
    ----------
    track:
        The official forecast: positions at or before ``issued`` are the known (analysed) track,
        positions after it the forecast.
    issued:
        Issuance time (UTC; naive times are read as UTC).
    members:
        Number of members (≥ 1; 50 or more for the forecast).
    seed:
        Seed; the stream also depends on the issuance time.
    errors:
        Packaged error table name (``cma``, ``hko2019``) or an :class:`ErrorTable`.
    step_h:
        Time step of the member tracks after issuance, hours.
    max_lead_h:
        Last lead time kept, hours (the forecast is also cut where ``track`` ends).
    ratio, phi6:
        Along/cross-track standard-deviation ratio and the 6-h AR(1) correlation of the errors.

    Returns
    -------
    pandas.DataFrame
        Long table ``member, time, lead_h, lat, lon, vmax_ms[, pcen_hpa, penv_hpa, rmax_km]``;
        ``attrs`` carry ``issued``, ``errors``, ``sn`` and ``name``.
    """
    if members < 1:
        raise InputError("members must be at least 1", field="members", value=members)
    if step_h <= 0:
        raise InputError("step_h must be positive", field="step_h", value=step_h)
    ts, table, grid, fields = _perturbed(
        track, "track", issued, seed, 1, members, errors, step_h, max_lead_h, ratio, phi6
    )
    attrs = {
        "issued": ts,
        "errors": table.name,
        "sn": track.attrs.get("sn", ""),
        "name": track.attrs.get("name", ""),
    }
    return _long_table(fields, grid, ts, attrs)


def official_forecast(
    best_track: pd.DataFrame,
    issued,
    seed: int = DEFAULT_SEED,
    errors: str | ErrorTable = "cma",
    *,
    step_h: float = 3.0,
    max_lead_h: float = 72.0,
    ratio: float = ALONG_CROSS_RATIO,
    phi6: float = PHI_6H,
) -> pd.DataFrame:
    """The forecast an operational centre could have issued at ``issued`` (for hindcasts).

    Positions after ``issued`` are the best track plus one realisation of realistic forecast
    error, correlated along lead time — never the best track itself, so that a forecast made at
    ``T`` does not know the track after ``T``. Positions at or before ``issued`` are the best
    track shifted by one analysis error.

    Returns a track table (``time, lat, lon, vmax_ms, …``) with ``attrs['issued']``.
    """
    ts, table, grid, f = _perturbed(
        best_track, "best_track", issued, seed, 0, 1, errors, step_h, max_lead_h, ratio, phi6
    )
    out = pd.DataFrame({"time": (ts + pd.to_timedelta(grid, unit="h")).round("s")})
    for c in ("lat", "lon", "vmax_ms", "pcen_hpa", "penv_hpa", "rmax_km"):
        if c in f:
            out[c] = f[c][0]
    out["lon"] = (out["lon"] + 180.0) % 360.0 - 180.0
    out.attrs.update(dict(best_track.attrs))
    out.attrs["issued"] = ts
    return out


def member_tracks(ensemble: pd.DataFrame) -> list[pd.DataFrame]:
    """Split a long ensemble table into one track table per member (attrs kept)."""
    out = []
    for _, g in ensemble.groupby("member", sort=True):
        tr = g.drop(columns=["member"]).reset_index(drop=True)
        tr.attrs.update(ensemble.attrs)
        out.append(tr)
    return out


def window(track: pd.DataFrame, start, end) -> pd.DataFrame:
    """The part of a track between ``start`` and ``end`` (UTC), interpolated at both ends."""
    t = _check_track(track)
    t0, t1 = _to_utc(start), _to_utc(end)
    h = _hours(t["time"], t0)
    span = (t1 - t0) / pd.Timedelta(hours=1)
    if h[0] > span or h[-1] < 0:
        return t.iloc[0:0].copy()
    inner = h[(h > 0) & (h < span)]
    grid = np.r_[max(0.0, h[0]), inner, min(span, h[-1])]
    f = _interp_track(t, h, grid)
    out = pd.DataFrame({"time": (t0 + pd.to_timedelta(grid, unit="h")).round("s")})
    for c in _INTERP:
        if c in f:
            out[c] = f[c]
    out.attrs.update(track.attrs)
    return out
