"""Verification: accuracy, scoring rule, warning contingency, region matching."""

from __future__ import annotations

import pandas as pd
import pytest

from rescity.data import path as data_path
from rescity.errors import InputError
from rescity.forecast import verify as vf


def _pred():
    rows = []
    # two issuances; province (pop 64.6 M) and one county (Linhai, 1.11 M)
    for issued, scale in (("2019-08-09T06:00Z", 0.5), ("2019-08-09T12:00Z", 0.9), ("2019-08-09T18:00Z", 2.0)):
        for lead in (24, 48):
            f = scale * (1.0 if lead == 48 else 0.8)
            for uid, level, zh, en, pop, rel, loss in (
                ("330000", "province", "浙江省", "Zhejiang", 64_567_588, 1_000_000, 1.4e10),
                ("331082", "county", "临海市", "Linhai", 1_114_146, 50_000, 2e9),
            ):
                for ind, v in (("relocate", rel), ("economic_loss_cny", loss), ("affected", 10 * rel)):
                    rows.append(
                        dict(
                            issued=issued,
                            lead_h=lead,
                            unit_id=uid,
                            level=level,
                            indicator=ind,
                            mean=v * f,
                            p05=v * f * 0.5,
                            p95=v * f * 1.5,
                            warning=0,
                            name_zh=zh,
                            name_en=en,
                            population=pop,
                        )
                    )
    p = pd.DataFrame(rows)
    # warnings as the forecast would have set them
    from rescity.forecast import warning as wl

    for ind in ("relocate", "economic_loss_cny"):
        m = p["indicator"] == ind
        p.loc[m, "warning"] = wl.warning_level(
            p.loc[m, "mean"], ind, p.loc[m, "level"].to_numpy(), p.loc[m, "population"]
        )
    return p


def _obs():
    return pd.DataFrame(
        {
            "region": ["浙江省", "Zhejiang Province", "临海", "331082"],
            "metric": ["relocated", "economic_loss_cny", "affected_population", "relocated"],
            "value": [1_079_000, 1.457e10, 579_000, 40_000],
        }
    )


def test_accuracy_and_default_rule_with_landfall():
    r = vf.verify(_pred(), _obs(), landfall="2019-08-09T17:45Z")
    # last issuance before 17:45 is 12:00; longest window 48 h; largest region = the province
    assert r["issued"] == "2019-08-09T12:00Z" and r["lead_h"] == 48 and r["scope_level"] == "province"
    assert "last issuance before landfall" in r["rule"] and "province" in r["rule"]
    acc = {x["metric"]: x for x in r["accuracy"]}
    # relocated: forecast 0.9 × 1,000,000 = 900,000 vs 1,079,000 → 1 − 179,000/1,079,000
    assert acc["relocated"]["predicted"] == pytest.approx(900_000)
    assert acc["relocated"]["accuracy"] == pytest.approx(1 - 179_000 / 1_079_000, abs=1e-6)
    assert acc["relocated"]["in_interval"]
    assert acc["economic_loss_cny"]["accuracy"] == pytest.approx(
        1 - abs(1.26e10 - 1.457e10) / 1.457e10, abs=1e-6
    )
    assert set(acc) == {"relocated", "economic_loss_cny"}  # county rows are out of the default scope


def test_warning_contingency_by_hand():
    r = vf.verify(_pred(), _obs(), landfall="2019-08-09T17:45Z")
    # relocated: forecast 900,000 → III (yellow, ≥ 50万); observed 1,079,000 → II (orange, ≥ 100万)
    # loss: forecast 1.26e10 → orange (≥ 1e10); observed 1.457e10 → orange
    acc = {x["metric"]: x for x in r["accuracy"]}
    assert (acc["relocated"]["warning_pred"], acc["relocated"]["warning_obs"]) == ("yellow", "orange")
    assert (acc["economic_loss_cny"]["warning_pred"], acc["economic_loss_cny"]["warning_obs"]) == (
        "orange",
        "orange",
    )
    by = {x["level"]: x for x in r["warnings"]["by_level"]}
    assert (by[1]["hits"], by[1]["misses"], by[1]["false_alarms"]) == (2, 0, 0)
    assert (by[3]["hits"], by[3]["misses"], by[3]["false_alarms"]) == (1, 1, 0)
    assert by[3]["hit_rate"] == pytest.approx(0.5) and by[3]["false_alarm_ratio"] == pytest.approx(0.0)
    assert by[4]["hit_rate"] is None


def test_skill_of_each_issuance_and_other_rules():
    r = vf.verify(_pred(), _obs())
    assert "landfall unknown" in r["rule"] and r["issued"] == "2019-08-09T18:00Z"
    sk = {x["issued"]: x for x in r["issuances"]}
    assert list(sk) == ["2019-08-09T06:00Z", "2019-08-09T12:00Z", "2019-08-09T18:00Z"]
    # 12Z (×0.9) beats 06Z (×0.5) and 18Z (×2.0)
    assert sk["2019-08-09T12:00Z"]["mean_accuracy"] > sk["2019-08-09T06:00Z"]["mean_accuracy"]
    assert sk["2019-08-09T12:00Z"]["mean_accuracy"] > sk["2019-08-09T18:00Z"]["mean_accuracy"]
    r = vf.verify(_pred(), _obs(), issued="2019-08-09T06:00Z", lead_h=24, scope="all")
    acc = {(x["region"], x["metric"]): x for x in r["accuracy"]}
    assert acc[("临海", "affected_population")]["predicted"] == pytest.approx(10 * 50_000 * 0.5 * 0.8)
    assert acc[("331082", "relocated")]["unit_id"] == "331082"


def test_region_matching_and_errors():
    units = _pred()[["unit_id", "level", "name_zh", "name_en"]]
    m = vf.match_regions(["浙江", "ZHEJIANG", "Linhai City", "331082"], units)
    assert list(m["unit_id"]) == ["330000", "330000", "331082", "331082"]
    with pytest.raises(InputError, match="region"):
        vf.match_regions(["Atlantis"], units)
    with pytest.raises(InputError, match="metric"):
        vf.check_observations(pd.DataFrame({"region": ["x"], "metric": ["deaths_of_fish"], "value": [1]}))
    with pytest.raises(InputError, match="value"):
        vf.check_observations(pd.DataFrame({"region": ["x"], "metric": ["relocated"], "value": ["many"]}))
    with pytest.raises(InputError, match="issuance"):
        vf.verify(_pred(), _obs(), issued="2020-01-01T00:00Z")


def test_packaged_example_is_in_the_documented_format():
    obs = vf.read_observations(data_path("observed_example.csv"))
    assert {"region", "metric", "value", "source"} <= set(obs.columns)
    prov = obs[obs["region"] == "浙江省"].set_index("metric")["value"]
    # Xinhua, 2019-08-11 (as of 08:00): 497.9万 affected, 107.9万 relocated, 145.7亿 CNY
    assert prov["affected_population"] == 4_979_000
    assert prov["relocated"] == 1_079_000
    assert prov["economic_loss_cny"] == pytest.approx(1.457e10)
    assert obs["source"].str.contains("Lekima").all()
