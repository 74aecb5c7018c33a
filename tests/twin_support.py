"""Shared helpers of the twin tests: the default twin built once, and a tiny hand-made twin."""

from __future__ import annotations

from functools import lru_cache

import geopandas as gpd
import pandas as pd
import shapely

from rescity.twin.model import Twin, conform


@lru_cache(maxsize=4)
def zhejiang(seed: int = 20190809):
    """The default twin, built once per test session and seed."""
    from rescity.twin.zhejiang import build_zhejiang

    return build_zhejiang(seed=seed)


def tiny() -> Twin:
    """Province → county → two cells of 100 and 50 people; one small network per system."""
    units = pd.DataFrame(
        {
            "unit_id": ["P", "C", "C-c0001", "C-c0002"],
            "level": ["province", "county", "cell", "cell"],
            "parent_id": ["", "P", "C", "C"],
            "name_zh": ["省", "县", "格1", "格2"],
            "name_en": ["Prov", "County", "cell 1", "cell 2"],
            "population": [150, 150, 100, 50],
            "households": [50, 50, 33, 17],
            "lon": [120.05, 120.05, 120.025, 120.075],
            "lat": [30.025, 30.025, 30.025, 30.025],
            "area_km2": [25.0, 25.0, 12.5, 12.5],
        }
    )
    rows = [
        # asset_id, system, kind, lon, lat, unit, is_source, length_km
        ("PP", "power", "power_plant", 120.01, 30.01, "C-c0001", True, 0.0),
        ("L1", "power", "line_110kv", 120.02, 30.01, "C-c0001", False, 2.0),
        ("S1", "power", "substation_110kv", 120.03, 30.01, "C-c0001", False, 0.0),
        ("F1", "power", "feeder_10kv", 120.03, 30.02, "C-c0001", False, 1.0),
        ("F2", "power", "feeder_10kv", 120.07, 30.02, "C-c0002", False, 1.0),
        ("WTP", "water", "treatment_plant", 120.01, 30.03, "C-c0001", True, 0.0),
        ("DN1", "water", "distribution_node", 120.02, 30.03, "C-c0001", False, 0.0),
        ("DN2", "water", "distribution_node", 120.07, 30.03, "C-c0002", False, 0.0),
        ("RH", "road", "road_hub", 120.02, 30.04, "C-c0001", True, 0.0),
        ("LR", "road", "local_road", 120.05, 30.04, "C-c0001", False, 3.0),
        ("RN1", "road", "road_node", 120.025, 30.025, "C-c0001", False, 0.0),
        ("RN2", "road", "road_node", 120.075, 30.025, "C-c0002", False, 0.0),
        ("CORE", "telecom", "core_node", 120.02, 30.045, "C-c0001", True, 0.0),
        ("FIB", "telecom", "fiber_link", 120.04, 30.045, "C-c0001", False, 2.0),
        ("BS1", "telecom", "base_station", 120.02, 30.02, "C-c0001", False, 0.0),
        ("BS2", "telecom", "base_station", 120.08, 30.02, "C-c0002", False, 0.0),
        ("H", "facility", "hospital", 120.02, 30.02, "C-c0001", False, 0.0),
    ]
    a = pd.DataFrame(
        rows, columns=["asset_id", "system", "kind", "lon", "lat", "unit_id", "is_source", "length_km"]
    )
    a["fragility_class"] = "x"
    a["capacity"] = 1.0
    a["capacity_unit"] = "MVA"
    pos = {k: i for i, k in enumerate(a["asset_id"])}
    e = [
        ("power", "PP", "L1"),
        ("power", "L1", "S1"),
        ("power", "S1", "F1"),
        ("power", "S1", "F2"),
        ("water", "WTP", "DN1"),
        ("water", "WTP", "DN2"),
        ("road", "RH", "RN1"),
        ("road", "RN1", "LR"),
        ("road", "LR", "RN2"),
        ("telecom", "CORE", "FIB"),
        ("telecom", "FIB", "BS1"),
        ("telecom", "FIB", "BS2"),
    ]
    edges = pd.DataFrame(
        {"system": [x[0] for x in e], "src": [pos[x[1]] for x in e], "dst": [pos[x[2]] for x in e]}
    )
    d = [
        ("BS1", "F1", "power", 4.0),
        ("BS2", "F2", "power", 4.0),
        ("H", "F1", "power", 48.0),
        ("H", "DN1", "water", 24.0),
    ]
    deps = pd.DataFrame(
        {
            "dependent": [pos[x[0]] for x in d],
            "supplier": [pos[x[1]] for x in d],
            "kind": [x[2] for x in d],
            "buffer_h": [x[3] for x in d],
        }
    )
    s = [
        ("F1", 2, "power", 100.0),
        ("F2", 3, "power", 50.0),
        ("DN1", 2, "water", 100.0),
        ("DN2", 3, "water", 50.0),
        ("RN1", 2, "road", 100.0),
        ("RN2", 3, "road", 50.0),
        ("BS1", 2, "telecom", 100.0),
        ("BS2", 3, "telecom", 50.0),
    ]
    svc = pd.DataFrame(
        {
            "terminal": [pos[x[0]] for x in s],
            "unit": [x[1] for x in s],
            "system": [x[2] for x in s],
            "people": [x[3] for x in s],
        }
    )
    geom = gpd.GeoSeries(
        [
            shapely.box(120.0, 30.0, 120.1, 30.05),
            shapely.box(120.0, 30.0, 120.1, 30.05),
            shapely.box(120.0, 30.0, 120.05, 30.05),
            shapely.box(120.05, 30.0, 120.1, 30.05),
        ],
        crs="EPSG:4326",
    )
    return Twin(
        units=conform(units, "units"),
        assets=conform(a, "assets"),
        edges=conform(edges, "edges"),
        dependencies=conform(deps, "dependencies"),
        service=conform(svc, "service"),
        meta={"name": "tiny"},
        geometry=geom,
    )


