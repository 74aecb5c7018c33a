"""BSSA14 against the authors' published verification values, and its scaling properties.

Reference values: the verification tables computed with the Fortran implementation distributed by
D. M. Boore (July 2014) for Boore, Stewart, Seyhan & Atkinson (2014), Earthquake Spectra 30(3),
as published with the OpenQuake hazardlib test suite (``BSSA2014/BSSA_2014_MEAN.csv``,
``BSSA_2014_HIGHQ_MEAN.csv`` — China/Turkey anelastic adjustment — and ``BSSA_2014_TOTAL_STD.csv``;
global Q model, style of faulting from rake, no basin term). PGV in cm/s, PGA and PSA in g.
"""

from __future__ import annotations

import numpy as np
import pytest

from rescity.errors import InputError
from rescity.hazard.gmpe import bssa14, get

# (mechanism, M, Rjb km, Vs30 m/s, region, PGV, PGA, SA(0.3), SA(1.0))
PUBLISHED_MEDIANS = [
    ("strike-slip", 6.0, 20.0, 760.0, "global", 5.47571, 0.0990773, 0.18096, 0.046683),
    ("strike-slip", 7.0, 0.0, 200.0, "global", 70.3708, 0.4708, 0.973361, 0.691284),  # nonlinear site
    ("strike-slip", 7.0, 75.0, 760.0, "global", 3.46023, 0.0411161, 0.0797265, 0.0280939),
    ("strike-slip", 6.0, 50.0, 250.0, "global", 4.7087, 0.0644938, 0.153982, 0.0532724),
    ("strike-slip", 6.0, 0.0, 400.0, "global", 35.5475, 0.505082, 0.948491, 0.316706),
    ("normal", 3.0, 0.0, 760.0, "global", 0.0729707, 0.00561554, 0.00247977, 0.00013677),
    ("reverse", 3.0, 0.0, 760.0, "global", 0.0877119, 0.00691393, 0.00315461, 0.000167955),
    ("strike-slip", 7.0, 100.0, 760.0, "china_turkey", 3.80649, 0.0369594, 0.0695224, 0.0278472),
    ("strike-slip", 7.0, 50.0, 760.0, "china_turkey", 6.6293, 0.0753897, 0.138285, 0.0487256),
    ("strike-slip", 8.0, 0.0, 200.0, "china_turkey", 110.387, 0.51133, 1.03431, 0.959346),
]

# (M, Rjb, Vs30, total sigma PGV, PGA, SA(0.3), SA(1.0)), natural log units
PUBLISHED_TOTAL_SIGMA = [
    (7.0, 0.0, 200.0, 0.5852, 0.5493, 0.5600, 0.6744),
    (7.0, 100.0, 760.0, 0.6515, 0.6051, 0.6059, 0.6924),
    (6.0, 75.0, 250.0, 0.6091, 0.5694, 0.5767, 0.6810),
    (7.0, 100.0, 200.0, 0.5852, 0.5493, 0.5600, 0.6744),
]


@pytest.mark.parametrize("mech, m, rjb, vs30, region, pgv, pga, sa03, sa10", PUBLISHED_MEDIANS)
def test_medians_match_published_values(mech, m, rjb, vs30, region, pgv, pga, sa03, sa10):
    for period, expected in ((-1, pgv), (0, pga), (0.3, sa03), (1.0, sa10)):
        got = float(np.exp(bssa14.ln_median(period, m, rjb, vs30, mech, region)))
        assert got == pytest.approx(expected, rel=2e-3), (period, got, expected)


@pytest.mark.parametrize("m, rjb, vs30, pgv, pga, sa03, sa10", PUBLISHED_TOTAL_SIGMA)
def test_total_sigma_matches_published_values(m, rjb, vs30, pgv, pga, sa03, sa10):
    for period, expected in ((-1, pgv), (0, pga), (0.3, sa03), (1.0, sa10)):
        s = bssa14.sigma(period, m, rjb, vs30)
        assert float(s.total) == pytest.approx(expected, abs=1e-3)


def test_between_event_tau_interpolates_in_magnitude():
    # Boore et al. (2014) Eq. 14 with Table 2 PGA values tau1 = 0.398, tau2 = 0.348
    assert float(bssa14.sigma(0, 4.0, 10, 760).tau) == pytest.approx(0.398)
    assert float(bssa14.sigma(0, 5.0, 10, 760).tau) == pytest.approx(0.398 + 0.5 * (0.348 - 0.398))
    assert float(bssa14.sigma(0, 6.5, 10, 760).tau) == pytest.approx(0.348)


def test_published_pga_and_pgv_coefficients():
    # Boore et al. (2014) Table 2 (revised 2014-07-15), PGA and PGV rows
    t = bssa14.coefficients()
    assert len(t) == 107
    pga = t.loc[0.0]
    assert (pga.e0, pga.e4, pga.e6, pga.Mh) == (0.4473, 1.431, -0.1662, 5.5)
    assert (pga.c1, pga.c2, pga.c3, pga.h) == (-1.134, 0.1917, -0.008088, 4.5)
    assert (pga.c, pga.Vc, pga.f4, pga.f5) == (-0.6, 1500, -0.15, -0.00701)
    pgv = t.loc[-1.0]
    assert (pgv.e0, pgv.c, pgv.Vc, pgv.phi1, pgv.tau1) == (5.037, -0.84, 1300, 0.644, 0.401)


def test_scaling_with_magnitude_distance_and_site():
    r = np.array([1.0, 10.0, 30.0, 100.0, 300.0])
    for period in (-1, 0, 0.3, 1.0):
        lo = bssa14.ln_median(period, 5.5, r, 760, "strike-slip")
        hi = bssa14.ln_median(period, 7.0, r, 760, "strike-slip")
        assert (hi > lo).all()  # larger magnitude, larger motion
        assert (np.diff(lo) < 0).all()  # decays with distance
    # linear site amplification on soft soil at low intensity (far field), de-amplification of
    # short periods at strong shaking (nonlinear term, f4 < 0)
    far_soft = bssa14.ln_median(1.0, 6.0, 100, 250, "strike-slip")
    far_rock = bssa14.ln_median(1.0, 6.0, 100, 760, "strike-slip")
    assert far_soft > far_rock
    amp_weak = np.exp(bssa14.ln_median(0, 5.0, 100, 200) - bssa14.ln_median(0, 5.0, 100, 760))
    amp_strong = np.exp(bssa14.ln_median(0, 7.5, 0, 200) - bssa14.ln_median(0, 7.5, 0, 760))
    assert amp_strong < amp_weak


def test_magnitude_outside_range_is_an_input_error():
    with pytest.raises(InputError, match="BSSA14 range"):
        bssa14.check_source(8.7, "strike-slip")
    with pytest.raises(InputError, match="3–7 for normal"):
        bssa14.check_source(7.2, "normal")
    with pytest.raises(InputError):
        bssa14.check_source(2.5, "reverse")
    bssa14.check_source(8.5, "reverse")


def test_unknown_model_period_and_region():
    with pytest.raises(InputError, match="available"):
        get("yu2013")
    with pytest.raises(InputError, match="period"):
        bssa14.ln_median(0.333, 6.0, 10.0, 760)
    with pytest.raises(InputError, match="region"):
        bssa14.ln_median(0.0, 6.0, 10.0, 760, region="atlantis")
