"""Storm-centred geometry of sites, vectorised over (time step × site).

Positions are unit vectors on the sphere; the great-circle distance follows from the chord and
the direction from the storm centre to a site from the projection of the chord onto the local
east/north plane at the centre, which is exactly the initial great-circle bearing. No
trigonometric call per (step, site) other than one ``arcsin``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from rescity.errors import InputError
from rescity.geo import EARTH_RADIUS_KM, km_to_chord
from rescity.geo import unit_vectors as unit_vectors

#: Elements per (step × site) block: ~2 MB per temporary array, cache-friendly.
BLOCK_ELEMENTS: int = 1 << 18


def as_sites(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Site longitudes and latitudes as 1-D float arrays of equal length, checked."""
    lon = np.atleast_1d(np.asarray(lon, dtype=float)).ravel()
    lat = np.atleast_1d(np.asarray(lat, dtype=float)).ravel()
    if lon.shape != lat.shape:
        raise InputError(f"{len(lon)} longitudes but {len(lat)} latitudes", field="lon/lat")
    bad = ~((lat >= -90) & (lat <= 90))
    if bad.any():
        raise InputError("site latitude out of range [-90, 90]", field="lat", value=float(lat[bad][0]))
    bad = ~((lon >= -180) & (lon <= 360))
    if bad.any():
        raise InputError("site longitude out of range [-180, 360]", field="lon", value=float(lon[bad][0]))
    return lon, lat


def chord_of_km(d_km: float) -> float:
    """Chord length (unit sphere) of a great-circle distance in km."""
    return km_to_chord(d_km)


@dataclass
class Block:
    """One block of steps: ``steps`` (indices into the track), and per (step, site)
    ``r_km`` (great-circle distance), ``re``, ``rn`` (east and north components of the unit
    vector from the centre towards the site, in the centre's local frame)."""

    steps: np.ndarray
    r_km: np.ndarray
    re: np.ndarray
    rn: np.ndarray


class SiteFrame:
    """Sites prepared once for many storm positions."""

    def __init__(self, lon, lat) -> None:
        self.lon, self.lat = as_sites(lon, lat)
        self.xyz = unit_vectors(self.lon, self.lat)
        self.n = len(self.lon)
        self._tree: cKDTree | None = None

    def near_steps(self, clon: np.ndarray, clat: np.ndarray, cutoff_km: float) -> np.ndarray:
        """Indices of the storm positions within ``cutoff_km`` of at least one site."""
        if self.n == 0 or len(clon) == 0:
            return np.zeros(0, dtype=np.int64)
        if self._tree is None:
            self._tree = cKDTree(self.xyz)
        d, _ = self._tree.query(unit_vectors(clon, clat), k=1)
        return np.flatnonzero(d <= chord_of_km(cutoff_km) * (1 + 1e-12))

    def steps_per_block(self, block_elements: int | None = None) -> int:
        """Steps per block of :meth:`blocks` (at most ``block_elements`` step × site values)."""
        block_elements = BLOCK_ELEMENTS if block_elements is None else int(block_elements)
        return max(1, block_elements // max(self.n, 1))

    def track_blocks(self, ti, cutoff_km: float) -> Iterator[Block]:
        """:meth:`blocks` of the fixes of the resampled track ``ti`` (``lon``, ``lat`` columns)
        that come within ``cutoff_km`` of a site."""
        clon = ti["lon"].to_numpy(float)
        clat = ti["lat"].to_numpy(float)
        return self.blocks(clon, clat, self.near_steps(clon, clat, cutoff_km))

    def blocks(
        self, clon: np.ndarray, clat: np.ndarray, steps: np.ndarray, block_elements: int | None = None
    ) -> Iterator[Block]:
        """Distances and directions for ``steps`` of the centre positions, in blocks of steps of
        at most ``block_elements`` (default :data:`BLOCK_ELEMENTS`) step × site values."""
        c = unit_vectors(clon, clat)
        lam = np.deg2rad(clon)
        phi = np.deg2rad(clat)
        # local east and north unit vectors at each centre
        east = np.column_stack([-np.sin(lam), np.cos(lam), np.zeros_like(lam)])
        north = np.column_stack([-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)])
        per = self.steps_per_block(block_elements)
        x, y, z = self.xyz[:, 0], self.xyz[:, 1], self.xyz[:, 2]
        for k in range(0, len(steps), per):
            s = steps[k : k + per]
            dx = x[None, :] - c[s, 0:1]
            dy = y[None, :] - c[s, 1:2]
            dz = z[None, :] - c[s, 2:3]
            chord = np.sqrt(dx * dx + dy * dy + dz * dz)
            r_km = (2.0 * EARTH_RADIUS_KM) * np.arcsin(np.minimum(chord * 0.5, 1.0))
            re = dx * east[s, 0:1] + dy * east[s, 1:2]
            rn = dx * north[s, 0:1] + dy * north[s, 1:2] + dz * north[s, 2:3]
            norm = np.hypot(re, rn)
            norm[norm == 0] = 1.0
            re /= norm
            rn /= norm
            yield Block(steps=s, r_km=r_km, re=re, rn=rn)
