"""The forecast, verify, calibrate and decide commands, end to end on the small twin."""

from __future__ import annotations

import json
import sys
import types

import pandas as pd
import pytest

import rescity.cli.forecast as cli_fc
import rescity.forecast.issuance as iss
from _forecast_twin import make_twin, straight_track, toy_member
from rescity.cli import main
from rescity.data import path as data_path


def run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.fixture()
def small(monkeypatch):
    """The small twin as the default twin, and the small simulation as the pipeline."""
    tw = make_twin()
    monkeypatch.setattr(cli_fc, "load_twin", lambda path: tw)
    monkeypatch.setattr(iss, "member_indicators", toy_member)
    return tw


@pytest.fixture(scope="module")
def forecast_dir(tmp_path_factory):
    """Two issuances 6 h apart written by ``rescity forecast run`` (small twin, small simulation)."""
    tmp = tmp_path_factory.mktemp("fc")
    tr = straight_track("2019-08-08 00:00", lat0=26.0, lon0=121.1, dlat_per_h=0.1, hours=96)
    trf = tmp / "track.csv"
    tr.to_csv(trf, index=False)
    out = tmp / "fc"
    tw = make_twin()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli_fc, "load_twin", lambda path: tw)
        mp.setattr(iss, "member_indicators", toy_member)
        for issued in ("2019-08-08T12:00Z", "2019-08-08T18:00Z"):
            argv = ["forecast", "run", "--track", str(trf), "--issued", issued, "--members", "6", "-n", "12"]
            with pytest.raises(SystemExit) as e:
                main(argv + ["--out", str(out)])
            assert e.value.code == 0
    return out


def test_forecast_run_appends_issuances_with_change(forecast_dir):
    t = pd.read_csv(forecast_dir / "issuances.csv", dtype={"unit_id": str})
    assert sorted(t["issued"].unique()) == ["2019-08-08T12:00Z", "2019-08-08T18:00Z"]
    assert t[t["issued"] == "2019-08-08T12:00Z"]["change"].isna().all()
    assert t[t["issued"] == "2019-08-08T18:00Z"]["change"].notna().all()
    html = (forecast_dir / "report.html").read_text(encoding="utf-8")
    assert html.count('"issued"') == 2 and 'type="range"' in html and "http" not in html.split("<script>")[1]
    assert len(list((forecast_dir / "maps").glob("*.png"))) == 2
    assert (forecast_dir / "ensemble_20190808T1200Z.csv").exists()


def test_decide_commands_read_the_forecast(forecast_dir, small, capsys, tmp_path):
    f = str(forecast_dir / "issuances.csv")
    out = tmp_path / "dec"
    code, o, e = run(["decide", "relocate", "--forecast", f, "--out", str(out)], capsys)
    assert code == 0, e
    assert "within 10 min" in o
    s = json.loads((out / "relocation.json").read_text(encoding="utf-8"))
    assert s["issued"] == "2019-08-08T18:00Z" and s["lead_h"] == 24
    assert s["assigned"] <= s["shelter_capacity"]
    assert (out / "relocation_map.png").exists()
    code, o, e = run(["decide", "preposition", "--forecast", f, "--out", str(out)], capsys)
    assert code == 0, e
    assert (out / "depots.csv").exists() and (out / "preposition_map.png").exists()
    code, o, e = run(["decide", "plan", "--forecast", f, "--level", "county", "--out", str(out)], capsys)
    assert code == 0, e
    js = json.loads((out / "action_plan.json").read_text(encoding="utf-8"))
    plan = pd.read_csv(out / "action_plan.csv", encoding="utf-8-sig", dtype={"unit_id": str})
    assert set(plan["level"]) <= {"county"}
    assert all(set(x["actions"]) == {"before", "during", "after"} for x in js)
    # one report page with every decision made in the folder: both maps embedded and the plan
    page = (out / "decide.html").read_text(encoding="utf-8")
    for title in ("Relocation and shelters", "Supply pre-positioning", "Action plan"):
        assert title in page
    assert page.count("data:image/png;base64,") == 2
    assert f"{s['people_to_relocate']:,} people to relocate" in page


def test_verify_command_with_the_example_observations(forecast_dir, capsys):
    f = str(forecast_dir / "issuances.csv")
    code, o, e = run(
        ["verify", "--pred", f, "--obs", str(data_path("observed_example.csv")), "--json"], capsys
    )
    assert code == 0, e
    r = json.loads(o)
    assert r["scope_level"] == "province" and "landfall unknown" in r["rule"]
    assert {a["metric"] for a in r["accuracy"]} == {"affected_population", "relocated", "economic_loss_cny"}
    code, o, e = run(["verify", "--pred", f, "--obs", str(data_path("observed_example.csv"))], capsys)
    assert code == 0 and "Scored the last issuance in the file" in o and "skill of each issuance" in o


def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys, small):
    bad = tmp_path / "obs.csv"
    bad.write_text("region,metric,value\n浙江省,fish_lost,3\n", encoding="utf-8")
    pred = tmp_path / "p.csv"
    pred.write_text(
        "issued,lead_h,unit_id,level,indicator,mean,p05,p95,warning\n"
        "2019-08-09T06:00Z,24,330000,province,relocate,1,1,1,0\n",
        encoding="utf-8",
    )
    code, o, e = run(["verify", "--pred", str(pred), "--obs", str(bad)], capsys)
    assert code == 2 and "metric" in e and "Traceback" not in e
    code, o, e = run(
        ["forecast", "run", "--track", str(tmp_path / "none.csv"), "--issued", "2019-08-08"], capsys
    )
    assert code == 2 and "none.csv" in e


def test_hindcast_needs_the_packaged_tracks_and_runs_with_them(tmp_path, capsys, small, monkeypatch):
    monkeypatch.setitem(sys.modules, "rescity.hazard.track", None)
    code, o, e = run(["forecast", "hindcast", "--sn", "201910", "--out", str(tmp_path)], capsys)
    assert code == 2 and "rescity.hazard.track" in e
    mod = types.ModuleType("rescity.hazard.track")
    best = straight_track("2019-08-07 00:00", lat0=24.0, lon0=121.1, dlat_per_h=0.1, hours=96)
    mod.packaged_track = lambda sn: best
    monkeypatch.setitem(sys.modules, "rescity.hazard.track", mod)
    code, o, e = run(
        [
            "forecast",
            "hindcast",
            "--sn",
            "201910",
            "--landfall",
            "2019-08-09T00:00",
            "--start-h",
            "6",
            "--members",
            "3",
            "-n",
            "3",
            "--leads",
            "24",
            "--official-seed",
            "7",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0, e
    t = pd.read_csv(tmp_path / "issuances.csv")
    assert sorted(t["issued"].unique()) == ["2019-08-08T18:00Z", "2019-08-09T00:00Z"]
    meta = json.loads((tmp_path / "forecast_meta.json").read_text(encoding="utf-8"))
    assert meta["landfall"] == "2019-08-09T00:00Z"
    assert meta["official_seed"] == 7  # the official forecasts' own seed, recorded
    code, o, e = run(
        [
            "verify",
            "--pred",
            str(tmp_path / "issuances.csv"),
            "--obs",
            str(data_path("observed_example.csv")),
            "--json",
        ],
        capsys,
    )
    assert code == 0 and "last issuance before landfall" in json.loads(o)["rule"]
