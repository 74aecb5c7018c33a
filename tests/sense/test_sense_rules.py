"""Warning rules at their boundaries, hysteresis, de-duplication and escalation.

Reference values are the published definitions, typed here from the sources:

- CMA Decree No. 16 (2007), annex — rainstorm signals: blue 50 mm in 12 h, yellow 50 mm in 6 h,
  orange 50 mm in 3 h, red 100 mm in 3 h; typhoon signals: blue mean wind force 6 or gusts
  force 8, yellow 8 / 10, orange 10 / 12, red 12 / 14;
- GB/T 28591-2012 (wind force scale), lower bounds at 10 m: force 6 10.8 m/s, 8 17.2, 10 24.5,
  12 32.7, 14 41.5 m/s;
- MWR (2013) water-regime signals: yellow at the warning stage, orange at the guaranteed stage,
  red at the highest recorded stage.
"""

from __future__ import annotations

import pytest

from rescity.errors import InputError
from rescity.sense.alerts import format_time
from rescity.sense.rules import RuleEngine, Series, load_rules

T0 = 1_565_308_800.0  # 2019-08-09T00:00Z
STEP = 600.0


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def engine(rules, stages=None):
    return RuleEngine(rules, stages or {}, twin="t")


def feed(eng, station, quantity, values, start=T0, step=STEP, extra=None):
    """Feed readings one report at a time; return the transitions as (level, action) pairs."""
    out = []
    for i, v in enumerate(values):
        t = start + i * step
        readings = [(quantity, t, v)] + [(q, t, xs[i]) for q, xs in (extra or {}).items()]
        out += [(tr.level, tr.action) for tr in eng.observe(station, readings, format_time(t))]
    return out


def test_packaged_thresholds_are_the_published_ones(rules):
    by = {r.id: r for r in rules.rules}
    rain = {lv: (by[f"rainstorm.{lv}"].window_h, by[f"rainstorm.{lv}"].on) for lv in ("blue", "yellow", "orange", "red")}
    assert rain == {"blue": (12, 50), "yellow": (6, 50), "orange": (3, 50), "red": (3, 100)}
    force = {6: 10.8, 8: 17.2, 10: 24.5, 12: 32.7, 14: 41.5}
    wind = {lv: (by[f"typhoon.{lv}.wind"].on, by[f"typhoon.{lv}.gust"].on) for lv in ("blue", "yellow", "orange", "red")}
    assert wind == {
        "blue": (force[6], force[8]),
        "yellow": (force[8], force[10]),
        "orange": (force[10], force[12]),
        "red": (force[12], force[14]),
    }
    assert [(by[f"river.{lv}"].ref, by[f"river.{lv}"].on) for lv in ("yellow", "orange", "red")] == [
        ("warning_stage_m", 0.0),
        ("guaranteed_stage_m", 0.0),
        ("record_stage_m", 0.0),
    ]
    for r in rules.rules:
        assert r.off < r.on and r.source  # hysteresis and a cited source everywhere


@pytest.mark.parametrize(
    ("hours", "total", "level"),
    [
        (12, 50.0, "blue"),
        (12, 49.9, None),
        (6, 50.0, "yellow"),
        (3, 50.0, "orange"),
        (3, 99.9, "orange"),
        (3, 100.0, "red"),
    ],
)
def test_rainstorm_thresholds_at_their_boundaries(rules, hours, total, level):
    n = int(hours * 6)  # 10-min reports spread evenly over the window
    eng = engine(rules)
    got = feed(eng, "W1", "rain_mm", [total / n] * n)
    assert eng.level("rainstorm", "W1") == level
    assert (got[-1][0] if got else None) == level


def test_tenths_of_a_millimetre_add_up_to_the_threshold(rules):
    # 500 reports of 0.1 mm would sum to 49.99999999999 in floating point; 50 mm is 50 mm
    eng = engine(rules)
    feed(eng, "W1", "rain_mm", [0.1] * 500, step=60.0)  # one a minute: 500 mm·0.1 within 12 h
    assert eng.series[("W1", "rain_mm")].sum(T0 + 499 * 60.0, 12 * 3600) == 50.0
    assert eng.level("rainstorm", "W1") == "blue"


