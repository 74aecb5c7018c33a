"""Redundancy investment: which backup and redundancy measures buy the most resilience per yuan.

Candidate measures, each a change to the twin (as CLIMADA treats adaptation measures, a
transform of what it changes):

``generator``
    A backup generator at an asset that depends on power (pumping station, treatment works,
    hospital, base station …): its power dependencies get ``hours`` of buffer.
``battery``
    Battery hours at the base stations of a unit (``unit_id``): ``hours`` added to the buffer of
    each base station's power dependency in the unit and its sub-units.
``second_feed``
    A second feed to a substation: an edge from ``asset_id`` to ``other_id`` (e.g. another
    upstream substation).
``tie_line``
    A tie between two power assets (e.g. the feeders of two substations): an edge between
    ``asset_id`` and ``other_id``.

New feeds and ties are taken as undamaged (underground or hardened; their own failure is not
modelled). Benefit of a measure = the reduction of the expected customer-hours lost within the
recovery horizon (all four services, whole twin), over the given realisations, with the damage
and the repair schedule of each realisation held fixed (common random numbers: the measure
changes who is served while repairs go on, not the repairs). Benefits are evaluated one measure
at a time and assumed additive for the selection — a 0/1 knapsack solved exactly with HiGHS
(``scipy.optimize.milp``), at most one measure per ``group`` — and the chosen portfolio is then
evaluated jointly, so any overlap between measures shows.

Note. Buffers are held at their state at the evaluation horizon (see
:mod:`rescity.engine.restore`): extra hours on a backup that already outlasts the horizon change
nothing, so generators pay where the backup is shorter than the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from rescity.engine.cascade import CascadeModel, build_cascade_model, functional
from rescity.engine.restore import RestorationSolver
from rescity.errors import InputError
from rescity.geo import local_xy_km
from rescity.twin.model import Twin
from rescity.twin.systems import service_systems

MEASURE_TYPES: tuple[str, ...] = ("generator", "battery", "second_feed", "tie_line")
CANDIDATE_COLUMNS: tuple[str, ...] = (
    "measure_id",
    "type",
    "asset_id",
    "other_id",
    "unit_id",
    "hours",
    "cost_cny",
)
#: Unit costs for the default candidates, CNY (rescity assumptions of the order of Chinese
#: tender prices; see docs/spof.md): an installed diesel generator set by site, a lithium battery
#: pack per base station, 110 kV overhead line per km (as the default twin's costs) plus a bay,
#: 10 kV cable per km.
COSTS_CNY = {
    "generator_pump_station": 0.6e6,
    "generator_treatment_plant": 2.0e6,
    "generator_other": 0.8e6,
    "battery_per_base_station": 15_000.0,
    "line_110kv_per_km": 0.9e6,
    "bay_110kv": 5.0e6,
    "cable_10kv_per_km": 1.2e6,
}


def read_candidates(path: str | Path, twin: Twin) -> pd.DataFrame:
    """Candidate measures from a CSV with :data:`CANDIDATE_COLUMNS` (``other_id``, ``unit_id``,
    ``hours`` may be empty where a type does not use them; optional ``group``), validated."""
    p = Path(path)
    if not p.exists():
        raise InputError("candidates file not found", file=p)
    t = pd.read_csv(p, dtype={"asset_id": str, "other_id": str, "unit_id": str, "measure_id": str})
    return check_candidates(t, twin, file=p)


def check_candidates(t: pd.DataFrame, twin: Twin, file=None) -> pd.DataFrame:
    """Validate a candidates table; ``InputError`` naming the file, field and value."""
    t = t.copy()
    for c in ("measure_id", "type", "cost_cny"):
        if c not in t.columns:
            raise InputError("missing column", file=file, field=c)
    for c in ("asset_id", "other_id", "unit_id"):
        t[c] = t[c].fillna("").astype(str) if c in t.columns else ""
    t["hours"] = pd.to_numeric(t["hours"], errors="coerce") if "hours" in t.columns else np.nan
    if "group" not in t.columns:
        t["group"] = t["measure_id"]
    t["group"] = t["group"].fillna(t["measure_id"]).astype(str)
    bad = ~t["type"].isin(MEASURE_TYPES)
    if bad.any():
        raise InputError(
            f"type must be one of {list(MEASURE_TYPES)}",
            file=file,
            field="type",
            value=t["type"][bad].iloc[0],
        )
    cost = pd.to_numeric(t["cost_cny"], errors="coerce")
    if cost.isna().any() or (cost < 0).any():
        raise InputError(
            "cost_cny must be a number ≥ 0",
            file=file,
            field="cost_cny",
            value=t["cost_cny"][cost.isna() | (cost < 0)].iloc[0],
        )
    t["cost_cny"] = cost.astype(float)
    if t["measure_id"].duplicated().any():
        raise InputError(
            "duplicate measure_id",
            file=file,
            field="measure_id",
            value=t["measure_id"][t["measure_id"].duplicated()].iloc[0],
        )
    ids = set(twin.assets["asset_id"].astype(str))
    units = set(twin.units["unit_id"].astype(str))
    need_asset = t["type"].isin(["generator", "second_feed", "tie_line"])
    bad = need_asset & ~t["asset_id"].isin(ids)
    if bad.any():
        raise InputError("unknown asset_id", file=file, field="asset_id", value=t["asset_id"][bad].iloc[0])
    need_other = t["type"].isin(["second_feed", "tie_line"])
    bad = need_other & ~t["other_id"].isin(ids)
    if bad.any():
        raise InputError("unknown other_id", file=file, field="other_id", value=t["other_id"][bad].iloc[0])
    bad = (t["type"] == "battery") & ~t["unit_id"].isin(units)
    if bad.any():
        raise InputError("unknown unit_id", file=file, field="unit_id", value=t["unit_id"][bad].iloc[0])
    need_h = t["type"].isin(["generator", "battery"])
    bad = need_h & (t["hours"].isna() | (t["hours"] <= 0))
    if bad.any():
        raise InputError(
            "hours must be > 0 for generators and batteries",
            file=file,
            field="hours",
            value=t["hours"][bad].iloc[0],
        )
    sysv = twin.assets.set_index("asset_id")["system"]
    bad = need_other & (
        (sysv.reindex(t["asset_id"]).to_numpy() != "power")
        | (sysv.reindex(t["other_id"]).to_numpy() != "power")
    )
    if bad.any():
        raise InputError(
            "feeds and ties join two power assets",
            file=file,
            field="asset_id",
            value=t["asset_id"][bad].iloc[0],
        )
    return t.reset_index(drop=True)


def apply_measures(twin: Twin, measures: pd.DataFrame) -> Twin:
    """A copy of the twin with the measures applied (dependency buffers and extra edges)."""
    pos = twin.asset_index()
    d = twin.dependencies.copy()
    edges = [twin.edges]
    kinds = twin.assets["kind"].astype(str).to_numpy()
    for m in measures.itertuples(index=False):  # one row per chosen measure
        if m.type == "generator":
            a = int(pos[m.asset_id])
            sel = (d["dependent"] == a) & (d["kind"] == "power")
            d.loc[sel, "buffer_h"] = np.maximum(d.loc[sel, "buffer_h"], float(m.hours))
        elif m.type == "battery":
            anc = _units_within(twin, m.unit_id)
            in_unit = twin.assets["unit_id"].isin(anc).to_numpy() & (kinds == "base_station")
            sel = d["dependent"].isin(np.flatnonzero(in_unit)) & (d["kind"] == "power")
            d.loc[sel, "buffer_h"] = d.loc[sel, "buffer_h"] + float(m.hours)
        else:
            edges.append(
                pd.DataFrame(
                    {"system": ["power"], "src": [int(pos[m.asset_id])], "dst": [int(pos[m.other_id])]}
                )
            )
    return Twin(
        twin.units,
        twin.assets,
        pd.concat(edges, ignore_index=True),
        d,
        twin.service,
        dict(twin.meta),
        twin.geometry,
    )


def _units_within(twin: Twin, unit_id: str) -> set[str]:
    u = twin.units
    idx = twin.unit_index()
    if unit_id not in idx.index:
        return set()
    from rescity.engine.aggregate import ancestors

    row = ancestors(twin).tocsr()[int(idx[unit_id])]
    return set(u["unit_id"].iloc[row.indices].astype(str))


def default_candidates(
    twin: Twin,
    *,
    horizon_h: float = 12.0,
    n: int = 10,
    spof: pd.DataFrame | None = None,
    exposure: np.ndarray | None = None,
) -> pd.DataFrame:
    """Candidate measures for the twin (costs from :data:`COSTS_CNY`).

    * generators (72 h) at the ``n`` pumping stations and ``n`` treatment works whose backup is
      shorter than the horizon, ranked by people served (their N-1 loss) × exposure;
    * batteries (+12 h) at the short-backup base stations of the ``n`` counties ranked likewise;
    * for the ``n`` single-fed 110 kV substations ranked likewise: a second feed from the
      second-nearest 220/500 kV substation and a 10 kV tie from its first feeder to the nearest
      feeder of another substation.

    ``exposure``: per asset, the share of realisations in which it is out of service at the
    horizon (e.g. ``1 - SimulationResult.functional.mean(0)``); without it every asset counts 1.
    """
    from rescity.decide.spof import spof_table

    t = spof if spof is not None else spof_table(twin, horizon_h=horizon_h)
    a = twin.assets
    n_a = twin.n_assets
    people = np.zeros(n_a)
    people[twin.asset_index().reindex(t["asset_id"]).to_numpy().astype(np.int64)] = t[
        "people_lost_total"
    ].to_numpy(float)
    expo = np.ones(n_a) if exposure is None else np.asarray(exposure, float)
    if expo.shape != (n_a,):
        raise InputError(f"exposure must have {n_a} values", field="exposure", value=expo.shape)
    score = people * expo
    ids = a["asset_id"].astype(str).to_numpy()
    kinds = a["kind"].astype(str).to_numpy()
    lon = a["lon"].to_numpy(float)
    lat = a["lat"].to_numpy(float)
    d = twin.dependencies
    pw = d[d["kind"] == "power"]
    maxbuf = pw.groupby("dependent")["buffer_h"].max()
    short = np.zeros(n_a, bool)
    short[maxbuf.index[maxbuf.to_numpy() < horizon_h].to_numpy(np.int64)] = True
    rows = []

    def top(mask: np.ndarray) -> np.ndarray:
        cand = np.flatnonzero(mask & (score > 0))
        return cand[np.argsort(-score[cand], kind="stable")[:n]]

    for k in ("pump_station", "treatment_plant"):
        for i in top((kinds == k) & short):
            rows.append(
                dict(
                    measure_id=f"gen:{ids[i]}",
                    type="generator",
                    asset_id=ids[i],
                    hours=72.0,
                    cost_cny=COSTS_CNY.get(f"generator_{k}", COSTS_CNY["generator_other"]),
                    group=f"gen:{ids[i]}",
                )
            )
    bs = np.flatnonzero((kinds == "base_station") & short)
    if len(bs):
        county = _county_of_assets(twin)[bs]
        g = (
            pd.DataFrame({"county": county, "score": score[bs]})
            .groupby("county")
            .agg(score=("score", "sum"), n=("score", "size"))
        )
        g = g[(g.index != "") & (g["score"] > 0)].sort_values("score", ascending=False).head(n)
        for c, r in g.iterrows():
            rows.append(
                dict(
                    measure_id=f"bat:{c}",
                    type="battery",
                    unit_id=str(c),
                    hours=12.0,
                    cost_cny=COSTS_CNY["battery_per_base_station"] * int(r["n"]),
                    group=f"bat:{c}",
                )
            )
    e = twin.edges[twin.edges["system"] == "power"]
    src = np.r_[e["src"].to_numpy(np.int64), e["dst"].to_numpy(np.int64)]
    dst = np.r_[e["dst"].to_numpy(np.int64), e["src"].to_numpy(np.int64)]
    lines_at = np.bincount(src[kinds[dst] == "line_110kv"], minlength=n_a)
    s220 = np.flatnonzero(np.isin(kinds, ["substation_220kv", "substation_500kv"]))
    feeders_sel = (kinds[src] == "feeder_10kv") & (kinds[dst] == "substation_110kv")
    f_of = pd.Series(dst[feeders_sel], index=src[feeders_sel])
    f_of = f_of[~f_of.index.duplicated()]
    for x in top((kinds == "substation_110kv") & (lines_at == 1)):
        if not len(s220):
            break
        dist = np.hypot(*(local_xy_km(lon[s220], lat[s220], lat[x]) - local_xy_km(lon[x], lat[x], lat[x])).T)
        order = np.argsort(dist)
        o = order[1] if len(order) > 1 else order[0]  # the nearest usually feeds it already
        rows.append(
            dict(
                measure_id=f"feed:{ids[x]}",
                type="second_feed",
                asset_id=ids[x],
                other_id=ids[s220[o]],
                cost_cny=COSTS_CNY["bay_110kv"] + COSTS_CNY["line_110kv_per_km"] * 1.2 * dist[o],
                group=f"sub:{ids[x]}",
            )
        )
        mine = f_of.index[f_of.to_numpy() == x]
        other = f_of.index[f_of.to_numpy() != x].to_numpy()
        if len(mine) and len(other):
            f = int(mine[0])
            dd = np.hypot(*(local_xy_km(lon[other], lat[other], lat[x]) - local_xy_km(lon[f], lat[f], lat[x])).T)
            j = int(other[np.argmin(dd)])
            rows.append(
                dict(
                    measure_id=f"tie:{ids[f]}",
                    type="tie_line",
                    asset_id=ids[f],
                    other_id=ids[j],
                    cost_cny=COSTS_CNY["cable_10kv_per_km"] * max(1.3 * float(dd.min()), 0.5),
                    group=f"tie:{ids[f]}",
                )
            )
    if not rows:
        return check_candidates(pd.DataFrame(columns=[*CANDIDATE_COLUMNS, "group"]), twin)
    return check_candidates(pd.DataFrame(rows), twin)


def _county_of_assets(twin: Twin) -> np.ndarray:
    u = twin.units
    lv = u["level"].astype(str).to_numpy()
    idx = twin.unit_index()
    par = idx.reindex(u["parent_id"].astype(str).to_numpy()).to_numpy()
    ids = u["unit_id"].astype(str).to_numpy()
    county = np.where(lv == "county", ids, "")
    county = np.where(
        (lv == "cell") & ~np.isnan(par), ids[np.where(np.isnan(par), 0, par).astype(int)], county
    )
    pos = idx.reindex(twin.assets["unit_id"].astype(str).to_numpy()).to_numpy()
    ok = ~np.isnan(pos)
    out = np.full(twin.n_assets, "", dtype=object)
    out[ok] = county[pos[ok].astype(int)]
    return out


@dataclass
class _Eval:
    """Customer-hours of a set of realisations under a cascade model (held repairs)."""

    twin: Twin
    states: np.ndarray
    restore_h: np.ndarray  # (R, n)
    horizon_h: float
    recovery_h: float
    weights: np.ndarray = field(init=False)  # people per asset as a service terminal (all services)

    def __post_init__(self) -> None:
        s = self.twin.service
        s = s[s["system"].isin(service_systems())]
        self.weights = np.bincount(
            s["terminal"].to_numpy(np.int64),
            weights=s["people"].to_numpy(float),
            minlength=self.twin.n_assets,
        )

    def customer_hours(
        self, model: CascadeModel, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(self.states)) if rows is None else rows
        if not len(rows):
            return np.zeros(0), np.zeros((0, self.twin.n_assets))
        st = self.states[rows]
        f0 = functional(model, st)
        tau = RestorationSolver(model, functional0=f0).times(self.restore_h[rows])
        ch = (np.minimum(tau, self.recovery_h) * self.weights).sum(axis=1)
        return ch, tau


def evaluate_candidates(
    twin: Twin,
    states: np.ndarray,
    restore_h: np.ndarray | sp.spmatrix,
    candidates: pd.DataFrame,
    *,
    horizon_h: float = 12.0,
    recovery_h: float = 336.0,
    thresholds=None,
    progress=None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Benefit of each candidate alone: customer-hours saved per realisation.

    Returns ``(table, base_customer_hours)``; the table adds ``benefit_ch`` (mean over
    realisations), ``benefit_ch_p05``, ``benefit_ch_p95`` and ``benefit_per_mcny`` (customer-hours
    saved per million CNY) to the candidates.
    """
    t = check_candidates(candidates, twin)
    r = np.asarray(states)
    rh = restore_h.toarray() if sp.issparse(restore_h) else np.asarray(restore_h, float)
    full = np.where(r >= build_cascade_model(twin, horizon_h, thresholds).threshold, rh, 0.0)
    full[np.isnan(full)] = np.inf
    ev = _Eval(twin, r, full, horizon_h, recovery_h)
    base_model = build_cascade_model(twin, horizon_h, thresholds)
    base_ch, base_tau = ev.customer_hours(base_model)
    pos = twin.asset_index()
    benefit = np.zeros((len(t), len(r)))
    for i, m in enumerate(t.itertuples(index=False)):  # one evaluation per candidate
        tw = apply_measures(twin, pd.DataFrame([m._asdict()]))
        model = build_cascade_model(tw, horizon_h, thresholds)
        # only realisations where the measure's assets are ever out of service can change
        if m.type == "battery":
            anc = _units_within(twin, m.unit_id)
            targets = np.flatnonzero(
                twin.assets["unit_id"].isin(anc).to_numpy()
                & (twin.assets["kind"] == "base_station").to_numpy()
            )
        else:
            targets = np.array([int(pos[m.asset_id])])
        rows = np.flatnonzero((base_tau[:, targets] > 0).any(axis=1)) if len(targets) else np.zeros(0, int)
        ch, _ = ev.customer_hours(model, rows)
        benefit[i, rows] = base_ch[rows] - ch
        if progress is not None:
            progress(i + 1, len(t))
    t["benefit_ch"] = benefit.mean(axis=1)
    lo, hi = (
        np.quantile(benefit, (0.05, 0.95), axis=1)
        if benefit.shape[1]
        else (np.zeros(len(t)), np.zeros(len(t)))
    )
    t["benefit_ch_p05"] = lo
    t["benefit_ch_p95"] = hi
    with np.errstate(divide="ignore", invalid="ignore"):
        t["benefit_per_mcny"] = np.where(t["cost_cny"] > 0, t["benefit_ch"] / (t["cost_cny"] / 1e6), np.inf)
    return t, base_ch


