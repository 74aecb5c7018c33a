"""Benchmark of the engine: damage + cascade + service over realisations.

    python benchmarks/bench_engine.py [--realisations 1000] [--twin toy|default] [--workers 1]

``--twin toy`` (default) builds a synthetic twin of about 60,000 assets with
:func:`rescity.twin.toy.toy_twin`; ``--twin default`` uses ``rescity.twin.zhejiang.build_zhejiang()``
when that builder is available. Intensities come from a synthetic typhoon: a Holland (1980)
type radial gust profile around a centre near the middle of the twin, plus a synthetic flood depth
field, so both hazards and the cascade are exercised. Prints one row per stage: seconds,
asset-realisations per second (``engine`` = damage + cascade + service, the figure the issue sets a
target for) and the peak resident memory of the run.

``--baseline SRC`` also runs the same benchmark on another source tree (say a checkout of the
main branch's ``src``), alternating baseline and this tree ``--repeat`` times in child processes,
and prints both side by side (the best of the repeats, so a busy machine hurts both alike):

    python benchmarks/bench_engine.py --twin default -n 500 --baseline ../main/src --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def synthetic_gust(
    lon: np.ndarray,
    lat: np.ndarray,
    lon_c: float,
    lat_c: float,
    vmax: float = 58.0,
    rmax_km: float = 30.0,
    b: float = 1.4,
) -> np.ndarray:
    """Peak gust (m/s) of a Holland (1980) radial profile, V = Vmax·√((Rm/r)^B·e^(1 − (Rm/r)^B))."""
    dx = (lon - lon_c) * 111.2 * np.cos(np.radians(lat_c))
    dy = (lat - lat_c) * 111.2
    r = np.maximum(np.hypot(dx, dy), 1.0)
    a = (rmax_km / r) ** b
    return vmax * np.sqrt(a * np.exp(1 - a))


def synthetic_depth(
    lon: np.ndarray, lat: np.ndarray, lon_c: float, lat_c: float, seed: int = 7
) -> np.ndarray:
    """Flood depth (m): deeper near the storm centre, patchy (a fixed random field)."""
    rng = np.random.default_rng(seed)
    dx = (lon - lon_c) * 111.2 * np.cos(np.radians(lat_c))
    dy = (lat - lat_c) * 111.2
    r = np.hypot(dx, dy)
    base = 0.6 * np.exp(-r / 40.0)
    return np.maximum(0.0, base * rng.lognormal(-0.5, 0.8, len(lon)) - 0.1)


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished workers, seconds."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def build(twin_name: str):
    if twin_name == "default":
        try:
            from rescity.twin.zhejiang import build_zhejiang
        except ImportError:
            sys.exit("rescity.twin.zhejiang.build_zhejiang is not available in this installation")
        return build_zhejiang(), (121.4, 28.4)  # a Lekima-like landfall at Wenling
    from rescity.twin.toy import toy_twin

    twin = toy_twin(
        counties=60, cells_per_county=20, feeders_per_cell=12, base_stations_per_cell=8, lon0=119.4, lat0=27.9
    )
    return twin, (120.3, 28.8)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realisations", "-n", type=int, default=1000)
    ap.add_argument("--twin", choices=("toy", "default"), default="toy")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--chunk-size", type=int, default=None)
    ap.add_argument("--seed", type=int, default=20190809)
    ap.add_argument(
        "--per-realisation-field",
        action="store_true",
        help="perturb the gust field per realisation (exceedance evaluated per chunk)",
    )
    ap.add_argument("--baseline", default=None, help="another source tree to compare with (its src folder)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each tree with --baseline")
    ap.add_argument("--json", action="store_true", help="print the timings as JSON")
    args = ap.parse_args(argv)
    if args.baseline:
        compare(args, argv if argv is not None else sys.argv[1:])
        return

    from rescity.engine import simulate
    from rescity.fragility.library import load_library

    t0 = time.perf_counter()
    twin, (lon_c, lat_c) = build(args.twin)
    t_build = time.perf_counter() - t0
    a = twin.assets
    gust = synthetic_gust(a["lon"].to_numpy(), a["lat"].to_numpy(), lon_c, lat_c)
    depth = synthetic_depth(a["lon"].to_numpy(), a["lat"].to_numpy(), lon_c, lat_c)
    cells = twin.units[twin.units["level"] == "cell"]
    c_gust = synthetic_gust(cells["lon"].to_numpy(), cells["lat"].to_numpy(), lon_c, lat_c)
    c_depth = synthetic_depth(cells["lon"].to_numpy(), cells["lat"].to_numpy(), lon_c, lat_c, seed=8)
    if args.per_realisation_field:
        eps = np.random.default_rng(args.seed).lognormal(0.0, 0.1, (args.realisations, 1))
        gust = gust[None, :] * eps
        c_gust = c_gust[None, :] * eps
    lib = load_library()
    n = twin.n_assets
    t1 = time.perf_counter()
    cpu0 = _cpu_seconds()
    res = simulate(
        twin,
        {"gust_ms": gust, "flood_depth_m": depth},
        {"gust_ms": c_gust, "flood_depth_m": c_depth},
        args.realisations,
        args.seed,
        workers=args.workers,
        chunk_size=args.chunk_size,
        library=lib,
    )
    wall = time.perf_counter() - t1
    cpu = _cpu_seconds() - cpu0
    peak_mb = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    ) / 1024
    ar = n * args.realisations
    stages = ("setup", "exceedance", "damage", "cascade", "service", "aggregate")
    t = {k: res.timings.get(k, 0.0) for k in stages}
    t["engine"] = t["damage"] + t["cascade"] + t["service"]
    t["total wall"], t["total CPU"] = wall, cpu
    if args.json:
        print(json.dumps({"asset_realisations": ar, "seconds": t, "peak_mib": peak_mb, "load": _load()}))
        return
    print(
        f"twin: {args.twin}, {n:,} assets, {len(twin.edges):,} edges, "
        f"{len(twin.dependencies):,} dependencies, "
        f"{int((twin.units['level'] == 'cell').sum()):,} cells (built in {t_build:.1f} s)"
    )
    print(
        f"realisations: {args.realisations:,}, workers: {args.workers}, chunk: {res.meta['chunk_size']}, "
        f"hazards: {', '.join(res.hazards)}"
    )
    share = float(np.nanmean(res.damaged_share["power"][:, 0]))
    aff = float(res.affected[:, 0].mean())
    print(f"mean share of power assets damaged: {share:.3f}; mean affected: {aff:,.0f}")
    print()
    label = "CPU s (sum over workers)" if args.workers > 1 else "seconds"
    print(f"{'stage':<12} {label:>24} {'asset-realisations/s':>22}")
    for k, s in t.items():
        rate = f"{ar / s:,.0f}" if s > 0 and k != "setup" else "-"
        print(f"{k:<12} {s:>24.2f} {rate:>22}")
    print("(engine = damage + cascade + service)")
    if args.workers > 1:
        print(
            f"engine on {args.workers} workers: {ar * args.workers / t['engine']:,.0f} asset-realisations/s "
            "(stage seconds are summed over the workers)"
        )
    print(f"load average (1 min) during the run: {_load():.2f} on {os.cpu_count()} CPUs")
    print(f"peak memory (RSS, this process + workers): {peak_mb:,.0f} MiB")


def compare(args: argparse.Namespace, argv: list[str]) -> None:
    """Run baseline and this tree alternately in child processes; print the best of each."""
    own = str(Path(__file__).resolve().parents[1] / "src")
    child = [a for i, a in enumerate(argv) if a != "--baseline" and (i == 0 or argv[i - 1] != "--baseline")]
    child = [a for a in child if not a.startswith("--baseline=")] + ["--json"]
    runs: dict[str, list[dict]] = {"baseline": [], "this": []}
    for _ in range(max(1, args.repeat)):
        for label, src in (("baseline", str(Path(args.baseline).resolve())), ("this", own)):
            env = {**os.environ, "PYTHONPATH": src}
            out = subprocess.run(
                [sys.executable, __file__, *child], env=env, capture_output=True, text=True, check=True
            )
            runs[label].append(json.loads(out.stdout.strip().splitlines()[-1]))
    ar = runs["this"][0]["asset_realisations"]
    best = {k: {s: min(r["seconds"][s] for r in v) for s in v[0]["seconds"]} for k, v in runs.items()}
    print(
        f"twin {args.twin}, {args.realisations} realisations, workers {args.workers}: best of {args.repeat} runs each"
    )
    print(f"baseline: {args.baseline}; this: {own}")
    print(
        f"{'stage':<12} {'baseline s':>11} {'this s':>9} {'baseline ar/s':>15} {'this ar/s':>15} {'speed-up':>9}"
    )
    for s in best["this"]:
        b, t = best["baseline"][s], best["this"][s]
        rb = f"{ar / b:,.0f}" if b > 0 and s != "setup" else "-"
        rt = f"{ar / t:,.0f}" if t > 0 and s != "setup" else "-"
        sp = f"{b / t:.2f}x" if t > 0 else "-"
        print(f"{s:<12} {b:>11.2f} {t:>9.2f} {rb:>15} {rt:>15} {sp:>9}")
    if args.workers > 1:
        w = args.workers
        print(
            f"engine on {w} workers (stage seconds summed over them): baseline "
            f"{ar * w / best['baseline']['engine']:,.0f}, this {ar * w / best['this']['engine']:,.0f} "
            "asset-realisations/s"
        )
    loads = [r["load"] for v in runs.values() for r in v]
    print(f"load average (1 min) at the runs: {min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
