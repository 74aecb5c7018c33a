"""Indicator systems as data, and indicator values as one long table.

An indicator system is a table, one row per indicator:

``indicator`` (id), ``dimension`` (id), ``dimension_zh``, ``name_zh``, ``name_en``, ``unit``,
``direction`` (``benefit``: more is better, ``cost``: less is better), ``source`` (``twin``,
``simulation``, ``census`` or ``user``: where the value comes from), ``iso37123`` (the ISO
37123:2019 theme clause it belongs to), ``undrr`` (the UNDRR Disaster Resilience Scorecard
essentials, 1–10, ``;``-separated), ``reference``, ``description``.

The packaged default (``assess_indicators.csv``) has four dimensions — organisation and
management (组织管理), economy and society (经济社会), infrastructure (基础设施), institution and
culture (制度文化) — after GB/T 40947-2021 and common Chinese evaluation papers.

Indicator values, from whatever source, are one long table :data:`VALUE_COLUMNS`:
``unit_id``, ``year`` (``NaN`` for a static value that holds in every year evaluated),
``indicator``, ``value``, ``unit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.errors import InputError

#: Columns of an indicator-system table; the first eight are required.
SYSTEM_COLUMNS: tuple[str, ...] = (
    "indicator",
    "dimension",
    "name_zh",
    "name_en",
    "unit",
    "direction",
    "source",
    "dimension_zh",
    "iso37123",
    "undrr",
    "reference",
    "description",
)
_REQUIRED = SYSTEM_COLUMNS[:7]
SOURCES: tuple[str, ...] = ("twin", "simulation", "census", "user")
DIRECTIONS: tuple[str, ...] = ("benefit", "cost")

#: Columns of the long value table every source produces.
VALUE_COLUMNS: tuple[str, ...] = ("unit_id", "year", "indicator", "value", "unit")

#: The UNDRR Disaster Resilience Scorecard for Cities: its ten essentials (UNDRR 2017).
UNDRR_ESSENTIALS: dict[int, str] = {
    1: "Organise for disaster resilience",
    2: "Identify, understand and use current and future risk scenarios",
    3: "Strengthen financial capacity for resilience",
    4: "Pursue resilient urban development and design",
    5: "Safeguard natural buffers to enhance the protective functions offered by natural ecosystems",
    6: "Strengthen institutional capacity for resilience",
    7: "Understand and strengthen societal capacity for resilience",
    8: "Increase infrastructure resilience",
    9: "Ensure effective disaster response",
    10: "Expedite recovery and build back better",
}


@dataclass(frozen=True)
class IndicatorSystem:
    """An indicator system: one row per indicator (see the module docstring)."""

    table: pd.DataFrame
    name: str = ""

    @property
    def ids(self) -> list[str]:
        return self.table["indicator"].tolist()

    def row(self, indicator: str) -> pd.Series:
        return self.table.set_index("indicator").loc[indicator]

    def directions(self, indicators: list[str] | None = None) -> np.ndarray:
        """``+1`` for benefit, ``-1`` for cost indicators, in the order of ``indicators``."""
        t = self.table.set_index("indicator")
        ids = self.ids if indicators is None else indicators
        return np.where(t.loc[ids, "direction"].to_numpy() == "benefit", 1, -1)

    def dimension_of(self, indicators: list[str] | None = None) -> np.ndarray:
        t = self.table.set_index("indicator")
        ids = self.ids if indicators is None else indicators
        return t.loc[ids, "dimension"].to_numpy()

    @property
    def dimensions(self) -> list[str]:
        """Dimension ids in the order they first appear."""
        return list(dict.fromkeys(self.table["dimension"]))

    def dimension_names(self) -> dict[str, str]:
        """Dimension id → Chinese name (the id itself when the system gives none)."""
        t = self.table.drop_duplicates("dimension")
        zh = t["dimension_zh"].where(t["dimension_zh"].astype(str).str.len() > 0, t["dimension"])
        return dict(zip(t["dimension"], zh, strict=True))

    def mapping(self) -> pd.DataFrame:
        """The indicator → ISO 37123 theme and UNDRR essential mapping, one row per pair."""
        t = self.table[["indicator", "dimension", "iso37123", "undrr"]].copy()
        t["undrr"] = t["undrr"].astype(str).str.split(";")
        t = t.explode("undrr")
        t["undrr"] = pd.to_numeric(t["undrr"], errors="coerce").astype("Int64")
        t["undrr_essential"] = t["undrr"].map(
            lambda k: UNDRR_ESSENTIALS.get(int(k), "") if pd.notna(k) else ""
        )
        return t.reset_index(drop=True)


def load_system(path: str | Path | None = None) -> IndicatorSystem:
    """Read an indicator system from a CSV file; the packaged default when ``path`` is None.

    Raises :class:`InputError` for a missing column, a duplicate id, or a direction or source
    that is not one of :data:`DIRECTIONS` / :data:`SOURCES`.
    """
    if path is None:
        from rescity.data import path as data_path

        path = data_path("assess_indicators.csv")
    path = Path(path)
    t = pd.read_csv(path, dtype=str, keep_default_na=False)
    t.columns = [c.strip() for c in t.columns]
    for c in _REQUIRED:
        if c not in t.columns:
            raise InputError(
                f"indicator system has no {c!r} column (needs {', '.join(_REQUIRED)})", file=path
            )
    for c in SYSTEM_COLUMNS:
        if c not in t.columns:
            t[c] = ""
    t = t[list(SYSTEM_COLUMNS)].apply(lambda s: s.str.strip())
    if (t["indicator"] == "").any():
        raise InputError("an indicator id is empty", file=path, field="indicator")
    dup = t["indicator"][t["indicator"].duplicated()]
    if len(dup):
        raise InputError("indicator id appears twice", file=path, field="indicator", value=dup.iloc[0])
    for col, allowed in (("direction", DIRECTIONS), ("source", SOURCES)):
        bad = t.loc[~t[col].isin(allowed), col]
        if len(bad):
            raise InputError(f"must be one of {', '.join(allowed)}", file=path, field=col, value=bad.iloc[0])
    return IndicatorSystem(t.reset_index(drop=True), name=path.stem)


def default_system() -> IndicatorSystem:
    """The packaged four-dimension default system."""
    return load_system(None)


def read_indicator_data(path: str | Path, system: IndicatorSystem) -> pd.DataFrame:
    """Read a user CSV of indicator values and check it against ``system``.

    The file has the columns ``unit`` (the administrative unit: its code, or its name),
    ``year``, ``indicator`` and ``value``; a fifth column ``measure`` (or ``unit_of_measure``)
    gives the value's unit of measure, which must equal the system's. Returns the long value
    table (:data:`VALUE_COLUMNS`, ``unit_id`` = the file's ``unit``).

    Raises
    ------
    InputError
        naming the file, the column and the value for: a missing column, an unknown indicator,
        a wrong unit of measure, an empty or non-numeric value, a non-integer year, or the same
        (unit, year, indicator) twice. Line numbers are those of the file (header = line 1).
    """
    path = Path(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = [c.strip().lower() for c in raw.columns]
    measure_col = next((c for c in ("measure", "unit_of_measure", "uom") if c in raw.columns), None)
    for c in ("unit", "year", "indicator", "value"):
        if c not in raw.columns:
            raise InputError(
                f"missing column {c!r}; expected columns unit, year, indicator, value[, measure]", file=path
            )
    raw = raw.apply(lambda s: s.str.strip())
    line = pd.Series(np.arange(len(raw)) + 2, index=raw.index)
    known = set(system.ids)
    unknown = ~raw["indicator"].isin(known)
    if unknown.any():
        i = unknown.idxmax()
        raise InputError(
            f"line {line[i]}: unknown indicator (not in system {system.name!r}; "
            f"{len(raw.loc[unknown, 'indicator'].unique())} unknown in all)",
            file=path,
            field="indicator",
            value=raw.at[i, "indicator"],
        )
    if (raw["unit"] == "").any():
        i = (raw["unit"] == "").idxmax()
        raise InputError(f"line {line[i]}: empty unit", file=path, field="unit", value="")
    year = pd.to_numeric(raw["year"], errors="coerce")
    bad = year.isna() | (year != np.round(year))
    if bad.any():
        i = bad.idxmax()
        raise InputError(
            f"line {line[i]}: year must be an integer", file=path, field="year", value=raw.at[i, "year"]
        )
    empty = raw["value"] == ""
    if empty.any():
        rows = line[empty]
        i = empty.idxmax()
        raise InputError(
            f"line {line[i]}: missing value for {raw.at[i, 'indicator']} of {raw.at[i, 'unit']} "
            f"({len(rows)} missing value(s) in all, lines {', '.join(map(str, rows.iloc[:10]))}"
            f"{' …' if len(rows) > 10 else ''})",
            file=path,
            field="value",
            value="",
        )
    value = pd.to_numeric(raw["value"], errors="coerce")
    bad = value.isna() | ~np.isfinite(value)
    if bad.any():
        i = bad.idxmax()
        raise InputError(
            f"line {line[i]}: value is not a number", file=path, field="value", value=raw.at[i, "value"]
        )
    expected = raw["indicator"].map(system.table.set_index("indicator")["unit"])
    if measure_col is not None:
        got = raw[measure_col]
        wrong = got.str.lower() != expected.str.lower()
        if wrong.any():
            i = wrong.idxmax()
            raise InputError(
                f"line {line[i]}: wrong unit of measure for {raw.at[i, 'indicator']}, "
                f"expected {expected[i]!r}",
                file=path,
                field=measure_col,
                value=got[i],
            )
    out = pd.DataFrame(
        {
            "unit_id": raw["unit"].astype(object),
            "year": year.astype(float),
            "indicator": raw["indicator"].astype(object),
            "value": value.astype(float),
            "unit": expected.astype(object),
        }
    )
    dup = out.duplicated(["unit_id", "year", "indicator"])
    if dup.any():
        i = dup.idxmax()
        raise InputError(
            f"line {line[i]}: {out.at[i, 'indicator']} of {out.at[i, 'unit_id']} "
            f"in {int(out.at[i, 'year'])} given twice",
            file=path,
            field="indicator",
            value=out.at[i, "indicator"],
        )
    return out


def resolve_units(values: pd.DataFrame, units: pd.DataFrame, file: str | Path | None = None) -> pd.DataFrame:
    """Map ``values.unit_id`` given as codes or names (zh or en) onto ``units.unit_id``.

    ``units`` has ``unit_id`` and optionally ``name_zh``, ``name_en``. A value that is neither a
    code nor a unique name raises :class:`InputError`.
    """
    codes = units["unit_id"].astype(str)
    lookup: dict[str, str] = {c: c for c in codes}
    for col in ("name_zh", "name_en"):
        if col in units.columns:
            names = units[col].astype(str)
            counts = names.value_counts()
            for n, c in zip(names, codes, strict=True):
                if n and n not in lookup:
                    lookup[n] = c if counts[n] == 1 else "\0ambiguous"
    mapped = values["unit_id"].astype(str).map(lookup)
    bad = mapped.isna() | (mapped == "\0ambiguous")
    if bad.any():
        v = values["unit_id"].astype(str)[bad].iloc[0]
        why = (
            "is ambiguous (several units have that name; use the code)"
            if mapped[bad].iloc[0] == "\0ambiguous"
            else "is not a known unit code or name"
        )
        raise InputError(f"unit {why}; {int(bad.sum())} row(s) affected", file=file, field="unit", value=v)
    out = values.copy()
    out["unit_id"] = mapped.astype(object)
    return out


def check_values(values: pd.DataFrame, system: IndicatorSystem, origin: str = "values") -> None:
    """Check a long value table against ``system`` (ids known, units equal); raise InputError."""
    t = system.table.set_index("indicator")
    unknown = ~values["indicator"].isin(t.index)
    if unknown.any():
        raise InputError(
            "unknown indicator",
            file=origin,
            field="indicator",
            value=values.loc[unknown, "indicator"].iloc[0],
        )
    expected = values["indicator"].map(t["unit"])
    wrong = values["unit"].astype(str) != expected.astype(str)
    if wrong.any():
        i = wrong.idxmax()
        raise InputError(
            f"wrong unit of measure for {values.at[i, 'indicator']}, expected {expected[i]!r}",
            file=origin,
            field="unit",
            value=values.at[i, "unit"],
        )


def long_table(unit_ids, indicator: str, values, unit: str, year: float = np.nan) -> pd.DataFrame:
    """A long value table for one indicator (rows with a NaN value are dropped)."""
    v = np.asarray(values, dtype=float)
    out = pd.DataFrame(
        {
            "unit_id": np.asarray(unit_ids, dtype=object),
            "year": np.full(len(v), year, dtype=float),
            "indicator": indicator,
            "value": v,
            "unit": unit,
        }
    )
    return out[np.isfinite(v)].reset_index(drop=True)
