"""Benchmark of building the Zhejiang twin: real power backbone vs the synthetic grid.

    python benchmarks/bench_twin.py [--runs 3] [--budget-s 10]

Times ``build_zhejiang()`` (the default twin, power backbone from open data) and
``build_zhejiang(synthetic=True)`` several times each, and the backbone's own stages (reading the
packaged data, the ≥ 220 kV grid). Prints a table with the best and median wall time, CPU time,
and whether the default build stays within the budget (10 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def _time(fn, runs: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--budget-s", type=float, default=10.0)
    a = ap.parse_args()

    from rescity.twin.backbone import load_backbone
    from rescity.twin.grid import ZHEJIANG_TMERC, Projector
    from rescity.twin.zhejiang import build_zhejiang

    build_zhejiang()  # warm imports and file caches
    rows = []
    for name, fn in (
        ("build_zhejiang() (backbone)", lambda: build_zhejiang()),
        ("build_zhejiang(synthetic=True)", lambda: build_zhejiang(synthetic=True)),
        ("load_backbone (packaged CSV)", lambda: load_backbone(Projector(ZHEJIANG_TMERC))),
    ):
        wall, cpu = _time(fn, a.runs)
        rows.append((name, min(wall), statistics.median(wall), statistics.median(cpu)))
    print(f"{'stage':34s} {'best s':>8s} {'median s':>9s} {'cpu s':>7s}")
    for name, best, med, cpu in rows:
        print(f"{name:34s} {best:8.2f} {med:9.2f} {cpu:7.2f}")
    ok = rows[0][2] <= a.budget_s
    print(f"default build median {rows[0][2]:.2f} s, budget {a.budget_s:g} s: {'within' if ok else 'OVER'}")
    print(f"runs {a.runs}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
