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

Official forecasts of a hindcast
--------------------------------
A hindcast's official forecasts share one evolving error. The normalised error ``Z_t(T)`` of
the forecast issued at ``t`` for valid time ``T`` (three components: along, cross, vmax) is a
Gaussian field on hourly grids of issuance and valid time:

``Z_t(·) = a Z_{t−1h}(·) + sqrt(1 − a²) W_t(·)``, ``a = exp(−1 h / τ_i)``

with ``W_t`` a fresh unit-variance AR(1) sequence along valid time (``φ_6h`` per 6 h, as along
lead time above) whose white noise is a counter-based hash of ``(seed, hour t, valid time,
component)``. Its covariance is separable,
``corr(Z_t(T), Z_t'(T')) = exp(−|t − t'| / τ_i) · φ_6h^(|T − T'| / 6 h)``: the forecasts for
valid time ``T`` issued at ``t`` and ``t + 6 h`` have errors correlated by ``exp(−6/τ_i)``,
and within one forecast the errors along lead time keep the AR(1) correlation of the
ensemble. ``τ_i = 24 h`` (:data:`ISSUANCE_DECORRELATION_H`) after the time consistency of
successive western North Pacific track forecasts (Elsberry & Dobos 1990, *Mon. Wea. Rev.*
118, 746–754: successive cross-track errors are consistent in time, and a centre-tercile 24-h
error is followed by equal chances of left, centre or right within 24–48 h; τ_i is our reading
of those tercile transitions, see docs/forecast.md). The forecast issued at ``t`` uses innovations of
hours ``≤ t`` only, so it does not change when later issuances are added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.special import ellipe, ndtri

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
#: e-folding time of the official forecast error in issuance time, hours (Elsberry & Dobos 1990;
#: see the module docstring): consecutive 6-hourly forecasts' errors correlate by exp(−6/24) = 0.78.
ISSUANCE_DECORRELATION_H = 24.0
#: Seed of the official forecasts of a hindcast: one fixed draw, part of the replayed scenario
#: like the best track, so that a hindcast's ``seed`` only changes the ensemble and damage samples.
OFFICIAL_SEED = DEFAULT_SEED

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


