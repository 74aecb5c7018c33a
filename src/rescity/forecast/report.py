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

    from rescity.report.fonts import use_in_matplotlib

    use_in_matplotlib()
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


#: Indicator names as people read them, with units (English, Chinese).
INDICATOR_LABELS: dict[str, tuple[str, str]] = {
    "composite": ("composite risk score (0–5)", "综合风险指数"),
    "relocate": ("people to relocate", "需转移人口"),
    "homes_damaged": ("homes damaged (households)", "房屋受损户数"),
    "roads_impassable": ("road links impassable", "道路中断处"),
    "people_cut_off": ("people cut off (no road access)", "交通中断人口"),
    "power_outage_households": ("households without power", "停电户数"),
    "affected": ("affected population", "受灾人口"),
    "economic_loss_cny": ("direct economic loss (CNY)", "直接经济损失（元）"),
}
#: Order in which ties of the composite score are broken: the quantity that matters most first.
TIE_BREAK: tuple[str, ...] = ("relocate", "people_cut_off", "homes_damaged", "economic_loss_cny")

NO_THRESHOLD = "no threshold"


def indicator_label(indicator: str) -> str:
    """``"people to relocate"`` for ``relocate`` (the code itself when unknown)."""
    return INDICATOR_LABELS.get(indicator, (indicator, ""))[0]


def fmt_value(indicator: str, x: float) -> str:
    """A forecast number as people read it: scores to one decimal, CNY in millions/billions
    (亿 = 100 M), counts to three significant figures."""
    if not np.isfinite(x):
        return "–"
    if indicator == "composite":
        return f"{x:.1f}"
    if indicator.endswith("_cny"):
        if abs(x) >= 1e9:
            return f"{x / 1e9:,.1f} bn CNY"
        if abs(x) >= 1e6:
            return f"{x / 1e6:,.0f} M CNY"
        return f"{x:,.0f} CNY"
    if x == 0:
        return "0"
    d = max(int(np.floor(np.log10(abs(x)))) - 2, 0)
    return f"{round(x, -d):,.0f}"


def warning_word(indicator: str, warning: int, with_thresholds: set[str] | None = None) -> str:
    """The warning colour of ``indicator``, or :data:`NO_THRESHOLD` for indicators that have no
    warning thresholds (their colour is never "none" by omission)."""
    from rescity.forecast.warning import indicators_with_thresholds

    have = set(indicators_with_thresholds()) | {"composite"} if with_thresholds is None else with_thresholds
    return COLOURS[int(warning)] if indicator in have else NO_THRESHOLD


def ranked_units(table: pd.DataFrame, lead_h: int, level: str, n: int = 15) -> pd.DataFrame:
    """Units of ``level`` ranked by composite score, ties broken by :data:`TIE_BREAK` (people to
    relocate, then people cut off, homes damaged, loss): one row per unit with every indicator's
    mean as a column, ``name``, ``warning`` (composite) and ``p05``/``p95`` of the composite."""
    sel = table[(table["lead_h"] == lead_h) & (table["level"] == level)]
    if sel.empty:
        return pd.DataFrame()
    piv = sel.pivot_table(index="unit_id", columns="indicator", values="mean", aggfunc="first")
    comp = sel[sel["indicator"] == "composite"].set_index("unit_id")
    first = sel.drop_duplicates("unit_id").set_index("unit_id")
    out = piv.copy()
    out["name"] = (
        first["name_zh"].astype(str).str.cat(first["name_en"].astype(str), sep=" ").str.strip()
        if {"name_zh", "name_en"} <= set(first.columns)
        else first.index.astype(str)
    ).reindex(out.index)
    if "composite" in piv:
        out["warning"] = comp["warning"].reindex(out.index).fillna(0).astype(int)
        out["composite_p05"] = comp["p05"].reindex(out.index)
        out["composite_p95"] = comp["p95"].reindex(out.index)
    keys = [k for k in ("composite", *TIE_BREAK) if k in out]
    out = out.sort_values(keys, ascending=False, kind="stable") if keys else out
    return out.head(n).reset_index()


