"""The national smart-city pilot lists and cohort coding for a city–year panel.

The Ministry of Housing and Urban-Rural Development (MOHURD) named three batches of national
smart-city pilots (国家智慧城市试点):

======  =========  ===========  =======================================================
batch   list year  announced    pilots
======  =========  ===========  =======================================================
1       2012       2013-01-29   90 (37 prefecture-level cities, 50 districts/counties, 3 towns)
2       2013       2013-08-05   103 (plus 9 extensions of batch-1 pilots)
3       2014       2015-04-07   84 new and 13 expanded (jointly with the Ministry of Science and Technology)
======  =========  ===========  =======================================================

A pilot list is a CSV with columns ``batch``, ``list_year``, ``announced`` (ISO date),
``type`` (new | expanded), ``province``, ``prefecture`` (the prefecture-level city it lies in),
``county`` (its county-level unit, empty for a whole city), ``name`` (as listed), ``level``
(``prefecture``, ``county``, ``zone`` — a new area or development zone — or ``town``).
The packaged list is partial (see its header); supply the complete lists for research.

Cohort coding
-------------
``list``: the cohort is the list year (2012, 2013, 2014); ``announcement``: the calendar year of
the announcement (2013, 2013, 2015). A unit's cohort is the earliest year over the pilots that
cover it. Never-treated units get cohort 0.

District- and county-level pilots (the documented rule)
------------------------------------------------------
With prefecture-level panel units (``match="prefecture"``), a city is *fully* covered by a
``prefecture`` row and *partly* covered by a district, county, zone or town pilot inside it.
With county-level units (``match="county"``), a county is fully covered by its own ``county``
row or by its prefecture's row (when a parent column is given) and partly covered by a zone or
town inside it. A unit that is only partly covered is handled by ``partial``:

``exclude`` (default)
    dropped from the panel: it is neither a clean treated nor a clean control unit (the common
    practice in the Chinese smart-city DiD literature);
``treat``
    treated from the earliest partial pilot's year;
``control``
    kept as a never-treated control.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.errors import InputError

BATCHES = pd.DataFrame(
    {
        "batch": [1, 2, 3],
        "list_year": [2012, 2013, 2014],
        "announced": pd.to_datetime(["2013-01-29", "2013-08-05", "2015-04-07"]),
        "pilots": [90, 103, 84],
        "expanded": [0, 9, 13],
    }
)
CODINGS: tuple[str, ...] = ("list", "announcement")
PARTIAL_RULES: tuple[str, ...] = ("exclude", "treat", "control")
PILOT_COLUMNS: tuple[str, ...] = ("batch", "list_year", "announced", "prefecture", "county", "name", "level")
LEVELS: tuple[str, ...] = ("prefecture", "county", "zone", "town")
_SUFFIX = re.compile(r"(市|地区|自治州|盟)$")


def normalise_name(s) -> str:
    """Place name for matching: no spaces, no trailing 市/地区/自治州/盟 (杭州市 → 杭州)."""
    s = re.sub(r"\s+", "", str(s))
    return _SUFFIX.sub("", s) if len(s) > 2 else s


def packaged_pilots_path() -> Path:
    from rescity.data import path as data_path

    return data_path("smart_city_pilots.csv")


def load_pilots(path: str | Path | None = None) -> pd.DataFrame:
    """Read a pilot list (the packaged, partial one when ``path`` is None) and check it."""
    path = packaged_pilots_path() if path is None else Path(path)
    t = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False)
    t.columns = [c.strip() for c in t.columns]
    for c in PILOT_COLUMNS:
        if c not in t.columns:
            raise InputError(f"pilot list needs the columns {', '.join(PILOT_COLUMNS)}", file=path, field=c)
    t = t.apply(lambda s: s.str.strip())
    bad = ~t["level"].isin(LEVELS)
    if bad.any():
        raise InputError(
            f"level must be one of {', '.join(LEVELS)}",
            file=path,
            field="level",
            value=t.loc[bad, "level"].iloc[0],
        )
    t["list_year"] = pd.to_numeric(t["list_year"], errors="coerce")
    t["announced"] = pd.to_datetime(t["announced"], errors="coerce")
    for c in ("list_year", "announced"):
        if t[c].isna().any():
            i = t[c].isna().idxmax()
            raise InputError("not a year/date", file=path, field=c, value=str(t.at[i, c]))
    if "type" not in t.columns:
        t["type"] = "new"
    return t


def pilot_year(pilots: pd.DataFrame, coding: str = "list") -> pd.Series:
    """The cohort year of each pilot row under ``coding`` (``list`` or ``announcement``)."""
    if coding == "list":
        return pilots["list_year"].astype(int)
    if coding == "announcement":
        return pilots["announced"].dt.year.astype(int)
    raise InputError(f"cohort coding must be one of {', '.join(CODINGS)}", field="coding", value=coding)


def unit_cohorts(
    names,
    pilots: pd.DataFrame,
    coding: str = "list",
    match: str = "prefecture",
    partial: str = "exclude",
    parents=None,
) -> pd.DataFrame:
    """Cohort of each unit name: columns ``name``, ``full`` (year or NaN), ``partial`` (year or
    NaN), ``cohort`` (0 = never treated, NaN = excluded by the rule), ``status``.

    See the module docstring for ``match`` and ``partial``; ``parents`` gives each unit's
    prefecture name when ``match="county"``.
    """
    if partial not in PARTIAL_RULES:
        raise InputError(
            f"partial-pilot rule must be one of {', '.join(PARTIAL_RULES)}", field="partial", value=partial
        )
    year = pilot_year(pilots, coding)
    p = pilots.assign(
        _year=year,
        _pref=pilots["prefecture"].map(normalise_name),
        _county=pilots["county"].map(normalise_name),
    )
    names = pd.Series(list(names), dtype=object)
    key = names.map(normalise_name)
    if match == "prefecture":
        full = p[p["level"] == "prefecture"].groupby("_pref")["_year"].min()
        part = p[p["level"] != "prefecture"].groupby("_pref")["_year"].min()
        f = key.map(full)
        q = key.map(part)
    elif match == "county":
        full_c = p[p["level"] == "county"].groupby("_county")["_year"].min()
        part_c = p[p["level"].isin(["zone", "town"]) & (p["_county"] != "")].groupby("_county")["_year"].min()
        f = key.map(full_c)
        if parents is not None:
            full_p = p[p["level"] == "prefecture"].groupby("_pref")["_year"].min()
            fp = pd.Series(list(parents), dtype=object).map(normalise_name).map(full_p)
            f = pd.concat([f, fp], axis=1).min(axis=1)
        q = key.map(part_c)
    else:
        raise InputError("match must be prefecture or county", field="match", value=match)
    f = f.astype(float)
    q = q.astype(float)
    cohort = f.copy()
    only_part = f.isna() & q.notna()
    status = np.where(f.notna(), "pilot", np.where(only_part, "partial", "never"))
    if partial == "exclude":
        cohort[only_part] = np.nan
        status = np.where(only_part, "partial-excluded", status)
    elif partial == "treat":
        cohort[only_part] = q[only_part]
        status = np.where(only_part, "partial-treated", status)
    else:
        status = np.where(only_part, "partial-control", status)
    cohort[f.isna() & q.isna()] = 0.0
    if partial == "control":
        cohort[only_part] = 0.0
    return pd.DataFrame({"name": names, "full": f, "partial": q, "cohort": cohort, "status": status})


def add_cohorts(
    panel: pd.DataFrame,
    unit: str,
    pilots: pd.DataFrame,
    coding: str = "list",
    match: str = "prefecture",
    partial: str = "exclude",
    parent: str | None = None,
    column: str = "cohort",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add a cohort column to a panel from a pilot list; drop units the partial rule excludes.

    Returns (panel with ``column``, per-unit table from :func:`unit_cohorts`).
    """
    units = panel.drop_duplicates(unit)
    parents = units[parent].to_numpy() if parent else None
    tab = unit_cohorts(units[unit].to_numpy(), pilots, coding, match, partial, parents)
    tab.index = units[unit].to_numpy()
    out = panel.assign(**{column: panel[unit].map(tab["cohort"])})
    out = out[out[column].notna()].copy()
    out[column] = out[column].astype(int)
    return out, tab.reset_index(drop=True)
