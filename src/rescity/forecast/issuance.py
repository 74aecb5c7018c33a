"""One forecast issuance, and a hindcast as a sequence of issuances.

An issuance runs the simulation of every ensemble member for each lead window (the member's
track restricted to ``issued … issued + L`` h, L = 24, 48, 72 where the forecast reaches), one
task per member with all its windows (the default pipeline computes the wind and rain of the
hours the windows share once: :func:`member_windows`), pools the ``members × realisations``
samples, rolls them up to every administrative level and writes one long table:

``issued, lead_h, unit_id, level, indicator, mean, p05, p95, warning, change, warning_change,
name_zh, name_en, population``

``p05``/``p95`` bound the 90 % interval of the pooled samples; ``warning`` is the level 0…4 of
the mean (:mod:`rescity.forecast.warning`); ``change`` is the mean minus the previous issuance's
mean for the same lead, unit and indicator (empty for the first issuance).

The per-member simulation is a parameter (``simulate_member``): a function ``(twin, track,
realisations, seed, params) -> {indicator: (R, n_units)}`` with values on base-level rows; the
default, :func:`member_indicators`, runs the hazard and the engine of the scenario run; a custom
function is called once per member and window. Seeds are drawn per (issuance, member) from
``numpy.random.SeedSequence``, the same for every lead, so that longer windows reuse the same
damage draws and results do not depend on ``workers``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rescity.engine.aggregate import ancestors
from rescity.engine.executor import Executor, imap_chunks
from rescity.errors import InputError
from rescity.forecast import DEFAULT_MEMBERS  # noqa: F401  (re-exported; defined where the CLI reads it)
from rescity.forecast import ensemble as ens
from rescity.forecast import warning as wl
from rescity.forecast.indicators import (
    INDICATORS,
    IndicatorParams,
    indicators_from_result,
    rollup,
)
from rescity.hazard.landfall import land_geometry, landfall_fix, landfall_time  # noqa: F401  (re-exported)
from rescity.seeds import DEFAULT_SEED

#: Lead windows (hours after issuance) computed where the forecast reaches them.
LEADS_H: tuple[int, ...] = (24, 48, 72)
#: Column order of an issuance table.
COLUMNS: tuple[str, ...] = (
    "issued",
    "lead_h",
    "unit_id",
    "level",
    "indicator",
    "mean",
    "p05",
    "p95",
    "warning",
    "change",
    "warning_change",
    "name_zh",
    "name_en",
    "population",
)
MemberFn = Callable[..., dict[str, np.ndarray]]


def member_indicators(
    twin, track: pd.DataFrame, realisations: int, seed: int, params: dict | None = None
) -> dict[str, np.ndarray]:
    """Indicators of one member track with the rescity pipeline (hazard → engine → indicators).

    Runs :func:`rescity.hazard.event.typhoon_event` at the cell centroids (assets take their cell's
    wind and rain) and :func:`rescity.engine.event.simulate_event` (keeping every realisation and
    the per-asset damage states for the economic loss and impassable roads), then
    :func:`rescity.forecast.indicators.indicators_from_result`. Calibration parameters in ``params``
    (:data:`rescity.engine.event.CALIBRATION_PARAMS`) reach the hazard and the engine through
    :func:`rescity.engine.event.split_params`; the others are indicator parameters.
    """
    return member_windows(twin, [track], realisations, seed, params)[0]


def member_windows(
    twin, tracks: Sequence[pd.DataFrame], realisations: int, seed: int, params: dict | None = None
) -> list[dict[str, np.ndarray]]:
    """:func:`member_indicators` of each lead window of one member (windows of its track with the
    same start, :func:`rescity.forecast.ensemble.window`), the same values bit for bit, with the
    wind and rain of the hours the windows share computed once
    (:func:`rescity.hazard.event.typhoon_events`); the engine and the indicators run per window,
    each with ``seed``."""
    from rescity.engine.event import simulate_event, split_params
    from rescity.hazard.event import typhoon_events

    params = dict(params or {})
    hazard_kw, sim_kw = split_params(params)
    out = []
    for asset_int, cell_int in typhoon_events(twin, list(tracks), sites="cells", **hazard_kw):
        result = simulate_event(
            twin, (asset_int, cell_int), realisations, seed,
            simulate_kw={**sim_kw, "keep_states": True, "keep": "all"},
        )  # fmt: skip  (the indicators read every realisation of every cell)
        out.append(indicators_from_result(twin, result, cell_int, params))
    return out


# ---------------------------------------------------------------------------------------------
# seeds, windows and workers


def member_seed(seed: int, issued: pd.Timestamp, member: int) -> int:
    """Seed of one member's simulation (same for every lead window)."""
    key = int(issued.value // 3_600_000_000_000) % (2**32)
    ss = np.random.SeedSequence(seed, spawn_key=(key, 7, member))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def _run_member(
    shared: tuple, windows: tuple[pd.DataFrame, ...], realisations: int, seed: int
) -> list[dict[str, np.ndarray]]:
    """Every lead window of one member (``shared`` = twin, member function, parameters): the
    default pipeline shares the windows' hazard (:func:`member_windows`); any other member
    function is called once per window."""
    twin, fn, params = shared
    if fn is member_indicators:
        return member_windows(twin, windows, realisations, seed, params)
    return [fn(twin, w, realisations, seed, params) for w in windows]


def _leads_reached(tracks: list[pd.DataFrame], issued: pd.Timestamp, leads: Sequence[int]) -> list[int]:
    end_h = max(((t["time"].max() - issued) / pd.Timedelta(hours=1)) for t in tracks)
    keep = [int(L) for L in leads if end_h >= L - 1e-6]
    if not keep and leads:
        keep = [int(min(leads))]  # the first window is always issued, however short the forecast
    return keep


def _as_tracks(ensemble) -> list[pd.DataFrame]:
    if isinstance(ensemble, pd.DataFrame):
        if "member" not in ensemble.columns:
            raise InputError("an ensemble table needs a 'member' column", field="member")
        return ens.member_tracks(ensemble)
    tracks = list(ensemble)
    if not tracks:
        raise InputError("the ensemble has no members", field="members")
    return tracks


# ---------------------------------------------------------------------------------------------
# the issuance


@dataclass
class IssuanceSamples:
    """Pooled samples of one issuance: ``values[lead][indicator]`` is ``(S, n_units)`` (rolled up)."""

    issued: pd.Timestamp
    values: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


def simulate_issuance(
    twin,
    ensemble,
    issued=None,
    *,
    leads: Sequence[int] = LEADS_H,
    realisations: int = 4,
    seed: int = DEFAULT_SEED,
    simulate_member: MemberFn | None = None,
    params: dict | None = None,
    workers: int | Executor = 1,
    progress: bool = False,
) -> IssuanceSamples:
    """Run every member and lead window; return the pooled, rolled-up samples (see :func:`run_issuance`)."""
    tracks = _as_tracks(ensemble)
    if issued is None:
        issued = getattr(ensemble, "attrs", {}).get("issued")
        if issued is None:
            raise InputError("the issuance time is unknown; pass issued", field="issued")
    ts = ens._to_utc(issued)
    if realisations < 1:
        raise InputError("realisations must be at least 1", field="realisations", value=realisations)
    fn = member_indicators if simulate_member is None else simulate_member
    lead_list = _leads_reached(tracks, ts, leads)
    # one task per member: its lead windows (those with two fixes at least), one seed for all
    tasks = []
    for m, tr in enumerate(tracks):
        wins = [(L, ens.window(tr, ts, ts + pd.Timedelta(hours=L))) for L in lead_list]
        wins = [(L, w) for L, w in wins if len(w) >= 2]
        if wins:
            tasks.append((m, wins))
    outputs: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    payload = [(tuple(w for _, w in wins), realisations, member_seed(seed, ts, m)) for m, wins in tasks]

    def _progress(iterable, total):
        if not progress:
            return iterable
        from rich.progress import track as rich_track

        return rich_track(iterable, total=total, description=f"issuance {ts:%Y-%m-%d %H}Z")

    results = list(
        _progress(imap_chunks(_run_member, payload, shared=(twin, fn, params), workers=workers), len(payload))
    )
    for (m, wins), res in zip(tasks, results, strict=True):
        for (L, _w), r in zip(wins, res, strict=True):
            outputs[(L, m)] = r

    u = ancestors(twin)
    n = twin.n_units
    samples = IssuanceSamples(ts)
    for L in lead_list:
        per_ind: dict[str, list[np.ndarray]] = {k: [] for k in INDICATORS}
        for m in range(len(tracks)):
            res = outputs.get((L, m))
            for k in INDICATORS:
                x = None if res is None else res.get(k)
                if x is None:
                    x = np.zeros((realisations if res is None else _n_real(res), n))
                x = np.asarray(x, float)
                if x.ndim == 1:
                    x = x[None, :]
                if x.shape[1] != n:
                    raise InputError(f"member output {k!r} has {x.shape[1]} units, twin {n}", field=k)
                per_ind[k].append(x)
        samples.values[L] = {k: rollup(twin, np.concatenate(v, axis=0), u) for k, v in per_ind.items()}
    return samples


def _n_real(res: dict[str, np.ndarray]) -> int:
    for v in res.values():
        a = np.asarray(v)
        return a.shape[0] if a.ndim == 2 else 1
    return 1


def summarise(
    twin,
    samples: IssuanceSamples,
    thresholds: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The long issuance table from pooled samples (adds the composite score and the change)."""
    units = twin.units
    lv = units["level"].to_numpy(object)
    pop = units["population"].to_numpy(float)
    hh = units["households"].to_numpy(float)
    warned = wl.indicators_with_thresholds(thresholds)
    frames = []
    for L, vals in samples.values.items():
        scores = {
            k: wl.score(vals[k], k, lv, pop, hh, thresholds)
            for k in warned
            if k in vals and vals[k] is not None
        }
        allv = dict(vals)
        allv["composite"] = wl.composite(scores) if scores else np.zeros_like(next(iter(vals.values())))
        for k, x in allv.items():
            mean = x.mean(axis=0)
            p05, p95 = np.quantile(x, [0.05, 0.95], axis=0)
            warn = (
                wl.warning_level(mean, k, lv, pop, hh, thresholds) if (k in warned or k == "composite") else 0
            )
            frames.append(
                pd.DataFrame(
                    {
                        "issued": samples.issued.strftime("%Y-%m-%dT%H:%MZ"),
                        "lead_h": int(L),
                        "unit_id": units["unit_id"].to_numpy(),
                        "level": lv,
                        "indicator": k,
                        "mean": mean,
                        "p05": p05,
                        "p95": p95,
                        "warning": np.broadcast_to(np.asarray(warn, np.int8), mean.shape),
                        "name_zh": units["name_zh"].to_numpy(),
                        "name_en": units["name_en"].to_numpy(),
                        "population": units["population"].to_numpy(),
                    }
                )
            )
    out = pd.concat(frames, ignore_index=True)
    out = add_change(out, previous)
    return out[list(COLUMNS)]


def add_change(table: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Set ``change``/``warning_change`` against the latest issuance in ``previous`` before this one."""
    t = table.drop(columns=[c for c in ("change", "warning_change") if c in table.columns])
    if previous is None or previous.empty:
        t["change"] = np.nan
        t["warning_change"] = pd.array([pd.NA] * len(t), dtype="Int8")
        return t
    this = pd.to_datetime(t["issued"].iloc[0], utc=True)
    prev_times = pd.to_datetime(previous["issued"], utc=True)
    earlier = prev_times[prev_times < this]
    if earlier.empty:
        return add_change(t, None)
    last = earlier.max()
    p = previous.loc[prev_times == last, ["lead_h", "unit_id", "indicator", "mean", "warning"]]
    p = p.rename(columns={"mean": "_prev_mean", "warning": "_prev_warning"})
    m = t.merge(p, on=["lead_h", "unit_id", "indicator"], how="left")
    m["change"] = m["mean"] - m["_prev_mean"]
    m["warning_change"] = (m["warning"].astype("Int8") - m["_prev_warning"].astype("Int8")).astype("Int8")
    return m.drop(columns=["_prev_mean", "_prev_warning"])


def run_issuance(
    twin,
    ensemble,
    issued=None,
    *,
    leads: Sequence[int] = LEADS_H,
    realisations: int = 4,
    seed: int = DEFAULT_SEED,
    simulate_member: MemberFn | None = None,
    params: dict | None = None,
    previous: pd.DataFrame | None = None,
    thresholds: pd.DataFrame | None = None,
    workers: int | Executor = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Risk forecast of one issuance for every unit and level.

    Parameters
    ----------
    twin:
        The city model (:class:`rescity.twin.model.Twin`).
    ensemble:
        Member tracks: the long table of :func:`rescity.forecast.ensemble.perturb_track` or a list
        of track tables.
    issued:
        Issuance time (UTC); default ``ensemble.attrs['issued']``.
    leads:
        Lead windows, hours; a window is computed when the forecast reaches it (the first always).
    realisations:
        Monte Carlo realisations of the engine per member (samples = members × realisations).
    seed:
        Seed of every random stream.
    simulate_member:
        Per-member simulation (default :func:`member_indicators`).
    params:
        Calibration / indicator parameters (:class:`IndicatorParams` fields and
        :data:`ENGINE_PARAMS`).
    previous:
        Earlier issuances (same table format) for ``change``.
    thresholds:
        Warning thresholds (default: packaged).
    workers:
        Local worker processes, or an executor (:func:`rescity.engine.executor.resolve_executor`:
        a local pool or a Dask cluster); results do not depend on it.

    Returns
    -------
    pandas.DataFrame
        The long issuance table (:data:`COLUMNS`).
    """
    if params is not None:
        IndicatorParams.from_dict(params)  # type check early
    samples = simulate_issuance(
        twin,
        ensemble,
        issued,
        leads=leads,
        realisations=realisations,
        seed=seed,
        simulate_member=simulate_member,
        params=params,
        workers=workers,
        progress=progress,
    )
    return summarise(twin, samples, thresholds, previous)


# ---------------------------------------------------------------------------------------------
# landfall (rescity.hazard.landfall) and hindcast


def issuance_times(
    track: pd.DataFrame, landfall, start_h: float = 72.0, end_h: float = 0.0, step_h: float = 6.0
):
    """Synoptic issuance times (multiples of ``step_h`` after 00 UTC) from ``landfall − start_h``
    to ``landfall + end_h``, within the track."""
    lf = ens._to_utc(landfall)
    t = ens._check_track(track)
    first = max(lf - pd.Timedelta(hours=start_h), t["time"].iloc[0])
    last = min(lf + pd.Timedelta(hours=end_h), t["time"].iloc[-1])
    step = pd.Timedelta(hours=step_h)
    day = first.normalize()
    k0 = int(np.ceil((first - day) / step))
    times = []
    cur = day + k0 * step
    while cur <= last:
        times.append(cur)
        cur += step
    if not times:
        raise InputError(f"no issuance time between {first} and {last}", field="landfall", value=str(lf))
    return times


@dataclass
class Hindcast:
    """Result of :func:`hindcast`: the issuance table, the official and member tracks, landfall."""

    issuances: pd.DataFrame
    tracks: pd.DataFrame
    landfall: pd.Timestamp
    meta: dict = field(default_factory=dict)


def hindcast(
    twin,
    best_track: pd.DataFrame,
    *,
    landfall=None,
    start_h: float = 72.0,
    end_h: float = 0.0,
    step_h: float = 6.0,
    members: int = DEFAULT_MEMBERS,
    leads: Sequence[int] = LEADS_H,
    realisations: int = 4,
    seed: int = DEFAULT_SEED,
    errors: str | ens.ErrorTable = "cma",
    official_seed: int | None = None,
    decorrelation_h: float = ens.ISSUANCE_DECORRELATION_H,
    simulate_member: MemberFn | None = None,
    params: dict | None = None,
    thresholds: pd.DataFrame | None = None,
    workers: int | Executor = 1,
    progress: bool = False,
) -> Hindcast:
    """Replay a historical storm as an operational centre would have forecast it.

    Every ``step_h`` hours from ``landfall − start_h`` to ``landfall + end_h``: an official
    forecast from the best track known up to the issuance time plus a realistic error
    realisation (:func:`rescity.forecast.ensemble.official_forecast`), an ensemble of
    ``members`` tracks around it, and an issuance (:func:`run_issuance`) whose ``change`` refers
    to the previous one.

    The official forecasts share one error evolving in issuance time (correlation
    ``exp(−Δt / decorrelation_h)`` between forecasts ``Δt`` apart for the same valid time),
    drawn with ``official_seed`` (default :data:`rescity.forecast.ensemble.OFFICIAL_SEED`): they
    are part of the replayed scenario, like the best track, and ``seed`` only draws the
    ensemble members and the damage samples. Each issuance depends on earlier times only: adding
    later issuances, or starting earlier, leaves it unchanged (except for ``change``).
    """
    lf = landfall_time(best_track, land_geometry(twin)) if landfall is None else ens._to_utc(landfall)
    times = issuance_times(best_track, lf, start_h, end_h, step_h)
    tables: list[pd.DataFrame] = []
    tracks: list[pd.DataFrame] = []
    prev = None
    off_seed = ens.OFFICIAL_SEED if official_seed is None else int(official_seed)
    for ts in times:
        off = ens.official_forecast(
            best_track,
            ts,
            off_seed,
            errors,
            max_lead_h=float(max(leads)),
            decorrelation_h=decorrelation_h,
        )
        e = ens.perturb_track(off, ts, members, seed, errors, max_lead_h=float(max(leads)))
        tab = run_issuance(
            twin,
            e,
            ts,
            leads=leads,
            realisations=realisations,
            seed=seed,
            simulate_member=simulate_member,
            params=params,
            previous=prev,
            thresholds=thresholds,
            workers=workers,
            progress=progress,
        )
        tables.append(tab)
        prev = tab
        o = off.copy()
        o.insert(0, "member", -1)
        o["lead_h"] = (o["time"] - ts) / pd.Timedelta(hours=1)
        both = pd.concat([o, e], ignore_index=True)
        both.insert(0, "issued", ts.strftime("%Y-%m-%dT%H:%MZ"))
        tracks.append(both)
    meta = {
        "sn": best_track.attrs.get("sn", ""),
        "name": best_track.attrs.get("name", ""),
        "landfall": lf.strftime("%Y-%m-%dT%H:%MZ"),
        "members": members,
        "realisations": realisations,
        "errors": errors if isinstance(errors, str) else errors.name,
        "seed": seed,
        "official_seed": off_seed,
        "official_decorrelation_h": float(decorrelation_h),
        "leads_h": [int(x) for x in leads],
    }
    return Hindcast(pd.concat(tables, ignore_index=True), pd.concat(tracks, ignore_index=True), lf, meta)
