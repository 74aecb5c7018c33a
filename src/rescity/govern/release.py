"""Releasing tables that carry population-derived counts (run results, forecast issuances).

A unit table (a column ``unit_id``) whose columns count people or households — the twin's
``population``, ``households``, ``age_*`` and every per-unit quantity measured in people such as
``affected_mean`` or ``no_power_p95`` — is population data as much as ``GET
/twins/{twin}/population`` is, and passes through the same rules:

* grid-cell rows (``level == "cell"``) are population microdata: a department the policy does not
  allow ``population/microdata`` ``read`` gets the table without them;
* outside the owning department, counts ``0 < x < k`` are withheld (null), with secondary
  suppression among siblings (:func:`rescity.govern.privacy.suppress`);
* a release that includes grid-cell rows is a restricted read and is audited by the caller.

Long tables (``indicator`` with ``mean``/``p05``/``p95``, as in forecast issuances) have their
value columns suppressed on the rows whose indicator counts people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from rescity.govern import privacy

#: Column names (or ``<name>_<stat>`` prefixes) of quantities measured in people or households.
PEOPLE_QUANTITIES: tuple[str, ...] = (
    "population", "households", "people", "affected", "no_power", "no_water", "no_telecom",
    "no_road", "homes_damaged", "deaths", "injuries", "injured", "displaced", "casualties",
    "age_0_14", "age_65_plus", "elderly", "children", "evacuees", "sheltered",
)  # fmt: skip

_STAT = r"(_(mean|p\d\d|median|sd|std|min|max|sum|total|count|q\d\d))?$"
_PEOPLE_RE = re.compile(r"^(" + "|".join(PEOPLE_QUANTITIES) + r")" + _STAT)
_LONG_VALUES = ("mean", "p05", "p95", "value", "median")


def is_people_column(name: str) -> bool:
    """Whether a column counts people or households (``affected_mean``, ``population`` …)."""
    return bool(_PEOPLE_RE.match(str(name).lower()))


def count_columns(df: pd.DataFrame) -> list[str]:
    """The wide-format columns of ``df`` that count people or households."""
    return [c for c in df.columns if is_people_column(c)]


def is_population_table(df: object) -> bool:
    """Whether ``df`` is a per-unit table carrying population-derived counts."""
    if not isinstance(df, pd.DataFrame) or "unit_id" not in df.columns:
        return False
    if count_columns(df):
        return True
    return "indicator" in df.columns and any(c in df.columns for c in _LONG_VALUES)


@dataclass
class Release:
    """What :func:`release` did to a table."""

    table: pd.DataFrame
    cells_removed: int
    cells_released: int
    withheld: int
    suppressed: bool

    @property
    def restricted(self) -> bool:
        """Whether grid-cell (microdata) rows were released: an audited, restricted read."""
        return self.cells_released > 0


def release(df: pd.DataFrame, *, microdata: bool, raw: bool, k: int) -> Release:
    """The table as released to a department.

    Parameters
    ----------
    df:
        A per-unit table (see :func:`is_population_table`).
    microdata:
        Whether the department may read grid-cell population (``population/microdata`` read).
    raw:
        Whether the department owns the population data (no suppression).
    k:
        Threshold of the small-cell rule (people).
    """
    out = df.reset_index(drop=True)
    removed = 0
    if "level" in out.columns:
        cell = (out["level"].astype(str) == "cell").to_numpy()
        if not microdata and cell.any():
            removed = int(cell.sum())
            out = out.loc[~cell].reset_index(drop=True)
            cell = cell[~cell]
        n_cells = int(cell.sum())
    else:
        n_cells = 0
    withheld = 0
    if not raw and len(out):
        cols = count_columns(out)
        frame = [c for c in ("issued", "lead_h", "indicator", "member", "parent_id") if c in out.columns]
        if cols:
            # siblings for secondary suppression: same parent within the same frame of a long table
            grp = out[frame].astype(str).agg("|".join, axis=1) if frame else pd.Series("", index=out.index)
            out, _, s = privacy.suppress(out.assign(_group=grp), cols, k, group="_group")
            out = out.drop(columns="_group")
            withheld += s.total
        if "indicator" in out.columns:
            people = out["indicator"].astype(str).map(is_people_column).to_numpy()
            vals = [c for c in _LONG_VALUES if c in out.columns and c not in cols]
            if vals and people.any():
                # one frame = the rows sharing every key column; siblings = same frame and parent
                keys = frame
                sub = out.loc[people, [*keys, *vals]].copy()
                for c in vals:
                    sub[c] = pd.to_numeric(sub[c], errors="coerce").astype(float)
                sub["_group"] = sub[keys].astype(str).agg("|".join, axis=1) if keys else ""
                rel, _, s = privacy.suppress(sub, vals, k, group="_group")
                withheld += s.total
                for c in vals:
                    col = pd.to_numeric(out[c], errors="coerce").astype(float).to_numpy().copy()
                    col[people] = rel[c].to_numpy()
                    out[c] = col
    return Release(out, removed, n_cells, withheld, not raw)


__all__ = [
    "PEOPLE_QUANTITIES",
    "Release",
    "count_columns",
    "is_people_column",
    "is_population_table",
    "release",
]
