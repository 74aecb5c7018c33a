"""Derive the packaged power backbone of Zhejiang from open data (run once; output is committed).

Reads ``../shared/data/power`` (OpenStreetMap power polygons 2025, GridKit 2017 vertices and links,
WRI Global Power Plant Database rows) and the packaged county polygons, and writes to
``src/rescity/data/odbl/``:

``power_sites.csv``
    one row per backbone site inside Zhejiang: substations of 220 kV and above and power plants,
    with ``voltage_kv``, the ``voltage_rule`` that gave it, the ``source`` of the location
    (``osm``, ``gridkit``, ``wri``), capacity (plants, MW) and fuel.
``power_lines.csv``
    GridKit 220/500 kV lines between two sites, joints contracted (see ``docs/twin.md``), with
    length (km, from the data), circuits and midpoint.
``power_tagged_substations.csv``
    every OSM or GridKit substation tagged 220 kV or above inside Zhejiang, as in the source
    files (for the test that the twin holds them all at their real locations).

Usage: ``python scripts/build_power_backbone.py [--data ../shared/data/power] [--out DIR]``.
The rules are documented in ``docs/twin.md`` (section "Power backbone from open data").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from rescity.twin.backbone import MERGE_M, infer_voltage, merge_nearby  # noqa: E402

#: WRI plants smaller than this connect below 110 kV and stay out of the backbone, MW.
MIN_PLANT_MW = 50.0
#: WRI duplicates: same fuel, closer than this (m) and capacities within 10 %.
WRI_DUP_M = 3000.0
#: A WRI plant takes the point of the largest OSM plant polygon closer than this, m.
SNAP_PLANT_M = 3000.0
FUEL = {
    "Coal": "coal",
    "Natural Gas": "gas",
    "Nuclear": "nuclear",
    "Hydro": "hydro",
    "Wind": "wind",
    "Landfill gas": "waste",
    "Solar": "solar",
}


def _xy(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Equirectangular metres around 29.5° N: good to < 1 % over the province for matching."""
    k = 111_320.0
    return np.c_[np.asarray(lon, float) * k * np.cos(np.radians(29.5)), np.asarray(lat, float) * k]


def _max_kv(s: pd.Series) -> np.ndarray:
    """Highest voltage of a ``;``-separated list of volts, kV (NaN when none)."""
    parts = s.fillna("").astype(str).str.split(";")
    return np.array(
        [max((float(x) / 1000.0 for x in p if x.strip() not in ("", "0")), default=np.nan) for p in parts]
    )


def _n_circuits(s: pd.Series, kv: float = 220.0) -> np.ndarray:
    parts = s.fillna("").astype(str).str.split(";")
    return np.array([sum(1 for x in p if x.strip() and float(x) / 1000.0 >= kv) for p in parts])


def _county(lon: np.ndarray, lat: np.ndarray, cty: gpd.GeoDataFrame) -> np.ndarray:
    """County code containing each point, '' outside Zhejiang."""
    pts = shapely.points(np.asarray(lon, float), np.asarray(lat, float))
    tree = shapely.STRtree(cty.geometry.values)
    i_pt, i_poly = tree.query(pts, predicate="within")
    out = np.full(len(pts), "", dtype=object)
    out[i_pt] = cty["county_code"].astype(str).to_numpy(object)[i_poly]
    return out


