"""Rain damage paths: river and torrent flooding from the storm rain, rain-triggered landslides,
their fragility curves, and the chain to damage for storms that struck Fujian."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rescity.errors import InputError
from rescity.fragility.library import assign, exceedance, load_library
from rescity.hazard.flood import design_rain_mm, rain_river_depth, scs_runoff_mm
from rescity.hazard.landslide import THRESHOLDS, exceedance_ratio, landslide_hazard, storm_duration_h


def scs_by_hand(p, cn):
    s = 25400 / cn - 254
    return (p - 0.2 * s) ** 2 / (p + 0.8 * s) if p > 0.2 * s else 0.0


def test_caine_and_guzzetti_thresholds_by_hand():
    # Caine (1980): I = 14.82 D^−0.39; Guzzetti et al. (2008): I = 2.20 D^−0.44 (mm/h, h)
    assert THRESHOLDS["caine1980"].intensity_mmh(24.0) == pytest.approx(14.82 * 24 ** -0.39, rel=1e-12)
    assert THRESHOLDS["caine1980"].intensity_mmh(24.0) == pytest.approx(4.2911, abs=1e-3)
    assert THRESHOLDS["guzzetti2008"].intensity_mmh(10.0) == pytest.approx(2.20 * 10 ** -0.44, rel=1e-12)
    # 240 mm at a peak of 20 mm/h: D = 2P/i = 24 h, I = 10 mm/h → 10 / 4.2911 = 2.330
    assert storm_duration_h(240.0, 20.0) == pytest.approx(24.0)
    assert exceedance_ratio(240.0, 20.0) == pytest.approx(10.0 / (14.82 * 24 ** -0.39), rel=1e-12)
    assert exceedance_ratio(0.0, 0.0) == 0.0
    assert exceedance_ratio(240.0, 20.0, "guzzetti2008") > exceedance_ratio(240.0, 20.0)
    with pytest.raises(InputError):
        exceedance_ratio(10.0, 1.0, "nosuch")


def test_landslide_share_by_terrain_and_kind():
    # Cangnan (mountain list), Linhai (hilly), Nanhu/Jiaxing (plain)
    lon, lat = [120.40, 120.40, 121.12, 120.76], [27.50, 27.50, 28.85, 30.75]
    out = landslide_hazard([300.0] * 4, [20.0] * 4, lon, lat, kind=["housing", "local_road", "housing", "housing"])
    np.testing.assert_allclose(out["landslide_share"], [0.003, 0.03, 0.001, 0.0])
    assert (out["landslide_ratio"] > 1).all()


def test_design_rain_from_the_storm_intensity_formula():
    # Shanghai DB31/T 1043-2017: q = 1600(1 + 0.846 lg P)/(t + 7)^0.656 L/(s·ha), i = q/167 mm/min
    q = 1600 * (1 + 0.846 * math.log10(20)) / (1440 + 7) ** 0.656
    assert design_rain_mm(20.0, 24.0) == pytest.approx(q / 167 * 1440, rel=1e-12)
    assert 200 < float(design_rain_mm(20.0, 24.0)) < 300


def test_rain_river_depth_by_hand():
    cells = pd.DataFrame({"lon": [120.4, 120.4], "lat": [27.5, 27.5], "urban_share": [0.0, 0.0],
                          "cn": [80.0, 80.0], "floodplain_share": [0.1, 0.1]})
    # 400 mm at 25 mm/h: D = 32 h; design storm of 20 years (rural) over 32 h
    res = rain_river_depth(np.array([400.0, 100.0]), np.array([25.0, 25.0]), cells)
    pt = float(design_rain_mm(20.0, 32.0))
    q, qt = scs_by_hand(400.0, 80.0), scs_by_hand(pt, 80.0)
    over = (q - qt) ** 2 / q  # triangular hydrograph above the design peak
    assert res["duration_h"][0] == pytest.approx(32.0)
    assert res["flood_depth_m"][0] == pytest.approx(over / 1000 / 0.1, rel=1e-9)
    assert res["flooded_fraction"][0] == pytest.approx(0.1)
    assert res["flood_depth_m"][1] == 0.0 and res["flooded_fraction"][1] == 0.0  # below the design storm
    assert scs_runoff_mm(np.array([400.0]), np.array([80.0]))[0] == pytest.approx(scs_by_hand(400.0, 80.0))
    with pytest.raises(InputError):
        rain_river_depth(np.array([-1.0, 0.0]), np.array([1.0, 1.0]), cells)


def test_landslide_curves_in_the_library():
    lib = load_library()
    assert "landslide" in lib.hazards() and lib.measures("landslide") == ("landslide_ratio",)
    assets = pd.DataFrame({"asset_id": ["r", "b", "s", "h"], "system": ["road", "road", "power", "facility"],
                           "kind": ["local_road", "bridge", "substation_110kv", "hospital"],
                           "fragility_class": ["", "", "", ""]})
    cs = assign(lib, assets, ("landslide",))
    p = exceedance(cs, {"landslide_ratio": np.array([1.2, 2.0, 2.0, 5.0])}, hazard="landslide")
    # lognormal curves: at the median, P(DS ≥ 2) = 0.5 (road 1.2, bridge 2.0, equipment 2.0)
    np.testing.assert_allclose(p[:3, 1], 0.5, atol=1e-9)
    assert p[3].sum() == 0.0  # hospitals carry no landslide curve


@pytest.fixture(scope="module")
def twin():
    from rescity.twin.zhejiang import default_twin

    return default_twin()


@pytest.mark.parametrize("storm", ["Haitang 2005", "Morakot 2009"])
def test_storms_that_struck_fujian_now_flood_and_slide_in_zhejiang(twin, storm):
    from rescity.engine.event import simulate_event
    from rescity.hazard.event import cell_positions, typhoon_event
    from rescity.hazard.track import packaged_track

    track = packaged_track(storm)
    a, c = typhoon_event(twin, track, sites="cells")
    cells, _, clat = cell_positions(twin)
    south = clat < 28.5  # Wenzhou, Lishui, southern Taizhou
    assert np.nanmax(c["rain_mm"][cells][south]) > 200.0
    assert (c["flood_depth_m"][cells] > 0).sum() > 20
    assert (a["landslide_ratio"] > 1.0).any() and (a["landslide_share"] > 0).any()
    res = simulate_event(twin, (a, c), 4, 7, horizon_h=12.0)
    assert {"flood", "landslide"} <= set(res.hazards) and "landslide" in res.meta["building_hazards"]
    prov = int(np.flatnonzero((res.units["level"] == "province").to_numpy())[0])
    # assets damaged by landslides (mean per realisation) in the province
    assert res.driver.iloc[prov]["landslide"] > 0
    # the same draws without flood depth: floods add damaged homes
    dry = [dict(a), dict(c)]
    for d in dry:
        d["flood_depth_m"] = np.where(np.isnan(d["flood_depth_m"]), np.nan, 0.0)
    res_dry = simulate_event(twin, tuple(dry), 4, 7, horizon_h=12.0)
    assert res.homes_damaged[:, prov].mean() > res_dry.homes_damaged[:, prov].mean() + 20
