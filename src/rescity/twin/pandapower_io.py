"""pandapower networks in and out of the twin's power system (needs the ``networks`` extra).

Import (:func:`import_pandapower`)
    Every bus becomes a ``bus`` asset (``asset_id`` ``bus:<index>``), every line a link asset
    between its two buses (``line:<index>``; kind by voltage: ≥ 400 kV ``line_500kv``, ≥ 200 kV
    ``line_220kv``, ≥ 60 kV ``line_110kv``, else ``feeder_10kv``), every two-winding transformer a
    node between its high- and low-voltage buses (``trafo:<index>``; a substation of its
    high-voltage level, ``distribution_transformer`` below 60 kV), three-winding transformers and
    impedances likewise. Closed bus–bus switches join buses directly; an open line or
    transformer switch cuts that element off at that bus (as ``pandapower.topology`` does with
    ``respect_switches=True``); elements out of service get no edges. Sources: the buses of
    in-service external grids and slack generators. Loads are the service: ``p_mw ·
    people_per_mw`` people at their bus. Coordinates from the buses' GeoJSON ``geo`` (WGS84);
    link assets stand at the midpoint of their ends. The units are one synthetic county with one
    cell holding all the load (codes from ``code``). The original network is kept in
    ``twin.meta["pandapower"]`` (pandapower JSON) for the way back.

Export (:func:`to_pandapower`)
    A twin imported from pandapower gives back its network, with the elements of the assets in
    ``out`` (e.g. damaged in a realisation) set out of service. Any other twin gives a
    *topological* net: a bus per node asset (voltage by kind), a line per link asset (its two
    ends; a terminal link gets its own end bus), an external grid at each source, loads from the
    service people — good for graph searches, not for power flow (no transformers).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.twin.model import Twin, conform

#: People per MW of load (about 2.6 people per household at roughly 2 kW per household at peak;
#: rescity assumption, set ``people_per_mw`` to the utility's customers per MW where known).
PEOPLE_PER_MW = 1300.0
LINK_KINDS = ("line_500kv", "line_220kv", "line_110kv", "feeder_10kv")
NODE_KV = {
    "power_plant": 220.0,
    "substation_500kv": 500.0,
    "substation_220kv": 220.0,
    "substation_110kv": 110.0,
    "distribution_transformer": 10.0,
    "bus": 10.0,
}
LINE_KV = {"line_500kv": 500.0, "line_220kv": 220.0, "line_110kv": 110.0, "feeder_10kv": 10.0}


def _pp():
    try:
        import pandapower as pp
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise InputError(
            "pandapower is not installed: pip install 'rescity[networks]'", field="pandapower"
        ) from e
    return pp


def _line_kind(kv: float) -> str:
    return (
        "line_500kv"
        if kv >= 400
        else "line_220kv"
        if kv >= 200
        else "line_110kv"
        if kv >= 60
        else "feeder_10kv"
    )


def _station_kind(kv: float) -> str:
    if kv >= 400:
        return "substation_500kv"
    if kv >= 200:
        return "substation_220kv"
    if kv >= 60:
        return "substation_110kv"
    return "distribution_transformer"


def _bus_lonlat(net) -> tuple[np.ndarray, np.ndarray]:
    n = len(net.bus)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if "geo" in net.bus.columns:
        for i, g in enumerate(net.bus["geo"].to_numpy()):  # parse each bus's GeoJSON point once
            if isinstance(g, str) and g:
                try:
                    c = json.loads(g).get("coordinates")
                except (ValueError, AttributeError):
                    c = None
                if c is not None and len(c) >= 2:
                    lon[i], lat[i] = float(c[0]), float(c[1])
    elif hasattr(net, "bus_geodata") and len(net.bus_geodata):
        gd = net.bus_geodata.reindex(net.bus.index)
        lon, lat = gd["x"].to_numpy(float), gd["y"].to_numpy(float)
    if np.isnan(lon).all():
        lon[:] = 0.0
        lat[:] = 0.0
    else:
        lon = np.where(np.isnan(lon), np.nanmean(lon), lon)
        lat = np.where(np.isnan(lat), np.nanmean(lat), lat)
    return lon, lat


def import_pandapower(
    net: Any,
    *,
    code: str = "980101",
    name: str | None = None,
    people_per_mw: float = PEOPLE_PER_MW,
    keep_net: bool = True,
) -> Twin:
    """A twin whose power system is the pandapower network ``net`` (see module docstring)."""
    pp = _pp()
    if not hasattr(net, "bus") or len(net.bus) == 0:
        raise InputError("the pandapower net has no buses", field="net.bus")
    if not (isinstance(people_per_mw, (int, float)) and people_per_mw > 0):
        raise InputError("people_per_mw must be > 0", field="people_per_mw", value=people_per_mw)
    name = name or str(getattr(net, "name", "") or "pandapower network")
    bus_idx = net.bus.index.to_numpy()
    bus_pos = pd.Series(np.arange(len(bus_idx)), index=bus_idx)
    lon_b, lat_b = _bus_lonlat(net)
    kv_b = net.bus["vn_kv"].to_numpy(float)
    bus_in = net.bus["in_service"].to_numpy(bool)
    rows: list[dict] = []
    for j, b in enumerate(bus_idx):
        rows.append(
            dict(
                asset_id=f"bus:{b}",
                system="power",
                kind="bus",
                lon=lon_b[j],
                lat=lat_b[j],
                capacity=0.0,
                capacity_unit="MVA",
                fragility_class="bus",
                name=str(net.bus["name"].iloc[j] or f"bus {b}"),
            )
        )
    edges: list[tuple[int, int]] = []
    sw = net.switch if hasattr(net, "switch") else pd.DataFrame(columns=["bus", "element", "et", "closed"])
    open_sw = sw[~sw["closed"].astype(bool)] if len(sw) else sw

    def cut(et: str) -> set[tuple[int, int]]:
        s = open_sw[open_sw["et"] == et] if len(open_sw) else open_sw
        return {(int(e), int(b)) for e, b in zip(s.get("element", []), s.get("bus", []), strict=False)}

    def add_link(
        kind: str, element: str, idx, ends, in_service: bool, length_km: float, cap: float, nm: str, cuts
    ):
        pos = len(rows)
        bl = [bus_pos[b] for b in ends]
        rows.append(
            dict(
                asset_id=f"{element}:{idx}",
                system="power",
                kind=kind,
                lon=float(np.mean(lon_b[bl])),
                lat=float(np.mean(lat_b[bl])),
                length_km=length_km,
                capacity=cap,
                capacity_unit="MVA",
                fragility_class=element,
                name=nm,
            )
        )
        if in_service:
            for b in ends:
                if (int(idx), int(b)) not in cuts and bus_in[bus_pos[b]]:
                    edges.append((pos, int(bus_pos[b])))

    cl = cut("l")
    for idx, r in net.line.iterrows():  # one row per line
        kv = float(kv_b[bus_pos[r["from_bus"]]])
        cap = float(np.sqrt(3) * kv * float(r.get("max_i_ka", 0.0) or 0.0))
        add_link(
            _line_kind(kv),
            "line",
            idx,
            (r["from_bus"], r["to_bus"]),
            bool(r["in_service"]),
            float(r["length_km"]),
            cap,
            str(r.get("name") or f"line {idx}"),
            cl,
        )
    ct = cut("t")
    for idx, r in net.trafo.iterrows():
        kv = float(r.get("vn_hv_kv", kv_b[bus_pos[r["hv_bus"]]]))
        add_link(
            _station_kind(kv),
            "trafo",
            idx,
            (r["hv_bus"], r["lv_bus"]),
            bool(r["in_service"]),
            0.0,
            float(r.get("sn_mva", 0.0) or 0.0),
            str(r.get("name") or f"trafo {idx}"),
            ct,
        )
    if hasattr(net, "trafo3w") and len(net.trafo3w):
        c3 = cut("t3")
        for idx, r in net.trafo3w.iterrows():
            kv = float(r.get("vn_hv_kv", kv_b[bus_pos[r["hv_bus"]]]))
            add_link(
                _station_kind(kv),
                "trafo3w",
                idx,
                (r["hv_bus"], r["mv_bus"], r["lv_bus"]),
                bool(r["in_service"]),
                0.0,
                float(r.get("sn_hv_mva", 0.0) or 0.0),
                str(r.get("name") or f"trafo3w {idx}"),
                c3,
            )
    if hasattr(net, "impedance") and len(net.impedance):
        for idx, r in net.impedance.iterrows():
            kv = float(kv_b[bus_pos[r["from_bus"]]])
            add_link(
                _line_kind(kv),
                "impedance",
                idx,
                (r["from_bus"], r["to_bus"]),
                bool(r["in_service"]),
                0.0,
                0.0,
                str(r.get("name") or f"impedance {idx}"),
                set(),
            )
    if len(sw):
        bb = sw[(sw["et"] == "b") & sw["closed"].astype(bool)]
        for b1, b2 in zip(bb["bus"], bb["element"], strict=True):
            if bus_in[bus_pos[b1]] and bus_in[bus_pos[b2]]:
                edges.append((int(bus_pos[b1]), int(bus_pos[b2])))
    # sources: in-service external grids and slack generators
    src = set(net.ext_grid.loc[net.ext_grid["in_service"].astype(bool), "bus"].tolist())
    if hasattr(net, "gen") and len(net.gen) and "slack" in net.gen.columns:
        g = net.gen
        src |= set(g.loc[g["in_service"].astype(bool) & g["slack"].astype(bool), "bus"].tolist())
    assets = pd.DataFrame(rows)
    for c in ("length_km", "capacity", "replacement_cost_cny", "backup_h"):
        col = assets[c] if c in assets.columns else pd.Series(0.0, index=assets.index)
        assets[c] = pd.to_numeric(col, errors="coerce").fillna(0.0)
    assets["is_source"] = False
    for b in src:
        if bus_in[bus_pos[b]]:
            assets.loc[bus_pos[b], "is_source"] = True
    cell = f"{code}-c1"
    assets["unit_id"] = cell
    # service: loads in service, people from MW
    ld = net.load[net.load["in_service"].astype(bool)] if len(net.load) else net.load
    people = ld["p_mw"].to_numpy(float) * float(people_per_mw) if len(ld) else np.zeros(0)
    term = bus_pos[ld["bus"].to_numpy()].to_numpy() if len(ld) else np.zeros(0, np.int64)
    keep = people > 0
    service = pd.DataFrame({"terminal": term[keep], "unit": 3, "system": "power", "people": people[keep]})
    service = service.groupby(["terminal", "unit", "system"], as_index=False)["people"].sum()
    pop = float(service["people"].sum())
    lon0, lat0 = float(np.mean(lon_b)), float(np.mean(lat_b))
    pref, prov = code[:4] + "00", code[:2] + "0000"
    units = pd.DataFrame(
        [
            dict(unit_id=prov, level="province", parent_id="", name_en=name, population=round(pop)),
            dict(unit_id=pref, level="prefecture", parent_id=prov, name_en=name, population=round(pop)),
            dict(unit_id=code, level="county", parent_id=pref, name_en=name, population=round(pop)),
            dict(unit_id=cell, level="cell", parent_id=code, name_en=name, population=round(pop)),
        ]
    )
    units["households"] = np.round(units["population"] / 2.6).astype(np.int64)
    units["lon"], units["lat"] = lon0, lat0
    units["urban_share"] = 1.0
    # the cell's population is the load's people; service rows sum to it exactly
    if pop > 0:
        service["people"] *= round(pop) / pop
    e = pd.DataFrame(edges, columns=["src", "dst"])
    e["system"] = "power"
    meta: dict[str, Any] = {
        "name": name,
        "builder": "rescity.twin.pandapower_io.import_pandapower",
        "params": {"people_per_mw": float(people_per_mw), "code": code},
    }
    if keep_net:
        meta["pandapower"] = pp.to_json(net)
    return Twin(
        units=conform(units, "units"),
        assets=conform(assets, "assets"),
        edges=conform(e, "edges"),
        dependencies=conform(
            pd.DataFrame(columns=["dependent", "supplier", "kind", "buffer_h"]), "dependencies"
        ),
        service=conform(service, "service"),
        meta=meta,
    )


def element_of(asset_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(element table, index)`` of ``<element>:<index>`` asset ids ("" / -1 where not one)."""
    s = pd.Series(np.asarray(asset_ids, dtype=object)).astype(str)
    parts = s.str.split(":", n=1, expand=True)
    if parts.shape[1] < 2:
        return np.full(len(s), "", object), np.full(len(s), -1)
    idx = pd.to_numeric(parts[1], errors="coerce")
    ok = idx.notna()
    return np.where(ok, parts[0], ""), np.where(ok, idx.fillna(-1), -1).astype(np.int64)


