"""Earthquake and flood fragility data against published values; pipelines; building casualties."""

from __future__ import annotations

import math
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rescity.fragility as frag
from rescity.errors import InputError
from rescity.fragility.buildings import (
    building_stock,
    earthquake_building_impacts,
    flood_building_loss_ratio,
    lognormal_exceedance,
)
from rescity.fragility.pipes import pipeline_damage_probability, pipeline_exceedance, repair_rate_per_km
from rescity.hazard import MEASURES
from rescity.twin.model import KINDS

DATA = Path(frag.__file__).parent / "data"


def curves(name):
    return pd.read_csv(DATA / name)


def medians_betas(df, curve_id):
    r = df[df.curve_id == curve_id].sort_values("ds")
    return r["median"].tolist(), r["beta"].tolist()


# HAZUS-MH MR4 Technical Manual (FEMA 2003) values quoted with their place in the manual
@pytest.mark.parametrize(
    "curve_id, medians, betas, where",
    [
        ("hazus_eq_bldg_W1_hc", [0.26, 0.55, 1.28, 2.01], [0.64] * 4, "Table 5.16a, W1 High-Code"),
        ("hazus_eq_bldg_C1M_mc", [0.13, 0.21, 0.49, 0.89], [0.64] * 4, "Table 5.16b, C1M Moderate-Code"),
        ("hazus_eq_bldg_URML_lc", [0.14, 0.20, 0.32, 0.46], [0.64] * 4, "Table 5.16c, URML Low-Code"),
        ("hazus_eq_bldg_URML_pc", [0.13, 0.17, 0.26, 0.37], [0.64] * 4, "Table 5.16d, URML Pre-Code"),
        ("hazus_eq_ess1", [0.15, 0.29, 0.45, 0.90], [0.70, 0.55, 0.45, 0.45], "Ch. 8 substations, ESS1"),
        ("hazus_eq_ess6", [0.09, 0.13, 0.17, 0.38], [0.50, 0.40, 0.35, 0.35], "Ch. 8 substations, ESS6"),
        ("hazus_eq_edc2", [0.24, 0.33, 0.58, 0.89], [0.25, 0.20, 0.15, 0.15], "Ch. 8 distribution, EDC2"),
        ("hazus_eq_hwb5", [0.25, 0.35, 0.45, 0.70], [0.6] * 4, "Ch. 7 highway bridges, HWB5 (Sa 1.0 s)"),
        ("hazus_eq_hwb28", [0.8, 1.0, 1.2, 1.7], [0.6] * 4, "Ch. 7 highway bridges, HWB28 (Sa 1.0 s)"),
    ],
)
def test_hazus_curve_parameters_as_published(curve_id, medians, betas, where):
    m, b = medians_betas(curves("curves_earthquake.csv"), curve_id)
    assert m == pytest.approx(medians), where
    assert b == pytest.approx(betas), where


def test_bridges_use_sa10_and_plants_use_pga():
    c = curves("curves_earthquake.csv")
    assert set(c[c.curve_id.str.startswith("hazus_eq_hwb")].measure) == {"sa10_g"}
    assert set(c[c.curve_id.str.match(r"hazus_eq_(ess|edc|ppp|pwt|cco|egp)")].measure) == {"pga_g"}
    assert c.curve_id.str.startswith("hazus_eq_hwb").sum() == 28 * 4


@pytest.mark.parametrize("name", ["curves_earthquake.csv", "curves_flood_thresholds.csv"])
def test_curve_files_follow_the_schema(name):
    c = curves(name)
    cols = ["curve_id", "hazard", "measure", "ds", "median", "beta", "description", "source"]
    assert list(c.columns) == cols
    assert c.measure.isin(list(MEASURES)).all() and c.ds.between(1, 4).all()
    assert (c["median"] > 0).all() and (c.beta > 0).all() and c.source.str.len().gt(10).all()
    for _, g in c.groupby("curve_id"):
        assert g.ds.is_unique and (np.diff(g.sort_values("ds")["median"]) >= 0).all()


