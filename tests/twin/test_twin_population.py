"""Disaggregation, rounding, grid and placement helpers, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from rescity.twin.grid import hilbert_index, square_grid, systematic_pps
from rescity.twin.population import disaggregate, largest_remainder


def test_largest_remainder_hand_example():
    # quotas 1.5, 2.3, 0.2 (total 4): floors 1, 2, 0 leave one to the largest remainder (0.5)
    # quotas 2.6, 0.7, 1.7 (total 5): floors 2, 0, 1 leave two → remainders 0.7, 0.7 win over 0.6
    exp = np.array([1.5, 2.3, 0.2, 2.6, 0.7, 1.7])
    grp = np.array([0, 0, 0, 1, 1, 1])
    out = largest_remainder(exp, grp, np.array([4, 5]))
    assert out.tolist() == [2, 2, 0, 2, 1, 2]


def test_largest_remainder_hamilton_apportionment():
    """Hamilton's method: 4 states, populations 5,117 / 4,400 / 162 / 161 (total 9,840), 100 seats.

    Quotas 52.002, 44.715, 1.646, 1.636 → floors 52, 44, 1, 1 (98); the two seats left go to
    the largest remainders (0.715, 0.646) → 52, 45, 2, 1.
    """
    pop = np.array([5117.0, 4400.0, 162.0, 161.0])
    quota = pop / pop.sum() * 100
    out = largest_remainder(quota, np.zeros(4, np.int64), np.array([100]))
    assert out.tolist() == [52, 45, 2, 1]


@pytest.mark.parametrize("seed", range(5))
def test_largest_remainder_sums_and_bounds(seed):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 7, 200)
    w = rng.random(200)
    tot = rng.integers(0, 10_000, 7)
    tot[np.bincount(g, minlength=7) == 0] = 0
    s = np.bincount(g, w, minlength=7)
    exp = tot[g] * w / s[g]
    out = largest_remainder(exp, g, tot)
    assert np.array_equal(np.bincount(g, out, minlength=7), tot)
    assert (out >= np.floor(exp) - 1e-9).all() and (out <= np.ceil(exp) + 1e-9).all()


def test_disaggregate_kernel_by_hand():
    # one county, 1,000 people, 60 % urban, three cells of 10, 10, 20 km² at 0, 4, 8 km from the seat
    area = np.array([10.0, 10.0, 20.0])
    dist = np.array([0.0, 4.0, 8.0])
    pop, share = disaggregate(np.zeros(3, np.int64), area, dist, np.array([1000]), np.array([0.6]))
    # r_u = sqrt(600 / (π 8000)) ≈ 0.155 km → λ = max(2, r_u / 2) = 2 km
    wu = area * np.exp(-dist / 2.0)
    eu = 600 * wu / wu.sum()
    er = 400 * area / area.sum()
    exp = eu + er
    assert pop.sum() == 1000
    assert np.all(np.abs(pop - exp) < 1.0)
    assert np.allclose(share, eu / exp)


def test_disaggregate_rural_by_area_and_kernel_width():
    # fully rural: people in proportion to area, exactly
    pop, share = disaggregate(
        np.zeros(4, np.int64), np.array([1.0, 2.0, 3.0, 4.0]), np.zeros(4), np.array([1000]), np.array([0.0])
    )
    assert pop.tolist() == [100, 200, 300, 400] and (share == 0).all()
    # 2,010,619 urban people at 8,000 /km²: r_u = sqrt(2,010,619 / (π 8000)) = 8.944 km → λ = 4.472 km
    area = np.array([1.0, 1.0])
    dist = np.array([0.0, 4.472])
    pop, _ = disaggregate(np.zeros(2, np.int64), area, dist, np.array([2_010_619]), np.array([1.0]))
    assert abs(pop[0] / pop[1] - np.e) < 1e-3


def test_hilbert_order_1_and_adjacency():
    # Wikipedia xy2d, n = 2: (0,0)→0, (0,1)→1, (1,1)→2, (1,0)→3
    d = hilbert_index(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 0]))
    assert d.tolist() == [0, 1, 2, 3]
    x, y = np.meshgrid(np.arange(16), np.arange(16))
    d = hilbert_index(x.ravel(), y.ravel())
    assert sorted(d.tolist()) == list(range(256))
    o = np.argsort(d)
    step = np.abs(np.diff(x.ravel()[o])) + np.abs(np.diff(y.ravel()[o]))
    assert (step == 1).all()  # consecutive points on the curve are grid neighbours


def test_systematic_pps_counts():
    rng = np.random.default_rng(0)
    w = np.array([0.5, 0.25, 0.125, 0.125, 1.0, 1.0])
    g = np.array([0, 0, 0, 0, 1, 1])
    for _ in range(20):
        items, groups = systematic_pps(g, np.arange(6), w, np.array([8, 3]), rng)
        assert np.bincount(groups).tolist() == [8, 3]
        n = np.bincount(items, minlength=6)
        # systematic sampling: an item of share p gets floor(kp) or ceil(kp) picks
        assert n[:4].tolist() == [4, 2, 1, 1]
        assert sorted(n[4:].tolist()) == [1, 2]
        assert (g[items] == groups).all()


def test_square_grid_pieces():
    # a 12 × 7 km rectangle from (1, 2) km on a grid anchored at multiples of 5 km: columns
    # 1–5, 5–10, 10–13 km (4, 5, 3 km) and rows 2–5, 5–9 km (3, 4 km) → six pieces
    poly = shapely.box(1000.0, 2000.0, 13000.0, 9000.0)
    geoms, owner, ix, iy = square_grid(np.array([poly]), 5000.0)
    assert len(geoms) == 6
    areas = sorted(np.round(shapely.area(geoms) / 1e6, 6).tolist())
    assert areas == sorted([4 * 3, 5 * 3, 3 * 3, 4 * 4, 5 * 4, 3 * 4])
    assert np.isclose(shapely.area(geoms).sum(), 12000.0 * 7000.0)
    assert (owner == 0).all()
    b = shapely.bounds(geoms)
    assert ((b[:, 2] - b[:, 0]) <= 5000.0).all() and ((b[:, 3] - b[:, 1]) <= 5000.0).all()
