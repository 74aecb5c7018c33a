"""River inundation from station levels, parametric storm surge, and combining depths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rescity.errors import InputError
from rescity.hazard import flood

STATIONS = pd.DataFrame(
    {
        "station_id": ["qiantang", "ou"],
        "lon": [120.20, 120.70],
        "lat": [30.20, 28.00],
        "water_level_m": [7.5, 3.0],
        "warning_level_m": [6.0, 4.0],  # the second station is below its warning stage
    }
)


def km_east(lon, lat, km):
    return lon + km / (111.19 * np.cos(np.radians(lat)))


def test_river_floods_low_ground_near_stations_above_warning():
    lon = np.array([km_east(120.2, 30.2, 1.0), km_east(120.2, 30.2, 2.0), km_east(120.2, 30.2, 9.0),
                    km_east(120.7, 28.0, 1.0)])
    lat = np.array([30.2, 30.2, 30.2, 28.0])
    z = np.array([5.0, 8.0, 2.0, 1.0])
    r = flood.river_depth(lon, lat, STATIONS, z, reach_km=5.0)
    assert r["proxy"] is False
    # level - ground; ground above the level; beyond the reach; station below warning
    np.testing.assert_allclose(r["flood_depth_m"], [2.5, 0.0, 0.0, 0.0])
    assert r["station"].tolist() == [0, 0, 0, 1]


def test_river_proxy_without_elevations_decays_with_distance():
    lon = np.array([km_east(120.2, 30.2, d) for d in (0.0, 2.5, 5.0, 6.0)])
    r = flood.river_depth(lon, np.full(4, 30.2), STATIONS, None, reach_km=5.0)
    assert r["proxy"] is True
    np.testing.assert_allclose(r["flood_depth_m"], [1.5, 0.75, 0.0, 0.0], atol=0.01)
    with pytest.raises(InputError, match="warning_level_m"):
        flood.river_depth(lon, np.full(4, 30.2), STATIONS.drop(columns="warning_level_m"))


def test_station_specific_reach():
    st = STATIONS.assign(reach_km=[20.0, 5.0])
    r = flood.river_depth(np.array([km_east(120.2, 30.2, 9.0)]), np.array([30.2]), st, np.array([2.0]))
    assert r["flood_depth_m"][0] == pytest.approx(5.5)


def test_surge_height_inverse_barometer_and_wind_setup():
    # inverse barometer: dp / (rho_w g) = 5000 Pa / (1025 * 9.81) = 0.497 m for a 50 hPa deficit
    assert flood.surge_height_m(50.0, 0.0, 30.0) == pytest.approx(5000 / (1025 * 9.81))
    # wind setup rho_a Cd U^2 L / (rho_w g h): 1.2 * 2.5e-3 * 40^2 * 60 km / (1025 * 9.81 * 30 m)
    setup = 1.2 * 2.5e-3 * 40**2 * 60_000 / (1025 * 9.81 * 30)
    assert flood.surge_height_m(0.0, 40.0, 30.0) == pytest.approx(setup)
    assert flood.surge_height_m(50.0, 40.0, 30.0, shelf_depth_m=15.0) > flood.surge_height_m(50.0, 40.0, 30.0)
    with pytest.raises(InputError):
        flood.surge_height_m(50.0, 40.0, 0.0)


def test_surge_depth_bathtub_decay():
    lf_lon, lf_lat = 121.4, 28.4  # landfall near Wenling
    lon = np.array([lf_lon, lf_lon, km_east(lf_lon, lf_lat, 120.0), lf_lon])
    lat = np.array([lf_lat, lf_lat, lf_lat, lf_lat])
    z = np.array([0.5, 0.5, 0.5, 3.0])
    coast = np.array([0.0, 5.0, 0.0, 0.0])
    d = flood.surge_depth(lon, lat, z, coast, lf_lon, lf_lat, height_m=2.0, rmax_km=30.0)
    assert d[0] == pytest.approx(1.5)
    assert d[1] == pytest.approx(2.0 - 0.5 - 0.1 * 5.0)
    assert d[2] == pytest.approx(max(2.0 * np.exp(-((120.0 / 60.0) ** 2)) - 0.5, 0.0), abs=0.01)
    assert d[3] == 0.0


def test_combine_depths_is_the_maximum():
    d = flood.combine_depths([0.1, 0.5, 0.0], [0.3, 0.2, 0.0], 0.05)
    np.testing.assert_array_equal(d, [0.3, 0.5, 0.05])