#: ``_module`` values a pandapower JSON file may name: pandapower's own classes and the pandas
#: (and geopandas) tables it stores. Anything else would be imported by pandapower's deserialiser.
SAFE_MODULES = (
    "pandapower",
    "pandas.core.frame",
    "pandas.core.series",
    "geopandas.geodataframe",
    "geopandas.geoseries",
)
SAFE_CLASSES = ("pandapowerNet", "DataFrame", "Series", "GeoDataFrame", "GeoSeries", "MultiIndex", "Index")


def check_pandapower_json(text: str, *, file: Any = None) -> None:
    """Refuse a pandapower JSON text naming any ``_module``/``_class`` outside pandapower's own
    before it reaches pandapower's deserialiser (which imports what the file names)."""
    from rescity.safeio import excerpt, load_json

    data = load_json(text, file=file)
    stack = [data]
    n = 0
    while stack:
        o = stack.pop()
        n += 1
        if isinstance(o, dict):
            mod, cls = o.get("_module"), o.get("_class")
            if mod is not None:
                ok_mod = isinstance(mod, str) and (
                    mod == "pandapower" or mod.startswith("pandapower.") or mod in SAFE_MODULES
                )
                if not ok_mod:
                    raise InputError(
                        "names a module outside pandapower; refused before loading",
                        file=file,
                        field="_module",
                        value=excerpt(mod),
                    )
            if cls is not None and (not isinstance(cls, str) or cls not in SAFE_CLASSES):
                raise InputError(
                    "names a class pandapower does not store", file=file, field="_class", value=excerpt(cls)
                )
            for k in ("_object",):
                v = o.get(k)
                if isinstance(v, str) and v[:1] in "{[" and len(v) < 50_000_000:
                    try:
                        stack.append(json.loads(v))
                    except ValueError:
                        pass
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    if not isinstance(data, dict) or data.get("_class") != "pandapowerNet":
        raise InputError("is not a pandapower network (no top-level pandapowerNet)", file=file)


