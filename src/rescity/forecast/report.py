"""Forecast report: one warning map per issuance, in one offline HTML page with a time slider.

Maps colour the units of one level (county by default) by the warning level of one indicator
(the composite by default) for one lead window, and draw the official track and the ensemble
members. Unit shapes come from the twin's geometry, else from the packaged Zhejiang county
boundaries (matched on the county code); units without a shape are drawn as dots at their
centroid. Images are embedded (base64 PNG): the page needs no network.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.forecast.warning import COLOURS, HEX


def _figure(width=7.0, height=6.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def unit_shapes(twin=None, level: str = "county"):
    """GeoDataFrame ``unit_id, geometry`` of the units of ``level`` (twin geometry or packaged counties)."""
    import geopandas as gpd

    if twin is not None and getattr(twin, "geometry", None) is not None:
        m = (twin.units["level"] == level).to_numpy()
        g = gpd.GeoDataFrame(
            {"unit_id": twin.units["unit_id"].to_numpy()[m]}, geometry=list(np.asarray(twin.geometry)[m])
        )
        return g[g.geometry.notna()]
    from rescity.data import path

    gj = gpd.read_file(path("zhejiang_counties.geojson"))
    if level == "county":
        return gpd.GeoDataFrame({"unit_id": gj["county_code"].astype(str)}, geometry=gj.geometry)
    if level == "prefecture":
        d = gj.dissolve(by="prefecture_code").reset_index()
        return gpd.GeoDataFrame({"unit_id": d["prefecture_code"].astype(str)}, geometry=d.geometry)
    return gpd.GeoDataFrame({"unit_id": pd.Series(dtype=str)}, geometry=[])


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def issuance_map(
    table: pd.DataFrame,
    shapes,
    *,
    lead_h: int = 24,
    indicator: str = "composite",
    level: str = "county",
    tracks: pd.DataFrame | None = None,
    centroids: pd.DataFrame | None = None,
    title: str = "",
):
    """A matplotlib Figure: units of ``level`` coloured by warning, tracks on top."""
    fig = _figure()
    ax = fig.add_subplot(111)
    sel = table[(table["lead_h"] == lead_h) & (table["indicator"] == indicator) & (table["level"] == level)]
    warn = dict(zip(sel["unit_id"].astype(str), sel["warning"].astype(int), strict=True))
    if shapes is not None and len(shapes):
        s = shapes.copy()
        s["w"] = s["unit_id"].astype(str).map(warn).fillna(0).astype(int)
        s["colour"] = [HEX[w] for w in s["w"]]
        s.plot(ax=ax, color=s["colour"], edgecolor="white", linewidth=0.4)
        drawn = set(s["unit_id"].astype(str))
    else:
        drawn = set()
    if centroids is not None:
        rest = centroids[centroids["unit_id"].astype(str).isin(set(warn) - drawn)]
        if len(rest):
            ax.scatter(
                rest["lon"],
                rest["lat"],
                s=12,
                c=[HEX[warn[u]] for u in rest["unit_id"].astype(str)],
                edgecolors="none",
            )
    if tracks is not None and len(tracks):
        for m, g in tracks.groupby("member"):
            if m < 0:
                continue
            ax.plot(g["lon"], g["lat"], color="0.35", lw=0.4, alpha=0.35)
        off = tracks[tracks["member"] == -1]
        if len(off):
            ax.plot(off["lon"], off["lat"], color="black", lw=1.6, label="official forecast")
    xs = [] if shapes is None or not len(shapes) else list(shapes.total_bounds)
    if xs:
        ax.set_xlim(xs[0] - 1.0, xs[2] + 1.0)
        ax.set_ylim(xs[1] - 1.0, xs[3] + 1.0)
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color=HEX[k], label=COLOURS[k]) for k in range(5)], loc="lower right", fontsize=7
    )
    ax.set_aspect(1.0 / np.cos(np.radians(29.0)))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title(title, fontsize=9)
    return fig


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1100px}}
table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}
.w0{{background:#eee}} .w1{{background:#9ecae1}} .w2{{background:#ffe680}} .w3{{background:#fdae6b}}
.w4{{background:#fb6a4a}} #slider{{width:100%}}</style></head>
<body><h1>{title}</h1><p>{intro}</p>
<input type="range" id="slider" min="0" max="{nmax}" value="{nmax}" step="1">
<p id="label"></p><img id="map" style="max-width:100%"><div id="top"></div>
<script>
const D = {data};
const s = document.getElementById('slider');
function show(i) {{
  const d = D[i];
  document.getElementById('label').textContent = 'Issuance ' + d.issued + ' — ' + d.caption;
  document.getElementById('map').src = 'data:image/png;base64,' + d.png;
  document.getElementById('top').innerHTML = d.table;
}}
s.addEventListener('input', () => show(+s.value));
show(+s.value);
</script></body></html>
"""


