"""EPANET ``.inp`` networks in and out of the twin's water system, through WNTR (``networks`` extra).

Import (:func:`import_epanet`)
    Junctions become ``distribution_node`` assets (``asset_id`` ``node:<name>``), reservoirs
    ``reservoir`` and tanks ``tank`` (both sources); pipes become ``trunk_main`` link assets
    between their end nodes (``link:<name>``, length in km), pumps ``pump_station`` links and valves
    ``trunk_main`` links of ``fragility_class`` ``valve_<type>``. By default every link joins the
    graph whatever its initial status (controls open and close links during a simulation; the
    topology is the network's); ``respect_status=True`` leaves initially closed links out. A
    junction's base demand (m³/s, summed over its demand categories) is its service:
    ``demand · 86,400 / m3_per_person_day`` people (0.40 m³ per person and day by default, the
    order of Zhejiang's comprehensive urban supply per person, as in the default twin). Node
    coordinates are read as metres east and north of ``origin`` (lon, lat), or converted from
    ``crs`` when the file's coordinates are projected. The units are one synthetic county with one
    cell. The original network is kept as ``.inp`` text in ``twin.meta["epanet"]``.

Export (:func:`to_epanet`)
    A twin imported from EPANET gives back its WNTR model with the links of the assets in ``out``
    closed (and the controls acting on them removed); any other twin gives a topological model:
    a junction per node asset (a reservoir per source), a pipe per link asset, demands from the
    service people — for graph searches; hydraulics of such a model are only indicative.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.geo import KM_PER_DEG, local_xy_km, lonlat_from_local_km
from rescity.twin.model import Twin, conform

#: m³ per person and day (comprehensive urban water supply, as in the default twin's docs).
M3_PER_PERSON_DAY = 0.40


def _wntr():
    try:
        import wntr
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise InputError("wntr is not installed: pip install 'rescity[networks]'", field="wntr") from e
    return wntr


def read_inp(path: str | Path):
    """A ``wntr.network.WaterNetworkModel`` from an ``.inp`` file; ``InputError`` if unreadable."""
    wntr = _wntr()
    from rescity.safeio import read_text

    p = Path(path)
    if not p.exists():
        raise InputError("EPANET file not found", file=p)
    check_unique_ids(read_text(p), file=p)
    try:
        return wntr.network.WaterNetworkModel(str(p))
    except Exception as e:  # noqa: BLE001 - WNTR raises many kinds on bad files
        msg = " ".join(str(e).split())[:200]
        raise InputError(f"cannot read EPANET input: {msg}", file=p) from None


#: Sections of an .inp file whose first field is the id of a node or a link.
_ID_SECTIONS = ("JUNCTIONS", "RESERVOIRS", "TANKS", "PIPES", "PUMPS", "VALVES")


def check_unique_ids(text: str, *, file=None) -> None:
    """Refuse an .inp text that defines one node or link id twice (WNTR would merge them silently).

    Node ids (junctions, reservoirs, tanks) and link ids (pipes, pumps, valves) must each be unique
    (EPANET 2.2 manual, "Input file format": IDs are unique among nodes and among links).
    """
    section = ""
    seen: dict[str, dict[str, tuple[str, int]]] = {"node": {}, "link": {}}
    for n, line in enumerate(text.splitlines(), start=1):
        body = line.split(";", 1)[0].strip()
        if not body:
            continue
        if body.startswith("["):
            section = body.strip("[] ").upper()
            continue
        if section not in _ID_SECTIONS:
            continue
        ident = body.split()[0]
        kind = "node" if section in ("JUNCTIONS", "RESERVOIRS", "TANKS") else "link"
        if ident in seen[kind]:
            first_sec, first_line = seen[kind][ident]
            raise InputError(
                f"line {n}: {kind} id defined twice (first in [{first_sec}] at line {first_line})",
                file=file,
                field=section,
                value=ident,
            )
        seen[kind][ident] = (section, n)


def _inp_text(wn) -> str:
    wntr = _wntr()
    fd, name = tempfile.mkstemp(suffix=".inp")
    os.close(fd)
    try:
        wntr.network.write_inpfile(wn, name)
        return Path(name).read_text(encoding="utf-8")
    finally:
        os.unlink(name)


def _from_text(text: str):
    wntr = _wntr()
    fd, name = tempfile.mkstemp(suffix=".inp")
    os.close(fd)
    try:
        Path(name).write_text(text, encoding="utf-8")
        return wntr.network.WaterNetworkModel(name)
    finally:
        os.unlink(name)


def import_epanet(
    source: Any,
    *,
    code: str = "970101",
    name: str | None = None,
    m3_per_person_day: float = M3_PER_PERSON_DAY,
    origin: tuple[float, float] = (0.0, 0.0),
    crs: str | None = None,
    respect_status: bool = False,
    keep_model: bool = True,
) -> Twin:
    """A twin whose water system is an EPANET network (a path or a ``WaterNetworkModel``)."""
    wn = read_inp(source) if isinstance(source, (str, Path)) else source
    if not (isinstance(m3_per_person_day, (int, float)) and m3_per_person_day > 0):
        raise InputError("m3_per_person_day must be > 0", field="m3_per_person_day", value=m3_per_person_day)
    name = name or (
        Path(source).stem if isinstance(source, (str, Path)) else str(getattr(wn, "name", "") or "epanet")
    )
    nodes = list(wn.node_name_list)
    if not nodes:
        raise InputError("the EPANET network has no nodes", field="nodes")
    xy = np.array([wn.get_node(n).coordinates or (0.0, 0.0) for n in nodes], dtype=float)
    if crs:
        from pyproj import Transformer

        lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
    else:
        lon0, lat0 = origin
        lon, lat = lonlat_from_local_km(xy[:, 0] / 1000.0, xy[:, 1] / 1000.0, lon0, lat0)
    pos = {n: i for i, n in enumerate(nodes)}
    rows = []
    for i, n in enumerate(nodes):  # one row per node of the file
        nd = wn.get_node(n)
        t = nd.node_type
        kind = {"Junction": "distribution_node", "Reservoir": "reservoir", "Tank": "tank"}[t]
        rows.append(
            dict(
                asset_id=f"node:{n}",
                system="water",
                kind=kind,
                lon=lon[i],
                lat=lat[i],
                is_source=t != "Junction",
                fragility_class=kind,
                name=f"{t.lower()} {n}",
                length_km=0.0,
                capacity=0.0,
                capacity_unit="m3/d",
            )
        )
    edges = []
    for ln in wn.link_name_list:
        lk = wn.get_link(ln)
        t = lk.link_type
        kind = "pump_station" if t == "Pump" else "trunk_main"
        fc = (
            f"valve_{getattr(lk, 'valve_type', '').lower()}"
            if t == "Valve"
            else ("pump" if t == "Pump" else "pipe")
        )
        a, b = pos[lk.start_node_name], pos[lk.end_node_name]
        p = len(rows)
        rows.append(
            dict(
                asset_id=f"link:{ln}",
                system="water",
                kind=kind,
                lon=(lon[a] + lon[b]) / 2,
                lat=(lat[a] + lat[b]) / 2,
                is_source=False,
                fragility_class=fc,
                name=f"{t.lower()} {ln}",
                length_km=float(getattr(lk, "length", 0.0) or 0.0) / 1000.0,
                capacity=0.0,
                capacity_unit="m3/d",
            )
        )
        closed = str(lk.initial_status).lower() in ("closed", "linkstatus.closed", "0")
        if not (respect_status and closed):
            edges += [(p, a), (p, b)]
    assets = pd.DataFrame(rows)
    cell = f"{code}-c1"
    assets["unit_id"] = cell
    dem = []
    for n in wn.junction_name_list:
        j = wn.get_node(n)
        d = sum(float(ts.base_value or 0.0) for ts in j.demand_timeseries_list)
        if d > 0:
            dem.append((pos[n], d * 86400.0 / float(m3_per_person_day)))
    service = pd.DataFrame(dem, columns=["terminal", "people"])
    service["unit"] = 3
    service["system"] = "water"
    pop = float(service["people"].sum())
    if pop > 0:
        service["people"] *= round(pop) / pop
    pref, prov = code[:4] + "00", code[:2] + "0000"
    units = pd.DataFrame(
        [
            dict(unit_id=prov, level="province", parent_id="", name_en=name),
            dict(unit_id=pref, level="prefecture", parent_id=prov, name_en=name),
            dict(unit_id=code, level="county", parent_id=pref, name_en=name),
            dict(unit_id=cell, level="cell", parent_id=code, name_en=name),
        ]
    )
    units["population"] = round(pop)
    units["households"] = round(pop / 2.6)
    units["lon"], units["lat"] = float(np.mean(lon)), float(np.mean(lat))
    units["urban_share"] = 1.0
    e = pd.DataFrame(edges, columns=["src", "dst"])
    e["system"] = "water"
    meta: dict[str, Any] = {
        "name": name,
        "builder": "rescity.twin.epanet_io.import_epanet",
        "params": {
            "m3_per_person_day": float(m3_per_person_day),
            "code": code,
            "respect_status": respect_status,
        },
    }
    if keep_model:
        meta["epanet"] = _inp_text(wn)
    return Twin(
        units=conform(units, "units"),
        assets=conform(assets, "assets"),
        edges=conform(e, "edges"),
        dependencies=conform(
            pd.DataFrame(columns=["dependent", "supplier", "kind", "buffer_h"]), "dependencies"
        ),
        service=conform(service[["terminal", "unit", "system", "people"]], "service"),
        meta=meta,
    )


def close_links(wn, names) -> None:
    """Close links (a damaged pipe, pump or valve) for the whole simulation: status closed and
    the controls that act on them removed."""
    from wntr.network import LinkStatus

    names = set(names)
    for n in names:
        wn.get_link(n).initial_status = LinkStatus.Closed
    for cn in list(wn.control_name_list):
        c = wn.get_control(cn)
        targets = {getattr(a.target()[0], "name", None) for a in c.actions()}
        if targets & names:
            wn.remove_control(cn)


def to_epanet(twin: Twin, out: np.ndarray | None = None, *, m3_per_person_day: float = M3_PER_PERSON_DAY):
    """A ``WaterNetworkModel`` of the twin's water system, links of the ``out`` assets closed."""
    wntr = _wntr()
    out_mask = np.zeros(twin.n_assets, bool) if out is None else np.asarray(out, bool)
    if out_mask.shape != (twin.n_assets,):
        raise InputError(f"out must have {twin.n_assets} flags", field="out", value=out_mask.shape)
    ids = twin.assets["asset_id"].astype(str).to_numpy()
    if "epanet" in twin.meta:
        wn = _from_text(twin.meta["epanet"])
        links = [i[5:] for i in ids[out_mask] if i.startswith("link:")]
        close_links(wn, links)
        # a damaged node: close every link at it
        for i in ids[out_mask]:
            if i.startswith("node:"):
                close_links(wn, wn.get_links_for_node(i[5:]))
        return wn
    return _topological_model(twin, out_mask, m3_per_person_day, wntr)


