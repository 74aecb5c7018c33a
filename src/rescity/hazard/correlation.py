"""Correlated ground-motion residuals: across intensity measures and in space.

Cross-measure correlation
    Baker & Jayaram (2008), *Correlation of spectral acceleration values from NGA ground motion
    models*, Earthquake Spectra 24(1): 299–317, Eq. 7–8, with PGA taken at T = 0.01 s. PGV is
    given the equivalent period :data:`PGV_EQUIVALENT_PERIOD_S` = 0.5 s, which reproduces the
    PGV–PGA correlation of about 0.7 reported by Bradley (2012, Earthquake Spectra 28(1)) to
    within 0.05 — an approximation, documented as such. The same matrix ``C`` correlates the
    between-event residuals ``η`` and the within-event residuals ``ε`` at one site.

Spatial correlation of within-event residuals
    Jayaram & Baker (2009), *Correlation model for spatially distributed ground-motion
    intensities*, EESD 38: 1687–1708: ``ρ(h) = exp(−3h/b)`` with range
    ``b = 8.5 + 17.2 T`` km for T < 1 s (case 1, Vs30 not clustered) or ``40.7 − 15.0 T`` (case 2,
    clustered), and ``22.0 + 3.7 T`` for T ≥ 1 s. PGV uses the range of T = 1 s (longer ranges are
    reported for PGV, e.g. Wang & Takada 2005).

Joint model
    A linear model of coregionalisation (Goovaerts 1997, ch. 4): independent unit fields ``z_j``,
    one per measure with that measure's JB2009 range, combined as ``ε = L z`` with ``L L' = C``
    (lower Cholesky, order PGA, SA(0.3), SA(1.0), PGV). At one site the measures correlate by
    ``C`` exactly; PGA's spatial correlation is exactly JB2009; the others' is the mixture
    ``ρ_k(h) = Σ_j L_kj² exp(−3h/b_j)`` (:func:`implied_spatial_correlation`), within a few per cent
    of their own JB2009 curve.

Samplers (a full Cholesky on ~60,000 sites is out of reach: 29 GB and ~10¹⁴ flops)
    ``exact``: Cholesky of each ``exp(−3D/b_j)`` on the sites (n ≲ 3,000).
    ``grid``: circulant embedding (Dietrich & Newsam 1997; Wood & Chan 1994) of the exponential
    covariance on a regular grid over the sites' bounding box, padded on every side by four ranges
    (ρ < 10⁻⁵) so that wrap-around is negligible; eigenvalues of the embedding are clipped at zero
    and the clipped mass is checked to be < 10⁻³. The step is ``grid_km`` for the shortest range
    (PGA, 8.5 km) and grows in proportion to the range for the others (``grid_km · b/b_min``), so
    the discretisation error is the same fraction of every range. Each site takes the value of its
    nearest node: marginal variance is exact; two sites' correlation is that of their nodes, so
    distances are off by at most ``step/√2`` (sites in one cell are fully correlated). Cost per
    field: one real FFT pair on the padded grid, independent of the number of sites.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Optional

import numpy as np
import scipy.fft as sfft

from rescity.errors import InputError
from rescity.geo import KM_PER_DEG, local_xy_km

PGV_EQUIVALENT_PERIOD_S = 0.5
PGA_PERIOD_S = 0.01
#: Period (s) whose JB2009 range each measure uses.
RANGE_PERIOD_S: dict[str, float] = {"pga_g": 0.0, "sa03_g": 0.3, "sa10_g": 1.0, "pgv_cms": 1.0}
#: Period (s) standing for each measure in the Baker & Jayaram (2008) cross-correlation.
CROSS_PERIOD_S: dict[str, float] = {"pga_g": PGA_PERIOD_S, "sa03_g": 0.3, "sa10_g": 1.0,
                                    "pgv_cms": PGV_EQUIVALENT_PERIOD_S}
#: Order of the coregionalisation (Cholesky) basis.
BASIS_ORDER: tuple[str, ...] = ("pga_g", "sa03_g", "sa10_g", "pgv_cms")


def jb2009_range_km(period_s: float, vs30_clustered: bool = False) -> float:
    """Range ``b`` (km) of the Jayaram & Baker (2009) model ``ρ(h) = exp(−3h/b)``."""
    t = float(period_s)
    if t >= 1.0:
        return 22.0 + 3.7 * t
    return 40.7 - 15.0 * t if vs30_clustered else 8.5 + 17.2 * t


def bj2008_correlation(t1: float, t2: float) -> float:
    """Correlation of ε at periods ``t1``, ``t2`` (s), Baker & Jayaram (2008) Eq. 7–8."""
    tmin, tmax = min(t1, t2), max(t1, t2)
    c1 = 1.0 - math.cos(math.pi / 2.0 - 0.366 * math.log(tmax / max(tmin, 0.109)))
    if tmax < 0.2:
        c2 = 1.0 - 0.105 * (1.0 - 1.0 / (1.0 + math.exp(100.0 * tmax - 5.0))) * (
            (tmax - tmin) / (tmax - 0.0099)
        )
    else:
        c2 = 0.0
    c3 = c2 if tmax < 0.109 else c1
    c4 = c1 + 0.5 * (math.sqrt(c3) - c3) * (1.0 + math.cos(math.pi * tmin / 0.109))
    if tmax < 0.109:
        return c2
    if tmin > 0.109:
        return c1
    if tmax < 0.2:
        return min(c2, c4)
    return c4


def cross_correlation(measures: tuple[str, ...]) -> np.ndarray:
    """Correlation matrix of the residuals of ``measures`` at one site."""
    t = [CROSS_PERIOD_S[m] for m in measures]
    return np.array([[bj2008_correlation(a, b) for b in t] for a in t])


def _coregionalisation(measures: tuple[str, ...], vs30_clustered: bool) -> tuple[np.ndarray, np.ndarray]:
    """(A, ranges): ε_measures = A z_basis, each basis field with its JB2009 range (km)."""
    basis = tuple(m for m in BASIS_ORDER if m in measures)
    basis += tuple(m for m in measures if m not in BASIS_ORDER)
    lc = np.linalg.cholesky(cross_correlation(basis))
    order = [basis.index(m) for m in measures]
    a = lc[order, :]
    ranges = np.array([jb2009_range_km(RANGE_PERIOD_S[m], vs30_clustered) for m in basis])
    return a, ranges


def implied_spatial_correlation(measure: str, h_km: np.ndarray, measures: tuple[str, ...] = BASIS_ORDER,
                                vs30_clustered: bool = False) -> np.ndarray:
    """Spatial correlation of ``measure``'s within-event residual under the coregionalisation."""
    a, ranges = _coregionalisation(measures, vs30_clustered)
    k = measures.index(measure)
    h = np.asarray(h_km, dtype=float)[..., None]
    return np.sum(a[k] ** 2 * np.exp(-3.0 * h / ranges), axis=-1)


