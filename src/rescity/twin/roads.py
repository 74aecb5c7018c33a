"""The road graph of a twin, once: travel minutes over road assets and access legs to it.

One node per road asset (junctions, hubs, segments, bridges, tunnels; a link asset is a node
between its end nodes, see :mod:`rescity.twin.model`). Crossing a node takes
``60 · length_km / speed_kmh`` minutes with a speed per road kind given by the caller (evacuation
traffic in :mod:`rescity.decide.network`, repair crews in :mod:`rescity.engine.recovery`); an
edge between nodes ``i`` and ``j`` weighs half of each node's crossing time, so a path costs the
sum of its interior crossing times plus half of its end nodes'. Points join the network at their
nearest junction (``road_node``, ``road_hub``; else any road asset) with an access leg of
``60 · DETOUR · distance / ACCESS_SPEED_KMH`` minutes, distances in the local projection of
:mod:`rescity.geo`.

``ACCESS_SPEED_KMH`` = 15 km/h: off-network legs (from a site or a village to the nearest
junction, and direct legs without the network) after a storm or an earthquake, below the lowest
design speed of China's highway standard JTG B01-2014 (20 km/h, fourth-class roads), for debris,
flooding and detours on minor streets. ``DETOUR`` = 1.3, the ratio of travelled to straight-line
distance (circuity of road networks: Ballou et al. 2002, *Transp. Res. A* 36:843–848, ≈ 1.2–1.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from rescity.errors import InputError
from rescity.geo import local_xy_km

#: Speed of access legs between a point and the road network, and of direct legs, km/h.
ACCESS_SPEED_KMH = 15.0
#: Ratio of travelled to straight-line distance on access and direct legs.
DETOUR = 1.3
#: Road asset kinds where points join the network.
JUNCTIONS: tuple[str, ...] = ("road_node", "road_hub")
_EPS_MIN = 1e-6  # csgraph treats explicit zeros as missing edges


@dataclass
class RoadGraph:
    """``graph``: symmetric CSR (minutes) between the road assets ``road_idx`` (asset positions);
    ``node_min``: each node's crossing time, minutes; ``pos``: asset position → graph node (−1)."""

    graph: sp.csr_matrix
    road_idx: np.ndarray
    node_min: np.ndarray
    pos: np.ndarray


def road_graph(twin, speeds_kmh: Mapping[str, float], blocked: np.ndarray | None = None) -> RoadGraph:
    """The road graph in minutes at ``speeds_kmh`` per road kind (others: :data:`ACCESS_SPEED_KMH`).

    Road assets with ``blocked[asset]`` true (impassable) are cut out of the graph.
    """
    a = twin.assets
    road_idx = np.flatnonzero((a["system"] == "road").to_numpy())
    pos = np.full(twin.n_assets, -1, np.int64)
    pos[road_idx] = np.arange(len(road_idx))
    kinds = a["kind"].astype(str).to_numpy()[road_idx]
    speed = np.array([float(speeds_kmh.get(k, ACCESS_SPEED_KMH)) for k in np.unique(kinds)])
    speed = speed[np.searchsorted(np.unique(kinds), kinds)] if len(kinds) else np.zeros(0)
    node_min = 60.0 * np.nan_to_num(a["length_km"].to_numpy(float)[road_idx]) / speed
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
    return RoadGraph(g, road_idx, node_min, pos)


def access_minutes(distance_km) -> np.ndarray:
    """Minutes of an access or direct leg of straight-line ``distance_km``."""
    return 60.0 * DETOUR * np.asarray(distance_km, float) / ACCESS_SPEED_KMH


def nearest_junction(
    twin, xy_km: np.ndarray, lat0: float, candidates: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For points ``xy_km`` (projected about ``lat0``): the asset position of the nearest junction
    among ``candidates`` (default: every road junction, else every road asset) and the distance, km.
    Returns ``(-1, inf)`` for every point when there is no candidate."""
    a = twin.assets
    if candidates is None:
        road = np.flatnonzero((a["system"] == "road").to_numpy())
        junc = road[np.isin(a["kind"].astype(str).to_numpy()[road], JUNCTIONS)]
        candidates = junc if len(junc) else road
    candidates = np.asarray(candidates, np.int64)
    if not len(candidates):
        return np.full(len(xy_km), -1, np.int64), np.full(len(xy_km), np.inf)
    cxy = local_xy_km(a["lon"].to_numpy(float)[candidates], a["lat"].to_numpy(float)[candidates], lat0)
    d, k = cKDTree(cxy).query(xy_km)
    return candidates[k], d
