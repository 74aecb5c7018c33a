"""Service loss, housing stock, affected population and aggregation."""

from __future__ import annotations

import numpy as np
import pytest

from rescity.engine.aggregate import aggregate_cells, build_aggregator, damaged_share
from rescity.engine.service import (
    affected_population,
    build_service_model,
    cell_positions,
    home_damage_probability,
    load_housing_stock,
    people_without,
    sample_homes_damaged,
)
from rescity.fragility.library import load_library
from rescity.twin.toy import toy_twin


@pytest.fixture(scope="module")
def twin():
    return toy_twin(counties=3, cells_per_county=2)


def test_service_sums(twin):
    m = build_service_model(twin)
    cells = cell_positions(twin)
    pop = twin.units["population"].to_numpy(float)
    n = twin.n_assets
    all_up = people_without(m, np.ones((1, n), bool))
    all_down = people_without(m, np.zeros((1, n), bool))
    for sv in ("power", "water", "telecom", "road"):
        assert np.all(all_up[sv] == 0)
        # the toy's service rows of each service sum to the cell population
        assert np.allclose(all_down[sv][0, cells], pop[cells])
    # one transformer down: exactly its people lose power
    s = twin.service
    row = s[s["system"] == "power"].iloc[0]
    f = np.ones((1, n), bool)
    f[0, row["terminal"]] = False
    out = people_without(m, f)["power"][0]
    assert out[row["unit"]] == pytest.approx(row["people"]) and out.sum() == pytest.approx(row["people"])


def test_housing_stock_rule(twin):
    st = load_housing_stock()
    assert st["share_urban"].sum() == pytest.approx(1) and st["share_rural"].sum() == pytest.approx(1)
    assert st["source"].str.len().min() > 10
    m = build_service_model(twin)
    cells = cell_positions(twin)
    hh = twin.units["households"].to_numpy()[cells]
    assert np.array_equal(m.homes.sum(axis=1), hh)  # every home in exactly one class
    u = twin.units["urban_share"].to_numpy()[cells]
    expect = hh[:, None] * (
        u[:, None] * st["share_urban"].to_numpy() + (1 - u[:, None]) * st["share_rural"].to_numpy()
    )
    assert np.all(np.abs(m.homes - expect) < 1)  # largest-remainder rounding


def test_home_damage_probability_and_binomial_mean(twin):
    lib = load_library()
    m = build_service_model(twin)
    nc = len(m.cells)
    p, per = home_damage_probability(
        m, lib, {"gust_ms": np.full(nc, 44.0), "flood_depth_m": np.full(nc, 1.0)}, ("wind", "flood")
    )
    j = m.classes.index("rural_masonry")
    # wind: rural masonry θ2 = 44 m/s → 0.5; flood: Huizinga Asia residential at 1 m → 0.49
    assert per["wind"][0, j] == pytest.approx(0.5)
    assert per["flood"][0, j] == pytest.approx(0.49)
    assert p[0, j] == pytest.approx(1 - 0.5 * 0.51)
    r = 400
    homes = sample_homes_damaged(m, p, r, seed=3)
    mean = (m.homes * p).sum(axis=1)
    var = (m.homes * p * (1 - p)).sum(axis=1)
    # mean of r binomial sums: within 4.5 standard errors √(var / r)
    assert np.all(np.abs(homes.mean(axis=0) - mean) <= 4.5 * np.sqrt(var / r))
    # the same realisations in other chunks give the same draws
    assert np.array_equal(sample_homes_damaged(m, p, 5, seed=3, start=10), homes[10:15])


def test_affected_population_formula():
    # pop 1000, 400 households, 100 homes damaged, 200 without power, 500 without water:
    # f_home = 0.25, f_out = 1 − 0.8·0.5 = 0.6, affected = 1000·(1 − 0.75·0.4) = 700
    assert affected_population(1000.0, 400.0, 200.0, 500.0, 100.0) == pytest.approx(700.0)
    assert affected_population(1000.0, 400.0, 0.0, 0.0, 0.0) == 0.0
    assert affected_population(1000.0, 400.0, 1000.0, 0.0, 0.0) == pytest.approx(1000.0)
    assert affected_population(0.0, 0.0, 0.0, 0.0, 0.0) == 0.0
    a = affected_population(
        np.array([1000.0, 500.0]),
        np.array([400.0, 200.0]),
        np.array([200.0, 0.0]),
        np.array([500.0, 0.0]),
        np.array([100.0, 50.0]),
    )
    assert a == pytest.approx([700.0, 125.0])


def test_aggregation_totals_equal_across_levels(twin):
    agg = build_aggregator(twin)
    u = twin.units
    rng = np.random.default_rng(0)
    x = np.zeros((4, twin.n_units))
    cells = cell_positions(twin)
    x[:, cells] = rng.random((4, len(cells))) * 100
    y = aggregate_cells(agg, x)
    lv = u["level"].to_numpy()
    for level in ("province", "prefecture", "county", "cell"):
        assert np.allclose(y[:, lv == level].sum(axis=1), x[:, cells].sum(axis=1))
    # each county is the sum of its own cells
    for i in np.flatnonzero(lv == "county"):
        kids = np.flatnonzero(u["parent_id"].to_numpy() == u["unit_id"].iat[i])
        assert np.allclose(y[:, i], x[:, kids].sum(axis=1))
    assert np.allclose(y[:, cells], x[:, cells])


def test_damaged_share_by_hand(twin):
    agg = build_aggregator(twin)
    a = twin.assets
    damaged = np.zeros((1, twin.n_assets), bool)
    subs = np.flatnonzero(a["kind"] == "substation_110kv")  # one per cell
    damaged[0, subs[0]] = True
    share = damaged_share(agg, damaged)
    power = a["system"] == "power"
    prov = 0
    assert share["power"][0, prov] == pytest.approx(1 / power.sum())
    cell = twin.unit_index()[a["unit_id"].iat[subs[0]]]
    in_cell = (power & (a["unit_id"] == a["unit_id"].iat[subs[0]])).sum()
    assert share["power"][0, cell] == pytest.approx(1 / in_cell)
    assert share["water"][0, prov] == 0
    # a unit with no assets of a system gets NaN: no facility stands in the prefecture row itself,
    # but the prefecture row counts its descendants, so it is a number
    assert np.isfinite(share["facility"][0, 1])
