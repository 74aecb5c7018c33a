"""The real ≥ 220 kV power grid of Zhejiang from open data, completed by the generator.

The packaged files in ``rescity/data/odbl`` (ODbL 1.0; derived once by
``scripts/build_power_backbone.py`` from OpenStreetMap, GridKit and the WRI Global Power Plant
Database) give power plants, 500 kV and 220 kV substations at their real locations and the 220/500 kV
lines GridKit holds. :func:`add_backbone` puts them in a twin and completes them where the data has
gaps — substations up to the generator's per-prefecture and per-county counts, a ring over the
500 kV substations, two lines from every plant, and *ears* so that every substation joins the grid
by at least two lines — all marked ``source = generated``. The rules are in ``docs/twin.md``
("Power backbone from open data").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from rescity import data
from rescity.twin.grid import Projector, systematic_pps
from rescity.twin.lifelines import (
    CAP_220KV_MVA,
    P_CAP_220KV,
    LifelineParams,
    _delaunay_pairs,
    _tour,
    add_220kv_substations,
)

if TYPE_CHECKING:
    from rescity.twin.lifelines import _Builder

#: Two points closer than this are one site, m.
MERGE_M = 500.0
#: Untagged substations with no GridKit line: 500 kV from this polygon area up, m² (tagged 500 kV
#: substations of the region: median 62,000 m², lower quartile 31,000 m²).
AREA_500KV_M2 = 45_000.0
#: … 220 kV from this area up, m² (tagged 220 kV: median 24,000 m²; 110 kV: median 3,800 m²,
#: upper quartile 6,600 m²).
AREA_220KV_M2 = 15_000.0

#: Transformer capacity per substation class, MVA, from typical State Grid ratings (State Grid
#: Corporation of China, 国家电网公司输变电工程通用设计 — general design of 110–500 kV substations,
#: 2011 ed.; 1000 kV: the Zhebei (Anji) UHV substation of the Huainan–Shanghai line): 1000 kV UHV AC 2 × 3,000;
#: 500 kV 2–4 × 1,000; 220 kV 2 × 180, 2 × 240 or 3 × 240; 110 kV (the generator's, in
#: :class:`LifelineParams`) 2 × 31.5, 2 × 50 or 3 × 50.
UHV_MVA = 6000.0
CAP_500KV_MVA = (2000.0, 3000.0, 4000.0)
P_CAP_500KV = (0.3, 0.5, 0.2)

#: Generator rules of the backbone twin: the 110 kV layer scaled so that the twin's substation
#: capacity and line length at 35 kV and above come within 15 % of State Grid Zhejiang's published
#: totals (``rescity twin stats``); every 110 kV substation fed from two 220 kV substations (the
#: usual chain or dual-radial supply of 110 kV in Zhejiang).
BACKBONE_PARAMS = replace(
    LifelineParams(),
    people_per_110kv=3.2e4,
    max_110kv_per_county=80,
    p_110kv_dual=1.0,
    p_110kv_dual_urban=0.0,
)

#: Cost of plants, CNY per kW, by fuel (order of magnitude, as the generator's).
_COST_PER_KW = {
    "coal": 3500.0,
    "gas": 3000.0,
    "nuclear": 16000.0,
    "hydro": 7000.0,
    "pumped_storage": 5500.0,
    "uhvdc_converter": 1250.0,
    "wind": 7000.0,
    "waste": 8000.0,
}


@dataclass
class Backbone:
    """Real sites and lines in the twin's metric projection.

    ``sites``: ``site_id``, ``name``, ``kind`` (substation, plant, converter), ``voltage_kv``,
    ``lon``, ``lat``, ``x``, ``y`` (m), ``source``, ``capacity_mw``, ``fuel``.
    ``lines``: ``a``, ``b`` (positions in ``sites``), ``voltage_kv``, ``length_km``,
    ``circuits``, ``x``, ``y`` (midpoint, m), ``source``.
    """

    sites: pd.DataFrame
    lines: pd.DataFrame


def infer_voltage(
    tag_kv: np.ndarray, gridkit_tag_kv: np.ndarray, line_kv: np.ndarray, area_m2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Voltage of substations, kV, by the first rule that applies (NaN: below 220 kV / unknown).

    1. the OSM ``voltage`` tag (highest listed value);
    2. the tag of the GridKit substation at the same site (within :data:`MERGE_M`);
    3. the highest voltage of the GridKit lines ending at the site;
    4. the polygon's area: ≥ :data:`AREA_500KV_M2` → 500 kV, ≥ :data:`AREA_220KV_M2` → 220 kV,
       smaller → below 220 kV (left to the generated 110 kV layer).

    Proximity (:func:`merge_nearby`) then folds area-inferred polygons into a nearby site.
    Returns ``(kv, rule)`` with ``rule`` naming the rule used (``""`` when none applied).
    """
    tag = np.asarray(tag_kv, float)
    gk = np.asarray(gridkit_tag_kv, float)
    ln = np.asarray(line_kv, float)
    area = np.asarray(area_m2, float)
    kv = np.full(len(tag), np.nan)
    rule = np.full(len(tag), "", dtype=object)
    by_area = np.where(area >= AREA_500KV_M2, 500.0, np.where(area >= AREA_220KV_M2, 220.0, np.nan))
    for value, name in (
        (tag, "osm voltage tag"),
        (gk, "gridkit voltage tag"),
        (np.where(ln > 0, ln, np.nan), "connected gridkit lines"),
        (by_area, "area"),
    ):
        take = np.isnan(kv) & np.isfinite(value)
        kv[take] = value[take]
        rule[take] = name
    return kv, rule


