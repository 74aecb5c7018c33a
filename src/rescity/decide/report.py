"""``decide.html``: one page with what the ``rescity decide`` commands wrote into a folder.

Each command calls :func:`write_decide_report` after writing its own files, so the page always
shows every decision made so far in that folder: relocation (map, shares within 10/15/30 min,
units short of shelter), supply pre-positioning (map, opened depots, unmet demand) and the
action plan (actions by warning level and phase).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.report.html import Section, png_img, render_page, table_html


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _figure(path: Path, alt: str) -> str:
    return (
        f"<figure>{png_img(path.read_bytes(), alt)}<figcaption>{html.escape(alt)}</figcaption></figure>"
        if path.exists()
        else ""
    )


def county_of(units: pd.DataFrame, ids) -> pd.Series:
    """The county ``unit_id`` of each of ``ids`` (walking up ``parent_id``; NaN above county)."""
    u = units.set_index(units["unit_id"].astype(str))
    level, parent = u["level"], u["parent_id"].astype(str)
    cur = pd.Series(pd.Index(ids).astype(str), index=pd.Index(ids).astype(str))
    for _ in range(4):
        lv = cur.map(level)
        cur = cur.where((lv == "county") | lv.isna(), cur.map(parent))
    return cur.where(cur.map(level) == "county")


def relocation_balance(units: pd.DataFrame, by_unit: pd.DataFrame, shelters: pd.DataFrame) -> pd.DataFrame:
    """Per county: people without a place (``unassigned``), shelter places (``places``) and
    places left free (``free``), with names; sorted by people without a place."""
    c = by_unit[by_unit["level"] == "county"]
    c = c.set_index(c["unit_id"].astype(str))
    sh = shelters.assign(county=county_of(units, shelters["unit_id"].astype(str)).to_numpy())
    g = sh.groupby("county")[["capacity", "assigned"]].sum()
    out = pd.DataFrame(
        {
            "county": (c["name_zh"].astype(str) + " " + c["name_en"].astype(str)),
            "to relocate": c["demand"],
            "without a place": c["unassigned"],
            "places": g["capacity"].reindex(c.index).fillna(0).astype(int),
        }
    )
    out["free places"] = (g["capacity"] - g["assigned"]).reindex(c.index).fillna(0).astype(int)
    return out.sort_values(["without a place", "to relocate"], ascending=False)


def relocation_why(summary: dict, balance: pd.DataFrame) -> str:
    """Plain words: why people are left without a place while places are free elsewhere."""
    free = int(balance["free places"].sum())
    short = balance[balance["without a place"] > 0]
    spare = balance[(balance["free places"] > 0)].sort_values("free places", ascending=False)
    text = (
        f"{summary.get('unassigned', 0):,} people are left without a place"
        + (f" while {free:,} places stay free elsewhere" if free > 0 else "")
        + ". Shelter places are where the population was modelled to need them (5 % of residents, "
        "in shelters of about 1,000), so where a storm hits many people at once, local capacity "
        "runs out; people are sent only to shelters among the fastest ones reachable by road from "
        "their grid cell (the 30 fastest when the problem is large, and only within --max-minutes "
        "when given), so free places in distant counties are not offered to them."
    )
    if len(short):
        text += " The shortfall is in " + ", ".join(
            f"{n} ({int(v):,})" for n, v in zip(short["county"].head(5), short["without a place"].head(5), strict=False)
        ) + "."
    if len(spare) and free > 0:
        text += " Most free places: " + ", ".join(
            f"{n} ({int(v):,})" for n, v in zip(spare["county"].head(3), spare["free places"].head(3), strict=False)
        ) + "."
    return text


def relocation_map(twin, balance: pd.DataFrame, title: str, by_unit: pd.DataFrame | None = None) -> bytes:
    """Counties coloured by people without a shelter place, labelled, the worst named (PNG).

    A twin without county shapes is drawn as small discs at the centroids of the units in
    ``by_unit`` (people without a place per unit)."""
    import shapely

    from rescity.report.maps import Place, county_map

    u = twin.units
    county = (u["level"] == "county").to_numpy()
    if twin.geometry is not None and county.any():
        ids = u.loc[county, "unit_id"].astype(str)
        vals = balance["without a place"].reindex(ids).fillna(0).to_numpy(float)
        geom = [twin.geometry.iloc[i] for i in np.flatnonzero(county)]
        shown = u[county]
    else:
        b = by_unit if by_unit is not None else pd.DataFrame(columns=["unit_id", "unassigned"])
        shown = u[u["unit_id"].astype(str).isin(b["unit_id"].astype(str))]
        vals = (
            b.set_index(b["unit_id"].astype(str))["unassigned"].reindex(shown["unit_id"].astype(str)).fillna(0)
        ).to_numpy(float)
        geom = list(shapely.buffer(shapely.points(shown["lon"].to_numpy(float), shown["lat"].to_numpy(float)), 0.03))
    pref = u[u["level"] == "prefecture"]
    places = [Place(float(r.lon), float(r.lat), f"{r.name_zh} {r.name_en}", bold=True) for r in pref.itertuples()]
    worst = shown.assign(v=vals).sort_values("v", ascending=False)
    places += [
        Place(float(r.lon), float(r.lat), f"{r.name_zh} {r.name_en}", marker=True)
        for r in worst.head(5).itertuples()
        if r.v > 0
    ]
    return county_map(geom, vals, title, "people without a place", "YlOrRd", places=places)


def _relocation(out: Path) -> Section | None:
    s = _json(out / "relocation.json")
    if not s:
        return None
    facts = (
        f"<p>Issued {html.escape(str(s.get('issued', '')))}, lead {s.get('lead_h', '')} h ({html.escape(str(s.get('stat', '')))}): "
        f"{s['people_to_relocate']:,} people to relocate, {s['assigned']:,} assigned to {s['shelters']:,} shelters "
        f"({s['shelter_capacity']:,} places), {s['unassigned']:,} without a place. Mean travel "
        f"{s['mean_travel_minutes']:.1f} min; reached within 10 / 15 / 30 min: {100 * s['share_within_10min']:.1f} % / "
        f"{100 * s['share_within_15min']:.1f} % / {100 * s['share_within_30min']:.1f} % of the people to relocate "
        "(Barcelona's climate shelters reach 90 % of at-risk residents within 10 minutes).</p>"
    )
    if s.get("why"):
        facts += f"<p class='no-effect'>{html.escape(str(s['why']))}</p>"
    body = facts + _figure(
        out / "relocation_map.png",
        "people left without a shelter place, by county (labelled: prefecture cities and the five worst counties)",
    )
    units = out / "relocation_units.csv"
    if units.exists():
        t = pd.read_csv(units, dtype={"unit_id": str})
        short = t[(t["level"] == "county") & (t["unassigned"] > 0)].sort_values("unassigned", ascending=False)
        short = short.assign(name=short["name_zh"] + " " + short["name_en"])
        cols = ["name", "unit_id", "demand", "assigned", "unassigned", "share_within_10min"]
        body += table_html(
            short[cols].head(20).round(3), caption="Counties short of shelter places (top 20)", css="data sticky"
        )
    return Section("Relocation and shelters", body)


def _preposition(out: Path) -> Section | None:
    s = _json(out / "preposition.json")
    if not s:
        return None
    unmet = s.get("unmet", {})
    units = s.get("units", {})
    body = (
        f"<p>{s['depots_open']} of {s['depots']} depots stocked for {s['days']:g} days; "
        f"{s['served_m3']:,.0f} of {s['demand_m3']:,.0f} m³ of demand served. Unmet: "
        + ", ".join(
            f"{html.escape(k)} {v:,.0f} {html.escape(str(units.get(k, '')))}" for k, v in unmet.items()
        )
        + ".</p>"
        + _figure(out / "preposition_map.png", "depots and the demand they serve")
    )
    depots = out / "depots.csv"
    if depots.exists():
        t = pd.read_csv(depots)
        body += table_html(t[t["open"]].round(1).head(50), caption="Opened depots and their stock")
    return Section("Supply pre-positioning", body)


def _plan(out: Path) -> Section | None:
    p = out / "action_plan.csv"
    if not p.exists():
        return None
    t = pd.read_csv(p, dtype={"unit_id": str}, encoding="utf-8-sig")
    counts = t.groupby(["colour", "phase"]).size().unstack(fill_value=0).reset_index()
    units = t.groupby("colour")["unit_id"].nunique().rename("units").reset_index()
    table = units.merge(counts, on="colour")
    return Section(
        "Action plan",
        "<p>Actions per warning colour and phase (before, during, after); the full list with departments, "
        "lead times and sources is in <code>action_plan.csv</code> and <code>action_plan.json</code>.</p>"
        + table_html(table, caption="Units and actions by warning colour"),
    )


def write_decide_report(out: Path) -> Path:
    """Write ``decide.html`` into ``out`` from the decision files there."""
    out = Path(out)
    sections = [s for s in (_relocation(out), _preposition(out), _plan(out)) if s is not None]
    return render_page(
        "rescity decisions",
        sections,
        out / "decide.html",
        subtitle="Relocation, supplies and actions from a forecast",
    )
