"""Action plan: before/during/after actions per unit and warning level.

A packaged catalogue (``action_catalogue.csv``) lists generic actions with the phase (before,
during, after the impact), the stage of the emergency cycle (pre-warning, plan execution,
command and dispatch, damage verification, supply allocation, resilience re-assessment), the
lowest warning level that calls for them (1 blue … 4 red), the department, an indicative time
relative to the expected impact (hours; negative = before) and the legal or planning source
(China's Emergency Response Law 2007, Arts. 42–62; the national natural-disaster relief plan; the
national and provincial flood and typhoon emergency plans). A unit at warning level ``w`` gets
every action with ``min_warning ≤ w``: blue/yellow warnings bring the Art. 44 measures, orange/red
add the Art. 45 ones, as the law prescribes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.forecast.warning import COLOURS, COLOURS_ZH

PHASES: tuple[str, ...] = ("before", "during", "after")


@lru_cache(maxsize=2)
def action_catalogue() -> pd.DataFrame:
    """The packaged action catalogue."""
    return pd.read_csv(str(files("rescity.decide.data") / "action_catalogue.csv"))


def action_plan(units: pd.DataFrame, catalogue: pd.DataFrame | None = None) -> pd.DataFrame:
    """Actions for each unit at its warning level.

    Parameters
    ----------
    units:
        Table with ``unit_id``, ``level`` and ``warning`` (0…4); ``name_zh``/``name_en`` and
        any ``indicator`` column are carried along.
    catalogue:
        Action catalogue (default: packaged).

    Returns
    -------
    pandas.DataFrame
        One row per unit and action: ``unit_id, level, name_zh, name_en, warning, colour,
        phase, stage, action_id, department, lead_h, action_en, action_zh, source``, ordered by
        unit, phase and time. Units at level 0 get no rows.
    """
    cat = action_catalogue() if catalogue is None else catalogue
    need = {"unit_id", "level", "warning"}
    if need - set(units.columns):
        raise InputError(f"units table lacks {sorted(need - set(units.columns))}", field="units")
    u = units.copy()
    for c in ("name_zh", "name_en"):
        if c not in u.columns:
            u[c] = ""
    w = pd.to_numeric(u["warning"], errors="coerce").fillna(0).astype(int)
    if ((w < 0) | (w > 4)).any():
        raise InputError(
            "warning levels must be 0…4", field="warning", value=int(w[(w < 0) | (w > 4)].iloc[0])
        )
    u["warning"] = w
    u = u[u["warning"] > 0]
    m = u.merge(cat, how="cross")
    m = m[m["min_warning"] <= m["warning"]].copy()
    m["colour"] = np.asarray(COLOURS, dtype=object)[m["warning"].to_numpy()]
    m["phase"] = pd.Categorical(m["phase"], PHASES, ordered=True)
    m = m.sort_values(["unit_id", "phase", "lead_h", "action_id"], ignore_index=True)
    m["phase"] = m["phase"].astype(str)
    cols = [
        "unit_id",
        "level",
        "name_zh",
        "name_en",
        "warning",
        "colour",
        "phase",
        "stage",
        "action_id",
        "department",
        "lead_h",
        "action_en",
        "action_zh",
        "source",
    ]
    return m[cols]


def plan_json(plan: pd.DataFrame, units: pd.DataFrame | None = None) -> list[dict]:
    """The plan as JSON-ready records for the dashboard: one object per unit with its actions by phase."""
    out = []
    for uid, g in plan.groupby("unit_id", sort=True):
        first = g.iloc[0]
        w = int(first["warning"])
        rec = {
            "unit_id": str(uid),
            "level": str(first["level"]),
            "name_zh": str(first["name_zh"]),
            "name_en": str(first["name_en"]),
            "warning": w,
            "colour": COLOURS[w],
            "colour_zh": COLOURS_ZH[w],
            "actions": {p: [] for p in PHASES},
        }
        for _, r in g.iterrows():  # one row per action of this unit (≤ catalogue size)
            rec["actions"][r["phase"]].append(
                {
                    "id": r["action_id"],
                    "stage": r["stage"],
                    "department": r["department"],
                    "lead_h": int(r["lead_h"]),
                    "en": r["action_en"],
                    "zh": r["action_zh"],
                    "source": r["source"],
                }
            )
        out.append(rec)
    return out


def write_plan(plan: pd.DataFrame, csv_path, json_path) -> None:
    """Write the plan as CSV (UTF-8 with BOM, for spreadsheets) and JSON."""
    plan.to_csv(csv_path, index=False, encoding="utf-8-sig")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(plan_json(plan), f, ensure_ascii=False, indent=1)
