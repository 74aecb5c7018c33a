"""Infrastructure indicators computed from a twin and, optionally, simulation results.

Every function returns one value per unit at ``level`` (default county), as a ``pd.Series``
indexed by ``unit_id``; NaN where the unit has nothing to measure (no hospital, no dependent
asset …). :func:`twin_indicators` gathers them into a long value table. Assets are attributed to
the unit at ``level`` that contains their ``unit_id`` (a cell or the unit itself), by walking
``parent_id`` codes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from rescity.assess.indicators import long_table
from rescity.errors import InputError
from rescity.geo import EARTH_RADIUS_KM as EARTH_RADIUS_KM
from rescity.geo import chord_to_km, unit_vectors
from rescity.twin.model import Twin

#: Default road speed for shelter reach (km/h): urban arterial speed.
ROAD_SPEED_KMH = 30.0
#: Ratio of road to straight-line distance (Ballou, Rahardja & Sakai 2002 report 1.2–1.4).
DETOUR_FACTOR = 1.3


def ancestor_at(twin: Twin, unit_ids, level: str = "county") -> np.ndarray:
    """The ``unit_id`` at ``level`` containing each of ``unit_ids`` ("" where none does)."""
    u = twin.units
    parent = pd.Series(u["parent_id"].astype(str).to_numpy(), index=u["unit_id"].astype(str).to_numpy())
    lev = pd.Series(u["level"].to_numpy(), index=u["unit_id"].astype(str).to_numpy())
    cur = pd.Series(np.asarray(unit_ids, dtype=str))
    for _ in range(5):
        here = cur.map(lev)
        up = here.notna() & (here != level)
        if not up.any():
            break
        cur = cur.where(~up, cur.map(parent))
    ok = cur.map(lev) == level
    return np.where(ok, cur, "").astype(object)


def _units_at(twin: Twin, level: str) -> pd.DataFrame:
    u = twin.units[twin.units["level"] == level]
    if u.empty:
        raise InputError(f"the twin has no units at level {level!r}", field="level", value=level)
    return u


def _by_unit(twin: Twin, level: str, keys: np.ndarray, num, den=None) -> pd.Series:
    """Σ num / Σ den (or count) per unit at ``level``; NaN where the denominator is 0."""
    ids = _units_at(twin, level)["unit_id"].astype(str).to_numpy()
    num = pd.Series(np.asarray(num, float)).groupby(keys).sum()
    den = pd.Series(np.ones(len(keys)) if den is None else np.asarray(den, float)).groupby(keys).sum()
    num = num.reindex(ids, fill_value=0.0)
    den = den.reindex(ids, fill_value=0.0)
    return (num / den.where(den > 0)).rename_axis("unit_id")


def _population(twin: Twin, level: str) -> pd.Series:
    u = _units_at(twin, level)
    return pd.Series(u["population"].to_numpy(float), index=u["unit_id"].astype(str).to_numpy()).rename_axis(
        "unit_id"
    )


def redundant_feed_share(twin: Twin, level: str = "county") -> pd.Series:
    """Share of supplied assets with a redundant feed, per unit.

    An asset is *supplied* when it has at least one row in ``dependencies``; it has a redundant
    feed when, for every supply kind it depends on (power, water, telecom), it has at least two
    distinct suppliers (N-1 secure for its supplies, the 双电源 rule of thumb for critical loads).
    """
    d = twin.dependencies
    if d.empty:
        return _by_unit(twin, level, np.array([], dtype=object), [], [])
    n_sup = d.groupby(["dependent", "kind"])["supplier"].nunique()
    redundant = (n_sup >= 2).groupby(level="dependent").all()
    keys = ancestor_at(twin, twin.assets["unit_id"].to_numpy()[redundant.index.to_numpy()], level)
    return _by_unit(twin, level, keys, redundant.to_numpy(float))


def supply_buffer_h(twin: Twin, level: str = "county") -> pd.Series:
    """Mean dependency buffer (hours a dependent keeps working without a supplier), per unit."""
    d = twin.dependencies
    keys = ancestor_at(twin, twin.assets["unit_id"].to_numpy()[d["dependent"].to_numpy()], level)
    return _by_unit(twin, level, keys, d["buffer_h"].to_numpy(float))


def _kind(twin: Twin, kind: str) -> pd.DataFrame:
    return twin.assets[twin.assets["kind"] == kind]


def hospital_backup_h(twin: Twin, level: str = "county") -> pd.Series:
    """Bed-weighted mean backup hours of hospitals, per unit (plain mean where beds are unknown)."""
    h = _kind(twin, "hospital")
    keys = ancestor_at(twin, h["unit_id"].to_numpy(), level)
    beds = h["capacity"].to_numpy(float) * (h["capacity_unit"] == "beds").to_numpy()
    w = np.where(beds > 0, beds, 1.0)
    return _by_unit(twin, level, keys, w * h["backup_h"].to_numpy(float), w)


def hospital_beds_per_1000(twin: Twin, level: str = "county") -> pd.Series:
    """Hospital beds per 1000 residents, per unit (hospitals whose capacity is in ``beds``)."""
    h = _kind(twin, "hospital")
    h = h[h["capacity_unit"] == "beds"]
    keys = ancestor_at(twin, h["unit_id"].to_numpy(), level)
    beds = pd.Series(h["capacity"].to_numpy(float)).groupby(keys).sum()
    pop = _population(twin, level)
    if h.empty:
        return pd.Series(np.nan, index=pop.index)
    beds = beds.reindex(pop.index, fill_value=0.0)
    return 1000.0 * beds / pop.where(pop > 0)


def telecom_backup_h(twin: Twin, level: str = "county") -> pd.Series:
    """Mean backup hours of base stations, per unit."""
    b = _kind(twin, "base_station")
    keys = ancestor_at(twin, b["unit_id"].to_numpy(), level)
    return _by_unit(twin, level, keys, b["backup_h"].to_numpy(float))


def _shelters(twin: Twin) -> pd.DataFrame:
    s = _kind(twin, "shelter")
    return s[s["capacity"] > 0]


def shelter_capacity_per_resident(twin: Twin, level: str = "county") -> pd.Series:
    """Shelter places (capacity in people) per resident, per unit (Σ capacity / population)."""
    s = _shelters(twin)
    keys = ancestor_at(twin, s["unit_id"].to_numpy(), level)
    cap = pd.Series(s["capacity"].to_numpy(float)).groupby(keys).sum()
    pop = _population(twin, level)
    return cap.reindex(pop.index, fill_value=0.0) / pop.where(pop > 0)


def nearest_distance_km(lon, lat, to_lon, to_lat) -> np.ndarray:
    """Great-circle distance (km) from each point to the nearest of the ``to`` points.

    A k-d tree on unit vectors: the chord length c is monotone in the arc, d = 2R·asin(c/2).
    """
    if len(to_lon) == 0:
        return np.full(len(lon), np.inf)
    tree = cKDTree(unit_vectors(to_lon, to_lat))
    chord, _ = tree.query(unit_vectors(lon, lat))
    return chord_to_km(chord)


def shelter_reach_share(
    twin: Twin,
    level: str = "county",
    minutes: float = 10.0,
    speed_kmh: float = ROAD_SPEED_KMH,
    detour: float = DETOUR_FACTOR,
) -> pd.Series:
    """Share of residents whose nearest shelter is reachable within ``minutes``, per unit.

    The road network is not routed: the travel distance is the great-circle distance to the
    nearest shelter times a detour factor, driven at ``speed_kmh``; a resident reaches a shelter
    when ``detour × d ≤ speed_kmh × minutes / 60``. Residents sit at the centroids of the
    twin's cells (or of the units at ``level`` when the twin has no cells), so the answer is as
    fine as the cells are.
    """
    u = twin.units
    pts = u[u["level"] == "cell"]
    if pts.empty:
        pts = _units_at(twin, level)
    s = _shelters(twin)
    reach_km = speed_kmh * minutes / 60.0 / detour
    d = nearest_distance_km(pts["lon"], pts["lat"], s["lon"], s["lat"])
    keys = ancestor_at(twin, pts["unit_id"].to_numpy(), level)
    pop = pts["population"].to_numpy(float)
    return _by_unit(twin, level, keys, pop * (d <= reach_km), pop)


def simulation_indicators(
    results: pd.DataFrame,
    population: pd.Series,
    parents: dict[str, str] | None = None,
    file: str | None = None,
) -> pd.DataFrame:
    """Resilience-loss and affected-share indicators from per-unit simulation results.

    Parameters
    ----------
    results:
        One row per unit: ``unit_id`` and any of ``resilience_loss_h`` (area above the unit's
        normalised service curve, hours — equivalent hours of total outage per resident),
        ``resilience_loss_person_h`` (person-hours; divided by the population),
        ``affected_mean`` (expected people without service) or ``affected_share``.
    population:
        Residents per evaluated unit, indexed by ``unit_id``.
    parents:
        ``unit_id → unit_id at the evaluated level`` for rows below it (cells); person counts are
        summed, per-resident values population-weighted.
    """
    if "unit_id" not in results.columns:
        raise InputError("simulation results need a 'unit_id' column", file=file, field="unit_id")
    r = results.copy()
    r["unit_id"] = r["unit_id"].astype(str)
    direct = r["unit_id"].isin(population.index)
    if direct.any():  # rows of the evaluated units themselves win over their cells' rows
        r = r[direct]
    ids = r["unit_id"].to_numpy()
    up = pd.Series(ids, dtype=object).map(pd.Series(parents or {}, dtype=object)).astype(object)
    up = up.where(up.notna(), "").to_numpy()
    target = np.where(np.isin(ids, population.index), ids, up)
    keep = np.isin(target, population.index)
    if not keep.any():
        raise InputError(
            "no unit_id in the simulation results matches an evaluated unit",
            file=file,
            field="unit_id",
            value=ids[0] if len(ids) else None,
        )
    r = r[keep].assign(_unit=target[keep])
    # rows below the evaluated level are weighted by their population when the results give it
    w = r["population"].to_numpy(float) if "population" in r.columns else np.ones(len(r))
    out = []
    pop = population.astype(float)

    def per_resident(col: str) -> pd.Series:
        num = pd.Series(w * r[col].to_numpy(float)).groupby(r["_unit"].to_numpy()).sum()
        den = pd.Series(w).groupby(r["_unit"].to_numpy()).sum()
        return num / den

    def per_unit_total(col: str) -> pd.Series:
        tot = pd.Series(r[col].to_numpy(float)).groupby(r["_unit"].to_numpy()).sum()
        return tot / pop.reindex(tot.index).where(lambda p: p > 0)

    if "resilience_loss_h" in r.columns:
        v = per_resident("resilience_loss_h")
        out.append(long_table(v.index, "in_resilience_loss_h", v, "h"))
    elif "resilience_loss_person_h" in r.columns:
        v = per_unit_total("resilience_loss_person_h")
        out.append(long_table(v.index, "in_resilience_loss_h", v, "h"))
    if "affected_share" in r.columns:
        v = per_resident("affected_share")
        out.append(long_table(v.index, "in_affected_share", v, "share"))
    elif "affected_mean" in r.columns:
        v = per_unit_total("affected_mean")
        out.append(long_table(v.index, "in_affected_share", v, "share"))
    if not out:
        raise InputError(
            "simulation results have none of resilience_loss_h, resilience_loss_person_h, "
            "affected_mean, affected_share",
            file=file,
        )
    return pd.concat(out, ignore_index=True)


#: Twin indicator id → (function, unit of measure).
TWIN_INDICATORS = {
    "in_redundant_feed_share": (redundant_feed_share, "share"),
    "in_shelter_capacity_per_resident": (shelter_capacity_per_resident, "places/person"),
    "in_shelter_reach_10min": (shelter_reach_share, "share"),
    "in_hospital_backup_h": (hospital_backup_h, "h"),
    "in_hospital_beds_per_1000": (hospital_beds_per_1000, "beds/1000 persons"),
    "in_telecom_backup_h": (telecom_backup_h, "h"),
    "in_supply_buffer_h": (supply_buffer_h, "h"),
}


def twin_indicators(twin: Twin, results: pd.DataFrame | None = None, level: str = "county") -> pd.DataFrame:
    """All twin-derived infrastructure indicators (and simulation ones when ``results`` is given).

    Returns the long value table; indicators a twin cannot give (no hospitals, no shelters …)
    are absent rather than zero.
    """
    parts = []
    for name, (fn, unit) in TWIN_INDICATORS.items():
        v = fn(twin, level)
        parts.append(long_table(v.index, name, v.to_numpy(float), unit))
    if results is not None:
        ids = twin.units["unit_id"].astype(str).to_numpy()
        parents = dict(zip(ids, ancestor_at(twin, ids, level), strict=True))
        parts.append(simulation_indicators(results, _population(twin, level), parents))
    return pd.concat(parts, ignore_index=True)
