"""Restoration after the event: repair crews, travel, repair durations and dispatch policies.

:func:`simulate_recovery` takes the damage states of every realisation (``states`` from
:func:`rescity.engine.runner.simulate` with ``keep_states=True``) and returns, per realisation,
the restoration time of every asset out of service and the service curves ``Q(t)`` of every
system and administrative unit (hourly, 14 days by default), with the customer-hours lost.
``t = 0`` is the evaluation horizon of the damage run (12 h by default), so ``Q(0)`` is the
service the engine reports at the horizon.

Model
-----
*Jobs.* Every asset at or beyond its functionality threshold (damage state ≥ 2 by default) is a
repair job. Its on-site duration is drawn per realisation from the packaged repair-time table
(:func:`load_repair_times`: mean and standard deviation in days per asset kind and damage state,
HAZUS-MH restoration functions and stated assumptions) as a lognormal with that mean and standard
deviation (HAZUS uses normal curves, which go negative for the wide ones; the lognormal keeps the
two moments and stays positive). Crews work around the clock: one day = 24 crew-hours.

*Crews.* One pool per system and prefecture (power, water, road, telecom and facility crews of
each prefecture-level city), ``crews`` per pool from the scenario file or ``ceil(assets of the
system in the prefecture / assets_per_crew)``. Mutual aid: a share of each system's crews
(default half) is sent, in each realisation, to the prefectures in proportion to their work. A crew is based at the nearest relief depot of its
prefecture (else a county-seat road hub) and travels on the road network at crew speeds
(:data:`CREW_SPEED_KMH`); a job occupies a crew for travel out, repair and travel back, and the
asset is restored when the repair ends.

*Reach.* An asset can be reached once its access junction (the nearest road junction) is
connected to a county-seat hub through passable road, i.e. once its road is restored
(:func:`rescity.engine.restore.functional_times` on the road network alone). Road crews work
outwards: a damaged road asset can be reached once one of its road neighbours is, so road jobs
are dispatched in layers (those next to passable road first), each layer's restoration opening
the next.

*Dispatch.* Each pool's crews take its jobs in the order of a policy
(:mod:`rescity.engine.policies`, default: hospitals and their suppliers first, then most people
restored per crew hour). A job that cannot be reached yet is held back in the list until the
estimated time its road opens (``max(expected dispatch time, reach time)``). Dispatch is greedy
list scheduling (Graham 1969, *SIAM J. Appl. Math.* 17:416–429): each job in order goes to the
crew that is free first; it starts at ``max(crew free, reach time)``. Vectorised over all
(realisation, pool) pairs at once, one step per rank in the list.

*Service.* Restoration times give, through the cascade in time
(:func:`~rescity.engine.restore.functional_times`), the time ``τ`` from which each service
terminal is functional; ``Q(t)`` of a unit and system is the share of the people served through
terminals with ``τ ≤ t``. Customer-hours lost within the horizon are ``Σ people · min(τ, H)``.

Random streams: realisation ``r`` draws its repair durations (and the random policy's order) from
``SeedSequence(seed, spawn_key=(r, STREAM_RECOVERY))``, so results do not depend on the chunk size.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from rescity.engine.cascade import CascadeModel, csr_neighbours, functional, nonzero_2d
from rescity.engine.damage import realisation_rng
from rescity.engine.executor import Executor, chunk_bounds, imap_chunks
from rescity.engine.policies import JobContext, get_policy
from rescity.engine.restore import FallingRestoration, RestorationSolver
from rescity.errors import InputError
from rescity.geo import local_xy_km
from rescity.safeio import read_csv_table
from rescity.twin import roads
from rescity.twin.model import KINDS, Twin
from rescity.twin.systems import all_systems, get_system, service_systems, systems

#: ``spawn_key`` suffix of the recovery stream of a realisation (damage ``(r,)``, homes ``(r, 1)``).
STREAM_RECOVERY = 2
REPAIR_TIMES_FILE = Path(__file__).with_name("data") / "repair_times.csv"
#: Bounds of a recovery scenario: horizon (days), time steps, crews per pool.
MAX_HORIZON_DAYS = 365
MAX_STEPS = 100_000
MAX_CREWS = 100_000


#: Default crews: one per this many assets of the system in the prefecture (rescity assumption,
#: order of the emergency teams utilities mobilise after a major typhoon; override per scenario).
#: The values live on each system of :mod:`rescity.twin.systems` (``assets_per_crew``).
def default_assets_per_crew() -> dict[str, float]:
    """System → assets per crew, from the system registry."""
    return {s.name: s.assets_per_crew for s in all_systems()}


DEFAULT_ASSETS_PER_CREW: dict[str, float] = default_assets_per_crew()
#: Crew vehicle speeds on road assets after a storm, km/h (below the design speeds of JTG B01-2014).
CREW_SPEED_KMH: dict[str, float] = {
    "expressway": 60.0,
    "national_road": 45.0,
    "local_road": 25.0,
    "bridge": 30.0,
    "tunnel": 45.0,
    "road_hub": 25.0,
    "road_node": 25.0,
}
_LEVELS = ("province", "prefecture", "county")


# ---------------------------------------------------------------------------------------------
# repair times
# ---------------------------------------------------------------------------------------------
def load_repair_times(path: str | Path | None = None) -> pd.DataFrame:
    """The repair-time table (packaged ``repair_times.csv`` by default), validated.

    Columns: ``system``, ``kind``, ``damage_state`` (1 slight … 4 complete), ``mean_days``,
    ``sd_days``, ``source``. Every kind of :data:`rescity.twin.model.KINDS` must have the four
    damage states.
    """
    p = Path(path) if path is not None else REPAIR_TIMES_FILE
    df = read_csv_table(p)
    for c in ("system", "kind", "damage_state", "mean_days", "sd_days", "source"):
        if c not in df.columns:
            raise InputError("missing column", file=p, field=c)
    for c in ("mean_days", "sd_days"):
        v = pd.to_numeric(df[c], errors="coerce")
        bad = v.isna() | (v < 0) | ((v <= 0) & (c == "mean_days"))
        if bad.any():
            raise InputError(f"{c} must be a number > 0 (sd ≥ 0)", file=p, field=c, value=df[c][bad].iloc[0])
        df[c] = v.astype(float)
    ds = pd.to_numeric(df["damage_state"], errors="coerce")
    if ds.isna().any() or not ds.isin([1, 2, 3, 4]).all():
        raise InputError("damage_state must be 1, 2, 3 or 4", file=p, field="damage_state")
    df["damage_state"] = ds.astype(int)
    known = {k for ks in KINDS.values() for k in ks}
    bad = ~df["kind"].isin(known)
    if bad.any():
        raise InputError("unknown asset kind", file=p, field="kind", value=df["kind"][bad].iloc[0])
    have = df.groupby("kind")["damage_state"].nunique()
    missing = sorted(known - set(have[have == 4].index))
    if missing:
        raise InputError("every kind needs damage states 1–4", file=p, field="kind", value=missing[0])
    return df


def repair_parameters(table: pd.DataFrame, twin: Twin) -> tuple[np.ndarray, np.ndarray]:
    """Lognormal ``(mu, sigma)`` of the repair hours of each asset and damage state, ``(n, 5)``
    (column 0 unused), matching the table's mean and standard deviation."""
    kinds = twin.assets["kind"].astype(str).to_numpy()
    uk, inv = np.unique(kinds, return_inverse=True)
    mean = np.full((len(uk), 5), np.nan)
    sd = np.full((len(uk), 5), np.nan)
    t = table.set_index(["kind", "damage_state"])
    for i, k in enumerate(uk):  # loop over the (few) kinds present
        for ds in range(1, 5):
            if (k, ds) in t.index:
                row = t.loc[(k, ds)]
                mean[i, ds] = float(np.asarray(row["mean_days"]).ravel()[0]) * 24.0
                sd[i, ds] = float(np.asarray(row["sd_days"]).ravel()[0]) * 24.0
    if np.isnan(mean[:, 1:]).any():
        k = uk[np.isnan(mean[:, 1:]).any(axis=1)][0]
        raise InputError("no repair time for this asset kind", field="repair_times.kind", value=k)
    s2 = np.log1p((sd / mean) ** 2)
    mu = np.log(mean) - s2 / 2
    return mu[inv], np.sqrt(s2)[inv]


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
@dataclass
class RecoveryConfig:
    """Settings of a restoration simulation (all optional in a scenario file).

    ``crews`` maps a prefecture code (or ``"default"``) to ``{system: crews}``; pools not given
    get ``max(min_crews, ceil(assets / assets_per_crew[system]))``. ``mutual_aid`` is the share of
    each system's crews that move between prefectures to where the work is (see
    :func:`mutual_aid_crews`).
    """

    horizon_days: float = 14.0
    step_h: float = 1.0
    policy: str = "people_per_hour"
    policy_params: dict[str, Any] = field(default_factory=dict)
    assets_per_crew: dict[str, float] = field(default_factory=default_assets_per_crew)
    min_crews: int = 1
    crews: dict[str, dict[str, int]] = field(default_factory=dict)
    repair_times: str | None = None
    travel: bool = True
    mutual_aid: float = 0.5
    levels: tuple[str, ...] = _LEVELS

    @property
    def horizon_h(self) -> float:
        return float(self.horizon_days) * 24.0

    def hours(self) -> np.ndarray:
        n = int(round(self.horizon_h / self.step_h))
        return np.arange(n + 1) * float(self.step_h)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["levels"] = list(self.levels)
        return d

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any], file: str | Path | None = None) -> RecoveryConfig:
        """From a scenario mapping (the ``recovery`` table of a YAML/TOML file), validated."""
        if isinstance(d, Mapping) and "recovery" in d and not isinstance(d["recovery"], Mapping):
            raise InputError("the recovery settings must be a table", file=file, field="recovery")
        d = dict(d.get("recovery", d)) if isinstance(d, Mapping) else d
        if not isinstance(d, Mapping):
            raise InputError("the recovery settings must be a table", file=file, field="recovery")
        known = set(cls.__dataclass_fields__)
        for k in d:
            if k not in known:
                raise InputError(
                    f"unknown recovery setting; expected one of {sorted(known)}", file=file, field=k
                )
        cfg = cls()
        for k, v in d.items():
            setattr(cfg, k, v)
        for k in ("horizon_days", "step_h"):
            v = getattr(cfg, k)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or v <= 0:
                raise InputError("must be a number > 0", file=file, field=k, value=v)
        if cfg.horizon_days > MAX_HORIZON_DAYS:
            raise InputError(
                f"must be at most {MAX_HORIZON_DAYS} days",
                file=file,
                field="horizon_days",
                value=cfg.horizon_days,
            )
        if cfg.horizon_h / cfg.step_h > MAX_STEPS:
            raise InputError(
                f"gives more than {MAX_STEPS} time steps over the horizon; take a longer step",
                file=file,
                field="step_h",
                value=cfg.step_h,
            )
        for k in ("crews", "assets_per_crew"):
            if getattr(cfg, k) is not None and not isinstance(getattr(cfg, k), Mapping):
                raise InputError("must be a table (key: value)", file=file, field=k, value=getattr(cfg, k))
        if not isinstance(cfg.levels, (list, tuple)):
            raise InputError("must be a list of levels", file=file, field="levels", value=cfg.levels)
        if cfg.step_h > cfg.horizon_h:
            raise InputError("step longer than the horizon", file=file, field="step_h", value=cfg.step_h)
        if not isinstance(cfg.policy, str):
            raise InputError("policy must be a name", file=file, field="policy", value=cfg.policy)
        try:
            get_policy(cfg.policy)
        except InputError as e:
            raise InputError(e.message, file=file, field="policy", value=cfg.policy) from None
        apc = default_assets_per_crew()
        for s, v in dict(cfg.assets_per_crew or {}).items():
            if s not in systems():
                raise InputError("unknown system", file=file, field=f"assets_per_crew.{s}", value=s)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or v <= 0:
                raise InputError("must be a number > 0", file=file, field=f"assets_per_crew.{s}", value=v)
            apc[s] = float(v)
        cfg.assets_per_crew = apc
        if (
            not isinstance(cfg.mutual_aid, (int, float))
            or isinstance(cfg.mutual_aid, bool)
            or not 0 <= cfg.mutual_aid <= 1
        ):
            raise InputError(
                "mutual_aid must be a share in [0, 1]", file=file, field="mutual_aid", value=cfg.mutual_aid
            )
        cfg.mutual_aid = float(cfg.mutual_aid)
        if (
            not isinstance(cfg.min_crews, int)
            or isinstance(cfg.min_crews, bool)
            or not 1 <= cfg.min_crews <= MAX_CREWS
        ):
            raise InputError(
                f"must be an integer from 1 to {MAX_CREWS}", file=file, field="min_crews", value=cfg.min_crews
            )
        crews = {}
        for unit, per in dict(cfg.crews or {}).items():
            if not isinstance(per, Mapping):
                raise InputError(
                    "crews per unit must map system → number", file=file, field=f"crews.{unit}", value=per
                )
            row = {}
            for s, v in per.items():
                if s not in systems():
                    raise InputError("unknown system", file=file, field=f"crews.{unit}.{s}", value=s)
                if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_CREWS:
                    raise InputError(
                        f"crews must be an integer from 1 to {MAX_CREWS}",
                        file=file,
                        field=f"crews.{unit}.{s}",
                        value=v,
                    )
                row[s] = int(v)
            crews[str(unit)] = row
        cfg.crews = crews
        bad = [lv for lv in cfg.levels if lv not in ("province", "prefecture", "county", "cell")]
        if bad:
            raise InputError("unknown level", file=file, field="levels", value=bad[0])
        cfg.levels = tuple(cfg.levels)
        if cfg.repair_times is not None:
            rp = Path(cfg.repair_times)
            if file is not None and not rp.is_absolute():
                rp = Path(file).parent / rp
            cfg.repair_times = str(rp)
        if not isinstance(cfg.policy_params, Mapping):
            raise InputError("policy_params must be a table", file=file, field="policy_params")
        cfg.policy_params = dict(cfg.policy_params)
        return cfg