def merge_nearby(
    xy: np.ndarray, rule: np.ndarray, area_m2: np.ndarray, radius_m: float = MERGE_M
) -> np.ndarray:
    """Mask of sites to drop by proximity: a site whose voltage came from its area alone is part
    of any site with tag or line evidence within ``radius_m`` (a switchyard, a second polygon of
    one substation); of area-inferred sites closer than ``radius_m`` the largest stands for all."""
    xy = np.asarray(xy, float).reshape(-1, 2)
    by_area = np.asarray(rule) == "area"
    drop = np.zeros(len(xy), bool)
    evid = np.flatnonzero(~by_area)
    if len(evid) and by_area.any():
        d, _ = cKDTree(xy[evid]).query(xy[by_area])
        drop[np.flatnonzero(by_area)[d <= radius_m]] = True
    cand = np.flatnonzero(by_area & ~drop)
    cand = cand[np.argsort(-np.asarray(area_m2, float)[cand], kind="stable")]
    kept: list[int] = []
    for i in cand:  # a few hundred polygons, largest first
        if kept and np.hypot(*(xy[kept] - xy[i]).T).min() <= radius_m:
            drop[i] = True
        else:
            kept.append(int(i))
    return drop


def load_backbone(proj: Projector) -> Backbone:
    """Read the packaged backbone and project it with ``proj``."""
    sites = pd.read_csv(data.path("odbl/power_sites.csv"), dtype={"county_code": str, "gridkit_id": str})
    lines = pd.read_csv(data.path("odbl/power_lines.csv"))
    sites["name"] = sites["name"].fillna("").astype(str)
    sites["fuel"] = sites["fuel"].fillna("").astype(str)
    sites["x"], sites["y"] = proj.to_xy(sites["lon"].to_numpy(float), sites["lat"].to_numpy(float))
    pos = pd.Series(np.arange(len(sites)), index=sites["site_id"].to_numpy())
    lines["a"] = pos.reindex(lines["site_a"].to_numpy()).to_numpy()
    lines["b"] = pos.reindex(lines["site_b"].to_numpy()).to_numpy()
    if lines[["a", "b"]].isna().any().any():
        raise ValueError("power_lines.csv refers to a site missing from power_sites.csv")
    lines["a"] = lines["a"].astype(np.int64)
    lines["b"] = lines["b"].astype(np.int64)
    lines["x"], lines["y"] = proj.to_xy(lines["mid_lon"].to_numpy(float), lines["mid_lat"].to_numpy(float))
    return Backbone(sites=sites, lines=lines)


def _pairs(a: np.ndarray, b: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist(), strict=True))


