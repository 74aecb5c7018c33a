"""Track ensembles: spread against the verification table, known past, AR(1) correlation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import ellipe

from _forecast_twin import straight_track
from rescity.errors import InputError
from rescity.forecast import ensemble as ens

ISSUED = pd.Timestamp("2019-08-09 00:00", tz="UTC")


def _official():
    # a storm 48 h into its life at issuance, moving NNW at ~20 km/h, with 72 h of forecast after it
    tr = straight_track(
        "2019-08-07 00:00", lat0=20.0, lon0=128.0, dlat_per_h=0.15, dlon_per_h=-0.08, hours=120
    )
    return tr


def _distance_at(e: pd.DataFrame, ref: pd.DataFrame, lead: float) -> np.ndarray:
    t = ISSUED + pd.Timedelta(hours=lead)
    m = e[e["time"] == t]
    r = ref[pd.to_datetime(ref["time"], utc=True) == t]
    if len(r):
        lat, lon = float(r["lat"].iloc[0]), float(r["lon"].iloc[0])
    else:  # interpolate the reference
        h = (pd.to_datetime(ref["time"], utc=True) - ISSUED) / pd.Timedelta(hours=1)
        lat = float(np.interp(lead, h, ref["lat"]))
        lon = float(np.interp(lead, h, ref["lon"]))
    return ens.haversine_km(m["lat"].to_numpy(), m["lon"].to_numpy(), lat, lon)


def test_rayleigh_and_elliptic_mean_distance():
    # ratio 1: Rayleigh, mean = σ sqrt(π/2)  →  σ = DPE / sqrt(π/2)
    s_at, s_ct = ens.sigma_from_mean_distance(np.array([68.0]), 1.0)
    assert s_at[0] == pytest.approx(68.0 / np.sqrt(np.pi / 2), rel=1e-12)
    assert s_ct[0] == pytest.approx(s_at[0])
    # ratio 2: E|e| = sqrt(2/π) σ_at E(1 − 1/4); check against a direct Monte Carlo of the 2-D Gaussian
    s_at, s_ct = ens.sigma_from_mean_distance(np.array([100.0]), 2.0)
    assert s_at[0] == pytest.approx(100.0 / (np.sqrt(2 / np.pi) * ellipe(0.75)))
    rng = np.random.default_rng(0)
    x = rng.normal(0, s_at[0], 400_000)
    y = rng.normal(0, s_ct[0], 400_000)
    assert np.hypot(x, y).mean() == pytest.approx(100.0, rel=0.005)


@pytest.mark.parametrize("ratio", [1.0, 1.2])
def test_member_spread_matches_verification_table(ratio):
    off = _official()
    e = ens.perturb_track(off, ISSUED, members=4000, seed=3, errors="cma", ratio=ratio)
    table = ens.error_table("cma")
    for lead in (24, 48, 72):
        expect = float(np.interp(lead, table.lead_h, table.track_km))
        got = _distance_at(e, off, lead).mean()
        # 4000 members: the standard error of the mean distance is < 1 %
        assert got == pytest.approx(expect, rel=0.03), lead
    # published CMA order of magnitude (issue: 65-70 km at 24 h, ~120 at 48 h, ~180 at 72 h)
    assert 65 <= table.track_km[table.lead_h == 24][0] <= 70


def test_members_differ_before_issuance_only_by_their_analysis_error():
    off = _official()
    e = ens.perturb_track(off, ISSUED, members=300, seed=11)
    past = e[e["lead_h"] < 0]
    assert len(past) > 0
    at0 = e[e["lead_h"] == 0].set_index("member")
    h_off = (pd.to_datetime(off["time"], utc=True) - ISSUED) / pd.Timedelta(hours=1)
    for lead, g in past.groupby("lead_h"):
        g = g.set_index("member")
        lat_true = np.interp(lead, h_off, off["lat"])
        lon_true = np.interp(lead, h_off, off["lon"])
        lat0 = np.interp(0.0, h_off, off["lat"])
        lon0 = np.interp(0.0, h_off, off["lon"])
        # the same north/east shift (km) as at the analysis time, member by member
        dn = (g["lat"] - lat_true) * ens.KM_PER_DEG
        de = (g["lon"] - lon_true) * ens.KM_PER_DEG * np.cos(np.radians(lat_true))
        dn0 = (at0["lat"] - lat0) * ens.KM_PER_DEG
        de0 = (at0["lon"] - lon0) * ens.KM_PER_DEG * np.cos(np.radians(lat0))
        np.testing.assert_allclose(dn, dn0, atol=1e-6)
        np.testing.assert_allclose(de, de0, atol=1e-6)
    # and that shift is the analysis error: mean 20 km (CMA positioning error, packaged table)
    d0 = _distance_at(e, off, 0.0)
    assert d0.mean() == pytest.approx(20.0, rel=0.1)


def test_errors_are_ar1_correlated_along_lead_time():
    off = _official()
    phi6 = 0.9
    e = ens.perturb_track(off, ISSUED, members=5000, seed=5, ratio=1.0, phi6=phi6)
    # northward displacement at 24 h and 48 h (the track heads mostly north): correlation of an AR(1)
    # with φ per 6 h across 24 h is φ⁴, approximately, once along/cross mixing is small
    h_off = (pd.to_datetime(off["time"], utc=True) - ISSUED) / pd.Timedelta(hours=1)

    def disp(lead):
        m = e[e["lead_h"] == lead].sort_values("member")
        return (m["lat"].to_numpy() - np.interp(lead, h_off, off["lat"])) * ens.KM_PER_DEG

    r = np.corrcoef(disp(24.0), disp(48.0))[0, 1]
    assert r == pytest.approx(phi6**4, abs=0.04)
    # errors grow but stay correlated: the 72-h displacement is not independent of the 24-h one
    assert np.corrcoef(disp(24.0), disp(72.0))[0, 1] > 0.3


def test_intensity_errors_and_holland_pressure():
    off = _official()
    e = ens.perturb_track(off, ISSUED, members=4000, seed=9)
    m = e[e["lead_h"] == 24.0]
    # official vmax is 45 m/s: clipping at the 5 m/s floor never happens here
    mae = np.abs(m["vmax_ms"] - 45.0).mean()
    assert mae == pytest.approx(4.5, rel=0.05)  # CMA 24-h intensity MAE in the packaged table
    # pressure deficit follows vmax²: (penv − pcen') / (penv − pcen) = (v'/v)²
    ratio_p = (m["penv_hpa"] - m["pcen_hpa"]) / (1010.0 - 950.0)
    np.testing.assert_allclose(ratio_p, (m["vmax_ms"] / 45.0) ** 2, rtol=1e-9)


def test_official_forecast_for_hindcasts_has_realistic_errors_not_the_best_track():
    best = _official()
    d24 = []
    for s in range(400):
        off = ens.official_forecast(best, ISSUED, seed=s)
        d24.append(_distance_at(off.assign(member=0), best, 24.0)[0])
        if s == 0:
            # never the best track after issuance …
            later = off[pd.to_datetime(off["time"], utc=True) > ISSUED]
            h = (pd.to_datetime(best["time"], utc=True) - ISSUED) / pd.Timedelta(hours=1)
            hl = (pd.to_datetime(later["time"], utc=True) - ISSUED) / pd.Timedelta(hours=1)
            assert (np.abs(later["lat"].to_numpy() - np.interp(hl, h, best["lat"])) > 1e-6).all()
    assert np.mean(d24) == pytest.approx(68.0, rel=0.08)


def test_reproducible_and_issuance_dependent():
    off = _official()
    a = ens.perturb_track(off, ISSUED, members=10, seed=1)
    b = ens.perturb_track(off, ISSUED, members=10, seed=1)
    c = ens.perturb_track(off, ISSUED + pd.Timedelta(hours=6), members=10, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a[a["lead_h"] == 24]["lat"].to_numpy(), c[c["lead_h"] == 24]["lat"].to_numpy())
    assert set(a["member"]) == set(range(10))
    assert a["lead_h"].max() == 72.0  # cut at the longest lead window


def test_window_interpolates_the_ends():
    tr = straight_track("2019-08-08 00:00", lat0=25.0, dlat_per_h=0.1, hours=24)
    w = ens.window(tr, "2019-08-08 01:30", "2019-08-08 07:30")
    assert w["time"].iloc[0] == pd.Timestamp("2019-08-08 01:30", tz="UTC")
    assert w["time"].iloc[-1] == pd.Timestamp("2019-08-08 07:30", tz="UTC")
    assert w["lat"].iloc[0] == pytest.approx(25.15)
    assert w["lat"].iloc[-1] == pytest.approx(25.75)
    assert list(w["time"].iloc[1:-1].dt.hour) == [3, 6]


def test_bad_input():
    tr = straight_track("2019-08-08 00:00")
    with pytest.raises(InputError, match="outside the track"):
        ens.perturb_track(tr, "2019-09-01 00:00")
    with pytest.raises(InputError, match="'lat'"):
        ens.perturb_track(tr.drop(columns=["lat"]), "2019-08-08 06:00")
    with pytest.raises(InputError, match="no error table"):
        ens.perturb_track(tr, "2019-08-08 06:00", errors="nope")
    with pytest.raises(InputError, match="issuance time"):
        ens.perturb_track(tr, "not a time")


# ---------------------------------------------------------------------------------------------
# official forecasts of a hindcast: one error evolving in issuance time


def _pooled_corr(x: np.ndarray, y: np.ndarray) -> float:
    """Correlation of paired samples ``(n, k)`` pooled over the k components (each standardised)."""
    zx = (x - x.mean(0)) / x.std(0)
    zy = (y - y.mean(0)) / y.std(0)
    return float(np.mean(zx * zy))


def test_official_error_field_is_ar1_in_issuance_time_and_valid_time():
    # corr(Z_t(T), Z_t'(T')) = exp(−|t − t'|/τ) · φ_6h^(|T − T'|/6): the separable field of the
    # ensemble module, against the analytic values (1 200 pairs pooled over 3 components;
    # standard errors 0.011 at 0.78, 0.025 at 0.37)
    n, tau, phi6 = 400, ens.ISSUANCE_DECORRELATION_H, ens.PHI_6H
    a = np.empty((n, 3, 2))
    b6 = np.empty((n, 3))
    b24 = np.empty((n, 3))
    for s in range(n):
        a[s] = ens.official_error_z(s, ISSUED, [24.0, 36.0])
        b6[s] = ens.official_error_z(s, ISSUED + pd.Timedelta(hours=6), [18.0])[:, 0]
        b24[s] = ens.official_error_z(s, ISSUED + pd.Timedelta(hours=24), [0.0])[:, 0]
    assert a.std(axis=0).mean() == pytest.approx(1.0, abs=0.05)  # unit variance
    # same valid time T = issued + 24 h, forecasts issued 6 h and 24 h apart
    assert _pooled_corr(a[:, :, 0], b6) == pytest.approx(np.exp(-6.0 / tau), abs=0.05)  # 0.78
    assert _pooled_corr(a[:, :, 0], b24) == pytest.approx(np.exp(-24.0 / tau), abs=0.09)  # 0.37
    # one forecast, valid times 12 h apart: φ_6h² as along lead time in the ensemble
    assert _pooled_corr(a[:, :, 0], a[:, :, 1]) == pytest.approx(phi6**2, abs=0.04)
    # without memory in issuance time the forecasts are independent
    ind = np.array(
        [
            ens.official_error_z(s, ISSUED + pd.Timedelta(hours=6), [18.0], decorrelation_h=0.0)[:, 0]
            for s in range(n)
        ]
    )
    assert abs(_pooled_corr(a[:, :, 0], ind)) < 0.1


def _track_errors(off: pd.DataFrame, best: pd.DataFrame, t: pd.Timestamp) -> np.ndarray:
    """Along-track, cross-track (km) and vmax (m/s) error of ``off`` at valid time ``t``."""
    r = off[pd.to_datetime(off["time"], utc=True) == t].iloc[0]
    h = (pd.to_datetime(best["time"], utc=True) - t) / pd.Timedelta(hours=1)
    lat, lon = np.interp(0.0, h, best["lat"]), np.interp(0.0, h, best["lon"])
    de = (r["lon"] - lon) * ens.KM_PER_DEG * np.cos(np.radians(lat))
    dn = (r["lat"] - lat) * ens.KM_PER_DEG
    # the straight test track's heading
    ue, un = -0.08 * np.cos(np.radians(lat)), 0.15
    ue, un = ue / np.hypot(ue, un), un / np.hypot(ue, un)
    return np.array([de * ue + dn * un, de * un - dn * ue, r["vmax_ms"] - 45.0])


def test_consecutive_official_forecasts_are_correlated_as_specified():
    # the official forecasts issued at t and t + 12 h for the same valid time t + 36 h (a forecast
    # node of both): errors correlated by exp(−12/τ) = 0.61 across seeds, and the 36-h error has
    # the verification table's size (σ grows with lead: the 24-h forecast is the better one)
    best = _official()
    t1, t2 = ISSUED, ISSUED + pd.Timedelta(hours=12)
    valid = ISSUED + pd.Timedelta(hours=36)
    e1, e2 = [], []
    for s in range(150):
        e1.append(_track_errors(ens.official_forecast(best, t1, seed=s), best, valid))
        e2.append(_track_errors(ens.official_forecast(best, t2, seed=s), best, valid))
    e1, e2 = np.array(e1), np.array(e2)
    assert _pooled_corr(e1, e2) == pytest.approx(np.exp(-12.0 / ens.ISSUANCE_DECORRELATION_H), abs=0.1)
    s_at36, _ = ens.sigma_from_mean_distance(np.interp(36.0, [24, 48], [68.0, 120.0]))
    s_at24, _ = ens.sigma_from_mean_distance(68.0)
    assert e1[:, 0].std() == pytest.approx(float(s_at36), rel=0.2)
    assert e2[:, 0].std() == pytest.approx(float(s_at24), rel=0.2)


def test_official_forecast_uses_nothing_after_its_time_and_is_reproducible():
    best = _official()  # ends 72 h after ISSUED
    longer = straight_track(
        "2019-08-07 00:00", lat0=20.0, lon0=128.0, dlat_per_h=0.15, dlon_per_h=-0.08, hours=240
    )
    a = ens.official_forecast(best, ISSUED, seed=3)
    # a best track that goes on for a week more leaves the forecast unchanged
    pd.testing.assert_frame_equal(a, ens.official_forecast(longer, ISSUED, seed=3), check_like=True)
    pd.testing.assert_frame_equal(a, ens.official_forecast(best, ISSUED, seed=3))
    other = ens.official_forecast(best, ISSUED, seed=4)
    assert not np.allclose(a["lat"], other["lat"])
    # the default seed is the fixed official seed
    pd.testing.assert_frame_equal(
        ens.official_forecast(best, ISSUED), ens.official_forecast(best, ISSUED, seed=ens.OFFICIAL_SEED)
    )
    with pytest.raises(InputError, match="decorrelation_h"):
        ens.official_forecast(best, ISSUED, decorrelation_h=-1.0)


def test_stratified_normals_hold_one_draw_per_stratum():
    rng = np.random.default_rng(11)
    n, k = 64, 5
    z = ens._stratified_normal(rng, n, k)
    assert z.shape == (n, k)
    from scipy.special import ndtr

    for j in range(k):
        # Latin hypercube: each of the n equiprobable strata of N(0, 1) holds exactly one draw
        assert sorted(np.floor(ndtr(z[:, j]) * n).astype(int)) == list(range(n))
    # the strata are assigned to rows independently per column (not the same order everywhere)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.5


def test_stratified_members_keep_their_spread_and_steady_the_ensemble_mean():
    off = _official()
    h_off = (pd.to_datetime(off["time"], utc=True) - ISSUED) / pd.Timedelta(hours=1)

    def north_km(e, lead):
        m = e[e["lead_h"] == lead].sort_values("member")
        return (m["lat"].to_numpy() - np.interp(lead, h_off, off["lat"])) * ens.KM_PER_DEG

    means = {True: [], False: []}
    for strat in (True, False):
        for seed in range(20):
            e = ens.perturb_track(off, ISSUED, members=50, seed=seed, stratified=strat)
            means[strat].append(north_km(e, 48.0).mean())
    # each member keeps the verification-table spread (as with independent draws)
    e = ens.perturb_track(off, ISSUED, members=2000, seed=1, stratified=True)
    table = ens.error_table("cma")
    expect = float(np.interp(48, table.lead_h, table.track_km))
    assert _distance_at(e, off, 48.0).mean() == pytest.approx(expect, rel=0.05)
    # the 50-member mean moves far less from seed to seed than with independent draws
    assert np.std(means[True]) < 0.3 * np.std(means[False])


@pytest.mark.parametrize("r", [0.0, 0.37, 0.9, 0.999, 1.0])
def test_stationary_ar1_is_lfilter_to_the_last_bit(r):
    from scipy.signal import lfilter

    x = np.random.default_rng(11).standard_normal((40, 5, 3))
    s = np.sqrt(max(1.0 - r * r, 0.0))
    for axis in range(3):
        zi = (1.0 - s) * np.take(x, [0], axis=axis)
        want, _ = lfilter([s], [1.0, -r], x, axis=axis, zi=zi)
        assert np.array_equal(ens._stationary_ar1(x, r, axis), want)