def load_scenario(path: str | Path) -> RecoveryConfig:
    """A :class:`RecoveryConfig` from a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file.

    The settings sit under a ``recovery`` key (or at the top level)::

        recovery:
          horizon_days: 14
          policy: people_per_hour
          crews:
            default: {power: 40, water: 10, road: 15, telecom: 20, facility: 5}
            "331000": {power: 120}     # Taizhou 台州
          assets_per_crew: {power: 25}
          repair_times: my_repair_times.csv
    """
    from rescity.safeio import load_config

    p = Path(path)
    if not p.exists():
        raise InputError("scenario file not found", file=p)
    # bounded size, nesting and YAML aliases; UTF-8, UTF-16 or GBK text
    data = load_config(p, suffixes=(".yaml", ".yml", ".toml"))
    return RecoveryConfig.from_mapping(data, file=p)


# ---------------------------------------------------------------------------------------------
# crews, bases and travel
# ---------------------------------------------------------------------------------------------
def prefecture_of_units(twin: Twin) -> np.ndarray:
    """Prefecture ``unit_id`` of every unit ("" above or without one)."""
    u = twin.units
    ids = u["unit_id"].astype(str).to_numpy()
    level = u["level"].astype(str).to_numpy()
    idx = twin.unit_index()
    par = idx.reindex(u["parent_id"].astype(str).to_numpy()).to_numpy()
    par = np.where(np.isnan(par), -1, par).astype(np.int64)
    cur = np.arange(len(u))
    out = np.full(len(u), "", dtype=object)
    for _ in range(len(_LEVELS) + 2):
        hit = (cur >= 0) & (level[np.maximum(cur, 0)] == "prefecture") & (out == "")
        out[hit] = ids[cur[hit]]
        cur = np.where(cur >= 0, par[np.maximum(cur, 0)], -1)
    return out


