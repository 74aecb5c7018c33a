"""Road travel times for decisions: origins (unit centroids) to facilities over the road network.

The road graph is the twin's (:mod:`rescity.twin.roads`), here at evacuation speeds by road class
(:data:`SPEED_KMH`). Origins and facilities join the network at their nearest usable junction (or
any usable road asset) with an access leg of ``detour · distance / access_speed``
(:data:`rescity.twin.roads.ACCESS_SPEED_KMH`, :data:`~rescity.twin.roads.DETOUR`); a direct leg
at the same speed is also allowed when it is faster (short trips inside a cell). Shortest paths are ``scipy.sparse.csgraph.dijkstra`` from
the facilities' nodes, in chunks.

Speeds are evacuation-traffic assumptions below the design speeds of China's highway standard
JTG B01-2014 (expressway 80–120 km/h, first-class highway 60–100, third/fourth class 20–40).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from rescity.geo import local_xy_km
from rescity.twin import roads

#: Vehicle speeds by road asset kind during an evacuation, km/h.
SPEED_KMH: dict[str, float] = {
    "expressway": 80.0,
    "national_road": 60.0,
    "local_road": 30.0,
    "bridge": 40.0,
    "tunnel": 60.0,
    "road_hub": 30.0,
    "road_node": 30.0,
}


def project_km(lon, lat, lat0: float) -> np.ndarray:
    """Equirectangular projection to km around latitude ``lat0`` (``(n, 2)``)."""
    return local_xy_km(lon, lat, lat0)


def road_graph(twin, blocked: np.ndarray | None = None) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The twin's road graph at evacuation speeds: ``(graph, road_idx, node_min)`` (see
    :func:`rescity.twin.roads.road_graph`); road assets with ``blocked[asset]`` are cut out."""
    rg = roads.road_graph(twin, SPEED_KMH, blocked)
    return rg.graph, rg.road_idx, rg.node_min


def _attach(
    twin, xy: np.ndarray, road_idx: np.ndarray, lat0: float, blocked
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest usable junction (else any road asset) for each point: (graph node, access minutes)."""
    kinds = twin.assets["kind"].to_numpy(object)[road_idx]
    usable = np.ones(len(road_idx), bool)
    if blocked is not None:
        usable &= ~np.asarray(blocked, bool)[road_idx]
    cand = np.flatnonzero(np.isin(kinds, roads.JUNCTIONS) & usable)
    if len(cand) == 0:
        cand = np.flatnonzero(usable)
    if len(cand) == 0:
        return np.full(len(xy), -1), np.full(len(xy), np.inf)
    asset, d = roads.nearest_junction(twin, xy, lat0, road_idx[cand])
    node = np.searchsorted(road_idx, asset)  # graph node of that road asset (road_idx is sorted)
    return node, roads.access_minutes(d)


def travel_times(
    twin,
    origin_lonlat: np.ndarray,
    facility_idx: np.ndarray,
    *,
    blocked: np.ndarray | None = None,
    k: int | None = None,
    max_minutes: float | None = None,
    chunk: int = 256,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate arcs origin → facility with travel times in minutes.

    Parameters
    ----------
    origin_lonlat:
        ``(n_o, 2)`` lon/lat of the origins.
    facility_idx:
        Asset positions of the facilities.
    blocked:
        Per-asset flags of impassable road assets.
    k:
        Keep only the ``k`` fastest facilities per origin (``None``: all, when the dense matrix
        is under 2 million arcs, else 30).
    max_minutes:
        Drop arcs slower than this.

    Returns
    -------
    (origin, facility, minutes)
        Arc arrays; ``facility`` indexes ``facility_idx``. Unreachable pairs are left out.
    """
    o = np.asarray(origin_lonlat, float).reshape(-1, 2)
    f_idx = np.asarray(facility_idx, np.int64)
    a = twin.assets
    n_o, n_f = len(o), len(f_idx)
    if n_o == 0 or n_f == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    lat0 = float(np.mean(np.r_[o[:, 1], a["lat"].to_numpy(float)[f_idx]]))
    oxy = project_km(o[:, 0], o[:, 1], lat0)
    fxy = project_km(a["lon"].to_numpy(float)[f_idx], a["lat"].to_numpy(float)[f_idx], lat0)
    # direct legs (no network)
    direct = roads.access_minutes(np.linalg.norm(oxy[:, None, :] - fxy[None, :, :], axis=2))
    g, road_idx, node_min = road_graph(twin, blocked)
    if len(road_idx):
        o_node, o_acc = _attach(twin, oxy, road_idx, lat0, blocked)
        f_node, f_acc = _attach(twin, fxy, road_idx, lat0, blocked)
        net = np.full((n_o, n_f), np.inf)
        uniq, inv = np.unique(f_node[f_node >= 0], return_inverse=True)
        f_ok = np.flatnonzero(f_node >= 0)
        o_ok = o_node >= 0
        for s in range(0, len(uniq), chunk):
            src = uniq[s : s + chunk]
            d = dijkstra(g, directed=False, indices=src)  # (chunk, n_nodes)
            # half of the end nodes' own crossing time (zero for junctions)
            d = d + 0.5 * node_min[src][:, None] + 0.5 * node_min[None, :]
            cols = np.flatnonzero((inv >= s) & (inv < s + len(src)))
            fac = f_ok[cols]
            sub = d[inv[cols] - s][:, o_node[o_ok]]  # (n_fac_in_chunk, n_o_ok)
            net[np.ix_(o_ok, fac)] = sub.T + o_acc[o_ok, None] + f_acc[None, fac]
        times = np.minimum(direct, net)
    else:
        times = direct
    if max_minutes is not None:
        times = np.where(times <= max_minutes, times, np.inf)
    if k is None and n_o * n_f > 2_000_000:
        k = 30
    if k is not None and k < n_f:
        keep = np.argpartition(times, k - 1, axis=1)[:, :k]
        mask = np.zeros_like(times, bool)
        np.put_along_axis(mask, keep, True, axis=1)
        times = np.where(mask, times, np.inf)
    oi, fi = np.nonzero(np.isfinite(times))
    return oi.astype(np.int64), fi.astype(np.int64), times[oi, fi]
