"""Micro benchmark of folding a streamed run's chunks (``keep="summary"``): the per-unit outputs of
a real run, as the main process receives them, through :class:`rescity.engine.streaming.StreamedMetric`.

    python benchmarks/bench_fold.py [--cell-km 1] [--realisations 40] [--repeat 5]
                                    [--baseline OTHER/src] [--rounds 3]

Records once the chunks that a ``keep="summary"`` run of the Zhejiang twin (``--cell-km``, typhoon
Lekima, as in ``bench_big_twin.py``) hands to ``StreamedMetric.add`` — every output, in the
layout they arrive in (column-major from the sparse products), chunk size as the run picks it —
and caches them under ``$RESCITY_HOME/cache/bench_fold``. Then, in a fresh process, folds them
into one ``StreamedMetric`` per output sized for 1,000 realisations: one pass to touch the
counters, then ``--repeat`` timed passes (best kept), and prints nanoseconds per value with the
share spent in ``Moments.update`` and ``QuantileSketch.update``, and a digest of the final state
(counts, windows, zeros, NaNs, extremes, sums). ``--baseline SRC`` runs the same on another source
tree, alternating with this one ``--rounds`` times, and says whether the digests agree (the same
counts and sums bit for bit). Timings depend on the load of the machine; the load average is
printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OWN_SRC = HERE.parent / "src"


def _cache(cell_km: float, realisations: int) -> Path:
    from rescity.twin.zhejiang import rescity_home

    return rescity_home() / "cache" / "bench_fold" / f"lekima-c{cell_km:g}-r{realisations}.npz"


def record(cell_km: float, realisations: int) -> Path:
    """Run the twin once with ``keep="summary"`` and keep every chunk ``StreamedMetric.add`` gets."""
    sys.path.insert(0, str(OWN_SRC))
    path = _cache(cell_km, realisations)
    if path.exists():
        return path
    sys.path.insert(0, str(HERE))
    import bench_big_twin as big

    from rescity.engine import streaming
    from rescity.engine.event import simulate_event

    twin = big._twin(cell_km)
    fields = big._fields(twin, "lekima", cell_km)
    seen: dict[int, list[tuple[int, np.ndarray]]] = {}
    add = streaming.StreamedMetric.add

    def spy(self, start, x):
        seen.setdefault(id(self), []).append((start, np.array(x, copy=True, order="K")))
        return add(self, start, x)

    streaming.StreamedMetric.add = spy
    try:
        res = simulate_event(twin, fields, realisations, 20190809, simulate_kw={"keep": "summary"})
    finally:
        streaming.StreamedMetric.add = add
    out: dict[str, np.ndarray] = {}
    fortran = []
    for name, sm in res.streamed.items():
        chunks = seen[id(sm)]
        out[f"values/{name}"] = np.concatenate([c for _, c in chunks])
        out["starts"] = np.array([s for s, _ in chunks])
        fortran.append(all(c.flags.f_contiguous and not c.flags.c_contiguous for _, c in chunks))
    out["kept"] = next(iter(res.streamed.values())).kept
    out["fortran"] = np.array(all(fortran))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    os.replace(tmp, path)
    return path


def child(path: Path, repeat: int) -> None:
    from rescity.engine import streaming
    from rescity.engine.streaming import StreamedMetric

    z = np.load(path)
    names = [k.split("/", 1)[1] for k in z.files if k.startswith("values/")]
    starts, kept = z["starts"], z["kept"]
    r = len(z[f"values/{names[0]}"])
    ends = np.append(starts[1:], r)
    layout = np.asfortranarray if bool(z["fortran"]) else np.ascontiguousarray
    chunks = [[layout(z[f"values/{m}"][s:e]) for m in names] for s, e in zip(starts, ends, strict=True)]
    metrics = [StreamedMetric(z[f"values/{m}"].shape[1], 1000, kept) for m in names]
    spent = {"moments": 0.0, "sketch": 0.0}

    def timed(cls, key):
        f = cls.update

        def g(self, x):
            t0 = time.perf_counter()
            f(self, x)
            spent[key] += time.perf_counter() - t0

        cls.update = g

    timed(streaming.Moments, "moments")
    timed(streaming.QuantileSketch, "sketch")

    def fold(offset: int) -> float:
        t0 = time.perf_counter()
        for s, ch in zip(starts, chunks, strict=True):
            for sm, x in zip(metrics, ch, strict=True):
                sm.add(offset + int(s), x)
        return time.perf_counter() - t0

    fold(0)  # touches the counters: later passes are the steady state of a long run
    runs = []
    for i in range(repeat):
        spent.update(moments=0.0, sketch=0.0)
        runs.append((fold(r * (i + 1)), dict(spent)))
    best, parts = min(runs, key=lambda t: t[0])
    digest = hashlib.sha256()
    for sm in metrics:
        sk, mo = sm.sketch, sm.moments
        for a in (sk.counts, sk.top, sk.zeros, sk.nans, sk.lo, sk.hi, mo.sum, mo.sq, mo.shift, sm.values):
            digest.update(np.ascontiguousarray(a).tobytes())
    n_values = sum(c.size for ch in chunks for c in ch)
    print(
        json.dumps(
            {
                "seconds": best,
                "moments_s": parts["moments"],
                "sketch_s": parts["sketch"],
                "values": n_values,
                "chunks": len(starts),
                "chunk": int(ends[0] - starts[0]),
                "streams": int(sum(sm.sketch.n for sm in metrics)),
                "digest": digest.hexdigest()[:16],
            }
        )
    )


def _run(src: Path, path: Path, repeat: int) -> dict:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
    )
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), "--repeat", str(repeat)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads([x for x in out.splitlines() if x.startswith("{")][-1])


def _line(label: str, r: dict) -> str:
    ns = 1e9 / r["values"]
    return (
        f"{label:<13} {r['seconds']:>8.3f} {r['seconds'] * ns:>10.2f} {r['moments_s'] * ns:>10.2f} "
        f"{r['sketch_s'] * ns:>10.2f}   {r['digest']}"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell-km", type=float, default=1.0)
    ap.add_argument("--realisations", "-n", type=int, default=40, help="realisations recorded")
    ap.add_argument("--repeat", type=int, default=5, help="timed passes per process (best kept)")
    ap.add_argument("--baseline", default=None, help="another source tree to compare with (its src folder)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating processes per tree")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        return child(Path(a.child), a.repeat)
    path = record(a.cell_km, a.realisations)
    trees = [("this", OWN_SRC)] + ([("baseline", Path(a.baseline).resolve())] if a.baseline else [])
    first = _run(OWN_SRC, path, 1)
    print(
        f"{a.cell_km:g} km twin, {a.realisations} realisations recorded: {first['chunks']} chunks of "
        f"{first['chunk']}, {first['streams']:,} sketched streams, {first['values'] / 1e6:.1f} M values "
        f"per pass; best of {a.repeat} passes per process"
    )
    print(f"{'tree':<13} {'pass s':>8} {'ns/value':>10} {'moments':>10} {'sketch':>10}   digest")
    runs: dict[str, list[dict]] = {k: [] for k, _ in trees}
    for _ in range(a.rounds):
        for label, src in trees[::-1]:
            r = _run(src, path, a.repeat)
            runs[label].append(r)
            print(_line(label, r), flush=True)
    print()
    for label, _ in trees:
        print(_line(f"best {label}", min(runs[label], key=lambda r: r["seconds"])))
    if a.baseline:
        same = {r["digest"] for rs in runs.values() for r in rs}
        b, t = (min(r["seconds"] for r in runs[k]) for k in ("baseline", "this"))
        print(f"speed-up {b / t:.2f}x; states {'identical' if len(same) == 1 else 'DIFFERENT'}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min) at the end: {load:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
