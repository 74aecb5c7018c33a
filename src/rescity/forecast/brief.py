"""A printable one-page brief per forecast issuance (``brief_<issued>.html``, A4 print CSS): the
overall warning, the warning map, the ten hardest-hit counties, what to do at each warning level
(the packaged action catalogue, before-phase actions), and the model's verified skill — what a
bureau sends up the chain. Print it to PDF from any browser."""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

import pandas as pd

from rescity.forecast.report import (
    INDICATOR_LABELS,
    fmt_value,
    indicator_label,
    ranked_units,
    warning_word,
)
from rescity.forecast.warning import COLOURS, COLOURS_ZH, HEX

_CSS = """
@page { size: A4; margin: 12mm; }
body { font-family: "rescity-cjk", system-ui, "DejaVu Sans", sans-serif; font-size: 10pt; color: #111;
       max-width: 190mm; margin: 0 auto; }
h1 { font-size: 15pt; margin: 0 0 2mm 0; } h2 { font-size: 11pt; margin: 3mm 0 1mm 0; }
.banner { padding: 2mm 3mm; border-radius: 2mm; font-weight: 600; }
.grid { display: grid; grid-template-columns: 95mm 1fr; gap: 4mm; align-items: start; }
img { width: 95mm; }
table { border-collapse: collapse; font-size: 8.5pt; width: 100%; }
td, th { border-bottom: 1px solid #ccc; padding: 0.6mm 1.2mm; text-align: right; }
td:nth-child(-n+2), th:nth-child(-n+2) { text-align: left; }
ul { margin: 0; padding-left: 4mm; } li { margin: 0.5mm 0; }
.small { font-size: 8pt; color: #444; }
@media print { .noprint { display: none; } body { max-width: none; } }
"""


def _actions(max_per_level: int = 3) -> dict[int, list[tuple[str, str]]]:
    """Before-phase actions that start at each warning level 1–4 (English, Chinese)."""
    t = pd.read_csv(str(files("rescity.decide.data") / "action_catalogue.csv"))
    t = t[t["phase"] == "before"]
    return {
        w: list(zip(g["action_en"], g["action_zh"], strict=True))[:max_per_level]
        for w, g in t.groupby("min_warning")
    }


def brief_html(
    issuances: pd.DataFrame,
    issued: str,
    map_png_b64: str,
    *,
    lead_h: int = 24,
    level: str = "county",
    title: str = "rescity forecast brief",
) -> str:
    """The brief's HTML for one issuance (``map_png_b64``: the warning map as base64 PNG)."""
    from rescity.report.fonts import font_face_css
    from rescity.report.skill import skill_html

    t = issuances[issuances["issued"] == issued]
    top_level = t["level"].iloc[0] if len(t) else "province"
    prov = t[(t["level"] == top_level) & (t["lead_h"] == lead_h)]
    comp = prov[prov["indicator"] == "composite"]
    w = int(comp["warning"].iloc[0]) if len(comp) else 0
    name = f"{prov['name_zh'].iloc[0]} {prov['name_en'].iloc[0]}" if len(prov) and "name_zh" in prov else ""
    drivers = [
        f"{indicator_label(r.indicator)} {fmt_value(r.indicator, r.mean)} ({warning_word(r.indicator, r.warning)})"
        for r in prov.itertuples()
        if r.indicator != "composite"
    ]
    r = ranked_units(t, lead_h, level, 10)
    rows = "".join(
        f"<tr><td>{k}</td><td>{html.escape(str(x['name']))}</td>"
        f"<td style='background:{HEX[int(x.get('warning', 0))]}'>{COLOURS[int(x.get('warning', 0))]}</td>"
        f"<td>{fmt_value('relocate', float(x.get('relocate', float('nan'))))}</td>"
        f"<td>{fmt_value('people_cut_off', float(x.get('people_cut_off', float('nan'))))}</td>"
        f"<td>{fmt_value('homes_damaged', float(x.get('homes_damaged', float('nan'))))}</td></tr>"
        for k, x in enumerate(r.to_dict("records"), 1)
    )
    acts = _actions()
    todo = "".join(
        f"<li><b style='color:{HEX[lv]}'>{COLOURS[lv]} {COLOURS_ZH[lv]}</b> and above: "
        + "; ".join(html.escape(en) for en, _ in acts.get(lv, []))
        + "</li>"
        for lv in range(1, 5)
        if acts.get(lv)
    )
    body = f"""<h1>{html.escape(title)}</h1>
<p class="small">Issuance {html.escape(issued)} · next {lead_h} h · mean over the ensemble members and damage
realisations · the lifelines are a modelled network</p>
<p class="banner" style="background:{HEX[w]}">{html.escape(name)}: overall warning
<b>{COLOURS[w]} {COLOURS_ZH[w]}</b> — {html.escape("; ".join(drivers))}</p>
<div class="grid"><div><img alt="warning map, {level} level" src="data:image/png;base64,{map_png_b64}"></div>
<div><h2>Ten hardest-hit {level} units</h2>
<table><tr><th>#</th><th>unit</th><th>warning</th><th>{INDICATOR_LABELS['relocate'][0]}</th>
<th>people cut off</th><th>homes damaged</th></tr>{rows}</table></div></div>
<h2>What to do at each warning level</h2><ul>{todo}</ul>
<p class="small">From the packaged action catalogue (before the storm); the full plan with departments and
lead times: <code>rescity decide plan</code>.</p>
<h2>How well the model did on past storms</h2>{skill_html(max_rows=5)}"""
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)} — "
        f"{html.escape(issued)}</title><style>{{font}}{_CSS}</style></head><body>{body}</body></html>"
    )
    return page.replace("{font}", font_face_css(body + title), 1)


def write_brief(out_dir, issuances: pd.DataFrame, issued: str, map_png_b64: str, **kw) -> Path:
    """Write ``brief_<issued>.html`` into ``out_dir`` and return its path."""
    stamp = issued.replace(":", "").replace("-", "")
    p = Path(out_dir) / f"brief_{stamp}.html"
    p.write_text(brief_html(issuances, issued, map_png_b64, **kw), encoding="utf-8")
    return p