def _stratified_normal(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``(n, k)`` standard normals by Latin hypercube sampling (McKay, Beckman & Conover 1979,
    *Technometrics* 21, 239–245): in every column each of the ``n`` equiprobable strata of N(0, 1)
    holds exactly one draw, the strata assigned to rows by an independent random permutation.

    Every row is exactly N(0, I) (the marginal of a member is unchanged); across rows the draws
    are balanced, so a mean over members has a smaller variance than with independent draws (for
    any function with an additive part; Stein 1987, *Technometrics* 29, 143–151).
    """
    u = (np.argsort(rng.random((k, n)), axis=1) + rng.random((k, n))) / n
    return ndtri(u).T


def _ar1(
    rng: np.random.Generator, n: int, leads_h: np.ndarray, phi6: float, stratified: bool = False
) -> np.ndarray:
    """``(n, len(leads_h))`` unit-variance AR(1) sequences along lead time.

    ``stratified``: the sequences are ``z = ε' (U Λ^½)ᵀ`` with ``C = U Λ Uᵀ`` the AR(1) correlation
    ``C_ij = φ_6h^(|τ_i − τ_j| / 6)`` (principal components, largest first) and ``ε'``
    Latin-hypercube draws (:func:`_stratified_normal`): every sequence is exactly N(0, C), as with
    the recursion, and the leading component — the error common to all leads, which decides
    when a member reaches the coast — is stratified across the ``n`` sequences.
    """
    k = len(leads_h)
    if stratified and n > 1:
        t = np.asarray(leads_h, float)
        lam, u = np.linalg.eigh(phi6 ** (np.abs(t[:, None] - t[None, :]) / 6.0))
        order = np.argsort(lam)[::-1]
        a = u[:, order] * np.sqrt(np.clip(lam[order], 0.0, None))
        return _stratified_normal(rng, n, k) @ a.T
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


def _nodes(leads_h: np.ndarray, node_h: float = NODE_H) -> np.ndarray:
    """Forecast nodes (hours): every ``node_h`` hours from 0, and the last lead."""
    last = float(leads_h[-1])
    return np.unique(np.r_[np.arange(0.0, last + 1e-9, node_h), last])


def _errors_from_z(
    z: np.ndarray, nodes: np.ndarray, leads_h: np.ndarray, table: ErrorTable, ratio: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along-track, cross-track (km) and vmax (m/s) errors ``(n, len(leads_h))`` from normalised
    errors ``z`` ``(3, n, len(nodes))`` at the nodes, interpolated linearly in between."""
    dpe, mae = table.at(nodes)
    s_at, s_ct = sigma_from_mean_distance(dpe, ratio)
    s_v = mae * np.sqrt(np.pi / 2.0)
    w = _interp_matrix(np.asarray(leads_h, float), nodes).T  # (n_nodes, n_leads)
    return (s_at * z[0]) @ w, (s_ct * z[1]) @ w, (s_v * z[2]) @ w


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
    nodes = _nodes(leads_h, node_h)
    z = np.stack([_ar1(rng, n, nodes, phi6) for _ in range(3)])
    return _errors_from_z(z, nodes, leads_h, table, ratio)


def _hour_key(ts: pd.Timestamp) -> int:
    return int(ts.value // 3_600_000_000_000)  # whole hours since the epoch


def _stationary_ar1(x: np.ndarray, r: float, axis: int) -> np.ndarray:
    """Unit-variance AR(1) filter of white noise ``x`` along ``axis``: ``y_0 = x_0``,
    ``y_k = r y_{k−1} + sqrt(1 − r²) x_k`` (causal: ``y_k`` uses ``x_0 … x_k`` only).

    The recursion of ``scipy.signal.lfilter([s], [1, −r], x, zi=(1 − s) x_0)`` (direct form II
    transposed) with the same arithmetic, one step per element along ``axis``; written out so
    that a forecast need not import ``scipy.signal`` (over a second)."""
    s = np.sqrt(max(1.0 - r * r, 0.0))
    xm = np.moveaxis(np.asarray(x, dtype=float), axis, 0)
    y = np.empty_like(xm)
    z = (1.0 - s) * xm[0]
    for k in range(xm.shape[0]):
        y[k] = z + s * xm[k]
        z = r * y[k]
    return np.moveaxis(y, 0, axis)


#: Hours of innovations an official forecast error remembers, in decorrelation times: forecasts
#: issued more than 4 τ apart (correlation exp(−4) < 2 %) are taken as independent.
MEMORY_DECORRELATIONS = 4.0
_MAX_MEMORY_H = 720
_HOURS_1900 = pd.Timestamp("1900-01-01", tz="UTC")


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014), element-wise on ``uint64`` (wrapping)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _counter_normals(seed: int, counter: np.ndarray) -> np.ndarray:
    """Standard normal numbers, one per ``counter`` value (counter-based: any subset, any order)."""
    from scipy.special import ndtri

    key = _splitmix64(np.array([int(seed) % 2**64], dtype=np.uint64))
    x = _splitmix64(_splitmix64(counter.astype(np.uint64) ^ key))
    u = ((x >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    return ndtri(u)


def official_error_z(
    seed: int,
    issued,
    valid_h,
    *,
    phi6: float = PHI_6H,
    decorrelation_h: float = ISSUANCE_DECORRELATION_H,
) -> np.ndarray:
    """Normalised official-forecast errors ``(3, len(valid_h))`` (along, cross, vmax) of the
    forecast issued at ``issued`` for valid times ``issued + valid_h`` hours.

    The field ``Z_t(T)`` of the module docstring on hourly grids of issuance and valid time
    (issuance times taken to the hour): the innovation ``W_k`` of issuance hour ``k`` is an
    AR(1) sequence along valid time ``T ≥ k`` with a stationary start at ``T = k``, its white
    noise a counter-based hash of ``(seed, k, T − k, component)`` (SplitMix64, inverse normal
    CDF), so it depends on nothing but those. ``Z_t`` runs the AR(1) in issuance time over the
    ``4 τ`` hours before ``t`` (stationary start; ``τ = decorrelation_h``, 0: independent
    forecasts). Unit variance; ``corr(Z_t(T), Z_t'(T')) = exp(−|t − t'|/τ) φ_6h^(|T − T'|/6)``
    for ``|t − t'| < 4 τ`` (within ``exp(−2(4τ − |t − t'|)/τ)`` relative), 0 beyond.
    The forecast issued at ``t`` uses innovations of hours ``≤ t`` only.
    """
    if decorrelation_h < 0:
        raise InputError("decorrelation_h must be ≥ 0", field="decorrelation_h", value=decorrelation_h)
    ts = _to_utc(issued)
    t_h = ts.floor("h")
    k_t = int((t_h - _HOURS_1900) // pd.Timedelta(hours=1))
    vh = (ts - t_h) / pd.Timedelta(hours=1) + np.asarray(valid_h, float)
    if vh.size and vh.min() < -1e-9:
        raise InputError("valid times before the issuance", field="valid_h", value=float(vh.min()))
    horizon = int(np.ceil(vh.max())) + 1 if vh.size else 1
    memory = min(int(np.ceil(MEMORY_DECORRELATIONS * decorrelation_h)), _MAX_MEMORY_H)
    a1 = float(np.exp(-1.0 / decorrelation_h)) if decorrelation_h > 0 else 0.0
    k_rel = np.arange(memory + 1)  # issuance hours k_t − memory … k_t
    d = np.arange(memory + horizon + 1)  # valid-time offsets from the issuance hour
    c = np.arange(3)
    counter = ((k_t - memory + k_rel)[:, None, None] * 4096 + d[None, :, None]) * 4 + c[None, None, :]
    eps = _counter_normals(seed, counter)  # (memory + 1, len(d), 3)
    w = _stationary_ar1(eps, phi6 ** (1.0 / 6.0), axis=1)  # AR(1) along valid time
    tau = np.arange(horizon + 1)
    g = w[k_rel[:, None], (memory - k_rel)[:, None] + tau[None, :], :]  # at valid t + τ
    z = _stationary_ar1(g, a1, axis=0)[-1]  # AR(1) in issuance time: (horizon + 1, 3)
    return np.stack([np.interp(vh, tau.astype(float), z[:, j]) for j in range(3)])


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
    key = _hour_key(issued)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key % (2**32), purpose)))


def _perturbed(
    track: pd.DataFrame,
    name: str,
    issued,
    draw_z,
    errors: str | ErrorTable,
    step_h: float,
    max_lead_h: float,
    ratio: float,
) -> tuple[pd.Timestamp, ErrorTable, np.ndarray, dict[str, np.ndarray]]:
    """The track on the forecast time grid around ``issued`` with errors from
    ``draw_z(t, issued, nodes) -> (3, n, len(nodes))`` (normalised, at the forecast nodes, ``t``
    the checked track): ``(issued, error table, grid hours, fields (n, n_grid))``."""
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
    nodes = _nodes(leads)
    e_at, e_ct, e_v = _errors_from_z(draw_z(t, ts, nodes), nodes, leads, table, ratio)
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
    stratified: bool = True,
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
    stratified:
        Draw the members' error innovations by Latin hypercube sampling (default): each member
        is distributed exactly as with independent draws, and the ensemble mean varies less from
        seed to seed (docs/forecast.md, "Seed variability"). ``False``: independent draws.

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

    def draw_z(t, ts, nodes):
        rng = _stream(seed, ts, 1)
        return np.stack([_ar1(rng, members, nodes, phi6, stratified=stratified) for _ in range(3)])

    ts, table, grid, fields = _perturbed(track, "track", issued, draw_z, errors, step_h, max_lead_h, ratio)
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
    seed: int = OFFICIAL_SEED,
    errors: str | ErrorTable = "cma",
    *,
    step_h: float = 3.0,
    max_lead_h: float = 72.0,
    ratio: float = ALONG_CROSS_RATIO,
    phi6: float = PHI_6H,
    decorrelation_h: float = ISSUANCE_DECORRELATION_H,
) -> pd.DataFrame:
    """The forecast an operational centre could have issued at ``issued`` (for hindcasts).

    Positions after ``issued`` are the best track plus one realisation of realistic forecast
    error, correlated along lead time — never the best track itself, so that a forecast made at
    ``T`` does not know the track after ``T``. Positions at or before ``issued`` are the best
    track shifted by one analysis error. The error is the field ``Z_t(T)`` of the module
    docstring (:func:`official_error_z`), shared by every issuance of a storm with the same
    ``seed``: forecasts issued ``Δt`` apart have errors for the same valid time correlated by
    ``exp(−Δt / decorrelation_h)`` (``decorrelation_h = 0``: independent forecasts).

    Returns a track table (``time, lat, lon, vmax_ms, …``) with ``attrs['issued']``.
    """
    if decorrelation_h < 0:
        raise InputError("decorrelation_h must be ≥ 0", field="decorrelation_h", value=decorrelation_h)

    def draw_z(t, ts, nodes):
        return official_error_z(seed, ts, nodes, phi6=phi6, decorrelation_h=decorrelation_h)[:, None, :]

    ts, table, grid, f = _perturbed(
        best_track, "best_track", issued, draw_z, errors, step_h, max_lead_h, ratio
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
    return windows(track, start, [end])[0]


def windows(track: pd.DataFrame, start, ends: Sequence) -> list[pd.DataFrame]:
    """:func:`window` of ``track`` from ``start`` to each of ``ends`` (the lead windows of one
    member), the track checked and put in hours once."""
    t = _check_track(track)
    t0 = _to_utc(start)
    h = _hours(t["time"], t0)
    out = []
    for end in ends:
        span = (_to_utc(end) - t0) / pd.Timedelta(hours=1)
        if h[0] > span or h[-1] < 0:
            out.append(t.iloc[0:0].copy())
            continue
        inner = h[(h > 0) & (h < span)]
        grid = np.r_[max(0.0, h[0]), inner, min(span, h[-1])]
        f = _interp_track(t, h, grid)
        w = pd.DataFrame(
            {"time": (t0 + pd.to_timedelta(grid, unit="h")).round("s"), **{c: f[c] for c in _INTERP if c in f}}
        )
        w.attrs.update(track.attrs)
        out.append(w)
    return out