def select_measures(table: pd.DataFrame, budget_cny: float) -> np.ndarray:
    """0/1 knapsack: the measures of largest total ``benefit_ch`` within ``budget_cny``, at most
    one per ``group`` (HiGHS branch and bound through ``scipy.optimize.milp``). Bool mask."""
    if not np.isfinite(budget_cny) or budget_cny < 0:
        raise InputError("budget must be a number ≥ 0 (CNY)", field="budget", value=budget_cny)
    n = len(table)
    if n == 0:
        return np.zeros(0, bool)
    b = np.maximum(table["benefit_ch"].to_numpy(float), 0.0)
    c = table["cost_cny"].to_numpy(float)
    groups, gi = np.unique(table["group"].astype(str).to_numpy(), return_inverse=True)
    a = sp.vstack(
        [sp.csr_matrix(c[None, :]), sp.csr_matrix((np.ones(n), (gi, np.arange(n))), shape=(len(groups), n))]
    )
    ub = np.r_[budget_cny, np.ones(len(groups))]
    res = milp(
        -b,
        constraints=LinearConstraint(a, -np.inf, ub),
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": 0.0},
    )
    if res.x is None:
        raise InputError(
            f"the selection could not be solved: {res.message}", field="budget", value=budget_cny
        )
    return res.x > 0.5


