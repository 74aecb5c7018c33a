"""``rescity wind`` / ``rescity rain``: CSV output and one-line errors."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from rescity.cli import main
from rescity.cli.hazard import parse_at
from rescity.errors import InputError
from rescity.hazard.rain import storm_rain
from rescity.hazard.track import packaged_track, read_track
from rescity.hazard.typhoon import peak_wind

SITES = "28.37,121.37;30.27,120.15"  # Wenling 温岭, Hangzhou 杭州


def run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_wind_packaged_track(capsys):
    code, out, err = run(["wind", "--sn", "201910", "--at", SITES], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == "lat,lon,wind_max_ms,gust_max_ms"
    assert [(r["lat"], r["lon"]) for r in rows] == [("28.37", "121.37"), ("30.27", "120.15")]
    ref = peak_wind(packaged_track("201910"), [121.37, 120.15], [28.37, 30.27], "holland1980")
    np.testing.assert_allclose([float(r["wind_max_ms"]) for r in rows], ref["wind_ms"], atol=0.006)
    np.testing.assert_allclose([float(r["gust_max_ms"]) for r in rows], ref["gust_ms"], atol=0.006)


def test_wind_track_file_and_model(tmp_path, capsys):
    p = tmp_path / "g.csv"
    p.write_text(
        "time,lat,lon,vmax_kn,pcen_hpa\n2019-08-09T12:00Z,27.6,122.0,100,931\n2019-08-09T18:00Z,28.4,121.4,90,939\n"
    )
    code, out, err = run(
        [
            "wind",
            "--track",
            str(p),
            "--format",
            "generic",
            "--model",
            "holland2008",
            "--exposure",
            "sea",
            "--at",
            "28.0,121.8",
        ],
        capsys,
    )
    assert code == 0, err
    ref = peak_wind(read_track(p), 121.8, 28.0, "holland2008", land=False)
    line = out.splitlines()[1].split(",")
    assert line[:2] == ["28", "121.8"]
    assert float(line[2]) == pytest.approx(ref["wind_ms"][0], abs=0.006)
    assert float(line[3]) >= float(line[2])


def test_rain_output(capsys):
    code, out, err = run(["rain", "--sn", "201910", "--at", SITES], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == "lat,lon,rain_mm,rain_rate_mmh"
    rows = [ln.split(",") for ln in out.splitlines()[1:]]
    ref = storm_rain(packaged_track("201910"), [121.37, 120.15], [28.37, 30.27])
    np.testing.assert_allclose([float(r[2]) for r in rows], ref["rain_mm"], atol=0.006)


@pytest.mark.parametrize("bad", ["28.37", "28.37,abc", "95,120", "28,121;;x,y", "28,121,5", ""])
def test_bad_at_is_one_line_exit_2(bad, capsys):
    code, out, err = run(["wind", "--sn", "201910", "--at", bad], capsys)
    assert code == 2
    assert out == ""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--at" in lines[0]


def test_unknown_sn_and_missing_track(capsys):
    code, _, err = run(["wind", "--sn", "201999", "--at", SITES], capsys)
    assert code == 2 and "SN" in err and "201919" in err
    code, _, err = run(["wind", "--at", SITES], capsys)
    assert code == 2 and "--track" in err


def test_parse_at():
    lat, lon = parse_at(" 28.37, 121.37 ; 30.27,120.15;")
    np.testing.assert_allclose(lat, [28.37, 30.27])
    np.testing.assert_allclose(lon, [121.37, 120.15])
    with pytest.raises(InputError) as e:
        parse_at("28.37 121.37")
    assert e.value.field == "--at" and e.value.value == "28.37 121.37"
