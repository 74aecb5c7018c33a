"""Benchmark of the executors: one ensemble in process, in a local pool and on Dask clusters.

    python benchmarks/bench_executor.py [--realisations 256] [--twin default|toy] [--sn 201910]
                                        [--repeat 2] [--chunk-size N] [--recovery]

Runs the engine (:func:`rescity.engine.event.simulate_event`: damage, cascade, service) for one
storm's intensities (typhoon Lekima, JTWC 201910, on the default Zhejiang twin; ``--twin toy``
for a small synthetic twin) with the same seed on every executor of
:mod:`rescity.engine.executor`: in this process, a local process pool of 2, and Dask
``LocalCluster`` s of 1 and 2 worker processes (one thread each). ``--recovery`` adds the
restoration of every realisation (:func:`rescity.engine.recovery.simulate_recovery`) to the
ensemble. The runs alternate, ``--repeat`` rounds (the machine may be shared). Prints, per
executor: the start of the cluster (until its workers are up), the wall time of the first run
(a fresh Dask worker imports rescity and unpickles the payload then) and the best wall time, the
least CPU time of a run (all its processes: what the executor costs, whatever else the machine
runs), the speed-up and efficiency (speed-up / workers) of the best time against the in-process
run, and whether every output is bit-identical to the in-process run's.

``--ceiling`` also measures what the machine itself gives two processes: a pure-Python CPU-bound
loop (no memory traffic, no I/O) timed in one process and in two at once, alternating
``--repeat`` rounds; its 2-process efficiency (one process's time over two's) is the ceiling the
executors' efficiency can be read against (a shared or virtual machine often gives two busy
processes well under twice the work of one). ``--ceiling-only`` measures only that.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _outputs(sim, rec) -> dict[str, np.ndarray]:
    """Every array of the ensemble's results, by name (to check bit-identity)."""
    out = {f"service.{k}": v for k, v in sim.service.items()}
    out.update({f"damaged_share.{k}": v for k, v in sim.damaged_share.items()})
    out.update(homes_damaged=sim.homes_damaged, affected=sim.affected, states=sim.states)
    out["driver"] = sim.driver.drop(columns="main").to_numpy()
    if rec is not None:
        out.update({f"q.{k}": v for k, v in rec.q.items()})
        out.update({f"customer_hours.{k}": v for k, v in rec.customer_hours.items()})
        out["restore_h"] = rec.restore_h.toarray()
    return out


