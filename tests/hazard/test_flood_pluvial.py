"""Pluvial flood: SCS-CN runoff (TR-55), drainage capacity, ponding by proxy and on a DEM."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rescity.errors import InputError
from rescity.hazard import flood

INCH = 25.4


@pytest.mark.parametrize(
    "p_in, cn, q_in",
    [
        (5.0, 80, 2.89),  # TR-55 (USDA NRCS 1986) Table 2-1, runoff depth for selected CN and rainfall
        (5.0, 75, 2.45),  # TR-55 Table 2-1 / Example 2-1: 5.0 in on CN 75 gives 2.45 in
        (3.0, 75, 0.96),  # TR-55 Table 2-1
    ],
)
def test_scs_runoff_matches_tr55(p_in, cn, q_in):
    assert flood.scs_runoff_mm(p_in * INCH, cn) / INCH == pytest.approx(q_in, abs=0.006)


def test_scs_initial_abstraction_and_limits():
    s = 25400 / 80 - 254  # 63.5 mm
    assert flood.scs_runoff_mm(0.2 * s - 0.1, 80) == 0.0  # below Ia = 0.2 S
    assert flood.scs_runoff_mm(500.0, 100) == pytest.approx(500.0)  # impervious: all rain runs off
    with pytest.raises(InputError):
        flood.scs_runoff_mm(10.0, 0)
    np.testing.assert_allclose(flood.curve_number_from_urban_share([1.0, 0.0]), [90.0, 77.5])


def test_storm_intensity_formula_and_drainage_capacity():
    # Shanghai DB31/T 1043-2017: q = 1600 (1 + 0.846 lg P) / (t + 7)^0.656 L/(s ha); i = q/167 mm/min
    for rp in (1.0, 3.0):
        q = 1600 * (1 + 0.846 * math.log10(rp)) / (60 + 7) ** 0.656
        expected = 0.65 * q / 167 * 60
        assert float(flood.drainage_capacity_mmh(rp)) == pytest.approx(expected)
    one, three = flood.drainage_capacity_mmh(np.array([1.0, 3.0]))
    assert 20 < one < three < 40  # 1-year networks carry ~24 mm/h of runoff
    total, peak = flood.design_storm(2.0, 3.0)
    assert total == pytest.approx(1600 * (1 + 0.846 * math.log10(2)) / (180 + 7) ** 0.656 / 167 * 180)
    assert peak < total
    with pytest.raises(InputError):
        flood.drainage_capacity_mmh(0.0)


def test_triangular_hyetograph_conserves_rain_and_peak():
    cum, dt = flood.triangular_hyetograph(np.array([120.0, 10.0]), np.array([30.0, 40.0]), steps=200)
    np.testing.assert_allclose(cum[-1], [120.0, 10.0])
    assert dt[0] == pytest.approx(2 * 120 / 30 / 200)
    rate = np.diff(cum, axis=0) / dt
    assert rate[:, 0].max() == pytest.approx(30.0, rel=0.02)
    assert dt[1] == pytest.approx(1.0 / 200)  # base duration at least one hour


def test_ponded_excess_bounds_and_return_period():
    cum, dt = flood.triangular_hyetograph(np.array([200.0]), np.array([60.0]))
    cn = np.array([90.0])
    q = flood.scs_runoff_mm(200.0, 90.0)
    assert flood.ponded_excess_mm(cum, dt, cn, np.array([0.0]))[0] == pytest.approx(q)
    assert flood.ponded_excess_mm(cum, dt, cn, np.array([1e6]))[0] == 0.0
    caps = [flood.drainage_capacity_mmh(np.array([rp])) for rp in (1, 3, 10)]
    e = [flood.ponded_excess_mm(cum, dt, cn, cap)[0] for cap in caps]
    assert e[0] > e[1] > e[2] >= 0


def cells(n=3):
    return pd.DataFrame({"lon": np.linspace(120.0, 120.2, n), "lat": np.full(n, 30.0),
                         "area_km2": np.full(n, 4.0), "urban_share": np.linspace(0.9, 0.1, n)})


def test_pluvial_proxy_depth_and_flag():
    c = cells()
    r = flood.pluvial_depth(np.array([250.0, 250.0, 20.0]), np.array([60.0, 60.0, 10.0]), c, drainage_rp=1.0)
    assert r["proxy"] is True and np.isnan(r["water_level_m"]).all()
    f = 0.30 - 0.15 * c.urban_share.to_numpy()
    np.testing.assert_allclose(r["flood_depth_m"], r["excess_mm"] / 1000 / f)
    assert r["flood_depth_m"][0] > 0 and r["flood_depth_m"][2] == 0.0
    cn = flood.curve_number_from_urban_share(c.urban_share)
    np.testing.assert_allclose(r["runoff_mm"], flood.scs_runoff_mm([250, 250, 20], cn))
    # a gauge series gives the same total runoff
    series = np.full((10, 3), 25.0)
    rs = flood.pluvial_depth(None, None, c, rain_series_mm=series, drainage_rp=2.0)
    np.testing.assert_allclose(rs["runoff_mm"], flood.scs_runoff_mm(250.0, cn))
    with pytest.raises(InputError):
        flood.pluvial_depth(np.array([-1.0, 0, 0]), np.array([1.0, 1, 1]), c)
    with pytest.raises(InputError, match="area_km2"):
        flood.pluvial_depth(1.0, 1.0, c.drop(columns="area_km2"))


def test_proxy_site_depths_are_sampled_per_realisation():
    r = {"proxy": True, "flood_depth_m": np.array([0.5, 0.0]), "flooded_fraction": np.array([0.2, 0.0])}
    site_cell = np.zeros(5000, dtype=int)
    d = flood.depth_at_sites(r, site_cell, realisations=4, seed=3)
    assert set(np.unique(d)) <= {0.0, 0.5}
    assert (d > 0).mean() == pytest.approx(0.2, abs=0.02)
    tail = flood.depth_at_sites(r, site_cell, realisations=2, seed=3, first=2)
    np.testing.assert_array_equal(d[2:], tail)
    np.testing.assert_allclose(flood.depth_at_sites(r, site_cell[:3]), 0.1)


def test_fill_level_exact():
    level, k = flood.fill_level(np.array([3.0, 0.0, 2.0, 1.0]), 1.0, 1.5)
    assert (level, k) == (pytest.approx(1.25), 2)
    assert flood.fill_level(np.array([0.0, 1.0]), 2.0, 0.0)[1] == 0


def test_bathtub_on_a_dem_matches_the_ramp_solution(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import Affine

    # a plane rising eastwards from 0 to 10 m across a 2 km x 2 km cell, 400 x 400 pixels
    n = 400
    lat0, lon0 = 30.0, 120.0
    half_deg_lat = 1.0 / 111.19
    half_deg_lon = half_deg_lat / math.cos(math.radians(lat0))
    z = np.tile(np.linspace(0.0, 10.0, n, dtype="float32"), (n, 1))
    tr = Affine(2 * half_deg_lon / n, 0, lon0 - half_deg_lon, 0, -2 * half_deg_lat / n, lat0 + half_deg_lat)
    path = tmp_path / "dem.tif"
    with rasterio.open(path, "w", driver="GTiff", height=n, width=n, count=1, dtype="float32",
                       crs="EPSG:4326", transform=tr) as ds:
        ds.write(z, 1)
    c = pd.DataFrame({"lon": [lon0], "lat": [lat0], "area_km2": [4.0], "urban_share": [0.5], "cn": [98.0]})
    r = flood.pluvial_depth(None, None, c, rain_series_mm=np.array([[300.0]]), drainage_rp=1.0, dem=path)
    assert r["proxy"] is False
    v = r["excess_mm"][0] / 1000 * 4e6  # m3 over the cell
    # continuous ramp: V = 0.5 * H * (H / 10) * 2000 m * 2000 m  =>  H = sqrt(2 * V * 10 / 4e6)
    h = math.sqrt(2 * v * 10 / 4e6)
    assert r["water_level_m"][0] == pytest.approx(h, rel=0.02)
    assert r["flooded_fraction"][0] == pytest.approx(h / 10, rel=0.03)
    assert r["flood_depth_m"][0] == pytest.approx(h / 2, rel=0.03)
    sites_z = flood.sample_dem(path, np.array([lon0 - 0.9 * half_deg_lon, lon0 + 0.9 * half_deg_lon]),
                               np.array([lat0, lat0]))
    d = flood.depth_at_sites(r, np.array([0, 0]), sites_z)
    assert d[0] == pytest.approx(h - sites_z[0], rel=0.03) and d[1] == 0.0
    assert np.isnan(flood.sample_dem(path, np.array([125.0]), np.array([30.0])))[0]
