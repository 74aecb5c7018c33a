"""The real power backbone: the voltage rule, every tagged ≥ 220 kV substation at its real place,
totals against State Grid Zhejiang's published figures, provenance through GeoParquet, and the
synthetic builder unchanged."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rescity import data
from rescity.twin.backbone import AREA_220KV_M2, AREA_500KV_M2, infer_voltage, merge_nearby
from rescity.twin.io import import_layers, load, save
from rescity.twin.model import REAL_SOURCES
from rescity.twin.stats import grid_stats
from twin_support import tiny, write_layers, zhejiang

NAN = np.nan


def _haversine_m(lon1, lat1, lon2, lat2):
    """Great-circle distance, m (R = 6,371 km)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * np.arcsin(np.sqrt(h))


# -- the voltage rule on hand-made cases -----------------------------------------------------------
def test_voltage_rule_takes_the_first_evidence_in_order():
    kv, rule = infer_voltage(
        tag_kv=[220, NAN, NAN, NAN, NAN, NAN, NAN, 500],
        gridkit_tag_kv=[500, 500, NAN, NAN, NAN, NAN, NAN, NAN],
        line_kv=[500, 220, 500, 0, 0, 0, 0, 0],
        area_m2=[100, 100, 100, 80_000, 20_000, 5_000, NAN, 100],
    )
    np.testing.assert_array_equal(kv, [220, 500, 500, 500, 220, NAN, NAN, 500])
    assert list(rule) == [
        "osm voltage tag",  # the OSM tag wins over GridKit's tag and lines
        "gridkit voltage tag",  # then the GridKit substation's tag
        "connected gridkit lines",  # then the lines that end there
        "area",  # a large polygon: 500 kV
        "area",  # a mid-sized polygon: 220 kV
        "",  # a small polygon: below 220 kV
        "",  # no evidence at all
        "osm voltage tag",
    ]


def test_area_thresholds_sit_between_the_tagged_medians():
    """The area rule's thresholds separate the medians of tagged substations of the region."""
    osm = pd.read_csv(data.path("odbl/power_sites.csv"))
    tagged = osm[osm["voltage_rule"] == "osm voltage tag"]
    med500 = tagged.loc[tagged["voltage_kv"] == 500, "area_m2"].median()
    med220 = tagged.loc[tagged["voltage_kv"] == 220, "area_m2"].median()
    assert med220 < AREA_500KV_M2 < med500
    assert AREA_220KV_M2 < med220
    kv, _ = infer_voltage([NAN] * 3, [NAN] * 3, [0] * 3, [AREA_500KV_M2, AREA_220KV_M2, AREA_220KV_M2 - 1])
    np.testing.assert_array_equal(kv, [500, 220, NAN])


def test_proximity_folds_area_only_polygons_into_nearby_sites():
    xy = np.array(
        [
            [0.0, 0.0],  # tagged site
            [300.0, 0.0],  # area-only, 300 m from the tagged site: part of it
            [5000.0, 0.0],  # area-only, large
            [5400.0, 0.0],  # area-only, smaller, 400 m from the large one: folded into it
            [9000.0, 0.0],  # area-only, alone: stays
            [9300.0, 0.0],  # tagged too, 300 m from the last: both stay (evidence is never dropped)
        ]
    )
    rule = np.array(["osm voltage tag", "area", "area", "area", "area", "gridkit voltage tag"])
    area = np.array([NAN, 50_000.0, 40_000.0, 20_000.0, 30_000.0, NAN])
    drop = merge_nearby(xy, rule, area)
    assert drop.tolist() == [False, True, False, True, True, False]
    # the last area-only polygon is within 500 m of the tagged one: folded; at 600 m it stays
    xy[5, 0] = 9600.0
    assert merge_nearby(xy, rule, area).tolist() == [False, True, False, True, False, False]


