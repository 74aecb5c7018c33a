"""Track readers (JTWC, CMA, IBTrACS, generic), checks and interpolation."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pandas as pd
import pytest

from rescity.errors import InputError
from rescity.hazard.track import (
    CMA_2MIN_TO_1MIN,
    KN_TO_MS,
    detect_format,
    interpolate_track,
    packaged_track,
    read_track,
)

KN = 0.514444  # m/s per knot (1852 m / 3600 s)
R_EARTH_M = 6371000.0


def ah77_pressure(v_kn: float) -> float:
    """Atkinson & Holliday (1977): V = 6.7 (1010 - pc)^0.644, solved for pc."""
    return 1010.0 - (v_kn / 6.7) ** (1.0 / 0.644)


JTWC = """Year,Month,Day,Hour,CY,Lat,Lon,VMax,MSLP,SN,Cat
2019,8,9,12,10,27.6,122.0,100,931.0,201910,Cat3
2019,8,9,18,10,28.4,121.4,90,939.0,201910,Cat2
2019,8,10,0,10,29.2,120.9,75,,201910,Cat1
2019,8,4,0,11,16.1,131.6,25,998.0,201911,TD
"""

CMA = """66666 1909   4 0011 1909 0 6 Lekima                    20200302
2019080912 4 276 1220  930  50
2019080918 4 284 1214  935  48
2019081000 3 292 1209    0  33
2019081006 2 301 1205  965  25
66666 1910   2 0012 1910 0 6 Krosa                     20200302
2019080600 1 200 1400 1000  15
2019080606 2 205 1395  995  18
"""

IBTRACS_HEADER = (
    "SID,SEASON,NUMBER,BASIN,SUBBASIN,NAME,ISO_TIME,NATURE,LAT,LON,"
    "WMO_WIND,WMO_PRES,WMO_AGENCY,USA_ATCF_ID,USA_WIND,USA_PRES,USA_RMW\n"
)
IBTRACS = (
    IBTRACS_HEADER
    + """ ,Year, , , , , , ,degrees_north,degrees_east,kts,mb, , ,kts,mb,nmile
