"""Benchmark: one forecast issuance for the whole province with the default ensemble members.

Targets: ≤ 60 s on 2 cores for the Zhejiang twin, the default members, lead windows 24/48/72 h;
≤ 10 s for 50 members × 4 realisations (``--members 50 --realisations 4``).

    python benchmarks/bench_forecast.py                      # Lekima, issued 24 h before landfall
    python benchmarks/bench_forecast.py --workers 2 --json   # machine-readable timings
    python benchmarks/bench_forecast.py --member overhead    # orchestration only (zero simulation)

The process is pinned to ``--cores`` CPUs (default 2) and BLAS threads are limited to one per
worker, so that the figure is a 2-core figure on any machine. ``--member overhead`` replaces the
pipeline by a member function that returns zeros: it times ensemble generation, windowing,
pooling, roll-up, quantiles and warnings on the real twin.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def _pin(cores: int) -> list[int]:
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ.setdefault(v, "1")
    if hasattr(os, "sched_setaffinity"):
        avail = sorted(os.sched_getaffinity(0))
        use = avail[:cores]
        os.sched_setaffinity(0, use)
        return use
    return []


def _zero_member(twin, track, realisations, seed, params=None):
    import numpy as np

    from rescity.forecast.indicators import INDICATORS

    return {k: np.zeros((realisations, twin.n_units)) for k in INDICATORS}


def _inputs(seed: int, sn: str):
    """The Zhejiang twin and the packaged best track (modules of the twin and hazard packages)."""
    from rescity.hazard.track import packaged_track
    from rescity.twin.zhejiang import build_zhejiang

    return build_zhejiang(seed), packaged_track(sn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sn", default="201910", help="packaged best track (default Lekima)")
    ap.add_argument("--issued", default=None, help="issuance time UTC (default: landfall − 24 h, synoptic)")
    ap.add_argument("--members", type=int, default=None, help="default: the package default")
    ap.add_argument("--realisations", type=int, default=4, help="engine realisations per member")
    ap.add_argument("--leads", default="24,48,72")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20190809)
    ap.add_argument("--member", choices=("pipeline", "overhead"), default="pipeline")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    cpus = _pin(a.cores)

    import pandas as pd

    from rescity.forecast import ensemble as ens
    from rescity.forecast import issuance as iss

    if a.members is None:
        a.members = iss.DEFAULT_MEMBERS
    t0 = time.perf_counter()
    twin, best = _inputs(a.seed, a.sn)
    t_twin = time.perf_counter() - t0
    lf = iss.landfall_time(best, iss.land_geometry(twin))
    if a.issued:
        ts = ens._to_utc(a.issued)
    else:
        ts = (lf - pd.Timedelta(hours=24)).floor("6h")
    leads = tuple(int(x) for x in a.leads.split(","))

    t1 = time.perf_counter()
    off = ens.official_forecast(best, ts, max_lead_h=float(max(leads)))
    e = ens.perturb_track(off, ts, a.members, a.seed, max_lead_h=float(max(leads)))
    t_ens = time.perf_counter() - t1

    member = iss.member_indicators if a.member == "pipeline" else _zero_member
    t2 = time.perf_counter()
    samples = iss.simulate_issuance(
        twin,
        e,
        ts,
        leads=leads,
        realisations=a.realisations,
        seed=a.seed,
        simulate_member=member,
        workers=a.workers,
    )
    t_sim = time.perf_counter() - t2
    t3 = time.perf_counter()
    table = iss.summarise(twin, samples)
    t_sum = time.perf_counter() - t3
    total = t_ens + t_sim + t_sum
    res = {
        "storm": a.sn,
        "issued": f"{ts:%Y-%m-%dT%H:%MZ}",
        "landfall": f"{lf:%Y-%m-%dT%H:%MZ}",
        "members": a.members,
        "realisations_per_member": a.realisations,
        "leads_h": list(samples.values),
        "member_function": a.member,
        "units": int(twin.n_units),
        "assets": int(twin.n_assets),
        "rows": int(len(table)),
        "cpus": cpus,
        "workers": a.workers,
        "seconds": {
            "twin_build (not counted)": round(t_twin, 2),
            "ensemble": round(t_ens, 3),
            "simulations": round(t_sim, 2),
            "summary": round(t_sum, 2),
            "issuance_total": round(total, 2),
        },
        "target_s": (target := 10 if (a.members, a.realisations) == (50, 4) else 60),
        "meets_target": bool(total <= target),
    }
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        for k, v in res.items():
            print(f"{k:>24}: {v}")


if __name__ == "__main__":
    main()