def test_rain_window_is_open_at_its_start(rules):
    # 50 mm exactly 3 h before the latest report falls outside (t − 3 h, t]: no orange
    eng = engine(rules)
    got = feed(eng, "W1", "rain_mm", [50.0] + [0.0] * 19)  # 50 mm at t0, then zeros
    s = eng.series[("W1", "rain_mm")]
    assert s.sum(T0 + 18 * STEP, 3 * 3600) == 0.0  # t0 is exactly 3 h before: outside
    assert s.sum(T0 + 17 * STEP, 3 * 3600) == 50.0
    # orange at once (3 h ≥ 50 mm), down to yellow (6 h ≥ 50 mm) after two reports without it
    assert got == [("orange", "issue"), ("yellow", "downgrade")]


@pytest.mark.parametrize(
    ("quantity", "value", "level"),
    [
        ("wind_ms", 10.8, "blue"),
        ("wind_ms", 10.79, None),
        ("wind_ms", 17.2, "yellow"),
        ("wind_ms", 24.5, "orange"),
        ("wind_ms", 32.7, "red"),
        ("gust_ms", 17.2, "blue"),
        ("gust_ms", 17.19, None),
        ("gust_ms", 24.5, "yellow"),
        ("gust_ms", 32.7, "orange"),
        ("gust_ms", 41.5, "red"),
        ("gust_ms", 41.49, "orange"),
    ],
)
def test_typhoon_thresholds_at_their_boundaries(rules, quantity, value, level):
    eng = engine(rules)
    feed(eng, "W1", quantity, [value, value])
    assert eng.level("typhoon", "W1") == level


def test_typhoon_signal_needs_two_reports(rules):
    eng = engine(rules)
    assert feed(eng, "W1", "wind_ms", [30.0]) == []  # one report: "may persist" not shown yet
    assert feed(eng, "W1", "wind_ms", [30.0, 12.0], start=T0 + STEP) == [("orange", "issue")]
    # a lone spike between calm reports never raises a signal
    eng = engine(rules)
    assert feed(eng, "W2", "wind_ms", [5.0, 40.0, 5.0, 40.0, 5.0]) == []


def flood(eng, station, seq):
    """river_flood transitions as (level, action, report index)."""
    out = []
    for i, v in enumerate(seq):
        t = T0 + i * STEP
        out += [
            (tr.level, tr.action, i)
            for tr in eng.observe(station, [("water_level_m", t, v)], format_time(t))
            if tr.family == "river_flood"
        ]
    return out


def test_hysteresis_dedup_escalation_and_lifting(rules):
    # warning 10 m, guaranteed 12 m, record 13 m; on after two reports, off after two
    stages = {"H1": {"warning_stage_m": 10.0, "guaranteed_stage_m": 12.0, "record_stage_m": 13.0}}
    seq = [
        9.0,  # 0: nothing
        9.5, 9.5,  # 1–2: near the warning stage (≥ 10 − 0.5) twice: blue
        10.0, 10.0,  # 3–4: at the warning stage twice: yellow
        10.3, 9.85, 10.2,  # 5–7: yellow holds (off below 9.8): no new alert
        13.2, 13.2,  # 8–9: at the record stage twice: straight to red
        12.9,  # 10: below record, above red's off value 12.8: held
        12.5, 12.5,  # 11–12: below 12.8 twice: down to orange (the guaranteed stage holds)
        9.2, 9.2,  # 13–14: below every off value (blue's is 9.3) twice: lifted
    ]
    eng = engine(rules, stages)
    assert flood(eng, "H1", seq) == [
        ("blue", "issue", 2),
        ("yellow", "escalate", 4),
        ("red", "escalate", 9),
        ("orange", "downgrade", 12),
        (None, "cancel", 14),
    ]
    assert eng.level("river_flood", "H1") is None


