"""Metric projection, square grid cells and a Hilbert order for spreading assets.

Cells are squares of ``cell_km`` on a transverse Mercator projection centred on the region
with scale factor 1 on the central meridian. The scale factor of that projection is ≥ 1 everywhere
(Snyder 1987, *Map Projections — A Working Manual*, ch. 8), so a square of side ``cell_km`` on
the map is at most ``cell_km`` on the ground.
"""

from __future__ import annotations

import numpy as np
import pyproj
import shapely

#: Projection of the Zhejiang builder: transverse Mercator on 120.5°E, k0 = 1, metres.
ZHEJIANG_TMERC = "+proj=tmerc +lat_0=0 +lon_0=120.5 +k=1 +x_0=500000 +y_0=0 +datum=WGS84 +units=m +no_defs"
#: Equal-area projection used for areas (Albers, standard parallels 27.5°N and 30.5°N).
ZHEJIANG_ALBERS = "+proj=aea +lat_1=27.5 +lat_2=30.5 +lat_0=29 +lon_0=120.5 +datum=WGS84 +units=m +no_defs"


def tmerc(lon_0: float) -> str:
    """PROJ string of a transverse Mercator (k0 = 1) on meridian ``lon_0``, metres."""
    return f"+proj=tmerc +lat_0=0 +lon_0={lon_0:.6f} +k=1 +x_0=500000 +y_0=0 +datum=WGS84 +units=m +no_defs"


class Projector:
    """Vectorised lon/lat ↔ x/y (metres) transforms for one projected CRS."""

    def __init__(self, crs: str = ZHEJIANG_TMERC) -> None:
        self.crs = crs
        self._fwd = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self._inv = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def to_xy(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x, float), np.asarray(y, float)

    def to_lonlat(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._inv.transform(np.asarray(x, float), np.asarray(y, float))
        return np.asarray(lon, float), np.asarray(lat, float)


def square_grid(
    polygons: np.ndarray, cell_m: float, min_area_m2: float = 1e4
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut projected polygons by a square grid.

    Parameters
    ----------
    polygons:
        Array of shapely (Multi)Polygons in a metric CRS.
    cell_m:
        Side of a grid square, metres.
    min_area_m2:
        Pieces smaller than this (slivers where a boundary grazes a square) are dropped.

    Returns
    -------
    geoms, owner, ix, iy
        Cell geometries (the piece of one polygon inside one square), the index of the polygon each
        belongs to, and the column/row of its square. Sorted by owner, then row, then column.
    """
    polygons = np.asarray(polygons, dtype=object)
    minx, miny, maxx, maxy = shapely.total_bounds(polygons)
    x0 = np.floor(minx / cell_m) * cell_m
    y0 = np.floor(miny / cell_m) * cell_m
    nx = int(np.ceil((maxx - x0) / cell_m))
    ny = int(np.ceil((maxy - y0) / cell_m))
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
    gx = gx.ravel()
    gy = gy.ravel()
    boxes = shapely.box(x0 + gx * cell_m, y0 + gy * cell_m, x0 + (gx + 1) * cell_m, y0 + (gy + 1) * cell_m)
    tree = shapely.STRtree(boxes)
    owner, bi = tree.query(polygons, predicate="intersects")
    pieces = shapely.intersection(polygons[owner], boxes[bi])
    # keep areal parts only (a touching edge gives lines or points)
    pieces = shapely.make_valid(pieces)
    polys = shapely.get_type_id(pieces)
    coll = polys == 7
    if coll.any():
        parts = [
            shapely.union_all([p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (3, 6)])
            for g in pieces[coll]
        ]
        pieces[coll] = np.array(parts, dtype=object)
    area = shapely.area(pieces)
    keep = (area >= min_area_m2) & np.isin(shapely.get_type_id(pieces), (3, 6))
    owner, bi, pieces = owner[keep], bi[keep], pieces[keep]
    ix, iy = gx[bi], gy[bi]
    order = np.lexsort((ix, iy, owner))
    return pieces[order], owner[order], ix[order], iy[order]


def hilbert_index(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """Position of integer grid points on a Hilbert curve (Hilbert 1891; Wikipedia ``xy2d``).

    Consecutive positions are neighbours on the grid, so sorting by it keeps nearby cells together;
    systematic sampling along it spreads selected cells evenly over space.
    """
    x = np.asarray(ix, np.int64).copy()
    y = np.asarray(iy, np.int64).copy()
    top = int(max(x.max(initial=0), y.max(initial=0))) + 1
    n = 1 << max(1, int(np.ceil(np.log2(top))))
    d = np.zeros(len(x), np.int64)
    s = n // 2
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        flip = ~ry & rx
        x[flip] = n - 1 - x[flip]
        y[flip] = n - 1 - y[flip]
        swap = ~ry
        x[swap], y[swap] = y[swap], x[swap].copy()
        s //= 2
    return d


def systematic_pps(
    group: np.ndarray,
    order_key: np.ndarray,
    weight: np.ndarray,
    k: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``k[g]`` items in every group ``g`` with probability proportional to size.

    Systematic sampling along ``order_key`` (a Hilbert index): items of a group are laid out in
    order on [0, 1) with lengths proportional to ``weight``; the picks are at ``(i + u) / k`` for
    one uniform ``u`` per group (Madow 1949). An item heavier than ``1/k`` of its group is picked
    more than once. Vectorised over all groups.

    Returns
    -------
    items, groups
        Indices of the picked items (into the input arrays) and the group of each pick.
    """
    group = np.asarray(group, np.int64)
    k = np.asarray(k, np.int64)
    n_groups = len(k)
    w = np.asarray(weight, float) + 1e-12
    idx = np.lexsort((np.asarray(order_key), group))
    g = group[idx]
    ws = w[idx]
    tot = np.bincount(g, ws, minlength=n_groups)
    cum = np.cumsum(ws)
    start = np.r_[0.0, np.cumsum(tot)][:-1]
    pos = g + (cum - start[g]) / tot[g]
    last = np.r_[g[1:] != g[:-1], True]
    pos[last] = g[last] + 1.0
    kg = np.repeat(np.arange(n_groups), k)
    u = rng.random(n_groups)
    within = np.arange(len(kg)) - np.repeat(np.cumsum(k) - k, k)
    targets = kg + (within + u[kg]) / np.repeat(np.maximum(k, 1), k)
    sel = np.searchsorted(pos, targets, side="left")
    sel = np.minimum(sel, len(pos) - 1)
    return idx[sel], kg
