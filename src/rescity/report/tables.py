"""CSV tables people can open in a spreadsheet: counts as integers, other numbers with sensible
decimals, never scientific notation, and intervals of people never above the population."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

#: Column stems that count people or households (written as integers).
COUNT_STEMS: tuple[str, ...] = (
    "population", "households", "affected", "no_power", "no_water", "no_telecom", "no_road",
    "homes_damaged", "deaths", "injured", "displaced", "people_served", "customers",
    "customer_hours_lost", "relocate", "people", "capacity", "assigned", "unassigned",
)  # fmt: skip
#: Stems bounded by the row's population.
PEOPLE_STEMS: tuple[str, ...] = (
    "affected", "no_power", "no_water", "no_telecom", "no_road", "deaths", "injured", "displaced",
)  # fmt: skip
_STAT = re.compile(r"_(mean|p\d\d)$")


def stem(col: str) -> str:
    """``no_power_p95`` → ``no_power``."""
    return _STAT.sub("", col)


def round_significant(x: np.ndarray, sig: int = 6) -> np.ndarray:
    """Each value rounded to ``sig`` significant figures (and at most 10 decimals)."""
    v = np.asarray(x, float)
    a = np.abs(v)
    ok = np.isfinite(a) & (a > 0)
    e = np.zeros_like(v)
    e[ok] = np.floor(np.log10(a[ok]))
    dec = np.clip(sig - 1 - e, -15, 10)
    f = 10.0**dec
    return np.where(ok, np.round(v * f) / f, v)


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with counts as nullable integers (people intervals capped at the row's
    ``population``) and every other float rounded to six significant figures."""
    out = df.copy()
    pop = out["population"].to_numpy(float) if "population" in out else None
    for c in out.columns:
        if not pd.api.types.is_float_dtype(out[c]):
            continue
        v = out[c].to_numpy(float)
        s = stem(c)
        if s in COUNT_STEMS:
            if pop is not None and s in PEOPLE_STEMS:
                v = np.where(np.isfinite(pop), np.minimum(v, pop), v)
            out[c] = pd.array(np.where(np.isfinite(v), np.round(v), np.nan), dtype="Float64").astype("Int64")
        else:
            out[c] = round_significant(v)
    return out


def _positional(x: float) -> str:
    """``8.98473e-05`` → ``0.0000898473``, ``12.0`` → ``12.0`` (values are already rounded).

    Between 1e-4 and 1e16 Python's shortest round-trip ``repr`` is already positional and the
    same digits (and about fifty times faster); outside, numpy's positional formatter."""
    a = abs(x)
    if a == 0 or 1e-4 <= a < 1e16:
        return float.__repr__(float(x))
    return np.format_float_positional(x, trim="0")


def _positional_column(v: np.ndarray) -> np.ndarray:
    """:func:`_positional` of every value (``""`` for NaN), as strings: ``repr`` mapped over the
    column, numpy's formatter only for the few values outside 1e-4 … 1e16."""
    out = np.array(list(map(float.__repr__, v.tolist())), dtype=object)
    a = np.abs(v)
    with np.errstate(invalid="ignore"):
        odd = ~((a == 0) | ((a >= 1e-4) & (a < 1e16)))
    for i in np.flatnonzero(odd):
        out[i] = "" if np.isnan(v[i]) else np.format_float_positional(v[i], trim="0")
    return out


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """Write :func:`readable` ``df`` to ``path`` (UTF-8, no index; floats positional, never
    ``8.98e-05``); returns the path."""
    out = readable(df)
    for c in out.columns:
        if out[c].dtype == np.float64:  # formatted here, column by column (pandas calls per value)
            out[c] = _positional_column(out[c].to_numpy())
    out.to_csv(path, index=False, float_format=_positional)  # any other float column
    return Path(path)
