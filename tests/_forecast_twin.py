"""A small twin and a small, real simulation for the forecast and decide tests.

The twin: province 330000 → prefectures 330100, 331000 → counties 330102, 330112, 331082 → four
cells each (20 000 people, 8 000 households per cell), a road graph (a junction per cell, local
roads within a county, national roads between counties), one shelter per county, two depots, one
substation per county.

``toy_member`` is a genuine function of the track: peak wind at each cell from a modified Rankine
vortex ``V = vmax (r/rmax)`` inside ``rmax`` and ``vmax (rmax/r)^0.6`` outside, storm rain from an
exponential rain-rate profile, and damage drawn from lognormal curves with a seeded stream.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy.special import ndtr

from rescity.forecast.ensemble import haversine_km
from rescity.forecast.indicators import base_level, indicators_from_result
from rescity.twin.model import Twin, conform, empty_table

COUNTIES = {
    "330102": ("330100", "上城区", "Shangcheng", 120.17, 30.25),
    "330112": ("330100", "临安区", "Linan", 119.72, 30.23),
    "331082": ("331000", "临海市", "Linhai", 121.14, 28.86),
}
PREFS = {"330100": ("杭州市", "Hangzhou", 120.0, 30.2), "331000": ("台州市", "Taizhou", 121.2, 28.7)}
CELL_POP = 20_000
CELL_HH = 8_000


def make_twin() -> Twin:
    rows = [
        dict(
            unit_id="330000",
            level="province",
            parent_id="",
            name_zh="浙江省",
            name_en="Zhejiang",
            population=12 * CELL_POP,
            households=12 * CELL_HH,
            lon=120.4,
            lat=29.5,
        )
    ]
    for p, (zh, en, lon, lat) in PREFS.items():
        n = sum(1 for c in COUNTIES.values() if c[0] == p)
        rows.append(
            dict(
                unit_id=p,
                level="prefecture",
                parent_id="330000",
                name_zh=zh,
                name_en=en,
                population=4 * n * CELL_POP,
                households=4 * n * CELL_HH,
                lon=lon,
                lat=lat,
            )
        )
    for c, (p, zh, en, lon, lat) in COUNTIES.items():
        rows.append(
            dict(
                unit_id=c,
                level="county",
                parent_id=p,
                name_zh=zh,
                name_en=en,
                population=4 * CELL_POP,
                households=4 * CELL_HH,
                lon=lon,
                lat=lat,
            )
        )
    cells = []
    for c, (_p, zh, en, lon, lat) in COUNTIES.items():
        for k, (dx, dy) in enumerate([(0, 0), (0.1, 0), (0.1, 0.1), (0, 0.1)]):
            cells.append(
                dict(
                    unit_id=f"{c}-c{k}",
                    level="cell",
                    parent_id=c,
                    name_zh=f"{zh}{k}",
                    name_en=f"{en} {k}",
                    population=CELL_POP,
                    households=CELL_HH,
                    lon=lon + dx,
                    lat=lat + dy,
                )
            )
    units = conform(pd.DataFrame(rows + cells), "units")
    units["share_age_0_14"] = 0.15
    units["share_age_65_plus"] = 0.15
    units["urban_share"] = 0.6
    units["area_km2"] = 100.0

    assets = []
    edges = []

    def add(**kw):
        base = dict(
            system="road",
            kind="road_node",
            capacity=0.0,
            capacity_unit="",
            replacement_cost_cny=0.0,
            backup_h=0.0,
            length_km=0.0,
            is_source=False,
            fragility_class="",
            name="",
        )
        base.update(kw)
        assets.append(base)
        return len(assets) - 1

    node = {}
    for cell in cells:
        node[cell["unit_id"]] = add(
            asset_id=f"J-{cell['unit_id']}", lon=cell["lon"], lat=cell["lat"], unit_id=cell["unit_id"]
        )

    def link(a, b, kind, cost):
        ca = next(c for c in cells if c["unit_id"] == a)
        cb = next(c for c in cells if c["unit_id"] == b)
        d = float(haversine_km(ca["lat"], ca["lon"], cb["lat"], cb["lon"]))
        i = add(
            asset_id=f"R-{a}-{b}",
            kind=kind,
            lon=(ca["lon"] + cb["lon"]) / 2,
            lat=(ca["lat"] + cb["lat"]) / 2,
            unit_id=a,
            length_km=d,
            replacement_cost_cny=cost * d,
        )
        edges.append(("road", node[a], i))
        edges.append(("road", i, node[b]))

    for c in COUNTIES:
        for k in range(3):
            link(f"{c}-c{k}", f"{c}-c{k + 1}", "local_road", 2e6)
    link("330102-c0", "330112-c0", "national_road", 1e7)
    link("330102-c0", "331082-c0", "national_road", 1e7)
    for c, (_p, _zh, _en, lon, lat) in COUNTIES.items():
        add(
            asset_id=f"S-{c}",
            system="facility",
            kind="shelter",
            lon=lon + 0.01,
            lat=lat + 0.01,
            unit_id=f"{c}-c0",
            capacity=5_000.0,
            capacity_unit="people",
        )
        add(
            asset_id=f"P-{c}",
            system="power",
            kind="substation_110kv",
            lon=lon + 0.05,
            lat=lat + 0.05,
            unit_id=f"{c}-c1",
            replacement_cost_cny=5e7,
        )
    add(
        asset_id="D-north",
        system="facility",
        kind="depot",
        lon=120.0,
        lat=30.3,
        unit_id="330102-c3",
        capacity=500.0,
        capacity_unit="m3",
    )
    add(
        asset_id="D-south",
        system="facility",
        kind="depot",
        lon=121.2,
        lat=28.9,
        unit_id="331082-c2",
        capacity=500.0,
        capacity_unit="m3",
    )
    a = conform(pd.DataFrame(assets), "assets")
    e = conform(pd.DataFrame(edges, columns=["system", "src", "dst"]), "edges")
    return Twin(units, a, e, empty_table("dependencies"), empty_table("service"), meta={"name": "test"})


def straight_track(start, lat0=27.0, lon0=121.0, dlat_per_h=0.12, dlon_per_h=0.0, hours=96, vmax=45.0):
    """A storm moving at constant velocity, 3-hourly, with constant intensity."""
    t0 = pd.Timestamp(start, tz="UTC")
    h = np.arange(0, hours + 1, 3.0)
    tr = pd.DataFrame(
        {
            "time": t0 + pd.to_timedelta(h, unit="h"),
            "lat": lat0 + dlat_per_h * h,
            "lon": lon0 + dlon_per_h * h,
            "vmax_ms": vmax,
            "pcen_hpa": 950.0,
            "penv_hpa": 1010.0,
            "rmax_km": 40.0,
        }
    )
    tr.attrs.update(sn="999901", name="TEST")
    return tr


def peak_wind_rain(track: pd.DataFrame, lon, lat, step_h: float = 0.5):
    """Peak wind (m/s) and storm rain (mm) at points from a modified Rankine vortex."""
    t = pd.to_datetime(track["time"], utc=True)
    h = ((t - t.iloc[0]) / pd.Timedelta(hours=1)).to_numpy(float)
    g = np.arange(0.0, h[-1] + 1e-9, step_h) if h[-1] > 0 else np.array([0.0])
    clat = np.interp(g, h, track["lat"].to_numpy(float))
    clon = np.interp(g, h, track["lon"].to_numpy(float))
    vmax = np.interp(g, h, track["vmax_ms"].to_numpy(float))
    rmax = np.interp(g, h, track["rmax_km"].to_numpy(float))
    r = haversine_km(np.asarray(lat)[None, :], np.asarray(lon)[None, :], clat[:, None], clon[:, None])
    v = np.where(
        r < rmax[:, None], vmax[:, None] * r / rmax[:, None], vmax[:, None] * (rmax[:, None] / r) ** 0.6
    )
    rain = (30.0 * np.exp(-r / 150.0) * step_h).sum(axis=0)
    return v.max(axis=0), rain


def toy_member(twin, track, realisations, seed, params=None):
    u = twin.units
    lv = base_level(twin)
    base = (u["level"] == lv).to_numpy()
    wind, rain = peak_wind_rain(track, u["lon"].to_numpy(), u["lat"].to_numpy())
    wind = wind * base
    rng = np.random.default_rng(seed)
    r, n = realisations, twin.n_units
    hh = u["households"].to_numpy()
    pop = u["population"].to_numpy(float)
    p_home = ndtr(np.log(np.maximum(wind, 1e-9) / 45.0) / 0.3)
    homes = rng.binomial(hh, p_home, size=(r, n)) * base
    no_power = pop * (rng.random((r, n)) < ndtr(np.log(np.maximum(wind, 1e-9) / 30.0) / 0.3)) * base
    no_road = pop * (rng.random((r, n)) < ndtr(np.log(np.maximum(wind, 1e-9) / 40.0) / 0.3)) * base
    affected = np.broadcast_to(pop * (wind > 17.2) * base, (r, n))
    a = twin.assets
    aw, _ = peak_wind_rain(track, a["lon"].to_numpy(), a["lat"].to_numpy())
    med = np.array([30.0, 40.0, 50.0, 60.0])
    p_ds = ndtr(np.log(np.maximum(aw, 1e-9)[:, None] / med[None, :]) / 0.3)  # (n_assets, 4)
    uu = rng.random((r, twin.n_assets))
    states = (uu[:, :, None] < p_ds[None, :, :]).sum(axis=2).astype(np.int8)
    res = SimpleNamespace(
        homes_damaged=homes, no_power=no_power, no_road=no_road, affected=affected, states=states
    )
    return indicators_from_result(twin, res, {"wind_ms": wind, "rain_mm": rain * base}, params)
