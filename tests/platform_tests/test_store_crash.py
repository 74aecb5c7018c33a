"""Killing a writer (the API server, or a process loading twins) with SIGKILL mid-write leaves the
store consistent: the file passes its integrity check, the audit chain verifies, every write the
server acknowledged is there, and no write is there in part."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import httpx
import pytest

from conftest import make_users, pg_schema_url, small_twin
from rescity.store import open_store

BATCH = 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError("server did not start")


def check_consistent(url: str) -> object:
    st = open_store(url)
    if st.backend == "sqlite":
        assert st.integrity_check() == ["ok"]
    v = st.verify_audit()
    assert v.ok, v.problems
    return st


def _hammer(base: str, token: str, acked: list, stop: threading.Event, worker: int) -> None:
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=h, timeout=10) as c:
        i = 0
        while not stop.is_set():
            sensor = f"w{worker}-{i}-{uuid.uuid4().hex[:6]}"
            obs = [
                {
                    "sensor_id": sensor,
                    "quantity": "wind_ms",
                    "value": float(k),
                    "observed_at": "2019-08-09T17:00:00Z",
                }
                for k in range(BATCH)
            ]
            try:
                r = c.post("/api/v1/observations", json={"observations": obs})
                if r.status_code == 201:
                    acked.append(sensor)
                status = "down" if i % 2 else "up"
                c.post(
                    "/api/v1/twins/demo/assets/status",
                    json={
                        "updates": [
                            {"asset_id": a, "status": status} for a in ("P-sub-1", "W-pump-1", "T-bs-1")
                        ]
                    },
                )
            except httpx.HTTPError:
                return
            i += 1


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killing_the_server_mid_write(tmp_path, request, backend):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'rescity.db'}"
        ctx = None
    else:
        ctx = pg_schema_url(request.getfixturevalue("pg_database"))
        url = ctx.__enter__()
    try:
        st = open_store(url)
        token = make_users(st)["admin"]
        st.put_twin("demo", small_twin())
        st.close()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "rescity", "serve", "--port", str(port), "--store", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_up(base, proc)
            acked: list[str] = []
            stop = threading.Event()
            threads = [threading.Thread(target=_hammer, args=(base, token, acked, stop, w)) for w in range(3)]
            for t in threads:
                t.start()
            end = time.monotonic() + 20
            while len(acked) < 30 and time.monotonic() < end:
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)  # mid-write: three clients are writing right now
            proc.wait(10)
            stop.set()
            for t in threads:
                t.join(15)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert len(acked) >= 30
        st = check_consistent(url)
        try:
            with st.read() as q:
                per_sensor = dict(q.all("SELECT sensor_id, COUNT(*) FROM observations GROUP BY sensor_id"))
                batches = int(q.scalar("SELECT COUNT(DISTINCT batch) FROM observations"))
            assert all(per_sensor.get(s) == BATCH for s in acked)  # every acknowledged write survived
            assert set(per_sensor.values()) == {BATCH}  # no batch is there in part
            assert (
                len(st.audit_entries(action="observation.create")[0]) == batches
            )  # write and audit together
        finally:
            st.close()
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)


LOADER = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd
    from rescity.store import open_store
    from rescity.twin.model import Twin, conform
    n = 20000
    st = open_store(sys.argv[1])
    i = 0
    while True:
        assets = pd.DataFrame({"asset_id": [f"a{i}-{k}" for k in range(n)], "system": "power",
                               "kind": "bus", "unit_id": "u", "lon": np.zeros(n), "lat": np.zeros(n)})
        units = pd.DataFrame({"unit_id": ["u"], "level": ["county"], "parent_id": [""], "population": [i]})
        t = Twin(conform(units, "units"), conform(assets, "assets"), conform(pd.DataFrame(
            {"system": [], "src": [], "dst": []}), "edges"), conform(pd.DataFrame(
            {"dependent": [], "supplier": []}), "dependencies"), conform(pd.DataFrame(
            {"terminal": [], "unit": []}), "service"), {"i": i})
        print("start", i, flush=True)
        st.put_twin("big", t, replace=True)
        print("done", i, flush=True)
        i += 1
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killing_a_twin_loader_mid_transaction(tmp_path, request, backend):
    if backend == "sqlite":
        url, ctx = f"sqlite:///{tmp_path / 'rescity.db'}", None
    else:
        ctx = pg_schema_url(request.getfixturevalue("pg_database"))
        url = ctx.__enter__()
    try:
        open_store(url).close()
        proc = subprocess.Popen(
            [sys.executable, "-c", LOADER, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        done, started = 0, -1
        end = time.monotonic() + 60
        while time.monotonic() < end:  # let two replacements commit, then kill inside the next one
            line = proc.stdout.readline().decode().split()
            if not line:
                break
            if line[0] == "done":
                done += 1
            elif done >= 2:
                started = int(line[1])
                break
        time.sleep(0.1)  # a replacement of 20 000 assets takes about 0.3 s: we are inside it
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert done >= 2 and started >= 2, proc.stderr.read().decode()[-2000:]
        st = check_consistent(url)
        try:
            info = st.twin_info("big")
            with st.read() as q:
                n_assets = int(q.scalar("SELECT COUNT(*) FROM assets WHERE twin = 'big'"))
                prefixes = {
                    r[0].split("-")[0] for r in q.all("SELECT asset_id FROM assets WHERE twin = 'big'")
                }
            assert n_assets == info["n_assets"] == 20000  # one whole twin, never a mix or a part
            assert info["meta"]["i"] in (started - 1, started)
            assert prefixes == {f"a{info['meta']['i']}"}
        finally:
            st.close()
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
