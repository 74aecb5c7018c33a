"""``rescity fragility`` commands."""

from __future__ import annotations

import json

import pytest

from rescity.cli import main


def test_list_json(capsys):
    with pytest.raises(SystemExit) as e:
        main(["fragility", "list", "--hazard", "flood", "--json"])
    assert e.value.code in (0, None)
    rows = json.loads(capsys.readouterr().out)
    ids = {r["curve_id"] for r in rows}
    assert "flood_road_passability" in ids and "flood_building_asia_residential" in ids
    assert all(r["hazard"] == "flood" and r["source"] for r in rows)


def test_check_reports_the_bad_row(tmp_path, capsys):
    (tmp_path / "curves_x.csv").write_text(
        "curve_id,hazard,measure,ds,median,beta,description,source\nc,wind,gust_ms,1,40,-1,,s\n"
    )
    with pytest.raises(SystemExit) as e:
        main(["fragility", "check", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "curves_x.csv" in err and "row 2" in err and "beta" in err
