"""Fixtures of the dashboard tests: a store with a twin, a forecast, a scenario run with Q(t), a
decision, a user; a running ``rescity serve``; and swappable ways of publishing an alert.

The forecast and run results are synthetic tables with the columns the real pipeline writes
(``rescity.forecast.issuance.COLUMNS``, the scenario ``units`` table, a ``qt`` table), so that the
dashboard tests do not depend on simulation time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rescity.govern.principal import Principal

ACTOR = Principal("tests", "platform", "admin")
PASSWORD = "dashboard-pass-1"
#: Storm centre used to shape the synthetic forecast (Wenling, Taizhou: Lekima's 2019 landfall).
STORM_LON, STORM_LAT = 121.4, 28.4


def synthetic_issuances(
    units: pd.DataFrame, issued: list[str], leads: tuple[int, ...] = (24, 48)
) -> pd.DataFrame:
    """An issuance table for the non-cell units: a composite score falling off with the distance
    to :data:`STORM_LON`, :data:`STORM_LAT` (growing with lead), and ``relocate`` people."""
    u = units[units["level"] != "cell"].reset_index(drop=True)
    d_km = 111.0 * np.hypot((u["lon"] - STORM_LON) * np.cos(np.radians(28.5)), u["lat"] - STORM_LAT)
    rows = []
    for k, iss in enumerate(issued):
        for lead in leads:
            scale = 120.0 + 40.0 * k + lead
            score = np.clip(4.6 * np.exp(-d_km / scale), 0, 5).to_numpy()
            warn = np.floor(score).clip(0, 4).astype(int)
            rel = (u["population"].to_numpy(float) * 0.01 * score / 5).round()
            for ind, mean in (("composite", score), ("relocate", rel)):
                rows.append(
                    pd.DataFrame(
                        {
                            "issued": iss,
                            "lead_h": lead,
                            "unit_id": u["unit_id"],
                            "level": u["level"],
                            "indicator": ind,
                            "mean": mean,
                            "p05": mean * 0.6,
                            "p95": mean * 1.5,
                            "warning": warn,
                            "change": np.nan,
                            "warning_change": np.nan,
                            "name_zh": u["name_zh"],
                            "name_en": u["name_en"],
                            "population": u["population"],
                        }
                    )
                )
    return pd.concat(rows, ignore_index=True)


def store_run(store, kind: str, twin: str, results: dict[str, Any]) -> str:
    """A finished run of ``kind`` with ``results``; returns its id."""
    run = store.create_run(kind, twin, {}, actor=ACTOR)
    store.start_run(run["id"])
    store.finish_run(run["id"], "done", "", results, actor=ACTOR)
    return run["id"]


def store_forecast(store, twin: str, units: pd.DataFrame) -> int:
    table = synthetic_issuances(units, ["2019-08-08T12:00:00Z", "2019-08-09T00:00:00Z"])
    rid = store_run(store, "forecast", twin, {"issuances": table})
    f = store.add_forecast(
        {
            "twin": twin,
            "hazard": "typhoon",
            "title": "Lekima 1909",
            "run_id": rid,
            "issued_at": "2019-08-09T00:00:00Z",
        },
        actor=ACTOR,
    )
    return int(f["id"])


def qt_table(unit_ids: list[str], horizon_h: int = 72) -> pd.DataFrame:
    """Q(t) rising from 0.6 to 1 (power) and 0.7 to 1 (water) over the horizon, per unit."""
    t = np.arange(0, horizon_h + 1, 6, dtype=float)
    rows = []
    for uid in unit_ids:
        for system, q0 in (("power", 0.6), ("water", 0.7)):
            q = 1 - (1 - q0) * np.exp(-t / 18.0)
            rows.append(pd.DataFrame({"unit_id": uid, "system": system, "t_h": t, "q": q}))
    return pd.concat(rows, ignore_index=True)


def store_scenario(store, twin: str, units: pd.DataFrame, qt_units: list[str]) -> str:
    u = units[units["level"] != "cell"].reset_index(drop=True)
    d_km = 111.0 * np.hypot((u["lon"] - STORM_LON) * np.cos(np.radians(28.5)), u["lat"] - STORM_LAT)
    aff = (u["population"] * 0.2 * np.exp(-d_km / 100)).round()
    table = u[["unit_id", "level", "parent_id", "name_zh", "name_en", "population"]].assign(
        affected_mean=aff, affected_p05=aff * 0.5, affected_p95=aff * 1.6, no_power_mean=aff * 0.8
    )
    return store_run(store, "scenario", twin, {"units": table, "qt": qt_table(qt_units)})


def store_decision(store, twin: str, units: pd.DataFrame, assets: pd.DataFrame, county: str) -> int:
    """A relocation decision: the cells of ``county`` to their nearest shelters."""
    cells = units[(units["level"] == "cell") & (units["parent_id"] == county)].head(12)
    sh = assets[assets["kind"] == "shelter"]
    rows = []
    for c in cells.itertuples():
        d = np.hypot(sh["lon"] - c.lon, sh["lat"] - c.lat).to_numpy()
        j = int(np.argmin(d))
        rows.append(
            {"unit_id": c.unit_id, "shelter_id": sh["asset_id"].iloc[j], "people": 120, "minutes": 8.0}
        )
    d = store.add_decision(
        {"twin": twin, "kind": "relocation", "title": "Relocation plan", "body": {"assignments": rows}},
        actor=ACTOR,
    )
    return int(d["id"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(store_url: str, home: Path, log: Path, extra: tuple[str, ...] = ()):
    """``rescity serve`` on a free loopback port; yields its base URL."""
    port = free_port()
    env = {**os.environ, "RESCITY_HOME": str(home)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rescity", "serve", "--port", str(port), "--store", store_url, *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"rescity serve exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("rescity serve did not start within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_run(base_url: str, token: str, kind: str, twin: str, config: dict, timeout_s: float = 120) -> dict:
    """Start a run through the API and wait for it to finish; returns the run."""
    import httpx

    h = {"Authorization": f"Bearer {token}"}
    run = httpx.post(
        f"{base_url}/api/v1/runs", json={"kind": kind, "twin": twin, "config": config}, headers=h
    )
    run.raise_for_status()
    rid = run.json()["id"]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        r = httpx.get(f"{base_url}/api/v1/runs/{rid}", headers=h).json()
        if r["status"] in ("done", "failed", "cancelled"):
            return r
        time.sleep(0.25)
    raise TimeoutError(f"run {rid} did not finish in {timeout_s} s")


def alert_publisher(
    kind: str, store, base_url: str | None = None, token: str | None = None
) -> Callable[[dict], None]:
    """A function that publishes an alert through ``kind``:

    ``store``
        written straight into the store (as the sensing ingest does from its own process);
    ``api``
        ``POST /api/v1/alerts`` with an operator's token.

    The live-sensing path (an NGSI-LD observation published over MQTT, turned into an alert by
    the warning rules) plugs in here as another kind.
    """
    if kind == "store":
        return lambda alert: store.add_alert(alert, actor=ACTOR)
    if kind == "api":
        import httpx

        def post(alert: dict) -> None:
            r = httpx.post(
                f"{base_url}/api/v1/alerts", json=alert, headers={"Authorization": f"Bearer {token}"}
            )
            r.raise_for_status()

        return post
    raise ValueError(f"unknown alert source {kind!r}")