@pytest.mark.parametrize("name", ["mapping_earthquake.csv"])
def test_mapping_rows_use_known_kinds_and_curves(name):
    m = curves(name)
    assert list(m.columns) == ["system", "kind", "fragility_class", "hazard", "curve_id", "source"]
    known = set(curves("curves_earthquake.csv").curve_id)
    known |= set(curves("curves_flood_thresholds.csv").curve_id)
    known |= set(curves("tables_flood_jrc.csv").curve_id)
    known |= set(curves("tables_pipeline_ala2001.csv").curve_id)
    housing = set(pd.read_csv(files("rescity.engine") / "data" / "housing_stock.csv")["structure_class"])
    for r in m.itertuples():
        if r.system == "building":  # the engine's housing stock, not a twin asset
            assert r.kind == "housing" and r.fragility_class in housing, r
        else:
            assert r.kind in KINDS[r.system], r
        assert r.curve_id in known, r
    assert not m.duplicated(["system", "kind", "fragility_class", "hazard"]).any()
    a = m[m.system != "building"]  # twin assets: one catch-all row per kind
    assert (a.fragility_class == "*").groupby([a.system, a.kind]).sum().eq(1).all()


def test_jrc_asia_depth_damage_values():
    # Huizinga et al. (2017), JRC105688, Asia: residential 0.33/0.49/0.62/0.72/0.87 at 0.5/1/1.5/2/3 m
    # (two-decimal values of the report's table); agriculture 0.14/0.37/0.52 at 0.5/1/1.5 m
    t = curves("tables_flood_jrc.csv")
    assert list(t.columns) == ["curve_id", "hazard", "measure", "ds", "x", "p", "source"]
    res = t[(t.curve_id == "jrc_fl_asia_residential") & (t.ds == 1)].set_index("x")["p"]
    for depth, value in ((0.5, 0.33), (1.0, 0.49), (1.5, 0.62), (2.0, 0.72), (3.0, 0.87), (6.0, 1.0)):
        assert res[depth] == pytest.approx(value, abs=0.005)
    agr = t[(t.curve_id == "jrc_fl_asia_agriculture") & (t.ds == 1)].set_index("x")["p"]
    assert [agr[0.5], agr[1.0], agr[1.5]] == pytest.approx([0.14, 0.37, 0.52], abs=0.006)
    # linear interpolation between table depths, flat beyond 6 m
    assert flood_building_loss_ratio(0.25) == pytest.approx(0.327 / 2)
    assert flood_building_loss_ratio(8.0, "commercial") == pytest.approx(1.0)
    with pytest.raises(InputError):
        flood_building_loss_ratio(1.0, "palace")


def test_road_flood_curve_from_pregnolato_2017():
    # v(w) = 0.0009 w^2 - 0.5529 w + 86.9448 km/h (w in mm); depths where speed drops by 25/50/75 %
    a, b, c0 = 0.0009, -0.5529, 86.9448

    def depth_for(fraction_left):
        c = c0 - fraction_left * c0
        return (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a) / 1000.0

    m, _ = medians_betas(curves("curves_flood_thresholds.csv"), "flood_road_pregnolato2017")
    assert m[:3] == pytest.approx([depth_for(0.75), depth_for(0.5), depth_for(0.25)], abs=1.5e-3)
    assert m[3] == pytest.approx(0.300)


def test_ala_2001_repair_rate_and_segment_probabilities():
    # ALA (2001): RR = K1 * 0.002416 * PGV (repairs / 1000 ft, PGV in in/s)
    pgv_cms = 50.0
    rr_1000ft = 0.002416 * pgv_cms / 2.54
    rr_km = rr_1000ft / 0.3048
    assert repair_rate_per_km(pgv_cms) == pytest.approx(rr_km)
    assert repair_rate_per_km(pgv_cms, k=0.5) == pytest.approx(0.5 * rr_km)
    p = pipeline_damage_probability(pgv_cms, 2.0)
    assert p["p_repair"] == pytest.approx(1 - math.exp(-rr_km * 2.0))
    assert p["p_break"] == pytest.approx(1 - math.exp(-0.2 * rr_km * 2.0))
    assert p["p_break"] + p["p_leak"] == pytest.approx(p["p_repair"])
    exc = pipeline_exceedance(np.array([[0.0, 30.0, 120.0]]), np.array([1.0, 1.0, 1.0]))
    assert exc.shape == (1, 3, 4) and (exc[0, 0] == 0).all()
    assert (np.diff(exc, axis=-1) <= 0).all() and (exc[0, 2] > exc[0, 1]).all()
    with pytest.raises(InputError):
        pipeline_damage_probability(10.0, -1.0)


