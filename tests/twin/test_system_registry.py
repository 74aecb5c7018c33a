"""The lifeline system registry: a toy extra system (gas) registered once flows through the
cascade, the service model, the ensemble runner, recovery and Q(t), the report tables and the API.

Gas in the toy twin: a city gate (source) at the province; per cell a gas main from the gate and a
pressure regulator after it (the gas terminal of the cell, serving all its people); each regulator
depends on its cell's 110 kV substation with no buffer (electric actuators and telemetry).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rescity.engine.cascade import build_cascade_model, functional
from rescity.engine.runner import simulate
from rescity.engine.service import build_service_model, people_without
from rescity.twin.model import Twin, conform
from rescity.twin.systems import (
    KINDS,
    ServiceOutput,
    System,
    network_systems,
    registered,
    service_outputs,
    service_systems,
    systems,
)
from rescity.twin.toy import toy_twin
from rescity.twin.validate import validate

GAS = System(
    "gas",
    "gas",
    "燃气",
    ("city_gate", "gas_main", "gas_regulator"),
    network=True,
    service=ServiceOutput("no_gas", "without gas", "停气人口"),
    service_rank=4,
    assets_per_crew=20.0,
    label_service="gas",
    color="#e67e22",
)


def gas_twin(base: Twin | None = None) -> tuple[Twin, dict[str, np.ndarray]]:
    """The toy twin plus a gas network; returns the twin and the positions of its gas assets."""
    t = base or toy_twin()
    a = t.assets
    cells = t.units.index[t.units["level"] == "cell"].to_numpy()
    n0 = len(a)
    prov = t.units.loc[t.units["level"] == "province"].iloc[0]
    rows = [
        dict(asset_id="gate-0", system="gas", kind="city_gate", lon=prov["lon"], lat=prov["lat"],
             unit_id=prov["unit_id"], is_source=True, name="city gate")
    ]  # fmt: skip
    mains, regs, s110 = [], [], []
    for c in cells:
        u = t.units.loc[c]
        sub = np.flatnonzero(
            (a["kind"] == "substation_110kv").to_numpy() & (a["unit_id"] == u["unit_id"]).to_numpy()
        )
        s110.append(int(sub[0]))
        mains.append(n0 + len(rows))
        rows.append(dict(asset_id=f"main-{c}", system="gas", kind="gas_main", lon=u["lon"] - 0.002,
                         lat=u["lat"], unit_id=u["unit_id"], length_km=4.0, name=f"gas main {c}"))  # fmt: skip
        regs.append(n0 + len(rows))
        rows.append(dict(asset_id=f"reg-{c}", system="gas", kind="gas_regulator", lon=u["lon"] + 0.002,
                         lat=u["lat"], unit_id=u["unit_id"], name=f"regulator {c}"))  # fmt: skip
    new = pd.DataFrame(rows)
    new["fragility_class"] = ""
    for col, v in (("capacity", 0.0), ("capacity_unit", ""), ("replacement_cost_cny", 1e6),
                   ("backup_h", 0.0), ("length_km", 0.0), ("is_source", False)):  # fmt: skip
        new[col] = [v if pd.isna(x) else x for x in new[col]] if col in new else v
    assets = conform(pd.concat([a, new], ignore_index=True), "assets")
    mains_a, regs_a = np.array(mains), np.array(regs)
    edges = pd.concat(
        [t.edges, pd.DataFrame({"system": "gas", "src": n0, "dst": mains_a}),
         pd.DataFrame({"system": "gas", "src": mains_a, "dst": regs_a})],
        ignore_index=True,
    )  # fmt: skip
    deps = pd.concat(
        [
            t.dependencies,
            pd.DataFrame({"dependent": regs_a, "supplier": s110, "kind": "power", "buffer_h": 0.0}),
        ],
        ignore_index=True,
    )
    pop = t.units["population"].to_numpy(float)[cells]
    serv = pd.concat(
        [t.service, pd.DataFrame({"terminal": regs_a, "unit": cells, "system": "gas", "people": pop})],
        ignore_index=True,
    )
    twin = Twin(
        units=t.units,
        assets=assets,
        edges=conform(edges, "edges"),
        dependencies=conform(deps, "dependencies"),
        service=conform(serv, "service"),
        meta={**t.meta, "name": "toy+gas"},
    )
    return twin, {"cells": cells, "mains": mains_a, "regulators": regs_a, "s110": np.array(s110), "pop": pop}


@pytest.fixture()
def gas():
    with registered(GAS):
        yield


def test_builtin_registry_lists_the_five_systems_and_four_services():
    assert systems() == ("power", "water", "road", "telecom", "facility")
    assert service_systems() == ("power", "water", "telecom", "road")
    assert service_outputs() == ("no_power", "no_water", "no_telecom", "no_road")
    assert network_systems() == ("power", "water", "telecom", "road")
    assert "gas" not in KINDS


def test_gas_twin_is_refused_until_gas_is_registered():
    twin, _ = gas_twin()
    errors = [p for p in validate(twin) if p.severity == "error"]
    assert any(p.field == "system" and p.value == "gas" for p in errors)
    with registered(GAS):
        assert systems()[-1] == "gas" and service_outputs()[-1] == "no_gas"
        assert KINDS["gas"] == GAS.kinds
        assert not [p for p in validate(twin) if p.severity == "error"]
    assert "gas" not in systems() and "gas" not in KINDS


def test_gas_cascade_and_service_follow_power_and_the_gas_network(gas):
    twin, g = gas_twin()
    model = build_cascade_model(twin, 12.0)
    svc = build_service_model(twin)
    states = np.zeros((3, twin.n_assets), np.int8)
    states[1, g["s110"][0]] = 4  # realisation 1: the first cell's 110 kV substation destroyed
    states[2, g["mains"][1]] = 3  # realisation 2: the second cell's gas main broken
    f = functional(model, states)
    assert f[0, g["regulators"]].all()
    assert not f[1, g["regulators"][0]] and f[1, g["regulators"][1:]].all()
    assert not f[2, g["regulators"][1]] and f[2, g["regulators"][[0, 2, 3]]].all()
    lost = people_without(svc, f)["gas"][:, g["cells"]]
    want = np.zeros_like(lost)
    want[1, 0] = g["pop"][0]
    want[2, 1] = g["pop"][1]
    np.testing.assert_allclose(lost, want)
    # gas does not change the other services: the substation loss cuts that cell's power and water
    np.testing.assert_allclose(people_without(svc, f)["water"][1, g["cells"][0]], g["pop"][0])


def _repair_times(tmp: Path) -> str:
    """The packaged repair times plus gas rows (HAZUS-like orders of magnitude, for the test)."""
    from rescity.engine.recovery import REPAIR_TIMES_FILE

    t = pd.read_csv(REPAIR_TIMES_FILE)
    rows = [
        {
            "system": "gas",
            "kind": k,
            "damage_state": ds,
            "mean_days": 0.5 * ds,
            "sd_days": 0.2 * ds,
            "source": "test",
        }
        for k in GAS.kinds
        for ds in (1, 2, 3, 4)
    ]
    p = tmp / "repair_times.csv"
    pd.concat([t, pd.DataFrame(rows)], ignore_index=True).to_csv(p, index=False)
    return str(p)


@pytest.fixture()
def gas_run(gas, tmp_path):
    from rescity.engine.recovery import RecoveryConfig, simulate_recovery

    twin, g = gas_twin()
    gust = np.full(twin.n_assets, 50.0)  # strong enough to fail some poles and substations
    res = simulate(twin, {"gust_ms": gust}, {}, 24, seed=7, keep_states=True, keep_functional=True)
    cfg = RecoveryConfig(horizon_days=30, repair_times=_repair_times(tmp_path), travel=False)
    rec = simulate_recovery(twin, res.states, config=cfg, seed=7, horizon_h=res.horizon_h)
    return twin, g, res, rec


def test_runner_reports_people_without_gas(gas_run):
    twin, g, res, _ = gas_run
    assert res.metric_names[: len(service_outputs())] == service_outputs()
    assert "no_gas" in res.metric_names and res.no_gas.shape == (24, twin.n_units)
    assert (res.states[:, twin.assets["system"] == "gas"] == 0).all()  # no gas fragility curves: undamaged
    f = res.functional
    # gas regulators fail exactly when their substation is out (undamaged mains, no buffer)
    np.testing.assert_array_equal(f[:, g["regulators"]], f[:, g["s110"]])
    want = (~f[:, g["regulators"]]) * g["pop"][None, :]
    np.testing.assert_allclose(res.no_gas[:, g["cells"]], want, rtol=1e-6)
    prov = np.flatnonzero(twin.units["level"] == "province")[0]
    np.testing.assert_allclose(res.no_gas[:, prov], want.sum(axis=1), rtol=1e-5)
    assert res.no_gas.sum() > 0, "the storm should cut some gas regulators"
    s = res.summary()
    assert {"no_gas_mean", "no_gas_p05", "no_gas_p95", "damaged_share_gas_mean"} <= set(s.columns)
    cols = [c for c in s.columns if c.startswith("no_") and c.endswith("_mean")]
    assert cols == [f"{o}_mean" for o in service_outputs()]


def test_recovery_and_qt_carry_gas(gas_run):
    from rescity.metrics.tables import metrics_table, qt_table

    twin, g, res, rec = gas_run
    assert "gas" in rec.systems
    prov = np.flatnonzero(
        rec.units["unit_id"].to_numpy()
        == twin.units.loc[twin.units["level"] == "province", "unit_id"].iloc[0]
    )[0]
    q = rec.qt("gas")[:, prov, :]
    # at t = 0 Q is the served share of the horizon state (quantised to 1/65535)
    total = g["pop"].sum()
    np.testing.assert_allclose(
        q[:, 0], 1 - res.no_gas[:, np.flatnonzero(twin.units["level"] == "province")[0]] / total, atol=2e-5
    )
    assert (q[:, -1] >= q[:, 0]).all() and (q[:, -1] > 0.999).mean() > 0.8
    assert (np.diff(q, axis=1) >= -2e-5).all()  # Q(t) never falls during restoration
    m = metrics_table(rec)
    assert "gas" in set(m["system"])
    qt = qt_table(rec)
    assert "gas" in set(qt["system"])


def test_report_and_api_show_gas(gas_run, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rescity.api import create_app
    from rescity.govern.principal import Principal
    from rescity.metrics.tables import qt_table
    from rescity.report.scenario import level_table
    from rescity.store import open_store

    twin, g, res, rec = gas_run
    units = res.summary()
    table = level_table(units, "county")
    assert "without gas" in table.columns and "without power" in table.columns
    assert list(table.columns).index("without road access") < list(table.columns).index("without gas")

    st = open_store(f"sqlite:///{tmp_path / 'rescity.db'}")
    st.put_twin("toygas", twin)
    st.add_user("admin", "platform", "admin")
    token = st.add_token("admin", label="tests")["token"]
    qt = qt_table(rec).rename(columns={"hour": "t_h", "q_mean": "q"})[["unit_id", "system", "t_h", "q"]]
    actor = Principal("tests", "platform", "admin")
    run = st.create_run("scenario", "toygas", {}, actor=actor)
    st.start_run(run["id"])
    st.finish_run(run["id"], "done", "", {"units": units, "qt": qt}, actor=actor)
    hdr = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(store=st, workers=1)) as client:
        r = client.get(f"/api/v1/runs/{run['id']}/results/units", params={"limit": 500}, headers=hdr)
        assert r.status_code == 200, r.text
        assert "no_gas_mean" in r.json()["columns"]
        r = client.get(
            f"/api/v1/dashboard/runs/{run['id']}/values", params={"indicator": "no_gas"}, headers=hdr
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert "no_gas" in body["indicators"]
        county = units[units["level"] == "county"]
        assert body["values"]
        uid = str(county["unit_id"].iloc[0])
        got = body["values"][uid]
        want = float(county["no_gas_mean"].iloc[0])
        assert got["value"] == pytest.approx(want, rel=1e-5, abs=0.5)
        prov_id = str(twin.units.loc[twin.units["level"] == "province", "unit_id"].iloc[0])
        r = client.get(f"/api/v1/dashboard/runs/{run['id']}/qt", params={"unit_id": prov_id}, headers=hdr)
        assert r.status_code == 200, r.text
        assert "gas" in r.json()["series"]
        r = client.get("/api/v1/dashboard/twins/toygas/assets", params={"system": "gas"}, headers=hdr)
        assert r.status_code == 200, r.text
        r = client.get("/api/v1/dashboard/twins/toygas/assets", params={"system": "steam"}, headers=hdr)
        assert r.status_code == 422
    st.close()