@dataclass
class CrewPools:
    """Crew pools and the static travel of every asset."""

    pool: np.ndarray  # pool index of each asset
    table: pd.DataFrame  # system, prefecture, crews, assets
    travel_h: np.ndarray  # one-way travel from the crew base, hours (per asset)
    access: np.ndarray  # global asset position of each asset's access road node (-1: none)


def _per_crew(config: RecoveryConfig, system: str) -> float:
    """Assets per crew of ``system``: the configuration's, else the system registry's default."""
    per = config.assets_per_crew.get(system)
    return float(per) if per else get_system(system).assets_per_crew


def crew_pools(twin: Twin, config: RecoveryConfig) -> CrewPools:
    """Pools (system × prefecture), crews per pool, crew bases and travel hours of every asset."""
    a = twin.assets
    n = twin.n_assets
    sysv = a["system"].astype(str).to_numpy()
    upos = twin.unit_index().reindex(a["unit_id"].astype(str).to_numpy()).to_numpy()
    upos = np.where(np.isnan(upos), 0, upos).astype(np.int64)
    pref = prefecture_of_units(twin)[upos] if len(twin.units) else np.full(n, "", object)
    key = pd.MultiIndex.from_arrays([sysv, pref.astype(str)])
    codes, uniq = pd.factorize(key)
    table = pd.DataFrame({"system": uniq.get_level_values(0), "prefecture": uniq.get_level_values(1)})
    table["assets"] = np.bincount(codes, minlength=len(table))
    crews = []
    for s, p, na in table[["system", "prefecture", "assets"]].itertuples(index=False):  # one row per pool
        given = config.crews.get(str(p), {}).get(s) or config.crews.get("default", {}).get(s)
        crews.append(int(given) if given else max(config.min_crews, math.ceil(na / _per_crew(config, s))))
    table["crews"] = crews
    key = ("recovery", "travel", bool(config.travel), tuple(sorted(CREW_SPEED_KMH.items())))
    travel_h, access = twin.derived(key, lambda: _travel(twin, pref.astype(str), config))
    return CrewPools(codes.astype(np.int64), table, travel_h, access)


def _travel(twin: Twin, pref: np.ndarray, config: RecoveryConfig) -> tuple[np.ndarray, np.ndarray]:
    a = twin.assets
    n = twin.n_assets
    lon = a["lon"].to_numpy(float)
    lat = a["lat"].to_numpy(float)
    kinds = a["kind"].astype(str).to_numpy()
    sysv = a["system"].astype(str).to_numpy()
    road = np.flatnonzero(sysv == "road")
    access = np.full(n, -1, np.int64)
    if not len(road):
        return np.zeros(n), access
    lat0 = float(np.nanmean(lat)) if n else 0.0
    xy = local_xy_km(lon, lat, lat0)
    junc = road[np.isin(kinds[road], roads.JUNCTIONS)]
    if not len(junc):
        junc = road
    access[:], d_acc = roads.nearest_junction(twin, xy, lat0, junc)
    access[road] = road
    d_acc[road] = 0.0
    if not config.travel:
        return np.zeros(n), access
    leg_min = roads.access_minutes(d_acc)
    rg = roads.road_graph(twin, CREW_SPEED_KMH)
    g, rpos = rg.graph, rg.pos
    depots = np.flatnonzero(kinds == "depot")
    hubs = np.flatnonzero(kinds == "road_hub")
    travel = np.full(n, np.inf)
    # bases per prefecture: its depots, else its county-seat hubs, else every depot (or hub)
    bases_all = depots if len(depots) else hubs if len(hubs) else junc[:1]
    prefs = np.unique(pref)
    chosen = []
    for p in prefs:  # loop over prefectures
        b = depots[pref[depots] == p]
        if not len(b):
            b = hubs[pref[hubs] == p]
        chosen.append(b if len(b) else bases_all)
    src_nodes, inv = np.unique(rpos[access[np.concatenate(chosen)]], return_inverse=True)
    dist = dijkstra(g, directed=False, indices=src_nodes)  # (n_src, n_road) minutes
    at = 0
    for p, b in zip(prefs, chosen, strict=True):
        in_p = np.flatnonzero(pref == p)
        rows = inv[at : at + len(b)]
        at += len(b)
        tt = dist[rows][:, rpos[access[in_p]]] + leg_min[b][:, None] + leg_min[in_p][None, :]
        travel[in_p] = tt.min(axis=0)
    # off the network (no road path): a straight leg
    direct = roads.access_minutes(np.linalg.norm(xy - xy[bases_all[0]], axis=1))
    travel = np.where(np.isfinite(travel), travel, direct)
    return travel / 60.0, access


