"""Map helpers of the dashboard on small hand-made tables: values of a frame, Q(t), decisions,
assets per view, GeoJSON of units."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely

from rescity.errors import InputError
from rescity.web import geo, layers


def issuance_table() -> pd.DataFrame:
    rows = []
    for issued in ("2019-08-08T12:00:00Z", "2019-08-09T00:00:00Z"):
        for lead in (48, 24):
            for uid, w in (("A", 1), ("B", 4)):
                rows.append(
                    {"issued": issued, "lead_h": lead, "unit_id": uid, "level": "county", "indicator": "composite",
                     "mean": float(w) + lead / 100, "p05": 0.0, "p95": 5.0, "warning": w}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_frames_and_default_frame():
    t = issuance_table()
    f = layers.issuance_frames(t)
    assert [(x["issued"][:13], x["lead_h"]) for x in f["frames"]] == [
        ("2019-08-08T12", 24),
        ("2019-08-09T00", 24),  # valid to 08-10 00:00, before 08-10 12:00
        ("2019-08-08T12", 48),
        ("2019-08-09T00", 48),
    ]
    v = layers.issuance_values(t)
    assert v["issued"] == "2019-08-09T00:00:00Z" and v["lead_h"] == 24
    assert v["values"]["A"] == {"value": 1.24, "p05": 0.0, "p95": 5.0, "warning": "blue"}
    assert v["values"]["B"]["warning"] == "red" and v["range"] == [1.24, 4.24]
    v = layers.issuance_values(t, issued="2019-08-08 12:00", lead_h=48)
    assert v["values"]["A"]["value"] == pytest.approx(1.48)
    with pytest.raises(InputError, match="no such indicator"):
        layers.issuance_values(t, indicator="relocate")
    with pytest.raises(InputError, match="lacks columns"):
        layers.issuance_frames(t.drop(columns="warning"))


def test_qt_long_table_by_system():
    t = pd.DataFrame(
        {"unit_id": ["A"] * 4 + ["B"] * 2, "system": ["power", "power", "water", "water", "power", "power"],
         "t_h": [0, 12, 0, 12, 0, 12], "q": [0.5, 1.0, 0.8, 1.0, 0.2, 0.4]}
    )  # fmt: skip
    q = layers.qt_series(t, "A")
    assert q == {
        "available": True,
        "unit_id": "A",
        "t_h": [0.0, 12.0],
        "series": {"power": [0.5, 1.0], "water": [0.8, 1.0]},
    }
    assert layers.qt_series(t, "C")["available"] is False
    assert layers.qt_series(t, None)["available"] is False


def test_qt_wide_table_and_json():
    t = pd.DataFrame({"t_h": [24, 0, 12], "q": [1.0, 0.4, 0.7], "q_p05": [0.9, 0.2, 0.5]})
    q = layers.qt_series(t)
    assert q["t_h"] == [0.0, 12.0, 24.0] and q["series"] == {"q": [0.4, 0.7, 1.0], "q_p05": [0.2, 0.5, 0.9]}
    q = layers.qt_series({"t_h": [0, 1], "q": [0.5, float("nan")]})
    assert q["series"] == {"q": [0.5, None]}
    assert layers.qt_series(pd.DataFrame({"x": [1]}))["available"] is False


def test_decision_layer_places_rows_and_counts_the_rest():
    unit_xy = {"U1": (120.0, 30.0), "U2": (121.0, 29.0)}
    asset_xy = {"S1": (120.1, 30.1), "D1": (121.2, 29.2)}
    asset_unit = {"S1": "U1", "D1": "U2", "S9": "U2"}
    body = {
        "assignments": [
            {"unit_id": "U1", "shelter_id": "S1", "people": 100, "minutes": 5},
            {"unit_id": "U2", "shelter_id": "S9", "people": 20, "minutes": 9},  # S9: no position → its unit
            {"unit_id": "U404", "shelter_id": "S1", "people": 1, "minutes": 1},  # unknown unit
        ],
        "depots": [
            {"depot_id": "D1", "open": True, "capacity_m3": 10, "volume_m3": 4},
            {"depot_id": "D2", "open": False},
        ],
        "flows": [{"depot_id": "D1", "unit_id": "U1", "commodity": "water", "amount": 3.0}],
    }
    fc = layers.decision_layer(body, unit_xy, asset_xy, asset_unit)
    kinds = [f["properties"]["layer"] for f in fc["features"]]
    assert kinds.count("assignment") == 2 and kinds.count("shelter") == 2 and kinds.count("depot") == 1
    assert kinds.count("flow") == 1 and fc["skipped"] == 1
    a2 = [
        f
        for f in fc["features"]
        if f["properties"].get("shelter_id") == "S9" and f["properties"]["layer"] == "assignment"
    ][0]
    assert (
        a2["geometry"]["coordinates"] == [[121.0, 29.0], [121.0, 29.0]] and a2["properties"]["approx"] is True
    )
    assert layers.layer_kinds(body) == ["shelters", "depots"]
    fc = layers.decision_layer(body, unit_xy, asset_xy, asset_unit, exact_assets=False)
    dep = [f for f in fc["features"] if f["properties"]["layer"] == "depot"][0]
    assert dep["geometry"]["coordinates"] == [121.0, 29.0] and dep["properties"]["approx"] is True


def test_decision_bodies_from_the_decide_plans():
    from rescity.decide.relocate import RelocationPlan

    plan = RelocationPlan(
        assignments=pd.DataFrame({"unit_id": ["U1"], "shelter_id": ["S1"], "people": [np.int64(7)], "minutes": [3.5]}),
        by_unit=pd.DataFrame(),
        shelters=pd.DataFrame({"shelter_id": ["S1", "S2"], "unit_id": ["U1", "U1"], "capacity": [10, 5], "assigned": [7, 0],
                               "utilisation": [0.7, 0.0]}),
        summary={"assigned": 7},
    )  # fmt: skip
    body = layers.relocation_body(plan)
    assert body["assignments"] == [{"unit_id": "U1", "shelter_id": "S1", "people": 7, "minutes": 3.5}]
    assert [s["shelter_id"] for s in body["shelters"]] == ["S1"]
    json.dumps(body)  # plain JSON types only


def index(system, lon, lat, unit_lon=None, unit_lat=None) -> geo.AssetIndex:
    n = len(system)
    return geo.AssetIndex(
        asset_id=np.array([f"a{i}" for i in range(n)], dtype=object),
        system=np.array(system, dtype=object),
        kind=np.array(["k"] * n, dtype=object),
        name=np.array([""] * n, dtype=object),
        unit_id=np.array(["u"] * n, dtype=object),
        lon=np.array(lon, float),
        lat=np.array(lat, float),
        unit_lon=np.array(unit_lon if unit_lon is not None else lon, float),
        unit_lat=np.array(unit_lat if unit_lat is not None else lat, float),
    )


def test_cell_size_follows_web_mercator_pixels():
    assert geo.cell_size_deg(0, 256) == 360.0  # the whole world is 256 px wide at zoom 0
    assert geo.cell_size_deg(3, 48) == pytest.approx(360 / 2048 * 48)


def test_assets_in_view_points_then_cells():
    idx = index(["power"] * 4 + ["water"], [0.1, 0.2, 5.5, 9.0, 0.15], [0.1, 0.2, 5.5, 9.0, 0.15])
    status = np.array([1, 0, 2, 2, 1], np.int8)  # down, up, unknown, unknown, down
    full = {"power": "full", "water": "full"}
    v = geo.assets_in_view(idx, status, full, (0, 0, 6, 6), 0)
    assert v["mode"] == "points" and v["total"] == 4
    assert sorted(f["properties"]["asset_id"] for f in v["features"]) == ["a0", "a1", "a2", "a4"]
    # one point allowed: cells of 3° (zoom 0, 2.1333 px) → (0,0) holds a0, a1, a4; (1,1) holds a2
    d_px = 3.0 / 360.0 * 256
    v = geo.assets_in_view(idx, status, full, (0, 0, 6, 6), 0, max_points=1, cell_px=d_px)
    cells = sorted((f["properties"] for f in v["features"]), key=lambda p: -p["count"])
    assert v["mode"] == "clusters" and [c["count"] for c in cells] == [3, 1]
    assert (cells[0]["down"], cells[0]["up"], cells[0]["unknown"]) == (2, 1, 0)
    assert cells[0]["by_system"] == {"power": 2, "water": 1}
    big = next(f for f in v["features"] if f["properties"]["count"] == 3)
    assert big["geometry"]["coordinates"] == pytest.approx([0.15, 0.15])  # mean of a0, a1, a4
    v = geo.assets_in_view(idx, status, full, (0, 0, 6, 6), 0, only_status="down")
    assert v["total"] == 2


def test_status_only_assets_are_counted_at_their_unit():
    idx = index(["power", "water"], [1.0, 1.0], [1.0, 1.0], unit_lon=[2.0, 2.0], unit_lat=[2.0, 2.0])
    status = np.zeros(2, np.int8)
    v = geo.assets_in_view(idx, status, {"power": "status", "water": "full"}, (0, 0, 3, 3), 5)
    pts = [f for f in v["features"] if "asset_id" in f["properties"]]
    cells = [f for f in v["features"] if "count" in f["properties"]]
    assert [p["properties"]["asset_id"] for p in pts] == ["a1"]
    assert (
        len(cells) == 1
        and cells[0]["geometry"]["coordinates"] == [2.0, 2.0]
        and cells[0]["properties"]["approx"]
    )
    # outside the view by its unit's centre, though the asset itself is inside
    v = geo.assets_in_view(idx, status, {"power": "status"}, (0, 0, 1.5, 1.5), 5)
    assert v["total"] == 0
    v = geo.assets_in_view(idx, status, {"water": "full"}, (0, 0, 3, 3), 5)
    assert v["access"] == {"water": "full"} and v["total"] == 1


def test_units_geojson_with_and_without_polygons():
    u = pd.DataFrame(
        {"unit_id": ["P", "C1", "C2"], "level": ["prefecture", "county", "county"], "parent_id": ["", "P", "P"],
         "name_zh": ["市", "一县", "二县"], "name_en": ["City", "One", "Two"], "lon": [0.5, 0.25, 0.75],
         "lat": [0.5, 0.5, 0.5]}
    )  # fmt: skip
    sq = shapely.box(0, 0, 0.5, 1.0)
    g = np.array([shapely.box(0, 0, 1, 1), sq, None], dtype=object)
    fc = json.loads(geo.units_geojson(u, g, "county", values={"C1": {"value": 3.0, "warning": "red"}}))
    f1, f2 = fc["features"]
    assert f1["id"] == "C1" and f1["geometry"]["type"] == "Polygon"
    assert shapely.from_geojson(json.dumps(f1["geometry"])).equals(sq)
    assert f1["properties"]["name_zh"] == "一县" and f1["properties"]["warning"] == "red"
    assert f2["geometry"] == {"type": "Point", "coordinates": [0.75, 0.5]}  # no polygon: its centroid
    fc = json.loads(geo.units_geojson(u, None))
    assert [f["geometry"]["type"] for f in fc["features"]] == ["Point"] * 3
