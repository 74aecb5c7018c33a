"""Sustained MQTT ingest into the store, and alert latency.

    python benchmarks/bench_sense.py [--messages 50000] [--store URL] [--broker URL] [--alerts 20]

Starts a private Mosquitto (persistence on, no queue cap) on a free loopback port unless
``--broker`` names one, a fresh store (SQLite in a temporary folder unless ``--store``), and
``rescity sense`` as a subprocess. A second process publishes N distinct NGSI-LD messages at QoS 1
as fast as the broker takes them (``mosquitto_pub -l`` when installed, else paho); half are
``WeatherObserved`` (rain, wind, gust: three readings), half ``WaterObserved`` (one). Throughput
is N / (time of the last commit − time of the first publish), read from the store. Then, one at
a time, rule-triggering reports (60 mm of rain in 10 min: rainstorm orange) are published and the
time until their ``Alert`` arrives on ``<prefix>/alerts`` is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(tmp: Path) -> tuple[subprocess.Popen, str]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = tmp / "mosquitto.conf"
    as_root = "user root\n" if os.geteuid() == 0 else ""  # else it drops to a user that cannot write tmp
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {tmp}/\n"
        f"max_queued_messages 0\nmax_inflight_messages 0\n{as_root}"
    )
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"mqtt://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def messages(n: int, seed: int = 1) -> list[str]:
    """N distinct messages: weather and river reports every 10 min at the packaged stations, with
    values varying like light weather (no warning fires, no sensor looks stuck)."""
    import numpy as np

    from rescity.sense.alerts import format_time
    from rescity.sense.ngsi import water_entity, weather_entity
    from rescity.sense.stations import Stations

    rng = np.random.default_rng(seed)
    st = Stations.load().table
    wx = list(st[st["kind"] == "weather"]["station_id"])
    rv = list(st[st["kind"] == "river"]["station_id"])
    rain = np.round(rng.gamma(0.5, 0.4, n), 1)
    wind = rng.uniform(1.0, 8.0, n)
    level = rng.normal(0.0, 0.02, n)
    base = 1_600_000_000.0
    out = []
    for i in range(n):
        k = i // 2
        if i % 2 == 0:
            sid, step = wx[k % len(wx)], k // len(wx)
            e = weather_entity(sid, format_time(base + 600 * step), rain_mm=float(rain[i]), wind_ms=float(wind[i]),
                               gust_ms=float(wind[i] * 1.4))
        else:
            sid, step = rv[k % len(rv)], k // len(rv)
            e = water_entity(sid, format_time(base + 600 * step), 5.0 + float(level[i]))
        out.append(json.dumps(e, separators=(",", ":")))
    return out


class Rows:
    """Counts stored readings through one reader connection (no schema check, no write lock)."""

    def __init__(self, store_url: str) -> None:
        if store_url.startswith("sqlite:///"):
            import sqlite3

            self.conn = sqlite3.connect(store_url[len("sqlite:///"):], isolation_level=None)
        else:
            import psycopg

            self.conn = psycopg.connect(store_url, autocommit=True)

    def __call__(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0])


def publish(lines: list[str], broker: str, topic: str, tmp: Path) -> float:
    """Publish from a second process; returns the wall time the publisher started."""
    from urllib.parse import urlsplit

    u = urlsplit(broker)
    exe = shutil.which("mosquitto_pub")
    if exe:
        f = tmp / "messages.txt"
        f.write_text("\n".join(lines) + "\n")
        t0 = time.time()
        subprocess.run(
            [exe, "-h", u.hostname, "-p", str(u.port or 1883), "-q", "1", "-t", topic, "-l", "-i", "bench-pub"],
            stdin=f.open("rb"), check=True,
        )
        return t0
    code = (
        "import sys, json, paho.mqtt.client as m\n"
        "c = m.Client(m.CallbackAPIVersion.VERSION2, client_id='bench-pub', protocol=m.MQTTv5)\n"
        "c.max_inflight_messages_set(1000); c.max_queued_messages_set(0)\n"
        f"c.connect({u.hostname!r}, {u.port or 1883}); c.loop_start()\n"
        f"infos = [c.publish({topic!r}, line.rstrip(chr(10)), qos=1) for line in sys.stdin]\n"
        "[i.wait_for_publish() for i in infos]; c.disconnect(); c.loop_stop()\n"
    )
    t0 = time.time()
    subprocess.run([sys.executable, "-c", code], input="\n".join(lines) + "\n", text=True, check=True)
    return t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--store", default=None)
    ap.add_argument("--broker", default=None)
    ap.add_argument("--alerts", type=int, default=20)
    ap.add_argument("--batch", type=int, default=2000)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="rescity-bench-sense-"))
    broker_proc = None
    if args.broker is None:
        broker_proc, broker = start_broker(tmp)
    else:
        broker = args.broker
    store = args.store or f"sqlite:///{tmp / 'rescity.db'}"
    prefix = f"bench{os.getpid()}"
    env = {**os.environ, "RESCITY_HOME": str(tmp)}
    sense = subprocess.Popen(
        [sys.executable, "-c", "from rescity.cli import main; main()", "sense", "--broker", broker, "--store", store, "--twin", "zhejiang",
         "--prefix", prefix, "--client-id", f"{prefix}-sense", "--batch", str(args.batch), "--status-every", "2"],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    lines_out: list[str] = []
    connected = threading.Event()

    def reader():
        for line in sense.stderr:
            lines_out.append(line.rstrip())
            if "subscribed to" in line:
                connected.set()

    threading.Thread(target=reader, daemon=True).start()
    try:
        if not connected.wait(180):
            raise RuntimeError("rescity sense did not connect:\n" + "\n".join(lines_out))
        msgs = messages(args.messages)
        expected = sum(3 if '"WeatherObserved"' in m else 1 for m in msgs)
        count_rows = Rows(store)
        before = count_rows()
        t0 = publish(msgs, broker, f"{prefix}/entities/bench", tmp)
        t_pub = time.time() - t0
        last, t_last = before, time.time()
        deadline = time.time() + 600
        while last - before < expected and time.time() < deadline:
            time.sleep(0.1)
            n = count_rows()
            if n != last:
                last, t_last = n, time.time()
        got = last - before
        took = t_last - t0

        # alert latency: one rule-triggering report at a time
        import paho.mqtt.client as mqtt

        from rescity.sense.alerts import format_time
        from rescity.sense.ngsi import weather_entity
        from rescity.sense.stations import Stations

        st = Stations.load().table
        wx = list(st[st["kind"] == "weather"]["station_id"])
        arrived: dict[str, float] = {}
        ev = threading.Event()

        def on_msg(c, u, m):
            e = json.loads(m.payload)
            src = e.get("alertSource", {}).get("value", "")
            if e.get("data", {}).get("value", {}).get("signal") == "rainstorm" and "validTo" not in e:
                arrived.setdefault(src, time.time())
                ev.set()

        from urllib.parse import urlsplit

        u = urlsplit(broker)
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-alerts", protocol=mqtt.MQTTv5)
        sub.on_message = on_msg
        sub.connect(u.hostname, u.port or 1883)
        sub.subscribe(f"{prefix}/alerts", qos=1)
        sub.loop_start()
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-trigger", protocol=mqtt.MQTTv5)
        pub.connect(u.hostname, u.port or 1883)
        pub.loop_start()
        time.sleep(0.5)
        lat = []
        t_alert = 1_700_000_000.0
        for i in range(min(args.alerts, len(wx))):
            sid = wx[i]
            e = weather_entity(sid, format_time(t_alert + 600 * i), rain_mm=60.0)
            ev.clear()
            t1 = time.time()
            pub.publish(f"{prefix}/entities/trigger", json.dumps(e), qos=1).wait_for_publish(10)
            if ev.wait(10) and e["id"] in arrived:
                lat.append((arrived[e["id"]] - t1) * 1000)
        sub.loop_stop()
        pub.loop_stop()
    finally:
        sense.terminate()
        try:
            sense.wait(20)
        except subprocess.TimeoutExpired:
            sense.kill()
        if broker_proc is not None:
            broker_proc.terminate()
            broker_proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"store {store.split('?')[0] if args.store else 'SQLite (temporary)'}, broker {broker}, batch {args.batch}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'measure':<40} {'value':>14}")
    print(f"{'messages published (QoS 1)':<40} {len(msgs):>14,}")
    print(f"{'readings expected / stored':<40} {f'{expected:,} / {got:,}':>14}")
    print(f"{'publisher done after, s':<40} {t_pub:>14.2f}")
    print(f"{'last commit after, s':<40} {took:>14.2f}")
    print(f"{'end-to-end messages/s':<40} {len(msgs) / took:>14,.0f}")
    print(f"{'end-to-end readings/s':<40} {got / took:>14,.0f}")
    if lat:
        lat.sort()
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        print(f"{'alert latency p50 / p95 / max, ms':<40} {f'{statistics.median(lat):.0f} / {p95:.0f} / {lat[-1]:.0f}':>14}")
        print(f"{'alerts measured':<40} {len(lat):>14}")
    else:
        print("no alert arrived")
    if got < expected:
        print("WARNING: not every reading was stored")
        sys.exit(1)


if __name__ == "__main__":
    main()
