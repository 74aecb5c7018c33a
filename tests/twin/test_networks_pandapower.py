"""pandapower nets in and out of the twin; unsupplied buses cross-checked with pandapower itself."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

pp = pytest.importorskip("pandapower")
pn = pytest.importorskip("pandapower.networks")
top = pytest.importorskip("pandapower.topology")

from rescity.engine.cascade import build_cascade_model, functional  # noqa: E402
from rescity.engine.physics import PhysicsError, compare, power_flow  # noqa: E402
from rescity.twin.io import load, save  # noqa: E402
from rescity.twin.pandapower_io import element_of, import_pandapower, to_pandapower  # noqa: E402
from rescity.twin.validate import validate  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture(scope="module")
def oberrhein():
    net = pn.mv_oberrhein()
    return net, import_pandapower(net)


def twin_unsupplied(twin, out_ids):
    model = build_cascade_model(twin, 12.0)
    el, idx = element_of(twin.assets["asset_id"].to_numpy())
    states = np.isin(twin.assets["asset_id"].to_numpy(), list(out_ids)).astype(np.int8) * 4
    f = functional(model, states)
    return set(idx[(el == "bus") & ~f].tolist())


def test_import_keeps_topology_coordinates_and_load(oberrhein):
    net, twin = oberrhein
    assert not [p for p in validate(twin) if p.severity == "error"]
    a = twin.assets
    assert (a["kind"] == "bus").sum() == len(net.bus)
    assert a["asset_id"].str.startswith("line:").sum() == len(net.line)
    assert set(a.loc[a["is_source"], "asset_id"]) == {f"bus:{b}" for b in net.ext_grid["bus"]}
    # real coordinates (Oberrhein, south-west Germany)
    assert a["lon"].between(7.5, 8.5).all() and a["lat"].between(48.2, 48.8).all()
    people = twin.service["people"].sum()
    assert people == pytest.approx(net.load["p_mw"].sum() * 1300, rel=1e-3)


@pytest.mark.parametrize("seed", range(6))
def test_unsupplied_buses_equal_pandapower_topology(oberrhein, seed):
    net, twin = oberrhein
    rng = np.random.default_rng(seed)
    lines = rng.choice(net.line.index, 6 + 2 * seed, replace=False)
    n2 = copy.deepcopy(net)
    n2.line.loc[lines, "in_service"] = False
    if seed % 2:  # a transformer too
        n2.trafo.loc[n2.trafo.index[0], "in_service"] = False
    expect = top.unsupplied_buses(n2)
    out = {f"line:{i}" for i in lines} | ({f"trafo:{net.trafo.index[0]}"} if seed % 2 else set())
    assert twin_unsupplied(twin, out) == expect


def test_export_round_trip(oberrhein, tmp_path):
    net, twin = oberrhein
    save(twin, tmp_path / "t")
    back = load(tmp_path / "t")
    lines = net.line.index[:10]
    n2 = to_pandapower(back, out=back.assets["asset_id"].isin([f"line:{i}" for i in lines]).to_numpy())
    assert (~n2.line.loc[lines, "in_service"]).all() and n2.line["in_service"].sum() == len(net.line) - 10
    again = import_pandapower(n2)
    assert len(again.assets) == len(twin.assets)
    pos = np.flatnonzero(twin.assets["asset_id"].isin([f"line:{i}" for i in lines]).to_numpy())
    touching = twin.edges["src"].isin(pos) | twin.edges["dst"].isin(pos)
    assert len(again.edges) == len(twin.edges) - int(touching.sum())  # lines out of service lose their edges
    assert top.unsupplied_buses(n2) == twin_unsupplied(twin, {f"line:{i}" for i in lines})


def test_topological_export_of_a_synthetic_twin():
    from rescity.twin.toy import toy_twin

    twin = toy_twin()
    net = to_pandapower(twin)
    assert len(net.ext_grid) == int((twin.assets["is_source"] & (twin.assets["system"] == "power")).sum())
    assert len(top.unsupplied_buses(net)) == 0  # everything reaches the plant


def test_power_flow_agrees_with_topology_and_guards_islanding(oberrhein):
    net, twin = oberrhein
    n = twin.n_assets
    r = power_flow(twin, np.zeros(n, np.int8))
    c = compare(r)
    assert c["both_served"] == len(net.bus) and c["topology_only"] == c["physics_only"] == 0
    rng = np.random.default_rng(1)
    lines = rng.choice(net.line.index, 8, replace=False)
    states = twin.assets["asset_id"].isin([f"line:{i}" for i in lines]).to_numpy().astype(np.int8) * 4
    r = power_flow(twin, states)
    # a bus cut off in the graph gets no voltage in the power flow
    assert not r.loc[~r["topological"], "physical"].any()
    assert compare(r)["both_out"] == (~r["topological"]).sum() > 0
    # both external grids' buses out: islanded, one clear error
    slack = twin.assets["asset_id"].isin([f"bus:{b}" for b in net.ext_grid["bus"]]).to_numpy()
    with pytest.raises(PhysicsError, match="external grid"):
        power_flow(twin, slack.astype(np.int8) * 4)


def test_network_cli_import_and_export(tmp_path):
    import os
    import subprocess
    import sys

    def rescity(*args):
        return subprocess.run(
            [sys.executable, "-m", "rescity", *args],
            capture_output=True,
            text=True,
            env={**os.environ},
            timeout=300,
        )

    p = rescity("network", "import", "--pandapower", "mv_oberrhein", "--out", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr[-2000:]
    p = rescity(
        "network",
        "export",
        str(tmp_path / "o" / "twin"),
        "--format",
        "pandapower",
        "--out",
        str(tmp_path / "n.json"),
    )
    assert p.returncode == 0, p.stderr[-2000:]
    net = pp.from_json(str(tmp_path / "n.json"))
    assert len(net.bus) == 179 and len(net.line) == 181
