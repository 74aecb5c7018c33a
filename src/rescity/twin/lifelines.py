"""A seeded generator of lifeline networks consistent with population and geography.

Given a :class:`Region` (counties, prefectures and populated grid cells in a metric projection),
:func:`generate` lays out power, water, road and telecom networks and emergency facilities,
their dependencies and the service areas of their terminals. Every rule and parameter is in
:class:`LifelineParams` and ``docs/twin.md``. Placement is systematic sampling with probability
proportional to size along a Hilbert curve (see :func:`rescity.twin.grid.systematic_pps`);
nearest neighbours use ``scipy.spatial.cKDTree``; trees use
``scipy.sparse.csgraph.minimum_spanning_tree``. Loops run over counties, prefectures or the few
hundred high-voltage substations, never over the tens of thousands of terminals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial import Delaunay, cKDTree

from rescity.twin.grid import systematic_pps

#: Bump when the generator's output changes for a given seed (keys the cache).
GENERATOR_VERSION = "2"

#: Short prefixes of asset ids, by kind.
ABBR: dict[str, str] = {
    "power_plant": "PP",
    "substation_500kv": "S500",
    "substation_220kv": "S220",
    "substation_110kv": "S110",
    "line_500kv": "L500",
    "line_220kv": "L220",
    "line_110kv": "L110",
    "feeder_10kv": "F10",
    "treatment_plant": "WTP",
    "pump_station": "PS",
    "trunk_main": "TM",
    "distribution_node": "DN",
    "road_hub": "RH",
    "expressway": "EXP",
    "national_road": "NR",
    "local_road": "LR",
    "bridge": "BR",
    "road_node": "RN",
    "core_node": "CORE",
    "aggregation_node": "AGG",
    "base_station": "BS",
    "fiber_link": "FIB",
    "hospital": "HOSP",
    "shelter": "SHEL",
    "depot": "DEP",
}

LABEL: dict[str, str] = {
    "substation_500kv": "500 kV substation",
    "substation_220kv": "220 kV substation",
    "substation_110kv": "110 kV substation",
    "line_500kv": "500 kV line",
    "line_220kv": "220 kV line",
    "line_110kv": "110 kV line",
    "feeder_10kv": "10 kV feeder",
    "treatment_plant": "water treatment works",
    "pump_station": "pumping station",
    "trunk_main": "trunk main",
    "distribution_node": "water distribution",
    "road_hub": "county seat road hub",
    "expressway": "expressway",
    "national_road": "national road",
    "local_road": "local road",
    "bridge": "bridge",
    "road_node": "road access",
    "core_node": "telecom core",
    "aggregation_node": "telecom aggregation",
    "base_station": "base station",
    "fiber_link": "fiber link",
    "hospital": "hospital",
    "shelter": "shelter",
    "depot": "relief depot",
}


@dataclass(frozen=True)
class LifelineParams:
    """Generator rules. Every default is documented in ``docs/twin.md``."""

    # power
    people_per_500kv: float = 2.0e6  # per prefecture, at least 2
    pop_220kv_second: float = 7.0e5  # county population for a 2nd 220 kV substation
    pop_220kv_third: float = 1.8e6  # … and a 3rd
    people_per_110kv: float = 1.2e5  # per county, clipped to [2, max_110kv_per_county]
    max_110kv_per_county: int = 20
    cap_110kv_mva: tuple[float, ...] = (63.0, 100.0, 150.0)
    p_cap_110kv: tuple[float, ...] = (0.3, 0.5, 0.2)
    p_110kv_dual: float = 0.3  # P(second 110 kV feed) = p_110kv_dual + p_110kv_dual_urban × urban share
    p_110kv_dual_urban: float = 0.6
    people_per_feeder: float = 5000.0
    chord_factor: float = 1.0  # extra 500 kV / core chords no longer than this × median ring edge
    # water
    water_m3_per_person_day: float = 0.40  # comprehensive urban supply, MOHURD yearbook order
    people_per_treatment_plant: float = 5.0e5  # clipped to [1, 4]
    people_per_pump_station: float = 1.0e5  # clipped to [2, 16]
    # road
    max_intercounty_km: float = 90.0
    bridge_rate_plain_per_km: float = 0.20
    bridge_rate_coastal_per_km: float = 0.10
    bridge_rate_other_per_km: float = 0.05
    # telecom
    people_per_aggregation: float = 2.5e5  # clipped to [1, 8]
    people_per_bs_urban: float = 2500.0
    people_per_bs_rural: float = 1500.0
    bs_per_fiber: int = 6
    # facilities
    beds_per_1000: float = 6.0
    beds_per_hospital: float = 400.0
    shelter_share: float = 0.05
    shelter_size: float = 1000.0
    # dependencies
    substation_telecom_buffer_h: float = 24.0


@dataclass
class Region:
    """What the generator needs to know about a region, in a metric projection (metres).

    ``counties``: ``code``, ``name_zh``, ``name_en``, ``prefecture`` (index into
    ``prefectures``), ``population``, ``urban_share``, ``area_km2``, ``seat_x``, ``seat_y``,
    ``coastal`` (bool). ``prefectures``: ``code``, ``name_zh``, ``name_en``, ``population``.
    ``cells``: ``x``, ``y`` (a point inside the cell), ``county``, ``population``,
    ``urban_share``, ``area_km2``, ``hilbert``. ``land``: the land polygon (for water crossings).
    """

    counties: pd.DataFrame
    prefectures: pd.DataFrame
    cells: pd.DataFrame
    land: Any
    cell_m: float
    plants: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Real ≥ 220 kV grid (:class:`rescity.twin.backbone.Backbone`); ``None``: all generated.
    backbone: Any = None


@dataclass
class Generated:
    """Generator output; ``cell`` columns are positions in ``Region.cells``."""

    assets: pd.DataFrame  # ASSET_COLUMNS but ``cell`` (int) instead of ``unit_id``, plus x, y
    edges: pd.DataFrame
    dependencies: pd.DataFrame
    service: pd.DataFrame  # terminal, cell, system, people
    params: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# accumulators
# ---------------------------------------------------------------------------------------------

#: Transformer capacity of a 220 kV substation (MVA: 2 × 180, 2 × 240 or 3 × 240) and its shares.
CAP_220KV_MVA = (360.0, 480.0, 720.0)
P_CAP_220KV = (0.3, 0.5, 0.2)


def add_220kv_substations(b: _Builder, sel: np.ndarray, rng: np.random.Generator):
    """Generated 220 kV substations in the cells ``sel``: position in the cell, capacity drawn from
    :data:`CAP_220KV_MVA`, 85 % anchored, replacement cost 1.2e8 CNY × (MVA/480)^0.7.
    Returns ``(asset index, x, y)``."""
    x, y = b.at_cells(sel, rng)
    cap = rng.choice(np.asarray(CAP_220KV_MVA), size=len(sel), p=np.asarray(P_CAP_220KV))
    anch = rng.random(len(sel)) < 0.85
    idx = b.add(
        "power",
        "substation_220kv",
        x,
        y,
        sel,
        np.where(anch, "substation_220kv_anchored", "substation_220kv_unanchored"),
        cap,
        "MVA",
        1.2e8 * (cap / 480.0) ** 0.7,
    )
    return idx, x, y


class _Builder:
    """Collects asset, edge, dependency and service columns in chunks."""

    def __init__(self, region: Region) -> None:
        self.r = region
        self.chunks: list[dict[str, Any]] = []
        self.n = 0
        self._xy: tuple[np.ndarray, np.ndarray] | None = None
        self.edges: list[tuple[str, np.ndarray, np.ndarray]] = []
        self.deps: list[tuple[np.ndarray, np.ndarray, str, np.ndarray]] = []
        self.service: list[tuple[np.ndarray, np.ndarray, str, np.ndarray]] = []
        c = region.cells
        self.cx = c["x"].to_numpy(float)
        self.cy = c["y"].to_numpy(float)
        self.cell_tree = cKDTree(np.c_[self.cx, self.cy])
        self.cell_county = c["county"].to_numpy(np.int64)
        self.cell_r = 0.25 * np.sqrt(c["area_km2"].to_numpy(float)) * 1000.0

    # -- assets -----------------------------------------------------------------------------
    def add(
        self,
        system: str,
        kind: str,
        x,
        y,
        cell,
        fragility_class,
        capacity,
        capacity_unit: str,
        cost,
        *,
        length_km=0.0,
        backup_h=0.0,
        is_source=False,
        name=None,
        source="generated",
    ) -> np.ndarray:
        x = np.asarray(x, float)
        n = len(x)

        def full(v, dtype=float):
            a = np.asarray(v)
            return np.broadcast_to(a, (n,)).astype(dtype) if a.ndim == 0 else a.astype(dtype)

        self.chunks.append(
            {
                "system": system,
                "kind": kind,
                "x": x,
                "y": full(y),
                "cell": full(cell, np.int64),
                "fragility_class": full(fragility_class, object),
                "capacity": full(capacity),
                "capacity_unit": capacity_unit,
                "replacement_cost_cny": full(cost),
                "backup_h": full(backup_h),
                "length_km": full(length_km),
                "is_source": full(is_source, bool),
                "name": None if name is None else full(name, object),
                "source": full(source, object),
                "n": n,
            }
        )
        pos = np.arange(self.n, self.n + n)
        self.n += n
        self._xy = None
        return pos

    def at_cells(self, cells: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Points in (or near) the given cells: the cell point plus a seeded jitter of at most a
        quarter of the cell's size."""
        x = self.cx[cells].copy()
        y = self.cy[cells].copy()
        if len(cells):
            j = rng.uniform(-1.0, 1.0, size=(2, len(cells))) * self.cell_r[cells]
            x += j[0]
            y += j[1]
        return x, y

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        if self._xy is None:
            self._xy = (
                np.concatenate([c["x"] for c in self.chunks]),
                np.concatenate([c["y"] for c in self.chunks]),
            )
        return self._xy

    def set_backup(self, pos: np.ndarray, hours: np.ndarray) -> None:
        """Overwrite ``backup_h`` of existing assets (positions are global)."""
        start = 0
        hours = np.asarray(hours, float)
        for c in self.chunks:
            m = (pos >= start) & (pos < start + c["n"])
            if m.any():
                b = c["backup_h"].copy()
                b[pos[m] - start] = hours[m]
                c["backup_h"] = b
            start += c["n"]

    def nearest_cell(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.cell_tree.query(np.c_[x, y])[1].astype(np.int64)

    def link(
        self,
        system: str,
        kind: str,
        a: np.ndarray,
        b: np.ndarray,
        fragility_class,
        capacity,
        capacity_unit: str,
        cost_per_km,
        *,
        detour: float = 1.2,
        min_km: float = 0.5,
    ) -> np.ndarray:
        """Link assets between existing assets ``a`` and ``b``: midpoint, length, two edges."""
        a = np.asarray(a, np.int64)
        b = np.asarray(b, np.int64)
        X, Y = self.xy()
        mx = 0.5 * (X[a] + X[b])
        my = 0.5 * (Y[a] + Y[b])
        km = np.maximum(np.hypot(X[a] - X[b], Y[a] - Y[b]) / 1000.0 * detour, min_km)
        pos = self.add(
            system,
            kind,
            mx,
            my,
            self.nearest_cell(mx, my),
            fragility_class,
            capacity,
            capacity_unit,
            np.asarray(cost_per_km) * km,
            length_km=km,
        )
        self.edge(system, a, pos)
        self.edge(system, pos, b)
        return pos

    def edge(self, system: str, src, dst) -> None:
        self.edges.append((system, np.asarray(src, np.int64), np.asarray(dst, np.int64)))

    def dep(self, dependent, supplier, kind: str, buffer_h) -> None:
        dependent = np.asarray(dependent, np.int64)
        self.deps.append(
            (dependent, np.asarray(supplier, np.int64), kind, np.broadcast_to(buffer_h, dependent.shape))
        )

    def serve(self, terminal, cell, system: str, people) -> None:
        terminal = np.asarray(terminal, np.int64)
        self.service.append(
            (terminal, np.asarray(cell, np.int64), system, np.broadcast_to(people, terminal.shape))
        )

    # -- output -----------------------------------------------------------------------------
    def finish(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        cols: dict[str, list] = {}
        for c in self.chunks:
            n = c["n"]
            for k, v in c.items():
                if k == "n":
                    continue
                if k in ("system", "kind", "capacity_unit"):
                    v = np.full(n, v, dtype=object)
                elif k == "name" and v is None:
                    v = np.full(n, None, dtype=object)
                cols.setdefault(k, []).append(v)
        a = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
        counties = self.r.counties
        county = self.cell_county[a["cell"].to_numpy()]
        code = counties["code"].to_numpy(object)[county]
        seq = a.groupby([a["kind"], pd.Series(county)], sort=False).cumcount().to_numpy() + 1
        seq_s = pd.Series(seq).astype(str).str.zfill(5)
        abbr = a["kind"].map(ABBR)
        a["asset_id"] = (abbr + "-" + pd.Series(code, dtype=object) + "-" + seq_s).to_numpy(object)
        label = a["kind"].map(LABEL).fillna(a["kind"])
        default_name = (
            pd.Series(counties["name_zh"].to_numpy(object)[county])
            + " "
            + pd.Series(counties["name_en"].to_numpy(object)[county])
            + " "
            + label
            + " "
            + pd.Series(seq).astype(str)
        )
        a["name"] = a["name"].where(a["name"].notna(), default_name).astype(object)
        e_sys = np.concatenate([np.full(len(s), k, dtype=object) for k, s, _ in self.edges])
        edges = pd.DataFrame(
            {
                "system": e_sys,
                "src": np.concatenate([s for _, s, _ in self.edges]),
                "dst": np.concatenate([d for _, _, d in self.edges]),
            }
        )
        deps = pd.DataFrame(
            {
                "dependent": np.concatenate([d[0] for d in self.deps]),
                "supplier": np.concatenate([d[1] for d in self.deps]),
                "kind": np.concatenate([np.full(len(d[0]), d[2], dtype=object) for d in self.deps]),
                "buffer_h": np.concatenate([np.asarray(d[3], float) for d in self.deps]),
            }
        )
        svc = pd.DataFrame(
            {
                "terminal": np.concatenate([s[0] for s in self.service]),
                "cell": np.concatenate([s[1] for s in self.service]),
                "system": np.concatenate([np.full(len(s[0]), s[2], dtype=object) for s in self.service]),
                "people": np.concatenate([np.asarray(s[3], float) for s in self.service]),
            }
        )
        return a, edges, deps, svc


# ---------------------------------------------------------------------------------------------
# small graph helpers
# ---------------------------------------------------------------------------------------------
def _dist(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])


def _mst_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges of the Euclidean minimum spanning tree of a few hundred points at most."""
    if len(x) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    d = _dist(x, y)
    d[d == 0] = 1e-3  # coincident points still get an edge
    np.fill_diagonal(d, 0.0)
    t = minimum_spanning_tree(sp.csr_matrix(np.triu(d))).tocoo()
    return t.row.astype(np.int64), t.col.astype(np.int64)


def _delaunay_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique edges of the Delaunay triangulation (i < j)."""
    if len(x) < 3:
        i, j = np.triu_indices(len(x), 1)
        return i.astype(np.int64), j.astype(np.int64)
    tri = Delaunay(np.c_[x, y], qhull_options="QJ").simplices
    e = np.vstack([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]])
    e = np.sort(e, axis=1)
    e = np.unique(e, axis=0)
    return e[:, 0].astype(np.int64), e[:, 1].astype(np.int64)