@dataclass
class RedundancyResult:
    """Candidates with benefits, the selection and the joint evaluation."""

    table: pd.DataFrame  # candidates, benefits, ``selected``
    budget_cny: float
    base_ch: float  # expected customer-hours lost without measures
    joint_ch: float  # expected customer-hours lost with the selected measures together
    realisations: int

    @property
    def summary(self) -> dict:
        sel = self.table[self.table["selected"]]
        return {
            "budget_cny": self.budget_cny,
            "selected": int(len(sel)),
            "cost_cny": float(sel["cost_cny"].sum()),
            "benefit_sum_ch": float(sel["benefit_ch"].sum()),
            "benefit_joint_ch": float(self.base_ch - self.joint_ch),
            "customer_hours_base": float(self.base_ch),
            "customer_hours_with_measures": float(self.joint_ch),
            "realisations": self.realisations,
        }


def redundancy_plan(
    twin: Twin,
    states: np.ndarray,
    restore_h: np.ndarray | sp.spmatrix,
    candidates: pd.DataFrame,
    budget_cny: float,
    *,
    horizon_h: float = 12.0,
    recovery_h: float = 336.0,
    thresholds=None,
    progress=None,
) -> RedundancyResult:
    """Evaluate the candidates, select within the budget, evaluate the selection jointly."""
    t, base = evaluate_candidates(
        twin,
        states,
        restore_h,
        candidates,
        horizon_h=horizon_h,
        recovery_h=recovery_h,
        thresholds=thresholds,
        progress=progress,
    )
    sel = select_measures(t, budget_cny)
    t["selected"] = sel
    t = t.sort_values(["selected", "benefit_per_mcny"], ascending=False).reset_index(drop=True)
    if sel.any():
        tw = apply_measures(twin, t[t["selected"]])
        rh = restore_h.toarray() if sp.issparse(restore_h) else np.asarray(restore_h, float)
        full = np.where(
            np.asarray(states) >= build_cascade_model(twin, horizon_h, thresholds).threshold, rh, 0.0
        )
        ev = _Eval(tw, np.asarray(states), full, horizon_h, recovery_h)
        joint, _ = ev.customer_hours(build_cascade_model(tw, horizon_h, thresholds))
        joint_mean = float(joint.mean())
    else:
        joint_mean = float(base.mean())
    return RedundancyResult(t, float(budget_cny), float(base.mean()), joint_mean, len(states))
