"""Single points of failure: the N-1 table of every asset of every system.

For each asset, the people who lose each service when that asset alone fails and everything else
is intact, cascades across dependent systems included (:func:`rescity.engine.criticality.n_minus_1`,
exact, all assets at once by dominator trees, no run per asset). Ranked by the people losing any
service (summed over the four services).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.engine.criticality import n_minus_1
from rescity.twin.model import Twin
from rescity.twin.systems import all_systems, service_systems

SPOF_COLUMNS: tuple[str, ...] = (
    "asset_id",
    "system",
    "kind",
    "unit_id",
    "people_lost_power",
    "people_lost_water",
    "people_lost_telecom",
    "people_lost_road",
    "people_lost_total",
)


def spof_table(twin: Twin, *, horizon_h: float = 12.0, thresholds=None) -> pd.DataFrame:
    """One row per asset, ranked by ``people_lost_total`` (largest first).

    Columns: :data:`SPOF_COLUMNS`, then ``rank``, ``assets_lost`` (assets out with it, itself
    included), ``hospitals_lost``, ``hospital_critical``, ``name``, ``lon``, ``lat``. People lost
    per service are people of the service rows whose terminal is no longer functional at the
    horizon ``horizon_h`` (dependency buffers at least that long hold); ``people_lost_total`` is
    their sum over the four services (a person losing power and water counts twice).
    """
    r = n_minus_1(twin, horizon_h=horizon_h, thresholds=thresholds)
    a = twin.assets
    t = pd.DataFrame(
        {
            "asset_id": a["asset_id"].to_numpy(),
            "system": a["system"].to_numpy(),
            "kind": a["kind"].to_numpy(),
            "unit_id": a["unit_id"].to_numpy(),
            **{f"people_lost_{s}": np.round(r[f"people_lost_{s}"], 3) for s in service_systems()},
            "people_lost_total": np.round(r["people_lost_total"], 3),
            "assets_lost": r["assets_lost"],
            "hospitals_lost": r["hospitals_lost"],
            "hospital_critical": r["hospital_critical"],
            "name": a["name"].to_numpy(),
            "lon": a["lon"].to_numpy(float),
            "lat": a["lat"].to_numpy(float),
        }
    )
    t = t.sort_values(["people_lost_total", "assets_lost"], ascending=False, kind="stable").reset_index(
        drop=True
    )
    t.insert(len(SPOF_COLUMNS), "rank", np.arange(1, len(t) + 1))
    return t


def spof_summary(t: pd.DataFrame, thresholds: tuple[float, ...] = (1_000, 10_000, 100_000)) -> pd.DataFrame:
    """Per system and kind: assets, how many cut off at least 1k / 10k / 100k people, the largest."""
    g = t.groupby(["system", "kind"], sort=True)
    out = g.size().rename("assets").to_frame()
    for x in thresholds:
        out[f"≥ {x:,.0f} people"] = g["people_lost_total"].apply(lambda s, x=x: int((s >= x).sum()))
    out["largest"] = g["people_lost_total"].max().round(0)
    return out.reset_index()


def spof_map(twin: Twin, t: pd.DataFrame, top: int = 50) -> bytes:
    """PNG map: county outlines and the ``top`` single points of failure, sized by people lost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rescity.report.figures import _png

    fig, ax = plt.subplots(figsize=(7.0, 6.6))
    geom = twin.geometry
    lv = twin.units["level"].to_numpy()
    if geom is not None:
        import geopandas as gpd

        level = "county" if (lv == "county").any() else lv[0]
        g = gpd.GeoSeries([geom.iloc[i] for i in np.flatnonzero(lv == level)], crs="EPSG:4326")
        g.boundary.plot(ax=ax, color="#999999", linewidth=0.3)
    sub = t.head(top)
    sub = sub[sub["people_lost_total"] > 0]
    colors = {s.name: s.color for s in all_systems()}
    mx = max(float(sub["people_lost_total"].max()) if len(sub) else 1.0, 1.0)
    for sys_, part in sub.groupby("system"):
        ax.scatter(
            part["lon"],
            part["lat"],
            s=12 + 300 * np.sqrt(part["people_lost_total"] / mx),
            c=colors.get(sys_, "#333333"),
            alpha=0.7,
            edgecolors="white",
            linewidths=0.5,
            label=str(sys_),
        )
    if len(sub):
        ax.legend(loc="lower right", fontsize=8, title="system")
    ax.set_title(f"Top {len(sub)} single points of failure (people losing a service, N-1)", fontsize=10)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    lat0 = float(np.nanmean(twin.assets["lat"])) if twin.n_assets else 0.0
    ax.set_aspect(1 / np.cos(np.deg2rad(lat0)))
    return _png(fig)


def write_spof(
    twin: Twin, out: Path, *, horizon_h: float = 12.0, top: int = 50, thresholds=None
) -> dict[str, Path]:
    """Write ``spof.csv``, ``spof_map.png`` and ``spof.html`` into ``out``."""
    from rescity.report.html import Section, png_img, render_page, table_html

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t = spof_table(twin, horizon_h=horizon_h, thresholds=thresholds)
    files = {}
    p = out / "spof.csv"
    t.to_csv(p, index=False, float_format="%.6g")
    files["spof.csv"] = p
    png = spof_map(twin, t, top=top)
    p = out / "spof_map.png"
    p.write_bytes(png)
    files["spof_map.png"] = p
    show = t.head(top)[
        ["rank", "asset_id", "system", "kind", "unit_id", "name"]
        + [f"people_lost_{s}" for s in service_systems()]
        + ["people_lost_total", "assets_lost", "hospitals_lost"]
    ].copy()
    for c in [f"people_lost_{s}" for s in service_systems()] + ["people_lost_total"]:
        show[c] = show[c].round(0).astype(np.int64)
    sections = [
        Section(
            "Single points of failure",
            f"<p>N-1 over all {len(t):,} assets of the twin: for each asset, the people who lose a "
            f"service when it alone fails and everything else is intact, cascades across dependent "
            f"systems included, at the {horizon_h:g} h horizon (backups lasting that long hold). "
            "Computed exactly for every asset at once from dominator trees of each network.</p>"
            f"<figure>{png_img(png, 'single points of failure')}</figure>"
            + table_html(show, caption=f"Top {len(show)} assets by people losing a service"),
        ),
        Section("By kind", table_html(spof_summary(t))),
    ]
    files["spof.html"] = render_page(
        f"rescity — single points of failure ({html.escape(str(twin.meta.get('name', 'twin')))})",
        sections,
        out / "spof.html",
        subtitle="N-1 of every asset of every system, cascades included",
    )
    return files
