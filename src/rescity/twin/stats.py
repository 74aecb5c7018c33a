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
PUBLISHED: dict[str, tuple[float, str, str, str]] = {
    "line_km": (74_000.0, "km", "lines at 35 kV and above", "State Grid Zhejiang"),
    "substation_mva": (491_000.0, "MVA", "substation capacity", "State Grid Zhejiang"),
    "population": (64_000_000.0, "people", "people served", "State Grid Zhejiang; census 2020"),
}
#: The tolerance the default twin is held to (relative).
TOLERANCE = 0.15


def grid_stats(twin: Twin) -> pd.DataFrame:
    """One row per published total: ``quantity`` (id), ``label``, ``twin``, ``published``,
    ``unit``, ``ratio`` (twin / published), ``within_15pct``, ``source``; then the twin's
    breakdown rows (``published`` NaN; ``source`` holds the number of assets) by kind and by real
    vs modelled location."""
    a = twin.assets
    kind = a["kind"].to_numpy(object)
    km = a["length_km"].to_numpy(float)
    cap = a["capacity"].to_numpy(float)
    lines = np.isin(kind, LINE_KINDS)
    subs = np.isin(kind, SUBSTATION_KINDS)
    cells = twin.units["level"] == "cell"
    pop = (
        float(twin.units.loc[cells, "population"].sum())
        if cells.any()
        else float(twin.units["population"].max())
    )
    values = {"line_km": float(km[lines].sum()), "substation_mva": float(cap[subs].sum()), "population": pop}
    rows = []
    for q, (pub, unit, label, src) in PUBLISHED.items():
        v = values[q]
        rows.append(
            {
                "quantity": q,
                "label": label,
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
    for ks, values_, unit in (
        (LINE_KINDS, km, "km"),
        (SUBSTATION_KINDS, cap, "MVA"),
        (("power_plant",), cap, "MVA"),
    ):
        for k in ks:
            m = kind == k
            for where, mm in (("real", m & real), ("modelled", m & ~real)):
                rows.append(_part(k, where, float(values_[mm].sum()), unit, int(mm.sum())))
    return pd.DataFrame(rows)


def _part(kind: str, where: str, v: float, unit: str, n: int) -> dict:
    label = kind.replace("_", " ").replace("kv", " kV").replace("power plant", "plants")
    return {
        "quantity": f"{kind}_{where}",
        "label": f"  {label}, {where}",
        "twin": v,
        "published": np.nan,
        "unit": unit,
        "ratio": np.nan,
        "within_15pct": None,
        "source": f"{n:,} assets",
    }


def attribution(sources) -> str:
    """Credit line for the real locations among ``sources`` (``""`` when there are none)."""
    used = set(sources)
    parts = []
    if used & {"osm", "gridkit"}:
        parts.append("© OpenStreetMap contributors (ODbL 1.0)")
    if "gridkit" in used:
        parts.append("GridKit (Medjroubi et al. 2017)")
    if "wri" in used:
        parts.append("WRI Global Power Plant Database (CC BY 4.0)")
    return "; ".join(parts)


def provenance_table(twin: Twin, system: str | None = "power") -> pd.DataFrame:
    """Assets by kind and location source: ``kind``, one count column per source present
    (``osm``, ``gridkit``, ``wri``, ``generated``, ``unknown``), ``real location`` (share, 0–1)."""
    a = twin.assets if system is None else twin.assets[twin.assets["system"] == system]
    src = a["source"] if "source" in a else pd.Series("", index=a.index)
    src = src.fillna("").replace("", "unknown")
    t = pd.crosstab(a["kind"], src)
    order = [c for c in (*REAL_SOURCES, "generated", "unknown") if c in t.columns]
    t = t[order + [c for c in t.columns if c not in order]]
    real = t[[c for c in REAL_SOURCES if c in t.columns]].sum(axis=1)
    t["real location"] = (real / t.sum(axis=1)).round(3)
    return t.rename_axis(columns=None).reset_index()
