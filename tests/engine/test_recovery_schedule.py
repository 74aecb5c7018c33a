"""Restoration schedules small enough to check by hand: list scheduling, crews, reach by road."""

from __future__ import annotations

import numpy as np
import pytest

from _recovery_twins import repair_table, substation_twin
from rescity.engine.recovery import RecoveryConfig, list_schedule, load_scenario, simulate_recovery
from rescity.errors import InputError

CREWS1 = {"default": {"power": 1, "water": 1, "road": 1, "telecom": 1, "facility": 1}}


def test_list_scheduling_on_two_crews_by_hand():
    # priorities A > B > C > D, durations 4, 2, 3, 1 h, two crews from t = 0:
    # A → crew 1 [0, 4], B → crew 2 [0, 2], C → crew 2 [2, 5], D → crew 1 [4, 5]
    free = np.zeros((1, 2))
    dur = np.array([4.0, 2.0, 3.0, 1.0])
    fin = list_schedule(np.zeros(4, int), np.array([3.0, 2, 1, 0]), dur, dur, np.zeros(4), free)
    np.testing.assert_allclose(fin, [4, 2, 5, 5])
    np.testing.assert_allclose(np.sort(free[0]), [5, 5])


def test_a_job_behind_a_closed_road_is_held_back():
    # as above, but C can only start at 6 h: its list place moves to max(expected 3 h, 6 h) = 6 h,
    # behind D (expected 4.5 h): D → crew 2 [2, 3]; C → crew 2, waits until 6, ends at 9
    free = np.zeros((1, 2))
    dur = np.array([4.0, 2.0, 3.0, 1.0])
    rel = np.array([0.0, 0.0, 6.0, 0.0])
    fin = list_schedule(np.zeros(4, int), np.array([3.0, 2, 1, 0]), dur, dur, rel, free)
    np.testing.assert_allclose(fin, [4, 2, 9, 3])


def test_rows_are_independent_and_never_jobs_stay_inf():
    free = np.zeros((2, 1))
    free[1, 0] = 10.0
    fin = list_schedule(
        np.array([0, 1, 1]),
        np.array([1.0, 2.0, 1.0]),
        np.array([2.0, 3.0, 1.0]),
        np.array([1.0, 3.0, 1.0]),
        np.array([0.0, 0.0, np.inf]),
        free,
    )
    np.testing.assert_allclose(fin, [1.0, 13.0, np.inf])  # offset 1 of an occupancy of 2; row 2 starts at 10


@pytest.fixture()
def table(tmp_path):
    return str(
        repair_table(
            tmp_path / "rt.csv",
            {("substation_110kv", 2): 1.0, ("feeder_10kv", 2): 0.5, ("bridge", 2): 0.25},
        )
    )


def run(states_by_name, table, crews=CREWS1, **cfg):
    twin, pos = substation_twin()
    s = np.zeros((1, twin.n_assets), np.int8)
    for k, v in states_by_name.items():
        s[0, pos[k]] = v
    c = RecoveryConfig.from_mapping(
        dict(crews=crews, travel=False, mutual_aid=0.0, repair_times=table, horizon_days=3, **cfg)
    )
    rec = simulate_recovery(twin, s, config=c, seed=1)
    restore = {k: rec.restore_h[0, pos[k]] for k in states_by_name}
    return rec, restore


def test_one_crew_substation_first_then_feeder(table):
    """people per crew hour: substation 2,000 people (power and, through the pump, water) / 24 h
    beats feeder A's 600 / 12 h, so one crew does the substation [0, 24] then the feeder [24, 36]."""
    rec, r = run({"sub": 2, "fa": 2}, table)
    assert r == {"sub": 24.0, "fa": 36.0}
    h = rec.hours
    qp = rec.qt("power")[0, 0]  # the province
    qw = rec.qt("water")[0, 0]
    np.testing.assert_allclose(qp[h < 24], 0.0)
    np.testing.assert_allclose(
        qp[(h >= 24) & (h < 36)], 0.4, atol=1e-4
    )  # feeder B (400 people) back with the substation
    np.testing.assert_allclose(qp[h >= 36], 1.0)
    np.testing.assert_allclose(qw[h < 24], 0.0)
    np.testing.assert_allclose(qw[h >= 24], 1.0)
    # customer-hours: 1,000 people × 24 h + 600 × 12 h (power); 1,000 × 24 h (water)
    assert rec.customer_hours["power"][0, 0] == pytest.approx(31_200)
    assert rec.customer_hours["water"][0, 0] == pytest.approx(24_000)


