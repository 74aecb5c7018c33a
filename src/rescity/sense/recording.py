"""The demo recording: a synthetic but physically grounded day of Typhoon Lekima at the gauges.

:func:`make_recording` writes ``lekima_sensors.jsonl.gz`` (packaged): 24 h of 10-minute reports
from 2019-08-09 04:00 UTC (landfall at Wenling, Taizhou, 17:45 UTC) at the stations of the
packaged (synthetic) station table:

- weather stations (``WeatherObserved``): 1-min mean wind and 3-s gust from the Holland (1980)
  wind field along the JTWC best track (:func:`rescity.hazard.typhoon.wind_timeseries`), times
  lognormal noise (σ = 0.1); 10-min rain from the R-CLIPER rate
  (:func:`rescity.hazard.rain.rain_timeseries`) times mean-one lognormal noise (σ = 0.5), rounded
  to the 0.1 mm of a tipping-bucket gauge;
- river gauges (``WaterObserved``): stage = normal stage + ``a · Q`` where ``Q`` is the outflow
  (mm/h) of a linear reservoir fed by the rain rate at the gauge (``dS/dt = i − S/τ``,
  ``Q = S/τ``, τ = 6 h; ``a ~ U(0.25, 0.5)`` m per mm/h), plus N(0, 1 cm) noise;
- faulty sensors: a river gauge stuck from 12:00 UTC, a river gauge with three −3 m dropouts, an
  anemometer with four +25 m/s spikes, a rain gauge stuck at 2.5 mm for two hours;
- asset status (``Device``): the three substations of the twin with the strongest peak gusts go
  down when the gust at the site first reaches 90 % of its peak; the first is restored 6 h later;
- four malformed messages (a unit mismatch, a negative rain amount, an unknown station, a
  payload that is not JSON), to show the dead letters.

Each line is ``{"at": ISO time, "topic": "<type>/<station>", "payload": entity}`` (or ``"raw":
text`` for the non-JSON payload). The file is reproducible from the seed.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rescity.seeds import DEFAULT_SEED
from rescity.sense.alerts import format_time
from rescity.sense.ngsi import device_entity, water_entity, weather_entity
from rescity.sense.stations import Stations

PACKAGED = "lekima_sensors.jsonl.gz"
START = "2019-08-09T04:00:00Z"


def _at(ti: pd.DatetimeIndex, values: np.ndarray, times: pd.DatetimeIndex) -> np.ndarray:
    """Values on the track's time grid ``ti`` read at ``times`` (linear in time)."""
    x = ti.as_unit("ns").asi8.astype(float)
    xt = times.as_unit("ns").asi8.astype(float)
    out = np.empty((len(times), values.shape[1]))
    for j in range(values.shape[1]):
        out[:, j] = np.interp(xt, x, values[:, j], left=0.0, right=0.0)
    return out


