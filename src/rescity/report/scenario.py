"""The scenario report: maps, tables by administrative level, and the run's settings."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rescity.hazard.registry import display_columns
from rescity.report.figures import choropleth
from rescity.report.html import Section, png_img, render_page, table_html
from rescity.twin.systems import get_system, service_systems

AFFECTED_DEFINITION = (
    "Affected population: people whose home is damaged (moderate damage or worse) or who are "
    "without power or water at the evaluation horizon, combined assuming independence within a "
    "grid cell. People without a service: residents of cells whose service terminal (10 kV feeder, "
    "water distribution node, base station, local road) is not functional at the horizon, after "
    "the cascade across dependent networks."
)

#: Hazard columns shown in tables and maps when a scenario has them: column → (label, digits,
#: colours), from the hazard registry (:func:`rescity.hazard.registry.display_columns`).
HAZARD_DISPLAY: dict[str, tuple[str, int, str]] = display_columns()

HOUSING_LABELS: tuple[tuple[str, str], ...] = (
    ("homes_damaged", "homes damaged (households)"),
    ("affected", "affected population"),
)


def quantity_labels(units: pd.DataFrame | None = None) -> tuple[tuple[str, str], ...]:
    """(column, label) of the people without each service (from the system registry), then the
    housing quantities; with ``units``, the services whose ``<output>_mean`` column it has."""
    svc = tuple(
        (s.output, s.service.label_en)
        for s in (get_system(n) for n in service_systems())
        if s.service is not None and (units is None or f"{s.output}_mean" in units)
    )
    return svc + HOUSING_LABELS


#: The built-in quantities (see :func:`quantity_labels`).
QUANTITY_LABELS: tuple[tuple[str, str], ...] = quantity_labels()
#: Shown when the scenario computed them (earthquakes).
OPTIONAL_QUANTITIES: tuple[tuple[str, str], ...] = (
    ("deaths", "deaths"),
    ("injured", "injured"),
    ("displaced", "displaced people"),
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


def _has(t: pd.DataFrame, col: str) -> bool:
    return col in t and bool(np.isfinite(t[col].to_numpy(float)).any())


def level_table(units: pd.DataFrame, level: str) -> pd.DataFrame:
    """A readable table of one administrative level (mean [90 % interval])."""
    t = units[units["level"] == level]
    out = pd.DataFrame(
        {
            "code": t["unit_id"].to_numpy(),
            "name": (t["name_zh"] + " " + t["name_en"]).to_numpy(),
            "population": [f"{int(p):,}" for p in t["population"]],
        }
    )
    for col, (label, digits, _) in HAZARD_DISPLAY.items():
        if _has(t, col):
            out[label] = np.round(t[col].to_numpy(float), digits)
    for system in service_systems():
        c = f"damaged_{system}"
        if f"{c}_mean" in t:
            out[f"{system} assets damaged"] = fmt_interval(
                t[f"{c}_mean"].to_numpy(), t[f"{c}_p05"].to_numpy(), t[f"{c}_p95"].to_numpy(), 1, pct=True
            )
    for q, label in quantity_labels(t) + tuple(o for o in OPTIONAL_QUANTITIES if f"{o[0]}_mean" in t):
        out[label] = fmt_interval(
            t[f"{q}_mean"].to_numpy(), t[f"{q}_p05"].to_numpy(), t[f"{q}_p95"].to_numpy()
        )
    if "driver" in t:
        out["main damage driver"] = t["driver"].replace("", "–").to_numpy()
    return out


def describe_event(res: Any) -> tuple[str, str]:
    """(HTML sentence, page title) naming the scenario's event."""
    st, track = res.settings, res.track
    if track is not None:
        name = str(track.attrs.get("name", "") or "")
        sn = str(track.attrs.get("sn", st.sn or ""))
        t0, t1 = pd.Timestamp(track["time"].iloc[0]), pd.Timestamp(track["time"].iloc[-1])
        text = (
            f"Storm <b>{html.escape(sn)} {html.escape(name)}</b>, track {t0:%Y-%m-%d %H:%M} – "
            f"{t1:%Y-%m-%d %H:%M} UTC, wind model {html.escape(st.model)}, hazards "
            f"{html.escape(', '.join(st.hazards))}"
        )
        return text, f"rescity scenario — {sn} {name}".strip()
    eq = st.quake
    m = eq.mainshock
    where = f"{m.lat:g}, {m.lon:g}, {m.depth_km:g}, {m.mw:g}"
    text = "Earthquake (lat, lon, depth km, Mw) <b>" + html.escape(where) + "</b>"
    if eq.aftershocks:
        text += f", then {len(eq.aftershocks)} aftershock(s) " + html.escape(
            "; ".join(f"{a.lat:g},{a.lon:g},{a.depth_km:g},{a.mw:g}" for a in eq.aftershocks)
        )
    text += "; ground motion BSSA14 with spatially correlated residuals (Jayaram &amp; Baker 2009)"
    return text, f"rescity scenario — earthquake {where}"