def _topological_model(twin: Twin, out_mask: np.ndarray, m3_per_person_day: float, wntr):
    a = twin.assets
    water = np.flatnonzero((a["system"] == "water").to_numpy())
    if not len(water):
        raise InputError("the twin has no water assets", field="assets.system")
    kinds = a["kind"].astype(str).to_numpy()
    is_link = kinds == "trunk_main"
    src = a["is_source"].to_numpy(bool)
    wn = wntr.network.WaterNetworkModel()
    demand = twin.service[twin.service["system"] == "water"].groupby("terminal")["people"].sum()
    lon = a["lon"].to_numpy(float)
    lat = a["lat"].to_numpy(float)
    lat0 = float(np.mean(lat[water]))
    x, y = (local_xy_km(lon, lat, lat0, lon.mean()) - [0.0, lat0 * KM_PER_DEG]).T * 1000
    name = {}
    for i in water[~is_link[water]]:
        n = str(a["asset_id"].iloc[i])
        name[int(i)] = n
        if src[i]:
            wn.add_reservoir(n, base_head=100.0, coordinates=(x[i], y[i]))
        else:
            d = float(demand.get(i, 0.0)) * m3_per_person_day / 86400.0
            wn.add_junction(n, base_demand=d, elevation=0.0, coordinates=(x[i], y[i]))
    e = twin.edges[twin.edges["system"] == "water"]
    nb: dict[int, list[int]] = {}
    for s, d in zip(e["src"].to_numpy(), e["dst"].to_numpy(), strict=True):
        nb.setdefault(int(s), []).append(int(d))
        nb.setdefault(int(d), []).append(int(s))
    from wntr.network import LinkStatus

    for i in water[is_link[water]]:
        ends = [name[j] for j in nb.get(int(i), []) if j in name]
        if not ends:
            continue
        if len(ends) == 1:
            end = f"{a['asset_id'].iloc[i]}:end"
            wn.add_junction(end, base_demand=0.0, coordinates=(x[i], y[i]))
            ends.append(end)
        for k in range(1, len(ends)):
            pn = str(a["asset_id"].iloc[i]) + ("" if k == 1 else f":{k}")
            wn.add_pipe(
                pn,
                ends[0],
                ends[k],
                length=max(float(a["length_km"].iloc[i]) * 1000, 1.0),
                diameter=0.5,
                roughness=100.0,
            )
            if out_mask[i]:
                wn.get_link(pn).initial_status = LinkStatus.Closed
    # node assets that are not links but connect directly (node–node edges): short pipes
    for s, d in zip(e["src"].to_numpy(), e["dst"].to_numpy(), strict=True):
        if int(s) in name and int(d) in name:
            pn = f"{name[int(s)]}~{name[int(d)]}"
            wn.add_pipe(pn, name[int(s)], name[int(d)], length=10.0, diameter=0.5, roughness=100.0)
            if out_mask[s] or out_mask[d]:
                wn.get_link(pn).initial_status = LinkStatus.Closed
    return wn
