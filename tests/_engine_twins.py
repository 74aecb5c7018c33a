"""Hand-built twins for the engine tests (known answers)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rescity.engine.service import cell_positions
from rescity.twin.model import KINDS, Twin, conform


def storm_fields(twin, gust=48.0, depth=0.4):
    """Asset and cell intensities of a storm: a gust ramping west to east, a uniform flood."""
    a = twin.assets
    ramp = (a["lon"] - a["lon"].min()) / (a["lon"].max() - a["lon"].min() + 1e-9)
    n_c = len(cell_positions(twin))
    ai = {"gust_ms": gust * (0.8 + 0.4 * ramp.to_numpy()), "flood_depth_m": np.full(twin.n_assets, depth)}
    ci = {"gust_ms": np.full(n_c, gust), "flood_depth_m": np.full(n_c, depth)}
    return ai, ci


def hand_twin(assets, edges, deps=(), service=(), cells=(1000,), households=None, urban=None):
    """A twin from short lists.

    assets:  (name, system, kind, cell_index | None, is_source)   — None = county-level asset
    edges:   (system, name_a, name_b)
    deps:    (dependent_name, supplier_name, kind, buffer_h)
    service: (terminal_name, cell_index, system, people)
    cells:   population of each cell (one county, one prefecture, one province above them)
    """
    n_c = len(cells)
    hh = households or [p // 2 for p in cells]
    urb = urban or [0.5] * n_c
    units = [
        dict(unit_id="900000", level="province", parent_id="", population=sum(cells), households=sum(hh)),
        dict(
            unit_id="900100",
            level="prefecture",
            parent_id="900000",
            population=sum(cells),
            households=sum(hh),
        ),
        dict(unit_id="900101", level="county", parent_id="900100", population=sum(cells), households=sum(hh)),
    ] + [
        dict(
            unit_id=f"900101-c{i + 1}",
            level="cell",
            parent_id="900101",
            population=p,
            households=h,
            urban_share=u,
        )
        for i, (p, h, u) in enumerate(zip(cells, hh, urb, strict=True))
    ]
    units_t = conform(pd.DataFrame(units), "units")
    pos = {a[0]: i for i, a in enumerate(assets)}
    arows = [
        dict(
            asset_id=name,
            system=s,
            kind=k,
            unit_id="900101" if c is None else f"900101-c{c + 1}",
            is_source=src,
        )
        for name, s, k, c, src in assets
    ]
    assets_t = conform(pd.DataFrame(arows), "assets")
    edges_t = conform(
        pd.DataFrame([(s, pos[a], pos[b]) for s, a, b in edges], columns=["system", "src", "dst"]), "edges"
    )
    deps_t = conform(
        pd.DataFrame(
            [(pos[a], pos[b], k, h) for a, b, k, h in deps],
            columns=["dependent", "supplier", "kind", "buffer_h"],
        ),
        "dependencies",
    )
    cell0 = 3
    serv_t = conform(
        pd.DataFrame(
            [(pos[t], cell0 + c, s, p) for t, c, s, p in service],
            columns=["terminal", "unit", "system", "people"],
        ),
        "service",
    )
    return Twin(units_t, assets_t, edges_t, deps_t, serv_t, meta={"name": "hand"}), pos


def random_twin(rng, size=14):
    """A small random twin: per network system a random forest plus extra links (cycles), 0–3
    sources, some islands without a source; facilities; dependencies on power, water and telecom
    with buffers below, at and above the 12 h horizon."""
    assets, edges = [], []
    names = {}
    for system in ("power", "water", "telecom", "road"):
        m = int(rng.integers(1, size))
        kinds = KINDS[system]
        nodes = [f"{system}{i}" for i in range(m)]
        names[system] = nodes
        n_src = int(rng.integers(0, 4))
        src = set(rng.choice(m, size=min(n_src, m), replace=False).tolist())
        for i, name in enumerate(nodes):
            assets.append((name, system, kinds[int(rng.integers(len(kinds)))], 0, i in src))
        for i in range(1, m):
            if rng.random() < 0.85:  # else node i starts an island (or a new component)
                edges.append((system, nodes[i], nodes[int(rng.integers(i))]))
        for _ in range(int(rng.integers(0, m // 2 + 1))):
            a, b = rng.integers(m, size=2)
            if a != b:
                edges.append((system, nodes[a], nodes[b]))
    names["facility"] = [f"facility{i}" for i in range(int(rng.integers(0, 4)))]
    for name in names["facility"]:
        assets.append((name, "facility", "hospital", 0, False))
    deps = []
    dependents = [a[0] for a in assets if a[1] != "power"]
    for name in dependents:
        for kind in ("power", "water", "telecom"):
            if kind == name.rstrip("0123456789") or rng.random() < 0.6:
                continue
            for s in rng.choice(names[kind], size=int(rng.integers(1, 3))):
                deps.append((name, str(s), kind, float(rng.choice([0.0, 4.0, 12.0, 48.0]))))
    return hand_twin(assets, edges, deps, service=(), cells=(1000,))
