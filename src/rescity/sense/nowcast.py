"""Nowcast: who is without service now, from the assets reported down.

The live status of the twin's assets (``down`` from Device messages, the API or operators) is
taken as damage: a down asset is out of service (damage state 4 ≥ every functionality
threshold), everything else intact. The cascade (:func:`rescity.engine.cascade.functional`)
then finds what else stops — cut off from a source of its network, or left without a supplier
whose backup has run out — and the service rows give the people without each service per cell
(:func:`rescity.engine.service.people_without`), summed to counties, prefectures and the province
(:mod:`rescity.engine.aggregate`).

Horizon: a dependency's backup (``buffer_h``: battery, generator, storage) lasts ``buffer_h``
hours from the loss of its supplier. The nowcast evaluates the cascade at ``h`` = hours since the
earliest outage still in force (at least one minute, so that dependants without backup fail
at once): conservative for outages that began later. ``outlook_h`` adds the same picture at a
later horizon ("if nothing is restored").
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rescity.engine.aggregate import Aggregator, aggregate_cells, build_aggregator
from rescity.engine.cascade import CascadeModel, build_cascade_model, functional
from rescity.engine.service import ServiceModel, build_service_model, people_without
from rescity.twin.model import Twin
from rescity.twin.systems import service_systems, systems

#: Smallest horizon, hours: dependants without backup fail at once.
MIN_HORIZON_H: float = 1.0 / 60.0
#: Levels reported per unit (cells are left out: thousands of rows).
REPORT_LEVELS: tuple[str, ...] = ("province", "prefecture", "county")


@dataclass
class NowcastModel:
    """A twin compiled once for repeated nowcasts."""

    twin: Twin
    service: ServiceModel
    agg: Aggregator
    positions: pd.Series  # asset_id → position
    report: np.ndarray  # unit positions reported
    cascades: dict[float, CascadeModel] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def cascade(self, horizon_h: float) -> CascadeModel:
        h = round(float(horizon_h), 4)
        with self.lock:
            m = self.cascades.get(h)
            if m is None:
                if len(self.cascades) > 32:
                    self.cascades.clear()
                m = self.cascades[h] = build_cascade_model(self.twin, horizon_h=h)
        return m


def compile_twin(twin: Twin) -> NowcastModel:
    """Compile the service matrices, aggregator and asset index of ``twin``."""
    lv = twin.units["level"].astype(str).to_numpy()
    return NowcastModel(
        twin=twin,
        service=build_service_model(twin),
        agg=build_aggregator(twin),
        positions=twin.asset_index(),
        report=np.flatnonzero(np.isin(lv, REPORT_LEVELS)),
    )


_CACHE: dict[tuple, NowcastModel] = {}
_CACHE_LOCK = threading.Lock()


def model_for(store: Any, twin: str) -> NowcastModel:
    """The compiled model of a stored twin (remembered until the twin is replaced)."""
    key = (store.url, *store.twin_key(twin)[:2])
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    m = compile_twin(store.get_twin(twin))
    with _CACHE_LOCK:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = m
    return m


def horizon_from(status_times: Sequence[str | None], now_t: float) -> float:
    """Hours from the earliest outage time (ISO text) to ``now_t`` (epoch s), at least one minute."""
    ts = [pd.Timestamp(t).timestamp() for t in status_times if t]
    if not ts:
        return MIN_HORIZON_H
    return max(MIN_HORIZON_H, (now_t - min(ts)) / 3600.0)


def nowcast(
    model: NowcastModel,
    down: Sequence[str],
    horizon_h: float,
    *,
    twin_name: str,
    observed_at: str,
    outlook_h: float | None = 12.0,
) -> dict[str, Any]:
    """People without each service with the assets ``down`` out of service.

    Returns
    -------
    dict
        ``twin``, ``observed_at``, ``horizon_h``, ``down_assets`` (count), ``totals``
        (``no_power`` … people, province-wide; ``outlook`` the same at ``outlook_h``), ``units``
        (one row per province, prefecture and county: ``unit_id``, ``level``, names,
        ``population``, ``no_<service>``), ``assets`` (``down`` ids, ``non_functional`` count
        per system and the ids failed by the cascade, at most 500).
    """
    twin = model.twin
    n = twin.n_assets
    pos = model.positions.reindex(list(down)).dropna().to_numpy(np.int64)
    states = np.zeros(n, np.int8)
    states[pos] = 4

    def run(h: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        f = functional(model.cascade(h), states)
        pw = people_without(model.service, f[None, :])
        return f, {sv: aggregate_cells(model.agg, pw[sv])[0] for sv in service_systems()}

    f, per_unit = run(horizon_h)
    u = twin.units
    cells = model.service.cells
    totals = {f"no_{sv}": float(np.round(per_unit[sv][cells].sum())) for sv in service_systems()}
    if outlook_h is not None and outlook_h > horizon_h:
        _, later = run(outlook_h)
        totals["outlook_h"] = float(outlook_h)
        totals["outlook"] = {f"no_{sv}": float(np.round(later[sv][cells].sum())) for sv in service_systems()}
    rep = model.report
    units = pd.DataFrame(
        {
            "unit_id": u["unit_id"].to_numpy()[rep],
            "level": u["level"].to_numpy()[rep],
            "name_zh": u["name_zh"].to_numpy()[rep],
            "name_en": u["name_en"].to_numpy()[rep],
            "population": model.service.population[rep].round(),
            **{f"no_{sv}": per_unit[sv][rep].round() for sv in service_systems()},
        }
    )
    cascade_only = np.flatnonzero(~f & (states == 0))
    sys_of = twin.assets["system"].astype(str).to_numpy()
    ids = twin.assets["asset_id"].to_numpy()
    return {
        "twin": twin_name,
        "observed_at": observed_at,
        "horizon_h": float(horizon_h),
        "down_assets": int(len(pos)),
        "totals": totals,
        "units": units.to_dict(orient="records"),
        "assets": {
            "down": [str(x) for x in ids[pos][:500]],
            "non_functional": {s: int((~f & (sys_of == s)).sum()) for s in systems()},
            "failed_by_cascade": [str(x) for x in ids[cascade_only][:500]],
            "failed_by_cascade_count": int(len(cascade_only)),
        },
    }


def summary(nc: dict[str, Any], top: int = 10) -> dict[str, Any]:
    """A small message for MQTT: totals and the counties with most people without power."""
    counties = [u for u in nc["units"] if u["level"] == "county"]
    counties.sort(key=lambda r: -(r.get("no_power") or 0))
    return {
        "twin": nc["twin"],
        "id": nc.get("id"),
        "observed_at": nc["observed_at"],
        "horizon_h": nc["horizon_h"],
        "down_assets": nc["down_assets"],
        "totals": nc["totals"],
        "counties": [
            {k: c[k] for k in ("unit_id", "name_zh", "name_en", *(f"no_{s}" for s in service_systems()))}
            for c in counties[:top]
            if any(c[f"no_{s}"] for s in service_systems())
        ],
    }
