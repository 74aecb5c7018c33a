"""The cascade in time: τ thresholded at any t equals the cascade run with the assets of T > t
damaged; Q(0) equals the engine's service at the horizon; Q(t) only rises."""

from __future__ import annotations

import numpy as np
import pytest

from _engine_twins import random_twin
from rescity.engine.cascade import build_cascade_model, functional
from rescity.engine.recovery import RecoveryConfig, simulate_recovery
from rescity.engine.restore import FallingRestoration, RestorationSolver, functional_times
from rescity.engine.runner import simulate
from rescity.twin.toy import toy_twin


@pytest.mark.parametrize(
    ("shape", "horizon_h"), [((2, 2, 2, 2), 12.0), ((3, 4, 3, 3), 2.0), ((3, 4, 3, 3), 0.0)]
)
def test_functional_times_equal_the_cascade_at_every_threshold(shape, horizon_h):
    twin = toy_twin(*shape)
    model = build_cascade_model(twin, horizon_h)
    rng = np.random.default_rng(3)
    r, n = 40, twin.n_assets
    t = np.where(rng.random((r, n)) < 0.2, rng.choice([3.0, 7.0, 7.5, 20.0, np.inf], (r, n)), 0.0)
    tau = functional_times(model, t)
    for th in (0.0, 2.9, 3.0, 5.0, 7.0, 7.4, 10.0, 20.0, 1e6):
        f = functional(model, np.where(t > th, 4, 0).astype(np.int8))
        np.testing.assert_array_equal(tau <= th, f)


def test_a_dependent_comes_back_with_its_supplier():
    # toy: pump station ← 110 kV substation with no buffer; repair the substation at 10 h and the
    # pump at 4 h: the pump works from 10 h; the distribution node behind the pump too
    twin = toy_twin()
    a = twin.assets
    model = build_cascade_model(twin, 12.0)
    pump = int(np.flatnonzero(a["kind"] == "pump_station")[0])
    d = twin.dependencies
    sub = int(d.loc[d["dependent"] == pump, "supplier"].iloc[0])
    node = int(twin.edges[(twin.edges["src"] == pump) & (twin.edges["system"] == "water")]["dst"].iloc[0])
    t = np.zeros(twin.n_assets)
    t[pump], t[sub] = 4.0, 10.0
    tau = functional_times(model, t)
    assert tau[pump] == 10.0 and tau[node] == 10.0 and tau[sub] == 10.0


@pytest.fixture(scope="module")
def toy_run():
    twin = toy_twin(3, 4, 3, 3)
    rng = np.random.default_rng(0)
    gust = rng.uniform(35, 65, twin.n_assets)
    cells = twin.units["level"].eq("cell").to_numpy()
    cg = np.where(cells, 50.0, np.nan)
    sim = simulate(twin, {"gust_ms": gust}, {"gust_ms": cg}, 24, 11, keep_states=True, keep_functional=True)
    return twin, sim


def test_q0_is_the_service_at_the_horizon_and_q_only_rises(toy_run):
    twin, sim = toy_run
    rec = simulate_recovery(twin, sim.states, seed=11, functional0=sim.functional)
    prov = int(np.flatnonzero(rec.units["level"] == "province")[0])
    uprov = int(np.flatnonzero(twin.units["level"] == "province")[0])
    pop = twin.units["population"].iloc[uprov]
    for sv, name in (
        ("power", "no_power"),
        ("water", "no_water"),
        ("telecom", "no_telecom"),
        ("road", "no_road"),
    ):
        q = rec.qt(sv)
        np.testing.assert_allclose(q[:, prov, 0], 1 - getattr(sim, name)[:, uprov] / pop, atol=2e-5)
        assert (np.diff(q, axis=2) >= 0).all()
        assert (q >= 0).all() and (q <= 1).all()
    assert sim.states.dtype == np.int8 and sim.states.shape == (24, twin.n_assets)


def test_results_do_not_depend_on_chunks_or_workers(toy_run):
    twin, sim = toy_run
    cfg = RecoveryConfig(policy="random")
    a = simulate_recovery(twin, sim.states, config=cfg, seed=5, chunk_size=24)
    b = simulate_recovery(twin, sim.states, config=cfg, seed=5, chunk_size=5, workers=2)
    c = simulate_recovery(twin, sim.states, config=cfg, seed=6, chunk_size=24)
    for sv in a.q:
        np.testing.assert_array_equal(a.q[sv], b.q[sv])
        np.testing.assert_allclose(a.customer_hours[sv], b.customer_hours[sv])
    assert (a.restore_h != b.restore_h).nnz == 0
    assert (a.restore_h != c.restore_h).nnz > 0  # another seed, other repair durations


