"""Fragility library: closed-form checks, interpolation, validation, mapping rules."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rescity.errors import InputError
from rescity.fragility.library import assign, exceedance, exceedance_by_class, load_library
from rescity.twin.model import KINDS

# Standard normal CDF at ±1 (any table of Φ): Φ(1) = 0.8413447461
PHI_1 = 0.8413447461

CURVE_HEADER = "curve_id,hazard,measure,ds,median,beta,description,source\n"
TABLE_HEADER = "curve_id,hazard,measure,ds,x,p,source\n"
MAP_HEADER = "system,kind,fragility_class,hazard,curve_id,source\n"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def lib():
    return load_library()


def assets(rows):
    return pd.DataFrame(rows, columns=["system", "kind", "fragility_class"])


# --- closed forms ----------------------------------------------------------------------------
def test_lognormal_half_at_median_and_phi_at_plus_minus_beta(lib):
    c = lib.curve("wind_building_rural_masonry")  # θ = 32, 44, 54, 66; β = 0.25
    theta = np.array([32.0, 44.0, 54.0, 66.0])
    beta = 0.25
    # at each median, that state's P[DS ≥ ds] is exactly 0.5
    p = c.exceedance(theta)
    assert np.allclose(np.diag(p), 0.5, atol=1e-12)
    # at θ·e^{±β} the closed form gives Φ(±1)
    assert np.allclose(np.diag(c.exceedance(theta * math.exp(beta))), PHI_1, atol=1e-9)
    assert np.allclose(np.diag(c.exceedance(theta * math.exp(-beta))), 1 - PHI_1, atol=1e-9)
    # the closed form at an arbitrary point: Φ(ln(x/θ)/β) with Φ via erf
    x = 40.0
    ref = [0.5 * (1 + math.erf(math.log(x / t) / beta / math.sqrt(2))) for t in theta]
    assert np.allclose(c.exceedance(np.array([x]))[0], ref, atol=1e-12)
    # zero intensity: no damage
    assert np.all(c.exceedance(np.array([0.0])) == 0)


def test_tabulated_huizinga_interpolation_and_flat_outside(lib):
    c = lib.curve("flood_building_asia_residential")
    # Huizinga et al. 2017, Asia residential: 0.5 m → 0.33, 1.0 m → 0.49, 6 m → 1.0
    p = c.exceedance(np.array([0.0, 0.5, 0.75, 1.0, 2.5, 6.0, 9.0]))[:, 1]
    assert p == pytest.approx([0.0, 0.33, (0.33 + 0.49) / 2, 0.49, (0.72 + 0.87) / 2, 1.0, 1.0])
    # only ds2 is defined: ds1 takes ds2's probability, ds3 and ds4 are never reached
    full = c.exceedance(np.array([1.0]))[0]
    assert full[0] == full[1] and full[2] == 0 and full[3] == 0


def test_road_passability_threshold(lib):
    c = lib.curve("flood_road_passability")  # Pregnolato et al. 2017: impassable at 0.30 m
    p = c.exceedance(np.array([0.1, 0.29, 0.30, 0.5]))[:, 1]
    assert p.tolist() == [0.0, 0.0, 1.0, 1.0]


def test_missing_states_take_the_next_higher(tmp_path):
    d = tmp_path / "x"
    write(d, "curves_x.csv", CURVE_HEADER + "c1,wind,gust_ms,2,40,0.3,,src\nc1,wind,gust_ms,4,60,0.3,,src\n")
    lib = load_library([d])
    p = lib.curve("c1").exceedance(np.array([50.0]))[0]
    assert p[0] == p[1] and p[2] == p[3] and p[1] > p[3] > 0


# --- exceedance over assets -------------------------------------------------------------------
def test_exceedance_shapes_and_invulnerable_assets(lib):
    a = assets([("power", "substation_110kv", ""), ("water", "trunk_main", ""), ("power", "feeder_10kv", "")])
    cs = assign(lib, a, ("wind", "flood"))
    x = {"gust_ms": np.array([62.0, 80.0, 40.0]), "flood_depth_m": np.array([0.5, 3.0, 1.0])}
    p = exceedance(cs, x)
    assert p["wind"].shape == (3, 4) and p["flood"].shape == (3, 4)
    assert p["wind"][0, 1] == pytest.approx(0.5)  # wind_substation θ2 = 62
    assert p["flood"][0, 1] == pytest.approx(0.5)  # flood_substation_110kv θ2 = 0.5
    assert np.all(p["wind"][1] == 0) and np.all(p["flood"][1] == 0)  # buried main: no curve
    assert p["wind"][2, 1] == pytest.approx(0.5)  # wind_feeder_10kv θ2 = 40
    # per-realisation fields
    xr = {k: np.stack([v, 2 * v]) for k, v in x.items()}
    pr = exceedance(cs, xr)
    assert pr["wind"].shape == (2, 3, 4)
    assert np.allclose(pr["wind"][0], p["wind"])
    assert np.all(np.diff(pr["wind"], axis=-1) <= 0)  # P[DS ≥ ds] falls with ds


def test_exceedance_rejects_missing_measure_and_negative(lib):
    cs = assign(lib, assets([("power", "substation_110kv", "")]), ("wind",))
    with pytest.raises(InputError, match="gust_ms"):
        exceedance(cs, {"wind_ms": np.array([30.0])})
    with pytest.raises(InputError, match="finite"):
        exceedance(cs, {"gust_ms": np.array([-1.0])})
    with pytest.raises(InputError, match="shape"):
        exceedance(cs, {"gust_ms": np.array([1.0, 2.0])})


def test_median_scale_equals_dividing_the_intensity(lib):
    a = assets([("power", "substation_110kv", ""), ("road", "local_road", "")])
    x = {"gust_ms": np.array([50.0, 50.0]), "flood_depth_m": np.array([0.4, 0.4])}
    p1 = exceedance(assign(lib, a, ("wind", "flood"), median_scale={"wind": 1.25}), x)
    p0 = exceedance(
        assign(lib, a, ("wind", "flood")),
        {"gust_ms": x["gust_ms"] / 1.25, "flood_depth_m": x["flood_depth_m"]},
    )
    assert np.allclose(p1["wind"], p0["wind"])
    assert np.allclose(
        p1["flood"], exceedance(assign(lib, a, ("flood",)), x)["flood"]
    )  # other hazard untouched
    with pytest.raises(InputError):
        assign(lib, a, ("wind",), median_scale=0.0)


def test_exceedance_by_class_for_the_housing_stock(lib):
    classes = ("rc_frame", "rural_masonry")
    p = exceedance_by_class(
        lib, "building", "housing", classes, {"gust_ms": np.array([62.0, 44.0])}, ("wind",)
    )
    w = p["wind"]
    assert w.shape == (2, 2, 4)
    assert w[0, 0, 1] == pytest.approx(0.5)  # RC frame θ2 = 62 m/s
    assert w[1, 1, 1] == pytest.approx(0.5)  # rural masonry θ2 = 44 m/s
    assert w[1, 1, 1] > w[1, 0, 1]  # masonry more fragile than RC at the same gust


def test_one_state_of_the_housing_stock_is_its_column_bit_for_bit(lib):
    from rescity.engine.service import load_housing_stock

    classes = tuple(load_housing_stock()["structure_class"].astype(str))
    rng = np.random.default_rng(2)
    x = {"gust_ms": rng.uniform(0, 90, 50), "flood_depth_m": np.r_[0.0, rng.exponential(1.0, 49)]}
    xr = {k: np.stack([v, 0.5 * v]) for k, v in x.items()}
    for fields in (x, xr):
        for scale in (1.0, {"wind": 0.8, "flood": 1.2}):
            full = exceedance_by_class(lib, "building", "housing", classes, fields, ("wind", "flood"), median_scale=scale)
            for ds in range(1, 5):
                one = exceedance_by_class(
                    lib, "building", "housing", classes, fields, ("wind", "flood"), median_scale=scale, ds=ds
                )
                for h in full:
                    assert one[h].tobytes() == np.ascontiguousarray(full[h][..., ds - 1]).tobytes(), (h, ds)
    with pytest.raises(InputError, match="ds"):
        exceedance_by_class(lib, "building", "housing", classes, x, ("wind",), ds=5)


# --- mapping rules ----------------------------------------------------------------------------
def test_most_specific_mapping_wins_and_later_folders_win_ties(tmp_path, lib):
    d1, d2 = tmp_path / "a", tmp_path / "b"
    write(
        d1,
        "curves_t.csv",
        CURVE_HEADER + "hard,wind,gust_ms,2,80,0.2,,test\nsoft,wind,gust_ms,2,30,0.2,,test\n"
        "sys,wind,gust_ms,2,55,0.2,,test\n",
    )
    write(
        d1,
        "mapping_t.csv",
        MAP_HEADER
        + "power,feeder_10kv,hardened,wind,hard,test\n"
        + "power,*,*,wind,sys,test\n"
        + "power,line_110kv,*,wind,soft,test\n",
    )
    a = assets(
        [
            ("power", "feeder_10kv", "hardened"),
            ("power", "feeder_10kv", "x"),
            ("power", "bus", ""),
            ("power", "line_110kv", "y"),
            ("power", "feeder_10kv", "underground"),
        ]
    )
    cs = assign(load_library([d1]), a, ("wind",))
    ids = [cs.curve_ids[c] if c >= 0 else None for c in cs.codes["wind"]]
    # exact class > (kind, *) > packaged defaults; the packaged 'bus → none' row is more specific
    # than the extra (power, *, *) row; the packaged 'underground' row still applies
    assert ids == ["hard", "wind_feeder_10kv", None, "soft", None]
    # a later folder wins an equally specific row
    write(d2, "mapping_t.csv", MAP_HEADER + "power,feeder_10kv,hardened,wind,soft,test\n")
    cs2 = assign(load_library([d1, d2]), a, ("wind",))
    assert cs2.curve_ids[cs2.codes["wind"][0]] == "soft"
    # counts report
    row = cs.counts[(cs.counts["kind"] == "feeder_10kv")].iloc[0]
    assert (row["assets"], row["with_curve"], row["invulnerable"]) == (3, 2, 1)


def test_system_wide_fallback(tmp_path):
    d = tmp_path / "f"
    write(
        d,
        "curves_t.csv",
        CURVE_HEADER + "anyfac,rain,rain_mm,2,300,0.3,,test\nhosp,rain,rain_mm,2,500,0.3,,test\n",
    )
    write(
        d, "mapping_t.csv", MAP_HEADER + "facility,*,*,rain,anyfac,test\nfacility,hospital,*,rain,hosp,test\n"
    )
    lib = load_library([d])
    cs = assign(
        lib,
        assets([("facility", "depot", "z"), ("facility", "hospital", ""), ("power", "bus", "")]),
        ("rain",),
    )
    ids = [cs.curve_ids[c] if c >= 0 else None for c in cs.codes["rain"]]
    assert ids == ["anyfac", "hosp", None]  # (kind, *) beats (system, *, *); other systems unmapped
    p = exceedance(cs, {"rain_mm": np.array([300.0, 300.0, 300.0])})["rain"]
    assert p[0, 1] == pytest.approx(0.5) and p[1, 1] < 0.5 and p[2, 1] == 0


def test_packaged_mapping_covers_every_kind(lib):
    """Every asset kind has a wind and a flood rule (a curve or an explicit 'none')."""
    m = lib.mapping
    for hazard in ("wind", "flood"):
        for system, kinds in KINDS.items():
            for kind in kinds:
                rows = m[(m["hazard"] == hazard) & (m["system"] == system) & (m["kind"].isin([kind, "*"]))]
                assert len(rows), f"no {hazard} rule for {system}/{kind}"
    assert (lib.curves["source"].str.len() > 10).all()
    assert (lib.tables["source"].str.len() > 10).all()
    assert (m["source"].str.len() > 10).all()


# --- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text", "field", "needle"),
    [
        (
            "curves_bad.csv",
            CURVE_HEADER + "c,wind,gust_ms,1,40,0.3,,s\nc,wind,gust_ms,2,35,0.3,,s\n",
            "median",
            "increase",
        ),
        ("curves_bad.csv", CURVE_HEADER + "c,wind,gust_ms,1,40,0,,s\n", "beta", "> 0"),
        ("curves_bad.csv", CURVE_HEADER + "c,wind,gust_ms,1,-4,0.2,,s\n", "median", "> 0"),
        ("curves_bad.csv", CURVE_HEADER + "c,wind,gust_kmh,1,40,0.2,,s\n", "measure", "one of"),
        ("curves_bad.csv", CURVE_HEADER + "c,storm,gust_ms,1,40,0.2,,s\n", "hazard", "one of"),
        ("curves_bad.csv", CURVE_HEADER + "c,wind,gust_ms,5,40,0.2,,s\n", "ds", "1…4"),
        ("curves_bad.csv", CURVE_HEADER + "c,wind,gust_ms,1,abc,0.2,,s\n", "median", "finite"),
        ("curves_bad.csv", CURVE_HEADER + "c,wind,gust_ms,1,40,0.2,,\n", "source", "empty"),
        (
            "curves_bad.csv",
            "curve_id,hazard,measure,ds,median,description,source\nc,wind,gust_ms,1,4,,s\n",
            "beta",
            "missing",
        ),
        (
            "tables_bad.csv",
            TABLE_HEADER + "t,flood,flood_depth_m,2,0,0,s\nt,flood,flood_depth_m,2,1,1.2,s\n",
            "p",
            "[0, 1]",
        ),
        (
            "tables_bad.csv",
            TABLE_HEADER + "t,flood,flood_depth_m,2,0,0.5,s\nt,flood,flood_depth_m,2,1,0.2,s\n",
            "p",
            "not decrease",
        ),
        (
            "tables_bad.csv",
            TABLE_HEADER + "t,flood,flood_depth_m,2,1,0.1,s\nt,flood,flood_depth_m,2,0.5,0.2,s\n",
            "x",
            "increase",
        ),
        (
            "tables_bad.csv",
            TABLE_HEADER + "t,flood,flood_depth_m,1,0,0,s\nt,flood,flood_depth_m,1,1,0.3,s\n"
            "t,flood,flood_depth_m,2,0,0,s\nt,flood,flood_depth_m,2,1,0.6,s\n",
            "p",
            "exceeds",
        ),
        (
            "mapping_bad.csv",
            MAP_HEADER + "power,substation_110kv,*,wind,nosuch,s\n",
            "curve_id",
            "no such curve",
        ),
        (
            "mapping_bad.csv",
            MAP_HEADER + "power,substation_110kv,*,flood,wind_substation,s\n",
            "hazard",
            "wind curve",
        ),
        (
            "mapping_bad.csv",
            MAP_HEADER + "power,pump_station,*,wind,wind_substation,s\n",
            "kind",
            "unknown kind",
        ),
    ],
)
def test_validation_errors_name_file_row_field(tmp_path, name, text, field, needle):
    p = write(tmp_path / "bad", name, text)
    with pytest.raises(InputError) as e:
        load_library([tmp_path / "bad"])
    msg = str(e.value)
    assert e.value.field == field
    assert str(p) in msg and ("row" in msg or needle == "missing")
    assert needle in msg


def test_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_library([tmp_path / "nope"])


# --- the per-curve-set gathers ------------------------------------------------------------------
def _exceedance_gathered_per_call(curveset, intensities):
    """``exceedance`` as written before the curve set kept its gathers (θ, β and the assets of
    each curve gathered again at every call): the reference the kept plan must equal bit for bit."""
    from scipy.special import ndtr

    from rescity.fragility.library import N_DS, _intensity

    n = curveset.n_assets
    lib = curveset.library
    out = {}
    for h in curveset.hazards:
        code = curveset.codes[h]
        used = np.unique(code[code >= 0])
        curves = [lib.compiled[curveset.curve_ids[c]] for c in used]
        xs = {c.measure: _intensity(intensities, c.measure, n) for c in curves}
        lead = next((x.shape[:-1] for x in xs.values() if x.ndim == 2), ())
        p = np.zeros((*lead, n, N_DS), dtype=np.float64)
        scale = curveset.median_scale.get(h, 1.0)
        for measure, x in xs.items():
            ln = [
                (c_code, c)
                for c_code, c in zip(used, curves, strict=True)
                if c.kind == "lognormal" and c.measure == measure
            ]
            if ln:
                med = np.full((len(curveset.curve_ids), N_DS), np.inf)
                beta = np.ones((len(curveset.curve_ids), N_DS))
                for c_code, c in ln:
                    med[c_code], beta[c_code] = c.median * scale, c.beta
                sel = np.flatnonzero(np.isin(code, [cc for cc, _ in ln]))
                xm = np.broadcast_to(x, (*lead, n))[..., sel]
                with np.errstate(divide="ignore"):
                    z = (np.log(xm)[..., None] - np.log(med[code[sel]])) / beta[code[sel]]
                p[..., sel, :] = ndtr(z)
        for c_code, c in zip(used, curves, strict=True):
            if c.kind != "table":
                continue
            sel = np.flatnonzero(code == c_code)
            xm = np.broadcast_to(xs[c.measure], (*lead, n))[..., sel]
            p[..., sel, :] = c.exceedance(xm, scale)
        out[h] = p
    return out


@pytest.mark.parametrize("scale", [1.0, {"wind": 0.8, "flood": 1.3, "landslide": 1.7}])
def test_kept_gathers_give_the_same_bits_as_gathering_per_call(lib, scale):
    rows = [(s, k, c) for s, kinds in KINDS.items() for k in kinds for c in ("", "x")]
    rng = np.random.default_rng(3)
    a = assets([rows[i] for i in rng.integers(0, len(rows), 600)])
    cs = assign(lib, a, ("wind", "flood", "landslide"), median_scale=scale)
    x = {
        "gust_ms": rng.uniform(0, 90, len(a)),
        "flood_depth_m": np.where(rng.random(len(a)) < 0.3, 0.0, rng.exponential(1.0, len(a))),
        "landslide_ratio": rng.uniform(0, 3, len(a)),
    }
    x["gust_ms"][:5] = [0.0, 40.0, 40.0, 62.0, 1e-300]
    per_real = {k: np.stack([v, 1.5 * v, 0 * v]) for k, v in x.items()}
    for fields in (x, per_real, {**x, "gust_ms": per_real["gust_ms"]}):
        for _ in range(2):  # the plan built on the first call, read on the second
            new, ref = exceedance(cs, fields), _exceedance_gathered_per_call(cs, fields)
            assert new.keys() == ref.keys()
            for h in new:
                assert new[h].shape == ref[h].shape and new[h].tobytes() == ref[h].tobytes(), h
    assert set(cs.measures()) == {"wind", "flood", "landslide"}
    assert cs.measures()["flood"] == ("flood_depth_m",)


def test_curves_once_per_site_give_the_same_bits_as_per_asset(lib):
    rows = [(s, k, "") for s, kinds in KINDS.items() for k in kinds]
    rng = np.random.default_rng(4)
    a = assets([rows[i] for i in rng.integers(0, len(rows), 800)])
    sites = rng.integers(0, 40, len(a)) * 3  # 40 sites, not numbered 0 … 39
    cs = assign(lib, a, ("wind", "flood", "landslide"), median_scale={"wind": 0.9})
    per_site = {m: rng.uniform(0, 80, sites.max() + 1) for m in ("gust_ms", "flood_depth_m", "landslide_ratio")}
    per_site["flood_depth_m"][::4] = 0.0
    on_sites = {m: v[sites] for m, v in per_site.items()}
    mixed = dict(on_sites, landslide_ratio=rng.uniform(0, 3, len(a)))  # one measure varies within sites
    signed = dict(on_sites, flood_depth_m=np.where(np.arange(len(a)) % 2, -0.0, 0.0))  # equal, other bits
    for x in (on_sites, mixed, signed):
        for _ in range(2):
            ref, new = exceedance(cs, x), exceedance(cs, x, sites=sites)
            for h in ref:
                assert new[h].tobytes() == ref[h].tobytes(), h
    assert cs.site_plan("wind", sites) is cs.site_plan("wind", sites)
    assert cs.site_plan("wind", sites).per_site(mixed["landslide_ratio"]) is None
    with pytest.raises(InputError, match="sites"):
        exceedance(cs, on_sites, sites=sites[:-1])
