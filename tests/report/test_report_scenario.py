"""The scenario report as a duty officer reads it: the ranked hardest-hit counties first, maps with
place names, landfall and a sequential palette, hazards that add nothing saying why, medians, the
modelled-network statement, and CSV numbers without scientific notation. The HTML is parsed."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from rescity.report.maps import PALETTES, class_breaks, class_labels, nice_number
from rescity.report.scenario import fmt_interval, hardest_hit, storm_landfall
from rescity.run.config import RunConfig
from rescity.run.scenario import run_scenario


class Tables(HTMLParser):
    """Sections (id → text) and tables (caption/first header → rows of cell texts)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.tables: list[dict] = []
        self._sec: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._table: dict | None = None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._sec = a.get("id", "")
            self.sections[self._sec] = ""
        elif tag == "table":
            self._table = {"classes": (a.get("class") or "").split(), "caption": "", "rows": [], "section": self._sec}
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None
        elif tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self._table["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._sec is not None:
            self.sections[self._sec] += data
        if self._in_caption and self._table is not None:
            self._table["caption"] += data
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def lekima(tmp_path_factory):
    out = tmp_path_factory.mktemp("lekima")
    res = run_scenario(RunConfig.from_options(sn="201910", realisations=6, seed=3, recovery=False, out=out))
    html = (out / "report.html").read_text(encoding="utf-8")
    p = Tables()
    p.feed(html)
    return res, out, html, p


def test_report_leads_with_ranked_hardest_hit_counties(lekima):
    res, _, html, p = lekima
    names = list(p.sections)
    assert names.index("hardest-hit-counties") < names.index("maps") < names.index("counties")
    ranked = next(t for t in p.tables if "ranked" in t["classes"])
    header, rows = ranked["rows"][0], ranked["rows"][1:]
    assert header[:3] == ["rank", "name", "prefecture"]
    assert len(rows) == 10 and [r[0] for r in rows] == [str(i) for i in range(1, 11)]
    # ranked by the mean affected population, from the run's own numbers
    c = res.units[res.units["level"] == "county"].sort_values("affected_mean", ascending=False)
    expected = [f"{a} {b}" for a, b in zip(c["name_zh"].head(10), c["name_en"].head(10), strict=True)]
    assert [r[1] for r in rows] == expected
    # Lekima made landfall at Wenling (Taizhou): the worst-hit list holds Taizhou counties
    assert any("Wenling" in r[1] for r in rows)
    assert sum("Taizhou" in r[2] for r in rows) >= 3


def test_county_table_keeps_the_name_column_first_and_sticky(lekima):
    _, _, html, p = lekima
    county = next(t for t in p.tables if t["section"] == "counties")
    assert "sticky" in county["classes"]
    assert county["rows"][0][:3] == ["name", "code", "population"]
    assert county["rows"][0][3] == "affected population"  # not column 17 any more
    assert re.search(r"table\.sticky td:first-child[^}]*position:\s*sticky", html)


def test_maps_name_places_landfall_and_say_what_they_show(lekima):
    res, _, html, p = lekima
    maps = p.sections["maps"]
    assert "Wenling" in maps and "landfall" in maps.lower()
    lf = storm_landfall(res)
    assert lf is not None and "Wenling" in lf.place
    # published landfall (CMA): 2019-08-09 17:45 UTC; the 6-hourly track on the simplified coast
    # must be within an hour and a half of it
    t = pd.Timestamp(lf.time.replace(" UTC", ""), tz="UTC")
    assert abs((t - pd.Timestamp("2019-08-09T17:45Z")).total_seconds()) <= 5400
    assert 121.0 < lf.lon < 121.8 and 28.1 < lf.lat < 28.7
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)
    assert captions and all(len(re.sub("<[^>]+>", "", c)) > 60 for c in captions)
    assert any("Most affected" in c for c in captions)


def test_a_hazard_that_adds_nothing_says_why(lekima):
    res, _, html, p = lekima
    c = res.units[res.units["level"] == "county"]
    if float(np.nanmax(c["flood_depth_max_m"])) > 1e-3:
        pytest.skip("this run floods; nothing to explain")
    assert "Pluvial flood adds nothing" in p.sections["maps"]
    assert "drains" in p.sections["maps"]
    assert "Peak pluvial flood depth (m) by county" not in html  # no blank map


def test_modelled_network_and_skill_statements(lekima):
    _, _, _, p = lekima
    assert "modelled network" in p.sections["summary"]
    assert "census" in p.sections["summary"]
    skill = p.sections["verified-skill"]
    # the verification suite's record (rescity verify suite --ship) in plain words, or the statement
    # that there is none
    assert "not been verified" in skill or "predicted without using its own figures" in skill


def test_darkest_class_is_a_colour_not_black():
    for name, pal in PALETTES.items():
        r, g, b = (int(pal[-1][i : i + 2], 16) / 255 for i in (1, 3, 5))
        lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
        assert max(r, g, b) - min(r, g, b) > 0.4, name  # saturated
        assert lum > 0.05, name  # not near-black


def test_class_breaks_are_nice_and_legend_is_readable():
    v = np.array([1.98, 40.0, 700.0, 5_000.0, 12_000.0, 48_000.0, 160_000.0, 965_000.0])
    e = class_breaks(v)
    assert e[0] == 0 and e[-1] >= v.max() and np.all(np.diff(e) > 0)
    mant = e[1:] / 10 ** np.floor(np.log10(e[1:]))
    assert np.all(np.isin(np.round(mant, 6), [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8]))
    labels = class_labels(e, "people")
    assert labels[0].startswith("0 – ") and not any("e+" in x or "1.98" in x for x in labels)
    assert nice_number(6050) == 8000 and nice_number(6050, up=False) == 6000


def test_intervals_never_above_population_and_skew_marked():
    units = pd.DataFrame(
        {
            "level": ["county"], "unit_id": ["1"], "parent_id": [""], "name_zh": ["甲"], "name_en": ["A"],
            "population": [1000], "affected_mean": [900.0], "affected_p05": [800.0],
            "affected_p95": [1200.0], "affected_p50": [950.0],
        }
    )  # fmt: skip
    row = hardest_hit(units, 1).iloc[0]
    assert row["affected population"] == "900 [800–1,000], median 950"
    s = fmt_interval(np.array([4812.0]), np.array([0.0]), np.array([0.0]), median=np.array([0.0]))[0]
    assert s.startswith("4,810†") and "median 0" in s


def test_csv_numbers_are_readable(lekima):
    _, out, _, _ = lekima
    text = (out / "units.csv").read_text(encoding="utf-8")
    assert not re.search(r"\d[eE][+-]\d", text)
    u = pd.read_csv(out / "units.csv")
    for c in ("affected_mean", "affected_p95", "no_power_p05", "homes_damaged_mean", "population"):
        assert pd.api.types.is_integer_dtype(u[c]), c
    assert (u["affected_p95"] <= u["population"]).all()
    assert (u["affected_p50"] <= u["affected_p95"]).all() and (u["affected_p50"] >= u["affected_p05"]).all()


def test_recovery_metrics_mark_a_mean_outside_its_interval():
    from rescity.report.recovery import METRICS_NOTE, _interval

    out = _interval(np.array([335.2, 20.0]), np.array([336.0, 10.0]), np.array([336.0, 30.0]), "{:.0f}")
    assert out == ["335† [336–336]", "20 [10–30]"]
    assert "skewed" in METRICS_NOTE
