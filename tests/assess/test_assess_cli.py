"""``rescity assess`` end to end: sources, report files, twin fallbacks."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest
from test_assess_infrastructure import small_twin

from rescity.cli import main


def _run(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    cap = capsys.readouterr()
    return e.value.code, cap.out, cap.err


@pytest.fixture
def user_csv(tmp_path):
    from rescity.assess.society import county_units

    units = county_units()["unit_id"].tolist()
    rng = np.random.default_rng(1)
    rows = []
    for year in (2021, 2022):
        for u in units:
            rows.append((u, year, "es_gdp_per_capita", rng.uniform(5e4, 2e5), "CNY/person"))
            rows.append((u, year, "om_digital_management_coverage", rng.uniform(80, 100), "%"))
            rows.append((u, year, "in_broadband_share", rng.uniform(60, 95), "%"))
    p = tmp_path / "user.csv"
    pd.DataFrame(rows, columns=["unit", "year", "indicator", "value", "measure"]).to_csv(p, index=False)
    return p


def test_assess_census_and_user_data_without_twin(tmp_path, user_csv, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "rescity.twin.zhejiang", None)  # builder unavailable
    out = tmp_path / "out"
    code, stdout, err = _run(
        ["assess", "--data", str(user_csv), "--weights", "combined", "--out", str(out)], capsys
    )
    assert code == 0, err
    for f in ("assess.html", "ranking.csv", "obstacles.csv", "weights.csv", "maturity.csv", "ranking.png"):
        assert (out / f).stat().st_size > 0, f
    rk = pd.read_csv(out / "ranking.csv", dtype={"unit_id": str})
    assert len(rk) == 2 * 91 and set(rk["year"]) == {2021, 2022}
    assert rk.groupby("year")["rank"].min().eq(1).all()
    w = pd.read_csv(out / "weights.csv")
    assert {"es_gdp_per_capita", "es_elderly_share", "in_broadband_share"} <= set(w["indicator"])
    assert w["weight"].sum() == pytest.approx(1.0)
    # L1 criteria have data: every unit is L0 or L1, and the level is final only where L1 fails
    assert set(rk["maturity_level"]) <= {0, 1}
    assert not rk.loc[rk["maturity_level"] == 1, "maturity_complete"].any()
    ob = pd.read_csv(out / "obstacles.csv")
    assert ob.groupby(["unit_id", "year"]).size().eq(3).all()
    html = (out / "assess.html").read_text(encoding="utf-8")
    assert "twin builder is not available" in html
    assert "data:image/png;base64," in html
    assert "Indicators not used" in html


def test_assess_with_a_twin_file(tmp_path, capsys, monkeypatch):
    fake_io = types.ModuleType("rescity.twin.io")
    fake_io.load = lambda path: small_twin()
    monkeypatch.setitem(sys.modules, "rescity.twin.io", fake_io)
    twin_file = tmp_path / "small.parquet"
    twin_file.write_bytes(b"")
    res = tmp_path / "units.csv"
    pd.DataFrame(
        {
            "unit_id": ["330102", "330103"],
            "affected_mean": [7000.0, 50000.0],
            "resilience_loss_h": [8.0, 20.0],
        }
    ).to_csv(res, index=False)
    # three counties are needed; the small twin has two, so add a third from a copy with new codes
    t = small_twin()
    extra_units = t.units[t.units["unit_id"] == "330103"].assign(
        unit_id="330104", name_en="C", population=150_000
    )
    t.units = pd.concat([t.units, extra_units], ignore_index=True)
    fake_io.load = lambda path: t
    code, stdout, err = _run(
        ["assess", "--twin", str(twin_file), "--results", str(res), "--out", str(tmp_path / "o")], capsys
    )
    assert code == 0, err
    rk = pd.read_csv(tmp_path / "o" / "ranking.csv", dtype={"unit_id": str})
    assert set(rk["unit_id"]) == {"330102", "330103", "330104"}
    used = set(pd.read_csv(tmp_path / "o" / "weights.csv")["indicator"])
    assert "in_telecom_backup_h" not in used  # C has no base station: missing, excluded
    html = (tmp_path / "o" / "assess.html").read_text(encoding="utf-8")
    assert "Twin loaded from small.parquet" in html
    assert "in_affected_share" in html


def test_assess_bad_user_data_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "rescity.twin.zhejiang", None)
    p = tmp_path / "bad.csv"
    p.write_text(
        "unit,year,indicator,value,measure\n330102,2022,es_gdp_per_capita,1e5,CNY\n", encoding="utf-8"
    )
    code, _, err = _run(["assess", "--data", str(p), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert "wrong unit of measure" in err and "CNY/person" in err