def add_backbone(
    b: _Builder, p: LifelineParams, rng: np.random.Generator, bb: Backbone
) -> dict[str, np.ndarray]:
    """Put the real ≥ 220 kV grid into the builder ``b`` and complete it; returns the positions of
    ``plants``, ``s500``, ``s220``, ``l500``, ``l220`` (as the generated grid does)."""
    r = b.r
    cells, co, pf = r.cells, r.counties, r.prefectures
    cpop = cells["population"].to_numpy(float)
    ccounty = cells["county"].to_numpy(np.int64)
    cty_pref = co["prefecture"].to_numpy(np.int64)
    cpref = cty_pref[ccounty]
    hil = cells["hilbert"].to_numpy()
    cty_pop = co["population"].to_numpy(float)

    S = bb.sites
    sx, sy = S["x"].to_numpy(float), S["y"].to_numpy(float)
    scell = b.nearest_cell(sx, sy)
    kv = S["voltage_kv"].to_numpy(float)
    kind = S["kind"].to_numpy(object)
    src = S["source"].to_numpy(object)
    # names: the OSM/WRI name, with the county (zh, en) and the class
    codes = co["code"].to_numpy(object)
    cty = pd.Series(co["name_zh"].to_numpy(object) + " " + co["name_en"].to_numpy(object), index=codes)
    cty = cty.reindex(S["county_code"].astype(str).to_numpy()).fillna("").to_numpy(object)
    label = np.where(
        kind != "substation",
        "power plant",
        np.where(
            kv >= 1000, "1000 kV substation", np.where(kv >= 500, "500 kV substation", "220 kV substation")
        ),
    )
    raw = S["name"].to_numpy(object)
    full = np.array([f"{n} ({c} {lb})" for n, c, lb in zip(raw, cty, label, strict=True)], dtype=object)
    names = np.where(raw == "", None, np.where(kind == "converter", raw, full))
    site_pos = np.full(len(S), -1, np.int64)

    # -- plants and converter stations (sources) ---------------------------------------------
    ip = np.flatnonzero(np.isin(kind, ["plant", "converter"]))
    fuel = S["fuel"].to_numpy(object)[ip]
    mw = S["capacity_mw"].to_numpy(float)[ip]
    fclass = np.where(fuel == "uhvdc_converter", "converter_station", "plant_" + fuel.astype(str)).astype(
        object
    )
    cost = mw * 1000.0 * pd.Series(fuel).map(_COST_PER_KW).fillna(3500.0).to_numpy()
    plants = b.add(
        "power",
        "power_plant",
        sx[ip],
        sy[ip],
        scell[ip],
        fclass,
        mw / 0.9,
        "MVA",
        cost,
        is_source=True,
        name=names[ip],
        source=src[ip],
    )
    site_pos[ip] = plants

    # -- 500 kV (and 1000 kV UHV AC) substations: real, then generated up to the per-prefecture count
    i5 = np.flatnonzero((kind == "substation") & (kv >= 500))
    cap5 = np.where(
        kv[i5] >= 1000,
        UHV_MVA,
        rng.choice(np.asarray(CAP_500KV_MVA), size=len(i5), p=np.asarray(P_CAP_500KV)),
    )
    real5 = b.add(
        "power",
        "substation_500kv",
        sx[i5],
        sy[i5],
        scell[i5],
        "substation_500kv_anchored",
        cap5,
        "MVA",
        5.0e8 * (cap5 / 3000.0) ** 0.7,
        name=names[i5],
        source=src[i5],
    )
    site_pos[i5] = real5
    k500 = np.maximum(2, np.round(pf["population"].to_numpy(float) / p.people_per_500kv)).astype(np.int64)
    have5 = np.bincount(cpref[scell[i5]], minlength=len(pf))
    sel, _ = systematic_pps(cpref, hil, cpop, np.maximum(k500 - have5, 0), rng)
    gx, gy = b.at_cells(sel, rng)
    gcap5 = rng.choice(np.asarray(CAP_500KV_MVA), size=len(sel), p=np.asarray(P_CAP_500KV))
    gen5 = b.add(
        "power",
        "substation_500kv",
        gx,
        gy,
        sel,
        "substation_500kv_anchored",
        gcap5,
        "MVA",
        5.0e8 * (gcap5 / 3000.0) ** 0.7,
    )
    s500 = np.r_[real5, gen5]

    # -- 220 kV substations: real, then generated up to the per-county count (1 + pop rules)
    i2 = np.flatnonzero((kind == "substation") & (kv >= 220) & (kv < 500))
    cap2 = rng.choice(np.asarray(CAP_220KV_MVA), size=len(i2), p=np.asarray(P_CAP_220KV))
    anch = rng.random(len(i2)) < 0.85
    real2 = b.add(
        "power",
        "substation_220kv",
        sx[i2],
        sy[i2],
        scell[i2],
        np.where(anch, "substation_220kv_anchored", "substation_220kv_unanchored"),
        cap2,
        "MVA",
        1.2e8 * (cap2 / 480.0) ** 0.7,
        name=names[i2],
        source=src[i2],
    )
    site_pos[i2] = real2
    k220 = (1 + (cty_pop >= p.pop_220kv_second) + (cty_pop >= p.pop_220kv_third)).astype(np.int64)
    have2 = np.bincount(ccounty[scell[i2]], minlength=len(co))
    sel2, _ = systematic_pps(ccounty, hil, cpop, np.maximum(k220 - have2, 0), rng)
    gen2, _, _ = add_220kv_substations(b, sel2, rng)
    s220 = np.r_[real2, gen2]

    # -- real lines (GridKit): length from the data, capacity per circuit ----------------------
    L = bb.lines
    la, lb = site_pos[L["a"].to_numpy()], site_pos[L["b"].to_numpy()]
    ok = (la >= 0) & (lb >= 0) & (la != lb)
    L, la, lb = L[ok], la[ok], lb[ok]
    hi = L["voltage_kv"].to_numpy(float) >= 500
    km = L["length_km"].to_numpy(float)
    circ = L["circuits"].to_numpy(float)
    real_lines = {}
    for lkind, m, cls, mva, per_km in (
        ("line_500kv", hi, "tower_500kv", 2500.0, 4.5e6),
        ("line_220kv", ~hi, "tower_220kv", 500.0, 1.6e6),
    ):
        lx, ly = L["x"].to_numpy(float)[m], L["y"].to_numpy(float)[m]
        pos = b.add(
            "power",
            lkind,
            lx,
            ly,
            b.nearest_cell(lx, ly),
            cls,
            mva * circ[m],
            "MVA",
            per_km * km[m],
            length_km=km[m],
            source=L["source"].to_numpy(object)[m],
        )
        b.edge("power", la[m], pos)
        b.edge("power", pos, lb[m])
        real_lines[lkind] = pos
    linked = _pairs(la, lb)

    # -- generated completion: a ring with chords over the 500 kV substations --------------------
    X, Y = b.xy()
    x5, y5 = X[s500], Y[s500]
    t = _tour(x5, y5)
    ra, rb = t, np.roll(t, -1)
    ring_len = np.hypot(x5[ra] - x5[rb], y5[ra] - y5[rb])
    da, db = _delaunay_pairs(x5, y5)
    have = _pairs(ra, rb)
    dl = np.hypot(x5[da] - x5[db], y5[da] - y5[db])
    extra = np.array([(i, j) not in have for i, j in zip(da.tolist(), db.tolist(), strict=True)], bool)
    extra &= dl <= p.chord_factor * np.median(ring_len)
    a5, b5 = s500[np.r_[ra, da[extra]]], s500[np.r_[rb, db[extra]]]
    new = np.array(
        [(min(i, j), max(i, j)) not in linked for i, j in zip(a5.tolist(), b5.tolist(), strict=True)]
    )
    a5, b5 = a5[new], b5[new]
    # plants: two lines each to the two nearest substations of their class (≥ 1,000 MW: 500 kV)
    big = (mw >= 1000.0) | (fuel == "uhvdc_converter")
    s_any = np.r_[s500, s220]
    _, n5 = cKDTree(np.c_[x5, y5]).query(np.c_[X[plants], Y[plants]], k=2)
    _, na = cKDTree(np.c_[X[s_any], Y[s_any]]).query(np.c_[X[plants], Y[plants]], k=2)
    l500 = b.link(
        "power",
        "line_500kv",
        np.r_[a5, plants[big], plants[big]],
        np.r_[b5, s500[n5[big, 0]], s500[n5[big, 1]]],
        "tower_500kv",
        2500.0,
        "MVA",
        4.5e6,
        detour=1.15,
    )
    small = ~big
    lp2 = b.link(
        "power",
        "line_220kv",
        np.r_[plants[small], plants[small]],
        np.r_[s_any[na[small, 0]], s_any[na[small, 1]]],
        "tower_220kv",
        500.0,
        "MVA",
        1.6e6,
        detour=1.15,
    )
    # ears: 220 kV substations, nearest to the 500 kV grid first, each joined to two distinct
    # substations already in the grid, counting its real lines to them (keeps it 2-connected)
    X, Y = b.xy()
    x2, y2 = X[s220], Y[s220]
    nbr: dict[int, set[int]] = {}
    for i, j in linked:
        nbr.setdefault(i, set()).add(j)
        nbr.setdefault(j, set()).add(i)
    d_to_500 = cKDTree(np.c_[x5, y5]).query(np.c_[x2, y2])[0]
    core = list(s500.tolist())
    core_x, core_y = list(x5), list(y5)
    ea, eb = [], []
    for i in np.argsort(d_to_500, kind="stable"):  # a few hundred substations
        me = int(s220[i])
        have_core = nbr.get(me, set()) & set(core)
        need = 2 - len(have_core)
        if need > 0:
            dd = np.hypot(np.asarray(core_x) - x2[i], np.asarray(core_y) - y2[i])
            for k in np.argsort(dd, kind="stable"):
                if need == 0:
                    break
                if core[k] in have_core:
                    continue
                ea.append(me)
                eb.append(core[k])
                need -= 1
        core.append(me)
        core_x.append(x2[i])
        core_y.append(y2[i])
    l220 = b.link(
        "power",
        "line_220kv",
        np.asarray(ea, np.int64),
        np.asarray(eb, np.int64),
        "tower_220kv",
        500.0,
        "MVA",
        1.6e6,
        detour=1.15,
    )
    return {
        "plants": plants,
        "s500": s500,
        "s220": s220,
        "l500": np.r_[real_lines["line_500kv"], l500],
        "l220": np.r_[real_lines["line_220kv"], lp2, l220],
    }
