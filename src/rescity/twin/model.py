"""The city model as tables.

A :class:`Twin` is five tables joined by integer positions. Every per-asset array anywhere in
rescity is indexed by the row position in :attr:`Twin.assets`; every per-unit array by the row
position in :attr:`Twin.units`.

Tables and their columns
------------------------
units
    ``unit_id`` (str; administrative code for real units, ``<county>-c<n>`` for grid cells),
    ``level`` (``province`` | ``prefecture`` | ``county`` | ``cell``), ``parent_id`` (str, ``""``
    for the root), ``name_zh``, ``name_en``, ``population`` (people, int), ``households`` (int),
    ``share_age_0_14``, ``share_age_65_plus``, ``urban_share`` (0–1), ``lon``, ``lat``
    (centroid, degrees WGS84), ``area_km2``. Rows are ordered by level (province first, cells last).
assets
    ``asset_id`` (str, unique), ``system`` (see :mod:`rescity.twin.systems`), ``kind`` (see :data:`KINDS`),
    ``lon``, ``lat`` (degrees; for a link asset — a line, a road segment, a main — its midpoint),
    ``unit_id`` (the cell, or county, it stands in), ``fragility_class`` (str; picks curves, see
    :mod:`rescity.fragility`), ``capacity`` (float, in ``capacity_unit``), ``capacity_unit`` (str:
    ``MVA``, ``m3/d``, ``beds``, ``people``, ``subscribers``, ``vehicles/h``), ``replacement_cost_cny``,
    ``backup_h`` (hours an asset runs on its own backup — battery or generator — when a supplier is
    lost), ``length_km`` (links; 0 for point assets), ``is_source`` (bool: plant, treatment works,
    core switch, county seat road hub), ``name``, ``source`` (provenance of the asset's location:
    ``osm``, ``gridkit``, ``wri`` for real locations from open data, ``generated`` for modelled
    ones; ``""`` when unknown, e.g. imported layers without the column).
edges
    Network topology, undirected, between assets of one system: ``system``, ``src``, ``dst``
    (int positions in ``assets``). A link asset (line, road segment, bridge, main) is a node of the
    graph between its two end nodes, so that damage is always to a node: an asset is usable when it
    is undamaged, and a terminal is served when it can reach a source through usable nodes.
dependencies
    ``dependent``, ``supplier`` (int asset positions), ``kind`` (the supplier's system: power,
    water, telecom), ``buffer_h`` (hours the dependent keeps working without this supply). A
    dependent needs, for each kind it depends on, at least one working supplier of that kind.
service
    ``terminal`` (int asset position), ``unit`` (int position of a cell in ``units``), ``system``
    (power, water, telecom, road), ``people`` (float). The people of a cell who get a service
    through a terminal; per cell and system the rows sum to the cell's population.

``meta`` holds the builder's name, version, seed and parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from rescity.twin.systems import KINDS as KINDS
from rescity.twin.systems import service_systems, systems

#: The built-in systems and services; the live lists (with registered systems) are
#: :func:`rescity.twin.systems.systems` and :func:`~rescity.twin.systems.service_systems`.
SYSTEMS: tuple[str, ...] = systems()
SERVICES: tuple[str, ...] = service_systems()
LEVELS: tuple[str, ...] = ("province", "prefecture", "county", "cell")
#: ``id`` of the twins inside :meth:`Twin.unchanged` blocks (of this thread or task).
_UNCHANGED: ContextVar[frozenset[int]] = ContextVar("rescity_twin_unchanged", default=frozenset())

UNIT_COLUMNS: dict[str, str] = {
    "unit_id": "object",
    "level": "object",
    "parent_id": "object",
    "name_zh": "object",
    "name_en": "object",
    "population": "int64",
    "households": "int64",
    "share_age_0_14": "float64",
    "share_age_65_plus": "float64",
    "urban_share": "float64",
    "lon": "float64",
    "lat": "float64",
    "area_km2": "float64",
}
ASSET_COLUMNS: dict[str, str] = {
    "asset_id": "object",
    "system": "object",
    "kind": "object",
    "lon": "float64",
    "lat": "float64",
    "unit_id": "object",
    "fragility_class": "object",
    "capacity": "float64",
    "capacity_unit": "object",
    "replacement_cost_cny": "float64",
    "backup_h": "float64",
    "length_km": "float64",
    "is_source": "bool",
    "name": "object",
    "source": "object",
}
#: Values of the assets' ``source`` column: real locations from open data, or modelled.
ASSET_SOURCES: tuple[str, ...] = ("osm", "gridkit", "wri", "generated")
#: Sources that mean "real location" (the rest are modelled).
REAL_SOURCES: tuple[str, ...] = ("osm", "gridkit", "wri")
EDGE_COLUMNS: dict[str, str] = {"system": "object", "src": "int64", "dst": "int64"}
DEPENDENCY_COLUMNS: dict[str, str] = {
    "dependent": "int64",
    "supplier": "int64",
    "kind": "object",
    "buffer_h": "float64",
}
SERVICE_COLUMNS: dict[str, str] = {
    "terminal": "int64",
    "unit": "int64",
    "system": "object",
    "people": "float64",
}
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "units": UNIT_COLUMNS,
    "assets": ASSET_COLUMNS,
    "edges": EDGE_COLUMNS,
    "dependencies": DEPENDENCY_COLUMNS,
    "service": SERVICE_COLUMNS,
}


def empty_table(name: str) -> pd.DataFrame:
    """An empty table with the columns and dtypes of ``name`` (``units``, ``assets`` …)."""
    cols = TABLE_COLUMNS[name]
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})


def conform(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Return ``df`` with exactly the columns of table ``name``, in order, cast to their dtypes.

    Missing optional columns are filled with defaults (0, ``""``, ``False``); a missing required
    identifier column raises ``KeyError``.
    """
    cols = TABLE_COLUMNS[name]
    out = {}
    n = len(df)
    for c, t in cols.items():
        if c in df.columns:
            s = df[c]
        elif c in ("unit_id", "asset_id", "src", "dst", "dependent", "supplier", "terminal", "unit"):
            raise KeyError(f"{name} table has no {c!r} column")
        elif t == "object":
            s = pd.Series([""] * n, index=df.index)
        elif t == "bool":
            s = pd.Series(np.zeros(n, bool), index=df.index)
        else:
            s = pd.Series(np.zeros(n), index=df.index)
        out[c] = s.astype(t) if t != "object" else s.astype(object)
    return pd.DataFrame(out).reset_index(drop=True)


