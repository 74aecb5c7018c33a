"""A small but complete interdependent twin, for tests, examples and benchmarks.

:func:`toy_twin` builds a synthetic province (codes ``99xxxx``, not a real place) of one
prefecture, ``counties`` counties and ``cells_per_county`` grid cells per county, with

* **power**: a province power plant (source) → a 220 kV line → one 220 kV substation per county
  (the county substations also form a ring through 220 kV lines) → a 110 kV line → one 110 kV
  substation per cell → ``feeders_per_cell`` 10 kV feeders → one distribution transformer each
  (the power terminals of the cell);
* **water**: one treatment works per county (source) → a trunk main per cell → a pump station →
  a distribution node (the water terminal of the cell);
* **telecom**: a province core node (source) → a fibre link → one aggregation node per county →
  a fibre link per base station → ``base_stations_per_cell`` base stations per cell (terminals);
* **road**: a county-seat road hub per county (source) → a local road to each cell's road node,
  through a bridge in every second cell; neighbouring cells of a county are linked by a second
  local road and the hubs of neighbouring counties by a national road;
* **facilities**: a hospital per county and a shelter per cell;
* **dependencies**: pump station ← 110 kV substation (no buffer); base station ← distribution
  transformer (3 h battery); aggregation node ← 220 kV substation (8 h); treatment works ←
  220 kV substation (24 h generator); 220 kV substation control ← aggregation node (24 h);
  hospital ← 220 kV substation (72 h generator) and ← the distribution node of its cell (24 h
  tank); shelter ← the first distribution transformer of its cell (no buffer);
* **service**: each cell's people get power through its transformers (in equal parts), water
  through its distribution node, telecom through its base stations (equal parts) and road access
  through its road node.

With the defaults it has 4 cells and 86 assets; ``toy_twin(counties=60, cells_per_county=20,
feeders_per_cell=12, base_stations_per_cell=8)`` has about 60,000.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rescity.twin.model import Twin, conform

_COST = {  # replacement cost, CNY (order of magnitude, for examples only)
    "power_plant": 5e9,
    "substation_220kv": 1.5e8,
    "substation_110kv": 4e7,
    "line_220kv": 2e7,
    "line_110kv": 8e6,
    "feeder_10kv": 1e6,
    "distribution_transformer": 2e5,
    "treatment_plant": 3e8,
    "trunk_main": 5e6,
    "pump_station": 2e7,
    "distribution_node": 1e6,
    "core_node": 5e7,
    "aggregation_node": 1e7,
    "fiber_link": 2e5,
    "base_station": 3e5,
    "road_hub": 1e7,
    "local_road": 2e7,
    "national_road": 1e8,
    "bridge": 5e7,
    "road_node": 1e6,
    "hospital": 5e8,
    "shelter": 2e7,
}


class _Assets:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, system: str, kind: str, lon: float, lat: float, unit_id: str, **kw) -> int:
        i = len(self.rows)
        self.rows.append(
            {
                "asset_id": f"{kind}-{i}",
                "system": system,
                "kind": kind,
                "lon": lon,
                "lat": lat,
                "unit_id": unit_id,
                "fragility_class": kw.get("fragility_class", ""),
                "capacity": kw.get("capacity", 0.0),
                "capacity_unit": kw.get("capacity_unit", ""),
                "replacement_cost_cny": _COST.get(kind, 0.0),
                "backup_h": kw.get("backup_h", 0.0),
                "length_km": kw.get("length_km", 0.0),
                "is_source": kw.get("is_source", False),
                "name": kw.get("name", f"{kind} {i}"),
            }
        )
        return i


def toy_twin(
    counties: int = 2,
    cells_per_county: int = 2,
    feeders_per_cell: int = 2,
    base_stations_per_cell: int = 2,
    seed: int = 0,
    lon0: float = 120.2,
    lat0: float = 28.2,
    spacing_deg: float = 0.25,
) -> Twin:
    """Build the toy twin (see the module docstring).

    Parameters
    ----------
    counties, cells_per_county:
        Number of counties and grid cells per county.
    feeders_per_cell, base_stations_per_cell:
        Power and telecom terminals per cell.
    seed:
        Seeds the cell populations (5,000–50,000 people) and urban shares (0.2–0.95).
    lon0, lat0, spacing_deg:
        South-west corner of the county grid and the distance between county centres, degrees.
    """
    if min(counties, cells_per_county, feeders_per_cell, base_stations_per_cell) < 1:
        raise ValueError("every count must be ≥ 1")
    rng = np.random.default_rng(seed)
    ncol = int(np.ceil(np.sqrt(counties)))
    # --- units --------------------------------------------------------------------------------
    prov, pref = "990000", "990100"
    units = [
        dict(unit_id=prov, level="province", parent_id="", name_zh="玩具省", name_en="Toy Province"),
        dict(unit_id=pref, level="prefecture", parent_id=prov, name_zh="玩具市", name_en="Toy City"),
    ]
    cells = []
    for c in range(counties):
        cid = f"9901{c + 1:02d}" if counties < 100 else f"99{c + 1:04d}"
        cx = lon0 + spacing_deg * (c % ncol)
        cy = lat0 + spacing_deg * (c // ncol)
        units.append(
            dict(
                unit_id=cid,
                level="county",
                parent_id=pref,
                name_zh=f"玩具县{c + 1}",
                name_en=f"Toy County {c + 1}",
                lon=cx,
                lat=cy,
            )
        )
        k_side = int(np.ceil(np.sqrt(cells_per_county)))
        for k in range(cells_per_county):
            lon = cx + spacing_deg * ((k % k_side) + 0.5) / k_side - spacing_deg / 2
            lat = cy + spacing_deg * ((k // k_side) + 0.5) / k_side - spacing_deg / 2
            cells.append(
                dict(
                    unit_id=f"{cid}-c{k + 1}",
                    level="cell",
                    parent_id=cid,
                    name_zh=f"玩具县{c + 1}网格{k + 1}",
                    name_en=f"Toy County {c + 1} cell {k + 1}",
                    lon=lon,
                    lat=lat,
                    county=c,
                    k=k,
                )
            )
    n_cells = len(cells)
    pop = rng.integers(5_000, 50_001, n_cells)
    urban = rng.uniform(0.2, 0.95, n_cells)
    hh_size = 2.6
    for i, cell in enumerate(cells):
        cell.update(
            population=int(pop[i]),
            households=int(round(pop[i] / hh_size)),
            urban_share=float(urban[i]),
            share_age_0_14=0.13,
            share_age_65_plus=0.14,
            area_km2=(spacing_deg * 100) ** 2 / cells_per_county,
        )
    udf = pd.DataFrame(units + [{k: v for k, v in c.items() if k not in ("county", "k")} for c in cells])
    # aggregate population upwards
    cdf = udf[udf["level"] == "cell"]
    by_county = cdf.groupby("parent_id").agg(
        population=("population", "sum"), households=("households", "sum")
    )
    urban_pop = (cdf["population"] * cdf["urban_share"]).groupby(cdf["parent_id"]).sum()
    lon_c = cdf.groupby("parent_id")["lon"].mean()
    lat_c = cdf.groupby("parent_id")["lat"].mean()
    is_c = udf["level"] == "county"
    udf.loc[is_c, "population"] = udf.loc[is_c, "unit_id"].map(by_county["population"])
    udf.loc[is_c, "households"] = udf.loc[is_c, "unit_id"].map(by_county["households"])
    udf.loc[is_c, "urban_share"] = udf.loc[is_c, "unit_id"].map(urban_pop / by_county["population"])
    udf.loc[is_c, "area_km2"] = (spacing_deg * 100) ** 2
    total, total_hh = int(pop.sum()), int(cdf["households"].sum())
    for lvl in ("province", "prefecture"):
        m = udf["level"] == lvl
        udf.loc[m, "population"] = total
        udf.loc[m, "households"] = total_hh
        udf.loc[m, "urban_share"] = float((pop * urban).sum() / total)
        udf.loc[m, "lon"] = lon_c.mean()
        udf.loc[m, "lat"] = lat_c.mean()
        udf.loc[m, "area_km2"] = counties * (spacing_deg * 100) ** 2
    udf["share_age_0_14"] = 0.13
    udf["share_age_65_plus"] = 0.14
    units_t = conform(udf, "units")
    unit_pos = pd.Series(np.arange(len(units_t)), index=units_t["unit_id"])

    # --- assets, edges, dependencies, service -------------------------------------------------
    A = _Assets()
    edges: list[tuple[str, int, int]] = []
    deps: list[tuple[int, int, str, float]] = []
    serv: list[tuple[int, int, str, float]] = []
    plon, plat = float(lon_c.mean()), float(lat_c.mean())
    plant = A.add(
        "power",
        "power_plant",
        plon - 0.05,
        plat,
        prov,
        is_source=True,
        capacity=2000,
        capacity_unit="MVA",
        fragility_class="coastal",
    )
    core = A.add(
        "telecom",
        "core_node",
        plon,
        plat + 0.05,
        prov,
        is_source=True,
        capacity=1e6,
        capacity_unit="subscribers",
    )
    s220, agg, hub, wtp = [], [], [], []
    for c in range(counties):
        cid = units_t.loc[units_t["level"] == "county", "unit_id"].iloc[c]
        cx, cy = float(lon_c[cid]), float(lat_c[cid])
        s = A.add("power", "substation_220kv", cx, cy, cid, capacity=360, capacity_unit="MVA")
        ln = A.add(
            "power",
            "line_220kv",
            (cx + plon) / 2,
            (cy + plat) / 2,
            cid,
            length_km=float(np.hypot(cx - plon, cy - plat) * 100),
        )
        edges += [("power", plant, ln), ("power", ln, s)]
        a = A.add("telecom", "aggregation_node", cx + 0.01, cy, cid, backup_h=8)
        fl = A.add("telecom", "fiber_link", (cx + plon) / 2, (cy + plat + 0.05) / 2, cid, length_km=30.0)
        edges += [("telecom", core, fl), ("telecom", fl, a)]
        h = A.add("road", "road_hub", cx, cy - 0.01, cid, is_source=True, name=f"county seat {c + 1}")
        w = A.add(
            "water",
            "treatment_plant",
            cx - 0.01,
            cy,
            cid,
            is_source=True,
            backup_h=24,
            capacity=2e5,
            capacity_unit="m3/d",
        )
        deps += [(a, s, "power", 8.0), (w, s, "power", 24.0), (s, a, "telecom", 24.0)]
        s220.append(s)
        agg.append(a)
        hub.append(h)
        wtp.append(w)
    for c in range(counties - 1):  # 220 kV ring and national roads between neighbouring counties
        a_, b_ = s220[c], s220[c + 1]
        r = A.rows
        ln = A.add(
            "power",
            "line_220kv",
            (r[a_]["lon"] + r[b_]["lon"]) / 2,
            (r[a_]["lat"] + r[b_]["lat"]) / 2,
            r[a_]["unit_id"],
            length_km=25.0,
        )
        edges += [("power", a_, ln), ("power", ln, b_)]
        nr = A.add(
            "road",
            "national_road",
            (r[hub[c]]["lon"] + r[hub[c + 1]]["lon"]) / 2,
            (r[hub[c]]["lat"] + r[hub[c + 1]]["lat"]) / 2,
            r[hub[c]]["unit_id"],
            length_km=25.0,
        )
        edges += [("road", hub[c], nr), ("road", nr, hub[c + 1])]
    prev_node: dict[int, int] = {}
    first_dn: dict[int, int] = {}
    for cell in cells:
        c, k = cell["county"], cell["k"]
        uid, lon, lat = cell["unit_id"], cell["lon"], cell["lat"]
        upos = int(unit_pos[uid])
        p = float(cell["population"])
        s110 = A.add("power", "substation_110kv", lon, lat, uid, capacity=80, capacity_unit="MVA")
        l110 = A.add("power", "line_110kv", lon, lat + 0.005, uid, length_km=10.0)
        edges += [("power", s220[c], l110), ("power", l110, s110)]
        dts = []
        for f in range(feeders_per_cell):
            ang = 2 * np.pi * f / feeders_per_cell
            fd = A.add(
                "power", "feeder_10kv", lon + 0.01 * np.cos(ang), lat + 0.01 * np.sin(ang), uid, length_km=5.0
            )
            dt = A.add(
                "power",
                "distribution_transformer",
                lon + 0.02 * np.cos(ang),
                lat + 0.02 * np.sin(ang),
                uid,
                capacity=0.63,
                capacity_unit="MVA",
                fragility_class="ground_mounted" if cell["urban_share"] > 0.6 else "pole_mounted",
            )
            edges += [("power", s110, fd), ("power", fd, dt)]
            serv.append((dt, upos, "power", p / feeders_per_cell))
            dts.append(dt)
        tm = A.add("water", "trunk_main", lon - 0.01, lat, uid, length_km=8.0)
        ps = A.add("water", "pump_station", lon - 0.005, lat, uid, capacity=3e4, capacity_unit="m3/d")
        dn = A.add("water", "distribution_node", lon, lat - 0.005, uid)
        edges += [("water", wtp[c], tm), ("water", tm, ps), ("water", ps, dn)]
        deps.append((ps, s110, "power", 0.0))
        serv.append((dn, upos, "water", p))
        first_dn.setdefault(c, dn)
        for b in range(base_stations_per_cell):
            ang = 2 * np.pi * (b + 0.5) / base_stations_per_cell
            fl = A.add(
                "telecom",
                "fiber_link",
                lon + 0.012 * np.cos(ang),
                lat + 0.012 * np.sin(ang),
                uid,
                length_km=3.0,
            )
            bs = A.add(
                "telecom",
                "base_station",
                lon + 0.015 * np.cos(ang),
                lat + 0.015 * np.sin(ang),
                uid,
                backup_h=3,
                capacity=2000,
                capacity_unit="subscribers",
            )
            edges += [("telecom", agg[c], fl), ("telecom", fl, bs)]
            deps.append((bs, dts[b % len(dts)], "power", 3.0))
            serv.append((bs, upos, "telecom", p / base_stations_per_cell))
        lr = A.add("road", "local_road", lon, lat - 0.01, uid, length_km=6.0)
        rn = A.add("road", "road_node", lon, lat - 0.015, uid)
        if k % 2 == 1:
            br = A.add("road", "bridge", lon + 0.003, lat - 0.012, uid, length_km=0.3)
            edges += [("road", hub[c], lr), ("road", lr, br), ("road", br, rn)]
        else:
            edges += [("road", hub[c], lr), ("road", lr, rn)]
        if c in prev_node:
            lr2 = A.add("road", "local_road", lon - 0.01, lat - 0.015, uid, length_km=5.0)
            edges += [("road", prev_node[c], lr2), ("road", lr2, rn)]
        prev_node[c] = rn
        serv.append((rn, upos, "road", p))
        sh = A.add(
            "facility", "shelter", lon + 0.005, lat + 0.005, uid, capacity=p * 0.05, capacity_unit="people"
        )
        deps.append((sh, dts[0], "power", 0.0))
    for c in range(counties):
        cid = A.rows[s220[c]]["unit_id"]
        hosp = A.add(
            "facility",
            "hospital",
            A.rows[s220[c]]["lon"] + 0.02,
            A.rows[s220[c]]["lat"],
            cid,
            capacity=500,
            capacity_unit="beds",
            backup_h=72,
        )
        deps += [(hosp, s220[c], "power", 72.0), (hosp, first_dn[c], "water", 24.0)]

    assets_t = conform(pd.DataFrame(A.rows), "assets")
    edges_t = conform(pd.DataFrame(edges, columns=["system", "src", "dst"]), "edges")
    deps_t = conform(
        pd.DataFrame(deps, columns=["dependent", "supplier", "kind", "buffer_h"]), "dependencies"
    )
    serv_t = conform(pd.DataFrame(serv, columns=["terminal", "unit", "system", "people"]), "service")
    return Twin(
        units=units_t,
        assets=assets_t,
        edges=edges_t,
        dependencies=deps_t,
        service=serv_t,
        meta={
            "name": "toy",
            "builder": "rescity.twin.toy.toy_twin",
            "seed": seed,
            "params": dict(
                counties=counties,
                cells_per_county=cells_per_county,
                feeders_per_cell=feeders_per_cell,
                base_stations_per_cell=base_stations_per_cell,
            ),
        },
    )
