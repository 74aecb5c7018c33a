"""R-CLIPER rain against the published model (Tuleya et al. 2007) computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rescity.errors import InputError
from rescity.hazard.rain import rain_timeseries, rcliper_rate, storm_rain
from rescity.hazard.track import read_track

KN = 0.514444
IN_DAY = 25.4 / 24.0  # mm/h per inch/day
R_EARTH_KM = 6371.0


def rcliper_by_hand(r_km: float, vmax_kn: float) -> float:
    """Tuleya et al. (2007) R-CLIPER: coefficients a1..a4, b1..b4 of their table."""
    u = 1 + (vmax_kn - 35) / 33
    t0 = (-1.10 + 3.96 * u) * IN_DAY
    tm = (-1.60 + 4.80 * u) * IN_DAY
    rm = 64.5 - 13.0 * u
    re = 150.0 - 16.0 * u
    if r_km < rm:
        return t0 + (tm - t0) * r_km / rm
    return tm * math.exp(-(r_km - rm) / re)


def rcliper_shape(vmax_kn):
    u = 1 + (vmax_kn - 35) / 33
    return (-1.10 + 3.96 * u) * IN_DAY, (-1.60 + 4.80 * u) * IN_DAY, 64.5 - 13.0 * u, 150.0 - 16.0 * u


def test_rcliper_rate_by_hand():
    for vkn in (35.0, 64.0, 100.0, 135.0):
        for r in (0.0, 10.0, 30.0, 60.0, 150.0, 400.0):
            assert rcliper_rate(r, vkn * KN) == pytest.approx(rcliper_by_hand(r, vkn), rel=1e-9)
    t0, tm, rm, re = rcliper_shape(100.0)
    assert rcliper_rate(0.0, 100 * KN) == pytest.approx(t0, rel=1e-9)
    assert rcliper_rate(rm, 100 * KN) == pytest.approx(tm, rel=1e-9)
    assert rcliper_rate(rm + re, 100 * KN) == pytest.approx(tm / math.e, rel=1e-9)
    # a 35-kn storm: U = 1, T0 = 2.86 in/day, Tm = 3.20 in/day at rm = 51.5 km
    assert rcliper_rate(0.0, 35 * KN) == pytest.approx(2.86 * IN_DAY)
    assert rcliper_rate(51.5, 35 * KN) == pytest.approx(3.20 * IN_DAY)
    # stronger storms rain harder near the centre
    assert rcliper_rate(20.0, 120 * KN) > rcliper_rate(20.0, 60 * KN)
    assert rcliper_rate(10.0, 0.0) == 0.0  # negative rates of very weak storms are clipped


def _track(tmp_path, rows, name="t.csv"):
    text = "time,lat,lon,vmax_kn\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    p = tmp_path / name
    p.write_text(text)
    return read_track(p)


def test_stationary_storm_total(tmp_path):
    tr = _track(tmp_path, [("2020-01-01T00:00Z", 20, 130, 90), ("2020-01-01T06:00Z", 20, 130, 90)])
    lat = [20 + math.degrees(r / R_EARTH_KM) for r in (20.0, 80.0, 1200.0)]
    out = storm_rain(tr, [130] * 3, lat, model="rcliper")
    ref = np.array([rcliper_by_hand(20.0, 90), rcliper_by_hand(80.0, 90), 0.0])
    np.testing.assert_allclose(out["rain_rate_mmh"], ref, rtol=1e-9)
    np.testing.assert_allclose(out["rain_mm"], 6.0 * ref, rtol=1e-9)  # 6 hours
    out2 = storm_rain(tr, [130] * 3, lat, enhancement=[2.0, 1.0, 1.0], model="rcliper")
    assert out2["rain_mm"][0] == pytest.approx(2 * out["rain_mm"][0])


def _passage(tmp_path, hours, name):
    """A 100-kn storm moving north along 130°E, 20° of latitude in ``hours``."""
    return _track(
        tmp_path,
        [
            ("2020-01-01T00:00Z", 10, 130, 100),
            (f"2020-01-{1 + hours // 24:02d}T{hours % 24:02d}:00Z", 30, 130, 100),
        ],
        name,
    )


def test_passage_total_depends_on_translation_speed(tmp_path):
    # a site on the track: total = ∫ R(|x|) dx / Vt = 2 [rm (T0 + Tm)/2 + Tm re] / Vt
    t0, tm, rm, re = rcliper_shape(100.0)
    line_integral = 2 * (rm * (t0 + tm) / 2 + tm * re)  # mm·km/h
    fast = _passage(tmp_path, 96, "fast.csv")
    slow = _passage(tmp_path, 192, "slow.csv")
    d_km = R_EARTH_KM * math.radians(20.0)
    out_fast = storm_rain(fast, 130.0, 20.0, dt_h=0.25, model="rcliper")
    out_slow = storm_rain(slow, 130.0, 20.0, dt_h=0.25, model="rcliper")
    assert out_fast["rain_mm"][0] == pytest.approx(line_integral / (d_km / 96), rel=0.01)
    assert out_slow["rain_mm"][0] == pytest.approx(2 * out_fast["rain_mm"][0], rel=0.01)
    # the rain ring (r = rm, rate Tm) passes over; fixes every 0.25 h are ~6 km apart
    assert out_fast["rain_rate_mmh"][0] <= tm
    assert out_fast["rain_rate_mmh"][0] == pytest.approx(tm, rel=0.03)


def test_timeseries_matches_totals(tmp_path):
    tr = _passage(tmp_path, 96, "p.csv")
    lon = np.array([130.0, 130.5, 131.0])
    lat = np.array([20.0, 20.0, 20.0])
    times, rate = rain_timeseries(tr, lon, lat, dt_h=1.0)
    out = storm_rain(tr, lon, lat, dt_h=1.0)
    assert rate.shape == (len(times), 3) == (97, 3)
    np.testing.assert_allclose(out["rain_mm"], np.trapezoid(rate, dx=1.0, axis=0))
    np.testing.assert_allclose(out["rain_rate_mmh"], rate.max(axis=0))
    assert out["rain_mm"][0] > out["rain_mm"][1] > out["rain_mm"][2] > 0


def test_bad_enhancement(tmp_path):
    tr = _passage(tmp_path, 96, "p.csv")
    with pytest.raises(InputError) as e:
        storm_rain(tr, [130, 131], [20, 20], enhancement=[1, 2, 3])
    assert e.value.field == "enhancement"