def write_layers(twin: Twin, folder, fmt: str = "geojson") -> None:
    """Write ``twin`` as id-referencing layers: GeoJSON files in ``folder`` or one GeoPackage."""
    ids = twin.assets["asset_id"].to_numpy(object)
    uids = twin.units["unit_id"].to_numpy(object)
    units = gpd.GeoDataFrame(
        twin.units.drop(columns=["lon", "lat", "area_km2"]), geometry=twin.geometry.values, crs="EPSG:4326"
    )
    assets = gpd.GeoDataFrame(
        twin.assets.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(twin.assets["lon"], twin.assets["lat"]),
        crs="EPSG:4326",
    )
    edges = pd.DataFrame(
        {"system": twin.edges["system"], "src": ids[twin.edges["src"]], "dst": ids[twin.edges["dst"]]}
    )
    deps = pd.DataFrame(
        {
            "dependent": ids[twin.dependencies["dependent"]],
            "supplier": ids[twin.dependencies["supplier"]],
            "kind": twin.dependencies["kind"],
            "buffer_h": twin.dependencies["buffer_h"],
        }
    )
    svc = pd.DataFrame(
        {
            "terminal": ids[twin.service["terminal"]],
            "unit": uids[twin.service["unit"]],
            "system": twin.service["system"],
            "people": twin.service["people"],
        }
    )
    layers = {"units": units, "assets": assets, "edges": edges, "dependencies": deps, "service": svc}
    if fmt == "gpkg":
        import pyogrio

        for name, df in layers.items():
            if isinstance(df, gpd.GeoDataFrame):
                df.to_file(folder, layer=name, driver="GPKG")
            else:
                pyogrio.write_dataframe(df, folder, layer=name, driver="GPKG")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        for name, df in layers.items():
            if isinstance(df, gpd.GeoDataFrame):
                df.to_file(folder / f"{name}.geojson", driver="GeoJSON")
            else:
                df.to_csv(folder / f"{name}.csv", index=False)
