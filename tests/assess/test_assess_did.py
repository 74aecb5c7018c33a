"""Staggered DiD on the mpdta example against the values published by R's ``did`` package."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd
import pytest

from rescity.assess.did import aggregate_cells, did, plot_event_study, wald_test
from rescity.assess.pilots import BATCHES, add_cohorts, load_pilots, unit_cohorts
from rescity.cli import main
from rescity.errors import InputError

moderndid = pytest.importorskip("moderndid")
pytest.importorskip("pyfixest")

# R: att_gt(yname="lemp", tname="year", idname="countyreal", gname="first.treat", xformla=~1,
#    data=mpdta) then aggte(type=...) — did package documentation and vignette, analytic SEs.
R_DID = {"simple": -0.0399513, "group": -0.0310183, "dynamic": -0.0772398, "calendar": -0.0417004}
R_SIMPLE_SE = 0.0120340


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return moderndid.load_mpdta().to_pandas()


@pytest.fixture(scope="module")
def cs(mpdta):
    return did(mpdta, "lemp", "countyreal", "year", "first.treat", estimator="cs", control="never")


def test_callaway_santanna_matches_r_did(cs):
    for k, v in R_DID.items():
        assert cs.aggregates[k].att == pytest.approx(v, abs=1e-6), k
    assert cs.aggregates["simple"].se == pytest.approx(R_SIMPLE_SE, abs=1e-6)
    assert cs.cohorts == {0: 309, 2004: 20, 2006: 40, 2007: 131}
    assert cs.pretrend is not None and 0 < cs.pretrend["p"] < 1


def test_our_aggregation_formulas_reproduce_r_from_the_cells(cs):
    # the aggregation weights of Callaway & Sant'Anna (2021) applied to ATT(g, t) by our code
    agg = aggregate_cells(cs.att_gt, pd.Series(cs.cohorts))
    for k, v in R_DID.items():
        assert agg[k].att == pytest.approx(v, abs=1e-6), k


def _cell_did(df: pd.DataFrame, g: int, t: int, base: int, control: pd.Series) -> float:
    """(Ȳ_g,t − Ȳ_g,base) − (Ȳ_c,t − Ȳ_c,base) by group means."""
    m = df.groupby(["first.treat", "year"])["lemp"].mean()
    c = df[control].groupby("year")["lemp"].mean()
    return (m[(g, t)] - m[(g, base)]) - (c[t] - c[base])


def test_sun_abraham_cells_are_long_differences(mpdta):
    sa = did(mpdta, "lemp", "countyreal", "year", "first.treat", estimator="sa", control="never")
    never = mpdta["first.treat"] == 0
    for g, t, att in sa.att_gt[["group", "time", "att"]].itertuples(index=False):
        assert att == pytest.approx(_cell_did(mpdta, int(g), int(t), int(g) - 1, never), abs=1e-9)
    # with never-treated controls the post-period cells, hence all four aggregations, equal CS's
    for k, v in R_DID.items():
        assert sa.aggregates[k].att == pytest.approx(v, abs=1e-6), k
    assert (sa.event.loc[sa.event["e"] == -1, "att"] == 0).all()
    assert sa.pretrend["df"] == int((sa.att_gt["time"] - sa.att_gt["group"] <= -2).sum())


def test_twfe_equals_the_within_estimator(mpdta):
    tw = did(mpdta, "lemp", "countyreal", "year", "first.treat", estimator="twfe")
    d = mpdta.assign(D=((mpdta["first.treat"] > 0) & (mpdta["year"] >= mpdta["first.treat"])).astype(float))

    def within(col):  # balanced panel: x − x̄_i − x̄_t + x̄
        x = d[col]
        return (
            x
            - d.groupby("countyreal")[col].transform("mean")
            - d.groupby("year")[col].transform("mean")
            + x.mean()
        )

    dd, yy = within("D"), within("lemp")
    beta = float((dd * yy).sum() / (dd * dd).sum())
    assert tw.aggregates["simple"].att == pytest.approx(beta, rel=1e-9)
    assert tw.aggregates["group"] is None and tw.aggregates["calendar"] is None


def test_not_yet_treated_controls_differ_but_stay_close(mpdta, cs):
    ny = did(mpdta, "lemp", "countyreal", "year", "first.treat", estimator="cs", control="notyet")
    assert ny.aggregates["simple"].att != pytest.approx(cs.aggregates["simple"].att, abs=1e-8)
    assert ny.aggregates["simple"].att == pytest.approx(cs.aggregates["simple"].att, abs=0.01)


def test_wald_test_by_hand():
    r = wald_test(np.array([1.0, 2.0]), np.diag([1.0, 4.0]))
    assert r["stat"] == pytest.approx(2.0)
    assert r["df"] == 2
    assert r["p"] == pytest.approx(math.exp(-1.0))  # χ²(2) survival: exp(−x/2)


def test_panel_errors(mpdta):
    with pytest.raises(InputError, match="no outcome column") as e:
        did(mpdta, "nope", "countyreal", "year", "first.treat")
    assert e.value.field == "outcome"
    bad = mpdta.copy()
    bad.loc[bad.index[0], "first.treat"] = 2006  # cohort varies within county 8001
    with pytest.raises(InputError, match="constant within a unit"):
        did(bad, "lemp", "countyreal", "year", "first.treat")


def test_event_study_plot(cs, tmp_path):
    p = plot_event_study(cs, tmp_path / "es.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_packaged_pilot_list():
    p = load_pilots()
    b1 = p[p["batch"] == "1"]
    assert (b1["level"] == "prefecture").sum() == 37  # 37 prefecture-level cities in batch 1
    assert (b1["level"] == "town").sum() == 3
    assert set(p["announced"].dt.strftime("%Y-%m-%d")) == {"2013-01-29", "2013-08-05", "2015-04-07"}
    assert list(BATCHES["announced"].dt.strftime("%Y-%m-%d")) == ["2013-01-29", "2013-08-05", "2015-04-07"]


def test_cohort_coding_and_partial_rule():
    pilots = pd.DataFrame(
        {
            "batch": ["1", "1", "2", "3"],
            "list_year": [2012, 2012, 2013, 2014],
            "announced": pd.to_datetime(["2013-01-29", "2013-01-29", "2013-08-05", "2015-04-07"]),
            "prefecture": ["温州市", "杭州市", "宁波市", "宁波市"],
            "county": ["", "上城区", "", "宁海县"],
            "name": ["温州市", "杭州市上城区", "宁波市", "宁海县"],
            "level": ["prefecture", "county", "prefecture", "county"],
        }
    )
    names = ["温州", "杭州市", "宁波市", "湖州市"]
    lst = unit_cohorts(names, pilots, coding="list").set_index("name")
    assert lst["cohort"].to_dict() == {
        "温州": 2012,
        "杭州市": pytest.approx(np.nan, nan_ok=True),
        "宁波市": 2013,
        "湖州市": 0,
    }
    assert lst.loc["杭州市", "status"] == "partial-excluded"
    ann = unit_cohorts(names, pilots, coding="announcement").set_index("name")["cohort"]
    assert ann["温州"] == 2013 and ann["宁波市"] == 2013
    assert unit_cohorts(names, pilots, partial="treat").set_index("name").loc["杭州市", "cohort"] == 2012
    assert unit_cohorts(names, pilots, partial="control").set_index("name").loc["杭州市", "cohort"] == 0
    county = unit_cohorts(
        ["宁海县", "上城区", "鹿城区"], pilots, match="county", parents=["宁波市", "杭州市", "温州市"]
    ).set_index("name")["cohort"]
    assert county.to_dict() == {
        "宁海县": 2013,
        "上城区": 2012,
        "鹿城区": 2012,
    }  # 宁海: earliest of city 2013, county 2014
    panel = pd.DataFrame({"city": np.repeat(names, 2), "year": [2011, 2012] * 4, "y": np.arange(8.0)})
    out, tab = add_cohorts(panel, "city", pilots)
    assert "杭州市" not in set(out["city"]) and len(out) == 6
    assert len(tab) == 4


def _run_cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    cap = capsys.readouterr()
    return e.value.code, cap.out, cap.err


def test_cli_policy_did_json(mpdta, tmp_path, capsys):
    panel = tmp_path / "mpdta.csv"
    mpdta.to_csv(panel, index=False)
    code, out, err = _run_cli(
        [
            "policy",
            "did",
            "--panel",
            str(panel),
            "--outcome",
            "lemp",
            "--unit",
            "countyreal",
            "--time",
            "year",
            "--cohort",
            "first.treat",
            "--estimator",
            "cs",
            "--control",
            "never",
            "--json",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0, err
    d = json.loads(out)
    assert set(R_DID) <= set(d)
    for k, v in R_DID.items():
        assert d[k]["att"] == pytest.approx(v, abs=1e-6)
    assert d["simple"]["se"] == pytest.approx(R_SIMPLE_SE, abs=1e-6)
    assert [r["e"] for r in d["dynamic"]["by"]] == [-3, -2, -1, 0, 1, 2, 3]
    assert d["cohort_coding"] == "column 'first.treat' as given"
    assert (tmp_path / "event_study_cs_never.png").exists()


def test_cli_missing_extra_is_one_line(mpdta, tmp_path, capsys, monkeypatch):
    panel = tmp_path / "mpdta.csv"
    mpdta.to_csv(panel, index=False)
    monkeypatch.setitem(sys.modules, "moderndid", None)
    code, out, err = _run_cli(
        [
            "policy",
            "did",
            "--panel",
            str(panel),
            "--outcome",
            "lemp",
            "--unit",
            "countyreal",
            "--time",
            "year",
            "--cohort",
            "first.treat",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 2
    assert "pip install 'rescity[assess]'" in err
    assert "Traceback" not in err


def test_cli_cohorts_from_the_packaged_pilot_list(tmp_path, capsys):
    # Zhejiang's prefecture-level cities 2008–2018; y = city effect + year effect + 1 after the pilot
    cities = [
        "杭州市",
        "宁波市",
        "温州市",
        "嘉兴市",
        "湖州市",
        "绍兴市",
        "金华市",
        "衢州市",
        "舟山市",
        "台州市",
        "丽水市",
    ]
    years = np.arange(2008, 2019)
    panel = pd.DataFrame([(c, y) for c in cities for y in years], columns=["city", "year"])
    pilot = panel["city"].isin(["温州市", "金华市"])  # batch 1 (2012 list) prefecture-level pilots
    panel["gdp"] = (
        panel["city"].map({c: i for i, c in enumerate(cities)}) * 0.3
        + (panel["year"] - 2008) * 0.1
        + 1.0 * (pilot & (panel["year"] >= 2012))
    )
    f = tmp_path / "panel.csv"
    panel.to_csv(f, index=False)
    code, out, err = _run_cli(
        [
            "policy",
            "did",
            "--panel",
            str(f),
            "--outcome",
            "gdp",
            "--unit",
            "city",
            "--time",
            "year",
            "--estimator",
            "sa",
            "--coding",
            "list",
            "--json",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0, err
    assert "partial" in err  # the packaged list is flagged as incomplete
    d = json.loads(out)
    # 杭州 (上城区), 宁波 (镇海区) and 绍兴 (诸暨市) have only district/county pilots: excluded
    assert d["n_units"] == 8
    assert d["cohorts"] == {"0": 6, "2012": 2}
    assert "list-year coding" in d["cohort_coding"] and "exclude" in d["cohort_coding"]
    for k in ("simple", "group", "dynamic", "calendar"):
        assert d[k]["att"] == pytest.approx(1.0, abs=1e-9)
    code, out, err = _run_cli(
        [
            "policy",
            "did",
            "--panel",
            str(f),
            "--outcome",
            "gdp",
            "--unit",
            "city",
            "--time",
            "year",
            "--estimator",
            "twfe",
            "--coding",
            "announcement",
            "--json",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    d = json.loads(out)
    assert d["cohorts"] == {"0": 6, "2013": 2}  # announced 2013-01-29
    # the effect starts in 2012 but is coded from 2013: the 2012 jump sits in the pre-period e = −1
    assert d["simple"]["att"] != pytest.approx(1.0, abs=1e-3)
