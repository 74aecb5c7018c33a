"""The model's verified skill on past storms, shown in reports and briefs when it is packaged.

The verification suite writes one JSON file (``VERIFIED_SKILL``, in the package ``rescity.data``);
until it exists the reports say that the skill has not been verified yet. The file is read
generically: ``summary`` (a sentence), ``storms`` (a list of records, one per storm, shown as a
table) and any other top-level keys (shown as a list).
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

import pandas as pd

from rescity.report.html import Section, table_html

#: Package and file name of the verified-skill record (the one place reports look for it).
VERIFIED_SKILL = ("rescity.data", "verified_skill.json")

NOT_YET = (
    "The model's skill on past storms has not been verified in this version: treat the numbers "
    "as a model's estimate, not a measured forecast skill."
)


def load_verified_skill() -> dict[str, Any] | None:
    """The packaged verified-skill record, or None while there is none."""
    pkg, name = VERIFIED_SKILL
    try:
        f = resources.files(pkg) / name
        if not f.is_file():
            return None
        return json.loads(f.read_text(encoding="utf-8"))
    except (ModuleNotFoundError, OSError, ValueError):
        return None


def skill_html(skill: dict[str, Any] | None = None, max_rows: int = 12) -> str:
    """HTML of the verified skill (or the sentence that it is not verified yet)."""
    skill = load_verified_skill() if skill is None else skill
    if not skill:
        return f"<p class='skill-missing'>{html.escape(NOT_YET)}</p>"
    out = ""
    if skill.get("summary"):
        out += f"<p>{html.escape(str(skill['summary']))}</p>"
    storms = skill.get("storms")
    if isinstance(storms, list) and storms and all(isinstance(s, dict) for s in storms):
        out += table_html(pd.DataFrame(storms), caption="Scores on past storms", max_rows=max_rows)
    rest = {k: v for k, v in skill.items() if k not in ("summary", "storms")}
    if rest:
        out += "<ul>" + "".join(
            f"<li><b>{html.escape(str(k))}</b>: {html.escape(json.dumps(v, ensure_ascii=False)[:300])}</li>"
            for k, v in rest.items()
        ) + "</ul>"
    return out


def skill_section() -> Section:
    """The report section "Verified skill on past storms"."""
    return Section("Verified skill on past storms", skill_html(), anchor="verified-skill")
