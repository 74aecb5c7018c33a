"""Time the typhoon wind and rain fields for 70,000 sites over Zhejiang (Lekima 2019).

Run: ``python benchmarks/bench_hazard_wind.py [n_sites]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from rescity.hazard._geometry import SiteFrame
from rescity.hazard.rain import storm_rain
from rescity.hazard.track import interpolate_track, packaged_track
from rescity.hazard.typhoon import CUTOFF_KM, peak_wind, wind_timeseries


def main(n: int = 70_000) -> None:
    tr = packaged_track("201910")
    rng = np.random.default_rng(20190809)
    lon = rng.uniform(118.0, 123.0, n)
    lat = rng.uniform(27.0, 31.2, n)
    ti = interpolate_track(tr, 1.0)
    steps = SiteFrame(lon, lat).near_steps(ti["lon"].to_numpy(), ti["lat"].to_numpy(), CUTOFF_KM)
    print(f"{n} sites, {len(ti)} hourly fixes, {len(steps)} within {CUTOFF_KM:g} km of a site")
    for model in ("holland1980", "holland2008"):
        best = np.inf
        for _ in range(3):
            t = time.perf_counter()
            out = peak_wind(tr, lon, lat, model)
            best = min(best, time.perf_counter() - t)
        print(f"peak_wind {model}: {best:.2f} s (best of 3), max gust {out['gust_ms'].max():.1f} m/s")
    t = time.perf_counter()
    times, w, g = wind_timeseries(tr, lon, lat)
    print(f"wind_timeseries holland1980: {time.perf_counter() - t:.2f} s, array {w.shape}")
    t = time.perf_counter()
    r = storm_rain(tr, lon, lat)
    print(f"storm_rain: {time.perf_counter() - t:.2f} s, max {r['rain_mm'].max():.0f} mm")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 70_000)
