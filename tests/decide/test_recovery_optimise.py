"""Optimised repair sequencing (INDP-style MILP) on a case solved by hand."""

from __future__ import annotations

import numpy as np
import pytest

from _recovery_twins import coord_twin, repair_table
from rescity.decide.repair_opt import compare_plans, optimise_plan
from rescity.engine.recovery import RecoveryConfig
from rescity.errors import InputError


def two_substations():
    """plant → sub_a → feeder_a (100 people); plant → sub_b → feeder_b (1,000 people)."""
    assets = [("plant", "power", "power_plant", None, True, 120.0, 30.0)]
    edges, service = [], []
    for i, (x, people) in enumerate((("a", 100.0), ("b", 1000.0))):
        assets += [
            (f"sub_{x}", "power", "substation_110kv", i, False, 120.1 + i / 10, 30.0),
            (f"f_{x}", "power", "feeder_10kv", i, False, 120.1 + i / 10, 30.01),
        ]
        edges += [("power", "plant", f"sub_{x}"), ("power", f"sub_{x}", f"f_{x}")]
        service.append((f"f_{x}", i, "power", people))
    return coord_twin(assets, edges, (), service, cells=(100, 1000))


@pytest.fixture()
def cfg(tmp_path):
    # substations 2 days (48 h), feeders 0.5 day (12 h); one power crew, no travel
    t = repair_table(tmp_path / "rt.csv", {("substation_110kv", 2): 2.0, ("feeder_10kv", 2): 0.5})
    return RecoveryConfig.from_mapping(
        dict(crews={"default": {"power": 1}}, travel=False, mutual_aid=0, repair_times=str(t), horizon_days=6)
    )


def test_plan_restores_the_most_people_first(cfg):
    """One crew, four jobs: feeder B and substation B together bring back 1,000 people after 60 h
    of work; A's pair 100 people. Best: B's pair first (B at 60 h, A at 120 h): 1,000 × 60 +
    100 × 120 = 72,000 customer-hours; A first would cost 100 × 60 + 1,000 × 120 = 126,000."""
    twin, pos = two_substations()
    s = np.zeros(twin.n_assets, np.int8)
    for k in ("sub_a", "f_a", "sub_b", "f_b"):
        s[pos[k]] = 2
    plan = optimise_plan(twin, s, "900100", config=cfg, period_h=12.0, time_limit_s=30)
    assert plan.status == "optimal" and plan.jobs == 4
    assert set(plan.order[:2]) == {"sub_b", "f_b"} and set(plan.order[2:]) == {"sub_a", "f_a"}
    cmp = compare_plans(twin, s, plan, config=cfg, n_random=4).set_index("policy")
    opt = cmp.loc["optimised (INDP-style MILP)", "customer_hours_lost"]
    assert opt == pytest.approx(1000 * 60 + 100 * 120)
    assert (cmp["customer_hours_lost"] >= opt - 1e-6).all()


def test_unknown_prefecture(cfg):
    twin, _ = two_substations()
    with pytest.raises(InputError, match="prefecture"):
        optimise_plan(twin, np.zeros(twin.n_assets, np.int8), "123400", config=cfg)
