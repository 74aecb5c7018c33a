"""Cascade fixed point on hand-built twins with known answers, and against a plain reference."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from _engine_twins import hand_twin, random_twin
from rescity.engine.cascade import build_cascade_model, functional
from rescity.engine.service import build_service_model, people_without
from rescity.errors import InputError
from rescity.twin.toy import toy_twin


def lifeline(pump_buffer_h=0.0, second_feed=False):
    """plant → line → sub_a → feeder → transformer (power to the cell);
    works → main → pump → node (water to the cell); pump ← sub_a (and ← sub_b)."""
    assets = [
        ("plant", "power", "power_plant", None, True),
        ("line", "power", "line_110kv", None, False),
        ("sub_a", "power", "substation_110kv", 0, False),
        ("feeder", "power", "feeder_10kv", 0, False),
        ("trafo", "power", "distribution_transformer", 0, False),
        ("sub_b", "power", "substation_110kv", 0, False),
        ("line_b", "power", "line_110kv", None, False),
        ("works", "water", "treatment_plant", None, True),
        ("main", "water", "trunk_main", 0, False),
        ("pump", "water", "pump_station", 0, False),
        ("node", "water", "distribution_node", 0, False),
    ]
    edges = [
        ("power", "plant", "line"),
        ("power", "line", "sub_a"),
        ("power", "sub_a", "feeder"),
        ("power", "feeder", "trafo"),
        ("power", "plant", "line_b"),
        ("power", "line_b", "sub_b"),
        ("water", "works", "main"),
        ("water", "main", "pump"),
        ("water", "pump", "node"),
    ]
    deps = [("pump", "sub_a", "power", pump_buffer_h)]
    if second_feed:
        deps.append(("pump", "sub_b", "power", 0.0))
    service = [("trafo", 0, "power", 1000.0), ("node", 0, "water", 1000.0)]
    return hand_twin(assets, edges, deps, service, cells=(1000,))


def run(twin, pos, damaged, horizon_h=12.0, ds=2, thresholds=None):
    states = np.zeros((1, twin.n_assets), np.int8)
    for name in damaged:
        states[0, pos[name]] = ds
    m = build_cascade_model(twin, horizon_h, thresholds)
    f = functional(m, states)
    svc = people_without(build_service_model(twin), f)
    cell = 3
    return f[0], svc["power"][0, cell], svc["water"][0, cell]


def test_substation_loss_de_energises_the_pump_and_water_fails():
    twin, pos = lifeline()
    f, no_power, no_water = run(twin, pos, ["sub_a"])
    assert not f[pos["sub_a"]] and not f[pos["feeder"]] and not f[pos["trafo"]]
    assert not f[pos["pump"]]  # dependency not met
    assert not f[pos["node"]]  # water cannot reach it through the pump
    assert f[pos["works"]] and f[pos["main"]] and f[pos["sub_b"]]
    assert (no_power, no_water) == (1000.0, 1000.0)


def test_nothing_damaged_everything_works():
    twin, pos = lifeline()
    f, no_power, no_water = run(twin, pos, [])
    assert f.all() and no_power == 0 and no_water == 0


def test_buffer_at_least_the_horizon_keeps_the_pump_running():
    twin, pos = lifeline(pump_buffer_h=12.0)
    f, no_power, no_water = run(twin, pos, ["sub_a"], horizon_h=12.0)
    assert f[pos["pump"]] and f[pos["node"]]
    assert (no_power, no_water) == (1000.0, 0.0)
    # a buffer shorter than the horizon does not
    twin, pos = lifeline(pump_buffer_h=6.0)
    _, _, no_water = run(twin, pos, ["sub_a"], horizon_h=12.0)
    assert no_water == 1000.0
    _, _, no_water = run(twin, pos, ["sub_a"], horizon_h=4.0)
    assert no_water == 0.0


def test_redundant_feed_keeps_the_pump():
    twin, pos = lifeline(second_feed=True)
    f, no_power, no_water = run(twin, pos, ["sub_a"])
    assert f[pos["pump"]] and no_water == 0.0 and no_power == 1000.0
    f, _, no_water = run(twin, pos, ["sub_a", "sub_b"])
    assert not f[pos["pump"]] and no_water == 1000.0


def test_upstream_damage_propagates_through_the_network():
    twin, pos = lifeline(second_feed=True)
    f, no_power, no_water = run(twin, pos, ["plant"])  # the only power source
    assert not f[[pos[k] for k in ("line", "sub_a", "sub_b", "trafo", "pump", "node")]].any()
    assert (no_power, no_water) == (1000.0, 1000.0)


def test_functionality_threshold_per_kind():
    twin, pos = lifeline()
    f, _, _ = run(twin, pos, ["sub_a"], ds=1)  # slight damage: still in service by default
    assert f[pos["sub_a"]] and f[pos["pump"]]
    f, _, no_water = run(twin, pos, ["sub_a"], ds=1, thresholds={"substation_110kv": 1})
    assert not f[pos["sub_a"]] and no_water == 1000.0
    with pytest.raises(InputError):
        build_cascade_model(twin, thresholds={"substation_110kv": 7})
    with pytest.raises(InputError):
        build_cascade_model(twin, thresholds={"warp_core": 2})


def roads(with_bypass=False):
    assets = [
        ("hub", "road", "road_hub", None, True),
        ("road1", "road", "local_road", 0, False),
        ("bridge", "road", "bridge", 0, False),
        ("node1", "road", "road_node", 0, False),
        ("road2", "road", "local_road", 1, False),
        ("node2", "road", "road_node", 1, False),
        ("bypass", "road", "local_road", 0, False),
    ]
    edges = [
        ("road", "hub", "road1"),
        ("road", "road1", "bridge"),
        ("road", "bridge", "node1"),
        ("road", "node1", "road2"),
        ("road", "road2", "node2"),
    ]
    if with_bypass:
        edges += [("road", "hub", "bypass"), ("road", "bypass", "node1")]
    service = [("node1", 0, "road", 700.0), ("node2", 1, "road", 300.0)]
    return hand_twin(assets, edges, (), service, cells=(700, 300))


def test_roads_cut_by_a_bridge():
    twin, pos = roads()
    states = np.zeros((1, twin.n_assets), np.int8)
    states[0, pos["bridge"]] = 3
    f = functional(build_cascade_model(twin), states)[0]
    assert f[pos["hub"]] and f[pos["road1"]]
    assert not f[pos["node1"]] and not f[pos["node2"]]  # both cells cut off behind the bridge
    no_road = people_without(build_service_model(twin), f[None])["road"][0]
    assert no_road[3] == 700 and no_road[4] == 300 and no_road[2] == 0  # cell rows; county row untouched
    twin, pos = roads(with_bypass=True)
    f = functional(build_cascade_model(twin), states)[0]
    assert f[pos["node1"]] and f[pos["node2"]]


def test_mutual_dependency_is_the_greatest_fixed_point():
    """Substation control ← telecom node ← substation power: both intact → both work."""
    assets = [
        ("plant", "power", "power_plant", None, True),
        ("sub", "power", "substation_220kv", None, False),
        ("core", "telecom", "core_node", None, True),
        ("agg", "telecom", "aggregation_node", None, False),
    ]
    edges = [("power", "plant", "sub"), ("telecom", "core", "agg")]
    deps = [("sub", "agg", "telecom", 0.0), ("agg", "sub", "power", 0.0)]
    twin, pos = hand_twin(assets, edges, deps, ())
    m = build_cascade_model(twin)
    states = np.zeros((3, 4), np.int8)
    states[1, pos["agg"]] = 2
    states[2, pos["plant"]] = 2
    f = functional(m, states)
    assert f[0].all()
    assert not f[1, pos["sub"]] and not f[1, pos["agg"]]  # each takes the other down
    assert not f[2, pos["sub"]] and not f[2, pos["agg"]]


def test_bad_dependency_kind_is_rejected():
    assets = [("plant", "power", "power_plant", None, True), ("pump", "water", "pump_station", 0, False)]
    twin, _ = hand_twin(assets, [], [("pump", "plant", "water", 0.0)], ())
    with pytest.raises(InputError, match="supplier's system"):
        build_cascade_model(twin)


# --- against a plain reference implementation --------------------------------------------------
def reference(twin, states, horizon_h=12.0):
    """One realisation: BFS per system, dependencies row by row, iterate to the fixed point."""
    n = twin.n_assets
    sysof = twin.assets["system"].tolist()
    src = twin.assets["is_source"].tolist()
    adj = {i: [] for i in range(n)}
    for a, b in twin.edges[["src", "dst"]].itertuples(index=False):
        adj[a].append(b)
        adj[b].append(a)
    deps = {}
    for d, s, k, h in twin.dependencies[["dependent", "supplier", "kind", "buffer_h"]].itertuples(
        index=False
    ):
        deps.setdefault(d, {}).setdefault(k, []).append((s, h))
    intact = [states[i] < 2 for i in range(n)]
    f = list(intact)
    while True:
        usable = []
        for i in range(n):
            ok = intact[i]
            for _k, rows in deps.get(i, {}).items():
                ok = ok and any(h >= horizon_h or f[s] for s, h in rows)
            usable.append(ok)
        new = list(usable)
        for system in ("power", "water", "telecom", "road"):
            seen = set()
            q = deque(i for i in range(n) if sysof[i] == system and src[i] and usable[i])
            seen.update(q)
            while q:
                i = q.popleft()
                for j in adj[i]:
                    if j not in seen and usable[j]:
                        seen.add(j)
                        q.append(j)
            for i in range(n):
                if sysof[i] == system:
                    new[i] = usable[i] and i in seen
        if new == f:
            return np.array(f)
        f = new


def test_batched_fixed_point_matches_the_reference_on_the_toy_twin():
    twin = toy_twin(counties=3, cells_per_county=3, feeders_per_cell=2, base_stations_per_cell=2)
    rng = np.random.default_rng(4)
    b = 12
    states = np.where(
        rng.random((b, twin.n_assets)) < 0.12, rng.integers(1, 5, (b, twin.n_assets)), 0
    ).astype(np.int8)
    m = build_cascade_model(twin)
    f, iterations = functional(m, states, return_iterations=True)
    for r in range(b):
        assert np.array_equal(f[r], reference(twin, states[r])), f"realisation {r}"
    # one realisation at a time gives the same answer as the batch
    assert np.array_equal(np.stack([functional(m, states[r]) for r in range(b)]), f)
    assert iterations >= 2


@pytest.mark.parametrize("seed", range(12))
def test_random_twins_match_the_reference(seed):
    """Networks with cycles, several or no sources, islands and buffered dependencies: the
    batched fixed point equals the plain reference realisation by realisation."""
    rng = np.random.default_rng(seed)
    twin, _ = random_twin(rng)
    m = build_cascade_model(twin)
    b = 16
    share = rng.uniform(0.05, 0.5, (b, 1))  # light to heavy damage
    states = np.where(rng.random((b, twin.n_assets)) < share, rng.integers(1, 5, (b, twin.n_assets)), 0)
    states = states.astype(np.int8)
    states[0] = 0  # intact: the islands without a source still fail
    f = functional(m, states)
    for r in range(b):
        assert np.array_equal(f[r], reference(twin, states[r])), f"realisation {r}"
    assert np.array_equal(functional(m, states[3]), f[3])


def test_forest_numbers_every_reachable_node_once_and_subtrees_are_ranges():
    twin, _ = random_twin(np.random.default_rng(5), size=30)
    for g in build_cascade_model(twin).graphs:
        fo = g.forest
        assert sorted(fo.order.tolist()) == np.flatnonzero(g.intact_reach).tolist()
        assert np.all(fo.end > np.arange(fo.k)) and np.all(fo.end <= fo.k)
        # the parent of every node of a subtree range lies in the range or is its root's parent:
        # ranges nest or are disjoint
        for p in range(fo.k):
            inner = fo.end[p : fo.end[p]]
            assert np.all(inner <= fo.end[p])
