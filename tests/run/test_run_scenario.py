"""End to end: the demo and ``rescity run`` (:func:`rescity.run.scenario.run_scenario`) on the
default Zhejiang twin at a few realisations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rescity.run.config import RunConfig
from rescity.run.outputs import UNITS_CSV_COLUMNS
from rescity.run.scenario import run_scenario

N = 6


def rescity(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rescity", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=900,
    )


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    p = rescity("demo", "--realisations", str(N), "--out", str(out / "o"), cwd=out)
    assert p.returncode == 0, p.stderr[-3000:]
    (out / "stdout.txt").write_text(p.stdout, encoding="utf-8")
    return out


def test_demo_writes_units_csv_with_documented_columns(demo_out):
    t = pd.read_csv(demo_out / "o" / "units.csv", dtype={"unit_id": str, "parent_id": str})
    assert list(t.columns[: len(UNITS_CSV_COLUMNS)]) == list(UNITS_CSV_COLUMNS)
    levels = t["level"].value_counts()
    assert levels["province"] == 1 and levels["prefecture"] == 11 and levels["county"] == 91
    assert levels["cell"] > 3000
    prov = t[t["level"] == "province"].iloc[0]
    assert prov["population"] == 64_567_588
    # intervals bracket means
    for q in ("affected",):
        assert (t[f"{q}_p05"] <= t[f"{q}_mean"] + 1e-6).all()
        assert (t[f"{q}_mean"] <= t[f"{q}_p95"] + 1e-6).all()
    # nobody is counted twice or lost: province = sum of prefectures = sum of counties
    for q in ("affected_mean", "no_power_mean", "no_water_mean", "no_telecom_mean", "no_road_mean"):
        s_pref = t.loc[t["level"] == "prefecture", q].sum()
        s_cty = t.loc[t["level"] == "county", q].sum()
        assert np.isclose(prov[q], s_pref, rtol=1e-4, atol=1.0)
        assert np.isclose(prov[q], s_cty, rtol=1e-4, atol=1.0)
        assert (t[q] <= t["population"] + 1e-6).all()


def test_demo_lekima_hits_taizhou_harder_than_huzhou(demo_out):
    """Lekima made landfall at Wenling (Taizhou) and weakened inland: Taizhou's peak gust and
    affected share must exceed those of Huzhou in the far north-west."""
    t = pd.read_csv(demo_out / "o" / "units.csv", dtype={"unit_id": str})
    pref = t[t["level"] == "prefecture"].set_index("unit_id")
    assert pref.loc["331000", "gust_max_ms"] > pref.loc["330500", "gust_max_ms"] + 5
    assert pref.loc["331000", "gust_max_ms"] > 35  # a super typhoon at landfall
    share = pref["affected_mean"] / pref["population"]
    assert share["331000"] > share["330500"]
    wenling = t[t["unit_id"] == "331081"].iloc[0]
    assert wenling["rain_mm"] > 100


def test_demo_prints_every_level_and_writes_report(demo_out):
    out = (demo_out / "stdout.txt").read_text(encoding="utf-8")
    for s in ("Province", "Prefecture-level cities", "Counties", "浙江省", "温岭市", "Wenling"):
        assert s in out
    html = (demo_out / "o" / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") >= 4
    for s in ("Maps", "Counties", "Run settings", "201910"):
        assert s in html


def test_same_seed_same_result_whatever_the_workers(tmp_path):
    from rescity.twin.zhejiang import default_twin

    twin = default_twin()
    def cfg(**kw):
        return RunConfig(sn="201910", realisations=4, recovery={"enabled": False}, **kw)

    ra = run_scenario(cfg(seed=7), twin=twin)
    a = ra.units
    b = run_scenario(cfg(seed=7, workers=2), twin=twin).units
    c = run_scenario(cfg(seed=8), twin=twin).units
    num = a.select_dtypes("number").columns
    np.testing.assert_array_equal(a[num].to_numpy(), b[num].to_numpy())
    assert not np.array_equal(a["affected_mean"].to_numpy(), c["affected_mean"].to_numpy())
    # streamed cells: the same columns, the same means, the same province/prefecture/county rows
    rd = run_scenario(cfg(seed=7, outputs={"keep_realisations": "summary"}), twin=twin)
    assert (ra.sim.keep, rd.sim.keep) == ("all", "summary")
    d = rd.units
    assert list(d.columns) == list(a.columns)
    means = [col for col in num if col.endswith("_mean")]
    np.testing.assert_array_equal(a[means].to_numpy(), d[means].to_numpy())
    above = (a["level"] != "cell").to_numpy()
    np.testing.assert_array_equal(a.loc[above, num].to_numpy(), d.loc[above, num].to_numpy())


def test_unknown_storm_is_one_clear_line(tmp_path):
    p = rescity("run", "--sn", "201999", "--realisations", "2", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert "201999" in p.stderr


def test_malformed_track_names_file_field_and_value(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "time,lat,lon,vmax_kn,pcen_hpa\n2019-08-09T00:00Z,27.0,122.0,100,930\n2019-08-09T06:00Z,north,121.5,95,935\n",
        encoding="utf-8",
    )
    p = rescity("run", "--track", str(bad), "--realisations", "2", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    err = " ".join(p.stderr.split())
    assert "bad.csv" in err and "lat" in err and "north" in err


def test_bad_hazard_name(tmp_path):
    p = rescity("run", "--sn", "201910", "--hazards", "wind,lava", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert p.returncode == 2 and "lava" in p.stderr and "Traceback" not in p.stderr


# --- earthquakes through the same run -----------------------------------------------------------

QUAKE = "30.05,119.95,10,6.5"  # near Fuyang, Hangzhou


@pytest.fixture(scope="module")
def quake_runs():
    from rescity.twin.zhejiang import default_twin

    twin = default_twin()
    main = run_scenario(RunConfig.from_options(quake=QUAKE, realisations=4, seed=5), twin=twin)
    after = run_scenario(
        RunConfig.from_options(quake=QUAKE, aftershocks=("29.9,120.1,8,5.8",), realisations=4, seed=5),
        twin=twin,
    )
    return main, after


def test_quake_run_is_strongest_near_the_epicentre(quake_runs):
    u = quake_runs[0].units.set_index("unit_id")
    # Fuyang district (330111) holds the epicentre; Cangnan (330327) is ~330 km away
    assert u.loc["330111", "pga_max_g"] > 0.2
    assert u.loc["330327", "pga_max_g"] < 0.05
    assert u.loc["330100", "affected_mean"] > u.loc["330300", "affected_mean"]
    assert u.loc["330000", "affected_mean"] > 0
    assert np.isnan(u["wind_max_ms"]).all()
    assert set(u.loc[u["level"] == "county", "driver"]) <= {"earthquake", ""}
    # casualties and displaced people from housing damage (HAZUS-MH rates), summed level by level
    assert u.loc["330100", "deaths_mean"] > u.loc["330300", "deaths_mean"]
    pref = u[u["level"] == "prefecture"]
    for q in ("deaths_mean", "injured_mean", "displaced_mean"):
        assert u.loc["330000", q] == pytest.approx(pref[q].sum(), rel=1e-6)
    assert (u["displaced_mean"] <= u["population"]).all()


def test_an_aftershock_never_restores_service(quake_runs):
    """Same seed: the mainshock fields and every asset's capacity draw are the same, and the
    shocks combine by the per-site maximum, so an aftershock can only add damage."""
    main, after = (r.sim for r in quake_runs)
    for q in ("no_power", "no_water", "no_telecom", "no_road"):
        assert (getattr(after, q) >= getattr(main, q) - 1e-3).all(), q
    assert after.no_power.sum() > main.no_power.sum()


def test_quake_cli_writes_the_same_outputs(tmp_path):
    p = rescity("run", "--quake", QUAKE, "-n", "3", "--out", str(tmp_path / "o"), "--quiet", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    t = pd.read_csv(tmp_path / "o" / "units.csv", dtype={"unit_id": str})
    assert list(t.columns[: len(UNITS_CSV_COLUMNS)]) == list(UNITS_CSV_COLUMNS)
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "PGA" in html and "earthquake" in html


@pytest.mark.parametrize(
    "args, words",
    [
        (["--quake", "30.0,120.0,10,9.5"], ["9.5"]),
        (["--quake", "30.0,120.0,-3,6.0"], ["-3"]),
        (["--quake", "30.0,120.0,10"], ["30.0,120.0,10"]),
        (["--quake", QUAKE, "--sn", "201910"], ["--quake"]),
        (["--sn", "201910", "--aftershock", QUAKE], ["--aftershock"]),
    ],
)
def test_bad_quake_sources_are_one_line(tmp_path, args, words):
    p = rescity("run", *args, "-n", "2", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    for w in words:
        assert w in p.stderr


# --- flood inputs: river stations and a DEM ------------------------------------------------------


def test_river_station_above_warning_floods_nearby_cells(tmp_path):
    """A station 2 m above its warning stage at Linhai (Lingjiang river) floods cells within its
    reach (proxy depth (level − warning)·(1 − d/reach) without a DEM) and nothing far away."""
    from rescity.hazard.event import typhoon_event
    from rescity.hazard.track import packaged_track
    from rescity.twin.zhejiang import default_twin

    st = tmp_path / "stations.csv"
    st.write_text(
        "lon,lat,water_level_m,warning_level_m,reach_km\n121.12,28.85,7.0,5.0,8\n", encoding="utf-8"
    )
    twin = default_twin()
    a, c = typhoon_event(twin, packaged_track("201910"), stations=st)
    _, c0 = typhoon_event(twin, packaged_track("201910"))  # the storm rain alone also floods
    cells = (twin.units["level"] == "cell").to_numpy()
    lon, lat = twin.units["lon"].to_numpy(), twin.units["lat"].to_numpy()
    d_km = np.hypot((lon - 121.12) * 111.19 * np.cos(np.deg2rad(28.85)), (lat - 28.85) * 111.19)
    near = cells & (d_km < 4)
    far = cells & (d_km > 20)
    proxy = 2.0 * (1 - d_km / 8)  # (level − warning)·(1 − d/reach)
    assert near.any() and (c["flood_depth_m"][near] > 0.5).all()
    # rtol: the model's projection (R = 6371 km, about the sites' mean latitude) and this check's differ by < 0.01 %
    np.testing.assert_allclose(c["flood_depth_m"][near], np.maximum(proxy, c0["flood_depth_m"])[near], rtol=1e-4)
    np.testing.assert_array_equal(c["flood_depth_m"][far], c0["flood_depth_m"][far])
    river = near & (proxy > c0["flood_depth_m"])
    assert river.any() and (c["flood_fraction"][river] == 1).all()


def test_bad_stations_file_is_one_line(tmp_path):
    st = tmp_path / "st.csv"
    st.write_text("lon,lat,level\n121,28,7\n", encoding="utf-8")
    p = rescity(
        "run", "--sn", "201910", "--stations", str(st), "-n", "2", "--out", str(tmp_path / "o"), cwd=tmp_path
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "st.csv" in p.stderr and "water_level_m" in p.stderr


def test_dem_replaces_the_proxy(tmp_path):
    """With a DEM the flood model no longer uses the low-lying proxy; assets get depths at their
    own elevation, so every flooded asset is flooded for certain (fraction 1)."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    from rescity.hazard.event import flood_depths
    from rescity.twin.zhejiang import default_twin

    twin = default_twin()
    dem = tmp_path / "dem.tif"
    z = np.full((560, 560), 50.0, dtype=np.float32)
    z[300:, :] = 1.0  # low coastal plain in the south of the raster
    with rasterio.open(
        dem,
        "w",
        driver="GTiff",
        height=z.shape[0],
        width=z.shape[1],
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(118.0, 31.5, 0.01, 0.01),
    ) as f:
        f.write(z, 1)
    n = twin.n_units
    wet = (twin.units["level"] == "cell").to_numpy() & (twin.units["lat"].to_numpy() < 28.6)
    rain = np.where(wet, 400.0, np.where(twin.units["level"] == "cell", 0.0, np.nan))
    rate = np.where(wet, 80.0, np.where(twin.units["level"] == "cell", 0.0, np.nan))
    fl = flood_depths(twin, {}, {"rain_mm": rain, "rain_rate_mmh": rate}, dem=dem)
    assert fl["proxy"] is False
    assert (fl["asset"]["flood_fraction"] == 1).all()
    assert fl["asset"]["flood_depth_m"].max() > 0
    assert len(fl["cell"]["flood_depth_m"]) == n


def test_run_an_earthquake_from_a_catalogue(tmp_path):
    """A catalogue row keeps its finite-rupture geometry through ``rescity run --catalogue``."""
    cat = tmp_path / "cat.csv"
    cat.write_text(
        "event_id,lat,lon,depth_km,mw,strike,dip,rake,mechanism\n"
        "nb2,29.9,121.6,12,6.3,45,60,90,reverse\nhz1,30.05,119.95,10,6.5,,,,unspecified\n",
        encoding="utf-8",
    )
    p = rescity("run", "--catalogue", str(cat), "--event", "nb2", "-n", "2", "--no-recovery", "--quiet",
                "--out", str(tmp_path / "o"), cwd=tmp_path)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    t = pd.read_csv(tmp_path / "o" / "units.csv", dtype={"unit_id": str}).set_index("unit_id")
    assert t.loc["330200", "pga_max_g"] > t.loc["330100", "pga_max_g"]  # Ningbo, not Hangzhou
    settings = json.loads((tmp_path / "o" / "settings.json").read_text(encoding="utf-8"))
    main = settings["quake"]["mainshock"]
    assert main["mechanism"] == "reverse" and main["strike"] == 45
