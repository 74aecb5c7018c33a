"""Save/load round trip, cache, and import from GeoJSON folders and GeoPackages."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from rescity.errors import InputError
from rescity.twin.io import import_layers, load, read, save
from twin_support import tiny, write_layers, zhejiang

TABLES = ("units", "assets", "edges", "dependencies", "service")


def _same(a, b, units=True):
    for name in TABLES:
        if name == "units" and not units:
            continue
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


def test_round_trip_zhejiang(tmp_path):
    t = zhejiang()
    save(t, tmp_path / "tw")
    for f in (
        "units.parquet",
        "assets.parquet",
        "edges.parquet",
        "dependencies.parquet",
        "service.parquet",
        "meta.json",
    ):
        assert (tmp_path / "tw" / f).exists()
    back = load(tmp_path / "tw")
    _same(t, back)
    assert back.meta == t.meta
    assert back.geometry.crs.to_epsg() == 4326
    assert back.geometry.geom_equals_exact(t.geometry, 1e-12).all()
    # the files are GeoParquet: geopandas reads units as polygons and assets as points
    assets = gpd.read_parquet(tmp_path / "tw" / "assets.parquet")
    assert (assets.geom_type == "Point").all()
    assert np.allclose(assets.geometry.x, t.assets["lon"])
    assert set(gpd.read_parquet(tmp_path / "tw" / "units.parquet").geom_type) <= {"Polygon", "MultiPolygon"}


def test_round_trip_without_geometry(tmp_path):
    t = tiny()
    t.geometry = None
    back = load(save(t, tmp_path / "t"))
    _same(t, back)
    assert back.geometry is None and back.meta == {"name": "tiny"}


def test_load_errors(tmp_path):
    with pytest.raises(InputError, match="meta.json"):
        load(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="format"):
        load(tmp_path)


@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
def test_import_layers(tmp_path, fmt):
    t = tiny()
    path = tmp_path / ("layers.gpkg" if fmt == "gpkg" else "layers")
    write_layers(t, path, fmt)
    back = import_layers(path)
    _same(t, back, units=False)
    u = back.units
    pd.testing.assert_frame_equal(
        u.drop(columns=["lon", "lat", "area_km2"]), t.units.drop(columns=["lon", "lat", "area_km2"])
    )
    # lon/lat/area come from the polygons: a 0.05° × 0.05° cell at 30°N is 4.82 km × 5.55 km
    # (1° of longitude = 111.32 cos 30° km, 1° of latitude ≈ 110.9 km at 30°N)
    assert np.allclose(u["lon"], [120.05, 120.05, 120.025, 120.075], atol=1e-4)
    cell_km2 = (0.05 * 111.32 * np.cos(np.radians(30.025))) * (0.05 * 110.86)
    assert np.allclose(u["area_km2"].iloc[2:], cell_km2, rtol=5e-3)
    assert back.geometry is not None and len(back.geometry) == 4


def test_import_infers_system_kind_and_unit(tmp_path):
    t = tiny()
    write_layers(t, tmp_path / "l")
    # drop optional columns: edges without system, assets without unit_id, service without system
    e = pd.read_csv(tmp_path / "l" / "edges.csv").drop(columns=["system"])
    e.to_csv(tmp_path / "l" / "edges.csv", index=False)
    s = pd.read_csv(tmp_path / "l" / "service.csv").drop(columns=["system"])
    s.to_csv(tmp_path / "l" / "service.csv", index=False)
    a = gpd.read_file(tmp_path / "l" / "assets.geojson").drop(columns=["unit_id"])
    a.to_file(tmp_path / "l" / "assets.geojson", driver="GeoJSON")
    back = import_layers(tmp_path / "l")
    assert back.edges["system"].tolist() == t.edges["system"].tolist()
    assert back.service["system"].tolist() == t.service["system"].tolist()
    # the cell that contains each point (cells split at 120.05°E; a point on the line gets either)
    lon = t.assets["lon"].to_numpy()
    got = back.assets["unit_id"].to_numpy()
    assert (got[lon < 120.05] == "C-c0001").all() and (got[lon > 120.05] == "C-c0002").all()
    assert set(got[lon == 120.05]) <= {"C-c0001", "C-c0002"} and (lon == 120.05).any()


def test_import_unknown_kind_is_input_error(tmp_path):
    t = tiny()
    t.assets.loc[2, "kind"] = "substation_66kv"
    write_layers(t, tmp_path / "l")
    with pytest.raises(InputError) as e:
        import_layers(tmp_path / "l")
    assert e.value.field == "kind" and e.value.value == "substation_66kv"
    assert e.value.file.endswith("assets.geojson")
    # not strict: read as is, validate reports it
    assert read(tmp_path / "l").assets.loc[2, "kind"] == "substation_66kv"


def test_import_missing_column_is_input_error(tmp_path):
    t = tiny()
    write_layers(t, tmp_path / "l")
    s = pd.read_csv(tmp_path / "l" / "service.csv").drop(columns=["people"])
    s.to_csv(tmp_path / "l" / "service.csv", index=False)
    with pytest.raises(InputError) as e:
        import_layers(tmp_path / "l")
    assert e.value.field == "people" and "service" in str(e.value)


def test_import_missing_layer_and_bad_path(tmp_path):
    t = tiny()
    write_layers(t, tmp_path / "l")
    (tmp_path / "l" / "assets.geojson").unlink()
    with pytest.raises(InputError, match="assets layer is missing"):
        import_layers(tmp_path / "l")
    with pytest.raises(InputError, match="no such"):
        import_layers(tmp_path / "nothing")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputError, match="GeoPackage"):
        import_layers(tmp_path / "x.txt")


def test_import_unknown_asset_id(tmp_path):
    t = tiny()
    write_layers(t, tmp_path / "l")
    d = pd.read_csv(tmp_path / "l" / "dependencies.csv")
    d.loc[0, "supplier"] = "F9"
    d.to_csv(tmp_path / "l" / "dependencies.csv", index=False)
    with pytest.raises(InputError) as e:
        import_layers(tmp_path / "l")
    assert e.value.field == "supplier" and e.value.value == "F9"
    loose = import_layers(tmp_path / "l", strict=False)
    assert loose.dependencies.loc[0, "supplier"] == -1


def test_default_twin_cache(tmp_path, monkeypatch):
    from rescity.twin import zhejiang as zj

    monkeypatch.setenv("RESCITY_HOME", str(tmp_path))
    calls = []
    real = zj.build_zhejiang

    def counting(**kw):
        calls.append(kw)
        return real(**kw)

    monkeypatch.setattr(zj, "build_zhejiang", counting)
    t1 = zj.default_twin(seed=3, cell_km=20.0)
    assert len(calls) == 1
    cache = tmp_path / "cache" / f"twin-zhejiang-s3-c20-v{zj.GENERATOR_VERSION}"
    assert (cache / "meta.json").exists()
    t2 = zj.default_twin(seed=3, cell_km=20.0)
    assert len(calls) == 1  # from the cache
    _same(t1, t2)
    # a cached copy from another generator version is rebuilt
    m = json.loads((cache / "meta.json").read_text())
    m["meta"]["generator_version"] = "0"
    (cache / "meta.json").write_text(json.dumps(m))
    zj.default_twin(seed=3, cell_km=20.0)
    assert len(calls) == 2
    assert json.loads((cache / "meta.json").read_text())["meta"]["generator_version"] == zj.GENERATOR_VERSION
