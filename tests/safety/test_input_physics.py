"""Physically impossible input is refused with one line naming file, field and value (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rescity.cli import main
from rescity.errors import InputError
from rescity.hazard.track import read_generic
from twin_support import tiny

TRACK = """time,lat,lon,vmax_kn,pcen_hpa,rmax_nm,penv_hpa
2019-08-09T00:00Z,26.5,124.0,120,930,15,1008
2019-08-09T06:00Z,27.2,123.2,115,935,16,1008
2019-08-09T12:00Z,27.9,122.4,110,940,18,1008
"""


def cli(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def _track(tmp_path, col: str, value: str):
    df = pd.read_csv(pd.io.common.StringIO(TRACK), dtype=str)
    if col == "pcen_hpa" and float(value) >= 1000:
        df.loc[:, col] = value  # a cyclone's weak stages may sit at ambient; a track never below it is none
    else:
        df.loc[1, col] = value
    p = tmp_path / "t.csv"
    df.to_csv(p, index=False)
    return p


@pytest.mark.parametrize(
    "col,value,field",
    [
        ("penv_hpa", "inf", "penv_hpa"),
        ("penv_hpa", "0", "penv_hpa"),
        ("penv_hpa", "-1000", "penv_hpa"),
        ("pcen_hpa", "1040", "pcen_hpa"),  # a "storm" with a high at its centre
        ("pcen_hpa", "1008", "pcen_hpa"),  # at ambient
        ("rmax_nm", "inf", "rmax_km"),
        ("rmax_nm", "0", "rmax_nm"),
        ("rmax_nm", "2700", "rmax_km"),  # 5,000 km
    ],
)
def test_impossible_typhoon_parameters(tmp_path, capsys, col, value, field):
    p = _track(tmp_path, col, value)
    with pytest.raises(InputError) as e:
        read_generic(p)
    assert e.value.field in (field, col) and ("line 3" in e.value.message or "every point" in e.value.message)
    code, out, err = cli(["wind", "--track", str(p), "--format", "generic", "--at", "28.6,121.4"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nan" not in out


def test_a_weak_stage_at_ambient_pressure_is_read_and_carries_no_wind(tmp_path):
    """Depression and remnant-low stages (CMA tracks have them at 1008–1010 hPa) are part of a track."""
    t = read_generic(_weak(tmp_path))
    assert (t["pcen_hpa"] >= t["penv_hpa"]).sum() == 1 and len(t) == 3


def _weak(tmp_path):
    df = pd.read_csv(pd.io.common.StringIO(TRACK), dtype=str)
    df.loc[2, "pcen_hpa"] = df.loc[2, "penv_hpa"]
    p = tmp_path / "weak.csv"
    df.to_csv(p, index=False)
    return p


def test_a_valid_track_still_reads(tmp_path):
    t = read_generic(_track(tmp_path, "pcen_hpa", "950"))
    assert len(t) == 3 and (t["pcen_hpa"] < t["penv_hpa"]).all()


def test_quake_out_of_reach_of_every_site(capsys):
    code, out, err = cli(["quake", "--source", "0,0,10,6.5", "--at", "28.6,121.4"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    from rescity.hazard.earthquake import EarthquakeSource, ground_motion

    src = EarthquakeSource(lat=0.0, lon=0.0, depth_km=10.0, mw=6.5)
    with pytest.raises(InputError, match="nothing would shake"):
        ground_motion(src, np.array([121.4, 120.1]), np.array([28.6, 30.2]), vs30=400.0, beyond="zero")


def _saved(tmp_path, edit):
    from rescity.twin.io import save

    tw = tiny()
    edit(tw)
    return save(tw, tmp_path / "tw")


@pytest.mark.parametrize(
    "what,edit,field",
    [
        ("cycle", lambda t: t.units.__setitem__("parent_id", ["C", "C-c0001", "C", "C"]), "parent_id"),
        ("share", lambda t: t.units.__setitem__("share_age_0_14", [7.5, 0.1, 0.1, 0.1]), "share_age_0_14"),
        (
            "share-",
            lambda t: t.units.__setitem__("share_age_65_plus", [-0.2, 0.1, 0.1, 0.1]),
            "share_age_65_plus",
        ),
        (
            "inf",
            lambda t: t.assets.__setitem__("capacity", np.r_[np.inf, np.ones(len(t.assets) - 1)]),
            "capacity",
        ),
        ("pop", lambda t: t.units.__setitem__("population", [1e308, 150, 100, 50]), "population"),
    ],
)
def test_twin_validate_finds_impossible_twins(tmp_path, capsys, what, edit, field):
    from rescity.twin.validate import errors, validate

    path = _saved(tmp_path, edit)
    probs = errors(validate(path, reachability=False))
    assert any(p.field == field for p in probs), [str(p) for p in probs]
    code, out, err = cli(["twin", "validate", str(path)], capsys)
    assert code != 0 and "-9.22e" not in out + err


def test_twin_validate_refuses_textual_flags_and_newer_formats(tmp_path, capsys):
    from rescity.twin.validate import errors, validate

    tw = tiny()
    tw.assets["is_source"] = tw.assets["is_source"].astype(object)
    tw.assets.loc[0, "is_source"] = "maybe"
    tw.assets["capacity"] = tw.assets["capacity"].astype(object)
    tw.assets.loc[1, "capacity"] = "big"
    probs = errors(validate(tw, reachability=False))
    assert {"is_source", "capacity"} <= {p.field for p in probs}
    path = _saved(tmp_path, lambda t: None)
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    meta["format_version"] = 99
    (path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    code, out, err = cli(["twin", "validate", str(path)], capsys)
    assert code == 2 and "format_version" in err and len(err.strip().splitlines()) == 1
    (path / "meta.json").write_text("[1, 2]", encoding="utf-8")
    code, out, err = cli(["twin", "validate", str(path)], capsys)
    assert code == 2 and "JSON object" in err


def test_verify_refuses_infinite_observations_and_all_nan_predictions(tmp_path, capsys):
    pred = tmp_path / "p.csv"
    pred.write_text(
        "issued,lead_h,unit_id,level,indicator,mean,p05,p95,warning,name_zh,name_en,population\n"
        "2019-08-09T06:00Z,24,330000,province,relocate,900000,400000,1300000,2,浙江省,Zhejiang,64567588\n",
        encoding="utf-8",
    )
    obs = tmp_path / "o.csv"
    obs.write_text("region,metric,value\n浙江省,relocated,inf\n", encoding="utf-8")
    code, out, err = cli(["verify", "--pred", str(pred), "--obs", str(obs), "--json"], capsys)
    assert code == 2 and "value" in err and "Infinity" not in out
    obs.write_text("region,metric,value\n", encoding="utf-8")
    code, out, err = cli(["verify", "--pred", str(pred), "--obs", str(obs)], capsys)
    assert code == 2 and "header" in err
    obs.write_text("region,metric,value\n浙江省,relocated,1079000\n", encoding="utf-8")
    pred.write_text(
        pred.read_text(encoding="utf-8").replace("900000,400000,1300000", "nan,nan,nan"), encoding="utf-8"
    )
    code, out, err = cli(["verify", "--pred", str(pred), "--obs", str(obs)], capsys)
    assert code == 2 and "mean" in err


def test_epanet_duplicate_ids_and_bad_origins(tmp_path, capsys):
    wntr = pytest.importorskip("wntr")
    from pathlib import Path

    net1 = (Path(wntr.__file__).parent / "library" / "networks" / "Net1.inp").read_text(encoding="utf-8")
    p = tmp_path / "n.inp"
    p.write_text(net1, encoding="utf-8")
    for origin in ("nan,nan", "inf,0", "200,95"):
        code, out, err = cli(
            ["network", "import", "--epanet", str(p), "--origin", origin, "--out", str(tmp_path)], capsys
        )
        assert code == 2 and "--origin" in err
    code, out, err = cli(
        ["network", "import", "--epanet", str(p), "--crs", "nonsense", "--out", str(tmp_path)], capsys
    )
    assert code == 2 and "--crs" in err and len(err.strip().splitlines()) == 1
    # a second junction "11": WNTR would merge the two silently
    dup = net1.replace("[JUNCTIONS]\n", "[JUNCTIONS]\n 11              710         150         ;\n", 1)
    assert dup != net1
    p.write_text(dup, encoding="utf-8")
    code, out, err = cli(["network", "import", "--epanet", str(p), "--out", str(tmp_path)], capsys)
    assert code == 2 and "defined twice" in err and "'11'" in err
