"""``rescity quake``: CSV of medians, and one-line errors with exit code 2."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from rescity.cli import main
from rescity.hazard.gmpe import bssa14


def run(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_quake_prints_published_bssa14_medians(capsys):
    # a site 20 km east of the epicentre of a strike-slip M6 point source, Vs30 760 m/s: Boore's
    # verification table gives PGA 0.0990773 g, PGV 5.47571 cm/s, SA(0.3) 0.18096 g and
    # SA(1.0) 0.046683 g at Rjb = 20 km
    dlon = 20.0 / (6371.0 * np.radians(1.0) * np.cos(np.radians(30.0)))
    code, out, err = run(
        [
            "quake",
            "--source",
            "30,120,10,6.0",
            "--at",
            f"30,{120 + dlon:.6f};30.5,120.5",
            "--gmpe",
            "bssa14",
            "--vs30",
            "760",
            "--mechanism",
            "strike-slip",
        ],
        capsys,
    )
    assert code in (0, None), err
    df = pd.read_csv(io.StringIO(out))
    assert list(df.columns) == ["lat", "lon", "pga_g", "pgv_cms", "sa03_g", "sa10_g"]
    assert len(df) == 2
    row = df.iloc[0]
    assert row.pga_g == pytest.approx(0.0990773, rel=5e-3)
    assert row.pgv_cms == pytest.approx(5.47571, rel=5e-3)
    assert row.sa03_g == pytest.approx(0.18096, rel=5e-3)
    assert row.sa10_g == pytest.approx(0.046683, rel=5e-3)
    assert (df.iloc[1][["pga_g", "pgv_cms"]] < row[["pga_g", "pgv_cms"]]).all()


def test_quake_region_changes_far_field(capsys):
    args = ["quake", "--source", "30,120,10,7", "--at", "30,121.1", "--mechanism", "strike-slip"]
    _, glob, _ = run(args, capsys)
    _, china, _ = run(args + ["--region", "china_turkey"], capsys)
    g = pd.read_csv(io.StringIO(glob)).pga_g.iloc[0]
    c = pd.read_csv(io.StringIO(china)).pga_g.iloc[0]
    assert c > g  # Δc3 > 0 for China/Turkey: less anelastic attenuation (Boore et al. 2014)
    t = bssa14.coefficients().loc[0.0]
    assert np.log(c / g) > 0.5 * t.dc3_china_turkey * 100  # ~106 km path


@pytest.mark.parametrize(
    "source, at, extra, message",
    [
        ("30,120,-5,6", "30.1,120.1", [], "depth cannot be negative"),
        ("30,120,10,9.1", "30.1,120.1", [], "BSSA14 range"),
        ("30,120,10,7.5", "30.1,120.1", ["--mechanism", "normal"], "3–7 for normal"),
        ("30,120,10", "30.1,120.1", [], "lat,lon,depth_km,Mw"),
        ("30,120,10,6", "40,120", [], "beyond the BSSA14 range"),
        ("30,120,10,6", "30.1;120", [], "lat,lon"),
        ("30,120,10,6", "30.1,120.1", ["--vs30", "90"], "Vs30 outside"),
        ("30,120,10,6", "30.1,120.1", ["--gmpe", "abc"], "unknown ground-motion model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, source, at, extra, message):
    code, out, err = run(["quake", "--source", source, "--at", at] + extra, capsys)
    assert code == 2
    assert message in err and err.strip().count("\n") == 0
    assert out == ""


def _catalogue(tmp_path):
    cat = tmp_path / "catalogue.csv"
    cat.write_text(
        "event_id,lat,lon,depth_km,mw,strike,dip,rake,mechanism\n"
        "hz1,30.05,119.95,10,6.5,,,,unspecified\n"
        "nb2,29.9,121.6,12,6.0,45,60,90,reverse\n",
        encoding="utf-8",
    )
    return cat


def test_quake_from_a_catalogue_event_equals_the_same_source_given_directly(tmp_path, capsys):
    cat = _catalogue(tmp_path)
    ca, a, ea = run(
        ["quake", "--catalogue", str(cat), "--event", "hz1", "--at", "30.2,120.1;29.0,121.0"], capsys
    )
    cb, b, eb = run(["quake", "--source", "30.05,119.95,10,6.5", "--at", "30.2,120.1;29.0,121.0"], capsys)
    assert ca in (0, None) and cb in (0, None), ea + eb
    assert a == b and len(a.splitlines()) == 3


@pytest.mark.parametrize(
    "args, words",
    [
        (["--catalogue", "{cat}"], ["2 events", "hz1", "nb2"]),
        (["--catalogue", "{cat}", "--event", "zz9"], ["zz9", "event_id"]),
        (["--catalogue", "{cat}", "--source", "30,120,10,6"], ["--source"]),
    ],
)
def test_bad_catalogue_choices_are_one_line(tmp_path, args, words):
    cat = _catalogue(tmp_path)
    args = [a.replace("{cat}", str(cat)) for a in args]
    r = subprocess.run(
        [sys.executable, "-m", "rescity", "quake", *args, "--at", "30,120"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    for w in words:
        assert w in r.stderr
