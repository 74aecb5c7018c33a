"""``rescity history``, ``rescity verify suite`` and ``rescity calibrate --storms``."""

from __future__ import annotations

import json

import pytest

from rescity.cli import main

# seven storms: leave-one-out then trains a four-parameter operator on six
SEVEN = "Rananim,Haitang,Matsa,Khanun,Krosa,Morakot,Lekima"


def run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_history_list_and_show(capsys):
    code, out, _ = run(["history", "list", "--json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 13
    lek = next(r for r in rows if r["name_en"] == "Lekima")
    assert lek["affected_population"] == 6_680_000 and lek["economic_loss_cny"] == 24_220_000_000
    code, out, _ = run(["history", "show", "利奇马", "--json"], capsys)
    assert code == 0
    obs = json.loads(out)
    assert {o["sn"] for o in obs} == {"201910"}
    assert any(o["metric"] == "relocated" and o["value"] == 1_260_000 for o in obs)


def test_bad_storm_and_missing_options_exit_2(capsys):
    code, _, err = run(["history", "show", "Nobody"], capsys)
    assert code == 2 and "Nobody" in err and "Traceback" not in err
    code, _, err = run(["verify"], capsys)
    assert code == 2 and "verify suite" in err
    code, _, err = run(["calibrate"], capsys)
    assert code == 2 and "--storms" in err
    code, _, err = run(["verify", "suite", "--storms", "Lekima,Nobody"], capsys)
    assert code == 2 and "Nobody" in err


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RESCITY_HOME", str(tmp_path / "home"))
    return tmp_path


def test_verify_suite_and_calibrate_on_seven_storms(home, capsys):
    out = home / "suite"
    code, o, err = run(
        ["verify", "suite", "--storms", SEVEN, "--leads", "", "--draws", "100", "--out", str(out), "--json"],
        capsys,
    )
    assert code == 0, err
    summary = json.loads(o)
    metrics = {s["metric"] for s in summary}
    assert {"affected_population", "economic_loss_cny"} <= metrics
    js = json.loads((out / "suite.json").read_text(encoding="utf-8"))
    assert js["meta"]["storms"] == ["200416", "200505", "200509", "200515", "200717", "200909", "201910"]
    rows = [r for r in js["rows"] if r["region"] == "330000" and r["metric"] == "affected_population"]
    assert len(rows) == 7
    for r in rows:
        assert r["p05"] <= r["median"] <= r["p95"]
        assert r["accuracy"] == pytest.approx(1 - abs(r["median"] - r["observed"]) / r["observed"])
    assert "<img" in (out / "suite.html").read_text(encoding="utf-8")
    from rescity.history.suite import track_record

    rec = track_record()
    assert rec is not None and "7 past Zhejiang typhoons" in rec["plain_words"]

    cal_file = home / "cal.json"
    code, o, err = run(["calibrate", "--storms", SEVEN, "--out-file", str(cal_file), "--json"], capsys)
    assert code == 0, err
    cal = json.loads(cal_file.read_text(encoding="utf-8"))
    assert cal["storms"] == ["200416", "200505", "200509", "200515", "200717", "200909", "201910"]
    assert set(cal["operators"]) >= {"affected_population", "economic_loss_cny", "relocated_or_evacuated"}
    assert cal["twin_fingerprint"] and cal["loso_scores"]["summary"]