def _top_table(table: pd.DataFrame, lead_h: int, level: str, n: int = 15) -> str:
    r = ranked_units(table, lead_h, level, n)
    if r.empty:
        return "<p>No units at this level.</p>"
    inds = [i for i in ("relocate", "people_cut_off", "homes_damaged", "affected", "economic_loss_cny") if i in r]
    head = (
        "<tr><th>rank</th><th class='name'>unit</th><th>warning</th><th>composite [90 %]</th>"
        + "".join(f"<th>{html.escape(indicator_label(i))}</th>" for i in inds)
        + "</tr>"
    )
    rows = [f"<table class='ranked'><caption>Top {len(r)} {level} units, ranked by composite score; "
            "ties broken by people to relocate, then people cut off</caption>" + head]
    for k, row in enumerate(r.itertuples(index=False), 1):
        d = row._asdict()
        w = int(d.get("warning", 0))
        cells = "".join(f"<td>{fmt_value(i, float(d[i]))}</td>" for i in inds)
        rows.append(
            f"<tr><td>{k}</td><td class='name'>{html.escape(str(d['name']))}</td>"
            f"<td class='w{w}'>{COLOURS[w]}</td>"
            f"<td>{d.get('composite', np.nan):.1f} [{d.get('composite_p05', np.nan):.1f}–"
            f"{d.get('composite_p95', np.nan):.1f}]</td>{cells}</tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _province_table(table: pd.DataFrame, lead_h: int) -> str:
    """Every indicator of the top level: value, 90 % interval, warning (or "no threshold")."""
    lv = table["level"].iloc[0] if len(table) else "province"
    sel = table[(table["lead_h"] == lead_h) & (table["level"] == lv)]
    if sel.empty:
        return ""
    rows = ["<table class='prov'><tr><th class='name'>indicator</th><th>mean</th><th>90 % interval</th>"
            "<th>warning</th></tr>"]
    for r in sel.itertuples():
        w = warning_word(r.indicator, r.warning)
        cls = f"w{int(r.warning)}" if w != NO_THRESHOLD else "nt"
        zh = INDICATOR_LABELS.get(r.indicator, ("", ""))[1]
        rows.append(
            f"<tr><td class='name'>{html.escape(indicator_label(r.indicator))} {html.escape(zh)}</td>"
            f"<td>{fmt_value(r.indicator, r.mean)}</td>"
            f"<td>{fmt_value(r.indicator, r.p05)} – {fmt_value(r.indicator, r.p95)}</td>"
            f"<td class='{cls}'>{w}</td></tr>"
        )
    rows.append("</table>")
    name = f"{sel['name_zh'].iloc[0]} {sel['name_en'].iloc[0]}" if "name_zh" in sel else str(sel["unit_id"].iloc[0])
    return f"<h3>{html.escape(name)}, next {int(lead_h)} h</h3>" + "".join(rows)


WARNING_NOTE = (
    "Each indicator with thresholds (people to relocate, homes damaged, people cut off, direct "
    "economic loss) gets its own colour; the composite score is the highest of their scores, so "
    "the overall warning is the colour of the worst indicator (any one criterion starts a response, "
    "as in the national relief plan). Indicators marked “no threshold” (affected population, "
    "households without power, road links impassable) are shown for information: they have no "
    "warning level of their own and do not lower the composite. Thresholds: docs/forecast.md."
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{font_face}
body{{font-family:"rescity-cjk",system-ui,"DejaVu Sans",sans-serif;margin:1.5em;max-width:1200px;color:#1b1b1b}}
table{{border-collapse:collapse;font-size:12px;margin:.5em 0}}
caption{{text-align:left;font-weight:600;padding:.3em 0}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}}
td.name,th.name{{text-align:left;position:sticky;left:0;background:#fff}}
.w0{{background:#eee}} .w1{{background:#9ecae1}} .w2{{background:#ffe680}} .w3{{background:#fdae6b}}
.w4{{background:#fb6a4a}} .nt{{color:#666;font-style:italic}} #slider{{width:100%}}
.note{{font-size:.9em;color:#444}}
@media print {{ #slider{{display:none}} body{{margin:0}} }}</style></head>
<body><h1>{title}</h1><p>{intro}</p><p class="note">{warning_note}</p>
<input type="range" id="slider" min="0" max="{nmax}" value="{nmax}" step="1" aria-label="issuance">
<p id="label"></p><p><a id="brief" href="#">Printable one-page brief of this issuance</a></p><div id="prov"></div><img id="map" style="max-width:100%" alt="warning map"><div id="top"></div>
<script>
const D = {data};
const s = document.getElementById('slider');
function show(i) {{
  const d = D[i];
  document.getElementById('label').textContent = 'Issuance ' + d.issued + ' — ' + d.caption;
  document.getElementById('brief').href = d.brief;
  document.getElementById('map').src = 'data:image/png;base64,' + d.png;
  document.getElementById('prov').innerHTML = d.prov;
  document.getElementById('top').innerHTML = d.table;
}}
s.addEventListener('input', () => show(+s.value));
// after the embedded font has loaded: text laid out before it may keep fallback boxes
document.fonts.ready.then(() => show(+s.value));
</script></body></html>
"""


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
        cap = f"{indicator_label(indicator)}: warning, next {L} h, {level} level"
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
        from rescity.forecast.brief import write_brief

        brief = write_brief(out, issuances, issued, png, lead_h=L, level=level, title=f"{title}: brief")
        data.append(
            {
                "brief": brief.name,
                "issued": issued,
                "caption": cap,
                "png": png,
                "table": _top_table(t, L, level),
                "prov": _province_table(t, L),
            }
        )
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
    from rescity.report.fonts import font_face_css

    payload = json.dumps(data, ensure_ascii=False)
    fmt = {"title": html.escape(title), "intro": intro, "warning_note": html.escape(WARNING_NOTE)}
    page = _PAGE.format(font_face=font_face_css(title + payload + WARNING_NOTE), nmax=max(len(data) - 1, 0),
                        data=payload, **fmt)
    p = out / "report.html"
    p.write_text(page, encoding="utf-8")
    return p