def _streams(seed: int, first: int, realisations: int) -> list[np.random.Generator]:
    return [
        np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(first + r,))))
        for r in range(realisations)
    ]


def _local_km(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat0 = float(np.mean(lat))
    lon0 = float(np.mean(lon))
    xy = local_xy_km(lon, lat, lat0, lon0)
    return xy[:, 0], xy[:, 1] - lat0 * KM_PER_DEG


Sampler = Callable[[], Iterator[tuple[int, int, np.ndarray]]]


def residual_sampler(
    lon: np.ndarray,
    lat: np.ndarray,
    measures: tuple[str, ...],
    realisations: int,
    seed: int,
    *,
    first: int = 0,
    model: str = "jb2009",
    method: str = "auto",
    grid_km: float = 1.0,
    vs30_clustered: bool = False,
    chunk: Optional[int] = None,
) -> tuple[np.ndarray, Sampler]:
    """Between-event residuals and a generator of within-event residual blocks.

    Returns ``(eta, blocks)``: ``eta`` of shape ``(realisations, n_measures)`` and a callable whose
    iterator yields ``(r0, r1, eps)`` with ``eps`` of shape ``(r1 − r0, n_measures, n_sites)``
    (float32), all standard normal with the correlations described in the module docstring.
    Realisation ``r`` uses only ``SeedSequence(seed, spawn_key=(first + r,))``: first its
    ``n_measures`` between-event normals, then its field noise.
    """
    if model not in ("jb2009", "none"):
        raise InputError("correlation must be 'jb2009' or 'none'", field="correlation", value=model)
    if method not in ("auto", "exact", "grid"):
        raise InputError("method must be 'auto', 'exact' or 'grid'", field="method", value=method)
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    n = lon.size
    m = len(measures)
    a, ranges = _coregionalisation(measures, vs30_clustered)
    c = cross_correlation(measures)
    lc = np.linalg.cholesky(c)
    rngs = _streams(seed, first, realisations)
    eta = np.stack([rng.standard_normal(m) for rng in rngs]) @ lc.T
    if chunk is None:
        chunk = int(max(1, min(realisations, 2**27 // max(1, m * n * 4))))
    x, y = _local_km(lon, lat)

    if model == "none":
        def blocks() -> Iterator[tuple[int, int, np.ndarray]]:
            for r0 in range(0, realisations, chunk):
                r1 = min(realisations, r0 + chunk)
                z = np.stack([rngs[r].standard_normal((m, n), dtype=np.float32) for r in range(r0, r1)])
                yield r0, r1, np.einsum("kj,rjn->rkn", a.astype(np.float32), z)
        return eta, blocks

    if method == "auto":
        method = "exact" if n <= 2000 else "grid"
    if method == "exact":
        chol = [_exact_cholesky(x, y, b) for b in ranges]

        def blocks() -> Iterator[tuple[int, int, np.ndarray]]:
            for r0 in range(0, realisations, chunk):
                r1 = min(realisations, r0 + chunk)
                w = np.stack([rngs[r].standard_normal((m, n)) for r in range(r0, r1)])
                z = np.stack([w[:, j, :] @ chol[j].T for j in range(m)], axis=1)
                yield r0, r1, np.einsum("kj,rjn->rkn", a, z).astype(np.float32)
        return eta, blocks

    grid = _Grid(x, y, grid_km, ranges)

    def blocks() -> Iterator[tuple[int, int, np.ndarray]]:
        a32 = a.astype(np.float32)
        for r0 in range(0, realisations, chunk):
            r1 = min(realisations, r0 + chunk)
            z = np.empty((r1 - r0, m, n), dtype=np.float32)
            for i, r in enumerate(range(r0, r1)):
                for j in range(m):
                    z[i, j] = grid.sample(j, rngs[r])
            yield r0, r1, np.einsum("kj,rjn->rkn", a32, z)
    return eta, blocks


def _exact_cholesky(x: np.ndarray, y: np.ndarray, b: float) -> np.ndarray:
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    cov = np.exp(-3.0 * d / b)
    cov[np.diag_indices_from(cov)] += 1e-9
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:  # coincident sites: fall back to a symmetric square root
        w, v = np.linalg.eigh(cov)
        return v * np.sqrt(np.clip(w, 0.0, None))


class _Grid:
    """Circulant embedding of ``exp(−3h/b)`` on a padded regular grid, one grid per range."""

    def __init__(self, x: np.ndarray, y: np.ndarray, step_km: float, ranges: np.ndarray,
                 pad_ranges: float = 4.0) -> None:
        if not step_km > 0:
            raise InputError("grid_km must be positive", field="grid_km", value=step_km)
        self.sqrt_lam = []
        self.shapes = []
        self.nodes = []
        b_min = float(np.min(ranges))
        for b in ranges:
            step = step_km * float(b) / b_min
            ix = np.rint((x - x.min()) / step).astype(np.int64)
            iy = np.rint((y - y.min()) / step).astype(np.int64)
            self.nodes.append((iy, ix))
            nx, ny = int(ix.max()) + 1, int(iy.max()) + 1
            pad = int(math.ceil(pad_ranges * b / step))
            while True:
                mx = sfft.next_fast_len(nx + pad, real=True)
                my = sfft.next_fast_len(ny + pad, real=True)
                hx = np.minimum(np.arange(mx), mx - np.arange(mx)) * step
                hy = np.minimum(np.arange(my), my - np.arange(my)) * step
                cov = np.exp(-3.0 * np.hypot(hy[:, None], hx[None, :]) / b)
                lam = sfft.rfft2(cov, workers=-1).real
                neg = -lam[lam < 0].sum() / lam[lam > 0].sum()
                if neg < 1e-3 or pad > 64 * b / step:
                    break
                pad *= 2
            self.sqrt_lam.append(np.sqrt(np.clip(lam, 0.0, None)).astype(np.float32))
            self.shapes.append((my, mx))

    def sample(self, j: int, rng: np.random.Generator) -> np.ndarray:
        """One unit-variance field (float32) at the sites' nodes, from ``rng``."""
        my, mx = self.shapes[j]
        w = rng.standard_normal((my, mx), dtype=np.float32)
        f = sfft.irfft2(sfft.rfft2(w, workers=-1) * self.sqrt_lam[j], s=(my, mx), workers=-1)
        iy, ix = self.nodes[j]
        return f[iy, ix]