def test_keep_states_changes_nothing_else(toy_run):
    twin, sim = toy_run
    rng = np.random.default_rng(0)
    gust = rng.uniform(35, 65, twin.n_assets)
    cg = np.where(twin.units["level"].eq("cell").to_numpy(), 50.0, np.nan)
    plain = simulate(twin, {"gust_ms": gust}, {"gust_ms": cg}, 24, 11)
    assert plain.states is None and plain.functional is None
    for m in ("no_power", "no_water", "affected", "homes_damaged"):
        np.testing.assert_array_equal(getattr(plain, m), getattr(sim, m))
    model = build_cascade_model(twin, 12.0)
    np.testing.assert_array_equal(functional(model, sim.states), sim.functional)


def test_solver_subset_equals_the_full_block():
    twin = toy_twin(3, 4, 3, 3)
    model = build_cascade_model(twin, 2.0)
    rng = np.random.default_rng(0)
    t = np.where(
        rng.random((30, twin.n_assets)) < 0.2, rng.choice([3.0, 7.0, 20.0, np.inf], (30, twin.n_assets)), 0.0
    )
    from rescity.engine.restore import RestorationSolver

    s = RestorationSolver(model, t > 0)
    rows = np.array([1, 5, 6, 20, 29])
    np.testing.assert_array_equal(s.subset(rows).times(t[rows] * 1.5), s.times(t * 1.5)[rows])


@pytest.mark.parametrize("seed", range(8))
def test_falling_restoration_equals_a_fresh_solve(seed):
    """Repairs scheduled layer by layer only lower restoration hours: relaxing from the previous
    answer gives exactly what a new solve gives (road layers of the recovery)."""
    from rescity.engine.cascade import CascadeModel

    rng = np.random.default_rng(seed)
    twin, _ = random_twin(rng, size=25)
    full = build_cascade_model(twin)
    model = CascadeModel(full.n_assets, full.threshold, full.graphs, [], full.horizon_h)
    b = 6
    out = rng.random((b, twin.n_assets)) < 0.3
    solver = RestorationSolver(model, out)
    t = np.where(out, np.inf, 0.0)[:, solver.cols]
    falling = FallingRestoration(solver, t)
    np.testing.assert_array_equal(falling.tau, solver.times_compact(t))
    for _ in range(4):
        rows, cols = np.nonzero(np.isinf(t))
        pick = rng.random(len(rows)) < 0.4
        rows, cols = rows[pick], cols[pick]
        hours = rng.choice([0.0, 2.5, 7.0, 7.0, 30.0], len(rows))
        t[rows, cols] = hours
        falling.lower(rows, cols, hours)
        np.testing.assert_array_equal(falling.tau, solver.times_compact(t))
    assert np.isfinite(falling.tau).any() and np.isinf(t).sum() < out.sum()


def test_nonzero_2d_equals_numpy():
    from rescity.engine.cascade import nonzero_2d

    a = np.random.default_rng(5).random((7, 13)) < 0.3
    for x in (a, a[:, :0], a[:0]):
        r, c = nonzero_2d(x)
        r0, c0 = np.nonzero(x)
        np.testing.assert_array_equal(r, r0)
        np.testing.assert_array_equal(c, c0)


def test_a_second_run_on_the_twin_reuses_its_setup_and_gives_the_same_result():
    twin = toy_twin(2, 3, 2, 2)
    rng = np.random.default_rng(1)
    cells = twin.units["level"].eq("cell").to_numpy()
    sim = simulate(
        twin,
        {"gust_ms": rng.uniform(40, 70, twin.n_assets)},
        {"gust_ms": np.where(cells, 50.0, np.nan)},
        6,
        3,
        keep_states=True,
    )
    a = simulate_recovery(twin, sim.states, seed=3)
    kept = {k[:2] for k in twin.__dict__["_derived"] if isinstance(k, tuple)}
    assert {("recovery", "travel"), ("recovery", "n_minus_1"), ("engine", "cascade")} <= kept
    b = simulate_recovery(twin, sim.states, seed=3)
    for sv in a.q:
        np.testing.assert_array_equal(a.q[sv], b.q[sv])
        np.testing.assert_array_equal(a.customer_hours[sv], b.customer_hours[sv])
    np.testing.assert_array_equal(a.restore_h.toarray(), b.restore_h.toarray())
