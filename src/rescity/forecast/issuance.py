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

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import pandas as pd

from rescity.engine.aggregate import ancestors
from rescity.engine.executor import Executor, LocalExecutor, as_executor, imap_chunks
from rescity.errors import InputError
from rescity.forecast import DEFAULT_MEMBERS  # noqa: F401  (re-exported; defined where the CLI reads it)
from rescity.forecast import ensemble as ens
from rescity.forecast import warning as wl
from rescity.forecast.indicators import (
    INDICATORS,
    IndicatorParams,
    indicators_from_result,
)
from rescity.hazard.landfall import land_geometry, landfall_fix, landfall_time  # noqa: F401  (re-exported)
from rescity.metrics.quantiles import quantile
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
    from rescity.hazard.event import asset_cells, typhoon_events

    params = dict(params or {})
    hazard_kw, sim_kw = split_params(params)
    out = []
    with twin.unchanged():  # the twin's kept set-up is looked up ~30 times a member
        # assets take their cell's wind and rain: fragility curves evaluated once per (curve, cell)
        kw = {**sim_kw, "keep_states": True, "keep": "all", "asset_sites": asset_cells(twin)}
        for asset_int, cell_int in typhoon_events(twin, list(tracks), sites="cells", **hazard_kw):
            # the indicators read every realisation of every cell
            result = simulate_event(twin, (asset_int, cell_int), realisations, seed, simulate_kw=kw)
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
    ends = [ts + pd.Timedelta(hours=L) for L in lead_list]
    for m, tr in enumerate(tracks):
        wins = [(L, w) for L, w in zip(lead_list, ens.windows(tr, ts, ends), strict=True) if len(w) >= 2]
        if wins:
            tasks.append((m, wins))
    outputs: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    payload = [(tuple(w for _, w in wins), realisations, member_seed(seed, ts, m)) for m, wins in tasks]

    def _progress(iterable, total):
        if not progress:
            return iterable
        from rich.progress import track as rich_track

        return rich_track(iterable, total=total, description=f"issuance {ts:%Y-%m-%d %H}Z")

    shared = (twin, fn, params)
    ex = as_executor(workers)
    if fn is member_indicators and len(payload) > 2 and isinstance(ex, LocalExecutor) and ex.forks:
        # the first member runs here: the twin's set-up it builds (curve assignment, cascade and
        # service models, terrain shares …, about a second) is inherited by the forked workers
        # instead of being built again in each; same function and seed, so the same numbers
        def first() -> Iterator[list[dict[str, np.ndarray]]]:
            yield _run_member(shared, *payload[0])

        runs = chain(first(), imap_chunks(_run_member, payload[1:], shared=shared, workers=ex))
    else:
        runs = imap_chunks(_run_member, payload, shared=shared, workers=ex)
    results = list(_progress(runs, len(payload)))
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
        samples.values[L] = {k: rollup_blocks(u, v) for k, v in per_ind.items()}
    return samples


#: Samples rolled up per sparse product in :func:`rollup_blocks` (16 × 6,291 units × 8 bytes:
#: the vectors a product reads stay in the CPU caches while every ancestor row sums them).
ROLLUP_SAMPLES = 16


def rollup_blocks(matrix, blocks: Sequence[np.ndarray]) -> np.ndarray:
    """``rollup(twin, np.concatenate(blocks), matrix)`` (:func:`rescity.engine.aggregate.rollup`,
    ``matrix`` = the ancestors matrix, CSR), the same array bit for bit and in the same memory
    order, ``(S, n_units)`` viewing a C-ordered ``(n_units, S)`` product.

    The blocks ``(r_i, n_units)`` are written once, transposed, into the C-ordered ``(n_units,
    s)`` arrays the sparse product reads, :data:`ROLLUP_SAMPLES` samples at a time, instead of
    concatenated and copied transposed whole: the product adds, for every output element, the
    same terms in the same order (the matrix's row order) whatever the number of vectors, and
    its vectors stay in cache (the province row reads every cell)."""
    n = matrix.shape[0]
    rows = [(b, j) for b in blocks for j in range(b.shape[0])]
    out = np.empty((n, len(rows)))
    for a in range(0, len(rows), ROLLUP_SAMPLES):
        part = rows[a : a + ROLLUP_SAMPLES]
        xt = np.empty((matrix.shape[1], len(part)))
        for i, (b, j) in enumerate(part):
            xt[:, i] = b[j]
        out[:, a : a + len(part)] = matrix @ xt
    return out.T


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
    """The long issuance table from pooled samples (adds the composite score and the change).

    Built column by column for every (lead, indicator) block at once; the thresholds of each
    indicator are computed once for all leads, and the 5 % / 95 % quantiles come from a sort
    (:func:`rescity.metrics.quantiles.quantile`, ``numpy.quantile``'s numbers bit for bit).
    """
    units = twin.units
    lv = units["level"].to_numpy(object)
    pop = units["population"].to_numpy(float)
    hh = units["households"].to_numpy(float)
    warned = wl.indicators_with_thresholds(thresholds)
    th: dict[str, np.ndarray] = {}

    def unit_th(k: str) -> np.ndarray:
        if k not in th:
            th[k] = wl.unit_thresholds(k, lv, pop, hh, thresholds)
        return th[k]

    blocks: list[tuple[int, str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for L, vals in samples.values.items():
        scores = {k: wl.score_of(vals[k], unit_th(k)) for k in warned if k in vals and vals[k] is not None}
        allv = dict(vals)
        allv["composite"] = wl.composite(scores) if scores else np.zeros_like(next(iter(vals.values())))
        for k, x in allv.items():
            mean = x.mean(axis=0)
            p05, p95 = quantile(x, [0.05, 0.95])
            warn = wl.level_of(mean, unit_th(k)) if (k in warned or k == "composite") else 0
            blocks.append((int(L), k, mean, p05, p95, np.broadcast_to(np.asarray(warn, np.int8), mean.shape)))
    if not blocks:
        raise ValueError("No objects to concatenate")  # what pd.concat of no frames raises
    n, b = len(units), len(blocks)
    cols = {
        "issued": np.full(n * b, samples.issued.strftime("%Y-%m-%dT%H:%MZ"), dtype=object),
        "lead_h": np.repeat(np.array([L for L, *_ in blocks], dtype=np.int64), n),
        "unit_id": np.tile(units["unit_id"].to_numpy(), b),
        "level": np.tile(lv, b),
        "indicator": np.repeat(np.array([k for _, k, *_ in blocks], dtype=object), n),
        "mean": np.concatenate([x[2] for x in blocks]),
        "p05": np.concatenate([x[3] for x in blocks]),
        "p95": np.concatenate([x[4] for x in blocks]),
        "warning": np.concatenate([x[5] for x in blocks]),
        "name_zh": np.tile(units["name_zh"].to_numpy(), b),
        "name_en": np.tile(units["name_en"].to_numpy(), b),
        "population": np.tile(units["population"].to_numpy(), b),
    }
    if previous is None or previous.empty:  # add_change's empty columns, in table order
        cols["change"] = np.full(n * b, np.nan)
        cols["warning_change"] = pd.array([pd.NA] * (n * b), dtype="Int8")
        return pd.DataFrame({c: cols[c] for c in COLUMNS})
    out = add_change(pd.DataFrame(cols), previous)
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
        a local pool or a Dask cluster); results do not depend on it. With a forked local pool
        and the default pipeline, the first member runs in this process and the workers
        inherit the twin's set-up it builds.

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
