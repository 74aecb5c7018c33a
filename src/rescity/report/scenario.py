"""The scenario report: maps, tables by administrative level, and the run's settings."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rescity.hazard.registry import HAZARDS, display_columns
from rescity.report.html import Section, png_img, render_page, table_html
from rescity.twin.model import REAL_SOURCES
from rescity.twin.systems import get_system, service_outputs, service_systems

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

#: Which hazard (``--hazards``) each summary column shows, from the hazard registry.
HAZARD_OF_COLUMN: dict[str, str] = {
    m.column: h.name for h in HAZARDS.values() for m in h.measures if m.column
}

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




def people_quantities() -> tuple[str, ...]:
    """Quantities that count people (intervals never above the unit's population): the service
    outputs of the system registry, then the affected, deaths, injured and displaced."""
    return (*service_outputs(), "affected", "deaths", "injured", "displaced")

SKEW_NOTE = (
    "† The mean lies outside its own 90 % interval: the distribution over realisations is skewed "
    "— in most realisations (at least 95 %) few or no people are hit, in a few many are. The median is "
    "the typical outcome; the mean weighs in the rare bad cases and is what totals add up."
)


def round_people(x: float) -> float:
    """People to three significant figures (8,135,763 → 8,140,000; 4,812 → 4,810; 37 → 37)."""
    if not np.isfinite(x) or x == 0:
        return x
    d = max(int(np.floor(np.log10(abs(x)))) - 2, 0)
    return float(np.round(x, -d))


def fmt_interval(
    mean: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    digits: int = 0,
    pct: bool = False,
    median: np.ndarray | None = None,
    cap: np.ndarray | None = None,
) -> list[str]:
    """``mean [lo–hi]`` strings (``pct`` shows fractions as percentages; counts, ``digits`` 0, are
    rounded to three significant figures). With ``median``, ``"mean [lo–hi], median m"``; a mean
    outside its interval is marked † (see :data:`SKEW_NOTE`). ``cap`` bounds the interval (the
    population: an interval is never above it)."""
    k = 100.0 if pct else 1.0
    suf = " %" if pct else ""
    n = len(mean)
    med = np.full(n, np.nan) if median is None else np.asarray(median, float)
    hi = np.asarray(hi, float) if cap is None else np.minimum(np.asarray(hi, float), np.asarray(cap, float))

    def f(x: float) -> str:
        x = x * k
        if digits == 0 and not pct:
            x = round_people(x)
        return f"{x:,.{digits}f}"

    out = []
    for m, a, b, md in zip(mean, lo, hi, med, strict=True):
        if not np.isfinite(m):
            out.append("–")
            continue
        skew = "†" if (m < a - 1e-9 or m > b + 1e-9) and f(m) not in (f(a), f(b)) else ""
        s = f"{f(m)}{skew} [{f(a)}–{f(b)}]{suf}"
        if np.isfinite(md):
            s += f", median {f(md)}{suf}"
        out.append(s)
    return out


def _has(t: pd.DataFrame, col: str) -> bool:
    return col in t and bool(np.isfinite(t[col].to_numpy(float)).any())


def _q(t: pd.DataFrame, q: str, digits: int = 0, pct: bool = False) -> list[str]:
    """Formatted ``q`` mean [p05–p95] (and median when the table has ``q_p50``)."""
    med = t[f"{q}_p50"].to_numpy(float) if f"{q}_p50" in t else None
    cap = t["population"].to_numpy(float) if q in people_quantities() and "population" in t else None
    return fmt_interval(
        t[f"{q}_mean"].to_numpy(float), t[f"{q}_p05"].to_numpy(float), t[f"{q}_p95"].to_numpy(float),
        digits, pct, median=med, cap=cap,
    )


def _quantities(t: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    return tuple(ql for ql in quantity_labels(t) + OPTIONAL_QUANTITIES if f"{ql[0]}_mean" in t)


def level_table(units: pd.DataFrame, level: str) -> pd.DataFrame:
    """A readable table of one administrative level: name first (kept in view when the table
    scrolls), then population and the people affected, then the hazard and damaged shares."""
    t = units[units["level"] == level].reset_index(drop=True)
    if "affected_mean" in t:
        t = t.sort_values("affected_mean", ascending=False, kind="stable").reset_index(drop=True)
    out = pd.DataFrame(
        {
            "name": (t["name_zh"] + " " + t["name_en"]).to_numpy(),
            "code": t["unit_id"].to_numpy(),
            "population": [f"{int(p):,}" for p in t["population"]],
        }
    )
    quantities = _quantities(t)
    for q, label in (ql for ql in quantities if ql[0] == "affected"):
        out[label] = _q(t, q)
    for q, label in (ql for ql in quantities if ql[0] != "affected"):
        out[label] = _q(t, q)
    for col, (label, digits, _) in HAZARD_DISPLAY.items():
        if _has(t, col):
            out[label] = [f"{x:,.{digits}f}" if np.isfinite(x) else "–" for x in t[col].to_numpy(float)]
    for system in service_systems():
        c = f"damaged_{system}"
        if f"{c}_mean" in t:
            out[f"{system} assets damaged"] = _q(t, c, 1, pct=True)
    if "driver" in t:
        out["main damage driver"] = t["driver"].replace("", "–").to_numpy()
    return out


def hardest_hit(units: pd.DataFrame, n: int = 10, level: str = "county") -> pd.DataFrame:
    """The ``n`` units of ``level`` with the most people affected (mean), ranked, with their
    prefecture, the share of residents affected and the people without power and water and the
    homes damaged, each as mean [90 % interval] (median)."""
    t = units[units["level"] == level]
    if t.empty or "affected_mean" not in t:
        return pd.DataFrame()
    t = t.sort_values(["affected_mean", "population"], ascending=False, kind="stable").head(n)
    t = t.reset_index(drop=True)
    names = units.set_index("unit_id")
    parent = [
        f"{names.at[p, 'name_zh']} {names.at[p, 'name_en']}" if p in names.index else "–"
        for p in t["parent_id"]
    ]
    pop = t["population"].to_numpy(float)
    share = np.divide(t["affected_mean"].to_numpy(float), pop, out=np.zeros(len(t)), where=pop > 0)
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(t) + 1),
            "name": (t["name_zh"] + " " + t["name_en"]).to_numpy(),
            "prefecture": parent,
            "population": [f"{int(p):,}" for p in pop],
            "affected population": _q(t, "affected"),
            "share affected": [f"{100 * s:.0f} %" for s in share],
        }
    )
    labels = dict(quantity_labels(t))
    for q in ("no_power", "no_water", "homes_damaged"):
        label = labels.get(q)
        if label is not None and f"{q}_mean" in t:
            out[label] = _q(t, q)
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


def modelled_network_note(twin: Any) -> str:
    """HTML: what in the twin is real and what is generated (plain words, with counts)."""
    a = twin.assets
    total = len(a)
    real, n_real = "", 0
    if "source" in a:
        src = a["source"].fillna("").astype(str).str.lower()
        n_real = int(src.isin(REAL_SOURCES).sum())
        real = (
            f" Of the {total:,} assets, {n_real:,} stand at a real, documented location (column "
            f"<i>source</i>: {', '.join(REAL_SOURCES)}; see <i>Where the power grid comes from</i>); "
            f"the other {total - n_real:,} are modelled."
        )
    builder = str(twin.meta.get("builder", ""))
    generated = "lifeline_params" in twin.meta or "zhejiang" in builder
    if not generated and not real:
        return (
            "<p><b>Lifelines.</b> The power, water, telecom and road networks are those of the twin "
            f"given to this run ({total:,} assets).</p>"
        )
    return (
        "<p><b>The lifelines are a modelled network.</b> Real: the administrative units, their "
        "boundaries and their 2020 census population, the storm or earthquake"
        + (", and the power backbone (plants, high-voltage substations and lines) from open data"
           if real and n_real else "")
        + f". Generated by a seeded model (seed {html.escape(str(twin.meta.get('seed', '–')))}) from "
        "population and the real grid: the rest of the substations, the feeders, water works, pump "
        "stations, base stations, road links and their connections. Figures per county show the pattern a storm "
        "of this kind causes on a network of that density, not the fate of a named substation."
        f"{real}</p>"
    )


def _with_xy(twin: Any, units: pd.DataFrame) -> pd.DataFrame:
    """``units`` with the twin's centroid ``lon``/``lat`` (same row order as the twin's units)."""
    if "lon" in units or len(units) != len(twin.units):
        return units
    return units.assign(lon=twin.units["lon"].to_numpy(float), lat=twin.units["lat"].to_numpy(float))


def _places(units: pd.DataFrame, county_values: pd.Series, n_worst: int = 5) -> list:
    from rescity.report.maps import Place

    pref = units[units["level"] == "prefecture"]
    places = [
        Place(float(r.lon), float(r.lat), f"{r.name_zh} {r.name_en}", bold=True)
        for r in pref.itertuples()
        if np.isfinite(r.lon) and np.isfinite(r.lat)
    ]
    c = units[units["level"] == "county"].assign(_v=county_values.to_numpy(float))
    c = c[np.isfinite(c["_v"]) & (c["_v"] > 0)].sort_values("_v", ascending=False).head(n_worst)
    places += [Place(float(r.lon), float(r.lat), f"{r.name_zh} {r.name_en}", marker=True) for r in c.itertuples()]
    return places


def storm_landfall(res: Any):
    """The :class:`~rescity.report.maps.Landfall` of the run's storm on the twin's land, or None."""
    from rescity.report.maps import Landfall

    track = res.track
    if track is None or len(track) < 2 or res.twin.geometry is None:
        return None
    import shapely

    from rescity.hazard.landfall import land_geometry, landfall_fix

    land = land_geometry(res.twin)
    t, lon, lat = landfall_fix(track, land)
    if not shapely.contains_xy(land, lon, lat):
        return None
    u = _with_xy(res.twin, res.units)
    county = (u["level"] == "county").to_numpy()
    place = ""
    if county.any():
        geoms = np.asarray(res.twin.geometry, dtype=object)[county]
        inside = [g is not None and g.contains(shapely.Point(lon, lat)) for g in geoms]
        c = u[county].reset_index(drop=True)
        k = int(np.argmax(inside)) if any(inside) else int(
            np.argmin(np.hypot(c["lon"] - lon, c["lat"] - lat))
        )
        place = f"{c.at[k, 'name_zh']} {c.at[k, 'name_en']}"
    return Landfall(lon, lat, f"{t:%Y-%m-%d %H:%M} UTC", place)


def _top_names(c: pd.DataFrame, col: str, k: int = 3, digits: int = 0, unit: str = "") -> str:
    top = c.sort_values(col, ascending=False).head(k)
    return ", ".join(
        f"{html.escape(str(r['name_zh']))} {html.escape(str(r['name_en']))} ({r[col]:,.{digits}f}{unit})"
        for _, r in top.iterrows()
    )


#: Why a requested hazard may add nothing: hazard → sentence (used when its map would be empty).
NO_EFFECT_REASON = {
    "flood": (
        "Pluvial flood adds nothing in this run: no grid cell ponds water, because the hourly storm "
        "rain never exceeds what the urban drains carry (networks designed for the 1-year storm, "
        "about {capacity:.0f} mm/h of runoff); the peak hourly rain in any cell is {peak}. "
        "Give river gauges (--stations) or a DEM (--dem) to model river and low-ground flooding."
    ),
}


def _hazard_is_empty(c: pd.DataFrame, col: str) -> bool:
    v = c[col].to_numpy(float) if col in c else np.array([])
    return not np.isfinite(v).any() or float(np.nanmax(np.abs(v))) < 1e-3


def _no_effect_sentence(res: Any, hazard: str) -> str:
    if hazard == "flood":
        from rescity.hazard.flood import drainage_capacity_mmh

        cap = float(drainage_capacity_mmh(np.array([1.0]))[0])
        rate = res.cell_intensity.get("rain_rate_mmh") if isinstance(res.cell_intensity, dict) else None
        peak = "not recorded"
        if rate is not None and np.isfinite(np.asarray(rate, float)).any():
            peak = f"{float(np.nanmax(rate)):.0f} mm/h"
        return NO_EFFECT_REASON["flood"].format(capacity=cap, peak=peak)
    if hazard in HAZARDS and HAZARDS[hazard].family == "earthquake":
        return (
            "The earthquake shakes no county measurably (ground motion below 0.001 g everywhere): it is "
            "too far from the twin or too small, so nothing is damaged. Check the latitude/longitude order."
        )
    return f"{hazard.capitalize()} adds nothing in this run: its intensity is zero in every county."


def maps_section(res: Any) -> Section | None:
    """Maps of each hazard and of the affected population, labelled, each with a sentence."""
    return start_maps(res)()


def start_maps(res: Any, drawer: Any = None) -> Callable[[], Section | None]:
    """Start drawing the maps of :func:`maps_section` (in the background when ``drawer``, a
    :class:`~rescity.report.drawing.FigureDrawer`, has a worker; here at once otherwise) and
    return a function that waits for them and builds the section. The maps need the units table
    and the hazard only, not the recovery."""
    from rescity.report.drawing import FigureDrawer
    from rescity.report.maps import PALETTES

    drawer = drawer if drawer is not None else FigureDrawer(background=False)
    twin, track = res.twin, res.track
    units = _with_xy(twin, res.units)
    geom = twin.geometry
    county = (units["level"] == "county").to_numpy()
    if geom is None or not county.any():
        return lambda: None
    g = [geom.iloc[i] for i in np.flatnonzero(county)]
    pref_mask = (units["level"] == "prefecture").to_numpy()
    outlines = [geom.iloc[i] for i in np.flatnonzero(pref_mask) if geom.iloc[i] is not None] or None
    c = units[county].reset_index(drop=True)
    tr = None if track is None else (track["lon"].to_numpy(float), track["lat"].to_numpy(float))
    lf = storm_landfall(res)
    figs: list[tuple[Any, str, str]] = []  # (pending PNG, alt, text)
    notes: list[str] = []
    aff = c["affected_mean"]
    pop = c["population"].to_numpy(float)
    share = np.divide(aff.to_numpy(float), pop, out=np.zeros(len(c)), where=pop > 0)
    words = (
        f"Mean number of residents affected per county. Most affected: {_top_names(c, 'affected_mean')}. "
        f"{int((share >= 0.10).sum())} of {len(c)} counties have at least 10 % of their residents affected."
    )
    county_map = "rescity.report.maps:county_map"
    figs.append(
        (
            drawer.submit(county_map, g, aff, "Affected population by county (mean)", "people", "YlOrRd",
                          places=_places(units, aff), track=tr, landfall=lf, outlines=outlines),
            "affected population by county (mean)",
            words,
        )
    )
    for col, (label, digits, cmap) in HAZARD_DISPLAY.items():
        hazard = HAZARD_OF_COLUMN.get(col, col)
        if track is not None:
            requested = hazard in (res.settings.hazards or ())
        else:
            requested = hazard in HAZARDS and HAZARDS[hazard].family == "earthquake"
        if not _has(c, col):
            continue
        if _hazard_is_empty(c, col):
            if requested:
                note = _no_effect_sentence(res, hazard)
                if note not in notes:
                    notes.append(note)
            continue
        unit = label[label.rfind("(") + 1 : label.rfind(")")] if "(" in label else ""
        text = f"{label[0].upper()}{label[1:]}, highest in {_top_names(c, col, 3, digits, ' ' + unit if unit else '')}."
        if col == "wind_max_ms":
            text += (
                f" {int((c[col] >= 17.2).sum())} counties reach gale force (≥ 17.2 m/s, Beaufort 8) "
                f"and {int((c[col] >= 32.7).sum())} typhoon force (≥ 32.7 m/s)."
            )
        pal = cmap if cmap in PALETTES else "Purples"
        figs.append(
            (
                drawer.submit(county_map, g, c[col], f"{label[0].upper()}{label[1:]} by county", unit, pal,
                              places=_places(units, c[col], 3), track=tr, landfall=lf, outlines=outlines),
                label,
                text,
            )
        )
    body = ""
    if lf is not None:
        body += (
            f"<p>The storm centre crosses the coast at <b>{html.escape(lf.place)}</b> at "
            f"<b>{html.escape(lf.time)}</b> (the best track, interpolated, meets the twin's coastline; "
            "an agency's stated landfall time can differ by up to about an hour). The white star marks "
            "it on every map; the dark line is the track.</p>"
        )
    tail = "".join(f"<p class='no-effect'>{html.escape(n)}</p>" for n in notes)
    if "driver" in c:
        counts = c["driver"].replace("", "none").value_counts()
        tail += (
            "<p>Hazard that drove most asset damage, by number of counties: "
            + ", ".join(f"{html.escape(str(k))} {int(v)}" for k, v in counts.items())
            + " (column <i>main damage driver</i> in the tables).</p>"
        )

    def section() -> Section:
        return Section(
            "Maps",
            body
            + "<div class='figs'>"
            + "".join(
                f"<figure>{png_img(png.result(), alt)}<figcaption><b>{html.escape(alt[0].upper() + alt[1:])}.</b> "
                f"{text}</figcaption></figure>"
                for png, alt, text in figs
            )
            + "</div>"
            + tail,
        )

    return section


def scenario_report(
    res: Any,
    path: Path,
    extra_sections: list[Section] | None = None,
    maps: Callable[[], Section | None] | None = None,
) -> Path:
    """Write the scenario report (``report.html``) for a :class:`rescity.run.scenario.RunResult`:
    summary, the hardest-hit counties, labelled maps, the tables by level, the model's verified
    skill when packaged, and the run's settings. ``maps``: the maps already started
    (:func:`start_maps`), else they are drawn here."""
    from rescity.report.skill import skill_section

    twin, units, st = res.twin, res.units, res.settings
    event, title = describe_event(res)
    sections: list[Section] = []

    is_prov = units["level"] == "province"
    prov = units[is_prov].head(1) if is_prov.any() else units.head(1)
    p0 = prov.iloc[0]
    quantities = _quantities(units)
    items = "".join(
        f"<li><b>{label}</b>: {_q(prov, q)[0]}</li>" for q, label in quantities
    )
    shown = units[units["level"] != "cell"]
    skewed = any("†" in x for q, _ in quantities for x in _q(shown, q))
    lf = storm_landfall(res)
    landfall = (
        f"<p>Landfall: <b>{html.escape(lf.place)}</b>, {html.escape(lf.time)}.</p>" if lf is not None else ""
    )
    sections.append(
        Section(
            "Summary",
            f"<p>{event}; {st.realisations} realisations, seed {st.seed}, horizon {st.horizon_h:g} h.</p>"
            + landfall
            + f"<p>{html.escape(str(p0['name_zh']))} {html.escape(str(p0['name_en']))} "
            f"(population {int(p0['population']):,}): mean [90 % interval], median — counts of people "
            f"rounded to three significant figures:</p><ul>{items}</ul>"
            f"<p class='note'>{html.escape(AFFECTED_DEFINITION)}</p>"
            + (f"<p class='note'>{html.escape(SKEW_NOTE)}</p>" if skewed else "")
            + modelled_network_note(twin),
        )
    )
    top = hardest_hit(units)
    if not top.empty:
        sections.append(
            Section(
                "Hardest-hit counties",
                "<p>The ten counties with the most people affected (mean over the realisations), with "
                "the 90 % interval and the median; the full list is under <a href='#counties'>Counties</a>.</p>"
                + table_html(top, caption="Hardest-hit counties, ranked by affected population", css="data ranked"),
            )
        )
    m = maps() if maps is not None else maps_section(res)
    if m is not None:
        sections.append(m)

    for level, heading in (
        ("province", "Province"),
        ("prefecture", "Prefecture-level cities"),
        ("county", "Counties"),
    ):
        if (units["level"] == level).any():
            sections.append(
                Section(
                    heading,
                    "<p class='note'>Sorted by affected population; the name column stays in view when "
                    "the table scrolls sideways.</p>" + table_html(level_table(units, level), css="data sticky"),
                )
            )

    if extra_sections:
        sections.extend(extra_sections)
    sections.append(skill_section())

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