def _cpu_s(ex) -> float:
    """CPU seconds (user + system) so far of this process, its reaped children (a local pool's
    workers) and the live worker processes of a Dask executor."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    if hasattr(ex, "client"):
        total += sum(ex.client.run(lambda: sum(__import__("psutil").Process().cpu_times()[:2])).values())
    return total


def _spin(n: int, go, done) -> None:
    """A pure-Python CPU-bound loop of ``n`` steps once ``go`` is set; its end time into ``done``."""
    go.wait()
    x = 0
    for i in range(n):
        x = (x + i * i) & 0xFFFF
    done.put(time.perf_counter())


def _spin_wall(processes: int, n: int) -> float:
    """Wall time of ``processes`` concurrent :func:`_spin` loops from a common start, s."""
    import multiprocessing as mp

    go, done = mp.Event(), mp.Queue()
    procs = [mp.Process(target=_spin, args=(n, go, done)) for _ in range(processes)]
    for p in procs:
        p.start()
    time.sleep(0.2)  # the processes are up and waiting
    t0 = time.perf_counter()
    go.set()
    end = max(done.get() for _ in procs)
    for p in procs:
        p.join()
    return end - t0


def machine_ceiling(repeat: int, n: int = 20_000_000) -> dict[str, float]:
    """One and two concurrent spin loops, alternating ``repeat`` rounds: best and median times
    and the 2-process efficiency (time of one over time of two: 1.0 is two full cores)."""
    one, two = [], []
    for _ in range(max(repeat, 1)):
        one.append(_spin_wall(1, n))
        two.append(_spin_wall(2, n))
    pairs = np.array(one) / np.array(two)
    return {
        "one_s": min(one), "two_s": min(two), "efficiency_best": min(one) / min(two),
        "efficiency_median": float(np.median(pairs)), "efficiency_min": float(pairs.min()),
        "efficiency_max": float(pairs.max()),
    }  # fmt: skip


def _print_ceiling(c: dict[str, float], repeat: int) -> None:
    print(
        f"machine ceiling (pure-Python loop, {max(repeat, 1)} alternating rounds): 1 process "
        f"{c['one_s']:.2f} s, 2 at once {c['two_s']:.2f} s (best); 2-process efficiency "
        f"{c['efficiency_median']:.2f} median [{c['efficiency_min']:.2f}–{c['efficiency_max']:.2f}] "
        f"over the pairs, {c['efficiency_best']:.2f} from the best times"
    )


def _identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realisations", "-n", type=int, default=256)
    ap.add_argument("--twin", choices=("default", "toy"), default="default")
    ap.add_argument("--sn", default="201910")
    ap.add_argument("--seed", type=int, default=20190809)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--chunk-size", type=int, default=None, help="default: automatic (memory, workers)")
    ap.add_argument("--recovery", action="store_true", help="also simulate the restoration")
    ap.add_argument(
        "--ceiling", action="store_true", help="also measure the machine's own 2-process efficiency"
    )
    ap.add_argument(
        "--ceiling-only", action="store_true", help="measure only the machine's 2-process efficiency"
    )
    args = ap.parse_args(argv)
    ceiling = machine_ceiling(args.repeat) if args.ceiling or args.ceiling_only else None
    if args.ceiling_only:
        _print_ceiling(ceiling, args.repeat)
        print(f"load average (1 min): {_load():.2f} on {os.cpu_count()} CPUs")
        return

    from rescity.engine.event import simulate_event
    from rescity.engine.executor import resolve_executor
    from rescity.engine.recovery import simulate_recovery
    from rescity.hazard.event import typhoon_event
    from rescity.hazard.track import packaged_track

    t0 = time.perf_counter()
    if args.twin == "toy":
        from rescity.twin.toy import toy_twin

        twin = toy_twin(counties=20, cells_per_county=12, feeders_per_cell=6, base_stations_per_cell=4,
                        lon0=120.4, lat0=28.0)  # fmt: skip
    else:
        from rescity.twin.zhejiang import default_twin

        twin = default_twin()
    intensities = typhoon_event(twin, packaged_track(args.sn))
    t_setup = time.perf_counter() - t0

    def ensemble(ex):
        sim = simulate_event(
            twin, intensities, args.realisations, args.seed, workers=ex,
            simulate_kw={"keep_states": True, "keep_functional": args.recovery, "chunk_size": args.chunk_size},
        )  # fmt: skip
        rec = None
        if args.recovery:
            rec = simulate_recovery(twin, sim.states, seed=args.seed, functional0=sim.functional, workers=ex)
        return sim, rec

    backends = [("in-process", 1, "local"), ("local pool", 2, "local"), ("dask", 1, "local-dask"),
                ("dask", 2, "local-dask")]  # fmt: skip
    executors, start_s = [], []
    for _, workers, scheduler in backends:
        ex = resolve_executor(workers, scheduler)
        t = time.perf_counter()
        if scheduler == "local-dask":
            ex.client.wait_for_workers(workers)
        start_s.append(time.perf_counter() - t)
        executors.append(ex)
    best = [float("inf")] * len(backends)
    first = [0.0] * len(backends)
    cpu = [float("inf")] * len(backends)
    outputs: list[dict[str, np.ndarray] | None] = [None] * len(backends)
    chunks = [0] * len(backends)
    loads = []
    try:
        for _ in range(max(args.repeat, 1)):
            for i, ex in enumerate(executors):
                c, t = _cpu_s(ex), time.perf_counter()
                sim, rec = ensemble(ex)
                wall = time.perf_counter() - t
                cpu[i] = min(cpu[i], _cpu_s(ex) - c)
                first[i] = first[i] or wall
                best[i] = min(best[i], wall)
                outputs[i] = _outputs(sim, rec)
                chunks[i] = sim.meta["chunks"]
                loads.append(_load())
    finally:
        for ex in executors:
            ex.close()

    print(
        f"twin: {args.twin}, {twin.n_assets:,} assets, {twin.n_units:,} units; storm {args.sn}; "
        f"{args.realisations} realisations{' + recovery' if args.recovery else ''}; seed {args.seed}; "
        f"setup (twin, hazard) {t_setup:.1f} s; best of {max(args.repeat, 1)} alternating rounds"
    )
    print(f"{'executor':<12} {'workers':>7} {'chunks':>6} {'start s':>8} {'first s':>8} {'best s':>8} "
          f"{'CPU s':>7} {'speed-up':>8} {'efficiency':>10} {'bit-identical':>13}")  # fmt: skip
    ref = outputs[0]
    rows = zip(backends, start_s, first, best, cpu, outputs, chunks, strict=True)
    for (name, workers, _), s, f, w, u, o, c in rows:
        speed = best[0] / w
        same = "reference" if o is ref else ("yes" if _identical(o, ref) else "NO")
        print(f"{name:<12} {workers:>7} {c:>6} {s:>8.2f} {f:>8.2f} {w:>8.2f} {u:>7.2f} {speed:>8.2f} "
              f"{speed / workers:>10.2f} {same:>13}")  # fmt: skip
    print(f"load average (1 min) during the runs: {min(loads):.2f}–{max(loads):.2f} on {os.cpu_count()} CPUs")
    if ceiling is not None:
        _print_ceiling(ceiling, args.repeat)
        e = ceiling["efficiency_median"]
        for (name, workers, _), w in zip(backends, best, strict=True):
            if workers == 2:
                print(
                    f"{name} on 2 workers: efficiency {best[0] / w / 2:.2f}, {best[0] / w / 2 / e:.2f} of the ceiling"
                )


if __name__ == "__main__":
    main()
