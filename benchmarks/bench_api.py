"""Load benchmark of the API's read endpoints: p50/p99 latency at a fixed request rate.

Starts ``rescity serve`` on a free loopback port in a subprocess, on a fresh store holding a
synthetic twin (91 counties, cells, and ``--assets`` assets over five systems), then this process
sends read requests open-loop (request i leaves at t0 + i/rate, whatever the earlier ones are
doing, so slow answers cannot slow the offered load) round-robin over the endpoints, and prints
p50/p99 latency per endpoint. Loopback only; bounded in count and time.

    python benchmarks/bench_api.py --rate 200 --duration 15
    python benchmarks/bench_api.py --store postgresql://postgres@localhost/rescity_bench
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.govern.principal import Principal
from rescity.store import open_store
from rescity.twin.model import KINDS, SYSTEMS, Twin, conform


def synthetic_twin(n_assets: int, cells_per_county: int = 20, seed: int = 7) -> Twin:
    """A province-sized twin: 1 province, 11 prefectures, 91 counties, cells, assets in cells."""
    rng = np.random.default_rng(seed)
    pref = [f"33{p:02d}00" for p in range(1, 12)]
    counties = [f"33{(c % 11) + 1:02d}{c // 11 + 1:02d}" for c in range(91)]
    cells = [f"{c}-c{k}" for c in counties for k in range(cells_per_county)]
    ids = ["330000", *pref, *counties, *cells]
    level = ["province"] + ["prefecture"] * 11 + ["county"] * 91 + ["cell"] * len(cells)
    parent = ["", *["330000"] * 11, *[c[:4] + "00" for c in counties], *[c.split("-")[0] for c in cells]]
    pop = np.r_[np.zeros(1 + 11 + 91, int), rng.lognormal(8, 1.5, len(cells)).astype(int)]
    units = pd.DataFrame(
        {
            "unit_id": ids,
            "level": level,
            "parent_id": parent,
            "population": pop,
            "households": pop // 3,
            "share_age_0_14": 0.13,
            "share_age_65_plus": 0.17,
            "lon": rng.uniform(118, 123, len(ids)),
            "lat": rng.uniform(27, 31, len(ids)),
        }
    )
    system = rng.choice(SYSTEMS, n_assets)
    kind = [KINDS[s][rng.integers(len(KINDS[s]))] for s in system]
    assets = pd.DataFrame(
        {
            "asset_id": [f"A{i:07d}" for i in range(n_assets)],
            "system": system,
            "kind": kind,
            "unit_id": rng.choice(cells, n_assets),
            "lon": rng.uniform(118, 123, n_assets),
            "lat": rng.uniform(27, 31, n_assets),
            "capacity": rng.uniform(1, 500, n_assets),
        }
    )
    empty = {
        t: conform(pd.DataFrame({c: [] for c in cols}), t)
        for t, cols in {
            "edges": ["system", "src", "dst"],
            "dependencies": ["dependent", "supplier"],
            "service": ["terminal", "unit"],
        }.items()
    }
    return Twin(conform(units, "units"), conform(assets, "assets"), meta={"name": "bench"}, **empty)


def prepare(url: str, n_assets: int) -> dict[str, str]:
    st = open_store(url)
    admin = Principal("bench", "platform", "admin")
    tokens = {}
    for name, dept, role in (("admin", "platform", "admin"), ("water", "water_utility", "analyst")):
        st.add_user(name, dept, role, actor=admin)
        tokens[name] = st.add_token(name, actor=admin)["token"]
    st.put_twin("bench", synthetic_twin(n_assets), actor=admin)
    ids = st.query_assets("bench", limit=200)[0]["asset_id"].tolist()
    st.set_asset_status("bench", [{"asset_id": a, "status": "down"} for a in ids[::3]], actor=admin)
    for i in range(20):
        st.add_alert({"level": "yellow", "kind": "wind", "title": f"gale {i}", "twin": "bench"}, actor=admin)
        st.add_forecast({"hazard": "typhoon", "title": f"track {i}", "twin": "bench"}, actor=admin)
    st.close()
    return tokens


ENDPOINTS = [
    ("health", "/api/v1/health", None),
    ("auth/me", "/api/v1/auth/me", "water"),
    ("twins", "/api/v1/twins", "water"),
    ("twin info", "/api/v1/twins/bench", "water"),
    ("assets page 100", "/api/v1/twins/bench/assets?limit=100&offset=5000", "water"),
    ("assets filtered", "/api/v1/twins/bench/assets?system=water&status=down", "water"),
    ("asset by id", "/api/v1/twins/bench/assets/A0000042", "water"),
    ("units page 100", "/api/v1/twins/bench/units?level=cell&limit=100", "water"),
    ("population county", "/api/v1/twins/bench/population?level=county&limit=100", "water"),
    ("alerts", "/api/v1/alerts?twin=bench&limit=20", "water"),
    ("forecasts", "/api/v1/forecasts?limit=20", "water"),
    ("runs", "/api/v1/runs?limit=20", "water"),
]


async def load(base: str, tokens: dict[str, str], rate: float, duration: float) -> dict[str, list[float]]:
    import httpx

    n = int(rate * duration)
    lat: dict[str, list[float]] = {name: [] for name, _, _ in ENDPOINTS}
    errors: dict[str, int] = {name: 0 for name, _, _ in ENDPOINTS}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        t0 = time.perf_counter() + 0.2

        async def one(i: int) -> None:
            name, path, user = ENDPOINTS[i % len(ENDPOINTS)]
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
            start = time.perf_counter()
            h = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
            try:
                r = await client.get(path, headers=h)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                lat[name].append(time.perf_counter() - start)
            else:
                errors[name] += 1

        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - t0
    lat["_errors"] = errors  # type: ignore[assignment]
    lat["_wall"] = wall  # type: ignore[assignment]
    return lat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    ap.add_argument("--duration", type=float, default=15.0, help="seconds of load (default 15, at most 60)")
    ap.add_argument("--assets", type=int, default=20000, help="assets in the synthetic twin")
    ap.add_argument("--store", default=None, help="store URL (default: a fresh SQLite file in a temp folder)")
    args = ap.parse_args(argv)
    duration = min(args.duration, 60.0)
    tmp = tempfile.mkdtemp(prefix="rescity-bench-")
    url = args.store or f"sqlite:///{Path(tmp) / 'bench.db'}"
    tokens = prepare(url, args.assets)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rescity",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--store",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("server did not start: " + proc.stderr.read().decode()[-2000:])
        asyncio.run(load(base, tokens, args.rate, 2.0))  # warm-up
        res = asyncio.run(load(base, tokens, args.rate, duration))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    errors, wall = res.pop("_errors"), res.pop("_wall")
    total = sum(len(v) for v in res.values()) + sum(errors.values())
    print(
        f"store {url.split(':')[0]}, {args.assets} assets; offered {args.rate:.0f} req/s for "
        f"{duration:.0f} s; "
        f"{total} requests in {wall:.1f} s ({total / wall:.0f} req/s), {sum(errors.values())} errors"
    )
    print()
    print("| endpoint | requests | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    every = []
    for name, v in res.items():
        a = np.array(v) * 1000
        every.extend(v)
        print(
            f"| {name} | {len(a)} | {np.percentile(a, 50):.1f} | {np.percentile(a, 99):.1f} | {a.max():.1f} |"
        )
    a = np.array(every) * 1000
    print(f"| **all** | {len(a)} | {np.percentile(a, 50):.1f} | {np.percentile(a, 99):.1f} | {a.max():.1f} |")
    return 0 if sum(errors.values()) == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
