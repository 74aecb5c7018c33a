"""A twin's power-grid totals beside State Grid Zhejiang's published figures.

``rescity twin stats`` prints :func:`grid_stats` as a table; ``docs/twin.md`` keeps the same table
for the default twin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rescity.twin.model import REAL_SOURCES, Twin

#: Kinds counted as lines at 35 kV and above (the twin has no separate 35 kV layer).
LINE_KINDS: tuple[str, ...] = ("line_500kv", "line_220kv", "line_110kv")
#: Kinds counted as substation transformer capacity.
SUBSTATION_KINDS: tuple[str, ...] = ("substation_500kv", "substation_220kv", "substation_110kv")

#: Published totals (State Grid Zhejiang Electric Power, as quoted in the project's source
#: documents; population from the 7th national census, NBS 2021).
PUBLISHED: dict[str, tuple[float, str, str]] = {
    "line_km": (74_000.0, "km", "State Grid Zhejiang: lines at 35 kV and above"),
    "substation_mva": (491_000.0, "MVA", "State Grid Zhejiang: substation capacity 491 million kVA"),
    "population": (64_000_000.0, "people", "State Grid Zhejiang: people served (2020 census 64.57 M)"),
}
#: The tolerance the default twin is held to (relative).
TOLERANCE = 0.15


def grid_stats(twin: Twin) -> pd.DataFrame:
    """One row per published total: ``quantity``, ``twin``, ``published``, ``unit``,
    ``ratio`` (twin / published), ``within_15pct``, ``source``; then the twin's breakdown rows
    (``published`` NaN) by kind and by real vs modelled location."""
    a = twin.assets
    kind = a["kind"].to_numpy(object)
    km = a["length_km"].to_numpy(float)
    cap = a["capacity"].to_numpy(float)
    lines = np.isin(kind, LINE_KINDS)
    subs = np.isin(kind, SUBSTATION_KINDS)
    cells = twin.units["level"] == "cell"
    pop = float(twin.units.loc[cells, "population"].sum()) if cells.any() else float(
        twin.units["population"].max()
    )
    values = {"line_km": float(km[lines].sum()), "substation_mva": float(cap[subs].sum()), "population": pop}
    rows = []
    for q, (pub, unit, src) in PUBLISHED.items():
        v = values[q]
        rows.append(
            {
                "quantity": q,
                "twin": v,
                "published": pub,
                "unit": unit,
                "ratio": v / pub,
                "within_15pct": abs(v / pub - 1.0) <= TOLERANCE,
                "source": src,
            }
        )
    source = a["source"].to_numpy(object) if "source" in a else np.full(len(a), "", dtype=object)
    real = np.isin(source, REAL_SOURCES)
    for k in LINE_KINDS:
        m = kind == k
        for label, mm in (("real", m & real), ("modelled", m & ~real)):
            rows.append(_part(f"{k} km ({label})", float(km[mm].sum()), "km", int(mm.sum())))
    for k in SUBSTATION_KINDS:
        m = kind == k
        for label, mm in (("real", m & real), ("modelled", m & ~real)):
            rows.append(_part(f"{k} MVA ({label})", float(cap[mm].sum()), "MVA", int(mm.sum())))
    m = kind == "power_plant"
    for label, mm in (("real", m & real), ("modelled", m & ~real)):
        rows.append(_part(f"power_plant MVA ({label})", float(cap[mm].sum()), "MVA", int(mm.sum())))
    return pd.DataFrame(rows)


def _part(q: str, v: float, unit: str, n: int) -> dict:
    return {
        "quantity": q,
        "twin": v,
        "published": np.nan,
        "unit": unit,
        "ratio": np.nan,
        "within_15pct": None,
        "source": f"{n:,} assets",
    }
