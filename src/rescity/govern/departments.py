"""Departments (the policy domains), roles, and which department owns which data.

Departments are read from the packaged ``departments.csv`` (``department``, ``name_en``,
``name_zh``, ``owns`` — space-separated resources such as ``assets/power`` or
``population/microdata``). A resource has exactly one owning department; the owner approves
requests from other departments to see it in full (:mod:`rescity.govern.sharing`) and sees
population tables without suppression (:mod:`rescity.govern.privacy`).
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib.resources import files

#: Roles, weakest first. Each of the first four has every permission of the roles before it;
#: ``sensor`` (device accounts that post observations) stands apart and inherits nothing.
ROLES: dict[str, str] = {
    "viewer": "reads dashboards: twins, asset status, alerts, forecasts, run results, reports",
    "analyst": "viewer + starts scenario and forecast runs, proposes decisions, requests data sharing",
    "operator": "analyst + alerts, observations, asset status of the own system, decides data requests",
    "admin": "operator + manages the department's users; in 'platform', everything",
    "sensor": "a device account outside the hierarchy: posts sensor entities (NGSI-LD) and nothing else",
}


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    text = (files("rescity.govern") / "departments.csv").read_text(encoding="utf-8")
    depts: dict[str, dict[str, str]] = {}
    owners: dict[str, str] = {}
    for row in csv.DictReader(text.splitlines()):
        d = row["department"].strip()
        depts[d] = {"department": d, "name_en": row["name_en"], "name_zh": row["name_zh"]}
        for res in (row.get("owns") or "").split():
            owners[res] = d
    return depts, owners


#: ``department id -> {department, name_en, name_zh}``.
DEPARTMENTS: dict[str, dict[str, str]] = _table()[0]


def resources_owned() -> dict[str, str]:
    """Map ``resource -> owning department`` (``assets/power -> power_utility`` …)."""
    return dict(_table()[1])


def owner_of(resource: str) -> str | None:
    """The department owning ``resource``, or ``None`` when no department owns it."""
    return _table()[1].get(resource)


def asset_resource(system: str) -> str:
    """Policy object of one system's asset rows: ``assets/<system>``."""
    return f"assets/{system}"


#: Policy object of grid-cell population (microdata) and of aggregated population tables.
POPULATION_MICRODATA = "population/microdata"
POPULATION_AGGREGATE = "population/aggregate"
