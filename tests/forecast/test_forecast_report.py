"""The forecast report and summary do not contradict themselves: every indicator's warning is its
own colour or says it has no threshold, ties of the composite are broken by people to relocate,
names always, no false precision."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from rescity.forecast.report import (
    NO_THRESHOLD,
    fmt_value,
    indicator_label,
    ranked_units,
    warning_word,
    write_report,
)


def _table() -> pd.DataFrame:
    units = [("331081", "温岭市", "Wenling", 900), ("330382", "乐清市", "Yueqing", 500), ("330106", "西湖区", "Xihu", 10)]
    rows = []
    for uid, zh, en, rel in units:
        for ind, mean, warn in (("composite", 5.0, 4), ("relocate", float(rel), 4), ("affected", 10.0 * rel, 0),
                                ("economic_loss_cny", 74_478_976_632.4, 4)):  # fmt: skip
            rows.append(
                {"issued": "2019-08-09T12:00Z", "lead_h": 24, "unit_id": uid, "level": "county", "indicator": ind,
                 "mean": mean, "p05": mean * 0.5, "p95": mean * 1.5, "warning": warn, "change": np.nan,
                 "warning_change": np.nan, "name_zh": zh, "name_en": en, "population": 1_000_000}  # fmt: skip
            )
    rows.append({**rows[0], "unit_id": "330000", "level": "province", "indicator": "affected", "mean": 10.4e6,
                 "name_zh": "浙江省", "name_en": "Zhejiang", "warning": 0})  # fmt: skip
    return pd.DataFrame(rows)


def test_ties_broken_by_people_to_relocate_and_names_shown():
    t = _table()
    t = t.iloc[::-1]  # arbitrary input order must not matter
    r = ranked_units(t, 24, "county")
    assert list(r["name"]) == ["温岭市 Wenling", "乐清市 Yueqing", "西湖区 Xihu"]


def test_indicators_without_thresholds_never_read_none():
    assert warning_word("affected", 0) == NO_THRESHOLD
    assert warning_word("relocate", 0) == "none"
    assert warning_word("relocate", 4) == "red"
    assert warning_word("composite", 4) == "red"


def test_values_without_false_precision_and_with_units():
    assert fmt_value("economic_loss_cny", 74_478_976_632.4) == "74.5 bn CNY"
    assert fmt_value("relocate", 6_275_520.6) == "6,280,000"
    assert fmt_value("composite", 4.987) == "5.0"
    assert indicator_label("people_cut_off") == "people cut off (no road access)"


def test_report_page_has_names_labels_and_no_numeric_warnings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # divide-by-zero and the like
        p = write_report(tmp_path, _table(), title="hindcast 利奇马")
    html = p.read_text(encoding="utf-8")
    assert "温岭市 Wenling" in html and "no threshold" in html
    assert "74.5 bn CNY" in html and "74,478,976,632.4" not in html
    assert "people to relocate" in html and "ties broken by people to relocate" in html
    assert re.search(r"@font-face \{ font-family: 'rescity-cjk'", html)


def test_one_page_brief_per_issuance(tmp_path):
    from html.parser import HTMLParser

    write_report(tmp_path, _table(), title="hindcast 利奇马")
    briefs = sorted(tmp_path.glob("brief_*.html"))
    assert [b.name for b in briefs] == ["brief_20190809T1200Z.html"]
    html = briefs[0].read_text(encoding="utf-8")
    assert "@page { size: A4" in html and "@media print" in html
    assert "data:image/png;base64," in html  # the map

    class Rows(HTMLParser):
        def __init__(self):
            super().__init__()
            self.cells, self._c = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "td":
                self._c = ""

        def handle_data(self, d):
            if self._c is not None:
                self._c += d

        def handle_endtag(self, tag):
            if tag == "td" and self._c is not None:
                self.cells.append(self._c)
                self._c = None

    p = Rows()
    p.feed(html)
    assert p.cells[1] == "温岭市 Wenling"  # first of the hardest-hit list, by people to relocate
    # what to do per warning level, from the action catalogue, and the skill statement
    assert all(w in html for w in ("blue 蓝色", "yellow 黄色", "orange 橙色", "red 红色"))
    assert "Issue the warning to the public" in html
    assert "How well the model did on past storms" in html
    assert '"brief": "brief_20190809T1200Z.html"' in (tmp_path / "report.html").read_text(encoding="utf-8")
