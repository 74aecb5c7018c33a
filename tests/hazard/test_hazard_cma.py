"""The packaged CMA best tracks: reading, 2-min → 1-min winds, naming a storm, the CLI's choice."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rescity.cli import main
from rescity.errors import InputError
from rescity.hazard.cma import cma_index, resolve_storm
from rescity.hazard.track import CMA_2MIN_TO_1MIN, packaged_track


def run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_packaged_file_holds_every_year():
    idx = cma_index()
    assert len(idx) == 2517  # storms of CH1949BST.txt … CH2024BST.txt
    assert idx["year"].min() == 1948 or idx["year"].min() == 1949
    assert idx["year"].max() == 2024


def test_two_minute_to_one_minute_factor():
    # Harper, Kepert & Ginger (2010): V10min = 0.93 V1min at sea; gust factor linear in log(τ):
    # G(120, 600) = 1 + (1/0.93 − 1)·log10(5) = 1.052611; V1/V2 = 1.075269 / 1.052611 = 1.021526
    g = 1 / 0.93 - 1
    assert CMA_2MIN_TO_1MIN == pytest.approx((1 + g) / (1 + g * math.log10(5)), rel=1e-12)
    assert CMA_2MIN_TO_1MIN == pytest.approx(1.021526, abs=2e-6)


@pytest.mark.parametrize(
    "text, cma, name, year",
    [
        ("1909", "1909", "Lekima", 2019),
        ("201910", "1909", "Lekima", 2019),  # JTWC sn → CMA by time and position
        ("Lekima", "1909", "Lekima", 2019),
        ("lekima", "1909", "Lekima", 2019),
        ("利奇马", "1909", "Lekima", 2019),
        ("Haitang 2005", "0505", "Haitang", 2005),
        ("200416", "0414", "Rananim", 2004),  # CMA 0414 Rananim (international number 0413)
        ("0414", "0414", "Rananim", 2004),
        ("200909", "0908", "Morakot", 2009),
    ],
)
def test_resolve_storm(text, cma, name, year):
    sid = resolve_storm(text)
    assert (sid.cma, sid.name, sid.year, sid.source) == (cma, name, year, "cma")


def test_resolve_storm_ambiguous_name_and_jtwc_source():
    sid = resolve_storm("Haitang")
    assert sid.year == 2005 and any("2017" in o for o in sid.others)
    assert resolve_storm("Haitang 2017").year == 2017
    j = resolve_storm("Lekima", source="jtwc")
    assert (j.source, j.jtwc) == ("jtwc", "201910")
    with pytest.raises(InputError) as e:
        resolve_storm("Lekimaa")
    assert e.value.field == "--sn" and "Lekima" in str(e.value)
    with pytest.raises(InputError):
        resolve_storm("Haitang 1990")
    with pytest.raises(InputError):
        resolve_storm("1909", source="ecmwf")


def test_cma_track_continues_over_land():
    cma = packaged_track("201910")
    jt = packaged_track("201910", source="jtwc")
    # CMA follows Lekima to Shandong and beyond (ends 2019-08-14); JTWC ends earlier or at sea
    assert cma["time"].iloc[-1] >= pd.Timestamp("2019-08-13", tz="UTC")
    assert cma["time"].iloc[-1] >= jt["time"].iloc[-1]
    # Haitang 2005 continues inland over Fujian/Jiangxi after its landfall at Huangqi (26.3 N, 119.8 E)
    h = packaged_track("Haitang 2005")
    assert (h["lon"] < 119.0).any()


def test_cli_prints_the_choice(capsys):
    code, out, err = run(["rain", "--sn", "Haitang 2005", "--at", "27.5,120.4"], capsys)
    assert code == 0, err
    assert "CMA 0505 Haitang" in err and "CMA best track" in err
    assert out.splitlines()[0].startswith("lat,lon,rain_mm")
    code, out, err = run(["wind", "--sn", "201910", "--source", "jtwc", "--at", "28.37,121.37"], capsys)
    assert code == 0 and "JTWC 201910" in err and "JTWC best track" in err
    code, out, err = run(["wind", "--sn", "Nosuchstorm", "--at", "28.37,121.37"], capsys)
    assert code == 2 and "--sn" in err and len(err.strip().splitlines()) == 1


def test_fitow_landfall_stronger_in_cma_than_jtwc():
    # 2013-10-06 18 UTC, Fitow at the Zhejiang–Fujian coast: CMA 42 m/s 2-min, JTWC 55 kn 1-min
    t = pd.Timestamp("2013-10-06 18:00", tz="UTC")
    cma = packaged_track("Fitow 2013").set_index("time").loc[t, "vmax_ms"]
    jt = packaged_track("Fitow 2013", source="jtwc").set_index("time").loc[t, "vmax_ms"]
    assert cma == pytest.approx(42 * CMA_2MIN_TO_1MIN, abs=1e-9)
    assert jt == pytest.approx(55 * 0.514444, abs=1e-6)
