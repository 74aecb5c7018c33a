"""Storm history, observation operators, calibration across storms and the LOSO suite."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rescity.errors import InputError
from rescity.history import calibration as cal
from rescity.history import operators as op
from rescity.history import records, suite

# ---------------------------------------------------------------------------------------------
# history reader


def test_history_has_the_thirteen_storms_with_their_official_figures():
    st = records.storms()
    assert len(st) == 13
    assert set(st["name_en"]) >= {"Lekima", "Rananim", "Morakot", "Muifa"}
    assert records.observed("201910", "affected_population") == 6_680_000
    assert records.observed("201910", "economic_loss_cny") == 24_220_000_000
    # relocated where reported (Lekima 1.26 M), else evacuated (Matsa 1.24 M before landfall)
    assert records.observed("201910", "relocated_or_evacuated") == 1_260_000
    assert records.observed("200509", "relocated_or_evacuated") == 1_240_000
    # province collapsed houses from the history rows: Matsa 13,108 rooms, Rananim ≥ 64,000
    assert records.observed("200509", "collapsed_houses") == 13_108
    o = records.observations()
    ran = o[(o["sn"] == "200416") & (o["metric"] == "collapsed_houses") & (o["region"] == "330000")]
    assert ran["value"].iloc[0] == 64_000 and bool(ran["lower_bound"].iloc[0])
    # a prefecture figure: Wenzhou affected by Rananim, 316.8 万人
    assert records.observed("200416", "affected_population", "330300") == pytest.approx(3_168_000)
    assert not o["source"].isna().any()


def test_reported_values_are_parsed_with_their_units():
    assert records.parse_value(">9.3", "亿元") == (pytest.approx(9.3e8), True)
    assert records.parse_value("4.24", "万间") == (pytest.approx(42_400), False)
    assert records.parse_value("1111", "间") == (1111.0, False)
    assert records.parse_value("46 dead + 25 missing", "人") is None


def test_storms_are_found_by_sn_english_or_chinese_name():
    assert records.find_storm("201910") == "201910"
    assert records.find_storm("lekima") == "201910"
    assert records.find_storm("利奇马") == "201910"
    assert records.select_storms("Lekima, Matsa") == ["201910", "200509"]
    assert len(records.select_storms("all")) == 13
    with pytest.raises(InputError):
        records.find_storm("Nobody")


# ---------------------------------------------------------------------------------------------
# observation operators against hand-computed values


def _two_cells(year=2020):
    return op.Exposure(
        population=np.array([1000.0, 2000.0]),
        households=np.array([400.0, 800.0]),
        urban_share=np.array([0.0, 0.5]),
        gust_ms=np.array([30.0, 15.0]),
        rain_mm=np.array([100.0, 0.0]),
        no_power=np.array([500.0, 0.0]),
        year=year,
    )


def test_affected_operator_by_hand():
    ex = _two_cells()
    # rain only, k = 2: cell 1 r = 1 → 1 − e^(−0.2); cell 2 r = 0 → 0 (its wind does not count)
    want = 1000 * (1 - np.exp(-0.2))
    got = op.predict("affected_population", ex, np.array([0.2, 2.0, 0.7]), np.ones((1, 2)))
    assert got[0] == pytest.approx(want, rel=1e-12)  # 2020: income index 1, no income factor
    assert want == pytest.approx(181.27, abs=0.01)
    # 2004: population index π = 4720/6457, income ι = (11649/64613)/π; the rain's rate × ι^−0.7
    pi, gamma = op.year_index(2004)
    old = op.predict("affected_population", _two_cells(2004), np.array([0.2, 2.0, 0.7]), np.ones((1, 2)))
    assert old[0] == pytest.approx(pi * 1000 * (1 - np.exp(-0.2 * (gamma / pi) ** -0.7)), rel=1e-12)
    # ι_2004 = 0.1803 / 0.7310 = 0.2466; 0.2466^−0.7 = e^(0.7 · 1.400) = 2.66: poorer then, more vulnerable
    assert (gamma / pi) ** -0.7 == pytest.approx(2.66, abs=0.01)
    assert old[0] == pytest.approx(0.7310 * 1000 * (1 - np.exp(-0.2 * 2.66)), rel=3e-3)  # ≈ 302 people


def test_affected_operator_counts_people_whose_home_was_damaged():
    ex = _two_cells()
    # the engine damaged 100 of cell 1's 400 homes and 200 of cell 2's 800 (a quarter each)
    ex.homes_damaged = np.array([100.0, 200.0])
    got = op.predict("affected_population", ex, np.array([0.2, 2.0, 0.7]), np.ones((1, 2)))[0]
    # spared by both causes: cell 1 e^(−0.2) · 3/4, cell 2 (no rain) 3/4
    want = 1000 * (1 - np.exp(-0.2) * 0.75) + 2000 * 0.25
    assert got == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(886.0, abs=0.1)
    # a damage count above the households is capped at all of them; zero households count none
    ex.homes_damaged = np.array([900.0, 0.0])
    assert op.predict("affected_population", ex, np.array([0.2, 2.0, 0.7]), np.ones((1, 2)))[0] == 1000
    assert op.Exposure.from_state(
        pd.DataFrame(
            {
                "population": [10.0],
                "households": [0.0],
                "urban_share": [0.0],
                "gust_ms": [0.0],
                "rain_mm": [0.0],
                "homes_damaged": [3.0],
            }
        ),
        2020,
    ).damaged_share().tolist() == [1.0]


def test_relocation_operator_has_no_income_factor():
    theta = np.array([0.1, 2.0])
    new = op.predict("relocated_or_evacuated", _two_cells(), theta, np.ones((1, 2)))[0]
    old = op.predict("relocated_or_evacuated", _two_cells(2004), theta, np.ones((1, 2)))[0]
    # wind only, k = 2: w = 1 and 0.5
    assert new == pytest.approx(1000 * (1 - np.exp(-0.1)) + 2000 * (1 - np.exp(-0.025)))
    assert old == pytest.approx(new * 4720 / 6457)  # population only


def test_loss_operator_by_hand_and_the_year_index():
    ex = _two_cells()
    # wind only, k = 3: 1000 · 1000·1³ + 2000 · 1000·0.5³ = 1.25 M CNY
    got = op.predict("economic_loss_cny", ex, np.array([1000.0, 3.0, 1.2]), np.ones((1, 2)))
    assert got[0] == pytest.approx(1.25e6)
    pi, gamma = op.year_index(2004)
    assert pi == pytest.approx(4720 / 6457) and gamma == pytest.approx(11649 / 64613)
    # the year's GDP, and the loss rate per GDP × ι^−α with ι the GDP per person index
    theta = np.array([1000.0, 3.0, 1.2])
    old = op.predict("economic_loss_cny", _two_cells(2004), theta, np.ones((1, 2)))
    assert old[0] == pytest.approx(1.25e6 * gamma * (gamma / pi) ** -1.2)
    # a year after the last tabulated one keeps that year's indices (no extrapolation)
    assert op.year_index(2031) == op.year_index(2020) == (1.0, 1.0)


def test_collapse_operator_by_hand():
    ex = _two_cells()
    theta = np.array([0.01, 2.0, 3.0])  # c_w, k, α
    # rural rooms ρ H (1 − u): cell 1 3·400, cell 2 3·800·0.5; rates 0.01 w²
    want = 1200 * (1 - np.exp(-0.01)) + 1200 * (1 - np.exp(-0.0025))
    got = op.predict("collapsed_houses", ex, theta, np.ones((1, 2)))
    assert got[0] == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(14.94, abs=0.01)
    pi, gamma = op.year_index(2005)
    old = op.predict("collapsed_houses", _two_cells(2005), theta, np.ones((1, 2)))
    assert old[0] == pytest.approx(want * pi * (gamma / pi) ** -3.0, rel=1e-12)


def test_power_operator_counts_households():
    ex = _two_cells()
    got = op.predict("power_outage_households", ex, np.zeros(3), np.ones((1, 2)))
    assert got[0] == pytest.approx(500 / 2.5)


def test_exposure_only_counts_people_over_the_thresholds():
    ex = _two_cells()
    assert op.exposed_people(ex) == 1000  # only cell 1 has gust ≥ 17.2 or rain ≥ 100
    ex.gust_ms = np.array([10.0, 17.2])
    assert op.exposed_people(ex) == 3000


# ---------------------------------------------------------------------------------------------
# fitting and leave-one-storm-out on synthetic storms (no physics)


def _synthetic(n_storms=7, n_cells=40, seed=1):
    rng = np.random.default_rng(seed)
    state = pd.DataFrame(
        {
            "prefecture_id": np.where(np.arange(n_cells) < n_cells // 2, "330100", "330200"),
            "population": rng.uniform(1e4, 1e5, n_cells),
            "households": rng.uniform(4e3, 4e4, n_cells),
            "urban_share": rng.uniform(0, 1, n_cells),
            "no_power": np.zeros(n_cells),
        }
    )
    data = {}
    for k in range(n_storms):
        s = state.copy()
        s["gust_ms"] = rng.uniform(5, 50, n_cells) * (0.4 + 0.15 * k)
        s["rain_mm"] = rng.uniform(0, 300, n_cells) * rng.uniform(0.2, 1.5)
        sn = f"2020{k:02d}"
        data[sn] = cal.storm_data(sn, s, year=(2004, 2005, 2007, 2009, 2011, 2015, 2019, 2020)[k % 8])
    return data


def test_the_fit_recovers_known_parameters():
    data = _synthetic()
    truth = np.array([0.05, 1.5, 0.8])
    obs = {
        s: float(op.predict("affected_population", d.exposure, truth, d.regions[:1])[0])
        for s, d in data.items()
    }
    f = cal.fit_metric("affected_population", data, obs)
    assert f.theta == pytest.approx(truth, rel=1e-3)
    assert f.rms_log < 1e-3  # exact data: no residual …
    assert f.sigma_model == pytest.approx(cal.MIN_SIGMA)  # … so the model error is the reporting floor


def _obs_table(data, values):
    rows = [
        {
            "sn": s,
            "storm": s,
            "region": "330000",
            "level": "province",
            "metric": "affected_population",
            "value": v,
            "lower_bound": False,
            "source": "test",
        }
        for s, v in values.items()
    ]
    return pd.DataFrame(rows)


def test_loso_never_uses_the_held_out_storm():
    data = _synthetic()
    rng = np.random.default_rng(3)
    truth = np.array([0.05, 1.5, 0.8])
    values = {
        s: float(op.predict("affected_population", d.exposure, truth, d.regions[:1])[0])
        * rng.lognormal(0, 0.3)
        for s, d in data.items()
    }
    held = "202003"
    base = suite.loso(
        data, metrics=("affected_population",), draws=200, observations=_obs_table(data, values)
    )
    pert = dict(values, **{held: values[held] * 10})
    moved = suite.loso(data, metrics=("affected_population",), draws=200, observations=_obs_table(data, pert))
    a = base.set_index("sn")
    b = moved.set_index("sn")
    cols = ["median", "p05", "p95", "climatology", "exposure_only"]
    # the held-out storm's prediction does not move when its own observation does …
    assert np.allclose(a.loc[held, cols].to_numpy(float), b.loc[held, cols].to_numpy(float), rtol=0, atol=0)
    assert a.loc[held, "accuracy"] != b.loc[held, "accuracy"]
    # … while every other storm's does (the perturbed storm is in their training set)
    others = [s for s in data if s != held]
    assert all(a.loc[s, "median"] != b.loc[s, "median"] for s in others)


def test_coverage_and_skill_are_computed_as_documented():
    rows = pd.DataFrame(
        {
            "scenario": "best_track",
            "metric": "affected_population",
            "storm": ["a", "b", "c", "d"],
            "region": "330000",
            "observed": [100.0, 100.0, 100.0, 100.0],
            "median": [110.0, 50.0, 200.0, 100.0],
            "p05": [90.0, 20.0, 150.0, 100.0],
            "p95": [120.0, 80.0, 300.0, 100.0],
            "climatology": [400.0, 400.0, 25.0, 100.0],
            "exposure_only": [100.0, 100.0, 100.0, 100.0],
        }
    )
    rows["accuracy"] = 1 - np.abs(rows["median"] - rows["observed"]) / rows["observed"]
    rows["log_ratio"] = np.log(rows["median"] / rows["observed"])
    rows["in_90"] = (rows["p05"] <= rows["observed"]) & (rows["observed"] <= rows["p95"])
    s = suite.summarise(rows).iloc[0]
    assert s["coverage_90"] == 0.5  # a (90–120) and d (100–100) hold 100; b and c do not
    assert s["median_accuracy"] == pytest.approx(np.median([0.9, 0.5, -0.0, 1.0]))
    assert s["worst_accuracy"] == pytest.approx(0.0) and s["worst_storm"] == "c"
    model = np.mean(np.abs(np.log([1.1, 0.5, 2.0, 1.0])))
    clim = np.mean(np.abs(np.log([4.0, 4.0, 0.25, 1.0])))
    assert s["skill_vs_climatology"] == pytest.approx(1 - model / clim)
    assert np.isnan(s["skill_vs_exposure_only"])  # a perfect baseline: skill undefined


def test_predictive_interval_widens_with_the_model_error():
    data = _synthetic()
    sd = data["202001"]
    f = cal.MetricFit("affected_population", np.array([0.05, 1.5, 0.8]), np.zeros((3, 3)), 0.01, [], 0.0)
    narrow = cal.predictive("affected_population", sd, f, draws=2000).iloc[0]
    f.sigma_model = 1.0
    wide = cal.predictive("affected_population", sd, f, draws=2000).iloc[0]
    assert (wide["p95"] / wide["p05"]) > 3 * (narrow["p95"] / narrow["p05"])
    # ±1.645 σ of the model error alone would give a ratio of e^3.29 ≈ 27
    assert wide["p95"] / wide["p05"] > 20


def test_parameter_draws_keep_the_fitted_prediction_at_the_median():
    """Rates move on the log scale, exponents on their own: ln ŷ is linear in both, so with a
    wide spread of α the median of the draws stays the fitted prediction (a log-scale draw of α
    would skew ι^−α and push the median up for old storms)."""
    data = _synthetic()
    sd = data["202000"]  # 2004: income index ι ≈ 0.25
    theta = np.array([0.02, 1.0, 0.8])
    cov = np.diag([0.3, 0.05, 0.6]) ** 2
    rng = np.random.default_rng(7)
    z = rng.multivariate_normal(np.zeros(3), cov, size=20000)
    th = op.params_at("affected_population", theta, z)
    # a rate's log and an exponent's value are normal about the fit, with the covariance's spread
    assert np.median(np.log(th[:, 0])) == pytest.approx(np.log(0.02), abs=0.01)
    assert np.std(np.log(th[:, 0])) == pytest.approx(0.3, rel=0.03)
    assert np.median(th[:, 2]) == pytest.approx(0.8, abs=0.015)
    q16, q84 = np.quantile(th[:, 2], [0.16, 0.84])  # (the floor at 0 clips the far lower tail)
    assert (q84 - q16) / 2 == pytest.approx(0.8 * 0.6, rel=0.03)
    f = cal.MetricFit("affected_population", theta, cov, 0.0, [], 0.0)
    point = float(op.predict("affected_population", sd.exposure, theta, sd.regions[:1])[0])
    med = cal.predictive("affected_population", sd, f, draws=4000).iloc[0]["median"]
    assert med == pytest.approx(point, rel=0.03)
    # antithetic pairs: 40 draws already put the median there (independent draws would not)
    med40 = [cal.predictive("affected_population", sd, f, draws=40, seed=s).iloc[0]["median"] for s in range(5)]
    assert np.allclose(med40, point, rtol=0.03)


def test_model_error_is_what_the_nested_residuals_show_beyond_the_spread():
    data = _synthetic(n_storms=9)
    rng = np.random.default_rng(5)
    truth = np.array([0.3, 1.5])  # relocation: two parameters
    noise = rng.normal(0, 1.0, len(data))
    obs = {
        s: float(op.predict("relocated_or_evacuated", d.exposure, truth, d.regions[:1])[0]) * np.exp(z)
        for (s, d), z in zip(data.items(), noise, strict=True)
    }
    f = cal.fit_metric("relocated_or_evacuated", data, obs)
    # log-noise of σ = 1 on 9 storms: the nested estimate is of that order, above the floor
    assert 0.5 < f.sigma_model < 2.0


def test_the_shipped_calibration_matches_the_operators_and_the_model():
    """The packaged calibration names every operator parameter, was fitted on this model version
    and verified on it (refit with ``rescity calibrate --storms all --ship`` and
    ``rescity verify suite --ship`` after changing either)."""
    import json

    from rescity.data import path
    from rescity.history.state import MODEL_VERSION

    c = cal.load()
    assert c["model_version"] == MODEL_VERSION
    assert set(c["operators"]) == set(op.FITTED_METRICS)
    for m, fit in cal.fits_of(c).items():
        names = [p.name for p in op.OPERATOR_PARAMS[m]]
        assert list(c["operators"][m]["params"]) == names
        lo = np.array([p.lower for p in op.OPERATOR_PARAMS[m]])
        hi = np.array([p.upper for p in op.OPERATOR_PARAMS[m]])
        assert np.all(fit.theta >= lo * (1 - 1e-9)) and np.all(fit.theta <= hi * (1 + 1e-9))
        assert np.isfinite(fit.sigma_model) and fit.sigma_model >= cal.MIN_SIGMA - 1e-12
        # a prediction for a small exposure is finite and positive
        got = op.predict(m, _two_cells(2019), fit.theta, np.ones((1, 2)))[0]
        assert np.isfinite(got) and got > 0
    verified = json.loads(path("verified_skill.json").read_text(encoding="utf-8"))["verified"]
    assert verified["model_version"] == MODEL_VERSION
    assert verified["twin_fingerprint"] == c["twin_fingerprint"]
    assert verified["created"] >= c["created"]  # verified after (or with) the calibration it scores


def test_the_shipped_calibration_was_fitted_on_the_twin_that_ships():
    from rescity.history.state import DEFAULT_SEED, twin_fingerprint
    from rescity.twin.zhejiang import default_twin

    assert twin_fingerprint(default_twin(seed=DEFAULT_SEED)) == cal.load()["twin_fingerprint"]
