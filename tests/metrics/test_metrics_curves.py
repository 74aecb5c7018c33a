"""Resilience metrics against areas and times worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from _recovery_twins import repair_table, substation_twin
from rescity.engine.recovery import RecoveryConfig, simulate_recovery
from rescity.errors import InputError
from rescity.metrics import (
    customer_hours_lost,
    loss_from_times,
    metrics_table,
    qt_from_times,
    qt_table,
    rapidity,
    resilience_loss,
    robustness,
)

HOURS = np.arange(0, 49, 1.0)


def step_curve():
    # 50 % served for 10 h, 80 % for the next 10 h, then everyone
    return np.where(HOURS < 10, 0.5, np.where(HOURS < 20, 0.8, 1.0))


def test_resilience_loss_is_the_area_above_a_step_curve():
    # Bruneau et al. (2003): ∫(1 − Q) dt = 0.5 × 10 h + 0.2 × 10 h = 7 h
    assert resilience_loss(step_curve(), HOURS) == pytest.approx(7.0)
    assert customer_hours_lost(step_curve(), HOURS, 1000) == pytest.approx(7000.0)
    # any grid that holds the jumps gives the same area
    fine = np.arange(0, 48.01, 0.25)
    q = np.where(fine < 10, 0.5, np.where(fine < 20, 0.8, 1.0))
    assert resilience_loss(q, fine) == pytest.approx(7.0)


def test_linear_recovery_triangle():
    # Q rising linearly from 0.4 to 1 over 30 h: the area is the triangle (1 − 0.4) · 30 / 2 = 9 h;
    # a step held from each sample of a grid of width h overestimates by (0.6 / 30) · 30 · h / 2
    h = 0.01
    t = np.arange(0, 40 + h / 2, h)
    q = np.minimum(1.0, 0.4 + 0.6 * t / 30)
    assert resilience_loss(q, t) == pytest.approx(9.0 + 0.6 * h / 2, rel=1e-6)


def test_robustness_and_rapidity():
    q = step_curve()
    assert robustness(q) == 0.5
    assert rapidity(q, HOURS, 0.9) == 20.0
    assert rapidity(q, HOURS, 0.8) == 10.0
    assert rapidity(q, HOURS, 0.5) == 0.0
    np.testing.assert_array_equal(rapidity(q, HOURS, (0.9, 1.0)), [20.0, 20.0])
    assert rapidity(np.full(49, 0.95), HOURS, 1.0) == np.inf  # never within the horizon
    with pytest.raises(InputError):
        rapidity(q, HOURS, 1.5)
    with pytest.raises(InputError):
        resilience_loss(q, HOURS[::-1])


def test_curve_from_restoration_times_and_its_exact_area():
    tau = np.array([0.0, 3.0, 3.0, 10.0, np.inf])
    w = np.array([10.0, 20.0, 30.0, 25.0, 15.0])
    q = qt_from_times(tau, w, HOURS)
    np.testing.assert_allclose(q[[0, 2, 3, 9, 10, 48]], [0.1, 0.1, 0.6, 0.6, 0.85, 0.85])
    # customer-hours: 20 × 3 + 30 × 3 + 25 × 10 + 15 × 48 = 1,120, from the curve and from times
    assert loss_from_times(tau, w, 48.0) == pytest.approx(1120.0)
    assert customer_hours_lost(q, HOURS, w.sum()) == pytest.approx(1120.0)


def test_metrics_table_of_a_schedule_worked_by_hand(tmp_path):
    """One crew: substation restored at 24 h, feeder A (600 of 1,000 people) at 36 h (see
    test_recovery_schedule): power RL = 24 + 0.6 × 12 = 31.2 h, robustness 0, t90 = t100 = 36 h."""
    table = repair_table(tmp_path / "rt.csv", {("substation_110kv", 2): 1.0, ("feeder_10kv", 2): 0.5})
    twin, pos = substation_twin()
    s = np.zeros((3, twin.n_assets), np.int8)
    s[:, pos["sub"]] = 2
    s[:, pos["fa"]] = 2
    s[2, pos["fa"]] = 0  # realisation 3: the substation only
    cfg = RecoveryConfig.from_mapping(
        dict(
            crews={"default": {"power": 1}},
            travel=False,
            mutual_aid=0,
            repair_times=str(table),
            horizon_days=2,
        )
    )
    rec = simulate_recovery(twin, s, config=cfg, seed=0)
    m = metrics_table(rec).set_index(["unit_id", "system"])
    p = m.loc[("900000", "power")]
    assert p["resilience_loss_h"] == pytest.approx((31.2 + 31.2 + 24.0) / 3)
    assert p["robustness"] == 0.0
    assert p["t90_h"] == pytest.approx((36 + 36 + 24) / 3)
    assert p["t100_h"] == pytest.approx((36 + 36 + 24) / 3)
    assert p["customer_hours_lost"] == pytest.approx((31_200 * 2 + 24_000) / 3)
    assert p["t100_censored"] == 0.0
    w = m.loc[("900000", "water")]
    assert w["resilience_loss_h"] == pytest.approx(24.0)
    assert list(metrics_table(rec).columns[:7]) == [
        "unit_id",
        "system",
        "resilience_loss_h",
        "robustness",
        "t90_h",
        "t100_h",
        "customer_hours_lost",
    ]
    qt = qt_table(rec)
    assert list(qt.columns) == ["unit_id", "system", "hour", "q_mean", "q_p05", "q_p95"]
    row = qt[(qt["unit_id"] == "900000") & (qt["system"] == "power") & (qt["hour"] == 30)].iloc[0]
    assert row["q_mean"] == pytest.approx((0.4 + 0.4 + 1.0) / 3, abs=1e-4)


def test_column_quantiles_are_numpys_with_constant_columns_skipped():
    from rescity.metrics.tables import column_quantiles

    rng = np.random.default_rng(3)
    a = np.ones((200, 7, 9), np.float32)  # fully served: constant columns
    a[:, :, :4] = rng.random((200, 7, 4), dtype=np.float32)
    a[:20, 3, 6] = 0.25  # one column varies in a tenth of the realisations only
    a[:, 2, 8] = 0.5  # constant, not 1
    got = column_quantiles(a, (0.05, 0.95))
    want = np.quantile(a, (0.05, 0.95), axis=0)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want)
    assert got[0, 3, 6] == 0.25 and got[1, 3, 6] == 1.0


def test_rapidity_read_on_the_stored_codes_is_rapidity_of_q():
    from rescity.engine.recovery import RecoveryResult
    from rescity.metrics.tables import _rapidity_of_codes

    rng = np.random.default_rng(5)
    hours = np.arange(0, 40, 1.0)
    # rising curves, with codes on both sides of each level's threshold and never reaching 1
    near = np.array([58981, 58982, 62257, 62258, 65534, 65535], np.uint16)
    codes = np.sort(rng.choice(np.r_[near, rng.integers(0, 65536, 50)], (60, 7, len(hours))), axis=-1)
    codes[:, 0, :] = 65534  # never quite full
    codes[:, 1, :] = 65535  # full from the start
    codes[0, 2, ::2] = 65535  # not monotone: read as stored
    levels = (0.9, 0.95, 1.0)
    want = rapidity(RecoveryResult.decode(codes), hours, levels)
    got = _rapidity_of_codes(codes, RecoveryResult.decode, hours, levels)
    assert got.shape == want.shape and got.tobytes() == want.tobytes()
    assert np.isinf(got[:, 0, 2]).all() and (got[:, 1, :] == 0).all()