def _top_table(table: pd.DataFrame, lead_h: int, level: str, n: int = 12) -> str:
    sel = table[(table["lead_h"] == lead_h) & (table["level"] == level)]
    comp = sel[sel["indicator"] == "composite"].sort_values("mean", ascending=False).head(n)
    inds = ["relocate", "homes_damaged", "people_cut_off", "economic_loss_cny"]
    piv = sel[sel["indicator"].isin(inds)].pivot_table(index="unit_id", columns="indicator", values="mean")
    rows = ["<table><tr><th>unit</th><th>composite</th>" + "".join(f"<th>{i}</th>" for i in inds) + "</tr>"]
    for r in comp.itertuples():
        name = html.escape(
            f"{getattr(r, 'name_zh', '')} {getattr(r, 'name_en', '')}".strip() or str(r.unit_id)
        )
        cells = "".join(
            f"<td>{piv.loc[r.unit_id, i]:,.0f}</td>"
            if (r.unit_id in piv.index and i in piv.columns)
            else "<td></td>"
            for i in inds
        )
        rows.append(
            f"<tr><td>{name}</td><td class='w{int(r.warning)}'>"
            f"{r.mean:.2f} ({r.p05:.2f}–{r.p95:.2f})</td>{cells}</tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def write_report(
    out_dir,
    issuances: pd.DataFrame,
    *,
    twin=None,
    tracks: pd.DataFrame | None = None,
    lead_h: int = 24,
    indicator: str = "composite",
    level: str = "county",
    title: str = "rescity risk forecast",
    track_record: dict | None = None,
) -> Path:
    """Write ``report.html`` (slider over issuances) and ``maps/<issued>.png`` into ``out_dir``.

    ``track_record``: how well the model did on past storms
    (:func:`rescity.history.suite.track_record`), stated beside the forecast."""
    out = Path(out_dir)
    (out / "maps").mkdir(parents=True, exist_ok=True)
    shapes = unit_shapes(twin, level)
    cents = None if twin is None else twin.units[["unit_id", "lon", "lat"]]
    data = []
    for issued in sorted(issuances["issued"].unique()):
        t = issuances[issuances["issued"] == issued]
        leads = sorted(t["lead_h"].unique())
        L = lead_h if lead_h in set(leads) else int(leads[0])
        tr = None if tracks is None else tracks[tracks["issued"] == issued]
        cap = f"{indicator} warning, next {L} h, {level} level"
        fig = issuance_map(
            t,
            shapes,
            lead_h=L,
            indicator=indicator,
            level=level,
            tracks=tr,
            centroids=cents,
            title=f"{issued}: {cap}",
        )
        png = _png(fig)
        stamp = issued.replace(":", "").replace("-", "")
        (out / "maps" / f"{stamp}.png").write_bytes(base64.b64decode(png))
        data.append({"issued": issued, "caption": cap, "png": png, "table": _top_table(t, L, level)})
    intro = (
        "Warning levels (blue, yellow, orange, red) from the thresholds in docs/forecast.md; mean and 90 % "
        "interval over the ensemble members and damage realisations. Move the slider to step through the "
        "issuances."
    )
    rec = track_record
    if rec:
        intro += " How well the model did on past storms: " + rec["plain_words"]
        if rec["calibration"]:
            intro += f" Official statistics use {rec['calibration']}."
    intro = html.escape(intro)
    page = _PAGE.format(
        title=html.escape(title), intro=intro, nmax=max(len(data) - 1, 0), data=json.dumps(data)
    )
    p = out / "report.html"
    p.write_text(page, encoding="utf-8")
    return p