def build(data: Path, out: Path) -> dict[str, int]:
    cty = gpd.read_file(ROOT / "src/rescity/data/zhejiang_counties.geojson")
    osm = pd.read_csv(data / "osm_power_polygons_zhejiang_region_2025.csv")
    gv = pd.read_csv(data / "gridkit_hv_vertices_zhejiang_region.csv")
    gl = pd.read_csv(data / "gridkit_hv_links_zhejiang_region.csv", sep="#")
    wri = pd.read_csv(data / "wri_gppd_china_raw_zhejiang_region.csv")
    named = pd.read_csv(ROOT / "src/rescity/data/zhejiang_power_plants.csv", dtype={"county_code": str})

    osm["kv"] = _max_kv(osm["voltage"])
    osm["county"] = _county(osm["lon"], osm["lat"], cty)
    gv["kv"] = _max_kv(gv["voltage"])
    gv["county"] = _county(gv["lon"], gv["lat"], cty)
    gl["kv"] = _max_kv(gl["voltage"])
    gl["circuits"] = np.maximum(_n_circuits(gl["voltage"]), 1)

    # -- tagged ≥ 220 kV substations inside Zhejiang, as in the source files ------------------
    o_sub = osm[(osm["power"] == "substation") & (osm["county"] != "")].reset_index(drop=True)
    g_sub = gv[(gv["typ"] == "substation") & (gv["county"] != "")].reset_index(drop=True)
    tagged = pd.concat(
        [
            pd.DataFrame(
                {
                    "source": "osm",
                    "ref": "",
                    "name": o_sub["name"],
                    "voltage_kv": o_sub["kv"],
                    "lon": o_sub["lon"],
                    "lat": o_sub["lat"],
                }
            )[o_sub["kv"].to_numpy() >= 220],
            pd.DataFrame(
                {
                    "source": "gridkit",
                    "ref": g_sub["v_id"].astype(str),
                    "name": g_sub["name"],
                    "voltage_kv": g_sub["kv"],
                    "lon": g_sub["lon"],
                    "lat": g_sub["lat"],
                }
            )[g_sub["kv"].to_numpy() >= 220],
        ],
        ignore_index=True,
    )

    # -- GridKit graph: voltage evidence from lines at every vertex -------------------------
    vid = gv["v_id"].to_numpy()
    pos = pd.Series(np.arange(len(gv)), index=vid)
    a = pos.reindex(gl["v_id_1"].to_numpy()).to_numpy()
    b = pos.reindex(gl["v_id_2"].to_numpy()).to_numpy()
    ok = ~(np.isnan(a) | np.isnan(b))
    gl = gl[ok].reset_index(drop=True)
    a, b = a[ok].astype(np.int64), b[ok].astype(np.int64)
    line_kv = np.nan_to_num(gl["kv"].to_numpy(), nan=220.0)  # GridKit's extract: 220 kV and above
    v_line_kv = np.zeros(len(gv))
    np.maximum.at(v_line_kv, a, line_kv)
    np.maximum.at(v_line_kv, b, line_kv)

    # -- sites: OSM substations inside Zhejiang, GridKit substations merged in ----------------
    oxy = _xy(o_sub["lon"], o_sub["lat"])
    gxy = _xy(g_sub["lon"], g_sub["lat"])
    d, j = cKDTree(oxy).query(gxy)
    g_match = np.where(d <= MERGE_M, j, -1)
    # several GridKit points on one polygon: the nearest keeps it
    order = np.argsort(d)
    taken: set[int] = set()
    for i in order:
        if g_match[i] >= 0:
            if g_match[i] in taken:
                g_match[i] = -1
            else:
                taken.add(int(g_match[i]))
    g_pos = pos.reindex(g_sub["v_id"].to_numpy()).to_numpy().astype(np.int64)
    g_tag = g_sub["kv"].to_numpy()
    g_lines = v_line_kv[g_pos]

    n_o = len(o_sub)
    gk_id = np.full(n_o, "", dtype=object)
    m = g_match >= 0
    gk_id[g_match[m]] = g_sub["v_id"].astype(str).to_numpy(object)[m]
    gk_tag = np.full(n_o, np.nan)
    gk_tag[g_match[m]] = g_tag[m]
    gk_line = np.zeros(n_o)
    gk_line[g_match[m]] = g_lines[m]
    area = o_sub["area_m2"].to_numpy(float)
    kv, rule = infer_voltage(o_sub["kv"].to_numpy(), gk_tag, gk_line, area)
    sites = pd.DataFrame(
        {
            "name": o_sub["name"].fillna("").astype(str),
            "kind": "substation",
            "voltage_kv": kv,
            "voltage_rule": rule,
            "lon": o_sub["lon"].round(6),
            "lat": o_sub["lat"].round(6),
            "area_m2": area,
            "source": "osm",
            "county_code": o_sub["county"],
            "gridkit_id": gk_id,
            "capacity_mw": np.nan,
            "fuel": "",
        }
    )
    # GridKit substations with no OSM polygon at the site: their own point
    gx = g_sub[~m].copy()
    gx_kv, gx_rule = infer_voltage(np.full(len(gx), np.nan), gx["kv"], g_lines[~m], np.full(len(gx), np.nan))
    sites = pd.concat(
        [
            sites,
            pd.DataFrame(
                {
                    "name": gx["name"].fillna("").astype(str),
                    "kind": "substation",
                    "voltage_kv": gx_kv,
                    "voltage_rule": gx_rule,
                    "lon": gx["lon"].round(6),
                    "lat": gx["lat"].round(6),
                    "area_m2": np.nan,
                    "source": "gridkit",
                    "county_code": gx["county"],
                    "gridkit_id": gx["v_id"].astype(str),
                    "capacity_mw": np.nan,
                    "fuel": "",
                }
            ),
        ],
        ignore_index=True,
    )
    # only 220 kV and above stay; proximity folds area-inferred polygons into nearby sites
    sites = sites[sites["voltage_kv"].to_numpy() >= 220].reset_index(drop=True)
    drop = merge_nearby(_xy(sites["lon"], sites["lat"]), sites["voltage_rule"].to_numpy(), sites["area_m2"])
    sites = sites[~drop].reset_index(drop=True)
    # ±800 kV DC converter stations are sources (the UHV DC infeed), capacity from State Grid reports
    conv = sites["voltage_kv"].to_numpy() >= 800
    conv &= sites["name"].str.contains("换流").to_numpy()
    named_conv = named[named["type"] == "uhvdc_converter"]
    for i in np.flatnonzero(conv):
        hit = named_conv[[n[:2] in sites.at[i, "name"] for n in named_conv["name_zh"]]]
        if len(hit):
            sites.at[i, "kind"] = "converter"
            sites.at[i, "capacity_mw"] = float(hit["capacity_mw"].iat[0])
            sites.at[i, "fuel"] = "uhvdc_converter"
            sites.at[i, "name"] = f"{hit['name_zh'].iat[0]} {hit['name_en'].iat[0]}"

    # -- plants: WRI (≥ 50 MW, not shut down) at the nearest large OSM plant polygon ---------
    w = wri.rename(columns={"Capacity (MW)": "mw", "Latitude": "lat", "Longitude": "lon"})
    w["county"] = _county(w["lon"], w["lat"], cty)
    w = w[(w["county"] != "") & (w["mw"] >= MIN_PLANT_MW) & (w["Operational Status"] != "Shutdown")]
    w = w.reset_index(drop=True)
    w["fuel"] = w["Fuel"].map(FUEL).fillna("other")
    wxy = _xy(w["lon"], w["lat"])
    dup = np.zeros(len(w), bool)
    for i in range(len(w)):  # ~40 rows
        dd = np.hypot(*(wxy[:i] - wxy[i]).T)
        same = (dd <= WRI_DUP_M) & (w["fuel"].to_numpy()[:i] == w["fuel"].iat[i])
        same &= np.abs(w["mw"].to_numpy()[:i] / w["mw"].iat[i] - 1.0) <= 0.1
        dup[i] = bool((same & ~dup[:i]).any())
    w = w[~dup].reset_index(drop=True)
    wxy = _xy(w["lon"], w["lat"])
    o_pl = osm[(osm["power"] == "plant") & (osm["county"] != "")].reset_index(drop=True)
    pxy = _xy(o_pl["lon"], o_pl["lat"])
    lon, lat = w["lon"].to_numpy(float).copy(), w["lat"].to_numpy(float).copy()
    src = np.full(len(w), "wri", dtype=object)
    pname = w["Name"].astype(str).to_numpy(object).copy()
    tree = cKDTree(pxy)
    for i, near in enumerate(tree.query_ball_point(wxy, SNAP_PLANT_M)):
        if near:
            k = near[int(np.argmax(o_pl["area_m2"].to_numpy()[near]))]
            lon[i], lat[i] = o_pl["lon"].iat[k], o_pl["lat"].iat[k]
            if isinstance(o_pl["name"].iat[k], str):
                pname[i] = f"{o_pl['name'].iat[k]} {pname[i]}"
    plants = pd.DataFrame(
        {
            "name": pname,
            "kind": "plant",
            "voltage_kv": np.where(w["mw"] >= 1000.0, 500.0, 220.0),
            "voltage_rule": "plant size (≥ 1,000 MW: 500 kV)",
            "lon": np.round(lon, 6),
            "lat": np.round(lat, 6),
            "area_m2": np.nan,
            "source": src,
            "county_code": _county(lon, lat, cty),
            "gridkit_id": "",
            "capacity_mw": w["mw"].to_numpy(float),
            "fuel": w["fuel"].to_numpy(object),
        }
    )
    # named plants of the packaged list that WRI lacks (same fuel in the same county): at the
    # OSM plant polygon of that name
    kept = set(zip(plants["county_code"], plants["fuel"], strict=True))
    o_all = osm[osm["power"] == "plant"].reset_index(drop=True)
    extra = []
    for _, r in named[named["type"] != "uhvdc_converter"].iterrows():
        fuel = {"pumped_storage": "hydro"}.get(r["type"], r["type"])
        if (r["county_code"], fuel) in kept:
            continue
        near_cty = shapely.dwithin(
            cty.geometry.values[(cty["county_code"].astype(str) == r["county_code"]).to_numpy()][0],
            shapely.points(o_all["lon"].to_numpy(), o_all["lat"].to_numpy()),
            0.05,  # degrees: coastal plants on reclaimed land lie just outside the county polygon
        )
        hit = o_all[o_all["name"].fillna("").str.contains(r["name_zh"][:2]).to_numpy() & near_cty]
        if not len(hit):
            continue
        h = hit.sort_values("area_m2").iloc[-1]
        extra.append(
            {
                "name": f"{r['name_zh']} {r['name_en']}",
                "kind": "plant",
                "voltage_kv": 500.0 if r["capacity_mw"] >= 1000 else 220.0,
                "voltage_rule": "plant size (≥ 1,000 MW: 500 kV)",
                "lon": round(float(h["lon"]), 6),
                "lat": round(float(h["lat"]), 6),
                "area_m2": float(h["area_m2"]),
                "source": "osm",
                "county_code": r["county_code"],
                "gridkit_id": "",
                "capacity_mw": float(r["capacity_mw"]),
                "fuel": r["type"],
            }
        )
    sites = pd.concat([sites, plants, pd.DataFrame(extra)], ignore_index=True)
    sites.insert(0, "site_id", [f"ZJ-{i:04d}" for i in range(len(sites))])

    # -- lines: GridKit links between sites, joints contracted -------------------------------
    site_of_v = np.full(len(gv), -1, np.int64)
    sub_sites = sites[sites["gridkit_id"] != ""]
    site_of_v[
        pos.reindex(sub_sites["gridkit_id"].astype(np.int64).to_numpy()).to_numpy().astype(np.int64)
    ] = sub_sites.index.to_numpy()
    # GridKit plant vertices: the site of the nearest plant within MERGE_M
    is_plant = (gv["typ"] == "plant").to_numpy()
    pl_rows = np.flatnonzero(sites["kind"].isin(["plant", "converter"]).to_numpy())
    if len(pl_rows) and is_plant.any():
        dd, jj = cKDTree(_xy(sites["lon"].to_numpy()[pl_rows], sites["lat"].to_numpy()[pl_rows])).query(
            _xy(gv["lon"].to_numpy()[is_plant], gv["lat"].to_numpy()[is_plant])
        )
        vv = np.flatnonzero(is_plant)
        site_of_v[vv[dd <= MERGE_M]] = pl_rows[jj[dd <= MERGE_M]]
    terminal = (gv["typ"].isin(["substation", "plant"])).to_numpy()
    # union-find over joints/merges
    parent = np.arange(len(gv))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        if not terminal[x] and not terminal[y]:
            rx, ry = find(x), find(y)
            if rx != ry:
                parent[rx] = ry
    length = gl["length_m"].to_numpy(float) / 1000.0
    geom = shapely.from_wkt(gl["wkt_srid_4326"].str.replace(r"^SRID=\d+;", "", regex=True).to_numpy())
    mid = shapely.line_interpolate_point(geom, 0.5, normalized=True)
    rows = []
    clusters: dict[int, dict] = {}
    for k, (x, y) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        if terminal[x] and terminal[y]:
            sa, sb = site_of_v[x], site_of_v[y]
            if sa >= 0 and sb >= 0 and sa != sb:
                rows.append(
                    (
                        int(sa),
                        int(sb),
                        line_kv[k],
                        length[k],
                        int(gl["circuits"].iat[k]),
                        shapely.get_x(mid[k]),
                        shapely.get_y(mid[k]),
                        str(gl["l_id"].iat[k]),
                    )
                )
            continue
        c = find(y) if terminal[x] else find(x)
        cl = clusters.setdefault(c, {"km": 0.0, "kv": 0.0, "circ": 1, "ends": set(), "n_out": 0, "ids": []})
        cl["km"] += length[k]
        cl["kv"] = max(cl["kv"], line_kv[k])
        cl["circ"] = max(cl["circ"], int(gl["circuits"].iat[k]))
        cl["ids"].append(str(gl["l_id"].iat[k]))
        for t in (x, y):
            if terminal[t]:
                if site_of_v[t] >= 0:
                    cl["ends"].add(int(site_of_v[t]))
                else:
                    cl["n_out"] += 1
    sll = sites[["lon", "lat"]].to_numpy(float)
    for cl in clusters.values():
        ends = sorted(cl["ends"])
        if len(ends) < 2:
            continue
        e = _xy(sll[ends, 0], sll[ends, 1])
        dm = np.hypot(e[:, None, 0] - e[None, :, 0], e[:, None, 1] - e[None, :, 1])
        dm[dm == 0] = 1.0
        np.fill_diagonal(dm, 0.0)
        t = minimum_spanning_tree(np.triu(dm)).tocoo()
        share = cl["km"] * (len(ends) - 1) / (len(ends) - 1 + cl["n_out"])
        w_ = dm[t.row, t.col] / dm[t.row, t.col].sum()
        for i, j, f in zip(t.row.tolist(), t.col.tolist(), w_.tolist(), strict=True):
            sa, sb = ends[i], ends[j]
            rows.append(
                (
                    sa,
                    sb,
                    cl["kv"],
                    share * f,
                    cl["circ"],
                    0.5 * (sll[sa, 0] + sll[sb, 0]),
                    0.5 * (sll[sa, 1] + sll[sb, 1]),
                    "+".join(cl["ids"]),
                )
            )
    lines = pd.DataFrame(
        rows, columns=["a", "b", "voltage_kv", "length_km", "circuits", "mid_lon", "mid_lat", "gridkit_ids"]
    )
    lines["site_a"] = sites["site_id"].to_numpy()[lines["a"]]
    lines["site_b"] = sites["site_id"].to_numpy()[lines["b"]]
    lines["length_km"] = lines["length_km"].round(3)
    lines["mid_lon"] = lines["mid_lon"].round(6)
    lines["mid_lat"] = lines["mid_lat"].round(6)
    lines["source"] = "gridkit"
    lines = lines[lines["voltage_kv"] >= 220]
    lines = lines[
        [
            "site_a",
            "site_b",
            "voltage_kv",
            "length_km",
            "circuits",
            "mid_lon",
            "mid_lat",
            "source",
            "gridkit_ids",
        ]
    ]
    lines.insert(0, "line_id", [f"ZJL-{i:04d}" for i in range(len(lines))])

    out.mkdir(parents=True, exist_ok=True)
    sites.to_csv(out / "power_sites.csv", index=False)
    lines.to_csv(out / "power_lines.csv", index=False)
    tagged.to_csv(out / "power_tagged_substations.csv", index=False)
    return {
        "sites": len(sites),
        "substations_500kv": int(((sites["kind"] == "substation") & (sites["voltage_kv"] >= 500)).sum()),
        "substations_220kv": int(((sites["kind"] == "substation") & (sites["voltage_kv"] < 500)).sum()),
        "plants": int(sites["kind"].isin(["plant", "converter"]).sum()),
        "lines": len(lines),
        "line_km": float(lines["length_km"].sum()),
        "tagged": len(tagged),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "power")
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "rescity" / "data" / "odbl")
    args = ap.parse_args()
    print(build(args.data, args.out))


if __name__ == "__main__":
    main()