def mutual_aid_crews(table: pd.DataFrame, work_h: np.ndarray, share: float) -> np.ndarray:
    """Crews of every pool in every realisation with mutual aid between prefectures.

    A share ``share`` of each system's crews (province-wide) goes where the work is, in
    proportion to each pool's crew-hours of work in the realisation; the rest stay home.
    Whole crews by largest remainders, at least one per pool. ``work_h`` is ``(B, n_pool)``.
    """
    base = table["crews"].to_numpy(np.int64)
    sysv = table["system"].to_numpy()
    b = work_h.shape[0]
    out = np.tile(base, (b, 1))
    if share <= 0:
        return out
    for s in np.unique(sysv):  # loop over systems
        cols = np.flatnonzero(sysv == s)
        total = base[cols].sum()
        stay = np.floor(base[cols] * (1 - share)).astype(np.int64)
        moving = total - stay.sum()
        w = work_h[:, cols]
        tot_w = w.sum(axis=1, keepdims=True)
        frac = np.where(tot_w > 0, w / np.where(tot_w > 0, tot_w, 1), base[cols] / max(total, 1))
        exact = frac * moving
        extra = np.floor(exact).astype(np.int64)
        left = moving - extra.sum(axis=1)
        rank = np.argsort(np.argsort(-(exact - extra), axis=1, kind="stable"), axis=1)
        extra += rank < left[:, None]
        out[:, cols] = np.maximum(stay + extra, 1)
    return out


# ---------------------------------------------------------------------------------------------
# scheduling
# ---------------------------------------------------------------------------------------------
def list_schedule(
    row: np.ndarray,
    priority: np.ndarray,
    occupancy_h: np.ndarray,
    offset_h: np.ndarray,
    release_h: np.ndarray,
    free: np.ndarray,
) -> np.ndarray:
    """Greedy list scheduling of jobs on identical crews, every row (realisation × pool) at once.

    Parameters
    ----------
    row:
        Row of each job in ``free``.
    priority:
        Higher first; a job that cannot start yet is held back to
        ``max(expected dispatch time, release)`` (see module docstring).
    occupancy_h:
        Hours a job keeps its crew busy (travel out, repair, travel back).
    offset_h:
        Hours from the start of a job to the asset's restoration (travel out + repair).
    release_h:
        Earliest start (the road to the site opens); ``inf`` never.
    free:
        ``(n_rows, c_max)`` hour each crew is next free; ``inf`` pads rows with fewer crews.
        Updated in place.

    Returns
    -------
    numpy.ndarray
        Restoration hour of each job (``inf`` where it can never start).
    """
    nj = len(row)
    finish = np.full(nj, np.inf)
    if nj == 0:
        return finish
    # only the rows with jobs are read and written (``free`` is updated in place at the end)
    used, row = np.unique(row, return_inverse=True)
    fr_all = free[used]
    n_rows, cmax = fr_all.shape
    finite = np.isfinite(fr_all)
    crews = finite.sum(axis=1).clip(min=1)
    # expected dispatch time in priority order: crews' mean free time + work ahead / crews
    o = _row_order(row, n_rows, -priority)  # by row, then priority
    rs = row[o]
    cum = np.cumsum(occupancy_h[o])
    first = np.r_[0, np.flatnonzero(rs[1:] != rs[:-1]) + 1]
    grp_start = np.repeat(first, np.diff(np.r_[first, len(rs)]))
    before = cum - occupancy_h[o] - (cum[grp_start] - occupancy_h[o][grp_start])
    n_fin = finite.sum(axis=1)  # the mean over the crews (nanmean's sum and count)
    mean_free = np.where(n_fin > 0, np.where(finite, fr_all, 0.0).sum(axis=1) / np.maximum(n_fin, 1), 0.0)
    expect = np.empty(nj)
    expect[o] = mean_free[rs] + before / crews[rs]
    key = np.maximum(expect, release_h)
    never = ~np.isfinite(release_h)
    order = o[_row_order(row[o], n_rows, key[o])]  # by row, then key, then priority
    order = order[~never[order]]
    rs = row[order]
    counts = np.bincount(rs, minlength=n_rows)
    starts = np.cumsum(counts) - counts
    # rows whose crews are all free at the same time give their first c jobs to crews 0 … c − 1
    # at once (greedy list scheduling does exactly that); the rest go rank by rank
    fmin = fr_all.min(axis=1)
    fmax = np.where(finite, fr_all, -np.inf).max(axis=1)
    first = np.where(fmin == fmax, np.minimum(crews, counts), 0)
    if first.any():
        rr = np.repeat(np.arange(n_rows), first)
        k = np.arange(len(rr)) - np.repeat(np.cumsum(first) - first, first)
        j = order[starts[rr] + k]
        st = np.maximum(fr_all[rr, k], release_h[j])
        finish[j] = st + offset_h[j]
        fr_all[rr, k] = st + occupancy_h[j]
    rest = np.flatnonzero(counts > first)
    if len(rest):
        # rows are independent: those of similar crew numbers go together, on their crews' columns
        # only (the columns past a row's crews are inf padding, never the earliest free)
        width = 1 << np.ceil(np.log2(np.maximum(crews[rest], 8))).astype(np.int64)
        for w in np.unique(width):
            _list_rows(rest[width == w], int(w), counts, first, starts, order, fr_all, release_h, offset_h, occupancy_h, finish)  # fmt: skip
    free[used] = fr_all
    return finish