def load_pandapower_json(path: Any):
    """A pandapower net from a JSON file, checked (:func:`check_pandapower_json`) before loading."""
    from pathlib import Path

    from rescity.safeio import read_text

    p = Path(path)
    text = read_text(p)
    check_pandapower_json(text, file=p)
    pp = _pp()
    try:
        net = pp.from_json_string(text)
    except Exception as e:  # noqa: BLE001 - pandapower raises many kinds on malformed tables
        raise InputError(
            f"is not a valid pandapower network ({type(e).__name__}: {str(e)[:160]})", file=p
        ) from None
    for table in (
        "bus",
        "line",
        "trafo",
        "trafo3w",
        "impedance",
        "ext_grid",
        "gen",
        "sgen",
        "load",
        "switch",
    ):
        if table in net and not isinstance(net[table], pd.DataFrame):
            raise InputError("must be a table (a pandas DataFrame)", file=p, field=table)
    if not len(net.bus):
        raise InputError("has no buses", file=p, field="bus")
    return net


def to_pandapower(twin: Twin, out: np.ndarray | None = None, *, people_per_mw: float = PEOPLE_PER_MW):
    """A pandapower net of the twin's power system; assets with ``out`` set out of service."""
    pp = _pp()
    out_mask = np.zeros(twin.n_assets, bool) if out is None else np.asarray(out, bool)
    if out_mask.shape != (twin.n_assets,):
        raise InputError(f"out must have {twin.n_assets} flags", field="out", value=out_mask.shape)
    if "pandapower" in twin.meta:
        check_pandapower_json(twin.meta["pandapower"], file="twin meta.json (pandapower)")
        net = pp.from_json_string(twin.meta["pandapower"])
        el, idx = element_of(twin.assets["asset_id"].to_numpy())
        for table in ("bus", "line", "trafo", "trafo3w", "impedance"):
            sel = out_mask & (el == table)
            if sel.any() and hasattr(net, table):
                getattr(net, table).loc[idx[sel], "in_service"] = False
        return net
    return _topological_net(twin, out_mask, people_per_mw, pp)


