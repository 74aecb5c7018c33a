"""Benchmark of N-1 over every asset of the default twin, cascades included.

    python benchmarks/bench_spof.py [--check 2000]

Times the dominator trees (:func:`rescity.engine.criticality.build_criticality`) and the failure
sets of all ~100,000 assets (:func:`~rescity.engine.criticality.failure_sets`), and the SPOF table.
With ``--check K`` it also runs the plain cascade once per asset for K random assets (the way the
N-1 would otherwise be computed), checks the sets are equal, and extrapolates its time to all
assets.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", type=int, default=0)
    ap.add_argument("--horizon-h", type=float, default=12.0)
    a = ap.parse_args()

    from rescity.decide.spof import spof_table
    from rescity.engine.cascade import build_cascade_model, functional
    from rescity.engine.criticality import build_criticality, failure_sets
    from rescity.twin.zhejiang import default_twin

    twin = default_twin()
    n = twin.n_assets
    t0 = time.perf_counter()
    model = build_cascade_model(twin, a.horizon_h)
    t1 = time.perf_counter()
    crit = build_criticality(model)
    t2 = time.perf_counter()
    f = failure_sets(crit)
    t3 = time.perf_counter()
    t = spof_table(twin, horizon_h=a.horizon_h)
    t4 = time.perf_counter()
    print(
        f"default twin: {n:,} assets; failed-set entries {f.nnz:,}; largest set {np.diff(f.indptr).max():,} assets"
    )
    print(f"{'stage':44s} {'seconds':>9s}")
    for name, s in (
        ("cascade model", t1 - t0),
        ("dominator trees and 2-cores (all systems)", t2 - t1),
        ("N-1 failure sets of every asset", t3 - t2),
        ("SPOF table (again, end to end)", t4 - t3),
    ):
        print(f"{name:44s} {s:9.2f}")
    print(f"top: {t.iloc[0]['asset_id']} ({t.iloc[0]['kind']}): {t.iloc[0]['people_lost_total']:,.0f} people")
    if a.check:
        rng = np.random.default_rng(0)
        idx = np.sort(rng.choice(n, a.check, replace=False))
        base = functional(model, np.zeros(n, np.int8))
        t5 = time.perf_counter()
        ok = True
        for s in range(0, len(idx), 256):
            blk = idx[s : s + 256]
            st = np.zeros((len(blk), n), np.int8)
            st[np.arange(len(blk)), blk] = 4
            lost = base[None, :] & ~functional(model, st)
            ok &= bool(np.array_equal(lost, f[blk].toarray()))
        t6 = time.perf_counter()
        print(
            f"brute force (one cascade per asset) on {len(idx)} assets: {t6 - t5:.1f} s, equal: {ok}; "
            f"extrapolated to all assets: {(t6 - t5) * n / len(idx):,.0f} s"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MiB; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