def _tour(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A short closed tour (nearest neighbour, then 2-opt; Croes 1958) over a few dozen points."""
    n = len(x)
    d = _dist(x, y)
    order = [int(np.argmin(x))]
    left = np.ones(n, bool)
    left[order[0]] = False
    for _ in range(n - 1):
        cand = np.where(left, d[order[-1]], np.inf)
        k = int(np.argmin(cand))
        order.append(k)
        left[k] = False
    t = np.array(order)
    improved = True
    while improved and n > 3:
        improved = False
        for i in range(n - 2):
            a, b = t[i], t[i + 1]
            js = np.arange(i + 2, n if i > 0 else n - 1)
            c = t[js]
            dd = t[(js + 1) % n]
            gain = d[a, b] + d[c, dd] - d[a, c] - d[b, dd]
            if len(gain) and gain.max() > 1e-6:
                j = int(js[np.argmax(gain)])
                t[i + 1 : j + 1] = t[i + 1 : j + 1][::-1]
                improved = True
    return t


def _knearest_in_group(
    qx: np.ndarray, qy: np.ndarray, qg: np.ndarray, px: np.ndarray, py: np.ndarray, pg: np.ndarray, k: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest points of the same group (group as a far third coordinate). Distances in metres."""
    big = 1e8
    tree = cKDTree(np.c_[px, py, pg * big])
    d, i = tree.query(np.c_[qx, qy, qg * big], k=k)
    return d, i


def _counts(values: np.ndarray, per: float, lo: int, hi: int) -> np.ndarray:
    return np.clip(np.round(np.asarray(values, float) / per), lo, hi).astype(np.int64)


def _split_int(total: np.ndarray, group: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Integer split of ``total[g]`` over items of group g in proportion to ``weight``."""
    from rescity.twin.population import largest_remainder

    s = np.bincount(group, weight, minlength=len(total))
    return largest_remainder(total[group] * weight / s[group], group, total)


# ---------------------------------------------------------------------------------------------
# systems
# ---------------------------------------------------------------------------------------------
def _power(b: _Builder, p: LifelineParams, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The power system: the ≥ 220 kV grid (generated, or the real backbone when the region has
    one), then the generated 110 kV substations and 10 kV feeders attached to it."""
    if b.r.backbone is None:
        hv = _hv_generated(b, p, rng)
    else:
        from rescity.twin.backbone import add_backbone

        hv = add_backbone(b, p, rng, b.r.backbone)
    return _subtransmission(b, p, rng, hv)


def _hv_generated(b: _Builder, p: LifelineParams, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Plants in their counties, 500 kV substations per prefecture on a ring, 220 kV ones per
    county joined as ears."""
    r = b.r
    cells, co, pf = r.cells, r.counties, r.prefectures
    cpop = cells["population"].to_numpy(float)
    carea = cells["area_km2"].to_numpy(float)
    ccounty = cells["county"].to_numpy(np.int64)
    cpref = co["prefecture"].to_numpy(np.int64)[ccounty]
    hil = cells["hilbert"].to_numpy()
    cty_pop = co["population"].to_numpy(float)

    # -- sources: named plants, at an area-weighted cell of their county
    pl = r.plants
    code_to_county = pd.Series(np.arange(len(co)), index=co["code"].to_numpy())
    pl_county = code_to_county.reindex(pl["county_code"].astype(str).to_numpy()).to_numpy()
    pl_cells = np.empty(len(pl), np.int64)
    for i, c in enumerate(pl_county):  # a dozen plants
        members = np.flatnonzero(ccounty == c)
        sel, _ = systematic_pps(
            np.zeros(len(members), np.int64), hil[members], carea[members], np.array([1]), rng
        )
        pl_cells[i] = members[sel[0]]
    px, py = b.at_cells(pl_cells, rng)
    ptype = pl["type"].to_numpy(object)
    mw = pl["capacity_mw"].to_numpy(float)
    cost_per_kw = pd.Series(ptype).map(
        {
            "coal": 3500.0,
            "nuclear": 16000.0,
            "hydro": 7000.0,
            "pumped_storage": 5500.0,
            "uhvdc_converter": 1250.0,
        }
    )
    plants = b.add(
        "power",
        "power_plant",
        px,
        py,
        pl_cells,
        np.where(ptype == "uhvdc_converter", "converter_station", "plant_" + ptype.astype(str)),
        mw / 0.9,
        "MVA",
        mw * 1000.0 * cost_per_kw.fillna(3500.0).to_numpy(),
        is_source=True,
        name=(pl["name_zh"] + " " + pl["name_en"]).to_numpy(object),
    )

    # -- 500 kV substations per prefecture
    k500 = np.maximum(2, np.round(pf["population"].to_numpy(float) / p.people_per_500kv)).astype(np.int64)
    sel, _ = systematic_pps(cpref, hil, cpop, k500, rng)
    x5, y5 = b.at_cells(sel, rng)
    cap5 = rng.choice([2000.0, 3000.0, 4000.0], size=len(sel), p=[0.3, 0.5, 0.2])
    s500 = b.add(
        "power",
        "substation_500kv",
        x5,
        y5,
        sel,
        "substation_500kv_anchored",
        cap5,
        "MVA",
        5.0e8 * (cap5 / 3000.0) ** 0.7,
    )
    # ring over the 500 kV substations + chords from the Delaunay graph
    t = _tour(x5, y5)
    ra, rb = t, np.roll(t, -1)
    ring_len = np.hypot(x5[ra] - x5[rb], y5[ra] - y5[rb])
    da, db = _delaunay_pairs(x5, y5)
    have = set(zip(np.minimum(ra, rb).tolist(), np.maximum(ra, rb).tolist(), strict=True))
    dl = np.hypot(x5[da] - x5[db], y5[da] - y5[db])
    extra = np.array([(i, j) not in have for i, j in zip(da.tolist(), db.tolist(), strict=True)], bool)
    extra &= dl <= p.chord_factor * np.median(ring_len)
    a500 = np.r_[ra, da[extra]]
    b500 = np.r_[rb, db[extra]]
    # plants: two lines each to their two nearest 500 kV substations
    _, nn = cKDTree(np.c_[x5, y5]).query(np.c_[px, py], k=2)
    a500 = np.r_[s500[a500], plants, plants]
    b500 = np.r_[s500[b500], s500[nn[:, 0]], s500[nn[:, 1]]]
    l500 = b.link("power", "line_500kv", a500, b500, "tower_500kv", 2500.0, "MVA", 4.5e6, detour=1.15)

    # -- 220 kV: 1–3 per county; each joins the meshed grid by two lines (an ear), so the
    #    ≥ 220 kV grid stays 2-connected (Whitney 1932)
    k220 = 1 + (cty_pop >= p.pop_220kv_second) + (cty_pop >= p.pop_220kv_third)
    sel2, _ = systematic_pps(ccounty, hil, cpop, k220.astype(np.int64), rng)
    s220, x2, y2 = add_220kv_substations(b, sel2, rng)
    d_to_500 = cKDTree(np.c_[x5, y5]).query(np.c_[x2, y2])[0]
    order = np.argsort(d_to_500, kind="stable")
    core_x = list(x5)
    core_y = list(y5)
    core_pos = list(s500)
    ea, eb1, eb2 = [], [], []
    for i in order:  # ~130 substations
        cxa = np.asarray(core_x)
        cya = np.asarray(core_y)
        dd = np.hypot(cxa - x2[i], cya - y2[i])
        two = np.argsort(dd, kind="stable")[:2]
        ea.append(s220[i])
        eb1.append(core_pos[two[0]])
        eb2.append(core_pos[two[1]])
        core_x.append(x2[i])
        core_y.append(y2[i])
        core_pos.append(s220[i])
    ea = np.asarray(ea)
    l220 = b.link(
        "power", "line_220kv", np.r_[ea, ea], np.r_[eb1, eb2], "tower_220kv", 500.0, "MVA", 1.6e6, detour=1.15
    )
    return {"plants": plants, "s500": s500, "s220": s220, "l500": l500, "l220": l220}


def _subtransmission(
    b: _Builder, p: LifelineParams, rng: np.random.Generator, hv: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """110 kV substations fed from the nearest 220 kV ones, and 10 kV feeders per cell."""
    r = b.r
    cells, co = r.cells, r.counties
    cpop = cells["population"].to_numpy(float)
    carea = cells["area_km2"].to_numpy(float)
    cdens = cpop / np.maximum(carea, 1e-6)
    ccounty = cells["county"].to_numpy(np.int64)
    hil = cells["hilbert"].to_numpy()
    cty_pop = co["population"].to_numpy(float)
    cty_area = co["area_km2"].to_numpy(float)
    s220 = hv["s220"]
    X, Y = b.xy()
    x2, y2 = X[s220], Y[s220]

    # -- 110 kV: several per county, weighted 70 % by people and 30 % by area
    k110 = _counts(cty_pop, p.people_per_110kv, 2, p.max_110kv_per_county)
    w110 = 0.7 * cpop / cty_pop[ccounty] + 0.3 * carea / cty_area[ccounty]
    sel1, _ = systematic_pps(ccounty, hil, w110, k110, rng)
    x1, y1 = b.at_cells(sel1, rng)
    cap1 = rng.choice(np.asarray(p.cap_110kv_mva), size=len(sel1), p=np.asarray(p.p_cap_110kv))
    anch1 = rng.random(len(sel1)) < 0.7
    s110 = b.add(
        "power",
        "substation_110kv",
        x1,
        y1,
        sel1,
        np.where(anch1, "substation_110kv_anchored", "substation_110kv_unanchored"),
        cap1,
        "MVA",
        4.5e7 * (cap1 / 100.0) ** 0.7,
    )
    d12, n12 = cKDTree(np.c_[x2, y2]).query(np.c_[x1, y1], k=2)
    urb = co["urban_share"].to_numpy(float)[ccounty[sel1]]
    dual = rng.random(len(sel1)) < p.p_110kv_dual + p.p_110kv_dual_urban * urb
    fa = np.r_[s110, s110[dual]]
    fb = np.r_[s220[n12[:, 0]], s220[n12[dual, 1]]]
    dense_end = np.r_[cdens[sel1], cdens[sel1[dual]]] > 5000.0
    l110 = b.link(
        "power",
        "line_110kv",
        fa,
        fb,
        np.where(dense_end, "cable_110kv", "tower_110kv"),
        120.0,
        "MVA",
        np.where(dense_end, 4.0e6, 0.9e6),
        detour=1.2,
    )

    # -- 10 kV feeders: ceil(people / people_per_feeder) per cell, at least one, from the nearest
    #    110 kV substation (every other feeder of a cell from the second nearest when it is close)
    nf = np.maximum(1, np.ceil(cpop / p.people_per_feeder)).astype(np.int64)
    fcell = np.repeat(np.arange(len(cells)), nf)
    fj = np.arange(len(fcell)) - np.repeat(np.cumsum(nf) - nf, nf)
    dq, nq = cKDTree(np.c_[x1, y1]).query(np.c_[b.cx, b.cy], k=2)
    second = (fj % 2 == 1) & (dq[fcell, 1] <= np.maximum(1.5 * dq[fcell, 0], dq[fcell, 0] + 5000.0))
    sub = np.where(second, nq[fcell, 1], nq[fcell, 0])
    sx, sy = x1[sub], y1[sub]
    ex, ey = b.cx[fcell], b.cy[fcell]
    km = 1.3 * np.hypot(sx - ex, sy - ey) / 1000.0 + 0.5 * np.sqrt(carea[fcell])
    cable = rng.random(len(fcell)) < np.clip((cdens[fcell] - 500.0) / 5000.0, 0.0, 0.9)
    feeders = b.add(
        "power",
        "feeder_10kv",
        0.5 * (sx + ex),
        0.5 * (sy + ey),
        fcell,
        np.where(cable, "feeder_10kv_cable", "feeder_10kv_overhead"),
        np.where(cable, 8.0, 10.0),
        "MVA",
        km * np.where(cable, 1.2e6, 0.3e6),
        length_km=km,
    )
    b.edge("power", s110[sub], feeders)
    b.serve(feeders, fcell, "power", cpop[fcell] / nf[fcell])
    return {
        **hv,
        "s110": s110,
        "feeders": feeders,
        "feeder_cell": fcell,
        "feeder_j": fj,
        "nf": nf,
        "l110": l110,
    }


def _water(b: _Builder, p: LifelineParams, rng: np.random.Generator) -> dict[str, np.ndarray]:
    r = b.r
    cells, co = r.cells, r.counties
    cpop = cells["population"].to_numpy(float)
    carea = cells["area_km2"].to_numpy(float)
    ccounty = cells["county"].to_numpy(np.int64)
    hil = cells["hilbert"].to_numpy()
    cty_pop = co["population"].to_numpy(float)
    cty_area = co["area_km2"].to_numpy(float)
    q = p.water_m3_per_person_day

    kt = _counts(cty_pop, p.people_per_treatment_plant, 1, 4)
    selt, gt = systematic_pps(ccounty, hil, cpop, kt, rng)
    xt, yt = b.at_cells(selt, rng)
    capt = np.round(cty_pop[gt] * q * 1.3 / kt[gt], -3)
    size = np.where(capt < 190_000, "small", np.where(capt < 760_000, "medium", "large"))  # 50/200 MGD
    anch = np.where(rng.random(len(selt)) < 0.8, "anchored", "unanchored")
    wtp = b.add(
        "water",
        "treatment_plant",
        xt,
        yt,
        selt,
        "wtp_" + size.astype(object) + "_" + anch.astype(object),
        capt,
        "m3/d",
        2000.0 * capt,
        is_source=True,
    )
    kp = _counts(cty_pop, p.people_per_pump_station, 2, 16)
    wp = 0.6 * cpop / cty_pop[ccounty] + 0.4 * carea / cty_area[ccounty]
    selp, gp = systematic_pps(ccounty, hil, wp, kp, rng)
    xp, yp = b.at_cells(selp, rng)
    capp = np.round(cty_pop[gp] * q * 1.5 / kp[gp], -2)
    psize = np.where(capp < 37_850, "small", "medium")  # 10 MGD
    panch = np.where(rng.random(len(selp)) < 0.6, "anchored", "unanchored")
    pumps = b.add(
        "water",
        "pump_station",
        xp,
        yp,
        selp,
        "pump_" + psize.astype(object) + "_" + panch.astype(object),
        capp,
        "m3/d",
        1.0e6 + 400.0 * capp,
    )
    # trunk network per county: MST over works and pumping stations plus loop edges
    nodes = np.r_[wtp, pumps]
    nx_, ny_ = np.r_[xt, xp], np.r_[yt, yp]
    ng = np.r_[gt, gp]
    ncap = np.r_[capt, capp]
    A, B = [], []
    for c in range(len(co)):  # 91 counties
        m = np.flatnonzero(ng == c)
        i, j = _mst_pairs(nx_[m], ny_[m])
        A.append(m[i])
        B.append(m[j])
        if len(m) >= 3:
            d = _dist(nx_[m], ny_[m])
            np.fill_diagonal(d, np.inf)
            second = np.argsort(d, axis=1)[:, 1]
            loop = rng.random(len(m)) < 0.5
            A.append(m[loop])
            B.append(m[second[loop]])
    A = np.concatenate(A)
    B = np.concatenate(B)
    key = np.unique(np.sort(np.c_[A, B], axis=1), axis=0)
    key = key[key[:, 0] != key[:, 1]]
    A, B = key[:, 0], key[:, 1]
    brittle = rng.random(len(A)) < 0.2
    b.link(
        "water",
        "trunk_main",
        nodes[A],
        nodes[B],
        np.where(brittle, "pipe_brittle", "pipe_ductile"),
        np.minimum(ncap[A], ncap[B]),
        "m3/d",
        3.0e6,
        detour=1.2,
    )
    # a distribution node per cell, fed by a main from the nearest works/pump of its county
    dbrittle = rng.random(len(cells)) < 0.3
    dn = b.add(
        "water",
        "distribution_node",
        b.cx,
        b.cy,
        np.arange(len(cells)),
        np.where(dbrittle, "distribution_brittle", "distribution_ductile"),
        np.maximum(cpop * q, 10.0),
        "m3/d",
        1000.0 * cpop + 3.0e5 * carea,
    )
    _, near = _knearest_in_group(b.cx, b.cy, ccounty, nx_, ny_, ng)
    fbrittle = rng.random(len(cells)) < 0.2
    b.link(
        "water",
        "trunk_main",
        nodes[near],
        dn,
        np.where(fbrittle, "pipe_brittle", "pipe_ductile"),
        np.maximum(cpop * q, 100.0),
        "m3/d",
        2.0e6,
        detour=1.2,
    )
    b.serve(dn, np.arange(len(cells)), "water", cpop)
    return {"wtp": wtp, "pumps": pumps, "dn": dn}


def _water_runs(
    b: _Builder, ax, ay, bx, by, n_samples: int = 24
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per segment: number of water crossings, water length fraction, position of the first."""
    t = np.linspace(0.0, 1.0, n_samples)
    xs = ax[:, None] + (bx - ax)[:, None] * t[None, :]
    ys = ay[:, None] + (by - ay)[:, None] * t[None, :]
    land = shapely.contains_xy(b.r.land, xs.ravel(), ys.ravel()).reshape(xs.shape)
    water = ~land
    water[:, 0] = False
    water[:, -1] = False
    starts = water & ~np.c_[np.zeros((len(ax), 1), bool), water[:, :-1]]
    runs = starts.sum(axis=1)
    frac = water.mean(axis=1)
    first = np.where(runs > 0, t[np.argmax(starts, axis=1)], 0.5)
    return runs, frac, first


def _segments_with_bridges(
    b: _Builder,
    kind: str,
    a: np.ndarray,
    bb: np.ndarray,
    fclass: np.ndarray,
    capacity: float,
    cost_per_km: np.ndarray,
    width_m: float,
    major: bool,
    rate_per_km: np.ndarray,
    rng: np.random.Generator,
    detour: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Road segments a → [segment] → [bridges …] → b as a chain of link assets.

    Water crossings (the straight segment leaves land) each get one long-span bridge as long as
    the water stretch; river bridges are Poisson with ``rate_per_km`` × land length.
    """
    X, Y = b.xy()
    ax, ay, bx, by = X[a], Y[a], X[bb], Y[bb]
    runs, frac, first = _water_runs(b, ax, ay, bx, by)
    straight_km = np.hypot(ax - bx, ay - by) / 1000.0
    land_km = np.maximum(straight_km * (1.0 - frac) * detour, 0.3)
    n_river = rng.poisson(rate_per_km * land_km)
    n_br = runs + n_river
    seg_mx = 0.5 * (ax + bx)
    seg_my = 0.5 * (ay + by)
    seg = b.add(
        "road",
        kind,
        seg_mx,
        seg_my,
        b.nearest_cell(seg_mx, seg_my),
        fclass,
        capacity,
        "vehicles/h",
        cost_per_km * land_km,
        length_km=land_km,
    )
    # bridges, sorted by segment then position along it
    bseg = np.repeat(np.arange(len(a)), n_br)
    within = np.arange(len(bseg)) - np.repeat(np.cumsum(n_br) - n_br, n_br)
    sea = within < runs[bseg]
    tpos = np.where(sea, first[bseg] + 0.02 * within, rng.random(len(bseg)))
    order = np.lexsort((tpos, bseg))
    bseg, sea, tpos = bseg[order], sea[order], tpos[order]
    bx_ = ax[bseg] + (bx - ax)[bseg] * tpos
    by_ = ay[bseg] + (by - ay)[bseg] * tpos
    water_km = straight_km * frac / np.maximum(runs, 1)
    sea_len_m = np.maximum(water_km[bseg] * 1000.0, 200.0)
    river_len_m = rng.lognormal(np.log(120.0 if major else 30.0), 0.6, len(bseg))
    blen_m = np.where(sea, sea_len_m, river_len_m)
    if major:
        bclass = np.where(sea, "bridge_sea_long", "bridge_multi_span_concrete")
    else:
        bclass = np.where(
            sea,
            "bridge_sea_long",
            np.where(rng.random(len(bseg)) < 0.7, "bridge_single_span", "bridge_multi_span_concrete"),
        )
    bridges = b.add(
        "road",
        "bridge",
        bx_,
        by_,
        b.nearest_cell(bx_, by_),
        bclass,
        capacity,
        "vehicles/h",
        blen_m * width_m * np.where(sea, 50000.0, 15000.0),
        length_km=blen_m / 1000.0,
    )
    # chain: a, seg, bridges…, b
    L = n_br + 3
    start = np.cumsum(L) - L
    chain = np.empty(int(L.sum()), np.int64)
    chain[start] = a
    chain[start + 1] = seg
    chain[start + L - 1] = bb
    bw = np.arange(len(bseg)) - np.repeat(np.cumsum(n_br) - n_br, n_br)
    chain[start[bseg] + 2 + bw] = bridges
    is_last = np.zeros(len(chain), bool)
    is_last[start + L - 1] = True
    src = chain[:-1][~is_last[:-1]]
    dst = chain[1:][~is_last[:-1]]
    b.edge("road", src, dst)
    return seg, bridges


def _road(b: _Builder, p: LifelineParams, rng: np.random.Generator) -> dict[str, np.ndarray]:
    r = b.r
    cells, co = r.cells, r.counties
    cpop = cells["population"].to_numpy(float)
    carea = cells["area_km2"].to_numpy(float)
    cus = cells["urban_share"].to_numpy(float)
    ccounty = cells["county"].to_numpy(np.int64)
    cty_pop = co["population"].to_numpy(float)
    dens = cty_pop / co["area_km2"].to_numpy(float)
    pref_code = r.prefectures["code"].to_numpy(object)[co["prefecture"].to_numpy()]
    plain = (dens >= 1000.0) | np.isin(pref_code, ["330400", "330500"])
    coastal = co["coastal"].to_numpy(bool)
    rate_cty = np.where(
        plain,
        p.bridge_rate_plain_per_km,
        np.where(coastal, p.bridge_rate_coastal_per_km, p.bridge_rate_other_per_km),
    )
    mountain = dens < 300.0

    sx = co["seat_x"].to_numpy(float)
    sy = co["seat_y"].to_numpy(float)
    seat_cell = b.nearest_cell(sx, sy)
    hubs = b.add(
        "road",
        "road_hub",
        sx,
        sy,
        seat_cell,
        "road_hub",
        10000.0,
        "vehicles/h",
        2.0e8,
        is_source=True,
        name=(co["name_zh"] + " " + co["name_en"] + " county seat road hub").to_numpy(object),
    )
    # inter-county roads: Delaunay over seats; MST edges are expressways and always kept
    da, db = _delaunay_pairs(sx, sy)
    dl = np.hypot(sx[da] - sx[db], sy[da] - sy[db]) / 1000.0
    g = sp.coo_matrix((dl, (da, db)), shape=(len(co), len(co))).tocsr()
    t = minimum_spanning_tree(g).tocoo()
    in_mst = set(zip(np.minimum(t.row, t.col).tolist(), np.maximum(t.row, t.col).tolist(), strict=True))
    mst = np.array([(i, j) in in_mst for i, j in zip(da.tolist(), db.tolist(), strict=True)], bool)
    _, frac, _ = _water_runs(b, sx[da], sy[da], sx[db], sy[db])
    keep = mst | ((dl <= p.max_intercounty_km) & (frac <= 0.2))
    da, db, mst = da[keep], db[keep], mst[keep]
    big = np.minimum(cty_pop[da], cty_pop[db]) >= 7.0e5
    expressway = mst | big
    mid_cty = ccounty[b.nearest_cell(0.5 * (sx[da] + sx[db]), 0.5 * (sy[da] + sy[db]))]
    for kind, m, cap, cost, width in (
        ("expressway", expressway, 8000.0, 1.2e8, 26.0),
        ("national_road", ~expressway, 3000.0, 2.0e7, 12.0),
    ):
        _segments_with_bridges(
            b,
            kind,
            hubs[da[m]],
            hubs[db[m]],
            np.full(m.sum(), "road_paved_major", dtype=object),
            cap,
            np.full(m.sum(), cost),
            width,
            True,
            rate_cty[mid_cty[m]],
            rng,
            1.25,
        )
    # a road node per cell (the terminal)
    rn_cap = 600.0 + 1400.0 * cus
    rn = b.add(
        "road",
        "road_node",
        b.cx,
        b.cy,
        np.arange(len(cells)),
        "road_node",
        rn_cap,
        "vehicles/h",
        3.0e6 * carea * (1.0 + 4.0 * cus),
    )
    # local roads per county: MST over the hub and the cell nodes, plus short Delaunay edges
    A, B = [], []
    node_x = np.r_[b.cx, sx]
    node_y = np.r_[b.cy, sy]
    node_pos = np.r_[rn, hubs]
    node_cty = np.r_[ccounty, np.arange(len(co))]
    for c in range(len(co)):  # 91 counties
        m = np.flatnonzero(node_cty == c)
        i, j = _mst_pairs(node_x[m], node_y[m])
        A.append(m[i])
        B.append(m[j])
    da, db = _delaunay_pairs(b.cx, b.cy)
    same = ccounty[da] == ccounty[db]
    short = np.hypot(b.cx[da] - b.cx[db], b.cy[da] - b.cy[db]) <= 1.5 * r.cell_m
    pick = same & short & (rng.random(len(da)) < 0.5)
    A.append(da[pick])
    B.append(db[pick])
    # the hub also reaches its second-nearest cell of the county
    _, nn2 = _knearest_in_group(sx, sy, np.arange(len(co)), b.cx, b.cy, ccounty, k=2)
    ok = ccounty[nn2[:, 1]] == np.arange(len(co))
    A.append(len(cells) + np.flatnonzero(ok))
    B.append(nn2[ok, 1])
    key = np.unique(np.sort(np.c_[np.concatenate(A), np.concatenate(B)], axis=1), axis=0)
    key = key[key[:, 0] != key[:, 1]]
    ea, eb = key[:, 0], key[:, 1]
    ecty = node_cty[ea]
    fclass = np.where(mountain[ecty], "road_mountain", "road_paved_minor").astype(object)
    cost = np.where(mountain[ecty], 6.0e6, 4.0e6)
    seg, _ = _segments_with_bridges(
        b,
        "local_road",
        node_pos[ea],
        node_pos[eb],
        fclass,
        1200.0,
        cost,
        8.0,
        False,
        rate_cty[ecty],
        rng,
        1.3,
    )
    b.serve(rn, np.arange(len(cells)), "road", cpop)
    return {"hubs": hubs, "rn": rn}


def _telecom(b: _Builder, p: LifelineParams, rng: np.random.Generator, pw: dict) -> dict[str, np.ndarray]:
    r = b.r
    cells, co, pf = r.cells, r.counties, r.prefectures
    cpop = cells["population"].to_numpy(float)
    carea = cells["area_km2"].to_numpy(float)
    cdens = cpop / np.maximum(carea, 1e-6)
    cus = cells["urban_share"].to_numpy(float)
    ccounty = cells["county"].to_numpy(np.int64)
    cpref = co["prefecture"].to_numpy(np.int64)[ccounty]
    hil = cells["hilbert"].to_numpy()
    cty_pop = co["population"].to_numpy(float)
    pf_pop = pf["population"].to_numpy(float)

    # core: the most populous cell of every prefecture
    order = np.lexsort((-cpop, cpref))
    first = np.searchsorted(cpref[order], np.arange(len(pf)))
    core_cell = order[first]
    kx, ky = b.at_cells(core_cell, rng)
    core = b.add(
        "telecom",
        "core_node",
        kx,
        ky,
        core_cell,
        "central_office_anchored",
        pf_pop * 1.3,
        "subscribers",
        2.0e8,
        is_source=True,
        name=(pf["name_zh"] + " " + pf["name_en"] + " telecom core").to_numpy(object),
    )
    t = _tour(kx, ky)
    ra, rb = t, np.roll(t, -1)
    ring_len = np.hypot(kx[ra] - kx[rb], ky[ra] - ky[rb])
    da, db = _delaunay_pairs(kx, ky)
    have = set(zip(np.minimum(ra, rb).tolist(), np.maximum(ra, rb).tolist(), strict=True))
    dl = np.hypot(kx[da] - kx[db], ky[da] - ky[db])
    extra = np.array([(i, j) not in have for i, j in zip(da.tolist(), db.tolist(), strict=True)], bool)
    extra &= dl <= p.chord_factor * np.median(ring_len)
    b.link(
        "telecom",
        "fiber_link",
        core[np.r_[ra, da[extra]]],
        core[np.r_[rb, db[extra]]],
        "fiber_buried",
        pf_pop.sum() * 1.3,
        "subscribers",
        1.5e5,
        detour=1.2,
    )
    # aggregation nodes per county, dual-homed: to the prefecture core and the nearest other one
    ka = _counts(cty_pop, p.people_per_aggregation, 1, 8)
    sela, ga = systematic_pps(ccounty, hil, cpop, ka, rng)
    ax, ay = b.at_cells(sela, rng)
    apref = co["prefecture"].to_numpy(np.int64)[ga]
    agg = b.add(
        "telecom",
        "aggregation_node",
        ax,
        ay,
        sela,
        np.where(rng.random(len(sela)) < 0.8, "central_office_anchored", "central_office_unanchored"),
        cty_pop[ga] * 1.3 / ka[ga],
        "subscribers",
        1.5e7,
    )
    d2, n2 = _knearest_in_group(ax, ay, apref, ax, ay, apref, k=2)
    ok = (apref[n2[:, 1]] == apref) & (n2[:, 1] != np.arange(len(agg)))
    cap = cty_pop[ga] * 1.3 / ka[ga]
    b.link(
        "telecom",
        "fiber_link",
        np.r_[agg, agg[ok]],
        np.r_[core[apref], agg[n2[ok, 1]]],
        "fiber_buried",
        np.r_[cap, cap[ok]],
        "subscribers",
        1.5e5,
        detour=1.2,
    )
    # base stations: one per people_per_bs (urban 2,500, rural 1,500), at least one per cell
    ppb = p.people_per_bs_rural + (p.people_per_bs_urban - p.people_per_bs_rural) * cus
    nbs = np.maximum(1, np.round(cpop / ppb)).astype(np.int64)
    bcell = np.repeat(np.arange(len(cells)), nbs)
    bj = np.arange(len(bcell)) - np.repeat(np.cumsum(nbs) - nbs, nbs)
    bx, by = b.at_cells(bcell, rng)
    u = rng.random(len(bcell))
    roof = u < np.clip(cdens[bcell] / 5000.0, 0.1, 0.8)
    lattice = rng.random(len(bcell)) < 0.6
    bclass = np.where(roof, "bs_rooftop", np.where(lattice, "bs_tower_lattice", "bs_monopole"))
    bcost = np.where(roof, 2.5e5, np.where(lattice, 4.5e5, 3.5e5))
    bs = b.add(
        "telecom",
        "base_station",
        bx,
        by,
        bcell,
        bclass,
        np.maximum(1.3 * cpop[bcell] / nbs[bcell], 500.0),
        "subscribers",
        bcost,
    )
    # access fibers: ceil(n_bs / bs_per_fiber) per cell from the nearest aggregation node of the county
    nfib = np.ceil(nbs / p.bs_per_fiber).astype(np.int64)
    fcell = np.repeat(np.arange(len(cells)), nfib)
    _, near = _knearest_in_group(b.cx, b.cy, ccounty, ax, ay, ga)
    gx, gy = ax[near[fcell]], ay[near[fcell]]
    ex, ey = b.cx[fcell], b.cy[fcell]
    km = 1.2 * np.hypot(gx - ex, gy - ey) / 1000.0 + 0.3 * np.sqrt(carea[fcell])
    buried = rng.random(len(fcell)) < np.where(cdens[fcell] > 1000.0, 0.8, 0.2)
    fib = b.add(
        "telecom",
        "fiber_link",
        0.5 * (gx + ex),
        0.5 * (gy + ey),
        fcell,
        np.where(buried, "fiber_buried", "fiber_aerial"),
        np.maximum(1.3 * cpop[fcell] / nfib[fcell], 500.0),
        "subscribers",
        km * np.where(buried, 1.5e5, 6.0e4),
        length_km=km,
    )
    b.edge("telecom", agg[near[fcell]], fib)
    fstart = np.cumsum(nfib) - nfib
    b.edge("telecom", fib[fstart[bcell] + bj % nfib[bcell]], bs)
    b.serve(bs, bcell, "telecom", cpop[bcell] / nbs[bcell])

    # power supply of telecom: base station ← a feeder of its cell (battery 2–8 h)
    nf = pw["nf"]
    feed_start = np.cumsum(nf) - nf
    bat = rng.uniform(2.0, 8.0, len(bs))
    b.dep(bs, pw["feeders"][feed_start[bcell] + bj % nf[bcell]], "power", bat)
    b.set_backup(bs, bat)
    X, Y = b.xy()
    s110, s220 = pw["s110"], pw["s220"]
    _, n1 = cKDTree(np.c_[X[s110], Y[s110]]).query(np.c_[ax, ay])
    ba = rng.uniform(8.0, 24.0, len(agg))
    b.dep(agg, s110[n1], "power", ba)
    b.set_backup(agg, ba)
    _, n2c = cKDTree(np.c_[X[s220], Y[s220]]).query(np.c_[kx, ky], k=2)
    bc = rng.uniform(8.0, 24.0, len(core))
    b.dep(np.r_[core, core], np.r_[s220[n2c[:, 0]], s220[n2c[:, 1]]], "power", np.r_[bc, bc])
    b.set_backup(core, bc)
    # substation control ← nearest aggregation node (local operation possible for a day)
    subs = np.r_[pw["s500"], s220, s110]
    _, na = cKDTree(np.c_[ax, ay]).query(np.c_[X[subs], Y[subs]])
    b.dep(subs, agg[na], "telecom", p.substation_telecom_buffer_h)
    b.set_backup(subs, np.full(len(subs), p.substation_telecom_buffer_h))
    return {"core": core, "agg": agg, "bs": bs}


def _facilities(b: _Builder, p: LifelineParams, rng: np.random.Generator, pw: dict, wt: dict) -> None:
    r = b.r
    cells, co, pf = r.cells, r.counties, r.prefectures
    cpop = cells["population"].to_numpy(float)
    carea = cells["area_km2"].to_numpy(float)
    ccounty = cells["county"].to_numpy(np.int64)
    cpref = co["prefecture"].to_numpy(np.int64)[ccounty]
    hil = cells["hilbert"].to_numpy()
    cty_pop = co["population"].to_numpy(np.int64)
    pf_pop = pf["population"].to_numpy(float)
    feed_first = pw["feeders"][np.cumsum(pw["nf"]) - pw["nf"]]  # first feeder of every cell
    dn = wt["dn"]

    # hospitals: beds_per_1000 × people per county, ~beds_per_hospital each, in populous cells
    beds = np.round(cty_pop * p.beds_per_1000 / 1000.0).astype(np.int64)
    kh = np.maximum(1, np.round(beds / p.beds_per_hospital)).astype(np.int64)
    selh, gh = systematic_pps(ccounty, hil, cpop**1.5, kh, rng)
    hb = _split_int(beds, gh, rng.lognormal(0.0, 0.7, len(selh)))
    hclass = np.where(
        hb >= 800, "hospital_rc_highrise", np.where(hb >= 200, "hospital_rc_midrise", "hospital_rc_lowrise")
    )
    hx, hy = b.at_cells(selh, rng)
    gen = rng.uniform(24.0, 72.0, len(selh))
    hosp = b.add("facility", "hospital", hx, hy, selh, hclass, hb, "beds", 1.2e6 * hb, backup_h=gen)
    b.dep(hosp, feed_first[selh], "power", gen)
    b.dep(hosp, dn[selh], "water", rng.uniform(12.0, 36.0, len(selh)))

    # shelters: capacity shelter_share × people per county, ~shelter_size each
    capc = np.ceil(cty_pop * p.shelter_share).astype(np.int64)
    ks = np.maximum(2, np.round(capc / p.shelter_size)).astype(np.int64)
    sels, gs = systematic_pps(ccounty, hil, cpop, ks, rng)
    scap = _split_int(capc, gs, rng.lognormal(0.0, 0.5, len(sels)))
    u = rng.random(len(sels))
    sclass = np.where(
        u < 0.6, "shelter_school_rc", np.where(u < 0.9, "shelter_gym_steel", "shelter_community_masonry")
    )
    sx, sy = b.at_cells(sels, rng)
    sgen = np.where(rng.random(len(sels)) < 0.5, rng.uniform(12.0, 24.0, len(sels)), 0.0)
    shel = b.add("facility", "shelter", sx, sy, sels, sclass, scap, "people", 1.0e4 * scap, backup_h=sgen)
    b.dep(shel, feed_first[sels], "power", sgen)
    b.dep(shel, dn[sels], "water", 24.0)

    # depots: 3 + one per 3 million people per prefecture
    kd = (3 + np.floor(pf_pop / 3.0e6)).astype(np.int64)
    wd = 0.5 * cpop / pf_pop[cpref] + 0.5 * carea / np.bincount(cpref, carea)[cpref]
    seld, gd = systematic_pps(cpref, hil, wd, kd, rng)
    dx, dy = b.at_cells(seld, rng)
    dep = b.add(
        "facility",
        "depot",
        dx,
        dy,
        seld,
        "depot_steel_warehouse",
        np.round(pf_pop[gd] * 0.05 / kd[gd]),
        "people",
        3.0e7,
        backup_h=24.0,
    )
    b.dep(dep, feed_first[seld], "power", 24.0)


def _water_power(b: _Builder, rng: np.random.Generator, pw: dict, wt: dict) -> None:
    """Treatment works and pumping stations ← nearest 110 kV substation (generator or 0–2 h)."""
    X, Y = b.xy()
    s110 = pw["s110"]
    tree = cKDTree(np.c_[X[s110], Y[s110]])
    for pos, p_gen in ((wt["wtp"], 0.8), (wt["pumps"], 0.3)):
        _, n = tree.query(np.c_[X[pos], Y[pos]])
        gen = rng.random(len(pos)) < p_gen
        buf = np.where(gen, rng.uniform(12.0, 48.0, len(pos)), rng.uniform(0.0, 2.0, len(pos)))
        b.dep(pos, s110[n], "power", buf)
        b.set_backup(pos, buf)


def generate(region: Region, seed: int, params: LifelineParams | None = None, progress=None) -> Generated:
    """Lay out every lifeline of ``region``; deterministic for a given ``seed``.

    Each system draws from its own stream (``SeedSequence(seed).spawn``), so changing one
    system's rules leaves the others' layout unchanged.
    """
    p = params or LifelineParams()
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    b = _Builder(region)

    def tick(stage: str, frac: float) -> None:
        if progress is not None:
            progress(stage, frac)

    tick("power", 0.0)
    pw = _power(b, p, streams[1])
    tick("water", 0.25)
    wt = _water(b, p, streams[2])
    _water_power(b, streams[6], pw, wt)
    tick("road", 0.45)
    _road(b, p, streams[3])
    tick("telecom", 0.7)
    _telecom(b, p, streams[4], pw)
    tick("facilities", 0.85)
    _facilities(b, p, streams[5], pw, wt)
    assets, edges, deps, svc = b.finish()
    tick("tables", 1.0)
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(p).items()}  # JSON-ready
    return Generated(assets, edges, deps, svc, params)
