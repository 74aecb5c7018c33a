"""Indicators: economic loss from damage ratios, roll-up to every level, relocation model."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr

from _forecast_twin import CELL_HH, CELL_POP, make_twin
from rescity.errors import InputError
from rescity.forecast import indicators as ind


@pytest.fixture(scope="module")
def twin():
    return make_twin()


def test_rollup_sums_cells_to_every_ancestor(twin):
    x = np.zeros((1, twin.n_units))
    cells = (twin.units["level"] == "cell").to_numpy()
    x[0, cells] = np.arange(1, cells.sum() + 1)
    r = ind.rollup(twin, x)[0]
    u = twin.units.set_index("unit_id")
    pos = {k: i for i, k in enumerate(twin.units["unit_id"])}
    assert r[pos["330000"]] == pytest.approx(sum(range(1, 13)))
    # county 330102 holds cells 1..4, prefecture 330100 both Hangzhou counties (cells 1..8)
    assert r[pos["330102"]] == pytest.approx(1 + 2 + 3 + 4)
    assert r[pos["330100"]] == pytest.approx(sum(range(1, 9)))
    assert r[pos["331000"]] == pytest.approx(sum(range(9, 13)))
    assert r[pos["330102-c2"]] == pytest.approx(3)
    assert u.loc["330000", "level"] == "province"


def test_economic_loss_by_hand(twin):
    a = twin.assets
    states = np.zeros((2, twin.n_assets), np.int8)
    sub = a.index[a["kind"] == "substation_110kv"].to_numpy()
    road = a.index[a["kind"] == "local_road"].to_numpy()
    states[0, sub[0]] = 2  # moderate → 0.20 (generic ratio)
    states[0, sub[1]] = 4  # complete → 1.00
    states[1, road[0]] = 3  # extensive → 0.60
    loss = ind.economic_loss(twin, states)
    pos = {k: i for i, k in enumerate(twin.units["unit_id"])}
    cost_road = a.loc[road[0], "replacement_cost_cny"]
    assert loss[0, pos["330000"]] == pytest.approx(0.2 * 5e7 + 1.0 * 5e7)
    assert loss[1, pos["330000"]] == pytest.approx(0.6 * cost_road)
    # the first substation stands in cell 330102-c1 → county 330102 → prefecture 330100
    assert loss[0, pos["330102-c1"]] == pytest.approx(0.2 * 5e7)
    assert loss[0, pos["330102"]] == pytest.approx(0.2 * 5e7)
    assert loss[0, pos["330100"]] == pytest.approx(1.2 * 5e7)


def test_bridge_uses_the_hazus_bridge_ratios(twin):
    t = twin
    t2 = type(t)(t.units, t.assets.copy(), t.edges, t.dependencies, t.service)
    i = int(t2.assets.index[t2.assets["kind"] == "local_road"][0])
    t2.assets.loc[i, "kind"] = "bridge"
    t2.assets.loc[i, "replacement_cost_cny"] = 1e8
    dr = ind.damage_ratio_matrix(t2)
    np.testing.assert_allclose(dr[i], [0, 0.03, 0.08, 0.25, 1.0])  # HAZUS highway bridges
    np.testing.assert_allclose(dr[0], [0, 0.05, 0.20, 0.60, 1.0])  # generic row for everything else
    s = np.zeros((1, t2.n_assets), np.int8)
    s[0, i] = 2
    assert ind.economic_loss(t2, s)[0, 0] == pytest.approx(8e6)


def test_bad_states(twin):
    with pytest.raises(InputError, match="assets"):
        ind.economic_loss(twin, np.zeros((1, 3), np.int8))
    with pytest.raises(InputError, match="0…4"):
        ind.economic_loss(twin, np.full((1, twin.n_assets), 5, np.int8))


def test_relocation_and_other_indicators_by_hand(twin):
    n = twin.n_units
    cells = (twin.units["level"] == "cell").to_numpy()
    homes = np.zeros((1, n))
    homes[0, cells] = 100
    p = ind.IndicatorParams()
    wind = np.where(cells, p.relocate_wind_median_ms, 0.0)  # at the median: Φ = 0.5
    res = SimpleNamespace(
        homes_damaged=homes,
        no_power=np.where(cells, 2_500.0, 0.0)[None, :],
        no_road=np.where(cells, 700.0, 0.0)[None, :],
        affected=np.where(cells, 9_000.0, 0.0)[None, :],
    )
    out = ind.indicators_from_result(twin, res, {"wind_ms": wind, "rain_mm": np.zeros(n)}, p)
    hh_size = CELL_POP / CELL_HH
    expect = CELL_POP * p.relocate_max_share * 0.5 + 100 * hh_size
    np.testing.assert_allclose(out["relocate"][0, cells], expect)
    assert out["relocate"][0, ~cells].sum() == 0  # only base rows carry values before roll-up
    np.testing.assert_allclose(out["power_outage_households"][0, cells], 2_500 / hh_size)
    np.testing.assert_allclose(out["people_cut_off"][0, cells], 700)
    # no states: roads from damaged_share absent → 0; economic loss = homes × value × ratio
    np.testing.assert_allclose(
        out["economic_loss_cny"][0, cells], 100 * p.home_value_cny * p.home_damage_ratio
    )
    # rain at its median gives the same share as wind at its median; gusts are converted by the gust factor
    sh = ind.relocation_share({"gust_ms": np.array([p.relocate_wind_median_ms * p.gust_factor])}, p)
    assert sh[0] == pytest.approx(p.relocate_max_share * 0.5)
    sh = ind.relocation_share({"rain_mm": np.array([500.0])}, p)
    assert sh[0] == pytest.approx(p.relocate_max_share * ndtr(np.log(2.0) / p.relocate_rain_beta))


def test_relocation_capped_at_population_and_intensity_on_cells_only(twin):
    cells = (twin.units["level"] == "cell").to_numpy()
    homes = np.where(cells, 1e6, 0.0)[None, :]
    res = {"homes_damaged": homes}
    wind_cells = np.full(int(cells.sum()), 60.0)  # intensities given per base unit only
    out = ind.indicators_from_result(twin, res, {"wind_ms": wind_cells})
    np.testing.assert_allclose(out["relocate"][0, cells], CELL_POP)


def test_relocation_with_intensity_on_every_unit_row_nan_off_cells(twin):
    """The pipeline gives cell intensities as full unit-length arrays, NaN on non-cell rows."""
    cells = (twin.units["level"] == "cell").to_numpy()
    wind = np.where(cells, 60.0, np.nan)
    out = ind.indicators_from_result(twin, {"homes_damaged": np.zeros((1, twin.n_units))}, {"wind_ms": wind})
    r = out["relocate"][0]
    assert np.isfinite(r).all()
    p = ind.IndicatorParams()
    share = p.relocate_max_share * ndtr(np.log(60.0 / p.relocate_wind_median_ms) / p.relocate_wind_beta)
    np.testing.assert_allclose(r[cells], CELL_POP * share)


def test_roads_impassable_from_states(twin):
    a = twin.assets
    s = np.zeros((1, twin.n_assets), np.int8)
    road = a.index[a["kind"].isin(["local_road", "national_road"])].to_numpy()
    node = a.index[a["kind"] == "road_node"].to_numpy()
    s[0, road[:3]] = [1, 2, 4]  # slight stays open; moderate and complete are impassable
    s[0, node[:2]] = 4  # junctions are not counted as segments
    x = ind.road_links_impassable(twin, s)
    assert ind.rollup(twin, x)[0, 0] == 2


def test_loss_and_impassable_roads_equal_the_sparse_products_bit_for_bit(twin):
    """Economic loss picks cost × ratio from a kept (asset, state) table and impassable roads are
    counted: the same numbers, in the same memory layout, as the products with the asset → unit
    matrix they replace."""
    rng = np.random.default_rng(9)
    p = ind.asset_unit_matrix(twin)
    cost = twin.assets["replacement_cost_cny"].to_numpy(float) * rng.uniform(0.3, 3.0, twin.n_assets)
    t2 = type(twin)(twin.units, twin.assets.assign(replacement_cost_cny=cost), twin.edges, twin.dependencies, twin.service)
    custom = pd.DataFrame(
        {"system": ["*", "road"], "kind": ["*", "*"], "ds1": [0.013, 0.1], "ds2": [0.07, 0.3],
         "ds3": [0.31, 0.7], "ds4": [0.9, 1.0]}
    )  # fmt: skip
    for s in (rng.integers(0, 5, (6, t2.n_assets)).astype(np.int8), np.zeros((1, t2.n_assets), np.int8)):
        for ratios in (None, custom):
            dr = ind.damage_ratio_matrix(t2, ratios)
            loss_a = cost[None, :] * np.take_along_axis(dr.T, s.astype(np.int64), axis=0)
            ref = np.asarray((p @ loss_a.T).T)
            new = ind.economic_loss(t2, s, ratios, rollup_levels=False)
            assert new.tobytes("A") == ref.tobytes("A") and new.flags.f_contiguous == ref.flags.f_contiguous
            for r in (ref, new):
                assert ind.rollup(t2, r).tobytes() == ind.rollup(t2, ref).tobytes()
        for ds in (1, 2, 4):
            x = ((s >= ds) & ind.road_link_mask(t2)[None, :]).astype(float)
            ref = np.asarray((p @ x.T).T)
            new = ind.road_links_impassable(t2, s, ds)
            assert new.tobytes("A") == ref.tobytes("A") and new.flags.f_contiguous == ref.flags.f_contiguous
