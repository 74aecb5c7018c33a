"""The damage combination rule; earthquake sequences."""

from __future__ import annotations

import numpy as np
import pytest

from rescity.hazard.earthquake import EarthquakeSource
from rescity.hazard.scenario import (
    EarthquakeScenario,
    combine_damage,
    damage_drivers,
    earthquake_fields,
)


def test_earthquake_scenario_from_the_cli_form():
    eq = EarthquakeScenario.from_text("30.2,120.1,10,6.5", ["30.25,120.15,8,5.6"])
    assert len(eq.events()) == 2 and eq.events()[1].delay_h == 1.0
    assert isinstance(eq.mainshock, EarthquakeSource) and eq.mainshock.name == "mainshock"
    assert eq.region == "china_turkey"
    assert EarthquakeScenario.model_validate(eq.model_dump()) == eq


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
        mainshock=EarthquakeSource(lat=30.0, lon=120.0, depth_km=10, mw=6.5),
        aftershocks=[EarthquakeSource(lat=30.05, lon=120.05, depth_km=8, mw=5.5, delay_h=12)],
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

    mid = [ground_motion(e, [120.025], [30.025], 500.0)["pga_g"][0] for e in sc.events()]
    assert mid[0] > mid[1]  # the M6.5 shakes harder than the M5.5 at a point between them
    with pytest.raises(Exception):  # noqa: B017 - pydantic wraps the model's InputError
        EarthquakeScenario(mainshock=EarthquakeSource(lat=30, lon=120, depth_km=10, mw=7.5, mechanism="normal"))
