"""The ensemble runner: hazard intensities → per-unit consequences over realisations.

:func:`simulate` runs, for realisations ``0 … R − 1`` in chunks,

    exceedance (once per asset and intensity) → damage states → cascade fixed point →
    people without service → damaged homes → affected population → aggregation to all units

and returns a :class:`SimulationResult`. Chunks are sized to a memory budget; with
``workers > 1`` chunks run in worker processes. Each chunk's per-unit outputs are either stored
(``keep="all"``: ``(R, n_units)`` arrays) or folded into streamed summaries (``keep="summary"``:
:mod:`rescity.engine.streaming`), so that memory need not grow with the number of realisations.
Every realisation draws from its own random stream (see :mod:`rescity.engine.damage`), so results
are identical for any chunk size or number of workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rescity.engine.aggregate import (
    Aggregator,
    aggregate_cells,
    build_aggregator,
    count_by_unit,
    damaged_share,
)
from rescity.engine.cascade import CascadeModel, build_cascade_model, functional
from rescity.engine.damage import sample_damage
from rescity.engine.executor import Executor, as_executor, chunk_bounds, imap_chunks
from rescity.engine.service import (
    ServiceModel,
    affected_population,
    build_service_model,
    home_damage_probability,
    people_without,
    sample_homes_damaged,
)
from rescity.engine.streaming import StreamedMetric
from rescity.errors import InputError
from rescity.fragility.library import CurveSet, FragilityLibrary, assign, exceedance, load_library
from rescity.hazard import MEASURES
from rescity.metrics.quantiles import quantile
from rescity.twin.model import LEVELS, Twin
from rescity.twin.systems import get_system, service_outputs

#: Per-unit outputs besides people without each service.
HOUSING_METRICS: tuple[str, ...] = ("homes_damaged", "affected")


def metric_names() -> tuple[str, ...]:
    """Every per-unit output: ``no_<system>`` for each service system, then :data:`HOUSING_METRICS`."""
    return service_outputs() + HOUSING_METRICS


#: The outputs of the built-in systems (see :func:`metric_names` for the live list).
METRICS: tuple[str, ...] = metric_names()
DEFAULT_MEMORY_MB = 512
#: Largest automatic chunk: bigger blocks stop paying off once a chunk's arrays leave the CPU caches.
MAX_AUTO_CHUNK = 32
#: What a run keeps of its per-unit outputs (see :func:`simulate`).
KEEP_MODES: tuple[str, ...] = ("auto", "all", "summary")
#: ``keep="auto"`` keeps every realisation while the per-unit arrays take at most this many MiB.
KEEP_ALL_MB = 1024


def resolve_keep(keep: str, realisations: int, n_units: int, n_outputs: int) -> str:
    """``"all"`` or ``"summary"``: ``keep="auto"`` is ``"all"`` while ``n_outputs`` float32 arrays
    of ``realisations × n_units`` take at most :data:`KEEP_ALL_MB` MiB."""
    if keep not in KEEP_MODES:
        raise InputError(f"keep must be one of {list(KEEP_MODES)}", field="keep", value=keep)
    if keep != "auto":
        return keep
    return "all" if 4 * realisations * n_units * n_outputs <= KEEP_ALL_MB * 2**20 else "summary"


def summary_units(twin: Twin) -> np.ndarray:
    """Positions of the units whose every realisation a ``keep="summary"`` run keeps: all but the
    base (lowest) level — province, prefectures and counties over grid cells (about 100)."""
    lv = twin.units["level"].to_numpy()
    present = [x for x in LEVELS if (lv == x).any()]
    return np.flatnonzero(lv != present[-1]) if present else np.zeros(0, np.int64)


@dataclass
class SimulationResult:
    """Per-unit consequences of every realisation, or their streamed summary.

    Attributes
    ----------
    units:
        ``unit_id``, ``level``, ``parent_id``, ``name_zh``, ``name_en``, ``population`` of the twin.
    values:
        ``keep="all"``: metric → float32 ``(R, n_units)`` for every name of :attr:`output_names`
        (``no_<system>``, ``homes_damaged``, ``affected``, ``damaged_share_<system>``); empty with
        ``keep="summary"``. Read them as :attr:`service`, :attr:`homes_damaged`,
        :attr:`affected`, :attr:`damaged_share` or :meth:`metric`.
    streamed:
        ``keep="summary"``: metric → :class:`~rescity.engine.streaming.StreamedMetric` (exact
        values of the units above the base level, streamed mean, variance and quantile sketch of
        the base-level cells); ``None`` with ``keep="all"``.
    driver:
        Per unit: mean number of damaged assets per realisation whose state came from each hazard
        (one column per hazard) and ``main``, the hazard with the largest mean ("" if none).
    hazards, horizon_h, seed, realisations:
        The run's settings.
    timings:
        Seconds per stage, summed over chunks (over workers when ``workers > 1``).
    counts:
        Curve assignment counts per (hazard, system, kind) (see :class:`~rescity.fragility.library.CurveSet`).
    meta:
        Chunk size, workers, measures ignored, ``keep``, bytes held by the per-unit outputs.
    states:
        Damage states ``int8 (R, n_assets)`` (0 none … 4 complete) when :func:`simulate` was
        called with ``keep_states=True``; else ``None``.
    functional:
        ``bool (R, n_assets)``: functional at the horizon after the cascade, when called with
        ``keep_functional=True``; else ``None``.

    Per metric: :attr:`service` (system → people without its service at the horizon, also read
    as ``no_<system>``), :attr:`homes_damaged` (homes damaged to moderate or worse),
    :attr:`affected` (affected people, see :mod:`rescity.engine.service`) and
    :attr:`damaged_share` (``system`` → share of that system's assets in the unit at or beyond
    their functionality threshold, NaN where the unit has none), each float32 ``(R, n_units)``
    when the run kept every realisation; :meth:`mean`, :meth:`var`, :meth:`quantile` and
    :meth:`summary` work either way.
    """

    units: pd.DataFrame
    values: dict[str, np.ndarray]
    driver: pd.DataFrame
    hazards: tuple[str, ...]
    horizon_h: float
    seed: int
    realisations: int
    timings: dict[str, float] = field(default_factory=dict)
    counts: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    states: np.ndarray | None = None
    functional: np.ndarray | None = None
    streamed: dict[str, StreamedMetric] | None = None
    systems_with_assets: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("no_") and name in self.__dict__.get("_outputs", ()):
            return self.metric(name)
        raise AttributeError(name)

    def __post_init__(self) -> None:
        self._outputs = tuple(self.output_names)

    @property
    def keep(self) -> str:
        """``"all"`` (every realisation of every unit kept) or ``"summary"`` (streamed)."""
        return "all" if self.streamed is None else "summary"

    @property
    def metric_names(self) -> tuple[str, ...]:
        """``no_<system>`` for each service system of this run, then :data:`HOUSING_METRICS`."""
        names = self.values if self.streamed is None else self.streamed
        return tuple(m for m in names if m.startswith("no_")) + HOUSING_METRICS

    @property
    def output_names(self) -> tuple[str, ...]:
        """:attr:`metric_names`, then ``damaged_share_<system>`` for each system with assets."""
        return self.metric_names + tuple(f"damaged_share_{s}" for s in self.systems_with_assets)

    @property
    def kept_units(self) -> np.ndarray:
        """Positions of the units whose every realisation is kept (all units with ``keep="all"``;
        the units above the base level, e.g. province, prefectures and counties, otherwise)."""
        if self.streamed is None:
            return np.arange(len(self.units))
        return next(iter(self.streamed.values())).kept if self.streamed else np.zeros(0, np.int64)

    def _check(self, name: str) -> str:
        if name not in self.output_names:
            raise KeyError(name)
        return name

    def metric(self, name: str, units: np.ndarray | None = None) -> np.ndarray:
        """One of :attr:`output_names` per realisation: float32 ``(R, n_units)``, or
        ``(R, len(units))`` for the unit positions ``units``. With ``keep="summary"`` only the
        :attr:`kept_units` can be read this way (``InputError`` otherwise)."""
        self._check(name)
        if self.streamed is None:
            a = self.values[name]
            return a if units is None else a[:, np.asarray(units, np.int64)]
        s = self.streamed[name]
        pos = None if units is None else np.searchsorted(s.kept, np.asarray(units, np.int64))
        if units is None or np.any(pos >= len(s.kept)) or not np.array_equal(s.kept[pos], units):
            raise InputError(
                "this run kept every realisation only for the units above the base level "
                "(keep='summary'); run with keep='all' (rescity run --keep-realisations all) "
                "or read mean(), quantile(), summary()",
                field="units",
                value=name,
            )
        return s.values[:, pos]

    @property
    def service(self) -> dict[str, np.ndarray]:
        """System → people without its service, float32 ``(R, n_units)`` (``keep="all"``)."""
        return {m.removeprefix("no_"): self.metric(m) for m in self.metric_names if m.startswith("no_")}

    @property
    def homes_damaged(self) -> np.ndarray:
        """Homes damaged to moderate or worse, float32 ``(R, n_units)`` (``keep="all"``)."""
        return self.metric("homes_damaged")

    @property
    def affected(self) -> np.ndarray:
        """Affected people, float32 ``(R, n_units)`` (``keep="all"``)."""
        return self.metric("affected")

    @property
    def damaged_share(self) -> dict[str, np.ndarray]:
        """System → share of its assets damaged, float32 ``(R, n_units)`` (``keep="all"``)."""
        return {s: self.metric(f"damaged_share_{s}") for s in self.systems_with_assets}

    def mean(self, name: str) -> np.ndarray:
        """Mean over realisations of every unit, float64 ``(n_units,)`` (exact either way)."""
        self._check(name)
        if self.streamed is not None:
            return self.streamed[name].mean()
        with np.errstate(invalid="ignore"):
            return self.values[name].astype(np.float64).mean(axis=0)

    def var(self, name: str, ddof: int = 0) -> np.ndarray:
        """Variance over realisations of every unit, float64 ``(n_units,)``."""
        self._check(name)
        if self.streamed is not None:
            return self.streamed[name].var(ddof)
        with np.errstate(invalid="ignore"):
            return self.values[name].astype(np.float64).var(axis=0, ddof=ddof)

    def quantile(self, name: str, q: float | tuple[float, ...]) -> np.ndarray:
        """Quantiles over realisations (``numpy.quantile``'s linear interpolation): ``(n_units,)``
        for one ``q``, ``(len(q), n_units)`` for several. Exact with ``keep="all"`` and for the
        kept units; within the sketch's bound (:mod:`rescity.engine.streaming`) otherwise."""
        self._check(name)
        for x in np.atleast_1d(q):
            if not 0 <= x <= 1:
                raise InputError("quantiles must lie in [0, 1]", field="q", value=x)
        if self.streamed is not None:
            return self.streamed[name].quantile(q)
        with np.errstate(invalid="ignore"):
            return quantile(self.values[name].astype(np.float64), q)

    def summary(self, q: tuple[float, ...] = (0.05, 0.95)) -> pd.DataFrame:
        """Per-unit mean and quantiles of every metric.

        Columns: the unit columns, then ``<metric>_mean`` and ``<metric>_pNN`` for each
        quantile ``q`` (``p05`` for 0.05) of each name of :attr:`output_names`, then ``driver``.
        """
        for x in q:
            if not 0 <= x <= 1:
                raise InputError("quantiles must lie in [0, 1]", field="q", value=x)
        out = self.units.copy()
        cols = {}
        for name in self.output_names:
            cols[f"{name}_mean"] = self.mean(name)
            qs = self.quantile(name, tuple(q)) if len(q) else []
            for x, v in zip(q, qs, strict=True):
                cols[f"{name}_p{round(x * 100):02d}"] = v
        out = pd.concat([out, pd.DataFrame(cols, index=out.index)], axis=1)
        out["driver"] = self.driver["main"].to_numpy()
        return out


# ---------------------------------------------------------------------------------------------
# the per-chunk computation (runs in the caller or in a worker process)
# ---------------------------------------------------------------------------------------------
@dataclass
class _Plan:
    seed: int
    hazards: tuple[str, ...]
    curveset: CurveSet
    p_fixed: dict[str, np.ndarray] | None  # per-asset exceedance if no intensity varies per realisation
    asset_intensity: dict[str, np.ndarray]
    p_home_fixed: np.ndarray | None
    cell_intensity: dict[str, np.ndarray]
    building_hazards: tuple[str, ...]
    library: FragilityLibrary
    median_scale: Any
    exposure: dict[str, np.ndarray]
    cell_exposure: dict[str, np.ndarray]
    cascade: CascadeModel
    service: ServiceModel
    agg: Aggregator
    keep_states: bool = False
    keep_functional: bool = False


def _slice(d: Mapping[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    return {k: (v[start:stop] if np.ndim(v) == 2 else v) for k, v in d.items()}


def _exposed(p: dict[str, np.ndarray], exposure: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Multiply each hazard's exceedance ``(…, n, 4)`` by the exposed share ``(n,)`` of each asset."""
    return {h: (v * exposure[h][:, None] if h in exposure else v) for h, v in p.items()}


def _run_chunk(plan: _Plan, start: int, stop: int) -> dict[str, Any]:
    b = stop - start
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    if plan.p_fixed is not None:
        p = plan.p_fixed
    else:
        p = _exposed(exceedance(plan.curveset, _slice(plan.asset_intensity, start, stop)), plan.exposure)
    t1 = time.perf_counter()
    t["exceedance"] = t1 - t0
    if p:
        states, driver = sample_damage(p, b, plan.seed, start, return_driver=True)
    else:
        states = np.zeros((b, plan.cascade.n_assets), np.int8)
        driver = np.full_like(states, -1)
    t2 = time.perf_counter()
    t["damage"] = t2 - t1
    f = functional(plan.cascade, states)
    t3 = time.perf_counter()
    t["cascade"] = t3 - t2
    svc = people_without(plan.service, f)
    if plan.p_home_fixed is not None:
        p_home = plan.p_home_fixed
    else:
        p_home, _ = home_damage_probability(
            plan.service,
            plan.library,
            _slice(plan.cell_intensity, start, stop),
            plan.building_hazards,
            plan.median_scale,
            plan.cell_exposure,
        )
    homes_cells = sample_homes_damaged(plan.service, p_home, b, plan.seed, start)
    n_u = plan.service.n_units
    homes = np.zeros((b, n_u))
    homes[:, plan.service.cells] = homes_cells
    aff = affected_population(
        plan.service.population, plan.service.households, svc["power"], svc["water"], homes
    )
    t4 = time.perf_counter()
    t["service"] = t4 - t3
    out: dict[str, Any] = {"start": start, "stop": stop}
    for name, x in (
        *((get_system(sv).output, x) for sv, x in svc.items()),
        ("homes_damaged", homes),
        ("affected", aff),
    ):
        out[name] = aggregate_cells(plan.agg, x).astype(np.float32)
    damaged = states >= plan.cascade.threshold
    out["damaged_share"] = {s: v.astype(np.float32) for s, v in damaged_share(plan.agg, damaged).items()}
    out["driver_sum"] = (
        np.stack(
            [count_by_unit(plan.agg, (damaged & (driver == h)).sum(axis=0)) for h in range(len(plan.hazards))]
        )
        if plan.hazards
        else np.zeros((0, n_u))
    )
    t["aggregate"] = time.perf_counter() - t4
    out["timings"] = t
    if plan.keep_states:
        out["states"] = states
    if plan.keep_functional:
        out["functional"] = f
    return out


# ---------------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------------
def _cached(twin: Twin, key: tuple, build: Callable[[], Any]) -> Any:
    """Engine set-up that depends only on the twin (curve assignment, cascade, service and
    aggregation models), kept on the twin object and rebuilt when its tables change
    (:meth:`rescity.twin.model.Twin.derived`)."""
    return twin.derived(("engine", *key), build)


def cascade_model(
    twin: Twin, horizon_h: float = 12.0, thresholds: Mapping[str, int] | None = None
) -> CascadeModel:
    """:func:`~rescity.engine.cascade.build_cascade_model`, kept on the twin (the damage run and
    the recovery share it)."""
    return _cached(
        twin,
        ("cascade", float(horizon_h), repr(sorted((thresholds or {}).items()))),
        lambda: build_cascade_model(twin, horizon_h, thresholds),
    )


def _check_intensity(
    d: Mapping[str, np.ndarray], n: int, realisations: int, what: str
) -> dict[str, np.ndarray]:
    out = {}
    for k, v in d.items():
        if k not in MEASURES:
            raise InputError(
                f"unknown intensity measure; expected one of {list(MEASURES)}", field=what, value=k
            )
        a = np.asarray(v)
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float64)  # sampled fields stay float32: they can be large
        if a.ndim == 2 and a.shape[0] != realisations:
            raise InputError(
                f"per-realisation intensities must have {realisations} rows (one per realisation)",
                field=f"{what}[{k}]",
                value=a.shape,
            )
        if a.ndim not in (1, 2) or (n and a.shape[-1] != n):
            raise InputError(
                f"expected shape ({n},) or ({realisations}, {n})", field=f"{what}[{k}]", value=a.shape
            )
        out[k] = a
    return out


def _library_memo(library: FragilityLibrary, key: tuple, build: Callable[[], Any]) -> Any:
    """``build()``, kept on the library under ``key``: what the runner reads of the mapping
    tables for a set of intensity measures is the same for every event of an ensemble (like
    :func:`~rescity.fragility.library.exceedance_by_class`, which keeps its assignments there)."""
    memo = library.__dict__.setdefault("_runner_memo", {})
    if key not in memo:
        memo[key] = build()
    return memo[key]


def _hazards_of(library: FragilityLibrary, measures: Any) -> tuple[str, ...]:
    """Hazards of the library with a curve whose measure is among ``measures``."""
    key = ("hazards", frozenset(measures))
    return _library_memo(
        library, key, lambda: tuple(h for h in library.hazards() if set(library.measures(h)) & key[1])
    )


def _building_hazards(library: FragilityLibrary, cell_intensity: Mapping[str, np.ndarray]) -> tuple[str, ...]:
    """Hazards with a housing curve whose measure is among the cell intensities."""
    key = ("building_hazards", frozenset(cell_intensity))
    return _library_memo(library, key, lambda: _find_building_hazards(library, key[1]))


def _find_building_hazards(library: FragilityLibrary, cell_intensity: Any) -> tuple[str, ...]:
    m = library.mapping
    out = []
    for h in library.hazards():
        ids = m.loc[(m["hazard"] == h) & (m["system"] == "building"), "curve_id"]
        measures = {library.compiled[c].measure for c in ids if c in library.compiled}
        if measures & set(cell_intensity):
            out.append(h)
    return tuple(out)


def _bytes_per_realisation(twin: Twin, n_h: int, per_real: bool) -> int:
    n = twin.n_assets
    per_asset = 8 * n_h + (32 * n_h if per_real else 0) + 80
    return int(n * per_asset + 120 * twin.n_units)


def simulate(
    twin: Twin,
    asset_intensity: Mapping[str, np.ndarray],
    cell_intensity: Mapping[str, np.ndarray],
    realisations: int,
    seed: int,
    *,
    horizon_h: float = 12.0,
    chunk_size: int | None = None,
    workers: int | Executor = 1,
    library: FragilityLibrary | None = None,
    progress: Callable[[int, int], None] | None = None,
    thresholds: Mapping[str, int] | None = None,
    median_scale: float | Mapping[str, float] = 1.0,
    memory_mb: float = DEFAULT_MEMORY_MB,
    exposure: Mapping[str, np.ndarray] | None = None,
    cell_exposure: Mapping[str, np.ndarray] | None = None,
    keep_states: bool = False,
    keep_functional: bool = False,
    keep: str = "auto",
    asset_sites: np.ndarray | None = None,
) -> SimulationResult:
    """Monte Carlo of damage, cascade, service loss and affected population.

    Parameters
    ----------
    twin:
        The twin.
    asset_intensity:
        Measure (e.g. ``gust_ms``, ``flood_depth_m``) → intensity at each asset, ``(n_assets,)``
        or ``(realisations, n_assets)``. The hazards evaluated are those of the fragility
        library whose curves use a measure given here.
    cell_intensity:
        Measure → intensity at each cell, ``(n_cells,)`` / ``(n_units,)`` or with a leading
        realisation axis; drives the building (housing) curves. May be empty.
    realisations:
        Number of Monte Carlo realisations ``R``.
    seed:
        Root seed; realisation ``r`` uses ``SeedSequence(seed, spawn_key=(r,))``.
    horizon_h:
        Evaluation horizon, hours: dependency buffers at least this long keep a dependent
        working; service loss is counted at this time. Default 12 h.
    chunk_size:
        Realisations per chunk (default: from ``memory_mb``, at most :data:`MAX_AUTO_CHUNK`).
    workers:
        Local worker processes (1 runs in this process), or an executor
        (:func:`rescity.engine.executor.resolve_executor`: a local pool or a Dask cluster).
    library:
        Fragility library (default :func:`~rescity.fragility.library.load_library`).
    progress:
        Called as ``progress(done, total)`` after each chunk.
    thresholds:
        ``kind`` → damage state from which assets of that kind are out of service (default 2).
    median_scale:
        Factor on all medians, one number or per hazard (calibration hook).
    memory_mb:
        Memory budget for one chunk, MiB.
    exposure, cell_exposure:
        Hazard → share (0–1) of each asset / cell exposed to it, ``(n_assets,)`` /
        ``(n_units,)``. An asset's exceedance probabilities for that hazard are multiplied by
        it: the exact marginal when a site is hit with that probability, independently of the
        damage draw (e.g. the flooded, low-lying share of a cell when no DEM places the asset).
    keep_states:
        Also keep every realisation's damage states on the result (``states``, ``int8``
        ``(R, n_assets)``, 1 byte per asset and realisation) for recovery and N-1 studies.
        Does not change any other output.
    keep_functional:
        Also keep which assets are functional at the horizon (``functional``, ``bool``
        ``(R, n_assets)``), e.g. to start a recovery simulation without recomputing the cascade.
    asset_sites:
        Optional site of each asset (e.g. the cell whose intensities it takes,
        :func:`rescity.hazard.event.asset_cells`): where an intensity is the same at every
        asset of a site, the fragility curves are evaluated once per (curve, site)
        (:func:`~rescity.fragility.library.exceedance`). Does not change any output.

    Returns
    -------
    SimulationResult
    """
    if int(realisations) != realisations or realisations < 1:
        raise InputError("realisations must be an integer ≥ 1", field="realisations", value=realisations)
    ex = as_executor(workers)
    realisations = int(realisations)
    resolve_keep(keep, realisations, 0, 0)  # a bad mode fails before the set-up
    t_setup = time.perf_counter()
    library = library or load_library()
    ai = _check_intensity(asset_intensity, twin.n_assets, realisations, "asset_intensity")
    ci = _check_intensity(cell_intensity, 0, realisations, "cell_intensity")
    hazards = _hazards_of(library, ai)
    curveset = _cached(
        twin,
        ("assign", id(library), hazards, repr(median_scale)),
        lambda: assign(library, twin.assets, hazards, median_scale=median_scale),
    )
    needed = {m for ms in curveset.measures().values() for m in ms}
    per_real = any(np.ndim(ai[m]) == 2 for m in needed if m in ai)
    t_exc = time.perf_counter()
    expo = {h: np.clip(np.nan_to_num(np.asarray(v, float)), 0.0, 1.0) for h, v in (exposure or {}).items()}
    for h, v in expo.items():
        if v.shape != (twin.n_assets,):
            raise InputError(f"expected shape ({twin.n_assets},)", field=f"exposure[{h}]", value=v.shape)
    p_fixed = None if per_real else _exposed(exceedance(curveset, ai, sites=asset_sites), expo)
    t_exc = time.perf_counter() - t_exc
    service = _cached(twin, ("service",), lambda: build_service_model(twin))
    b_hazards = _building_hazards(library, ci)
    ci_per_real = any(np.ndim(v) == 2 for v in ci.values())
    p_home_fixed = None
    if not ci_per_real:
        p_home_fixed, _ = home_damage_probability(
            service, library, ci, b_hazards, median_scale, dict(cell_exposure or {})
        )
    plan = _Plan(
        seed=int(seed),
        hazards=hazards,
        curveset=curveset,
        p_fixed=p_fixed,
        asset_intensity=ai,
        p_home_fixed=p_home_fixed,
        cell_intensity=ci,
        building_hazards=b_hazards,
        library=library,
        median_scale=median_scale,
        exposure=expo,
        cell_exposure=dict(cell_exposure or {}),
        cascade=cascade_model(twin, horizon_h, thresholds),
        service=service,
        agg=_cached(twin, ("aggregator",), lambda: build_aggregator(twin)),
        keep_states=bool(keep_states),
        keep_functional=bool(keep_functional),
    )
    setup_s = time.perf_counter() - t_setup - t_exc
    if chunk_size is None:
        per = _bytes_per_realisation(twin, max(len(hazards), 1), per_real)
        chunk_size = max(1, min(MAX_AUTO_CHUNK, int(memory_mb * 2**20 // per)))
        if ex.slots > 1:
            chunk_size = min(chunk_size, -(-realisations // (2 * ex.slots)))
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise InputError("chunk_size must be an integer ≥ 1", field="chunk_size", value=chunk_size)
    chunk_size = min(int(chunk_size), realisations)
    bounds = chunk_bounds(realisations, chunk_size)

    n_u = twin.n_units
    names = metric_names()
    share_systems = tuple(s for s, a in plan.agg.system_assets.items() if len(a))
    outputs = names + tuple(f"damaged_share_{s}" for s in share_systems)
    mode = resolve_keep(keep, realisations, n_u, len(outputs))
    res: dict[str, np.ndarray] = {}
    streamed: dict[str, StreamedMetric] | None = None
    if mode == "all":
        res = {m: np.zeros((realisations, n_u), np.float32) for m in outputs}
    else:
        kept_units = summary_units(twin)
        streamed = {m: StreamedMetric(n_u, realisations, kept_units) for m in outputs}
    driver_sum = np.zeros((len(hazards), n_u))
    kept = np.zeros((realisations, twin.n_assets), np.int8) if keep_states else None
    kept_f = np.zeros((realisations, twin.n_assets), bool) if keep_functional else None
    timings = {"setup": setup_s, "exceedance": t_exc}
    done = 0

    def collect(out: dict[str, Any]) -> None:
        nonlocal done
        t0 = time.perf_counter()
        s, e = out["start"], out["stop"]
        for m in outputs:
            x = (
                out["damaged_share"][m.removeprefix("damaged_share_")]
                if m.startswith("damaged_share_")
                else out[m]
            )
            if streamed is None:
                res[m][s:e] = x
            else:
                streamed[m].add(s, x)
        driver_sum[:] += out["driver_sum"]
        if kept is not None:
            kept[s:e] = out["states"]
        if kept_f is not None:
            kept_f[s:e] = out["functional"]
        for k, v in out["timings"].items():
            timings[k] = timings.get(k, 0.0) + v
        timings["collect"] = timings.get("collect", 0.0) + time.perf_counter() - t0
        done += e - s
        if progress is not None:
            progress(done, realisations)

    for out in imap_chunks(_run_chunk, bounds, shared=plan, workers=ex):
        collect(out)
        del out

    units = twin.units[["unit_id", "level", "parent_id", "name_zh", "name_en", "population"]].copy()
    drv = pd.DataFrame(driver_sum.T / realisations, columns=list(hazards), index=units["unit_id"].to_numpy())
    if hazards:
        main = np.array(hazards, dtype=object)[np.argmax(driver_sum, axis=0)]
        main[driver_sum.max(axis=0) <= 0] = ""
    else:
        main = np.full(n_u, "", dtype=object)
    drv["main"] = main
    unused = sorted(set(ai) - needed)
    return SimulationResult(
        units=units,
        driver=drv,
        hazards=hazards,
        horizon_h=float(horizon_h),
        seed=int(seed),
        realisations=realisations,
        timings=timings,
        counts=curveset.counts,
        meta={
            "chunk_size": chunk_size,
            "workers": ex.slots,
            "executor": ex.name,
            "chunks": len(bounds),
            "unused_measures": unused,
            "building_hazards": b_hazards,
            "keep": mode,
            "outputs_mb": (
                sum(a.nbytes for a in res.values())
                if streamed is None
                else sum(v.nbytes for v in streamed.values())
            )
            / 2**20,
        },
        states=kept,
        functional=kept_f,
        values=res,
        streamed=streamed,
        systems_with_assets=share_systems,
    )