def test_lognormal_exceedance_is_ordered():
    p = lognormal_exceedance(np.array([0.0, 0.3, 2.0]), np.array([0.1, 0.2, 0.4, 0.8]), np.array([0.6] * 4))
    assert p[0].tolist() == [0, 0, 0, 0]
    assert (np.diff(p, axis=-1) <= 0).all()
    assert p[1, 0] == pytest.approx(0.5 * (1 + math.erf(math.log(3) / 0.6 / math.sqrt(2))))


def test_building_casualties_and_displacement_limits():
    stock = building_stock()
    assert stock.urban_mix.sum() == pytest.approx(1.0) and stock.rural_mix.sum() == pytest.approx(1.0)
    pop = np.array([10_000.0, 10_000.0])
    none = earthquake_building_impacts(np.array([1e-4, 1e-4]), np.array([0.0, 1.0]), pop)
    assert none["deaths"] == pytest.approx([0, 0], abs=1e-9) and none["displaced"] == pytest.approx([0, 0])
    full = earthquake_building_impacts(np.array([20.0, 20.0]), np.array([0.0, 1.0]), pop)
    np.testing.assert_allclose(full["p_ds"][..., 4], 1.0, atol=1e-6)
    np.testing.assert_allclose(full["displaced"], pop, rtol=1e-5)  # every dwelling uninhabitable
    # HAZUS-MH MR4 Ch. 13, complete damage: killed (severity 4) = (1 - Pc) 0.01 % + Pc 10 % for C2H,
    # C1M, RM2L, S1M; URML (1 - 0.15) 0.02 % + 0.15 * 10 %; W1 (1 - 0.03) 0.01 % + 0.03 * 5 %
    pc = {"C2H": 0.05, "C1M": 0.10, "RM2L": 0.13, "S1M": 0.05, "URML": 0.15, "W1": 0.03}
    killed = {k: ((1 - v) * 0.0001 + v * 0.10) for k, v in pc.items()}
    killed["URML"] = 0.85 * 0.0002 + 0.15 * 0.10
    killed["W1"] = 0.97 * 0.0001 + 0.03 * 0.05
    rural = sum(r.rural_mix * killed[r.hazus_class] for r in stock.itertuples())
    urban = sum(r.urban_mix * killed[r.hazus_class] for r in stock.itertuples())
    np.testing.assert_allclose(full["deaths"], [rural * 1e4, urban * 1e4], rtol=1e-5)
    # more shaking, more harm; realisations broadcast
    two = earthquake_building_impacts(np.array([[0.1, 0.1], [0.4, 0.4]]), np.array([0.5, 0.5]), pop)
    assert two["deaths"].shape == (2, 2) and (two["deaths"][1] > two["deaths"][0]).all()


def test_trunk_mains_break_with_the_ala2001_poisson_rate():
    """The packaged tabulated curve reproduces 1 − exp(−0.2 λ) for a break (main out of service)
    and 1 − exp(−λ) for any repair, λ = K1 · 0.0031207 · PGV(cm/s) · L(km) (ALA 2001)."""
    from rescity.fragility.library import load_library

    lib = load_library()
    c = lib.curve("ala2001_pipe_shaking")
    pgv, length_km, k1 = 40.0, 6.0, 1.0
    lam = k1 * 0.002416 / (2.54 * 0.3048) * pgv * length_km
    p = c.exceedance(np.array([lam]))[0]
    assert p[0] == pytest.approx(1 - math.exp(-lam), abs=2e-3)
    assert p[1] == pytest.approx(1 - math.exp(-0.2 * lam), abs=2e-3)
    ref = pipeline_damage_probability(np.array([pgv]), np.array([length_km]), k=k1)
    assert p[3] == pytest.approx(float(ref["p_break"][0]), abs=2e-3)
