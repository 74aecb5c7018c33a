"""TOPSIS, obstacle degree, the evaluation pipeline and maturity levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rescity.assess.indicators import default_system, long_table
from rescity.assess.maturity import load_criteria, maturity_levels
from rescity.assess.scoring import build_matrix, evaluate, obstacle_degree, topsis
from rescity.assess.weights import entropy_weights, standardise
from rescity.errors import InputError

pymcdm = pytest.importorskip("pymcdm")


def _matrix(seed: int = 3, m: int = 15, n: int = 6):
    rng = np.random.default_rng(seed)
    x = rng.uniform(1, 50, size=(m, n))
    d = np.array([1, 1, -1, 1, -1, 1])
    w = rng.dirichlet(np.ones(n))
    return x, d, w


def test_topsis_minmax_matches_pymcdm():
    from pymcdm.methods import TOPSIS

    x, d, w = _matrix()
    ours = topsis(standardise(x, d, shift=0.01), w)  # shifted scores: closeness unchanged
    theirs = TOPSIS()(x, w, d)  # pymcdm: min-max normalisation, cost columns reversed
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    np.testing.assert_allclose(topsis(x, w, d, normalisation="minmax"), theirs, rtol=1e-10)


def test_topsis_vector_matches_pymcdm():
    from pymcdm.methods import TOPSIS
    from pymcdm.normalizations import vector_normalization

    x, d, w = _matrix(seed=11)
    np.testing.assert_allclose(
        topsis(x, w, d, normalisation="vector"), TOPSIS(vector_normalization)(x, w, d), rtol=1e-10
    )


def test_entropy_topsis_pipeline_matches_pymcdm():
    from pymcdm.methods import TOPSIS
    from pymcdm.weights import entropy_weights as pm_entropy

    x, d, _ = _matrix(seed=5)
    y = standardise(x, d)
    w = entropy_weights(y)
    np.testing.assert_allclose(w, pm_entropy(y), rtol=1e-10)
    np.testing.assert_allclose(topsis(y, w), TOPSIS()(x, w, d), rtol=1e-10)


def test_topsis_by_hand():
    # two benefit criteria, equal weights; the middle alternative is equidistant from both ideals
    y = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 1.0]])
    c = topsis(y, np.array([0.5, 0.5]))
    # alternative 4 is the ideal, alternative 3: D+ = D- = sqrt(2)*0.25
    np.testing.assert_allclose(c, [0.5, 0.5, 0.5, 1.0], atol=1e-12)


def test_obstacle_degree_by_hand():
    shift = 0.01
    xprime = np.array([[0.0, 0.5, 1.0], [1.0, 1.0, 1.0]])
    y = shift + (1 - shift) * xprime
    w = np.array([0.5, 0.3, 0.2])
    o = obstacle_degree(y, w, shift)
    # unit 1: deviations 1, 0.5, 0 -> w*I = 0.5, 0.15, 0 -> / 0.65
    np.testing.assert_allclose(o[0], [0.5 / 0.65, 0.15 / 0.65, 0.0], rtol=1e-12)
    np.testing.assert_allclose(o[1], [0.0, 0.0, 0.0])  # best in everything: no obstacle


def _values(years=(2021, 2022)) -> tuple[pd.DataFrame, list[str]]:
    rng = np.random.default_rng(0)
    units = [f"U{i}" for i in range(8)]
    parts = [
        long_table(units, "es_elderly_share", rng.uniform(0.08, 0.2, 8), "share"),
        long_table(units, "es_urban_share", rng.uniform(0.4, 1.0, 8), "share"),
    ]
    for yr in years:
        parts.append(long_table(units, "es_gdp_per_capita", rng.uniform(5e4, 2e5, 8), "CNY/person", year=yr))
        parts.append(long_table(units, "in_5g_per_10k", rng.uniform(5, 40, 8), "stations/10k", year=yr))
    return pd.concat(parts, ignore_index=True), units


def test_build_matrix_carries_static_values_to_every_year():
    system = default_system()
    v, units = _values()
    w = build_matrix(v, system, units=units)
    assert list(w.index.get_level_values("year").unique()) == [2021, 2022]
    a = w.xs(2021, level="year")["es_elderly_share"]
    b = w.xs(2022, level="year")["es_elderly_share"]
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert w["es_gdp_per_capita"].notna().all()


def test_evaluate_ranks_within_year_and_reports_exclusions():
    system = default_system()
    v, units = _values()
    v = pd.concat([v, long_table(units[:5], "om_drills_per_year", [1, 2, 3, 4, 5], "drills/year", year=2021)])
    v = pd.concat([v, long_table(units, "ic_resilience_plan", np.ones(8), "flag")])
    ev = evaluate(build_matrix(v, system, units=units), system, method="entropy")
    assert set(ev.weights.index) == {
        "es_elderly_share",
        "es_urban_share",
        "es_gdp_per_capita",
        "in_5g_per_10k",
    }
    assert ev.weights.sum() == pytest.approx(1.0)
    assert "missing for" in ev.excluded["om_drills_per_year"]
    assert "same value" in ev.excluded["ic_resilience_plan"]
    assert ev.excluded["om_plan_coverage"] == "no data"
    for _, g in ev.ranking.groupby("year"):
        assert sorted(g["rank"]) == list(range(1, 9))
        assert (g.sort_values("rank")["closeness"].diff().dropna() <= 0).all()
    # weakest indicators: top 3 per unit-year, obstacle degrees decreasing
    ob = ev.obstacles
    assert ob.groupby(["unit_id", "year"]).size().max() == 3
    assert (ob.groupby(["unit_id", "year"])["obstacle"].diff().dropna() <= 1e-12).all()


def test_evaluate_ahp_and_combined():
    system = default_system()
    v, units = _values()
    wide = build_matrix(v, system, units=units)
    ahp = evaluate(wide, system, method="ahp")
    # packaged dimension judgements, only socioeconomic and infrastructure in use
    w_dim = ahp.weights.groupby(system.dimension_of(list(ahp.weights.index))).sum()
    assert w_dim["infrastructure"] > w_dim["socioeconomic"]
    assert ahp.ahp is not None and ahp.ahp.cr < 0.1
    ent = evaluate(wide, system, method="entropy")
    comb = evaluate(wide, system, method="combined", alpha=0.3)
    np.testing.assert_allclose(comb.weights, 0.3 * ahp.weights + 0.7 * ent.weights, rtol=1e-12)
    with pytest.raises(InputError):
        evaluate(wide, system, method="magic")


def test_maturity_levels_follow_the_criteria():
    crit = load_criteria()
    idx = pd.MultiIndex.from_product([["A", "B", "C", "D"], [2023]], names=["unit_id", "year"])
    cols = crit["indicator"].unique()
    wide = pd.DataFrame(np.nan, index=idx, columns=cols)
    good = {
        "om_digital_management_coverage": 95,
        "in_broadband_share": 80,
        "om_data_sharing_rate": 90,
        "om_warning_coverage": 95,
        "om_operation_platform": 1,
        "in_5g_per_10k": 30,
        "om_lifeline_monitoring_coverage": 85,
        "ic_resilience_plan": 1,
        "in_redundant_feed_share": 0.6,
        "in_hospital_backup_h": 96,
        "in_shelter_reach_10min": 0.95,
    }
    for k, val in good.items():
        wide[k] = val
    wide.loc[("B", 2023), "om_data_sharing_rate"] = 50  # fails L2 -> L1
    wide.loc[("C", 2023), "in_5g_per_10k"] = np.nan  # L3 unknown -> at least L2
    wide.loc[("D", 2023), "in_broadband_share"] = 60  # fails L1 -> L0
    wide.loc[("D", 2023), "om_data_sharing_rate"] = np.nan
    m = maturity_levels(wide, crit).set_index("unit_id")
    assert m.loc["A", "level"] == 4 and m.loc["A", "complete"]
    assert m.loc["B", "level"] == 1 and m.loc["B", "complete"]
    assert "om_data_sharing_rate >= 80 (50)" in m.loc["B", "blocking"]
    assert m.loc["C", "level"] == 2 and not m.loc["C", "complete"]
    assert "in_5g_per_10k >= 26 (no data)" in m.loc["C", "blocking"]
    assert m.loc["D", "level"] == 0 and m.loc["D", "complete"]
