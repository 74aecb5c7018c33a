"""Benchmark: how much the province mean of one forecast issuance changes with the seed.

One hindcast issuance (default: Lekima 201910, the synoptic issuance 24 h before landfall) is run
with ``--seeds`` different seeds and the same official forecast. The seed draws the ensemble
members' track errors and the engine's damage samples, so the spread across seeds is the Monte
Carlo noise of the issuance, the part that more members remove. For each indicator and lead
window the table gives the province mean of every seed and two measures of its spread:

* ``cv``: coefficient of variation across seeds, ``s / x̄`` (``s`` the sample standard
  deviation, ddof = 1, ``x̄`` the mean of the seeds' means);
* ``maxdev``: the largest relative deviation of one seed from the others' mean, ``max_i |x_i − x̄| / x̄``.

and ``cv_pred``, the coefficient of variation predicted from the variance decomposition of the
pooled samples (between-member variance ``s_b²`` and within-member variance ``s_w²``, averaged
over the seeds): ``sqrt(s_b²/M + s_w²/(M R)) / x̄`` for ``M`` members and ``R`` realisations per
member, for the setting run and for the ``--predict`` settings (``MxR``).

``--jumps N`` prints instead, for N official seeds, how far the official forecast's position at
landfall time moves between consecutive 6-hourly issuances (72 h before landfall to landfall),
with the error evolving in issuance time (τ = 24 h) and with independent forecasts (τ = 0, as
rescity drew them before): tracks only, no simulation.

``--official seed`` instead draws the official forecast from each seed too (the hindcast of
rescity before the official forecast got its own seed): the spread then also holds the
official forecast's error, which no number of members removes.

    python benchmarks/bench_forecast_stability.py                       # package defaults, 5 seeds
    python benchmarks/bench_forecast_stability.py --members 50 --samples 500 --official seed
    python benchmarks/bench_forecast_stability.py --predict 100x2,150x2 --json
    python benchmarks/bench_forecast_stability.py --jumps 40

The process is pinned to ``--cores`` CPUs (default 2), one BLAS thread per worker.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

SHOW = ("affected", "relocate", "economic_loss_cny")


def _pin(cores: int) -> list[int]:
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ.setdefault(v, "1")
    if hasattr(os, "sched_setaffinity"):
        avail = sorted(os.sched_getaffinity(0))
        use = avail[:cores]
        os.sched_setaffinity(0, use)
        return use
    return []


def _decompose(x, members: int):
    """Between- and within-member variances of pooled samples ``x`` (members × R, member-major)."""
    import numpy as np

    r = len(x) // members
    g = np.asarray(x, float)[: members * r].reshape(members, r)
    s_w2 = float(g.var(axis=1, ddof=1).mean()) if r > 1 else 0.0
    s_b2 = max(float(g.mean(axis=1).var(ddof=1)) - s_w2 / r, 0.0)
    return s_b2, s_w2


def _jumps(best, lf, n_seeds: int) -> None:
    """Mean distance between consecutive official forecasts' positions at landfall time, km."""
    import numpy as np
    import pandas as pd

    from rescity.forecast import ensemble as ens
    from rescity.forecast import issuance as iss

    times = iss.issuance_times(best, lf, 72.0, 0.0, 6.0)
    t_lf = lf.floor("h")
    print(f"official forecast position at {t_lf:%Y-%m-%dT%H:%MZ}, {len(times)} issuances, {n_seeds} seeds")
    print(f"{'τ (h)':>6}{'mean jump km':>14}{'median km':>11}  by issuance (first … last pair)")
    for tau in (ens.ISSUANCE_DECORRELATION_H, 0.0):
        jumps = []
        for s in range(n_seeds):
            pos = []
            for ts in times:
                off = ens.official_forecast(best, ts, seed=s, max_lead_h=72.0, decorrelation_h=tau)
                h = (pd.to_datetime(off["time"], utc=True) - t_lf) / pd.Timedelta(hours=1)
                pos.append((np.interp(0.0, h, off["lat"]), np.interp(0.0, h, off["lon"])))
            p = np.asarray(pos)
            jumps.append(ens.haversine_km(p[:-1, 0], p[:-1, 1], p[1:, 0], p[1:, 1]))
        j = np.asarray(jumps)
        by = " ".join(f"{v:.0f}" for v in j.mean(axis=0))
        print(f"{tau:>6.0f}{j.mean():>14.0f}{np.median(j):>11.0f}  {by}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sn", default="201910", help="packaged best track (default Lekima)")
    ap.add_argument("--before-h", type=float, default=24.0, help="issuance this many hours before landfall")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seed0", type=int, default=20190809, help="first seed; the others follow")
    ap.add_argument("--members", type=int, default=None, help="members (default: the package default)")
    ap.add_argument("--samples", type=int, default=500, help="members × realisations (CLI default -n 500)")
    ap.add_argument("--official", choices=("fixed", "seed"), default="fixed")
    ap.add_argument(
        "--sampling",
        choices=("lhs", "independent"),
        default="lhs",
        help="members' error draws: Latin hypercube (the default) or independent",
    )
    ap.add_argument("--leads", default="24,48,72")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--predict", default="", help="other settings to predict, e.g. 100x2,150x2")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--jumps", type=int, default=0, help="official-forecast jumps over N seeds (no simulation)"
    )
    a = ap.parse_args()
    cpus = _pin(a.cores)

    import numpy as np
    import pandas as pd

    from rescity.forecast import ensemble as ens
    from rescity.forecast import issuance as iss
    from rescity.hazard.track import packaged_track
    from rescity.twin.zhejiang import build_zhejiang

    members = a.members or getattr(iss, "DEFAULT_MEMBERS", 50)
    samples = a.samples
    per = max(1, math.ceil(samples / members))
    leads = tuple(int(x) for x in a.leads.split(","))
    official_seed = getattr(ens, "OFFICIAL_SEED", 20190809)

    twin = build_zhejiang(a.seed0)
    best = packaged_track(a.sn)
    lf = iss.landfall_time(best, iss.land_geometry(twin))
    if a.jumps:
        _jumps(best, lf, a.jumps)
        return
    ts = (lf - pd.Timedelta(hours=a.before_h)).floor("6h")
    prov = int(np.flatnonzero(twin.units["level"].to_numpy(object) == "province")[0])

    seeds = [a.seed0 + i for i in range(a.seeds)]
    means: dict[tuple[int, str], list[float]] = {}
    parts: dict[tuple[int, str], list[tuple[float, float]]] = {}
    secs = []
    for s in seeds:
        t0 = time.perf_counter()
        off = ens.official_forecast(
            best, ts, seed=official_seed if a.official == "fixed" else s, max_lead_h=float(max(leads))
        )
        e = ens.perturb_track(
            off, ts, members, s, max_lead_h=float(max(leads)), stratified=a.sampling == "lhs"
        )
        smp = iss.simulate_issuance(twin, e, ts, leads=leads, realisations=per, seed=s, workers=a.workers)
        secs.append(time.perf_counter() - t0)
        for L, vals in smp.values.items():
            for k in SHOW:
                x = vals[k][:, prov]
                means.setdefault((L, k), []).append(float(x.mean()))
                parts.setdefault((L, k), []).append(_decompose(x, members))

    settings = [(members, per)] + [
        tuple(int(v) for v in p.split("x")) for p in a.predict.split(",") if p.strip()
    ]
    rows = []
    for (L, k), xs in sorted(means.items()):
        x = np.asarray(xs)
        m = float(x.mean())
        sb2 = float(np.mean([p[0] for p in parts[(L, k)]]))
        sw2 = float(np.mean([p[1] for p in parts[(L, k)]]))
        row = {
            "lead_h": L,
            "indicator": k,
            "means": [round(v, 1) for v in xs],
            "mean": m,
            "cv": float(x.std(ddof=1) / m) if m > 0 and len(x) > 1 else float("nan"),
            "maxdev": float(np.abs(x - m).max() / m) if m > 0 else float("nan"),
        }
        for mm, rr in settings:
            row[f"cv_pred_{mm}x{rr}"] = math.sqrt(sb2 / mm + sw2 / (mm * rr)) / m if m > 0 else float("nan")
        rows.append(row)
    res = {
        "storm": a.sn,
        "issued": f"{ts:%Y-%m-%dT%H:%MZ}",
        "landfall": f"{lf:%Y-%m-%dT%H:%MZ}",
        "official": a.official,
        "sampling": a.sampling,
        "members": members,
        "realisations_per_member": per,
        "seeds": seeds,
        "cpus": cpus,
        "workers": a.workers,
        "seconds_per_issuance": [round(v, 1) for v in secs],
        "rows": rows,
    }
    if a.json:
        print(json.dumps(res, indent=1))
        return
    print(
        f"{a.sn} issued {res['issued']} (landfall {res['landfall']}), official forecast {a.official}, "
        f"{a.sampling} member sampling, "
        f"{members} members × {per} realisations, seeds {seeds[0]}…{seeds[-1]}, "
        f"{np.mean(secs):.0f} s per issuance on {len(cpus) or '?'} cores"
    )
    pred = [f"cv_pred_{mm}x{rr}" for mm, rr in settings]
    head = f"{'lead':>4}  {'indicator':<18}{'mean':>14}{'cv':>8}{'maxdev':>8}" + "".join(
        f"{p[8:]:>14}" for p in pred
    )
    print(head)
    for r in rows:
        print(
            f"{r['lead_h']:>4}  {r['indicator']:<18}{r['mean']:>14,.0f}{r['cv']:>8.1%}{r['maxdev']:>8.1%}"
            + "".join(f"{r[p]:>14.1%}" for p in pred)
        )
    for r in rows:
        print(f"{r['lead_h']:>4}  {r['indicator']:<18} per seed: {r['means']}")


if __name__ == "__main__":
    main()
