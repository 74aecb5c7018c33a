"""Benchmark of a big twin: the 1 km Zhejiang twin through the engine, memory bounded by streaming.

    python benchmarks/bench_big_twin.py [--cell-km 1] [--realisations 1000 10000] [--keep summary [all]]
                                        [--workers 1] [--hazard lekima|synthetic] [--no-10k]

Builds the Zhejiang twin with ``cell_km`` grid cells once (``rescity.twin.zhejiang.default_twin``
caches it as GeoParquet under ``$RESCITY_HOME/cache``; the first build is timed and its peak
memory measured in a child process), then runs every requested realisation count in a fresh child
process: the hazard (typhoon Lekima, JTWC 201910, at the cells and assets; or a synthetic
Holland-type gust and flood field, ``--hazard synthetic``), then
:func:`rescity.engine.runner.simulate` with ``keep`` (``summary``: streamed cell summaries,
``all``: every realisation of every unit; several modes alternate, for paired timings). Each row:
wall seconds of the simulation, asset-realisations per second, seconds spent storing or folding
chunks (``collect``), the CPU seconds (user + system) of the main process and of the workers during
the simulation (less sensitive than wall time to other work on the machine), seconds reading the
summary, the MiB held by the per-unit outputs, and the child's peak resident memory (``os.wait4``'s
``ru_maxrss``: the whole child, twin and hazard included; with ``--workers`` > 1 the largest of its
processes). ``--no-10k`` drops realisation counts above 5,000. Timings depend on the load of the
machine; the load average is printed.
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


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    return env


def _run_child(args: list[str]) -> tuple[dict, float]:
    """Run this script with ``args`` in a child; its JSON line and its peak RSS (MiB)."""
    p = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), *args], stdout=subprocess.PIPE, env=_child_env()
    )
    out = p.stdout.read() if p.stdout else b""
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"child {' '.join(args)} failed with exit code {p.returncode}")
    line = [x for x in out.decode().splitlines() if x.startswith("{")][-1]
    return json.loads(line), usage.ru_maxrss / 1024  # Linux: KiB


def _peak_mb() -> float:
    """Peak resident memory of this process so far (Linux ``VmHWM``), MiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return float("nan")


def _cpu() -> tuple[float, float]:
    """User + system CPU seconds of this process and of its finished children (the pool's workers)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _twin(cell_km: float):
    from rescity.twin.zhejiang import default_twin

    return default_twin(cell_km=cell_km)


def _hazard_cache(cell_km: float, hazard: str) -> Path:
    from rescity.twin.zhejiang import rescity_home

    return rescity_home() / "cache" / "bench_big_twin" / f"{hazard}-c{cell_km:g}.npz"


def _fields(twin, hazard: str, cell_km: float):
    """The event's ``(asset, cell)`` intensities, cached as ``.npz`` beside the twin."""
    path = _hazard_cache(cell_km, hazard)
    if path.exists():
        z = np.load(path)
        split = [k.split("/", 1) for k in z.files]
        return tuple({k: z[f"{w}/{k}"] for w, k in split if w == which} for which in ("asset", "cell"))
    if hazard == "lekima":
        from rescity.hazard.event import typhoon_event
        from rescity.hazard.track import packaged_track

        ai, ci = typhoon_event(twin, packaged_track("201910"))
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_engine import synthetic_depth, synthetic_gust

        a = twin.assets
        lon, lat = a["lon"].to_numpy(), a["lat"].to_numpy()
        cells = twin.units[twin.units["level"] == "cell"]
        clon, clat = cells["lon"].to_numpy(), cells["lat"].to_numpy()
        c = (121.4, 28.4)  # a Lekima-like landfall at Wenling
        ai = {"gust_ms": synthetic_gust(lon, lat, *c), "flood_depth_m": synthetic_depth(lon, lat, *c)}
        ci = {
            "gust_ms": synthetic_gust(clon, clat, *c),
            "flood_depth_m": synthetic_depth(clon, clat, *c, seed=8),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{f"asset/{k}": v for k, v in ai.items()}, **{f"cell/{k}": v for k, v in ci.items()})
    os.replace(tmp, path)
    return ai, ci


def child_build(cell_km: float, hazard: str) -> None:
    t0 = time.perf_counter()
    twin = _twin(cell_km)
    t_twin = time.perf_counter() - t0
    t0 = time.perf_counter()
    _fields(twin, hazard, cell_km)
    t_hazard = time.perf_counter() - t0
    print(json.dumps({"seconds": t_twin, "hazard_s": t_hazard, "assets": twin.n_assets, "units": twin.n_units}))


