"""Storm surge: the documented formula (hand-computed), the packaged coastline, and a coastal
storm end to end (``rescity run --sn 201910 --hazards wind,surge``)."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from rescity.hazard.coast import coast_distance_km, coastline
from rescity.hazard.flood import surge_depth, surge_height_m
from rescity.hazard.surge import landfall, storm_surge
from rescity.hazard.track import packaged_track


def test_peak_surge_by_hand():
    """Δp = 50 hPa, V = 40 m/s, Rmax = 30 km, h = 30 m, L = 2 Rmax = 60 km:
    inverse barometer 5000 Pa / (1025 · 9.81) = 0.497253 m; wind setup
    1.2 · 2.5e-3 · 40² · 60000 / (1025 · 9.81 · 30) = 288000 / 301657.5 = 0.954725 m."""
    assert surge_height_m(50.0, 40.0, 30.0, 30.0) == pytest.approx(0.497253 + 0.954725, abs=1e-5)
    # inverse barometer alone: 1 hPa ≈ 1 cm
    assert surge_height_m(1.0, 0.0, 30.0) == pytest.approx(0.0099450, rel=1e-4)
    # half the shelf depth doubles the setup
    assert surge_height_m(0.0, 40.0, 30.0, 15.0) == pytest.approx(2 * 0.954725, abs=1e-5)


def test_surge_depth_by_hand():
    """depth = max(η·exp(−(d/2Rmax)²) − 0.1·coast_km − z, 0)."""
    lat0, lon0, eta, rmax = 28.0, 121.5, 2.0, 30.0
    km_per_deg_lon = math.pi * 6371.0 / 180.0 * math.cos(math.radians(lat0))  # R = 6371.0 km
    lon = np.array([lon0, lon0 + 60.0 / km_per_deg_lon, lon0, lon0])  # at landfall, 60 km = 2 Rmax east
    lat = np.full(4, lat0)
    z = np.array([0.0, 0.0, 0.5, 3.0])
    coast = np.array([0.0, 0.0, 10.0, 0.0])
    d = surge_depth(lon, lat, z, coast, lon0, lat0, eta, rmax)
    assert d[0] == pytest.approx(2.0)
    assert d[1] == pytest.approx(2.0 * math.exp(-1.0), rel=1e-6)  # 0.735759
    assert d[2] == pytest.approx(2.0 - 1.0 - 0.5)
    assert d[3] == 0.0  # ground above the water


def test_packaged_coastline_distances():
    c = coastline()
    assert {"segment", "lon", "lat"} <= set(c.columns) and len(c) > 1000
    d = coast_distance_km([122.10, 119.65, 123.5], [30.02, 29.08, 28.5])  # Dinghai, Jinhua, open sea
    assert d[0] < 3.0  # Zhoushan island town on the shore
    assert 100 < d[1] < 220  # Jinhua basin, far inland
    assert d[2] > 100  # East China Sea, beyond the Dachen islands


def test_lekima_makes_landfall_in_taizhou_and_surges_there():
    track = packaged_track("201910")
    lf = landfall(track)
    assert lf is not None
    # Lekima made landfall at Chengnan, Wenling (121.4 E, 28.3 N) on 2019-08-09 17:45 UTC
    assert 121.2 < lf["lon"] < 121.9 and 27.9 < lf["lat"] < 28.6
    lon = np.array([lf["lon"], 121.38, 119.65])
    lat = np.array([lf["lat"], 28.37, 29.08])
    res = storm_surge(track, lon, lat)
    eta = surge_height_m(lf["dp_hpa"], lf["vmax_ms"], lf["rmax_km"], 30.0)
    assert res["height_m"] == pytest.approx(eta) and 1.0 < eta < 5.0
    assert res["proxy"] is True
    # at the landfall point d = 0 and z = 0 (no DEM): depth = η − 0.1 m/km · distance to the coast
    c0 = coast_distance_km([lf["lon"]], [lf["lat"]])[0]
    assert c0 <= 20.0
    assert res["surge_depth_m"][0] == pytest.approx(max(eta - 0.1 * c0, 0.0))
    assert res["surge_depth_m"][1] > 0 and res["surge_depth_m"][2] == 0.0


def test_a_storm_that_stays_at_sea_has_no_surge():
    track = packaged_track("201910").copy()
    track["lon"] = track["lon"] + 8.0  # far east of the packaged coast
    res = storm_surge(track, np.array([121.4]), np.array([28.4]))
    assert res["landfall"] is None and res["surge_depth_m"].tolist() == [0.0]


@pytest.mark.slow
def test_surge_end_to_end(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "rescity", "run", "--sn", "201910", "--hazards", "wind,surge", "-n", "10",
         "--no-recovery", "--quiet", "--out", str(tmp_path / "o")],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, env=dict(os.environ),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    t = pd.read_csv(tmp_path / "o" / "units.csv", dtype={"unit_id": str}).set_index("unit_id")
    assert "surge_depth_max_m" in t and "flood_depth_max_m" in t
    assert t.loc["331081", "surge_depth_max_m"] > 0.5  # Wenling, at landfall
    assert t.loc["330500", "surge_depth_max_m"] == 0  # Huzhou, inland and far north
    # surge is the only water: flood depth equals surge depth where computed
    np.testing.assert_allclose(t["flood_depth_max_m"], t["surge_depth_max_m"], equal_nan=True)
    assert np.isnan(t["rain_mm"]).all()
    assert {"driver"} <= set(t.columns)
    assert (t.loc[t["level"] == "county", "driver"].fillna("") != "").any()