def _topological_net(twin: Twin, out_mask: np.ndarray, people_per_mw: float, pp):
    a = twin.assets
    power = np.flatnonzero((a["system"] == "power").to_numpy())
    if not len(power):
        raise InputError("the twin has no power assets", field="assets.system")
    kinds = a["kind"].astype(str).to_numpy()
    net = pp.create_empty_network(name=str(twin.meta.get("name", "rescity twin")))
    is_link = np.isin(kinds, LINK_KINDS)
    bus_of = {}
    for i in power[~is_link[power]]:  # one bus per node asset
        kv = NODE_KV.get(kinds[i], 10.0)
        b = pp.create_bus(
            net,
            vn_kv=kv,
            name=str(a["asset_id"].iloc[i]),
            in_service=not out_mask[i],
            geodata=(float(a["lon"].iloc[i]), float(a["lat"].iloc[i])),
        )
        bus_of[int(i)] = b
    e = twin.edges[twin.edges["system"] == "power"]
    nb: dict[int, list[int]] = {}
    for s, d in zip(e["src"].to_numpy(), e["dst"].to_numpy(), strict=True):
        nb.setdefault(int(s), []).append(int(d))
        nb.setdefault(int(d), []).append(int(s))
    for i in power[is_link[power]]:
        ends = [bus_of[j] for j in nb.get(int(i), []) if j in bus_of]
        if not ends:
            continue
        if len(ends) == 1:  # a terminal feeder: its own end bus
            ends.append(
                pp.create_bus(
                    net,
                    vn_kv=LINE_KV[kinds[i]],
                    name=f"{a['asset_id'].iloc[i]}:end",
                    geodata=(float(a["lon"].iloc[i]), float(a["lat"].iloc[i])),
                )
            )
            bus_of[int(i)] = ends[-1]
        for k in range(1, len(ends)):
            pp.create_line_from_parameters(
                net,
                ends[0],
                ends[k],
                length_km=max(float(a["length_km"].iloc[i]), 0.01),
                r_ohm_per_km=0.1,
                x_ohm_per_km=0.4,
                c_nf_per_km=10.0,
                max_i_ka=1.0,
                name=str(a["asset_id"].iloc[i]),
                in_service=not out_mask[i],
            )
    for i in power[a["is_source"].to_numpy(bool)[power]]:
        if int(i) in bus_of:
            pp.create_ext_grid(net, bus_of[int(i)], name=str(a["asset_id"].iloc[i]))
    s = twin.service[twin.service["system"] == "power"]
    for t, p in s.groupby("terminal")["people"].sum().items():
        if int(t) in bus_of and p > 0:
            pp.create_load(
                net, bus_of[int(t)], p_mw=float(p) / people_per_mw, name=str(a["asset_id"].iloc[int(t)])
            )
    return net
