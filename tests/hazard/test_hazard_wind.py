"""Holland (1980, 2008) wind field against the papers' equations computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rescity.errors import InputError
from rescity.hazard import MEASURES, _geometry
from rescity.hazard.track import interpolate_track, packaged_track, read_track
from rescity.hazard.typhoon import (
    holland1980_wind,
    holland2008_bs,
    holland2008_vmax,
    holland2008_wind,
    holland2008_xn,
    holland_b_1980,
    inflow_angle_deg,
    peak_wind,
    rmax_vickery_wadhera_2008,
    roughness_factor,
    storm_parameters,
    translation_weight,
    typhoon_hazard,
    wind_timeseries,
)

RHO = 1.15
E = math.e
OMEGA = 7.292e-5
R_EARTH_KM = 6371.0
KN = 0.514444


def h80(r_km, rmax_km, b, dp_pa, lat_deg):
    """Holland (1980) gradient wind written out from the paper."""
    f = 2 * OMEGA * math.sin(math.radians(abs(lat_deg)))
    r = r_km * 1000.0
    x = (rmax_km / r_km) ** b
    return math.sqrt(b / RHO * x * dp_pa * math.exp(-x) + r * r * f * f / 4) - r * f / 2


def north_of(lat, lon, r_km):
    return lat + math.degrees(r_km / R_EARTH_KM), lon


def track_csv(tmp_path, rows, name="t.csv"):
    """rows: (iso time, lat, lon, vmax_kn, pcen_hpa, rmax_nm)."""
    text = "time,lat,lon,vmax_kn,pcen_hpa,rmax_nm\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    p = tmp_path / name
    p.write_text(text)
    return read_track(p)


# -- the formulas -----------------------------------------------------------------------------
def test_holland1980_profile_by_hand():
    rmax, b, dp, lat = 40.0, 1.6, 6000.0, 25.0
    f = 2 * OMEGA * math.sin(math.radians(lat))
    for r in (10.0, 25.0, 40.0, 80.0, 200.0, 600.0):
        assert holland1980_wind(r, rmax, b, dp, f) == pytest.approx(h80(r, rmax, b, dp, lat), rel=1e-12)


def test_holland1980_maximum_at_rmax():
    rmax, b, dp = 35.0, 1.8, 7000.0
    r = np.arange(5.0, 300.0, 0.05)
    # cyclostrophic (f = 0): the peak is at Rmax and equals sqrt(B Δp / (ρ e))
    v = holland1980_wind(r, rmax, b, dp, 0.0)
    assert r[np.argmax(v)] == pytest.approx(rmax, abs=0.05)
    assert v.max() == pytest.approx(math.sqrt(b * dp / (RHO * E)), rel=1e-6)
    # with Coriolis at 30°N the peak stays within a km of Rmax
    f = 2 * OMEGA * math.sin(math.radians(30))
    v = holland1980_wind(r, rmax, b, dp, f)
    assert abs(r[np.argmax(v)] - rmax) < 1.0


def test_holland1980_b_from_vmax():
    # Holland (1980): Vmax = sqrt(B Δp / (ρ e))  ⇔  B = ρ e Vmax² / Δp
    assert holland_b_1980(50.0, 6000.0) == pytest.approx(RHO * E * 2500 / 6000)
    b = holland_b_1980(45.0, 5000.0)
    assert math.sqrt(b * 5000.0 / (RHO * E)) == pytest.approx(45.0)


def test_holland2008_bs_and_vmax_by_hand():
    dp, dpdt, lat, vt = 71.0, 1.33, 28.4, 5.0
    x = 0.6 * (1 - dp / 215)
    bs = -4.4e-5 * dp**2 + 0.01 * dp + 0.03 * dpdt - 0.014 * lat + 0.15 * vt**x + 1.0
    assert holland2008_bs(dp, dpdt, lat, vt) == pytest.approx(bs, rel=1e-12)
    assert holland2008_bs(dp, dpdt, -lat, vt) == pytest.approx(bs, rel=1e-12)
    assert holland2008_vmax(bs, dp * 100) == pytest.approx(math.sqrt(bs * dp * 100 / (RHO * E)))


def test_holland2008_profile_by_hand():
    rmax, bs, dp_hpa = 30.0, 1.4, 60.0
    vms = math.sqrt(100 * bs * dp_hpa / (RHO * E))
    for r in (10.0, 30.0, 100.0, 250.0):
        x = (rmax / r) ** bs
        # Holland (2008) with x = 0.5: V = [100 b Δp (Rm/r)^b / (ρ e^{(Rm/r)^b})]^0.5
        ref = (100 * bs * dp_hpa * x / (RHO * math.exp(x))) ** 0.5
        assert holland2008_wind(r, rmax, bs, vms, xn=0.5) == pytest.approx(ref, rel=1e-12)
    # x rising linearly from 0.5 at Rmax to x_n at r_n = 300 km
    xn, rn = 0.7, 300.0
    for r in (20.0, 30.0, 120.0, 300.0):
        xr = 0.5 if r <= rmax else 0.5 + (r - rmax) * (xn - 0.5) / (rn - rmax)
        s = (rmax / r) ** bs
        ref = vms * (s * math.exp(1 - s)) ** xr
        assert holland2008_wind(r, rmax, bs, vms, xn=xn, rn_km=rn) == pytest.approx(ref, rel=1e-12)
    # x_n fitted to pass through 17.5 m/s at 300 km (a broad storm, Rmax 50 km)
    s = (50.0 / 300.0) ** bs
    xn_hand = math.log(17.5 / vms) / math.log(s * math.exp(1 - s))
    assert 0.5 < xn_hand < 1.0
    xn = float(holland2008_xn(vms, bs, 50.0, 17.5, 300.0))
    assert xn == pytest.approx(xn_hand)
    assert holland2008_wind(300.0, 50.0, bs, vms, xn=xn) == pytest.approx(17.5, rel=1e-9)
    # a compact storm already below 17.5 m/s at 300 km keeps the Holland (1980) shape
    assert float(holland2008_xn(vms, bs, 30.0, 17.5, 300.0)) == 0.5


def test_rmax_inflow_translation_roughness_by_hand():
    # Vickery & Wadhera (2008): ln Rmax = 3.015 − 6.291e-5 Δp² + 0.0337 φ
    assert rmax_vickery_wadhera_2008(71.0, 28.4) == pytest.approx(
        math.exp(3.015 - 6.291e-5 * 71**2 + 0.0337 * 28.4)
    )
    # Sobey et al. (1977) inflow angle
    np.testing.assert_allclose(inflow_angle_deg([10, 40, 44, 48, 100], 40.0), [10, 10, 17.5, 25, 25])
    # Jelesnianski (1965): Rmax r / (Rmax² + r²)
    assert translation_weight(40.0, 40.0) == pytest.approx(0.5)
    assert translation_weight(120.0, 40.0) == pytest.approx(40 * 120 / (40**2 + 120**2))
    # log law with the (z0 ratio)^0.0706 friction-velocity relation
    ref = (0.03 / 0.002) ** 0.0706 * math.log(10 / 0.03) / math.log(10 / 0.002)
    assert roughness_factor(0.03) == pytest.approx(ref)
    assert roughness_factor(0.002) == pytest.approx(1.0)


# -- the field at sites -----------------------------------------------------------------------
LAT0, LON0 = 20.0, 130.0


@pytest.fixture
def still(tmp_path):
    """A stationary storm: 97.19 kn (50 m/s), 950 hPa, Rmax 40 km."""
    vkn = 50.0 / KN
    rows = [
        ("2020-01-01T00:00Z", LAT0, LON0, vkn, 950, 40 / 1.852),
        ("2020-01-01T06:00Z", LAT0, LON0, vkn, 950, 40 / 1.852),
    ]
    return track_csv(tmp_path, rows)


def test_stationary_storm_matches_holland1980_by_hand(still):
    # Vg = Vmax / K (no translation); B = ρ e Vc² / Δp (Holland 1980) with Vc the cyclostrophic
    # part of Vg: sqrt(Vc² + (Rmax f/2)²) − Rmax f/2 = Vg
    vg = 50.0 / 0.8
    dp = 6000.0
    f = 2 * OMEGA * math.sin(math.radians(LAT0))
    b = RHO * E * (vg**2 + vg * 40e3 * f) / dp
    assert 1 < b < 2.5
    radii = [10.0, 40.0, 100.0, 300.0]
    lat = [north_of(LAT0, LON0, r)[0] for r in radii]
    out = peak_wind(still, [LON0] * 4, lat, "holland1980", land=False)
    ref = np.array([0.8 * h80(r, 40.0, b, dp, LAT0) for r in radii])
    np.testing.assert_allclose(out["wind_ms"], ref, rtol=1e-6)
    assert out["wind_ms"][1] == pytest.approx(50.0, rel=1e-6)  # the best-track wind at Rmax
    np.testing.assert_allclose(out["gust_ms"], 1.11 * ref, rtol=1e-6)
    # over open land: roughness reduction and the land gust factor
    land = peak_wind(still, [LON0] * 4, lat, "holland1980", land=True)
    fac = (0.03 / 0.002) ** 0.0706 * math.log(10 / 0.03) / math.log(10 / 0.002)
    np.testing.assert_allclose(land["wind_ms"], fac * ref, rtol=1e-6)
    np.testing.assert_allclose(land["gust_ms"], 1.23 * fac * ref, rtol=1e-6)


def test_no_translation_is_symmetric(still):
    r = 60.0
    dlat = math.degrees(r / R_EARTH_KM)
    dlon = dlat / math.cos(math.radians(LAT0))
    # the four points at ~60 km; compare with the exact great-circle distance of each
    lats = np.array([LAT0 + dlat, LAT0 - dlat, LAT0, LAT0])
    lons = np.array([LON0, LON0, LON0 + dlon, LON0 - dlon])
    for model in ("holland1980", "holland2008"):
        w = peak_wind(still, lons, lats, model, land=False)["wind_ms"]
        assert w[0] == pytest.approx(w[1], rel=1e-9)
        assert w[2] == pytest.approx(w[3], rel=1e-9)
        assert w[0] == pytest.approx(w[2], rel=2e-3)  # the E/W points lie ~0.1 % closer (great circle)


def test_stationary_holland2008_by_hand(still):
    dp = 60.0
    x = 0.6 * (1 - dp / 215)
    bs = -4.4e-5 * dp**2 + 0.01 * dp - 0.014 * LAT0 + 0.15 * 0.0**x + 1.0  # no motion, no ∂p/∂t
    vms = math.sqrt(bs * dp * 100 / (RHO * E))
    p = storm_parameters(interpolate_track(still), "holland2008")
    assert p["bs"].iloc[0] == pytest.approx(bs) and p["vms_ms"].iloc[0] == pytest.approx(vms)
    lat = [north_of(LAT0, LON0, r)[0] for r in (40.0, 300.0)]
    w = peak_wind(still, [LON0, LON0], lat, "holland2008", land=False)["wind_ms"]
    assert w[0] == pytest.approx(vms, rel=1e-6)  # Vms at Rmax
    assert 0.5 < p["xn"].iloc[0] < 1.0  # broad enough to meet the peripheral constraint
    assert w[1] == pytest.approx(17.5, rel=1e-4)  # 17.5 m/s at 300 km


def _moving(tmp_path, lat0):
    """Moving due north 1° per 6 h (5.15 m/s) at 97.19 kn, 950 hPa, Rmax 40 km."""
    vkn = 50.0 / KN
    step = 1.0 if lat0 > 0 else -1.0
    rows = [
        ("2020-01-01T00:00Z", lat0, LON0, vkn, 950, 40 / 1.852),
        ("2020-01-01T06:00Z", lat0 + step, LON0, vkn, 950, 40 / 1.852),
    ]
    return track_csv(tmp_path, rows, name=f"m{lat0}.csv")


def _right_left_by_hand(lat_c, vt):
    """Wind east and west of the centre at r = Rmax, motion along the meridian, sea."""
    vsym = 50.0 - 0.5 * vt
    vg = vsym / 0.8
    f = 2 * OMEGA * math.sin(math.radians(abs(lat_c)))
    b = RHO * E * (vg**2 + vg * 40e3 * f) / 6000.0
    v = 0.8 * h80(40.0, 40.0, b, 6000.0, lat_c)
    beta = math.radians(10.0)  # inflow at r = Rmax
    w = 0.5 * vt  # Jelesnianski weight at Rmax
    # east side: tangential wind points north, turned towards the centre (west) by beta
    east = math.hypot(v * math.sin(beta), v * math.cos(beta) + w)
    west = math.hypot(v * math.sin(beta), -v * math.cos(beta) + w)
    return east, west


def test_translation_asymmetry_northern_hemisphere(tmp_path):
    tr = _moving(tmp_path, LAT0)
    vt = R_EARTH_KM * 1000 * math.radians(1.0) / 21600
    lat_c = LAT0 + 0.5  # the centre at 03:00
    dlon = math.degrees(40.0 / R_EARTH_KM) / math.cos(math.radians(lat_c))
    times, wind, gust = wind_timeseries(tr, [LON0 + dlon, LON0 - dlon], [lat_c, lat_c], land=False)
    k = list(times).index(pd.Timestamp("2020-01-01 03:00", tz="UTC"))
    east, west = _right_left_by_hand(lat_c, vt)
    assert wind[k, 0] == pytest.approx(east, rel=2e-3)
    assert wind[k, 1] == pytest.approx(west, rel=2e-3)
    # the right of the motion is stronger by about the translation speed (2 × Vt/2 × cos 10°)
    assert wind[k, 0] - wind[k, 1] == pytest.approx(vt * math.cos(math.radians(10)), rel=0.02)
    assert (gust >= wind).all()


def test_translation_asymmetry_southern_hemisphere(tmp_path):
    tr = _moving(tmp_path, -LAT0)  # moving south, clockwise vortex: the left (east) is stronger
    lat_c = -LAT0 - 0.5
    dlon = math.degrees(40.0 / R_EARTH_KM) / math.cos(math.radians(lat_c))
    times, wind, _ = wind_timeseries(tr, [LON0 + dlon, LON0 - dlon], [lat_c, lat_c], land=False)
    k = list(times).index(pd.Timestamp("2020-01-01 03:00", tz="UTC"))
    vt = R_EARTH_KM * 1000 * math.radians(1.0) / 21600
    # moving south, west is on the right; in the south the left of the motion (east) is stronger
    assert wind[k, 0] - wind[k, 1] == pytest.approx(vt * math.cos(math.radians(10)), rel=0.02)


def test_decay_with_distance_and_cutoff(still):
    radii = [60.0, 150.0, 300.0, 600.0, 950.0, 1100.0]
    lat = [north_of(LAT0, LON0, r)[0] for r in radii]
    for model in ("holland1980", "holland2008"):
        w = peak_wind(still, [LON0] * len(radii), lat, model, land=False)["wind_ms"]
        assert (np.diff(w[:-1]) < 0).all()
        assert w[-1] == 0.0  # beyond the 1000 km cut-off


def test_peak_equals_timeseries_max_and_blocks_do_not_matter(monkeypatch, tmp_path):
    tr = packaged_track("201910")
    rng = np.random.default_rng(1)
    lon = rng.uniform(119, 123, 500)
    lat = rng.uniform(27, 31, 500)
    land = rng.random(500) < 0.7
    _, w, g = wind_timeseries(tr, lon, lat, "holland2008", land=land)
    pk = peak_wind(tr, lon, lat, "holland2008", land=land)
    np.testing.assert_allclose(pk["wind_ms"], w.max(axis=0))
    np.testing.assert_allclose(pk["gust_ms"], g.max(axis=0))
    ratio = pk["gust_ms"] / pk["wind_ms"]
    np.testing.assert_allclose(ratio, np.where(land, 1.23, 1.11))
    monkeypatch.setattr(_geometry, "BLOCK_ELEMENTS", 777)
    pk2 = peak_wind(tr, lon, lat, "holland2008", land=land)
    np.testing.assert_array_equal(pk2["wind_ms"], pk["wind_ms"])


def test_lekima_wenling_hangzhou():
    tr = packaged_track("201910")
    lat, lon = [28.37, 30.27], [121.37, 120.15]  # Wenling 温岭, Hangzhou 杭州
    out = typhoon_hazard(tr, lon, lat)
    assert set(out) == {"wind_ms", "gust_ms", "rain_mm", "rain_rate_mmh"} <= set(MEASURES)
    # landfall at Wenling (46 m/s best-track wind): the coast is windier and wetter than Hangzhou
    assert out["wind_ms"][0] > out["wind_ms"][1] > 0
    assert out["rain_mm"][0] > out["rain_mm"][1] > 0
    assert 25 < out["wind_ms"][0] < 47  # at most the best-track landfall wind
    assert (out["gust_ms"] >= out["wind_ms"]).all()



@pytest.mark.parametrize("model", ["holland1980", "holland2008"])
def test_nested_windows_in_one_pass_equal_each_window_alone(monkeypatch, model):
    """Lead windows of a forecast (same start, cut at +24/48/72 h, some ends between fixes) in one
    pass give every window's own intensities bit for bit; a window with another start runs alone."""
    from rescity.forecast.ensemble import window
    from rescity.hazard import typhoon
    from rescity.hazard.typhoon import typhoon_hazard_windows

    monkeypatch.setattr(_geometry, "BLOCK_ELEMENTS", 4000)  # ~13 fixes a block: windows end inside blocks
    tr = packaged_track("201910")
    lon, lat = np.meshgrid(np.linspace(118.0, 123.0, 20), np.linspace(27.0, 31.5, 15))
    lon, lat = lon.ravel(), lat.ravel()
    t0 = pd.Timestamp("2019-08-08 12:00", tz="UTC")
    starts_and_cuts = [
        (t0, (24, 48, 72)),
        (t0 - pd.Timedelta(hours=31), (24, 48, 72)),  # between fixes: interpolated ends
        (t0, (10.5, 30, 71, 71)),
    ]
    rows = []
    orig = typhoon._block_wind
    monkeypatch.setattr(typhoon, "_block_wind", lambda blk, *a: rows.append(len(blk.steps)) or orig(blk, *a))
    for start, cuts in starts_and_cuts:
        ws = [window(tr, start, start + pd.Timedelta(hours=h)) for h in cuts]
        ws.append(window(tr, start + pd.Timedelta(hours=5), start + pd.Timedelta(hours=40)))  # another start
        rows.clear()
        together = typhoon_hazard_windows(ws, lon, lat, model)
        shared_rows = sum(rows)
        rows.clear()
        alone = [typhoon_hazard(w, lon, lat, model) for w in ws]
        assert shared_rows < 0.7 * sum(rows)
        for a, b in zip(together, alone, strict=True):
            assert a.keys() == b.keys()
            for k in a:
                assert np.array_equal(a[k], b[k]), k


def test_bad_arguments(still):
    with pytest.raises(InputError) as e:
        peak_wind(still, [LON0], [LAT0], "rankine")
    assert e.value.field == "model"
    with pytest.raises(InputError) as e:
        peak_wind(still, [LON0, LON0], [LAT0, LAT0], land=[True, False, True])
    assert e.value.field == "land"
    with pytest.raises(InputError):
        peak_wind(still, [LON0], [LAT0, LAT0])
    with pytest.raises(InputError):
        peak_wind(still, [LON0], [95.0])
