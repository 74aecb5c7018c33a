"""Earthquake sources, rupture geometry, distances, site conditions and bad-input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rescity.errors import InputError
from rescity.hazard.earthquake import (
    EarthquakeSource,
    distances,
    ground_motion,
    mechanism_from_rake,
    read_catalogue,
    vs30_at,
    vs30_from_urban_share,
)
from rescity.hazard.gmpe import bssa14


def haversine_km(lon1, lat1, lon2, lat2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def test_point_source_distances_are_great_circle_and_hypocentral():
    src = EarthquakeSource(lon=120.0, lat=30.0, depth_km=10.0, mw=6.0)
    lon = np.array([120.0, 120.5, 121.0, 119.0, 122.5])
    lat = np.array([30.0, 30.2, 29.0, 31.5, 31.0])
    d = distances(src, lon, lat)
    ref = np.array([haversine_km(120.0, 30.0, x, y) for x, y in zip(lon, lat, strict=True)])
    np.testing.assert_allclose(d["rjb_km"], ref, rtol=5e-3, atol=1e-9)
    np.testing.assert_allclose(d["rrup_km"], np.hypot(ref, 10.0), rtol=5e-3)


def test_wells_coppersmith_1994_rupture_dimensions():
    # Wells & Coppersmith (1994) Table 2A: strike-slip subsurface length log L = -2.57 + 0.62 M,
    # width log W = -0.76 + 0.27 M; all mechanisms log L = -2.44 + 0.59 M
    ss = EarthquakeSource(lon=120, lat=30, depth_km=10, mw=7.0, strike=0.0, mechanism="strike-slip")
    length, width = ss.rupture_dimensions()
    assert length == pytest.approx(10 ** (-2.57 + 0.62 * 7.0))  # 56.2 km
    assert width == pytest.approx(10 ** (-0.76 + 0.27 * 7.0))  # 13.5 km
    un = EarthquakeSource(lon=120, lat=30, depth_km=10, mw=6.0, strike=0.0)
    assert un.rupture_dimensions()[0] == pytest.approx(10 ** (-2.44 + 0.59 * 6.0))


def test_finite_vertical_rupture_joyner_boore_distance():
    # vertical strike-slip fault striking north, centred on the epicentre, length L
    src = EarthquakeSource(lon=120.0, lat=30.0, depth_km=8.0, mw=7.0, strike=0.0, mechanism="strike-slip")
    length, width = src.rupture_dimensions()
    km_lat = 1.0 / 111.195
    km_lon = km_lat / math.cos(math.radians(30.0))
    # on the trace, 20 km north: Rjb = 0; 10 km east of that: Rjb = 10
    lat_on = 30.0 + 20 * km_lat
    d = distances(src, np.array([120.0, 120.0 + 10 * km_lon]), np.array([lat_on, lat_on]))
    assert d["rjb_km"][0] == pytest.approx(0.0, abs=0.05)
    assert d["rjb_km"][1] == pytest.approx(10.0, rel=0.01)
    # beyond the northern tip by 15 km: Rjb = 15
    lat_far = 30.0 + (length / 2 + 15) * km_lat
    assert distances(src, np.array([120.0]), np.array([lat_far]))["rjb_km"][0] == pytest.approx(15, rel=0.01)
    # top of the rupture: depth 8 - W/2 (vertical fault), so Rrup on the trace equals it
    z_top = max(0.0, 8.0 - width / 2)
    assert d["rrup_km"][0] == pytest.approx(z_top, abs=0.05)


def test_dipping_rupture_surface_projection():
    # reverse fault striking north, dipping 45 deg to the east; hypocentre 10 km deep at centre
    src = EarthquakeSource(lon=120.0, lat=30.0, depth_km=10.0, mw=6.5, strike=0.0, dip=45.0,
                           mechanism="reverse")
    _, w = src.rupture_dimensions()
    z_top = max(0.0, 10.0 - 0.5 * w * math.sin(math.radians(45)))
    d_top = -(10.0 - z_top)  # tan 45 = 1: top edge this far west of the epicentre
    d_bot = d_top + w * math.cos(math.radians(45))
    km_lon = 1.0 / (111.195 * math.cos(math.radians(30.0)))
    xs = np.array([d_top - 5.0, 0.5 * (d_top + d_bot), d_bot + 7.0])
    d = distances(src, 120.0 + xs * km_lon, np.full(3, 30.0))
    np.testing.assert_allclose(d["rjb_km"], [5.0, 0.0, 7.0], atol=0.1)
    # above the middle of the projection, Rrup is the perpendicular distance to the plane
    mid_depth = z_top + 0.5 * (d_bot - d_top)  # depth of the plane under that point (45 deg)
    assert d["rrup_km"][1] == pytest.approx(mid_depth * math.cos(math.radians(45)), rel=0.02)


def test_mechanism_from_rake_boore_2014_convention():
    assert mechanism_from_rake(0) == "strike-slip"
    assert mechanism_from_rake(180) == "strike-slip"
    assert mechanism_from_rake(90) == "reverse"
    assert mechanism_from_rake(-90) == "normal"
    assert mechanism_from_rake(-160) == "strike-slip"
    assert EarthquakeSource(lon=120, lat=30, depth_km=10, mw=6, rake=-90).mechanism == "normal"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(depth_km=-3.0), "depth_km"),
        (dict(depth_km=80.0), "depth_km"),
        (dict(lat=95.0), "lat"),
        (dict(lon=400.0), "lon"),
        (dict(mw=0.0), "Mw"),
        (dict(mw=float("nan")), "mw"),
        (dict(dip=120.0, strike=10.0), "dip"),
        (dict(mechanism="oblique"), "mechanism"),
    ],
)
def test_bad_sources_raise_input_errors(kwargs, field):
    base = dict(lon=120.0, lat=30.0, depth_km=10.0, mw=6.0)
    base.update(kwargs)
    with pytest.raises(InputError) as e:
        EarthquakeSource(**base)
    assert e.value.field == field


def test_parse_cli_form_and_errors():
    s = EarthquakeSource.parse("30.25, 120.1, 12, 6.2")
    assert (s.lat, s.lon, s.depth_km, s.mw) == (30.25, 120.1, 12.0, 6.2)
    for bad in ("30,120,10", "a,b,c,d", "30,120,10,6,7"):
        with pytest.raises(InputError):
            EarthquakeSource.parse(bad)


def test_catalogue_reader_and_row_errors(tmp_path):
    good = tmp_path / "cat.csv"
    good.write_text("event_id,latitude,longitude,depth,mag,rake\nA,30.0,120.0,10,6.0,0\nB,29.5,121.0,8,5.0,90\n")
    events = read_catalogue(good)
    assert [e.name for e in events] == ["A", "B"]
    assert events[1].mechanism == "reverse" and events[1].mw == 5.0
    cases = {
        "mw": "event_id,lat,lon,depth_km,mw\nA,30,120,10,6\nB,30,120,10,9.1\n",
        "depth_km": "event_id,lat,lon,depth_km,mw\nA,30,120,-2,6\n",
        "lat": "event_id,lat,lon,depth_km,mw\nA,91,120,10,6\n",
        "lon": "event_id,lat,lon,depth_km,mw\nA,30,abc,10,6\n",
    }
    for field, text in cases.items():
        p = tmp_path / f"bad_{field}.csv"
        p.write_text(text)
        with pytest.raises(InputError) as e:
            read_catalogue(p)
        assert e.value.field.lower() == field.lower() and str(p) in str(e.value) and "row" in str(e.value)
    p = tmp_path / "missing.csv"
    p.write_text("lat,lon,mw\n30,120,6\n")
    with pytest.raises(InputError, match="depth_km"):
        read_catalogue(p)


def test_vs30_defaults_and_user_csv(tmp_path):
    np.testing.assert_array_equal(vs30_from_urban_share([0.9, 0.6, 0.4, 0.1]), [250, 350, 450, 600])
    csv = tmp_path / "vs30.csv"
    csv.write_text("lon,lat,vs30\n120.0,30.0,200\n121.0,30.0,500\n")
    v = vs30_at(np.array([120.1, 120.9, 120.45]), np.array([30.0, 30.1, 30.0]), csv)
    np.testing.assert_array_equal(v, [200, 500, 200])
    bad = tmp_path / "bad.csv"
    bad.write_text("lon,lat,vs30\n120.0,30.0,-5\n")
    with pytest.raises(InputError, match="row 2"):
        vs30_at(np.array([120.0]), np.array([30.0]), bad)


def test_vs30_from_geotiff(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import Affine

    path = tmp_path / "vs30.tif"
    data = np.array([[300.0, 700.0], [300.0, 700.0]], dtype="float32")
    with rasterio.open(path, "w", driver="GTiff", height=2, width=2, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(0.5, 0, 120.0, 0, -0.5, 31.0)) as ds:
        ds.write(data, 1)
    v = vs30_at(np.array([120.2, 120.7]), np.array([30.8, 30.3]), path)
    np.testing.assert_array_equal(v, [300.0, 700.0])


def test_ground_motion_outputs_and_range_checks():
    src = EarthquakeSource(lon=120.0, lat=30.0, depth_km=10.0, mw=6.5, mechanism="strike-slip")
    gm = ground_motion(src, [120.2, 120.0], [30.0, 30.5], 760.0)
    for im in ("pga_g", "pgv_cms", "sa03_g", "sa10_g"):
        assert gm[im].shape == (2,) and (gm[im] > 0).all()
        expected = np.exp(bssa14.ln_median(bssa14.PERIODS[im], 6.5, gm["rjb_km"], 760.0, "strike-slip"))
        np.testing.assert_allclose(gm[im], expected)
        assert (gm[f"tau_{im}"] > 0).all() and (gm[f"phi_{im}"] > 0).all()
    with pytest.raises(InputError, match="400 km"):
        ground_motion(src, [125.0], [30.0], 760.0)
    far = ground_motion(src, [125.0, 120.1], [30.0, 30.0], 760.0, beyond="zero")
    assert far["pga_g"][0] == 0 and far["pga_g"][1] > 0
    with pytest.raises(InputError, match="Vs30"):
        ground_motion(src, [120.1], [30.0], 120.0)
    urban = ground_motion(src, [120.1, 120.1], [30.0, 30.0], None, urban_share=np.array([0.9, 0.1]))
    assert urban["vs30"].tolist() == [250.0, 600.0]