def _list_rows(
    rows: np.ndarray,
    width: int,
    counts: np.ndarray,
    first: np.ndarray,
    starts: np.ndarray,
    order: np.ndarray,
    fr_all: np.ndarray,
    release_h: np.ndarray,
    offset_h: np.ndarray,
    occupancy_h: np.ndarray,
    finish: np.ndarray,
) -> None:
    """The ranks past ``first`` of ``rows`` (of at most ``width`` crews) in :func:`list_schedule`:
    one step per rank, all rows at once; ``fr_all`` and ``finish`` are updated in place."""
    # rows with more jobs first, so the rows still busy at rank k are a prefix
    rows = rows[np.argsort(-counts[rows], kind="stable")]
    c_r, f_r = counts[rows], first[rows]
    n_busy = np.searchsorted(-c_r, -np.arange(int(c_r.max())), side="left")  # rows with > k jobs
    f_max = int(f_r.max())
    fr_b = fr_all[rows, :width]
    base = starts[rows]
    k_end = int(c_r.max())
    for k in range(int(f_r.min()), k_end):
        nb = int(n_busy[k])
        if nb <= _HEAP_ROWS:  # a few long rows left: one heap each beats a NumPy step per rank
            for i in range(nb):
                k0 = max(k, int(f_r[i]))
                j = order[base[i] + k0 : base[i] + int(c_r[i])]
                fr_b[i] = _heap_row(fr_b[i], release_h[j], offset_h[j], occupancy_h[j], finish, j)
            break
        if k < f_max:  # rows whose first jobs went to their crews at once start later
            loc = np.flatnonzero(f_r[:nb] <= k)
        else:
            loc = np.arange(nb)
        j = order[base[loc] + k]
        fr = fr_b[loc] if k < f_max else fr_b[:nb]
        c = np.argmin(fr, axis=1)
        st = np.maximum(fr[np.arange(len(loc)), c], release_h[j])
        finish[j] = st + offset_h[j]
        fr_b[loc, c] = st + occupancy_h[j]
    fr_all[rows, :width] = fr_b


def _dense_rank(x: np.ndarray) -> np.ndarray:
    """Rank of each value among the distinct values of ``x`` (equal values share one, NaN last),
    as :func:`numpy.sort` orders them."""
    o = np.argsort(x)
    xs = x[o]
    step = xs[1:] != xs[:-1]
    nan = np.isnan(xs)
    step &= ~(nan[1:] & nan[:-1])  # every NaN in one group, as sorting keeps them in place
    rank = np.empty(len(x), np.int64)
    rank[o] = np.r_[0, np.cumsum(step)]
    return rank


def _row_order(row: np.ndarray, n_rows: int, key: np.ndarray) -> np.ndarray:
    """``np.lexsort((key, row))``: by row, then ``key``, then position (a stable sort), as one
    quicksort of unique integers."""
    n = len(row)
    rank = _dense_rank(key)
    n_key = int(rank.max()) + 1 if n else 1
    if n_rows * n_key * n >= 2**62:  # the integers would overflow
        return np.lexsort((key, row))
    return np.argsort((row * n_key + rank) * n + np.arange(n))


#: Rows left at which :func:`_list_rows` schedules each row with a heap instead of a step per rank.
_HEAP_ROWS = 4


def _heap_row(
    free: np.ndarray,
    release: np.ndarray,
    offset: np.ndarray,
    occupancy: np.ndarray,
    finish: np.ndarray,
    jobs: np.ndarray,
) -> np.ndarray:
    """One row's jobs in order on its crews (``free``: hour each is next free), earliest-free crew
    first and the lowest column among ties (as ``argmin``); writes ``finish[jobs]``, returns the
    crews' new free hours."""
    heap = list(zip(free.tolist(), range(len(free)), strict=True))
    heapq.heapify(heap)
    out = []
    for rel, off, occ in zip(release.tolist(), offset.tolist(), occupancy.tolist(), strict=True):
        t, c = heap[0]
        st = t if t >= rel else rel
        out.append(st + off)
        heapq.heapreplace(heap, (st + occ, c))
    finish[jobs] = out
    t, c = zip(*heap, strict=True)
    new = np.empty(len(free))
    new[list(c)] = t
    return new


# ---------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------
@dataclass
class RecoveryResult:
    """Restoration of every realisation.

    Attributes
    ----------
    units:
        The reported units (``unit_id``, ``level``, ``parent_id``, ``name_zh``, ``name_en``,
        ``population``), rows of the arrays below.
    hours:
        Time grid, hours after the evaluation horizon (0 … 14 days by default).
    q:
        ``system`` → ``Q(t)``: share of the people of the unit served through that system,
        ``(R, n_units, n_hours)`` (stored as ``uint16`` fixed point; use :meth:`qt`).
    customer_hours:
        ``system`` → people-hours without the service within the horizon, ``(R, n_units)``
        (exact from the restoration times, not from the grid).
    served:
        ``system`` → people of the unit served through the system in the intact twin.
    restore_h:
        ``(R, n_assets)`` CSR of restoration hours of the assets out of service (``inf``: never).
    pools:
        Crew pools: ``system``, ``prefecture``, ``assets``, ``crews``, ``jobs_mean``.
    """

    units: pd.DataFrame
    hours: np.ndarray
    q: dict[str, np.ndarray]
    customer_hours: dict[str, np.ndarray]
    served: dict[str, np.ndarray]
    restore_h: sp.csr_matrix
    pools: pd.DataFrame
    policy: str
    config: RecoveryConfig
    seed: int
    realisations: int
    timings: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def systems(self) -> tuple[str, ...]:
        return tuple(self.q)

    def qt(self, system: str, units: Any = None) -> np.ndarray:
        """``Q(t)`` as float32 ``(R, n_units, n_hours)``; ``units`` (an index or index array of
        the units) decodes only those rows."""
        q = self.q[system]
        return self.decode(q if units is None else q[:, units, :])

    @staticmethod
    def decode(codes: np.ndarray) -> np.ndarray:
        """``Q`` (float32) of stored ``uint16`` fixed-point codes: ``code / 65535``."""
        return codes.astype(np.float32) / np.float32(65535.0)


# ---------------------------------------------------------------------------------------------
# the simulation
# ---------------------------------------------------------------------------------------------
@dataclass
class RecoveryModel:
    """Everything a recovery run compiles once per twin and settings (see :func:`build_recovery_model`)."""

    model: CascadeModel
    road_model: CascadeModel | None
    road_nodes: np.ndarray  # global positions of road assets
    road_indptr: np.ndarray
    road_indices: np.ndarray  # global positions of neighbours
    road_intact: np.ndarray  # bool (n,): road asset reaches a hub in the intact twin
    is_road: np.ndarray  # bool (n,)
    road_has_dependents: bool  # some road asset depends on another system
    is_source: np.ndarray
    pools: CrewPools
    mu: np.ndarray
    sigma: np.ndarray
    mean_h: np.ndarray  # (n, 5)
    people_lost: np.ndarray
    hospital_critical: np.ndarray
    sysv: np.ndarray
    kinds: np.ndarray
    ids: np.ndarray
    rep: np.ndarray  # reported unit positions
    fine_to_rep: np.ndarray  # (n_rep × n_fine) 0/1: finest reported units into every reported unit
    fine_to_rep_csr: sp.csr_matrix  # the same, sparse
    svc: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # system → (terminal, fine unit, people)
    served: dict[str, np.ndarray]