# -- the default twin holds the real grid ---------------------------------------------------------
def test_every_tagged_substation_is_in_the_twin_at_its_real_location():
    """Each OSM or GridKit substation tagged ≥ 220 kV inside Zhejiang (as in the source files) has
    a ≥ 220 kV substation or plant of real provenance within 150 m in the default twin."""
    tagged = pd.read_csv(data.path("odbl/power_tagged_substations.csv"))
    assert len(tagged) >= 100 and (tagged["voltage_kv"] >= 220).all()
    assert set(tagged["source"]) == {"osm", "gridkit"}
    a = zhejiang().assets
    hv = a["kind"].isin(["substation_500kv", "substation_220kv", "power_plant"]) & a["source"].isin(
        REAL_SOURCES
    )
    hv = a[hv]
    d = _haversine_m(
        tagged["lon"].to_numpy()[:, None],
        tagged["lat"].to_numpy()[:, None],
        hv["lon"].to_numpy()[None, :],
        hv["lat"].to_numpy()[None, :],
    )
    nearest = d.argmin(axis=1)
    assert d.min(axis=1).max() <= 150.0, tagged.iloc[int(d.min(axis=1).argmax())].to_dict()
    # tagged 500 kV and above stand as 500 kV substations (or the DC converter stations, plants)
    k = hv["kind"].to_numpy()[nearest]
    assert set(k[tagged["voltage_kv"].to_numpy() >= 500]) <= {"substation_500kv", "power_plant"}


def test_real_lines_keep_their_data_lengths():
    """A real line is at least as long as the great circle between its ends, and its length is the
    packaged one."""
    t = zhejiang()
    a = t.assets
    lines = pd.read_csv(data.path("odbl/power_lines.csv"))
    real = a[a["kind"].isin(["line_500kv", "line_220kv"]) & (a["source"] == "gridkit")]
    assert len(real) == len(lines)
    np.testing.assert_allclose(np.sort(real["length_km"]), np.sort(lines["length_km"]), rtol=1e-9)
    # ends of each real line from the edge list
    e = t.edges[t.edges["system"] == "power"]
    pos = np.flatnonzero(a["asset_id"].isin(real["asset_id"]).to_numpy())
    ends = pd.concat(
        [e.rename(columns={"src": "line", "dst": "end"}), e.rename(columns={"dst": "line", "src": "end"})]
    )
    ends = ends[ends["line"].isin(pos)].sort_values(["line", "end"])
    g = ends.groupby("line")["end"]
    first, last = g.first(), g.last()
    assert (g.size() == 2).all()
    dist = _haversine_m(
        a["lon"].to_numpy()[first],
        a["lat"].to_numpy()[first],
        a["lon"].to_numpy()[last],
        a["lat"].to_numpy()[last],
    )
    km = a["length_km"].to_numpy()[first.index]
    assert (km * 1000.0 >= 0.95 * dist).all()


def test_totals_within_15_percent_of_state_grid_zhejiang():
    """74,000 km of lines at 35 kV and above and 491 million kVA of substation capacity (State
    Grid Zhejiang), 64 million people."""
    s = grid_stats(zhejiang()).set_index("quantity")
    assert abs(s.at["line_km", "twin"] / 74_000.0 - 1.0) <= 0.15
    assert abs(s.at["substation_mva", "twin"] / 491_000.0 - 1.0) <= 0.15
    assert abs(s.at["population", "twin"] / 64_000_000.0 - 1.0) <= 0.15
    assert s.loc[["line_km", "substation_mva", "population"], "within_15pct"].all()


def test_sources_and_generated_completion():
    a = zhejiang().assets
    assert set(a["source"]) <= {"osm", "gridkit", "wri", "generated"}
    power = a[a["system"] == "power"]
    assert (a.loc[a["system"] != "power", "source"] == "generated").all()
    assert (
        power.loc[power["kind"].isin(["substation_110kv", "line_110kv", "feeder_10kv"]), "source"]
        == "generated"
    ).all()
    plants = power[power["kind"] == "power_plant"]
    assert plants["source"].isin(REAL_SOURCES).all() and len(plants) >= 30
    # plants: at least 60 GW of real capacity (WRI ≥ 50 MW plants inside Zhejiang, Sanmen, UHV DC infeed)
    assert plants["capacity"].sum() * 0.9 > 60_000.0
    s220 = power[power["kind"] == "substation_220kv"]
    assert (s220["source"] == "osm").mean() > 0.8