def test_downgrade_needs_two_reports_below_the_off_value(rules):
    stages = {"H1": {"warning_stage_m": 10.0, "guaranteed_stage_m": 12.0, "record_stage_m": 13.0}}
    eng = engine(rules, stages)
    seq = [10.0, 10.0, 9.7, 10.0, 9.7, 9.7]  # one dip below 9.8 is not enough; two are
    assert flood(eng, "H1", seq) == [("yellow", "issue", 1), ("blue", "downgrade", 5)]


def test_duplicate_and_late_reports_change_nothing(rules):
    eng = engine(rules)
    feed(eng, "W1", "wind_ms", [20.0, 20.0])
    assert eng.level("typhoon", "W1") == "yellow"
    assert feed(eng, "W1", "wind_ms", [20.0, 20.0]) == []  # the same reports again
    s = eng.series[("W1", "wind_ms")]
    assert len(s.times) == 2
    # a late report (older than the latest) is recorded but evaluates nothing
    assert eng.observe("W1", [("wind_ms", T0 - STEP, 35.0)], format_time(T0 - STEP)) == []


def test_rate_of_rise(rules):
    stages = {"H1": {"warning_stage_m": 50.0, "guaranteed_stage_m": 60.0, "record_stage_m": 70.0}}
    eng = engine(rules, stages)
    # +0.06 m per 10 min = 0.36 m/h: blue (≥ 0.3 m/h) once an hour of record exists, twice
    seq = [5.0 + 0.06 * i for i in range(9)]
    trs = []
    for i, v in enumerate(seq):
        t = T0 + i * STEP
        trs += [(tr.level, tr.action, i) for tr in eng.observe("H1", [("water_level_m", t, v)], format_time(t)) if tr.family == "river_rise"]
    assert trs == [("blue", "issue", 7)]  # measure from report 6 (1 h of record), on twice → report 7
    assert eng.measure(next(r for r in rules.rules if r.id == "river_rise.blue"), "H1", T0 + 8 * STEP) == pytest.approx(0.36)


def test_stages_in_a_message_override_the_table(rules):
    eng = engine(rules, {"H1": {"warning_stage_m": 10.0}})
    for i in range(2):
        t = T0 + i * STEP
        eng.observe("H1", [("water_level_m", t, 8.0)], format_time(t), stages={"warning_stage_m": 8.0})
    assert eng.level("river_flood", "H1") == "yellow"


def test_series_keeps_one_value_per_time_and_excludes_faults():
    s = Series()
    assert s.add(10.0, 1.0) and s.add(20.0, 2.0) and not s.add(15.0, 5.0)
    assert not s.add(20.0, 3.0)  # replaces
    assert s.sum(20.0, 15.0) == 9.0  # (5, 20]: 1 + 5 + 3
    assert s.sum(20.0, 10.0) == 8.0  # (10, 20]: 5 + 3
    s.exclude(15.0)
    assert s.sum(20.0, 15.0) == 4.0 and s.before(16.0) == (10.0, 1.0)
    s.evict(12.0)
    assert s.times == [15.0, 20.0]


def test_bad_rules_files_are_refused(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text(
        "families: {rainstorm: {name_zh: 暴雨, name_en: rainstorm, category: weather, sub_category: rainfall, "
        "department: meteorology}}\n"
        "rules: [{id: a, family: rainstorm, level: blue, quantity: rain_mm, measure: sum, window_h: 3, 'on': 50, 'off': 60}]\n"
    )
    with pytest.raises(InputError, match="off must not exceed on"):
        load_rules(f)
    f.write_text(f.read_text().replace("'off': 60", "'off': 40").replace("level: blue", "level: purple"))
    with pytest.raises(InputError, match="level must be one of"):
        load_rules(f)


def test_rules_command_prints_the_table_with_sources():
    import json

    from typer.testing import CliRunner

    from rescity.cli import app

    r = CliRunner().invoke(app, ["sense", "rules", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    ids = [x["id"] for x in doc["rules"]]
    assert len(ids) == 18 and "rainstorm.red" in ids
    red = next(x for x in doc["rules"] if x["id"] == "rainstorm.red")
    assert red["condition"] == "sum 3 h of rain_mm ≥ 100 (off < 80)"
    assert "16号" in doc["sources"]["cma2007"] and "GB/T 28591-2012" in doc["sources"]["gbt28591"]