def scenario_report(res: Any, path: Path, extra_sections: list[Section] | None = None) -> Path:
    """Write the scenario report (``report.html``) for a :class:`rescity.run.scenario.RunResult`."""
    twin, units, st, track = res.twin, res.units, res.settings, res.track
    event, title = describe_event(res)
    sections: list[Section] = []

    is_prov = units["level"] == "province"
    prov = units[is_prov].iloc[0] if is_prov.any() else units.iloc[0]
    items = "".join(
        f"<li><b>{label}</b>: "
        + fmt_interval(
            np.array([prov[f"{q}_mean"]]), np.array([prov[f"{q}_p05"]]), np.array([prov[f"{q}_p95"]])
        )[0]
        + "</li>"
        for q, label in quantity_labels(units) + tuple(o for o in OPTIONAL_QUANTITIES if f"{o[0]}_mean" in units)
    )
    sections.append(
        Section(
            "Summary",
            f"<p>{event}; {st.realisations} realisations, seed {st.seed}, horizon {st.horizon_h:g} h.</p>"
            f"<p>{html.escape(str(prov['name_zh']))} {html.escape(str(prov['name_en']))} "
            f"(population {int(prov['population']):,}), mean [90 % interval]:</p><ul>{items}</ul>"
            f"<p class='note'>{html.escape(AFFECTED_DEFINITION)}</p>",
        )
    )

    geom = twin.geometry
    county = (units["level"] == "county").to_numpy()
    if geom is not None and county.any():
        g = [geom.iloc[i] for i in np.flatnonzero(county)]
        c = units[county]
        tr = None if track is None else (track["lon"].to_numpy(float), track["lat"].to_numpy(float))
        figs = [
            (choropleth(g, c[col], f"{label[0].upper()}{label[1:]} by county", "", cmap, track=tr), label)
            for col, (label, _, cmap) in HAZARD_DISPLAY.items()
            if _has(c, col)
        ]
        figs.append(
            (
                choropleth(
                    g, c["affected_mean"], "Affected population by county (mean)", "people", "magma_r"
                ),
                "affected population by county (mean)",
            )
        )
        body = (
            "<div class='figs'>"
            + "".join(
                f"<figure>{png_img(png, alt)}<figcaption>{html.escape(alt)}</figcaption></figure>"
                for png, alt in figs
            )
            + "</div>"
        )
        if "driver" in c:
            counts = c["driver"].replace("", "none").value_counts()
            body += (
                "<p>Hazard that drove most asset damage, by number of counties: "
                + ", ".join(f"{html.escape(str(k))} {int(v)}" for k, v in counts.items())
                + " (column <i>main damage driver</i> in the tables).</p>"
            )
        sections.append(Section("Maps", body))

    for level, heading in (
        ("province", "Province"),
        ("prefecture", "Prefecture-level cities"),
        ("county", "Counties"),
    ):
        if (units["level"] == level).any():
            sections.append(Section(heading, table_html(level_table(units, level))))

    if extra_sections:
        sections.extend(extra_sections)

    if "source" in twin.assets and (twin.assets["system"] == "power").any():
        from rescity.twin.stats import attribution, provenance_table

        credit = attribution(twin.assets["source"])
        sections.append(
            Section(
                "Where the power grid comes from",
                "<p>Assets by kind and by the source of their location: <i>osm</i>, <i>gridkit</i>, "
                "<i>wri</i> are real locations from open data, <i>generated</i> ones are modelled.</p>"
                + table_html(provenance_table(twin))
                + (f"<p class='note'>Real locations: {html.escape(credit)}.</p>" if credit else ""),
            )
        )

    settings = {**st.as_dict(), "timings_s": {k: round(v, 2) for k, v in res.timings_s.items()}}
    sections.append(
        Section(
            "Run settings",
            "<h3>Settings</h3><pre>"
            + html.escape(json.dumps(settings, indent=2, ensure_ascii=False))
            + "</pre><h3>Twin</h3><pre>"
            + html.escape(json.dumps(twin.summary(), indent=2, ensure_ascii=False))
            + "</pre>",
        )
    )
    return render_page(
        title,
        sections,
        path,
        subtitle="Lifelines under a hazard: intensity, damage, cascading failure and people without service",
    )
