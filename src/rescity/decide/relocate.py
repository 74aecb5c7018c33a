"""Relocation: assign the people to move to shelters, fastest in total, within capacities.

The transportation problem (a min-cost flow on the bipartite graph origins → shelters, plus an
"unassigned" sink per origin):

``min Σ_{o,s} t_os x_os + M Σ_o u_o``
``s.t. Σ_s x_os + u_o = d_o`` (everyone to move goes somewhere or stays unassigned),
``Σ_o x_os ≤ c_s`` (shelter capacity), ``x, u ≥ 0``,

with ``t_os`` road travel minutes (:mod:`rescity.decide.network`), ``d_o`` the people of unit
``o`` to relocate (rounded to whole people), ``c_s`` the shelter capacities (people). The
penalty ``M = (min(n_o, n_s) + 1) · max t + 1`` exceeds the cost of any augmenting path, so the
optimum first assigns as many people as capacity and reach allow, then minimises total travel
time. With integer data the transportation polytope has integer vertices and HiGHS' dual simplex
returns one, so flows are whole people.

Reported: each origin's assignments, the people left unassigned per unit and level (where shelters
are short or out of reach), shelter use, and the share of the people to relocate reaching a
shelter within 10, 15 and 30 minutes (Barcelona's climate-shelter network is planned so that
90 % of residents reach one within a 10-minute walk — Ajuntament de Barcelona, *Climate
shelters network*, 2019–).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog

from rescity.decide.network import travel_times
from rescity.errors import InputError

#: Travel-time marks for the shares reported, minutes.
WITHIN_MIN: tuple[int, ...] = (10, 15, 30)


@dataclass
class TransportSolution:
    """Solution of :func:`solve_transport`: flow per arc, unassigned per origin, total minutes."""

    flow: np.ndarray
    unassigned: np.ndarray
    total_minutes: float
    status: str


def solve_transport(
    demand: np.ndarray,
    capacity: np.ndarray,
    arc_origin: np.ndarray,
    arc_dest: np.ndarray,
    arc_cost: np.ndarray,
) -> TransportSolution:
    """Min-cost assignment of ``demand`` (per origin) to destinations with ``capacity`` over arcs.

    Solved as one sparse LP with HiGHS (``scipy.optimize.linprog``); see the module docstring
    for the formulation. Demands and capacities must be whole numbers ≥ 0.
    """
    d = np.asarray(demand, float)
    c = np.asarray(capacity, float)
    ao = np.asarray(arc_origin, np.int64)
    ad = np.asarray(arc_dest, np.int64)
    ac = np.asarray(arc_cost, float)
    if (d < 0).any() or (c < 0).any():
        raise InputError("demands and capacities must be ≥ 0", field="demand")
    n_o, n_s, n_a = len(d), len(c), len(ao)
    if n_a and ((ao < 0).any() or (ao >= n_o).any() or (ad < 0).any() or (ad >= n_s).any()):
        raise InputError("arc indices out of range", field="arcs")
    if d.sum() == 0:
        return TransportSolution(np.zeros(n_a), np.zeros(n_o), 0.0, "optimal")
    if n_a == 0 or c.sum() == 0:
        return TransportSolution(np.zeros(n_a), d.copy(), 0.0, "optimal")
    big = (min(n_o, n_s) + 1) * max(float(ac.max()), 1.0) + 1.0
    cost = np.r_[ac, np.full(n_o, big)]
    a_eq = sp.hstack(
        [sp.csr_matrix((np.ones(n_a), (ao, np.arange(n_a))), shape=(n_o, n_a)), sp.identity(n_o)]
    )
    a_ub = sp.hstack(
        [sp.csr_matrix((np.ones(n_a), (ad, np.arange(n_a))), shape=(n_s, n_a)), sp.csr_matrix((n_s, n_o))]
    )
    res = None
    for method in ("highs-ds", "highs"):
        try:
            res = linprog(
                cost, A_ub=a_ub.tocsr(), b_ub=c, A_eq=a_eq.tocsr(), b_eq=d, bounds=(0, None), method=method
            )
            break
        except ValueError:  # method not offered by this SciPy
            continue
    if res is None or res.status != 0:
        msg = "no solution" if res is None else res.message
        raise InputError(f"the relocation problem could not be solved: {msg}", field="relocation")
    x = np.clip(res.x, 0, None)
    flow = np.round(x[:n_a])
    unassigned = np.round(x[n_a:])
    return TransportSolution(flow, unassigned, float(flow @ ac), "optimal")


@dataclass
class RelocationPlan:
    """A relocation plan: arcs used, per-unit summary at every level, shelter use, totals."""

    assignments: pd.DataFrame
    by_unit: pd.DataFrame
    shelters: pd.DataFrame
    summary: dict = field(default_factory=dict)


def _people_per_unit(twin, people) -> np.ndarray:
    n = twin.n_units
    if isinstance(people, pd.Series):
        idx = twin.unit_index()
        unknown = people.index.difference(idx.index)
        if len(unknown):
            raise InputError("people given for unknown units", field="unit_id", value=str(unknown[0]))
        out = np.zeros(n)
        out[idx.reindex(people.index).to_numpy()] = people.to_numpy(float)
        return out
    x = np.asarray(people, float)
    if x.shape != (n,):
        raise InputError(f"people must be one value per unit ({n})", field="people", value=x.shape)
    return x


def relocate(
    twin,
    people,
    *,
    blocked: np.ndarray | None = None,
    k: int | None = None,
    max_minutes: float | None = None,
    shelter_kind: str = "shelter",
) -> RelocationPlan:
    """Assign people to relocate (per unit) to the twin's shelters by road travel time.

    Parameters
    ----------
    twin:
        The city model; shelters are assets of kind ``shelter_kind`` with ``capacity`` in people.
    people:
        People to relocate per unit: an array over the twin's units or a Series by ``unit_id``.
        Values are taken on base-level units only (cells), rounded to whole people.
    blocked:
        Per-asset flags of impassable road assets (e.g. from the forecast), cut from the network.
    k, max_minutes:
        Candidate arcs (see :func:`rescity.decide.network.travel_times`).
    """
    from rescity.engine.aggregate import rollup
    from rescity.forecast.indicators import base_level  # decide may use forecast tables

    units = twin.units
    lv = base_level(twin)
    base = (units["level"] == lv).to_numpy()
    dem_all = np.round(np.clip(_people_per_unit(twin, people), 0, None)) * base
    o_units = np.flatnonzero(dem_all > 0)
    a = twin.assets
    s_idx = np.flatnonzero((a["kind"] == shelter_kind).to_numpy())
    cap = np.floor(np.clip(a["capacity"].to_numpy(float)[s_idx], 0, None))
    o_xy = units[["lon", "lat"]].to_numpy(float)[o_units]
    ao, ad, at = travel_times(twin, o_xy, s_idx, blocked=blocked, k=k, max_minutes=max_minutes)
    sol = solve_transport(dem_all[o_units], cap, ao, ad, at)

    used = sol.flow > 0
    assignments = pd.DataFrame(
        {
            "unit_id": units["unit_id"].to_numpy()[o_units[ao[used]]],
            "shelter_id": a["asset_id"].to_numpy()[s_idx[ad[used]]],
            "people": sol.flow[used].astype(np.int64),
            "minutes": at[used],
        }
    ).sort_values(["unit_id", "minutes"], ignore_index=True)

    n = twin.n_units
    per = {
        "demand": dem_all.copy(),
        "assigned": np.zeros(n),
        "unassigned": np.zeros(n),
        "minutes_total": np.zeros(n),
    }
    np.add.at(per["assigned"], o_units[ao], sol.flow)
    np.add.at(per["minutes_total"], o_units[ao], sol.flow * at)
    per["unassigned"][o_units] = sol.unassigned
    for m in WITHIN_MIN:
        w = np.zeros(n)
        np.add.at(w, o_units[ao], sol.flow * (at <= m))
        per[f"within_{m}"] = w
    rolled = {key: rollup(twin, v[None, :])[0] for key, v in per.items()}
    by_unit = pd.DataFrame(
        {
            "unit_id": units["unit_id"],
            "level": units["level"],
            "name_zh": units["name_zh"],
            "name_en": units["name_en"],
        }
    )
    for key in ("demand", "assigned", "unassigned"):
        by_unit[key] = rolled[key].round().astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_unit["mean_minutes"] = np.where(
            rolled["assigned"] > 0, rolled["minutes_total"] / rolled["assigned"], np.nan
        )
        for m in WITHIN_MIN:
            by_unit[f"share_within_{m}min"] = np.where(
                rolled["demand"] > 0, rolled[f"within_{m}"] / rolled["demand"], np.nan
            )
    by_unit["shelter_short"] = by_unit["unassigned"] > 0

    load = np.zeros(len(s_idx))
    np.add.at(load, ad, sol.flow)
    shelters = pd.DataFrame(
        {
            "shelter_id": a["asset_id"].to_numpy()[s_idx],
            "unit_id": a["unit_id"].to_numpy()[s_idx],
            "capacity": cap.astype(np.int64),
            "assigned": load.astype(np.int64),
        }
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        shelters["utilisation"] = np.where(cap > 0, load / cap, np.nan)
    total = float(dem_all.sum())
    summary = {
        "people_to_relocate": int(total),
        "assigned": int(sol.flow.sum()),
        "unassigned": int(sol.unassigned.sum()),
        "shelters": int(len(s_idx)),
        "shelter_capacity": int(cap.sum()),
        "total_travel_minutes": float(sol.total_minutes),
        "mean_travel_minutes": float(sol.total_minutes / sol.flow.sum()) if sol.flow.sum() else None,
    }
    for m in WITHIN_MIN:
        summary[f"share_within_{m}min"] = float(((at <= m) * sol.flow).sum() / total) if total else None
    summary["units_short"] = by_unit.loc[
        by_unit["shelter_short"] & (by_unit["level"] == lv), "unit_id"
    ].tolist()
    return RelocationPlan(assignments, by_unit, shelters, summary)
