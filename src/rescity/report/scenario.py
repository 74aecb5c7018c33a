"""The scenario report: maps, tables by administrative level, and the run's settings."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rescity.report.html import Section, png_img, render_page, table_html

AFFECTED_DEFINITION = (
    "Affected population: people whose home is damaged (moderate damage or worse) or who are "
    "without power or water at the evaluation horizon, combined assuming independence within a "
    "grid cell. People without a service: residents of cells whose service terminal (10 kV feeder, "
    "water distribution node, base station, local road) is not functional at the horizon, after "
    "the cascade across dependent networks."
)

#: Hazard columns shown in tables and maps when a scenario has them: column → (label, digits, colours).
HAZARD_DISPLAY: dict[str, tuple[str, int, str]] = {
    "wind_max_ms": ("peak 1-min wind (m/s)", 1, "YlOrRd"),
    "gust_max_ms": ("peak 3-s gust (m/s)", 1, "YlOrRd"),
    "rain_mm": ("storm rain, areal mean (mm)", 0, "Blues"),
    "flood_depth_max_m": ("peak pluvial flood depth (m)", 2, "PuBu"),
    "pga_max_g": ("PGA, median (g)", 3, "OrRd"),
    "sa10_max_g": ("SA(1.0 s), median (g)", 3, "OrRd"),
}

#: Which requested hazard (``--hazards``) each column shows; with :data:`HAZARD_DISPLAY` and
#: :data:`SYSTEMS` the one place the report reads its lists from (a hazard and a system registry
#: replace them).
HAZARD_OF_COLUMN: dict[str, str] = {
    "wind_max_ms": "wind", "gust_max_ms": "wind", "rain_mm": "rain", "flood_depth_max_m": "flood",
}  # fmt: skip

QUANTITY_LABELS: tuple[tuple[str, str], ...] = (
    ("no_power", "without power"),
    ("no_water", "without water"),
    ("no_telecom", "without telecom"),
    ("no_road", "without road access"),
    ("homes_damaged", "homes damaged (households)"),
    ("affected", "affected population"),
)
#: Shown when the scenario computed them (earthquakes).
OPTIONAL_QUANTITIES: tuple[tuple[str, str], ...] = (
    ("deaths", "deaths"),
    ("injured", "injured"),
    ("displaced", "displaced people"),
)


#: Lifeline systems shown per system (read from here only; a system registry replaces this list).
SYSTEMS: tuple[str, ...] = ("power", "water", "telecom", "road")

#: Quantities that count people (intervals never above the unit's population).
PEOPLE = ("no_power", "no_water", "no_telecom", "no_road", "affected", "deaths", "injured", "displaced")

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
    cap = t["population"].to_numpy(float) if q in PEOPLE and "population" in t else None
    return fmt_interval(
        t[f"{q}_mean"].to_numpy(float), t[f"{q}_p05"].to_numpy(float), t[f"{q}_p95"].to_numpy(float),
        digits, pct, median=med, cap=cap,
    )


def _quantities(t: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    return tuple(
        ql for ql in QUANTITY_LABELS + OPTIONAL_QUANTITIES if f"{ql[0]}_mean" in t
    )


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
    for system in SYSTEMS:
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
    for q, label in (("no_power", "without power"), ("no_water", "without water"),
                     ("homes_damaged", "homes damaged (households)")):  # fmt: skip
        if f"{q}_mean" in t:
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
    text = "Earthquake (lat, lon, depth km, Mw) <b>" + html.escape(str(st.quake)) + "</b>"
    if st.aftershocks:
        text += f", then {len(st.aftershocks)} aftershock(s) " + html.escape("; ".join(st.aftershocks))
    text += "; ground motion BSSA14 with spatially correlated residuals (Jayaram &amp; Baker 2009)"
    return text, f"rescity scenario — earthquake {st.quake}"


def modelled_network_note(twin: Any) -> str:
    """HTML: what in the twin is real and what is generated (plain words, with counts)."""
    a = twin.assets
    total = len(a)
    real = ""
    if "source" in a:
        src = a["source"].astype(str).str.lower()
        n_real = int(src.str.startswith("real").sum())
        real = (
            f" Of the {total:,} assets, {n_real:,} stand at a real, documented location (column "
            f"<i>source</i>); the other {total - n_real:,} are modelled."
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
        "boundaries and their 2020 census population, and the storm or earthquake. Generated by a "
        f"seeded model (seed {html.escape(str(twin.meta.get('seed', '–')))}) from population and the "
        "real large power plants: the substations, feeders, water works, pump stations, base "
        "stations, road links and their connections. Figures per county show the pattern a storm "
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

    from rescity.forecast.issuance import land_geometry, landfall_fix

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
    if hazard.startswith(("pga", "sa")):
        return (
            "The earthquake shakes no county measurably (ground motion below 0.001 g everywhere): it is "
            "too far from the twin or too small, so nothing is damaged. Check the latitude/longitude order."
        )
    return f"{hazard.capitalize()} adds nothing in this run: its intensity is zero in every county."


def maps_section(res: Any) -> Section | None:
    """Maps of each hazard and of the affected population, labelled, each with a sentence."""
    from rescity.report.maps import county_map

    twin, track = res.twin, res.track
    units = _with_xy(twin, res.units)
    geom = twin.geometry
    county = (units["level"] == "county").to_numpy()
    if geom is None or not county.any():
        return None
    g = [geom.iloc[i] for i in np.flatnonzero(county)]
    pref_mask = (units["level"] == "prefecture").to_numpy()
    outlines = [geom.iloc[i] for i in np.flatnonzero(pref_mask) if geom.iloc[i] is not None] or None
    c = units[county].reset_index(drop=True)
    tr = None if track is None else (track["lon"].to_numpy(float), track["lat"].to_numpy(float))
    lf = storm_landfall(res)
    figs: list[tuple[bytes, str, str]] = []
    notes: list[str] = []
    aff = c["affected_mean"]
    pop = c["population"].to_numpy(float)
    share = np.divide(aff.to_numpy(float), pop, out=np.zeros(len(c)), where=pop > 0)
    words = (
        f"Mean number of residents affected per county. Most affected: {_top_names(c, 'affected_mean')}. "
        f"{int((share >= 0.10).sum())} of {len(c)} counties have at least 10 % of their residents affected."
    )
    figs.append(
        (
            county_map(g, aff, "Affected population by county (mean)", "people", "YlOrRd",
                       places=_places(units, aff), track=tr, landfall=lf, outlines=outlines),
            "affected population by county (mean)",
            words,
        )
    )
    for col, (label, digits, cmap) in HAZARD_DISPLAY.items():
        requested = HAZARD_OF_COLUMN.get(col) in (res.settings.hazards or ()) if track is not None else False
        if not _has(c, col):
            continue
        if _hazard_is_empty(c, col):
            if requested or HAZARD_OF_COLUMN.get(col) is None:
                notes.append(_no_effect_sentence(res, HAZARD_OF_COLUMN.get(col, col)))
            continue
        unit = label[label.rfind("(") + 1 : label.rfind(")")] if "(" in label else ""
        text = f"{label[0].upper()}{label[1:]}, highest in {_top_names(c, col, 3, digits, ' ' + unit)}."
        if col == "wind_max_ms":
            text += (
                f" {int((c[col] >= 17.2).sum())} counties reach gale force (≥ 17.2 m/s, Beaufort 8) "
                f"and {int((c[col] >= 32.7).sum())} typhoon force (≥ 32.7 m/s)."
            )
        pal = {"YlOrRd": "YlOrRd", "Blues": "Blues", "PuBu": "PuBu", "OrRd": "OrRd"}.get(cmap, "Purples")
        figs.append(
            (
                county_map(g, c[col], f"{label[0].upper()}{label[1:]} by county", unit, pal,
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
    body += "<div class='figs'>" + "".join(
        f"<figure>{png_img(png, alt)}<figcaption><b>{html.escape(alt[0].upper() + alt[1:])}.</b> "
        f"{text}</figcaption></figure>"
        for png, alt, text in figs
    ) + "</div>"
    body += "".join(f"<p class='no-effect'>{html.escape(n)}</p>" for n in notes)
    if "driver" in c:
        counts = c["driver"].replace("", "none").value_counts()
        body += (
            "<p>Hazard that drove most asset damage, by number of counties: "
            + ", ".join(f"{html.escape(str(k))} {int(v)}" for k, v in counts.items())
            + " (column <i>main damage driver</i> in the tables).</p>"
        )
    return Section("Maps", body)


def scenario_report(res: Any, path: Path, extra_sections: list[Section] | None = None) -> Path:
    """Write the scenario report (``report.html``) for a :class:`rescity.pipeline.ScenarioResult`:
    summary, the hardest-hit counties, labelled maps, the tables by level, the model's verified
    skill when packaged, and the run's settings."""
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
    m = maps_section(res)
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