def build_recovery_model(
    twin: Twin, model: CascadeModel, config: RecoveryConfig, importance: Mapping | None = None
) -> RecoveryModel:
    """Repair-time parameters, crew pools and travel, road structure, importance and service maps."""
    from rescity.engine.aggregate import ancestors
    from rescity.engine.criticality import n_minus_1

    n = twin.n_assets
    table = load_repair_times(config.repair_times)
    mu, sigma = repair_parameters(table, twin)
    mean_h = np.exp(mu + sigma**2 / 2)
    road_g = [g for g in model.graphs if g.system == "road"]
    road_model = None
    road_nodes = np.zeros(0, np.int64)
    road_indptr = np.zeros(1, np.int64)
    road_indices = np.zeros(0, np.int64)
    road_intact = np.zeros(n, bool)
    if road_g:
        g = road_g[0]
        road_model = CascadeModel(n, model.threshold, [g], [], model.horizon_h)
        road_nodes = g.nodes
        road_indptr = g.indptr
        road_indices = g.nodes[g.indices]
        road_intact[g.nodes] = g.intact_reach
    imp = dict(importance) if importance is not None else n_minus_1(twin, model)
    units = twin.units
    level = units["level"].astype(str).to_numpy()
    rep = np.flatnonzero(np.isin(level, config.levels))
    finest = max(
        (lv for lv in config.levels if (level == lv).any()),
        key=("province", "prefecture", "county", "cell").index,
        default=None,
    )
    fine = np.flatnonzero(level == finest) if finest else np.zeros(0, np.int64)
    anc = ancestors(twin).tocsr()
    fine_to_rep = anc[rep][:, fine].toarray().astype(np.float64)  # (n_rep × n_fine)
    # each cell's finest reported unit
    cell_to_fine = anc[fine].tocoo()  # (n_fine × n_units): unit v lies in fine unit
    fine_of = np.full(len(units), -1, np.int64)
    fine_of[cell_to_fine.col] = cell_to_fine.row
    s = twin.service
    svc, served = {}, {}
    for sv in service_systems():
        sel = (s["system"] == sv).to_numpy()
        if not sel.any():
            continue
        term = s["terminal"].to_numpy(np.int64)[sel]
        cell = s["unit"].to_numpy(np.int64)[sel]
        ppl = s["people"].to_numpy(np.float64)[sel]
        f = fine_of[cell]
        ok = f >= 0
        svc[sv] = (term[ok], f[ok], ppl[ok])
        served[sv] = fine_to_rep @ np.bincount(f[ok], weights=ppl[ok], minlength=len(fine))
    return RecoveryModel(
        model=model,
        road_model=road_model,
        road_nodes=road_nodes,
        road_indptr=road_indptr,
        road_indices=road_indices,
        road_intact=road_intact,
        is_road=twin.assets["system"].to_numpy() == "road",
        road_has_dependents=bool(
            any((twin.assets["system"].to_numpy()[d.dependents] == "road").any() for d in model.dependencies)
        ),
        is_source=twin.assets["is_source"].to_numpy(bool),
        pools=crew_pools(twin, config),
        mu=mu,
        sigma=sigma,
        mean_h=mean_h,
        people_lost=np.asarray(imp["people_lost_total"], float),
        hospital_critical=np.asarray(imp["hospital_critical"], bool),
        sysv=twin.assets["system"].astype(str).to_numpy(),
        kinds=twin.assets["kind"].astype(str).to_numpy(),
        ids=twin.assets["asset_id"].astype(str).to_numpy(),
        rep=rep,
        fine_to_rep=fine_to_rep,
        fine_to_rep_csr=sp.csr_matrix(fine_to_rep),
        svc=svc,
        served=served,
    )


