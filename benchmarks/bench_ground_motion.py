"""Benchmark: spatially correlated ground-motion fields for the default twin.

Samples PGA, PGV, SA(0.3 s) and SA(1.0 s) at every asset of the default Zhejiang twin (or, when
the twin builder is not importable, at a synthetic cloud of 60,000 sites over Zhejiang, lon
118–123°E, lat 27–31.5°N, denser near the coastal cities) for a scenario M6.5 strike-slip rupture
near Hangzhou, with BSSA14 medians, Baker–Jayaram cross-measure correlation and Jayaram–Baker
(2009) spatial correlation sampled by circulant embedding on a 1 km grid.

    python benchmarks/bench_ground_motion.py [--realisations 1000] [--sites 60000] [--grid-km 1.0]

Prints one table: seconds, site-realisations per second, peak traced memory (NumPy buffers,
``tracemalloc``) and the process' peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np


def sites(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from rescity.twin.zhejiang import build_zhejiang  # type: ignore[import-not-found]

        twin = build_zhejiang()
        a = twin.assets
        return a["lon"].to_numpy(float), a["lat"].to_numpy(float), f"default twin ({len(a):,} assets)"
    except ImportError:
        pass
    rng = np.random.default_rng(seed)
    # half uniform over the box, half clustered around cities (Hangzhou, Ningbo, Wenzhou, Jinhua, Taizhou)
    cities = np.array([[120.16, 30.27], [121.55, 29.87], [120.70, 28.00], [119.65, 29.08], [121.42, 28.66]])
    k = n // 2
    uni = np.c_[rng.uniform(118.0, 123.0, n - k), rng.uniform(27.0, 31.5, n - k)]
    c = cities[rng.integers(0, len(cities), k)] + rng.normal(0, 0.25, (k, 2))
    pts = np.vstack([uni, c])
    pts[:, 0] = np.clip(pts[:, 0], 118.0, 123.0)
    pts[:, 1] = np.clip(pts[:, 1], 27.0, 31.5)
    return pts[:, 0], pts[:, 1], f"synthetic cloud ({n:,} sites, lon 118–123, lat 27–31.5)"


def main() -> None:
    from rescity.hazard.earthquake import EarthquakeSource, sample_ground_motion

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realisations", type=int, default=1000)
    ap.add_argument("--sites", type=int, default=60_000)
    ap.add_argument("--grid-km", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=20190809)
    args = ap.parse_args()

    lon, lat, what = sites(args.sites)
    src = EarthquakeSource(lon=120.1, lat=30.2, depth_km=10.0, mw=6.5, strike=45.0, mechanism="strike-slip")
    urban = np.where(np.hypot(lon - 120.16, lat - 30.27) < 0.3, 0.9, 0.4)  # Vs30 default by urban share
    tracemalloc.start()
    t0 = time.perf_counter()
    f = sample_ground_motion(src, lon, lat, None, args.realisations, args.seed, "jb2009",
                             urban_share=urban, region="china_turkey", method="grid", grid_km=args.grid_km)
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB → MiB on Linux
    n = lon.size
    print(f"sites: {what}; event M{src.mw} at ({src.lat}, {src.lon}), grid {args.grid_km} km")
    print("| sites | realisations | measures | seconds | site-realisations/s | peak traced MiB "
          "| peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {n:,} | {args.realisations:,} | 4 | {dt:.1f} | {n * args.realisations / dt:,.0f} | "
          f"{peak / 2**20:,.0f} | {rss:,.0f} |")
    pga = f["pga_g"]
    print(f"PGA median over sites and realisations {np.median(pga):.4f} g; "
          f"share of site-realisations above 0.1 g {(pga > 0.1).mean():.3%}")


if __name__ == "__main__":
    main()
