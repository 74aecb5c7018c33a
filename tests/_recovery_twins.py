"""Small twins with coordinates for the recovery, metrics and N-1 tests (answers by hand)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rescity.engine.recovery import REPAIR_TIMES_FILE
from rescity.twin.model import Twin, conform


def coord_twin(assets, edges, deps=(), service=(), cells=(1000,)):
    """assets: (name, system, kind, cell | None, is_source, lon, lat[, length_km]); cells: people.

    One province 900000 → prefecture 900100 → county 900101 → cells 900101-c1 …; a county-level
    asset has cell None. Returns ``(twin, positions by name)``.
    """
    units = [
        dict(unit_id="900000", level="province", parent_id="", name_en="Testland", population=sum(cells)),
        dict(unit_id="900100", level="prefecture", parent_id="900000", name_en="Pref", population=sum(cells)),
        dict(unit_id="900101", level="county", parent_id="900100", name_en="County", population=sum(cells)),
    ] + [
        dict(unit_id=f"900101-c{i + 1}", level="cell", parent_id="900101", population=p, households=p // 2)
        for i, p in enumerate(cells)
    ]
    for u in units:
        u.setdefault("households", u["population"] // 2)
        u.setdefault("name_zh", "")
    pos = {a[0]: i for i, a in enumerate(assets)}
    rows = []
    for a in assets:
        name, s, k, c, src, lon, lat = a[:7]
        rows.append(
            dict(
                asset_id=name,
                system=s,
                kind=k,
                unit_id="900101" if c is None else f"900101-c{c + 1}",
                is_source=src,
                lon=lon,
                lat=lat,
                length_km=a[7] if len(a) > 7 else 0.0,
            )
        )
    tw = Twin(
        conform(pd.DataFrame(units), "units"),
        conform(pd.DataFrame(rows), "assets"),
        conform(
            pd.DataFrame([(s, pos[x], pos[y]) for s, x, y in edges], columns=["system", "src", "dst"]),
            "edges",
        ),
        conform(
            pd.DataFrame(
                [(pos[x], pos[y], k, h) for x, y, k, h in deps],
                columns=["dependent", "supplier", "kind", "buffer_h"],
            ),
            "dependencies",
        ),
        conform(
            pd.DataFrame(
                [(pos[t], 3 + c, s, p) for t, c, s, p in service],
                columns=["terminal", "unit", "system", "people"],
            ),
            "service",
        ),
        meta={"name": "coord"},
    )
    return tw, pos


def repair_table(path: Path, days: dict[tuple[str, int], float]) -> Path:
    """The packaged repair-time table with some (kind, damage state) means replaced and every
    standard deviation set to 0 (deterministic durations)."""
    t = pd.read_csv(REPAIR_TIMES_FILE)
    t["sd_days"] = 0.0
    for (k, ds), d in days.items():
        t.loc[(t["kind"] == k) & (t["damage_state"] == ds), "mean_days"] = d
    t.to_csv(path, index=False)
    return path


def substation_twin():
    """plant → substation → feeder_a (cell 1, 600 people), feeder_b (cell 2, 400 people);
    water: works → pump → node (both cells' water through one node per cell); pump ← substation;
    road: hub (source) → bridge → junction next to the substation."""
    assets = [
        ("plant", "power", "power_plant", None, True, 120.00, 30.00),
        ("sub", "power", "substation_110kv", 0, False, 120.10, 30.00),
        ("fa", "power", "feeder_10kv", 0, False, 120.11, 30.01),
        ("fb", "power", "feeder_10kv", 1, False, 120.11, 29.99),
        ("works", "water", "treatment_plant", None, True, 120.00, 30.02),
        ("pump", "water", "pump_station", 0, False, 120.05, 30.02),
        ("na", "water", "distribution_node", 0, False, 120.10, 30.02),
        ("nb", "water", "distribution_node", 1, False, 120.10, 29.98),
        ("hub", "road", "road_hub", None, True, 120.00, 30.00),
        ("bridge", "road", "bridge", None, False, 120.05, 30.00, 0.3),
        ("junc", "road", "road_node", 0, False, 120.10, 30.00),
    ]
    edges = [
        ("power", "plant", "sub"),
        ("power", "sub", "fa"),
        ("power", "sub", "fb"),
        ("water", "works", "pump"),
        ("water", "pump", "na"),
        ("water", "pump", "nb"),
        ("road", "hub", "bridge"),
        ("road", "bridge", "junc"),
    ]
    deps = [("pump", "sub", "power", 0.0)]
    service = [
        ("fa", 0, "power", 600.0),
        ("fb", 1, "power", 400.0),
        ("na", 0, "water", 600.0),
        ("nb", 1, "water", 400.0),
        ("junc", 0, "road", 600.0),
        ("junc", 1, "road", 400.0),
    ]
    return coord_twin(assets, edges, deps, service, cells=(600, 400))