2019215N15134,2019,50,WP,MM,LEKIMA,2019-08-09 12:00:00,TS,27.6,122.0,95,930,tokyo,WP102019,100,931,15
2019215N15134,2019,50,WP,MM,LEKIMA,2019-08-09 15:00:00,TS,28.0,121.7, , , ,WP102019,95,935,
2019215N15134,2019,50,WP,MM,LEKIMA,2019-08-09 18:00:00,TS,28.4,121.4,85,940,tokyo,WP102019, , ,20
2013280N10150,2013,70,WP,MM,LEKIMA,2013-10-20 00:00:00,TS,15.0,150.0,100,930,tokyo,WP282013,130,915,10
"""
)

GENERIC = """time,lat,lon,vmax_kn,pcen_hpa,rmax_nm
2019-08-09T12:00:00Z,27.6,122.0,100,931,15
2019-08-09T18:00:00Z,28.4,121.4,90,,20
2019-08-10T00:00:00Z,29.2,120.9,75,953,
"""


def write(tmp_path, name: str, text: str, gz: bool = False):
    p = tmp_path / name
    if gz:
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p.write_text(text, encoding="utf-8")
    return p


# -- JTWC -------------------------------------------------------------------------------------
def test_jtwc_reader_units_and_pressure_estimate(tmp_path):
    tr = read_track(write(tmp_path, "t.csv", JTWC), sn="201910")
    assert list(tr.columns) == ["time", "lat", "lon", "vmax_ms", "pcen_hpa", "penv_hpa", "rmax_km"]
    assert len(tr) == 3
    assert str(tr["time"].dtype) == "datetime64[ns, UTC]"
    assert tr["time"].iloc[1] == pd.Timestamp("2019-08-09 18:00", tz="UTC")
    np.testing.assert_allclose(tr["vmax_ms"], np.array([100, 90, 75]) * KN)
    assert KN_TO_MS == pytest.approx(1852.0 / 3600.0, rel=1e-6)
    # the missing MSLP is estimated from the wind (Atkinson & Holliday 1977)
    np.testing.assert_allclose(tr["pcen_hpa"], [931.0, 939.0, ah77_pressure(75.0)])
    assert tr.attrs["pcen_estimated"] == 1
    assert (tr["penv_hpa"] == 1010.0).all() and tr["rmax_km"].isna().all()
    assert tr.attrs["sn"] == "201910" and "Lekima" in tr.attrs["name"]


def test_jtwc_gzip_and_vmax_kn_header(tmp_path):
    text = JTWC.replace("VMax,", "VMax(kn),")
    tr = read_track(write(tmp_path, "t.csv.gz", text, gz=True), fmt="auto", sn=201910)
    assert len(tr) == 3 and tr["vmax_ms"].iloc[0] == pytest.approx(100 * KN)


def test_jtwc_needs_sn_when_several_storms(tmp_path):
    with pytest.raises(InputError) as e:
        read_track(write(tmp_path, "t.csv", JTWC))
    assert e.value.field == "SN" and "201910" in str(e.value)


def test_jtwc_unknown_sn_lists_close_matches(tmp_path):
    p = write(tmp_path, "t.csv", JTWC)
    with pytest.raises(InputError) as e:
        read_track(p, sn="201912")
    err = e.value
    assert err.file == str(p) and err.field == "SN" and err.value == "201912"
    assert "201910" in err.message and "201911" in err.message


def test_jtwc_non_numeric_lat(tmp_path):
    p = write(tmp_path, "t.csv", JTWC.replace("28.4,121.4", "28.4N,121.4"))
    with pytest.raises(InputError) as e:
        read_track(p, sn="201910")
    err = e.value
    assert (err.file, err.field, err.value) == (str(p), "Lat", "28.4N")
    assert "line 3" in err.message


def test_jtwc_missing_column(tmp_path):
    lines = [",".join(c for i, c in enumerate(ln.split(",")) if i != 6) for ln in JTWC.splitlines()]
    p = write(tmp_path, "t.csv", "\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        read_track(p, fmt="jtwc", sn="201910")
    assert e.value.field == "Lon" and e.value.file == str(p)


def test_jtwc_time_going_backwards(tmp_path):
    p = write(tmp_path, "t.csv", JTWC.replace("2019,8,10,0,10", "2019,8,9,6,10"))
    with pytest.raises(InputError) as e:
        read_track(p, sn="201910")
    assert e.value.field == "Year/Month/Day/Hour" and e.value.value == "2019-08-09 06:00"


def test_jtwc_out_of_range_lat(tmp_path):
    p = write(tmp_path, "t.csv", JTWC.replace("27.6,122.0", "97.6,122.0"))
    with pytest.raises(InputError) as e:
        read_track(p, sn="201910")
    assert e.value.field == "Lat" and e.value.value == pytest.approx(97.6)


# -- CMA --------------------------------------------------------------------------------------
def test_cma_reader(tmp_path):
    p = write(tmp_path, "CH2019BST.txt", CMA)
    assert detect_format(p) == "cma"
    tr = read_track(p, sn="1909")
    assert len(tr) == 4
    np.testing.assert_allclose(tr["lat"], [27.6, 28.4, 29.2, 30.1])
    np.testing.assert_allclose(tr["lon"], [122.0, 121.4, 120.9, 120.5])
    # 2-min → 1-min at sea: G(60,600)/G(120,600) with G(60,600) = 1/0.93, log-linear in time
    g = 1 / 0.93 - 1
    factor = (1 + g) / (1 + g * math.log10(600 / 120))
    assert CMA_2MIN_TO_1MIN == pytest.approx(factor)
    assert 1.01 < factor < 1.03
    np.testing.assert_allclose(tr["vmax_ms"], np.array([50, 48, 33, 25]) * factor)
    # PRES 0 = unknown → estimated from the wind
    assert tr["pcen_hpa"].iloc[2] == pytest.approx(ah77_pressure(33 * factor / KN))
    assert tr.attrs["name"] == "Lekima"
    # the same storm by 6-digit id or by name
    for key in ("201909", "LEKIMA"):
        pd.testing.assert_frame_equal(read_track(p, sn=key), tr)


def test_cma_malformed_record(tmp_path):
    p = write(tmp_path, "b.txt", CMA.replace("2019080918 4 284 1214", "2019080918 4 28x 1214"))
    with pytest.raises(InputError) as e:
        read_track(p, fmt="cma", sn="Lekima")
    assert (e.value.file, e.value.field, e.value.value) == (str(p), "LAT", "28x")
    assert "line 3" in e.value.message


def test_cma_short_record_and_choice(tmp_path):
    p = write(tmp_path, "b.txt", CMA.replace("2019080918 4 284 1214  935  48", "2019080918 4 284 1214"))
    with pytest.raises(InputError) as e:
        read_track(p, sn="1909")
    assert e.value.field == "record"
    with pytest.raises(InputError) as e:
        read_track(write(tmp_path, "c.txt", CMA))
    assert "Lekima" in str(e.value) and "Krosa" in str(e.value)


# -- IBTrACS ----------------------------------------------------------------------------------
def test_ibtracs_reader(tmp_path):
    p = write(tmp_path, "ibtracs.csv", IBTRACS)
    assert detect_format(p) == "ibtracs"
    tr = read_track(p, sn="2019215N15134")
    assert len(tr) == 3
    # USA_WIND (1-min) first; else the Tokyo 10-min WMO_WIND × 1/0.93 (Harper et al. 2010)
    np.testing.assert_allclose(tr["vmax_ms"], [100 * KN, 95 * KN, 85 / 0.93 * KN])
    np.testing.assert_allclose(tr["pcen_hpa"], [931, 935, 940])
    np.testing.assert_allclose(tr["rmax_km"], [15 * 1.852, np.nan, 20 * 1.852])
    pd.testing.assert_frame_equal(read_track(p, sn="LEKIMA 2019"), tr)
    pd.testing.assert_frame_equal(read_track(p, sn="WP102019"), tr)


def test_ibtracs_ambiguous_name(tmp_path):
    p = write(tmp_path, "ibtracs.csv", IBTRACS)
    with pytest.raises(InputError) as e:
        read_track(p, sn="LEKIMA")
    assert "2019215N15134" in str(e.value) and "2013280N10150" in str(e.value)


def test_ibtracs_bad_lon(tmp_path):
    p = write(tmp_path, "ibtracs.csv", IBTRACS.replace("28.0,121.7", "28.0,east"))
    with pytest.raises(InputError) as e:
        read_track(p, sn="2019215N15134")
    assert (e.value.field, e.value.value) == ("LON", "east")
    assert "line 4" in e.value.message


# -- generic ----------------------------------------------------------------------------------
def test_generic_reader(tmp_path):
    p = write(tmp_path, "g.csv", GENERIC)
    assert detect_format(p) == "generic"
    tr = read_track(p)
    np.testing.assert_allclose(tr["vmax_ms"], np.array([100, 90, 75]) * KN)
    np.testing.assert_allclose(tr["rmax_km"], [15 * 1.852, 20 * 1.852, np.nan])
    np.testing.assert_allclose(tr["pcen_hpa"], [931, ah77_pressure(90), 953])
    assert (tr["penv_hpa"] == 1010).all()


def test_generic_missing_column_and_bad_time(tmp_path):
    p = write(tmp_path, "g.csv", GENERIC.replace("vmax_kn", "wind"))
    with pytest.raises(InputError) as e:
        read_track(p, fmt="generic")
    assert e.value.field == "vmax_kn"
    p = write(tmp_path, "h.csv", GENERIC.replace("2019-08-10T00:00:00Z", "2019-08-09T00:00:00Z"))
    with pytest.raises(InputError) as e:
        read_track(p)
    assert e.value.field == "time" and e.value.value == "2019-08-09 00:00"


def test_unknown_format(tmp_path):
    p = write(tmp_path, "x.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(InputError) as e:
        read_track(p)
    assert e.value.field == "header" and e.value.file == str(p)
    with pytest.raises(InputError):
        read_track(p, fmt="hurdat")


# -- packaged Lekima --------------------------------------------------------------------------
def test_packaged_lekima_landfall():
    jt = packaged_track("201910", source="jtwc")
    # peak: 135 kn (JTWC 1-min), a super typhoon
    assert jt["vmax_ms"].max() == pytest.approx(135 * KN)
    tr = packaged_track("201910")  # CMA by default: 62 m/s 2-min peak, × 1.0216 to 1-min
    assert len(tr) > 30 and "Lekima" in tr.attrs["name"]
    assert tr["vmax_ms"].max() == pytest.approx(62 * 1.0216, abs=0.01)
    ti = interpolate_track(tr, dt_h=0.25)
    at = ti[ti["time"] == pd.Timestamp("2019-08-09 17:45", tz="UTC")].iloc[0]
    # landfall at Wenling (28.37 N, 121.37 E): the centre within ~30 km, a category-2 typhoon
    assert abs(at["lat"] - 28.37) < 0.3 and abs(at["lon"] - 121.37) < 0.3
    assert 40.0 < at["vmax_ms"] < 55.0
    assert 925.0 < at["pcen_hpa"] < 950.0


# -- interpolation ----------------------------------------------------------------------------
def test_interpolation_and_translation(tmp_path):
    text = "time,lat,lon,vmax_kn,pcen_hpa\n2020-01-01T00:00Z,20,130,80,960\n2020-01-01T06:00Z,21,130,90,950\n"
    tr = read_track(write(tmp_path, "g.csv", text))
    ti = interpolate_track(tr, dt_h=1.0)
    assert len(ti) == 7
    np.testing.assert_allclose(ti["lat"], 20 + np.arange(7) / 6)
    np.testing.assert_allclose(ti["vmax_ms"], (80 + 10 * np.arange(7) / 6) * KN)
    # 1 degree of latitude in 6 h, northward
    v = R_EARTH_M * math.radians(1.0) / (6 * 3600)
    np.testing.assert_allclose(ti["trans_speed_ms"], v, rtol=1e-9)
    np.testing.assert_allclose(ti["trans_dir_deg"] % 360, 0.0, atol=1e-9)
    np.testing.assert_allclose(ti["dpdt_hpa_h"], -10 / 6)
    # eastward along the equator: same speed, direction 90°
    text = "time,lat,lon,vmax_kn\n2020-01-01T00:00Z,0,130,80\n2020-01-01T06:00Z,0,131,80\n"
    ti = interpolate_track(read_track(write(tmp_path, "e.csv", text)), dt_h=0.5)
    assert len(ti) == 13
    np.testing.assert_allclose(ti["trans_speed_ms"], v, rtol=1e-9)
    np.testing.assert_allclose(ti["trans_dir_deg"], 90.0)


def test_dateline_unwrapped(tmp_path):
    text = "time,lat,lon,vmax_kn\n2020-01-01T00:00Z,20,179.5,80\n2020-01-01T06:00Z,20,-179.5,80\n"
    tr = read_track(write(tmp_path, "d.csv", text))
    assert tr["lon"].iloc[1] == pytest.approx(180.5)
    ti = interpolate_track(tr, 3.0)
    assert ti["lon"].iloc[1] == pytest.approx(180.0)
    assert ti["trans_dir_deg"].iloc[1] == pytest.approx(90.0)
