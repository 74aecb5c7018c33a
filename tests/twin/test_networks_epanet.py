"""EPANET networks in and out of the twin (via WNTR); cut-off nodes cross-checked with WNTR's graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

wntr = pytest.importorskip("wntr")
nx = pytest.importorskip("networkx")

from rescity.engine.cascade import build_cascade_model, functional  # noqa: E402
from rescity.engine.physics import compare, hydraulics  # noqa: E402
from rescity.errors import InputError  # noqa: E402
from rescity.twin.epanet_io import import_epanet, to_epanet  # noqa: E402
from rescity.twin.validate import validate  # noqa: E402

LIB = Path(wntr.__file__).parent / "library" / "networks"


def cut_off_by_wntr(wn, links) -> set[str]:
    """Nodes of WNTR's own graph not connected to any reservoir or tank once ``links`` are removed."""
    g = nx.MultiGraph(wn.to_graph().to_undirected())
    for ln in links:
        lk = wn.get_link(ln)
        g.remove_edge(lk.start_node_name, lk.end_node_name, key=ln)
    reach = set()
    for s in list(wn.reservoir_name_list) + list(wn.tank_name_list):
        reach |= nx.node_connected_component(g, s)
    return set(wn.node_name_list) - reach


def cut_off_by_twin(twin, links) -> set[str]:
    ids = twin.assets["asset_id"].to_numpy()
    states = np.isin(ids, [f"link:{x}" for x in links]).astype(np.int8) * 4
    f = functional(build_cascade_model(twin, 12.0), states)
    return {i[5:] for i in ids[~f] if i.startswith("node:")}


@pytest.mark.parametrize("name", ["Net1.inp", "Net3.inp", "ky4.inp"])
def test_cut_off_nodes_equal_wntr_graph(name):
    path = LIB / name
    twin = import_epanet(path)
    assert not [p for p in validate(twin) if p.severity == "error"]
    wn = wntr.network.WaterNetworkModel(str(path))
    assert (twin.assets["asset_id"].str.startswith("node:")).sum() == len(wn.node_name_list)
    rng = np.random.default_rng(len(name))
    for k in (3, 8, 20):
        links = list(rng.choice(wn.link_name_list, min(k, len(wn.link_name_list) - 1), replace=False))
        assert cut_off_by_twin(twin, links) == cut_off_by_wntr(wn, links)


def test_demand_becomes_people_and_sources_are_reservoirs_and_tanks():
    path = LIB / "Net1.inp"
    twin = import_epanet(path)
    wn = wntr.network.WaterNetworkModel(str(path))
    demand = sum(
        sum(ts.base_value for ts in wn.get_node(j).demand_timeseries_list) for j in wn.junction_name_list
    )
    assert twin.service["people"].sum() == pytest.approx(demand * 86400 / 0.40, rel=1e-4)
    src = set(twin.assets.loc[twin.assets["is_source"], "asset_id"])
    assert src == {f"node:{n}" for n in list(wn.reservoir_name_list) + list(wn.tank_name_list)}


def test_export_closes_damaged_links():
    twin = import_epanet(LIB / "Net3.inp")
    out = twin.assets["asset_id"].isin(["link:10", "link:20"]).to_numpy()  # pump 10 (with controls), pipe 20
    wn = to_epanet(twin, out)
    assert str(wn.get_link("10").initial_status).lower().endswith("closed")
    assert str(wn.get_link("20").initial_status).lower().endswith("closed")
    for cn in wn.control_name_list:
        assert "10" not in {getattr(a.target()[0], "name", None) for a in wn.get_control(cn).actions()}


def test_pressure_driven_hydraulics_against_topology():
    twin = import_epanet(LIB / "Net1.inp")
    n = twin.n_assets
    h = hydraulics(twin, np.zeros(n, np.int8), duration_h=6)
    assert compare(h)["both_served"] == len(h)
    # close the only pipe out of the reservoir's pump side (pipe 10): nothing can be served
    ids = twin.assets["asset_id"].to_numpy()
    h = hydraulics(twin, (ids == "link:10").astype(np.int8) * 4, duration_h=6)
    cut = ~h["topological"]
    assert not h.loc[cut, "physical"].any()  # cut off in the graph ⇒ no water in the simulation


def test_bad_file_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.inp"
    bad.write_text("[JUNCTIONS]\n 1 x y\n", encoding="utf-8")
    with pytest.raises(InputError, match="bad.inp"):
        import_epanet(bad)


def test_network_cli_physics(tmp_path):
    import os
    import subprocess
    import sys

    import pandas as pd

    def rescity(*args):
        return subprocess.run(
            [sys.executable, "-m", "rescity", *args],
            capture_output=True,
            text=True,
            env={**os.environ},
            timeout=300,
        )

    p = rescity(
        "network",
        "import",
        "--epanet",
        str(LIB / "Net1.inp"),
        "--origin",
        "120.2,30.3",
        "--out",
        str(tmp_path),
    )
    assert p.returncode == 0, p.stderr[-2000:]
    p = rescity(
        "network",
        "physics",
        str(tmp_path / "twin"),
        "-n",
        "2",
        "--outage",
        "0.2",
        "--out",
        str(tmp_path / "ph"),
    )
    assert p.returncode == 0, p.stderr[-2000:]
    t = pd.read_csv(tmp_path / "ph" / "physics.csv")
    assert len(t) == 2 and set(t["system"]) == {"water"}
    ok = t["error"].isna() | (t["error"] == "")
    demand_junctions = len(import_epanet(LIB / "Net1.inp").service)  # 8 of Net1's 9 junctions draw water
    assert (
        t.loc[ok, ["both_served", "both_out", "topology_only", "physics_only"]].sum(axis=1)
        == demand_junctions
    ).all()