def test_two_crews_feeder_waits_for_its_substation(table):
    rec, r = run({"sub": 2, "fa": 2}, table, crews={"default": {"power": 2}})
    assert r == {"sub": 24.0, "fa": 12.0}
    qp = rec.qt("power")[0, 0]
    np.testing.assert_allclose(qp[rec.hours < 24], 0.0)  # feeder A repaired at 12 h but dark until 24 h
    np.testing.assert_allclose(qp[rec.hours >= 24], 1.0)


def test_substation_behind_a_damaged_bridge(table):
    """The bridge (6 h, road crew) is the substation's only road: the power crew starts there at
    6 h (done at 30 h) and then does feeder A (done at 42 h)."""
    rec, r = run({"sub": 2, "fa": 2, "bridge": 2}, table)
    assert r == {"sub": 30.0, "fa": 42.0, "bridge": 6.0}
    qr = rec.qt("road")[0, 0]
    np.testing.assert_allclose(qr[rec.hours < 6], 0.0)
    np.testing.assert_allclose(qr[rec.hours >= 6], 1.0)


def test_plan_policy_follows_the_given_order(table):
    _, r = run({"sub": 2, "fa": 2}, table, policy="plan", policy_params={"order": ["fa", "sub"]})
    assert r == {"fa": 12.0, "sub": 36.0}


def test_travel_adds_to_the_job(table):
    twin, pos = substation_twin()
    s = np.zeros((1, twin.n_assets), np.int8)
    s[0, pos["fa"]] = 2
    c = RecoveryConfig.from_mapping(dict(crews=CREWS1, mutual_aid=0.0, repair_times=table))
    rec = simulate_recovery(twin, s, config=c, seed=1)
    # no depot: crews leave from the county-seat hub; the repair ends after travel out + 12 h
    assert rec.restore_h[0, pos["fa"]] > 12.0


def test_scenario_files_yaml_and_toml(tmp_path):
    y = tmp_path / "s.yaml"
    y.write_text(
        "recovery:\n  horizon_days: 7\n  policy: random\n  crews:\n    default: {power: 40}\n    '331000': {power: 120}\n",
        encoding="utf-8",
    )
    t = tmp_path / "s.toml"
    t.write_text(
        '[recovery]\nhorizon_days = 7\npolicy = "random"\n[recovery.crews.default]\npower = 40\n'
        '[recovery.crews."331000"]\npower = 120\n',
        encoding="utf-8",
    )
    a, b = load_scenario(y), load_scenario(t)
    assert a.as_dict() == b.as_dict()
    assert a.crews == {"default": {"power": 40}, "331000": {"power": 120}} and a.horizon_h == 168


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("recovery:\n  policy: fastest\n", "policy", "fastest"),
        ("recovery:\n  crews:\n    default: {power: -3}\n", "crews.default.power", "-3"),
        ("recovery:\n  crews:\n    default: {gas: 3}\n", "crews.default.gas", "gas"),
        ("recovery:\n  horizon_day: 3\n", "horizon_day", ""),
        ("recovery:\n  mutual_aid: 2\n", "mutual_aid", "2"),
    ],
)
def test_bad_scenario_names_file_field_and_value(tmp_path, text, field, value):
    p = tmp_path / "bad.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_scenario(p)
    msg = str(e.value)
    assert field in msg and value in msg
    assert "bad.yaml" in msg


def test_row_order_equals_lexsort_with_ties_nan_and_signed_zeros():
    from rescity.engine.recovery import _row_order

    rng = np.random.default_rng(3)
    n = 2_000
    row = rng.integers(0, 7, n)
    key = rng.choice([0.0, -0.0, 1.5, 2.5, np.inf, -np.inf, np.nan], n)
    key[::3] = rng.random(n // 3 + 1)[: len(key[::3])]
    np.testing.assert_array_equal(_row_order(row, 7, key), np.lexsort((key, row)))
    np.testing.assert_array_equal(_row_order(row[:0], 7, key[:0]), np.lexsort((key[:0], row[:0])))
