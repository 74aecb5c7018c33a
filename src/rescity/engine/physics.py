"""Optional physics tier: AC power flow and pressure-driven hydraulics on chosen realisations.

The engine's service model is topological: a terminal is served when it reaches a source through
usable assets. With the ``networks`` extra installed, a realisation can be checked physically on
networks imported from pandapower or EPANET (:mod:`rescity.twin.pandapower_io`,
:mod:`rescity.twin.epanet_io`):

:func:`power_flow`
    The realisation's damaged elements out of service, an AC power flow (Newton–Raphson,
    ``pandapower.runpp``; ``lightsim2grid`` when installed and asked for). A bus is supplied
    physically when it has a voltage and ``v_min_pu ≤ vm_pu ≤ v_max_pu``. Islanded buses get no
    voltage from pandapower; a network left without any in-service external grid, or a power
    flow that does not converge, raises :class:`PhysicsError` with the reason.
:func:`hydraulics`
    The damaged links closed, WNTR's pressure-driven demand simulation (``WNTRSimulator``,
    ``demand_model = "PDD"``, Wagner et al. 1988 pressure–demand relation) for ``duration_h``
    hours. A junction with demand is supplied physically when it receives at least
    ``served_share`` of its demand at every reported step.
:func:`compare`
    Topological and physical results side by side, the assets where they differ flagged.

Where the two differ, the physics is the better guide: a bus can be connected and still be
under-voltage (overloaded radial feeders), a junction connected and still short of pressure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rescity.engine.cascade import build_cascade_model, functional
from rescity.errors import InputError
from rescity.twin.model import Twin


class PhysicsError(InputError):
    """A physical simulation that cannot be run or did not converge; the message says why."""


def _out_mask(twin: Twin, states: np.ndarray, thresholds=None) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(states)
    if s.shape != (twin.n_assets,):
        raise InputError(
            f"states must be one realisation of {twin.n_assets} assets", field="states", value=s.shape
        )
    model = build_cascade_model(twin, 12.0, thresholds)
    out = s >= model.threshold
    return out, functional(model, s.astype(np.int8))


def power_flow(
    twin: Twin,
    states: np.ndarray,
    *,
    v_min_pu: float = 0.9,
    v_max_pu: float = 1.1,
    lightsim2grid: bool = False,
    thresholds=None,
) -> pd.DataFrame:
    """Per bus asset: ``asset_id``, ``topological`` (served by the engine), ``vm_pu``,
    ``physical`` (voltage within limits) and ``differs``."""
    from rescity.twin.pandapower_io import _pp, element_of, to_pandapower

    pp = _pp()
    out, f = _out_mask(twin, states, thresholds)
    net = to_pandapower(twin, out)
    if not net.ext_grid["in_service"].astype(bool).any() and not (
        len(net.gen) and (net.gen["in_service"].astype(bool) & net.gen.get("slack", False)).any()
    ):
        raise PhysicsError(
            "no external grid or slack generator is in service: the whole network is islanded",
            field="ext_grid",
        )
    live = set(net.ext_grid.loc[net.ext_grid["in_service"].astype(bool), "bus"])
    dead_slack = [b for b in live if not bool(net.bus.loc[b, "in_service"])]
    if dead_slack and len(dead_slack) == len(live):
        raise PhysicsError(
            "every external grid stands on a bus out of service", field="ext_grid", value=dead_slack
        )
    try:
        pp.runpp(
            net, algorithm="nr", init="auto", max_iteration=30, lightsim2grid=bool(lightsim2grid), numba=False
        )
    except pp.LoadflowNotConverged:
        raise PhysicsError(
            "the AC power flow did not converge (the damaged network may be too weak to carry its load)",
            field="runpp",
        ) from None
    el, idx = element_of(twin.assets["asset_id"].to_numpy())
    bus = np.flatnonzero(el == "bus")
    vm = net.res_bus["vm_pu"].reindex(idx[bus]).to_numpy(float)
    phys = np.isfinite(vm) & (vm >= v_min_pu) & (vm <= v_max_pu)
    topo = f[bus]
    return pd.DataFrame(
        {
            "asset_id": twin.assets["asset_id"].to_numpy()[bus],
            "topological": topo,
            "vm_pu": vm,
            "physical": phys,
            "differs": topo != phys,
        }
    )


def hydraulics(
    twin: Twin,
    states: np.ndarray,
    *,
    duration_h: float = 24.0,
    served_share: float = 0.9,
    required_pressure_m: float = 20.0,
    minimum_pressure_m: float = 0.0,
    thresholds=None,
) -> pd.DataFrame:
    """Per junction with demand: ``asset_id``, ``topological``, ``delivered_share`` (lowest share
    of demand delivered over the run), ``physical`` and ``differs``."""
    from rescity.twin.epanet_io import _wntr, to_epanet

    wntr = _wntr()
    out, f = _out_mask(twin, states, thresholds)
    wn = to_epanet(twin, out)
    wn.options.hydraulic.demand_model = "PDD"
    wn.options.hydraulic.required_pressure = float(required_pressure_m)
    wn.options.hydraulic.minimum_pressure = float(minimum_pressure_m)
    wn.options.time.duration = int(duration_h * 3600)
    try:
        res = wntr.sim.WNTRSimulator(wn).run_sim()
    except Exception as e:  # noqa: BLE001 - WNTR raises solver-specific errors
        raise PhysicsError(f"the pressure-driven simulation failed: {e}", field="WNTRSimulator") from None
    ids = twin.assets["asset_id"].astype(str).to_numpy()
    s = twin.service[twin.service["system"] == "water"]
    term = np.unique(s["terminal"].to_numpy(np.int64))
    names = [i[5:] if i.startswith("node:") else i for i in ids[term]]
    dem = res.node["demand"]
    expected = wntr.metrics.expected_demand(wn)
    share = []
    for n in names:  # one column per junction with demand
        e = expected[n].to_numpy(float) if n in expected else np.zeros(1)
        d = dem[n].to_numpy(float) if n in dem else np.zeros_like(e)
        m = e > 0
        share.append(float(np.min(d[m] / e[m])) if m.any() else 1.0)
    share = np.clip(np.array(share), 0.0, 1.0)
    topo = f[term]
    phys = share >= served_share
    return pd.DataFrame(
        {
            "asset_id": ids[term],
            "topological": topo,
            "delivered_share": share,
            "physical": phys,
            "differs": topo != phys,
        }
    )


def compare(table: pd.DataFrame) -> dict[str, int]:
    """Counts of a :func:`power_flow` / :func:`hydraulics` table: both served, both not, and the
    two kinds of disagreement."""
    t, p = table["topological"].to_numpy(bool), table["physical"].to_numpy(bool)
    return {
        "both_served": int((t & p).sum()),
        "both_out": int((~t & ~p).sum()),
        "topology_only": int((t & ~p).sum()),  # connected, but not enough voltage / pressure
        "physics_only": int((~t & p).sum()),
    }
