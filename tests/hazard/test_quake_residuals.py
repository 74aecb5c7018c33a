"""Between/within-event residual statistics, cross-measure and spatial correlation, streams."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rescity.hazard import correlation as corr
from rescity.hazard.earthquake import EarthquakeSource, ground_motion, sample_ground_motion

MEASURES = ("pga_g", "pgv_cms", "sa03_g", "sa10_g")


def test_jb2009_ranges():
    # Jayaram & Baker (2009) Eq. 17-18: b = 8.5 + 17.2 T (T < 1 s, case 1), 40.7 - 15.0 T (case 2),
    # 22.0 + 3.7 T (T >= 1 s)
    assert corr.jb2009_range_km(0.0) == pytest.approx(8.5)
    assert corr.jb2009_range_km(0.3) == pytest.approx(8.5 + 17.2 * 0.3)
    assert corr.jb2009_range_km(0.3, vs30_clustered=True) == pytest.approx(40.7 - 4.5)
    assert corr.jb2009_range_km(1.0) == pytest.approx(25.7)
    assert corr.jb2009_range_km(3.0) == pytest.approx(33.1)


def test_baker_jayaram_2008_correlation_by_hand():
    # Baker & Jayaram (2008) Eq. 7-8 evaluated by hand for T = 0.3 and 1.0 s (both > 0.109 s):
    # rho = 1 - cos(pi/2 - 0.366 ln(1.0/0.3)) = 0.5735
    by_hand = 1 - math.cos(math.pi / 2 - 0.366 * math.log(1 / 0.3))
    assert corr.bj2008_correlation(0.3, 1.0) == pytest.approx(by_hand)
    assert corr.bj2008_correlation(0.3, 1.0) == pytest.approx(0.5735, abs=1e-4)
    assert corr.bj2008_correlation(1.0, 1.0) == pytest.approx(1.0)
    # Tmin = 0.01 < 0.109 <= Tmax = 0.3 (>= 0.2): C4 = C1 + 0.5 (sqrt(C3) - C3)(1 + cos(pi Tmin/0.109))
    c1 = 1 - math.cos(math.pi / 2 - 0.366 * math.log(0.3 / 0.109))
    c4 = c1 + 0.5 * (math.sqrt(c1) - c1) * (1 + math.cos(math.pi * 0.01 / 0.109))
    assert corr.bj2008_correlation(0.01, 0.3) == pytest.approx(c4)
    c = corr.cross_correlation(MEASURES)
    assert np.allclose(c, c.T) and np.all(np.linalg.eigvalsh(c) > 0)


def _sites(n, seed=3, size_deg=0.5):
    rng = np.random.default_rng(seed)
    return 120.0 + rng.uniform(0, size_deg, n), 29.5 + rng.uniform(0, size_deg, n)


def _km(lon, lat):
    x = 6371.0 * np.radians(lon - lon.mean()) * math.cos(math.radians(lat.mean()))
    y = 6371.0 * np.radians(lat - lat.mean())
    return np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])


@pytest.mark.parametrize("method, grid_km", [("exact", 1.0), ("grid", 1.0)])
def test_spatial_correlation_follows_jb2009(method, grid_km):
    lon, lat = _sites(150)
    eta, blocks = corr.residual_sampler(lon, lat, MEASURES, 1200, seed=11, method=method, grid_km=grid_km)
    eps = np.concatenate([e for _, _, e in blocks()])  # (R, m, n)
    assert abs(eps.mean()) < 0.02
    np.testing.assert_allclose(eps.var(axis=0).mean(axis=1), 1.0, atol=0.04)
    d = _km(lon, lat)
    for k, im in enumerate(MEASURES):
        emp = np.corrcoef(eps[:, k, :].T)
        for lo, hi in ((0.5, 2.0), (3.0, 6.0), (8.0, 12.0)):
            sel = (d > lo) & (d < hi)
            model = corr.implied_spatial_correlation(im, d[sel], MEASURES).mean()
            assert emp[sel].mean() == pytest.approx(model, abs=0.04), (im, lo, hi)
    # PGA, first in the coregionalisation basis, follows JB2009 exactly: exp(-3h/8.5)
    h = np.array([1.0, 5.0, 10.0])
    np.testing.assert_allclose(corr.implied_spatial_correlation("pga_g", h, MEASURES), np.exp(-3 * h / 8.5))


def test_cross_measure_correlation_of_residuals():
    lon, lat = _sites(40)
    eta, blocks = corr.residual_sampler(lon, lat, MEASURES, 3000, seed=5, method="exact")
    eps = np.concatenate([e for _, _, e in blocks()])
    target = corr.cross_correlation(MEASURES)
    np.testing.assert_allclose(np.corrcoef(eta.T), target, atol=0.05)
    site0 = eps[:, :, 0]
    np.testing.assert_allclose(np.corrcoef(site0.T), target, atol=0.05)
    np.testing.assert_allclose(eta.var(axis=0), 1.0, atol=0.07)


def test_uncorrelated_option_has_no_spatial_correlation():
    lon, lat = _sites(60)
    _, blocks = corr.residual_sampler(lon, lat, MEASURES, 1500, seed=2, model="none")
    eps = np.concatenate([e for _, _, e in blocks()])
    emp = np.corrcoef(eps[:, 0, :].T)
    off = emp[~np.eye(60, dtype=bool)]
    assert abs(off.mean()) < 0.01 and off.std() < 0.04


@pytest.mark.parametrize("method", ["exact", "grid"])
def test_realisations_do_not_depend_on_chunking(method):
    src = EarthquakeSource(lon=120.2, lat=29.7, depth_km=10, mw=6.0)
    lon, lat = _sites(80)
    kw = dict(method=method, grid_km=1.0)
    full = sample_ground_motion(src, lon, lat, 760.0, 6, 42, **kw)
    tail = sample_ground_motion(src, lon, lat, 760.0, 2, 42, first=4, **kw)
    for im in MEASURES:
        np.testing.assert_array_equal(full[im][4:], tail[im])


def test_field_statistics_match_gmpe_mean_and_sigma():
    src = EarthquakeSource(lon=120.2, lat=29.7, depth_km=10, mw=6.5, mechanism="reverse")
    lon, lat = _sites(30)
    gm = ground_motion(src, lon, lat, 400.0)
    f = sample_ground_motion(src, lon, lat, 400.0, 4000, 9, return_residuals=True)
    for im in MEASURES:
        ln_y = np.log(f[im].astype(float))
        # E[ln Y] = ln(median); Var[ln Y] = tau^2 + phi^2 (Boore et al. 2014, Eq. 1 and 17)
        np.testing.assert_allclose(ln_y.mean(axis=0), np.log(gm[im]), atol=0.06)
        total = np.sqrt(gm[f"tau_{im}"] ** 2 + gm[f"phi_{im}"] ** 2)
        np.testing.assert_allclose(ln_y.std(axis=0), total, rtol=0.06)
        # decomposition: ln Y - ln mu - tau*eta is the within-event part, phi*eps, independent of eta
        within = ln_y - np.log(gm[im]) - gm[f"tau_{im}"] * f[f"eta_{im}"][:, None]
        np.testing.assert_allclose(within, gm[f"phi_{im}"] * f[f"eps_{im}"], atol=1e-4)
        np.testing.assert_allclose(within.std(axis=0), gm[f"phi_{im}"], rtol=0.06)
        assert abs(np.corrcoef(within[:, 0], f[f"eta_{im}"])[0, 1]) < 0.05
