"""``rescity twin build | info | validate``: outputs and exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rescity.cli import app, main
from rescity.twin.io import load, save
from twin_support import tiny, write_layers

runner = CliRunner()


def test_build_info_validate(tmp_path):
    r = runner.invoke(app, ["twin", "build", "--out", str(tmp_path), "--seed", "11", "--cell-km", "20"])
    assert r.exit_code == 0, r.output
    path = tmp_path / "twin"
    t = load(path)
    assert t.meta["seed"] == 11 and t.meta["cell_km"] == 20.0
    assert (t.units["level"] == "county").sum() == 91
    r = runner.invoke(app, ["twin", "info", str(path), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s == json.loads(json.dumps(t.summary()))
    assert s["units"]["county"] == 91 and s["units"]["prefecture"] == 11
    assert s["population"] == 64_567_588
    assert s["assets"]["total"] == len(t.assets) >= 50_000
    assert sum(s["assets"]["by_system"].values()) == s["assets"]["total"]
    r = runner.invoke(app, ["twin", "validate", str(path)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["twin", "info", str(path)])
    assert r.exit_code == 0 and "substation_220kv" in r.stdout


def test_global_out_and_seed(tmp_path):
    r = runner.invoke(app, ["--out", str(tmp_path), "--seed", "5", "twin", "build", "--cell-km", "25"])
    assert r.exit_code == 0, r.output
    assert load(tmp_path / "twin").meta["seed"] == 5


def test_info_default_uses_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RESCITY_HOME", str(tmp_path))
    r = runner.invoke(app, ["twin", "info", "--json", "--seed", "2"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["name"] == "zhejiang" and s["units"]["county"] == 91 and s["population"] == 64_567_588
    assert list((tmp_path / "cache").glob("twin-zhejiang-s2-c5-v*"))


def test_validate_exit_2_on_errors(tmp_path):
    t = tiny()
    t.service.loc[0, "people"] = 10.0  # power rows of cell 1 no longer sum to 100
    t.assets.loc[0, "kind"] = "reactor"
    save(t, tmp_path / "bad")
    r = runner.invoke(app, ["twin", "validate", str(tmp_path / "bad")])
    assert r.exit_code == 2
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("error")]
    assert len(lines) == 2
    assert any("reactor" in ln for ln in lines) and any("not its population" in ln for ln in lines)


def test_validate_layers_reports_unknown_ids(tmp_path):
    t = tiny()
    write_layers(t, tmp_path / "l")
    f = tmp_path / "l" / "service.csv"
    f.write_text(f.read_text().replace("BS2", "BS7"))
    r = runner.invoke(app, ["twin", "validate", str(tmp_path / "l")])
    assert r.exit_code == 2
    assert "BS7" in r.stdout and "unknown asset id" in r.stdout


def test_user_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["twin", "build", "--out", str(tmp_path), "--cell-km", "0"])
    assert e.value.code == 2
    assert "cell" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["twin", "info", str(tmp_path / "missing")])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["twin", "validate", str(tmp_path / "missing")])
    assert e.value.code == 2
