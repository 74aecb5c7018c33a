"""Maturity level: L1 digital city → L2 smart city → L3 new-type smart city → L4 smart resilient city.

Criteria are data (``assess_maturity.csv``): rows ``level``, ``name_zh``, ``name_en``,
``indicator``, ``op`` (``>=``, ``>``, ``<=``, ``<``, ``==``), ``threshold``, ``basis``. Each
criterion is tested on the unit's raw indicator value. A unit is at level L when it meets every
criterion of levels 1 … L; levels build on each other, so a unit that misses one L2 criterion is
at L1 whatever it does at L3. A criterion whose indicator has no value for the unit is
*missing*: the level found is then a lower bound and ``complete`` is False. Level 0 means the L1
criteria are not met.
"""

from __future__ import annotations

import operator
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.errors import InputError

LEVEL_NAMES: dict[int, tuple[str, str]] = {
    0: ("未达数字城市", "below digital city"),
    1: ("数字城市", "digital city"),
    2: ("智慧城市", "smart city"),
    3: ("新型智慧城市", "new-type smart city"),
    4: ("智慧韧性城市", "smart resilient city"),
}
_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


def load_criteria(path: str | Path | None = None, indicators: list[str] | None = None) -> pd.DataFrame:
    """Read maturity criteria (the packaged defaults when ``path`` is None) and check them."""
    if path is None:
        from rescity.data import path as data_path

        path = data_path("assess_maturity.csv")
    t = pd.read_csv(path, dtype={"indicator": str, "op": str})
    for c in ("level", "indicator", "op", "threshold"):
        if c not in t.columns:
            raise InputError(f"maturity criteria need a {c!r} column", file=path)
    bad = ~t["op"].isin(list(_OPS))
    if bad.any():
        raise InputError(
            f"op must be one of {', '.join(_OPS)}", file=path, field="op", value=t.loc[bad, "op"].iloc[0]
        )
    bad = ~t["level"].isin([1, 2, 3, 4])
    if bad.any():
        raise InputError(
            "level must be 1, 2, 3 or 4", file=path, field="level", value=t.loc[bad, "level"].iloc[0]
        )
    if indicators is not None:
        unk = ~t["indicator"].isin(indicators)
        if unk.any():
            raise InputError(
                "criterion on an indicator not in the system",
                file=path,
                field="indicator",
                value=t.loc[unk, "indicator"].iloc[0],
            )
    for c in ("basis", "name_zh", "name_en"):
        if c not in t.columns:
            t[c] = ""
    return t


def criteria_status(wide: pd.DataFrame, criteria: pd.DataFrame) -> pd.DataFrame:
    """Every (unit, year) × criterion: ``met`` (bool or NA when the value is missing) and the value."""
    rows = []
    for _, c in criteria.iterrows():  # a handful of criteria; vectorised over units
        v = wide[c["indicator"]] if c["indicator"] in wide.columns else pd.Series(np.nan, index=wide.index)
        met = _OPS[c["op"]](v.to_numpy(float), float(c["threshold"]))
        rows.append(
            pd.DataFrame(
                {
                    "unit_id": wide.index.get_level_values(0),
                    "year": wide.index.get_level_values(1),
                    "level": int(c["level"]),
                    "indicator": c["indicator"],
                    "op": c["op"],
                    "threshold": float(c["threshold"]),
                    "value": v.to_numpy(float),
                    "met": pd.array(np.where(np.isnan(v.to_numpy(float)), None, met), dtype="boolean"),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def maturity_levels(wide: pd.DataFrame, criteria: pd.DataFrame | None = None) -> pd.DataFrame:
    """Maturity level of every (unit, year) of a wide raw-value table (NaN = missing).

    Returns ``unit_id``, ``year``, ``level`` (0–4, the highest level whose criteria and all
    lower levels' are met), ``complete`` (False when a missing value stopped the climb: the
    level is then a lower bound), ``label``, ``met_<L>``/``unmet_<L>``/``missing_<L>`` counts per
    level, ``blocking`` (the criteria that stop the climb).
    """
    crit = load_criteria() if criteria is None else criteria
    st = criteria_status(wide, crit)
    key = ["unit_id", "year"]
    g = st.groupby(key + ["level"])
    counts = pd.DataFrame(
        {
            "met": g["met"].apply(lambda s: int((s == True).sum())),  # noqa: E712 - nullable boolean
            "unmet": g["met"].apply(lambda s: int((s == False).sum())),  # noqa: E712
            "missing": g["met"].apply(lambda s: int(s.isna().sum())),
        }
    ).reset_index()
    out = counts.pivot_table(index=key, columns="level", values=["met", "unmet", "missing"], fill_value=0)
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    out = out.astype(int)
    levels = sorted(crit["level"].unique())
    n = len(out)
    level = np.zeros(n, int)
    complete = np.ones(n, bool)
    stopped = np.zeros(n, bool)
    for lv in levels:
        unmet = out.get(f"unmet_{lv}", 0).to_numpy() > 0
        miss = out.get(f"missing_{lv}", 0).to_numpy() > 0
        go = ~stopped & ~unmet & ~miss
        level = np.where(go, lv, level)
        complete = np.where(~stopped & ~unmet & miss, False, complete)
        stopped |= ~go
    out = out.reset_index()
    out["level"] = level
    out["complete"] = complete
    block = st.merge(out[key + ["level"]].rename(columns={"level": "at"}), on=key)
    block = block[(block["level"] == block["at"] + 1) & ~block["met"].fillna(False).to_numpy(bool)]
    txt = [
        f"{i} {o} {t:g} " + ("(no data)" if pd.isna(m) else f"({v:.4g})")
        for i, o, t, v, m in zip(
            block["indicator"], block["op"], block["threshold"], block["value"], block["met"], strict=True
        )
    ]
    desc = block[key].assign(blocking=txt).groupby(key, as_index=False)["blocking"].agg("; ".join)
    out = out.merge(desc, on=key, how="left") if len(desc) else out.assign(blocking="")
    out["blocking"] = out["blocking"].fillna("")

    def label(lv: int, comp: bool) -> str:
        zh, en = LEVEL_NAMES[lv]
        if comp:
            return f"L{lv} {en} ({zh})"
        if lv == 0:
            return "not assessable (L1 criteria lack data)"
        return f"≥ L{lv} {en} ({zh}); L{lv + 1} lacks data"

    out["label"] = [label(lv, c) for lv, c in zip(out["level"], out["complete"], strict=True)]
    return out