def _col_sum(table: pd.DataFrame, column: str) -> Any:
    """Sum of a column, missing values skipped (as ``Series.sum``), reduced on its NumPy array:
    :meth:`Twin.fingerprint` runs at every :meth:`Twin.derived` lookup."""
    v = table[column].to_numpy()
    if v.dtype.kind == "b":
        return np.count_nonzero(v)
    if v.dtype.kind in "iu":
        return v.sum()
    if v.dtype.kind == "f":
        s = v.sum()
        return np.nansum(v) if np.isnan(s) else s
    return table[column].sum()


@dataclass
class Twin:
    """A digital twin: units, assets, network edges, dependencies and service areas.

    See the module docstring for the columns. Construct with tables that already have those
    columns (use :func:`conform`); :func:`rescity.twin.validate.validate` checks the rest.
    """

    units: pd.DataFrame
    assets: pd.DataFrame
    edges: pd.DataFrame
    dependencies: pd.DataFrame
    service: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    geometry: Any = None  # optional GeoSeries of unit polygons, aligned with ``units``

    # -- sizes --------------------------------------------------------------------------------
    @property
    def n_assets(self) -> int:
        return len(self.assets)

    @property
    def n_units(self) -> int:
        return len(self.units)

    # -- derived values, kept ------------------------------------------------------------------
    def fingerprint(self) -> tuple:
        """A cheap summary that changes when the tables change (sizes and a few sums)."""
        a, e, d, sv, u = self.assets, self.edges, self.dependencies, self.service, self.units
        return (
            len(a), len(e), len(d), len(sv), len(u),
            float(_col_sum(a, "backup_h")), float(_col_sum(d, "buffer_h")) if len(d) else 0.0,
            int(_col_sum(e, "src")) if len(e) else 0, int(_col_sum(e, "dst")) if len(e) else 0,
            float(_col_sum(sv, "people")) if len(sv) else 0.0,
            int(_col_sum(d, "supplier")) if len(d) else 0, int(_col_sum(a, "is_source")),
            float(_col_sum(a, "lon")), float(_col_sum(a, "lat")),
            float(_col_sum(u, "lon")), float(_col_sum(u, "lat")),
        )  # fmt: skip

    def derived(self, key: tuple, build: Callable[[], Any]) -> Any:
        """``build()``, a value that depends only on the tables (an index, a sparse map, a compiled
        model), computed once and kept on the twin under ``key``; everything kept is dropped when
        the :meth:`fingerprint` changes. Treat the value as read-only."""
        store = self.__dict__.setdefault("_derived", {})
        if id(self) not in _UNCHANGED.get():
            fp = self.fingerprint()
            if store.get("fingerprint") != fp:
                store.clear()
                store["fingerprint"] = fp
        if key not in store:
            store[key] = build()
        return store[key]

    @contextmanager
    def unchanged(self) -> Iterator[Twin]:
        """A block of code that does not modify the tables (one forecast member, say):
        :meth:`derived` compares the :meth:`fingerprint` once, on entry, instead of at every
        lookup (about 30 per member of an issuance). Blocks nest; the promise covers this thread
        (or task) only."""
        pinned = _UNCHANGED.get()
        if id(self) in pinned:
            yield self
            return
        self.derived(("twin", "unchanged"), lambda: None)  # compare the fingerprint now
        token = _UNCHANGED.set(pinned | {id(self)})
        try:
            yield self
        finally:
            _UNCHANGED.reset(token)

    # -- index helpers ------------------------------------------------------------------------
    def unit_index(self) -> pd.Series:
        """Map ``unit_id`` → row position in :attr:`units`."""
        return pd.Series(np.arange(len(self.units)), index=self.units["unit_id"].to_numpy())

    def asset_index(self) -> pd.Series:
        """Map ``asset_id`` → row position in :attr:`assets`."""
        return pd.Series(np.arange(len(self.assets)), index=self.assets["asset_id"].to_numpy())

    def system_mask(self, system: str) -> np.ndarray:
        """Boolean mask of the assets of ``system``."""
        return (self.assets["system"] == system).to_numpy()

    def adjacency(self, system: str | None = None) -> sp.csr_matrix:
        """Symmetric ``n_assets × n_assets`` adjacency (bool CSR) of one system's edges, or all."""
        e = self.edges if system is None else self.edges[self.edges["system"] == system]
        n = self.n_assets
        src = e["src"].to_numpy(np.int64)
        dst = e["dst"].to_numpy(np.int64)
        data = np.ones(2 * len(src), dtype=bool)
        a = sp.coo_matrix((data, (np.r_[src, dst], np.r_[dst, src])), shape=(n, n))
        return a.tocsr()

    def membership(self, child_level: str = "cell") -> sp.csr_matrix:
        """Sparse ``n_units × n_units`` matrix M with M[u, c] = 1 when cell/unit c lies in u.

        Includes the diagonal for ``child_level`` units and every ancestor (county, prefecture,
        province), so ``M @ x_cells`` aggregates a per-unit array whose values sit on
        ``child_level`` rows to every level at once. Built from ``parent_id`` codes, no loops over
        units beyond the (at most four) levels.
        """
        u = self.units
        idx = self.unit_index()
        n = len(u)
        child = np.flatnonzero((u["level"] == child_level).to_numpy())
        rows = [child]
        cols = [child]
        cur = child
        parent_pos = idx.reindex(u["parent_id"].to_numpy()).to_numpy()
        for _ in range(len(LEVELS)):
            par = parent_pos[cur]
            ok = ~np.isnan(par)
            if not ok.any():
                break
            cur_child = child[ok]
            par = par[ok].astype(np.int64)
            rows.append(par)
            cols.append(cur_child)
            child = cur_child
            cur = par
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, n))

    def summary(self) -> dict[str, Any]:
        """Counts of units by level and assets by system and kind (for ``twin info --json``)."""
        units = self.units["level"].value_counts()
        assets = self.assets.groupby(["system", "kind"]).size()
        by_system = self.assets["system"].value_counts()
        return {
            "name": self.meta.get("name", ""),
            "units": {lv: int(units.get(lv, 0)) for lv in LEVELS},
            "population": int(self.units.loc[self.units["level"] == "cell", "population"].sum())
            if (self.units["level"] == "cell").any()
            else int(self.units["population"].max() if len(self.units) else 0),
            "assets": {
                "total": int(len(self.assets)),
                "by_system": {s: int(by_system.get(s, 0)) for s in systems() if by_system.get(s, 0)},
                "by_kind": {f"{s}/{k}": int(v) for (s, k), v in assets.items()},
            },
            "edges": {s: int(v) for s, v in self.edges["system"].value_counts().items()},
            "dependencies": int(len(self.dependencies)),
            "service_rows": int(len(self.service)),
        }
