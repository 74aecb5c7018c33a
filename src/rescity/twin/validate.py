"""Checking a twin: every problem, not just the first.

:func:`validate` returns a list of :class:`Problem` (``severity`` ``error`` or ``warning``). It
checks ids, codes, coordinates, references between tables, that every network has a source, and
that service rows add up to cell populations. Checks are vectorised; a :class:`Problem` is made
only for rows that fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from rescity.twin.model import ASSET_SOURCES, KINDS, LEVELS, TABLE_COLUMNS, Twin
from rescity.twin.systems import network_systems, service_systems, systems

#: Kinds that are links between two nodes and should have a length.
LINK_KINDS: frozenset[str] = frozenset(
    {
        "line_500kv",
        "line_220kv",
        "line_110kv",
        "feeder_10kv",
        "trunk_main",
        "expressway",
        "national_road",
        "local_road",
        "bridge",
        "tunnel",
        "fiber_link",
    }
)
#: Largest population of one unit: more than any country (people).
MAX_UNIT_POPULATION = 2e9

#: Relative tolerance of service people against cell population.
PEOPLE_RTOL = 1e-6


@dataclass(frozen=True)
class Problem:
    """One problem with a twin: how bad, where (table, field, value, row) and what."""

    severity: str  # "error" | "warning"
    table: str
    field: str
    value: Any
    message: str
    row: int | None = None

    def __str__(self) -> str:
        where = f"{self.table}" + (f"[{self.row}]" if self.row is not None else "")
        return f"{self.severity}: {where} {self.field}={self.value!r}: {self.message}"


def _py(v: Any) -> Any:
    """Plain Python scalar for messages and JSON."""
    if isinstance(v, np.generic):
        return v.item()
    return v


def _each(out: list[Problem], severity, table, field, mask, values, message, rows=None) -> None:
    """Append one problem per True in ``mask``."""
    idx = np.flatnonzero(np.asarray(mask, bool))
    vals = np.asarray(values, dtype=object)
    for i in idx:
        r = int(i) if rows is None else int(rows[i])
        out.append(Problem(severity, table, field, _py(vals[i]), message, r))


def _isin(values, allowed) -> np.ndarray:
    """Hash-based membership test (``np.isin`` on object arrays is quadratic)."""
    return (
        pd.Index(pd.unique(np.asarray(allowed, dtype=object))).get_indexer(np.asarray(values, dtype=object))
        >= 0
    )


def _bad_coords(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lon = pd.to_numeric(pd.Series(lon), errors="coerce").to_numpy(float)
    lat = pd.to_numeric(pd.Series(lat), errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(df[col], errors="coerce").to_numpy(float)


#: Columns a twin may lack (older saved twins, importers' tables): filled with defaults on load.
_OPTIONAL: frozenset[tuple[str, str]] = frozenset({("assets", "source")})


def validate(twin: Twin | str | Path, *, reachability: bool = True) -> list[Problem]:
    """Every problem of a twin.

    Parameters
    ----------
    twin:
        A :class:`Twin`, or a path to a saved twin or to GeoJSON/GeoPackage layers (then the
        importer's problems — unknown asset or unit ids — are included).
    reachability:
        Also warn about service terminals that cannot reach a source of their system.

    Returns
    -------
    list of Problem
        Empty when the twin is clean. Errors make it unusable; warnings are suspicious.
    """
    if not isinstance(twin, Twin):
        from rescity.twin.io import read_with_problems

        twin, pre = read_with_problems(twin)
        dangling = {(p.table, p.field) for p in pre}
        rest = [
            p
            for p in validate(twin, reachability=reachability)
            if not ((p.table, p.field) in dangling and p.value == -1)
        ]
        return pre + rest

    out: list[Problem] = []
    tables = {name: getattr(twin, name) for name in TABLE_COLUMNS}
    ok_cols: dict[str, bool] = {}
    for name, cols in TABLE_COLUMNS.items():
        missing = [c for c in cols if c not in tables[name].columns and (name, c) not in _OPTIONAL]
        for c in missing:
            out.append(Problem("error", name, c, None, "missing column"))
        ok_cols[name] = not missing
    u, a, e, d, s = (tables[n] for n in ("units", "assets", "edges", "dependencies", "service"))
    n_units, n_assets = len(u), len(a)

    # -- units -------------------------------------------------------------------------------
    if ok_cols["units"]:
        ids = u["unit_id"].astype(str).to_numpy(object)
        _each(out, "error", "units", "unit_id", u["unit_id"].duplicated(), ids, "duplicate unit id")
        _each(
            out,
            "error",
            "units",
            "unit_id",
            (ids == "") | u["unit_id"].isna().to_numpy(),
            ids,
            "empty unit id",
        )
        level = u["level"].to_numpy(object)
        _each(
            out,
            "error",
            "units",
            "level",
            ~_isin(level, LEVELS),
            level,
            f"unknown level (use {', '.join(LEVELS)})",
        )
        parent = u["parent_id"].fillna("").astype(str).to_numpy(object)
        missing_parent = (parent != "") & ~_isin(parent, ids)
        _each(out, "error", "units", "parent_id", missing_parent, parent, "parent unit missing")
        rank = pd.Series({lv: i for i, lv in enumerate(LEVELS)})
        lv_rank = rank.reindex(level).to_numpy(float)
        pos = pd.Series(np.arange(n_units), index=ids)
        pos = pos[~pos.index.duplicated()]
        ppos = pos.reindex(parent).to_numpy(float)
        has_p = ~np.isnan(ppos)
        bad_order = np.zeros(n_units, bool)
        bad_order[has_p] = lv_rank[ppos[has_p].astype(int)] >= lv_rank[has_p]
        _each(out, "warning", "units", "parent_id", bad_order, parent, "parent is not of a higher level")
        # parent cycles: follow parents 2^k ≥ n steps by pointer doubling; a unit that still has an
        # ancestor then is on (or under) a cycle
        if has_p.any():
            anc = np.where(has_p, np.nan_to_num(ppos, nan=-1.0), -1.0).astype(np.int64)
            for _ in range(int(np.ceil(np.log2(max(n_units, 2)))) + 1):
                anc = np.where(anc >= 0, anc[np.maximum(anc, 0)], -1)
            _each(out, "error", "units", "parent_id", anc >= 0, parent, "parent chain forms a cycle")
        pop = _num(u, "population")
        _each(out, "error", "units", "population", ~(pop >= 0), pop, "population missing or negative")
        _each(
            out,
            "error",
            "units",
            "population",
            (pop >= 0) & ~(pop <= MAX_UNIT_POPULATION),
            pop,
            f"population not finite or above {MAX_UNIT_POPULATION:g} people",
        )
        for col in ("share_age_0_14", "share_age_65_plus", "urban_share"):
            if col in u.columns:
                sh = _num(u, col)
                _each(
                    out,
                    "error",
                    "units",
                    col,
                    ~np.isnan(sh) & ~((sh >= 0) & (sh <= 1)),
                    sh,
                    "share outside [0, 1]",
                )
        if {"share_age_0_14", "share_age_65_plus"} <= set(u.columns):
            tot = _num(u, "share_age_0_14") + _num(u, "share_age_65_plus")
            _each(
                out,
                "error",
                "units",
                "share_age_65_plus",
                tot > 1.0 + 1e-9,
                tot,
                "age shares add up to more than 1",
            )
        _each(
            out,
            "error",
            "units",
            "lon",
            _bad_coords(u["lon"], u["lat"]),
            u["lon"],
            "missing or invalid coordinates",
        )
        # parents hold the sum of their children
        if has_p.any():
            child_sum = np.bincount(ppos[has_p].astype(int), np.nan_to_num(pop[has_p]), minlength=n_units)
            has_child = np.bincount(ppos[has_p].astype(int), minlength=n_units) > 0
            off = has_child & (np.abs(child_sum - pop) > 0.5 + PEOPLE_RTOL * np.abs(pop))
            _each(out, "warning", "units", "population", off, pop, "differs from the sum of its children")
        if twin.geometry is not None:
            if len(twin.geometry) != n_units:
                out.append(
                    Problem(
                        "error",
                        "units",
                        "geometry",
                        len(twin.geometry),
                        f"geometry has {len(twin.geometry)} rows for {n_units} units",
                    )
                )
            else:
                g = np.asarray(twin.geometry, dtype=object)
                import shapely

                empty = np.array([x is None for x in g]) | shapely.is_empty(g) | shapely.is_missing(g)
                _each(out, "warning", "units", "geometry", empty, ids, "unit has no geometry")
                inval = ~empty & ~shapely.is_valid(g)
                _each(out, "warning", "units", "geometry", inval, ids, "invalid geometry")

    # -- assets ------------------------------------------------------------------------------
    sys_of = np.full(n_assets, "", dtype=object)
    if ok_cols["assets"] and "source" in a.columns:
        src = a["source"].fillna("").astype(str).to_numpy(object)
        _each(
            out,
            "warning",
            "assets",
            "source",
            (src != "") & ~_isin(src, ASSET_SOURCES),
            src,
            f"unknown source (use {', '.join(ASSET_SOURCES)})",
        )
    if ok_cols["assets"]:
        aid = a["asset_id"].astype(str).to_numpy(object)
        _each(out, "error", "assets", "asset_id", a["asset_id"].duplicated(), aid, "duplicate asset id")
        _each(
            out,
            "error",
            "assets",
            "asset_id",
            (aid == "") | a["asset_id"].isna().to_numpy(),
            aid,
            "empty asset id",
        )
        system = a["system"].to_numpy(object)
        sys_of = system
        kind = a["kind"].to_numpy(object)
        sys_ok = _isin(system, systems())
        _each(out, "error", "assets", "system", ~sys_ok, system, f"unknown system (use {', '.join(systems())})")
        allowed = {(sy, k) for sy, ks in KINDS.items() for k in ks}
        kind_ok = np.array([(sy, k) in allowed for sy, k in zip(system, kind, strict=True)], bool)
        for i in np.flatnonzero(sys_ok & ~kind_ok):
            out.append(
                Problem(
                    "error",
                    "assets",
                    "kind",
                    _py(kind[i]),
                    f"unknown kind for system {system[i]!r} (use {', '.join(KINDS[system[i]])})",
                    int(i),
                )
            )
        _each(
            out,
            "error",
            "assets",
            "lon",
            _bad_coords(a["lon"], a["lat"]),
            a["lon"],
            "missing or invalid coordinates",
        )
        if ok_cols["units"]:
            unit = a["unit_id"].fillna("").astype(str).to_numpy(object)
            known = _isin(unit, u["unit_id"].astype(str).to_numpy(object))
            _each(out, "error", "assets", "unit_id", (unit != "") & ~known, unit, "unknown unit")
            _each(out, "warning", "assets", "unit_id", unit == "", unit, "asset is in no unit")
        for col in ("capacity", "replacement_cost_cny", "backup_h", "length_km"):
            raw = a[col]
            v = _num(a, col)
            text = raw.notna().to_numpy() & np.isnan(v)
            _each(out, "error", "assets", col, text, raw.to_numpy(object), "not a number")
            _each(out, "error", "assets", col, ~text & ~(v >= 0), v, "missing or negative")
            _each(out, "error", "assets", col, np.isinf(v), v, "not finite")
        link0 = _isin(kind, list(LINK_KINDS)) & ~(_num(a, "length_km") > 0)
        _each(out, "warning", "assets", "length_km", link0, kind, "link asset without a length")

        # every network needs a source
        flag = a["is_source"]
        if flag.dtype == object:
            low = flag.astype(str).str.strip().str.lower()
            odd = flag.notna().to_numpy() & ~_isin(
                low.to_numpy(object),
                ["true", "false", "1", "0", "yes", "no", "1.0", "0.0", "none", "nan", ""],
            )
            _each(out, "error", "assets", "is_source", odd, flag.to_numpy(object), "not true or false")
        src = a["is_source"].fillna(False).astype(bool).to_numpy()
        for sy in service_systems():
            m = system == sy
            if m.any() and not (src & m).any():
                out.append(Problem("error", "assets", "is_source", sy, f"the {sy} network has no source"))

    # -- edges -------------------------------------------------------------------------------
    if ok_cols["edges"]:
        es = _num(e, "src")
        ed = _num(e, "dst")
        for col, v in (("src", es), ("dst", ed)):
            bad = ~((v >= 0) & (v < n_assets) & (v == np.floor(v)))
            _each(
                out, "error", "edges", col, bad, v, f"dangling edge: not an asset position (0…{n_assets - 1})"
            )
        esys = e["system"].to_numpy(object)
        _each(out, "error", "edges", "system", ~_isin(esys, systems()), esys, "unknown system")
        good = (es >= 0) & (es < n_assets) & (ed >= 0) & (ed < n_assets)
        gi = np.flatnonzero(good)
        if len(gi) and ok_cols["assets"]:
            s_sys = sys_of[es[gi].astype(int)]
            d_sys = sys_of[ed[gi].astype(int)]
            wrong = (s_sys != esys[gi]) | (d_sys != esys[gi])
            _each(
                out,
                "error",
                "edges",
                "system",
                wrong,
                esys[gi],
                "edge joins assets of another system",
                rows=gi,
            )
        _each(out, "warning", "edges", "src", good & (es == ed), es, "self-loop")

    # -- dependencies ------------------------------------------------------------------------
    if ok_cols["dependencies"]:
        dd = _num(d, "dependent")
        ds = _num(d, "supplier")
        for col, v in (("dependent", dd), ("supplier", ds)):
            bad = ~((v >= 0) & (v < n_assets) & (v == np.floor(v)))
            _each(out, "error", "dependencies", col, bad, v, "dependency to a missing asset")
        dk = d["kind"].to_numpy(object)
        _each(
            out,
            "error",
            "dependencies",
            "kind",
            ~_isin(dk, network_systems()),
            dk,
            f"unknown dependency kind (use {', '.join(network_systems())})",
        )
        ok = (ds >= 0) & (ds < n_assets)
        oi = np.flatnonzero(ok & _isin(dk, network_systems()))
        if len(oi) and ok_cols["assets"]:
            wrong = sys_of[ds[oi].astype(int)] != dk[oi]
            _each(
                out, "error", "dependencies", "kind", wrong, dk[oi], "supplier is not of this system", rows=oi
            )
        b = _num(d, "buffer_h")
        _each(out, "error", "dependencies", "buffer_h", ~(b >= 0), b, "missing or negative")
        _each(out, "warning", "dependencies", "supplier", ok & (dd == ds), ds, "asset depends on itself")

    # -- service -----------------------------------------------------------------------------
    if ok_cols["service"] and ok_cols["units"]:
        st = _num(s, "terminal")
        su = _num(s, "unit")
        bad_t = ~((st >= 0) & (st < n_assets) & (st == np.floor(st)))
        bad_u = ~((su >= 0) & (su < n_units) & (su == np.floor(su)))
        _each(out, "error", "service", "terminal", bad_t, st, "service row to a missing asset")
        _each(out, "error", "service", "unit", bad_u, su, "service row to a missing unit")
        level = u["level"].to_numpy(object)
        ui = np.flatnonzero(~bad_u)
        noncell = level[su[ui].astype(int)] != "cell"
        _each(out, "error", "service", "unit", noncell, su[ui], "service row to a non-cell unit", rows=ui)
        ssys = s["system"].to_numpy(object)
        _each(
            out,
            "error",
            "service",
            "system",
            ~_isin(ssys, service_systems()),
            ssys,
            f"unknown service (use {', '.join(service_systems())})",
        )
        ti = np.flatnonzero(~bad_t)
        if len(ti) and ok_cols["assets"]:
            wrong = sys_of[st[ti].astype(int)] != ssys[ti]
            _each(
                out, "error", "service", "system", wrong, ssys[ti], "terminal is not of this system", rows=ti
            )
        ppl = _num(s, "people")
        _each(out, "error", "service", "people", ~(ppl >= 0), ppl, "missing or negative")
        # per cell and service: rows sum to the cell population
        good = ~bad_u & _isin(ssys, service_systems()) & (ppl >= 0)
        good[ui[noncell]] = False
        cells = np.flatnonzero(level == "cell")
        cpop = _num(u, "population")
        for sy in service_systems():
            m = good & (ssys == sy)
            if not (ssys == sy).any():
                continue
            tot = np.bincount(su[m].astype(int), ppl[m], minlength=n_units)[cells]
            off = np.abs(tot - cpop[cells]) > PEOPLE_RTOL * np.maximum(np.abs(cpop[cells]), 1.0)
            for c, t in zip(cells[off], tot[off], strict=True):
                out.append(
                    Problem(
                        "error",
                        "service",
                        "people",
                        float(t),
                        f"{sy} service rows of cell {u['unit_id'].iat[c]} sum to {t:g}, "
                        f"not its population {cpop[c]:g}",
                        int(c),
                    )
                )

    # -- reachability (warnings) ---------------------------------------------------------------
    if reachability and ok_cols["assets"] and ok_cols["edges"] and ok_cols["service"] and n_assets:
        out.extend(_unreachable(twin))
    return out


def _unreachable(twin: Twin) -> list[Problem]:
    """Service terminals that cannot reach a source of their system in the intact network."""
    a, e, s = twin.assets, twin.edges, twin.service
    n = len(a)
    es = pd.to_numeric(e["src"], errors="coerce").to_numpy(float)
    ed = pd.to_numeric(e["dst"], errors="coerce").to_numpy(float)
    ok = (es >= 0) & (es < n) & (ed >= 0) & (ed < n)
    out: list[Problem] = []
    src = a["is_source"].fillna(False).astype(bool).to_numpy()
    system = a["system"].to_numpy(object)
    for sy in service_systems():
        st = pd.to_numeric(s.loc[s["system"] == sy, "terminal"], errors="coerce").to_numpy(float)
        st = np.unique(st[(st >= 0) & (st < n)].astype(int))
        if not len(st):
            continue
        sources = np.flatnonzero(src & (system == sy))
        if not len(sources):
            continue  # reported as "no source"
        m = (e["system"] == sy).to_numpy() & ok
        r = np.r_[es[m].astype(np.int64), sources]
        c = np.r_[ed[m].astype(np.int64), np.full(len(sources), n)]
        g = sp.coo_matrix((np.ones(len(r), bool), (r, c)), shape=(n + 1, n + 1)).tocsr()
        reached = breadth_first_order(g, n, directed=False, return_predecessors=False)
        seen = np.zeros(n + 1, bool)
        seen[reached] = True
        for t in st[~seen[st]]:
            out.append(
                Problem(
                    "warning",
                    "service",
                    "terminal",
                    str(a["asset_id"].iat[t]),
                    f"{sy} terminal cannot reach a source",
                    int(t),
                )
            )
    return out


def errors(problems: list[Problem]) -> list[Problem]:
    """The problems of severity ``error``."""
    return [p for p in problems if p.severity == "error"]
