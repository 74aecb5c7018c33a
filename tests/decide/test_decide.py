"""Decisions on hand-checkable instances: relocation, pre-positioning, action plan."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from _forecast_twin import make_twin
from rescity import geo
from rescity.decide import network as net
from rescity.decide import plan as pl
from rescity.decide import preposition as pp
from rescity.decide import relocate as rl
from rescity.errors import InputError
from rescity.twin.model import Twin, conform, empty_table

KM = 1.0 / geo.KM_PER_DEG  # degrees of latitude per km


def line_twin(shelter_caps=(100, 100)) -> Twin:
    """Three cells on a meridian 10 km apart, joined by two 10-km local roads (30 km/h → 20 min each);
    shelters at the first and last cell."""
    lat = 30.0 + np.array([0.0, 10.0, 20.0]) * KM
    units = [
        dict(unit_id="P", level="province", parent_id="", population=300, households=120, lon=120.0, lat=30.0)
    ]
    units += [
        dict(
            unit_id=f"c{i}",
            level="cell",
            parent_id="P",
            population=100,
            households=40,
            lon=120.0,
            lat=lat[i],
            name_zh=f"格{i}",
            name_en=f"cell {i}",
        )
        for i in range(3)
    ]
    A = []

    def add(**kw):
        d = dict(
            system="road", kind="road_node", lon=120.0, capacity=0.0, length_km=0.0, replacement_cost_cny=0.0
        )
        d.update(kw)
        A.append(d)
        return len(A) - 1

    j = [add(asset_id=f"J{i}", lat=lat[i], unit_id=f"c{i}") for i in range(3)]
    l01 = add(asset_id="L01", kind="local_road", lat=(lat[0] + lat[1]) / 2, unit_id="c0", length_km=10.0)
    l12 = add(asset_id="L12", kind="local_road", lat=(lat[1] + lat[2]) / 2, unit_id="c1", length_km=10.0)
    add(asset_id="S0", system="facility", kind="shelter", lat=lat[0], unit_id="c0", capacity=shelter_caps[0])
    add(asset_id="S2", system="facility", kind="shelter", lat=lat[2], unit_id="c2", capacity=shelter_caps[1])
    edges = [("road", j[0], l01), ("road", l01, j[1]), ("road", j[1], l12), ("road", l12, j[2])]
    return Twin(
        conform(pd.DataFrame(units), "units"),
        conform(pd.DataFrame(A), "assets"),
        conform(pd.DataFrame(edges, columns=["system", "src", "dst"]), "edges"),
        empty_table("dependencies"),
        empty_table("service"),
    )


def test_travel_times_by_hand():
    t = line_twin()
    s_idx = np.flatnonzero((t.assets["kind"] == "shelter").to_numpy())
    o, f, m = net.travel_times(t, t.units[["lon", "lat"]].to_numpy()[1:], s_idx)
    tt = np.full((3, 2), np.nan)
    tt[o, f] = m
    # network: 20 min per 10-km local road at 30 km/h; access legs are 0 (points on the junctions)
    np.testing.assert_allclose(tt, [[0, 40], [20, 20], [40, 0]], atol=1e-4)
    # cutting L12: cell 2 reaches S0 only by the direct leg, 1.3 × 20 km at 15 km/h = 104 min
    blocked = (t.assets["asset_id"] == "L12").to_numpy()
    o, f, m = net.travel_times(t, t.units[["lon", "lat"]].to_numpy()[1:], s_idx, blocked=blocked)
    tt[o, f] = m
    assert tt[2, 0] == pytest.approx(104.0, rel=1e-3)
    assert tt[1, 1] == pytest.approx(52.0, rel=1e-3)  # cell 1 to S2: direct 1.3 × 10 km at 15 km/h


def test_relocation_optimum_by_hand():
    t = line_twin()
    people = pd.Series({"c0": 80, "c1": 60, "c2": 50})
    plan = rl.relocate(t, people)
    s = plan.summary
    # c0 → S0 (0 min) 80, c2 → S2 (0 min) 50, c1 → 20 to S0 and 40 to S2, 20 min each: total 1200 min
    assert s["total_travel_minutes"] == pytest.approx(1200.0, abs=1e-3)
    assert s["assigned"] == 190 and s["unassigned"] == 0
    assert s["share_within_10min"] == pytest.approx(130 / 190)
    assert s["share_within_30min"] == pytest.approx(1.0)
    sh = plan.shelters.set_index("shelter_id")
    assert (sh["assigned"] <= sh["capacity"]).all()
    # c1 is 20 min from both shelters: any split of its 60 people that fits the capacities is optimal
    assert sh.loc["S0", "assigned"] + sh.loc["S2", "assigned"] == 190
    assert sh.loc["S0", "assigned"] >= 80 and sh.loc["S2", "assigned"] >= 50
    a = plan.assignments
    assert a[a["unit_id"] == "c1"]["people"].sum() == 60
    assert (a["people"] == a["people"].round()).all()
    bu = plan.by_unit.set_index("unit_id")
    assert bu.loc["P", "demand"] == 190 and bu.loc["P", "mean_minutes"] == pytest.approx(1200 / 190)


def test_short_capacity_is_reported_where_it_falls():
    t = line_twin(shelter_caps=(50, 50))
    plan = rl.relocate(t, pd.Series({"c0": 80, "c1": 60, "c2": 50}))
    # the only zero-cost optimum with 100 places: c0 → S0 50, c2 → S2 50; c0 keeps 30, c1 all 60 unassigned
    bu = plan.by_unit.set_index("unit_id")
    assert (bu.loc["c0", "unassigned"], bu.loc["c1", "unassigned"], bu.loc["c2", "unassigned"]) == (30, 60, 0)
    assert plan.summary["unassigned"] == 90 and plan.summary["total_travel_minutes"] == pytest.approx(
        0, abs=1e-6
    )
    assert set(plan.summary["units_short"]) == {"c0", "c1"}
    assert bool(bu.loc["P", "shelter_short"])
    assert plan.summary["share_within_10min"] == pytest.approx(100 / 190)


def test_solve_transport_prefers_more_people_over_shorter_trips():
    # one place left near o0 would serve o0 at 1 min, but serving o1 there (9 min) lets o0 use the far one
    sol = rl.solve_transport(
        demand=[1, 1], capacity=[1, 1], arc_origin=[0, 0, 1], arc_dest=[0, 1, 0], arc_cost=[1.0, 50.0, 9.0]
    )
    assert sol.unassigned.sum() == 0
    assert sol.total_minutes == pytest.approx(59.0)
    with pytest.raises(InputError):
        rl.solve_transport([-1], [1], [0], [0], [1.0])


def test_relocation_on_the_small_twin_honours_capacity():
    t = make_twin()
    cells = t.units["level"] == "cell"
    people = pd.Series(3_000.0, index=t.units.loc[cells, "unit_id"])
    plan = rl.relocate(t, people)
    assert plan.summary["people_to_relocate"] == 36_000
    assert plan.summary["assigned"] == 15_000  # three shelters of 5,000
    sh = plan.shelters
    assert (sh["assigned"] <= sh["capacity"]).all()
    with pytest.raises(InputError, match="unknown units"):
        rl.relocate(t, pd.Series({"nowhere": 5}))


def test_facility_location_by_hand():
    # two depots, two points; depot j is 1 min from point j and 10 min from the other; 10 m³ each
    arcs = dict(arc_depot=[0, 0, 1, 1], arc_point=[0, 1, 0, 1], arc_minutes=[1.0, 10.0, 10.0, 1.0])
    d = np.array([[10.0], [10.0]])
    inf = np.array([np.inf, np.inf])
    # cheap depots: open both, cost 2×5 + 10 + 10 = 30
    s = pp.solve_facility_location(d, [1.0], inf, open_cost=5.0, **arcs)
    assert s.open.tolist() == [True, True] and s.cost == pytest.approx(30.0)
    # dear depots: one depot serving both is cheaper, 200 + 10×1 + 10×10 = 310 (vs 420)
    s = pp.solve_facility_location(d, [1.0], inf, open_cost=200.0, **arcs)
    assert s.open.sum() == 1 and s.cost == pytest.approx(310.0)
    # capacity: depot 0 holds 5 m³ → point 0 gets 5 from depot 0 and 5 from depot 1: 5×1 + 5×10 + 10×1 = 65
    s = pp.solve_facility_location(d, [1.0], np.array([5.0, np.inf]), open_cost=0.0, **arcs)
    assert s.cost == pytest.approx(65.0, rel=1e-6) and s.unmet.sum() == pytest.approx(0, abs=1e-6)
    np.testing.assert_allclose(s.flow[:, 0], [5, 0, 5, 10], atol=1e-6)
    # at most one depot of 10 m³: only 10 of the 20 m³ can be served; the shortfall is reported
    s = pp.solve_facility_location(d, [1.0], np.array([10.0, 10.0]), open_cost=0.0, max_depots=1, **arcs)
    assert s.served_m3 == pytest.approx(10.0) and s.unmet.sum() == pytest.approx(10.0)
    # a point no depot reaches is all unmet
    s = pp.solve_facility_location(d, [1.0], inf, arc_depot=[0], arc_point=[0], arc_minutes=[1.0])
    np.testing.assert_allclose(s.unmet[:, 0], [0, 10])


def test_preposition_demand_rates_and_plan():
    t = make_twin()
    cells = t.units["level"] == "cell"
    rel = pd.Series(100.0, index=t.units.loc[cells, "unit_id"])
    homes = pd.Series(10.0, index=t.units.loc[cells, "unit_id"])
    # the farthest county lies about 133 min from its depot with 15 km/h access legs: allow 150 min
    plan = pp.preposition(t, rel, homes, days=3, max_minutes=150.0)
    dem = plan.demand.set_index("unit_id")
    # a county has 4 cells: 400 people × 15 L × 3 days; 400 × 3 rations; 400/500 generators;
    # 40 homes × 2 tarpaulins
    assert dem.loc["331082", "water_demand"] == pytest.approx(400 * 15 * 3)
    assert dem.loc["331082", "food_demand"] == pytest.approx(400 * 3)
    assert dem.loc["331082", "generator_demand"] == pytest.approx(0.8)
    assert dem.loc["331082", "tarp_demand"] == pytest.approx(80)
    dep = plan.depots.set_index("depot_id")
    assert (dep["volume_m3"] <= dep["capacity_m3"] + 1e-6).all()
    # everything is within reach and capacity (500 m³ each, demand ≈ 3 × (18 + 2.4 + 0.64 + 0.8) m³)
    assert all(v == pytest.approx(0, abs=1e-6) for v in plan.summary["unmet"].values())
    assert plan.flows.groupby("commodity")["amount"].sum()["water"] == pytest.approx(1200 * 45)


def test_action_plan_by_warning_level():
    units = pd.DataFrame(
        {"unit_id": ["a", "b", "c"], "level": "county", "warning": [0, 1, 4], "name_zh": ["甲", "乙", "丙"]}
    )
    plan = pl.action_plan(units)
    cat = pl.action_catalogue()
    assert set(plan["unit_id"]) == {"b", "c"}
    assert (
        plan[plan["unit_id"] == "b"]["action_id"].sort_values().tolist()
        == cat[cat["min_warning"] <= 1]["action_id"].sort_values().tolist()
    )
    assert len(plan[plan["unit_id"] == "c"]) == len(cat)
    # orange/red bring the Art. 45 relocation; blue does not
    assert "B07" in set(plan[plan["unit_id"] == "c"]["action_id"]) and "B07" not in set(
        plan[plan["unit_id"] == "b"]["action_id"]
    )
    assert set(cat["stage"]) == {
        "pre-warning",
        "plan execution",
        "command and dispatch",
        "damage verification",
        "supply allocation",
        "resilience re-assessment",
    }
    js = pl.plan_json(plan)
    c = next(x for x in js if x["unit_id"] == "c")
    assert c["colour"] == "red" and c["colour_zh"] == "红色"
    assert set(c["actions"]) == {"before", "during", "after"} and all(c["actions"][p] for p in c["actions"])
    json.dumps(js, ensure_ascii=False)
    with pytest.raises(InputError, match="warning"):
        pl.action_plan(pd.DataFrame({"unit_id": ["x"], "level": ["county"], "warning": [7]}))
