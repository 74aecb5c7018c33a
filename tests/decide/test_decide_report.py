"""The relocation page says why people are left without a place while places are free, and where."""

from __future__ import annotations

import pandas as pd

from rescity.decide.report import county_of, relocation_balance, relocation_why


def _units() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_id": ["P", "C1", "C2", "x1", "x2"],
            "level": ["prefecture", "county", "county", "cell", "cell"],
            "parent_id": ["", "P", "P", "C1", "C2"],
            "name_zh": ["台州市", "温岭市", "仙居县", "", ""],
            "name_en": ["Taizhou", "Wenling", "Xianju", "", ""],
        }
    )


def test_balance_and_reason_name_the_short_and_the_spare_counties():
    units = _units()
    assert list(county_of(units, ["x1", "x2", "C1", "P"]))[:3] == ["C1", "C2", "C1"]
    by_unit = pd.DataFrame(
        {
            "unit_id": ["C1", "C2"], "level": ["county", "county"], "name_zh": ["温岭市", "仙居县"],
            "name_en": ["Wenling", "Xianju"], "demand": [5000, 0], "assigned": [1000, 0], "unassigned": [4000, 0],
        }
    )  # fmt: skip
    shelters = pd.DataFrame({"unit_id": ["x1", "x2"], "capacity": [1000, 3000], "assigned": [1000, 0]})
    b = relocation_balance(units, by_unit, shelters)
    assert b.loc["C1", "without a place"] == 4000 and b.loc["C2", "free places"] == 3000
    why = relocation_why({"unassigned": 4000}, b)
    assert "4,000 people are left without a place while 3,000 places stay free" in why
    assert "温岭市 Wenling (4,000)" in why and "仙居县 Xianju (3,000)" in why
    assert "fastest" in why and "--max-minutes" in why
