"""Road travel times for decisions: origins (unit centroids) to facilities over the road network.

The road graph has one node per road asset (junctions, hubs, segments, bridges, tunnels; a link
asset is a node between its end nodes, see :mod:`rescity.twin.model`). Crossing a node takes
``60 · length_km / speed_kmh`` minutes, with speeds by road class (:data:`SPEED_KMH`); an edge
between nodes ``i`` and ``j`` weighs half of each node's crossing time, so a path costs the sum
of its interior crossing times plus half of its end nodes'. Origins and facilities join the
network at their nearest junction (or any road asset) with an access leg of
``detour · distance / access_speed``; a direct leg at the same speed is also allowed when it is
faster (short trips inside a cell). Shortest paths are ``scipy.sparse.csgraph.dijkstra`` from
the facilities' nodes, in chunks.

Speeds are evacuation-traffic assumptions below the design speeds of China's highway standard
JTG B01-2014 (expressway 80–120 km/h, first-class highway 60–100, third/fourth class 20–40).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from rescity.errors import InputError
from rescity.geo import local_xy_km

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
#: Speed of the access leg between a point and the network (and of direct legs), km/h.
ACCESS_SPEED_KMH = 20.0
#: Ratio of travelled to straight-line distance on access and direct legs.
DETOUR = 1.3
_EPS_MIN = 1e-6  # csgraph treats explicit zeros as missing edges
_JUNCTIONS = ("road_node", "road_hub")


def project_km(lon, lat, lat0: float) -> np.ndarray:
    """Equirectangular projection to km around latitude ``lat0`` (``(n, 2)``)."""
    return local_xy_km(lon, lat, lat0)


def road_graph(twin, blocked: np.ndarray | None = None) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The road graph in minutes over road assets.

    Returns ``(graph, road_idx, node_minutes)``: a symmetric CSR matrix between the positions in
    ``road_idx`` (asset positions of road assets), and each node's crossing time. Assets with
    ``blocked[asset]`` true (impassable) are cut out of the graph.
    """
    a = twin.assets
    road = (a["system"] == "road").to_numpy()
    road_idx = np.flatnonzero(road)
    pos = np.full(twin.n_assets, -1, np.int64)
    pos[road_idx] = np.arange(len(road_idx))
    kinds = a["kind"].to_numpy(object)[road_idx]
    speed = np.array([SPEED_KMH.get(k, ACCESS_SPEED_KMH) for k in kinds], float)
    length = a["length_km"].to_numpy(float)[road_idx]
    node_min = 60.0 * np.nan_to_num(length) / speed
    e = twin.edges[twin.edges["system"] == "road"]
    src = pos[e["src"].to_numpy(np.int64)]
    dst = pos[e["dst"].to_numpy(np.int64)]
    ok = (src >= 0) & (dst >= 0)
    if blocked is not None:
        b = np.asarray(blocked, bool)
        if b.shape != (twin.n_assets,):
            raise InputError("blocked must be one flag per asset", field="blocked", value=b.shape)
        bl = b[road_idx]
        ok &= ~bl[np.clip(src, 0, None)] & ~bl[np.clip(dst, 0, None)]
    src, dst = src[ok], dst[ok]
    w = 0.5 * (node_min[src] + node_min[dst]) + _EPS_MIN
    n = len(road_idx)
    g = sp.coo_matrix((np.r_[w, w], (np.r_[src, dst], np.r_[dst, src])), shape=(n, n)).tocsr()
    g.sum_duplicates()
    return g, road_idx, node_min


def _attach(
    twin, xy: np.ndarray, road_idx: np.ndarray, lat0: float, blocked
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest usable junction (else any road asset) for each point: (graph node, access minutes)."""
    a = twin.assets
    kinds = a["kind"].to_numpy(object)[road_idx]
    usable = np.ones(len(road_idx), bool)
    if blocked is not None:
        usable &= ~np.asarray(blocked, bool)[road_idx]
    cand = np.flatnonzero(np.isin(kinds, _JUNCTIONS) & usable)
    if len(cand) == 0:
        cand = np.flatnonzero(usable)
    if len(cand) == 0:
        return np.full(len(xy), -1), np.full(len(xy), np.inf)
    rxy = project_km(a["lon"].to_numpy(float)[road_idx[cand]], a["lat"].to_numpy(float)[road_idx[cand]], lat0)
    d, k = cKDTree(rxy).query(xy)
    return cand[k], 60.0 * DETOUR * d / ACCESS_SPEED_KMH


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
    direct = 60.0 * DETOUR * np.linalg.norm(oxy[:, None, :] - fxy[None, :, :], axis=2) / ACCESS_SPEED_KMH
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
