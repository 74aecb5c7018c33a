"""Twin-derived infrastructure indicators on a small hand-built twin."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rescity.assess.infrastructure import (
    EARTH_RADIUS_KM,
    ancestor_at,
    hospital_backup_h,
    hospital_beds_per_1000,
    nearest_distance_km,
    redundant_feed_share,
    shelter_capacity_per_resident,
    shelter_reach_share,
    simulation_indicators,
    supply_buffer_h,
    telecom_backup_h,
    twin_indicators,
)
from rescity.errors import InputError
from rescity.twin.model import Twin, conform


def small_twin() -> Twin:
    """Two counties: A (330102; cells A1, A2) and B (330103; cell B1)."""
    units = conform(
        pd.DataFrame(
            {
                "unit_id": ["33", "330102", "330103", "330102-c1", "330102-c2", "330103-c1"],
                "level": ["province", "county", "county", "cell", "cell", "cell"],
                "parent_id": ["", "33", "33", "330102", "330102", "330103"],
                "name_zh": ["浙江", "甲", "乙", "", "", ""],
                "name_en": ["Zhejiang", "A", "B", "", "", ""],
                "population": [300_000, 100_000, 200_000, 60_000, 40_000, 200_000],
                "households": [0, 40_000, 50_000, 0, 0, 0],
                "lon": [120.5, 120.05, 121.0, 120.0, 120.1, 121.0],
                "lat": [30.0, 30.0, 30.0, 30.0, 30.0, 30.0],
                "area_km2": [0, 100.0, 400.0, 50, 50, 400],
            }
        ),
        "units",
    )
    a = [
        # asset_id, system, kind, lon, lat, unit_id, capacity, capacity_unit, backup_h
        ("s1", "power", "substation_110kv", 120.0, 30.0, "330102-c1", 50, "MVA", 0),
        ("s2", "power", "substation_110kv", 120.0, 30.0, "330102-c1", 50, "MVA", 0),
        ("p1", "water", "pump_station", 120.0, 30.0, "330102-c1", 1e4, "m3/d", 0),
        ("b1", "telecom", "base_station", 120.1, 30.0, "330102-c2", 500, "subscribers", 4),
        ("h1", "facility", "hospital", 120.0, 30.0, "330102-c1", 300, "beds", 24),
        ("h2", "facility", "hospital", 120.1, 30.0, "330102-c2", 100, "beds", 72),
        ("sh1", "facility", "shelter", 120.0, 30.0, "330102-c1", 500, "people", 0),
        ("b2", "telecom", "base_station", 121.0, 30.0, "330103-c1", 500, "subscribers", 2),
        ("s3", "power", "substation_110kv", 121.0, 30.0, "330103-c1", 50, "MVA", 0),
        ("sh2", "facility", "shelter", 121.0, 30.03, "330103-c1", 300, "people", 0),
        ("sh0", "facility", "shelter", 120.1, 30.0, "330102-c2", 0, "people", 0),  # capacity 0: ignored
    ]
    assets = conform(
        pd.DataFrame(
            a,
            columns=[
                "asset_id",
                "system",
                "kind",
                "lon",
                "lat",
                "unit_id",
                "capacity",
                "capacity_unit",
                "backup_h",
            ],
        ),
        "assets",
    )
    deps = [
        (2, 0, "power", 2.0),
        (2, 1, "power", 2.0),  # p1 <- s1, s2: redundant
        (3, 0, "power", 4.0),  # b1 <- s1 only
        (4, 0, "power", 24.0),
        (4, 1, "power", 24.0),
        (4, 2, "water", 12.0),  # h1: one water supplier
        (5, 0, "power", 72.0),
        (5, 1, "power", 72.0),  # h2: redundant
        (7, 8, "power", 2.0),  # b2 <- s3 only
    ]
    dependencies = conform(
        pd.DataFrame(deps, columns=["dependent", "supplier", "kind", "buffer_h"]), "dependencies"
    )
    edges = conform(pd.DataFrame({"system": ["power"], "src": [0], "dst": [1]}), "edges")
    service = conform(
        pd.DataFrame({"terminal": [0], "unit": [3], "system": ["power"], "people": [60_000.0]}), "service"
    )
    return Twin(units, assets, edges, dependencies, service, meta={"name": "small"})


def test_ancestor_at_walks_parent_codes():
    t = small_twin()
    got = ancestor_at(t, ["330102-c2", "330103", "330103-c1", "33", "nowhere"], "county")
    assert list(got) == ["330102", "330103", "330103", "", ""]


def test_redundant_feed_share():
    r = redundant_feed_share(small_twin())
    # A: p1 yes, b1 no, h1 no (single water supplier), h2 yes -> 2/4; B: b2 no -> 0
    assert r["330102"] == pytest.approx(0.5)
    assert r["330103"] == pytest.approx(0.0)


def test_backup_beds_buffers_and_shelters():
    t = small_twin()
    hb = hospital_backup_h(t)
    assert hb["330102"] == pytest.approx((300 * 24 + 100 * 72) / 400)  # bed-weighted
    assert np.isnan(hb["330103"])  # no hospital
    assert hospital_beds_per_1000(t)["330102"] == pytest.approx(400 / 100_000 * 1000)
    assert hospital_beds_per_1000(t)["330103"] == pytest.approx(0.0)
    assert telecom_backup_h(t).to_dict() == {"330102": 4.0, "330103": 2.0}
    sb = supply_buffer_h(t)
    assert sb["330102"] == pytest.approx(np.mean([2, 2, 4, 24, 24, 12, 72, 72]))
    assert sb["330103"] == pytest.approx(2.0)
    sc = shelter_capacity_per_resident(t)
    assert sc["330102"] == pytest.approx(500 / 100_000)
    assert sc["330103"] == pytest.approx(300 / 200_000)


def test_great_circle_distance():
    # 0.03° of latitude: R · 0.03 · π/180 (a meridian arc on the sphere)
    d = nearest_distance_km(np.array([121.0]), np.array([30.0]), np.array([121.0]), np.array([30.03]))
    assert d[0] == pytest.approx(EARTH_RADIUS_KM * math.radians(0.03), rel=1e-9)
    # 0.1° of longitude at 30°N: haversine by hand
    lat = math.radians(30.0)
    dl = math.radians(0.1)
    h = math.cos(lat) ** 2 * math.sin(dl / 2) ** 2
    d = nearest_distance_km(np.array([120.1]), np.array([30.0]), np.array([120.0]), np.array([30.0]))
    assert d[0] == pytest.approx(2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h)), rel=1e-9)


def test_shelter_reach_within_ten_minutes():
    t = small_twin()
    # 30 km/h for 10 min = 5 km of road = 3.85 km straight at detour 1.3:
    # A1 is at its shelter, A2 is 9.6 km away, B1 is 3.34 km from sh2
    r = shelter_reach_share(t)
    assert r["330102"] == pytest.approx(60_000 / 100_000)
    assert r["330103"] == pytest.approx(1.0)
    # at 20 km/h (2.56 km straight) B1 is out of reach
    assert shelter_reach_share(t, speed_kmh=20.0)["330103"] == pytest.approx(0.0)


def test_simulation_indicators_from_cells():
    t = small_twin()
    res = pd.DataFrame(
        {
            "unit_id": ["330102-c1", "330102-c2", "330103-c1"],
            "population": [60_000, 40_000, 200_000],
            "affected_mean": [6_000.0, 1_000.0, 50_000.0],
            "resilience_loss_h": [10.0, 5.0, 20.0],
        }
    )
    v = twin_indicators(t, res).pivot(index="unit_id", columns="indicator", values="value")
    assert v.loc["330102", "in_affected_share"] == pytest.approx(7_000 / 100_000)
    assert v.loc["330103", "in_affected_share"] == pytest.approx(0.25)
    assert v.loc["330102", "in_resilience_loss_h"] == pytest.approx((60_000 * 10 + 40_000 * 5) / 100_000)
    assert v.loc["330102", "in_redundant_feed_share"] == pytest.approx(0.5)
    assert "in_hospital_backup_h" in v.columns and np.isnan(v.loc["330103", "in_hospital_backup_h"])


def test_simulation_results_need_known_units():
    pop = pd.Series({"330102": 1e5})
    with pytest.raises(InputError, match="no unit_id"):
        simulation_indicators(pd.DataFrame({"unit_id": ["x"], "affected_mean": [1.0]}), pop)
    with pytest.raises(InputError, match="none of"):
        simulation_indicators(pd.DataFrame({"unit_id": ["330102"], "foo": [1.0]}), pop)
