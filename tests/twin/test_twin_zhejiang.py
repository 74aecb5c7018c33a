"""The default Zhejiang twin: units, populations, cells, lifelines, N-1, determinism."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from rescity import data
from rescity.twin.model import KINDS, SERVICES
from twin_support import zhejiang

#: Resident population of Zhejiang, 7th national census (NBS communiqué, 2021).
ZHEJIANG_2020 = 64_567_588


@pytest.fixture(scope="module")
def twin():
    return zhejiang()


@pytest.fixture(scope="module")
def counties():
    return gpd.read_file(data.path("zhejiang_counties.geojson")).set_index("county_code")


def _level(twin, lv):
    return twin.units[twin.units["level"] == lv]


# -- units ---------------------------------------------------------------------------------------
def test_unit_counts_and_codes(twin):
    u = twin.units
    assert (u["level"] == "province").sum() == 1
    assert (u["level"] == "prefecture").sum() == 11
    assert (u["level"] == "county").sum() == 91
    assert (u["level"] == "cell").sum() > 91
    assert u["unit_id"].is_unique
    pref = _level(twin, "prefecture")
    assert sorted(pref["unit_id"]) == [f"33{i:02d}00" for i in range(1, 12)]
    assert dict(zip(pref["unit_id"], pref["name_en"], strict=True))["330900"] == "Zhoushan"
    assert dict(zip(pref["unit_id"], pref["name_zh"], strict=True))["331000"] == "台州市"
    # hierarchy by code: county 3301xx → 330100, cell <county>-cNNNN → county
    cty = _level(twin, "county")
    assert (cty["parent_id"] == cty["unit_id"].str[:4] + "00").all()
    assert (pref["parent_id"] == "330000").all()
    cells = _level(twin, "cell")
    assert cells["unit_id"].str.fullmatch(r"\d{6}-c\d{4}").all()
    assert (cells["parent_id"] == cells["unit_id"].str[:6]).all()
    # rows ordered province, prefecture, county, cell
    order = u["level"].map({"province": 0, "prefecture": 1, "county": 2, "cell": 3}).to_numpy()
    assert (np.diff(order) >= 0).all()
    assert (u["name_en"] != "").all()


def test_populations_sum_exactly(twin, counties):
    u = twin.units.set_index("unit_id")
    assert u.loc["330000", "population"] == ZHEJIANG_2020
    cty = _level(twin, "county").set_index("unit_id")
    pd.testing.assert_series_equal(
        cty["population"], counties["population_2020"].astype(np.int64).reindex(cty.index), check_names=False
    )
    cells = _level(twin, "cell")
    by_county = cells.groupby("parent_id")["population"].sum()
    assert (by_county.reindex(cty.index) == cty["population"]).all()
    by_pref = cty.groupby("parent_id")["population"].sum()
    pref = _level(twin, "prefecture").set_index("unit_id")["population"]
    assert (by_pref.reindex(pref.index) == pref).all()
    assert pref.sum() == ZHEJIANG_2020
    assert pd.api.types.is_integer_dtype(cells["population"]) and (cells["population"] >= 0).all()
    # the membership matrix aggregates cells to every level at once
    m = twin.membership("cell")
    agg = m @ twin.units["population"].where(twin.units["level"] == "cell", 0).to_numpy(float)
    assert np.array_equal(agg.astype(np.int64), twin.units["population"].to_numpy())


def test_households_and_urban_share(twin, counties):
    cty = _level(twin, "county").set_index("unit_id")
    mhs = counties["mean_household_size"].reindex(cty.index)
    expect = np.round(cty["population"] / mhs).astype(np.int64)
    assert (cty["households"] == expect).all()
    cells = _level(twin, "cell")
    assert (cells.groupby("parent_id")["households"].sum().reindex(cty.index) == cty["households"]).all()
    # the urban people of the cells add back to the census urban population (up to rounding)
    urban = (cells["population"] * cells["urban_share"]).groupby(cells["parent_id"]).sum()
    census = counties["population_2020"] * counties["urban_share_2020"]
    n = cells.groupby("parent_id").size()
    assert (np.abs(urban - census.reindex(urban.index)) <= n).all()


def test_urban_population_concentrated_near_seat(twin):
    """Densest cell of a highly urban county has far more people per km² than its emptiest."""
    cells = _level(twin, "cell")
    d = cells["population"] / cells["area_km2"]
    g = d.groupby(cells["parent_id"])
    ratio = g.max() / g.median()
    assert (ratio > 2).mean() > 0.8


def test_cells_at_most_5km(twin):
    cells = _level(twin, "cell")
    pos = cells.index.to_numpy()
    geoms = np.asarray(twin.geometry, dtype=object)[pos]
    # (1) on the grid's own projection every cell lies in a 5 km square …
    crs = twin.meta["crs_grid"]
    t = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    gm = shapely.transform(geoms, lambda xy: np.c_[t.transform(xy[:, 0], xy[:, 1])])
    b = shapely.bounds(gm)
    assert (b[:, 2] - b[:, 0]).max() <= 5000.0 + 1e-3
    assert (b[:, 3] - b[:, 1]).max() <= 5000.0 + 1e-3
    # … and that projection never shrinks distances (scale factor ≥ 1), so on the ground ≤ 5 km
    f = pyproj.Proj(crs).get_factors(cells["lon"].to_numpy(), cells["lat"].to_numpy())
    assert np.min(f.meridional_scale) >= 1.0 - 1e-9 and np.min(f.parallel_scale) >= 1.0 - 1e-9
    # (2) geodesic check: no two vertices of a cell further apart than the square's diagonal
    geod = pyproj.Geod(ellps="WGS84")
    hull = shapely.convex_hull(geoms)
    xy, idx = shapely.get_coordinates(hull, return_index=True)
    starts = np.r_[0, np.flatnonzero(np.diff(idx)) + 1, len(idx)]
    diam = 0.0
    for s, e in zip(starts[:-1], starts[1:], strict=True):
        i, j = np.triu_indices(e - s, 1)
        if len(i):
            _, _, dist = geod.inv(xy[s + i, 0], xy[s + i, 1], xy[s + j, 0], xy[s + j, 1])
            diam = max(diam, float(np.max(dist)))
    assert 5000.0 < diam <= 5000.0 * np.sqrt(2) + 1.0
    # (3) geodesic areas: ≤ 25 km², and they add up to the counties' area
    area = np.abs([geod.geometry_area_perimeter(g)[0] for g in geoms]) / 1e6
    assert area.max() <= 25.0 + 1e-3
    assert np.allclose(area, cells["area_km2"], rtol=2e-3, atol=1e-3)


def test_geometry_aligned(twin):
    assert len(twin.geometry) == len(twin.units)
    assert twin.geometry.crs.to_epsg() == 4326
    assert shapely.is_valid(np.asarray(twin.geometry, dtype=object)).all()
    inside = shapely.contains_xy(
        np.asarray(twin.geometry, dtype=object)[:1][0], twin.assets["lon"][::50], twin.assets["lat"][::50]
    )
    assert inside.mean() > 0.95  # assets stand on land in the province (some on coast or bridges)


# -- assets --------------------------------------------------------------------------------------
def test_asset_counts_and_kinds(twin):
    a = twin.assets
    assert len(a) >= 50_000
    assert a["asset_id"].is_unique
    for s, k in a[["system", "kind"]].drop_duplicates().itertuples(index=False):
        assert k in KINDS[s]
    for s in SERVICES:
        assert a.loc[a["system"] == s, "is_source"].any()
    assert (a["capacity"] > 0).all()
    assert (a["replacement_cost_cny"] > 0).all()
    assert a["unit_id"].isin(_level(twin, "cell")["unit_id"]).all()
    links = a["kind"].str.startswith(("line_", "feeder_")) | a["kind"].isin(
        ["trunk_main", "expressway", "national_road", "local_road", "bridge", "fiber_link"]
    )
    assert (a.loc[links, "length_km"] > 0).all() and (a.loc[~links, "length_km"] == 0).all()
    # base stations: one per 1,500–2,500 people, at least one per cell
    pop = _level(twin, "cell")["population"].sum()
    n_bs = (a["kind"] == "base_station").sum()
    assert pop / 2500 <= n_bs <= pop / 1500 + len(_level(twin, "cell"))
    counts = a["kind"].value_counts()
    assert counts["substation_220kv"] >= 91 and counts["substation_110kv"] >= 2 * 91
    assert counts["road_hub"] == 91 and counts["road_node"] == len(_level(twin, "cell"))


def test_fragility_classes_are_documented(twin):
    doc = (Path(__file__).parents[2] / "docs" / "twin.md").read_text("utf-8")
    used = set(twin.assets["fragility_class"])
    listed = set(re.findall(r"`([a-z0-9_]+)`", doc))
    assert used <= listed, sorted(used - listed)


def test_hospital_beds_and_shelters(twin):
    a = twin.assets
    cty = _level(twin, "county").set_index("unit_id")["population"]
    h = a[a["kind"] == "hospital"]
    beds = h.groupby(h["unit_id"].str[:6])["capacity"].sum()
    assert np.array_equal(beds.reindex(cty.index).to_numpy(), np.round(cty * 6.0 / 1000.0).to_numpy())
    s = a[a["kind"] == "shelter"]
    cap = s.groupby(s["unit_id"].str[:6])["capacity"].sum()
    assert np.array_equal(cap.reindex(cty.index).to_numpy(), np.ceil(cty * 0.05).to_numpy())
    assert (a[a["kind"] == "depot"].groupby(a["unit_id"].str[:4]).size() >= 3).all()


# -- service -------------------------------------------------------------------------------------
def test_service_rows_sum_to_population(twin):
    cells = _level(twin, "cell")
    s = twin.service
    assert twin.units["level"].to_numpy()[s["unit"]].tolist().count("cell") == len(s)
    for sy in SERVICES:
        r = s[s["system"] == sy]
        assert (twin.assets["system"].to_numpy()[r["terminal"]] == sy).all()
        tot = r.groupby("unit")["people"].sum().reindex(cells.index)
        assert tot.notna().all(), f"cells without {sy} service"
        assert np.allclose(tot.to_numpy(), cells["population"].to_numpy(), rtol=1e-9, atol=1e-6)
    kinds = twin.assets["kind"].to_numpy()[s["terminal"]]
    assert set(kinds[s["system"] == "power"]) == {"feeder_10kv"}
    assert set(kinds[s["system"] == "telecom"]) == {"base_station"}
    assert set(kinds[s["system"] == "water"]) == {"distribution_node"}
    assert set(kinds[s["system"] == "road"]) == {"road_node"}


def test_every_terminal_reaches_a_source(twin):
    n = twin.n_assets
    src = twin.assets["is_source"].to_numpy()
    for sy in SERVICES:
        _, lab = connected_components(twin.adjacency(sy), directed=False)
        mask = twin.system_mask(sy)
        fed = np.isin(lab, lab[np.flatnonzero(src & mask)])
        term = twin.service.loc[twin.service["system"] == sy, "terminal"].unique()
        assert fed[term].all(), sy
        assert fed[mask].all(), f"{sy}: assets cut off from every source"
    assert n == len(twin.assets)


def _hv_grid(twin):
    kinds = ["power_plant", "substation_500kv", "substation_220kv", "line_500kv", "line_220kv"]
    nodes = np.flatnonzero(twin.assets["kind"].isin(kinds).to_numpy())
    e = twin.edges[twin.edges["system"] == "power"]
    ok = np.isin(e["src"], nodes) & np.isin(e["dst"], nodes)
    local = pd.Series(np.arange(len(nodes)), index=nodes)
    r = local[e["src"][ok]].to_numpy()
    c = local[e["dst"][ok]].to_numpy()
    adj = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(len(nodes), len(nodes))).tocsr()
    adj = adj + adj.T
    return nodes, adj


def test_hv_grid_is_n_minus_1_secure(twin):
    """N-1 of the ≥ 220 kV grid (plants, 500/220 kV substations, 500/220 kV lines).

    Definition: after removing any one of these assets, every remaining 500 kV or 220 kV
    substation is still connected to at least one remaining power plant through the ≥ 220 kV
    grid. (A line is a node between its end substations, so removing a line removes that edge.)
    """
    nodes, adj = _hv_grid(twin)
    kind = twin.assets["kind"].to_numpy()[nodes]
    plant = kind == "power_plant"
    sub = np.isin(kind, ["substation_500kv", "substation_220kv"])
    assert plant.sum() >= 2 and sub.sum() > 91
    assert (np.asarray(adj[sub].sum(axis=1)).ravel() >= 2).all()  # no leaf substations
    dense = adj.toarray() > 0
    for x in range(len(nodes)):
        cut = dense.copy()
        cut[x, :] = False
        cut[:, x] = False
        _, lab = connected_components(sp.csr_matrix(cut), directed=False)
        keep = np.ones(len(nodes), bool)
        keep[x] = False
        fed = np.isin(lab, lab[plant & keep])
        assert fed[sub & keep].all(), f"losing {twin.assets['asset_id'].iat[nodes[x]]} cuts substations off"


def test_n_minus_1_check_detects_a_radial_spur(twin):
    """The N-1 check above fails for a grid with a radial 220 kV spur (guards the test itself)."""
    nodes, adj = _hv_grid(twin)
    kind = twin.assets["kind"].to_numpy()[nodes]
    lines = np.flatnonzero(kind == "line_220kv")
    # cut one of the two lines of a 220 kV substation with two: the other becomes a single point
    # of failure (in the backbone twin some substations have more lines, real and generated)
    deg = np.asarray(adj[:, lines].sum(axis=1)).ravel()
    sub = np.flatnonzero((kind == "substation_220kv") & (deg == 2))[0]
    its = [ln for ln in lines if adj[sub, ln]]
    assert len(its) == 2
    adj = adj.tolil()
    adj[sub, its[0]] = 0
    adj[its[0], sub] = 0
    keep = np.ones(len(nodes), bool)
    keep[its[1]] = False
    _, lab = connected_components(adj.tocsr()[keep][:, keep], directed=False)
    plant = (kind == "power_plant")[keep]
    idx = np.flatnonzero(keep)
    assert not np.isin(lab[np.flatnonzero(idx == sub)[0]], lab[plant])


def test_110kv_feeds(twin):
    a = twin.assets
    e = twin.edges[twin.edges["system"] == "power"]
    kind = a["kind"].to_numpy()
    s110 = np.flatnonzero(kind == "substation_110kv")
    # lines touching a 110 kV substation: one (radial) or two (dual feed), each from 220 kV
    ends = pd.concat([e[["src", "dst"]], e[["src", "dst"]].rename(columns={"src": "dst", "dst": "src"})])
    l110 = ends[(kind[ends["src"]] == "substation_110kv") & (kind[ends["dst"]] == "line_110kv")]
    feeds = l110.groupby("src").size().reindex(s110, fill_value=0)
    assert feeds.between(1, 2).all()
    other = ends[(kind[ends["src"]] == "line_110kv") & (kind[ends["dst"]] != "substation_110kv")]
    assert set(kind[other["dst"]]) == {"substation_220kv"}
    # every feeder hangs from exactly one 110 kV substation
    f = ends[(kind[ends["src"]] == "feeder_10kv")]
    assert (f.groupby("src").size() == 1).all() and set(kind[f["dst"]]) == {"substation_110kv"}


# -- dependencies --------------------------------------------------------------------------------
def test_dependencies(twin):
    a = twin.assets
    d = twin.dependencies
    kind = a["kind"].to_numpy()
    system = a["system"].to_numpy()
    unit = a["unit_id"].to_numpy()
    assert (system[d["supplier"]] == d["kind"]).all()
    bs = d[kind[d["dependent"]] == "base_station"]
    assert len(bs) == (kind == "base_station").sum()
    assert (kind[bs["supplier"]] == "feeder_10kv").all()
    assert (unit[bs["supplier"]] == unit[bs["dependent"]]).all()  # its own cell's feeder
    assert bs["buffer_h"].between(2.0, 8.0).all()
    assert np.allclose(a["backup_h"].to_numpy()[bs["dependent"]], bs["buffer_h"])
    w = d[np.isin(kind[d["dependent"]], ["pump_station", "treatment_plant"])]
    assert set(kind[w["supplier"]]) == {"substation_110kv"}
    assert np.allclose(a["backup_h"].to_numpy()[w["dependent"]], w["buffer_h"])
    sub = d[np.char.startswith(kind[d["dependent"]].astype(str), "substation_")]
    assert set(kind[sub["supplier"]]) == {"aggregation_node"} and (sub["buffer_h"] == 24.0).all()
    tel = d[np.isin(kind[d["dependent"]], ["aggregation_node", "core_node"])]
    assert set(d.loc[tel.index, "kind"]) == {"power"} and tel["buffer_h"].between(8.0, 24.0).all()
    h = d[kind[d["dependent"]] == "hospital"]
    assert set(h["kind"]) == {"power", "water"}
    assert (h.groupby("dependent")["kind"].nunique() == 2).all()
    hp = h[h["kind"] == "power"]
    assert hp["buffer_h"].between(24.0, 72.0).all()
    assert np.allclose(a["backup_h"].to_numpy()[hp["dependent"]], hp["buffer_h"])


# -- determinism ---------------------------------------------------------------------------------
def test_deterministic_for_a_seed(twin):
    from rescity.twin.zhejiang import build_zhejiang

    again = build_zhejiang(seed=20190809)
    for name in ("units", "assets", "edges", "dependencies", "service"):
        pd.testing.assert_frame_equal(getattr(twin, name), getattr(again, name))
    other = build_zhejiang(seed=7)
    pd.testing.assert_frame_equal(twin.units, other.units)  # units do not depend on the seed
    assert not twin.assets[["lon", "lat"]].equals(other.assets[["lon", "lat"]])