def child_run(cell_km: float, realisations: int, keep: str, workers: int, hazard: str, seed: int) -> None:
    from rescity.engine.event import simulate_event

    twin = _twin(cell_km)
    t0 = time.perf_counter()
    ai, ci = _fields(twin, hazard, cell_km)
    t_hazard = time.perf_counter() - t0
    t0 = time.perf_counter()
    step = max(1, realisations // 20)
    mark = [0]

    def progress(done: int, total: int) -> None:  # to stderr: done, elapsed and peak memory so far
        if done - mark[0] >= step or done == total:
            mark[0] = done
            print(f"  {done:,}/{total:,} in {time.perf_counter() - t0:,.0f} s, peak {_peak_mb():,.0f} MiB",
                  file=sys.stderr, flush=True)  # fmt: skip

    cpu0 = _cpu()
    res = simulate_event(
        twin, (ai, ci), realisations, seed, workers=workers, progress=progress, simulate_kw={"keep": keep}
    )
    wall = time.perf_counter() - t0
    cpu_main, cpu_workers = (b - a for a, b in zip(cpu0, _cpu(), strict=True))
    t0 = time.perf_counter()
    s = res.summary(q=(0.05, 0.5, 0.95))
    t_summary = time.perf_counter() - t0
    prov = s.loc[s["level"] == "province"].iloc[0]
    print(
        json.dumps(
            {
                "assets": twin.n_assets,
                "units": twin.n_units,
                "hazard_s": t_hazard,
                "wall_s": wall,
                "cpu_main_s": cpu_main,
                "cpu_workers_s": cpu_workers,
                "summary_s": t_summary,
                "timings": res.timings,
                "chunk": res.meta["chunk_size"],
                "keep": res.meta["keep"],
                "outputs_mb": res.meta["outputs_mb"],
                "no_power": float(prov["no_power_mean"]),
                "affected": float(prov["affected_mean"]),
            }
        )
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell-km", type=float, default=1.0)
    ap.add_argument("--realisations", "-n", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument(
        "--keep", choices=("auto", "all", "summary"), nargs="+", default=["summary"],
        help="keep modes; several alternate for each realisation count (paired timings)",
    )  # fmt: skip
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--hazard", choices=("lekima", "synthetic"), default="lekima")
    ap.add_argument("--seed", type=int, default=20190809)
    ap.add_argument("--no-10k", action="store_true", help="skip realisation counts above 5,000")
    ap.add_argument("--child", choices=("build", "run"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child == "build":
        return child_build(a.cell_km, a.hazard)
    if a.child == "run":
        return child_run(a.cell_km, a.realisations[0], a.keep[0], a.workers, a.hazard, a.seed)

    common = ["--cell-km", str(a.cell_km), "--workers", str(a.workers)]
    common += ["--hazard", a.hazard, "--seed", str(a.seed)]
    built, build_rss = _run_child(["--child", "build", "--cell-km", str(a.cell_km), "--hazard", a.hazard])
    print(
        f"twin: Zhejiang, {a.cell_km:g} km cells: {built['units']:,} units, {built['assets']:,} assets; "
        f"built or loaded from the cache in {built['seconds']:.1f} s, hazard computed or loaded in "
        f"{built['hazard_s']:.1f} s; peak {build_rss:,.0f} MiB"
    )
    print(f"hazard: {a.hazard}; workers: {a.workers}")
    print()
    head = (
        f"{'realisations':>12} {'keep':>8} {'simulate s':>11} {'asset-real./s':>14} {'collect s':>10} "
        f"{'main CPU s':>11} {'workers CPU s':>14} {'summary s':>10} {'outputs MiB':>12} {'peak RSS MiB':>13} "
        f"{'mean no power':>14}"
    )
    print(head)
    for n in a.realisations:
        if a.no_10k and n > 5000:
            continue
        for keep in a.keep:
            r, rss = _run_child(["--child", "run", "-n", str(n), "--keep", keep, *common])
            rate = r["assets"] * n / r["wall_s"]
            print(
                f"{n:>12,} {r['keep']:>8} {r['wall_s']:>11.1f} {rate:>14,.0f} "
                f"{r['timings'].get('collect', 0.0):>10.1f} {r['cpu_main_s']:>11.1f} {r['cpu_workers_s']:>14.1f} "
                f"{r['summary_s']:>10.1f} {r['outputs_mb']:>12,.0f} "
                f"{rss:>13,.0f} {r['no_power']:>14,.0f}",
                flush=True,
            )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average (1 min) at the end: {load:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