# -- provenance through GeoParquet and layers -----------------------------------------------------
def test_source_column_round_trips_through_geoparquet(tmp_path):
    t = tiny()
    t.assets["source"] = ["osm", "generated", "gridkit", "wri", *(["generated"] * (len(t.assets) - 4))]
    save(t, tmp_path / "tw")
    back = load(tmp_path / "tw")
    assert back.assets["source"].tolist() == t.assets["source"].tolist()
    import geopandas as gpd

    assert gpd.read_parquet(tmp_path / "tw" / "assets.parquet")["source"].tolist()[:4] == [
        "osm",
        "generated",
        "gridkit",
        "wri",
    ]
    # GeoJSON layers keep it too; layers without it import with an empty source
    write_layers(t, tmp_path / "layers")
    assert import_layers(tmp_path / "layers").assets["source"].tolist() == t.assets["source"].tolist()


def test_default_twin_sources_round_trip(tmp_path):
    t = zhejiang()
    save(t, tmp_path / "tw")
    back = load(tmp_path / "tw")
    pd.testing.assert_series_equal(back.assets["source"], t.assets["source"])


def test_validation_warns_on_an_unknown_source():
    from rescity.twin.validate import validate

    t = tiny()
    t.assets["source"] = "generated"
    assert not [p for p in validate(t) if p.field == "source"]
    t.assets.loc[0, "source"] = "guess"
    probs = [p for p in validate(t) if p.field == "source"]
    assert len(probs) == 1 and probs[0].severity == "warning" and probs[0].value == "guess"
    # a table without the column (older saved twins) is still valid
    t.assets = t.assets.drop(columns="source")
    assert not [p for p in validate(t) if p.severity == "error"]


# -- the synthetic builder is unchanged -----------------------------------------------------------
#: The synthetic default twin's tables (assets without ``source``, edges, dependencies, service)
#: as built by the builder before the backbone existed (seed 20190809, 5 km): per column, a
#: SHA-256 prefix of the values (text and integer columns) or the sum, the sum of squares and the
#: NaN count (float columns, compared to 1e-9 relative: last-bit differences between machines and
#: library versions do not count, a changed value does). Checked against the builder of the
#: commit before the backbone, which gives the same tables.
SYNTHETIC_SUMMARY = {
    "assets": {
        "rows": 102285,
        "asset_id": "2d5c32da9ffe0fae",
        "system": "b55d431cd68faadd",
        "kind": "07ce312c540a66ce",
        "lon": (12311135.855139878, 1481855440.141732, 0),
        "lat": (3001544.9312342377, 88172193.20425951, 0),
        "unit_id": "a1d42fe38eb098f4",
        "fragility_class": "6528483a6c41280c",
        "capacity": (1984709948.7471008, 1.0662614669241354e17, 0),
        "capacity_unit": "f86e6344bbdc0199",
        "replacement_cost_cny": (3316895862780.9565, 2.0471296902641874e22, 0),
        "backup_h": (264360.6307000649, 4668297.594124205, 0),
        "length_km": (506845.8520374396, 10829732.277836382, 0),
        "is_source": "591fca4c7b320788",
        "name": "e9cc0a86fb1d418a",
    },
    "edges": {"rows": 103399, "system": "63e6f83e5d08ccfd", "src": "23c1d560e09a8e89", "dst": "47b7b74a4c83798c"},
    "dependencies": {
        "rows": 41402,
        "dependent": "70a75b3b875bb978",
        "supplier": "eb36f0c2795b89fa",
        "kind": "c5ed5f2cf2621bcf",
        "buffer_h": (365385.0488698442, 7144086.1636374025, 0),
    },
    "service": {
        "rows": 60308,
        "terminal": "2c950d91d5f2ad36",
        "unit": "94b6c2bafe10dfed",
        "system": "c378916c6bd5e020",
        "people": (258270352.0, 12198899610739.787, 0),
    },
}


def _summary(df: pd.DataFrame) -> dict:
    out: dict = {"rows": len(df)}
    for c in df.columns:
        if df[c].dtype.kind == "f":
            v = df[c].to_numpy(float)
            out[c] = (float(np.nansum(v)), float(np.nansum(v * v)), int(np.isnan(v).sum()))
        else:
            h = pd.util.hash_pandas_object(df[c], index=False).to_numpy().tobytes()
            out[c] = hashlib.sha256(h).hexdigest()[:16]
    return out


