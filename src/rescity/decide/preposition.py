"""Supply pre-positioning: which depots to stock, with how much, against the forecast.

Demand per unit and commodity (packaged ``supply_rates.csv`` with sources): water 15 L and one
2 100-kcal ration per relocated person per day (Sphere Handbook 2018), one generator per 500
relocated people, two tarpaulins per damaged home (IFRC shelter kit); volumes per item convert
stock to depot volume.

Capacitated facility location (multi-commodity, shared volume), solved with HiGHS
(``scipy.optimize.milp``):

``min Σ_j f_j y_j + Σ_{a=(j,i)} Σ_k v_k t_a x_ak``
``s.t. Σ_{a into i} x_ak + u_ik = D_ik``  (demand met or left unmet),
``Σ_{a from j} Σ_k v_k x_ak ≤ C_j y_j``  (depot volume, only if opened),
``x_ak ≤ D_ik y_j``  (strong linking), ``Σ_j y_j ≤ p`` (optional), ``y ∈ {0,1}``,
``x, u ≥ 0``, arcs only where the road travel time ``t_a ≤ T`` (reachability),

with ``v_k`` the volume of one item (m³), ``f_j`` the cost of opening depot ``j`` in the same
unit as transport (m³·min), ``C_j`` its volume (m³). It is solved lexicographically: first the
largest volume that can be served at all (every depot open, or the best ``p``), then the cheapest
plan serving that volume — so unmet demand appears only where capacity or reach is short, and is
reported per unit and commodity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from rescity.decide.network import travel_times
from rescity.errors import InputError

#: Depot opening cost (m³·min of transport, a weight), default.
OPEN_COST = 500.0
#: Largest travel time from a depot to a unit it supplies, minutes.
MAX_MINUTES = 120.0


@lru_cache(maxsize=2)
def supply_rates() -> pd.DataFrame:
    """Packaged per-person / per-home supply rates and item volumes (``supply_rates.csv``)."""
    return pd.read_csv(str(files("rescity.decide.data") / "supply_rates.csv"))


def demand_table(
    relocated: np.ndarray, homes_damaged: np.ndarray, days: float = 3.0, rates: pd.DataFrame | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Demand ``(n_points, n_commodities)`` from relocated people and damaged homes per point.

    ``rate × relocated × days`` (basis ``relocated_person_day``), ``rate × relocated``
    (``relocated_person``), ``rate × homes_damaged`` (``damaged_home``).
    """
    r = supply_rates() if rates is None else rates
    rel = np.clip(np.asarray(relocated, float), 0, None)
    homes = np.clip(np.asarray(homes_damaged, float), 0, None)
    cols = []
    for _, row in r.iterrows():  # one per commodity (4)
        b = row["basis"]
        if b == "relocated_person_day":
            cols.append(row["rate"] * rel * days)
        elif b == "relocated_person":
            cols.append(row["rate"] * rel)
        elif b == "damaged_home":
            cols.append(row["rate"] * homes)
        else:
            raise InputError(f"unknown supply basis {b!r}", field="basis", value=b)
    return np.column_stack(cols) if cols else np.zeros((len(rel), 0)), r


@dataclass
class FacilitySolution:
    """Solution of :func:`solve_facility_location`."""

    open: np.ndarray
    flow: np.ndarray  # (n_arcs, K)
    unmet: np.ndarray  # (I, K)
    cost: float
    served_m3: float
    status: str


def _solve(c, integrality, lb, ub, cons):
    res = milp(c, integrality=integrality, bounds=Bounds(lb, ub), constraints=cons)
    if res.status not in (0,) or res.x is None:
        raise InputError(
            f"the pre-positioning problem could not be solved: {res.message}", field="preposition"
        )
    return res


