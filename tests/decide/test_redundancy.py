"""Redundancy investment on a case solved by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _recovery_twins import coord_twin
from rescity.decide.redundancy import apply_measures, default_candidates, redundancy_plan, select_measures
from rescity.errors import InputError


def three_pumps():
    """plant → sub_i → (nothing else on power); works → pump_i → node_i, pump_i ← sub_i (no buffer):
    water for 100, 300 and 50 people."""
    assets = [
        ("plant", "power", "power_plant", None, True, 120.0, 30.0),
        ("works", "water", "treatment_plant", None, True, 120.0, 30.1),
    ]
    edges, deps, service = [], [], []
    for i, people in enumerate((100, 300, 50), start=1):
        assets += [
            (f"sub{i}", "power", "substation_110kv", i - 1, False, 120.0 + 0.1 * i, 30.0),
            (f"pump{i}", "water", "pump_station", i - 1, False, 120.0 + 0.1 * i, 30.1),
            (f"node{i}", "water", "distribution_node", i - 1, False, 120.0 + 0.1 * i, 30.2),
        ]
        edges += [
            ("power", "plant", f"sub{i}"),
            ("water", "works", f"pump{i}"),
            ("water", f"pump{i}", f"node{i}"),
        ]
        deps.append((f"pump{i}", f"sub{i}", "power", 0.0))
        service.append((f"node{i}", i - 1, "water", float(people)))
    return coord_twin(assets, edges, deps, service, cells=(100, 300, 50))


CANDIDATES = pd.DataFrame(
    {
        "measure_id": ["g1", "g2", "g3"],
        "type": "generator",
        "asset_id": ["pump1", "pump2", "pump3"],
        "hours": 72.0,
        "cost_cny": [3.0, 4.0, 2.0],
    }
)


def run(budget):
    twin, pos = three_pumps()
    states = np.zeros((1, twin.n_assets), np.int8)
    restore = np.zeros((1, twin.n_assets))
    for name, h in (("sub1", 20.0), ("sub2", 10.0), ("sub3", 36.0)):
        states[0, pos[name]] = 2
        restore[0, pos[name]] = h
    return redundancy_plan(twin, states, restore, CANDIDATES, budget, recovery_h=48.0)


def test_benefits_are_people_times_hours_and_the_knapsack_beats_greedy():
    """Benefits: 100 × 20 h, 300 × 10 h, 50 × 36 h = 2,000, 3,000, 1,800 customer-hours; costs 3, 4,
    2. With a budget of 7, greedy by benefit per cost takes g3 (900) then g2 (750) for 4,800; the
    optimum is g1 + g2 = 5,000."""
    res = run(7.0)
    t = res.table.set_index("measure_id")
    assert t.loc["g1", "benefit_ch"] == pytest.approx(2000)
    assert t.loc["g2", "benefit_ch"] == pytest.approx(3000)
    assert t.loc["g3", "benefit_ch"] == pytest.approx(1800)
    assert set(t.index[t["selected"]]) == {"g1", "g2"}
    s = res.summary
    assert s["cost_cny"] == 7.0 and s["benefit_joint_ch"] == pytest.approx(5000)
    assert s["customer_hours_base"] == pytest.approx(100 * 20 + 300 * 10 + 50 * 36)


def test_budget_limits():
    assert set(run(6.0).table.query("selected")["measure_id"]) == {"g2", "g3"}
    assert not run(1.0).table["selected"].any()
    with pytest.raises(InputError):
        select_measures(run(6.0).table, -1.0)


def test_one_measure_per_group():
    t = pd.DataFrame({"benefit_ch": [5.0, 4.0, 1.0], "cost_cny": [1.0, 1.0, 1.0], "group": ["a", "a", "b"]})
    np.testing.assert_array_equal(select_measures(t, 10.0), [True, False, True])


def test_measures_change_only_what_they_say():
    twin, pos = three_pumps()
    m = pd.DataFrame(
        [
            dict(
                measure_id="f",
                type="second_feed",
                asset_id="sub1",
                other_id="sub2",
                cost_cny=1.0,
                hours=np.nan,
                unit_id="",
                other="",
                group="f",
            )
        ]
    )
    tw = apply_measures(twin, m)
    assert len(tw.edges) == len(twin.edges) + 1
    g = apply_measures(twin, CANDIDATES.iloc[:1])
    d = g.dependencies.set_index("dependent")["buffer_h"]
    assert d[pos["pump1"]] == 72.0 and d[pos["pump2"]] == 0.0


def test_default_candidates_on_the_toy_twin():
    from rescity.twin.toy import toy_twin

    t = default_candidates(toy_twin(2, 3, 2, 2), n=3)
    assert {"generator", "battery"} <= set(t["type"])  # toy pumps have no backup, base stations 3 h
    assert (t["cost_cny"] > 0).all()
