"""Aggregation from cells and assets to every administrative level.

Per-cell arrays ``(R, n_units)`` (values on the cell rows) become per-unit arrays for every
level at once through the sparse membership matrix ``M`` of :meth:`rescity.twin.Twin.membership`
(``M[u, c] = 1`` when cell ``c`` is ``u`` or lies in ``u``): ``X_units = X_cells · Mᵀ``. Assets
map to units through the ``unit_id`` they stand in (a cell, or a county for county-level assets),
and count towards that unit and all its ancestors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from rescity.errors import InputError
from rescity.twin.model import LEVELS, Twin
from rescity.twin.systems import systems


def ancestors(twin: Twin) -> sp.csr_matrix:
    """``n_units × n_units`` matrix with ``[u, v] = 1`` when ``v`` is ``u`` or lies within ``u``."""
    m = None
    for level in LEVELS:
        if (twin.units["level"] == level).any():
            x = twin.membership(level)
            m = x if m is None else m + x
    if m is None:
        return sp.csr_matrix((twin.n_units, twin.n_units))
    m = m.tocsr()
    m.data[:] = 1.0
    return m


@dataclass
class Aggregator:
    """Sparse maps from cells and assets to all units."""

    cells_to_units: sp.csr_matrix  # (n_units × n_units), cell columns
    assets_to_units: dict[str, sp.csr_matrix]  # system → (n_units × n_assets_of_system)
    all_assets_to_units: sp.csr_matrix  # (n_units × n_assets)
    system_assets: dict[str, np.ndarray]  # system → asset positions
    asset_counts: dict[str, np.ndarray]  # system → assets per unit (incl. descendants)


def build_aggregator(twin: Twin) -> Aggregator:
    """Compile the membership matrices; ``InputError`` for an asset whose unit is unknown."""
    idx = twin.unit_index()
    ids = twin.assets["unit_id"].astype(str).to_numpy()
    pos = idx.reindex(ids).to_numpy()
    bad = np.isnan(pos)
    if bad.any():
        raise InputError(
            "asset stands in a unit that is not in the unit table",
            file="assets",
            field="unit_id",
            value=ids[bad][0],
        )
    pos = pos.astype(np.int64)
    anc = ancestors(twin)
    sys_of = twin.assets["system"].astype(str).to_numpy()
    a2u, sys_assets, counts = {}, {}, {}
    for s in systems():
        sel = np.flatnonzero(sys_of == s)
        sys_assets[s] = sel
        one = sp.csr_matrix(
            (np.ones(len(sel)), (pos[sel], np.arange(len(sel)))), shape=(twin.n_units, len(sel))
        )
        a2u[s] = (anc @ one).tocsr()
        counts[s] = np.asarray(a2u[s].sum(axis=1)).ravel()
    one = sp.csr_matrix((np.ones(len(pos)), (pos, np.arange(len(pos)))), shape=(twin.n_units, len(pos)))
    cells = twin.membership("cell") if (twin.units["level"] == "cell").any() else anc
    return Aggregator(cells, a2u, (anc @ one).tocsr(), sys_assets, counts)


def aggregate_cells(agg: Aggregator, x: np.ndarray) -> np.ndarray:
    """Sum per-cell values ``(B, n_units)`` (cell rows) into every unit: ``(B, n_units)``."""
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(agg.cells_to_units @ x.T).T


def damaged_share(agg: Aggregator, damaged: np.ndarray) -> dict[str, np.ndarray]:
    """Share of each system's assets damaged per unit: ``system`` → ``(B, n_units)``.

    ``damaged`` is a ``bool`` ``(B, n_assets)``; units with no asset of a system get NaN.
    """
    out = {}
    for s, m in agg.assets_to_units.items():
        sel = agg.system_assets[s]
        if not len(sel):
            continue
        cnt = np.asarray(m @ np.ascontiguousarray(damaged[:, sel].T, dtype=np.float32)).T
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s] = np.where(agg.asset_counts[s] > 0, cnt / agg.asset_counts[s], np.nan)
    return out


def count_by_unit(agg: Aggregator, mask: np.ndarray) -> np.ndarray:
    """Number of assets (any system) with ``mask`` per unit: ``(B, n_units)``, or ``(n_units,)``
    for a one-dimensional ``mask`` (e.g. counts summed over realisations)."""
    x = np.asarray(mask, dtype=np.float64)
    return np.asarray(agg.all_assets_to_units @ x.T).T


def rollup(twin: Twin, values: np.ndarray, matrix: sp.csr_matrix | None = None) -> np.ndarray:
    """Roll ``(R, n_units)`` values set on their own rows (base-level units, or the unit an asset
    stands in) up to every ancestor, keeping each unit's own value: ``(A @ Xᵀ)ᵀ`` with ``A`` the
    :func:`ancestors` matrix (pass it as ``matrix`` to reuse it)."""
    matrix = ancestors(twin) if matrix is None else matrix
    x = np.asarray(values, float)
    return np.asarray((matrix @ x.T).T)


def asset_unit_matrix(twin: Twin) -> sp.csr_matrix:
    """Sparse ``n_units × n_assets`` matrix P with P[u, a] = 1 when asset a stands in unit u
    (no ancestors; ``ancestors(twin) @ P`` counts towards every level). Kept on the twin
    (:meth:`~rescity.twin.model.Twin.derived`): do not modify it."""
    return twin.derived(("aggregate", "asset_unit_matrix"), lambda: _asset_unit_matrix(twin))


def _asset_unit_matrix(twin: Twin) -> sp.csr_matrix:
    pos = twin.unit_index().reindex(twin.assets["unit_id"].to_numpy()).to_numpy()
    ok = ~np.isnan(pos)
    if not ok.all():
        bad = twin.assets.loc[~ok, "unit_id"].iloc[0]
        raise InputError("an asset stands in an unknown unit", field="unit_id", value=bad)
    n_a = twin.n_assets
    return sp.csr_matrix((np.ones(n_a), (pos.astype(np.int64), np.arange(n_a))), shape=(twin.n_units, n_a))