def _road_release(
    st: RecoveryModel, tau_road: np.ndarray, pos: np.ndarray, r: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """Earliest hour a road job (realisation r, asset v) can be reached: a road neighbour is up.

    ``tau_road[row, pos[asset]]`` is the road's restoration time of an asset (compact columns of
    :meth:`~rescity.engine.restore.RestorationSolver.times_compact`)."""
    loc = np.full(st.model.n_assets, -1, np.int64)
    loc[st.road_nodes] = np.arange(len(st.road_nodes))
    rep, nb = csr_neighbours(st.road_indptr, st.road_indices, loc[v])
    vals = tau_road[r[rep], pos[nb]]
    rel = np.full(len(v), np.inf)
    np.minimum.at(rel, rep, vals)
    rel[st.is_source[v]] = 0.0  # county-seat hubs: crews start there
    rel[~st.road_intact[v]] = 0.0  # unreachable even intact: no road constraint
    return rel


def job_context(
    st: RecoveryModel, states: np.ndarray, start: int, seed: int, config: RecoveryConfig
) -> JobContext:
    """The repair jobs of a block of realisations ``start …``: every asset out of service, its
    sampled repair hours (the realisation's own stream) and travel."""
    b, n = states.shape
    out = states >= st.model.threshold
    r, v = nonzero_2d(out)
    ds = states[r, v].astype(np.int64)
    # per-realisation streams: normals for durations, uniforms for random orders
    z = np.empty(len(r))
    u = np.empty(len(r))
    bounds = np.searchsorted(r, np.arange(b + 1))
    for i in range(b):  # one generator per realisation
        k = bounds[i + 1] - bounds[i]
        rng = realisation_rng(seed, start + i, STREAM_RECOVERY)
        z[bounds[i] : bounds[i + 1]] = rng.standard_normal(k)
        u[bounds[i] : bounds[i + 1]] = rng.random(k)
    return JobContext(
        realisation=start + r,
        asset=v,
        damage_state=ds,
        repair_h=np.exp(st.mu[v, ds] + st.sigma[v, ds] * z),
        mean_repair_h=st.mean_h[v, ds],
        travel_h=st.pools.travel_h[v],
        pool=st.pools.pool[v],
        uniform=u,
        kind=st.kinds[v],
        system=st.sysv[v],
        people_lost=st.people_lost[v],
        hospital_critical=st.hospital_critical[v],
        asset_ids=st.ids,
        params=config.policy_params,
    )


def _chunk(
    st: RecoveryModel,
    states: np.ndarray,
    f0: np.ndarray | None,
    start: int,
    seed: int,
    config: RecoveryConfig,
    policy,
    hours: np.ndarray,
) -> dict[str, Any]:
    b, n = states.shape
    timings = {}
    t0 = time.perf_counter()
    ctx = job_context(st, states, start, seed, config)
    r, v = ctx.realisation - start, ctx.asset
    repair, travel, pool = ctx.repair_h, ctx.travel_h, ctx.pool
    prio = np.asarray(policy(ctx), dtype=np.float64)
    if prio.shape != (len(r),):
        raise InputError("a policy must return one priority per job", field="policy", value=prio.shape)
    occ = repair + 2.0 * travel
    offs = repair + travel
    n_pool = len(st.pools.table)
    crews = mutual_aid_crews(
        st.pools.table,
        np.bincount(r * n_pool + pool, weights=occ, minlength=b * n_pool).reshape(b, n_pool),
        config.mutual_aid,
    )  # (b, n_pool)
    cmax = int(crews.max()) if crews.size else 1
    free = np.zeros((b * n_pool, cmax))
    free[np.arange(cmax)[None, :] >= crews.reshape(-1)[:, None]] = np.inf
    row = r * n_pool + pool
    restore = np.full(len(r), np.inf)
    t1 = time.perf_counter()
    timings["jobs"] = t1 - t0
    # road jobs in layers, then the rest once the roads' restoration is known; restoration
    # times live on each solver's compact columns (``pos``: asset → column, else a zero column)
    is_road = st.is_road[v]
    tau_road = np.zeros((b, 1))
    pos_road = np.zeros(n, np.int64)
    road_f0 = None
    if st.road_model is not None:
        rj = np.flatnonzero(is_road)
        out_road = np.zeros((b, n), bool)
        out_road[r[rj], v[rj]] = True
        if f0 is not None and not st.road_has_dependents:  # road alone: its part of the cascade
            road_f0 = np.where(st.is_road[None, :], f0, ~out_road)
        road_solver = RestorationSolver(st.road_model, out_road, functional0=road_f0)
        pos_road = road_solver.pos
        t_road = np.zeros((b, road_solver.n_cols))
        t_road[r[rj], pos_road[v[rj]]] = np.inf
        roads_up = FallingRestoration(road_solver, t_road)  # each layer only lowers restoration hours
        pending = rj
        layers = 0
        while len(pending):
            rel = _road_release(st, roads_up.tau, pos_road, r[pending], v[pending])
            now = np.isfinite(rel)
            if not now.any():
                break
            jobs = pending[now]
            fin = list_schedule(row[jobs], prio[jobs], occ[jobs], offs[jobs], rel[now], free)
            restore[jobs] = fin
            roads_up.lower(r[jobs], pos_road[v[jobs]], fin)
            pending = pending[~now]
            layers += 1
        tau_road = roads_up.tau
        timings["layers"] = layers
    t2 = time.perf_counter()
    timings["road"] = t2 - t1
    other = np.flatnonzero(~is_road)
    acc = st.pools.access[v[other]]
    rel = np.zeros(len(other))
    has = acc >= 0
    rel[has] = tau_road[r[other][has], pos_road[acc[has]]]
    rel[has & ~st.road_intact[np.maximum(acc, 0)]] = 0.0
    restore[other] = list_schedule(row[other], prio[other], occ[other], offs[other], rel, free)
    t3 = time.perf_counter()
    timings["schedule"] = t3 - t2
    if f0 is None:
        f0 = functional(st.model, states)
    shared = {}
    if road_f0 is not None and road_solver.lates[0] is not None:  # the same late road nodes
        shared = {[g.system for g in st.model.graphs].index("road"): road_solver.lates[0][0]}
    solver = RestorationSolver(st.model, functional0=f0, late_graphs=shared)
    t_all = np.zeros((b, solver.n_cols))
    t_all[r, solver.pos[v]] = restore
    known = {}
    if road_f0 is not None:  # the road alone, as solved for the layers: the same late nodes and hours
        for j, (g, item) in enumerate(zip(st.model.graphs, solver.lates, strict=True)):
            if g.system == "road" and item is not None:
                lg, cc = item
                known[j] = tau_road[lg.rows, pos_road[solver.cols[cc]]]
    tau = solver.times_compact(t_all, known=known)  # (b, n_cols + 1): read at solver.pos
    t4 = time.perf_counter()
    timings["cascade"] = t4 - t3
    q, ch = service_curves(st, tau, solver.pos, hours)
    timings["metrics"] = time.perf_counter() - t4
    return {
        "q": q,
        "ch": ch,
        "r": r,
        "v": v,
        "restore": restore,
        "timings": timings,
        "pools_jobs": np.bincount(pool, minlength=n_pool),
        "pools_crews": crews.sum(axis=0),
    }


def service_curves(
    st: RecoveryModel, tau: np.ndarray, pos: np.ndarray, hours: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``Q(t)`` (uint16 fixed point, ``(b, n_rep, n_hours)``) and customer-hours lost
    (``(b, n_rep)``) of every service system, from the times ``τ`` (hours, ``(b, ·)`` read at
    ``pos[asset]``) from which each terminal is functional."""
    b = tau.shape[0]
    hz = float(hours[-1])
    step = float(hours[1] - hours[0]) if len(hours) > 1 else hz or 1.0
    n_fine = st.fine_to_rep.shape[1]
    nh = len(hours)
    real = np.arange(b)[:, None]
    q, ch = {}, {}
    for sv, (term, fine_u, ppl) in st.svc.items():
        tt = tau[:, pos[term]]  # (b, rows)
        # hour step from which each row is served (nh: beyond the horizon)
        k = np.minimum(tt, hz + step)
        k /= step
        k -= 1e-9
        np.ceil(k, out=k)
        k[tt <= 0] = 0
        k = k.astype(np.int64)
        np.minimum(k, nh, out=k)
        # people served from each step, binned (step, fine unit, realisation): most rows are
        # served at 0, in the first slab; the steps past the horizon fall in the last slab
        k *= n_fine * b
        k += fine_u * b  # row by row, without a (b, rows) temporary
        k += real
        w = np.broadcast_to(ppl, tt.shape).ravel()
        cnt = np.bincount(k.ravel(), weights=w, minlength=(nh + 1) * n_fine * b)
        served_f = cnt.reshape(nh + 1, n_fine, b)[:nh]
        for h in range(1, nh):  # the cumulative sum over the steps, step after step
            np.add(served_f[h - 1], served_f[h], out=served_f[h])
        # Σ over the finest units of each reported unit (a 0/1 sparse product, summed in order)
        x = served_f.transpose(1, 0, 2).reshape(n_fine, nh * b)
        served_t = st.fine_to_rep_csr @ x  # (n_rep, hours × b)
        tot = st.served[sv]
        served_t /= np.where(tot > 0, tot, 1.0)[:, None]
        served_t[tot <= 0] = 1.0  # nobody served there in the intact twin
        np.clip(served_t, 0, 1, out=served_t)
        served_t *= 65535
        np.round(served_t, out=served_t)
        q[sv] = np.ascontiguousarray(served_t.astype(np.uint16).reshape(-1, nh, b).transpose(2, 0, 1))
        cell = real * n_fine + fine_u[None, :]
        np.minimum(tt, hz, out=tt)
        tt *= ppl[None, :]
        lost = np.bincount(cell.ravel(), weights=tt.ravel(), minlength=b * n_fine)
        ch[sv] = lost.reshape(b, n_fine) @ st.fine_to_rep.T
    return q, ch


def _importance(imp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The N-1 arrays a recovery run reads."""
    return {k: imp[k] for k in ("people_lost_total", "hospital_critical")}


def _run_block(args: tuple, s: int, e: int) -> dict[str, Any]:
    st, states, f0, seed, config, policy, hours, first = args
    return _chunk(st, states[s:e], None if f0 is None else f0[s:e], first + s, seed, config, policy, hours)


def simulate_recovery(
    twin: Twin,
    states: np.ndarray,
    *,
    config: RecoveryConfig | None = None,
    seed: int = 0,
    horizon_h: float = 12.0,
    thresholds: Mapping[str, int] | None = None,
    chunk_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
    importance: Mapping[str, np.ndarray] | None = None,
    model: CascadeModel | None = None,
    functional0: np.ndarray | None = None,
    workers: int | Executor = 1,
    start: int = 0,
) -> RecoveryResult:
    """Restoration of every realisation: repair schedule, restoration times and ``Q(t)``.

    Parameters
    ----------
    twin:
        The twin the damage states belong to.
    states:
        ``int8 (R, n_assets)`` damage states (``SimulationResult.states``).
    config:
        Crews, policy, horizon, repair times (:class:`RecoveryConfig`; default settings if None).
    seed:
        Root seed (use the damage run's seed); realisation ``r`` draws from
        ``SeedSequence(seed, spawn_key=(r, STREAM_RECOVERY))``.
    horizon_h:
        The damage run's evaluation horizon: dependency buffers at least this long are held.
    thresholds:
        As for :func:`~rescity.engine.cascade.build_cascade_model`.
    chunk_size:
        Realisations per block (results do not depend on it).
    progress:
        Called as ``progress(done, total)`` after each block.
    importance:
        Per-asset ``people_lost_total`` and ``hospital_critical``
        (:func:`rescity.engine.criticality.n_minus_1`); computed if not given.
    model:
        A compiled cascade model for ``horizon_h`` and ``thresholds`` (built if not given).
    functional0:
        ``bool (R, n_assets)`` functional at the horizon (``SimulationResult.functional``), if
        kept by the damage run; recomputed otherwise.
    workers:
        Local worker processes, or an executor (:func:`rescity.engine.executor.resolve_executor`);
        results do not depend on it.
    start:
        Index in the run of the first realisation given (its random stream): ``states[i]`` is
        realisation ``start + i``.
    """
    config = config or RecoveryConfig()
    states = np.asarray(states)
    if states.ndim != 2 or states.shape[1] != twin.n_assets:
        raise InputError(f"states must be (R, {twin.n_assets})", field="states", value=states.shape)
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise InputError("chunk_size must be an integer ≥ 1", field="chunk_size", value=chunk_size)
    R = states.shape[0]
    t0 = time.perf_counter()
    if model is None:  # the compiled model and its N-1 importance depend only on the twin
        from rescity.engine.criticality import n_minus_1
        from rescity.engine.runner import cascade_model

        model = cascade_model(twin, horizon_h, thresholds)
        if importance is None:
            key = ("recovery", "n_minus_1", float(horizon_h), repr(sorted((thresholds or {}).items())))
            importance = twin.derived(key, lambda: _importance(n_minus_1(twin, model)))
    policy = get_policy(config.policy)
    st = build_recovery_model(twin, model, config, importance)
    hours = config.hours()
    timings: dict[str, float] = {"setup": time.perf_counter() - t0}
    n_rep = len(st.rep)
    q = {sv: np.zeros((R, n_rep, len(hours)), np.uint16) for sv in st.svc}
    ch = {sv: np.zeros((R, n_rep)) for sv in st.svc}
    rr, vv, tt = [], [], []
    jobs = np.zeros(len(st.pools.table))
    crews_sum = np.zeros(len(st.pools.table))
    if functional0 is not None and np.shape(functional0) != states.shape:
        raise InputError(
            f"functional0 must be {states.shape}", field="functional0", value=np.shape(functional0)
        )
    bounds = chunk_bounds(R, int(chunk_size))
    args = (st, states, functional0, int(seed), config, policy, hours, int(start))

    def collect(s: int, e: int, out: dict[str, Any]) -> None:
        nonlocal jobs, crews_sum
        for sv in q:
            q[sv][s:e] = out["q"][sv]
            ch[sv][s:e] = out["ch"][sv]
        rr.append(out["r"] + s)
        vv.append(out["v"])
        tt.append(out["restore"])
        jobs = jobs + out["pools_jobs"]
        crews_sum = crews_sum + out["pools_crews"]
        for k, val in out["timings"].items():
            timings[k] = timings.get(k, 0.0) + val
        if progress is not None:
            progress(e, R)

    for (s, e), out in zip(
        bounds, imap_chunks(_run_block, bounds, shared=args, workers=workers), strict=True
    ):
        collect(s, e, out)
    r = np.concatenate(rr) if rr else np.zeros(0, np.int64)
    v = np.concatenate(vv) if vv else np.zeros(0, np.int64)
    t = np.concatenate(tt) if tt else np.zeros(0)
    restore = sp.csr_matrix((t.astype(np.float32), (r, v)), shape=(R, twin.n_assets))
    pools = st.pools.table.copy()
    pools["jobs_mean"] = jobs / max(R, 1)
    pools["crews_mean"] = crews_sum / max(R, 1)  # with mutual aid
    units = twin.units.iloc[st.rep][["unit_id", "level", "parent_id", "name_zh", "name_en", "population"]]
    return RecoveryResult(
        units=units.reset_index(drop=True),
        hours=hours,
        q=q,
        customer_hours=ch,
        served=st.served,
        restore_h=restore,
        pools=pools,
        policy=config.policy,
        config=replace(config),
        seed=int(seed),
        realisations=R,
        timings=timings,
        meta={"horizon_h": float(horizon_h)},
    )
