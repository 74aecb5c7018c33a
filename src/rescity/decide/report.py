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
    body = facts + _figure(out / "relocation_map.png", "people without a shelter place by unit; shelters")
    units = out / "relocation_units.csv"
    if units.exists():
        t = pd.read_csv(units, dtype={"unit_id": str})
        short = t[(t["level"] == "county") & (t["unassigned"] > 0)].sort_values("unassigned", ascending=False)
        cols = ["unit_id", "name_zh", "name_en", "demand", "assigned", "unassigned", "share_within_10min"]
        body += table_html(short[cols].head(20).round(3), caption="Counties short of shelter places (top 20)")
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