def solve_facility_location(
    demand: np.ndarray,
    volume: np.ndarray,
    capacity: np.ndarray,
    arc_depot: np.ndarray,
    arc_point: np.ndarray,
    arc_minutes: np.ndarray,
    open_cost: np.ndarray | float = OPEN_COST,
    max_depots: int | None = None,
) -> FacilitySolution:
    """Capacitated multi-commodity facility location (see the module docstring).

    Parameters
    ----------
    demand:
        ``(I, K)`` items per demand point and commodity.
    volume:
        ``(K,)`` m³ per item.
    capacity:
        ``(J,)`` depot volume, m³ (``inf``: unlimited).
    arc_depot, arc_point, arc_minutes:
        Allowed depot → point arcs and their travel minutes.
    open_cost:
        Opening cost per depot (scalar or ``(J,)``), m³·min.
    max_depots:
        At most this many depots open.
    """
    d = np.asarray(demand, float)
    v = np.asarray(volume, float)
    cap = np.asarray(capacity, float)
    aj = np.asarray(arc_depot, np.int64)
    ai = np.asarray(arc_point, np.int64)
    at = np.asarray(arc_minutes, float)
    n_i, n_k = d.shape
    n_j, n_a = len(cap), len(aj)
    f = np.broadcast_to(np.asarray(open_cost, float), (n_j,))
    if (d < 0).any() or (cap < 0).any() or (v <= 0).any():
        raise InputError("demands and capacities must be ≥ 0 and volumes > 0", field="demand")
    total_m3 = float((d * v).sum())
    cap_eff = np.where(np.isfinite(cap), cap, total_m3 + 1.0)
    n_x = n_a * n_k
    nv = n_j + n_x + n_i * n_k
    xi = n_j + np.arange(n_x).reshape(n_a, n_k)  # variable index of x[a, k]
    ui = n_j + n_x + np.arange(n_i * n_k).reshape(n_i, n_k)
    # demand balance (I*K rows)
    r1 = (ai[:, None] * n_k + np.arange(n_k)[None, :]).ravel()
    a_bal = sp.csr_matrix(
        (np.ones(n_x + n_i * n_k), (np.r_[r1, np.arange(n_i * n_k)], np.r_[xi.ravel(), ui.ravel()])),
        shape=(n_i * n_k, nv),
    )
    # capacity (J rows)
    a_cap = sp.csr_matrix(
        (
            np.r_[np.tile(v, n_a), -cap_eff],
            (np.r_[np.repeat(aj, n_k), np.arange(n_j)], np.r_[xi.ravel(), np.arange(n_j)]),
        ),
        shape=(n_j, nv),
    )
    # linking x_ak - D_ik y_j <= 0 (A*K rows)
    rr = np.arange(n_x)
    a_link = sp.csr_matrix(
        (np.r_[np.ones(n_x), -d[ai].ravel()], (np.r_[rr, rr], np.r_[xi.ravel(), np.repeat(aj, n_k)])),
        shape=(n_x, nv),
    )
    cons = [
        LinearConstraint(a_bal, d.ravel(), d.ravel()),
        LinearConstraint(a_cap, -np.inf, 0.0),
        LinearConstraint(a_link, -np.inf, 0.0),
    ]
    if max_depots is not None:
        cons.append(
            LinearConstraint(
                sp.csr_matrix((np.ones(n_j), (np.zeros(n_j), np.arange(n_j))), shape=(1, nv)), 0, max_depots
            )
        )
    integ = np.r_[np.ones(n_j), np.zeros(nv - n_j)]
    lb = np.zeros(nv)
    ub = np.r_[np.ones(n_j), np.full(nv - n_j, np.inf)]
    served = np.zeros(nv)
    served[xi.ravel()] = np.tile(v, n_a)
    if n_a == 0 or total_m3 == 0:
        return FacilitySolution(np.zeros(n_j, bool), np.zeros((n_a, n_k)), d.copy(), 0.0, 0.0, "optimal")
    # stage 1: the largest servable volume
    r1s = _solve(-served, integ, lb, ub, cons)
    best = float(served @ r1s.x)
    # stage 2: cheapest plan serving it
    c = np.zeros(nv)
    c[:n_j] = f
    c[xi] = at[:, None] * v[None, :]
    cons2 = cons + [LinearConstraint(served[None, :], best * (1 - 1e-9) - 1e-9, np.inf)]
    res = _solve(c, integ, lb, ub, cons2)
    x = res.x
    flow = np.clip(x[xi], 0, None)
    unmet = np.clip(x[ui], 0, None)
    is_open = x[:n_j] > 0.5
    flow[~is_open[aj]] = 0.0
    # solver round-off (the served-volume constraint has a 1e-9 relative slack)
    tol = 1e-6 * np.maximum(d, 1.0)
    unmet[unmet < tol] = 0.0
    flow[flow < 1e-9] = 0.0
    return FacilitySolution(is_open, flow, unmet, float(res.fun), float((flow * v).sum()), "optimal")


@dataclass
class PrepositionPlan:
    """Depots to open and stock, flows to units, unmet demand, totals."""

    depots: pd.DataFrame
    flows: pd.DataFrame
    demand: pd.DataFrame
    summary: dict = field(default_factory=dict)


def depot_capacity_m3(
    twin, depot_idx: np.ndarray, days: float = 3.0, rates: pd.DataFrame | None = None
) -> np.ndarray:
    """Depot volume in m³: ``capacity`` when in ``m3``; in ``people`` converted with the water and
    food volume per person for ``days``; otherwise unlimited (``inf``)."""
    r = supply_rates() if rates is None else rates
    a = twin.assets
    cap = a["capacity"].to_numpy(float)[depot_idx]
    unit = a["capacity_unit"].astype(str).str.lower().to_numpy()[depot_idx]
    per_day = r.loc[r["basis"] == "relocated_person_day"]
    m3_per_person = float((per_day["rate"] * per_day["volume_m3_per_unit"]).sum()) * days
    out = np.full(len(depot_idx), np.inf)
    m3 = np.isin(unit, ("m3", "m³")) & (cap > 0)
    ppl = (unit == "people") & (cap > 0)
    out[m3] = cap[m3]
    out[ppl] = cap[ppl] * m3_per_person
    return out


