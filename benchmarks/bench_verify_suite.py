"""Benchmark: the verification suite over the thirteen storms of the history, leave-one-storm-out.

Prints the goal table of the calibration issue (province level):

* median accuracy ``1 − |p − o| / o``: affected population ≥ 0.7; relocated/evacuated and
  economic loss ≥ 0.6; the worst storm for affected population ≥ 0.3;
* the 90 % interval holds ≥ 80 % of the observations (all metrics together);
* skill ``1 − mean|ln(p/o)| / mean|ln(b/o)|`` > 0 against climatology and exposure-only, per metric;
* wall time of ``rescity verify suite`` at default settings ≤ 15 min on 2 cores.

    python benchmarks/bench_verify_suite.py                 # defaults (hindcasts 48/24/12 h, 8 members)
    python benchmarks/bench_verify_suite.py --leads ""      # best tracks only (faster)
    python benchmarks/bench_verify_suite.py --json

The process is pinned to ``--cores`` CPUs (default 2) with one BLAS thread.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def _pin(cores: int) -> None:
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ.setdefault(v, "1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--leads", default="48,24,12")
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    _pin(a.cores)
    import numpy as np

    from rescity.history import suite

    leads = tuple(int(x) for x in a.leads.split(",") if x.strip())
    t0 = time.perf_counter()
    res = suite.run_suite(leads=leads, members=a.members, draws=a.draws)
    wall = time.perf_counter() - t0
    s = res["summary"]
    rows = res["rows"]
    best = s[s["scenario"] == "best_track"].set_index("metric")
    prov = rows[
        (rows["region"] == "330000")
        & (rows["scenario"] == "best_track")
        & rows["metric"].isin(
            ["affected_population", "relocated_or_evacuated", "economic_loss_cny", "collapsed_houses"]
        )
    ]
    goals = []

    def goal(name, value, target, ok):
        goals.append({"goal": name, "value": value, "target": target, "met": bool(ok)})

    for m, t in suite.GOALS.items():
        if m in best.index:
            v = float(best.loc[m, "median_accuracy"])
            goal(f"median accuracy {m}", v, f"≥ {t}", v >= t)
    if "affected_population" in best.index:
        v = float(best.loc["affected_population", "worst_accuracy"])
        goal(f"worst storm affected ({best.loc['affected_population', 'worst_storm']})", v, "≥ 0.3", v >= 0.3)
    cov = float(prov["in_90"].mean())
    goal("90 % interval coverage (4 metrics)", cov, "≥ 0.8", cov >= 0.8)
    for m in best.index:
        for b in ("climatology", "exposure_only"):
            v = best.loc[m, f"skill_vs_{b}"]
            if np.isfinite(v):
                goal(f"skill vs {b} {m}", float(v), "> 0", v > 0)
    goal("wall time, s", round(wall, 1), "≤ 900", wall <= 900)
    if a.json:
        print(
            json.dumps(
                {"goals": goals, "summary": s.to_dict(orient="records"), "meta": res["meta"]},
                indent=1,
                default=str,
            )
        )
        return
    print(
        f"rescity verify suite — {len(res['meta']['storms'])} storms, tracks {res['meta']['track_source']}, "
        f"leads {list(leads)}, {a.members} members, {a.draws} draws, {a.cores} cores"
    )
    print(f"{'goal':58s} {'value':>9s} {'target':>8s}  met")
    for g in goals:
        v = g["value"]
        print(f"{g['goal']:58s} {v:9.3f} {g['target']:>8s}  {'yes' if g['met'] else 'NO'}")
    print()
    print(s.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