def test_synthetic_builder_is_unchanged():
    from rescity.twin.zhejiang import build_zhejiang

    t = build_zhejiang(seed=20190809, synthetic=True)
    tables = {
        "assets": t.assets.drop(columns="source"),
        "edges": t.edges,
        "dependencies": t.dependencies,
        "service": t.service,
    }
    for name, df in tables.items():
        got, want = _summary(df), SYNTHETIC_SUMMARY[name]
        assert list(got) == list(want), name
        for col, w in want.items():
            if isinstance(w, tuple):
                assert got[col][:2] == pytest.approx(w[:2], rel=1e-9), (name, col)
                assert got[col][2] == w[2], (name, col)
            else:
                assert got[col] == w, (name, col)
    assert (t.assets["source"] == "generated").all()
    k = t.assets["kind"].value_counts()
    assert (k["substation_500kv"], k["substation_220kv"], k["substation_110kv"]) == (37, 128, 543)


@pytest.mark.parametrize("synthetic", [False, True])
def test_cli_stats_and_synthetic_build(tmp_path, monkeypatch, synthetic):
    from rescity.cli import app

    monkeypatch.setenv("RESCITY_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    args = ["twin", "build", "--out", str(tmp_path), "--cell-km", "20"] + (
        ["--synthetic"] if synthetic else []
    )
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["twin", "stats", str(tmp_path / "twin"), "--json"])
    assert r.exit_code == 0, r.output
    rows = {x["quantity"]: x for x in json.loads(r.output)}
    assert rows["population"]["twin"] == 64_567_588
    assert rows["line_km"]["published"] == 74_000.0
    real = rows["substation_500kv_real"]["twin"]
    assert (real == 0) if synthetic else (real > 100_000)


def test_store_and_map_carry_the_source(tmp_path, monkeypatch):
    """A stored twin keeps each asset's source (schema migration 3, also from an older store), the
    asset API row has it, and the map's points show it."""
    import rescity.store.base as base
    from rescity.store import SCHEMA_VERSION, open_store
    from rescity.store.migrations import MIGRATIONS
    from rescity.web import geo

    url = f"sqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setattr(base, "MIGRATIONS", MIGRATIONS[:2])
    monkeypatch.setattr(base, "SCHEMA_VERSION", 2)
    open_store(url).close()  # a store made before assets had a source
    monkeypatch.undo()
    store = open_store(url)
    try:
        assert store.schema_version() == SCHEMA_VERSION >= 3
        t = tiny()
        t.assets["source"] = ["osm", *(["generated"] * (len(t.assets) - 1))]
        store.put_twin("tiny", t)
        assert store.get_asset("tiny", "PP")["source"] == "osm"
        assert store.get_asset("tiny", "S1")["source"] == "generated"
        idx = geo.asset_index(store, "tiny")
        fc = geo.assets_in_view(idx, np.zeros(len(idx), np.int8), {"power": "full"}, (119, 29, 121, 31), 12)
        src = {f["properties"]["asset_id"]: f["properties"]["source"] for f in fc["features"]}
        assert src["PP"] == "osm" and src["S1"] == "generated"
    finally:
        store.close()


def test_provenance_table_counts_real_and_modelled_assets():
    from rescity.twin.stats import provenance_table

    t = tiny()
    t.assets["source"] = ["wri", "gridkit", *(["generated"] * (len(t.assets) - 2))]
    p = provenance_table(t).set_index("kind")
    assert p.at["power_plant", "wri"] == 1 and p.at["line_110kv", "gridkit"] == 1
    assert p.at["feeder_10kv", "generated"] == 2
    assert p.at["power_plant", "real location"] == 1.0 and p.at["feeder_10kv", "real location"] == 0.0


def test_attribution_names_every_source_once():
    from rescity.twin.stats import attribution

    assert attribution(["generated"]) == ""
    both = attribution(["osm", "gridkit", "generated"])
    assert both.count("OpenStreetMap") == 1 and "GridKit" in both and "WRI" not in both
    assert "CC BY 4.0" in attribution(["wri"]) and "OpenStreetMap" not in attribution(["wri"])
