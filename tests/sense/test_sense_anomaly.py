"""Faulty sensors: the QARTOD-style spike test with a MAD scale, and the flat-line test."""

from __future__ import annotations

import numpy as np
import pytest

from rescity.sense.anomaly import AnomalyDetector, robust_sigma, spike_statistic
from rescity.sense.rules import Series


def run(detector, quantity, values, station="S"):
    s = Series()
    events = []
    for i, v in enumerate(values):
        t = 600.0 * i
        s.add(t, v)
        events += [(e.kind, int(e.t // 600)) for e in detector.check(station, quantity, s, t)]
    return events


def test_spike_statistic_by_hand():
    # |x1 − (x0 + x2)/2| − |(x2 − x0)/2| (IOOS QARTOD spike test)
    assert spike_statistic(10.0, 40.0, 12.0) == pytest.approx(abs(40 - 11) - abs(1))
    assert spike_statistic(1.0, 2.0, 3.0) == -1.0  # a steady ramp scores below zero
    assert spike_statistic(5.0, 5.0, 5.0) == 0.0


def test_robust_sigma_by_hand():
    # median 3, absolute deviations 2, 1, 0, 1, 97 → MAD 1 → σ = 1.4826
    assert robust_sigma([1, 2, 3, 4, 100]) == pytest.approx(1.4826)
    # for a large normal sample 1.4826 MAD estimates σ (Rousseeuw & Croux 1993)
    x = np.random.default_rng(7).normal(0.0, 2.0, 20_000)
    assert robust_sigma(list(x)) == pytest.approx(2.0, rel=0.03)


def test_a_wind_spike_is_flagged_one_report_late():
    rng = np.random.default_rng(1)
    wind = list(12 + rng.normal(0, 1.0, 30))
    wind[20] += 25.0
    assert run(AnomalyDetector(), "wind_ms", wind) == [("spike", 20)]


def test_a_storm_ramp_is_not_a_spike():
    wind = list(np.linspace(5, 45, 30))  # 1.4 m/s more every report
    assert run(AnomalyDetector(), "wind_ms", wind) == []


def test_the_threshold_scales_with_the_sensors_own_noise():
    rng = np.random.default_rng(2)
    noisy = list(15 + rng.normal(0, 4.0, 40))  # gusty record: σ of differences ≈ 5.7 m/s
    noisy[30] = noisy[29] + 12.0  # 12 m/s above: beyond the 8 m/s floor, within 6σ
    assert ("spike", 30) not in run(AnomalyDetector(), "wind_ms", noisy)
    calm = list(15 + rng.normal(0, 0.3, 40))
    calm[30] = calm[29] + 12.0
    assert ("spike", 30) in run(AnomalyDetector(), "wind_ms", calm)


def test_a_stuck_gauge_is_flagged_until_it_moves():
    level = [3.0 + 0.05 * i for i in range(10)] + [3.5] * 8 + [3.9, 4.0]
    ev = run(AnomalyDetector(), "water_level_m", level)
    stuck = [i for k, i in ev if k == "stuck"]
    # six equal readings (indices 10–15): the 6th is the first flagged, then every one after
    assert stuck == [15, 16, 17] and ("recovered", 18) in ev


def test_dry_weather_and_light_rain_are_not_stuck():
    assert run(AnomalyDetector(), "rain_mm", [0.0] * 20) == []
    assert run(AnomalyDetector(), "rain_mm", [0.1] * 20) == []  # a 0.1-mm bucket in drizzle
    ev = run(AnomalyDetector(), "rain_mm", [0.0] * 5 + [2.5] * 8)
    assert [k for k, _ in ev] == ["stuck"] * 3


def test_only_a_new_stuck_run_counts_as_new():
    d = AnomalyDetector()
    s = Series()
    news = []
    for i, v in enumerate([7.0] * 9):
        s.add(600.0 * i, v)
        news += [e.new for e in d.check("S", "wind_ms", s, 600.0 * i) if e.kind == "stuck"]
    assert news == [True, False, False, False]
