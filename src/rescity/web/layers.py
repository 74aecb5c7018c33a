"""Dashboard layers from stored results: values per unit, Q(t) curves, decisions on the map.

Forecasts
    A forecast run stores the issuance table (``issuances``; columns in
    :data:`rescity.forecast.issuance.COLUMNS`: ``issued, lead_h, unit_id, level, indicator, mean,
    p05, p95, warning …``). :func:`issuance_frames` lists its (issuance, lead) frames for the time
    slider; :func:`issuance_values` picks one frame, indicator and level.
Scenario runs
    A scenario run stores ``units`` (``<quantity>_mean``, ``_p05``, ``_p95`` per unit);
    :func:`run_values` reads one quantity; the warning level is computed with the forecast's
    thresholds (:func:`rescity.forecast.warning.warning_level`) where the quantity has them.
Q(t)
    A run's ``qt`` result (the recovery curve Q(t), the share of service working at time ``t``):
    a table with ``t_h`` and, optionally, ``unit_id`` and ``system``; every other numeric column
    is a curve (e.g. ``q``, ``q_p05``, ``q_p95`` or one per system). :func:`qt_series` returns the
    curves of one unit (or of the whole twin when the table has no ``unit_id``).
Decisions
    A decision's ``body`` becomes map features (:func:`decision_layer`): ``assignments`` (rows
    ``unit_id, shelter_id, people, minutes``) as lines from the unit's centroid to the shelter,
    ``shelters`` (``shelter_id, capacity, assigned``) and ``depots`` (``depot_id, open, capacity_m3,
    volume_m3``) as points, ``flows`` (``depot_id, unit_id, commodity, amount``) as lines.
    :func:`relocation_body` and :func:`preposition_body` make such bodies from the plans of
    :mod:`rescity.decide`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from rescity.errors import InputError

#: Issuance columns the dashboard reads.
ISSUANCE_NEED: tuple[str, ...] = ("issued", "lead_h", "unit_id", "level", "indicator", "mean", "warning")
WARNING_NAMES: tuple[str, ...] = ("none", "blue", "yellow", "orange", "red")


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _check_issuances(table: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ISSUANCE_NEED if c not in table.columns]
    if missing:
        raise InputError(
            f"the forecast's issuance table lacks columns {missing}", field="issuances", value=missing
        )
    t = table.copy()
    t["issued"] = pd.to_datetime(t["issued"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    t["lead_h"] = t["lead_h"].astype(int)
    t["unit_id"] = t["unit_id"].astype(str)
    return t


def issuance_frames(table: pd.DataFrame) -> dict[str, Any]:
    """The frames of an issuance table for a time slider, in order of valid time.

    Returns ``{"frames": [{"issued", "lead_h", "valid_to"}], "indicators": [...], "levels":
    [...]}``; ``valid_to`` = issued + lead (the end of the lead window).
    """
    t = _check_issuances(table)
    fr = t[["issued", "lead_h"]].drop_duplicates()
    valid = pd.to_datetime(fr["issued"], utc=True) + pd.to_timedelta(fr["lead_h"], unit="h")
    fr = fr.assign(valid_to=valid.dt.strftime("%Y-%m-%dT%H:%M:%SZ")).sort_values(["valid_to", "issued"])
    inds = list(dict.fromkeys(t["indicator"].astype(str)))
    if "composite" in inds:
        inds.remove("composite")
        inds.insert(0, "composite")
    order = ("province", "prefecture", "county", "cell")
    levels = sorted(set(t["level"].astype(str)), key=lambda x: order.index(x) if x in order else 9)
    return {"frames": fr.to_dict(orient="records"), "indicators": inds, "levels": levels}


def issuance_values(
    table: pd.DataFrame,
    *,
    issued: str | None = None,
    lead_h: int | None = None,
    indicator: str = "composite",
    level: str | None = "county",
) -> dict[str, Any]:
    """Values of one frame and indicator per unit.

    Defaults: the latest issuance, its shortest lead window. Returns ``{"issued", "lead_h",
    "indicator", "level", "values": {unit_id: {"value", "p05", "p95", "warning"}}, "range":
    [min, max]}``; ``warning`` is the colour name (``none`` … ``red``).
    """
    t = _check_issuances(table)
    if issued is None:
        issued = t["issued"].max()
    else:
        issued = pd.Timestamp(issued)
        issued = (issued.tz_localize("UTC") if issued.tzinfo is None else issued.tz_convert("UTC")).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    sub = t[t["issued"] == issued]
    if sub.empty:
        raise InputError("the forecast has no such issuance", field="issued", value=issued)
    leads = sorted(set(sub["lead_h"]))
    lead = leads[0] if lead_h is None else int(lead_h)
    if lead not in leads:
        raise InputError(f"that issuance has lead windows {leads}", field="lead_h", value=lead_h)
    sub = sub[(sub["lead_h"] == lead) & (sub["indicator"] == indicator)]
    if sub.empty:
        raise InputError("the forecast has no such indicator", field="indicator", value=indicator)
    if level is not None:
        sub = sub[sub["level"] == level]
    vals = {}
    for r in sub.itertuples(index=False):
        w = int(r.warning) if _num(r.warning) is not None else 0
        vals[r.unit_id] = {
            "value": _num(r.mean),
            "p05": _num(getattr(r, "p05", None)),
            "p95": _num(getattr(r, "p95", None)),
            "warning": WARNING_NAMES[min(max(w, 0), 4)],
        }
    v = sub["mean"].to_numpy(float)
    rng = [float(np.nanmin(v)), float(np.nanmax(v))] if np.isfinite(v).any() else [0.0, 0.0]
    return {
        "issued": issued,
        "lead_h": lead,
        "indicator": indicator,
        "level": level,
        "values": vals,
        "range": rng,
    }


def run_indicators(units: pd.DataFrame) -> list[str]:
    """Quantities of a scenario ``units`` table (columns ``<name>_mean``), then the hazard summary
    columns the run computed (``wind_max_ms`` …, from :mod:`rescity.hazard.registry`)."""
    from rescity.hazard.registry import summary_columns

    out = [c[: -len("_mean")] for c in units.columns if c.endswith("_mean")]
    for col in summary_columns():
        if col in units.columns and np.isfinite(pd.to_numeric(units[col], errors="coerce")).any():
            out.append(col)
    return out


def run_values(
    units: pd.DataFrame,
    indicator: str,
    level: str | None = "county",
    households: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """One quantity of a scenario run per unit: ``{"indicator", "level", "values", "range"}``
    with the same value objects as :func:`issuance_values` (``warning`` where thresholds exist,
    else ``None``)."""
    from rescity.forecast import warning as wl

    col = f"{indicator}_mean"
    if col not in units.columns and indicator in run_indicators(units):
        col = indicator  # a hazard summary column: one value per unit, no interval
    if col not in units.columns:
        raise InputError(
            f"the run has no quantity {indicator!r}; it has {run_indicators(units)}",
            field="indicator",
            value=indicator,
        )
    u = units if level is None else units[units["level"] == level]
    v = u[col].to_numpy(float)
    warn: np.ndarray | None = None
    if indicator in wl.indicators_with_thresholds():
        pop = u["population"].to_numpy(float) if "population" in u.columns else None
        hh = None
        if households is not None:
            hh = np.array([households.get(str(x), np.nan) for x in u["unit_id"]], float)
        try:
            warn = wl.warning_level(np.nan_to_num(v), indicator, u["level"].to_numpy(object), pop, hh)
        except InputError:
            warn = None
    lo = u[f"{indicator}_p05"].to_numpy(float) if f"{indicator}_p05" in u.columns else np.full(len(u), np.nan)
    hi = u[f"{indicator}_p95"].to_numpy(float) if f"{indicator}_p95" in u.columns else np.full(len(u), np.nan)
    vals = {}
    for i, uid in enumerate(u["unit_id"].astype(str)):
        vals[uid] = {
            "value": _num(v[i]),
            "p05": _num(lo[i]),
            "p95": _num(hi[i]),
            "warning": WARNING_NAMES[int(warn[i])] if warn is not None else None,
        }
    rng = [float(np.nanmin(v)), float(np.nanmax(v))] if np.isfinite(v).any() else [0.0, 0.0]
    return {"indicator": indicator, "level": level, "values": vals, "range": rng}


def qt_series(result: Any, unit_id: str | None = None) -> dict[str, Any]:
    """Q(t) curves of one unit from a run's ``qt`` result (see the module docstring).

    Returns ``{"available": True, "unit_id", "t_h": [...], "series": {name: [...]}}``, or
    ``{"available": False, "reason"}`` when the result has no rows for the unit.
    """
    if isinstance(result, Mapping):
        t = result.get("t_h")
        if t is None:
            return {"available": False, "reason": "the qt result has no t_h"}
        series = {k: [_num(x) for x in v] for k, v in result.items() if k != "t_h" and isinstance(v, list)}
        return {"available": True, "unit_id": None, "t_h": [_num(x) for x in t], "series": series}
    if not isinstance(result, pd.DataFrame) or "t_h" not in result.columns:
        return {"available": False, "reason": "the qt result is not a table with a t_h column"}
    df = result
    uid = None
    if "unit_id" in df.columns:
        ids = df["unit_id"].astype(str)
        if unit_id is None:
            return {"available": False, "reason": "choose a unit"}
        df = df[ids == str(unit_id)]
        uid = str(unit_id)
        if df.empty:
            return {"available": False, "reason": f"no recovery results for unit {unit_id}"}
    value_cols = [
        c
        for c in df.columns
        if c not in ("t_h", "unit_id", "system") and pd.api.types.is_numeric_dtype(df[c])
    ]
    series: dict[str, list] = {}
    if "system" in df.columns:
        times = sorted(set(df["t_h"].astype(float)))
        for system, g in df.groupby("system", sort=True):
            g = g.set_index(g["t_h"].astype(float)).reindex(times)
            for c in value_cols:
                name = str(system) if len(value_cols) == 1 else f"{system}:{c}"
                series[name] = [_num(x) for x in g[c]]
    else:
        df = df.sort_values("t_h")
        times = df["t_h"].astype(float).tolist()
        for c in value_cols:
            series[str(c)] = [_num(x) for x in df[c]]
    return {"available": True, "unit_id": uid, "t_h": [_num(x) for x in times], "series": series}


def _line(a: tuple[float, float], b: tuple[float, float]) -> dict[str, Any]:
    return {
        "type": "LineString",
        "coordinates": [[round(a[0], 5), round(a[1], 5)], [round(b[0], 5), round(b[1], 5)]],
    }


def _point(a: tuple[float, float]) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(a[0], 5), round(a[1], 5)]}


def decision_layer(
    body: Mapping[str, Any],
    unit_xy: Mapping[str, tuple[float, float]],
    asset_xy: Mapping[str, tuple[float, float]],
    asset_unit: Mapping[str, str],
    *,
    exact_assets: bool = True,
) -> dict[str, Any]:
    """A decision's body as a GeoJSON FeatureCollection (see the module docstring).

    Parameters
    ----------
    unit_xy, asset_xy:
        Centroid of each unit and position of each asset, ``(lon, lat)``.
    asset_unit:
        ``asset_id -> unit_id``.
    exact_assets:
        False places shelters and depots at their unit's centroid (``approx``: true), for users
        who may not see facility positions.

    Rows whose unit or asset is unknown are counted in ``skipped``.
    """
    feats: list[dict[str, Any]] = []
    skipped = 0

    def where(asset_id: str) -> tuple[tuple[float, float] | None, bool]:
        if exact_assets and asset_id in asset_xy:
            return asset_xy[asset_id], False
        u = asset_unit.get(asset_id)
        return (unit_xy.get(u) if u else None), True

    for r in body.get("assignments") or []:
        a = unit_xy.get(str(r.get("unit_id")))
        b, approx = where(str(r.get("shelter_id")))
        if a is None or b is None:
            skipped += 1
            continue
        feats.append(
            {
                "type": "Feature",
                "geometry": _line(a, b),
                "properties": {
                    "layer": "assignment",
                    "unit_id": str(r.get("unit_id")),
                    "shelter_id": str(r.get("shelter_id")),
                    "people": _num(r.get("people")),
                    "minutes": _num(r.get("minutes")),
                    "approx": approx,
                },
            }
        )
    shelters = list(body.get("shelters") or [])
    if not shelters and body.get("assignments"):
        load: dict[str, float] = {}
        for r in body["assignments"]:
            load[str(r.get("shelter_id"))] = load.get(str(r.get("shelter_id")), 0.0) + (
                _num(r.get("people")) or 0
            )
        shelters = [{"shelter_id": k, "assigned": v} for k, v in load.items()]
    for r in shelters:
        sid = str(r.get("shelter_id"))
        if not (_num(r.get("assigned")) or 0) > 0:
            continue  # only shelters in use are drawn
        b, approx = where(sid)
        if b is None:
            skipped += 1
            continue
        feats.append(
            {
                "type": "Feature",
                "geometry": _point(b),
                "properties": {
                    "layer": "shelter",
                    "shelter_id": sid,
                    "capacity": _num(r.get("capacity")),
                    "assigned": _num(r.get("assigned")),
                    "approx": approx,
                },
            }
        )
    for r in body.get("depots") or []:
        did = str(r.get("depot_id"))
        if not bool(r.get("open", True)):
            continue
        b, approx = where(did)
        if b is None:
            skipped += 1
            continue
        feats.append(
            {
                "type": "Feature",
                "geometry": _point(b),
                "properties": {
                    "layer": "depot",
                    "depot_id": did,
                    "capacity_m3": _num(r.get("capacity_m3")),
                    "volume_m3": _num(r.get("volume_m3")),
                    "approx": approx,
                },
            }
        )
    for r in body.get("flows") or []:
        a, approx = where(str(r.get("depot_id")))
        b = unit_xy.get(str(r.get("unit_id")))
        if a is None or b is None:
            skipped += 1
            continue
        feats.append(
            {
                "type": "Feature",
                "geometry": _line(a, b),
                "properties": {
                    "layer": "flow",
                    "depot_id": str(r.get("depot_id")),
                    "unit_id": str(r.get("unit_id")),
                    "commodity": str(r.get("commodity", "")),
                    "amount": _num(r.get("amount")),
                    "approx": approx,
                },
            }
        )
    return {"type": "FeatureCollection", "features": feats, "skipped": skipped}


def layer_kinds(body: Mapping[str, Any]) -> list[str]:
    """Which map layers a decision body holds: ``shelters`` and/or ``depots``."""
    out = []
    if body.get("assignments") or body.get("shelters"):
        out.append("shelters")
    if body.get("depots") or body.get("flows"):
        out.append("depots")
    return out


def _records(df: pd.DataFrame, cols: list[str]) -> list[dict[str, Any]]:
    from rescity.store.base import clean

    return clean(df[[c for c in cols if c in df.columns]].to_dict(orient="records"))


def relocation_body(plan) -> dict[str, Any]:
    """A decision body (``kind`` "relocation") from a :class:`rescity.decide.relocate.RelocationPlan`."""
    return {
        "assignments": _records(plan.assignments, ["unit_id", "shelter_id", "people", "minutes"]),
        "shelters": _records(
            plan.shelters[plan.shelters["assigned"] > 0],
            ["shelter_id", "unit_id", "capacity", "assigned", "utilisation"],
        ),
        "summary": dict(plan.summary),
    }


def preposition_body(plan) -> dict[str, Any]:
    """A decision body (``kind`` "preposition") from a :class:`rescity.decide.preposition.PrepositionPlan`."""
    dep = plan.depots[plan.depots["open"]]
    return {
        "depots": _records(dep, list(dep.columns)),
        "flows": _records(plan.flows, ["depot_id", "unit_id", "commodity", "amount", "minutes"]),
        "summary": dict(plan.summary),
    }
