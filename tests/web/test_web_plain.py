"""Plain-language alerts: the advice table, place names, the four answers in both languages."""

from __future__ import annotations

import pandas as pd
import pytest

from rescity.web import plain


def units() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_id": ["330000", "331000", "331002", "331002-c0001"],
            "level": ["province", "prefecture", "county", "cell"],
            "parent_id": ["", "330000", "331000", "331002"],
            "name_zh": ["浙江省", "台州市", "椒江区", "331002-c0001"],
            "name_en": ["Zhejiang", "Taizhou", "Jiaojiang", "331002-c0001"],
        }
    )


@pytest.mark.parametrize(
    ("kind", "advice"),
    [
        ("typhoon", "typhoon"),
        ("Typhoon", "typhoon"),
        ("rain_mm", "rainstorm"),
        ("rain_mm_threshold", "rainstorm"),
        ("water_level_m", "flood"),
        ("no_power", "power_outage"),
        ("asset_down", "asset_down"),
        ("volcano", "*"),
        (None, "*"),
    ],
)
def test_alert_kinds_find_their_advice(kind, advice):
    assert plain.advice_for(kind, "yellow")["kind"] == advice


def test_signal_advice_quotes_the_cma_defence_guidelines():
    """Phrases of the defence guidelines (防御指南) in the annex of CMA Order No. 16 (2007)."""
    red_typhoon = plain.advice_for("typhoon", "red")
    assert "停止集会、停课、停业（除特殊行业外）" in red_typhoon["todo_zh"]
    assert "切记强风将会突然吹袭" in red_typhoon["todo_zh"]
    assert "Order No. 16" in red_typhoon["source"] and "台风红色预警信号" in red_typhoon["source"]
    yellow_typhoon = plain.advice_for("typhoon", "yellow")
    assert "确保老人小孩留在家中最安全的地方" in yellow_typhoon["todo_zh"]
    blue_rain = plain.advice_for("rainstorm", "blue")
    assert "驾驶人员应当注意道路积水和交通阻塞，确保安全" in blue_rain["todo_zh"]
    red_rain = plain.advice_for("rainstorm", "red")
    assert "做好山洪、滑坡、泥石流等灾害的防御和抢险工作" in red_rain["todo_zh"]


def test_every_advice_row_is_complete_in_both_languages():
    t = plain.advice_table()
    for _, r in t.iterrows():
        for col in ("name_en", "name_zh", "who_en", "who_zh", "todo_en", "todo_zh", "source"):
            assert r[col].strip(), (r["kind"], r["level"], col)
        assert "{place}" in r["who_en"] and "{place}" in r["who_zh"]
        assert len(r["todo_en"].split("|")) == len(r["todo_zh"].split("|")), (r["kind"], r["level"])
        assert r["level"] in ("*", *plain.LEVELS)
    for kind in ("typhoon", "rainstorm"):
        assert sorted(t.loc[t["kind"] == kind, "level"]) == sorted(plain.LEVELS)
    assert (t["kind"] == "*").sum() == 1


def test_place_names_of_each_level():
    p = plain.Places(units())
    assert (p.place("331002").en, p.place("331002").zh) == ("Jiaojiang, Taizhou", "台州市椒江区")
    assert (p.place("331000").en, p.place("331000").zh) == ("Taizhou", "台州市")
    assert (p.place("330000").en, p.place("330000").zh) == ("Zhejiang", "浙江省")
    c = p.place("331002-c0001")
    assert (
        c.en == "Jiaojiang, Taizhou (grid cell 331002-c0001)" and c.zh == "台州市椒江区（网格 331002-c0001）"
    )
    assert p.place("999999") is None and p.place(None) is None
    assert p.ancestors("331002-c0001") == ["331002-c0001", "331002", "331000", "330000"]


def test_plain_alert_answers_who_what_where_and_what_to_do():
    alert = {
        "level": "orange",
        "kind": "rainstorm",
        "title": "Heavy rain",
        "message": "62 mm in 3 h",
        "unit_id": "331002",
    }
    out = plain.plain_alert(alert, plain.Places(units()))
    en, zh = out["en"], out["zh"]
    assert en["headline"] == "Orange rainstorm warning" and zh["headline"] == "暴雨橙色预警"
    assert en["what"] == "Orange rainstorm warning: Heavy rain — 62 mm in 3 h"
    assert en["where"] == "Jiaojiang, Taizhou" and zh["where"] == "台州市椒江区"
    assert en["who"].startswith("Everyone in Jiaojiang, Taizhou") and zh["who"].startswith(
        "台州市椒江区的所有人"
    )
    adv = plain.advice_for("rainstorm", "orange")
    assert en["todo"] == [s.strip() for s in adv["todo_en"].split("|")]
    assert len(zh["todo"]) == len(en["todo"]) == 3
    assert out["source"] == adv["source"]


def test_an_asset_alert_is_placed_at_the_asset_unit():
    alert = {"level": "red", "kind": "power_outage", "title": "Substation down", "asset_id": "P-1"}
    out = plain.plain_alert(alert, plain.Places(units()), {"P-1": "331002-c0001"})
    assert out["en"]["where"] == "Jiaojiang, Taizhou (grid cell 331002-c0001): P-1"
    assert out["en"]["who"] == "People in Jiaojiang, Taizhou (grid cell 331002-c0001) without electricity"
    assert "95598" in " ".join(out["zh"]["todo"])


def test_an_alert_without_a_place_or_known_kind_still_reads():
    out = plain.plain_alert({"level": "yellow", "kind": "heat_wave", "title": "Hot"})
    assert out["en"]["headline"] == "Yellow heat wave warning" and out["zh"]["headline"] == "黄色预警"
    assert out["en"]["where"] == "the area" and out["zh"]["who"] == "本地区的所有人"
    assert out["advice_kind"] == "*" and out["en"]["todo"]


def test_bilingual_sensing_alerts_are_shown_in_one_language():
    """Sensing writes ``中文 · English`` titles and ``中文\\nEnglish`` messages; each language's
    plain text keeps only its own part."""
    from rescity.web.plain import in_language, plain_alert

    alert = {
        "level": "red",
        "kind": "rainstorm",
        "title": "温岭市暴雨红色预警 · Wenling rainstorm red warning",
        "message": "温岭市气象站过去3小时降雨120.0毫米\nWenling weather station: 120.0 mm of rain in the last 3 h",
        "unit_id": None,
    }
    out = plain_alert(alert, None)
    assert "温岭" not in out["en"]["what"] and "120.0 mm of rain" in out["en"]["what"]
    assert "Wenling" not in out["zh"]["what"] and "120.0毫米" in out["zh"]["what"]
    assert in_language("only English here", "zh", " · ") == "only English here"


def test_what_does_not_repeat_who_and_what_to_do():
    from rescity.web.plain import plain_alert

    alert = {
        "level": "red",
        "kind": "typhoon",
        "title": "温州市台风红色预警 · Wenzhou typhoon red warning",
        "message": "发布台风红色预警：洞头站风速35.0米/秒，达到台风红色预警标准。影响：温州市居民。防御：停课停业\n"
        "Issued typhoon red warning: wind 35.0 m/s at Dongtou, meeting the red signal. "
        "Who: residents of Wenzhou. What to do: stay indoors",
        "unit_id": None,
    }
    out = plain_alert(alert, None)
    assert "Who:" not in out["en"]["what"] and "What to do" not in out["en"]["what"]
    assert "影响" not in out["zh"]["what"] and "防御" not in out["zh"]["what"]
    assert "35.0 m/s at Dongtou" in out["en"]["what"] and out["en"]["todo"]
