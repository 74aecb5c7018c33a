"""The scenario report: maps, tables by administrative level, and the run's settings."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rescity.report.figures import choropleth
from rescity.report.html import Section, png_img, render_page, table_html

AFFECTED_DEFINITION = (
    "Affected population: people whose home is damaged (moderate damage or worse) or who are "
    "without power or water at the evaluation horizon, combined assuming independence within a "
    "grid cell. People without a service: residents of cells whose service terminal (10 kV feeder, "
    "water distribution node, base station, local road) is not functional at the horizon, after "
    "the cascade across dependent networks."
)


def fmt_interval(
    mean: np.ndarray, lo: np.ndarray, hi: np.ndarray, digits: int = 0, pct: bool = False
) -> list[str]:
    """``mean [lo–hi]`` strings; ``pct`` shows fractions as percentages."""
    k = 100.0 if pct else 1.0
    suf = " %" if pct else ""
    f = f"{{:,.{digits}f}}"
    return [
        f"{f.format(m * k)} [{f.format(a * k)}–{f.format(b * k)}]{suf}" if np.isfinite(m) else "–"
        for m, a, b in zip(mean, lo, hi, strict=True)
    ]


def level_table(units: pd.DataFrame, level: str) -> pd.DataFrame:
    """A readable table of one administrative level (mean [90 % interval])."""
    t = units[units["level"] == level]
    out = pd.DataFrame(
        {
            "code": t["unit_id"].to_numpy(),
            "name": (t["name_zh"] + " " + t["name_en"]).to_numpy(),
            "population": [f"{int(p):,}" for p in t["population"]],
            "peak wind (m/s)": np.round(t["wind_max_ms"].to_numpy(float), 1),
            "peak gust (m/s)": np.round(t["gust_max_ms"].to_numpy(float), 1),
            "storm rain (mm)": np.round(t["rain_mm"].to_numpy(float), 0),
        }
    )
    for system in ("power", "water", "telecom", "road"):
        c = f"damaged_{system}"
        if f"{c}_mean" in t:
            out[f"{system} assets damaged"] = fmt_interval(
                t[f"{c}_mean"].to_numpy(), t[f"{c}_p05"].to_numpy(), t[f"{c}_p95"].to_numpy(), 1, pct=True
            )
    for q, label in (
        ("no_power", "without power"),
        ("no_water", "without water"),
        ("no_telecom", "without telecom"),
        ("no_road", "without road access"),
        ("affected", "affected population"),
    ):
        out[label] = fmt_interval(
            t[f"{q}_mean"].to_numpy(), t[f"{q}_p05"].to_numpy(), t[f"{q}_p95"].to_numpy()
        )
    if "driver" in t:
        out["main damage driver"] = t["driver"].to_numpy()
    return out


def scenario_report(res: Any, path: Path, extra_sections: list[Section] | None = None) -> Path:
    """Write the scenario report (``report.html``) for a :class:`rescity.pipeline.ScenarioResult`."""
    twin = res.twin
    units = res.units
    st = res.settings
    track = res.track
    name = str(track.attrs.get("name", "") or "")
    sn = str(track.attrs.get("sn", st.sn or ""))
    t0, t1 = pd.Timestamp(track["time"].iloc[0]), pd.Timestamp(track["time"].iloc[-1])

    sections: list[Section] = []
    prov = (
        units[units["level"] == "province"].iloc[0] if (units["level"] == "province").any() else units.iloc[0]
    )
    headline = [
        ("affected population", "affected"),
        ("people without power", "no_power"),
        ("people without water", "no_water"),
        ("people without telecom", "no_telecom"),
        ("people without road access", "no_road"),
    ]
    items = "".join(
        f"<li><b>{lab}</b>: {fmt_interval(np.array([prov[f'{q}_mean']]), np.array([prov[f'{q}_p05']]), np.array([prov[f'{q}_p95']]))[0]}</li>"
        for lab, q in headline
    )
    sections.append(
        Section(
            "Summary",
            f"<p>Storm <b>{html.escape(sn)} {html.escape(name)}</b>, track {t0:%Y-%m-%d %H:%M} – {t1:%Y-%m-%d %H:%M} UTC, "
            f"{st.realisations} realisations, seed {st.seed}, wind model {html.escape(st.model)}, hazards "
            f"{', '.join(st.hazards)}, horizon {st.horizon_h:g} h.</p>"
            f"<p>{html.escape(str(prov['name_zh']))} {html.escape(str(prov['name_en']))} "
            f"(population {int(prov['population']):,}), mean [90 % interval]:</p><ul>{items}</ul>"
            f"<p class='note'>{html.escape(AFFECTED_DEFINITION)}</p>",
        )
    )

    geom = twin.geometry
    county = (units["level"] == "county").to_numpy()
    if geom is not None and county.any():
        g = [geom.iloc[i] for i in np.flatnonzero(county)]
        tr = (track["lon"].to_numpy(float), track["lat"].to_numpy(float))
        c = units[county]
        figs = [
            (
                choropleth(g, c["gust_max_ms"], "Peak 3-s gust by county", "m/s", "YlOrRd", track=tr),
                "peak gust by county",
            ),
            (
                choropleth(g, c["wind_max_ms"], "Peak 1-min wind by county", "m/s", "YlOrRd", track=tr),
                "peak wind by county",
            ),
            (
                choropleth(g, c["rain_mm"], "Storm rain by county (areal mean)", "mm", "Blues", track=tr),
                "storm rain by county",
            ),
            (
                choropleth(
                    g, c["affected_mean"], "Affected population by county (mean)", "people", "magma_r"
                ),
                "affected population by county",
            ),
        ]
        body = (
            "<div class='figs'>"
            + "".join(
                f"<figure>{png_img(png, alt)}<figcaption>{html.escape(alt)}</figcaption></figure>"
                for png, alt in figs
            )
            + "</div>"
        )
        sections.append(Section("Maps", body))

    for level, title in (
        ("province", "Province"),
        ("prefecture", "Prefecture-level cities"),
        ("county", "Counties"),
    ):
        if (units["level"] == level).any():
            sections.append(Section(title, table_html(level_table(units, level))))

    if extra_sections:
        sections.extend(extra_sections)

    summary = twin.summary()
    settings = {**st.as_dict(), "timings_s": {k: round(v, 2) for k, v in res.timings_s.items()}}
    sections.append(
        Section(
            "Run settings",
            "<h3>Settings</h3><pre>"
            + html.escape(json.dumps(settings, indent=2, ensure_ascii=False))
            + "</pre>"
            "<h3>Twin</h3><pre>" + html.escape(json.dumps(summary, indent=2, ensure_ascii=False)) + "</pre>",
        )
    )
    return render_page(
        f"rescity scenario — {sn} {name}".strip(),
        sections,
        path,
        subtitle="Zhejiang lifelines under a typhoon: wind, rain, damage, cascading failure and people without service",
    )
