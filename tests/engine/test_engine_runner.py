"""The ensemble runner: determinism over chunks and workers, outputs, input errors."""

from __future__ import annotations

import numpy as np
import pytest

from _engine_twins import storm_fields as fields
from rescity.engine import METRICS, simulate
from rescity.engine.service import cell_positions
from rescity.errors import InputError
from rescity.fragility.library import load_library
from rescity.twin.toy import toy_twin


@pytest.fixture(scope="module")
def twin():
    return toy_twin(counties=3, cells_per_county=3, feeders_per_cell=3, base_stations_per_cell=2)


@pytest.fixture(scope="module")
def lib():
    return load_library()


def same(a, b):
    for m in METRICS:
        assert np.array_equal(getattr(a, m), getattr(b, m)), m
    for s in a.damaged_share:
        assert np.array_equal(a.damaged_share[s], b.damaged_share[s], equal_nan=True), s
    assert a.driver.equals(b.driver)


def test_identical_for_any_chunk_size_and_workers(twin, lib):
    ai, ci = fields(twin)
    r = 14
    ref = simulate(twin, ai, ci, r, seed=7, chunk_size=r, library=lib)
    for size in (1, 7):
        same(simulate(twin, ai, ci, r, seed=7, chunk_size=size, library=lib), ref)
    same(simulate(twin, ai, ci, r, seed=7, chunk_size=3, workers=2, library=lib), ref)
    # a different seed gives different draws
    other = simulate(twin, ai, ci, r, seed=8, chunk_size=r, library=lib)
    assert not np.array_equal(other.no_power, ref.no_power)


def test_per_realisation_fields_equal_to_a_fixed_field(twin, lib):
    ai, ci = fields(twin)
    r = 6
    fixed = simulate(twin, ai, ci, r, seed=1, library=lib)
    rep = {k: np.tile(v, (r, 1)) for k, v in ai.items()}
    crep = {k: np.tile(v, (r, 1)) for k, v in ci.items()}
    same(simulate(twin, rep, crep, r, seed=1, chunk_size=4, library=lib), fixed)


def test_outputs_shapes_totals_and_summary(twin, lib):
    ai, ci = fields(twin)
    r = 20
    calls = []
    res = simulate(twin, ai, ci, r, seed=3, library=lib, progress=lambda d, t: calls.append((d, t)))
    n_u = twin.n_units
    for m in METRICS:
        a = getattr(res, m)
        assert a.shape == (r, n_u) and a.dtype == np.float32
        assert np.all(a >= 0)
    assert calls[-1] == (r, r) and all(t == r for _, t in calls)
    lv = twin.units["level"].to_numpy()
    pop = twin.units["population"].to_numpy()
    # province total = sum of the cells, for every metric; nobody counted twice
    for m in METRICS:
        a = getattr(res, m)
        assert np.allclose(a[:, lv == "province"][:, 0], a[:, lv == "cell"].sum(axis=1), rtol=1e-5)
    for m in ("no_power", "no_water", "no_telecom", "no_road", "affected"):
        assert np.all(getattr(res, m) <= pop + 1e-3)
    # affected is at least each of its parts' population share and at most their union
    assert np.all(res.affected + 1e-2 >= np.maximum(res.no_power, res.no_water))
    assert res.hazards == ("wind", "flood")
    assert set(res.driver.columns) == {"wind", "flood", "main"}
    s = res.summary()
    assert len(s) == n_u
    for col in ("no_power_mean", "no_power_p05", "no_power_p95", "affected_mean", "damaged_share_power_mean"):
        assert col in s.columns
    assert np.all(s["no_power_p05"] <= s["no_power_mean"] + 1e-6)
    assert np.all(s["no_power_mean"] <= s["no_power_p95"] + 1e-6)
    assert np.allclose(s["affected_mean"], res.affected.mean(axis=0), rtol=1e-6)
    assert "affected_p50" in res.summary(q=(0.5,)).columns


def test_calm_weather_no_damage(twin, lib):
    n_c = len(cell_positions(twin))
    res = simulate(twin, {"gust_ms": np.zeros(twin.n_assets)}, {"gust_ms": np.zeros(n_c)}, 5, 0, library=lib)
    for m in METRICS:
        assert np.all(getattr(res, m) == 0)
    assert (res.driver["main"] == "").all()
    assert res.hazards == ("wind",)


def test_storm_much_stronger_than_every_median_knocks_out_power(twin, lib):
    n_c = len(cell_positions(twin))
    res = simulate(
        twin, {"gust_ms": np.full(twin.n_assets, 500.0)}, {"gust_ms": np.full(n_c, 500.0)}, 3, 0, library=lib
    )
    cells = twin.units["level"].to_numpy() == "cell"
    pop = twin.units["population"].to_numpy()[cells]
    assert np.allclose(res.no_power[:, cells], pop)  # every power asset fails
    assert np.allclose(res.affected[:, cells], pop)
    assert (res.driver["main"] == "wind").all()


def test_input_errors(twin, lib):
    ai, ci = fields(twin)
    with pytest.raises(InputError, match="measure"):
        simulate(twin, {"gust_mph": ai["gust_ms"]}, ci, 2, 0, library=lib)
    with pytest.raises(InputError, match="shape"):
        simulate(twin, {"gust_ms": ai["gust_ms"][:-1]}, ci, 2, 0, library=lib)
    with pytest.raises(InputError, match="rows"):
        simulate(twin, {"gust_ms": np.tile(ai["gust_ms"], (3, 1))}, ci, 2, 0, library=lib)
    with pytest.raises(InputError, match="realisations"):
        simulate(twin, ai, ci, 0, 0, library=lib)
    with pytest.raises(InputError, match="n_cells"):
        simulate(twin, ai, {"gust_ms": np.zeros(4)}, 2, 0, library=lib)
