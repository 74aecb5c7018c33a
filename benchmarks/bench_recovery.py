"""Benchmark of recovery: restoration schedule and Q(t) for the default twin.

    python benchmarks/bench_recovery.py [--realisations 1000] [--workers 1] [--sn 201910]

Runs typhoon Lekima (JTWC 201910) on the default Zhejiang twin (hazard, damage and cascade with
the damage states kept), then :func:`rescity.engine.recovery.simulate_recovery` over all
realisations: repair jobs, road layers, crew dispatch, the cascade in time and Q(t) per system and
unit, hourly for 14 days. Prints the time of each stage, the peak resident memory and the load.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from rescity.seeds import DEFAULT_SEED


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realisations", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--sn", default="201910")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    a = ap.parse_args()

    from rescity.engine.event import simulate_event
    from rescity.engine.recovery import simulate_recovery
    from rescity.hazard.event import typhoon_event
    from rescity.hazard.track import packaged_track
    from rescity.metrics import metrics_table, qt_table
    from rescity.twin.zhejiang import default_twin

    t0 = time.perf_counter()
    twin = default_twin()
    track = packaged_track(a.sn)
    ai, ci = typhoon_event(twin, track)
    t1 = time.perf_counter()
    sim = simulate_event(
        twin,
        (ai, ci),
        a.realisations,
        a.seed,
        workers=a.workers,
        simulate_kw={"keep_states": True, "keep_functional": True},
    )
    t2 = time.perf_counter()
    rec = simulate_recovery(twin, sim.states, seed=a.seed, functional0=sim.functional, workers=a.workers)
    t3 = time.perf_counter()
    m = metrics_table(rec)
    q = qt_table(rec)
    t4 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    jobs = rec.restore_h.nnz / a.realisations
    rows = [
        ("twin + hazard", t1 - t0),
        ("damage + cascade (engine)", t2 - t1),
        ("recovery: setup (N-1, travel)", rec.timings.get("setup", 0.0)),
        ("recovery: jobs", rec.timings.get("jobs", 0.0)),
        ("recovery: road layers", rec.timings.get("road", 0.0)),
        ("recovery: dispatch", rec.timings.get("schedule", 0.0)),
        ("recovery: cascade in time", rec.timings.get("cascade", 0.0)),
        ("recovery: Q(t) and customer-hours", rec.timings.get("metrics", 0.0)),
        ("recovery total (wall)", t3 - t2),
        ("metrics.csv + qt.csv tables", t4 - t3),
    ]
    print(
        f"default twin: {twin.n_assets:,} assets; {a.realisations} realisations; {jobs:,.0f} repair jobs per realisation; "
        f"{len(rec.hours)} hours x {len(rec.units)} units x {len(rec.systems)} systems; workers {a.workers}"
    )
    print(f"{'stage':40s} {'seconds':>9s}")
    for name, s in rows:
        print(f"{name:40s} {s:9.2f}")
    print(f"{'per realisation (recovery)':40s} {1000 * (t3 - t2) / a.realisations:8.1f} ms")
    print(
        f"rows: metrics.csv {len(m):,}, qt.csv {len(q):,}; peak RSS {peak:,.0f} MiB; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