def preposition(
    twin,
    relocated,
    homes_damaged=None,
    *,
    days: float = 3.0,
    level: str = "county",
    depot_kind: str = "depot",
    open_cost: float = OPEN_COST,
    max_minutes: float = MAX_MINUTES,
    max_depots: int | None = None,
    blocked: np.ndarray | None = None,
    rates: pd.DataFrame | None = None,
) -> PrepositionPlan:
    """Choose and stock depots against forecast demand.

    Parameters
    ----------
    relocated, homes_damaged:
        People to relocate and homes damaged per unit (arrays over the twin's units or Series by
        ``unit_id``), values on base-level units; demand is summed to the units of ``level``
        (default county; use ``cell`` for fine plans).
    days:
        Days of supply.
    open_cost, max_minutes, max_depots:
        Opening cost (m³·min), reachability limit (minutes), and cardinality limit.
    blocked:
        Per-asset flags of impassable road assets.
    """
    from rescity.decide.relocate import _people_per_unit
    from rescity.engine.aggregate import rollup
    from rescity.forecast.indicators import base_level

    units = twin.units
    lv0 = base_level(twin)
    base = (units["level"] == lv0).to_numpy()
    rel = rollup(twin, (_people_per_unit(twin, relocated) * base)[None, :])[0]
    hd = np.zeros(twin.n_units) if homes_damaged is None else _people_per_unit(twin, homes_damaged)
    hd = rollup(twin, (hd * base)[None, :])[0]
    pts = np.flatnonzero((units["level"] == level).to_numpy() & ((rel > 0) | (hd > 0)))
    if not (units["level"] == level).any():
        raise InputError(f"the twin has no units at level {level!r}", field="level", value=level)
    dem, r = demand_table(rel[pts], hd[pts], days, rates)
    a = twin.assets
    j_idx = np.flatnonzero((a["kind"] == depot_kind).to_numpy())
    cap = depot_capacity_m3(twin, j_idx, days, r)
    ao, aj, at = travel_times(
        twin, units[["lon", "lat"]].to_numpy(float)[pts], j_idx, blocked=blocked, max_minutes=max_minutes
    )
    vol = r["volume_m3_per_unit"].to_numpy(float)
    sol = solve_facility_location(dem, vol, cap, aj, ao, at, open_cost, max_depots)
    comm = r["commodity"].tolist()
    stock = np.zeros((len(j_idx), len(comm)))
    np.add.at(stock, aj, sol.flow)
    depots = pd.DataFrame(
        {
            "depot_id": a["asset_id"].to_numpy()[j_idx],
            "unit_id": a["unit_id"].to_numpy()[j_idx],
            "open": sol.open,
            "capacity_m3": cap,
        }
    )
    for k, name in enumerate(comm):
        depots[name] = stock[:, k]
    depots["volume_m3"] = stock @ vol
    with np.errstate(divide="ignore", invalid="ignore"):
        depots["utilisation"] = np.where(np.isfinite(cap) & (cap > 0), depots["volume_m3"] / cap, np.nan)
    used = sol.flow.sum(axis=1) > 0
    fl = []
    for k, name in enumerate(comm):
        m = sol.flow[:, k] > 0
        fl.append(
            pd.DataFrame(
                {
                    "depot_id": a["asset_id"].to_numpy()[j_idx[aj[m]]],
                    "unit_id": units["unit_id"].to_numpy()[pts[ao[m]]],
                    "commodity": name,
                    "amount": sol.flow[m, k],
                    "minutes": at[m],
                }
            )
        )
    flows = pd.concat(fl, ignore_index=True) if fl else pd.DataFrame()
    dtab = pd.DataFrame(
        {
            "unit_id": units["unit_id"].to_numpy()[pts],
            "name_zh": units["name_zh"].to_numpy()[pts],
            "name_en": units["name_en"].to_numpy()[pts],
            "relocated": rel[pts],
            "homes_damaged": hd[pts],
        }
    )
    for k, name in enumerate(comm):
        dtab[f"{name}_demand"] = dem[:, k]
        dtab[f"{name}_unmet"] = sol.unmet[:, k]
    unit_names = dict(zip(r["commodity"], r["unit"], strict=True))
    summary = {
        "depots_open": int(sol.open.sum()),
        "depots": int(len(j_idx)),
        "demand_points": int(len(pts)),
        "days": days,
        "served_m3": sol.served_m3,
        "demand_m3": float((dem * vol).sum()),
        "unmet": {name: float(sol.unmet[:, k].sum()) for k, name in enumerate(comm)},
        "units": unit_names,
        "units_unmet": dtab.loc[(sol.unmet.sum(axis=1) > 1e-6), "unit_id"].tolist(),
        "arcs_used": int(used.sum()),
        "objective_m3min": sol.cost,
    }
    return PrepositionPlan(depots, flows, dtab, summary)