def make_recording(
    path: str | Path | None = None,
    *,
    seed: int = DEFAULT_SEED,
    start: str = START,
    hours: float = 24.0,
    step_min: int = 10,
    twin: Any = None,
    stations: Stations | None = None,
    sn: str = "201910",
) -> dict[str, Any]:
    """Write the recording (JSON lines, gzip when ``path`` ends in ``.gz``); return counts.

    ``twin``: the twin whose substations report (default: the Zhejiang twin); ``stations``: the
    station table (default: the packaged one).
    """
    from rescity.hazard.rain import rain_timeseries
    from rescity.hazard.track import packaged_track
    from rescity.hazard.typhoon import peak_wind, wind_timeseries

    rng = np.random.default_rng(np.random.SeedSequence(seed))
    st = stations or Stations.load()
    tab = st.table
    wx = tab[tab["kind"] == "weather"].reset_index(drop=True)
    rv = tab[tab["kind"] == "river"].reset_index(drop=True)
    # the packaged recording was made from the JTWC track and R-CLIPER rain: kept so that it can
    # be made again line for line
    track = packaged_track(sn, source="jtwc")
    dt_h = step_min / 60.0
    t0 = pd.Timestamp(start)
    times = pd.date_range(t0, t0 + pd.Timedelta(hours=hours), freq=f"{step_min}min")
    stamps = [format_time(t.timestamp()) for t in times]

    ti, wind, gust = wind_timeseries(track, wx["lon"], wx["lat"], dt_h=dt_h)
    wind = _at(ti, wind, times) * rng.lognormal(0.0, 0.1, (len(times), len(wx)))
    gust = np.maximum(_at(ti, gust, times) * rng.lognormal(0.0, 0.1, (len(times), len(wx))), wind * 1.1)
    tr, rate = rain_timeseries(track, wx["lon"], wx["lat"], dt_h=dt_h, model="rcliper")
    rain = _at(tr, rate, times) * dt_h * rng.lognormal(-0.125, 0.5, (len(times), len(wx)))
    rain = np.round(rain, 1)

    # river stage: linear reservoir on the rain rate at the gauge, run from the track's start
    tr2, rate_r = rain_timeseries(track, rv["lon"], rv["lat"], dt_h=dt_h, model="rcliper")
    tau, s = 6.0, np.zeros(len(rv))
    q = np.zeros_like(rate_r)
    for k in range(len(tr2)):
        s = s + dt_h * (rate_r[k] - s / tau)
        q[k] = s / tau
    a = rng.uniform(0.25, 0.5, len(rv))
    stage = rv["base_stage_m"].to_numpy(float) + a * _at(tr2, q, times)
    stage += rng.normal(0.0, 0.01, stage.shape)

    faults: list[dict[str, Any]] = []
    rise = stage.max(axis=0) - stage[0]
    order = np.argsort(-rise)
    k_stuck = int(order[2])  # the gauge with the third-largest rise sticks at 12:00
    i12 = min(int(np.searchsorted(times, t0.normalize() + pd.Timedelta(hours=12))), len(times) - 1)
    pick = np.arange(10, len(times) - 10) if len(times) > 30 else np.arange(1, len(times) - 1)  # fault times
    stage[i12:, k_stuck] = stage[i12, k_stuck]
    faults.append({"station": rv["station_id"][k_stuck], "fault": "stuck", "quantity": "water_level_m", "from": stamps[i12]})
    k_drop = int(order[5])
    drops = np.sort(rng.choice(pick, 3, replace=False))
    stage[drops, k_drop] -= 3.0
    faults.append({"station": rv["station_id"][k_drop], "fault": "spike", "quantity": "water_level_m", "at": [stamps[i] for i in drops]})
    k_spike = int(np.argsort(-wind.max(axis=0))[4])
    spikes = np.sort(rng.choice(pick, 4, replace=False))
    wind[spikes, k_spike] += 25.0
    gust[:, k_spike] = np.maximum(gust[:, k_spike], wind[:, k_spike] * 1.1)
    faults.append({"station": wx["station_id"][k_spike], "fault": "spike", "quantity": "wind_ms", "at": [stamps[i] for i in spikes]})
    k_rain = int(np.argsort(-rain.sum(axis=0))[7])
    i_r = min(int(np.searchsorted(times, t0 + pd.Timedelta(hours=8))), len(times) - 1)
    rain[i_r : i_r + 12, k_rain] = 2.5
    faults.append({"station": wx["station_id"][k_rain], "fault": "stuck", "quantity": "rain_mm", "from": stamps[i_r]})

    lines: list[tuple[int, int, dict[str, Any]]] = []  # (time index, order, record)
    for i, at in enumerate(stamps):
        for j, sid in enumerate(wx["station_id"]):
            e = weather_entity(sid, at, rain_mm=float(rain[i, j]), wind_ms=float(wind[i, j]), gust_ms=float(gust[i, j]))
            lines.append((i, 0, {"at": at, "topic": f"WeatherObserved/{sid}", "payload": e}))
        for j, sid in enumerate(rv["station_id"]):
            e = water_entity(sid, at, float(stage[i, j]))
            lines.append((i, 1, {"at": at, "topic": f"WaterObserved/{sid}", "payload": e}))

    # substations: the three with the strongest peak gusts go down near their peak
    if twin is None:
        from rescity.twin.zhejiang import default_twin

        twin = default_twin()
    subs = twin.assets[twin.assets["kind"].isin(["substation_110kv", "substation_220kv"])].reset_index(drop=True)
    peak = peak_wind(track, subs["lon"], subs["lat"], dt_h=1.0)["gust_ms"]
    top = np.argsort(-peak)[:3]
    tg, _, g_sub = wind_timeseries(track, subs["lon"][top], subs["lat"][top], dt_h=dt_h)
    g_sub = _at(tg, g_sub, times)
    outages = []
    for n, k in enumerate(top):
        hit = np.flatnonzero(g_sub[:, n] >= 0.9 * g_sub[:, n].max())
        i = int(hit[0]) if len(hit) else len(times) // 2
        aid = str(subs["asset_id"][k])
        lines.append((i, 2, {"at": stamps[i], "topic": f"Device/SCADA-{aid}", "payload": device_entity(f"SCADA-{aid}", aid, "down", stamps[i])}))
        outages.append({"asset_id": aid, "down": stamps[i]})
        if n == 0 and i + 36 < len(times):
            j = i + 36
            lines.append((j, 2, {"at": stamps[j], "topic": f"Device/SCADA-{aid}", "payload": device_entity(f"SCADA-{aid}", aid, "up", stamps[j])}))
            outages[-1]["up"] = stamps[j]

    # malformed messages
    w0 = str(wx["station_id"][0])
    bad_i = sorted(rng.choice(np.arange(5, len(times) - 5) if len(times) > 30 else pick, 4, replace=False).tolist())
    bad = [
        {"payload": {**weather_entity(w0, stamps[bad_i[0]], wind_ms=12.0), "windSpeed": {"type": "Property", "value": 12.0, "unitCode": "MMT", "observedAt": stamps[bad_i[0]]}}},
        {"payload": weather_entity(w0, stamps[bad_i[1]], rain_mm=-5.0)},
        {"payload": weather_entity("W999999", stamps[bad_i[2]], rain_mm=1.0)},
        {"raw": '{"id": "urn:ngsi-ld:WeatherObserved:' + w0 + '", "type": "WeatherObserved", "precipitation": 3.'},
    ]
    for i, b in zip(bad_i, bad, strict=True):
        lines.append((i, 3, {"at": stamps[i], "topic": f"WeatherObserved/{w0}", **b}))

    lines.sort(key=lambda x: (x[0], x[1]))
    if path is None:
        from rescity.data import path as data_path

        path = data_path("SOURCES.md").with_name(PACKAGED)
    p = Path(path)
    text = "".join(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n" for _, _, rec in lines)
    data = text.encode("utf-8")
    if p.suffix == ".gz":
        data = gzip.compress(data, compresslevel=9, mtime=0)  # byte-identical for a seed
    p.write_bytes(data)
    return {
        "path": str(p),
        "lines": len(lines),
        "start": stamps[0],
        "end": stamps[-1],
        "weather_stations": len(wx),
        "river_gauges": len(rv),
        "faults": faults,
        "outages": outages,
        "malformed": len(bad),
        "peak_wind_ms": float(wind.max()),
        "peak_gust_ms": float(gust.max()),
        "peak_rain_24h_mm": float(rain.sum(axis=0).max()),
    }
