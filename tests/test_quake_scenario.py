"""Scenarios that combine hazards; the damage combination rule; earthquake sequences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rescity.errors import InputError
from rescity.hazard.scenario import (
    EarthquakeScenario,
    QuakeEvent,
    Scenario,
    combine_damage,
    damage_drivers,
    earthquake_fields,
    flood_fields,
    parse_hazards,
)


def test_parse_hazards():
    assert parse_hazards("wind,rain,flood") == ["wind", "rain", "flood"]
    assert parse_hazards("wind, flood") == ["wind", "rain", "flood"]  # flood needs rain
    assert parse_hazards(["surge", "wind", "wind"]) == ["surge", "wind"]
    with pytest.raises(InputError, match="unknown hazard"):
        parse_hazards("wind,lava")
    with pytest.raises(InputError):
        parse_hazards(" , ")


def test_scenarios_from_cli_options():
    ty = Scenario.from_cli(sn="201910", hazards="wind,rain,flood")
    assert ty.hazard.kind == "typhoon" and ty.hazard.hazards == ["wind", "rain", "flood"]
    eq = Scenario.from_cli(quake="30.2,120.1,10,6.5", aftershocks=["30.25,120.15,8,5.6"])
    assert eq.hazard.kind == "earthquake" and len(eq.hazard.events()) == 2
    assert eq.hazard.region == "china_turkey"
    again = Scenario.load(eq.model_dump())
    assert again == eq
    for kwargs, field in [
        (dict(quake="30,120,10,9.4"), "Mw"),
        (dict(quake="30,120,-2,6"), "depth_km"),
        (dict(sn="201910", quake="30,120,10,6"), "quake"),
        (dict(hazards="wind"), "sn"),
        (dict(sn="201910", hazards="wind", drainage_rp=-1), "drainage_rp"),
    ]:
        with pytest.raises(InputError) as e:
            Scenario.from_cli(**kwargs)
        assert e.value.field == field


def test_max_of_independent_states_is_the_union_rule():
    rng = np.random.default_rng(0)
    n = 200_000
    p_wind, p_flood = 0.3, 0.2  # P(DS >= 2) of each hazard alone
    u1, u2 = rng.random(n), rng.random(n)
    wind = np.where(u1 < p_wind, 2, 0).astype(np.int8)
    fl = np.where(u2 < p_flood, 3, 0).astype(np.int8)
    combined, driver = combine_damage({"wind": wind, "flood": fl})
    assert (combined >= 2).mean() == pytest.approx(1 - (1 - p_wind) * (1 - p_flood), abs=0.005)
    assert (combined == np.maximum(wind, fl)).all()
    assert set(np.unique(driver)) == {-1, 0, 1}
    assert (driver[fl == 3] == 1).all() and (driver[(wind == 2) & (fl == 0)] == 0).all()


def test_damage_drivers_per_unit():
    states = {
        "wind": np.array([[2, 0, 0, 1], [1, 0, 0, 1]], dtype=np.int8),
        "flood": np.array([[1, 3, 0, 0], [0, 2, 0, 0]], dtype=np.int8),
    }
    df = damage_drivers(states, asset_unit=np.array([0, 1, 1, 2]), n_units=4)
    assert df.driver.tolist() == ["wind", "flood", "wind", ""]
    assert df.loc[0, "share_wind"] == pytest.approx(1.0)  # max(2,1)=2 and max(1,0)=1 both from wind
    assert df.loc[1, "damage_points"] == pytest.approx(5.0)
    assert df.loc[3, "damage_points"] == 0


def test_earthquake_sequence_fields_are_independent_and_reproducible():
    sc = EarthquakeScenario(
        mainshock=QuakeEvent(lat=30.0, lon=120.0, depth_km=10, mw=6.5),
        aftershocks=[QuakeEvent(lat=30.05, lon=120.05, depth_km=8, mw=5.5, delay_h=12)],
        vs30=500.0,
    )
    rng = np.random.default_rng(1)
    lon, lat = 120 + rng.uniform(0, 0.3, 50), 30 + rng.uniform(0, 0.3, 50)
    a = earthquake_fields(sc, lon, lat, 20, seed=7)
    b = earthquake_fields(sc, lon, lat, 20, seed=7)
    assert len(a) == 2 and a[0]["pga_g"].shape == (20, 50)
    np.testing.assert_array_equal(a[1]["pga_g"], b[1]["pga_g"])
    ln0 = np.log(a[0]["pga_g"]).mean(axis=1)
    ln1 = np.log(a[1]["pga_g"]).mean(axis=1)
    assert abs(np.corrcoef(ln0, ln1)[0, 1]) < 0.6  # different streams per event
    from rescity.hazard.earthquake import ground_motion

    mid = [ground_motion(e.source(), [120.025], [30.025], 500.0)["pga_g"][0] for e in sc.events()]
    assert mid[0] > mid[1]  # the M6.5 shakes harder than the M5.5 at a point between them
    with pytest.raises(Exception):  # noqa: B017 - pydantic wraps the model's InputError
        EarthquakeScenario(mainshock=QuakeEvent(lat=30, lon=120, depth_km=10, mw=7.5, mechanism="normal"))


def test_flood_fields_from_precomputed_rain_and_stations(tmp_path):
    cells = pd.DataFrame({"lon": [120.20, 120.60], "lat": [30.20, 30.20], "area_km2": [4.0, 4.0],
                          "urban_share": [0.9, 0.3], "elevation_m": [5.0, 5.0]})
    st = tmp_path / "stations.csv"
    st.write_text("station_id,lon,lat,water_level_m,warning_level_m\nS1,120.21,30.2,7.0,6.0\n")
    sc = Scenario.from_cli(sn="201910", hazards="wind,flood", stations_file=st).hazard
    res = flood_fields(sc, np.array([30.0, 30.0]), np.array([10.0, 10.0]), cells,
                       cell_elevation_m=cells.elevation_m.to_numpy())
    assert res["pluvial_depth_m"].tolist() == [0.0, 0.0]  # light rain, drains cope
    assert res["river_depth_m"][0] == pytest.approx(2.0) and res["river_depth_m"][1] == 0.0
    assert res["flood_depth_m"].tolist() == pytest.approx([2.0, 0.0]) and res["proxy"] is True
